/* graph.c — graph lifecycle, node recording and reverse-mode backward. */
#include "engine_int.h"
#include "nasc/limits.h"

#include <stdio.h>
#include <string.h>

nasc_graph *nasc_graph_new(nasc_backend *be, size_t arena_bytes, nasc_err *err) {
    if (!be) {
        nasc_errorf(err, NASC_ERR_ARG, "graph: no backend given");
        return NULL;
    }
    nasc_graph *g = nasc_calloc(1, sizeof *g);
    if (!g) {
        nasc_errorf(err, NASC_ERR_NOMEM, "graph: out of memory");
        return NULL;
    }
    g->arena = nasc_arena_new("step", arena_bytes);
    if (!g->arena) {
        nasc_free(g);
        nasc_errorf(err, NASC_ERR_NOMEM, "graph: out of memory for a %zu-byte step arena",
                    arena_bytes);
        return NULL;
    }
    g->be = be;
    g->training = true;
    g->grad_enabled = true;
    nasc_err_clear(&g->err);
    return g;
}

void nasc_graph_free(nasc_graph *g) {
    if (!g)
        return;
    for (int i = 0; i < g->n_blocks; i++)
        nasc_free_aligned(g->blocks[i].p);
    nasc_free(g->blocks);
    nasc_reuse_free(&g->reuse);
    nasc_arena_free(g->arena);
    nasc_free(g);
}

void nasc_graph_reset(nasc_graph *g) {
    nasc_reuse_reset(g); /* before the error is cleared: a failed pass teaches no plan */
    nasc_arena_reset(g->arena);
    nasc_err_clear(&g->err);
    g->last = NULL;
    g->n_tensors = 0;
    g->n_nodes = 0;
    g->stoch_seq = 0;
    /* a backward that stopped early leaves blocks handed out */
    for (int i = 0; i < g->n_blocks; i++)
        g->blocks[i].used = false;
    g->grad_live = 0;
}

void nasc_graph_set_release_grads(nasc_graph *g, bool on) { g->release_grads = on; }

void nasc_graph_grad_bytes(nasc_graph *g, size_t *out_live, size_t *out_peak, bool reset_peak) {
    if (out_live)
        *out_live = g->grad_live;
    if (out_peak)
        *out_peak = g->grad_peak;
    if (reset_peak)
        g->grad_peak = g->grad_live;
}

/* A gradient buffer of `bytes` from the pool, not zeroed (the caller flags its tensor
 * NASC_TENSOR_GRAD_FRESH): the smallest free block that fits (blocks of one step's sizes recur
 * every step, so after the first step every request finds one), else a new block unless the step
 * arena is frozen. NULL with the graph error set. */
static float *grad_acquire(nasc_graph *g, size_t bytes) {
    bytes = (bytes + 63) & ~(size_t)63;
    int best = -1;
    for (int i = 0; i < g->n_blocks; i++) {
        const nasc_grad_block *b = &g->blocks[i];
        if (!b->used && b->bytes >= bytes && (best < 0 || b->bytes < g->blocks[best].bytes))
            best = i;
    }
    if (best < 0) {
        if (nasc_arena_frozen(g->arena)) {
            nasc_graph_errorf(g, NASC_ERR_NOMEM,
                              "backward: gradient pool is frozen and has no free block of %zu "
                              "bytes (%zu bytes handed out)",
                              bytes, g->grad_live);
            return NULL;
        }
        if (g->n_blocks == g->cap_blocks) {
            int cap = g->cap_blocks ? 2 * g->cap_blocks : 64;
            nasc_grad_block *nb = nasc_realloc(g->blocks, (size_t)cap * sizeof *nb);
            if (!nb) {
                nasc_graph_errorf(g, NASC_ERR_NOMEM, "backward: out of memory for the gradient pool");
                return NULL;
            }
            g->blocks = nb;
            g->cap_blocks = cap;
        }
        float *p = nasc_malloc_aligned(bytes);
        if (!p) {
            nasc_graph_errorf(g, NASC_ERR_NOMEM,
                              "backward: out of memory for a %zu-byte gradient (%zu bytes of "
                              "gradients live)",
                              bytes, g->grad_live);
            return NULL;
        }
        g->blocks[g->n_blocks] = (nasc_grad_block){.p = p, .bytes = bytes};
        best = g->n_blocks++;
    }
    nasc_grad_block *b = &g->blocks[best];
    b->used = true;
    g->grad_live += b->bytes;
    if (g->grad_live > g->grad_peak)
        g->grad_peak = g->grad_live;
    return b->p;
}

