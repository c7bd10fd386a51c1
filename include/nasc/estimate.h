/*
 * estimate.h — evaluators: what a search uses to score an architecture, and the result type that
 * flows from an evaluator through the trial database to a strategy.
 *
 * An evaluator (nasc_evaluator) turns one architecture at one fidelity into a nasc_trial_result:
 * a score (the objective, higher is better: accuracy in percent), the cost where known (params,
 * FLOPs, latency), the learning curve and, for a trial that did not work out, the reason. Kinds:
 *
 *   tabular   a lookup in a table keyed by the architecture: the NAS-Bench-201 table
 *             ("nb201:cifar10", "nb201:cifar100") or a user table
 *             ("table:FILE.csv:SEARCH[:REPORT]"). The score is the search column (validation
 *             accuracy); the report column (test accuracy) goes to result.test_score, which the
 *             search loop never tells a strategy. Two fidelities (12 and 200 epochs) and a
 *             simulated training time per query where the table has them. Cheap and safe, so
 *             the search loop calls it in its own process.
 *   train     trains the network from scratch with low-fidelity knobs (epochs, data fraction,
 *             channels, cells) and scores it on a validation split of the training set; the test
 *             set is never used for selection. The median stopping rule can end a trial early.
 *   proxy     a zero-cost proxy at initialisation on one batch: synflow, snip, grad_norm,
 *             jacob_cov or naswot.
 *
 * A trial that fails (NaN score, divergence, an architecture missing from a table, a crash, a
 * timeout) is not an error of the evaluator: evaluate() returns NASC_OK with result.status ==
 * NASC_TRIAL_FAILED and result.reason set. A non-OK status is reserved for the evaluator itself
 * failing (out of memory); the search loop records that as a failed trial too.
 *
 * Ownership: evaluators are heap objects (_new/_free) that keep a pointer to their space, which
 * must outlive them. nasc_trial_result is a plain fixed-size struct (no pointers): worker processes
 * send it over a pipe as bytes.
 *
 *     nasc_evaluator *ev;
 *     nasc_evaluator_tabular_new(space, "nb201:cifar10", NULL, &ev, &err);   // finds the CSV
 *     nasc_eval_request rq = {.trial = 0, .arch = a, .seed = 1};
 *     nasc_trial_result r;
 *     nasc_evaluator_evaluate(ev, &rq, &r, &err);
 *     if (r.status == NASC_TRIAL_OK)    // validation accuracy searched on, test accuracy reported
 *         printf("%.2f%% (test %.2f%%)\n", r.score, r.test_score);
 *     nasc_evaluator_free(ev);
 */
#ifndef NASC_ESTIMATE_H
#define NASC_ESTIMATE_H

#include "nasc/space.h"
#include "nasc/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- trial results ---- */

typedef enum nasc_trial_status {
    NASC_TRIAL_PENDING = 0, /* recorded, not started */
    NASC_TRIAL_RUNNING,     /* handed to a worker */
    NASC_TRIAL_OK,          /* finished with a score */
    NASC_TRIAL_FAILED,      /* finished without a usable score (reason says why) */
    NASC_TRIAL_STATUS_COUNT
} nasc_trial_status;

/* "pending", "running", "ok", "failed"; and back (false if s is none of them). */
NASC_API const char *nasc_trial_status_str(nasc_trial_status st);
NASC_API bool nasc_trial_status_parse(const char *s, nasc_trial_status *out);

#define NASC_MAX_OBJECTIVES 4 /* multi-objective search (accuracy, params, FLOPs, latency) */
#define NASC_MAX_CURVE 256    /* learning-curve points kept per trial (one per epoch) */
#define NASC_MAX_COLUMNS 12   /* table columns one trial reports for objectives and constraints */
#define NASC_MAX_FIDELITIES 4 /* discrete fidelities an evaluator offers */

