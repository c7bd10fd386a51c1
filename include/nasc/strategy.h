/*
 * strategy.h — search strategies behind one ask/tell interface.
 *
 * A strategy is a state machine over one search space. `ask` proposes the next trial (an
 * architecture and a fidelity); `tell` gives it the result of a trial. Evaluation is not the
 * strategy's business, so the same strategy runs against a table, real training or parallel
 * workers. Strategies use only space.h, so every strategy works on every space.
 *
 * The contract that makes searches reproducible and resumable (see docs/EXPERIMENTS.md):
 *   - All randomness comes from s->rng, seeded from the experiment seed and NASC_STREAM_STRATEGY.
 *   - Results are told in trial order (trial 0, 1, 2, ...), never in completion order.
 *   - When a strategy cannot propose the next trial before it knows more results, `ask` returns
 *     NASC_OK with out->arch == NULL and changes nothing (no draws from the rng). The caller then
 *     tells the next result in order and asks again. If every asked trial has been told and ask
 *     still returns NULL, the strategy is exhausted (grid done, local search converged).
 *   - The caller tells results lazily: only when ask needs one (and all remaining ones at the end).
 *     So the sequence of calls, and with it every decision, depends only on the seed and the
 *     results, never on how many workers ran the trials or which finished first.
 *   - Adaptive strategies look at results only up to trial k - 1 - ask_ahead when proposing trial
 *     k; ask_ahead (a config value, independent of the number of workers) lets that many trials run
 *     ahead of the results.
 *
 * Resume replays the recorded asks and tells from the seed. Strategies that are expensive to
 * replay may implement save/load; the search loop then stores snapshots and replays only from the
 * latest one.
 *
 * Strategy options ("population=20,sample=5") are declared per strategy (nasc_strategy_opt) and
 * checked by the generic code: an unknown option or a bad value is an ARG error naming both.
 *
 *     nasc_strategy *st;
 *     nasc_strategy_config sc = {.seed = 1, .budget = 100};
 *     nasc_strategy_new("evolution", space, &sc, "population=20,sample=5", &st, &err);
 *     for (int k = 0; k < 100; k++) {
 *         nasc_proposal p;
 *         nasc_strategy_ask(st, &p, &err);          // p.arch == NULL: tell more first
 *         nasc_trial_result r;
 *         nasc_evaluator_evaluate(ev, &(nasc_eval_request){.trial = k, .arch = p.arch}, &r, &err);
 *         nasc_strategy_tell(st, k, p.arch, &r, &err);
 *         nasc_arch_free(p.arch);
 *     }
 *     nasc_strategy_free(st);
 */
#ifndef NASC_STRATEGY_H
#define NASC_STRATEGY_H

#include "nasc/estimate.h"
#include "nasc/space.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nasc_strategy nasc_strategy;

/* What the experiment tells every strategy. */
typedef struct nasc_strategy_config {
    uint64_t seed;       /* experiment seed; s->rng is (seed, NASC_STREAM_STRATEGY) */
    int64_t budget;      /* trials the experiment will run (strategies may plan with it) */
    int ask_ahead;       /* trials that may be proposed ahead of the results (>= 0) */
    double min_fidelity; /* lowest fidelity worth evaluating (multi-fidelity strategies) */
    double max_fidelity; /* the evaluator's full fidelity (epochs: training and tables) */
    int n_fidelities;    /* the evaluator's discrete fidelities, ascending (tables: 12, 200); */
    double fidelities[NASC_MAX_FIDELITIES]; /* 0 = any fidelity (training) */
    int n_objectives; /* 0/1: single objective (score); >1: result.objectives */
    /* An initial population: architectures of the space (texts, as nasc_arch_parse reads them;
     * not owned, read by nasc_strategy_new only) proposed first, in order, in place of random
     * samples: evolution's first min(P, n_init) trials, random's first n_init (e.g. the cells a
     * zero-cost proxy ranked best). Strategies that take none refuse a list (ARG). */
    const char *const *init;
    int n_init;
} nasc_strategy_config;

