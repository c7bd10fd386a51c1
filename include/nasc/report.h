/*
 * report.h — what a search did, as one self-contained HTML page (`nasc report`).
 *
 * The report reads an experiment database (db.h) and writes a single HTML file: inline CSS and
 * SVG, no script and no external resource, so it opens from disk, prints, and follows the
 * reader's light or dark mode (prefers-color-scheme). Sections, each present when the database
 * holds what it needs:
 *   - the experiment: space, strategy, evaluator, budget, seed, state (finished, running,
 *     interrupted with the command that continues it), wall time, trials done and failed, the
 *     best result (for benchmark tables: the best validation score and its test score);
 *   - the optimization history: score against trial number and against wall time with the
 *     best-so-far line, failed trials marked, and their reasons in a table;
 *   - multi-objective searches: the Pareto front of every pair of objectives (front
 *     highlighted, constraints drawn) and a parallel-coordinates plot;
 *   - the top trials: architecture, score, parameters, multiply-adds, latency;
 *   - training trials: the per-epoch values each trial recorded (validation accuracy, training
 *     loss and accuracy), so that early stopping and Hyperband rungs are visible;
 *   - one-shot searches: softmax(alpha) per edge as heat maps (last epoch, and every epoch as
 *     small multiples), the genotype per epoch, the share of parameter-free ops per epoch, and
 *     training / validation accuracy per epoch.
 * Every plot has axis labels with units, an SVG <title> and <desc> (its text alternative), and
 * the numbers it shows are also in a table or caption.
 *
 * The database is only read: nasc_db_open_readonly, which never writes the file or anything
 * beside it and never makes a running search wait (db.h).
 *
 *     nasc_report_opts o;
 *     nasc_report_opts_default(&o);
 *     nasc_report_info info;
 *     if (nasc_report_write_file("exp.db", "report.html", &o, &info, &err) != NASC_OK)
 *         fprintf(stderr, "%s\n", err.msg);
 *     // info.state: NASC_REPORT_RUNNING while a search holds the database
 */
#ifndef NASC_REPORT_H
#define NASC_REPORT_H

#include <stdio.h>

#include "nasc/db.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where the experiment stands. */
typedef enum nasc_report_state {
    NASC_REPORT_EMPTY = 0,   /* no trial recorded yet, and no search running */
    NASC_REPORT_RUNNING,     /* a search holds the database's writer lock now */
    NASC_REPORT_FINISHED,    /* budget (trials, simulated time, epochs) spent, or stopped by its
                                own rule (a one-shot collapse remedy) */
    NASC_REPORT_INTERRUPTED, /* no search running and the budget not spent: `--resume` continues */
    NASC_REPORT_STATE_COUNT
} nasc_report_state;

/* "empty", "running", "finished", "interrupted". */
NASC_API const char *nasc_report_state_str(nasc_report_state s);

typedef struct nasc_report_opts {
    int top;           /* top trials listed [10] */
    double refresh_s;  /* > 0: while the search runs, the page reloads itself after this many
                          seconds (<meta http-equiv="refresh">) [0] */
    const char *title; /* page title; NULL: "nasc report: <db file name>" */
} nasc_report_opts;

NASC_API void nasc_report_opts_default(nasc_report_opts *o);

/* What a report found (filled by the writers below). */
typedef struct nasc_report_info {
    nasc_report_state state;
    int64_t n_trials, n_ok, n_failed; /* recorded, ok, failed */
    int n_plots;                      /* SVG plots written */
} nasc_report_info;

/* Writes the report of db (opened by the caller, read-only is enough; db_path is the file name
 * shown and used to tell whether a search runs on it) to f. FILE errors: IO. db errors: as
 * db.h. out_info may be NULL. */
NASC_API nasc_status nasc_report_write(nasc_db *db, const char *db_path, const nasc_report_opts *o,
                                       FILE *f, nasc_report_info *out_info, nasc_err *err);

/* Opens db_path read-only, writes its report to out_path.tmp, flushes and fsyncs it and renames
 * it to out_path, so out_path is always a whole report (the previous one until the rename).
 * Errors: the database's (FORMAT for a file that is not a nasc experiment, naming it), IO naming
 * out_path; out_path is then left as it was and no .tmp remains. */
NASC_API nasc_status nasc_report_write_file(const char *db_path, const char *out_path,
                                            const nasc_report_opts *o, nasc_report_info *out_info,
                                            nasc_err *err);

#ifdef __cplusplus
}
#endif
#endif /* NASC_REPORT_H */
