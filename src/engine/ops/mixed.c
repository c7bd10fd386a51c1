/* mixed.c — ops of supernets: the fused weighted sum of a mixed operation, channel shuffle
 * (PC-DARTS), and in-place ReLU and batch norm (memory: the input's storage is reused). Kernels: backend/ref/mixed.c, backend/cpu/mixed.c. */
#include "../engine_int.h"

nasc_tensor *nasc_weighted_sum(nasc_graph *g, nasc_tensor *w, int n, nasc_tensor *const *xs,
                               const int *w_index) {
    if (!nasc_engine_ok(g, 1, &w))
        return NULL;
    char ws[48], xs0[48], xsi[48];
    NASC_SHAPE(w, ws);
    if (n < 1 || !xs || !w_index) {
        nasc_graph_errorf(g, NASC_ERR_ARG, "weighted_sum: w %s: need n >= 1 terms (%d)", ws, n);
        return NULL;
    }
    /* A NULL term is the constant 1 (straight-through estimators); the graph is not in error
     * here, so it cannot be the result of a failed op. The shape comes from the first tensor. */
    const nasc_tensor *ref = NULL;
    const int64_t nw = nasc_tensor_nelem(w);
    for (int i = 0; i < n; i++) {
        if (w_index[i] < 0 || w_index[i] >= nw) {
            nasc_graph_errorf(g, NASC_ERR_ARG,
                              "weighted_sum: w %s: index %d of term %d out of range [0,%lld)", ws,
                              w_index[i], i, (long long)nw);
            return NULL;
        }
        if (!xs[i])
            continue;
        if (!ref) {
            ref = xs[i];
        } else if (!nasc_tensor_same_shape(ref, xs[i])) {
            nasc_graph_errorf(g, NASC_ERR_SHAPE,
                              "weighted_sum: term 0 %s vs term %d %s: shapes must agree",
                              NASC_SHAPE(ref, xs0), i, NASC_SHAPE(xs[i], xsi));
            return NULL;
        }
    }
    if (!ref) {
        nasc_graph_errorf(g, NASC_ERR_ARG,
                          "weighted_sum: w %s: every term is constant; one tensor gives the shape",
                          ws);
        return NULL;
    }
    int32_t *idx = nasc_graph_alloc(g, (size_t)n * sizeof *idx);
    nasc_tensor **src = nasc_graph_alloc(g, (size_t)(n + 1) * sizeof *src);
    if (!idx || !src)
        return NULL;
    src[0] = w;
    for (int i = 0; i < n; i++) {
        idx[i] = (int32_t)w_index[i];
        src[i + 1] = xs[i];
    }
    nasc_op_params prm = {.wsum = {.n = n, .idx = idx}};
    return nasc_engine_apply(g, NASC_OP_WSUM, ref->ne, n + 1, src, &prm, NULL, NULL);
}

nasc_tensor *nasc_relu_inplace(nasc_graph *g, nasc_tensor *x) {
    if (!nasc_engine_ok(g, 1, &x))
        return NULL;
    /* The relu kernels read x[i] and write y[i] element by element and their backward uses
     * y > 0 only, so running them on aliased storage is exact. */
    return nasc_engine_apply(g, NASC_OP_RELU, x->ne, 1, &x, NULL, NULL, x->data);
}

nasc_tensor *nasc_batchnorm_inplace(nasc_graph *g, nasc_tensor *x, nasc_tensor *running_mean,
                                     nasc_tensor *running_var, const nasc_bn_params *p) {
    if (!nasc_engine_ok(g, 1, &x) || !nasc_engine_bn_check(g, "batchnorm_inplace", x, NULL, NULL,
                                                           running_mean, running_var, p))
        return NULL;
    nasc_op_params prm = {.bn = *p};
    prm.bn.training = g->training;
    nasc_tensor *src[] = {x, running_mean, running_var};
    return nasc_engine_apply(g, NASC_OP_BN_INPLACE, x->ne, 3, src, &prm, NULL, x->data);
}

nasc_tensor *nasc_channel_shuffle(nasc_graph *g, nasc_tensor *x, int groups) {
    if (!nasc_engine_ok(g, 1, &x))
        return NULL;
    if (groups < 1 || x->ne[1] % groups) {
        char xs[48];
        nasc_graph_errorf(g, NASC_ERR_ARG,
                          "channel_shuffle: input %s: groups must be >= 1 and divide C=%d (%d)",
                          NASC_SHAPE(x, xs), x->ne[1], groups);
        return NULL;
    }
    nasc_op_params prm = {.shuffle = {.groups = groups}};
    return nasc_engine_apply(g, NASC_OP_CHANNEL_SHUFFLE, x->ne, 1, &x, &prm, NULL, NULL);
}
