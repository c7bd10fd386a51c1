/* test_grad_ops.c — every op's backward against central finite differences, on every backend.
 * The test fails if any NASC_OP_* has no case here (op_coverage_check).
 *
 * For each case: random inputs, out = op(inputs), loss = sum(out * R) for a fixed random R. The
 * analytic gradient comes from nasc_backward; the numerical one from a 4-point central stencil
 *   dL/dx ~ (-L(x+2h) + 8L(x+h) - 8L(x-h) + L(x-2h)) / (12h)
 * with L evaluated in double from the float outputs. Truncation error is O(h^4); the noise floor
 * is the float rounding of the outputs (~1e-7 relative) divided by h. With h = 1e-2 (stated per
 * case) that gives the tolerances below: |analytic - numeric| <= atol + rtol*|numeric|.
 * A wrong backward (missing term, wrong index, wrong scale) misses by O(1).
 *
 * Kinks are avoided explicitly: ReLU inputs are kept at |x| >= 0.05 (> 2h), max-pool inputs are
 * distinct values spaced 0.05 apart (> 4h, so the argmax never changes under perturbation). */
#include "test.h"

#include "nasc/backend.h"
#include "op_cases.h"

/* Grad-only builders; the shared ones are in op_cases.h. */

/* weighted sum: inputs w (2,4,1,1) read flat, then the terms; indices repeat one term's weight
 * slot and use the last row, as a supernet's alpha rows do. */
static nasc_tensor *b_wsum(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    static const int idx[] = {1, 6, 7, 6};
    return nasc_weighted_sum(g, in[0], c->n_in - 1, in + 1, idx);
}
/* with a constant term (NULL: straight-through estimators) between two tensors */
static nasc_tensor *b_wsum_const(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    (void)c;
    static const int idx[] = {0, 2, 3};
    nasc_tensor *xs[] = {in[1], NULL, in[2]};
    return nasc_weighted_sum(g, in[0], 3, xs, idx);
}
/* in-place batch norm (affine off), with running statistics (inputs 1, 2: not differentiated) */
static nasc_tensor *b_bn_inplace(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    (void)c;
    return nasc_batchnorm_inplace(g, in[0], in[1], in[2], &bnp);
}
/* in-place ReLU on an op's output (scale's backward, like batch norm's, does not read it); the
 * input stays away from the kink (a BN output can land near 0) */
static nasc_tensor *b_relu_inplace(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    (void)c;
    return nasc_relu_inplace(g, nasc_scale(g, in[0], 1.5f));
}

/* relu(batchnorm(.)) fused (NASC_OP_BN_RELU). The ReLU's kink is kept away from every output:
 * BN's input is P + 0.1*x with P = +-1 alternating over the pixels of each channel (mean 0,
 * std 1; M is even in the cases), so |xhat| >= 0.85; with affine, gamma' = 1 + 0.1*gamma and
 * beta' = 0.1*beta, so |y| >= 0.6 while a step h = 1e-2 moves BN's input by 1e-3. n_in: 1 (no
 * affine), 3 with no_grad bits (running statistics only), 5 (affine + running). */
static nasc_tensor *b_bn_relu(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    static float pat[4096], ones[64];
    const int C = in[0]->ne[1];
    const size_t n = (size_t)nasc_tensor_nelem(in[0]);
    if (n > sizeof pat / sizeof pat[0] || C > 64)
        return NULL;
    for (size_t i = 0; i < n; i++)
        pat[i] = ((i / (size_t)C) % 2) ? 1.0f : -1.0f; /* storage NHWC: pixel i / C */
    for (int k = 0; k < C; k++)
        ones[k] = 1.0f;
    nasc_tensor *P = nasc_input(g, in[0]->ne[0], C, in[0]->ne[2], in[0]->ne[3], pat);
    nasc_tensor *x = nasc_add(g, nasc_scale(g, in[0], 0.1f), P);
    if (c->n_in == 1)
        return nasc_batchnorm_relu(g, x, NULL, NULL, NULL, NULL, &bnp);
    if (c->n_in == 3)
        return nasc_batchnorm_relu(g, x, NULL, NULL, in[1], in[2], &bnp);
    nasc_tensor *one = nasc_input(g, 1, C, 1, 1, ones);
    nasc_tensor *gamma = nasc_add(g, nasc_scale(g, in[1], 0.1f), one);
    nasc_tensor *beta = nasc_scale(g, in[2], 0.1f);
    return nasc_batchnorm_relu(g, x, gamma, beta, in[3], in[4], &bnp);
}

