/*
 * ops.h — the differentiable ops. Each takes the graph first, runs at once, returns a new tensor
 * in the step arena (invalid after nasc_graph_reset) and, when gradients are on, records itself.
 *
 * On bad input (shapes that do not fit, bad params) an op returns NULL and records a message on the
 * graph naming the op and both shapes, e.g.
 *   conv2d: input (8,3,32,32) vs weight (16,4,3,3): C=3 != groups*Cin_per_group=4
 * Any op given a NULL input, or called on a graph already in error, returns NULL without a new
 * message, so a whole model can be built and checked once (nasc_graph_status).
 *
 * Layout and shape letters: see tensor.h. Optional inputs may be NULL (noted per op).
 *
 *     nasc_conv2d_params cp = {.stride = {1, 1}, .pad = {1, 1}, .dil = {1, 1}, .groups = 1};
 *     nasc_tensor *h = nasc_conv2d(g, x, w, NULL, &cp);
 *     h = nasc_batchnorm(g, h, gamma, beta, rmean, rvar, &(nasc_bn_params){1e-5f, 0.1f});
 *     h = nasc_relu(g, h);
 *     h = nasc_global_avgpool(g, h);                          // (N,K,1,1)
 *     nasc_tensor *logits = nasc_linear(g, h, fc_w, fc_b);    // (N,classes,1,1)
 *     nasc_tensor *loss = nasc_cross_entropy(g, logits, labels, 0.1f);
 */
#ifndef NASC_OPS_H
#define NASC_OPS_H

#include "nasc/autograd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* x (N,C,H,W), w (K,C/G,KH,KW), b (1,K,1,1) or NULL -> (N,K,OH,OW). */
NASC_API nasc_tensor *nasc_conv2d(nasc_graph *g, nasc_tensor *x, nasc_tensor *w, nasc_tensor *b,
                                  const nasc_conv2d_params *p);

/* Max pooling (padding never wins) and average pooling -> (N,C,OH,OW). */
NASC_API nasc_tensor *nasc_maxpool2d(nasc_graph *g, nasc_tensor *x, const nasc_pool2d_params *p);
NASC_API nasc_tensor *nasc_avgpool2d(nasc_graph *g, nasc_tensor *x, const nasc_pool2d_params *p);
/* Mean over H and W -> (N,C,1,1). */
NASC_API nasc_tensor *nasc_global_avgpool(nasc_graph *g, nasc_tensor *x);

/* Batch norm of x (N,C,H,W) per channel. gamma, beta (1,C,1,1): both or neither (affine off).
 * running_mean, running_var (1,C,1,1): both or neither; required in inference mode. The mode
 * (training / inference) is the graph's. Running stats are updated in training mode. */
NASC_API nasc_tensor *nasc_batchnorm(nasc_graph *g, nasc_tensor *x, nasc_tensor *gamma,
                                     nasc_tensor *beta, nasc_tensor *running_mean,
                                     nasc_tensor *running_var, const nasc_bn_params *p);

/* relu(batchnorm(x)) with nasc_batchnorm's arguments. In training mode one node (NASC_OP_BN_RELU)
 * that writes the ReLU's output in BN's output pass and applies the ReLU's mask to dy inside BN's
 * backward passes: no BN output tensor and no ReLU passes over memory. Values and gradients equal
 * those of the two ops up to float rounding. In inference mode it builds the two nodes (exports
 * and graph walkers see a plain BN and ReLU there). */
NASC_API nasc_tensor *nasc_batchnorm_relu(nasc_graph *g, nasc_tensor *x, nasc_tensor *gamma,
                                          nasc_tensor *beta, nasc_tensor *running_mean,
                                          nasc_tensor *running_var, const nasc_bn_params *p);

NASC_API nasc_tensor *nasc_relu(nasc_graph *g, nasc_tensor *x);
NASC_API nasc_tensor *nasc_sigmoid(nasc_graph *g, nasc_tensor *x);
NASC_API nasc_tensor *nasc_tanh(nasc_graph *g, nasc_tensor *x);

/* a + b and a * b, where every dim of b equals a's or is 1 (broadcast). Result has a's shape. */
NASC_API nasc_tensor *nasc_add(nasc_graph *g, nasc_tensor *a, nasc_tensor *b);
NASC_API nasc_tensor *nasc_mul(nasc_graph *g, nasc_tensor *a, nasc_tensor *b);
/* s * x for a constant s. */
NASC_API nasc_tensor *nasc_scale(nasc_graph *g, nasc_tensor *x, float s);

/* Concatenation of n >= 1 tensors along C; N, H, W must agree. */
NASC_API nasc_tensor *nasc_concat(nasc_graph *g, int n, nasc_tensor *const *xs);
/* Channel range and strided spatial window (see nasc_slice_params). */
NASC_API nasc_tensor *nasc_slice(nasc_graph *g, nasc_tensor *x, const nasc_slice_params *p);

