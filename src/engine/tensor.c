/* tensor.c — tensor helpers and the op name table. */
#include "nasc/tensor.h"

#include <stdio.h>
#include <string.h>

static const char *const op_names[] = {
    [NASC_OP_NONE] = "leaf",
    [NASC_OP_CONV2D] = "conv2d",
    [NASC_OP_MAXPOOL2D] = "maxpool2d",
    [NASC_OP_AVGPOOL2D] = "avgpool2d",
    [NASC_OP_GLOBAL_AVGPOOL] = "global_avgpool",
    [NASC_OP_BATCHNORM] = "batchnorm",
    [NASC_OP_RELU] = "relu",
    [NASC_OP_SIGMOID] = "sigmoid",
    [NASC_OP_TANH] = "tanh",
    [NASC_OP_ADD] = "add",
    [NASC_OP_MUL] = "mul",
    [NASC_OP_SCALE] = "scale",
    [NASC_OP_CONCAT] = "concat",
    [NASC_OP_SLICE] = "slice",
    [NASC_OP_LINEAR] = "linear",
    [NASC_OP_DROPOUT] = "dropout",
    [NASC_OP_DROP_PATH] = "drop_path",
    [NASC_OP_SOFTMAX] = "softmax",
    [NASC_OP_LOG_SOFTMAX] = "log_softmax",
    [NASC_OP_CROSS_ENTROPY] = "cross_entropy",
    [NASC_OP_SUM] = "sum",
    [NASC_OP_MEAN] = "mean",
    [NASC_OP_RESHAPE] = "reshape",
    [NASC_OP_WSUM] = "weighted_sum",
    [NASC_OP_CHANNEL_SHUFFLE] = "channel_shuffle",
    [NASC_OP_BN_INPLACE] = "batchnorm_inplace",
    [NASC_OP_BN_RELU] = "batchnorm_relu",
};
_Static_assert(sizeof op_names / sizeof op_names[0] == NASC_OP_COUNT, "one name per op");

const char *nasc_op_name(enum nasc_op op) {
    if ((unsigned)op >= (unsigned)NASC_OP_COUNT || !op_names[op])
        return "?";
    return op_names[op];
}

const char *nasc_tensor_shape_str(const nasc_tensor *t, char *buf, size_t n) {
    if (!t)
        snprintf(buf, n, "(null)");
    else
        snprintf(buf, n, "(%d,%d,%d,%d)", t->ne[0], t->ne[1], t->ne[2], t->ne[3]);
    return buf;
}

void nasc_tensor_init(nasc_tensor *t, float *data, int n, int c, int h, int w) {
    memset(t, 0, sizeof *t);
    t->ne[0] = n;
    t->ne[1] = c;
    t->ne[2] = h;
    t->ne[3] = w;
    t->data = data;
    t->id = -1;
}
