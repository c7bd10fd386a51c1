/* bench_roofline.c — how close a training step comes to this machine's limits (issue 18).
 *
 * Measures, in one run: the peak FMA rate (an AVX-512 FMA loop over 16 independent accumulators
 * held in registers, per thread count 1..T) and the memory bandwidth (a STREAM triad
 * a = b + s*c over arrays much larger than the last-level cache, per thread count); then times
 * training steps of three networks with the engine's per-op profiling hook
 * (nasc_backend_set_profile) and prints, per op kind and pass and for the whole step: FLOPs, the
 * minimum bytes the op must move (read its inputs and weights, write its outputs, once each),
 * the measured time, the roofline bound max(FLOPs / peak, bytes / bandwidth) summed over the
 * op's nodes, the share of the bound reached (bound / measured) and the share of step time.
 *
 *   supernet  DARTS first-order search step (arch step on a validation batch, then weight step):
 *             C=16, 8 cells, batch 64, 1x28x28 (as bench/supernet)
 *   darts     fixed DARTS_V2 network step (forward, backward, SGD): C=16, 8 cells, batch 64,
 *             1x28x28 (as bench_train_step --model darts)
 *   cifar     DARTS CIFAR evaluation network: DARTS_V2, C=36, 20 cells, auxiliary head (weight
 *             0.4), drop-path 0.2, clip 5, batch 96, 3x32x32
 *
 *   bench_roofline [--threads T] [--reps R] [--warmup W] [--nets supernet,darts,cifar]
 *                  [--triad-mb M] [--by-shape] [--quick]
 *
 * --by-shape also splits the conv rows by shape (C -> K, input HxW, stride, dilation).
 * Per-op figures are those of the median step (by wall time) of R timed steps. --quick runs tiny
 * versions of the three networks and checks that the accounting is self-consistent (exit 1 if
 * not; see check()); ctest runs it. FLOP and byte counts per op are in node_cost(); the rules are
 * in docs/ARCH.md, "Roofline". Exit status: 0, 1 (a failed step or check), 2 (bad arguments),
 * 77 (no AVX2 + FMA: skipped). */
#include "nasc/arena.h"
#include "nasc/autograd.h"
#include "nasc/backend.h"
#include "nasc/cost.h"
#include "nasc/nn.h"
#include "nasc/oneshot.h"
#include "nasc/ops.h"
#include "nasc/optim.h"
#include "nasc/rng.h"
#include "nasc/space.h"
#include "nasc/supernet.h"
#include "../darts_v2.h"

#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void loadavg(double out[3]) {
    out[0] = out[1] = out[2] = -1.0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf %lf %lf", &out[0], &out[1], &out[2]) != 3)
            out[0] = out[1] = out[2] = -1.0;
        fclose(f);
    }
}

/* ---------------------------------------------------------------- peak FMA rate */

#define FMA_ACC 16 /* independent accumulators: > latency (4) x FMA pipes (2) */

__attribute__((target("avx512f"))) static float fma_loop_avx512(long iters) {
    __m512 acc[FMA_ACC];
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int k = 0; k < FMA_ACC; k++)
        acc[k] = _mm512_set1_ps((float)k);
    for (long i = 0; i < iters; i++) {
#pragma GCC unroll 16
        for (int k = 0; k < FMA_ACC; k++)
            acc[k] = _mm512_fmadd_ps(acc[k], a, b);
    }
    __m512 s = acc[0];
    for (int k = 1; k < FMA_ACC; k++)
        s = _mm512_add_ps(s, acc[k]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float fma_loop_avx2(long iters) {
    __m256 acc[FMA_ACC];
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int k = 0; k < FMA_ACC; k++)
        acc[k] = _mm256_set1_ps((float)k);
    for (long i = 0; i < iters; i++) {
#pragma GCC unroll 16
        for (int k = 0; k < FMA_ACC; k++)
            acc[k] = _mm256_fmadd_ps(acc[k], a, b);
    }
    __m256 s = acc[0];
    for (int k = 1; k < FMA_ACC; k++)
        s = _mm256_add_ps(s, acc[k]);
    float v[8];
    _mm256_storeu_ps(v, s);
    return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}

static volatile float fma_sink;

/* FLOP/s of t threads each running the FMA loop; best of reps (*out_flops in *out_best_s). */
static double peak_flops(int t, long iters, int reps, bool avx512, double *out_flops,
                         double *out_best_s) {
    const double lanes = avx512 ? 16.0 : 8.0;
    double best = 0.0, best_s = 0.0;
    for (int r = 0; r < reps; r++) {
        const double t0 = now_s();
#pragma omp parallel num_threads(t)
        {
            const float v = avx512 ? fma_loop_avx512(iters) : fma_loop_avx2(iters);
            if (v == 12345.0f) /* never: keeps the result alive */
                fma_sink = v;
        }
        const double dt = now_s() - t0;
        const double rate = (double)t * (double)iters * FMA_ACC * lanes * 2.0 / dt;
        if (rate > best) {
            best = rate;
            best_s = dt;
        }
    }
    *out_flops = (double)t * (double)iters * FMA_ACC * lanes * 2.0;
    *out_best_s = best_s;
    return best;
}

