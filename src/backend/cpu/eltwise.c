/* cpu/eltwise.c — relu, sigmoid, tanh, scale, add / mul with broadcast, dropout, drop-path.
 *
 * All are memory-bound streams over the NHWC storage: the element range is split into nth
 * contiguous pieces (nasc_cpu_range), each a plain loop the compiler vectorises (NASC_CPU_CLONES
 * adds an AVX-512 clone to generic builds). Semantics are ref's (ref/eltwise.c, ref/drop.c):
 * relu' from the output (y > 0), sigmoid' = y(1-y), tanh' = 1-y^2; masks from nasc_drop_uniform,
 * so cpu and ref drop exactly the same elements.
 *
 * Broadcast (b's dim is a's or 1): at each pixel (n,h,w) b contributes a row of C values with
 * stride 0 (b's C is 1) or 1. The gradient of a broadcast b is a reduction: each ith sums its pixel
 * range into a private double buffer the size of b, and the buffers are added in ith order. */
#include "cpu_int.h"

#include "../ref/ref_int.h"

#include <math.h>
#include <string.h>

#define ELT_GRAIN 16384 /* elements per thread below which extra threads do not pay */

enum elt_kind {
    ELT_RELU_F, ELT_RELU_B, ELT_SIGMOID_F, ELT_SIGMOID_B, ELT_TANH_F, ELT_TANH_B, ELT_SCALE_F,
    ELT_SCALE_B, ELT_ADD_F, ELT_MUL_F, ELT_ADD_B, ELT_MUL_B, ELT_DROP_F, ELT_DROP_B
};

typedef struct elt_args {
    enum elt_kind kind;
    size_t n;
    const float *x;     /* input (fwd) or output y (bwd of relu/sigmoid/tanh) */
    const float *b;     /* second operand (same shape) */
    const float *dy;    /* upstream gradient (bwd) */
    float *y;           /* output (fwd) or dx (bwd) */
    float *db;          /* second operand's gradient (same shape) */
    float s;            /* scale */
    const nasc_drop_params *drop;
    bool store, store_b; /* bwd: y (db) is fresh: store instead of adding */
} elt_args;

