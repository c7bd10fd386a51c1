/* bench_kernels.c — times the DARTS-relevant kernels of a nasc backend, forward and backward,
 * one op at a time (a kernel lab in the spirit of llm.c's dev/cuda: it checks before it times).
 *
 * For each op: the node is built once on random inputs (N, C, H, W), its forward is timed, then
 * its backward with a random upstream gradient; every iteration restores the step arena to the
 * same mark, so nothing grows. Times are the minimum over iterations (default) or the median: on
 * a shared 2-core machine a descheduled OpenMP thread turns one iteration into a 4-16 ms time
 * slice, and the minimum is the statistic least disturbed by other users.
 * Before timing, each op's output and gradients are checked against the ref backend (normalised
 * MSE), so a fast wrong kernel never shows up as a result.
 *
 * Output: one line per op, "op=<name> C=<C> fwd_ms=<t> bwd_ms=<t> path=<conv path> check=<nmse>",
 * parsed by bench/kernels/bench_layout.py, which runs the same ops in PyTorch and prints ratios.
 *
 *   bench_kernels [--threads 2] [--batch 64] [--hw 28] [--channels 16,32,64] [--iters 20]
 *                 [--only SUBSTRING] [--op NAME] [--conv-path auto|dw|1x1|gemm|dnnl|ref] [--portable]
 *                 [--no-check] [--grads xw|x|w] [--stat min|median] [--fresh] [--kout K]
 *                 [--clock wall|cpu]
 * --grads picks which gradients backward computes (input x, weights w; default both), to time
 * backward-data and backward-weights apart. --fresh flags the gradients NASC_TENSOR_GRAD_FRESH
 * before each backward (the kernels store instead of adding, as for most gradients in a step).
 * --kout K gives the dense convs K output channels instead of C (a DARTS preprocessing 1x1 is
 * 4C -> C: --channels 144 --kout 36).
 * bn_relu (the fused node) against bn_then_relu (BN and ReLU nodes, forward and backward of both
 * timed together) measures the BN + ReLU fusion at one shape.
 */
#include "backend/cpu/cpu_int.h"
#include "nasc/arena.h"
#include "nasc/backend.h"
#include "nasc/ops.h"
#include "nasc/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --clock cpu: process CPU time instead of wall time (all threads summed; with
 * OMP_WAIT_POLICY=passive a waiting thread sleeps and adds nothing). On a loaded machine it leaves
 * out the time the process was descheduled, which the minimum over iterations cannot always do. */