/* ---------------------------------------------------------------- memory bandwidth */

/* Bytes/s of a = b + s*c over n floats on t threads (STREAM counting: 12 bytes per element,
 * the write-allocate read of a not counted); best of reps. Also returns the best seconds. */
static double triad_bw(float *a, const float *b, const float *c, size_t n, int t, int reps,
                       double *out_best_s) {
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        const double t0 = now_s();
#pragma omp parallel for num_threads(t) schedule(static)
        for (size_t i = 0; i < n; i++)
            a[i] = b[i] + 3.0f * c[i];
        const double dt = now_s() - t0;
        best = dt < best ? dt : best;
    }
    if (out_best_s)
        *out_best_s = best;
    return 12.0 * (double)n / best;
}

/* ---------------------------------------------------------------- per-op accounting */

/* Row kinds: the ops of tensor.h, with conv2d split into dense / depthwise / 1x1 (very different
 * arithmetic intensity), plus the optimizer update and the rest of the step. */
enum {
    KIND_CONV_DW = NASC_OP_COUNT,
    KIND_CONV_1X1,
    KIND_UPDATE, /* zero grads, clip, optimizer step (fixed networks: timed directly) */
    KIND_REST,   /* step time outside every op and the update: engine, graph, copies */
    N_KIND
};

static const char *kind_name(int k) {
    switch (k) {
    case NASC_OP_CONV2D: return "conv dense";
    case KIND_CONV_DW: return "conv dw";
    case KIND_CONV_1X1: return "conv 1x1";
    case KIND_UPDATE: return "update";
    case KIND_REST: return "rest";
    default: return nasc_op_name((enum nasc_op)k);
    }
}

typedef struct row {
    double flops, bytes, seconds, bound_s, bound_mem_s; /* bound_mem_s: part bound by memory */
    long calls;
} row;

typedef struct table {
    row r[N_KIND][2]; /* [kind][0 forward, 1 backward] */
    double step_s;
    /* for the checks */
    double fwd_macs, bwd_macs; /* conv + linear multiply-adds */
    double bwd_macs_due; /* from forward: MACs x (x needs a gradient + w needs one) */
    long n_fwd, n_bwd;
    /* --by-shape: conv rows per (kind, pass, C, K, H, W, stride, dilation) */
    struct shape_row {
        int kind, pass, C, K, H, W, stride, dil;
        row r;
    } shapes[256];
    int n_shapes;
} table;

static struct {
    bool by_shape;      /* --by-shape */
    table cur;          /* filled by the hook during a step */
    double peak, bw;    /* FLOP/s and bytes/s at the run's thread count */
} B;

static double nel(const nasc_tensor *t) { return t ? (double)nasc_tensor_nelem(t) : 0.0; }
static bool has_grad(const nasc_tensor *t) { return t && t->grad; }

static int node_kind(const nasc_tensor *t) {
    if (t->op != NASC_OP_CONV2D)
        return (int)t->op;
    const nasc_tensor *x = t->src[0], *w = t->src[1];
    const int g = t->params.conv.groups;
    if (g > 1 && g == x->ne[1] && g == t->ne[1])
        return KIND_CONV_DW;
    if (g == 1 && w->ne[2] == 1 && w->ne[3] == 1)
        return KIND_CONV_1X1;
    return NASC_OP_CONV2D;
}

/* FLOPs and minimum bytes of one node's forward or backward (backward: src grads that are
 * non-NULL are the ones computed). Elements are float32 (4 bytes); max pool's argmax int32.
 * FLOPs: 2 per multiply-add; element-wise ops the arithmetic per element named below. */
