/* bench_strategies.c — every strategy on the NAS-Bench-201 table under the benchmark protocol of
 * the NAS-Bench-201 paper and NASLib: strategies search on the validation accuracy and the result
 * is the test accuracy of the architecture with the best validation accuracy (at the full
 * fidelity). Strategies run in process (nasc_strategy_run: the same call sequence as `nasc
 * search`, no database), and since no strategy plans with its budget, one run of Q queries gives
 * the result after every q <= Q (the first q trials are those of a run with budget q).
 *
 *   bench_strategies                      every strategy, seeds 1..100, 25/50/100/200 queries,
 *                                         CIFAR-10 and CIFAR-100: mean +- std of the reported
 *                                         test accuracy, and how often the optimum was found
 *   bench_strategies --time               a budget of simulated training time: 100 times the
 *                                         table's mean 200-epoch training time (what 100
 *                                         full-fidelity queries of random search cost on average)
 *   bench_strategies --mo                 validation accuracy vs Raspberry Pi 4 latency, 200
 *                                         queries: hypervolume of the front found as a share of
 *                                         the whole table's front (reference point: the table's
 *                                         median accuracy and median latency)
 *   bench_strategies --tune --seed0 1001  validation numbers only (mean best validation accuracy,
 *                                         optimum found): what defaults are chosen on, on seeds
 *                                         apart from the reported ones; never prints a test value
 *
 * Options: --seeds N, --seed0 S, --queries 25,50,100,200, --dataset cifar10|cifar100|both,
 * --strategy NAME [--opts K=V,...] (one row instead of the list), --oracle (search on test: the
 * numbers papers without a validation split report; labelled), --csv FILE (nb201 table path),
 * --ask-ahead K (the strategies see results K trials late, as a search with --ask-ahead K).
 * "Optimum" is the table's best validation accuracy (its test accuracy is 94.37 on CIFAR-10 and
 * 73.51 on CIFAR-100, the best reachable); found = the best-on-validation trial is that cell. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nasc/arena.h"
#include "nasc/pareto.h"
#include "nasc/strategy.h"

#define MAX_Q 8

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct row {
    const char *name, *opts, *label;
} row;

/* The default list: the options of a row are what it differs from the defaults in. */
static const row rows[] = {
    {"random", "", "random"},
    {"evolution", "", "evolution (nasc default)"},
    {"evolution", "population=10,sample=3", "evolution (P=10, S=3: reference)"},
    {"ga", "", "ga (tournament)"},
    {"local", "", "local (first improvement)"},
    {"local", "mode=best", "local (best improvement)"},
    {"grid", "order=shuffle", "grid (shuffled)"},
    {"reinforce", "", "reinforce"},
    {"ppo", "", "ppo"},
    {"bo-gp", "", "bo-gp"},
    {"bo-rf", "", "bo-rf"},
    {"bananas", "", "bananas"},
    {"gan", "", "gan"},
    {"pnas", "", "pnas (MLP ensemble)"},
    {"pnas", "surrogate=gp", "pnas (GP surrogate; beam 5)"},
    {"pnas", "surrogate=gp,beam=10", "pnas (GP surrogate, beam 10)"},
    {"bohb", "min-fidelity=200", "bohb (200 epochs only: TPE)"},
    {"nsga2", "", "nsga2 (one objective)"},
    /* multi-fidelity: queries at 12 epochs count as queries here; see --time */
    {"sh", "", "sh (12+200 epochs)"},
    {"hyperband", "", "hyperband (12+200 epochs)"},
    {"bohb", "", "bohb (12+200 epochs)"},
};

/* --time: the strategies compared at a budget of simulated training time */
static const row time_rows[] = {
    {"random", "", "random"},
    {"evolution", "", "evolution (nasc default)"},
    {"evolution", "population=10,sample=3", "evolution (P=10, S=3: reference)"},
    {"local", "", "local (first improvement)"},
    {"bo-rf", "", "bo-rf (200 epochs)"},
    {"bananas", "", "bananas (200 epochs)"},
    {"sh", "", "sh (12+200 epochs)"},
    {"hyperband", "", "hyperband (12+200 epochs)"},
    {"bohb", "", "bohb (12+200 epochs)"},
};

