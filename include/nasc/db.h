/*
 * db.h — the trial database: one SQLite file per experiment (WAL mode).
 *
 * It holds the experiment's configuration (key/value text), every trial (architecture text and
 * hash, fidelity, status, reason, score, metrics as JSON, cost, seed, worker, attempts, timings,
 * the test score reported and the simulated training time)
 * and optional strategy snapshots. Every change is one transaction: a trial is inserted as
 * "pending" when the strategy proposes it, marked "running" when a worker takes it, and finished
 * ("ok" / "failed") when its result arrives. A process killed at any moment leaves a consistent
 * file; pending and running trials are re-run on resume. The schema is in docs/EXPERIMENTS.md.
 *
 * Identification: PRAGMA application_id = NASC_DB_APPLICATION_ID and user_version =
 * NASC_DB_VERSION. Opening anything else (a non-SQLite file, another program's database, another
 * version, a damaged file) fails with NASC_ERR_FORMAT and a message naming the file, and the file
 * is not modified: it is checked before anything is written. A new database is built as FILE.tmp
 * and renamed into place once its schema and configuration are committed, so no half-created
 * experiment file can exist.
 *
 * Only one process writes: the search loop, which holds the file's writer lock (flock) for as
 * long as its handle is open. Workers send results back over pipes. Readers take no lock.
 *
 *     nasc_db *db;
 *     nasc_kv cfg[] = {{"space", "nb201"}, {"strategy", "random"}};
 *     nasc_db_create("exp.db", cfg, 2, &db, &err);       // or nasc_db_open("exp.db", &db, &err)
 *     nasc_trial_record t = {.id = 0, .arch = "|...|", .hash = h, .fidelity = 0, .seed = 7};
 *     nasc_db_trial_insert(db, &t, &err);                 // pending
 *     nasc_db_trial_start(db, 0, 1, 1, &err);             // running on worker 1, attempt 1
 *     nasc_db_trial_finish(db, 0, &result, &err);         // ok / failed with metrics
 *     nasc_db_close(db);
 */
#ifndef NASC_DB_H
#define NASC_DB_H

#include "nasc/estimate.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NASC_DB_APPLICATION_ID 0x4E415343 /* "NASC" */
#define NASC_DB_VERSION 1

typedef struct nasc_db nasc_db;

/* A key/value pair of text (the experiment configuration). */
typedef struct nasc_kv {
    const char *key;
    const char *value;
} nasc_kv;

/* One row of the trials table. Strings are owned by whoever filled the record: the caller for
 * inserts, the loaded array for nasc_db_trials_load (freed by nasc_db_trials_free). */
typedef struct nasc_trial_record {
    int64_t id;       /* trial index, 0-based, dense */
    const char *arch; /* canonical architecture text */
    uint64_t hash;    /* nasc_arch_hash */
    double fidelity;  /* asked fidelity (0 = full) */
    nasc_trial_status status;
    const char *reason;  /* "" unless failed or stopped early */
    double score;        /* NaN unless ok */
    const char *metrics; /* JSON object text ("{}" if none) */
    nasc_cost cost;
    uint64_t seed; /* the trial's seed */
    int worker;    /* worker slot that ran it last (0 = in process, -1 = none yet) */
    int attempts;  /* times it was started */
    double created_at, started_at, ended_at; /* Unix seconds; NaN if not yet */
    double seconds;     /* evaluation time reported by the evaluator (NaN if none) */
    double test_score;  /* the evaluator's report value (a table's test accuracy); NaN if none */
    double sim_seconds; /* simulated training time (tables with a training-time column); NaN if
                           none. Databases written before these two columns existed read NaN */
    nasc_trial_result *result; /* loaded only: the full result rebuilt from the row (ok/failed) */
} nasc_trial_record;

/* Creates path (must not exist; a stale path.tmp is replaced) holding cfg, and opens it as the
 * experiment's writer (see nasc_db_open). IO if path exists or cannot be written; DB ("another
 * nasc search is running on this experiment") if another process is creating it. A creation
 * killed at any moment leaves no path, or a complete one. */
NASC_API nasc_status nasc_db_create(const char *path, const nasc_kv *cfg, int n_cfg, nasc_db **out,
                                    nasc_err *err);
/* Opens an existing experiment database read-write after checking it (see above) as the
 * experiment's only writer: it holds flock(LOCK_EX) on the file until nasc_db_close, and fails
 * with NASC_ERR_DB "another nasc search is running on this experiment" while another process
 * holds it. A transaction left hot in path-journal by a killed older nasc is rolled back. A file
 * from before the test_score and sim_seconds columns gains them (NULL in its rows). */
NASC_API nasc_status nasc_db_open(const char *path, nasc_db **out, nasc_err *err);
/* Opens an existing experiment database for reading (nasc trials, reports), after the checks
 * nasc_db_open makes. It never writes the file or anything beside it (no -wal / -shm appear),
 * never takes a lock a writer waits for, works on a read-only file system, and may be open
 * while a search writes:
 *   - while a search has it open, or after one was killed (path-shm exists), through SQLite's
 *     read-only connection: each read sees the latest commit;
 *   - otherwise on a copy of the file in memory taken while the file did not change: the handle
 *     sees the database as it was at open (memory: the file's size).
 * Writes through the handle fail. */
