/* test_mpi_resume.c — failures in a distributed search (`mpirun -n N nasc search`): a trial whose
 * process crashes on a worker rank fails alone (as with --workers); --trial-timeout applies on the
 * worker ranks; a worker rank killed with SIGKILL, and rank 0 killed with SIGKILL, each end the
 * job (rank 0, told to stop, says "continue with --resume"), and `mpirun ... --resume` ends with
 * exactly the trials of an uninterrupted run: none lost, none duplicated. Skipped (77) where the
 * build has no MPI or mpirun is missing. */
// ctest: labels=mpi;slow timeout=900
#include "test.h"

#include "e2e/mpi_cli.h"

/* A rank killed mid-search ends the job; --resume under mpirun ends with the trials of the
 * uninterrupted run in ref_db. hook_env ("VAR=value") is set for the killed run; kill_at >= 0
 * kills rank 0 at that transaction point (NASC_TEST_KILL_AT). */
static void mpi_kill_resume(const char *cli, const char *name, const char *hook_env, long kill_at,
                            const char *ref_db) {
    char db[300], ea[300], dbn[64];
    snprintf(dbn, sizeof dbn, "%s.db", name);
    path(db, sizeof db, dbn);
    path(ea, sizeof ea, "stderr.txt");
    if (hook_env)
        putenv((char *)hook_env);
    int rc = mpi_run(cli, 4, kill_at, NULL, ea,
                     NB " --strategy evolution --ask-ahead 2 --budget 40 --db %s", db);
    if (hook_env) {
        char var[64];
        snprintf(var, sizeof var, "%.*s", (int)(strchr(hook_env, '=') - hook_env), hook_env);
        unsetenv(var);
    }
    char *e = search_slurp(ea);
    CHECK_MSG(rc != 0, "%s: the job was not interrupted (exit 0)", name);
    if (kill_at < 0) /* a worker rank died: rank 0 was told to stop and says how to go on */
        CHECK_STR_CONTAINS(e, "continue with --resume");
    free(e);
    rc = mpi_run(cli, 4, -1, NULL, ea, "search --db %s --resume --json --quiet", db);
    CHECK_MSG(rc == 0, "%s: mpirun --resume: exit %d", name, rc);
    if (same_trials(ref_db, db, 40, name))
        printf("%-22s job ended (exit %d), resumed: 40 trials identical\n", name, rc);
}

int main(void) {
    const char *cli = search_cli();
    mpi_setup("test_mpi_resume");
    /* a trial whose process crashes on a worker rank fails alone, as with --workers */
    setenv("NASC_TEST_CRASH_TRIAL", "4", 1);
    same_as_workers(cli, "random-crash", 3, NB " --strategy random", 12);
    unsetenv("NASC_TEST_CRASH_TRIAL");
    {
        nasc_trial_record *t = NULL;
        int64_t n = 0;
        char db[300];
        path(db, sizeof db, "random-crash-mpi.db");
        if (search_load(db, &t, &n) && n > 4) {
            CHECK(t[4].status == NASC_TRIAL_FAILED);
            CHECK_STR_CONTAINS(t[4].reason, "worker crashed: signal 6");
        }
        nasc_db_trials_free(t, n);
    }
    /* the trial timeout applies on the worker ranks */
    {
        char db[300], ea[300];
        path(db, sizeof db, "timeout.db");
        path(ea, sizeof ea, "stderr.txt");
        int rc = mpi_run(cli, 3, -1, NULL, ea,
                         "search --space nb201 --strategy random --data fashion-mnist "
                         "--data-fraction 0.05 --epochs 3 --threads 1 --budget 2 --seed 1 "
                         "--trial-timeout 0.05 --json --quiet --db %s",
                         db);
        CHECK_MSG(rc == 1, "timeout: exit %d, expected 1 (all trials failed)", rc);
        nasc_trial_record *t = NULL;
        int64_t n = 0;
        if (search_load(db, &t, &n)) {
            CHECK(n == 2);
            for (int64_t i = 0; i < n; i++)
                CHECK_STR_CONTAINS(t[i].reason, "timed out after 0.05 s");
        }
        nasc_db_trials_free(t, n);
        printf("%-22s 2 trials on worker ranks, both timed out\n", "trial-timeout");
    }
    /* the reference: uninterrupted, over 4 ranks (= --workers 3) */
    same_as_workers(cli, "evolution", 4, NB " --strategy evolution --ask-ahead 2", 40);
    char ref[300];
    path(ref, sizeof ref, "evolution-mpi.db");
    mpi_kill_resume(cli, "kill-worker-rank", "NASC_TEST_KILL_RANK=12", -1, ref);
    mpi_kill_resume(cli, "kill-rank-0", NULL, 25, ref);
    mpi_cleanup();
    return test_done("test_mpi_resume");
}
