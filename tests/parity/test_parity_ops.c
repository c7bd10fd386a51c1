/* test_parity_ops.c — every op on the cpu backend against the ref backend (ggml's test-backend-ops).
 * The test fails if any NASC_OP_* has no case here (op_coverage_check).
 *
 * For each case: random inputs, out = op(inputs), loss = sum(out * R) for a fixed random R, then
 * backward. The output, every input gradient and every input buffer after the step (batch norm
 * updates its running statistics in place) are compared with ref's by normalised MSE
 *     nmse = sum (cpu - ref)^2 / sum ref^2   <=  the case's threshold
 * (1e-10 for ops whose cpu kernel does the same float arithmetic up to summation order, 1e-8 for
 * convolution and batch norm, whose long sums run in float on cpu and in double on ref). A wrong
 * index, missing term or wrong mask gives nmse ~1e-3 or more.
 *
 * Each case runs on cpu with 1, 2 and 3 threads, with the AVX-512 kernels switched off (the
 * portable C kernels), and convolutions on every conv path that applies (depthwise, 1x1,
 * im2col+GEMM, oneDNN). Every cpu run is done twice on fresh graphs and must give identical bits
 * (determinism for a fixed thread count).
 *
 * Shapes: small edge cases (odd sizes, C not a multiple of 16, batch 1, padding >= k/2, groups),
 * the DARTS / NAS-Bench-201 shapes (C = 16..64 at 28x28, 14x14 and 7x7, depthwise 3x3 / 5x5 with
 * dilation 2 and stride 2, 1x1, factorized reduce), and random conv configurations.
 * Sizes are kept small enough for the whole file to run in a few seconds under ASan. */
#include "test.h"

#include <unistd.h>

#include "backend/cpu/cpu_int.h"
#include "nasc/backend.h"
#include "op_cases.h"

/* Parity-only builders; the shared ones are in op_cases.h. */

static nasc_tensor *b_concat_self(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    (void)c;
    nasc_tensor *xs[] = {in[0], in[1], in[0]};
    return nasc_concat(g, 3, xs);
}
/* DARTS mixed op: in[0] = softmax(alpha) rows (R, n_ops), in[1..] the op outputs; a NULL term
 * (constant 1) and a repeated input are part of the case */
static nasc_tensor *b_wsum(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    nasc_tensor *xs[] = {in[1], in[2], NULL, in[3], in[1]};
    const int idx[] = {1, 3, 0, 5, 1};
    (void)c;
    return nasc_weighted_sum(g, in[0], 5, xs, idx);
}
/* In-place ops sit behind an op whose backward does not read its output (here a 1x1 conv, as in
 * a supernet's ReLU-conv-BN); in[0] x, in[1] 1x1 weights, [in[2], in[3]] running stats. */
static nasc_tensor *b_bn_inplace(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    nasc_conv2d_params one = {.stride = {1, 1}, .pad = {0, 0}, .dil = {1, 1}, .groups = 1};
    nasc_tensor *h = nasc_conv2d(g, in[0], in[1], NULL, &one);
    return nasc_batchnorm_inplace(g, h, c->n_in > 2 ? in[2] : NULL, c->n_in > 2 ? in[3] : NULL,
                                  &bnp);
}
static nasc_tensor *b_relu_inplace(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    (void)c;
    nasc_conv2d_params one = {.stride = {1, 1}, .pad = {0, 0}, .dil = {1, 1}, .groups = 1};
    return nasc_relu_inplace(g, nasc_conv2d(g, in[0], in[1], NULL, &one));
}
/* DARTS sep_conv half: relu -> depthwise -> 1x1 -> batch norm (affine off), the hot chain */
static nasc_tensor *b_sepconv(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    nasc_conv2d_params one = {.stride = {1, 1}, .pad = {0, 0}, .dil = {1, 1}, .groups = 1};
    nasc_tensor *h = nasc_conv2d(g, nasc_relu(g, in[0]), in[1], NULL, &c->conv);
    h = nasc_conv2d(g, h, in[2], NULL, &one);
    return nasc_batchnorm(g, h, NULL, NULL, NULL, NULL, &bnp);
}

