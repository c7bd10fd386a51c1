/*
 * supernet.h — weight-sharing supernets of the DARTS and NAS-Bench-201 cell spaces.
 *
 * A supernet holds every candidate of a cell space at once: each edge of a cell applies all of
 * the space's ops to its input and sums them, weighted. The weights come from outside, per
 * forward pass, as a plan (nasc_supernet_plan): softmax(alpha) for DARTS, a hard Gumbel sample
 * for GDAS, one path for SPOS / ENAS, binary gates for ProxylessNAS. So one supernet serves every
 * one-shot method (oneshot.h).
 *
 * Two parameter stores, never mixed: the network weights (convolutions, the stem's affine BN, the
 * classifier; search-time BN inside the ops has no affine parameters, as in the DARTS code) and
 * the architecture parameters: alpha (E, K) per cell type (E edges, K ops) and, with partial
 * channels, the edge-normalisation betas (1, E). Both are ordinary nasc_params, so optimizers,
 * clipping and checkpoints work on each separately.
 *
 * Structure (following the DARTS and NAS-Bench-201 search code):
 *   darts   stem Conv3x3(3C) + BN; L cells, reductions at L/3 and 2L/3; a cell preprocesses its
 *           inputs (ReLU-Conv1x1-BN, or FactorizedReduce after a reduction), then 4 nodes, node i
 *           summing mixed edges from all i+2 earlier states (14 edges); output: the 4 nodes
 *           concatenated; global pooling; linear. Ops (DARTS order): none, max_pool_3x3,
 *           avg_pool_3x3, skip_connect, sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, dil_conv_5x5;
 *           pools are followed by BN; skip on a stride-2 edge is FactorizedReduce.
 *           With partial channels K > 1 (PC-DARTS) an edge mixes its ops on the first C/K
 *           channels, concatenates the rest (max-pooled on reduction edges) and shuffles.
 *   nb201   stem Conv3x3(C) + BN; 3 stages of N cells (C, 2C, 4C) with ResNet blocks between;
 *           a cell has 4 nodes and 6 edges; ops none, skip_connect, nor_conv_1x1, nor_conv_3x3,
 *           avg_pool_3x3 (convs are ReLU-Conv-BN); one alpha shared by all cells.
 *
 * Memory is the point of this module (docs/ONESHOT.md): each node is ONE weighted_sum node over
 * every (edge, op) term that reaches it, `none` is never computed, the ReLU of a state is computed
 * once and shared by every conv op reading that state, and ReLUs whose input nobody needs again
 * run in place. nasc_supernet_memory predicts a step's memory before any training.
 *
 * Ownership: a supernet is a heap object (_new/_free) owning its two stores. Graph tensors in a
 * plan live in the caller's graph. Not thread-safe.
 *
 *     nasc_supernet *sn;
 *     nasc_supernet_new(space, &(nasc_supernet_config){.channels = 16, .cells = 8}, seed, &sn,
 *                       &err);
 *     nasc_supernet_plan plan;
 *     nasc_supernet_plan_softmax(sn, g, &plan);          // weights = softmax(alpha), all ops
 *     nasc_tensor *logits = nasc_supernet_forward(sn, g, x, &plan);
 *     nasc_tensor *loss = nasc_cross_entropy(g, logits, labels, 0.0f);
 *     nasc_backward(g, loss);       // grads into the weights and, if required, into alpha
 *     nasc_arch *best;
 *     nasc_supernet_derive(sn, NULL, &best, &err);       // the DARTS genotype of alpha
 */
#ifndef NASC_SUPERNET_H
#define NASC_SUPERNET_H

#include "nasc/space.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NASC_SUPERNET_MAX_EDGES 14 /* darts: 2+3+4+5 edges per cell */
#define NASC_SUPERNET_MAX_OPS 8    /* darts: 8 ops per edge */

typedef struct nasc_supernet nasc_supernet;

