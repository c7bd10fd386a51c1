/* pool.c — max / average / global average pooling nodes. Kernels: backend/{ref,cpu}. */
#include "../engine_int.h"

static nasc_tensor *pool(nasc_graph *g, enum nasc_op op, nasc_tensor *x,
                         const nasc_pool2d_params *p) {
    if (!nasc_engine_ok(g, 1, &x))
        return NULL;
    char xs[48];
    const char *name = nasc_op_name(op);
    if (!p || p->k[0] < 1 || p->k[1] < 1 || p->stride[0] < 1 || p->stride[1] < 1 ||
        p->pad[0] < 0 || p->pad[1] < 0) {
        nasc_graph_errorf(g, NASC_ERR_ARG, "%s: input %s: bad params (need k>=1, stride>=1, pad>=0)",
                          name, NASC_SHAPE(x, xs));
        return NULL;
    }
    if (2 * p->pad[0] > p->k[0] || 2 * p->pad[1] > p->k[1]) {
        nasc_graph_errorf(g, NASC_ERR_ARG,
                          "%s: input %s: pad (%d,%d) must be at most half the window (%d,%d)", name,
                          NASC_SHAPE(x, xs), p->pad[0], p->pad[1], p->k[0], p->k[1]);
        return NULL;
    }
    int H = x->ne[2] + 2 * p->pad[0], W = x->ne[3] + 2 * p->pad[1];
    if (H < p->k[0] || W < p->k[1]) {
        nasc_graph_errorf(g, NASC_ERR_SHAPE, "%s: input %s: window (%d,%d) larger than padded input",
                          name, NASC_SHAPE(x, xs), p->k[0], p->k[1]);
        return NULL;
    }
    const int ne[4] = {x->ne[0], x->ne[1], (H - p->k[0]) / p->stride[0] + 1,
                       (W - p->k[1]) / p->stride[1] + 1};
    nasc_op_params prm = {.pool = *p};
    return nasc_engine_apply(g, op, ne, 1, &x, &prm, NULL, NULL);
}

nasc_tensor *nasc_maxpool2d(nasc_graph *g, nasc_tensor *x, const nasc_pool2d_params *p) {
    return pool(g, NASC_OP_MAXPOOL2D, x, p);
}

nasc_tensor *nasc_avgpool2d(nasc_graph *g, nasc_tensor *x, const nasc_pool2d_params *p) {
    return pool(g, NASC_OP_AVGPOOL2D, x, p);
}

nasc_tensor *nasc_global_avgpool(nasc_graph *g, nasc_tensor *x) {
    if (!nasc_engine_ok(g, 1, &x))
        return NULL;
    const int ne[4] = {x->ne[0], x->ne[1], 1, 1};
    return nasc_engine_apply(g, NASC_OP_GLOBAL_AVGPOOL, ne, 1, &x, NULL, NULL, NULL);
}
