/*
 * experiment.h — a search: configuration, the ask/tell loop, workers, the trial database, resume.
 *
 * An experiment ties a space, a strategy and an evaluator to a trial database (db.h). Its loop
 * asks the strategy for trials, records each one before it starts, evaluates it (in process for
 * tables; in forked worker processes otherwise, `workers` at a time), records the result, and
 * tells results to the strategy in trial order. The same seed gives the same trials and the same
 * result with any number of workers, and a search killed at any moment continues where it stopped:
 * the strategy is rebuilt from the seed by replaying the recorded trials (each replayed proposal is
 * checked against the database), or from its latest snapshot if it can save its state. Trials that
 * were pending or running are run again. See docs/EXPERIMENTS.md.
 *
 * Configuration: one flat set of keys (nasc_config_key), the same for command-line flags
 * (`--budget 100`), the YAML experiment file (`budget: 100`) and the database's config table.
 * Identity keys (space, strategy, seed, evaluator settings, ...) must match to continue an
 * experiment; runtime keys (budget, workers, threads, timeouts, output) may change.
 *
 *     nasc_experiment_config cfg;
 *     nasc_config_default(&cfg);
 *     nasc_config_set(&cfg, "space", "nb201", &err);
 *     nasc_config_set(&cfg, "strategy", "evolution", &err);
 *     nasc_config_set(&cfg, "benchmark", "nb201:cifar10", &err);
 *     nasc_config_set(&cfg, "budget", "100", &err);
 *     nasc_experiment *ex;
 *     if (nasc_experiment_open(&cfg, &ex, &err) == NASC_OK &&
 *         nasc_experiment_run(ex, on_progress, NULL, &err) == NASC_OK) {
 *         nasc_search_summary s;
 *         nasc_experiment_summary(ex, &s);
 *         printf("%s %.2f\n", s.best_arch, s.best_score);
 *     }
 *     nasc_experiment_free(ex);
 */
#ifndef NASC_EXPERIMENT_H
#define NASC_EXPERIMENT_H

#include <signal.h>

#include "nasc/db.h"
#include "nasc/strategy.h"
#include "nasc/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- configuration ---- */

/* ask_ahead's default: with W workers, 0 for W = 1 (sequential, as always) and k x (W - 1)
 * otherwise, k = the strategy's ahead_per_worker (strategy.h; NASC_ASK_AHEAD_PER_WORKER if it
 * gives none), so that every worker stays busy while a slow trial holds back the results told
 * in order (docs/DISTRIBUTED.md, "Scale"). The number is resolved and stored when the experiment
 * is created; --resume keeps it whatever the workers. */
#define NASC_ASK_AHEAD_AUTO (-1)
#define NASC_ASK_AHEAD_PER_WORKER 2
/* The default for `strategy` (a registered name; an unknown one: the general default). */
NASC_API int nasc_ask_ahead_auto(const char *strategy, int workers);

typedef struct nasc_experiment_config {
    /* what is searched */
    char space[32];         /* space name (space.h) */
    char strategy[32];      /* strategy name (strategy.h) */
    char strategy_opt[256]; /* "key=value,..." strategy options */
    char init_archs[512];   /* a file of architectures, one a line ('#' comments), that the
                             * strategy proposes first (strategy.h's initial population:
                             * evolution, random), or "" */
    char benchmark[512];    /* tabular evaluator spec ("nb201:cifar10", "table:F.csv:COL"), or "" */
    bool oracle;            /* nb201 tables: search on the test accuracy (labelled everywhere) */
    char table_low[128];    /* user tables: "COLUMN[:REPORT]" at the low fidelity, or "" */
    char table_cost[128];   /* user tables: training seconds at full fidelity, or "" */
    char table_epochs[32];  /* user tables: "LOW,FULL" fidelities in epochs ("" = 12,200) */
    char data[512];         /* dataset spec (data.h) for the training / proxy evaluator, or "" */
    char proxy[32];         /* zero-cost proxy name: score by the proxy instead of training */
    uint64_t seed;
    int64_t budget; /* trials to run, >= 1 (failed trials count); 0 with a time budget: no limit */
    double time_budget; /* simulated training seconds (tables with a training time); 0 = none */
    double wall_budget; /* runtime: wall seconds from this run's first trial start; nothing starts
                           after it and running trials are cancelled (left 'running' in the
                           database, for --resume); 0 = none. The trials are a prefix of those of
                           the run without it (the schedule does not depend on timing) */
    int ask_ahead;      /* see strategy.h; NASC_ASK_AHEAD_AUTO (the default): resolved when the
                           experiment is created, nasc_ask_ahead_auto(workers), and stored */
    /* training evaluator: the hyperparameters of `nasc train` (train.h; same names and
     * defaults, NASC_TRAIN_PRESET_COMMAND), threads among them, and the network's size */
    NASC_TRAIN_HPARAMS_MEMBER;
    int channels, cells;
    bool median_stop;
    bool cost; /* measure params/FLOPs/memory with tables too (always when training) */
    /* multi-objective search (pareto.h): "acc,params" and "params<=1e6,latency<=5ms"; "" = the
     * score alone, no constraint */
    char objective[64];
    char constraint[256];
    /* runtime */
    int workers;          /* trials evaluated at once (processes); threads (per trial) is
                           * among the training hyperparameters */
    double trial_timeout; /* seconds; 0 = none */
    double sim_sleep;     /* tables: a trial sleeps sim_sleep x its simulated training time / the
                             table's mean (scheduling benchmarks); 0 = no sleep */
    int snapshot_every;   /* tells between strategy snapshots (strategies with save/load) */
    char db[512];         /* database file ("" = in memory) */
    bool resume;          /* continue an existing database (config taken from it) */
    bool json;            /* one JSON object on stdout (CLI) */
    bool quiet;           /* no progress line (CLI) */
} nasc_experiment_config;

