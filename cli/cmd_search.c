/* cmd_search.c — `nasc search`: run (or continue) an architecture search.
 *
 * Every flag is a key of the experiment configuration (experiment.h), so the same names work in a
 * YAML file (--config) and are what the trial database stores. Precedence, lowest first: the
 * defaults, the stored configuration (with --resume), the YAML file, the command line. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "nasc/arena.h"
#include "nasc/dist.h"
#include "nasc/experiment.h"
#include "nasc/oneshot_search.h"

#define MAX_FLAGS 96

static nasc_experiment *running; /* for the signal handler */

static void on_signal(int sig) {
    (void)sig;
    if (running)
        nasc_experiment_stop(running);
}

typedef struct progress_ctx {
    cli_progress bar;
    int64_t budget;
    bool oracle;
} progress_ctx;

static void on_progress(const nasc_search_progress *p, void *user) {
    progress_ctx *c = user;
    char line[320], el[32], eta[32];
    double rate = p->elapsed_s > 0 && p->done_this_run > 0 ? p->done_this_run / p->elapsed_s : 0;
    double left = rate > 0 && p->budget > 0 ? (double)(p->budget - p->done) / rate : -1;
    char best[96];
    if (isnan(p->best_score))
        snprintf(best, sizeof best, "-");
    else if (c->oracle)
        snprintf(best, sizeof best, "%.2f (ORACLE: test accuracy searched on)", p->best_score);
    else if (!isnan(p->best_test))
        snprintf(best, sizeof best, "%.2f (test %.2f)", p->best_score, p->best_test);
    else
        snprintf(best, sizeof best, "%.2f", p->best_score);
    char count[64];
    if (p->budget > 0)
        snprintf(count, sizeof count, "%lld/%lld", (long long)p->done, (long long)p->budget);
    else
        snprintf(count, sizeof count, "%lld", (long long)p->done);
    char simtxt[96] = "";
    if (p->time_budget > 0)
        snprintf(simtxt, sizeof simtxt, " | simulated training %.1f/%.1f h",
                 p->sim_seconds / 3600.0, p->time_budget / 3600.0);
    snprintf(line, sizeof line,
             "search: %s trials (%lld failed, %lld running) | best %s%s | %s elapsed, ETA %s",
             count, (long long)p->n_failed, (long long)p->running, best, simtxt,
             cli_fmt_duration(p->elapsed_s, el, sizeof el),
             left >= 0 ? cli_fmt_duration(left, eta, sizeof eta) : "?");
    bool done = p->budget > 0 ? p->done >= p->budget : p->sim_seconds >= p->time_budget;
    cli_progress_show(&c->bar, line, 2.0, done);
}

static const char *const about =
    "Searches SPACE with STRATEGY. Each trial is an architecture scored by a table\n"
    "(--benchmark nb201:cifar10|nb201:cifar100: validation accuracy searched on, test accuracy\n"
    "of the best reported; table:FILE.csv:SEARCH_COLUMN[:REPORT_COLUMN]) or by training it on\n"
    "--data (validation accuracy on a held-out part of the training set). Every trial is\n"
    "recorded in --db; a search killed at any moment continues with --resume and makes the\n"
    "same decisions (same seed => same trials with any --workers). Flags can also come from\n"
    "a YAML file (--config; same key names, flags override it). See docs/EXPERIMENTS.md.\n"
    "strategies: random, grid, evolution, ga, local, sh, hyperband (options: --strategy-opt\n"
    "K=V,...; see docs/EXPERIMENTS.md); learned and model-based: reinforce, ppo, bo-gp,\n"
    "bo-rf, bananas, gan, pnas, bohb, nsga2 (docs/STRATEGIES.md; --objective acc,params and\n"
    "--constraint for multi-objective search); one-shot (a weight-sharing supernet, no\n"
    "--budget): darts, darts2, gdas, pc-darts, enas, spos, proxyless (docs/ONESHOT.md)";

