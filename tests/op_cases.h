/* op_cases.h — what the op tests share (grad/test_grad_ops.c, parity/test_parity_ops.c): the case
 * record, the graph builders that are the same in both, input initialisation and the
 * loss = sum(out * R) every case differentiates, and the check that every op has a case. Each
 * test keeps its own case table, tolerances, and the builders only it has.
 *
 * A case names a builder, its inputs' shapes and how to fill them; the builder turns inputs into
 * one output tensor. Everything lives in the graph's step arena; the caller owns the float
 * buffers behind the inputs. */
#ifndef NASC_TEST_OP_CASES_H
#define NASC_TEST_OP_CASES_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "nasc/ops.h"
#include "nasc/rng.h"
#include "test.h"

#define MAX_IN 5

/* How fill() draws an input. The draws per kind are fixed: a case's inputs depend only on its
 * seed and its kinds. */
enum init_kind {
    INIT_UNIFORM = 0,    /* uniform in [-1, 1) */
    INIT_AWAY_FROM_ZERO, /* |x| in [0.05, 1), random sign: no ReLU kink within 2h = 0.02 */
    INIT_DISTINCT,       /* a permutation of values spaced 0.05 apart: no max-pool ties */
    INIT_POSITIVE,       /* in [0.5, 1.5): running variances */
    INIT_OFFSET,         /* 30 + [-1, 1): a mean far from 0, for shifted batch-norm statistics */
};

typedef struct op_case op_case;
typedef nasc_tensor *(*op_build_fn)(nasc_graph *g, nasc_tensor **in, const op_case *c);

struct op_case {
    char name[128];
    op_build_fn build;
    int n_in;
    int shape[MAX_IN][4]; /* (N,C,H,W) of each input */
    int init[MAX_IN];     /* enum init_kind of each input */
    unsigned no_grad;     /* bit i: input i gets no gradient (running statistics) */
    nasc_conv2d_params conv;
    nasc_pool2d_params pool;
    nasc_slice_params slice;
    float f;              /* scale factor, dropout / drop-path p, label smoothing, shuffle groups */
    bool inference;       /* graph in inference mode */
    double h, rtol, atol; /* grad: finite-difference step, |ana - num| <= atol + rtol*|num| */
    double tol;           /* parity: normalised MSE threshold against ref */
};

/* Labels for cross entropy with up to 16 rows and K >= 10 classes; the first 7 are below 5, so
 * cases with N <= 7 may use K = 5. */
static const int32_t ce_labels[] = {3, 0, 4, 1, 2, 4, 0, 9, 7, 5, 8, 6, 1, 2, 3, 0};
static const nasc_bn_params bnp = {.eps = 1e-5f, .momentum = 0.1f};

static inline nasc_tensor *b_conv(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    return nasc_conv2d(g, in[0], in[1], c->n_in > 2 ? in[2] : NULL, &c->conv);
}
static inline nasc_tensor *b_maxpool(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    return nasc_maxpool2d(g, in[0], &c->pool);
}
static inline nasc_tensor *b_avgpool(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    return nasc_avgpool2d(g, in[0], &c->pool);
}
static inline nasc_tensor *b_gap(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    (void)c;
    return nasc_global_avgpool(g, in[0]);
}
/* inputs: x [, gamma, beta] [, running_mean, running_var] by n_in: 1, 3 (affine), 5 (both),
 * or 3 with no_grad bits set (running stats only) */
