/* experiment.c — the search loop: ask, record, evaluate (in process, in forked workers, or on the
 * worker ranks of a distributed search), record, tell in trial order; replay on resume.
 *
 * The schedule is what makes results independent of the number of workers and of timing:
 *   - a new trial is asked only when no asked trial is waiting for a worker (also while every
 *     worker is busy, so that the next one is ready when a worker reports);
 *   - when the strategy answers "wait", the next result in trial order is told (waiting for it if
 *     it is still being evaluated), then the strategy is asked again;
 *   - results are never told early. So the sequence of ask/tell calls, and every decision, is a
 *     function of the seed and the results only.
 * Resume runs the very same loop. Trials already recorded are not evaluated again: each replayed
 * proposal is checked against the recorded architecture, and the recorded result is used. Trials
 * recorded as pending or running are evaluated (again). */
#include "experiment_int.h"

#include "nasc/limits.h"
#include "nasc/pareto.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ATTEMPTS 3 /* a trial whose worker is killed (not by us) is run at most this often */

typedef enum tstate { T_QUEUED, T_RUNNING, T_DONE } tstate;

typedef struct trial {
    nasc_arch *arch;
    char *text;
    double fidelity; /* asked */
    uint64_t seed;
    tstate state;
    int attempts;
    bool told;
    /* once done: */
    nasc_trial_status status;
    double score, reached_fidelity;
    double test_score, sim_seconds; /* NaN if unknown */
    bool stopped_early;
    nasc_trial_result *result; /* kept until told */
    float *curve;              /* copy of the learning curve (median rule); NULL if none */
    int n_curve;
} trial;

/* A worker slot: a forked process (pid, fd), or a worker rank of a distributed search (slot i is
 * rank i+1; pid 0). */
typedef struct slot {
    bool busy;
    pid_t pid; /* the trial's process; 0 if none */
    int fd;
    int64_t trial;
    int attempt; /* of the trial it runs (a killed process is re-run up to MAX_ATTEMPTS) */
    double started, deadline;
    size_t got;
    nasc_trial_result buf;
    bool timed_out;
    /* a worker rank's second trial, sent while it runs the first (ex->prefetch) */
    bool has_next;
    int64_t next;
    int next_attempt;
} slot;

struct nasc_experiment {
    nasc_experiment_config cfg;
    nasc_space *space;
    nasc_strategy *strategy;
    nasc_evaluator *eval;
    nasc_db *db;
    nasc_trial_record *rec; /* recorded trials at open (replay) */
    int64_t n_rec;
    trial *t;
    int64_t n_t, cap_t;
    int64_t first_unfinished; /* lowest index not done */
    bool exhausted;
    slot *slots;
    int n_slots;
    int n_ranks;      /* distributed search (rank 0): the worker ranks 1..n_ranks; 0 if none */
    bool ranks_ready; /* they have the configuration and answered */
    bool prefetch;    /* a busy worker rank may hold a second trial (slot.next) */
    double min_fid;   /* the lowest fidelity proposed (full_if_0), for slot_for_start */
    bool serving;     /* this process is a worker rank: no database, no trial list */
    volatile sig_atomic_t stop;
    int64_t snapshot_told; /* n_told of the latest snapshot */
    int64_t done_this_run;
    int64_t best;         /* best trial index, -1 if none */
    int64_t n_done, n_ok; /* finished trials (recorded ones included), of which ok */
    int64_t n_running;    /* trials being evaluated now */
    int64_t max_trials;   /* the budget (no limit with a time budget and no --budget) */
    double sim_seconds;   /* simulated training time of the finished trials */
    double t_start, seconds;
    double wall_deadline; /* cfg.wall_budget after this run's first trial started; inf: none */
    bool wall_stopped;
    int64_t cancelled; /* trials running when the wall budget stopped the run */
    bool batch_open;   /* rank 0: a change group (db.h) holds the changes since batch_t */
    double batch_t;
    nasc_objectives obj; /* --objective / --constraint (pareto.h) */
    char *init_text;     /* cfg.init_archs read, cut into lines */
    const char **init;   /* its architectures (into init_text), for the strategy */
    int n_init;
};

static double mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int64_t nasc_trials_pareto(const nasc_trial_record *t, int64_t n, int64_t *out_idx) {
    int n_obj = 1;
    for (int64_t i = 0; i < n; i++)
        if (t[i].result && t[i].result->n_objectives > n_obj)
            n_obj = t[i].result->n_objectives;
    if (n > INT32_MAX)
        return -1;
    double *v = nasc_malloc(sizeof(double) * (size_t)(n ? n : 1) * (size_t)n_obj);
    int *idx = nasc_malloc(sizeof(int) * (size_t)(n ? n : 1));
    int64_t m = -1;
    if (v && idx) {
        for (int64_t i = 0; i < n; i++) { /* unfinished or failed: NaN, never on the front */
            bool ok = t[i].status == NASC_TRIAL_OK;
            for (int j = 0; j < n_obj; j++) {
                double x = (double)NAN;
                if (ok && j == 0)
                    x = t[i].score;
                else if (ok && t[i].result && j < t[i].result->n_objectives)
                    x = t[i].result->objectives[j];
                v[i * n_obj + j] = x;
            }
        }
        m = nasc_pareto_front(v, (int)n, n_obj, idx);
        for (int64_t i = 0; i < m; i++)
            out_idx[i] = idx[i];
    }
    nasc_free(v);
    nasc_free(idx);
    return m;
}

int64_t nasc_trials_best(const nasc_trial_record *t, int64_t n) {
    int64_t best = -1;
    double best_fid = (double)NAN;
    for (int64_t i = 0; i < n; i++) {
        if (t[i].status != NASC_TRIAL_OK)
            continue;
        /* the fidelity reached (a trial stopped early reached less than it asked) */
        double f =
            t[i].result && isfinite(t[i].result->fidelity) ? t[i].result->fidelity : t[i].fidelity;
        if (best < 0 || nasc_trial_better(f, t[i].score, best_fid, t[best].score)) {
            best = i; /* strict: a tie keeps the earlier trial */
            best_fid = f;
        }
    }
    return best;
}