/* relu(batchnorm(.)) fused; inputs as b_bn (op_cases.h) */
static nasc_tensor *b_bn_relu(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    if (c->n_in == 1)
        return nasc_batchnorm_relu(g, in[0], NULL, NULL, NULL, NULL, &bnp);
    if (c->n_in == 3 && c->no_grad)
        return nasc_batchnorm_relu(g, in[0], NULL, NULL, in[1], in[2], &bnp);
    if (c->n_in == 3)
        return nasc_batchnorm_relu(g, in[0], in[1], in[2], NULL, NULL, &bnp);
    return nasc_batchnorm_relu(g, in[0], in[1], in[2], in[3], in[4], &bnp);
}
/* DARTS sep_conv's middle: 1x1 -> BN + ReLU (fused) -> depthwise, as in the fixed network */
static nasc_tensor *b_sep_mid(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    nasc_conv2d_params one = {.stride = {1, 1}, .pad = {0, 0}, .dil = {1, 1}, .groups = 1};
    nasc_tensor *h = nasc_conv2d(g, in[0], in[1], NULL, &one);
    h = nasc_batchnorm_relu(g, h, in[2], in[3], NULL, NULL, &bnp);
    return nasc_conv2d(g, h, in[4], NULL, &c->conv);
}

#define T_EXACT 1e-10
#define T_CONV 1e-8
#define CONV(s, p, d, gr) .conv = {.stride = {s, s}, .pad = {p, p}, .dil = {d, d}, .groups = gr}
#define POOL(kk, s, p, cip) .pool = {.k = {kk, kk}, .stride = {s, s}, .pad = {p, p}, .count_include_pad = cip}