typedef enum nasc_config_type {
    NASC_CFG_STR = 0,
    NASC_CFG_INT,
    NASC_CFG_I64,
    NASC_CFG_U64,
    NASC_CFG_DOUBLE,
    NASC_CFG_BOOL
} nasc_config_type;

enum {
    NASC_CFG_IDENTITY = 1 << 0, /* must match to continue an experiment */
    NASC_CFG_STORED = 1 << 1,   /* written to the database's config table */
    NASC_CFG_NO_FILE = 1 << 2   /* command line only (not in a YAML file): db, resume, config */
};

typedef struct nasc_config_key {
    const char *name; /* flag and YAML key, e.g. "data-fraction" */
    nasc_config_type type;
    size_t offset;       /* into nasc_experiment_config */
    size_t size;         /* STR: buffer size */
    unsigned flags;      /* NASC_CFG_* */
    const char *metavar; /* e.g. "N" */
    const char *help;
} nasc_config_key;

/* Defaults: strategy "random", seed 1, budget 0 (must be set), 1 worker, ask-ahead auto,
 * snapshots every 50 tells; training as `nasc train` (NASC_TRAIN_PRESET_COMMAND: 5 epochs, batch
 * 128, SGD lr 0.1 Nesterov momentum 0.9, weight decay 5e-4, clip 5, validation 0.2, 2 threads). */
NASC_API void nasc_config_default(nasc_experiment_config *cfg);
/* The key table (n keys). */
NASC_API const nasc_config_key *nasc_config_keys(int *out_n);
NASC_API const nasc_config_key *nasc_config_key_find(const char *name);
/* Sets key from text, checking its type: ARG "budget: expected an integer (got 'x')", or
 * "unknown key 'x'". */
NASC_API nasc_status nasc_config_set(nasc_experiment_config *cfg, const char *key,
                                     const char *value, nasc_err *err);
/* The value of key as canonical text into buf ("" for an unknown key). */
NASC_API void nasc_config_get(const nasc_experiment_config *cfg, const nasc_config_key *k,
                              char *buf, size_t n);
/* Loads a YAML mapping of keys into cfg. `given` (may be NULL), indexed like nasc_config_keys,
 * is set for every key the file sets. Errors (FORMAT / IO) name the file, the key's path
 * (e.g. "strategy-opt.population") and the line: an unknown key, a wrong type, a nested value
 * where a scalar belongs, a duplicate key, a YAML syntax error. "strategy-opt" may be a mapping
 * or a "k=v,..." string. */
NASC_API nasc_status nasc_config_load_yaml(nasc_experiment_config *cfg, const char *path,
                                           bool *given, nasc_err *err);
/* Checks the whole configuration: budget >= 1, one evaluator (benchmark xor data), workers >= 1,
 * known space / strategy / strategy options, ranges. ARG naming the key. */
NASC_API nasc_status nasc_config_validate(const nasc_experiment_config *cfg, nasc_err *err);
/* Fills cfg's stored keys from the database at path (for --resume); other keys keep their values.
 * `given` as for nasc_config_load_yaml. */
NASC_API nasc_status nasc_config_load_db(nasc_experiment_config *cfg, const char *path, bool *given,
                                         nasc_err *err);

/* ---- experiments ---- */

typedef struct nasc_experiment nasc_experiment;

/* Progress after every finished trial. */
typedef struct nasc_search_progress {
    int64_t done; /* finished trials (ok + failed), this run and earlier ones */
    int64_t budget;
    int64_t n_ok, n_failed;
    int64_t running;       /* trials being evaluated now */
    int64_t done_this_run; /* trials finished by this process (for rates and ETA) */
    int64_t last_trial;    /* id of the trial that just finished */
    double best_score;     /* NaN if none yet */
    double best_test;      /* the best trial's test score (tables), NaN if none */
    const char *best_arch; /* NULL if none yet; valid during the callback */
    double elapsed_s;      /* since nasc_experiment_run started */
    double sim_seconds;    /* simulated training time of the finished trials (tables) */
    double time_budget;    /* the configured time budget, 0 if none */
} nasc_search_progress;

typedef void (*nasc_search_cb)(const nasc_search_progress *p, void *user);