uint64_t nasc_trial_seed(uint64_t seed, int64_t k) {
    /* splitmix64 of seed and k */
    uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (uint64_t)(k + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The result exactly as a replay will rebuild it from the database. */
static nasc_status canonical_result(const nasc_trial_result *in, double asked_fidelity,
                                    nasc_trial_result *out, nasc_err *err) {
    nasc_trial_record row = {0};
    row.status = in->status;
    row.score = in->status == NASC_TRIAL_OK && isfinite(in->score) ? in->score : (double)NAN;
    row.reason = in->reason;
    /* SQLite stores NaN as NULL and reads it back as NaN: nothing to do for the cost */
    row.cost = in->cost;
    row.seconds = isfinite(in->seconds) ? in->seconds : (double)NAN;
    row.fidelity = asked_fidelity;
    row.test_score = isfinite(in->test_score) ? in->test_score : (double)NAN;
    row.sim_seconds = isfinite(in->sim_seconds) ? in->sim_seconds : (double)NAN;
    nasc_db_row_result(&row, out);
    char *json = nasc_trial_metrics_json(in);
    if (!json)
        return nasc_errorf(err, NASC_ERR_NOMEM, "experiment: out of memory");
    nasc_status st = nasc_trial_metrics_parse(json, out, err);
    nasc_free(json);
    return st;
}

/* ---- opening ---- */

static void trial_free(trial *t) {
    nasc_arch_free(t->arch);
    nasc_free(t->text);
    nasc_free(t->result);
    nasc_free(t->curve);
}

void nasc_experiment_free(nasc_experiment *ex) {
    if (!ex)
        return;
    for (int i = 0; ex->slots && i < ex->n_slots; i++)
        if (ex->slots[i].pid > 0) {
            kill(ex->slots[i].pid, SIGKILL);
            waitpid(ex->slots[i].pid, NULL, 0);
            close(ex->slots[i].fd);
        }
    nasc_free(ex->slots);
    for (int64_t i = 0; i < ex->n_t; i++)
        trial_free(&ex->t[i]);
    nasc_free(ex->t);
    nasc_db_trials_free(ex->rec, ex->n_rec);
    nasc_strategy_free(ex->strategy);
    nasc_evaluator_free(ex->eval);
    nasc_space_free(ex->space);
    nasc_db_close(ex->db);
    nasc_free(ex->init);
    nasc_free(ex->init_text);
    nasc_free(ex);
}

/* cfg.init_archs: the file's lines (blank lines and '#' comments skipped) into ex->init, for
 * the strategy's initial population. IO naming the file; the strategy checks the texts. */
static nasc_status init_archs_load(nasc_experiment *ex, nasc_err *err) {
    if (!ex->cfg.init_archs[0])
        return NASC_OK;
    size_t len = 0;
    NASC_TRY(nasc_file_read_all(ex->cfg.init_archs, "init-archs", 64u << 20, &ex->init_text, &len,
                                err));
    int cap = 0;
    for (size_t i = 0; i < len; i++)
        cap += ex->init_text[i] == '\n';
    if (!(ex->init = nasc_calloc((size_t)cap + 1, sizeof *ex->init)))
        return nasc_errorf(err, NASC_ERR_NOMEM, "init-archs: out of memory");
    for (char *save = NULL, *l = strtok_r(ex->init_text, "\n", &save); l;
         l = strtok_r(NULL, "\n", &save)) {
        l += strspn(l, " \t\r");
        size_t n = strlen(l);
        while (n && strchr(" \t\r", l[n - 1]))
            l[--n] = '\0';
        if (n && l[0] != '#')
            ex->init[ex->n_init++] = l;
    }
    return NASC_OK;
}

/* Compares the identity keys of cfg with the stored configuration. */
static nasc_status check_same_config(nasc_experiment *ex, nasc_err *err) {
    nasc_kv *stored = NULL;
    int n_stored = 0;
    NASC_TRY(nasc_db_config_get(ex->db, &stored, &n_stored, err));
    int n_keys;
    const nasc_config_key *keys = nasc_config_keys(&n_keys);
    char diff[400] = "";
    size_t k = 0;
    int n_diff = 0;
    for (int i = 0; i < n_keys; i++) {
        if (!(keys[i].flags & NASC_CFG_IDENTITY))
            continue;
        char mine[600];
        nasc_config_get(&ex->cfg, &keys[i], mine, sizeof mine);
        const char *theirs = NULL;
        for (int j = 0; j < n_stored; j++)
            if (!strcmp(stored[j].key, keys[i].name))
                theirs = stored[j].value;
        char legacy[600];
        if (!theirs) { /* a key newer than the database: the value it had then */
            nasc_config_legacy_value(stored, n_stored, &keys[i], legacy, sizeof legacy);
            theirs = legacy;
        }
        if (theirs && !strcmp(theirs, mine))
            continue;
        n_diff++;
        if (k < sizeof diff)
            k += (size_t)snprintf(diff + k, sizeof diff - k,
                                  "%s%s ('%s' in the database, '%s' "
                                  "given)",
                                  n_diff > 1 ? ", " : "", keys[i].name, theirs ? theirs : "(none)",
                                  mine);
    }
    nasc_free(stored);
    if (n_diff)
        return nasc_errorf_at(err, NASC_ERR_ARG, ex->cfg.db, -1,
                              "%s: experiment has a different configuration: %s; use another "
                              "--db file, or leave those flags out with --resume (which takes the "
                              "configuration from the database)",
                              ex->cfg.db, diff);
    return NASC_OK;
}

nasc_status nasc_experiment_make_evaluator(const nasc_experiment_config *cfg, const nasc_space *s,
                                           nasc_evaluator **out, nasc_err *err) {
    if (cfg->benchmark[0]) {
        nasc_objectives obj;
        NASC_TRY(nasc_objectives_parse(cfg->objective, cfg->constraint, &obj, err));
        const char *cols[NASC_MAX_COLUMNS];
        nasc_table_eval_config tc = {.spec = cfg->benchmark,
                                     .oracle = cfg->oracle,
                                     .low = cfg->table_low,
                                     .cost = cfg->table_cost,
                                     .columns = cols,
                                     .n_columns = nasc_objectives_columns(&obj, cols)};
        NASC_TRY(nasc_config_table_epochs(cfg, &tc.low_epochs, &tc.full_epochs, err));
        NASC_TRY(nasc_evaluator_table_new(s, &tc, out, err));
        if (cfg->cost) /* the NAS-Bench-201 networks: CIFAR inputs */
            nasc_evaluator_set_cost(
                *out,
                &(nasc_net_config){.in_c = 3,
                                   .in_h = 32,
                                   .in_w = 32,
                                   .n_classes = strstr(cfg->benchmark, "cifar100") ? 100 : 10},
                0);
        return NASC_OK;
    }
    nasc_train_eval_config tc;
    nasc_train_eval_config_default(&tc);
    nasc_objectives obj;
    NASC_TRY(nasc_objectives_parse(cfg->objective, cfg->constraint, &obj, err));
    if (obj.n_columns > 0) {
        const char *cols[NASC_MAX_COLUMNS];
        nasc_objectives_columns(&obj, cols);
        return nasc_errorf(err, NASC_ERR_ARG,
                           "objective / constraint '%s': not a built-in quantity (acc, params, "
                           "flops, latency, memory), and only a benchmark table has columns",
                           cols[0]);
    }
    tc.data = cfg->data;
    tc.data_fraction = cfg->data_fraction;
    tc.val_fraction = cfg->val_fraction;
    tc.channels = cfg->channels;
    tc.cells = cfg->cells;
    tc.median_stop = cfg->median_stop;
    nasc_train_config_set_hparams(&tc.train, &cfg->train);
    if (cfg->proxy[0]) {
        tc.proxy = cfg->proxy;
        return nasc_evaluator_proxy_new(s, &tc, cfg->seed, out, err);
    }
    return nasc_evaluator_train_new(s, &tc, cfg->seed, out, err);
}

static nasc_status grow_trials(nasc_experiment *ex, int64_t need, nasc_err *err) {
    if (need <= ex->cap_t)
        return NASC_OK;
    int64_t nc = ex->cap_t ? ex->cap_t * 2 : 128;
    while (nc < need)
        nc *= 2;
    trial *nt = nasc_realloc(ex->t, sizeof(trial) * (size_t)nc);
    if (!nt)
        return nasc_errorf(err, NASC_ERR_NOMEM, "experiment: out of memory");
    memset(nt + ex->cap_t, 0, sizeof(trial) * (size_t)(nc - ex->cap_t));
    ex->t = nt;
    ex->cap_t = nc;
    return NASC_OK;
}

/* The space, the evaluator and the objectives of ex->cfg: what rank 0 and every worker rank of a
 * distributed search build alike. */
/* The evaluator's check before training: the cost constraints (not accuracy, not table columns,
 * which only a trained or looked-up trial has). */
static bool cost_precheck(const nasc_trial_result *r, void *user, char *why, size_t why_n) {
    const nasc_objectives *o = user;
    nasc_objectives c = {.n = 1, .kind = {NASC_OBJ_ACCURACY}};
    for (int j = 0; j < o->n_constraints; j++)
        if (o->constraint[j].kind != NASC_OBJ_ACCURACY && o->constraint[j].kind != NASC_OBJ_COLUMN)
            c.constraint[c.n_constraints++] = o->constraint[j];
    nasc_trial_result t = *r;
    t.status = NASC_TRIAL_OK; /* nasc_objectives_apply words the reason only for a trial still OK */
    const bool ok = nasc_objectives_apply(&c, &r->cost, &t);
    if (!ok)
        snprintf(why, why_n, "%s", t.reason);
    return ok;
}

static nasc_status build_evaluator(nasc_experiment *ex, nasc_err *err) {
    nasc_status st;
    if ((st = nasc_space_new(ex->cfg.space, NULL, &ex->space, err)) != NASC_OK)
        return st;
    if ((st = nasc_experiment_make_evaluator(&ex->cfg, ex->space, &ex->eval, err)) != NASC_OK)
        return st;
    if (ex->cfg.time_budget > 0 && !ex->eval->has_sim_time) {
        st = nasc_errorf(err, NASC_ERR_ARG,
                         "time-budget: %s has no training time to simulate (a user table needs "
                         "--table-cost COLUMN)",
                         ex->cfg.benchmark);
        return st;
    }
    if ((st = nasc_objectives_parse(ex->cfg.objective, ex->cfg.constraint, &ex->obj, err)))
        return st;
    if (nasc_objectives_need_cost(&ex->obj)) { /* costs for objectives and constraints */
        bool lat = false;
        for (int j = 0; j < ex->obj.n; j++)
            lat |= ex->obj.kind[j] == NASC_OBJ_LATENCY;
        for (int j = 0; j < ex->obj.n_constraints; j++)
            lat |= ex->obj.constraint[j].kind == NASC_OBJ_LATENCY;
        nasc_net_config net = ex->eval->cost_net;
        if (!ex->eval->want_cost) /* a table: the NAS-Bench-201 networks, CIFAR inputs */
            net = (nasc_net_config){.in_c = 3,
                                    .in_h = 32,
                                    .in_w = 32,
                                    .n_classes = strstr(ex->cfg.benchmark, "cifar100") ? 100 : 10};
        nasc_evaluator_set_cost(ex->eval, &net, lat ? 10 : ex->eval->cost_latency_repeats);
        if (ex->eval->want_cost && !strcmp(ex->eval->iface->kind, "train") &&
            ex->obj.n_constraints > 0)
            nasc_evaluator_set_precheck(ex->eval, cost_precheck, &ex->obj);
    }
    return NASC_OK;
}

static void note_done(nasc_experiment *ex, int64_t k);

nasc_status nasc_experiment_open(const nasc_experiment_config *cfg_in, nasc_experiment **out,
                                 nasc_err *err) {
    *out = NULL;
    nasc_experiment *ex = nasc_calloc(1, sizeof *ex);
    if (!ex)
        return nasc_errorf(err, NASC_ERR_NOMEM, "experiment: out of memory");
    ex->cfg = *cfg_in;
    ex->best = -1;
    nasc_kv *kv = NULL; /* the configuration as stored */
    int n_kv = 0;
    bool existing = false; /* continuing a database that exists */
    nasc_status st = nasc_config_validate(&ex->cfg, err);
    if (st == NASC_OK && nasc_dist_size() > 1 && nasc_dist_rank() == 0) {
        /* a distributed search: ranks 1..N-1 are the workers */
        ex->n_ranks = nasc_dist_size() - 1;
        if (ex->cfg.workers != ex->n_ranks)
            st = nasc_errorf(err, NASC_ERR_ARG,
                             "workers: a search over %d MPI ranks has %d workers (ranks 1..%d), "
                             "not %d; leave --workers out",
                             nasc_dist_size(), ex->n_ranks, ex->n_ranks, ex->cfg.workers);
    }
    /* the default ask-ahead follows the workers of the run that creates the experiment (the
     * stored number is what --resume continues with) */
    if (ex->cfg.ask_ahead == NASC_ASK_AHEAD_AUTO)
        ex->cfg.ask_ahead = nasc_ask_ahead_auto(ex->cfg.strategy, ex->cfg.workers);
    char canon[256];
    if (st == NASC_OK)
        st = nasc_strategy_opts_canonical(ex->cfg.strategy, ex->cfg.strategy_opt, canon,
                                          sizeof canon, err);
    if (st != NASC_OK)
        goto fail;
    snprintf(ex->cfg.strategy_opt, sizeof ex->cfg.strategy_opt, "%s", canon);

    /* the database first: a bad file is reported before anything is loaded. An existing
     * experiment is only read until every check passed (a refusal changes nothing); its
     * runtime keys are stored at the end. */
    if ((st = nasc_config_to_kv(&ex->cfg, &kv, &n_kv, err)) != NASC_OK)
        goto fail;
    if (!ex->cfg.db[0]) {
        st = nasc_db_open_memory(kv, n_kv, &ex->db, err);
    } else if (access(ex->cfg.db, F_OK) == 0) {
        existing = true;
    } else if (ex->cfg.resume) {
        st = nasc_errorf_at(err, NASC_ERR_IO, ex->cfg.db, -1,
                            "%s: no such experiment database (nothing to resume)", ex->cfg.db);
    } else {
        st = nasc_db_create(ex->cfg.db, kv, n_kv, &ex->db, err);
        if (st == NASC_ERR_IO && access(ex->cfg.db, F_OK) == 0) {
            /* another search created it meanwhile: continue it as if it had existed */
            nasc_err_clear(err);
            st = NASC_OK;
            existing = true;
        }
    }
    if (st == NASC_OK && existing) {
        st = nasc_db_open(ex->cfg.db, &ex->db, err);
        if (st == NASC_OK)
            st = check_same_config(ex, err);
    }
    if (st != NASC_OK)
        goto fail;
    if ((st = nasc_db_trials_load(ex->db, &ex->rec, &ex->n_rec, err)) != NASC_OK)
        goto fail;
    ex->max_trials = ex->cfg.budget > 0 ? ex->cfg.budget : INT64_MAX;
    if (ex->n_rec > ex->max_trials) {
        st = nasc_errorf(err, NASC_ERR_ARG,
                         "budget: %lld is less than the %lld trials already in %s",
                         (long long)ex->cfg.budget, (long long)ex->n_rec, ex->cfg.db);
        goto fail;
    }

    if ((st = build_evaluator(ex, err)) != NASC_OK)
        goto fail;
    nasc_strategy_config sc = {
        .seed = ex->cfg.seed,
        .budget = ex->cfg.budget,
        .ask_ahead = ex->cfg.ask_ahead,
        .min_fidelity = ex->eval->n_fidelities > 0 ? ex->eval->fidelities[0] : 0,
        .max_fidelity = ex->eval->max_fidelity,
        .n_fidelities = ex->eval->n_fidelities,
        .n_objectives = ex->obj.n > 1 ? ex->obj.n : 0,
    };
    memcpy(sc.fidelities, ex->eval->fidelities, sizeof sc.fidelities);
    if ((st = init_archs_load(ex, err)) != NASC_OK)
        goto fail;
    sc.init = ex->init;
    sc.n_init = ex->n_init;
    if ((st = nasc_strategy_new(ex->cfg.strategy, ex->space, &sc, ex->cfg.strategy_opt,
                                &ex->strategy, err)) != NASC_OK)
        goto fail;

    /* the recorded trials, as the loop will see them */
    if ((st = grow_trials(ex, ex->n_rec, err)) != NASC_OK)
        goto fail;
    for (int64_t i = 0; i < ex->n_rec; i++) {
        trial *t = &ex->t[i];
        const nasc_trial_record *r = &ex->rec[i];
        nasc_err aerr = {0};
        if (nasc_arch_parse(ex->space, r->arch, &t->arch, &aerr) != NASC_OK) {
            st = nasc_errorf_at(err, NASC_ERR_FORMAT, ex->cfg.db, -1, "%s: trial %lld: %s",
                                ex->cfg.db, (long long)i, aerr.msg);
            goto fail;
        }
        if (!(t->text = nasc_strdup(r->arch))) {
            st = nasc_errorf(err, NASC_ERR_NOMEM, "experiment: out of memory");
            goto fail;
        }
        t->fidelity = r->fidelity;
        t->seed = r->seed;
        t->attempts = r->attempts;
        t->state = T_QUEUED;
        ex->n_t = i + 1;
        if (r->result) { /* finished: its recorded result will be told */
            t->result = r->result;
            ex->rec[i].result = NULL;
            note_done(ex, i);
        }
    }
    ex->n_t = 0; /* trials become "asked" again as the replay reproduces them */
    /* every check passed: runtime keys (budget, workers, ...) take the new values */
    if (existing && (st = nasc_db_config_put(ex->db, kv, n_kv, err)) != NASC_OK)
        goto fail;
    nasc_free(kv);
    *out = ex;
    return NASC_OK;
fail:
    nasc_free(kv);
    nasc_experiment_free(ex);
    return st;
}

/* ---- bookkeeping ---- */

/* Marks trial k done from t->result (kept until told). */
static void note_done(nasc_experiment *ex, int64_t k) {
    trial *t = &ex->t[k];
    const nasc_trial_result *r = t->result;
    if (t->state == T_RUNNING)
        ex->n_running--;
    t->state = T_DONE;
    ex->n_done++;
    ex->n_ok += r->status == NASC_TRIAL_OK;
    t->status = r->status;
    t->score = r->score;
    t->reached_fidelity = isfinite(r->fidelity) ? r->fidelity : t->fidelity;
    t->stopped_early = r->stopped_early;
    t->test_score = r->test_score;
    t->sim_seconds = r->sim_seconds;
    if (isfinite(r->sim_seconds))
        ex->sim_seconds += r->sim_seconds;
    if (r->n_curve > 0 && !t->curve &&
        (t->curve = nasc_malloc(sizeof(float) * (size_t)r->n_curve))) {
        memcpy(t->curve, r->curve, sizeof(float) * (size_t)r->n_curve);
        t->n_curve = r->n_curve;
    }
    if (t->status == NASC_TRIAL_OK) {
        /* best: highest fidelity reached, then highest score, then the earliest trial */
        if (ex->best < 0)
            ex->best = k;
        else {
            const trial *b = &ex->t[ex->best];
            bool tie = t->reached_fidelity == b->reached_fidelity && t->score == b->score;
            if (nasc_trial_better(t->reached_fidelity, t->score, b->reached_fidelity, b->score) ||
                (tie && k < ex->best))
                ex->best = k;
        }
    }
}

static int64_t count_done(const nasc_experiment *ex, int64_t *n_ok, int64_t *n_failed,
                          int64_t *running) {
    if (n_ok)
        *n_ok = ex->n_ok;
    if (n_failed)
        *n_failed = ex->n_done - ex->n_ok;
    if (running)
        *running = ex->n_running;
    return ex->n_done;
}

static void report(nasc_experiment *ex, int64_t k, nasc_search_cb cb, void *user) {
    if (!cb)
        return;
    nasc_search_progress p = {0};
    p.done = count_done(ex, &p.n_ok, &p.n_failed, &p.running);
    p.budget = ex->cfg.budget;
    p.time_budget = ex->cfg.time_budget;
    p.sim_seconds = ex->sim_seconds;
    p.done_this_run = ex->done_this_run;
    p.last_trial = k;
    p.best_score = ex->best >= 0 ? ex->t[ex->best].score : (double)NAN;
    p.best_test = ex->best >= 0 ? ex->t[ex->best].test_score : (double)NAN;
    p.best_arch = ex->best >= 0 ? ex->t[ex->best].text : NULL;
    p.elapsed_s = mono_now() - ex->t_start;
    cb(&p, user);
}

/* ---- evaluation ---- */

static nasc_curve_history *make_history(nasc_experiment *ex, int64_t k) {
    /* trials 0 .. k-1-ask_ahead are finished before trial k starts (dispatch rule) */
    int64_t upto = k - ex->cfg.ask_ahead;
    if (upto <= 0)
        return NULL;
    nasc_curve_history *h =
        nasc_calloc(1, sizeof *h + (size_t)upto * (sizeof(float *) + sizeof(int)));
    if (!h)
        return NULL;
    const float **curves = (const float **)(h + 1);
    int *n = (int *)(curves + upto);
    int m = 0;
    for (int64_t i = 0; i < upto; i++)
        if (ex->t[i].state == T_DONE && ex->t[i].n_curve > 0) {
            curves[m] = ex->t[i].curve;
            n[m] = ex->t[i].n_curve;
            m++;
        }
    h->n_trials = m;
    h->curves = curves;
    h->n = n;
    return h;
}

/* One evaluation, as a worker (a forked process or a worker rank) needs it. */
typedef struct job {
    int64_t k;
    const nasc_arch *arch;
    double fidelity;
    uint64_t seed;
    int attempt;
    const nasc_curve_history *history; /* NULL: built from the trial list when needed (rank 0) */
} job;

static job trial_job(const nasc_experiment *ex, int64_t k) {
    const trial *t = &ex->t[k];
    return (job){
        .k = k, .arch = t->arch, .fidelity = t->fidelity, .seed = t->seed, .attempt = t->attempts};
}

static void evaluate_job(nasc_experiment *ex, const job *j, nasc_trial_result *r) {
    nasc_curve_history *h =
        ex->cfg.median_stop && !j->history && !ex->serving ? make_history(ex, j->k) : NULL;
    nasc_eval_request rq = {.trial = j->k,
                            .arch = j->arch,
                            .fidelity = j->fidelity,
                            .seed = j->seed,
                            .history = j->history ? j->history : h};
    nasc_evaluator_evaluate(ex->eval, &rq, r, NULL); /* failures are in r */
    nasc_free(h);
    /* the scale model (--sim-sleep): the trial takes time, as uneven as real trainings, without
     * using a core; its measured time includes the sleep */
    if (ex->cfg.sim_sleep > 0 && isfinite(r->sim_seconds) && ex->eval->mean_sim_seconds > 0) {
        double s = ex->cfg.sim_sleep * r->sim_seconds / ex->eval->mean_sim_seconds;
        struct timespec ts = {.tv_sec = (time_t)s,
                              .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
        if (isfinite(r->seconds))
            r->seconds += s;
    }
}

/* Records the result of trial k and keeps it (canonicalised) for telling. */
static nasc_status finish_trial(nasc_experiment *ex, int64_t k, const nasc_trial_result *r_in,
                                nasc_err *err) {
    trial *t = &ex->t[k];
    /* objectives from the score and the measured cost; a violated constraint fails the trial */
    nasc_trial_result *r = nasc_malloc(sizeof *r);
    if (!r)
        return nasc_errorf(err, NASC_ERR_NOMEM, "experiment: out of memory");
    *r = *r_in;
    nasc_cost cost = r->cost;
    nasc_objectives_apply(&ex->obj, &cost, r);
    nasc_status dst = nasc_db_trial_finish(ex->db, k, r, err);
    if (dst != NASC_OK) {
        nasc_free(r);
        return dst;
    }
    nasc_trial_result *c = nasc_malloc(sizeof *c);
    if (!c) {
        nasc_free(r);
        return nasc_errorf(err, NASC_ERR_NOMEM, "experiment: out of memory");
    }
    nasc_status st = canonical_result(r, t->fidelity, c, err);
    nasc_free(r);
    if (st != NASC_OK) {
        nasc_free(c);
        return st;
    }
    nasc_free(t->result);
    t->result = c;
    note_done(ex, k);
    ex->done_this_run++;
    return NASC_OK;
}

static int free_slot(nasc_experiment *ex) {
    for (int i = 0; i < ex->n_slots; i++)
        if (!ex->slots[i].busy)
            return i;
    return -1;
}

/* The slot trial k goes to: an idle one; else, with ex->prefetch, a busy worker rank without a
 * second trial (the trial is sent now and starts the moment the rank's current one ends, so the
 * rank does not wait for rank 0 to receive its result and answer: message latency, commits and
 * the strategy's model fits are off its path). Only behind a trial at a lower fidelity than trial
 * k's, or at the same when that is the lowest fidelity proposed (a 12-epoch trial queued behind
 * a 200-epoch one would idle while other ranks free up; a 200-epoch one queued behind another
 * would wait a whole 200-epoch trial, and, told in order, hold back every later result), the one
 * that has run longest. -1: none. */
static double full_if_0(double fidelity) {
    return fidelity > 0 ? fidelity : (double)INFINITY; /* 0 asks for the full fidelity */
}

static int slot_for_start(const nasc_experiment *ex, int64_t k) {
    int i = free_slot((nasc_experiment *)ex);
    if (i >= 0 || !ex->prefetch)
        return i;
    const double fk = full_if_0(ex->t[k].fidelity);
    for (int j = 0; j < ex->n_slots; j++) {
        const slot *s = &ex->slots[j];
        if (!s->busy || s->has_next)
            continue;
        double fr = full_if_0(ex->t[s->trial].fidelity);
        if ((fr < fk || (fr == fk && fk <= ex->min_fid)) &&
            (i < 0 || s->started < ex->slots[i].started))
            i = j;
    }
    return i;
}

static int n_busy(const nasc_experiment *ex) {
    int n = 0;
    for (int i = 0; i < ex->n_slots; i++)
        n += ex->slots[i].busy;
    return n;
}

/* Starts job j in slot i as a forked process. */
static nasc_status start_worker(nasc_experiment *ex, int i, const job *j, nasc_err *err) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return nasc_errorf(err, NASC_ERR_IO, "worker: pipe: %s", strerror(errno));
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return nasc_errorf(err, NASC_ERR_IO, "worker: fork: %s", strerror(errno));
    }
    if (pid == 0) {
        /* the worker: dies with the search, leaves interrupts to it, never touches the database */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(3);
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_DFL);
        close(fds[0]);
        nasc_db_after_fork(ex->db); /* the experiment's lock is the search's, not the worker's */
#ifdef NASC_TEST
        /* test hooks: this trial's worker crashes (abort) or, on its first attempt, is killed */
        const char *hook = getenv("NASC_TEST_CRASH_TRIAL");
        if (hook && *hook && atoll(hook) == j->k)
            abort();
        hook = getenv("NASC_TEST_KILL_WORKER");
        if (hook && *hook && atoll(hook) == j->k && j->attempt == 1)
            raise(SIGKILL);
#endif
        nasc_trial_result r;
        evaluate_job(ex, j, &r);
        const char *p = (const char *)&r;
        size_t left = sizeof r;
        while (left) {
            ssize_t w = write(fds[1], p, left);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                _exit(4);
            p += w;
            left -= (size_t)w;
        }
        _exit(0);
    }
    close(fds[1]);
    slot *s = &ex->slots[i];
    memset(s, 0, sizeof *s);
    s->busy = true;
    s->pid = pid;
    s->fd = fds[0];
    s->trial = j->k;
    s->attempt = j->attempt;
    s->started = mono_now();
    s->deadline = ex->cfg.trial_timeout > 0 ? s->started + ex->cfg.trial_timeout : (double)INFINITY;
    return NASC_OK;
}