static void grad_release(nasc_graph *g, float *p) {
    for (int i = 0; i < g->n_blocks; i++) {
        if (g->blocks[i].p == p) {
            NASC_ASSERT(g->blocks[i].used);
            g->blocks[i].used = false;
            g->grad_live -= g->blocks[i].bytes;
            return;
        }
    }
    /* not from the pool (a gradient the caller set up before backward): leave it */
}

nasc_status nasc_graph_status(const nasc_graph *g) { return g->err.code; }
const char *nasc_graph_errmsg(const nasc_graph *g) { return g->err.msg; }
const nasc_err *nasc_graph_err(const nasc_graph *g) { return &g->err; }

nasc_status nasc_graph_errorf(nasc_graph *g, nasc_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    nasc_verrorf(&g->err, code, fmt, ap);
    va_end(ap);
    return code;
}

void nasc_graph_set_training(nasc_graph *g, bool training) { g->training = training; }
bool nasc_graph_training(const nasc_graph *g) { return g->training; }
void nasc_graph_set_grad(nasc_graph *g, bool enabled) { g->grad_enabled = enabled; }
bool nasc_graph_grad_enabled(const nasc_graph *g) { return g->grad_enabled; }
void nasc_graph_set_rng(nasc_graph *g, uint64_t seed, uint64_t step) {
    g->seed = seed;
    g->step = step;
}
void nasc_graph_set_batch_first(nasc_graph *g, int64_t first) { g->batch_first = first; }
nasc_backend *nasc_graph_backend(const nasc_graph *g) { return g->be; }
nasc_arena *nasc_graph_arena(const nasc_graph *g) { return g->arena; }
int nasc_graph_n_nodes(const nasc_graph *g) { return g->n_nodes; }
nasc_tensor *nasc_graph_last_node(const nasc_graph *g) { return g->last; }

void *nasc_graph_alloc(nasc_graph *g, size_t bytes) {
    return nasc_arena_alloc(g->arena, bytes, &g->err);
}

bool nasc_engine_ok(nasc_graph *g, int n, nasc_tensor *const *xs) {
    if (g->err.code != NASC_OK)
        return false;
    for (int i = 0; i < n; i++)
        if (!xs[i])
            return false;
    return true;
}

nasc_tensor *nasc_engine_tensor(nasc_graph *g, int n, int c, int h, int w) {
    nasc_tensor *t = nasc_graph_alloc(g, sizeof *t);
    if (!t)
        return NULL;
    size_t count = (size_t)n * (size_t)c * (size_t)h * (size_t)w;
    if (count > (size_t)NASC_MAX_TENSOR_ELEMS) { /* kernels index with int */
        nasc_graph_errorf(g, NASC_ERR_ARG, "tensor (%d,%d,%d,%d): %zu elements exceed %lld", n, c,
                          h, w, count, NASC_MAX_TENSOR_ELEMS);
        return NULL;
    }
    /* in a no-grad pass with reuse on, a buffer released after its last reader */
    float *data = nasc_reuse_take(g, count * sizeof(float), &g->reuse.last_cap);
    if (!data)
        data = nasc_graph_alloc(g, count * sizeof(float));
    if (!data)
        return NULL;
    nasc_tensor_init(t, data, n, c, h, w);
    t->id = g->n_tensors++;
    return t;
}

nasc_tensor *nasc_input(nasc_graph *g, int n, int c, int h, int w, const float *data_nhwc) {
    if (g->err.code != NASC_OK)
        return NULL;
    if (n <= 0 || c <= 0 || h <= 0 || w <= 0) {
        nasc_graph_errorf(g, NASC_ERR_SHAPE, "input: dims must be positive (%d,%d,%d,%d)", n, c,
                          h, w);
        return NULL;
    }
    nasc_tensor *t = nasc_engine_tensor(g, n, c, h, w);
    if (t && data_nhwc)
        memcpy(t->data, data_nhwc, (size_t)nasc_tensor_nelem(t) * sizeof(float));
    if (t)
        nasc_reuse_done(g, t, g->reuse.last_cap);
    return t;
}

void nasc_tensor_set_requires_grad(nasc_tensor *t, bool on) {
    if (!t)
        return;
    if (on)
        t->flags |= NASC_TENSOR_REQUIRES_GRAD;
    else
        t->flags &= ~(uint32_t)NASC_TENSOR_REQUIRES_GRAD;
}

