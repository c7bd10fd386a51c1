/*
 * pareto.h — multi-objective search: the objectives and constraints of a search (`--objective`,
 * `--constraint`), their values for an architecture from the cost model, and the Pareto tools
 * (dominance, NSGA-II non-dominated sorting and crowding distance, the front, random
 * scalarisations) used by the strategies and by the experiment's Pareto front.
 *
 * Convention for objective vectors (nasc_trial_result.objectives): element 0 is the evaluator's
 * score, higher is better (accuracy in percent); every further element is a cost, lower is better
 * (parameters, multiply-adds, latency in ms, activation bytes). Accuracy is therefore always the
 * first objective: `--objective params,acc` is the same search as `acc,params`.
 *
 * Besides the built-in costs (measured by the cost model on this machine), any numeric column of
 * a benchmark table is a cost or can be bounded: `--objective valid,latency_raspi4` (the
 * Raspberry Pi 4 latency measured by HW-NAS-Bench), `--constraint latency_pixel3<=5`. A name that
 * is not built in names a column; the table evaluator resolves it (estimate.h, a unit suffix may
 * be left out) and hands its value in result.columns[], in the order nasc_objectives_columns
 * lists them.
 *
 * Ownership: everything here works on caller-owned arrays; nothing is kept.
 *
 *     nasc_objectives o;
 *     nasc_objectives_parse("acc,params,flops", "params<=1e6", &o, &err);
 *     nasc_cost c;
 *     nasc_objectives_cost(&o, arch, &net, &c, &err);        // builds the network, counts
 *     nasc_objectives_apply(&o, &c, &result);                // objectives[], constraint check
 *     int front[64], n_front = nasc_pareto_front(objs, n, o.n, front);
 */
#ifndef NASC_PARETO_H
#define NASC_PARETO_H

#include "nasc/estimate.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nasc_objective_kind {
    NASC_OBJ_ACCURACY = 0, /* "acc" / "accuracy": the score, maximised */
    NASC_OBJ_PARAMS,       /* "params": trainable parameters */
    NASC_OBJ_FLOPS,        /* "flops" / "macs": multiply-adds of one forward pass (cost.h) */
    NASC_OBJ_LATENCY,      /* "latency": measured forward latency at batch 1, ms */
    NASC_OBJ_MEMORY,       /* "memory": peak activation bytes at batch 1 */
    NASC_OBJ_COLUMN,       /* any other name: a column of the benchmark table */
    NASC_OBJ_COUNT
} nasc_objective_kind;

#define NASC_MAX_CONSTRAINTS 8
#define NASC_COLUMN_NAME 48 /* longest table column name, with its terminator */

typedef struct nasc_constraint {
    nasc_objective_kind kind;
    double bound;                  /* value <= bound, or >= bound if at_least */
    bool at_least;                 /* accuracy always; columns with ">=" */
    char column[NASC_COLUMN_NAME]; /* NASC_OBJ_COLUMN: its name */
    int col;                       /* NASC_OBJ_COLUMN: index in nasc_objectives_columns */
} nasc_constraint;

typedef struct nasc_objectives {
    int n;                                              /* objectives (1 = accuracy only) */
    nasc_objective_kind kind[NASC_MAX_OBJECTIVES];      /* kind[0] == NASC_OBJ_ACCURACY */
    char column[NASC_MAX_OBJECTIVES][NASC_COLUMN_NAME]; /* NASC_OBJ_COLUMN objectives: names */
    int col[NASC_MAX_OBJECTIVES]; /* ... and index in nasc_objectives_columns */
    int n_constraints;
    nasc_constraint constraint[NASC_MAX_CONSTRAINTS];
    int n_columns; /* distinct table columns used, in order of first use */
} nasc_objectives;

/* Name of an objective kind ("acc", "params", "flops", "latency", "memory", "column"). */
NASC_API const char *nasc_objective_name(nasc_objective_kind k);
/* Parses an objective list ("acc,params"; "valid" and "score" mean acc too; NULL or "" = accuracy
 * only) and a constraint list ("params<=1e6,latency<=5ms,acc>=90,latency_pixel3<=5"; NULL or ""
 * = none). Numbers take k/M/G suffixes, latency "ms"/"s", memory "KB"/"MB"/"GB" (powers of 1024)
 * or "B"; table columns take plain numbers and may be bounded either way. Any other name made of
 * letters, digits, '_', '-' and '.' is a table column. Errors (ARG) name the item: a bad name, one
 * listed twice, more than NASC_MAX_OBJECTIVES, a bad bound, a cost bounded from below or accuracy
 * from above. */
