/* auto_prune.c — zero-cost proxy pruning for `nasc auto` (auto_prune.h). The proxy scores come
 * from an ordinary experiment (random strategy, proxy evaluator), so a kill while scoring is
 * continued by the experiment's resume and the pool, a function of its database, is the same on
 * every run. The search then starts from the pool as the strategy's initial population
 * (nasc auto writes it to a file for the experiment key init-archs). */
#include "auto_prune.h"

#include "nasc/arena.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

void auto_prune_free(char **pool, int n) {
    for (int i = 0; pool && i < n; i++)
        nasc_free(pool[i]);
    nasc_free(pool);
}

nasc_status auto_prune(const auto_prune_config *c, char ***out_pool, int *out_kept, nasc_err *err) {
    *out_pool = NULL;
    *out_kept = 0;
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
    ranked *r = st == NASC_OK ? nasc_calloc((size_t)n + 1, sizeof *r) : NULL;
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
        char **pool = nasc_calloc((size_t)keep + 1, sizeof *pool);
        int got = 0;
        for (; pool && got < keep && (pool[got] = nasc_strdup(r[got].arch)); got++)
            ;
        if (!pool || got < keep) {
            auto_prune_free(pool, got);
            st = nasc_errorf(err, NASC_ERR_NOMEM, "auto: proxy pruning: out of memory");
        } else {
            *out_pool = pool;
            *out_kept = keep;
        }
    }
    nasc_free(r);
    if (t)
        nasc_db_trials_free(t, n);
    nasc_experiment_free(ex);
    return st;
}