static const char *signal_name(int sig) {
    const char *d = strsignal(sig);
    return d ? d : "unknown signal";
}

/* Slot i's process closed its pipe (or timed out and was killed): reaps it and turns its end into
 * the trial's result, or *out_requeue (killed from outside: run it again). Frees the slot. */
static void slot_outcome(nasc_experiment *ex, int i, nasc_trial_result *r, bool *out_requeue) {
    slot *s = &ex->slots[i];
    int wst = 0;
    while (waitpid(s->pid, &wst, 0) < 0 && errno == EINTR) {
    }
    close(s->fd);
    bool got = s->got == sizeof s->buf;
    *out_requeue = false;
    if (s->timed_out) {
        nasc_trial_result_init(r);
        nasc_trial_result_fail(r, "timed out after %g s", ex->cfg.trial_timeout);
        r->seconds = mono_now() - s->started;
    } else if (got && WIFEXITED(wst) && WEXITSTATUS(wst) == 0) {
        *r = s->buf;
    } else if (WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL) {
        /* killed from outside (OOM killer, an operator): run it again, a few times at most */
        if (s->attempt < MAX_ATTEMPTS)
            *out_requeue = true;
        else {
            nasc_trial_result_init(r);
            nasc_trial_result_fail(r, "worker killed (SIGKILL) in each of %d attempts", s->attempt);
        }
    } else if (WIFSIGNALED(wst)) {
        nasc_trial_result_init(r);
        nasc_trial_result_fail(r, "worker crashed: signal %d (%s)", WTERMSIG(wst),
                               signal_name(WTERMSIG(wst)));
        r->seconds = mono_now() - s->started;
    } else {
        nasc_trial_result_init(r);
        nasc_trial_result_fail(r, "worker exited with status %d without a result",
                               WIFEXITED(wst) ? WEXITSTATUS(wst) : -1);
    }
    memset(s, 0, sizeof *s);
}

