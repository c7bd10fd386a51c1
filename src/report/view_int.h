/* view_int.h — the experiment as the report sections see it (filled once by report.c from the
 * database; read-only afterwards), and the sections written outside report.c. Never installed. */
#ifndef NASC_REPORT_VIEW_INT_H
#define NASC_REPORT_VIEW_INT_H

#include "nasc/db.h"
#include "nasc/pareto.h"
#include "nasc/report.h"

typedef struct cJSON cJSON;

typedef struct nasc_rv {
    const char *path; /* database file */
    nasc_kv *cfg;     /* stored configuration (owned) */
    int n_cfg;
    nasc_trial_record *t; /* every trial, in id order (owned) */
    int64_t n;
    int64_t n_ok, n_failed, n_open; /* open: pending or running */
    int64_t best;                   /* index of the best trial (nasc_trial_better), -1 if none */
    int64_t *rank;                  /* the n_ok successful trials, best first (owned) */
    double t0, t1;                  /* first created_at, last ended_at (Unix s) */
    double sim_total;               /* simulated training seconds of all trials */
    bool has_sim, has_test;         /* some trial has sim_seconds / test_score */
    bool oneshot, oracle;
    bool has_obj; /* obj parsed from the configuration */
    nasc_objectives obj;
    char score_label[96]; /* the score's axis label, with its unit */
    cJSON *history;       /* one-shot: {"method", "epochs": [...]}, or NULL (owned) */
    nasc_report_state state;
    bool lock_unknown; /* whether a search runs could not be told */
} nasc_rv;

/* The configuration value of key ("" if absent). */
NASC_INTERNAL const char *nasc_rv_cfg(const nasc_rv *v, const char *key);
/* Multi-objective searches: Pareto fronts per pair and parallel coordinates (views.c). */
NASC_INTERNAL void nasc_rv_write_objectives(FILE *f, const nasc_rv *v, int *counter);
/* Per-epoch values of training trials (views.c). */
NASC_INTERNAL void nasc_rv_write_curves(FILE *f, const nasc_rv *v, int *counter);
/* One-shot searches: alpha heat maps, genotypes, collapse, accuracy (oneshot_view.c). */
NASC_INTERNAL void nasc_rv_write_oneshot(FILE *f, const nasc_rv *v, int *counter);

#endif /* NASC_REPORT_VIEW_INT_H */