/* --mo: nsga2, the model-based strategies (EHVI) and those that optimise ParEGO scalarisations */
static const row mo_rows[] = {
    {"random", "", "random"}, {"nsga2", "", "nsga2"},     {"bo-gp", "", "bo-gp"},
    {"bo-rf", "", "bo-rf"},   {"bananas", "", "bananas"}, {"reinforce", "", "reinforce"},
    {"ppo", "", "ppo"},       {"gan", "", "gan"},         {"pnas", "", "pnas"},
};

/* ---- one run, observed trial by trial ---- */

typedef struct observer {
    int nq;
    int q[MAX_Q];                    /* checkpoints (query counts), ascending */
    double opt_valid;                /* the table's best validation accuracy */
    double best_fid, best_v, best_t; /* best so far (nasc_trial_better) */
    double at_v[MAX_Q], at_t[MAX_Q]; /* at each checkpoint */
    /* --mo: every finished full-fidelity trial's (valid, test, latency) */
    double *mo;
    int n_mo;
} observer;

static void observe(int64_t k, const nasc_arch *a, const nasc_trial_result *r, void *user) {
    (void)a;
    observer *o = user;
    double s = r->status == NASC_TRIAL_OK ? r->score : (double)NAN;
    if (nasc_trial_better(r->fidelity, s, o->best_fid, o->best_v)) {
        o->best_fid = r->fidelity;
        o->best_v = s;
        o->best_t = r->test_score;
    }
    for (int i = 0; i < o->nq; i++)
        if (k + 1 == o->q[i]) {
            o->at_v[i] = o->best_v;
            o->at_t[i] = o->best_t;
        }
    if (o->mo && r->status == NASC_TRIAL_OK && r->n_objectives == 2) {
        o->mo[3 * o->n_mo] = r->objectives[0];
        o->mo[3 * o->n_mo + 1] = r->test_score;
        o->mo[3 * o->n_mo + 2] = r->objectives[1];
        o->n_mo++;
    }
}

/* mean and sample standard deviation of n values */
static void mean_sd(const double *v, int n, double *m, double *sd) {
    double s1 = 0, s2 = 0;
    for (int i = 0; i < n; i++)
        s1 += v[i];
    *m = s1 / n;
    for (int i = 0; i < n; i++)
        s2 += (v[i] - *m) * (v[i] - *m);
    *sd = n > 1 ? sqrt(s2 / (n - 1)) : 0.0;
}

/* ---- multi-objective: an evaluator that fills the objectives (as the search loop does) ---- */

typedef struct mo_eval {
    nasc_evaluator *table;
    nasc_objectives o;
} mo_eval;

static nasc_status mo_evaluate(nasc_evaluator *ev, const nasc_eval_request *req,
                               nasc_trial_result *out, nasc_err *err) {
    mo_eval *m = ev->impl;
    NASC_TRY(nasc_evaluator_evaluate(m->table, req, out, err));
    nasc_cost c = out->cost;
    nasc_objectives_apply(&m->o, &c, out);
    return NASC_OK;
}

static const nasc_evaluator_i mo_i = {.kind = "mo", .evaluate = mo_evaluate, .free_impl = NULL};

/* ---- settings ---- */

static int seeds = 100, seed0 = 1;
static const char *csv = NULL;
static bool oracle = false, tune = false, per_seed = false;
static int ask_ahead = 0; /* --ask-ahead K: the schedule of a search with K trials ahead */

typedef struct dataset {
    const char *name;
    nasc_evaluator *ev;
    double opt_valid, opt_test; /* best validation accuracy and that cell's test accuracy */
    double mean_train_s;        /* mean 200-epoch training time over the table */
} dataset;