static clockid_t bench_clock = CLOCK_MONOTONIC;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(bench_clock, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

enum op_kind {
    K_CONV, K_BN, K_MAXPOOL, K_AVGPOOL, K_RELU, K_ADD, K_CONCAT, K_WSUM, K_EDGE,
    K_BN_RELU,     /* nasc_batchnorm_relu: one fused node */
    K_BN_THEN_RELU /* nasc_relu(nasc_batchnorm(x)): the two nodes it replaces, timed together */
};

typedef struct bop {
    const char *name;
    enum op_kind kind;
    int k, stride, dil, groups_dw; /* conv: kernel, stride, dilation, depthwise (1) or dense (0) */
} bop;

static const bop ops[] = {
    {"dw3x3", K_CONV, 3, 1, 1, 1},     {"dw5x5", K_CONV, 5, 1, 1, 1},
    {"dw3x3_d2", K_CONV, 3, 1, 2, 1},  {"dw5x5_d2", K_CONV, 5, 1, 2, 1},
    {"dw3x3_s2", K_CONV, 3, 2, 1, 1},  {"dw5x5_s2", K_CONV, 5, 2, 1, 1},
    {"conv1x1", K_CONV, 1, 1, 1, 0},   {"conv3x3", K_CONV, 3, 1, 1, 0},
    {"bn", K_BN, 0, 0, 0, 0},          {"maxpool3x3", K_MAXPOOL, 3, 1, 0, 0},
    {"avgpool3x3", K_AVGPOOL, 3, 1, 0, 0}, {"relu", K_RELU, 0, 0, 0, 0},
    {"add", K_ADD, 0, 0, 0, 0},        {"concat4", K_CONCAT, 0, 0, 0, 0},
    {"wsum7", K_WSUM, 0, 0, 0, 0},
    {"darts_edge", K_EDGE, 0, 0, 0, 0},
    {"bn_relu", K_BN_RELU, 0, 0, 0, 0}, {"bn_then_relu", K_BN_THEN_RELU, 0, 0, 0, 0},
};

static int kout_opt = 0; /* --kout: output channels of the dense convs (default: C) */
typedef struct built {
    nasc_tensor *x, *w, *y, *b2, *b3, *b4; /* b2..b4: add's / concat's other inputs */
    nasc_tensor *more[6];                  /* wsum7's terms past x (w is its weights) */
    nasc_tensor *mid;                      /* bn_then_relu: the BN node before y */
} built;

static nasc_tensor *leaf(nasc_graph *g, int n, int c, int h, int w, nasc_rng *r) {
    nasc_tensor *t = nasc_input(g, n, c, h, w, NULL);
    for (int64_t i = 0; i < nasc_tensor_nelem(t); i++)
        t->data[i] = 2.0f * nasc_rng_uniform(r) - 1.0f;
    nasc_tensor_set_requires_grad(t, true);
    return t;
}

/* Builds op on g; inputs are leaves requiring grad (so the node is recorded). */
static nasc_tensor *build(nasc_graph *g, const bop *o, int N, int C, int HW, nasc_rng *r,
                          built *b) {
    b->x = leaf(g, N, C, HW, HW, r);
    b->w = b->b2 = b->b3 = b->b4 = b->mid = NULL;
    memset(b->more, 0, sizeof b->more);
    switch (o->kind) {
    case K_CONV: {
        const int pad = o->dil * (o->k - 1) / 2;
        nasc_conv2d_params p = {.stride = {o->stride, o->stride}, .pad = {pad, pad},
                                .dil = {o->dil, o->dil}, .groups = o->groups_dw ? C : 1};
        b->w = leaf(g, o->groups_dw || !kout_opt ? C : kout_opt, o->groups_dw ? 1 : C, o->k, o->k,
                    r);
        return nasc_conv2d(g, b->x, b->w, NULL, &p);
    }
    case K_BN:
        return nasc_batchnorm(g, b->x, NULL, NULL, NULL, NULL,
                              &(nasc_bn_params){.eps = 1e-5f, .momentum = 0.1f});
    case K_MAXPOOL:
    case K_AVGPOOL: {
        nasc_pool2d_params p = {.k = {3, 3}, .stride = {1, 1}, .pad = {1, 1},
                                .count_include_pad = false};
        return o->kind == K_MAXPOOL ? nasc_maxpool2d(g, b->x, &p) : nasc_avgpool2d(g, b->x, &p);
    }
    case K_RELU:
        return nasc_relu(g, b->x);
    case K_BN_RELU: /* affine, as in the fixed networks (DARTS search has none: same passes) */
    case K_BN_THEN_RELU: {
        b->w = leaf(g, 1, C, 1, 1, r); /* gamma */
        b->b2 = leaf(g, 1, C, 1, 1, r); /* beta */
        const nasc_bn_params p = {.eps = 1e-5f, .momentum = 0.1f};
        if (o->kind == K_BN_RELU)
            return nasc_batchnorm_relu(g, b->x, b->w, b->b2, NULL, NULL, &p);
        b->mid = nasc_batchnorm(g, b->x, b->w, b->b2, NULL, NULL, &p);
        return nasc_relu(g, b->mid);
    }
    case K_ADD:
        b->b2 = leaf(g, N, C, HW, HW, r);
        return nasc_add(g, b->x, b->b2);
    case K_CONCAT: { /* a DARTS cell's output: 4 states of C channels */
        b->b2 = leaf(g, N, C, HW, HW, r);
        b->b3 = leaf(g, N, C, HW, HW, r);
        b->b4 = leaf(g, N, C, HW, HW, r);
        nasc_tensor *xs[4] = {b->x, b->b2, b->b3, b->b4};
        return nasc_concat(g, 4, xs);
    }
    case K_WSUM: { /* a DARTS mixed op: 7 terms ("none" left out), weights of 8 */
        b->w = leaf(g, 1, 8, 1, 1, r);
        nasc_tensor *xs[7] = {b->x};
        for (int i = 0; i < 6; i++)
            xs[i + 1] = b->more[i] = leaf(g, N, C, HW, HW, r);
        static const int idx[7] = {1, 2, 3, 4, 5, 6, 7};
        return nasc_weighted_sum(g, b->w, 7, xs, idx);
    }
    case K_EDGE:
        break; /* timed through the graph API (edge_time) */
    }
    return NULL;
}

static const char *want_grads = "xw";
static bool fresh_grads = false; /* --fresh: backward stores into the inputs' gradients */
static bool stat_median = false;

/* Gives every input that requires a gradient a zeroed grad buffer and y a random upstream grad. */
static void grads(nasc_graph *g, built *b, nasc_tensor *y, nasc_rng *r) {
    nasc_tensor *ts[] = {b->x,       b->w,       b->b2,      b->b3,      b->b4,
                         b->more[0], b->more[1], b->more[2], b->more[3], b->more[4], b->more[5]};
    for (int i = 0; i < 11; i++)
        if (ts[i] && !ts[i]->grad && (i >= 2 || strchr(want_grads, i == 0 ? 'x' : 'w'))) {
            ts[i]->grad = nasc_graph_alloc(g, (size_t)nasc_tensor_nelem(ts[i]) * sizeof(float));
            memset(ts[i]->grad, 0, (size_t)nasc_tensor_nelem(ts[i]) * sizeof(float));
        }
    if (b->mid) {
        b->mid->grad = nasc_graph_alloc(g, (size_t)nasc_tensor_nelem(b->mid) * sizeof(float));
        memset(b->mid->grad, 0, (size_t)nasc_tensor_nelem(b->mid) * sizeof(float));
    }
    y->grad = nasc_graph_alloc(g, (size_t)nasc_tensor_nelem(y) * sizeof(float));
    for (int64_t i = 0; i < nasc_tensor_nelem(y); i++)
        y->grad[i] = 2.0f * nasc_rng_uniform(r) - 1.0f;
}

static double nmse(const float *a, const float *b, size_t n) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    return den > 0.0 ? num / den : num;
}

