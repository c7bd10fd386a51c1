/* engine_int.h — internals shared by the engine's files (graph, backward, ops). Never installed. */
#ifndef NASC_ENGINE_INT_H
#define NASC_ENGINE_INT_H

#include "nasc/arena.h"
#include "nasc/autograd.h"
#include "nasc/backend.h"
#include "nasc/ops.h"

/* A gradient buffer of the pool (see nasc_graph_set_release_grads). */
typedef struct nasc_grad_block {
    float *p;     /* nasc_malloc_aligned, owned by the graph */
    size_t bytes; /* capacity (64-byte multiple) */
    bool used;    /* handed out to a node's grad */
} nasc_grad_block;

struct nasc_graph {
    nasc_backend *be;    /* runs the kernels; not owned */
    nasc_arena *arena;   /* step arena: nodes, activations, grads, saved buffers */
    nasc_err err;        /* first error since the last reset */
    nasc_tensor *last;   /* last recorded node (list linked by tensor->prev) */
    int n_tensors;       /* tensors created since the last reset (ids) */
    int n_nodes;         /* nodes recorded since the last reset */
    bool training;       /* batch norm / dropout mode */
    bool grad_enabled;   /* record nodes for backward */
    uint64_t seed, step; /* key of dropout masks */
    int64_t batch_first; /* the batch's first sample in the global batch (data-parallel) */
    uint32_t stoch_seq;  /* stochastic ops created since the last reset */
    /* gradient pool: node gradients when release_grads is on (leaves' stay in the arena) */
    bool release_grads;       /* give a node's gradient back once its backward has run */
    nasc_grad_block *blocks;  /* every block ever allocated, kept across steps */
    int n_blocks, cap_blocks;
    size_t grad_live, grad_peak; /* bytes handed out now / at most since the last peak reset */
};

/* True when an op may proceed: the graph holds no error and every listed non-optional input is
 * present. Inputs that are NULL because an earlier op failed produce no second message. */
NASC_INTERNAL bool nasc_engine_ok(nasc_graph *g, int n, nasc_tensor *const *xs);

/* A new tensor (n,c,h,w) with data in the step arena, not yet recorded. NULL on OOM (error set). */
NASC_INTERNAL nasc_tensor *nasc_engine_tensor(nasc_graph *g, int n, int c, int h, int w);

/* Creates the output node of `op` with shape (n,c,h,w) over n_src inputs (NULL entries allowed
 * for optional inputs), runs its forward on the graph's backend and, if gradients are enabled
 * and any input requires one, records it. Returns NULL with the graph error set on failure.
 * `saved` (may be NULL) is attached to the node before its forward runs (e.g. labels).
 * If data is non-NULL the output aliases it (views) instead of getting fresh storage. */
NASC_INTERNAL nasc_tensor *nasc_engine_apply(nasc_graph *g, enum nasc_op op, const int ne[4],
                                             int n_src, nasc_tensor *const *src,
                                             const nasc_op_params *params, void *saved,
                                             float *data);

/* The argument checks of batch norm, shared by nasc_batchnorm and nasc_batchnorm_inplace (which
 * passes no gamma and beta); `op` names the op in the messages. True if the node may be built,
 * else false with the error on g. Defined in ops/batchnorm.c. */
NASC_INTERNAL bool nasc_engine_bn_check(nasc_graph *g, const char *op, const nasc_tensor *x,
                                        const nasc_tensor *gamma, const nasc_tensor *beta,
                                        const nasc_tensor *running_mean,
                                        const nasc_tensor *running_var, const nasc_bn_params *p);

/* Message helper: "(N,C,H,W)" of t into a rotating static-free buffer owned by the caller. */
#define NASC_SHAPE(t, buf) nasc_tensor_shape_str((t), (buf), sizeof(buf))

#endif /* NASC_ENGINE_INT_H */