static const op_case fixed_cases[] = {
    /* pooling (DARTS: 3x3 s1/s2 p1, avg without pad counting; NB201: avg with) */
    {"maxpool 3x3 s1 p1 C16 14x14", b_maxpool, 1, {{2, 16, 14, 14}}, {INIT_DISTINCT}, 0, POOL(3, 1, 1, false), .tol = T_EXACT},
    {"maxpool 3x3 s2 p1 C20 odd", b_maxpool, 1, {{2, 20, 9, 7}}, {INIT_DISTINCT}, 0, POOL(3, 2, 1, false), .tol = T_EXACT},
    {"maxpool 2x2 s2 C3", b_maxpool, 1, {{3, 3, 6, 8}}, {INIT_DISTINCT}, 0, POOL(2, 2, 0, false), .tol = T_EXACT},
    {"avgpool 3x3 s1 p1 excl C32 28x28", b_avgpool, 1, {{2, 32, 28, 28}}, {0}, 0, POOL(3, 1, 1, false), .tol = T_EXACT},
    {"avgpool 3x3 s2 p1 incl C17", b_avgpool, 1, {{2, 17, 9, 9}}, {0}, 0, POOL(3, 2, 1, true), .tol = T_EXACT},
    {"avgpool 3x3 s2 p1 excl C16 28x28", b_avgpool, 1, {{2, 16, 28, 28}}, {0}, 0, POOL(3, 2, 1, false), .tol = T_EXACT},
    {"global avgpool C64 7x7", b_gap, 1, {{4, 64, 7, 7}}, {0}, 0, .tol = T_EXACT},
    {"global avgpool C300 3x5", b_gap, 1, {{3, 300, 3, 5}}, {0}, 0, .tol = T_EXACT},
    /* batch norm */
    {"bn train no affine C16 28x28 (DARTS search)", b_bn, 1, {{4, 16, 28, 28}}, {INIT_OFFSET}, 0, .tol = T_CONV},
    {"bn train affine C20", b_bn, 3, {{3, 20, 5, 5}, {1, 20, 1, 1}, {1, 20, 1, 1}}, {0}, 0, .tol = T_CONV},
    {"bn train running only C64 14x14", b_bn, 3, {{4, 64, 14, 14}, {1, 64, 1, 1}, {1, 64, 1, 1}}, {INIT_OFFSET, 0, INIT_POSITIVE}, 0x6, .tol = T_CONV},
    {"bn train affine+running C5", b_bn, 5, {{2, 5, 3, 3}, {1, 5, 1, 1}, {1, 5, 1, 1}, {1, 5, 1, 1}, {1, 5, 1, 1}}, {0, 0, 0, 0, INIT_POSITIVE}, 0x18, .tol = T_CONV},
    {"bn inference affine C32", b_bn, 5, {{2, 32, 7, 7}, {1, 32, 1, 1}, {1, 32, 1, 1}, {1, 32, 1, 1}, {1, 32, 1, 1}}, {0, 0, 0, 0, INIT_POSITIVE}, 0x18, .inference = true, .tol = T_CONV},
    /* batch norm + ReLU fused (sep_conv's BN -> ReLU; C36: the CIFAR network's width) */
    {"bn_relu train no affine C16 28x28 (DARTS search)", b_bn_relu, 1, {{4, 16, 28, 28}}, {0}, 0, .tol = T_CONV},
    {"bn_relu train offset C64 14x14 + running", b_bn_relu, 3, {{4, 64, 14, 14}, {1, 64, 1, 1}, {1, 64, 1, 1}}, {INIT_OFFSET, 0, INIT_POSITIVE}, 0x6, .tol = T_CONV},
    {"bn_relu train affine+running C36 8x8", b_bn_relu, 5, {{3, 36, 8, 8}, {1, 36, 1, 1}, {1, 36, 1, 1}, {1, 36, 1, 1}, {1, 36, 1, 1}}, {0, 0, 0, 0, INIT_POSITIVE}, 0x18, .tol = T_CONV},
    {"bn_relu train affine C20 odd", b_bn_relu, 3, {{3, 20, 5, 3}, {1, 20, 1, 1}, {1, 20, 1, 1}}, {0}, 0, .tol = T_CONV},
    {"sep_conv middle: 1x1, bn_relu, dw 3x3 C36 16x16", b_sep_mid, 5, {{2, 36, 16, 16}, {36, 36, 1, 1}, {1, 36, 1, 1}, {1, 36, 1, 1}, {36, 1, 3, 3}}, {0}, 0, CONV(1, 1, 1, 36), .tol = T_CONV},
    /* element-wise */
    {"relu", b_relu, 1, {{2, 16, 28, 28}}, {0}, 0, .tol = T_EXACT},
    {"sigmoid", b_sigmoid, 1, {{2, 3, 4, 5}}, {0}, 0, .tol = T_EXACT},
    {"tanh", b_tanh, 1, {{2, 3, 40, 5}}, {0}, 0, .tol = T_EXACT},
    {"add same shape", b_add, 2, {{2, 16, 28, 28}, {2, 16, 28, 28}}, {0}, 0, .tol = T_EXACT},
    {"add broadcast channel", b_add, 2, {{2, 24, 7, 7}, {1, 24, 1, 1}}, {0}, 0, .tol = T_EXACT},
    {"add broadcast row (1,C,1,W)", b_add, 2, {{2, 5, 3, 4}, {1, 5, 1, 4}}, {0}, 0, .tol = T_EXACT},
    {"mul broadcast scalar (DARTS alpha)", b_mul, 2, {{4, 16, 14, 14}, {1, 1, 1, 1}}, {0}, 0, .tol = T_EXACT},
    {"mul broadcast per-sample", b_mul, 2, {{3, 2, 3, 3}, {3, 1, 1, 1}}, {0}, 0, .tol = T_EXACT},
    {"mul broadcast (N,C,1,1)", b_mul, 2, {{2, 4, 3, 3}, {2, 4, 1, 1}}, {0}, 0, .tol = T_EXACT},
    {"mul same shape", b_mul, 2, {{2, 7, 5, 5}, {2, 7, 5, 5}}, {0}, 0, .tol = T_EXACT},
    {"mul self (x*x)", b_square, 1, {{2, 3, 2, 2}}, {0}, 0, .tol = T_EXACT},
    {"scale", b_scale, 1, {{2, 3, 4, 5}}, {0}, 0, .f = -0.7f, .tol = T_EXACT},
    /* moving data */
    {"concat 4 x C16 (DARTS cell output)", b_concat, 4, {{2, 16, 14, 14}, {2, 16, 14, 14}, {2, 16, 14, 14}, {2, 16, 14, 14}}, {0}, 0, .tol = T_EXACT},
    {"concat odd channels", b_concat, 3, {{2, 2, 3, 3}, {2, 3, 3, 3}, {2, 1, 3, 3}}, {0}, 0, .tol = T_EXACT},
    {"concat with a repeated input", b_concat_self, 2, {{2, 3, 4, 4}, {2, 5, 4, 4}}, {0}, 0, .tol = T_EXACT},
    {"slice factorized-reduce C16 28x28", b_slice, 1, {{2, 16, 28, 28}}, {0}, 0, .slice = {0, 16, 1, 1, 2, 2}, .tol = T_EXACT},
    {"slice channels", b_slice, 1, {{2, 8, 3, 3}}, {0}, 0, .slice = {2, 6, 0, 0, 1, 1}, .tol = T_EXACT},
    {"slice odd stride 3", b_slice, 1, {{2, 5, 7, 8}}, {0}, 0, .slice = {1, 4, 2, 0, 3, 2}, .tol = T_EXACT},
    {"reshape", b_reshape, 1, {{2, 3, 2, 2}}, {0}, 0, .tol = T_EXACT},
    /* linear */
    {"linear classifier 256->10", b_linear, 3, {{8, 256, 1, 1}, {10, 256, 1, 1}, {1, 10, 1, 1}}, {0}, 0, .tol = T_EXACT},
    {"linear flatten 4d", b_linear, 2, {{2, 3, 2, 2}, {4, 12, 1, 1}}, {0}, 0, .tol = T_EXACT},
    {"linear wide", b_linear, 3, {{16, 96, 1, 1}, {130, 96, 1, 1}, {1, 130, 1, 1}}, {0}, 0, .tol = T_EXACT},
    /* stochastic: masks must match ref bit for bit */
    {"dropout p=0.3", b_dropout, 1, {{2, 16, 14, 14}}, {0}, 0, .f = 0.3f, .tol = T_EXACT},
    {"drop_path p=0.5", b_drop_path, 1, {{6, 16, 7, 7}}, {0}, 0, .f = 0.5f, .tol = T_EXACT},
    /* softmax family and losses */
    {"softmax (N,K)", b_softmax, 1, {{3, 5, 1, 1}}, {0}, 0, .tol = T_EXACT},
    {"softmax per pixel (alphas x ops)", b_softmax, 1, {{14, 8, 2, 3}}, {0}, 0, .tol = T_EXACT},
    {"log_softmax", b_log_softmax, 1, {{3, 10, 1, 1}}, {0}, 0, .tol = T_EXACT},
    {"cross_entropy", b_ce, 1, {{16, 10, 1, 1}}, {0}, 0, .f = 0.0f, .tol = T_EXACT},
    {"cross_entropy smoothing 0.1", b_ce, 1, {{16, 10, 1, 1}}, {0}, 0, .f = 0.1f, .tol = T_EXACT},
    {"sum", b_sum, 1, {{2, 16, 28, 28}}, {0}, 0, .tol = T_EXACT},
    {"mean", b_mean, 1, {{2, 3, 4, 5}}, {0}, 0, .tol = T_EXACT},
    /* supernet ops */
    {"bn_inplace train C16 28x28", b_bn_inplace, 2, {{2, 16, 28, 28}, {16, 16, 1, 1}}, {0}, 0, .tol = T_CONV},
    {"bn_inplace train + running C20", b_bn_inplace, 4, {{2, 20, 5, 5}, {20, 20, 1, 1}, {1, 20, 1, 1}, {1, 20, 1, 1}}, {0, 0, 0, INIT_POSITIVE}, 0xC, .tol = T_CONV},
    {"bn_inplace inference C32", b_bn_inplace, 4, {{2, 32, 7, 7}, {32, 32, 1, 1}, {1, 32, 1, 1}, {1, 32, 1, 1}}, {0, 0, 0, INIT_POSITIVE}, 0xC, .inference = true, .tol = T_CONV},
    {"relu_inplace after 1x1", b_relu_inplace, 2, {{2, 16, 14, 14}, {16, 16, 1, 1}}, {0}, 0, .tol = T_CONV},
    {"weighted_sum 5 terms (mixed op) C16 28x28", b_wsum, 4, {{2, 3, 1, 1}, {2, 16, 28, 28}, {2, 16, 28, 28}, {2, 16, 28, 28}}, {0}, 0, .tol = T_EXACT},
    {"channel_shuffle G=4 C16", b_shuffle, 1, {{2, 16, 7, 7}}, {0}, 0, .f = 4.0f, .tol = T_EXACT},
    {"channel_shuffle G=3 C12 odd", b_shuffle, 1, {{3, 12, 5, 3}}, {0}, 0, .f = 3.0f, .tol = T_EXACT},
    /* convolution: DARTS / NB201 shapes */
    {"dw 3x3 s1 C16 28x28 (sep_conv_3x3)", b_conv, 2, {{2, 16, 28, 28}, {16, 1, 3, 3}}, {0}, 0, CONV(1, 1, 1, 16), .tol = T_CONV},
    {"dw 5x5 s1 C32 14x14 (sep_conv_5x5)", b_conv, 2, {{2, 32, 14, 14}, {32, 1, 5, 5}}, {0}, 0, CONV(1, 2, 1, 32), .tol = T_CONV},
    {"dw 3x3 d2 C16 28x28 (dil_conv_3x3)", b_conv, 2, {{2, 16, 28, 28}, {16, 1, 3, 3}}, {0}, 0, CONV(1, 2, 2, 16), .tol = T_CONV},
    {"dw 5x5 d2 C64 7x7 (dil_conv_5x5)", b_conv, 2, {{2, 64, 7, 7}, {64, 1, 5, 5}}, {0}, 0, CONV(1, 4, 2, 64), .tol = T_CONV},
    {"dw 3x3 s2 C32 28x28 (reduction sep_conv)", b_conv, 2, {{2, 32, 28, 28}, {32, 1, 3, 3}}, {0}, 0, CONV(2, 1, 1, 32), .tol = T_CONV},
    {"dw 5x5 s2 d2 C16 28x28 (reduction dil_conv_5x5)", b_conv, 2, {{2, 16, 28, 28}, {16, 1, 5, 5}}, {0}, 0, CONV(2, 4, 2, 16), .tol = T_CONV},
    {"dw 3x3 s2 d2 C20 odd 13x11 + bias", b_conv, 3, {{2, 20, 13, 11}, {20, 1, 3, 3}, {1, 20, 1, 1}}, {0}, 0, CONV(2, 2, 2, 20), .tol = T_CONV},
    {"dw 5x5 C3 tiny, pad > k/2", b_conv, 2, {{1, 3, 4, 5}, {3, 1, 5, 5}}, {0}, 0, CONV(1, 3, 1, 3), .tol = T_CONV},
    {"1x1 C16->16 28x28 (preprocess)", b_conv, 2, {{2, 16, 28, 28}, {16, 16, 1, 1}}, {0}, 0, CONV(1, 0, 1, 1), .tol = T_CONV},
    {"1x1 C64->32 7x7 + bias", b_conv, 3, {{4, 64, 7, 7}, {32, 64, 1, 1}, {1, 32, 1, 1}}, {0}, 0, CONV(1, 0, 1, 1), .tol = T_CONV},
    {"1x1 s2 C16->32 (NB201 residual)", b_conv, 2, {{2, 16, 14, 14}, {32, 16, 1, 1}}, {0}, 0, CONV(2, 0, 1, 1), .tol = T_CONV},
    {"1x1 s2 C64->16 27x27 (factorized reduce, odd)", b_conv, 2, {{2, 64, 27, 27}, {16, 64, 1, 1}}, {0}, 0, CONV(2, 0, 1, 1), .tol = T_CONV},
    {"1x1 s3 C20->12 10x11 + bias", b_conv, 3, {{3, 20, 10, 11}, {12, 20, 1, 1}, {1, 12, 1, 1}}, {0}, 0, CONV(3, 0, 1, 1), .tol = T_CONV},
    {"3x3 dense C16->16 28x28 (NB201 nor_conv_3x3)", b_conv, 2, {{2, 16, 28, 28}, {16, 16, 3, 3}}, {0}, 0, CONV(1, 1, 1, 1), .tol = T_CONV},
    {"3x3 dense C1->48 28x28 + bias (stem)", b_conv, 3, {{2, 1, 28, 28}, {48, 1, 3, 3}, {1, 48, 1, 1}}, {0}, 0, CONV(1, 1, 1, 1), .tol = T_CONV},
    {"3x3 dense s2 C32->64 14x14", b_conv, 2, {{2, 32, 14, 14}, {64, 32, 3, 3}}, {0}, 0, CONV(2, 1, 1, 1), .tol = T_CONV},
    {"3x3 groups 4 C16->32", b_conv, 3, {{2, 16, 9, 9}, {32, 4, 3, 3}, {1, 32, 1, 1}}, {0}, 0, CONV(1, 1, 1, 4), .tol = T_CONV},
    {"1x1 groups 2 C8->6", b_conv, 2, {{2, 8, 5, 5}, {6, 4, 1, 1}}, {0}, 0, CONV(1, 0, 1, 2), .tol = T_CONV},
    {"dw multiplier 2 (K = 2C)", b_conv, 2, {{2, 8, 6, 6}, {16, 1, 3, 3}}, {0}, 0, CONV(1, 1, 1, 8), .tol = T_CONV},
    {"sep_conv chain relu-dw-1x1-bn C32 14x14", b_sepconv, 3, {{2, 32, 14, 14}, {32, 1, 3, 3}, {32, 32, 1, 1}}, {0}, 0, CONV(1, 1, 1, 32), .tol = T_CONV},
};