#define CONV(s0, s1, p0, p1, d0, d1, gr)                                                           \
    .conv = {.stride = {s0, s1}, .pad = {p0, p1}, .dil = {d0, d1}, .groups = gr }
#define POOL(k0, k1, s0, s1, p0, p1, cip)                                                          \
    .pool = {.k = {k0, k1}, .stride = {s0, s1}, .pad = {p0, p1}, .count_include_pad = cip }
#define TOL(hh, r, a) .h = hh, .rtol = r, .atol = a

static const op_case cases[] = {
    /* conv2d: edge cases of stride, dilation, groups, padding, odd sizes, batch 1 */
    {"conv 3x3 pad1", b_conv, 3, {{2, 3, 5, 5}, {4, 3, 3, 3}, {1, 4, 1, 1}}, {0}, 0,
     CONV(1, 1, 1, 1, 1, 1, 1), TOL(1e-2, 1e-3, 1e-3)},
    {"conv stride2 odd", b_conv, 3, {{2, 2, 7, 6}, {3, 2, 3, 3}, {1, 3, 1, 1}}, {0}, 0,
     CONV(2, 2, 1, 1, 1, 1, 1), TOL(1e-2, 1e-3, 1e-3)},
    {"conv dilation2", b_conv, 2, {{1, 2, 7, 7}, {2, 2, 3, 3}}, {0}, 0,
     CONV(1, 1, 2, 2, 2, 2, 1), TOL(1e-2, 1e-3, 1e-3)},
    {"conv groups2", b_conv, 3, {{2, 4, 5, 5}, {6, 2, 3, 3}, {1, 6, 1, 1}}, {0}, 0,
     CONV(1, 1, 1, 1, 1, 1, 2), TOL(1e-2, 1e-3, 1e-3)},
    {"conv depthwise 3x3", b_conv, 2, {{2, 4, 6, 6}, {4, 1, 3, 3}}, {0}, 0,
     CONV(1, 1, 1, 1, 1, 1, 4), TOL(1e-2, 1e-3, 1e-3)},
    {"conv depthwise 5x5 s2 dil2", b_conv, 2, {{1, 3, 9, 9}, {3, 1, 5, 5}}, {0}, 0,
     CONV(2, 2, 4, 4, 2, 2, 3), TOL(1e-2, 1e-3, 1e-3)},
    {"conv 1x1 stride2", b_conv, 2, {{2, 3, 5, 4}, {5, 3, 1, 1}}, {0}, 0,
     CONV(2, 2, 0, 0, 1, 1, 1), TOL(1e-2, 1e-3, 1e-3)},
    {"conv pad>=k/2 asym", b_conv, 2, {{1, 2, 4, 5}, {2, 2, 3, 2}}, {0}, 0,
     CONV(1, 2, 2, 1, 1, 1, 1), TOL(1e-2, 1e-3, 1e-3)},
    {"conv 1x7 / 7x1", b_conv, 2, {{2, 2, 6, 8}, {3, 2, 1, 7}}, {0}, 0,
     CONV(1, 1, 0, 3, 1, 1, 1), TOL(1e-2, 1e-3, 1e-3)},
    /* pooling */
    {"maxpool 3x3 s1 p1", b_maxpool, 1, {{2, 3, 5, 5}}, {INIT_DISTINCT}, 0,
     POOL(3, 3, 1, 1, 1, 1, false), TOL(1e-2, 1e-3, 1e-3)},
    {"maxpool 2x2 s2 odd", b_maxpool, 1, {{2, 2, 5, 7}}, {INIT_DISTINCT}, 0,
     POOL(2, 2, 2, 2, 0, 0, false), TOL(1e-2, 1e-3, 1e-3)},
    {"avgpool 3x3 p1 include", b_avgpool, 1, {{2, 3, 5, 5}}, {0}, 0,
     POOL(3, 3, 1, 1, 1, 1, true), TOL(1e-2, 1e-3, 1e-3)},
    {"avgpool 3x3 p1 exclude", b_avgpool, 1, {{2, 3, 5, 5}}, {0}, 0,
     POOL(3, 3, 1, 1, 1, 1, false), TOL(1e-2, 1e-3, 1e-3)},
    {"avgpool 3x3 s2 p1 exclude", b_avgpool, 1, {{1, 2, 6, 7}}, {0}, 0,
     POOL(3, 3, 2, 2, 1, 1, false), TOL(1e-2, 1e-3, 1e-3)},
    {"global avgpool", b_gap, 1, {{3, 4, 3, 5}}, {0}, 0, TOL(1e-2, 1e-3, 1e-3)},
    /* batch norm: training with/without affine, with running stats; inference */
    {"bn train affine", b_bn, 3, {{4, 3, 3, 3}, {1, 3, 1, 1}, {1, 3, 1, 1}}, {0}, 0,
     TOL(1e-2, 2e-3, 2e-3)},
    {"bn train no affine + running", b_bn, 3, {{3, 5, 2, 3}, {1, 5, 1, 1}, {1, 5, 1, 1}},
     {0, 0, INIT_POSITIVE}, 0x6, TOL(1e-2, 2e-3, 2e-3)},
    {"bn train affine + running", b_bn, 5,
     {{2, 4, 3, 3}, {1, 4, 1, 1}, {1, 4, 1, 1}, {1, 4, 1, 1}, {1, 4, 1, 1}},
     {0, 0, 0, 0, INIT_POSITIVE}, 0x18, TOL(1e-2, 2e-3, 2e-3)},
    {"bn inference affine", b_bn, 5,
     {{2, 4, 3, 3}, {1, 4, 1, 1}, {1, 4, 1, 1}, {1, 4, 1, 1}, {1, 4, 1, 1}},
     {0, 0, 0, 0, INIT_POSITIVE}, 0x18, .inference = true, TOL(1e-2, 1e-3, 1e-3)},
    /* batch norm + ReLU fused: same tolerances as batch norm */
    {"bn_relu train no affine", b_bn_relu, 1, {{4, 3, 3, 2}}, {0}, 0, TOL(1e-2, 2e-3, 2e-3)},
    {"bn_relu train + running", b_bn_relu, 3, {{3, 5, 2, 2}, {1, 5, 1, 1}, {1, 5, 1, 1}},
     {0, 0, INIT_POSITIVE}, 0x6, TOL(1e-2, 2e-3, 2e-3)},
    {"bn_relu train affine + running C17", b_bn_relu, 5,
     {{2, 17, 3, 2}, {1, 17, 1, 1}, {1, 17, 1, 1}, {1, 17, 1, 1}, {1, 17, 1, 1}},
     {0, 0, 0, 0, INIT_POSITIVE}, 0x18, TOL(1e-2, 2e-3, 2e-3)},
    /* element-wise */
    {"relu", b_relu, 1, {{2, 3, 4, 5}}, {INIT_AWAY_FROM_ZERO}, 0, TOL(1e-2, 1e-3, 1e-3)},
    {"sigmoid", b_sigmoid, 1, {{2, 3, 4, 5}}, {0}, 0, TOL(1e-2, 1e-3, 1e-3)},
    {"tanh", b_tanh, 1, {{2, 3, 4, 5}}, {0}, 0, TOL(1e-2, 1e-3, 1e-3)},
    {"add same shape", b_add, 2, {{2, 3, 4, 5}, {2, 3, 4, 5}}, {0}, 0, TOL(1e-2, 1e-3, 1e-3)},
    {"add broadcast channel", b_add, 2, {{2, 3, 4, 5}, {1, 3, 1, 1}}, {0}, 0,
     TOL(1e-2, 1e-3, 1e-3)},
    {"mul broadcast scalar", b_mul, 2, {{2, 3, 4, 5}, {1, 1, 1, 1}}, {0}, 0,
     TOL(1e-2, 1e-3, 1e-3)},
    {"mul broadcast per-sample", b_mul, 2, {{3, 2, 3, 3}, {3, 1, 1, 1}}, {0}, 0,
     TOL(1e-2, 1e-3, 1e-3)},
    {"mul broadcast (N,C,1,1)", b_mul, 2, {{2, 4, 3, 3}, {2, 4, 1, 1}}, {0}, 0,
     TOL(1e-2, 1e-3, 1e-3)},
    {"mul self (x*x)", b_square, 1, {{2, 3, 2, 2}}, {0}, 0, TOL(1e-2, 1e-3, 1e-3)},
    {"scale", b_scale, 1, {{2, 3, 4, 5}}, {0}, 0, .f = -0.7f, TOL(1e-2, 1e-3, 1e-3)},
    /* moving data */
    {"concat 3", b_concat, 3, {{2, 2, 3, 3}, {2, 3, 3, 3}, {2, 1, 3, 3}}, {0}, 0,
     TOL(1e-2, 1e-3, 1e-3)},
    {"slice factorized-reduce", b_slice, 1, {{2, 3, 6, 5}}, {0}, 0,
     .slice = {0, 3, 1, 1, 2, 2}, TOL(1e-2, 1e-3, 1e-3)},
    {"slice channels", b_slice, 1, {{2, 8, 3, 3}}, {0}, 0, .slice = {2, 6, 0, 0, 1, 1},
     TOL(1e-2, 1e-3, 1e-3)},
    {"reshape", b_reshape, 1, {{2, 3, 2, 2}}, {INIT_AWAY_FROM_ZERO}, 0, TOL(1e-2, 1e-3, 1e-3)},
    /* linear */
    {"linear", b_linear, 3, {{4, 6, 1, 1}, {5, 6, 1, 1}, {1, 5, 1, 1}}, {0}, 0,
     TOL(1e-2, 1e-3, 1e-3)},
    {"linear flatten 4d", b_linear, 2, {{2, 3, 2, 2}, {4, 12, 1, 1}}, {0}, 0,
     TOL(1e-2, 1e-3, 1e-3)},
    /* stochastic: the mask is fixed for a fixed (seed, step), so the op is linear in x */
    {"dropout p=0.3", b_dropout, 1, {{2, 3, 4, 5}}, {0}, 0, .f = 0.3f, TOL(1e-2, 1e-3, 1e-3)},
    {"drop_path p=0.5", b_drop_path, 1, {{6, 2, 2, 2}}, {0}, 0, .f = 0.5f,
     TOL(1e-2, 1e-3, 1e-3)},
    /* softmax family and losses */
    {"softmax (N,K)", b_softmax, 1, {{3, 5, 1, 1}}, {0}, 0, TOL(1e-2, 1e-3, 1e-3)},
    {"softmax per pixel", b_softmax, 1, {{2, 4, 2, 3}}, {0}, 0, TOL(1e-2, 1e-3, 1e-3)},
    {"log_softmax", b_log_softmax, 1, {{3, 5, 1, 1}}, {0}, 0, TOL(1e-2, 1e-3, 1e-3)},
    {"cross_entropy", b_ce, 1, {{7, 5, 1, 1}}, {0}, 0, .f = 0.0f, TOL(1e-2, 1e-3, 1e-3)},
    {"cross_entropy smoothing 0.1", b_ce, 1, {{7, 5, 1, 1}}, {0}, 0, .f = 0.1f,
     TOL(1e-2, 1e-3, 1e-3)},
    {"sum", b_sum, 1, {{2, 3, 4, 5}}, {0}, 0, TOL(1e-2, 1e-3, 1e-3)},
    {"mean", b_mean, 1, {{2, 3, 4, 5}}, {0}, 0, TOL(1e-2, 1e-3, 1e-3)},
    /* supernet ops (oneshot): linear in every input, so h = 1e-2 is exact up to rounding */
    {"weighted_sum 4 terms", b_wsum, 5,
     {{2, 4, 1, 1}, {2, 3, 4, 5}, {2, 3, 4, 5}, {2, 3, 4, 5}, {2, 3, 4, 5}}, {0}, 0,
     TOL(1e-2, 1e-3, 1e-3)},
    {"weighted_sum constant term", b_wsum_const, 3, {{1, 4, 1, 1}, {3, 2, 3, 3}, {3, 2, 3, 3}},
     {0}, 0, TOL(1e-2, 1e-3, 1e-3)},
    {"channel_shuffle G=4", b_shuffle, 1, {{2, 8, 3, 2}}, {0}, 0, .f = 4.0f,
     TOL(1e-2, 1e-3, 1e-3)},
    {"bn_inplace train", b_bn_inplace, 3, {{3, 5, 2, 3}, {1, 5, 1, 1}, {1, 5, 1, 1}},
     {0, 0, INIT_POSITIVE}, 6, TOL(1e-2, 1e-3, 1e-3)},
    {"bn_inplace inference", b_bn_inplace, 3, {{2, 4, 3, 3}, {1, 4, 1, 1}, {1, 4, 1, 1}},
     {0, 0, INIT_POSITIVE}, 6, .inference = true, TOL(1e-2, 1e-3, 1e-3)},
    {"relu_inplace after scale", b_relu_inplace, 1, {{4, 3, 3, 3}}, {INIT_AWAY_FROM_ZERO}, 0,
     TOL(1e-2, 1e-3, 1e-3)},
    {"channel_shuffle G=3 C=12", b_shuffle, 1, {{1, 12, 2, 3}}, {0}, 0, .f = 3.0f,
     TOL(1e-2, 1e-3, 1e-3)},
};