/* Runs op once on be and on ref with the same inputs; returns the worst nmse over output and
 * gradients (a smaller batch keeps ref fast). */
static double check(nasc_backend *be, const bop *o, int C, int HW) {
    const int N = 2;
    double worst = 0.0;
    float *res[2][12] = {{0}};
    size_t n[12] = {0};
    for (int pass = 0; pass < 2; pass++) {
        nasc_err err = {0};
        nasc_graph *g = nasc_graph_new(pass ? nasc_backend_ref() : be, 1 << 20, &err);
        nasc_rng r;
        nasc_rng_init(&r, 99, 1);
        built b;
        nasc_tensor *y = build(g, o, N, C, HW, &r, &b);
        grads(g, &b, y, &r);
        nasc_backend_backward(nasc_graph_backend(g), g, y);
        if (b.mid)
            nasc_backend_backward(nasc_graph_backend(g), g, b.mid);
        nasc_tensor *ts[] = {y,         b.x,       b.w,       b.b2,      b.b3,      b.b4,
                             b.more[0], b.more[1], b.more[2], b.more[3], b.more[4], b.more[5]};
        for (int i = 0; i < 12; i++) {
            if (!ts[i])
                continue;
            n[i] = (size_t)nasc_tensor_nelem(ts[i]);
            res[pass][i] = malloc(n[i] * sizeof(float));
            memcpy(res[pass][i], i == 0 ? ts[i]->data : ts[i]->grad, n[i] * sizeof(float));
        }
        nasc_graph_free(g);
    }
    for (int i = 0; i < 12; i++)
        if (res[0][i]) {
            const double e = nmse(res[0][i], res[1][i], n[i]);
            worst = e > worst ? e : worst;
            free(res[0][i]);
            free(res[1][i]);
        }
    return worst;
}

/* ---- a whole DARTS mixed edge (normal cell, stride 1), built through the graph API ----
 * out = sum_i softmax(alpha)_i * op_i(x) over max_pool+BN, avg_pool+BN, skip, sep_conv 3x3 / 5x5
 * (relu, dw, 1x1, BN, twice), dil_conv 3x3 / 5x5 (relu, dw dilation 2, 1x1, BN); "none" adds
 * nothing. BN without affine parameters or running stats, as in DARTS search. The loss is the
 * mean of the output. Times: forward = building the graph (the ops run eagerly), backward =
 * nasc_backward, so engine overhead is included. */