static op_coverage coverage; /* which ops the cases build (op_cases.h) */

/* What one run produces: the output, and per input its gradient and its data after the step. */
typedef struct result {
    int n_in;
    size_t n_out, n[MAX_IN];
    float *out, *grad[MAX_IN], *data[MAX_IN];
} result;

static void result_free(result *r) {
    free(r->out);
    for (int i = 0; i < r->n_in; i++) {
        free(r->grad[i]);
        free(r->data[i]);
    }
    memset(r, 0, sizeof *r);
}

/* Runs case c on be with inputs vals and upstream weights R (R is made on the first call). */
static bool run(nasc_backend *be, const op_case *c, float **vals, float **R, result *res) {
    nasc_err err = {0};
    nasc_graph *g = nasc_graph_new(be, 1 << 20, &err);
    nasc_graph_set_training(g, !c->inference);
    nasc_graph_set_rng(g, 1234, 7);
    nasc_tensor *in[MAX_IN];
    memset(res, 0, sizeof *res);
    res->n_in = c->n_in;
    nasc_tensor *out = op_case_build(g, c, vals, in, true);
    if (!out) {
        fprintf(stderr, "[%s] %s: build failed: %s\n", nasc_backend_name(be), c->name,
                nasc_graph_errmsg(g));
        nasc_graph_free(g);
        return false;
    }
    op_coverage_mark(&coverage, out);
    res->n_out = (size_t)nasc_tensor_nelem(out);
    if (!*R) {
        nasc_rng r;
        nasc_rng_init(&r, 555, 3);
        *R = malloc(res->n_out * sizeof(float));
        fill(*R, res->n_out, INIT_UNIFORM, &r);
    }
    nasc_status st = nasc_backward(g, op_case_loss(g, out, *R));
    if (st != NASC_OK) {
        fprintf(stderr, "[%s] %s: backward: %s\n", nasc_backend_name(be), c->name,
                nasc_graph_errmsg(g));
        nasc_graph_free(g);
        return false;
    }
    res->out = malloc(res->n_out * sizeof(float));
    memcpy(res->out, out->data, res->n_out * sizeof(float));
    for (int i = 0; i < c->n_in; i++) {
        res->n[i] = numel(c->shape[i]);
        res->grad[i] = calloc(res->n[i], sizeof(float));
        res->data[i] = malloc(res->n[i] * sizeof(float));
        if (in[i]->grad)
            memcpy(res->grad[i], in[i]->grad, res->n[i] * sizeof(float));
        memcpy(res->data[i], in[i]->data, res->n[i] * sizeof(float));
    }
    nasc_graph_free(g);
    return true;
}

