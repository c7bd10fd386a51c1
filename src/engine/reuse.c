/* reuse.c — activation buffers reused after their last reader in no-grad passes
 * (nasc_graph_set_reuse).
 *
 * The engine runs ops eagerly and cannot see which tensors the model's code will read later. It
 * learns that from the pass before: every no-grad pass records, per tensor id, its op, whether it
 * is a view and the ids of its inputs (the pass's structure). At the next reset that record
 * becomes the plan: a buffer's owner (a view's data belongs to its base) is dead once the last op
 * that read it or a view of it has run, so after that op its buffer goes to a free list, and
 * later tensors of the pass take the smallest free buffer that fits before growing the arena.
 *
 * The plan is followed only while the pass has the same structure: each new tensor is compared
 * with the plan's entry for its id (inputs outside the graph, the weights, by address, so another
 * model differs at its first op), and the first difference stops all further releases. An op
 * that would read a released buffer is an internal error on the graph, never a silently wrong
 * value. The last tensor of the planned pass and the inputs of its op (the results the caller
 * reads: the logits beside the loss) are never released. Buffers live in the step arena, so a
 * reset ends every one of them; results stay bit-identical, only the addresses change. */
#include "engine_int.h"

#include <string.h>

enum { SIG_OP, SIG_VIEW, SIG_NSRC, SIG_HEAD }; /* a tensor's record: head, then its input ids */

/* Grows *v (elements of `size` bytes) to hold need elements; false when out of memory. */
static bool grow(void **v, int *cap, int need, size_t size) {
    if (need <= *cap)
        return true;
    int c = *cap ? *cap : 1024;
    while (c < need)
        c *= 2;
    void *n = nasc_realloc(*v, (size_t)c * size);
    if (!n)
        return false;
    *v = n;
    *cap = c;
    return true;
}

static bool active(const nasc_graph *g) { return g->reuse.on && !g->grad_enabled; }

void nasc_graph_set_reuse(nasc_graph *g, bool on) {
    nasc_reuse *r = &g->reuse;
    r->on = on;
    r->plan_n = 0; /* a plan is learnt from the next whole pass */
    r->following = false;
    r->n_free = 0;
    r->n = r->sig_len = 0;
    r->rec_ok = false; /* the pass now running began before: learn from the next one */
}

void nasc_reuse_free(nasc_reuse *r) {
    nasc_free(r->ent), nasc_free(r->sig), nasc_free(r->plan), nasc_free(r->plan_pos);
    nasc_free(r->rel_start), nasc_free(r->rel), nasc_free(r->last), nasc_free(r->free_p);
    nasc_free(r->free_bytes);
    memset(r, 0, sizeof *r);
}

/* Turns the record of the pass that just ended into the plan: rel[rel_start[k]..rel_start[k+1])
 * are the buffer owners to release once tensor k's op has run. False when out of memory. */
static bool build_plan(nasc_reuse *r) {
    const int n = r->n;
    if (!grow((void **)&r->plan_pos, &r->cap_plan_pos, n, sizeof(int)) ||
        !grow((void **)&r->last, &r->cap_last, n, sizeof(int)) ||
        !grow((void **)&r->rel_start, &r->cap_rel_start, n + 1, sizeof(int)) ||
        !grow((void **)&r->rel, &r->cap_rel, n, sizeof(int)))
        return false;
    /* the plan takes the record's signatures (swap the storage) */
    int *s = r->plan;
    r->plan = r->sig, r->sig = s;
    const int c = r->cap_plan;
    r->cap_plan = r->cap_sig, r->cap_sig = c;
    for (int i = 0; i < n; i++) {
        r->plan_pos[i] = r->ent[i].pos;
        r->last[i] = -1;
    }
    for (int i = 0; i < n; i++) {
        const int *e = r->plan + r->plan_pos[i];
        for (int k = 0; k < e[SIG_NSRC]; k++)
            if (e[SIG_HEAD + k] >= 0) {
                const int o = r->ent[e[SIG_HEAD + k]].owner;
                r->last[o] = i > r->last[o] ? i : r->last[o];
            }
    }
    /* the final op's inputs are the caller's results; the final tensor has no reader */
    const int fin = n - 1;
    memset(r->rel_start, 0, (size_t)(n + 1) * sizeof *r->rel_start);
    for (int i = 0; i < n; i++)
        if (r->ent[i].owner == i && r->last[i] >= 0 && r->last[i] != fin)
            r->rel_start[r->last[i] + 1]++;
    for (int k = 0; k < n; k++)
        r->rel_start[k + 1] += r->rel_start[k];
    /* fill in id order with rel_start[k] as list k's cursor (it ends at list k+1's start),
     * then shift the starts back */
    for (int i = 0; i < n; i++) {
        const int k = r->last[i];
        if (r->ent[i].owner == i && k >= 0 && k != fin)
            r->rel[r->rel_start[k]++] = i;
    }
    for (int k = n; k > 0; k--)
        r->rel_start[k] = r->rel_start[k - 1];
    r->rel_start[0] = 0;
    return true;
}

void nasc_reuse_reset(nasc_graph *g) {
    nasc_reuse *r = &g->reuse;
    if (!r->on)
        return;
    /* a whole no-grad pass without error teaches the plan of the next; after any other pass
     * (an error, gradients, a tensor made outside the engine) the next runs without one */
    r->plan_n = r->rec_ok && g->err.code == NASC_OK && r->n > 1 && build_plan(r) ? r->n : 0;
    r->n = r->sig_len = 0;
    r->rec_ok = true;
    r->n_free = 0;
    r->following = r->plan_n > 0;
}