/* What an architecture costs; NaN where unknown. */
typedef struct nasc_cost {
    double params;     /* trainable parameters */
    double flops;      /* multiply-adds of one forward pass on one input */
    double latency_ms; /* measured forward latency on this machine */
    double memory_bytes;
} nasc_cost;

/* Sets every field to NaN (unknown). */
NASC_API void nasc_cost_unknown(nasc_cost *c);

typedef struct nasc_trial_result {
    nasc_trial_status status; /* NASC_TRIAL_OK or NASC_TRIAL_FAILED */
    double score;             /* the objective, higher is better (accuracy %); NaN if failed */
    int n_objectives;         /* 0 for single-objective searches; else objectives[0] == score */
    double
        objectives[NASC_MAX_OBJECTIVES]; /* as the search defines them (issue: multi-objective) */
    nasc_cost cost;                      /* NaN fields where unknown */
    double fidelity;    /* fidelity reached (epochs trained); < asked when stopped early */
    bool stopped_early; /* ended by the median stopping rule (status OK, partial score) */
    int n_curve;        /* validation accuracy after each epoch: curve[0..n_curve) */
    float curve[NASC_MAX_CURVE];
    int n_train_curve;  /* training loss and accuracy (%) over each epoch (running means of its
                           steps): train_*_curve[0..n_train_curve); training evaluator only */
    float train_loss_curve[NASC_MAX_CURVE];
    float train_acc_curve[NASC_MAX_CURVE];
    double train_loss;  /* last training loss (NaN if none) */
    double seconds;     /* evaluation wall time */
    double test_score;  /* the evaluator's report value (a table's test accuracy) at the fidelity
                           reached; NaN if it has none. Strategies are never told it
                           (nasc_strategy_tell clears it): search on validation, report test */
    double sim_seconds; /* simulated training time of this evaluation: the table's training time
                           scaled by fidelity / full fidelity; NaN if unknown */
    int n_columns;      /* values of the table columns the search asked for (objectives, */
    double columns[NASC_MAX_COLUMNS]; /* constraints: nasc_table_eval_config.columns), in order */
    char reason[256];                 /* why it failed or stopped early; "" otherwise */
} nasc_trial_result;

/* A cleared result: status FAILED, score, test score and simulated time NaN, cost unknown, empty
 * curve and reason. */
NASC_API void nasc_trial_result_init(nasc_trial_result *r);
/* Marks r failed with a printf-formatted reason (score NaN). */
NASC_API void nasc_trial_result_fail(nasc_trial_result *r, const char *fmt, ...) NASC_PRINTF(2, 3);

/* The learning curves of finished trials (for the median stopping rule and curve predictors).
 * curves[i] points at n[i] values; all owned by whoever built the history. */
typedef struct nasc_curve_history {
    int n_trials;
    const float *const *curves;
    const int *n;
} nasc_curve_history;

/* Median stopping rule (Golovin et al., "Google Vizier", KDD 2017): a trial is stopped after epoch
 * e (0-based) if the best value it has reached so far is strictly below the median, over the
 * finished trials that reached epoch e, of the mean of their first e+1 values. It applies only
 * from epoch `grace` on and when at least `min_trials` finished trials reached epoch e. */
NASC_API bool nasc_median_should_stop(const nasc_curve_history *h, const float *curve, int n_curve,
                                      int grace, int min_trials);

/* ---- evaluators ---- */

typedef struct nasc_evaluator nasc_evaluator;

typedef struct nasc_eval_request {
    int64_t trial; /* trial index in the experiment */
    const nasc_arch *arch;
    double fidelity; /* 0 = the evaluator's full fidelity (e.g. all configured epochs) */
    uint64_t seed;   /* per-trial seed (initialisation, data order) */
    const nasc_curve_history *history; /* finished trials for the median rule; may be NULL */
} nasc_eval_request;

typedef struct nasc_evaluator_i {
    const char *kind; /* "tabular", "train", "proxy" */
    /* Scores req->arch into out (already initialised by the caller with nasc_trial_result_init). */
    nasc_status (*evaluate)(nasc_evaluator *ev, const nasc_eval_request *req,
                            nasc_trial_result *out, nasc_err *err);
    void (*free_impl)(void *impl);
} nasc_evaluator_i;