static void node_cost(const nasc_tensor *t, bool bwd, double *out_flops, double *out_elems,
                      double *out_macs) {
    const double out = nel(t);
    const nasc_tensor *x = t->n_src > 0 ? t->src[0] : NULL;
    const double in = nel(x);
    double f = 0.0, e = 0.0, macs = 0.0;
    switch (t->op) {
    case NASC_OP_CONV2D:
    case NASC_OP_LINEAR: {
        const nasc_tensor *w = t->src[1], *b = t->n_src > 2 ? t->src[2] : NULL;
        const double m = t->op == NASC_OP_CONV2D ? out * w->ne[1] * w->ne[2] * w->ne[3]
                                                 : out * w->ne[1]; /* w (K,F,1,1) */
        if (!bwd) {
            macs = m;
            f = 2.0 * m + (b ? out : 0.0);
            e = in + nel(w) + nel(b) + out;
        } else {
            const bool gx = has_grad(x), gw = has_grad(w), gb = has_grad(b);
            macs = m * (gx + gw);
            f = 2.0 * macs + (gb ? out : 0.0);
            /* read dy; dx: read w, write dx; dw: read x, write dw; db: write db */
            e = out + (gx ? nel(w) + in : 0.0) + (gw ? in + nel(w) : 0.0) + (gb ? nel(b) : 0.0);
        }
        break;
    }
    case NASC_OP_MAXPOOL2D:
    case NASC_OP_AVGPOOL2D: {
        const double win = (double)t->params.pool.k[0] * t->params.pool.k[1];
        const bool mx = t->op == NASC_OP_MAXPOOL2D;
        if (!bwd) {
            f = out * win; /* compares / adds */
            e = in + out;
        } else {
            f = mx ? out : out * win;
            e = out + (mx ? out : 0.0) + in; /* dy, argmax, dx */
        }
        break;
    }
    case NASC_OP_GLOBAL_AVGPOOL:
        f = in;
        e = in + out;
        break;
    case NASC_OP_BATCHNORM:
    case NASC_OP_BN_INPLACE:
    case NASC_OP_BN_RELU: { /* fused ReLU: +1 FLOP per element each way, no extra bytes */
        double small = 0.0; /* gamma, beta, running statistics */
        for (int i = 1; i < t->n_src; i++)
            small += nel(t->src[i]);
        const bool train = t->params.bn.training;
        if (!bwd) {
            f = train ? 5.0 * in : 2.0 * in; /* sum, sum of squares; one FMA per element */
            e = in + out + small;
        } else {
            f = 9.0 * in; /* sum(dy), sum(dy*xhat), dx */
            e = out + in + in + 2.0 * small; /* dy, x (or y), dx */
        }
        if (t->op == NASC_OP_BN_RELU)
            f += in;
        break;
    }
    case NASC_OP_RELU:
    case NASC_OP_SIGMOID:
    case NASC_OP_TANH:
        f = t->op == NASC_OP_RELU ? out : 4.0 * out;
        e = bwd ? 3.0 * out : in + out; /* backward reads dy and x or y, writes dx */
        break;
    case NASC_OP_SCALE:
    case NASC_OP_DROPOUT:
    case NASC_OP_DROP_PATH:
        f = out; /* masks are recomputed, never stored */
        e = in + out;
        break;
    case NASC_OP_ADD:
    case NASC_OP_MUL: {
        const nasc_tensor *b = t->src[1];
        const bool mul = t->op == NASC_OP_MUL;
        if (!bwd) {
            f = out;
            e = in + nel(b) + out;
        } else {
            const bool ga = has_grad(x), gb = has_grad(b);
            f = (mul ? out * (ga + gb) : 0.0) + (gb && nel(b) < out ? out : 0.0);
            e = out + (ga ? in : 0.0) + (gb ? nel(b) : 0.0) + (mul ? in + nel(b) : 0.0);
        }
        break;
    }
    case NASC_OP_CONCAT:
        for (int i = 0; i < t->n_src; i++)
            e += (!bwd || has_grad(t->src[i])) ? nel(t->src[i]) : 0.0;
        e += out;
        break;
    case NASC_OP_SLICE:
        e = bwd ? out + in : 2.0 * out; /* backward writes all of dx */
        break;
    case NASC_OP_CHANNEL_SHUFFLE:
        e = in + out;
        break;
    case NASC_OP_RESHAPE: /* a view forward; backward adds dy into x's own gradient */
        e = bwd ? in + out : 0.0;
        break;
    case NASC_OP_SOFTMAX:
    case NASC_OP_LOG_SOFTMAX:
        f = bwd ? 4.0 * in : 5.0 * in;
        e = bwd ? 3.0 * in : 2.0 * in;
        break;
    case NASC_OP_CROSS_ENTROPY:
        f = bwd ? 3.0 * in : 5.0 * in;
        e = (bwd ? 2.0 * in : in) + (double)x->ne[0] + 1.0; /* + labels, loss */
        break;
    case NASC_OP_SUM:
    case NASC_OP_MEAN:
        f = in;
        e = in + 1.0;
        break;
    case NASC_OP_WSUM: {
        const nasc_tensor *w = t->src[0];
        double xs = 0.0, gxs = 0.0;
        int n = 0;
        for (int i = 1; i < t->n_src; i++) {
            n++;
            xs += nel(t->src[i]);
            gxs += has_grad(t->src[i]) ? nel(t->src[i]) : 0.0;
        }
        if (!bwd) {
            f = 2.0 * n * out;
            e = nel(w) + xs + out;
        } else {
            const bool gw = has_grad(w);
            f = gxs + (gw ? 2.0 * xs : 0.0); /* dx_i = w_i dy; dw_i = dot(dy, x_i) */
            e = out + gxs + (gw ? xs + nel(w) : 0.0) + nel(w);
        }
        break;
    }
    default: /* an op added later: one FLOP per output, inputs and output once */
        f = out;
        for (int i = 0; i < t->n_src; i++)
            e += nel(t->src[i]);
        e += out;
        break;
    }
    *out_flops = f;
    *out_elems = e;
    *out_macs = macs;
}

static void add_row(row *r, double flops, double bytes, double seconds) {
    const double tf = flops / B.peak, tm = bytes / B.bw;
    r->flops += flops;
    r->bytes += bytes;
    r->seconds += seconds;
    r->bound_s += tf > tm ? tf : tm;
    r->bound_mem_s += tm >= tf ? tm : 0.0;
    r->calls++;
}