static inline nasc_tensor *b_bn(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    if (c->n_in == 1)
        return nasc_batchnorm(g, in[0], NULL, NULL, NULL, NULL, &bnp);
    if (c->n_in == 3 && c->no_grad)
        return nasc_batchnorm(g, in[0], NULL, NULL, in[1], in[2], &bnp);
    if (c->n_in == 3)
        return nasc_batchnorm(g, in[0], in[1], in[2], NULL, NULL, &bnp);
    return nasc_batchnorm(g, in[0], in[1], in[2], in[3], in[4], &bnp);
}
static inline nasc_tensor *b_relu(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    (void)c;
    return nasc_relu(g, in[0]);
}
static inline nasc_tensor *b_sigmoid(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    (void)c;
    return nasc_sigmoid(g, in[0]);
}
static inline nasc_tensor *b_tanh(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    (void)c;
    return nasc_tanh(g, in[0]);
}
static inline nasc_tensor *b_add(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    (void)c;
    return nasc_add(g, in[0], in[1]);
}
static inline nasc_tensor *b_mul(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    (void)c;
    return nasc_mul(g, in[0], in[1]);
}
static inline nasc_tensor *b_square(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    (void)c;
    return nasc_mul(g, in[0], in[0]);
}
static inline nasc_tensor *b_scale(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    return nasc_scale(g, in[0], c->f);
}
static inline nasc_tensor *b_concat(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    return nasc_concat(g, c->n_in, in);
}
static inline nasc_tensor *b_slice(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    return nasc_slice(g, in[0], &c->slice);
}
static inline nasc_tensor *b_reshape(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    (void)c;
    nasc_tensor *x = in[0];
    nasc_tensor *r = nasc_reshape(g, x, x->ne[0], x->ne[1] * x->ne[2] * x->ne[3], 1, 1);
    return nasc_relu(g, r); /* a consumer after the view, so its grad flows through */
}
static inline nasc_tensor *b_linear(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    return nasc_linear(g, in[0], in[1], c->n_in > 2 ? in[2] : NULL);
}
static inline nasc_tensor *b_dropout(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    return nasc_dropout(g, in[0], c->f);
}
static inline nasc_tensor *b_drop_path(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    return nasc_drop_path(g, in[0], c->f);
}
static inline nasc_tensor *b_softmax(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    (void)c;
    return nasc_softmax(g, in[0]);
}
static inline nasc_tensor *b_log_softmax(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    (void)c;
    return nasc_log_softmax(g, in[0]);
}
static inline nasc_tensor *b_ce(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    return nasc_cross_entropy(g, in[0], ce_labels, c->f);
}
static inline nasc_tensor *b_sum(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    (void)c;
    return nasc_sum(g, in[0]);
}
static inline nasc_tensor *b_mean(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    (void)c;
    return nasc_mean(g, in[0]);
}
static inline nasc_tensor *b_shuffle(nasc_graph *g, nasc_tensor **in, const op_case *c) {
    return nasc_channel_shuffle(g, in[0], (int)c->f);
}

static inline size_t numel(const int *s) {
    return (size_t)s[0] * s[1] * s[2] * s[3];
}

/* Fills x[n] as kind says, drawing from r. */
static inline void fill(float *x, size_t n, int kind, nasc_rng *r) {
    switch (kind) {
    case INIT_AWAY_FROM_ZERO:
        for (size_t i = 0; i < n; i++) {
            float v = 0.05f + 0.95f * nasc_rng_uniform(r);
            x[i] = nasc_rng_uniform(r) < 0.5f ? -v : v;
        }
        break;
    case INIT_DISTINCT: {
        uint32_t *perm = malloc(n * sizeof *perm);
        for (size_t i = 0; i < n; i++)
            perm[i] = (uint32_t)i;
        nasc_rng_shuffle_u32(r, perm, n);
        for (size_t i = 0; i < n; i++)
            x[i] = 0.05f * ((float)perm[i] - (float)n / 2.0f);
        free(perm);
        break;
    }
    case INIT_POSITIVE:
        for (size_t i = 0; i < n; i++)
            x[i] = 0.5f + nasc_rng_uniform(r);
        break;
    case INIT_OFFSET:
        for (size_t i = 0; i < n; i++)
            x[i] = 30.0f + 2.0f * nasc_rng_uniform(r) - 1.0f;
        break;
    default:
        for (size_t i = 0; i < n; i++)
            x[i] = 2.0f * nasc_rng_uniform(r) - 1.0f;
    }
}

/* Makes c's inputs in g over the buffers vals[i] (not copied) into in[], marks those without a
 * no_grad bit as requiring a gradient when with_grad, and returns c's output (NULL with the
 * error on g if the build fails). */