static void print_json(const nasc_experiment_config *cfg, const nasc_search_summary *s,
                       nasc_experiment *ex) {
    cJSON *o = cJSON_CreateObject();
    if (s->best_arch)
        cJSON_AddStringToObject(o, "best_arch", s->best_arch);
    else
        cJSON_AddNullToObject(o, "best_arch");
    cli_json_real(o, "best_score", s->best_score);
    /* what the search selected on (validation accuracy) and what is reported (test accuracy of
     * that architecture); an oracle search selected on test: best_valid is null then */
    cli_json_real(o, "best_valid", cfg->oracle ? (double)NAN : s->best_score);
    cli_json_real(o, "best_test", s->best_test);
    cJSON_AddBoolToObject(o, "oracle", cfg->oracle);
    cJSON_AddNumberToObject(o, "best_trial", (double)s->best_trial);
    cJSON_AddNumberToObject(o, "trials", (double)s->trials);
    cJSON_AddNumberToObject(o, "ok", (double)s->n_ok);
    cJSON_AddNumberToObject(o, "failed", (double)s->n_failed);
    cJSON_AddBoolToObject(o, "exhausted", s->exhausted);
    if (cfg->wall_budget > 0) {
        cJSON_AddBoolToObject(o, "wall_stopped", s->wall_stopped);
        cJSON_AddNumberToObject(o, "cancelled", (double)s->cancelled);
    }
    cJSON_AddStringToObject(o, "space", cfg->space);
    cJSON_AddStringToObject(o, "strategy", cfg->strategy);
    cJSON_AddStringToObject(o, "evaluator", cfg->benchmark[0] ? cfg->benchmark : cfg->data);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)cfg->seed);
    cJSON_AddRawToObject(o, "seed", seed);
    cJSON_AddNumberToObject(o, "budget", (double)cfg->budget);
    if (cfg->db[0])
        cJSON_AddStringToObject(o, "db", cfg->db);
    else
        cJSON_AddNullToObject(o, "db");
    cJSON_AddNumberToObject(o, "seconds", round(s->seconds * 1000.0) / 1000.0);
    if (s->has_sim_time)
        cJSON_AddNumberToObject(o, "sim_seconds", round(s->sim_seconds * 1000.0) / 1000.0);
    else
        cJSON_AddNullToObject(o, "sim_seconds");
    if (cfg->time_budget > 0)
        cJSON_AddNumberToObject(o, "time_budget", cfg->time_budget);
    if (strchr(cfg->objective, ',')) { /* multi-objective: the Pareto front's trial ids */
        nasc_trial_record *t = NULL;
        int64_t n = 0;
        nasc_err e = {0};
        cJSON *arr = cJSON_AddArrayToObject(o, "pareto");
        if (nasc_db_trials_load(nasc_experiment_db(ex), &t, &n, &e) == NASC_OK) {
            int64_t *front = nasc_malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
            int64_t nf = front ? nasc_trials_pareto(t, n, front) : 0;
            for (int64_t i = 0; arr && i < nf; i++)
                cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)t[front[i]].id));
            nasc_free(front);
            nasc_db_trials_free(t, n);
        }
    }
    char *txt = cJSON_PrintUnformatted(o);
    if (txt)
        printf("%s\n", txt);
    cJSON_free(txt);
    cJSON_Delete(o);
}

/* Every trial failed: point to the database, or, when it was in memory (no --db), show the
 * first trial's reason here since nothing else can. */
static void report_all_failed(const nasc_experiment_config *cfg, nasc_experiment *ex,
                              int64_t trials) {
    if (cfg->db[0]) {
        cli_error("all %lld trials failed (see nasc trials --db %s for the reasons)",
                  (long long)trials, cfg->db);
        return;
    }
    nasc_trial_record *t = NULL;
    int64_t n = 0;
    nasc_err e = {0};
    const char *why = NULL;
    if (nasc_db_trials_load(nasc_experiment_db(ex), &t, &n, &e) == NASC_OK)
        for (int64_t i = 0; i < n && !why; i++)
            if (t[i].status == NASC_TRIAL_FAILED && t[i].reason && t[i].reason[0])
                why = t[i].reason;
    cli_error("all %lld trials failed%s%s (the trials were not kept: add --db FILE to keep them "
              "and list every reason with nasc trials --db FILE)",
              (long long)trials, why ? "; the first: " : "", why ? why : "");
    nasc_db_trials_free(t, n);
}