static void profile_hook(void *ud, const nasc_tensor *node, bool backward, double seconds) {
    (void)ud;
    double f, e, macs;
    node_cost(node, backward, &f, &e, &macs);
    const int kind = node_kind(node);
    add_row(&B.cur.r[kind][backward], f, 4.0 * e, seconds);
    if (B.by_shape && node->op == NASC_OP_CONV2D) {
        const nasc_tensor *x = node->src[0];
        const struct shape_row key = {.kind = kind, .pass = backward, .C = x->ne[1],
                                      .K = node->ne[1], .H = x->ne[2], .W = x->ne[3],
                                      .stride = node->params.conv.stride[0],
                                      .dil = node->params.conv.dil[0]};
        int i = 0;
        while (i < B.cur.n_shapes &&
               !(B.cur.shapes[i].kind == key.kind && B.cur.shapes[i].pass == key.pass &&
                 B.cur.shapes[i].C == key.C && B.cur.shapes[i].K == key.K &&
                 B.cur.shapes[i].H == key.H && B.cur.shapes[i].W == key.W &&
                 B.cur.shapes[i].stride == key.stride && B.cur.shapes[i].dil == key.dil))
            i++;
        if (i < (int)(sizeof B.cur.shapes / sizeof B.cur.shapes[0])) {
            if (i == B.cur.n_shapes)
                B.cur.shapes[B.cur.n_shapes++] = key;
            add_row(&B.cur.shapes[i].r, f, 4.0 * e, seconds);
        }
    }
    if (backward) {
        B.cur.n_bwd++;
        B.cur.bwd_macs += macs;
    } else {
        B.cur.n_fwd++;
        B.cur.fwd_macs += macs;
        if ((node->op == NASC_OP_CONV2D || node->op == NASC_OP_LINEAR) &&
            (node->flags & NASC_TENSOR_REQUIRES_GRAD))
            B.cur.bwd_macs_due += macs * (!!(node->src[0]->flags & NASC_TENSOR_REQUIRES_GRAD) +
                                          !!(node->src[1]->flags & NASC_TENSOR_REQUIRES_GRAD));
    }
}

/* ---------------------------------------------------------------- the networks */

typedef struct net {
    const char *name;
    int batch, in_c, in_h, in_w, channels, cells;
    bool supernet, aux;
    float drop_path, clip;
    /* built */
    nasc_model *m;
    nasc_graph *g;
    nasc_optim *o;
    nasc_space *space;
    nasc_supernet *sn;
    nasc_oneshot *os;
    float *x, *xv;
    int32_t *y, *yv;
    size_t n_params;
    double macs_model; /* cost model's forward MACs at batch 1 (fixed networks) */
} net;

static int net_build(net *n, nasc_backend *be, nasc_err *err) {
    nasc_status st = NASC_OK;
    if (n->supernet) {
        st = nasc_space_new("darts", NULL, &n->space, err);
        if (!st)
            st = nasc_supernet_new(n->space,
                                   &(nasc_supernet_config){.in_c = n->in_c, .in_h = n->in_h,
                                                           .in_w = n->in_w,
                                                           .channels = n->channels,
                                                           .cells = n->cells},
                                   1, &n->sn, err);
        if (!st)
            st = nasc_oneshot_new(NASC_ONESHOT_DARTS, n->sn, be, NULL, 1, &n->os, err);
        if (st)
            return 1;
        n->n_params = nasc_params_count(nasc_supernet_weights(n->sn));
    } else {
        nasc_arch *a = NULL;
        st = nasc_space_new("darts", NULL, &n->space, err);
        if (!st)
            st = nasc_arch_parse(n->space, DARTS_V2, &a, err);
        if (!st) {
            const nasc_net_config nc = {.in_c = n->in_c, .in_h = n->in_h, .in_w = n->in_w,
                                        .n_classes = 10, .channels = n->channels,
                                        .cells = n->cells, .auxiliary = n->aux,
                                        .drop_path = n->drop_path};
            st = nasc_space_build(a, &nc, 1, &n->m, err);
        }
        nasc_arch_free(a);
        nasc_model_cost c;
        if (!st)
            st = nasc_model_cost_measure(n->m, &(nasc_cost_config){.repeats = -1}, &c, err);
        if (st)
            return 1;
        n->macs_model = c.macs;
        n->g = nasc_graph_new(be, 64u << 20, err);
        if (!n->g)
            return 1;
        nasc_graph_set_release_grads(n->g, true); /* as nasc_train does */
        if (nasc_optim_new(n->m->params,
                           &(nasc_optim_config){.kind = NASC_OPTIM_SGD, .momentum = 0.9f,
                                                .weight_decay = 3e-4f},
                           &n->o, err))
            return 1;
        n->n_params = nasc_params_count(n->m->params);
    }
    const size_t n_in = (size_t)n->batch * n->in_c * n->in_h * n->in_w;
    n->x = malloc(n_in * sizeof(float));
    n->xv = malloc(n_in * sizeof(float));
    n->y = malloc((size_t)n->batch * sizeof(int32_t));
    n->yv = malloc((size_t)n->batch * sizeof(int32_t));
    if (!n->x || !n->xv || !n->y || !n->yv)
        return nasc_errorf(err, NASC_ERR_NOMEM, "out of memory for the batches"), 1;
    nasc_rng r;
    nasc_rng_init(&r, 7, NASC_STREAM_USER);
    for (size_t i = 0; i < n_in; i++) {
        n->x[i] = nasc_rng_normal(&r);
        n->xv[i] = nasc_rng_normal(&r);
    }
    for (int i = 0; i < n->batch; i++) {
        n->y[i] = i % 10;
        n->yv[i] = (i * 7) % 10;
    }
    return 0;
}