typedef struct nasc_search_summary {
    int64_t trials; /* finished trials */
    int64_t n_ok, n_failed;
    int64_t best_trial; /* -1 if no trial succeeded (best: highest fidelity, then score) */
    double best_score;  /* what the search selected on (validation accuracy); NaN if none */
    double best_test;   /* the best trial's test score (what a table reports), NaN if none */
    double best_fidelity;
    double sim_seconds;    /* simulated training time of all finished trials (tables), else 0 */
    bool has_sim_time;     /* the evaluator simulates training time (sim_seconds means something) */
    const char *best_arch; /* owned by the experiment; NULL if none */
    bool exhausted;        /* the strategy ran out of proposals before the budget */
    bool wall_stopped;     /* stopped by cfg.wall_budget */
    int64_t cancelled;     /* trials running when it stopped (recorded as running) */
    double seconds;        /* wall time of nasc_experiment_run */
} nasc_search_summary;

/* Opens the experiment cfg describes: creates cfg->db (or an in-memory database), or continues an
 * existing one. Continuing checks that every identity key equals the stored one: ARG naming each
 * differing key with both values. A database that is not a nasc experiment, another version or
 * damaged: FORMAT naming the file (file untouched). cfg->resume with no database: IO. Builds the
 * space, strategy and evaluator (loading the table or dataset). */
NASC_API nasc_status nasc_experiment_open(const nasc_experiment_config *cfg, nasc_experiment **out,
                                          nasc_err *err);
NASC_API void nasc_experiment_free(nasc_experiment *ex);

/* Runs the search until the budget (trials, or simulated time: no trial is asked once the
 * finished trials' simulated time reaches cfg->time_budget, and with a time budget each trial is
 * asked only after the earlier ones finished) is spent or the strategy is exhausted, calling cb
 * (may be NULL) after every finished trial. Replays the trials already recorded first. A proposal
 * that differs from the recorded one while replaying: NASC_ERR_DB naming the trial and both texts.
 * Stopped by nasc_experiment_stop: NASC_ERR_ABORTED (running trials stay "running" and are re-run
 * on resume). */
NASC_API nasc_status nasc_experiment_run(nasc_experiment *ex, nasc_search_cb cb, void *user,
                                         nasc_err *err);
/* Asks a running search to stop soon (async-signal-safe: sets a flag). */
NASC_API void nasc_experiment_stop(nasc_experiment *ex);
/* Summary of the trials in the database (valid after open and after run). */
NASC_API void nasc_experiment_summary(nasc_experiment *ex, nasc_search_summary *out);
NASC_API nasc_db *nasc_experiment_db(nasc_experiment *ex);
NASC_API const nasc_space *nasc_experiment_space(const nasc_experiment *ex);
NASC_API const nasc_experiment_config *nasc_experiment_get_config(const nasc_experiment *ex);

/* ---- distributed searches (dist.h: `mpirun -n N nasc search ...`) ----
 * Rank 0 opens and runs the experiment as usual; in a job of N > 1 ranks its workers are ranks
 * 1..N-1 (cfg->workers must be N-1) instead of forked processes: nasc_experiment_run sends each
 * the configuration, waits until each has built its evaluator, then hands out one trial at a time
 * to whichever is idle. The schedule is the same, so the trials and results equal those of one
 * process with --workers N-1. The other ranks call nasc_experiment_serve. */

/* A worker rank (rank > 0): builds the evaluator of the configuration rank 0 sends and evaluates
 * its trials (in forked processes, as --workers does) until rank 0 sends QUIT. A setup that
 * failed is reported to rank 0, which reports it; this then returns NASC_OK at QUIT. Other
 * failures (a malformed message): their status. */
NASC_API nasc_status nasc_experiment_serve(nasc_err *err);
/* Rank 0: tells every worker rank the search is over (nasc_experiment_serve returns; a trial one
 * is running is abandoned and stays "running" in the database, re-run on resume). Call it once
 * whatever happened, before nasc_dist_finalize; a no-op elsewhere and when called again. */
NASC_API void nasc_experiment_dist_end(void);

/* The Pareto front of recorded trials (pareto.h): the finished trials no other finished trial
 * dominates in their results' objectives (score first, then costs), or in the score alone for
 * single-objective experiments. Writes their indices into out_idx (room for n), in trial order,
 * and returns the count; -1 on OOM. */
NASC_API int64_t nasc_trials_pareto(const nasc_trial_record *t, int64_t n, int64_t *out_idx);

/* The best recorded trial, chosen as the search chooses it (nasc_trial_better: the highest
 * fidelity reached, then the highest score, then the earliest): on a benchmark table the best on
 * validation accuracy, whose test_score is the number to report. Returns its index in t, or -1
 * when no trial finished ok. */
NASC_API int64_t nasc_trials_best(const nasc_trial_record *t, int64_t n);

/* The seed of trial k of an experiment with seed `seed` (splitmix64 of both). */
NASC_API uint64_t nasc_trial_seed(uint64_t seed, int64_t k);

#ifdef __cplusplus
}
#endif
#endif /* NASC_EXPERIMENT_H */
