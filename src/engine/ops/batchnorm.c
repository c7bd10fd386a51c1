/* batchnorm.c — batch norm node (training and inference), and BN fused with the ReLU after it.
 * Kernels: backend/{ref,cpu}/batchnorm.c.
 * src layout: {x, gamma, beta, running_mean, running_var}; optional entries are NULL. */
#include "../engine_int.h"

static bool is_channel_vec(const nasc_tensor *t, int C) {
    return t->ne[0] == 1 && t->ne[1] == C && t->ne[2] == 1 && t->ne[3] == 1;
}

bool nasc_engine_bn_check(nasc_graph *g, const char *op, const nasc_tensor *x,
                          const nasc_tensor *gamma, const nasc_tensor *beta,
                          const nasc_tensor *running_mean, const nasc_tensor *running_var,
                          const nasc_bn_params *p) {
    char xs[48], os[48];
    NASC_SHAPE(x, xs);
    const int C = x->ne[1];
    if (!p || !(p->eps > 0.0f) || !(p->momentum >= 0.0f && p->momentum <= 1.0f)) {
        nasc_graph_errorf(g, NASC_ERR_ARG,
                          "%s: input %s: bad params (need eps > 0, momentum in [0,1])", op, xs);
        return false;
    }
    if ((gamma == NULL) != (beta == NULL)) {
        nasc_graph_errorf(g, NASC_ERR_ARG, "%s: input %s: give both gamma and beta or neither", op,
                          xs);
        return false;
    }
    if ((running_mean == NULL) != (running_var == NULL)) {
        nasc_graph_errorf(g, NASC_ERR_ARG,
                          "%s: input %s: give both running_mean and running_var or neither", op,
                          xs);
        return false;
    }
    const nasc_tensor *vecs[] = {gamma, beta, running_mean, running_var};
    static const char *const names[] = {"gamma", "beta", "running_mean", "running_var"};
    for (int i = 0; i < 4; i++) {
        if (vecs[i] && !is_channel_vec(vecs[i], C)) {
            nasc_graph_errorf(g, NASC_ERR_SHAPE, "%s: input %s vs %s %s: expected (1,%d,1,1)", op,
                              xs, names[i], NASC_SHAPE(vecs[i], os), C);
            return false;
        }
    }
    if (!g->training && !running_mean) {
        nasc_graph_errorf(g, NASC_ERR_ARG,
                          "%s: input %s: inference mode needs running statistics", op, xs);
        return false;
    }
    if (g->training && (int64_t)x->ne[0] * x->ne[2] * x->ne[3] < 2) {
        nasc_graph_errorf(g, NASC_ERR_SHAPE,
                          "%s: input %s: training needs more than one value per channel", op, xs);
        return false;
    }
    return true;
}

/* One batch-norm node of kind op (BATCHNORM, or BN_RELU with its ReLU fused), checked as `name`. */
static nasc_tensor *bn_node(nasc_graph *g, enum nasc_op op, const char *name, nasc_tensor *x,
                            nasc_tensor *gamma, nasc_tensor *beta, nasc_tensor *running_mean,
                            nasc_tensor *running_var, const nasc_bn_params *p) {
    if (!nasc_engine_ok(g, 1, &x) ||
        !nasc_engine_bn_check(g, name, x, gamma, beta, running_mean, running_var, p))
        return NULL;
    nasc_op_params prm = {.bn = *p};
    prm.bn.training = g->training;
    nasc_tensor *src[] = {x, gamma, beta, running_mean, running_var};
    return nasc_engine_apply(g, op, x->ne, 5, src, &prm, NULL, NULL);
}

nasc_tensor *nasc_batchnorm(nasc_graph *g, nasc_tensor *x, nasc_tensor *gamma, nasc_tensor *beta,
                            nasc_tensor *running_mean, nasc_tensor *running_var,
                            const nasc_bn_params *p) {
    return bn_node(g, NASC_OP_BATCHNORM, "batchnorm", x, gamma, beta, running_mean, running_var, p);
}

nasc_tensor *nasc_batchnorm_relu(nasc_graph *g, nasc_tensor *x, nasc_tensor *gamma,
                                 nasc_tensor *beta, nasc_tensor *running_mean,
                                 nasc_tensor *running_var, const nasc_bn_params *p) {
    if (g && !g->training) /* see ops.h: inference graphs keep the two nodes */
        return nasc_relu(g, nasc_batchnorm(g, x, gamma, beta, running_mean, running_var, p));
    return bn_node(g, NASC_OP_BN_RELU, "batchnorm_relu", x, gamma, beta, running_mean, running_var,
                   p);
}
