/* experiment_int.h — internals of the experiment module (never installed). */
#ifndef NASC_EXPERIMENT_INT_H
#define NASC_EXPERIMENT_INT_H

#include "nasc/arena.h"
#include "nasc/db.h"
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

#endif /* NASC_EXPERIMENT_INT_H */
