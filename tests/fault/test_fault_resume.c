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
    char bud[16], wk[16];
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
                            NULL /* set by kill_resume_check */};
    int n = 17;
    char extra_buf[256];
    snprintf(extra_buf, sizeof extra_buf, "%s", extra);
    for (char *t = strtok(extra_buf, " "); t && n < 30; t = strtok(NULL, " "))
        args[n++] = t;
    args[n] = NULL;
    kill_resume_check(cli, args,
                      &(struct resume_case){.dir = dir,
                                            .name = name,
                                            .name_width = 22,
                                            .i_db = 16,
                                            .budget = budget,
                                            .seed = seed,
                                            .max_point = budget,
                                            .min_kills = 5});
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
    scenario(cli, "hyperband-w2", "hyperband", 2, "--strategy-opt eta=3", 30, 7);
    if (!test_failures) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return test_done("test_fault_resume");
}
