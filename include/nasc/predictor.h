/*
 * predictor.h — performance predictors and the architecture controller used by the learned
 * strategies (bo-gp, bo-rf, bananas, pnas, reinforce, ppo; docs/STRATEGIES.md), exposed for tests,
 * benchmarks and the one-shot strategies (ENAS reuses the controller).
 *
 *   nasc_gp             Gaussian-process regression on feature vectors (architecture encodings):
 *                       RBF or Matern-5/2 kernel, hyperparameters (length scale, signal and noise
 *                       variance) fitted by maximising the log marginal likelihood; Cholesky
 *                       solves by LAPACK (dpotrf/dpotrs). Double precision throughout.
 *   nasc_forest         random-forest regression as in SMAC (Hutter et al. 2011): bootstrapped
 *                       CART trees with random feature subsets; mean and variance over the trees.
 *   nasc_mlp_ensemble   an ensemble of MLPs on the nasc engine (BANANAS, White et al. 2021),
 *                       each trained with Adam on the mean squared error from its own seed; mean
 *                       and standard deviation over the members.
 *   nasc_controller     an LSTM policy on the nasc engine that emits a space's decision sequence
 *                       token by token (NAS with RL, ENAS): embedding of the previous choice,
 *                       softmax over the options of each step, optional value head (PPO).
 *
 * Every object is a heap object (_new/_free) that owns its state; inputs are copied where kept.
 * Determinism: each takes a seed; the same data and seed give bit-identical results (the engine
 * objects run on a private one-thread "cpu" backend).
 *
 *     nasc_gp *gp;
 *     nasc_gp_new(&(nasc_gp_config){.kernel = NASC_GP_MATERN52, .fit_hyper = true}, dim, &gp,
 * &err); nasc_gp_fit(gp, X, y, n, &err);             // X: n rows of dim floats nasc_gp_predict(gp,
 * Xc, m, mean, var);      // posterior mean / variance of each row double ei =
 * nasc_expected_improvement(mean[0], var[0], best, 0.0); nasc_gp_free(gp);
 */
#ifndef NASC_PREDICTOR_H
#define NASC_PREDICTOR_H

#include "nasc/autograd.h"
#include "nasc/nn.h"
#include "nasc/space.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- acquisition and rank statistics ---- */

/* Expected improvement over `best` of a Gaussian N(mean, var) for maximisation, with margin xi:
 * E[max(0, f - best - xi)]. var <= 0 gives max(0, mean - best - xi). */
NASC_API double nasc_expected_improvement(double mean, double var, double best, double xi);
/* Kendall's tau-b of a[0..n) and b[0..n) (ties handled); 0 if n < 2. O(n^2). */
NASC_API double nasc_kendall_tau(const double *a, const double *b, int n);

/* ---- Gaussian process ---- */

typedef enum nasc_gp_kernel {
    NASC_GP_RBF = 0,  /* s2 * exp(-r^2 / 2),                        r = |x - x'| / l */
    NASC_GP_MATERN52, /* s2 * (1 + sqrt5 r + 5 r^2 / 3) exp(-sqrt5 r) */
    NASC_GP_KERNEL_COUNT
} nasc_gp_kernel;

/* Zero fields mean the defaults in brackets. */
typedef struct nasc_gp_config {
    nasc_gp_kernel kernel;
    bool fit_hyper;     /* maximise the log marginal likelihood in nasc_gp_fit [false] */
    double lengthscale; /* initial / fixed l [sqrt(dim) / 2] */
    double signal_var;  /* initial / fixed s2, on normalised targets [1] */
    double noise_var;   /* initial / fixed noise variance, normalised targets [1e-2] */
    int fit_iters;      /* gradient-ascent iterations per fit [30] */
} nasc_gp_config;

typedef struct nasc_gp nasc_gp;

NASC_API nasc_status nasc_gp_new(const nasc_gp_config *cfg, int dim, nasc_gp **out, nasc_err *err);
NASC_API void nasc_gp_free(nasc_gp *gp);
/* Conditions the GP on n >= 1 points: X row-major (n x dim), targets y (copied). Targets are
 * normalised to zero mean and unit variance inside; predictions come back in y's units. With
 * fit_hyper, the hyperparameters are fitted first, starting from the previous fit's values (warm
 * start). NASC_ERR_NOMEM; NASC_ERR_INTERNAL if the kernel matrix is not positive definite even
 * with added jitter. */
NASC_API nasc_status nasc_gp_fit(nasc_gp *gp, const float *X, const double *y, int n,
                                 nasc_err *err);
/* Posterior mean and variance (of the latent function, noise excluded) at m rows of Xq. */
NASC_API void nasc_gp_predict(const nasc_gp *gp, const float *Xq, int m, double *out_mean,
                              double *out_var);
/* The current hyperparameters theta = (log l, log s2, log noise_var), and a setter (clamped to
 * the fitting bounds; takes effect at the next fit). */
NASC_API void nasc_gp_get_hyper(const nasc_gp *gp, double out_theta[3]);
NASC_API void nasc_gp_set_hyper(nasc_gp *gp, const double theta[3]);
/* Log marginal likelihood of the fitted (normalised) data at theta, and its gradient with respect
 * to theta (if grad != NULL). For tests and diagnostics; NAN if K is not positive definite. */
NASC_API double nasc_gp_log_ml(nasc_gp *gp, const double theta[3], double grad[3]);

/* ---- random forest (SMAC-style) ---- */

typedef struct nasc_forest_config {
    int n_trees;           /* [32] */
    double max_features;   /* share of features tried per split, in (0, 1] [5/6, as SMAC] */
    int min_samples_split; /* a node with fewer samples is a leaf [3] */
    int min_samples_leaf;  /* [1] */
    int max_depth;         /* [20] */
    bool no_bootstrap;     /* train every tree on all points (default: a bootstrap sample) */
} nasc_forest_config;