NASC_CPU_CLONES
static void elt_task(void *arg, int ith, int nth) {
    const elt_args *a = arg;
    size_t i0, i1;
    nasc_cpu_range(a->n, ith, nth, &i0, &i1);
    const float *restrict x = a->x, *restrict b = a->b, *restrict dy = a->dy;
    float *restrict y = a->y;
    const float s = a->s;
    switch (a->kind) {
    case ELT_RELU_F:
        for (size_t i = i0; i < i1; i++)
            y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case ELT_RELU_B:
        if (a->store)
            for (size_t i = i0; i < i1; i++)
                y[i] = x[i] > 0.0f ? dy[i] : 0.0f;
        else
            for (size_t i = i0; i < i1; i++)
                y[i] += x[i] > 0.0f ? dy[i] : 0.0f;
        break;
    case ELT_SIGMOID_F:
        for (size_t i = i0; i < i1; i++)
            y[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    case ELT_SIGMOID_B:
        for (size_t i = i0; i < i1; i++)
            y[i] += dy[i] * x[i] * (1.0f - x[i]);
        break;
    case ELT_TANH_F:
        for (size_t i = i0; i < i1; i++)
            y[i] = tanhf(x[i]);
        break;
    case ELT_TANH_B:
        for (size_t i = i0; i < i1; i++)
            y[i] += dy[i] * (1.0f - x[i] * x[i]);
        break;
    case ELT_SCALE_F:
        for (size_t i = i0; i < i1; i++)
            y[i] = s * x[i];
        break;
    case ELT_SCALE_B:
        if (a->store)
            for (size_t i = i0; i < i1; i++)
                y[i] = s * dy[i];
        else
            for (size_t i = i0; i < i1; i++)
                y[i] += s * dy[i];
        break;
    case ELT_ADD_F:
        for (size_t i = i0; i < i1; i++)
            y[i] = x[i] + b[i];
        break;
    case ELT_MUL_F:
        for (size_t i = i0; i < i1; i++)
            y[i] = x[i] * b[i];
        break;
    case ELT_ADD_B: /* y = da (may be NULL), db (may be NULL; may alias da: then store_b is
                     * false, so the second pass adds) */
        if (y && a->store)
            for (size_t i = i0; i < i1; i++)
                y[i] = dy[i];
        else if (y)
            for (size_t i = i0; i < i1; i++)
                y[i] += dy[i];
        if (a->db) {
            float *db = a->db;
            if (a->store_b)
                for (size_t i = i0; i < i1; i++)
                    db[i] = dy[i];
            else
                for (size_t i = i0; i < i1; i++)
                    db[i] += dy[i];
        }
        break;
    case ELT_MUL_B: { /* x = a, b = b; y = da, db; a and b (and da, db) may alias: x*x */
        float *da = a->y, *db = a->db;
        if (da && db && da == db) {
            for (size_t i = i0; i < i1; i++)
                da[i] = (da[i] + dy[i] * b[i]) + dy[i] * x[i]; /* ref's order */
        } else {
            if (da)
                for (size_t i = i0; i < i1; i++)
                    da[i] += dy[i] * b[i];
            if (db)
                for (size_t i = i0; i < i1; i++)
                    db[i] += dy[i] * x[i];
        }
        break;
    }
    case ELT_DROP_F: {
        const float p = a->drop->p, sc = 1.0f / (1.0f - p);
        for (size_t i = i0; i < i1; i++)
            y[i] = nasc_drop_uniform(a->drop, i) >= p ? x[i] * sc : 0.0f;
        break;
    }
    case ELT_DROP_B: {
        const float p = a->drop->p, sc = 1.0f / (1.0f - p);
        for (size_t i = i0; i < i1; i++)
            if (nasc_drop_uniform(a->drop, i) >= p)
                y[i] += dy[i] * sc;
        break;
    }
    }
}

static void elt_run(nasc_backend *be, elt_args *a, size_t grain) {
    nasc_cpu_run(nasc_cpu_nth(be, a->n, grain), elt_task, a);
}

/* relu, sigmoid, tanh, scale and dropout: one stream over x (src[0]) into the output, and back
 * into x's gradient if it has one. The kernels of scale and dropout read their parameters (the
 * others ignore .s and .drop); the backward kernels of relu, sigmoid and tanh read the output.
 * `fresh`: the backward kernel can store into a fresh gradient (relu, scale), so only those take
 * x's NASC_TENSOR_GRAD_FRESH flag. */
static nasc_status unary_fwd(nasc_backend *be, nasc_tensor *node, enum elt_kind kind,
                             size_t grain) {
    elt_args a = {.kind = kind, .n = nasc_n(node), .x = node->src[0]->data, .y = node->data,
                  .s = node->params.scalar, .drop = &node->params.drop};
    elt_run(be, &a, grain);
    return NASC_OK;
}

static nasc_status unary_bwd(nasc_backend *be, nasc_tensor *node, enum elt_kind kind,
                             size_t grain, bool fresh) {
    nasc_tensor *x = node->src[0];
    if (!x->grad)
        return NASC_OK;
    elt_args a = {.kind = kind, .n = nasc_n(node), .x = node->data, .dy = node->grad,
                  .y = x->grad, .s = node->params.scalar, .drop = &node->params.drop,
                  .store = fresh && nasc_cpu_take_fresh(x)};
    elt_run(be, &a, grain);
    return NASC_OK;
}

nasc_status nasc_cpu_relu_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    return unary_fwd(be, node, ELT_RELU_F, ELT_GRAIN);
}

nasc_status nasc_cpu_relu_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    return unary_bwd(be, node, ELT_RELU_B, ELT_GRAIN, true);
}

nasc_status nasc_cpu_sigmoid_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    return unary_fwd(be, node, ELT_SIGMOID_F, ELT_GRAIN / 8);
}

nasc_status nasc_cpu_sigmoid_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    return unary_bwd(be, node, ELT_SIGMOID_B, ELT_GRAIN, false);
}

nasc_status nasc_cpu_tanh_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    return unary_fwd(be, node, ELT_TANH_F, ELT_GRAIN / 8);
}

nasc_status nasc_cpu_tanh_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    return unary_bwd(be, node, ELT_TANH_B, ELT_GRAIN, false);
}

nasc_status nasc_cpu_scale_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    return unary_fwd(be, node, ELT_SCALE_F, ELT_GRAIN);
}

nasc_status nasc_cpu_scale_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    return unary_bwd(be, node, ELT_SCALE_B, ELT_GRAIN, true);
}

/* ---- add / mul with b broadcast ---- */

/* Offset in b of pixel (n, h, w) of a (channel 0). */
static inline size_t bc_pixel(const nasc_tensor *b, int n, int h, int w) {
    return (size_t)nasc_tensor_offset(b, b->ne[0] == 1 ? 0 : n, 0, b->ne[2] == 1 ? 0 : h,
                                      b->ne[3] == 1 ? 0 : w);
}

typedef struct bc_args {
    bool mul;
    const nasc_tensor *node, *a, *b;
    double *priv;  /* bwd: nth private db buffers of nasc_n(b) doubles */
} bc_args;