static void net_free(net *n) {
    nasc_oneshot_free(n->os);
    nasc_supernet_free(n->sn);
    nasc_optim_free(n->o);
    nasc_graph_free(n->g);
    nasc_model_free(n->m);
    nasc_space_free(n->space);
    free(n->x);
    free(n->xv);
    free(n->y);
    free(n->yv);
}

/* One training step with the hook on; fills B.cur. Returns 0 or 1 (message printed). */
static int net_step(net *n, int s) {
    memset(&B.cur, 0, sizeof B.cur);
    nasc_err err = {0};
    const double t0 = now_s();
    if (n->supernet) {
        nasc_oneshot_batch tb = {.x = n->x, .labels = n->y, .n = n->batch},
                           vb = {.x = n->xv, .labels = n->yv, .n = n->batch};
        nasc_oneshot_step_stats stats;
        if (nasc_oneshot_step(n->os, &tb, &vb, 0.025f, &stats, &err)) {
            fprintf(stderr, "bench_roofline: %s: %s\n", n->name, err.msg);
            return 1;
        }
    } else {
        nasc_graph *g = n->g;
        nasc_graph_reset(g);
        nasc_graph_set_training(g, true);
        nasc_graph_set_grad(g, true);
        nasc_graph_set_rng(g, 1, (uint64_t)s);
        double tu = now_s();
        nasc_params_zero_grad(n->m->params);
        double upd_s = now_s() - tu;
        const nasc_forward_opts fo = {.drop_path = n->drop_path, .want_aux = n->aux};
        nasc_tensor *in = nasc_input(g, n->batch, n->in_c, n->in_h, n->in_w, n->x);
        nasc_tensor *loss = nasc_cross_entropy(g, nasc_model_forward(n->m, g, in, &fo), n->y, 0);
        if (loss && n->aux && n->m->aux_logits)
            loss = nasc_add(g, loss,
                            nasc_scale(g, nasc_cross_entropy(g, n->m->aux_logits, n->y, 0), 0.4f));
        if (!loss || nasc_backward(g, loss) != NASC_OK) {
            fprintf(stderr, "bench_roofline: %s: %s\n", n->name, nasc_graph_errmsg(g));
            return 1;
        }
        tu = now_s();
        bool clipped = false;
        if (n->clip > 0.0f)
            clipped = nasc_clip_grad_norm(n->m->params, n->clip) > n->clip;
        nasc_optim_step(n->o, 0.025f);
        upd_s += now_s() - tu;
        /* zero grads (write), clip (read; scaled: read + write), SGD with momentum and weight
         * decay (read w, g, v; write w, v; 6 FLOPs) */
        const double p = (double)n->n_params;
        const double elems = p * (1.0 + (n->clip > 0 ? 1.0 + (clipped ? 2.0 : 0.0) : 0.0) + 5.0);
        const double flops = p * (6.0 + (n->clip > 0 ? 2.0 + (clipped ? 1.0 : 0.0) : 0.0));
        add_row(&B.cur.r[KIND_UPDATE][0], flops, 4.0 * elems, upd_s);
    }
    B.cur.step_s = now_s() - t0;
    if (n->supernet) {
        /* the weight update runs inside nasc_oneshot_step: its bound (zero grads, clip, SGD as
         * above) goes to the rest row, whose time is everything outside the ops */
        const double p = (double)n->n_params;
        row *r = &B.cur.r[KIND_REST][0];
        const double tf = p * 9.0 / B.peak, tm = 4.0 * p * 9.0 / B.bw;
        r->flops = p * 9.0;
        r->bytes = 4.0 * p * 9.0;
        r->bound_s = tf > tm ? tf : tm;
        r->bound_mem_s = tm >= tf ? tm : 0.0;
    }
    double ops_s = 0.0;
    for (int k = 0; k < KIND_REST; k++)
        ops_s += B.cur.r[k][0].seconds + B.cur.r[k][1].seconds;
    B.cur.r[KIND_REST][0].seconds = B.cur.step_s - ops_s;
    B.cur.r[KIND_REST][0].calls = 1;
    return 0;
}

static int cmp_step(const void *a, const void *b) {
    const double x = ((const table *)a)->step_s, y = ((const table *)b)->step_s;
    return (x > y) - (x < y);
}