static int search_main(int argc, char **argv) {
    int n_keys;
    const nasc_config_key *keys = nasc_config_keys(&n_keys);
    if (n_keys + 2 > MAX_FLAGS) {
        cli_error("nasc search: too many configuration keys");
        return CLI_FAIL;
    }
    nasc_experiment_config cfg;
    nasc_config_default(&cfg);
    cli_flag flags[MAX_FLAGS];
    const char *vals[MAX_FLAGS] = {0};
    bool bools[MAX_FLAGS] = {0};
    static char helps[MAX_FLAGS][200];
    const char *config_path = NULL;
    int n = 0;
    for (int i = 0; i < n_keys; i++) {
        char def[128] = "";
        if (keys[i].type != NASC_CFG_BOOL)
            nasc_config_get(&cfg, &keys[i], def, sizeof def);
        if (def[0] && strcmp(keys[i].name, "budget"))
            snprintf(helps[i], sizeof helps[i], "%s (default %s)", keys[i].help, def);
        else
            snprintf(helps[i], sizeof helps[i], "%s", keys[i].help);
        flags[n++] =
            keys[i].type == NASC_CFG_BOOL
                ? (cli_flag){keys[i].name, CLI_BOOL, &bools[i], NULL, helps[i], false}
                : (cli_flag){keys[i].name, CLI_STR, &vals[i], keys[i].metavar, helps[i], false};
    }
    flags[n++] = (cli_flag){"config",
                            CLI_STR,
                            &config_path,
                            "FILE",
                            "experiment file (YAML, same keys); flags override it",
                            false};
    const char *max_memory = NULL;
    flags[n++] = (cli_flag){"max-memory",
                            CLI_STR,
                            &max_memory,
                            "BYTES",
                            "one-shot strategies: refuse a supernet step predicted to need more "
                            "(e.g. 4G); the message says what would fit",
                            false};
    int rc = cli_parse("search", argc, argv, 2, flags, n,
                       "nasc search --space SPACE --strategy STRATEGY (--data DATASET | "
                       "--benchmark nb201:DATASET) --budget N [--db FILE] [--resume] [--seed S] "
                       "[--workers N] [--json] [--config FILE] [options]",
                       about);
    if (rc == CLI_HELP)
        return CLI_OK;
    if (rc != CLI_OK)
        return rc;

    nasc_err err = {0};
    nasc_status st;
    const int i_db = (int)(nasc_config_key_find("db") - keys);
    const int i_resume = (int)(nasc_config_key_find("resume") - keys);
    if (bools[i_resume]) {
        const char *db = flags[i_db].seen ? vals[i_db] : NULL;
        nasc_experiment_config peek; /* the database may be named by the YAML file */
        if (!db && config_path) {
            nasc_config_default(&peek);
            if ((st = nasc_config_load_yaml(&peek, config_path, NULL, &err)) != NASC_OK)
                return cli_fail(st, &err, true);
            if (peek.db[0])
                db = peek.db;
        }
        if (!db) {
            cli_error("nasc search: --resume needs --db FILE (the experiment to continue)");
            return CLI_USAGE;
        }
        if ((st = nasc_config_load_db(&cfg, db, NULL, &err)) != NASC_OK)
            return cli_fail(st, &err, true);
    }
    bool given[MAX_FLAGS] = {0}; /* keys set by the file or a flag (one-shot defaults differ) */
    if (config_path && (st = nasc_config_load_yaml(&cfg, config_path, given, &err)) != NASC_OK)
        return cli_fail(st, &err, true);
    for (int i = 0; i < n_keys; i++) {
        if (!flags[i].seen)
            continue;
        given[i] = true;
        const char *v = keys[i].type == NASC_CFG_BOOL ? "true" : vals[i];
        nasc_err e = {0};
        if (nasc_config_set(&cfg, keys[i].name, v, &e) != NASC_OK) {
            cli_error("nasc search: --%s", e.msg);
            return CLI_USAGE;
        }
    }

    const int i_workers = (int)(nasc_config_key_find("workers") - keys);
    if (nasc_dist_size() > 1 && !given[i_workers]) /* under mpirun: the other ranks */
        cfg.workers = nasc_dist_size() - 1;

    if (nasc_oneshot_search_handles(&cfg)) /* darts, gdas, ...: a supernet, not trials; under
                                            * mpirun every rank trains it (data parallel) */
        return cli_search_oneshot(&cfg, given, max_memory);
    if (max_memory) { /* a flag the strategy would ignore is refused, not dropped */
        cli_error("nasc search: --max-memory: only for the one-shot strategies (strategy '%s' "
                  "builds no supernet)",
                  cfg.strategy);
        return CLI_USAGE;
    }

    nasc_experiment *ex = NULL;
    if ((st = nasc_experiment_open(&cfg, &ex, &err)) != NASC_OK)
        return cli_fail(st, &err, true);

    progress_ctx pc = {.budget = cfg.budget, .oracle = cfg.oracle};
    cli_progress_init(&pc.bar, cfg.quiet);
    running = ex;
    cli_signals sig;
    cli_signals_catch(&sig, on_signal);
    st = nasc_experiment_run(ex, on_progress, &pc, &err);
    cli_signals_restore(&sig);
    running = NULL;
    cli_progress_end(&pc.bar);

    int code = CLI_OK;
    if (st != NASC_OK) {
        code = cli_fail(st, &err, false);
        if (st == NASC_ERR_ABORTED)
            cli_resume_hint(cfg.db);
    } else {
        nasc_search_summary s;
        nasc_experiment_summary(ex, &s);
        if (cfg.json) {
            print_json(&cfg, &s, ex);
        } else if (s.best_arch) {
            printf("best: %s\n", s.best_arch);
            char what[96] = "", sim[64] = "";
            if (cfg.oracle)
                snprintf(what, sizeof what, " (ORACLE: searched on test accuracy)");
            else if (isfinite(s.best_test))
                snprintf(what, sizeof what, " (validation; test %.4f)", s.best_test);
            if (s.has_sim_time)
                snprintf(sim, sizeof sim, "; %.1f h of simulated training", s.sim_seconds / 3600.0);
            printf(fabs(s.best_score) < 1e6
                       ? "score: %.4f%s (trial %lld; %lld trials, %lld failed%s)\n"
                       : "score: %.6g%s (trial %lld; %lld trials, %lld failed%s)\n",
                   s.best_score, what, (long long)s.best_trial, (long long)s.trials,
                   (long long)s.n_failed, sim);
        }
        if (s.wall_stopped && !cfg.quiet)
            fprintf(stderr,
                    "nasc: note: wall-time budget of %g s reached after %lld trials; %lld running "
                    "trials cancelled (--resume runs them again)\n",
                    cfg.wall_budget, (long long)s.trials, (long long)s.cancelled);
        if (s.exhausted && !cfg.quiet)
            fprintf(stderr, "nasc: note: strategy %s ran out of proposals after %lld trials\n",
                    cfg.strategy, (long long)s.trials);
        if (!s.best_arch) {
            report_all_failed(&cfg, ex, s.trials);
            code = CLI_FAIL;
        }
    }
    nasc_experiment_free(ex);
    return code;
}

/* Under an MPI launcher (dist.h), rank 0 runs the search and the other ranks evaluate its trials,
 * or for a one-shot strategy all ranks train the supernet together (data parallel); only rank 0
 * reads the flags, the configuration file and the database. */
int cmd_search(int argc, char **argv) {
    nasc_err err = {0};
    nasc_status st = nasc_dist_init(&err);
    if (st != NASC_OK) {
        cli_error("%s", err.msg);
        return CLI_USAGE;
    }
    if (nasc_dist_rank() > 0) {
        bool oneshot = false; /* a one-shot search: this rank's share of it, then QUIT */
        const int code = cli_search_oneshot_rank(&oneshot);
        if (code != CLI_OK) {
            nasc_dist_finalize();
            return code;
        }
        st = nasc_experiment_serve(&err);
        nasc_dist_finalize();
        if (st != NASC_OK) {
            cli_error("rank %d: %s", nasc_dist_rank(), err.msg);
            return CLI_FAIL;
        }
        return CLI_OK;
    }
    int code = search_main(argc, argv);
    nasc_experiment_dist_end();
    nasc_dist_finalize();
    return code;
}
