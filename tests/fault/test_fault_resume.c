/* test_fault_resume.c — `nasc search` killed with SIGKILL at many moments and resumed each time
 * ends with exactly the trials of an uninterrupted run: none lost, none duplicated, the same
 * architectures, results and best architecture, with --workers 1 and 2, with and without strategy
 * snapshots. Kill points come from the NASC_TEST_KILL_AT hook (the k-th transaction point of the
 * process: just before or just after a commit), drawn at random from a fixed seed, so every kind
 * of moment is hit: mid-creation, between ask and record, mid-transaction, while workers run.
 * Tabular evaluator (fast); the training version is test_fault_resume_train. */
#include "test.h"

#include "e2e/search_cli.h"

static char dir[256];

static void scenario(const char *cli, const char *name, const char *strategy, int workers,
                     const char *extra, int budget, unsigned seed) {
    char ref_db[400], db[400], ref_out[400], out[400], bud[16], wk[16];
    snprintf(ref_db, sizeof ref_db, "%s/%s-ref.db", dir, name);
    snprintf(db, sizeof db, "%s/%s.db", dir, name);
    snprintf(ref_out, sizeof ref_out, "%s/%s-ref.json", dir, name);
    snprintf(out, sizeof out, "%s/%s.json", dir, name);
    snprintf(bud, sizeof bud, "%d", budget);
    snprintf(wk, sizeof wk, "%d", workers);
    const char *args[32] = {"search",
                            "--space",
                            "nb201",
                            "--strategy",
                            strategy,
                            "--benchmark",
                            "nb201:cifar100",
                            "--budget",
                            bud,
                            "--seed",
                            "5",
                            "--workers",
                            wk,
                            "--json",
                            "--quiet",
                            "--db",
                            ref_db};
    int n = 17;
    char extra_buf[256];
    snprintf(extra_buf, sizeof extra_buf, "%s", extra);
    for (char *t = strtok(extra_buf, " "); t && n < 30; t = strtok(NULL, " "))
        args[n++] = t;
    args[n] = NULL;
    CHECK(search_run(cli, args, -1, 0, ref_out, NULL) == 0);
    args[16] = db; /* same command, the database under test */
    unsigned rng = seed;
    int kills = kill_and_resume(cli, args, db, &rng, budget, 0, out);
    CHECK_MSG(kills >= 5, "%s: only %d kills happened", name, kills);
    same_trials(ref_db, db, budget, name);
    char *ra = search_slurp(ref_out), *rb = search_slurp(out);
    char a1[512], b1[512], a2[64], b2[64];
    json_field(ra, "best_arch", a1, sizeof a1);
    json_field(rb, "best_arch", b1, sizeof b1);
    json_field(ra, "best_score", a2, sizeof a2);
    json_field(rb, "best_score", b2, sizeof b2);
    CHECK_MSG(a1[0] && !strcmp(a1, b1) && !strcmp(a2, b2), "%s: best %s %s vs %s %s", name, a1, a2,
              b1, b2);
    printf("%-22s %3d kills, %d trials identical, best %s\n", name, kills, budget, b2);
    free(ra);
    free(rb);
}

int main(void) {
    const char *cli = search_cli();
    snprintf(dir, sizeof dir, "%s/test_fault_resume.XXXXXX", NASC_BINARY_DIR);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    scenario(cli, "evolution-w1", "evolution", 1, "", 40, 1);
    scenario(cli, "evolution-w2", "evolution", 2, "--ask-ahead 1", 30, 2);
    scenario(cli, "evolution-snapshots", "evolution", 1, "--snapshot-every 4", 40, 3);
    scenario(cli, "ga-w2", "ga", 2, "", 30, 4);
    scenario(cli, "local-w1", "local", 1, "--strategy-opt mode=best", 40, 5);
    scenario(cli, "random-w2", "random", 2, "", 24, 6);
    scenario(cli, "hyperband-w2", "hyperband", 2, "--strategy-opt max-fidelity=9", 30, 7);
    if (!test_failures) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return test_done("test_fault_resume");
}
