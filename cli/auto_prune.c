/* auto_prune.c — zero-cost proxy pruning for `nasc auto` (auto_prune.h). The proxy scores come
 * from an ordinary experiment (random strategy, proxy evaluator), so a kill while scoring is
 * continued by the experiment's resume and the pool, a function of its database, is the same on
 * every run. */
#include "auto_prune.h"

#include "nasc/space.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char **pool; /* canonical cell texts, best proxy score first */
static int pool_n;

void auto_pool_clear(void) {
    for (int i = 0; i < pool_n; i++)
        free(pool[i]);
    free(pool);
    pool = NULL;
    pool_n = 0;
}

typedef struct ranked {
    double score;
    int64_t id;
    const char *arch;
} ranked;

static int by_score(const void *pa, const void *pb) {
    const ranked *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return a->id < b->id ? -1 : (a->id > b->id);
}

nasc_status auto_prune(const auto_prune_config *c, int *out_kept, nasc_err *err) {
    *out_kept = 0;
    auto_pool_clear();
    nasc_experiment_config ec;
    nasc_config_default(&ec);
    char v[32];
    nasc_status st = nasc_config_set(&ec, "space", "nb201", err);
    if (st == NASC_OK)
        st = nasc_config_set(&ec, "strategy", "random", err);
    if (st == NASC_OK)
        st = nasc_config_set(&ec, "data", c->data, err);
    if (st == NASC_OK)
        st = nasc_config_set(&ec, "proxy", c->proxy, err);
    if (st == NASC_OK)
        st = nasc_config_set(&ec, "db", c->db, err);
    snprintf(v, sizeof v, "%.17g", c->data_fraction);
    if (st == NASC_OK)
        st = nasc_config_set(&ec, "data-fraction", v, err);
    if (st != NASC_OK)
        return st;
    ec.seed = c->seed;
    ec.budget = c->n;
    ec.channels = c->channels;
    ec.cells = c->cells;
    ec.threads = 1;
    ec.workers = 1;
    ec.quiet = true;
    ec.resume = access(c->db, F_OK) == 0;
    nasc_experiment *ex = NULL;
    if ((st = nasc_config_validate(&ec, err)) != NASC_OK ||
        (st = nasc_experiment_open(&ec, &ex, err)) != NASC_OK)
        return st;
    st = nasc_experiment_run(ex, NULL, NULL, err);
    nasc_trial_record *t = NULL;
    int64_t n = 0;
    if (st == NASC_OK)
        st = nasc_db_trials_load(nasc_experiment_db(ex), &t, &n, err);
    ranked *r = st == NASC_OK ? calloc((size_t)n + 1, sizeof *r) : NULL;
    int64_t m = 0;
    if (st == NASC_OK && !r)
        st = nasc_errorf(err, NASC_ERR_NOMEM, "auto: proxy pruning: out of memory");
    for (int64_t i = 0; st == NASC_OK && i < n; i++)
        if (t[i].status == NASC_TRIAL_OK && isfinite(t[i].score))
            r[m++] = (ranked){t[i].score, t[i].id, t[i].arch};
    if (st == NASC_OK && m == 0)
        st = nasc_errorf(err, NASC_ERR_ABORTED, "auto: proxy pruning: no cell was scored");
    if (st == NASC_OK) {
        qsort(r, (size_t)m, sizeof *r, by_score);
        const int keep = m < c->keep ? (int)m : c->keep;
        pool = calloc((size_t)keep, sizeof *pool);
        for (int i = 0; pool && i < keep; i++) {
            pool[i] = strdup(r[i].arch);
            pool_n += pool[i] != NULL;
        }
        if (!pool || pool_n < keep)
            st = nasc_errorf(err, NASC_ERR_NOMEM, "auto: proxy pruning: out of memory");
        *out_kept = pool_n;
    }
    free(r);
    if (t)
        nasc_db_trials_free(t, n);
    nasc_experiment_free(ex);
    return st;
}

/* ---- the "auto-pool" strategy ---- */

typedef struct pool_state {
    int P, S;
    bool evolve;
    nasc_arch **cells; /* the pool, parsed */
    int n_cells;
    nasc_arch **win; /* the last P told results (ring: oldest at head) */
    double *fit;
    int head, n;
} pool_state;

static const nasc_strategy_opt pool_opts[] = {
    {.name = "population",
     .type = NASC_OPT_INT,
     .def = "10",
     .min = 1,
     .max = 100000,
     .help = "P: the pool's first P cells start the search; evolution's window of results"},
    {.name = "sample",
     .type = NASC_OPT_INT,
     .def = "3",
     .min = 1,
     .max = 100000,
     .help = "tournament size S (evolution)"},
    {.name = "then",
     .type = NASC_OPT_CHOICE,
     .def = "evolve",
     .choices = "evolve|random",
     .help = "after the pool's cells: regularized evolution, or uniform random cells"},
};