typedef struct edge_params {
    float *dw[6], *pw[6]; /* sep3 a/b, sep5 a/b, dil3, dil5 */
    float alpha[8];
} edge_params;

static nasc_tensor *edge_leaf(nasc_graph *g, int n, int c, int h, int w, const float *v) {
    nasc_tensor *t = nasc_input(g, n, c, h, w, v);
    nasc_tensor_set_requires_grad(t, true);
    return t;
}

static nasc_tensor *relu_conv_bn(nasc_graph *g, nasc_tensor *x, nasc_tensor *dwt, nasc_tensor *pwt,
                                 int k, int dil) {
    const int pad = dil * (k - 1) / 2, C = x->ne[1];
    nasc_conv2d_params dp = {.stride = {1, 1}, .pad = {pad, pad}, .dil = {dil, dil}, .groups = C};
    nasc_conv2d_params pp = {.stride = {1, 1}, .pad = {0, 0}, .dil = {1, 1}, .groups = 1};
    const nasc_bn_params bn = {.eps = 1e-5f, .momentum = 0.1f};
    nasc_tensor *h = nasc_conv2d(g, nasc_relu(g, x), dwt, NULL, &dp);
    return nasc_batchnorm(g, nasc_conv2d(g, h, pwt, NULL, &pp), NULL, NULL, NULL, NULL, &bn);
}

static nasc_tensor *edge_build(nasc_graph *g, const edge_params *ep, const float *xv, int N, int C,
                               int HW) {
    nasc_tensor *x = edge_leaf(g, N, C, HW, HW, xv);
    nasc_tensor *dw[6], *pw[6];
    static const int ks[6] = {3, 3, 5, 5, 3, 5};
    for (int i = 0; i < 6; i++) {
        dw[i] = edge_leaf(g, C, 1, ks[i], ks[i], ep->dw[i]);
        pw[i] = edge_leaf(g, C, C, 1, 1, ep->pw[i]);
    }
    nasc_tensor *alpha = edge_leaf(g, 1, 8, 1, 1, ep->alpha);
    const nasc_bn_params bn = {.eps = 1e-5f, .momentum = 0.1f};
    const nasc_pool2d_params pp = {.k = {3, 3}, .stride = {1, 1}, .pad = {1, 1},
                                   .count_include_pad = false};
    nasc_tensor *ys[7];
    ys[0] = nasc_batchnorm(g, nasc_maxpool2d(g, x, &pp), NULL, NULL, NULL, NULL, &bn);
    ys[1] = nasc_batchnorm(g, nasc_avgpool2d(g, x, &pp), NULL, NULL, NULL, NULL, &bn);
    ys[2] = x;
    ys[3] = relu_conv_bn(g, relu_conv_bn(g, x, dw[0], pw[0], 3, 1), dw[1], pw[1], 3, 1);
    ys[4] = relu_conv_bn(g, relu_conv_bn(g, x, dw[2], pw[2], 5, 1), dw[3], pw[3], 5, 1);
    ys[5] = relu_conv_bn(g, x, dw[4], pw[4], 3, 2);
    ys[6] = relu_conv_bn(g, x, dw[5], pw[5], 5, 2);
    const int idx[7] = {1, 2, 3, 4, 5, 6, 7}; /* softmax index 0 is "none" */
    nasc_tensor *wsm = nasc_softmax(g, alpha);
    return nasc_mean(g, nasc_weighted_sum(g, wsm, 7, ys, idx));
}