static op_coverage coverage; /* which ops the cases build (op_cases.h) */

/* loss = sum(out * R), in double, with a fresh forward on the current input values. */
static double eval_loss(nasc_graph *g, const op_case *c, float **vals, const float *R) {
    nasc_graph_reset(g);
    nasc_graph_set_grad(g, false);
    nasc_tensor *in[MAX_IN];
    nasc_tensor *out = op_case_build(g, c, vals, in, false);
    nasc_graph_set_grad(g, true);
    if (!out)
        return NAN;
    double L = 0.0;
    for (int64_t i = 0; i < nasc_tensor_nelem(out); i++)
        L += (double)out->data[i] * R[i];
    return L;
}

static int run_case(nasc_backend *be, const op_case *c, uint64_t seed) {
    nasc_err err = {0};
    nasc_graph *g = nasc_graph_new(be, 1 << 20, &err);
    nasc_graph_set_training(g, !c->inference);
    nasc_graph_set_rng(g, 1234, 7);
    nasc_rng r;
    nasc_rng_init(&r, seed, 99);
    float *vals[MAX_IN];
    size_t sizes[MAX_IN];
    for (int i = 0; i < c->n_in; i++) {
        sizes[i] = numel(c->shape[i]);
        vals[i] = malloc(sizes[i] * sizeof(float));
        fill(vals[i], sizes[i], c->init[i], &r);
    }
    /* analytic */
    nasc_graph_reset(g);
    nasc_tensor *in[MAX_IN];
    nasc_tensor *out = op_case_build(g, c, vals, in, true);
    int fails = 0;
    if (!out) {
        fprintf(stderr, "[%s] %s: build failed: %s\n", nasc_backend_name(be), c->name,
                nasc_graph_errmsg(g));
        test_failures++;
        goto done;
    }
    op_coverage_mark(&coverage, out);
    size_t n_out = (size_t)nasc_tensor_nelem(out);
    float *R = malloc(n_out * sizeof(float));
    fill(R, n_out, INIT_UNIFORM, &r);
    nasc_status st = nasc_backward(g, op_case_loss(g, out, R));
    CHECK_MSG(st == NASC_OK, "[%s] %s: backward: %s", nasc_backend_name(be), c->name,
              nasc_graph_errmsg(g));
    float *analytic[MAX_IN];
    for (int i = 0; i < c->n_in; i++) {
        analytic[i] = NULL;
        if (c->no_grad & (1u << i))
            continue;
        analytic[i] = calloc(sizes[i], sizeof(float));
        if (in[i]->grad)
            memcpy(analytic[i], in[i]->grad, sizes[i] * sizeof(float));
    }
    /* numeric, on up to 48 elements per input */
    for (int i = 0; i < c->n_in; i++) {
        if (c->no_grad & (1u << i))
            continue;
        size_t n_check = sizes[i] < 48 ? sizes[i] : 48;
        float *num = malloc(n_check * sizeof(float)), *ana = malloc(n_check * sizeof(float));
        for (size_t j = 0; j < n_check; j++) {
            size_t e = sizes[i] <= 48 ? j : nasc_rng_below(&r, (uint32_t)sizes[i]);
            const float x0 = vals[i][e];
            double L[4];
            const double steps[4] = {2, 1, -1, -2};
            for (int s = 0; s < 4; s++) {
                vals[i][e] = (float)(x0 + steps[s] * c->h);
                L[s] = eval_loss(g, c, vals, R);
            }
            vals[i][e] = x0;
            num[j] = (float)((-L[0] + 8.0 * L[1] - 8.0 * L[2] + L[3]) / (12.0 * c->h));
            ana[j] = analytic[i][e];
        }
        char label[160];
        snprintf(label, sizeof label, "[%s] %s: d/d input %d", nasc_backend_name(be), c->name, i);
        fails += check_tensor(label, ana, num, n_check, c->rtol, c->atol);
        free(num);
        free(ana);
    }
    for (int i = 0; i < c->n_in; i++)
        free(analytic[i]);
    free(R);
done:
    for (int i = 0; i < c->n_in; i++)
        free(vals[i]);
    nasc_graph_free(g);
    return fails;
}