nasc_tensor *nasc_engine_apply(nasc_graph *g, enum nasc_op op, const int ne[4], int n_src,
                               nasc_tensor *const *src, const nasc_op_params *params,
                               void *saved, float *data) {
    nasc_tensor *t;
    if (data) {
        t = nasc_graph_alloc(g, sizeof *t);
        if (!t)
            return NULL;
        nasc_tensor_init(t, data, ne[0], ne[1], ne[2], ne[3]);
        t->id = g->n_tensors++;
        t->flags |= NASC_TENSOR_VIEW;
    } else {
        t = nasc_engine_tensor(g, ne[0], ne[1], ne[2], ne[3]);
        if (!t)
            return NULL;
    }
    t->op = op;
    t->n_src = n_src;
    t->src = nasc_graph_alloc(g, (size_t)n_src * sizeof *t->src);
    if (!t->src)
        return NULL;
    bool needs_grad = false;
    for (int i = 0; i < n_src; i++) {
        t->src[i] = src[i];
        if (src[i] && (src[i]->flags & NASC_TENSOR_REQUIRES_GRAD))
            needs_grad = true;
    }
    if (params)
        t->params = *params;
    t->saved = saved;
    if (g->grad_enabled && needs_grad)
        t->flags |= NASC_TENSOR_REQUIRES_GRAD;
    if (!nasc_reuse_check_inputs(g, t))
        return NULL;
    const size_t cap = data ? 0 : g->reuse.last_cap;
    nasc_status st = nasc_backend_forward(g->be, g, t);
    if (st != NASC_OK) {
        if (g->err.code == NASC_OK)
            nasc_graph_errorf(g, st, "%s: forward failed (%s)", nasc_op_name(op),
                              nasc_status_str(st));
        return NULL;
    }
    if (t->flags & NASC_TENSOR_REQUIRES_GRAD) {
        t->prev = g->last;
        g->last = t;
        g->n_nodes++;
    }
    nasc_reuse_done(g, t, cap);
    return t;
}

nasc_status nasc_backward(nasc_graph *g, nasc_tensor *loss) {
    if (g->err.code != NASC_OK)
        return g->err.code;
    if (!loss)
        return nasc_graph_errorf(g, NASC_ERR_ARG, "backward: loss is NULL");
    char sbuf[48];
    if (nasc_tensor_nelem(loss) != 1)
        return nasc_graph_errorf(g, NASC_ERR_SHAPE, "backward: loss must have one element (%s)",
                                 NASC_SHAPE(loss, sbuf));
    if (!(loss->flags & NASC_TENSOR_REQUIRES_GRAD))
        return nasc_graph_errorf(g, NASC_ERR_ARG,
                                 "backward: loss depends on no parameter or input that requires "
                                 "a gradient (or gradients were disabled)");
    if (!loss->grad) {
        loss->grad = nasc_graph_alloc(g, sizeof(float));
        if (!loss->grad)
            return g->err.code;
        loss->grad[0] = 0.0f;
    }
    loss->grad[0] += 1.0f;
    /* Nodes were linked in creation order, a topological order: walking it backwards visits every
     * node after all of its consumers. */
    for (nasc_tensor *t = g->last; t; t = t->prev) {
        if (!t->grad)
            continue; /* not on a path to the loss */
        for (int i = 0; i < t->n_src; i++) {
            nasc_tensor *s = t->src[i];
            if (!s || !(s->flags & NASC_TENSOR_REQUIRES_GRAD) || s->grad)
                continue;
            const size_t bytes = (size_t)nasc_tensor_nelem(s) * sizeof(float);
            if (g->release_grads && s->op != NASC_OP_NONE) {
                /* t is s's first consumer in backward order: it stores instead of adding (or
                 * the backend zero-fills first), so the buffer needs no memset */
                s->grad = grad_acquire(g, bytes);
                s->flags |= NASC_TENSOR_GRAD_FRESH;
            } else {
                s->grad = nasc_arena_calloc(g->arena, bytes, &g->err);
            }
            if (!s->grad)
                return g->err.code;
        }
        nasc_status st = nasc_backend_backward(g->be, g, t);
        if (st != NASC_OK) {
            if (g->err.code == NASC_OK)
                nasc_graph_errorf(g, st, "%s: backward failed (%s)", nasc_op_name(t->op),
                                  nasc_status_str(st));
            return st;
        }
        for (int i = 0; i < t->n_src; i++)
            if (t->src[i] && (t->src[i]->flags & NASC_TENSOR_GRAD_FRESH))
                return nasc_graph_errorf(g, NASC_ERR_INTERNAL,
                                         "%s: backward left input %d's gradient unwritten",
                                         nasc_op_name(t->op), i);
        /* Every consumer of t ran before it: its gradient is dead. The loss's own one-element
         * gradient came from the arena. */
        if (g->release_grads && t != loss) {
            grad_release(g, t->grad);
            t->grad = NULL;
        }
    }
    return NASC_OK;
}
