/* test_strategy_learned_resume.c — every learned strategy of issue 5 survives SIGKILL: `nasc
 * search` on the NAS-Bench-201 table is killed at random transaction points (the
 * NASC_TEST_KILL_AT hook, as test_fault_resume.c) and resumed until it finishes; the trials
 * (architectures, fidelities, results) and the best architecture must equal those of an
 * uninterrupted run with the same seed. Strategies with save/load also run with snapshots every
 * 4 tells (resume from the snapshot instead of a full replay); some scenarios use 2 workers with
 * ask_ahead 1. Small strategy options keep every model active within the budget.
 * Each scenario starts the CLI 10-25 times: about 15 s in release. */
#include "test.h"

#include "e2e/search_cli.h"

static char dir[256];

static void scenario(const char *cli, const char *name, const char *strategy, const char *opts,
                     int workers, const char *extra, int budget, unsigned seed) {
    char bud[16], wk[16];
    snprintf(bud, sizeof bud, "%d", budget);
    snprintf(wk, sizeof wk, "%d", workers);
    const char *args[40] = {"search",      "--space",       "nb201",    "--strategy", strategy,
                            "--benchmark", "nb201:cifar10", "--budget", bud,          "--seed",
                            "3",           "--workers",     wk,         "--json",     "--quiet",
                            "--db",        NULL /* set by kill_resume_check */};
    int n = 17;
    if (opts && *opts) {
        args[n++] = "--strategy-opt";
        args[n++] = opts;
    }
    char extra_buf[256];
    snprintf(extra_buf, sizeof extra_buf, "%s", extra);
    for (char *t = strtok(extra_buf, " "); t && n < 38; t = strtok(NULL, " "))
        args[n++] = t;
    args[n] = NULL;
    kill_resume_check(cli, args,
                      &(struct resume_case){.dir = dir, .name = name, .name_width = 20, .i_db = 16,
                                            .budget = budget, .seed = seed, .max_point = budget,
                                            .min_kills = 3});
}

int main(void) {
    const char *cli = search_cli();
    snprintf(dir, sizeof dir, "%s/test_strategy_learned_resume.XXXXXX", NASC_BINARY_DIR);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    const char *mbo = "init=4,top=3,mutations=3,random=10";
    scenario(cli, "reinforce", "reinforce", "batch=2", 1, "", 24, 1);
    scenario(cli, "reinforce-snap", "reinforce", "batch=2", 1, "--snapshot-every 4", 24, 2);
    scenario(cli, "ppo-w2", "ppo", "batch=3,epochs=2", 2, "--ask-ahead 1", 24, 3);
    scenario(cli, "bo-gp-snap", "bo-gp", mbo, 1, "--snapshot-every 4", 24, 4);
    scenario(cli, "bo-rf", "bo-rf", mbo, 1, "", 24, 5);
    scenario(cli, "bananas-w2", "bananas", "init=4,top=3,mutations=3,random=10,epochs=10,batch=3",
             2, "--ask-ahead 1 --snapshot-every 4", 24, 6);
    scenario(cli, "gan", "gan", "init=4,steps=3,batch=3", 1, "", 24, 7);
    scenario(cli, "pnas-snap", "pnas", "beam=3,expand=50", 1, "--snapshot-every 4", 24, 8);
    scenario(cli, "bohb", "bohb", "min-points=3", 1, "", 24, 9);
    scenario(cli, "nsga2-w2", "nsga2", "population=4", 2, "", 24, 10);
    if (!test_failures) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return test_done("test_strategy_learned_resume");
}
