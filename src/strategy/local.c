/* local.c — local search with random restarts (as in NASLib's local search and White et al.,
 * "Local Search is State of the Art for NAS Benchmarks", 2020).
 *
 * Start: `init` random samples; the best becomes the current architecture. Then its neighbours
 * (every architecture one edit away, nasc_arch_neighbors) are evaluated in a seeded random order,
 * skipping architectures already proposed (by nasc_arch_hash):
 *   mode=first  move to the first neighbour that beats the current one (neighbours one at a time,
 *               ask_ahead of them may run ahead of the results);
 *   mode=best   evaluate the whole neighbourhood (all of it at once: it needs no results), then
 * move to its best member if that beats the current one. At a local optimum (no neighbour better,
 * or none left unvisited) the search restarts from a new random architecture, which becomes the
 * current one once evaluated. */
#include "strategy_int.h"

#include <math.h>
#include <string.h>

enum { PH_INIT, PH_WALK, PH_NEED_RESTART, PH_RESTART_PENDING };
enum { ROLE_INIT = -1, ROLE_RESTART = -2 };

typedef struct local {
    int mode; /* 0 first, 1 best */
    int n_init;
    int phase;
    nasc_arch *cur;
    double cur_fit;
    nasc_arch *init_best; /* best of the initial samples so far */
    double init_best_fit;
    nasc_arch **hood; /* neighbours of cur still to propose (shuffled) */
    size_t n_hood, next_hood;
    bool need_hood;
    int hood_id;
    nasc_arch *hood_best; /* mode=best: best told neighbour of this hood */
    double hood_best_fit;
    int32_t *role; /* per asked trial: ROLE_* or the hood id */
    size_t role_cap;
    uint64_t *seen; /* open-addressing set of proposed hashes (0 = empty) */
    size_t seen_cap, n_seen;
} local;

static const nasc_strategy_opt local_opts[] = {
    {.name = "mode",
     .type = NASC_OPT_CHOICE,
     .def = "first",
     .choices = "first|best",
     .help = "first improvement or best improvement"},
    {.name = "init",
     .type = NASC_OPT_INT,
     .def = "10",
     .min = 1,
     .max = 1000000,
     .help = "random samples before the first walk (the best one starts it)"},
};

/* ---- the set of proposed architectures ---- */

static uint64_t mix(uint64_t h) {
    return h ? h : 0x9e3779b97f4a7c15ULL;
}

static bool seen_has(const local *l, uint64_t h) {
    h = mix(h);
    if (!l->seen_cap)
        return false;
    for (size_t i = h & (l->seen_cap - 1);; i = (i + 1) & (l->seen_cap - 1)) {
        if (!l->seen[i])
            return false;
        if (l->seen[i] == h)
            return true;
    }
}

static nasc_status seen_add(local *l, uint64_t h, nasc_err *err) {
    h = mix(h);
    if (2 * (l->n_seen + 1) > l->seen_cap) {
        size_t nc = l->seen_cap ? l->seen_cap * 2 : 1024;
        uint64_t *ns = nasc_calloc(nc, sizeof(uint64_t));
        if (!ns)
            return nasc_errorf(err, NASC_ERR_NOMEM, "local: out of memory");
        for (size_t i = 0; i < l->seen_cap; i++) {
            uint64_t v = l->seen[i];
            if (!v)
                continue;
            size_t j = v & (nc - 1);
            while (ns[j])
                j = (j + 1) & (nc - 1);
            ns[j] = v;
        }
        nasc_free(l->seen);
        l->seen = ns;
        l->seen_cap = nc;
    }
    size_t i = h & (l->seen_cap - 1);
    while (l->seen[i] && l->seen[i] != h)
        i = (i + 1) & (l->seen_cap - 1);
    if (!l->seen[i]) {
        l->seen[i] = h;
        l->n_seen++;
    }
    return NASC_OK;
}

static nasc_status set_role(local *l, int64_t trial, int32_t role, nasc_err *err) {
    if ((size_t)trial >= l->role_cap) {
        size_t nc = l->role_cap ? l->role_cap * 2 : 256;
        while (nc <= (size_t)trial)
            nc *= 2;
        int32_t *nr = nasc_realloc(l->role, nc * sizeof(int32_t));
        if (!nr)
            return nasc_errorf(err, NASC_ERR_NOMEM, "local: out of memory");
        l->role = nr;
        l->role_cap = nc;
    }
    l->role[trial] = role;
    return NASC_OK;
}

static void hood_clear(local *l) {
    for (size_t i = l->next_hood; i < l->n_hood; i++)
        nasc_arch_free(l->hood[i]);
    nasc_free(l->hood);
    l->hood = NULL;
    l->n_hood = l->next_hood = 0;
    nasc_arch_free(l->hood_best);
    l->hood_best = NULL;
    l->hood_best_fit = -INFINITY;
}

/* Becomes the current architecture (a is taken over). */
static void move_to(local *l, nasc_arch *a, double fit) {
    nasc_arch_free(l->cur);
    l->cur = a;
    l->cur_fit = fit;
    hood_clear(l);
    l->need_hood = true;
    l->hood_id++;
    l->phase = PH_WALK;
}

static nasc_status local_init(nasc_strategy *s, nasc_err *err) {
    local *l = nasc_calloc(1, sizeof *l);
    if (!l)
        return nasc_errorf(err, NASC_ERR_NOMEM, "local: out of memory");
    s->impl = l;
    l->mode = nasc_strategy_opt_choice(s, "mode");
    l->n_init = nasc_strategy_opt_int(s, "init");
    l->phase = PH_INIT;
    l->cur_fit = l->init_best_fit = l->hood_best_fit = -INFINITY;
    return NASC_OK;
}