static void print_table(const net *n, const table *t, int threads, int reps) {
    printf("\n== %s: %s C=%d, %d cells, batch %d, %dx%dx%d%s%s; %d threads, median of %d "
           "steps\n",
           n->name, n->supernet ? "DARTS supernet, first-order search step" : "DARTS_V2",
           n->channels, n->cells, n->batch, n->in_c, n->in_h, n->in_w,
           n->aux ? ", auxiliary head" : "", n->drop_path > 0 ? ", drop-path 0.2" : "", threads,
           reps);
    printf("%-17s %-4s %6s %9s %9s %9s %9s %5s %7s %6s %8s %7s\n", "op", "pass", "calls",
           "GFLOP", "MB", "ms", "bound ms", "by", "%bound", "%step", "GFLOP/s", "GB/s");
    /* rows sorted by measured time */
    int order[N_KIND * 2], n_rows = 0;
    for (int k = 0; k < N_KIND; k++)
        for (int p = 0; p < 2; p++)
            if (t->r[k][p].calls)
                order[n_rows++] = k * 2 + p;
    for (int i = 1; i < n_rows; i++)
        for (int j = i; j > 0; j--) {
            const row *a = &t->r[order[j - 1] / 2][order[j - 1] % 2];
            const row *b = &t->r[order[j] / 2][order[j] % 2];
            if (b->seconds <= a->seconds)
                break;
            const int tmp = order[j];
            order[j] = order[j - 1];
            order[j - 1] = tmp;
        }
    row tot = {0};
    for (int i = 0; i < n_rows; i++) {
        const int k = order[i] / 2, p = order[i] % 2;
        const row *r = &t->r[k][p];
        tot.flops += r->flops;
        tot.bytes += r->bytes;
        tot.bound_s += r->bound_s;
        tot.bound_mem_s += r->bound_mem_s;
        tot.calls += r->calls;
        const char *by = r->bound_s <= 0 ? "-" : r->bound_mem_s * 2 >= r->bound_s ? "mem" : "flop";
        char share[16] = "-";
        if (r->bound_s > 0 && r->seconds > 0)
            snprintf(share, sizeof share, "%.2f", r->bound_s / r->seconds);
        printf("%-17s %-4s %6ld %9.3f %9.1f %9.3f %9.3f %5s %7s %5.1f%% %8.1f %7.1f\n",
               kind_name(k), k >= KIND_UPDATE ? "" : p ? "bwd" : "fwd", r->calls, r->flops * 1e-9,
               r->bytes * 1e-6, r->seconds * 1e3, r->bound_s * 1e3, by, share,
               100.0 * r->seconds / t->step_s, r->seconds > 0 ? r->flops * 1e-9 / r->seconds : 0.0,
               r->seconds > 0 ? r->bytes * 1e-9 / r->seconds : 0.0);
    }
    const double tf = tot.flops / B.peak, tm = tot.bytes / B.bw;
    printf("%-17s %-4s %6ld %9.3f %9.1f %9.3f %9.3f %5s %7.2f %5.1f%% %8.1f %7.1f\n", "STEP", "",
           tot.calls, tot.flops * 1e-9, tot.bytes * 1e-6, t->step_s * 1e3, tot.bound_s * 1e3,
           tot.bound_mem_s * 2 >= tot.bound_s ? "mem" : "flop", tot.bound_s / t->step_s, 100.0,
           tot.flops * 1e-9 / t->step_s, tot.bytes * 1e-9 / t->step_s);
    printf("step: %.1f images/s; bound summed over ops %.3f ms (share %.2f); bound of the "
           "totals max(%.3f, %.3f) ms (share %.2f)\n",
           n->batch / t->step_s, tot.bound_s * 1e3, tot.bound_s / t->step_s, tf * 1e3, tm * 1e3,
           (tf > tm ? tf : tm) / t->step_s);
}

static int cmp_shape_time(const void *a, const void *b) {
    const double x = ((const struct shape_row *)a)->r.seconds,
                 y = ((const struct shape_row *)b)->r.seconds;
    return (x < y) - (x > y);
}

/* --by-shape: the conv rows split by shape, slowest first (sorts t's shape rows). */
static void print_shapes(table *t) {
    qsort(t->shapes, (size_t)t->n_shapes, sizeof t->shapes[0], cmp_shape_time);
    printf("by shape (conv):\n%-11s %-4s %5s %5s %7s %2s %2s %6s %9s %9s %7s %6s %8s %7s\n",
           "op", "pass", "C", "K", "HxW", "s", "d", "calls", "ms", "bound ms", "%bound",
           "%step", "GFLOP/s", "GB/s");
    for (int i = 0; i < t->n_shapes; i++) {
        const struct shape_row *q = &t->shapes[i];
        char hw[16];
        snprintf(hw, sizeof hw, "%dx%d", q->H, q->W);
        printf("%-11s %-4s %5d %5d %7s %2d %2d %6ld %9.3f %9.3f %7.2f %5.1f%% %8.1f %7.1f\n",
               kind_name(q->kind), q->pass ? "bwd" : "fwd", q->C, q->K, hw, q->stride, q->dil,
               q->r.calls, q->r.seconds * 1e3, q->r.bound_s * 1e3,
               q->r.seconds > 0 ? q->r.bound_s / q->r.seconds : 0.0,
               100.0 * q->r.seconds / t->step_s, q->r.flops * 1e-9 / q->r.seconds,
               q->r.bytes * 1e-9 / q->r.seconds);
    }
}

/* ---------------------------------------------------------------- quick-mode checks */

static int n_fail;

static void expect(bool ok, const char *what, double got, double want) {
    printf("check %-58s %s (%.6g vs %.6g)\n", what, ok ? "ok" : "FAIL", got, want);
    n_fail += !ok;
}

static bool close_rel(double a, double b) { return fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b)); }

