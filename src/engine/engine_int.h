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

/* One tensor of the running pass, for activation reuse (reuse.c). */
typedef struct nasc_reuse_ent {
    int pos;       /* its record in nasc_reuse.sig */
    int owner;     /* id of the tensor whose buffer holds its data (itself unless a view) */
    size_t bytes;  /* capacity of its buffer (0 for a view) */
    float *data;   /* that buffer */
    bool released; /* on the free list: nothing may read it again */
} nasc_reuse_ent;

/* Activation reuse in no-grad passes (nasc_graph_set_reuse; reuse.c). Arrays are nasc_malloc'd,
 * owned here and kept across passes. */
typedef struct nasc_reuse {
    bool on;         /* nasc_graph_set_reuse */
    bool rec_ok;     /* the running pass is being recorded (no-grad, every tensor seen) */
    bool following;  /* the running pass matches the plan so far: releases go on */
    size_t last_cap; /* capacity of the buffer nasc_engine_tensor gave out last */
    /* the running pass: a record per tensor id, and their signatures (op, view, n_src, src ids) */
    nasc_reuse_ent *ent;
    int *sig;
    int n, sig_len, cap_ent, cap_sig;
    /* the plan, from the pass before: its signatures, and the owners to release after each op */
    int *plan, *plan_pos, *last, *rel_start, *rel;
    int plan_n, cap_plan, cap_plan_pos, cap_last, cap_rel_start, cap_rel;
    /* released buffers of the running pass, taken smallest-fit by later tensors */
    float **free_p;
    size_t *free_bytes;
    int n_free, cap_free;
} nasc_reuse;

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
    nasc_reuse reuse;            /* activation reuse in no-grad passes (reuse.c) */
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

/* Activation reuse (reuse.c). nasc_reuse_reset starts a pass (called by nasc_graph_reset before
 * the error is cleared: a pass that failed teaches no plan); nasc_reuse_take gives a released
 * buffer of at least `bytes` (*cap its capacity) or NULL; nasc_reuse_check_inputs is false, with
 * the graph error set, when t would read a released buffer; nasc_reuse_done records tensor t
 * (cap: its buffer's capacity, 0 for a view) once its op has run and releases the buffers whose
 * last reader it was. */
NASC_INTERNAL void nasc_reuse_reset(nasc_graph *g);
NASC_INTERNAL void nasc_reuse_free(nasc_reuse *r);
NASC_INTERNAL float *nasc_reuse_take(nasc_graph *g, size_t bytes, size_t *cap);
NASC_INTERNAL bool nasc_reuse_check_inputs(nasc_graph *g, const nasc_tensor *t);
NASC_INTERNAL void nasc_reuse_done(nasc_graph *g, nasc_tensor *t, size_t cap);

/* Message helper: "(N,C,H,W)" of t into a rotating static-free buffer owned by the caller. */
#define NASC_SHAPE(t, buf) nasc_tensor_shape_str((t), (buf), sizeof(buf))

#endif /* NASC_ENGINE_INT_H */
