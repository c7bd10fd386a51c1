/* ref_int.h — reference kernels, one pair per op. Layout NHWC (tensor.h). Never installed. */
#ifndef NASC_REF_INT_H
#define NASC_REF_INT_H

#include "../backend_int.h"

NASC_INTERNAL nasc_status nasc_ref_leaf_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_leaf_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_conv2d_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_conv2d_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_maxpool2d_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_maxpool2d_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_avgpool2d_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_avgpool2d_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_global_avgpool_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_global_avgpool_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_batchnorm_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_batchnorm_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_relu_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_relu_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_sigmoid_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_sigmoid_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_tanh_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_tanh_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_add_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_add_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_mul_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_mul_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_scale_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_scale_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_concat_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_concat_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_slice_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_slice_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_linear_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_linear_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_dropout_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_dropout_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_drop_path_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_drop_path_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_softmax_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_softmax_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_log_softmax_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_log_softmax_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_cross_entropy_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_cross_entropy_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_sum_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_sum_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_mean_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_mean_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_reshape_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_reshape_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_wsum_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_wsum_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_channel_shuffle_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_channel_shuffle_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_bn_inplace_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_INTERNAL nasc_status nasc_ref_bn_inplace_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node);

/* Batch norm's per-channel statistics (batchnorm.c), shared by the in-place op. */
NASC_INTERNAL void nasc_ref_bn_stats(const nasc_tensor *x, int c, const nasc_bn_params *p,
                                     nasc_tensor *rmean, nasc_tensor *rvar, double *out_mu,
                                     double *out_invstd);

/* Dropout mask: element i of the op is kept when this uniform is >= p (shared with cpu/). */
NASC_INTERNAL float nasc_drop_uniform(const nasc_drop_params *d, uint64_t i);

#endif /* NASC_REF_INT_H */
