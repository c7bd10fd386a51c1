/* cellops.c — the candidate operations of cell-based spaces (NAS-Bench-201, DARTS), written after
 * the reference PyTorch code (xautodl cell_operations.py, quark0/darts operations.py):
 *
 *   RCB   ReLU -> Conv(k, stride, pad k/2, no bias) -> BN                  (ReLUConvBN)
 *   SEP   ReLU -> dw Conv(k, stride) -> pw Conv 1x1 -> BN -> ReLU -> dw Conv(k, 1) -> pw -> BN
 *   DIL   ReLU -> dw Conv(k, stride, dilation 2, pad k-1) -> pw Conv 1x1 -> BN
 *   FR    ReLU -> cat(Conv1x1 s2 (x), Conv1x1 s2 (x[:, :, 1:, 1:])) -> BN  (FactorizedReduce)
 *   AVG3  AvgPool 3x3, stride, pad 1, count_include_pad = False
 *   MAX3  MaxPool 3x3, stride, pad 1
 *   ZERO  x * 0, subsampled by the stride (x[:, :, ::2, ::2] * 0)
 *
 * Shapes: x (N, C, H, W) -> (N, K, OH, OW), OH = (H - 1)/stride + 1 for every op here, except FR,
 * whose second branch needs an even H and W (the builders check sizes before building). */
#include "space_int.h"

#include <stdio.h>

static nasc_status bn(nasc_bn *b, nasc_params *ps, const char *prefix, int i, int c,
                      nasc_err *err) {
    char name[32];
    snprintf(name, sizeof name, "%s.bn%d", prefix, i);
    return nasc_bn_init(b, ps, name, c, true, err);
}

static nasc_status conv(sp_op *op, nasc_params *ps, const char *prefix, int cin, int cout, int k,
                        int stride, int pad, int dil, int groups, nasc_err *err) {
    char name[32];
    snprintf(name, sizeof name, "%s.c%d", prefix, op->n_conv);
    return nasc_conv_init_cell(&op->conv[op->n_conv++], ps, name, cin, cout, k, stride, pad, dil,
                               groups, err);
}

nasc_status nasc_sp_op_init(sp_op *op, nasc_params *ps, const char *prefix, nasc_cell_op_kind kind,
                            int cin, int cout, int k, int stride, nasc_err *err) {
    *op = (sp_op){.kind = kind, .stride = stride};
    switch (kind) {
    case NASC_CELL_ZERO:
    case NASC_CELL_IDENTITY:
    case NASC_CELL_AVG3:
    case NASC_CELL_MAX3:
        return NASC_OK;
    case NASC_CELL_RCB:
        NASC_TRY(conv(op, ps, prefix, cin, cout, k, stride, k / 2, 1, 1, err));
        return bn(&op->bn[0], ps, prefix, 0, cout, err);
    case NASC_CELL_SEP:
        NASC_TRY(conv(op, ps, prefix, cin, cin, k, stride, k / 2, 1, cin, err));
        NASC_TRY(conv(op, ps, prefix, cin, cin, 1, 1, 0, 1, 1, err));
        NASC_TRY(bn(&op->bn[0], ps, prefix, 0, cin, err));
        NASC_TRY(conv(op, ps, prefix, cin, cin, k, 1, k / 2, 1, cin, err));
        NASC_TRY(conv(op, ps, prefix, cin, cout, 1, 1, 0, 1, 1, err));
        return bn(&op->bn[1], ps, prefix, 1, cout, err);
    case NASC_CELL_DIL:
        NASC_TRY(conv(op, ps, prefix, cin, cin, k, stride, k - 1, 2, cin, err));
        NASC_TRY(conv(op, ps, prefix, cin, cout, 1, 1, 0, 1, 1, err));
        return bn(&op->bn[0], ps, prefix, 0, cout, err);
    case NASC_CELL_FR:
        if (cout % 2)
            return nasc_errorf(err, NASC_ERR_ARG,
                               "%s: factorized reduce needs an even channel count (%d)", prefix,
                               cout);
        NASC_TRY(conv(op, ps, prefix, cin, cout / 2, 1, 2, 0, 1, 1, err));
        NASC_TRY(conv(op, ps, prefix, cin, cout / 2, 1, 2, 0, 1, 1, err));
        return bn(&op->bn[0], ps, prefix, 0, cout, err);
    default:
        return nasc_errorf(err, NASC_ERR_INTERNAL, "%s: unknown op kind %d", prefix, (int)kind);
    }
}