/* Forward: pixels [p0, p1) of a (pixel = (n,h,w), C contiguous values each). */
NASC_CPU_CLONES
static void bc_fwd_task(void *arg, int ith, int nth) {
    const bc_args *ar = arg;
    const nasc_tensor *a = ar->a, *b = ar->b, *node = ar->node;
    const int C = a->ne[1], H = a->ne[2], W = a->ne[3];
    size_t p0, p1;
    nasc_cpu_range((size_t)a->ne[0] * H * W, ith, nth, &p0, &p1);
    const bool bvec = b->ne[1] != 1;
    for (size_t p = p0; p < p1; p++) {
        const int n = (int)(p / ((size_t)H * W)), h = (int)(p / (size_t)W % (size_t)H),
                  w = (int)(p % (size_t)W);
        const float *restrict ap = a->data + p * C;
        const float *restrict bp = b->data + bc_pixel(b, n, h, w);
        float *restrict yp = node->data + p * C;
        if (bvec) {
            if (ar->mul)
                for (int c = 0; c < C; c++)
                    yp[c] = ap[c] * bp[c];
            else
                for (int c = 0; c < C; c++)
                    yp[c] = ap[c] + bp[c];
        } else {
            const float bv = bp[0];
            if (ar->mul)
                for (int c = 0; c < C; c++)
                    yp[c] = ap[c] * bv;
            else
                for (int c = 0; c < C; c++)
                    yp[c] = ap[c] + bv;
        }
    }
}

/* Backward, broadcast b: da over pixels [p0,p1) directly, db into the private buffer of ith. */
NASC_CPU_CLONES
static void bc_bwd_task(void *arg, int ith, int nth) {
    const bc_args *ar = arg;
    const nasc_tensor *a = ar->a, *b = ar->b, *node = ar->node;
    const int C = a->ne[1], H = a->ne[2], W = a->ne[3];
    size_t p0, p1;
    nasc_cpu_range((size_t)a->ne[0] * H * W, ith, nth, &p0, &p1);
    const bool bvec = b->ne[1] != 1;
    double *priv = ar->priv ? ar->priv + (size_t)ith * nasc_n(b) : NULL;
    if (priv)
        memset(priv, 0, nasc_n(b) * sizeof *priv);
    for (size_t p = p0; p < p1; p++) {
        const int n = (int)(p / ((size_t)H * W)), h = (int)(p / (size_t)W % (size_t)H),
                  w = (int)(p % (size_t)W);
        const float *restrict dy = node->grad + p * C;
        const size_t bo = bc_pixel(b, n, h, w);
        if (a->grad) {
            float *restrict da = a->grad + p * C;
            if (!ar->mul)
                for (int c = 0; c < C; c++)
                    da[c] += dy[c];
            else if (bvec)
                for (int c = 0; c < C; c++)
                    da[c] += dy[c] * b->data[bo + (size_t)c];
            else {
                const float bv = b->data[bo];
                for (int c = 0; c < C; c++)
                    da[c] += dy[c] * bv;
            }
        }
        if (priv) {
            const float *restrict ap = a->data + p * C;
            if (bvec) {
                double *restrict d = priv + bo;
                if (ar->mul)
                    for (int c = 0; c < C; c++)
                        d[c] += (double)dy[c] * (double)ap[c];
                else
                    for (int c = 0; c < C; c++)
                        d[c] += (double)dy[c];
            } else {
                double s = 0.0;
                if (ar->mul)
                    for (int c = 0; c < C; c++)
                        s += (double)dy[c] * (double)ap[c];
                else
                    for (int c = 0; c < C; c++)
                        s += (double)dy[c];
                priv[bo] += s;
            }
        }
    }
}

static nasc_status binary_fwd(nasc_backend *be, nasc_tensor *node, bool mul) {
    const nasc_tensor *a = node->src[0], *b = node->src[1];
    if (nasc_tensor_same_shape(a, b)) {
        elt_args e = {.kind = mul ? ELT_MUL_F : ELT_ADD_F, .n = nasc_n(node), .x = a->data,
                      .b = b->data, .y = node->data};
        elt_run(be, &e, ELT_GRAIN);
        return NASC_OK;
    }
    bc_args ar = {.mul = mul, .node = node, .a = a, .b = b};
    nasc_cpu_run(nasc_cpu_nth(be, nasc_n(node), ELT_GRAIN), bc_fwd_task, &ar);
    return NASC_OK;
}