/* Self-consistency of one network's accounting (not timings). */
static void check(const net *n, const table *t, long n_nodes) {
    char what[96];
    double fw = 0, bw = 0, ops_s = 0;
    for (int k = 0; k < N_KIND; k++) {
        ops_s += t->r[k][0].seconds + t->r[k][1].seconds;
        if (k < KIND_UPDATE) {
            fw += t->r[k][0].flops;
            bw += t->r[k][1].flops;
        }
    }
    /* each op's time is a sub-interval of the step (no node timed twice, none nested) */
    snprintf(what, sizeof what, "%s: ops and update take at most the step time", n->name);
    expect(ops_s - t->r[KIND_REST][0].seconds <= t->step_s, what,
           ops_s - t->r[KIND_REST][0].seconds, t->step_s);
    snprintf(what, sizeof what, "%s: backward FLOPs in [1, 3] x forward", n->name);
    expect(bw >= fw && bw <= 3 * fw, what, bw / fw, 2);
    /* conv + linear backward (counted from the grads the kernels wrote) = forward MACs once
     * per input that needed a gradient when the node was built (its flags) */
    snprintf(what, sizeof what, "%s: backward MACs = those due from forward", n->name);
    expect(close_rel(t->bwd_macs, t->bwd_macs_due), what, t->bwd_macs, t->bwd_macs_due);
    if (n->supernet) {
        /* two passes (arch step on the validation batch, weight step on the training batch) */
        snprintf(what, sizeof what, "%s: forward nodes >= backward nodes", n->name);
        expect(t->n_fwd >= t->n_bwd && t->n_bwd > 0, what, (double)t->n_fwd, (double)t->n_bwd);
        return;
    }
    snprintf(what, sizeof what, "%s: one backward per recorded node", n->name);
    expect(t->n_bwd == n_nodes, what, (double)t->n_bwd, (double)n_nodes);
    snprintf(what, sizeof what, "%s: every forward timed", n->name);
    expect(t->n_fwd == n_nodes, what, (double)t->n_fwd, (double)n_nodes);
    /* the cost model (src/estimate/cost.c) counts forward MACs at batch 1, without the
     * auxiliary head */
    snprintf(what, sizeof what, "%s: forward MACs %s batch x cost model's", n->name,
             n->aux ? ">" : "==");
    const double want = n->macs_model * n->batch;
    expect(n->aux ? t->fwd_macs > want : close_rel(t->fwd_macs, want), what, t->fwd_macs, want);
}

/* ---------------------------------------------------------------- main */

static int usage(const char *msg) {
    fprintf(stderr,
            "bench_roofline: %s\nusage: bench_roofline [--threads T] [--reps R] [--warmup W] "
            "[--nets supernet,darts,cifar] [--triad-mb M] [--by-shape] [--quick]\n",
            msg);
    return 2;
}

static bool parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    const long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