static double nmse(const float *a, const float *b, size_t n) {
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    if (num != num)
        return INFINITY;
    return den > 0.0 ? num / den : num;
}

static int n_compared;
static double worst_ratio; /* max nmse / tolerance seen: the margin of the thresholds */
static char worst_label[256];

static void note(const char *label, const char *what, double e, double tol) {
    if (e / tol > worst_ratio) {
        worst_ratio = e / tol;
        snprintf(worst_label, sizeof worst_label, "%s: %s nmse %.3g (tolerance %.1g)", label, what,
                 e, tol);
    }
}

static void compare(const char *label, const result *got, const result *want, double tol) {
    double e = nmse(got->out, want->out, want->n_out);
    CHECK_MSG(e <= tol, "%s: output nmse %.3g > %.1g", label, e, tol);
    note(label, "output", e, tol);
    for (int i = 0; i < want->n_in; i++) {
        e = nmse(got->grad[i], want->grad[i], want->n[i]);
        CHECK_MSG(e <= tol, "%s: d/d input %d nmse %.3g > %.1g", label, i, e, tol);
        note(label, "gradient", e, tol);
        e = nmse(got->data[i], want->data[i], want->n[i]);
        CHECK_MSG(e <= tol, "%s: input %d after step nmse %.3g > %.1g", label, i, e, tol);
        note(label, "input after step", e, tol);
    }
    n_compared++;
}