static void pool_free(void *impl) {
    pool_state *p = impl;
    if (!p)
        return;
    for (int i = 0; i < p->n_cells; i++)
        nasc_arch_free(p->cells[i]);
    for (int i = 0; i < p->n; i++)
        nasc_arch_free(p->win[(p->head + i) % p->P]);
    free(p->cells);
    free(p->win);
    free(p->fit);
    free(p);
}

static nasc_status pool_init(nasc_strategy *s, nasc_err *err) {
    pool_state *p = calloc(1, sizeof *p);
    if (!p)
        return nasc_errorf(err, NASC_ERR_NOMEM, "auto-pool: out of memory");
    s->impl = p;
    p->P = nasc_strategy_opt_int(s, "population");
    p->S = nasc_strategy_opt_int(s, "sample");
    p->evolve = nasc_strategy_opt_choice(s, "then") == 0;
    if (pool_n == 0)
        return nasc_errorf(err, NASC_ERR_ARG, "strategy auto-pool: no pool (nasc auto sets it)");
    p->cells = calloc((size_t)pool_n, sizeof *p->cells);
    p->win = calloc((size_t)p->P, sizeof *p->win);
    p->fit = calloc((size_t)p->P, sizeof *p->fit);
    if (!p->cells || !p->win || !p->fit)
        return nasc_errorf(err, NASC_ERR_NOMEM, "auto-pool: out of memory");
    for (; p->n_cells < pool_n; p->n_cells++)
        NASC_TRY(nasc_arch_parse(s->space, pool[p->n_cells], &p->cells[p->n_cells], err));
    return NASC_OK;
}

static nasc_status pool_ask(nasc_strategy *s, nasc_proposal *out, nasc_err *err) {
    pool_state *p = s->impl;
    const int64_t k = s->n_asked;
    /* the pool's cells, best proxy score first: the first P trials, or all of them (random) */
    if (k < p->n_cells && (!p->evolve || k < p->P)) {
        out->arch = nasc_arch_clone(p->cells[k]);
        return out->arch ? NASC_OK : nasc_errorf(err, NASC_ERR_NOMEM, "auto-pool: out of memory");
    }
    if (!p->evolve)
        return nasc_space_sample(s->space, &s->rng, &out->arch, err);
    int64_t need = k - s->cfg.ask_ahead;
    need = need < 1 ? 1 : need;
    if (s->n_told < need || p->n == 0)
        return NASC_OK; /* wait for results */
    /* a tournament of S members drawn with replacement from the window; the best is mutated */
    int best = -1;
    for (int i = 0; i < p->S; i++) {
        const int m = (p->head + (int)nasc_rng_below(&s->rng, (uint32_t)p->n)) % p->P;
        if (best < 0 || p->fit[m] > p->fit[best])
            best = m;
    }
    return nasc_arch_mutate(p->win[best], &s->rng, &out->arch, err);
}

static nasc_status pool_tell(nasc_strategy *s, int64_t trial, const nasc_arch *arch,
                             double fidelity, const nasc_trial_result *r, nasc_err *err) {
    (void)trial, (void)fidelity;
    pool_state *p = s->impl;
    nasc_arch *a = nasc_arch_clone(arch);
    if (!a)
        return nasc_errorf(err, NASC_ERR_NOMEM, "auto-pool: out of memory");
    if (p->n == p->P) { /* the oldest leaves the window */
        nasc_arch_free(p->win[p->head]);
        p->head = (p->head + 1) % p->P;
        p->n--;
    }
    const int slot = (p->head + p->n) % p->P;
    p->win[slot] = a;
    p->fit[slot] = nasc_result_fitness(r);
    p->n++;
    return NASC_OK;
}

static const nasc_strategy_i pool_i = {
    .name = "auto-pool",
    .help = "nasc auto's proxy-pruned pool first (best first), then evolution or random",
    .opts = pool_opts,
    .n_opts = (int)(sizeof pool_opts / sizeof pool_opts[0]),
    .init = pool_init,
    .ask = pool_ask,
    .tell = pool_tell,
    .free_impl = pool_free,
};

nasc_status auto_pool_register(nasc_err *err) {
    if (nasc_strategy_find("auto-pool"))
        return NASC_OK;
    return nasc_strategy_register(&pool_i, err);
}
