/* learn_int.h — what the learned and model-based strategies share (never installed): the history
 * of told trials, the set of architectures already proposed, a queue of proposals made in
 * batches, candidate generation by mutation around the best architectures, the targets a model is
 * fitted on (the score, or a random scalarisation of several objectives), and (de)serialisation
 * of all of that for save/load.
 *
 * Every learned strategy follows one pattern (docs/STRATEGIES.md):
 *   ask:  pop the queue if it holds a proposal; otherwise, if results up to
 *         n_asked - 1 - ask_ahead are not all known, wait (no state change, no draws); otherwise
 *         fit the model on the history and push a new batch of unseen architectures.
 *   tell: append the result to the history (and nothing else, unless the strategy learns online).
 * So trial k is proposed from results 0 .. k-1-ask_ahead at most (fewer within a batch), and the
 * sequence of proposals depends only on the seed and the results. */
#ifndef NASC_LEARN_INT_H
#define NASC_LEARN_INT_H

#include "nasc/pareto.h"
#include "nasc/predictor.h"
#include "strategy_int.h"

/* The strategies of issue 5 are declared with the built-ins in strategy_int.h. */

/* One told trial. */
typedef struct learn_trial {
    nasc_arch *arch; /* owned */
    double fitness;  /* nasc_result_fitness: score, or -inf if failed */
    double fidelity; /* as asked */
    int n_obj;       /* objectives recorded (0: single objective) */
    double obj[NASC_MAX_OBJECTIVES];
} learn_trial;

/* A set of decision sequences (open addressing on a 64-bit FNV-1a key of the decisions). */
typedef struct learn_set {
    uint64_t *keys; /* 0 = empty slot (a real key of 0 is stored as 1) */
    size_t cap, n;
} learn_set;

typedef struct learn_base {
    const nasc_space *space;
    int n_dec;         /* nasc_space_n_decisions */
    learn_trial *hist; /* told trials in trial order */
    int n_hist, cap_hist;
    learn_set seen;    /* every architecture proposed so far */
    nasc_arch **queue; /* proposals not yet handed out (FIFO) */
    double *queue_fid; /* their fidelities */
    int q_head, q_n, q_cap;
    int n_obj;                           /* cfg.n_objectives (> 1: scalarise) */
    double weights[NASC_MAX_OBJECTIVES]; /* current scalarisation weights */
} learn_base;

NASC_INTERNAL nasc_status nasc_learn_init(learn_base *b, const nasc_strategy *s, nasc_err *err);
NASC_INTERNAL void nasc_learn_deinit(learn_base *b);

/* Key of a's decision sequence. */
NASC_INTERNAL uint64_t nasc_learn_key(const nasc_arch *a);
/* Inserts a's key; true if it was new. False also on OOM (then *oom is set if given). */
NASC_INTERNAL bool nasc_learn_set_add(learn_set *set, uint64_t key, bool *oom);
NASC_INTERNAL bool nasc_learn_set_has(const learn_set *set, uint64_t key);

/* Appends a told result (arch cloned). */
NASC_INTERNAL nasc_status nasc_learn_record(learn_base *b, const nasc_arch *arch, double fidelity,
                                            const nasc_trial_result *r, nasc_err *err);
/* True when every result the strategy may use for its next batch is known:
 * n_told >= n_asked - ask_ahead. */
NASC_INTERNAL bool nasc_learn_ready(const nasc_strategy *s);

/* Queue: push takes a over; pop hands the oldest proposal to out (arch NULL if empty). */
NASC_INTERNAL nasc_status nasc_learn_push(learn_base *b, nasc_arch *a, double fidelity,
                                          nasc_err *err);
NASC_INTERNAL bool nasc_learn_pop(learn_base *b, nasc_proposal *out);

/* Marks a proposed; true if it had not been proposed before. */
NASC_INTERNAL bool nasc_learn_mark(learn_base *b, const nasc_arch *a);
/* A uniform sample not proposed before (after 1000 tries, any sample), marked. */
NASC_INTERNAL nasc_status nasc_learn_random_unseen(nasc_strategy *s, learn_base *b, nasc_arch **out,
                                                   nasc_err *err);

/* Indices of the told trials sorted by target (descending; ties by trial index); failed trials
 * (target -inf) last. out has room for b->n_hist. */
NASC_INTERNAL void nasc_learn_rank(const learn_base *b, const double *target, int *out);

