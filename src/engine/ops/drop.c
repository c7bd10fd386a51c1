/* drop.c — dropout and drop-path nodes. Masks are a function of (seed, seq, step, element). */
#include "../engine_int.h"

static nasc_tensor *drop(nasc_graph *g, enum nasc_op op, nasc_tensor *x, float p) {
    if (!nasc_engine_ok(g, 1, &x))
        return NULL;
    if (!(p >= 0.0f && p < 1.0f)) {
        char xs[48];
        nasc_graph_errorf(g, NASC_ERR_ARG, "%s: input %s: p must be in [0,1) (%g)",
                          nasc_op_name(op), NASC_SHAPE(x, xs), (double)p);
        return NULL;
    }
    if (!g->training || p == 0.0f)
        return x;
    /* masks are numbered from the global batch's first sample (nasc_graph_set_batch_first) */
    const uint64_t per_sample = (uint64_t)nasc_tensor_nelem(x) / (uint64_t)x->ne[0];
    const uint64_t first =
        (uint64_t)g->batch_first * (op == NASC_OP_DROP_PATH ? 1 : per_sample);
    nasc_op_params prm = {.drop = {.p = p, .seq = g->stoch_seq++, .seed = g->seed, .step = g->step,
                                   .first = first}};
    return nasc_engine_apply(g, op, x->ne, 1, &x, &prm, NULL, NULL);
}

nasc_tensor *nasc_dropout(nasc_graph *g, nasc_tensor *x, float p) {
    return drop(g, NASC_OP_DROPOUT, x, p);
}
nasc_tensor *nasc_drop_path(nasc_graph *g, nasc_tensor *x, float p) {
    return drop(g, NASC_OP_DROP_PATH, x, p);
}
