/* eltwise.c — element-wise nodes: relu, sigmoid, tanh, add, mul (with broadcast), scale. */
#include "../engine_int.h"

static nasc_tensor *unary(nasc_graph *g, enum nasc_op op, nasc_tensor *x,
                          const nasc_op_params *prm) {
    if (!nasc_engine_ok(g, 1, &x))
        return NULL;
    return nasc_engine_apply(g, op, x->ne, 1, &x, prm, NULL, NULL);
}

nasc_tensor *nasc_relu(nasc_graph *g, nasc_tensor *x) { return unary(g, NASC_OP_RELU, x, NULL); }
nasc_tensor *nasc_sigmoid(nasc_graph *g, nasc_tensor *x) {
    return unary(g, NASC_OP_SIGMOID, x, NULL);
}
nasc_tensor *nasc_tanh(nasc_graph *g, nasc_tensor *x) { return unary(g, NASC_OP_TANH, x, NULL); }

nasc_tensor *nasc_scale(nasc_graph *g, nasc_tensor *x, float s) {
    nasc_op_params prm = {.scalar = s};
    return unary(g, NASC_OP_SCALE, x, &prm);
}

static nasc_tensor *binary(nasc_graph *g, enum nasc_op op, nasc_tensor *a, nasc_tensor *b) {
    nasc_tensor *need[] = {a, b};
    if (!nasc_engine_ok(g, 2, need))
        return NULL;
    for (int d = 0; d < 4; d++) {
        if (b->ne[d] != a->ne[d] && b->ne[d] != 1) {
            char as[48], bs[48];
            nasc_graph_errorf(g, NASC_ERR_SHAPE,
                              "%s: %s vs %s: dim %d of the second operand must be %d or 1 (%d)",
                              nasc_op_name(op), NASC_SHAPE(a, as), NASC_SHAPE(b, bs), d, a->ne[d],
                              b->ne[d]);
            return NULL;
        }
    }
    return nasc_engine_apply(g, op, a->ne, 2, need, NULL, NULL, NULL);
}

nasc_tensor *nasc_add(nasc_graph *g, nasc_tensor *a, nasc_tensor *b) {
    return binary(g, NASC_OP_ADD, a, b);
}
nasc_tensor *nasc_mul(nasc_graph *g, nasc_tensor *a, nasc_tensor *b) {
    return binary(g, NASC_OP_MUL, a, b);
}
