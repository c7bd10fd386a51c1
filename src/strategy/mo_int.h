/* mo_int.h — model-based two-objective search (mo.c; never installed): the expected hypervolume
 * improvement (EHVI) of a candidate whose accuracy is a Gaussian prediction and whose cost is a
 * point prediction, over the front of the results so far, and the linear cost model that gives
 * the cost (ridge regression on the architecture encoding: NAS-Bench-201 latency, parameters and
 * FLOPs are close to additive over a cell's operations, so a few dozen results fit them well).
 *
 * Convention of pareto.h: objective 0 is accuracy (higher is better), objective 1 a cost (lower is
 * better). The reference point is that of a typical architecture of the space (the hypervolume of
 * issue 19 is measured from the median accuracy and median latency of the table), estimated from
 * the strategy's first uniform samples, its cost raised so that the most accurate architecture
 * found is never cut off. */
#ifndef NASC_MO_INT_H
#define NASC_MO_INT_H

#include "learn_int.h"

/* The observed front as a staircase: points sorted by cost ascending (accuracy ascending),
 * only those that dominate the reference point. */
typedef struct mo_front {
    double *acc, *cost;
    int n, cap;
    double ref[2]; /* accuracy, cost */
} mo_front;

/* The reference point from the first n_ref told trials of b (those with finite objectives):
 * the q-quantile of their accuracies and the (1-q)-quantile of their costs, the cost raised to
 * 1.1 times that of the most accurate told trial if it is below. False if none. */
NASC_INTERNAL bool nasc_mo_reference(const learn_base *b, int n_ref, double q, double ref[2]);
/* The q-quantile of v[0..n) (n >= 1; sorted in place), interpolated linearly. */
NASC_INTERNAL double nasc_mo_quantile(double *v, int n, double q);
/* The two-objective history the models are fitted on: for every told trial with a finite fitness
 * and finite objectives 0 and 1, in trial order, its architecture (borrowed), its accuracy (raised
 * to ref[0] when clip) and its cost. The arrays hold b->n_hist entries at least. Returns the count. */
NASC_INTERNAL int nasc_mo_gather(const learn_base *b, const double ref[2], bool clip,
                                 nasc_arch **arch, double *acc, double *cost);
/* Builds the front of b's told trials (two objectives) with respect to ref. */
NASC_INTERNAL nasc_status nasc_mo_front_build(const learn_base *b, const double ref[2], mo_front *f,
                                              nasc_err *err);
/* Adds a point (a batch's predicted result: later candidates of the batch see it). */
NASC_INTERNAL nasc_status nasc_mo_front_add(mo_front *f, double acc, double cost, nasc_err *err);
NASC_INTERNAL void nasc_mo_front_free(mo_front *f);
/* Expected hypervolume improvement of a point with accuracy ~ N(mu, sd^2) and cost `cost`:
 * the sum over the staircase's segments between `cost` and the reference cost of the segment's
 * width times the expected improvement of the accuracy over the segment's level. */
NASC_INTERNAL double nasc_mo_ehvi(const mo_front *f, double mu, double sd, double cost);
/* Ridge regression y ~ X w + c (n rows of d features, intercept unpenalised, penalty lambda) and
 * its predictions at the m rows of Xq into pred. */
NASC_INTERNAL nasc_status nasc_mo_ridge(const float *X, const double *y, int n, int d,
                                        double lambda, const float *Xq, int m, double *pred,
                                        nasc_err *err);
/* Candidate-ranking targets for nasc_learn_candidates: minus the non-dominated rank of each told
 * trial, minus one half for points that do not dominate ref (so the front inside the reference
 * box comes first); -inf for failed trials. Returns the number of front members inside the box. */
NASC_INTERNAL int nasc_mo_rank_targets(const learn_base *b, const double ref[2], double *y,
                                       nasc_err *err);
/* Surrogate screening (two objectives): of the n unseen candidates c (borrowed), the index of
 * the one with the highest expected hypervolume improvement over the front of b's results, under
 * ridge regressions of accuracy (clipped at the reference point of the first ref_n results; its
 * training residual as the standard deviation) and cost on the one-hot encoding. *pick = -1 when
 * there is too little to fit (fewer than min_fit or 2 results) or no one-hot encoding. Used by
 * nsga2 (its children) and by the ParEGO samplers (reinforce, ppo, gan, pnas: their samples). */
NASC_INTERNAL nasc_status nasc_mo_screen(const nasc_strategy *s, const learn_base *b, int ref_n,
                                         int min_fit, nasc_arch *const *c, int n, int *pick,
                                         nasc_err *err);
/* A screening pool: up to cap distinct architectures that the strategy has not seen, from which
 * nasc_mo_pool_take proposes one (nsga2's children, the samplers' draws). */
typedef struct mo_pool {
    nasc_arch **c;
    uint64_t *keys;
    int n, cap;
} mo_pool;
NASC_INTERNAL nasc_status nasc_mo_pool_init(mo_pool *p, int cap, const nasc_strategy *s,
                                            nasc_err *err);
/* Takes a: kept in the pool when b has not seen it and the pool does not hold it (true), else
 * freed (false). */
NASC_INTERNAL bool nasc_mo_pool_add(mo_pool *p, const learn_base *b, nasc_arch *a);
/* nasc_mo_screen over the pool (the first member while there is too little to fit): the pick is
 * marked in b and moved to *out, its index in *pick. The pool must not be empty. */
NASC_INTERNAL nasc_status nasc_mo_pool_take(const nasc_strategy *s, learn_base *b, mo_pool *p,
                                            int ref_n, int min_fit, nasc_arch **out, int *pick,
                                            nasc_err *err);
/* Adds up to n single-edit mutations of random members of the front inside the reference box
 * (of the first ref_n results) to the pool (unseen and distinct only; 4n draws at most): the
 * front's neighbourhood as candidates beside a sampler's own. Nothing before a reference. */
NASC_INTERNAL nasc_status nasc_mo_pool_add_neighbours(nasc_strategy *s, const learn_base *b,
                                                      mo_pool *p, int ref_n, int n, nasc_err *err);
NASC_INTERNAL void nasc_mo_pool_free(mo_pool *p);
/* The hypervolume contribution of each of the m mutually non-dominated points idx (rows of obj:
 * accuracy, cost) to the box of ref: the area only it dominates; 0 outside the box. */
NASC_INTERNAL void nasc_mo_hv_contribution(const double *obj, const int *idx, int m,
                                           const double ref[2], double *hvc);
/* Hypervolume-based targets of b's told trials (two objectives), an alternative to ParEGO's
 * scalarisation: minus the non-dominated rank, minus one half outside the reference box (of the
 * first ref_n results), and for the front inside the box 0.49 times the member's hypervolume
 * contribution over the largest (so the most contributing member is the best); -inf for failed
 * trials. *done false (y untouched) when b has not two objectives or no reference yet. */
NASC_INTERNAL nasc_status nasc_mo_targets(const learn_base *b, int ref_n, double *y, bool *done,
                                          nasc_err *err);

#endif /* NASC_MO_INT_H */
