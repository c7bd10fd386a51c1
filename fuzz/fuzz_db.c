/* fuzz_db.c — the trial database: an SQLite file with damaged pages and rows, opened as `nasc
 * trials` and `--resume` do (read-only open, configuration, every trial, the strategy snapshot),
 * then checked as the writer does. The input is the whole file; the seed corpus holds a real
 * experiment database and copies with damaged rows. */
#include "fuzz_util.h"

#include "nasc/arena.h"
#include "nasc/db.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[128];
    if (!path[0]) {
        fuzz_quiet_logs();
        fuzz_path(path, sizeof path, "t.db");
    }
    char side[160];
    for (int i = 0; i < 3; i++) { /* no journal of a previous input may be replayed */
        static const char *const suffix[] = {"-wal", "-shm", "-journal"};
        snprintf(side, sizeof side, "%s%s", path, suffix[i]);
        unlink(side);
    }
    fuzz_write(path, data, size);
    nasc_db *db = NULL;
    nasc_err err = {0};
    if (nasc_db_open_readonly(path, &db, &err) == NASC_OK) {
        nasc_kv *kv = NULL;
        int n_kv = 0;
        if (nasc_db_config_get(db, &kv, &n_kv, &err) == NASC_OK)
            nasc_free(kv);
        nasc_trial_record *t = NULL;
        int64_t n = 0;
        if (nasc_db_trials_load(db, &t, &n, &err) == NASC_OK)
            nasc_db_trials_free(t, n);
        int64_t asked = 0, told = 0;
        void *state = NULL;
        size_t len = 0;
        if (nasc_db_snapshot_get(db, &asked, &told, &state, &len, &err) == NASC_OK)
            nasc_free(state);
        nasc_db_close(db);
    }
    nasc_err_clear(&err);
    (void)nasc_db_check(path, &err);
    return 0;
}
