/* ref.c — the reference backend: plain loops, one thread, no SIMD. Every other backend is tested
 * against it. Reductions accumulate in double so that ref is as close to exact as is cheap. */
#include "ref_int.h"

static const nasc_kernel_pair ref_table[] = {
    [NASC_OP_NONE] = {nasc_ref_leaf_fwd, nasc_ref_leaf_bwd},
    [NASC_OP_CONV2D] = {nasc_ref_conv2d_fwd, nasc_ref_conv2d_bwd},
    [NASC_OP_MAXPOOL2D] = {nasc_ref_maxpool2d_fwd, nasc_ref_maxpool2d_bwd},
    [NASC_OP_AVGPOOL2D] = {nasc_ref_avgpool2d_fwd, nasc_ref_avgpool2d_bwd},
    [NASC_OP_GLOBAL_AVGPOOL] = {nasc_ref_global_avgpool_fwd, nasc_ref_global_avgpool_bwd},
    [NASC_OP_BATCHNORM] = {nasc_ref_batchnorm_fwd, nasc_ref_batchnorm_bwd},
    [NASC_OP_RELU] = {nasc_ref_relu_fwd, nasc_ref_relu_bwd},
    [NASC_OP_SIGMOID] = {nasc_ref_sigmoid_fwd, nasc_ref_sigmoid_bwd},
    [NASC_OP_TANH] = {nasc_ref_tanh_fwd, nasc_ref_tanh_bwd},
    [NASC_OP_ADD] = {nasc_ref_add_fwd, nasc_ref_add_bwd},
    [NASC_OP_MUL] = {nasc_ref_mul_fwd, nasc_ref_mul_bwd},
    [NASC_OP_SCALE] = {nasc_ref_scale_fwd, nasc_ref_scale_bwd},
    [NASC_OP_CONCAT] = {nasc_ref_concat_fwd, nasc_ref_concat_bwd},
    [NASC_OP_SLICE] = {nasc_ref_slice_fwd, nasc_ref_slice_bwd},
    [NASC_OP_LINEAR] = {nasc_ref_linear_fwd, nasc_ref_linear_bwd},
    [NASC_OP_DROPOUT] = {nasc_ref_dropout_fwd, nasc_ref_dropout_bwd},
    [NASC_OP_DROP_PATH] = {nasc_ref_drop_path_fwd, nasc_ref_drop_path_bwd},
    [NASC_OP_SOFTMAX] = {nasc_ref_softmax_fwd, nasc_ref_softmax_bwd},
    [NASC_OP_LOG_SOFTMAX] = {nasc_ref_log_softmax_fwd, nasc_ref_log_softmax_bwd},
    [NASC_OP_CROSS_ENTROPY] = {nasc_ref_cross_entropy_fwd, nasc_ref_cross_entropy_bwd},
    [NASC_OP_SUM] = {nasc_ref_sum_fwd, nasc_ref_sum_bwd},
    [NASC_OP_MEAN] = {nasc_ref_mean_fwd, nasc_ref_mean_bwd},
    [NASC_OP_RESHAPE] = {nasc_ref_reshape_fwd, nasc_ref_reshape_bwd},
    [NASC_OP_WSUM] = {nasc_ref_wsum_fwd, nasc_ref_wsum_bwd},
    [NASC_OP_CHANNEL_SHUFFLE] = {nasc_ref_channel_shuffle_fwd, nasc_ref_channel_shuffle_bwd},
    [NASC_OP_BN_INPLACE] = {nasc_ref_bn_inplace_fwd, nasc_ref_bn_inplace_bwd},
    [NASC_OP_BN_RELU] = {nasc_ref_batchnorm_fwd, nasc_ref_batchnorm_bwd}, /* batchnorm.c */
};
_Static_assert(sizeof ref_table / sizeof ref_table[0] == NASC_OP_COUNT, "one ref row per op");

const nasc_kernel_pair *nasc_ref_kernels(void) { return ref_table; }

static bool ref_supports(const nasc_backend *be, const nasc_tensor *node) {
    (void)be;
    return (unsigned)node->op < (unsigned)NASC_OP_COUNT;
}

static nasc_status ref_forward(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    return ref_table[node->op].fwd(be, g, node);
}

static nasc_status ref_backward(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    nasc_backend_zero_fresh_grads(node); /* ref kernels only add */
    return ref_table[node->op].bwd(be, g, node);
}

static const nasc_backend_i ref_iface = {
    .name = "ref",
    .supports = ref_supports,
    .forward = ref_forward,
    .backward = ref_backward,
    .sync = NULL,
    .free = NULL,
};

static nasc_backend ref_backend = {.iface = &ref_iface, .n_threads = 1};

nasc_backend *nasc_backend_ref(void) { return &ref_backend; }

nasc_status nasc_ref_leaf_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)be;
    (void)g;
    (void)node;
    return NASC_OK;
}

nasc_status nasc_ref_leaf_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)be;
    (void)g;
    (void)node;
    return NASC_OK;
}