NASC_API nasc_status nasc_db_open_readonly(const char *path, nasc_db **out, nasc_err *err);
/* An experiment database in memory (for searches without --db). */
NASC_API nasc_status nasc_db_open_memory(const nasc_kv *cfg, int n_cfg, nasc_db **out,
                                         nasc_err *err);
/* Checks path read-only, as nasc_db_open does, without keeping it open. */
NASC_API nasc_status nasc_db_check(const char *path, nasc_err *err);
NASC_API void nasc_db_close(nasc_db *db);
/* In a process forked while db was open: closes the child's copy of the writer lock, so the
 * lock is the parent's alone. The child must not use db afterwards (not even close it). */
NASC_API void nasc_db_after_fork(nasc_db *db);
NASC_API const char *nasc_db_path(const nasc_db *db);

/* The stored configuration: *out is a nasc_malloc'd array of *out_n pairs (strings inside the same
 * block); free with nasc_free. */
NASC_API nasc_status nasc_db_config_get(nasc_db *db, nasc_kv **out, int *out_n, nasc_err *err);
/* Sets (inserts or replaces) configuration keys, in one transaction. */
NASC_API nasc_status nasc_db_config_put(nasc_db *db, const nasc_kv *cfg, int n_cfg, nasc_err *err);

/* Inserts trial t as pending (t->id must be the next id: ids are dense). */
NASC_API nasc_status nasc_db_trial_insert(nasc_db *db, const nasc_trial_record *t, nasc_err *err);
/* Marks trial id running on `worker`, attempt number `attempt` (1-based), now. */
NASC_API nasc_status nasc_db_trial_start(nasc_db *db, int64_t id, int worker, int attempt,
                                         nasc_err *err);
/* Records trial id's result (status ok or failed, score, reason, cost, metrics JSON), now. */
NASC_API nasc_status nasc_db_trial_finish(nasc_db *db, int64_t id, const nasc_trial_result *r,
                                          nasc_err *err);
/* All trials in id order (with .result filled for finished ones); free with nasc_db_trials_free. */
NASC_API nasc_status nasc_db_trials_load(nasc_db *db, nasc_trial_record **out, int64_t *out_n,
                                         nasc_err *err);
NASC_API void nasc_db_trials_free(nasc_trial_record *t, int64_t n);
NASC_API nasc_status nasc_db_trial_count(nasc_db *db, int64_t *out_n, nasc_err *err);

/* Change groups: the changes made between group_begin and group_end(keep = true) are one
 * transaction, so a process killed in between leaves none of them (e.g. a trial's result and the
 * strategy snapshot that counts it). A change that fails inside a group rolls the whole group
 * back; group_end then reports it when asked to keep. group_end(keep = false) discards. */
NASC_API nasc_status nasc_db_group_begin(nasc_db *db, nasc_err *err);
NASC_API nasc_status nasc_db_group_end(nasc_db *db, bool keep, nasc_err *err);

/* Strategy snapshots: the state after n_asked asks and n_told tells. put replaces an older
 * snapshot; get returns the latest (out_buf NULL if none; nasc_free it). */
NASC_API nasc_status nasc_db_snapshot_put(nasc_db *db, int64_t n_asked, int64_t n_told,
                                          const void *buf, size_t len, nasc_err *err);
NASC_API nasc_status nasc_db_snapshot_get(nasc_db *db, int64_t *out_asked, int64_t *out_told,
                                          void **out_buf, size_t *out_len, nasc_err *err);

/* Artifacts: named byte strings stored with the experiment, e.g. a one-shot method's checkpoint
 * (weights, architecture parameters, optimizer state, rng, data position) or a learned
 * strategy's model. put inserts or replaces key in one transaction (so a checkpoint is replaced
 * atomically); get returns a nasc_malloc'd copy, or *out_buf = NULL if key is absent; delete
 * removes it (no error if absent). Keys are free text; use "<strategy>/<name>". */
NASC_API nasc_status nasc_db_artifact_put(nasc_db *db, const char *key, const void *buf, size_t len,
                                          nasc_err *err);
NASC_API nasc_status nasc_db_artifact_get(nasc_db *db, const char *key, void **out_buf,
                                          size_t *out_len, nasc_err *err);
NASC_API nasc_status nasc_db_artifact_delete(nasc_db *db, const char *key, nasc_err *err);

/* The result as the JSON text stored in the metrics column (nasc_malloc'd), and back into r
 * (fields absent from the JSON keep r's values). */
NASC_API char *nasc_trial_metrics_json(const nasc_trial_result *r);
NASC_API nasc_status nasc_trial_metrics_parse(const char *json, nasc_trial_result *r,
                                              nasc_err *err);

#ifdef __cplusplus
}
#endif
#endif /* NASC_DB_H */