static inline nasc_tensor *op_case_build(nasc_graph *g, const op_case *c, float **vals,
                                         nasc_tensor **in, bool with_grad) {
    for (int i = 0; i < c->n_in; i++) {
        in[i] =
            nasc_input(g, c->shape[i][0], c->shape[i][1], c->shape[i][2], c->shape[i][3], vals[i]);
        if (with_grad && !(c->no_grad & (1u << i)))
            nasc_tensor_set_requires_grad(in[i], true);
    }
    return c->build(g, in, c);
}

/* loss = sum(out * R), R a buffer of out's shape (not copied): every element of out gets its own
 * upstream gradient R[i], so a backward that mixes up indices shows. */
static inline nasc_tensor *op_case_loss(nasc_graph *g, nasc_tensor *out, float *R) {
    nasc_tensor *Rt = nasc_input(g, out->ne[0], out->ne[1], out->ne[2], out->ne[3], R);
    return nasc_sum(g, nasc_mul(g, out, Rt));
}

/* Draws stride and dilation (1..2) and padding (0..KH, 0..KW) of a random convolution, in this
 * order: each test's random cases depend on it. */
static inline void conv_draw_geometry(nasc_rng *r, nasc_conv2d_params *p, int KH, int KW) {
    p->stride[0] = 1 + (int)nasc_rng_below(r, 2);
    p->stride[1] = 1 + (int)nasc_rng_below(r, 2);
    p->dil[0] = 1 + (int)nasc_rng_below(r, 2);
    p->dil[1] = 1 + (int)nasc_rng_below(r, 2);
    p->pad[0] = (int)nasc_rng_below(r, (uint32_t)KH + 1);
    p->pad[1] = (int)nasc_rng_below(r, (uint32_t)KW + 1);
}

/* Whether the dilated KHxKW kernel fits in the padded HxW input (an output of at least 1x1). */
static inline bool conv_fits(const nasc_conv2d_params *p, int H, int W, int KH, int KW) {
    return H + 2 * p->pad[0] >= p->dil[0] * (KH - 1) + 1 &&
           W + 2 * p->pad[1] >= p->dil[1] * (KW - 1) + 1;
}

/* ---- ggml's rule: every op has a case ----
 * Each op test marks the ops its cases actually build (walking from a case's output back to its
 * inputs, so the loss's own mul and sum do not count) and, at the end, fails once for every
 * NASC_OP_* (up to NASC_OP_COUNT) that no case built: an op added to the enum without a gradient
 * case and a parity case fails both tests. NASC_OP_NONE marks leaves and is not an op. */
typedef struct op_coverage {
    int n_built[NASC_OP_COUNT]; /* case graphs built that hold the op */
} op_coverage;

/* Marks every op on the paths from t back to the leaves (a node reached twice counts once per
 * path: only zero / non-zero matters). */
static inline void op_coverage_mark(op_coverage *cov, const nasc_tensor *t) {
    if (!t || t->op == NASC_OP_NONE)
        return;
    if ((unsigned)t->op < (unsigned)NASC_OP_COUNT)
        cov->n_built[t->op]++;
    for (int i = 0; i < t->n_src; i++)
        op_coverage_mark(cov, t->src[i]);
}

/* Counts a failed check (test.h) for every op with no case, naming it; returns how many. */
static inline int op_coverage_check(const op_coverage *cov, const char *test) {
    int missing = 0;
    for (int op = NASC_OP_NONE + 1; op < NASC_OP_COUNT; op++) {
        CHECK_MSG(cov->n_built[op] > 0,
                  "%s: op %s (enum nasc_op %d) has no case: add one to the case table", test,
                  nasc_op_name((enum nasc_op)op), op);
        missing += cov->n_built[op] == 0;
    }
    printf("%s: cases cover %d of %d ops\n", test, NASC_OP_COUNT - 1 - missing, NASC_OP_COUNT - 1);
    return missing;
}

#endif /* NASC_TEST_OP_CASES_H */