/* Zero fields mean the defaults in brackets. */
typedef struct nasc_supernet_config {
    int in_c, in_h, in_w; /* input shape [1x28x28] */
    int n_classes;        /* [10] */
    int channels;         /* initial channels C [16] */
    int cells;            /* darts: cells L [8]; nb201: cells per stage N [5] */
    int partial;          /* PC-DARTS: ops see C/partial channels; 1 = all [1] */
    bool edge_norm;       /* PC-DARTS edge normalisation (betas) [false] */
    bool bn_affine;       /* affine BN in the ops (the search code has none) [false] */
    bool smooth;          /* analysis only: tanh instead of ReLU and average instead of max
                           * pooling, so that the loss is smooth in alpha and the weights and
                           * finite differences of second-order quantities are meaningful
                           * (tests/grad/test_grad_darts2.c); never used by a search [false] */
} nasc_supernet_config;

/* New supernet of space ("darts" or "nb201") for cfg, weights initialised from seed as the
 * reference code does (PyTorch defaults), alpha = 1e-3 * N(0,1), betas likewise. ARG for another
 * space or a bad config (partial must divide C and be used with darts), SHAPE if the input is
 * too small for the reductions, NOMEM. */
NASC_API nasc_status nasc_supernet_new(const nasc_space *space, const nasc_supernet_config *cfg,
                                       uint64_t seed, nasc_supernet **out, nasc_err *err);
NASC_API void nasc_supernet_free(nasc_supernet *sn);

/* The resolved config (defaults filled in) and the space. */
NASC_API const nasc_supernet_config *nasc_supernet_get_config(const nasc_supernet *sn);
NASC_API const nasc_space *nasc_supernet_space(const nasc_supernet *sn);

/* The two parameter stores (owned by the supernet). */
NASC_API nasc_params *nasc_supernet_weights(const nasc_supernet *sn);
NASC_API nasc_params *nasc_supernet_arch_params(const nasc_supernet *sn);

/* Cell types (darts: 2, normal and reduce; nb201: 1), edges per cell E, ops per edge K. */
NASC_API int nasc_supernet_n_types(const nasc_supernet *sn);
NASC_API int nasc_supernet_n_edges(const nasc_supernet *sn);
NASC_API int nasc_supernet_n_ops(const nasc_supernet *sn);
/* Op k's name in the space ("sep_conv_3x3"); whether it has no parameters (none, pools, skip);
 * the index of `none`. */
NASC_API const char *nasc_supernet_op_name(const nasc_supernet *sn, int k);
NASC_API bool nasc_supernet_op_param_free(const nasc_supernet *sn, int k);
NASC_API int nasc_supernet_none_op(const nasc_supernet *sn);
/* Source node (0-based, 0 and 1 the cell inputs for darts) and destination node of edge e. */
NASC_API int nasc_supernet_edge_from(const nasc_supernet *sn, int e);
NASC_API int nasc_supernet_edge_to(const nasc_supernet *sn, int e);
/* Architecture parameters of cell type t: alpha (E,K,1,1); betas (1,E,1,1) or NULL. */
NASC_API nasc_tensor *nasc_supernet_alpha(const nasc_supernet *sn, int t);
NASC_API nasc_tensor *nasc_supernet_beta(const nasc_supernet *sn, int t);

/* ---- one forward pass ---- */

/* How a forward pass mixes each edge's ops. For cell type t and edge e, op k is computed iff bit
 * k of active[t][e] is set (bit `none` is ignored: none is never computed) and enters node sums
 * as weights[t][e*K + k] * op(x). Bit k of straight[t][e] adds the constant term
 * weights[t][e*K + k] (straight-through estimators, GDAS). An edge with no active op contributes
 * nothing. edge_weights[t] (1,E,1,1), with partial channels and edge_norm, scales edge e's mixed
 * output. Graph tensors belong to the caller's graph. */
