/*
 * autograd.h — the graph: eager execution, recorded nodes, reverse-mode gradients.
 *
 * Ops run eagerly: nasc_conv2d(g, ...) computes its output at once (on the graph's backend) and,
 * when gradients are enabled and an input requires one, records itself as a node. The nodes form
 * a list in creation order, which is a topological order; nasc_backward walks it in reverse and
 * calls each node's backward, which accumulates (+=) into its inputs' gradients. There is no
 * recursion and no dynamic scheduling, so the same program gives the same gradients bit for bit.
 *
 * Memory: every node, activation, gradient and saved buffer lives in the graph's step arena and is
 * invalid after nasc_graph_reset. Parameters live elsewhere (nn.h) and only receive gradients.
 *
 * Errors: an op given bad shapes returns NULL and records the error on the graph; later ops on a
 * graph in error return NULL at once, so a model is built without checking every line and
 * checked once with nasc_graph_status.
 *
 *     nasc_graph *g = nasc_graph_new(be, 64 << 20, &err);
 *     for (step = 0; ; step++) {
 *         nasc_graph_reset(g);
 *         nasc_graph_set_rng(g, seed, step);
 *         nasc_tensor *x = nasc_input(g, B, 1, 28, 28, images);
 *         nasc_tensor *logits = model_forward(g, x);           // ops from ops.h
 *         nasc_tensor *loss = nasc_cross_entropy(g, logits, labels, 0.0f);
 *         if (nasc_graph_status(g) != NASC_OK) { puts(nasc_graph_errmsg(g)); break; }
 *         nasc_backward(g, loss);                               // param->grad += dloss/dparam
 *         optimizer_step(...);
 *     }
 */
#ifndef NASC_AUTOGRAD_H
#define NASC_AUTOGRAD_H

#include "nasc/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nasc_graph nasc_graph;
typedef struct nasc_backend nasc_backend;
typedef struct nasc_arena nasc_arena;

/* New graph running its ops on backend be (not owned; must outlive the graph), with a step arena
 * whose first chunk holds arena_bytes (it grows on demand until frozen). Training mode and
 * gradients are on. Returns NULL with err set on OOM. */
NASC_API nasc_graph *nasc_graph_new(nasc_backend *be, size_t arena_bytes, nasc_err *err);
NASC_API void nasc_graph_free(nasc_graph *g);

/* Drops every node and tensor of the step and clears the error. Mode flags and seed are kept. */
NASC_API void nasc_graph_reset(nasc_graph *g);

/* OK, or the first error any op recorded since the last reset; the message names op and shapes. */
NASC_API nasc_status nasc_graph_status(const nasc_graph *g);
NASC_API const char *nasc_graph_errmsg(const nasc_graph *g);
NASC_API const nasc_err *nasc_graph_err(const nasc_graph *g);
/* Records an error on the graph (first one wins) and returns code; for code that builds models. */
NASC_API nasc_status nasc_graph_errorf(nasc_graph *g, nasc_status code, const char *fmt, ...)
    NASC_PRINTF(3, 4);

/* Training mode (batch norm uses batch statistics, dropout is active) or inference mode. */
NASC_API void nasc_graph_set_training(nasc_graph *g, bool training);
NASC_API bool nasc_graph_training(const nasc_graph *g);
/* With gradients off, ops record no nodes and save nothing (evaluation). */
NASC_API void nasc_graph_set_grad(nasc_graph *g, bool enabled);
NASC_API bool nasc_graph_grad_enabled(const nasc_graph *g);
/* Activation reuse in inference: with it on and gradients off, a pass (from one reset to the
 * next) gives each activation's buffer to a later tensor once the last op that read it has run,
 * so memory follows the live activations instead of the whole network (a DARTS network at batch
 * 64: see docs/EXPORT.md). Which op reads a tensor last is learnt from the pass before, so a
 * pass teaches the next one (the batch size may differ). A pass stops releasing at its first
 * tensor that differs from the plan's (another model, another code path); should one of its ops
 * then read a buffer already released, that op fails with NASC_ERR_INTERNAL rather than compute
 * a wrong value. Values are bit-identical with reuse off. The caller may
 * read the last tensor of a pass and the inputs of its op (logits beside the loss), and no
 * other tensor once the ops that read it have run. Off by default; turning it on or off forgets
 * the plan. */
NASC_API void nasc_graph_set_reuse(nasc_graph *g, bool on);
/* Seed and step that key the masks of dropout and drop-path (see rng.h). */
NASC_API void nasc_graph_set_rng(nasc_graph *g, uint64_t seed, uint64_t step);
/* Data-parallel training: the graph's batch is the images [first, first + n) of a larger global
 * batch, so sample i draws the dropout and drop-path masks of global sample first + i (0, the
 * default, for a whole batch). */
NASC_API void nasc_graph_set_batch_first(nasc_graph *g, int64_t first);

NASC_API nasc_backend *nasc_graph_backend(const nasc_graph *g);
NASC_API nasc_arena *nasc_graph_arena(const nasc_graph *g);

/* A new leaf tensor (N, C, H, W) in the step arena; its data is copied from data_nhwc (NHWC order)
 * or left uninitialised if data_nhwc is NULL. Returns NULL with the graph error set on OOM. */
NASC_API nasc_tensor *nasc_input(nasc_graph *g, int n, int c, int h, int w, const float *data_nhwc);
/* Marks a leaf as requiring a gradient (e.g. an input whose gradient a test wants). */
NASC_API void nasc_tensor_set_requires_grad(nasc_tensor *t, bool on);

/* Allocates `bytes` from the step arena; NULL with the graph error set on OOM. For kernels' saved
 * buffers and temporaries that live until the next reset. */
NASC_API void *nasc_graph_alloc(nasc_graph *g, size_t bytes);

/* Back-propagates from `loss`, which must have one element: its gradient is set to 1 and every
 * recorded node is visited once in reverse creation order. Gradients accumulate into parameters
 * (param->grad +=) and into leaves marked requires_grad. Returns a status, also recorded on g. */
NASC_API nasc_status nasc_backward(nasc_graph *g, nasc_tensor *loss);

/* Gradient memory. By default every gradient lives in the step arena until the next reset, so
 * a step holds a gradient buffer for every activation. With release on, nasc_backward takes the
 * gradients of recorded nodes (not of leaves: inputs and parameters) from a pool owned by the
 * graph and gives each one back as soon as that node's backward has run: its consumers have all
 * run before it, so nothing reads it again. Peak gradient memory then follows the frontier of the
 * backward pass (for a supernet, about one cell) instead of the whole network. After backward
 * returns, node->grad is NULL for every recorded node; leaves keep theirs. Pool blocks are reused
 * by size across steps (no allocation in the steady state; a frozen step arena also freezes the
 * pool) and freed with the graph. */
NASC_API void nasc_graph_set_release_grads(nasc_graph *g, bool on);
/* Bytes of pooled gradients handed out now, and the most at once since the last call with
 * reset_peak (or since the graph was made); either pointer may be NULL. */
NASC_API void nasc_graph_grad_bytes(nasc_graph *g, size_t *out_live, size_t *out_peak,
                                    bool reset_peak);

/* Number of nodes recorded since the last reset (for tests and statistics). */
NASC_API int nasc_graph_n_nodes(const nasc_graph *g);
/* The last recorded node; follow node->prev to visit every recorded node in reverse creation
 * order (for cost models: FLOPs, activation memory). NULL if none. */
NASC_API nasc_tensor *nasc_graph_last_node(const nasc_graph *g);

#ifdef __cplusplus
}
#endif
#endif /* NASC_AUTOGRAD_H */