static nasc_status binary_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node, bool mul) {
    nasc_tensor *a = node->src[0], *b = node->src[1];
    if (!a->grad && !b->grad)
        return NASC_OK;
    if (!mul && nasc_tensor_same_shape(a, b)) {
        const bool store_a = a->grad && nasc_cpu_take_fresh(a);
        const bool store_b = b->grad && nasc_cpu_take_fresh(b); /* false when b is a */
        elt_args e = {.kind = ELT_ADD_B, .n = nasc_n(node), .x = a->data, .b = b->data,
                      .dy = node->grad, .y = a->grad, .db = b->grad, .store = store_a,
                      .store_b = store_b};
        elt_run(be, &e, ELT_GRAIN);
        return NASC_OK;
    }
    nasc_backend_zero_fresh_grads(node); /* the kernels below only add */
    if (nasc_tensor_same_shape(a, b)) {
        elt_args e = {.kind = ELT_MUL_B, .n = nasc_n(node), .x = a->data, .b = b->data,
                      .dy = node->grad, .y = a->grad, .db = b->grad};
        elt_run(be, &e, ELT_GRAIN);
        return NASC_OK;
    }
    const int nth = nasc_cpu_nth(be, nasc_n(node), ELT_GRAIN);
    bc_args ar = {.mul = mul, .node = node, .a = a, .b = b};
    const size_t nb = nasc_n(b);
    if (b->grad) {
        ar.priv = nasc_cpu_scratch(be, g, (size_t)nth * nb * sizeof(double));
        if (!ar.priv)
            return nasc_graph_status(g);
    }
    nasc_cpu_run(nth, bc_bwd_task, &ar);
    if (b->grad)
        for (size_t j = 0; j < nb; j++) {
            double s = 0.0;
            for (int t = 0; t < nth; t++)
                s += ar.priv[(size_t)t * nb + j];
            b->grad[j] += (float)s;
        }
    return NASC_OK;
}

nasc_status nasc_cpu_add_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    return binary_fwd(be, node, false);
}
nasc_status nasc_cpu_add_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    return binary_bwd(be, g, node, false);
}
nasc_status nasc_cpu_mul_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    return binary_fwd(be, node, true);
}
nasc_status nasc_cpu_mul_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    return binary_bwd(be, g, node, true);
}

/* ---- dropout / drop-path ---- */

nasc_status nasc_cpu_dropout_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    return unary_fwd(be, node, ELT_DROP_F, ELT_GRAIN / 8);
}

nasc_status nasc_cpu_dropout_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    return unary_bwd(be, node, ELT_DROP_B, ELT_GRAIN / 8, false);
}

/* Drop-path: one mask value per sample, so it is a broadcast multiply by a per-sample scalar. */
typedef struct dp_args {
    const float *x, *dy;
    float *y;
    const float *m; /* N mask values (0 or 1/(1-p)) */
    size_t S;       /* elements per sample */
    size_t n;
    bool bwd;
    bool store;     /* bwd: y is fresh: store instead of adding */
} dp_args;

NASC_CPU_CLONES
static void dp_task(void *arg, int ith, int nth) {
    const dp_args *a = arg;
    size_t i0, i1;
    nasc_cpu_range(a->n, ith, nth, &i0, &i1);
    while (i0 < i1) {
        const size_t s = i0 / a->S, end = (s + 1) * a->S < i1 ? (s + 1) * a->S : i1;
        const float m = a->m[s];
        float *restrict y = a->y;
        if (a->bwd && a->store) {
            const float *restrict dy = a->dy;
            for (size_t i = i0; i < end; i++)
                y[i] = dy[i] * m;
        } else if (a->bwd) {
            const float *restrict dy = a->dy;
            for (size_t i = i0; i < end; i++)
                y[i] += dy[i] * m;
        } else {
            const float *restrict x = a->x;
            for (size_t i = i0; i < end; i++)
                y[i] = x[i] * m;
        }
        i0 = end;
    }
}

static nasc_status drop_path(nasc_backend *be, nasc_graph *g, nasc_tensor *node, bool bwd) {
    const nasc_drop_params *d = &node->params.drop;
    const int N = node->ne[0];
    float *m = nasc_cpu_scratch(be, g, (size_t)N * sizeof(float));
    if (!m)
        return nasc_graph_status(g);
    const float scale = 1.0f / (1.0f - d->p);
    for (int n = 0; n < N; n++)
        m[n] = nasc_drop_uniform(d, (uint64_t)n) >= d->p ? scale : 0.0f;
    dp_args a = {.x = node->src[0]->data, .dy = node->grad,
                 .y = bwd ? node->src[0]->grad : node->data, .m = m,
                 .S = nasc_n(node) / (size_t)N, .n = nasc_n(node), .bwd = bwd,
                 .store = bwd && nasc_cpu_take_fresh(node->src[0])};
    nasc_cpu_run(nasc_cpu_nth(be, a.n, ELT_GRAIN), dp_task, &a);
    return NASC_OK;
}

nasc_status nasc_cpu_drop_path_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    return drop_path(be, g, node, false);
}

nasc_status nasc_cpu_drop_path_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    if (!node->src[0]->grad)
        return NASC_OK;
    return drop_path(be, g, node, true);
}