/* One proposal. arch is owned by the caller after ask (free with nasc_arch_free). */
typedef struct nasc_proposal {
    nasc_arch *arch; /* NULL: tell more results first (or exhausted) */
    double fidelity; /* 0 = full fidelity */
} nasc_proposal;

/* ---- options ---- */

typedef enum nasc_opt_type { NASC_OPT_INT = 0, NASC_OPT_DOUBLE, NASC_OPT_CHOICE } nasc_opt_type;

typedef struct nasc_strategy_opt {
    const char *name; /* e.g. "population" */
    nasc_opt_type type;
    const char *def;     /* default, as text */
    double min, max;     /* accepted range for INT / DOUBLE */
    const char *choices; /* CHOICE: "tournament|rank|proportional" */
    const char *help;
} nasc_strategy_opt;

/* ---- the interface ---- */

typedef struct nasc_strategy_i {
    const char *name;              /* "random", "evolution", ... */
    const char *help;              /* one line */
    const nasc_strategy_opt *opts; /* accepted options (NULL if none) */
    int n_opts;
    bool needs_finite; /* only for finite, enumerable spaces (grid) */
    bool takes_init;   /* proposes cfg.init first (the others refuse one) */
    /* The default --ask-ahead with W > 1 workers is ahead_per_worker x (W - 1) (0: 2): the trials
     * ahead of the results that keep every worker busy while the oldest unfinished trial holds
     * back the results (told in order). More for uneven trial times (ASHA: 8). */
    int ahead_per_worker;
    /* Sets up s->impl from s->cfg and the options (nasc_strategy_opt_*). */
    nasc_status (*init)(nasc_strategy *s, nasc_err *err);
    /* Next proposal, or out->arch = NULL without any change of state (see the contract above). */
    nasc_status (*ask)(nasc_strategy *s, nasc_proposal *out, nasc_err *err);
    /* Result of trial `trial` (told in order), which proposed arch at fidelity. */
    nasc_status (*tell)(nasc_strategy *s, int64_t trial, const nasc_arch *arch, double fidelity,
                        const nasc_trial_result *r, nasc_err *err);
    /* Optional: state as a byte string (nasc_malloc'd) and back, for strategies that are
     * expensive to replay. load is called on a freshly initialised strategy. */
    nasc_status (*save)(const nasc_strategy *s, void **out_buf, size_t *out_len, nasc_err *err);
    nasc_status (*load)(nasc_strategy *s, const void *buf, size_t len, nasc_err *err);
    void (*free_impl)(void *impl);
} nasc_strategy_i;

struct nasc_strategy {
    const nasc_strategy_i *iface;
    const nasc_space *space; /* not owned */
    nasc_strategy_config cfg;
    nasc_rng rng;            /* the strategy's only source of randomness */
    void *impl;              /* owned, strategy-specific state */
    int64_t n_asked, n_told; /* maintained by nasc_strategy_ask / _tell */
    double *opt_values;      /* parsed options, one per iface->opts (CHOICE: index) */
    char *opt_text;          /* canonical option text ("population=20,sample=5") */
};

/* New strategy by name on space s. opts: "key=value,key=value" (NULL or "" = defaults). Errors:
 * ARG for an unknown name (listing the names), an unknown option or a bad value (naming the
 * strategy, the option and the accepted range), or a space the strategy cannot use. */
NASC_API nasc_status nasc_strategy_new(const char *name, const nasc_space *s,
                                       const nasc_strategy_config *cfg, const char *opts,
                                       nasc_strategy **out, nasc_err *err);
NASC_API void nasc_strategy_free(nasc_strategy *st);
NASC_API const char *nasc_strategy_name(const nasc_strategy *st);
/* Comma-separated strategy names, for help texts. */
NASC_API const char *nasc_strategy_names(void);
/* The interface registered under name, or NULL. */
NASC_API const nasc_strategy_i *nasc_strategy_find(const char *name);
/* Adds a strategy to the registry (for strategies outside the built-in table and tests).
 * ARG if the name is taken or the registry is full. Not thread-safe. */