/* x (N,F) — or any (N,C,H,W), read as (N, C*H*W) in storage (HWC) order — times w (K,F)^T plus
 * b (1,K,1,1) or NULL -> (N,K,1,1). */
NASC_API nasc_tensor *nasc_linear(nasc_graph *g, nasc_tensor *x, nasc_tensor *w, nasc_tensor *b);

/* Element-wise dropout with probability p in [0,1); identity in inference mode or when p == 0. */
NASC_API nasc_tensor *nasc_dropout(nasc_graph *g, nasc_tensor *x, float p);
/* Drop-path (stochastic depth): each sample kept with probability 1-p and scaled by 1/(1-p);
 * identity in inference mode or when p == 0. */
NASC_API nasc_tensor *nasc_drop_path(nasc_graph *g, nasc_tensor *x, float p);

/* Softmax and log-softmax over C, at every (n, h, w). */
NASC_API nasc_tensor *nasc_softmax(nasc_graph *g, nasc_tensor *x);
NASC_API nasc_tensor *nasc_log_softmax(nasc_graph *g, nasc_tensor *x);
/* Mean over the batch of the cross entropy of logits (N,K,1,1) with labels[N] in [0,K) and label
 * smoothing s in [0,1) -> (1,1,1,1). Labels are copied. A label out of range is an ARG error. */
NASC_API nasc_tensor *nasc_cross_entropy(nasc_graph *g, nasc_tensor *logits,
                                         const int32_t *labels, float smoothing);
/* Correct predictions of computed logits (N,K,1,1) against labels[N]: the rows whose largest
 * logit (the first of equal ones) is at the label. Reads logits->data; records no node. */
NASC_API int nasc_count_correct(const nasc_tensor *logits, const int32_t *labels);

/* Sum and mean of all elements -> (1,1,1,1). */
NASC_API nasc_tensor *nasc_sum(nasc_graph *g, nasc_tensor *x);
NASC_API nasc_tensor *nasc_mean(nasc_graph *g, nasc_tensor *x);

/* Same data seen as (n,c,h,w); the element count must match. Storage order is unchanged, so
 * (N,C,H,W) -> (N,C*H*W,1,1) flattens in H,W,C order. */
NASC_API nasc_tensor *nasc_reshape(nasc_graph *g, nasc_tensor *x, int n, int c, int h, int w);

/* Weighted sum out = sum_i w[w_index[i]] * xs[i] over n >= 1 terms (nasc_wsum_params): the mixed
 * operation of a supernet in one node, so an edge stores one output instead of 2n temporaries.
 * xs[i] may be NULL (the constant 1: the term adds w[w_index[i]] everywhere); the others must
 * share one shape, the output's. Gradients reach every x_i (w*dout) and w (<dout, x_i>).
 * w_index is copied. */
NASC_API nasc_tensor *nasc_weighted_sum(nasc_graph *g, nasc_tensor *w, int n,
                                        nasc_tensor *const *xs, const int *w_index);
/* ReLU computed in place: the result overwrites x's data and is returned as a new node aliasing
 * it. Only valid when nothing needs x's values afterwards: every later consumer of x must read
 * the returned tensor instead, and x's producer's backward must not read its own output (true
 * for conv2d, batchnorm, concat, weighted_sum, pooling; not for relu, sigmoid, tanh, softmax).
 * ReLU's backward reads only its output, so gradients equal those of nasc_relu. */
NASC_API nasc_tensor *nasc_relu_inplace(nasc_graph *g, nasc_tensor *x);
/* Batch norm without affine parameters computed in place: y = (x - mean) * invstd overwrites x's
 * data and is returned as a new node aliasing it; backward uses y instead of x,
 *   training:  dx = invstd * (dy - mean(dy) - y * mean(dy * y)),   inference: dx = invstd * dy,
 * so x need not be kept: a supernet's conv and pool outputs, read only by their BN, cost no
 * memory of their own. Same validity rule as nasc_relu_inplace (x's producer must not need its
 * output: conv2d, pooling, concat do not). Running statistics as nasc_batchnorm. */
NASC_API nasc_tensor *nasc_batchnorm_inplace(nasc_graph *g, nasc_tensor *x,
                                             nasc_tensor *running_mean, nasc_tensor *running_var,
                                             const nasc_bn_params *p);
/* Channel shuffle with `groups` groups (nasc_shuffle_params); C must be divisible by groups. */
NASC_API nasc_tensor *nasc_channel_shuffle(nasc_graph *g, nasc_tensor *x, int groups);

#ifdef __cplusplus
}
#endif
#endif /* NASC_OPS_H */