NASC_API nasc_status nasc_objectives_parse(const char *objectives, const char *constraints,
                                           nasc_objectives *out, nasc_err *err);
/* Canonical texts of both lists ("acc,params", "params<=1000000") into the buffers. */
NASC_API void nasc_objectives_format(const nasc_objectives *o, char *obj_buf, size_t obj_n,
                                     char *con_buf, size_t con_n);
/* The table columns o uses (objectives, then constraints; each once), as pointers into o. Writes
 * at most NASC_MAX_COLUMNS names; returns their count (o->n_columns). */
NASC_API int nasc_objectives_columns(const nasc_objectives *o, const char **out_names);
/* Whether o needs anything from the cost model (a cost objective or a cost constraint). */
NASC_API bool nasc_objectives_need_cost(const nasc_objectives *o);
/* The costs o needs for a (the others stay NaN): builds a's network for net and measures it with
 * the cost model (latency only if o uses it: 10 timed passes on one thread). Errors: the build's.
 */
NASC_API nasc_status nasc_objectives_cost(const nasc_objectives *o, const nasc_arch *a,
                                          const nasc_net_config *net, nasc_cost *out,
                                          nasc_err *err);
/* Fills r's cost fields that c knows and, if o has more than one objective, r->objectives and
 * r->n_objectives from r->score, the costs and r->columns (table columns). A successful trial
 * that violates a constraint becomes failed, with the reason "constraint params<=1e+06 violated
 * (1.2e+06)". Returns whether the constraints hold. */
NASC_API bool nasc_objectives_apply(const nasc_objectives *o, const nasc_cost *c,
                                    nasc_trial_result *r);
/* The value of objective kind k in a result (score or cost; NaN where unknown, and for
 * NASC_OBJ_COLUMN, which needs nasc_objectives_value). */
NASC_API double nasc_objective_value(nasc_objective_kind k, const nasc_trial_result *r);
/* The value of objective j of o in r (columns from r->columns). */
NASC_API double nasc_objectives_value(const nasc_objectives *o, int j, const nasc_trial_result *r);

/* ---- Pareto tools (vectors in the convention above, n_obj values each, row-major) ---- */

/* Whether a dominates b: no worse in every objective and better in one. NaN is worse than any
 * number. */
NASC_API bool nasc_pareto_dominates(const double *a, const double *b, int n_obj);
/* Fast non-dominated sorting (Deb et al., NSGA-II, 2002): out_rank[i] = front index of point i
 * (0 = non-dominated). Returns the number of fronts, or -1 on OOM. O(n_obj n^2). */
NASC_API int nasc_pareto_sort(const double *obj, int n, int n_obj, int *out_rank);
/* Crowding distance of the m points idx[0..m) (one front) into out_dist[0..m): the sum over
 * objectives of the normalised gap between each point's neighbours; boundary points infinite. */
NASC_API void nasc_pareto_crowding(const double *obj, int n_obj, const int *idx, int m,
                                   double *out_dist);
/* Indices of the non-dominated points among obj[0..n) into out_idx (room for n), in index order;
 * returns their count. Points with a NaN objective never belong to the front. */
NASC_API int nasc_pareto_front(const double *obj, int n, int n_obj, int *out_idx);
/* Hypervolume of a two-objective set (accuracy up, cost down: the convention above) with respect
 * to the reference point ref[0] (accuracy), ref[1] (cost): the area of the region that some
 * point dominates and that dominates ref. Points with NaN, or not better than ref in both
 * objectives, add nothing. O(n log n). */
NASC_API double nasc_pareto_hypervolume2(const double *obj, int n, const double *ref);
/* Augmented Chebyshev scalarisation (ParEGO, Knowles 2006) of v, higher is better:
 *   -(max_j w_j u_j + 0.05 sum_j w_j u_j),  u_j = badness of v_j scaled to [0,1] by lo/hi
 * (lo/hi: per-objective minimum and maximum seen). -inf if any value is NaN. */
NASC_API double nasc_pareto_scalarize(const double *v, int n_obj, const double *w, const double *lo,
                                      const double *hi);

#ifdef __cplusplus
}
#endif
#endif /* NASC_PARETO_H */