/* Rank 0: trial k ended with r, or is to be run again. */
static nasc_status apply_outcome(nasc_experiment *ex, int64_t k, bool requeue,
                                 const nasc_trial_result *r, nasc_search_cb cb, void *user,
                                 nasc_err *err) {
    if (requeue) {
        ex->t[k].state = T_QUEUED;
        ex->n_running--;
        nasc_log(NASC_LOG_WARN, "trial %lld: worker was killed; running it again", (long long)k);
        return NASC_OK;
    }
    NASC_TRY(finish_trial(ex, k, r, err));
    report(ex, k, cb, user);
    return NASC_OK;
}

/* Waits for the forked processes (results, exits, timeouts) for at most max_wait seconds; the
 * slots whose process ended (pipe closed, or timed out and killed) go into closed[], their count
 * is returned (-1 with err set if poll failed). */
static int wait_local(nasc_experiment *ex, double max_wait, int *closed, nasc_err *err) {
    struct pollfd pf[256];
    int idx[256], n = 0, n_closed = 0;
    double now = mono_now(), next_deadline = now + max_wait;
    for (int i = 0; i < ex->n_slots && n < 256; i++) {
        slot *s = &ex->slots[i];
        if (!s->busy || !s->pid)
            continue;
        pf[n].fd = s->fd;
        pf[n].events = POLLIN;
        pf[n].revents = 0;
        idx[n++] = i;
        if (s->deadline < next_deadline)
            next_deadline = s->deadline;
    }
    if (!n)
        return 0;
    double wait_s = next_deadline - now;
    int ms = wait_s <= 0 ? 0 : wait_s > 1e6 ? 1000000000 : (int)(wait_s * 1000.0) + 1;
    int rc = poll(pf, (nfds_t)n, ms);
    if (rc < 0 && errno != EINTR) {
        nasc_errorf(err, NASC_ERR_IO, "worker: poll: %s", strerror(errno));
        return -1;
    }
    now = mono_now();
    for (int j = 0; j < n; j++) {
        slot *s = &ex->slots[idx[j]];
        bool is_closed = false;
        if (rc > 0 && (pf[j].revents & (POLLIN | POLLHUP | POLLERR))) {
            if (s->got < sizeof s->buf) {
                ssize_t r = read(s->fd, (char *)&s->buf + s->got, sizeof s->buf - s->got);
                if (r > 0)
                    s->got += (size_t)r;
                else if (r == 0 || (errno != EINTR && errno != EAGAIN))
                    is_closed = true;
            } else {
                char c;
                ssize_t r = read(s->fd, &c, 1);
                if (r <= 0)
                    is_closed = true;
            }
        }
        if (!is_closed && now >= s->deadline && s->got < sizeof s->buf) {
            kill(s->pid, SIGKILL);
            s->timed_out = true;
            is_closed = true;
        }
        if (is_closed)
            closed[n_closed++] = idx[j];
    }
    return n_closed;
}