static int make_strategy(const char *name, const char *opts, const nasc_space *sp,
                         const nasc_evaluator *ev, uint64_t seed, int n_obj, nasc_strategy **st) {
    nasc_err err = {0};
    nasc_strategy_config sc = {.seed = seed,
                               .max_fidelity = ev->max_fidelity,
                               .min_fidelity = ev->n_fidelities ? ev->fidelities[0] : 0,
                               .n_fidelities = ev->n_fidelities,
                               .ask_ahead = ask_ahead,
                               .n_objectives = n_obj};
    memcpy(sc.fidelities, ev->fidelities, sizeof sc.fidelities);
    if (nasc_strategy_new(name, sp, &sc, opts, st, &err) != NASC_OK) {
        fprintf(stderr, "bench_strategies: %s\n", err.msg);
        return 1;
    }
    return 0;
}

/* Runs seeds seed0.. of one strategy for the largest checkpoint (or the time budget) and fills
 * per-seed best validation / test accuracy at each checkpoint; n_queries gets the queries run. */
static int run_seeds(const nasc_space *sp, const dataset *d, nasc_evaluator *ev, const row *r,
                     const observer *tmpl, double time_budget, int n_obj, double *val, double *test,
                     double *n_queries, double *mo_share, double *mo_share_test,
                     const double *mo_ref, const double *mo_full) {
    for (int i = 0; i < seeds; i++) {
        nasc_strategy *st;
        if (make_strategy(r->name, r->opts, sp, ev, (uint64_t)(seed0 + i), n_obj, &st))
            return 1;
        observer o = *tmpl;
        o.best_fid = o.best_v = o.best_t = (double)NAN;
        for (int q = 0; q < MAX_Q; q++)
            o.at_v[q] = o.at_t[q] = (double)NAN;
        int budget = time_budget > 0 ? 1000000 : tmpl->q[tmpl->nq - 1];
        if (n_obj)
            o.mo = nasc_malloc(sizeof(double) * 3 * (size_t)budget);
        nasc_run_summary rs;
        nasc_err err = {0};
        nasc_run_config rc = {
            .budget = budget, .time_budget = time_budget, .on_trial = observe, .user = &o};
        if (nasc_strategy_run(st, ev, &rc, &rs, &err) != NASC_OK) {
            fprintf(stderr, "bench_strategies: %s: %s\n", r->name, err.msg);
            nasc_strategy_free(st);
            return 1;
        }
        nasc_strategy_free(st);
        if (time_budget > 0) { /* one checkpoint: the end */
            o.at_v[0] = rs.best_score;
            o.at_t[0] = rs.best_test;
        }
        for (int q = 0; q < tmpl->nq; q++) {
            val[q * seeds + i] = o.at_v[q];
            test[q * seeds + i] = o.at_t[q];
        }
        n_queries[i] = (double)rs.n;
        if (n_obj) {
            /* hypervolume of the points found (valid acc, latency) and of the same points with
             * their test accuracy, as shares of the table's fronts */
            double *p = nasc_malloc(sizeof(double) * 2 * (size_t)(o.n_mo ? o.n_mo : 1));
            for (int k = 0; k < o.n_mo; k++) {
                p[2 * k] = o.mo[3 * k];
                p[2 * k + 1] = o.mo[3 * k + 2];
            }
            mo_share[i] = nasc_pareto_hypervolume2(p, o.n_mo, mo_ref) / mo_full[0];
            /* the front chosen on validation, reported on test */
            int *front = nasc_malloc(sizeof(int) * (size_t)(o.n_mo ? o.n_mo : 1));
            int nf = nasc_pareto_front(p, o.n_mo, 2, front);
            for (int k = 0; k < nf; k++) {
                p[2 * k] = o.mo[3 * front[k] + 1];
                p[2 * k + 1] = o.mo[3 * front[k] + 2];
            }
            mo_share_test[i] = nasc_pareto_hypervolume2(p, nf, mo_ref + 2) / mo_full[1];
            if (per_seed) { /* validation only: the search's own front */
                fprintf(stderr, "seed %d: HV share (valid) %.3f, %d points on its front\n",
                        seed0 + i, mo_share[i], nf);
                if (getenv("MO_DEBUG"))
                    for (int k = 0; k < nf; k++)
                        if (o.mo[3 * front[k]] > mo_ref[0] && o.mo[3 * front[k] + 2] < mo_ref[1])
                            fprintf(stderr, "  (%.3f, %.3f)\n", o.mo[3 * front[k]],
                                    o.mo[3 * front[k] + 2]);
            }
            nasc_free(front);
            nasc_free(p);
            nasc_free(o.mo);
        }
        (void)d;
    }
    return 0;
}