/* Random conv shapes: stride, dilation, groups, padding, kernel drawn at random. */
static void random_conv_cases(nasc_backend *be, int count) {
    nasc_rng r;
    nasc_rng_init(&r, 4242, 1);
    for (int t = 0; t < count; t++) {
        op_case c = {.name = "conv random", .build = b_conv, .n_in = 3, .h = 1e-2, .rtol = 1e-3,
                     .atol = 1e-3};
        const int G = 1 + (int)nasc_rng_below(&r, 3);
        const int C = G * (1 + (int)nasc_rng_below(&r, 2)), K = G * (1 + (int)nasc_rng_below(&r, 2));
        const int KH = 1 + (int)nasc_rng_below(&r, 3), KW = 1 + (int)nasc_rng_below(&r, 3);
        conv_draw_geometry(&r, &c.conv, KH, KW);
        c.conv.groups = G;
        const int H = 3 + (int)nasc_rng_below(&r, 5), W = 3 + (int)nasc_rng_below(&r, 5);
        const int N = 1 + (int)nasc_rng_below(&r, 2);
        int sh[3][4] = {{N, C, H, W}, {K, C / G, KH, KW}, {1, K, 1, 1}};
        memcpy(c.shape, sh, sizeof sh);
        if (!conv_fits(&c.conv, H, W, KH, KW))
            continue;
        if (run_case(be, &c, 1000 + (uint64_t)t))
            fprintf(stderr, "  random conv %d: N%d C%d H%d W%d K%d G%d k%dx%d s%d,%d p%d,%d d%d,%d\n",
                    t, N, C, H, W, K, G, KH, KW, c.conv.stride[0], c.conv.stride[1],
                    c.conv.pad[0], c.conv.pad[1], c.conv.dil[0], c.conv.dil[1]);
    }
}

int main(void) {
    nasc_err err = {0};
    nasc_backend *backends[2] = {nasc_backend_ref(), nasc_backend_new("cpu", 2, &err)};
    for (int b = 0; b < 2; b++) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            run_case(backends[b], &cases[i], 17 + i);
        random_conv_cases(backends[b], 12);
    }
    nasc_backend_free(backends[1]);
    op_coverage_check(&coverage, "grad_ops");
    return test_done("grad_ops");
}