/* ---- distributed search: rank 0's side ---- */

/* Sends trial k to the worker rank of slot i. */
static nasc_status start_remote(nasc_experiment *ex, int i, int64_t k, nasc_err *err) {
    const trial *t = &ex->t[k];
    nasc_curve_history *h = ex->cfg.median_stop ? make_history(ex, k) : NULL;
    nasc_remote_job j = {.trial = k,
                         .fidelity = t->fidelity,
                         .seed = t->seed,
                         .attempt = t->attempts,
                         .arch = t->text,
                         .history = h};
    nasc_status st = nasc_remote_send_job(i + 1, &j, err);
    nasc_free(h);
    NASC_TRY(st);
    slot *s = &ex->slots[i];
    if (s->busy) { /* the rank's second trial: it starts when the first ends */
        s->has_next = true;
        s->next = k;
        s->next_attempt = t->attempts;
        return NASC_OK;
    }
    memset(s, 0, sizeof *s);
    s->busy = true;
    s->trial = k;
    s->attempt = t->attempts;
    s->started = mono_now();
    s->deadline = (double)INFINITY; /* the worker rank applies the trial timeout */
    return NASC_OK;
}

/* Sleeps a little longer each time nothing arrived (20 us doubling up to max_us): message
 * latency stays low while a burst lasts, and an idle wait costs almost no CPU. Rank 0 naps at
 * most 1 ms, an idle worker rank 4 ms (64 idle ranks on 2 cores would otherwise wake 64,000
 * times a second; a trial starts on average 2 ms late, 0.2 % of a 1 s trial). */
static void nap(unsigned *us, unsigned max_us) {
    usleep(*us);
    *us = *us * 2 < max_us ? *us * 2 : max_us;
}

/* Sends the configuration to every worker rank and waits until each has built its evaluator
 * (loading the dataset or table on its node); the first that could not: its status and message. */
static nasc_status ranks_setup(nasc_experiment *ex, nasc_err *err) {
    for (int r = 1; r <= ex->n_ranks; r++)
        NASC_TRY(nasc_remote_send_config(r, &ex->cfg, err));
    int n_ready = 0;
    unsigned us = 20;
    while (n_ready < ex->n_ranks) {
        if (ex->stop)
            return nasc_errorf(err, NASC_ERR_ABORTED, "interrupted while the worker ranks started");
        nasc_dist_msg m;
        if (!nasc_dist_poll(-1, &m)) {
            nap(&us, 1000);
            continue;
        }
        if (m.tag != NASC_TAG_READY)
            return nasc_errorf(err, NASC_ERR_INTERNAL,
                               "distributed search: rank %d sent tag %d before it was ready", m.src,
                               m.tag);
        NASC_TRY(nasc_remote_recv_ready(&m, err));
        n_ready++;
    }
    ex->ranks_ready = true;
    return NASC_OK;
}

/* Rank 0 of a distributed search commits its database changes in batches: one transaction for
 * the changes made while it is busy (results recorded, proposals recorded, trials started,
 * snapshots), committed before it naps for want of messages and at least every 50 ms, instead of
 * three transactions per trial. A kill loses at most the last batch, which --resume redoes like
 * any unfinished trial (the replay proposes the same trials). */
#define BATCH_SECONDS 0.05

static nasc_status batch_end(nasc_experiment *ex, nasc_err *err) {
    if (!ex->batch_open)
        return NASC_OK;
    ex->batch_open = false;
    return nasc_db_group_end(ex->db, true, err);
}

static nasc_status batch_begin(nasc_experiment *ex, nasc_err *err) {
    if (!ex->n_ranks || ex->batch_open)
        return NASC_OK;
    NASC_TRY(nasc_db_group_begin(ex->db, err));
    ex->batch_open = true;
    ex->batch_t = mono_now();
    return NASC_OK;
}

static nasc_status batch_tick(nasc_experiment *ex, nasc_err *err) {
    if (!ex->n_ranks)
        return NASC_OK;
    if (ex->batch_open && mono_now() - ex->batch_t < BATCH_SECONDS)
        return NASC_OK;
    NASC_TRY(batch_end(ex, err));
    return batch_begin(ex, err);
}

/* Receives the worker ranks' results for at most max_wait seconds (returns after the first
 * batch). */