/* Targets of the history into y[0..n_hist): the fitness, or with several objectives the
 * scalarisation (nasc_pareto_scalarize) under b->weights with the bounds seen so far. Failed
 * trials get -inf. */
NASC_INTERNAL void nasc_learn_targets(const learn_base *b, double *y);
/* Raises every finite y[i] below the q-quantile of the finite values to it (q in (0,1); q <= 0
 * does nothing). A surrogate fitted on these spends its capacity on the good architectures
 * instead of on how bad the worst ones are (NAS-Bench-201 accuracies reach down to 10%). */
NASC_INTERNAL void nasc_learn_floor(double *y, int n, double q);
/* The mean of y[0..n) (n >= 1) into *mean and its sample standard deviation into *std (1 when
 * n == 1 or the values are all equal): the scaling of a surrogate's targets. */
NASC_INTERNAL void nasc_learn_standardize(const double *y, int n, double *mean, double *std);
/* Draws new scalarisation weights (uniform on the simplex) if there are several objectives. */
NASC_INTERNAL void nasc_learn_draw_weights(nasc_strategy *s, learn_base *b);

/* Candidates for an acquisition function: every neighbour of the `top` best told architectures
 * (by y), n_mut random mutations of 2..max_edits edits from each of them, and n_rand uniform
 * samples; none proposed before, no duplicates. *out is a nasc_malloc'd list (free with
 * nasc_arch_list_free). */
NASC_INTERNAL nasc_status nasc_learn_candidates(nasc_strategy *s, learn_base *b, const double *y,
                                                int top, int n_mut, int max_edits, int n_rand,
                                                nasc_arch ***out, size_t *out_n, nasc_err *err);

/* Encodes n architectures into X (n x len floats, zeroed first). */
NASC_INTERNAL nasc_status nasc_learn_encode(nasc_arch *const *archs, size_t n, nasc_encoding kind,
                                            size_t len, float *X, nasc_err *err);

/* The most options each step t < nasc_space_n_decisions offers over 256 samples of s from a fixed
 * seed (independent of any search) into M[t]; steps never reached get the overall maximum. d is
 * scratch with room for the decisions. */
NASC_INTERNAL nasc_status nasc_learn_probe_options(const nasc_space *s, int *M, int *d,
                                                   nasc_err *err);

/* Serialises b (history, seen set, queue, weights), and restores it into a fresh base. */
NASC_INTERNAL void nasc_learn_save(const learn_base *b, nasc_buf *out);
NASC_INTERNAL nasc_status nasc_learn_load(learn_base *b, nasc_reader *r, nasc_err *err);

/* The fitted surrogate of a model-based strategy: one of the predictors of predictor.h behind
 * the same fit / predict calls. */
typedef enum learn_model_kind { LEARN_GP = 0, LEARN_RF, LEARN_MLP } learn_model_kind;

typedef struct learn_model {
    learn_model_kind kind;
    nasc_gp *gp;
    nasc_forest *rf;
    nasc_mlp_ensemble *mlp;
} learn_model;

/* Fit counters of the forest and the ensemble (their k-th fit's seeds), for save/load. */
NASC_INTERNAL uint64_t nasc_forest_fit_count(const nasc_forest *f);
NASC_INTERNAL void nasc_forest_set_fit_count(nasc_forest *f, uint64_t k);
NASC_INTERNAL uint64_t nasc_mlp_ensemble_fit_count(const nasc_mlp_ensemble *e);
NASC_INTERNAL void nasc_mlp_ensemble_set_fit_count(nasc_mlp_ensemble *e, uint64_t k);

NASC_INTERNAL void nasc_learn_model_free(learn_model *m);
/* The model's state that later fits depend on (GP hyperparameters, fit counters). */
NASC_INTERNAL void nasc_learn_model_save(const learn_model *m, nasc_buf *out);
NASC_INTERNAL void nasc_learn_model_load(learn_model *m, nasc_reader *r);
NASC_INTERNAL nasc_status nasc_learn_model_fit(learn_model *m, const float *X, const double *y,
                                               int n, nasc_err *err);
/* Mean and standard deviation at m rows. */
NASC_INTERNAL nasc_status nasc_learn_model_predict(learn_model *m, const float *X, int n,
                                                   double *mean, double *sd, nasc_err *err);

#endif /* NASC_LEARN_INT_H */