struct nasc_evaluator {
    const nasc_evaluator_i *iface;
    void *impl;              /* owned */
    const nasc_space *space; /* not owned */
    bool in_process;         /* cheap and cannot crash: the search loop calls it directly
                                instead of forking a worker */
    double max_fidelity;     /* full fidelity (epochs: training, tables; 1 for proxies) */
    int n_fidelities;        /* the fidelities it can evaluate, if only a few (tables: 12, 200), */
    double fidelities[NASC_MAX_FIDELITIES]; /* ascending; 0 = any (training) */
    bool has_test;                          /* results carry test_score */
    bool has_sim_time;                      /* results carry sim_seconds */
    double mean_sim_seconds; /* tables: mean full-fidelity training time over the rows, or 0 */
    char desc[128];                         /* e.g. "nb201:cifar10 (15625 rows)" */
    /* Cost of every successful trial (params, multiply-adds, activation memory and, if
     * cost_latency_repeats > 0, forward latency), measured by the cost model (cost.h) on the
     * network built for cost_net. Training and proxy evaluators turn it on; tables only when
     * asked (nasc_evaluator_set_cost), since it builds every network. */
    bool want_cost;
    nasc_net_config cost_net;
    int cost_latency_repeats;
    /* Optional check of the measured cost before any training (nasc_evaluator_set_precheck). */
    bool (*precheck)(const nasc_trial_result *r, void *user, char *why, size_t why_n);
    void *precheck_user;
};

/* Turns cost measurement on for ev with networks built for net (copied); latency_repeats > 0
 * also times forward passes (machine-dependent). */
NASC_API void nasc_evaluator_set_cost(nasc_evaluator *ev, const nasc_net_config *net,
                                      int latency_repeats);

/* With cost measurement on, measures each architecture's cost first and calls fn with a result
 * holding it (status OK, score NaN); when fn returns false the trial fails at once with the reason
 * fn wrote into why ("... (checked before training)"), and nothing is trained. The cost is kept in
 * the result either way. user is passed through (not owned). fn NULL: off. */
NASC_API void nasc_evaluator_set_precheck(nasc_evaluator *ev,
                                          bool (*fn)(const nasc_trial_result *r, void *user,
                                                     char *why, size_t why_n),
                                          void *user);

/* Wraps impl (taken over, also on failure) into a new evaluator. NULL on OOM. */
NASC_API nasc_evaluator *nasc_evaluator_new(const nasc_evaluator_i *iface, void *impl,
                                            const nasc_space *space);
NASC_API void nasc_evaluator_free(nasc_evaluator *ev);

/* Initialises *out, runs the evaluator and turns a NaN or infinite score into a failed trial
 * ("score is nan"). A non-OK status of the evaluator becomes a failed trial with err's message;
 * the status is still returned so the caller can tell. out->seconds is measured here (cost
 * measurement excluded); the cost is measured after a successful evaluation if ev->want_cost
 * (a failed measurement leaves the cost unknown, it does not fail the trial). */
NASC_API nasc_status nasc_evaluator_evaluate(nasc_evaluator *ev, const nasc_eval_request *req,
                                             nasc_trial_result *out, nasc_err *err);

/* ---- tables ---- */

typedef struct nasc_table nasc_table;

/* Loads a CSV whose first column is an architecture text in space s, with a header row naming the
 * columns, and keeps the named columns (in the order asked; a name may repeat) in a hash map
 * keyed by the architecture (its decision sequence: each row is parsed by the space, so any
 * parseable form works). A name matches a header field exactly, or else the one field that is the
 * name plus a unit suffix without '_' ("latency_raspi4" finds "latency_raspi4_ms"). Empty, "nan"
 * or "NA" cells are kept as missing. Errors (FORMAT / IO) name the file, the line and the column:
 * an unknown column, a row without the column, a value that is not a number, an architecture the
 * space does not parse, a duplicate row. */