int main(int argc, char **argv) {
    int threads = 2, reps = 5, warmup = 1, triad_mb = 256;
    bool quick = false;
    const char *nets_arg = "supernet,darts,cifar";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) {
            quick = true;
            continue;
        }
        if (!strcmp(a, "--by-shape")) {
            B.by_shape = true;
            continue;
        }
        if (!v)
            return usage("missing value");
        bool ok = true;
        if (!strcmp(a, "--threads")) ok = parse_int(v, 1, 256, &threads);
        else if (!strcmp(a, "--reps")) ok = parse_int(v, 1, 1000, &reps);
        else if (!strcmp(a, "--warmup")) ok = parse_int(v, 0, 1000, &warmup);
        else if (!strcmp(a, "--triad-mb")) ok = parse_int(v, 1, 1 << 16, &triad_mb);
        else if (!strcmp(a, "--nets")) nets_arg = v;
        else return usage("unknown option");
        if (!ok)
            return usage("bad value");
        i++;
    }
    { /* --nets: a comma-separated subset of the three names */
        const char *q = nets_arg;
        while (*q) {
            const size_t len = strcspn(q, ",");
            if (!((len == 8 && !strncmp(q, "supernet", 8)) || (len == 5 && !strncmp(q, "darts", 5)) ||
                  (len == 5 && !strncmp(q, "cifar", 5))))
                return usage("--nets takes a comma-separated subset of supernet,darts,cifar");
            q += len + (q[len] == ',');
        }
    }
    if (quick) {
        reps = reps < 2 ? reps : 2;
        triad_mb = triad_mb < 32 ? triad_mb : 32;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    double la0[3];
    loadavg(la0);
    char host[64] = "?";
    gethostname(host, sizeof host - 1);
    printf("bench_roofline: host %s, %ld processors, %d threads, load average %.2f %.2f %.2f "
           "at start\n",
           host, sysconf(_SC_NPROCESSORS_ONLN), threads, la0[0], la0[1], la0[2]);

    /* peak FMA rate and bandwidth per thread count */
    __builtin_cpu_init();
    const bool avx512 = __builtin_cpu_supports("avx512f");
    if (!avx512 && !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) {
        fprintf(stderr, "bench_roofline: the FMA loop needs AVX-512 or AVX2 + FMA; skipped\n");
        return 77;
    }
    const long iters = quick ? 2000000 : 20000000;
    const size_t n_tri = (size_t)triad_mb * (1u << 20) / sizeof(float);
    float *ta = NULL, *tb = NULL, *tc = NULL;
    if (posix_memalign((void **)&ta, 64, n_tri * sizeof(float)) ||
        posix_memalign((void **)&tb, 64, n_tri * sizeof(float)) ||
        posix_memalign((void **)&tc, 64, n_tri * sizeof(float))) {
        fprintf(stderr, "bench_roofline: out of memory for the triad arrays\n");
        return 1;
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t i = 0; i < n_tri; i++) { /* first touch by the threads that run the triad */
        ta[i] = 0.0f;
        tb[i] = 1.0f;
        tc[i] = (float)(i & 7);
    }
    const long llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
    printf("peak: %s FMA loop, %d accumulators in registers; triad over 3 x %d MB arrays "
           "(LLC reported %.0f MB)\n",
           avx512 ? "AVX-512" : "AVX2 (no AVX-512 on this CPU)", FMA_ACC, triad_mb,
           llc > 0 ? llc / 1048576.0 : 0.0);
    double tri_best_s = 0, fma_best_s = 0, fma_flops = 0;
    for (int t = 1; t <= threads; t++) {
        const double pf = peak_flops(t, iters, quick ? 3 : 10, avx512, &fma_flops, &fma_best_s);
        const double bw = triad_bw(ta, tb, tc, n_tri, t, quick ? 3 : 10, &tri_best_s);
        printf("  threads %d: peak %.1f GFLOP/s, triad %.1f GB/s\n", t, pf * 1e-9, bw * 1e-9);
        if (t == threads) {
            B.peak = pf;
            B.bw = bw;
        }
    }
    if (quick) {
        /* the microbenchmarks' own kernels, accounted like an op, reach at most their bound */
        row r = {0};
        add_row(&r, 2.0 * (double)n_tri, 12.0 * (double)n_tri, tri_best_s);
        expect(r.bound_s / r.seconds <= 1.0 + 1e-9, "triad: share of its bound <= 1",
               r.bound_s / r.seconds, 1.0);
        row q = {0};
        add_row(&q, fma_flops, 0.0, fma_best_s);
        expect(q.bound_s / q.seconds <= 1.0 + 1e-9, "FMA loop: share of its bound <= 1",
               q.bound_s / q.seconds, 1.0);
    }
    free(ta);
    free(tb);
    free(tc);

    net nets[3] = {
        {.name = "supernet", .batch = 64, .in_c = 1, .in_h = 28, .in_w = 28, .channels = 16,
         .cells = 8, .supernet = true},
        {.name = "darts", .batch = 64, .in_c = 1, .in_h = 28, .in_w = 28, .channels = 16,
         .cells = 8},
        {.name = "cifar", .batch = 96, .in_c = 3, .in_h = 32, .in_w = 32, .channels = 36,
         .cells = 20, .aux = true, .drop_path = 0.2f, .clip = 5.0f},
    };
    if (quick)
        for (int i = 0; i < 3; i++) {
            nets[i].batch = 8;
            nets[i].channels = 4;
            nets[i].cells = 3;
        }
    nasc_err err = {0};
    nasc_backend *be = nasc_backend_new("cpu", threads, &err);
    if (!be) {
        fprintf(stderr, "bench_roofline: %s\n", err.msg);
        return 1;
    }
    table *runs = malloc((size_t)reps * sizeof *runs);
    int rc = 0;
    for (int i = 0; i < 3 && !rc; i++) {
        net *n = &nets[i];
        const char *hit = strstr(nets_arg, n->name);
        if (!hit)
            continue;
        fprintf(stderr, "bench_roofline: building %s\n", n->name);
        if (net_build(n, be, &err)) {
            fprintf(stderr, "bench_roofline: %s: %s\n", n->name, err.msg);
            rc = 1;
        }
        for (int s = 0; s < warmup + reps && !rc; s++) {
            nasc_backend_set_profile(profile_hook, NULL);
            rc = net_step(n, s);
            nasc_backend_set_profile(NULL, NULL);
            fprintf(stderr, "bench_roofline: %s step %d: %.3f s\n", n->name, s, B.cur.step_s);
            if (s >= warmup)
                runs[s - warmup] = B.cur;
        }
        if (!rc) {
            const long n_nodes = n->g ? nasc_graph_n_nodes(n->g) : 0;
            qsort(runs, (size_t)reps, sizeof *runs, cmp_step);
            print_table(n, &runs[reps / 2], threads, reps);
            if (B.by_shape)
                print_shapes(&runs[reps / 2]);
            if (quick)
                for (int r = 0; r < reps; r++)
                    check(n, &runs[r], n_nodes);
        }
        net_free(n);
    }
    nasc_backend_free(be);
    free(runs);
    double la1[3];
    loadavg(la1);
    printf("\nload average %.2f %.2f %.2f at the end (%ld processors): %s\n", la1[0], la1[1],
           la1[2], sysconf(_SC_NPROCESSORS_ONLN),
           la1[0] > 0.5 * (double)sysconf(_SC_NPROCESSORS_ONLN) ? "the machine was shared, "
                                                                  "figures are provisional"
                                                                : "quiet");
    if (quick)
        printf("%d check(s) failed\n", n_fail);
    return rc ? rc : n_fail ? 1 : 0;
}