static int count_opt(const double *v, int n, double opt) {
    int c = 0;
    for (int i = 0; i < n; i++)
        c += v[i] == opt;
    return c;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const nasc_table *t, int c) {
    size_t n = nasc_table_size(t);
    double *v = nasc_malloc(sizeof(double) * n);
    for (size_t i = 0; i < n; i++)
        v[i] = nasc_table_get(t, i, c);
    qsort(v, n, sizeof *v, cmp_double);
    double m = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    nasc_free(v);
    return m;
}

int main(int argc, char **argv) {
    const char *only = NULL, *only_opts = "", *which = "both", *qlist = "25,50,100,200";
    enum { M_QUERIES, M_TIME, M_MO } mode = M_QUERIES;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--seeds") && v)
            seeds = atoi(argv[++i]);
        else if (!strcmp(a, "--seed0") && v)
            seed0 = atoi(argv[++i]);
        else if (!strcmp(a, "--queries") && v)
            qlist = argv[++i];
        else if (!strcmp(a, "--dataset") && v)
            which = argv[++i];
        else if (!strcmp(a, "--strategy") && v)
            only = argv[++i];
        else if (!strcmp(a, "--opts") && v)
            only_opts = argv[++i];
        else if (!strcmp(a, "--csv") && v)
            csv = argv[++i];
        else if (!strcmp(a, "--ask-ahead") && v)
            ask_ahead = atoi(argv[++i]);
        else if (!strcmp(a, "--time"))
            mode = M_TIME;
        else if (!strcmp(a, "--mo"))
            mode = M_MO;
        else if (!strcmp(a, "--tune"))
            tune = true;
        else if (!strcmp(a, "--oracle"))
            oracle = true;
        else if (!strcmp(a, "--per-seed"))
            per_seed = true;
        else {
            fprintf(
                stderr,
                "usage: bench_strategies [--seeds N] [--seed0 S] [--queries LIST] "
                "[--dataset cifar10|cifar100|both] [--strategy NAME [--opts K=V,...]] "
                "[--time | --mo] [--tune] [--oracle] [--per-seed] [--csv FILE] [--ask-ahead K]\n");
            return 2;
        }
    }
    observer tmpl = {0};
    for (const char *p = qlist; *p && tmpl.nq < MAX_Q;) {
        tmpl.q[tmpl.nq++] = atoi(p);
        p = strchr(p, ',');
        p = p ? p + 1 : "";
    }
    if (mode == M_MO)
        tmpl.nq = 1, tmpl.q[0] = strcmp(qlist, "25,50,100,200") ? tmpl.q[0] : 200;
    if (mode == M_TIME)
        tmpl.nq = 1, tmpl.q[0] = 0;
    if (seeds < 2 || tmpl.nq < 1 || tmpl.q[0] < 0) {
        fprintf(stderr, "bench_strategies: --seeds must be >= 2 and --queries a list\n");
        return 2;
    }
    nasc_err err = {0};
    nasc_space *sp;
    if (nasc_space_new("nb201", NULL, &sp, &err) != NASC_OK) {
        fprintf(stderr, "bench_strategies: %s\n", err.msg);
        return 1;
    }
    dataset ds[2] = {{.name = "cifar10"}, {.name = "cifar100"}};
    int d_lo = strcmp(which, "cifar100") ? 0 : 1, d_hi = strcmp(which, "cifar10") ? 2 : 1;
    const char *mo_cols[] = {"latency_raspi4"};
    for (int d = d_lo; d < d_hi; d++) {
        char spec[64];
        snprintf(spec, sizeof spec, "nb201:%s", ds[d].name);
        nasc_table_eval_config c = {.spec = spec, .csv_path = csv, .oracle = oracle};
        if (mode == M_MO) {
            c.columns = mo_cols;
            c.n_columns = 1;
        }
        if (nasc_evaluator_table_new(sp, &c, &ds[d].ev, &err) != NASC_OK) {
            fprintf(stderr, "bench_strategies: %s\n", err.msg);
            return 1;
        }
        const nasc_table *t = nasc_evaluator_table(ds[d].ev);
        char col[64];
        snprintf(col, sizeof col, "%s_train_seconds", ds[d].name);
        int c_cost = nasc_table_column_index(t, col);
        ds[d].opt_valid = -INFINITY;
        double sum = 0;
        for (size_t i = 0; i < nasc_table_size(t); i++) {
            double v = nasc_table_get(t, i, 0);
            sum += nasc_table_get(t, i, c_cost);
            if (v > ds[d].opt_valid) {
                ds[d].opt_valid = v;
                ds[d].opt_test = nasc_table_get(t, i, 1);
            }
        }
        ds[d].mean_train_s = sum / (double)nasc_table_size(t);
    }

    const row *list = mode == M_TIME ? time_rows : mode == M_MO ? mo_rows : rows;
    size_t n_rows = mode == M_TIME ? sizeof time_rows / sizeof time_rows[0]
                    : mode == M_MO ? sizeof mo_rows / sizeof mo_rows[0]
                                   : sizeof rows / sizeof rows[0];
    row one = {only, only_opts, NULL};
    char lab[160];
    if (only) {
        snprintf(lab, sizeof lab, "%s%s%s%s", only, *only_opts ? " (" : "", only_opts,
                 *only_opts ? ")" : "");
        one.label = lab;
        list = &one;
        n_rows = 1;
    }
    const char *what = tune     ? "best validation accuracy found (tuning: no test values)"
                       : oracle ? "ORACLE: searched on TEST accuracy, best test accuracy found"
                                : "test accuracy of the best-on-validation architecture";
    printf("NAS-Bench-201, seeds %d..%d: %s, mean +- std over seeds; [k] = seeds that found the "
           "optimum (best validation accuracy)\n",
           seed0, seed0 + seeds - 1, what);
    double *val = nasc_malloc(sizeof(double) * MAX_Q * (size_t)seeds);
    double *test = nasc_malloc(sizeof(double) * MAX_Q * (size_t)seeds);
    double *nq = nasc_malloc(sizeof(double) * (size_t)seeds);
    double *mo1 = nasc_malloc(sizeof(double) * (size_t)seeds);
    double *mo2 = nasc_malloc(sizeof(double) * (size_t)seeds);
    for (int d = d_lo; d < d_hi; d++) {
        dataset *D = &ds[d];
        nasc_evaluator *ev = D->ev;
        const nasc_table *t = nasc_evaluator_table(ev);
        tmpl.opt_valid = D->opt_valid;
        double time_budget = mode == M_TIME ? 100.0 * D->mean_train_s : 0.0;
        double mo_ref[4] = {0}, mo_full[2] = {1, 1};
        nasc_evaluator *mev = NULL;
        if (mode == M_MO) { /* reference point and the whole table's hypervolume */
            int c_lat = nasc_table_column_index(t, "latency_raspi4_ms");
            mo_ref[0] = median(t, 0);
            mo_ref[1] = median(t, c_lat);
            mo_ref[2] = median(t, 1);
            mo_ref[3] = mo_ref[1];
            size_t n = nasc_table_size(t);
            double *p = nasc_malloc(sizeof(double) * 2 * n);
            for (int w = 0; w < 2; w++) {
                for (size_t i = 0; i < n; i++) {
                    p[2 * i] = nasc_table_get(t, i, w);
                    p[2 * i + 1] = nasc_table_get(t, i, c_lat);
                }
                mo_full[w] = nasc_pareto_hypervolume2(p, (int)n, mo_ref + 2 * w);
            }
            nasc_free(p);
            mo_eval *m = nasc_calloc(1, sizeof *m);
            m->table = ev;
            nasc_objectives_parse("valid,latency_raspi4", NULL, &m->o, &err);
            mev = nasc_evaluator_new(&mo_i, m, sp);
            mev->max_fidelity = ev->max_fidelity;
            mev->n_fidelities = ev->n_fidelities;
            memcpy(mev->fidelities, ev->fidelities, sizeof mev->fidelities);
            printf("\n%s: reference point (valid %.4f, latency %.4f ms), table front hypervolume "
                   "%.2f",
                   D->name, mo_ref[0], mo_ref[1], mo_full[0]);
            if (!tune)
                printf(" (on test: %.2f)", mo_full[1]);
            printf("\n");
        }
        printf("\n### %s%s (optimum: validation %.4f, test %.4f)\n\n", D->name,
               mode == M_TIME ? " at a time budget" : "", D->opt_valid, D->opt_test);
        if (mode == M_TIME)
            printf("time budget: %.0f s of simulated training (100 x the mean training time "
                   "%.1f s)\n\n",
                   time_budget, D->mean_train_s);
        /* header */
        printf("| %-34s |", "strategy");
        if (mode == M_QUERIES)
            for (int q = 0; q < tmpl.nq; q++)
                printf(" %4d queries        |", tmpl.q[q]);
        else if (mode == M_TIME)
            printf(" %-20s | queries |", tune ? "valid" : "test");
        else
            printf(" HV share (valid)  | HV share (front on test) |");
        printf(" time (s) |\n|%s|", "------------------------------------");
        int ncol = mode == M_QUERIES ? tmpl.nq : mode == M_TIME ? 2 : 2;
        for (int q = 0; q < ncol; q++)
            printf("---------------------|");
        printf("----------|\n");
        if (mode == M_QUERIES && !tune) { /* random search, exactly */
            printf("| %-34s |", "random (exact expectation)");
            for (int q = 0; q < tmpl.nq; q++) {
                double m, sd;
                nasc_table_expected_best(t, tmpl.q[q], 0, oracle ? 0 : 1, &m, &sd);
                printf(" %6.2f +- %4.2f      |", m, sd);
            }
            printf(" %8s |\n", "-");
        }
        for (size_t r = 0; r < n_rows; r++) {
            double t0 = now_s();
            if (run_seeds(sp, D, mode == M_MO ? mev : ev, &list[r], &tmpl, time_budget,
                          mode == M_MO ? 2 : 0, val, test, nq, mo1, mo2, mo_ref, mo_full))
                return 1;
            printf("| %-34s |", list[r].label);
            if (mode == M_MO) {
                double m1, s1, m2, s2;
                mean_sd(mo1, seeds, &m1, &s1);
                mean_sd(mo2, seeds, &m2, &s2);
                if (tune) /* tuning never prints a test value */
                    printf(" %5.3f +- %5.3f     | %-24s |", m1, s1, "(not shown: --tune)");
                else
                    printf(" %5.3f +- %5.3f     | %5.3f +- %5.3f            |", m1, s1, m2, s2);
            } else {
                for (int q = 0; q < tmpl.nq; q++) {
                    double m, sd;
                    const double *v = (tune ? val : test) + q * seeds;
                    mean_sd(v, seeds, &m, &sd);
                    printf(" %6.2f +- %4.2f [%3d]|", m, sd,
                           count_opt(val + q * seeds, seeds, D->opt_valid));
                }
                if (mode == M_TIME) {
                    double m, sd;
                    mean_sd(nq, seeds, &m, &sd);
                    printf(" %7.1f |", m);
                }
            }
            printf(" %8.1f |\n", now_s() - t0);
            fflush(stdout);
        }
        nasc_evaluator_free(mev);
    }
    nasc_free(val);
    nasc_free(test);
    nasc_free(nq);
    nasc_free(mo1);
    nasc_free(mo2);
    for (int d = d_lo; d < d_hi; d++)
        nasc_evaluator_free(ds[d].ev);
    nasc_space_free(sp);
    return 0;
}