typedef struct nasc_forest nasc_forest;

NASC_API nasc_status nasc_forest_new(const nasc_forest_config *cfg, int dim, uint64_t seed,
                                     nasc_forest **out, nasc_err *err);
NASC_API void nasc_forest_free(nasc_forest *f);
/* Grows the trees on X (n x dim) and y, replacing the previous ones; the k-th fit of a forest
 * draws its bootstraps and feature subsets from (seed, k). */
NASC_API nasc_status nasc_forest_fit(nasc_forest *f, const float *X, const double *y, int n,
                                     nasc_err *err);
/* Mean over the trees of their leaf means, and the variance by the law of total variance over
 * the trees' leaves (mean of leaf variance + leaf mean^2, minus the mean^2), as SMAC. */
NASC_API void nasc_forest_predict(const nasc_forest *f, const float *Xq, int m, double *out_mean,
                                  double *out_var);

/* ---- MLP ensemble ---- */

typedef struct nasc_mlp_config {
    int n_models;       /* ensemble members [5] */
    int hidden;         /* width of each hidden layer [32] */
    int n_layers;       /* hidden layers (ReLU) [2] */
    int epochs;         /* passes over the data per fit [150] */
    int batch;          /* minibatch size [32] */
    float lr;           /* Adam learning rate [0.01] */
    float weight_decay; /* Adam L2 decay [0] */
} nasc_mlp_config;

typedef struct nasc_mlp_ensemble nasc_mlp_ensemble;

NASC_API nasc_status nasc_mlp_ensemble_new(const nasc_mlp_config *cfg, int dim, uint64_t seed,
                                           nasc_mlp_ensemble **out, nasc_err *err);
NASC_API void nasc_mlp_ensemble_free(nasc_mlp_ensemble *e);
/* Trains every member from a fresh initialisation on X (n x dim), y (normalised inside); the
 * k-th fit uses seeds derived from (seed, k, member). */
NASC_API nasc_status nasc_mlp_ensemble_fit(nasc_mlp_ensemble *e, const float *X, const double *y,
                                           int n, nasc_err *err);
/* Mean and standard deviation over the members of their predictions at m rows of Xq; per_model
 * (may be NULL) receives member j's prediction of row i at [j * m + i]. */
NASC_API nasc_status nasc_mlp_ensemble_predict(nasc_mlp_ensemble *e, const float *Xq, int m,
                                               double *out_mean, double *out_std, double *per_model,
                                               nasc_err *err);
/* For gradient tests: member j's parameter store, and its training loss (mean squared error on
 * normalised targets t[0..n)) at the current parameters, built on a graph with gradients
 * accumulated into the store (the caller zeroes them). */
NASC_API nasc_params *nasc_mlp_ensemble_params(nasc_mlp_ensemble *e, int j);
NASC_API nasc_status nasc_mlp_ensemble_loss(nasc_mlp_ensemble *e, int j, const float *X,
                                            const float *t, int n, bool backward, double *out_loss,
                                            nasc_err *err);

/* ---- LSTM controller over decision sequences ---- */

typedef struct nasc_controller_config {
    int hidden;        /* LSTM width H (also the embedding width) [32] */
    float temperature; /* logits divided by T [1] */
    float tanh_c;      /* > 0: logits = tanh_c * tanh(z / T) (ENAS) [0 = off] */
    bool value_head;   /* a linear value estimate V(h_t) at every step (PPO) */
} nasc_controller_config;

typedef struct nasc_controller nasc_controller;

/* What one forward pass over a decision sequence records on the graph (step lifetime). */
typedef struct nasc_controller_out {
    int n;                /* number of decisions */
    nasc_tensor *neglogp; /* (1,n,1,1): -log p(d_t | d_<t) per step */
    nasc_tensor *entropy; /* (1,n,1,1): entropy of each step's distribution */
    nasc_tensor *value;   /* (1,n,1,1) with the value head, else NULL */
} nasc_controller_out;

/* New controller for space s (not owned; must outlive it), parameters initialised from seed.
 * Every step's output layer is as wide as the most options any step offered over 256 fixed-seed
 * samples of the space (exact for the fixed-radix spaces); a step offering more (only possible in
 * spaces whose option counts depend on earlier choices) is sampled uniformly. */
NASC_API nasc_status nasc_controller_new(const nasc_space *s, const nasc_controller_config *cfg,
                                         uint64_t seed, nasc_controller **out, nasc_err *err);
NASC_API void nasc_controller_free(nasc_controller *c);
/* The parameter store (for an optimizer, checkpoints and gradient tests). */
NASC_API nasc_params *nasc_controller_params(nasc_controller *c);
/* A private graph on the controller's backend, reused by sample; callers may use it for their own
 * losses (reset it first). */
NASC_API nasc_graph *nasc_controller_graph(nasc_controller *c);
/* Samples a decision sequence from the policy into out[0..*out_n) (room for
 * nasc_space_n_decisions), drawing from rng; *out_logp (may be NULL) gets its log-probability
 * under the policy and out_step_logp (may be NULL) the per-step values. No gradients. */
NASC_API nasc_status nasc_controller_sample(nasc_controller *c, nasc_rng *rng, int *out, int *out_n,
                                            double *out_logp, double *out_step_logp, nasc_err *err);
/* Runs the policy over the given decisions on g (gradients as g says) and records the per-step
 * negative log-probabilities, entropies and values. Returns the graph's status. */
NASC_API nasc_status nasc_controller_forward(nasc_controller *c, nasc_graph *g, const int *d, int n,
                                             nasc_controller_out *out);

#ifdef __cplusplus
}
#endif
#endif /* NASC_PREDICTOR_H */