static void same_bits(const char *label, const result *a, const result *b) {
    bool same = !memcmp(a->out, b->out, a->n_out * sizeof(float));
    for (int i = 0; i < a->n_in; i++)
        same = same && !memcmp(a->grad[i], b->grad[i], a->n[i] * sizeof(float)) &&
               !memcmp(a->data[i], b->data[i], a->n[i] * sizeof(float));
    CHECK_MSG(same, "%s: two runs with the same thread count differ", label);
}

/* Variants to run a case on: AUTO (the shipped choice), PORTABLE (AUTO with the AVX-512 kernels
 * switched off: the C fallbacks CI's machines may use), and for convolutions every forced path. */
enum { V_AUTO, V_PORTABLE, V_DW, V_1X1, V_GEMM, V_DNNL, V_COUNT };
static const char *const v_name[] = {"auto", "portable", "dw", "1x1", "gemm", "dnnl"};

static bool variant_applies(int v, const op_case *c, const nasc_backend *be) {
    if (v == V_AUTO)
        return true;
    if (v == V_PORTABLE)
        return nasc_cpu_ctx_of(be)->avx512;
    if (c->build != b_conv && c->build != b_sepconv)
        return false;
    const int C = c->shape[0][1], K = c->shape[1][0], G = c->conv.groups;
    const bool dw = G == C && G == K;
    const bool one = c->shape[1][2] == 1 && c->shape[1][3] == 1 && c->conv.stride[0] == 1 &&
                     c->conv.stride[1] == 1 && c->conv.pad[0] == 0 && c->conv.pad[1] == 0 &&
                     G == 1;
    switch (v) {
    case V_DW: return dw;
    case V_1X1: return one;
    case V_GEMM: return true;
    case V_DNNL: return nasc_cpu_ctx_of(be)->dnnl != NULL;
    default: return false;
    }
}