static nasc_status wait_ranks(nasc_experiment *ex, double max_wait, nasc_search_cb cb, void *user,
                              nasc_err *err) {
    double t_end = mono_now() + max_wait;
    unsigned us = 20;
    for (;;) {
        bool any = false;
        nasc_dist_msg m;
        while (nasc_dist_poll(-1, &m)) {
            if (!any) /* results arrive: recorded in the batch, committed at the next nap */
                NASC_TRY(batch_begin(ex, err));
            any = true;
            int64_t k = -1;
            bool requeue = false;
            nasc_trial_result r;
            if (m.tag != NASC_TAG_OUTCOME || m.src < 1 || m.src > ex->n_ranks)
                return nasc_errorf(err, NASC_ERR_INTERNAL,
                                   "distributed search: unexpected message (tag %d) from rank %d",
                                   m.tag, m.src);
            NASC_TRY(nasc_remote_recv_outcome(&m, &k, &requeue, &r, err));
            slot *s = &ex->slots[m.src - 1];
            if (!s->busy || s->trial != k)
                return nasc_errorf(err, NASC_ERR_INTERNAL,
                                   "distributed search: rank %d reported trial %lld, which it was "
                                   "not running",
                                   m.src, (long long)k);
            if (s->has_next) { /* the rank went on with its second trial */
                s->trial = s->next;
                s->attempt = s->next_attempt;
                s->started = mono_now();
                s->has_next = false;
            } else {
                memset(s, 0, sizeof *s);
            }
            NASC_TRY(apply_outcome(ex, k, requeue, &r, cb, user, err));
        }
        if (any || ex->stop || mono_now() >= t_end)
            return NASC_OK;
        NASC_TRY(batch_end(ex, err)); /* nothing to do: commit before napping */
        nap(&us, 1000);
    }
}

/* Waits for worker events (results, exits, timeouts) for at most `max_wait` seconds. */
static nasc_status wait_workers(nasc_experiment *ex, double max_wait, nasc_search_cb cb, void *user,
                                nasc_err *err) {
    if (ex->n_ranks)
        return wait_ranks(ex, max_wait, cb, user, err);
    int closed[256];
    int n = wait_local(ex, max_wait, closed, err);
    if (n < 0)
        return err->code;
    for (int j = 0; j < n; j++) {
        int64_t k = ex->slots[closed[j]].trial;
        nasc_trial_result r;
        bool requeue = false;
        slot_outcome(ex, closed[j], &r, &requeue);
        NASC_TRY(apply_outcome(ex, k, requeue, &r, cb, user, err));
    }
    return NASC_OK;
}

/* ---- the loop ---- */

static nasc_status tell_next(nasc_experiment *ex, nasc_err *err) {
    int64_t k = ex->strategy->n_told;
    trial *t = &ex->t[k];
    NASC_ASSERT(t->state == T_DONE && t->result);
    NASC_TRY(nasc_strategy_tell(ex->strategy, k, t->arch, t->fidelity, t->result, err));
    t->told = true;
    nasc_free(t->result);
    t->result = NULL;
    int64_t told = ex->strategy->n_told;
    if (nasc_strategy_can_save(ex->strategy) && told > ex->snapshot_told &&
        told % ex->cfg.snapshot_every == 0) {
        void *buf = NULL;
        size_t len = 0;
        NASC_TRY(nasc_strategy_save(ex->strategy, &buf, &len, err));
        nasc_status st = nasc_db_snapshot_put(ex->db, ex->strategy->n_asked, told, buf, len, err);
        nasc_free(buf);
        NASC_TRY(st);
        ex->snapshot_told = told;
    }
    return NASC_OK;
}

/* Records a new proposal as trial k, or checks it against the recorded trial k. */
static nasc_status accept_proposal(nasc_experiment *ex, nasc_proposal *p, nasc_err *err) {
    int64_t k = ex->n_t;
    nasc_status gst = grow_trials(ex, k + 1, err);
    if (gst != NASC_OK) {
        nasc_arch_free(p->arch);
        return gst;
    }
    trial *t = &ex->t[k];
    char *text = nasc_arch_to_string(p->arch);
    if (!text) {
        nasc_arch_free(p->arch);
        return nasc_errorf(err, NASC_ERR_NOMEM, "experiment: out of memory");
    }
    if (k < ex->n_rec) {
        bool same = !strcmp(text, t->text) && p->fidelity == t->fidelity;
        if (!same) {
            nasc_status st = nasc_errorf_at(
                err, NASC_ERR_DB, ex->cfg.db, -1,
                "%s: resume: trial %lld: the strategy now proposes %s (fidelity %g) but the "
                "database recorded %s (fidelity %g); the search cannot continue identically "
                "(a different nasc version, or a modified database?)",
                ex->cfg.db, (long long)k, text, p->fidelity, t->text, t->fidelity);
            nasc_free(text);
            nasc_arch_free(p->arch);
            return st;
        }
        nasc_free(text);
        /* keep the recorded architecture object; the proposal is equal */
        nasc_arch_free(p->arch);
        ex->n_t = k + 1;
        ex->min_fid = fmin(ex->min_fid, full_if_0(t->fidelity));
        return NASC_OK;
    }
    t->arch = p->arch;
    t->text = text;
    t->fidelity = p->fidelity;
    ex->min_fid = fmin(ex->min_fid, full_if_0(t->fidelity));
    t->seed = nasc_trial_seed(ex->cfg.seed, k);
    t->state = T_QUEUED;
    nasc_trial_record row = {.id = k,
                             .arch = text,
                             .hash = nasc_arch_hash(p->arch),
                             .fidelity = p->fidelity,
                             .seed = t->seed};
    ex->n_t = k + 1;
    return nasc_db_trial_insert(ex->db, &row, err);
}

/* Index of the lowest queued trial that may start now and has a slot (ex->n_slots == 0: runs in
 * process), or -1. With the median rule, trial k starts only when trials 0 .. k-1-ask_ahead are
 * finished (its history is then fixed), so only the lowest queued one is considered. A queued
 * trial that no rank can take yet (a 200-epoch one while every rank runs one or holds a second
 * trial) does not hold back later ones that can start: the order in which trials start is timing,
 * not a decision (results are still told in trial order). */
static int64_t next_startable(nasc_experiment *ex) {
    while (ex->first_unfinished < ex->n_t && ex->t[ex->first_unfinished].state == T_DONE)
        ex->first_unfinished++;
    for (int64_t k = ex->first_unfinished; k < ex->n_t; k++) {
        if (ex->t[k].state != T_QUEUED)
            continue;
        if (ex->cfg.median_stop && ex->first_unfinished < k - ex->cfg.ask_ahead)
            return -1;
        if (!ex->n_slots || slot_for_start(ex, k) >= 0)
            return k;
        if (ex->cfg.median_stop || (free_slot(ex) < 0 && !ex->prefetch))
            return -1; /* in order; or no slot for any trial */
    }
    return -1;
}

/* Trials proposed and not yet sent: the loop asks while fewer than this many wait, none of them
 * able to start (1 unless worker ranks may hold a second trial: then a few more, so that a
 * trial no rank can take yet does not stop the proposals behind it). */
static int queued_max(const nasc_experiment *ex) {
    return ex->prefetch ? 8 : 1;
}

static int n_queued(const nasc_experiment *ex) {
    int n = 0;
    for (int64_t k = ex->first_unfinished; k < ex->n_t; k++)
        n += ex->t[k].state == T_QUEUED;
    return n;
}

static nasc_status start_trial(nasc_experiment *ex, int64_t k, nasc_search_cb cb, void *user,
                               nasc_err *err) {
    trial *t = &ex->t[k];
    t->attempts++;
    if (ex->cfg.wall_budget > 0 && ex->wall_deadline == (double)INFINITY)
        ex->wall_deadline = mono_now() + ex->cfg.wall_budget;
    if (ex->n_slots == 0) { /* in process */
        NASC_TRY(nasc_db_trial_start(ex->db, k, 0, t->attempts, err));
        t->state = T_RUNNING;
        ex->n_running++;
        nasc_trial_result r;
        job j = trial_job(ex, k);
        evaluate_job(ex, &j, &r);
        NASC_TRY(finish_trial(ex, k, &r, err));
        report(ex, k, cb, user);
        return NASC_OK;
    }
    int i = slot_for_start(ex, k);
    NASC_ASSERT(i >= 0);
    NASC_TRY(nasc_db_trial_start(ex->db, k, i + 1, t->attempts, err));
    if (ex->n_ranks) {
        NASC_TRY(start_remote(ex, i, k, err));
    } else {
        job j = trial_job(ex, k);
        NASC_TRY(start_worker(ex, i, &j, err));
    }
    t->state = T_RUNNING;
    ex->n_running++;
    return NASC_OK;
}