typedef struct nasc_supernet_plan {
    nasc_tensor *weights[2];      /* (E,K,1,1) per cell type */
    nasc_tensor *edge_weights[2]; /* (1,E,1,1) or NULL */
    uint16_t active[2][NASC_SUPERNET_MAX_EDGES];
    uint16_t straight[2][NASC_SUPERNET_MAX_EDGES];
    bool bn_batch_stats_only;     /* BN uses batch statistics and leaves running ones alone
                                   * (scoring sub-networks); else as the graph's mode says */
    float bn_momentum;            /* > 0 (training mode): every BN updates its running
                                   * statistics with this momentum instead of its own (0.1);
                                   * 1/(k+1) on pass k averages them over passes 0..k
                                   * (recalibration, nasc_oneshot_recalibrate_bn) */
} nasc_supernet_plan;

/* A plan with weights softmax(alpha) over the K ops of each edge (requires grad when alpha
 * does), every op but none active, and, with edge_norm, betas softmaxed over each node's
 * incoming edges. Graph tensors in g. On failure the graph error is set (checked later). */
NASC_API void nasc_supernet_plan_softmax(nasc_supernet *sn, nasc_graph *g,
                                         nasc_supernet_plan *out);
/* A plan computing exactly the architecture a (a darts genotype or an nb201 cell) with weight 1
 * on its ops (a constant input tensor): one path through the supernet (SPOS, ENAS). */
NASC_API nasc_status nasc_supernet_plan_arch(nasc_supernet *sn, nasc_graph *g, const nasc_arch *a,
                                             nasc_supernet_plan *out, nasc_err *err);

/* Logits (N, classes, 1, 1) of x (N, C, H, W) under plan; NULL with the graph error set. */
NASC_API nasc_tensor *nasc_supernet_forward(nasc_supernet *sn, nasc_graph *g, nasc_tensor *x,
                                            const nasc_supernet_plan *plan);

/* ---- deriving an architecture ---- */

/* The discrete architecture of op weights w (per cell type, E*K floats; NULL: softmax(alpha)) and
 * edge weights ew (per type, E floats, may be NULL; NULL with edge_norm: the normalised betas):
 *   darts  each node keeps its 2 incoming edges of largest max-over-ops weight (none excluded,
 *          multiplied by the edge weight), each with its best op other than none (DARTS paper);
 *   nb201  each edge takes its arg-max op (none included), as NAS-Bench-201's DARTS does.
 * Ties go to the lower index. *out is a new arch of the supernet's space. */
NASC_API nasc_status nasc_supernet_derive(const nasc_supernet *sn, const float *const *w,
                                          const float *const *ew, nasc_arch **out, nasc_err *err);
/* Current softmax(alpha) of cell type t into out[E*K] (and normalised betas into ew_out[E] if
 * not NULL; 1s without edge_norm). */
NASC_API void nasc_supernet_probs(const nasc_supernet *sn, int t, float *out, float *ew_out);

/* ---- memory ---- */

/* Bytes one training step needs at batch `batch`, predicted before training by running the step
 * at batch 1 and 2 (activations, gradients and workspaces grow linearly with the batch):
 * the parameter stores (weights, grads, optimizer state of `optim_floats_per_weight` floats per
 * weight, the same for alpha), step arena high water, gradient pool peak and kernel workspace. */
typedef struct nasc_supernet_memory {
    size_t params_bytes;     /* weights + grads + optimizer state, both stores */
    size_t activation_bytes; /* step arena at the predicted peak */
    size_t grad_bytes;       /* activation gradients at their peak */
    size_t scratch_bytes;    /* backend workspace */
    size_t total_bytes;      /* the sum */
    size_t per_image_bytes;  /* the slope: bytes per extra image */
} nasc_supernet_memory;

/* Predicts the memory of a training step (forward + backward through weights and alpha) on
 * backend be at `batch`. Runs two small steps on a private graph; the supernet's weights, BN
 * statistics and gradients are restored afterwards. */
NASC_API nasc_status nasc_supernet_memory_predict(nasc_supernet *sn, nasc_backend *be, int batch,
                                                  int optim_floats_per_weight,
                                                  nasc_supernet_memory *out, nasc_err *err);

#ifdef __cplusplus
}
#endif
#endif /* NASC_SUPERNET_H */