NASC_API nasc_status nasc_strategy_register(const nasc_strategy_i *iface, nasc_err *err);

/* Checks and canonicalises an option string for strategy `name` without building it: writes the
 * canonical text (explicit options in declaration order) into buf. */
NASC_API nasc_status nasc_strategy_opts_canonical(const char *name, const char *opts, char *buf,
                                                  size_t n, nasc_err *err);

NASC_API nasc_status nasc_strategy_ask(nasc_strategy *st, nasc_proposal *out, nasc_err *err);
/* trial must equal st->n_told (results are told in order): ARG otherwise. The strategy sees r
 * without its test_score (NaN): a search never selects on the value it reports. */
NASC_API nasc_status nasc_strategy_tell(nasc_strategy *st, int64_t trial, const nasc_arch *arch,
                                        double fidelity, const nasc_trial_result *r, nasc_err *err);
/* Whether the strategy implements save/load; and the calls (UNSUPPORTED if it does not). The
 * saved state includes n_asked, n_told and the rng. */
NASC_API bool nasc_strategy_can_save(const nasc_strategy *st);
NASC_API nasc_status nasc_strategy_save(const nasc_strategy *st, void **out_buf, size_t *out_len,
                                        nasc_err *err);
NASC_API nasc_status nasc_strategy_load(nasc_strategy *st, const void *buf, size_t len,
                                        nasc_err *err);

/* Option values for implementations (by name; the name must be declared: asserted). */
NASC_API int nasc_strategy_opt_int(const nasc_strategy *st, const char *name);
NASC_API double nasc_strategy_opt_double(const nasc_strategy *st, const char *name);
/* CHOICE options: the index of the chosen value in the "a|b|c" list. */
NASC_API int nasc_strategy_opt_choice(const nasc_strategy *st, const char *name);

/* Runs st against ev in this process, with exactly the call sequence of the search loop
 * (experiment.h): ask; on "wait" tell the next result in order; results are told lazily. So it
 * proposes the same trials as `nasc search` with the same seed, without a database: for benchmarks
 * and tests. Strategies never plan with the budget, so the first k trials of a run are those of a
 * run with budget k. */
typedef void (*nasc_trial_fn)(int64_t trial, const nasc_arch *arch, const nasc_trial_result *r,
                              void *user);
typedef struct nasc_run_config {
    int64_t budget;         /* trials at most */
    double time_budget;     /* > 0: no trial starts once the simulated training time of the
                               trials run (result.sim_seconds) reaches it (the last one may end
                               past it, as in the NAS-Bench-201 paper) */
    nasc_trial_fn on_trial; /* sees every trial as it is evaluated (may be NULL) */
    void *user;
} nasc_run_config;
typedef struct nasc_run_summary {
    int64_t n;            /* trials run (fewer than the budget if the strategy was exhausted or
                             the time budget spent) */
    int64_t best_trial;   /* the best by nasc_trial_better (highest fidelity, then score); -1 if
                             none succeeded */
    double best_score;    /* its score (what the search saw: validation accuracy), NaN if none */
    double best_test;     /* its test_score (what is reported), NaN if none */
    double best_fidelity; /* the fidelity it reached */
    double sim_seconds;   /* simulated training time of all trials run */
} nasc_run_summary;
NASC_API nasc_status nasc_strategy_run(nasc_strategy *st, nasc_evaluator *ev,
                                       const nasc_run_config *rc, nasc_run_summary *out,
                                       nasc_err *err);

/* The fitness a strategy should rank a told result by: the score if OK, -inf if failed (so a
 * failed trial is never selected as a parent and never the best). */
NASC_API double nasc_result_fitness(const nasc_trial_result *r);

#ifdef __cplusplus
}
#endif
#endif /* NASC_STRATEGY_H */