nasc_status nasc_experiment_run(nasc_experiment *ex, nasc_search_cb cb, void *user, nasc_err *err) {
    ex->t_start = mono_now();
    ex->done_this_run = 0;
    ex->wall_deadline = (double)INFINITY;
    ex->wall_stopped = false;
    ex->cancelled = 0;
    nasc_status st = NASC_OK;
    /* workers: forked processes unless the evaluator is cheap and one is enough */
    /* (a distributed search: the worker ranks) */
    ex->n_slots = ex->n_ranks                                    ? ex->n_ranks
                  : ex->eval->in_process && ex->cfg.workers == 1 ? 0
                                                                 : ex->cfg.workers;
    if (ex->n_slots && !ex->slots) {
        ex->slots = nasc_calloc((size_t)ex->n_slots, sizeof(slot));
        if (!ex->slots)
            return nasc_errorf(err, NASC_ERR_NOMEM, "experiment: out of memory");
    }
    if (ex->n_ranks && !ex->ranks_ready)
        NASC_TRY(ranks_setup(ex, err));
    /* worker ranks that evaluate in the rank itself (a table, no trial timeout) cannot be
     * interrupted within a trial anyway, so a second trial queued behind the first delays
     * nothing but a stop, by one such trial; forked trials (training) keep one per rank */
    ex->prefetch = ex->n_ranks && ex->eval->in_process && ex->cfg.trial_timeout <= 0;
    /* a snapshot lets an expensive strategy skip the replay of what it covers */
    if (nasc_strategy_can_save(ex->strategy) && ex->strategy->n_asked == 0) {
        int64_t a = 0, t = 0;
        void *buf = NULL;
        size_t len = 0;
        NASC_TRY(nasc_db_snapshot_get(ex->db, &a, &t, &buf, &len, err));
        if (buf && a <= ex->n_rec && t <= a) {
            bool usable = true;
            for (int64_t i = 0; i < t; i++)
                usable = usable && ex->t[i].state == T_DONE;
            if (usable) {
                nasc_err lerr = {0};
                if (nasc_strategy_load(ex->strategy, buf, len, &lerr) == NASC_OK) {
                    ex->n_t = a;
                    for (int64_t i = 0; i < t; i++) { /* already inside the snapshot */
                        ex->t[i].told = true;
                        nasc_free(ex->t[i].result);
                        ex->t[i].result = NULL;
                    }
                    ex->snapshot_told = t;
                } else {
                    /* a snapshot is only a shortcut: replay everything from the seed instead,
                     * on a fresh strategy (a failed load may have left it half-restored) */
                    nasc_log(NASC_LOG_WARN, "%s: strategy snapshot not used (%s); replaying",
                             ex->cfg.db, lerr.msg);
                    nasc_strategy_config sc = ex->strategy->cfg;
                    nasc_strategy_free(ex->strategy);
                    ex->strategy = NULL;
                    st = nasc_strategy_new(ex->cfg.strategy, ex->space, &sc, ex->cfg.strategy_opt,
                                           &ex->strategy, err);
                }
            }
        }
        nasc_free(buf);
        NASC_TRY(st);
    }
    ex->min_fid = (double)INFINITY;
    for (int64_t k = 0; k < ex->n_t; k++)
        ex->min_fid = fmin(ex->min_fid, full_if_0(ex->t[k].fidelity));
    /* recorded, finished trials are reported once so that progress starts where it stopped */
    if (ex->n_rec)
        report(ex, -1, cb, user);

    for (;;) {
        if (ex->stop) {
            st = nasc_errorf(err, NASC_ERR_ABORTED, "interrupted after %lld of %lld trials%s",
                             (long long)count_done(ex, NULL, NULL, NULL), (long long)ex->cfg.budget,
                             ex->cfg.db[0] ? "; continue with --resume" : "");
            break;
        }
        if ((st = batch_tick(ex, err)) != NASC_OK)
            goto out;
        if (mono_now() >= ex->wall_deadline) { /* the wall budget: what runs is cancelled */
            ex->wall_stopped = true;
            ex->cancelled = ex->n_running;
            break;
        }
        bool progress = false;
        /* start what can start */
        for (;;) {
            int64_t k = next_startable(ex);
            if (k < 0)
                break;
            if ((st = start_trial(ex, k, cb, user, err)) != NASC_OK)
                goto out;
            progress = true;
        }
        /* ask while no proposal waits for a worker, also while every worker is busy: the next
         * proposal is then ready when a worker reports (the strategy's time, a model fit, is
         * spent while the workers run, not while one waits). The ask/tell sequence is the same
         * whenever asks happen, since results are told only when the strategy waits for them. */
        /* a time budget: the next trial is asked once every earlier one has finished (so the
         * time spent, and the decision, do not depend on timing) and only while time is left */
        while (ex->first_unfinished < ex->n_t && ex->t[ex->first_unfinished].state == T_DONE)
            ex->first_unfinished++;
        bool timed = ex->cfg.time_budget > 0;
        bool time_spent = timed && ex->sim_seconds >= ex->cfg.time_budget;
        bool time_known = !timed || ex->first_unfinished >= ex->n_t;
        if (n_queued(ex) < queued_max(ex) && ex->n_t < ex->max_trials && !ex->exhausted &&
            time_known && !time_spent) {
            nasc_proposal p;
            if ((st = nasc_strategy_ask(ex->strategy, &p, err)) != NASC_OK)
                goto out;
            if (p.arch) {
                if ((st = accept_proposal(ex, &p, err)) != NASC_OK)
                    goto out;
                continue;
            }
            /* the strategy waits for the next result in order */
            if (ex->strategy->n_told < ex->strategy->n_asked) {
                if (ex->t[ex->strategy->n_told].state == T_DONE) {
                    if ((st = tell_next(ex, err)) != NASC_OK)
                        goto out;
                    continue;
                }
            } else {
                ex->exhausted = true;
                continue;
            }
        }
        if (progress)
            continue;
        /* done? */
        bool all_asked = ex->n_t >= ex->max_trials || ex->exhausted ||
                         (timed && ex->sim_seconds >= ex->cfg.time_budget);
        while (ex->first_unfinished < ex->n_t && ex->t[ex->first_unfinished].state == T_DONE)
            ex->first_unfinished++;
        if (all_asked && ex->first_unfinished >= ex->n_t) {
            while (ex->strategy->n_told < ex->strategy->n_asked)
                if ((st = tell_next(ex, err)) != NASC_OK)
                    goto out;
            break;
        }
        if (n_busy(ex) == 0) {
            /* nothing runs, nothing can start: only possible if a bug broke the schedule */
            st = nasc_errorf(err, NASC_ERR_INTERNAL,
                             "search loop stalled at trial %lld (told %lld, asked %lld)",
                             (long long)ex->n_t, (long long)ex->strategy->n_told,
                             (long long)ex->strategy->n_asked);
            goto out;
        }
        double max_wait = fmin(0.5, ex->wall_deadline - mono_now());
        if ((st = wait_workers(ex, max_wait > 0 ? max_wait : 0, cb, user, err)) != NASC_OK)
            goto out;
    }
out:
    if (ex->batch_open) { /* keep what succeeded, also when interrupted */
        nasc_err berr = {0};
        nasc_status bst = batch_end(ex, &berr);
        if (st == NASC_OK && bst != NASC_OK) {
            st = bst;
            *err = berr;
        }
    }
    /* stopped by the wall budget while worker ranks evaluate in themselves (tables: such a trial
     * cannot be interrupted, and a rank may hold a second one): receive the outcomes of the
     * trials they hold, dropped (the trials stay 'running'), so that no rank is still sending to
     * rank 0 when it finalizes MPI (seconds at most: only --sim-sleep makes such trials long). A
     * forked trial (training) is killed by the rank when QUIT comes and sends nothing. */
    if (ex->wall_stopped && ex->prefetch) {
        int left = 0;
        for (int i = 0; i < ex->n_slots; i++)
            left += ex->slots[i].busy + ex->slots[i].has_next;
        unsigned us = 20;
        while (left > 0 && !ex->stop) {
            nasc_dist_msg m;
            if (!nasc_dist_poll(-1, &m)) {
                nap(&us, 1000);
                continue;
            }
            nasc_err derr = {0};
            nasc_dist_recv(&m, NULL, 0, &derr); /* consumed, whatever it holds */
            left -= m.tag == NASC_TAG_OUTCOME;
        }
    }
    /* interrupted: running trials are re-run on resume (a worker rank's trial is abandoned when
     * the ranks are sent QUIT, nasc_experiment_dist_end) */
    for (int i = 0; i < ex->n_slots; i++)
        if (ex->slots[i].busy) {
            if (ex->slots[i].pid > 0) {
                kill(ex->slots[i].pid, SIGKILL);
                waitpid(ex->slots[i].pid, NULL, 0);
                close(ex->slots[i].fd);
            }
            ex->t[ex->slots[i].trial].state = T_QUEUED;
            ex->n_running--;
            if (ex->slots[i].has_next) {
                ex->t[ex->slots[i].next].state = T_QUEUED;
                ex->n_running--;
            }
            memset(&ex->slots[i], 0, sizeof ex->slots[i]);
        }
    ex->seconds = mono_now() - ex->t_start;
    return st;
}

