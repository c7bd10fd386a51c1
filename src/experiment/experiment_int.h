/* experiment_int.h — internals of the experiment module (never installed). */
#ifndef NASC_EXPERIMENT_INT_H
#define NASC_EXPERIMENT_INT_H

#include "nasc/arena.h"
#include "nasc/db.h"
#include "nasc/dist.h"
#include "nasc/experiment.h"

/* Rebuilds a trial result from a database row's columns (status, score, reason, cost, seconds);
 * the metrics JSON is parsed on top by the caller. The live search tells strategies results that
 * went through exactly this path too, so a replay sees bit-identical inputs. */
NASC_INTERNAL void nasc_db_row_result(const nasc_trial_record *row, nasc_trial_result *r); /* db_sqlite.c */

/* Builds the evaluator cfg asks for (tabular, training or proxy). */
NASC_INTERNAL nasc_status nasc_experiment_make_evaluator(const nasc_experiment_config *cfg,
                                                         const nasc_space *s, nasc_evaluator **out,
                                                         nasc_err *err);

/* The stored keys of cfg as key/value text (canonical values): *out is a nasc_malloc'd block
 * holding the pairs and their strings. */
NASC_INTERNAL nasc_status nasc_config_to_kv(const nasc_experiment_config *cfg, nasc_kv **out,
                                            int *out_n, nasc_err *err);

/* Test builds: installs the storage-fault VFS of db_fault.c if NASC_TEST_DB_FAULT asks for it
 * (once per process; every database open calls it). */
#ifdef NASC_TEST
NASC_INTERNAL void nasc_db_fault_install(void);
#else
static inline void nasc_db_fault_install(void) {}
#endif
/* The two fidelities of a user table from cfg->table_epochs (12 and 200 if empty); ARG naming
 * the key if malformed. */
NASC_INTERNAL nasc_status nasc_config_table_epochs(const nasc_experiment_config *cfg,
                                                   double *out_low, double *out_full,
                                                   nasc_err *err);

/* The value identity key k had in experiments whose stored configuration (stored[0..n)) predates
 * it: its default, except "oracle", which is "true" for the nb201 tables (searched on test
 * accuracy before the key existed). Text into buf. */
NASC_INTERNAL void nasc_config_legacy_value(const nasc_kv *stored, int n, const nasc_config_key *k,
                                            char *buf, size_t bn);

/* ---- distributed search (remote.c: the messages; experiment.c: both sides of the protocol) ----
 *
 * Rank 0 runs the search loop and the database; ranks 1..N-1 are its worker slots 0..N-2.
 *   rank 0 -> worker   CONFIG   the experiment's configuration (once), answered by READY
 *   worker -> rank 0   READY    the worker built its space and evaluator, or why it could not
 *   rank 0 -> worker   JOB      one trial to evaluate (sent only to a worker that is idle)
 *   worker -> rank 0   OUTCOME  its result, or "run it again" (the trial's process was killed)
 *   rank 0 -> worker   QUIT     the search is over (a running trial is abandoned)
 * A worker evaluates a job exactly as --workers does (a forked process per trial, with the trial
 * timeout), so the trials and results equal those of one process with --workers N-1. */
enum {
    NASC_TAG_CONFIG = 1,
    NASC_TAG_READY,
    NASC_TAG_JOB,
    NASC_TAG_OUTCOME,
    NASC_TAG_QUIT,
    NASC_TAG_ONESHOT, /* rank 0 -> every rank: run this one-shot search data-parallel
                       * (oneshot_db.c), instead of CONFIG; QUIT still ends the job */
};

/* One trial as sent to a worker rank. */
typedef struct nasc_remote_job {
    int64_t trial;
    double fidelity;
    uint64_t seed;
    int attempt;                       /* 1 for the first run of the trial */
    const char *arch;                  /* canonical architecture text */
    const nasc_curve_history *history; /* median rule's finished curves; NULL if none */
} nasc_remote_job;

NASC_INTERNAL nasc_status nasc_remote_send_config(int rank, const nasc_experiment_config *cfg,
                                                  nasc_err *err);
/* FORMAT if the message is not a configuration of this very binary. */
NASC_INTERNAL nasc_status nasc_remote_recv_config(const nasc_dist_msg *m,
                                                  nasc_experiment_config *out, nasc_err *err);
/* The configuration of a data-parallel one-shot search (oneshot_search.h): cfg, given[0..n_given)
 * (n_given <= NASC_REMOTE_MAX_KEYS) and max_memory, from rank 0 to `rank`, and back. */
#define NASC_REMOTE_MAX_KEYS 256
NASC_INTERNAL nasc_status nasc_remote_send_oneshot(int rank, const nasc_experiment_config *cfg,
                                                   const bool *given, int n_given,
                                                   size_t max_memory, nasc_err *err);
NASC_INTERNAL nasc_status nasc_remote_recv_oneshot(const nasc_dist_msg *m,
                                                   nasc_experiment_config *cfg, bool *given,
                                                   int n_given, size_t *max_memory,
                                                   nasc_err *err);
/* A worker's answer to CONFIG: setup's status and message (to rank 0). */
NASC_INTERNAL nasc_status nasc_remote_send_ready(nasc_status setup, const char *msg, nasc_err *err);
/* NASC_OK if the worker is ready, else its setup status with "worker rank R (HOST): MSG". */
NASC_INTERNAL nasc_status nasc_remote_recv_ready(const nasc_dist_msg *m, nasc_err *err);
NASC_INTERNAL nasc_status nasc_remote_send_job(int rank, const nasc_remote_job *j, nasc_err *err);
/* *out is one nasc_malloc'd block (free it with nasc_free) holding the text and history. */
NASC_INTERNAL nasc_status nasc_remote_recv_job(const nasc_dist_msg *m, nasc_remote_job **out,
                                               nasc_err *err);
NASC_INTERNAL nasc_status nasc_remote_send_outcome(int64_t trial, bool requeue,
                                                   const nasc_trial_result *r, nasc_err *err);
NASC_INTERNAL nasc_status nasc_remote_recv_outcome(const nasc_dist_msg *m, int64_t *out_trial,
                                                   bool *out_requeue, nasc_trial_result *out,
                                                   nasc_err *err);

#endif /* NASC_EXPERIMENT_INT_H */