static void edge_time(nasc_backend *be, int N, int C, int HW, int iters, double *tf, double *tb) {
    nasc_err err = {0};
    nasc_graph *g = nasc_graph_new(be, 256 << 20, &err);
    nasc_rng r;
    nasc_rng_init(&r, 5, 5);
    edge_params ep;
    static const int ks[6] = {3, 3, 5, 5, 3, 5};
    for (int i = 0; i < 6; i++) {
        ep.dw[i] = malloc((size_t)C * ks[i] * ks[i] * sizeof(float));
        ep.pw[i] = malloc((size_t)C * C * sizeof(float));
        for (int j = 0; j < C * ks[i] * ks[i]; j++)
            ep.dw[i][j] = 0.3f * (2.0f * nasc_rng_uniform(&r) - 1.0f);
        for (int j = 0; j < C * C; j++)
            ep.pw[i][j] = 0.3f * (2.0f * nasc_rng_uniform(&r) - 1.0f);
    }
    for (int i = 0; i < 8; i++)
        ep.alpha[i] = 1e-3f * (float)i;
    const size_t nx = (size_t)N * C * HW * HW;
    float *xv = malloc(nx * sizeof(float));
    for (size_t i = 0; i < nx; i++)
        xv[i] = 2.0f * nasc_rng_uniform(&r) - 1.0f;
    for (int it = -2; it < iters; it++) {
        nasc_graph_reset(g);
        const double t0 = now_ms();
        nasc_tensor *loss = edge_build(g, &ep, xv, N, C, HW);
        const double t1 = now_ms();
        nasc_backward(g, loss);
        const double t2 = now_ms();
        if (it >= 0) {
            tf[it] = t1 - t0;
            tb[it] = t2 - t1;
        }
    }
    if (nasc_graph_status(g) != NASC_OK)
        fprintf(stderr, "bench_kernels: darts_edge: %s\n", nasc_graph_errmsg(g));
    for (int i = 0; i < 6; i++) {
        free(ep.dw[i]);
        free(ep.pw[i]);
    }
    free(xv);
    nasc_graph_free(g);
}

