/*
 * backend.h — where kernels run: a table of functions per backend (ggml's backend interface).
 *
 * Model code never calls a kernel: ops (ops.h) build a node and ask the graph's backend to run its
 * forward, and nasc_backward asks it to run each backward. A backend says which nodes it supports;
 * anything else runs on the reference backend ("ref": plain loops, one thread, no SIMD), which every
 * other backend is tested against. The CPU backend ("cpu") uses OpenBLAS, oneDNN where it measures
 * faster, AVX-512 kernels and OpenMP; a CUDA backend plugs in the same way.
 *
 * Work inside a kernel is split across threads by fixed (ith, nth) ranges computed from the shape,
 * and reductions run in a fixed order, so a backend with a given thread count is deterministic.
 *
 *     nasc_err err = {0};
 *     nasc_backend *be = nasc_backend_new("cpu", 2, &err);   // or "ref", "auto"
 *     nasc_graph *g = nasc_graph_new(be, 0, &err);
 *     ...
 *     nasc_graph_free(g);
 *     nasc_backend_free(be);
 */
#ifndef NASC_BACKEND_H
#define NASC_BACKEND_H

#include "nasc/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nasc_backend nasc_backend;
typedef struct nasc_graph nasc_graph;

typedef struct nasc_backend_i {
    const char *name;
    /* true if this backend runs node's forward and backward; otherwise ref does */
    bool (*supports)(const nasc_backend *be, const nasc_tensor *node);
    /* computes node->data from node->src (may save buffers for backward via nasc_graph_alloc) */
    nasc_status (*forward)(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
    /* adds node's contribution to src[i]->grad for every src whose grad is non-NULL; a src
     * flagged NASC_TENSOR_GRAD_FRESH holds garbage: the kernel stores its contribution (and
     * clears the flag), or calls nasc_backend_zero_fresh_grads(node) first */
    nasc_status (*backward)(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
    /* waits for queued work (no-op on CPU) */
    void (*sync)(nasc_backend *be);
    /* releases the backend's own state (ctx, scratch) */
    void (*free)(nasc_backend *be);
} nasc_backend_i;

struct nasc_backend {
    const nasc_backend_i *iface;
    int n_threads;          /* threads a kernel may use (>= 1) */
    void *ctx;              /* backend-private state */
    void *scratch;          /* workspace shared by kernels (im2col, packing), 64-byte aligned */
    size_t scratch_bytes;   /* its size */
    size_t scratch_grows;   /* times it was enlarged (a steady-state step must not enlarge it) */
    bool scratch_frozen;    /* if set, enlarging fails with NASC_ERR_NOMEM */
};

/* Zero-fills the gradient of every src of node flagged NASC_TENSOR_GRAD_FRESH and clears the
 * flag: for backward kernels that only add. */
NASC_API void nasc_backend_zero_fresh_grads(nasc_tensor *node);

/* The reference backend: shared, stateless, single-threaded; never freed. */
NASC_API nasc_backend *nasc_backend_ref(void);
/* New backend by name: "ref", "cpu" (threads >= 1), or "auto" (the fastest available here).
 * Returns NULL with err set for an unknown name. Free with nasc_backend_free. */
NASC_API nasc_backend *nasc_backend_new(const char *name, int n_threads, nasc_err *err);
/* Frees a backend made by nasc_backend_new; the shared ref backend and NULL are ignored. */
NASC_API void nasc_backend_free(nasc_backend *be);
NASC_API const char *nasc_backend_name(const nasc_backend *be);

/* A workspace of at least `bytes`, reused across calls and valid until the next call; grows (once
 * per new maximum) unless frozen. NULL with err set on failure. */
NASC_API void *nasc_backend_scratch(nasc_backend *be, size_t bytes, nasc_err *err);

/* Runs node's forward / backward on be, or on ref if be does not support it. Used by ops.c and
 * autograd; model code never needs them. */
NASC_API nasc_status nasc_backend_forward(nasc_backend *be, nasc_graph *g, nasc_tensor *node);
NASC_API nasc_status nasc_backend_backward(nasc_backend *be, nasc_graph *g, nasc_tensor *node);

/* Per-op profiling, off by default (bench/roofline). While a hook is set, every forward and
 * backward run through nasc_backend_forward / nasc_backend_backward is timed (wall clock around
 * the kernel, after the backend's sync) and reported to fn with the node, which pass
 * (backward: src grads hold the results) and the seconds; a failing kernel is not reported.
 * Process-wide: set or clear it while no graph runs. fn(NULL) turns it off; when off the cost
 * is one branch per kernel. */
typedef void (*nasc_backend_profile_fn)(void *ud, const nasc_tensor *node, bool backward,
                                        double seconds);
NASC_API void nasc_backend_set_profile(nasc_backend_profile_fn fn, void *ud);

#ifdef __cplusplus
}
#endif
#endif /* NASC_BACKEND_H */