static void set_variant(nasc_backend *be, int v, bool has_avx512) {
    static const enum nasc_cpu_conv_path path[] = {
        NASC_CPU_CONV_AUTO, NASC_CPU_CONV_AUTO, NASC_CPU_CONV_DW, NASC_CPU_CONV_1X1,
        NASC_CPU_CONV_GEMM, NASC_CPU_CONV_DNNL};
    CHECK(nasc_cpu_force_conv(be, path[v]));
    nasc_cpu_set_avx512(be, v == V_PORTABLE ? false : has_avx512);
}

static void run_case(nasc_backend *const *cpu, int n_cpu, const op_case *c, uint64_t seed) {
    nasc_rng r;
    nasc_rng_init(&r, seed, 99);
    float *vals[MAX_IN];
    for (int i = 0; i < c->n_in; i++) {
        const size_t n = numel(c->shape[i]);
        vals[i] = malloc(n * sizeof(float));
        fill(vals[i], n, c->init[i], &r);
    }
    float *R = NULL;
    result want;
    if (!run(nasc_backend_ref(), c, vals, &R, &want)) {
        test_failures++;
        goto out;
    }
    for (int b = 0; b < n_cpu; b++) {
        nasc_backend *be = cpu[b];
        const bool has_avx512 = nasc_cpu_ctx_of(be)->avx512;
        for (int v = 0; v < V_COUNT; v++) {
            if (!variant_applies(v, c, be))
                continue;
            /* the extra paths once per case, on 2 threads; AUTO on every thread count */
            if (v != V_AUTO && be->n_threads != 2)
                continue;
            set_variant(be, v, has_avx512);
            char label[192];
            snprintf(label, sizeof label, "[cpu t%d %s] %s", be->n_threads, v_name[v], c->name);
            result got, again;
            if (!run(be, c, vals, &R, &got)) {
                test_failures++;
            } else {
                compare(label, &got, &want, c->tol);
                if (run(be, c, vals, &R, &again)) {
                    same_bits(label, &got, &again);
                    result_free(&again);
                }
                result_free(&got);
            }
            set_variant(be, V_AUTO, has_avx512);
        }
    }
    result_free(&want);
out:
    free(R);
    for (int i = 0; i < c->n_in; i++)
        free(vals[i]);
}