void nasc_experiment_stop(nasc_experiment *ex) {
    ex->stop = 1;
}

void nasc_experiment_summary(nasc_experiment *ex, nasc_search_summary *out) {
    memset(out, 0, sizeof *out);
    out->trials = count_done(ex, &out->n_ok, &out->n_failed, NULL);
    out->best_trial = ex->best;
    out->best_score = ex->best >= 0 ? ex->t[ex->best].score : (double)NAN;
    out->best_fidelity = ex->best >= 0 ? ex->t[ex->best].reached_fidelity : (double)NAN;
    out->best_arch = ex->best >= 0 ? ex->t[ex->best].text : NULL;
    out->best_test = ex->best >= 0 ? ex->t[ex->best].test_score : (double)NAN;
    out->sim_seconds = ex->sim_seconds;
    out->has_sim_time = ex->eval->has_sim_time;
    out->wall_stopped = ex->wall_stopped;
    out->cancelled = ex->cancelled;
    out->exhausted = ex->exhausted;
    out->seconds = ex->seconds;
}

nasc_db *nasc_experiment_db(nasc_experiment *ex) {
    return ex->db;
}
const nasc_space *nasc_experiment_space(const nasc_experiment *ex) {
    return ex->space;
}
const nasc_experiment_config *nasc_experiment_get_config(const nasc_experiment *ex) {
    return &ex->cfg;
}

/* ---- distributed search: a worker rank's side ---- */

/* Waits for the next message from rank 0 (polling: see nap). Right after a result was sent
 * (expect_job), the next job usually follows within a few milliseconds: naps stay at most
 * 250 us for the first 20 ms (the job starts on average ~0.1 ms after it arrives, not ~1-2 ms
 * as with the idle naps' doubling), then grow to the idle 4 ms. */
static void wait_rank0(nasc_dist_msg *m, bool expect_job) {
    unsigned us = 20;
    double t_fast = expect_job ? mono_now() + 0.02 : 0.0;
    while (!nasc_dist_poll(0, m))
        nap(&us, expect_job && mono_now() < t_fast ? 250 : 4000);
}

/* Evaluates job j on a worker rank as --workers would: in a forked process (with the trial
 * timeout; a crash fails only the trial), or here for a cheap evaluator without a timeout.
 * Returns false if rank 0 said QUIT meanwhile (the trial's process is killed). */
static bool serve_job(nasc_experiment *ex, const job *j, nasc_trial_result *r, bool *requeue,
                      nasc_err *err) {
    *requeue = false;
    bool fork_it = !ex->eval->in_process || ex->cfg.trial_timeout > 0;
#ifdef NASC_TEST
    fork_it = fork_it || getenv("NASC_TEST_CRASH_TRIAL") || getenv("NASC_TEST_KILL_WORKER");
#endif
    if (!fork_it) {
        evaluate_job(ex, j, r);
        return true;
    }
    if (start_worker(ex, 0, j, err) != NASC_OK) { /* no process: the trial fails, not the rank */
        nasc_trial_result_init(r);
        nasc_trial_result_fail(r, "worker rank %d: %s", nasc_dist_rank(), err->msg);
        nasc_err_clear(err);
        return true;
    }
    for (;;) {
        int closed[1];
        int n = wait_local(ex, 0.02, closed, err);
        nasc_dist_msg m;
        if (n != 0) {
            if (n < 0) { /* poll failed: treat the process as ended */
                nasc_err_clear(err);
                kill(ex->slots[0].pid, SIGKILL);
            }
            slot_outcome(ex, 0, r, requeue);
            return true;
        }
        if (nasc_dist_poll(0, &m) && m.tag == NASC_TAG_QUIT) {
            kill(ex->slots[0].pid, SIGKILL);
            waitpid(ex->slots[0].pid, NULL, 0);
            close(ex->slots[0].fd);
            memset(&ex->slots[0], 0, sizeof ex->slots[0]);
            return false;
        }
    }
}

nasc_status nasc_experiment_serve(nasc_err *err) {
    if (nasc_dist_rank() == 0)
        return nasc_errorf(err, NASC_ERR_ARG, "nasc_experiment_serve: rank 0 runs the search");
    nasc_dist_msg m;
    wait_rank0(&m, false);
    if (m.tag == NASC_TAG_QUIT) /* rank 0 ended before the search started (an error, --help) */
        return nasc_dist_recv(&m, NULL, 0, err);
    if (m.tag != NASC_TAG_CONFIG)
        return nasc_errorf(err, NASC_ERR_INTERNAL,
                           "distributed search: rank %d: unexpected message (tag %d) from rank 0",
                           nasc_dist_rank(), m.tag);
    nasc_experiment *ex = nasc_calloc(1, sizeof *ex);
    if (!ex)
        return nasc_errorf(err, NASC_ERR_NOMEM, "experiment: out of memory");
    ex->serving = true;
    ex->n_slots = 1;
    nasc_status st = nasc_remote_recv_config(&m, &ex->cfg, err);
    if (st == NASC_OK && !(ex->slots = nasc_calloc(1, sizeof(slot))))
        st = nasc_errorf(err, NASC_ERR_NOMEM, "experiment: out of memory");
    if (st == NASC_OK)
        st = build_evaluator(ex, err);
    bool setup_ok = st == NASC_OK;
    /* rank 0 reports a failed setup (with this rank and host) and ends the job with QUIT */
    nasc_status rst = nasc_remote_send_ready(st, err->msg, err);
    nasc_err_clear(err);
    if (rst != NASC_OK)
        st = rst;
    bool quit = false, sent = false;
    while (st == NASC_OK && !quit) {
        wait_rank0(&m, sent);
        if (m.tag == NASC_TAG_QUIT) {
            st = nasc_dist_recv(&m, NULL, 0, err);
            break;
        }
        nasc_remote_job *rj = NULL;
        if (m.tag != NASC_TAG_JOB) {
            st = nasc_errorf(err, NASC_ERR_INTERNAL,
                             "distributed search: rank %d: unexpected message (tag %d) from rank 0",
                             nasc_dist_rank(), m.tag);
            break;
        }
        if ((st = nasc_remote_recv_job(&m, &rj, err)) != NASC_OK)
            break;
#ifdef NASC_TEST
        /* test hook: the worker rank that receives this trial first dies (SIGKILL) */
        const char *hook = getenv("NASC_TEST_KILL_RANK");
        if (hook && *hook && atoll(hook) == rj->trial && rj->attempt == 1)
            raise(SIGKILL);
#endif
        nasc_trial_result r;
        bool requeue = false;
        nasc_arch *arch = NULL;
        nasc_err aerr = {0};
        if (nasc_arch_parse(ex->space, rj->arch, &arch, &aerr) != NASC_OK) {
            nasc_trial_result_init(&r); /* cannot happen with the same binary; fail the trial */
            nasc_trial_result_fail(&r, "worker rank %d: %s", nasc_dist_rank(), aerr.msg);
        } else {
            job j = {.k = rj->trial,
                     .arch = arch,
                     .fidelity = rj->fidelity,
                     .seed = rj->seed,
                     .attempt = rj->attempt,
                     .history = rj->history};
            quit = !serve_job(ex, &j, &r, &requeue, err);
        }
        int64_t k = rj->trial;
        nasc_arch_free(arch);
        nasc_free(rj);
        if (!quit) {
            st = nasc_remote_send_outcome(k, requeue, &r, err);
            sent = true;
        } else { /* consume the QUIT */
            nasc_dist_msg q;
            if (nasc_dist_poll(0, &q))
                st = nasc_dist_recv(&q, NULL, 0, err);
        }
    }
    if (!setup_ok && rst == NASC_OK) {
        /* a failed setup was reported to rank 0: wait for its QUIT and end quietly */
        nasc_err_clear(err);
        st = NASC_OK;
        while (wait_rank0(&m, false), m.tag != NASC_TAG_QUIT)
            nasc_dist_recv(&m, NULL, 0, err); /* drop (a too-large message is consumed) */
        nasc_dist_recv(&m, NULL, 0, err);
        nasc_err_clear(err);
    }
    nasc_experiment_free(ex);
    return st;
}

void nasc_experiment_dist_end(void) {
    static bool ended;
    if (ended || nasc_dist_rank() != 0 || nasc_dist_size() < 2)
        return;
    ended = true;
    char none = 0;
    nasc_err err = {0};
    for (int r = 1; r < nasc_dist_size(); r++)
        if (nasc_dist_send(r, NASC_TAG_QUIT, &none, 0, &err) != NASC_OK)
            nasc_log(NASC_LOG_WARN, "%s", err.msg);
}
