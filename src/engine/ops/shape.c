/* shape.c — nodes that move data without arithmetic: concat, slice, reshape. */
#include "../engine_int.h"

nasc_tensor *nasc_concat(nasc_graph *g, int n, nasc_tensor *const *xs) {
    if (g->err.code != NASC_OK)
        return NULL;
    if (n < 1 || !xs) {
        nasc_graph_errorf(g, NASC_ERR_ARG, "concat: need at least one input (%d)", n);
        return NULL;
    }
    if (!nasc_engine_ok(g, n, xs))
        return NULL;
    int C = 0;
    for (int i = 0; i < n; i++) {
        const nasc_tensor *x = xs[i];
        if (x->ne[0] != xs[0]->ne[0] || x->ne[2] != xs[0]->ne[2] || x->ne[3] != xs[0]->ne[3]) {
            char s0[48], si[48];
            nasc_graph_errorf(g, NASC_ERR_SHAPE,
                              "concat: input 0 %s vs input %d %s: N, H and W must agree",
                              NASC_SHAPE(xs[0], s0), i, NASC_SHAPE(x, si));
            return NULL;
        }
        C += x->ne[1];
    }
    const int ne[4] = {xs[0]->ne[0], C, xs[0]->ne[2], xs[0]->ne[3]};
    return nasc_engine_apply(g, NASC_OP_CONCAT, ne, n, xs, NULL, NULL, NULL);
}

nasc_tensor *nasc_slice(nasc_graph *g, nasc_tensor *x, const nasc_slice_params *p) {
    if (!nasc_engine_ok(g, 1, &x))
        return NULL;
    char xs[48];
    if (!p || p->c0 < 0 || p->c1 > x->ne[1] || p->c0 >= p->c1 || p->h0 < 0 ||
        p->h0 >= x->ne[2] || p->w0 < 0 || p->w0 >= x->ne[3] || p->sh < 1 || p->sw < 1) {
        nasc_graph_errorf(g, NASC_ERR_ARG,
                          "slice: input %s: bad window (need 0 <= c0 < c1 <= C, 0 <= h0 < H, "
                          "0 <= w0 < W, strides >= 1)",
                          NASC_SHAPE(x, xs));
        return NULL;
    }
    const int ne[4] = {x->ne[0], p->c1 - p->c0, (x->ne[2] - p->h0 + p->sh - 1) / p->sh,
                       (x->ne[3] - p->w0 + p->sw - 1) / p->sw};
    nasc_op_params prm = {.slice = *p};
    return nasc_engine_apply(g, NASC_OP_SLICE, ne, 1, &x, &prm, NULL, NULL);
}

nasc_tensor *nasc_reshape(nasc_graph *g, nasc_tensor *x, int n, int c, int h, int w) {
    if (!nasc_engine_ok(g, 1, &x))
        return NULL;
    if (n <= 0 || c <= 0 || h <= 0 || w <= 0 ||
        (int64_t)n * c * h * w != nasc_tensor_nelem(x)) {
        char xs[48];
        nasc_graph_errorf(g, NASC_ERR_SHAPE, "reshape: %s -> (%d,%d,%d,%d): element counts differ",
                          NASC_SHAPE(x, xs), n, c, h, w);
        return NULL;
    }
    const int ne[4] = {n, c, h, w};
    return nasc_engine_apply(g, NASC_OP_RESHAPE, ne, 1, &x, NULL, NULL, x->data);
}