int main(int argc, char **argv) {
    int threads = 2, N = 64, HW = 28, iters = 20;
    int chans[8] = {16, 32, 64}, n_chans = 3;
    const char *only = NULL, *exact = NULL, *path = "auto";
    bool portable = false, do_check = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--portable")) portable = true;
        else if (!strcmp(a, "--no-check")) do_check = false;
        else if (!strcmp(a, "--fresh")) fresh_grads = true;
        else if (!v) { fprintf(stderr, "bench_kernels: %s needs a value\n", a); return 2; }
        else if (!strcmp(a, "--threads")) threads = atoi(v), i++;
        else if (!strcmp(a, "--batch")) N = atoi(v), i++;
        else if (!strcmp(a, "--kout")) kout_opt = atoi(v), i++;
        else if (!strcmp(a, "--clock"))
            bench_clock = !strcmp(v, "cpu") ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, i++;
        else if (!strcmp(a, "--hw")) HW = atoi(v), i++;
        else if (!strcmp(a, "--iters")) iters = atoi(v), i++;
        else if (!strcmp(a, "--only")) only = v, i++;
        else if (!strcmp(a, "--op")) exact = v, i++;
        else if (!strcmp(a, "--conv-path")) path = v, i++;
        else if (!strcmp(a, "--grads")) want_grads = v, i++;
        else if (!strcmp(a, "--stat")) stat_median = !strcmp(v, "median"), i++;
        else if (!strcmp(a, "--channels")) {
            n_chans = 0;
            for (char *s = argv[++i]; *s && n_chans < 8;) {
                chans[n_chans++] = (int)strtol(s, &s, 10);
                if (*s == ',')
                    s++;
            }
        } else { fprintf(stderr, "bench_kernels: unknown option %s\n", a); return 2; }
    }
    nasc_err err = {0};
    nasc_backend *be = nasc_backend_new("cpu", threads, &err);
    if (!be) {
        fprintf(stderr, "bench_kernels: %s\n", err.msg);
        return 1;
    }
    static const struct { const char *n; enum nasc_cpu_conv_path p; } paths[] = {
        {"auto", NASC_CPU_CONV_AUTO}, {"dw", NASC_CPU_CONV_DW}, {"1x1", NASC_CPU_CONV_1X1},
        {"gemm", NASC_CPU_CONV_GEMM}, {"dnnl", NASC_CPU_CONV_DNNL}, {"ref", NASC_CPU_CONV_REF}};
    bool ok = false;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (!strcmp(path, paths[i].n))
            ok = nasc_cpu_force_conv(be, paths[i].p);
    if (!ok) {
        fprintf(stderr, "bench_kernels: conv path '%s' unavailable\n", path);
        return 2;
    }
    if (portable)
        nasc_cpu_set_avx512(be, false);
    printf("# nasc bench_kernels: threads=%d batch=%d hw=%d iters=%d stat=%s avx512=%d "
           "conv-path=%s clock=%s\n",
           threads, N, HW, iters, stat_median ? "median" : "min", nasc_cpu_ctx_of(be)->avx512,
           path, bench_clock == CLOCK_MONOTONIC ? "wall" : "cpu");
    nasc_graph *g = nasc_graph_new(be, 64 << 20, &err);
    double *tf = malloc((size_t)iters * sizeof *tf), *tb = malloc((size_t)iters * sizeof *tb);
    for (int ci = 0; ci < n_chans; ci++) {
        const int C = chans[ci];
        for (size_t oi = 0; oi < sizeof ops / sizeof ops[0]; oi++) {
            const bop *o = &ops[oi];
            if ((only && !strstr(o->name, only)) || (exact && strcmp(o->name, exact)))
                continue;
            if (o->kind == K_EDGE) {
                edge_time(be, N, C, HW, iters, tf, tb);
                qsort(tf, (size_t)iters, sizeof *tf, cmp_double);
                qsort(tb, (size_t)iters, sizeof *tb, cmp_double);
                printf("op=%s C=%d fwd_ms=%.4f bwd_ms=%.4f path=- check=0\n", o->name, C,
                       tf[stat_median ? iters / 2 : 0], tb[stat_median ? iters / 2 : 0]);
                fflush(stdout);
                continue;
            }
            const double chk = do_check ? check(be, o, C, HW < 14 ? HW : 14) : 0.0;
            nasc_graph_reset(g);
            nasc_rng r;
            nasc_rng_init(&r, 7, (uint64_t)oi);
            built b;
            nasc_tensor *y = build(g, o, N, C, HW, &r, &b);
            if (!y) {
                fprintf(stderr, "bench_kernels: %s: %s\n", o->name, nasc_graph_errmsg(g));
                return 1;
            }
            grads(g, &b, y, &r);
            const char *pname = o->kind == K_CONV
                                    ? nasc_cpu_conv_path_name(nasc_cpu_conv_path(be, y))
                                    : "-";
            nasc_arena_mark mark = nasc_arena_get_mark(nasc_graph_arena(g));
            for (int it = -2; it < iters; it++) { /* 2 warm-up iterations */
                nasc_arena_reset_to(nasc_graph_arena(g), mark);
                const double t0 = now_ms();
                if (b.mid)
                    nasc_backend_forward(be, g, b.mid);
                nasc_backend_forward(be, g, y);
                if (fresh_grads) {
                    if (b.mid) /* in a step the ReLU's dx is a fresh gradient */
                        b.mid->flags |= NASC_TENSOR_GRAD_FRESH;
                    nasc_tensor *ts[] = {b.x,       b.w,       b.b2,      b.b3,
                                         b.b4,      b.more[0], b.more[1], b.more[2],
                                         b.more[3], b.more[4], b.more[5]};
                    for (int i = 0; i < 11; i++)
                        if (ts[i] && ts[i]->grad)
                            ts[i]->flags |= NASC_TENSOR_GRAD_FRESH;
                }
                const double t1 = now_ms();
                nasc_backend_backward(be, g, y);
                if (b.mid)
                    nasc_backend_backward(be, g, b.mid);
                const double t2 = now_ms();
                if (it >= 0) {
                    tf[it] = t1 - t0;
                    tb[it] = t2 - t1;
                }
            }
            if (nasc_graph_status(g) != NASC_OK) {
                fprintf(stderr, "bench_kernels: %s: %s\n", o->name, nasc_graph_errmsg(g));
                return 1;
            }
            qsort(tf, (size_t)iters, sizeof *tf, cmp_double);
            qsort(tb, (size_t)iters, sizeof *tb, cmp_double);
            printf("op=%s C=%d K=%d fwd_ms=%.4f bwd_ms=%.4f path=%s check=%.2g\n", o->name, C,
                   o->kind == K_CONV && !o->groups_dw && kout_opt ? kout_opt : C,
                   tf[stat_median ? iters / 2 : 0], tb[stat_median ? iters / 2 : 0], pname, chk);
            fflush(stdout);
        }
    }
    free(tf);
    free(tb);
    nasc_graph_free(g);
    nasc_backend_free(be);
    return 0;
}