NASC_API nasc_status nasc_table_load_columns(const nasc_space *s, const char *path,
                                             const char *const *columns, int n_columns,
                                             nasc_table **out, nasc_err *err);
/* The same for one column. */
NASC_API nasc_status nasc_table_load(const nasc_space *s, const char *path, const char *column,
                                     nasc_table **out, nasc_err *err);
NASC_API void nasc_table_free(nasc_table *t);
/* Number of rows and of columns kept; a column's header name (owned by t), or NULL; the index of
 * the kept column with that header name, or -1. */
NASC_API size_t nasc_table_size(const nasc_table *t);
NASC_API int nasc_table_n_columns(const nasc_table *t);
NASC_API const char *nasc_table_column(const nasc_table *t, int c);
NASC_API int nasc_table_column_index(const nasc_table *t, const char *name);
/* Value of row i in column c (NaN if missing or out of range); of column 0; row i's architecture
 * text as written in the file (owned by t). */
NASC_API double nasc_table_get(const nasc_table *t, size_t i, int c);
NASC_API double nasc_table_value(const nasc_table *t, size_t i);
NASC_API const char *nasc_table_arch(const nasc_table *t, size_t i);
/* Row of architecture a, or -1 if a is not in the table. */
NASC_API int64_t nasc_table_find(const nasc_table *t, const nasc_arch *a);
/* Looks a up in column 0: true and *out_value (possibly NaN = missing) if a is in the table. */
NASC_API bool nasc_table_lookup(const nasc_table *t, const nasc_arch *a, double *out_value);
/* The same for an architecture text in the table's space (false if it does not parse). */
NASC_API bool nasc_table_lookup_text(const nasc_table *t, const char *text, double *out_value);

/* What random search with n queries averages, exactly: over n uniform draws with replacement from
 * the rows with a value in column search_col, the expected value in report_col of the draw that
 * is best in search_col (ties: the first drawn, i.e. equal values are equally likely), and its
 * standard deviation. expected_max is expected_best(t, n, 0, 0). */
NASC_API void nasc_table_expected_best(const nasc_table *t, int n, int search_col, int report_col,
                                       double *out_mean, double *out_std);
NASC_API void nasc_table_expected_max(const nasc_table *t, int n, double *out_mean,
                                      double *out_std);

/* Path of the NAS-Bench-201 CSV: $NASC_NB201_CSV, else $NASC_DATA_DIR/nb201.csv, else the
 * installed copy (PREFIX/share/nasc/nb201.csv with CMake's install prefix, then the share/nasc
 * beside the library holding this code, so a copy installed with `cmake --install --prefix` or
 * moved is found too), else data/nb201.csv next to the running executable's parent directory (a
 * build directory in the source tree, or PREFIX/share/nasc), else ./data/nb201.csv. Writes the
 * first that exists into buf; NASC_ERR_IO naming the places looked at if none does. */
NASC_API nasc_status nasc_nb201_csv_find(char *buf, size_t n, nasc_err *err);

/* A tabular evaluator. The NAS-Bench-201 tables ("nb201:cifar10", "nb201:cifar100") search on
 * the validation accuracy after 200 epochs (12 at the low fidelity) and report the test accuracy;
 * the training time is the cost. `oracle` searches on the test columns instead (what papers call
 * an oracle; labelled wherever nasc prints it). A user table names its columns. */
typedef struct nasc_table_eval_config {
    const char *spec;     /* "nb201:cifar10", "nb201:cifar100", "table:FILE.csv:SEARCH[:REPORT]" */
    const char *csv_path; /* nb201: the CSV (NULL: nasc_nb201_csv_find) */
    bool oracle;          /* nb201: search on test accuracy */
    const char *low;      /* user tables: "COLUMN[:REPORT]" at the low fidelity, or NULL/"" */
    const char *cost;     /* user tables: training seconds at full fidelity, or NULL/"" */
    double low_epochs;    /* the low and the full fidelity in epochs (0: 12 and 200) */
    double full_epochs;
    const char *const *columns; /* more columns each result carries in result.columns */
    int n_columns;              /* (objectives and constraints), at most NASC_MAX_COLUMNS */
} nasc_table_eval_config;