nasc_tensor *nasc_sp_op_forward(nasc_graph *g, const sp_op *op, nasc_tensor *x) {
    nasc_tensor *relu_x = NULL;
    return nasc_sp_op_forward_shared(g, op, x, &relu_x);
}

static nasc_tensor *relu_of(nasc_graph *g, nasc_tensor *x, nasc_tensor **relu_x) {
    if (!*relu_x)
        *relu_x = nasc_relu(g, x);
    return *relu_x;
}

nasc_tensor *nasc_sp_op_forward_shared(nasc_graph *g, const sp_op *op, nasc_tensor *x,
                                       nasc_tensor **relu_x) {
    if (!x)
        return NULL;
    const int s = op->stride;
    switch (op->kind) {
    case NASC_CELL_ZERO:
        if (s > 1)
            x = nasc_slice(g, x, &(nasc_slice_params){0, x->ne[1], 0, 0, s, s});
        return nasc_scale(g, x, 0.0f);
    case NASC_CELL_IDENTITY:
        return x;
    case NASC_CELL_AVG3:
        return nasc_avgpool2d(g, x, &(nasc_pool2d_params){.k = {3, 3}, .stride = {s, s},
                                                          .pad = {1, 1},
                                                          .count_include_pad = false});
    case NASC_CELL_MAX3:
        return nasc_maxpool2d(g, x, &(nasc_pool2d_params){.k = {3, 3}, .stride = {s, s},
                                                          .pad = {1, 1}});
    case NASC_CELL_RCB: {
        nasc_tensor *h = nasc_conv_forward(g, &op->conv[0], relu_of(g, x, relu_x));
        return nasc_bn_forward(g, &op->bn[0], h);
    }
    case NASC_CELL_SEP: {
        nasc_tensor *h = relu_of(g, x, relu_x);
        h = nasc_conv_forward(g, &op->conv[1], nasc_conv_forward(g, &op->conv[0], h));
        h = nasc_bn_relu_forward(g, &op->bn[0], h); /* BN -> ReLU fused (training) */
        h = nasc_conv_forward(g, &op->conv[3], nasc_conv_forward(g, &op->conv[2], h));
        return nasc_bn_forward(g, &op->bn[1], h);
    }
    case NASC_CELL_DIL: {
        nasc_tensor *h = relu_of(g, x, relu_x);
        h = nasc_conv_forward(g, &op->conv[1], nasc_conv_forward(g, &op->conv[0], h));
        return nasc_bn_forward(g, &op->bn[0], h);
    }
    case NASC_CELL_FR: {
        nasc_tensor *r = relu_of(g, x, relu_x);
        if (!r)
            return NULL;
        /* x[:, :, 1:, 1:] with the second 1x1 conv's stride 2 */
        nasc_tensor *shifted = nasc_slice(g, r, &(nasc_slice_params){0, r->ne[1], 1, 1, 1, 1});
        nasc_tensor *parts[2] = {nasc_conv_forward(g, &op->conv[0], r),
                                 nasc_conv_forward(g, &op->conv[1], shifted)};
        if (!parts[0] || !parts[1])
            return NULL;
        return nasc_bn_forward(g, &op->bn[0], nasc_concat(g, 2, parts));
    }
    default:
        nasc_graph_errorf(g, NASC_ERR_INTERNAL, "cell op: unknown kind %d", (int)op->kind);
        return NULL;
    }
}
