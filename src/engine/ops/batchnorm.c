/* batchnorm.c — batch norm node (training and inference). Kernels: backend/{ref,cpu}.
 * src layout: {x, gamma, beta, running_mean, running_var}; optional entries are NULL. */
#include "../engine_int.h"

static bool is_channel_vec(const nasc_tensor *t, int C) {
    return t->ne[0] == 1 && t->ne[1] == C && t->ne[2] == 1 && t->ne[3] == 1;
}

nasc_tensor *nasc_batchnorm(nasc_graph *g, nasc_tensor *x, nasc_tensor *gamma, nasc_tensor *beta,
                            nasc_tensor *running_mean, nasc_tensor *running_var,
                            const nasc_bn_params *p) {
    if (!nasc_engine_ok(g, 1, &x))
        return NULL;
    char xs[48], os[48];
    NASC_SHAPE(x, xs);
    const int C = x->ne[1];
    if (!p || !(p->eps > 0.0f) || !(p->momentum >= 0.0f && p->momentum <= 1.0f)) {
        nasc_graph_errorf(g, NASC_ERR_ARG,
                          "batchnorm: input %s: bad params (need eps > 0, momentum in [0,1])", xs);
        return NULL;
    }
    if ((gamma == NULL) != (beta == NULL)) {
        nasc_graph_errorf(g, NASC_ERR_ARG, "batchnorm: input %s: give both gamma and beta or neither",
                          xs);
        return NULL;
    }
    if ((running_mean == NULL) != (running_var == NULL)) {
        nasc_graph_errorf(g, NASC_ERR_ARG,
                          "batchnorm: input %s: give both running_mean and running_var or neither",
                          xs);
        return NULL;
    }
    nasc_tensor *vecs[] = {gamma, beta, running_mean, running_var};
    for (int i = 0; i < 4; i++) {
        if (vecs[i] && !is_channel_vec(vecs[i], C)) {
            nasc_graph_errorf(g, NASC_ERR_SHAPE, "batchnorm: input %s vs %s %s: expected (1,%d,1,1)",
                              xs, i == 0 ? "gamma" : i == 1 ? "beta" : i == 2 ? "running_mean"
                                                                               : "running_var",
                              NASC_SHAPE(vecs[i], os), C);
            return NULL;
        }
    }
    if (!g->training && !running_mean) {
        nasc_graph_errorf(g, NASC_ERR_ARG,
                          "batchnorm: input %s: inference mode needs running statistics", xs);
        return NULL;
    }
    if (g->training && (int64_t)x->ne[0] * x->ne[2] * x->ne[3] < 2) {
        nasc_graph_errorf(g, NASC_ERR_SHAPE,
                          "batchnorm: input %s: training needs more than one value per channel", xs);
        return NULL;
    }
    nasc_op_params prm = {.bn = *p};
    prm.bn.training = g->training;
    nasc_tensor *src[] = {x, gamma, beta, running_mean, running_var};
    return nasc_engine_apply(g, NASC_OP_BATCHNORM, x->ne, 5, src, &prm, NULL, NULL);
}
