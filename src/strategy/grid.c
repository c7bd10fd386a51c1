/* grid.c — grid search over a finite space: trial k is architecture k of the space's enumeration
 * order (order=enum), or of a seeded random permutation of it (order=shuffle). Exhausted after the
 * last architecture. Never waits for results. */
#include "strategy_int.h"

#include <stdlib.h>

#define GRID_MAX_SHUFFLE (1u << 24) /* permutation kept in memory: 64 MiB at most */

typedef struct grid {
    uint64_t size;
    uint32_t *perm; /* order=shuffle: the permutation; NULL for enumeration order */
} grid;

static const nasc_strategy_opt grid_opts[] = {
    {.name = "order",
     .type = NASC_OPT_CHOICE,
     .def = "enum",
     .choices = "enum|shuffle",
     .help = "enumeration order, or a seeded random permutation of it"},
};

static nasc_status grid_init(nasc_strategy *s, nasc_err *err) {
    grid *g = nasc_calloc(1, sizeof *g);
    if (!g)
        return nasc_errorf(err, NASC_ERR_NOMEM, "grid: out of memory");
    s->impl = g;
    g->size = nasc_space_size(s->space);
    if (nasc_strategy_opt_choice(s, "order") == 1) {
        if (g->size > GRID_MAX_SHUFFLE)
            return nasc_errorf(err, NASC_ERR_ARG,
                               "grid: order=shuffle supports at most %u architectures (%s has "
                               "%llu)",
                               GRID_MAX_SHUFFLE, nasc_space_name(s->space),
                               (unsigned long long)g->size);
        g->perm = nasc_malloc(sizeof(uint32_t) * (size_t)g->size);
        if (!g->perm)
            return nasc_errorf(err, NASC_ERR_NOMEM, "grid: out of memory");
        for (uint32_t i = 0; i < g->size; i++)
            g->perm[i] = i;
        /* drawn at init, from a stream of its own, so that asks stay draw-free */
        nasc_rng r;
        nasc_rng_init(&r, s->cfg.seed, NASC_STREAM_STRATEGY + 1);
        nasc_rng_shuffle_u32(&r, g->perm, (size_t)g->size);
    }
    return NASC_OK;
}

static nasc_status grid_ask(nasc_strategy *s, nasc_proposal *out, nasc_err *err) {
    grid *g = s->impl;
    uint64_t k = (uint64_t)s->n_asked;
    if (k >= g->size)
        return NASC_OK; /* exhausted */
    return nasc_space_get(s->space, g->perm ? g->perm[k] : k, &out->arch, err);
}

static nasc_status grid_tell(nasc_strategy *s, int64_t trial, const nasc_arch *arch,
                             double fidelity, const nasc_trial_result *r, nasc_err *err) {
    (void)s, (void)trial, (void)arch, (void)fidelity, (void)r, (void)err;
    return NASC_OK;
}

/* State = the position, which the generic snapshot (n_asked) holds. */
static nasc_status grid_save(const nasc_strategy *s, void **out_buf, size_t *out_len,
                             nasc_err *err) {
    (void)s, (void)err;
    *out_buf = NULL;
    *out_len = 0;
    return NASC_OK;
}

static nasc_status grid_load(nasc_strategy *s, const void *buf, size_t len, nasc_err *err) {
    (void)s, (void)buf;
    return len ? nasc_errorf(err, NASC_ERR_FORMAT, "grid: unexpected snapshot data") : NASC_OK;
}

static void grid_free(void *impl) {
    grid *g = impl;
    if (!g)
        return;
    nasc_free(g->perm);
    nasc_free(g);
}

const nasc_strategy_i nasc_strategy_grid_i = {
    .name = "grid",
    .help = "every architecture of a finite space, in enumeration (or shuffled) order",
    .opts = grid_opts,
    .n_opts = 1,
    .needs_finite = true,
    .init = grid_init,
    .ask = grid_ask,
    .tell = grid_tell,
    .save = grid_save,
    .load = grid_load,
    .free_impl = grid_free,
};
