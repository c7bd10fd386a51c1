/* ref/eltwise.c — relu, sigmoid, tanh, scale, and add / mul with b broadcast to a's shape.
 * relu' uses the output (y > 0), sigmoid' = y(1-y), tanh' = 1-y^2. */
#include "ref_int.h"

#include <math.h>

nasc_status nasc_ref_relu_fwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    const float *x = node->src[0]->data;
    for (size_t i = 0; i < nasc_n(node); i++)
        node->data[i] = x[i] > 0.0f ? x[i] : 0.0f;
    return NASC_OK;
}

nasc_status nasc_ref_relu_bwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    float *dx = node->src[0]->grad;
    if (dx)
        for (size_t i = 0; i < nasc_n(node); i++)
            dx[i] += node->data[i] > 0.0f ? node->grad[i] : 0.0f;
    return NASC_OK;
}

nasc_status nasc_ref_sigmoid_fwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    const float *x = node->src[0]->data;
    for (size_t i = 0; i < nasc_n(node); i++)
        node->data[i] = (float)(1.0 / (1.0 + exp(-(double)x[i])));
    return NASC_OK;
}

nasc_status nasc_ref_sigmoid_bwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    float *dx = node->src[0]->grad;
    if (dx)
        for (size_t i = 0; i < nasc_n(node); i++)
            dx[i] += node->grad[i] * node->data[i] * (1.0f - node->data[i]);
    return NASC_OK;
}

nasc_status nasc_ref_tanh_fwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    const float *x = node->src[0]->data;
    for (size_t i = 0; i < nasc_n(node); i++)
        node->data[i] = (float)tanh((double)x[i]);
    return NASC_OK;
}

nasc_status nasc_ref_tanh_bwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    float *dx = node->src[0]->grad;
    if (dx)
        for (size_t i = 0; i < nasc_n(node); i++)
            dx[i] += node->grad[i] * (1.0f - node->data[i] * node->data[i]);
    return NASC_OK;
}

nasc_status nasc_ref_scale_fwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    const float s = node->params.scalar;
    const float *x = node->src[0]->data;
    for (size_t i = 0; i < nasc_n(node); i++)
        node->data[i] = s * x[i];
    return NASC_OK;
}

nasc_status nasc_ref_scale_bwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    const float s = node->params.scalar;
    float *dx = node->src[0]->grad;
    if (dx)
        for (size_t i = 0; i < nasc_n(node); i++)
            dx[i] += s * node->grad[i];
    return NASC_OK;
}

/* Offset in b of element (n,c,h,w) of a, where each dim of b equals a's or is 1. */
static int64_t bcast_offset(const nasc_tensor *b, int n, int c, int h, int w) {
    return nasc_tensor_offset(b, b->ne[0] == 1 ? 0 : n, b->ne[1] == 1 ? 0 : c,
                              b->ne[2] == 1 ? 0 : h, b->ne[3] == 1 ? 0 : w);
}

#define FOR_EACH_NCHW(t)                                                                           \
    for (int n = 0; n < (t)->ne[0]; n++)                                                           \
        for (int h = 0; h < (t)->ne[2]; h++)                                                       \
            for (int w = 0; w < (t)->ne[3]; w++)                                                   \
                for (int c = 0; c < (t)->ne[1]; c++)

nasc_status nasc_ref_add_fwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    const nasc_tensor *a = node->src[0], *b = node->src[1];
    size_t i = 0;
    FOR_EACH_NCHW(node) {
        node->data[i] = a->data[i] + b->data[bcast_offset(b, n, c, h, w)];
        i++;
    }
    return NASC_OK;
}

nasc_status nasc_ref_add_bwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    nasc_tensor *a = node->src[0], *b = node->src[1];
    if (a->grad)
        for (size_t i = 0; i < nasc_n(node); i++)
            a->grad[i] += node->grad[i];
    if (b->grad) {
        size_t i = 0;
        FOR_EACH_NCHW(node) {
            b->grad[bcast_offset(b, n, c, h, w)] += node->grad[i];
            i++;
        }
    }
    return NASC_OK;
}

nasc_status nasc_ref_mul_fwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    const nasc_tensor *a = node->src[0], *b = node->src[1];
    size_t i = 0;
    FOR_EACH_NCHW(node) {
        node->data[i] = a->data[i] * b->data[bcast_offset(b, n, c, h, w)];
        i++;
    }
    return NASC_OK;
}

nasc_status nasc_ref_mul_bwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    nasc_tensor *a = node->src[0], *b = node->src[1];
    /* db sums over broadcast dims: accumulate in double, then add once. a and b may be the same
     * tensor (x*x): both contributions land in its grad. */
    double *db = NULL;
    if (b->grad) {
        db = nasc_graph_alloc(gr, nasc_n(b) * sizeof(double));
        if (!db)
            return nasc_graph_status(gr);
        for (size_t j = 0; j < nasc_n(b); j++)
            db[j] = 0.0;
    }
    size_t i = 0;
    FOR_EACH_NCHW(node) {
        const int64_t bo = bcast_offset(b, n, c, h, w);
        if (a->grad)
            a->grad[i] += node->grad[i] * b->data[bo];
        if (db)
            db[bo] += (double)node->grad[i] * a->data[i];
        i++;
    }
    if (db)
        for (size_t j = 0; j < nasc_n(b); j++)
            b->grad[j] += (float)db[j];
    return NASC_OK;
}