float *nasc_reuse_take(nasc_graph *g, size_t bytes, size_t *cap) {
    nasc_reuse *r = &g->reuse;
    *cap = bytes;
    if (!active(g) || r->n_free == 0)
        return NULL;
    int best = -1;
    for (int i = 0; i < r->n_free; i++)
        if (r->free_bytes[i] >= bytes && (best < 0 || r->free_bytes[i] < r->free_bytes[best]))
            best = i;
    if (best < 0)
        return NULL;
    float *p = r->free_p[best];
    *cap = r->free_bytes[best];
    r->n_free--;
    r->free_p[best] = r->free_p[r->n_free];
    r->free_bytes[best] = r->free_bytes[r->n_free];
    return p;
}

bool nasc_reuse_check_inputs(nasc_graph *g, const nasc_tensor *t) {
    nasc_reuse *r = &g->reuse;
    if (!active(g))
        return true;
    for (int k = 0; k < t->n_src; k++) {
        const nasc_tensor *s = t->src[k];
        if (s && s->id >= 0 && s->id < r->n && r->ent[r->ent[s->id].owner].released) {
            nasc_graph_errorf(g, NASC_ERR_INTERNAL,
                              "%s: input %d (tensor %d) was released after its last reader in "
                              "the pass before (nasc_graph_set_reuse), but the pass changed",
                              nasc_op_name(t->op), k, s->id);
            return false;
        }
    }
    return true;
}

/* An input in a record: its id in the graph; -2 for none; for a tensor outside the graph (a
 * parameter, a batch-norm buffer) a negative key from its address, so that another model's pass
 * differs from the plan at its first op with weights, before any buffer is released. */
static int src_key(const nasc_tensor *s) {
    if (!s)
        return -2;
    if (s->id >= 0)
        return s->id;
    const uint64_t a = (uint64_t)(uintptr_t)s;
    return -3 - (int)((a ^ (a >> 31)) & 0x3fffffff);
}

/* Appends tensor t's record (cap: its data block's bytes, 0 for a view); false if it cannot. */
static bool record(nasc_reuse *r, nasc_tensor *t, size_t cap) {
    if (t->id != r->n || !grow((void **)&r->ent, &r->cap_ent, r->n + 1, sizeof *r->ent) ||
        !grow((void **)&r->sig, &r->cap_sig, r->sig_len + SIG_HEAD + t->n_src, sizeof(int)))
        return false;
    const bool view = (t->flags & NASC_TENSOR_VIEW) != 0;
    const nasc_tensor *base = view && t->n_src > 0 ? t->src[0] : NULL;
    nasc_reuse_ent *e = &r->ent[r->n];
    e->pos = r->sig_len;
    e->owner = base && base->id >= 0 && base->id < r->n ? r->ent[base->id].owner : t->id;
    e->bytes = view ? 0 : cap;
    e->data = t->data;
    e->released = false;
    int *s = r->sig + r->sig_len;
    s[SIG_OP] = (int)t->op;
    s[SIG_VIEW] = view;
    s[SIG_NSRC] = t->n_src;
    for (int k = 0; k < t->n_src; k++)
        s[SIG_HEAD + k] = src_key(t->src[k]);
    r->sig_len += SIG_HEAD + t->n_src;
    r->n++;
    return true;
}

/* Puts owner o's buffer on the free list; false when out of memory. */
static bool release(nasc_reuse *r, int o) {
    nasc_reuse_ent *e = &r->ent[o];
    if (e->bytes == 0 || e->released)
        return true;
    if (r->n_free == r->cap_free) {
        int c = r->cap_free;
        if (!grow((void **)&r->free_p, &c, r->n_free + 1, sizeof *r->free_p))
            return false;
        c = r->cap_free;
        if (!grow((void **)&r->free_bytes, &c, r->n_free + 1, sizeof *r->free_bytes))
            return false;
        r->cap_free = c;
    }
    e->released = true;
    r->free_p[r->n_free] = e->data;
    r->free_bytes[r->n_free++] = e->bytes;
    return true;
}

void nasc_reuse_done(nasc_graph *g, nasc_tensor *t, size_t cap) {
    nasc_reuse *r = &g->reuse;
    if (!r->on)
        return;
    if (g->grad_enabled) { /* a pass with gradients teaches nothing and follows no plan */
        r->rec_ok = r->following = false;
        return;
    }
    if (!r->rec_ok)
        return;
    if (!record(r, t, cap)) {
        r->rec_ok = r->following = false; /* a tensor made outside the engine's path */
        return;
    }
    if (!r->following)
        return;
    /* the same tensor as in the planned pass? */
    const int id = t->id;
    const int *a = id < r->plan_n ? r->plan + r->plan_pos[id] : NULL;
    const int *b = r->sig + r->ent[id].pos;
    if (!a || a[SIG_NSRC] != b[SIG_NSRC] ||
        memcmp(a, b, (size_t)(SIG_HEAD + a[SIG_NSRC]) * sizeof *a) != 0) {
        r->following = false;
        return;
    }
    for (int j = r->rel_start[id]; j < r->rel_start[id + 1]; j++)
        if (!release(r, r->rel[j])) {
            r->following = false; /* keep what is live; no more releases */
            return;
        }
}
