/* loss.c — softmax, log-softmax, cross entropy, sum and mean nodes; counting correct predictions. */
#include "../engine_int.h"

#include <string.h>

nasc_tensor *nasc_softmax(nasc_graph *g, nasc_tensor *x) {
    if (!nasc_engine_ok(g, 1, &x))
        return NULL;
    return nasc_engine_apply(g, NASC_OP_SOFTMAX, x->ne, 1, &x, NULL, NULL, NULL);
}

nasc_tensor *nasc_log_softmax(nasc_graph *g, nasc_tensor *x) {
    if (!nasc_engine_ok(g, 1, &x))
        return NULL;
    return nasc_engine_apply(g, NASC_OP_LOG_SOFTMAX, x->ne, 1, &x, NULL, NULL, NULL);
}

int nasc_count_correct(const nasc_tensor *logits, const int32_t *labels) {
    const int N = logits->ne[0], K = logits->ne[1];
    int ok = 0;
    for (int i = 0; i < N; i++) {
        const float *row = logits->data + (size_t)i * (size_t)K;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (row[k] > row[best])
                best = k;
        ok += best == labels[i];
    }
    return ok;
}

nasc_tensor *nasc_cross_entropy(nasc_graph *g, nasc_tensor *logits, const int32_t *labels,
                                float smoothing) {
    if (!nasc_engine_ok(g, 1, &logits))
        return NULL;
    char ls[48];
    NASC_SHAPE(logits, ls);
    if (logits->ne[2] != 1 || logits->ne[3] != 1) {
        nasc_graph_errorf(g, NASC_ERR_SHAPE, "cross_entropy: logits %s: expected (N,K,1,1)", ls);
        return NULL;
    }
    if (!labels) {
        nasc_graph_errorf(g, NASC_ERR_ARG, "cross_entropy: logits %s: labels are NULL", ls);
        return NULL;
    }
    if (!(smoothing >= 0.0f && smoothing < 1.0f)) {
        nasc_graph_errorf(g, NASC_ERR_ARG,
                          "cross_entropy: logits %s: label smoothing must be in [0,1) (%g)", ls,
                          (double)smoothing);
        return NULL;
    }
    const int N = logits->ne[0], K = logits->ne[1];
    for (int i = 0; i < N; i++) {
        if (labels[i] < 0 || labels[i] >= K) {
            nasc_graph_errorf(g, NASC_ERR_ARG,
                              "cross_entropy: logits %s: label %d of sample %d out of range [0,%d)",
                              ls, (int)labels[i], i, K);
            return NULL;
        }
    }
    /* The labels are copied into the step arena and attached as the node's saved buffer. */
    int32_t *copy = nasc_graph_alloc(g, (size_t)N * sizeof *copy);
    if (!copy)
        return NULL;
    memcpy(copy, labels, (size_t)N * sizeof *copy);
    const int ne[4] = {1, 1, 1, 1};
    nasc_op_params prm = {.ce = {.smoothing = smoothing}};
    nasc_tensor *src[] = {logits};
    return nasc_engine_apply(g, NASC_OP_CROSS_ENTROPY, ne, 1, src, &prm, copy, NULL);
}

static nasc_tensor *reduce(nasc_graph *g, enum nasc_op op, nasc_tensor *x) {
    if (!nasc_engine_ok(g, 1, &x))
        return NULL;
    const int ne[4] = {1, 1, 1, 1};
    return nasc_engine_apply(g, op, ne, 1, &x, NULL, NULL, NULL);
}

nasc_tensor *nasc_sum(nasc_graph *g, nasc_tensor *x) { return reduce(g, NASC_OP_SUM, x); }
nasc_tensor *nasc_mean(nasc_graph *g, nasc_tensor *x) { return reduce(g, NASC_OP_MEAN, x); }