/* Proposes a random architecture with the given role. */
static nasc_status propose_random(nasc_strategy *s, local *l, int32_t role, nasc_proposal *out,
                                  nasc_err *err) {
    NASC_TRY(nasc_space_sample(s->space, &s->rng, &out->arch, err));
    NASC_TRY(seen_add(l, nasc_arch_hash(out->arch), err));
    return set_role(l, s->n_asked, role, err);
}

static nasc_status local_ask(nasc_strategy *s, nasc_proposal *out, nasc_err *err) {
    local *l = s->impl;
    switch (l->phase) {
    case PH_INIT:
        if (s->n_asked < l->n_init)
            return propose_random(s, l, ROLE_INIT, out, err);
        return NASC_OK; /* wait for the initial samples */
    case PH_RESTART_PENDING:
        return NASC_OK;
    case PH_NEED_RESTART:
        l->phase = PH_RESTART_PENDING;
        return propose_random(s, l, ROLE_RESTART, out, err);
    default:
        break;
    }
    /* PH_WALK */
    if (l->mode == 0 && s->n_told < s->n_asked - s->cfg.ask_ahead)
        return NASC_OK; /* first improvement: at most ask_ahead neighbours ahead of the results */
    if (l->need_hood) {
        /* build the neighbourhood: unvisited neighbours in a seeded random order. The draws are
         * allowed because this ask always returns an architecture (a neighbour or a restart). */
        nasc_arch **all = NULL;
        size_t n_all = 0;
        NASC_TRY(nasc_arch_neighbors(l->cur, &all, &n_all, err));
        size_t k = 0;
        for (size_t i = 0; i < n_all; i++) {
            if (seen_has(l, nasc_arch_hash(all[i])))
                nasc_arch_free(all[i]);
            else
                all[k++] = all[i];
        }
        for (size_t i = k; i > 1; i--) { /* Fisher-Yates */
            size_t j = nasc_rng_below(&s->rng, (uint32_t)i);
            nasc_arch *t = all[i - 1];
            all[i - 1] = all[j];
            all[j] = t;
        }
        hood_clear(l);
        l->hood = all;
        l->n_hood = k;
        l->next_hood = 0;
        l->need_hood = false;
        if (k == 0) { /* every neighbour seen: a local optimum */
            l->phase = PH_RESTART_PENDING;
            return propose_random(s, l, ROLE_RESTART, out, err);
        }
    }
    if (l->next_hood == l->n_hood)
        return NASC_OK; /* whole neighbourhood proposed: wait for its results */
    nasc_arch *a = l->hood[l->next_hood];
    NASC_TRY(seen_add(l, nasc_arch_hash(a), err));
    NASC_TRY(set_role(l, s->n_asked, l->hood_id, err));
    l->hood[l->next_hood++] = NULL;
    out->arch = a;
    return NASC_OK;
}

static nasc_status local_tell(nasc_strategy *s, int64_t trial, const nasc_arch *arch,
                              double fidelity, const nasc_trial_result *r, nasc_err *err) {
    (void)fidelity;
    local *l = s->impl;
    double fit = nasc_result_fitness(r);
    int32_t role = l->role[trial];
    bool last = trial == s->n_asked - 1; /* nothing else outstanding after this one */
    nasc_arch *copy = NULL;
    if (role == ROLE_INIT) {
        if (!l->init_best || fit > l->init_best_fit) {
            if (!(copy = nasc_arch_clone(arch)))
                return nasc_errorf(err, NASC_ERR_NOMEM, "local: out of memory");
            nasc_arch_free(l->init_best);
            l->init_best = copy;
            l->init_best_fit = fit;
        }
        if (trial == l->n_init - 1) {
            move_to(l, l->init_best, l->init_best_fit);
            l->init_best = NULL;
        }
        return NASC_OK;
    }
    if (role == ROLE_RESTART) {
        if (!(copy = nasc_arch_clone(arch)))
            return nasc_errorf(err, NASC_ERR_NOMEM, "local: out of memory");
        move_to(l, copy, fit);
        return NASC_OK;
    }
    /* a neighbour */
    if (l->mode == 0 || role != l->hood_id) {
        /* first improvement (or a late result of an older neighbourhood): move at once */
        if (fit > l->cur_fit) {
            if (!(copy = nasc_arch_clone(arch)))
                return nasc_errorf(err, NASC_ERR_NOMEM, "local: out of memory");
            move_to(l, copy, fit);
            return NASC_OK;
        }
    } else if (fit > l->hood_best_fit) {
        if (!(copy = nasc_arch_clone(arch)))
            return nasc_errorf(err, NASC_ERR_NOMEM, "local: out of memory");
        nasc_arch_free(l->hood_best);
        l->hood_best = copy;
        l->hood_best_fit = fit;
    }
    if (l->phase == PH_WALK && !l->need_hood && l->next_hood == l->n_hood && last) {
        /* the neighbourhood is done */
        if (l->mode == 1 && l->hood_best && l->hood_best_fit > l->cur_fit) {
            nasc_arch *b = l->hood_best;
            l->hood_best = NULL;
            move_to(l, b, l->hood_best_fit);
        } else {
            l->phase = PH_NEED_RESTART;
        }
    }
    return NASC_OK;
}

static void local_free(void *impl) {
    local *l = impl;
    if (!l)
        return;
    hood_clear(l);
    nasc_arch_free(l->cur);
    nasc_arch_free(l->init_best);
    nasc_free(l->role);
    nasc_free(l->seen);
    nasc_free(l);
}

const nasc_strategy_i nasc_strategy_local_i = {
    .name = "local",
    .help = "local search (first or best improvement) with random restarts",
    .opts = local_opts,
    .n_opts = 2,
    .init = local_init,
    .ask = local_ask,
    .tell = local_tell,
    .free_impl = local_free,
};
