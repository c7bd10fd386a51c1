/* conv2d.c — shape check and graph node of the 2-D convolution. Kernels: backend/{ref,cpu}. */
#include "../engine_int.h"

/* Output size along one axis, or a value < 1 if the window does not fit. */
static int conv_out(int in, int k, int stride, int pad, int dil) {
    int span = dil * (k - 1) + 1;
    if (in + 2 * pad < span)
        return 0;
    return (in + 2 * pad - span) / stride + 1;
}

nasc_tensor *nasc_conv2d(nasc_graph *g, nasc_tensor *x, nasc_tensor *w, nasc_tensor *b,
                         const nasc_conv2d_params *p) {
    nasc_tensor *need[] = {x, w};
    if (!nasc_engine_ok(g, 2, need))
        return NULL;
    char xs[48], ws[48], bs[48];
    NASC_SHAPE(x, xs);
    NASC_SHAPE(w, ws);
    if (!p || p->groups < 1 || p->stride[0] < 1 || p->stride[1] < 1 || p->dil[0] < 1 ||
        p->dil[1] < 1 || p->pad[0] < 0 || p->pad[1] < 0) {
        nasc_graph_errorf(g, NASC_ERR_ARG,
                          "conv2d: input %s vs weight %s: bad params (need stride>=1, dil>=1, "
                          "pad>=0, groups>=1)",
                          xs, ws);
        return NULL;
    }
    const int C = x->ne[1], K = w->ne[0], G = p->groups;
    if (C % G != 0 || K % G != 0) {
        nasc_graph_errorf(g, NASC_ERR_SHAPE,
                          "conv2d: input %s vs weight %s: groups=%d must divide C=%d and K=%d", xs,
                          ws, G, C, K);
        return NULL;
    }
    if (w->ne[1] * G != C) {
        nasc_graph_errorf(g, NASC_ERR_SHAPE,
                          "conv2d: input %s vs weight %s: C=%d != groups*Cin_per_group=%d", xs, ws,
                          C, w->ne[1] * G);
        return NULL;
    }
    if (b && (b->ne[0] != 1 || b->ne[1] != K || b->ne[2] != 1 || b->ne[3] != 1)) {
        nasc_graph_errorf(g, NASC_ERR_SHAPE, "conv2d: weight %s vs bias %s: bias must be (1,%d,1,1)",
                          ws, NASC_SHAPE(b, bs), K);
        return NULL;
    }
    int OH = conv_out(x->ne[2], w->ne[2], p->stride[0], p->pad[0], p->dil[0]);
    int OW = conv_out(x->ne[3], w->ne[3], p->stride[1], p->pad[1], p->dil[1]);
    if (OH < 1 || OW < 1) {
        nasc_graph_errorf(g, NASC_ERR_SHAPE,
                          "conv2d: input %s vs weight %s: dilated kernel larger than padded input "
                          "(pad %d,%d dil %d,%d)",
                          xs, ws, p->pad[0], p->pad[1], p->dil[0], p->dil[1]);
        return NULL;
    }
    const int ne[4] = {x->ne[0], K, OH, OW};
    nasc_tensor *src[] = {x, w, b};
    nasc_op_params prm = {.conv = *p};
    return nasc_engine_apply(g, NASC_OP_CONV2D, ne, 3, src, &prm, NULL, NULL);
}