/* Random conv configurations: kernel 1..5, stride 1..2, dilation 1..2, padding 0..k, groups
 * 1 / 2 / depthwise, odd sizes, C across the 16-lane boundary. */
static void random_conv_cases(nasc_backend *const *cpu, int n_cpu, int count) {
    nasc_rng r;
    nasc_rng_init(&r, 4242, 11);
    for (int t = 0; t < count; t++) {
        op_case c = {.build = b_conv, .n_in = 2 + (int)nasc_rng_below(&r, 2), .tol = T_CONV};
        const int kind = (int)nasc_rng_below(&r, 3); /* 0 dense, 1 groups 2, 2 depthwise */
        int C = 1 + (int)nasc_rng_below(&r, 40), K;
        int G = 1;
        if (kind == 1) {
            C = 2 * (1 + (int)nasc_rng_below(&r, 8));
            G = 2;
            K = 2 * (1 + (int)nasc_rng_below(&r, 8));
        } else if (kind == 2) {
            G = C;
            K = C;
        } else {
            K = 1 + (int)nasc_rng_below(&r, 24);
        }
        const int KH = 1 + (int)nasc_rng_below(&r, 5), KW = 1 + (int)nasc_rng_below(&r, 5);
        conv_draw_geometry(&r, &c.conv, KH, KW);
        c.conv.groups = G;
        const int H = 3 + (int)nasc_rng_below(&r, 12), W = 3 + (int)nasc_rng_below(&r, 12);
        const int N = 1 + (int)nasc_rng_below(&r, 3);
        int sh[3][4] = {{N, C, H, W}, {K, C / G, KH, KW}, {1, K, 1, 1}};
        memcpy(c.shape, sh, sizeof sh);
        if (!conv_fits(&c.conv, H, W, KH, KW))
            continue;
        snprintf(c.name, sizeof c.name, "random conv %d: N%d C%d %dx%d K%d G%d k%dx%d s%d,%d p%d,%d d%d,%d%s",
                 t, N, C, H, W, K, G, KH, KW, c.conv.stride[0], c.conv.stride[1], c.conv.pad[0],
                 c.conv.pad[1], c.conv.dil[0], c.conv.dil[1], c.n_in > 2 ? " +bias" : "");
        run_case(cpu, n_cpu, &c, 7000 + (uint64_t)t);
    }
}

int main(int argc, char **argv) {
    /* CI runs ctest -j2 on 2 cores beside other tests: with OpenMP's default spin-then-sleep
     * barriers, thousands of small parallel regions then cost whole scheduler time slices
     * (measured 0.5 s with passive waiting against 2-20 s with the default under load). The wait
     * policy is read when libgomp loads, so the test re-executes itself with it set. Results do
     * not depend on it. */
    if (argc >= 1 && !getenv("OMP_WAIT_POLICY")) {
        setenv("OMP_WAIT_POLICY", "passive", 1);
        execv("/proc/self/exe", argv);
        /* if exec fails, go on with the default policy */
    }
    nasc_err err = {0};
    nasc_backend *cpu[3];
    for (int t = 0; t < 3; t++) {
        cpu[t] = nasc_backend_new("cpu", t + 1, &err);
        if (!cpu[t]) {
            fprintf(stderr, "cpu backend: %s\n", err.msg);
            return 1;
        }
    }
    printf("parity: cpu backend, AVX-512 kernels %s, oneDNN %s\n",
           nasc_cpu_ctx_of(cpu[0])->avx512 ? "on" : "off (not supported here)",
           nasc_cpu_ctx_of(cpu[0])->dnnl ? "on" : "off");
    for (size_t i = 0; i < sizeof fixed_cases / sizeof fixed_cases[0]; i++)
        run_case(cpu, 3, &fixed_cases[i], 17 + i);
    random_conv_cases(cpu, 3, 40);
    printf("parity: %d comparisons; closest to its threshold: %s\n", n_compared, worst_label);
    for (int t = 0; t < 3; t++)
        nasc_backend_free(cpu[t]);
    op_coverage_check(&coverage, "parity_ops");
    return test_done("parity_ops");
}