/* Builds the evaluator c describes. Requests at fidelity f (0 = full) use the smallest fidelity
 * the table has that is >= f (the full one if none); result.fidelity says which, sim_seconds is
 * the training time times fidelity / full. Trials of architectures missing from the table, or
 * with no value, fail. Errors: ARG (bad spec or options, named), IO / FORMAT (from the table; a
 * training time <= 0 is a FORMAT error naming its line and column). */
NASC_API nasc_status nasc_evaluator_table_new(const nasc_space *s, const nasc_table_eval_config *c,
                                              nasc_evaluator **out, nasc_err *err);
/* Shorthand: spec and csv_path only (no oracle, default fidelities, no extra columns). */
NASC_API nasc_status nasc_evaluator_tabular_new(const nasc_space *s, const char *spec,
                                                const char *csv_path, nasc_evaluator **out,
                                                nasc_err *err);
/* The table behind a tabular evaluator (NULL for other kinds): column 0 is the search column,
 * then the report column if there is one (find others with nasc_table_column_index). */
NASC_API const nasc_table *nasc_evaluator_table(const nasc_evaluator *ev);

/* Whether trial a ranks above trial b when choosing a search's best: a higher fidelity reached,
 * then a higher score (Hyperband's low-fidelity scores never beat full-fidelity ones). NaN
 * scores never rank above anything. */
NASC_API bool nasc_trial_better(double fidelity_a, double score_a, double fidelity_b,
                                double score_b);

/* ---- training and proxies ---- */

/* Knobs of the training evaluator (the `nasc train` flags) and of the proxy evaluator. */
typedef struct nasc_train_eval_config {
    const char *data;        /* dataset spec, e.g. "fashion-mnist" (data.h) */
    double data_fraction;    /* share of the training set used, in (0, 1] */
    double val_fraction;     /* share of that held out for validation, in (0, 1) */
    int channels, cells;     /* network size (0 = the space's defaults) */
    nasc_train_config train; /* epochs (= full fidelity), batch, optimizer, lr, ..., threads;
                                its seed is replaced by each trial's seed */
    bool median_stop;        /* median stopping rule (evaluates after every epoch) */
    int median_grace;        /* first epoch (0-based) at which the rule may stop a trial */
    int median_min_trials;   /* finished trials needed before the rule applies */
    const char *proxy;       /* proxy evaluator: "synflow", "snip", "grad_norm", "jacob_cov",
                                "naswot" */
    int proxy_batch;         /* proxy evaluator: batch size */
} nasc_train_eval_config;

/* Defaults: nasc_train_config_default, data fraction 1, validation 0.2, median rule off (grace 1,
 * 3 trials), proxy batch 64. */
NASC_API void nasc_train_eval_config_default(nasc_train_eval_config *c);

/* Training evaluator: loads the dataset once, splits its training part into train/validation
 * (by seed, stratified by nothing: a seeded shuffle), and trains each architecture from scratch;
 * score = validation accuracy (%). Fidelity = epochs. */
NASC_API nasc_status nasc_evaluator_train_new(const nasc_space *s, const nasc_train_eval_config *c,
                                              uint64_t seed, nasc_evaluator **out, nasc_err *err);
/* Proxy evaluator: score = the proxy's value at initialisation on one training batch. */
NASC_API nasc_status nasc_evaluator_proxy_new(const nasc_space *s, const nasc_train_eval_config *c,
                                              uint64_t seed, nasc_evaluator **out, nasc_err *err);
/* Comma-separated proxy names. */
NASC_API const char *nasc_proxy_names(void);

#ifdef __cplusplus
}
#endif
#endif /* NASC_ESTIMATE_H */
