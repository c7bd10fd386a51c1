/* test_fault_storage.c — the storage fault walk: a whole `nasc search` (creation of its database
 * included) run once for every storage operation k of SQLite (every write, truncate, sync and
 * lock, counted by the test VFS of src/experiment/db_fault.c), with the k-th operation
 *   - failing with an I/O error: the search stops with exit 1 and a message, or
 *   - killing the process just before it (a crash at that moment).
 * After each fault the database, if it exists, opens (`nasc trials` exits 0), and the search
 * continued (`--resume`, or the first command again when no database was left) finishes with
 * exactly the trials of the uninterrupted run: none lost, none duplicated, same architectures
 * and results, and no FILE.tmp left. The walk ends at the first k past the search's last
 * operation. A kill in the middle of the switch to WAL once left a hot rollback journal that
 * made the experiment unusable (issue 22, defect 2).
 *
 * Usage: test_fault_storage [BUDGET [WORKERS]] (default 4 trials, 1 worker: the CI walk; every
 * 4th operation under the sanitizers). About 650 runs of nasc: a minute of CPU time. */
#include "test.h"

#include "e2e/search_cli.h"

static char dir[256];
static const char *cli;
/* Every operation in the release build; every 4th under the sanitizers (3x slower). */
#if defined(__SANITIZE_ADDRESS__)
static const long stride = 4;
#else
static const long stride = 1;
#endif

static bool file_has(const char *path, const char *needle) {
    char *s = search_slurp(path);
    bool r = strstr(s, needle) != NULL;
    free(s);
    return r;
}

static void remove_db(const char *db) {
    const char *suffix[] = {"",     "-wal",         "-shm",     "-journal",
                            ".tmp", ".tmp-journal", ".tmp-wal", ".tmp-shm"};
    char p[600];
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        snprintf(p, sizeof p, "%s%s", db, suffix[i]);
        unlink(p);
    }
}

/* Walks k over every operation of `ops` in `mode` (fail or kill); returns the number of faults. */
static int walk(const char *mode, const char *ops, const char *budget, const char *workers) {
    char ref[400], db[400], out[400], errf[400], name[64];
    snprintf(name, sizeof name, "%s-%s", mode, ops);
    snprintf(ref, sizeof ref, "%s/%s-ref.db", dir, name);
    snprintf(db, sizeof db, "%s/%s.db", dir, name);
    snprintf(out, sizeof out, "%s/%s.out", dir, name);
    snprintf(errf, sizeof errf, "%s/%s.err", dir, name);
    const char *full[] = {"search",
                          "--space",
                          "nb201",
                          "--strategy",
                          "evolution",
                          "--strategy-opt",
                          "population=3,sample=2",
                          "--benchmark",
                          "nb201:cifar10",
                          "--budget",
                          budget,
                          "--seed",
                          "3",
                          "--workers",
                          workers,
                          "--quiet",
                          "--db",
                          ref,
                          NULL};
    const char *resume[] = {"search", "--db", db, "--resume", "--quiet", NULL};
    const char *trials[] = {"trials", "--db", db, NULL};
    remove_db(ref);
    CHECK(search_run(cli, full, -1, 0, NULL, NULL) == 0);
    full[17] = db;
    int faults = 0;
    const int failures_before = test_failures;
    for (long k = 1; k < 100000; k += stride) {
        remove_db(db);
        char env[64];
        snprintf(env, sizeof env, "%s:%s:%ld", mode, ops, k);
        setenv("NASC_TEST_DB_FAULT", env, 1);
        int rc = search_run(cli, full, -1, 0, out, errf);
        unsetenv("NASC_TEST_DB_FAULT");
        const bool killed = rc == 128 + SIGKILL;
        const bool failed = file_has(errf, "nasc: test: failing storage operation");
        if (!killed && !failed) { /* past the last operation: the walk is over */
            CHECK_MSG(rc == 0, "%s: k=%ld: no fault, exit %d", name, k, rc);
            same_trials(ref, db, atoi(budget), name);
            break;
        }
        faults++;
        char what[96];
        snprintf(what, sizeof what, "%s k=%ld", name, k);
        /* an I/O error stops the search with exit 1 and a message, unless SQLite has no use for
         * the result (a checkpoint when the database closes): then the search is complete */
        if (failed && rc != 0)
            CHECK_MSG(rc == 1 && file_has(errf, "nasc: error: "), "%s: exit %d after an I/O error",
                      what, rc);
        if (failed && rc == 0)
            same_trials(ref, db, atoi(budget), what);
        if (search_exists(db)) {
            rc = search_run(cli, trials, -1, 0, out, errf);
            char *e = search_slurp(errf);
            CHECK_MSG(rc == 0, "%s: nasc trials exits %d after the fault: %s", what, rc, e);
            free(e);
        }
        rc = search_run(cli, search_exists(db) ? resume : full, -1, 0, out, errf);
        CHECK_MSG(rc == 0, "%s: the continued search exits %d", what, rc);
        if (rc != 0) {
            char *e = search_slurp(errf);
            fprintf(stderr, "%s", e);
            free(e);
        }
        if (!same_trials(ref, db, atoi(budget), what))
            break;
        char tmp[420];
        snprintf(tmp, sizeof tmp, "%s.tmp", db);
        CHECK_MSG(!search_exists(tmp), "%s: %s left behind", what, tmp);
        if (test_failures > 20)
            break;
    }
    printf("%-10s %3d faults (every %ld-th operation): %s\n", name, faults, stride,
           test_failures == failures_before ? "each continued to the uninterrupted result"
                                            : "FAILED");
    return faults;
}

int main(int argc, char **argv) {
    cli = search_cli();
    const char *budget = argc > 1 ? argv[1] : "4", *workers = argc > 2 ? argv[2] : "1";
    snprintf(dir, sizeof dir, "%s/test_fault_storage.XXXXXX", NASC_BINARY_DIR);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    setenv("OMP_WAIT_POLICY", "passive", 0); /* no re-exec of nasc per run */
    /* a 4-trial search has about 110 operations */
    CHECK(walk("fail", "wsl", budget, workers) > 50 / stride);
    CHECK(walk("kill", "wsl", budget, workers) > 50 / stride);
    return test_done("fault_storage");
}
