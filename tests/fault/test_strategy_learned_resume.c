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
    char ref_db[400], db[400], ref_out[400], out[400], bud[16], wk[16];
    snprintf(ref_db, sizeof ref_db, "%s/%s-ref.db", dir, name);
    snprintf(db, sizeof db, "%s/%s.db", dir, name);
    snprintf(ref_out, sizeof ref_out, "%s/%s-ref.json", dir, name);
    snprintf(out, sizeof out, "%s/%s.json", dir, name);
    snprintf(bud, sizeof bud, "%d", budget);
    snprintf(wk, sizeof wk, "%d", workers);
    const char *args[40] = {"search",      "--space",       "nb201",    "--strategy", strategy,
                            "--benchmark", "nb201:cifar10", "--budget", bud,          "--seed",
                            "3",           "--workers",     wk,         "--json",     "--quiet",
                            "--db",        ref_db};
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
    CHECK(search_run(cli, args, -1, 0, ref_out, NULL) == 0);
    args[16] = db; /* the same command on the database under test */
    unsigned rng = seed;
    int kills = kill_and_resume(cli, args, db, &rng, budget, 0, out);
    CHECK_MSG(kills >= 3, "%s: only %d kills happened", name, kills);
    same_trials(ref_db, db, budget, name);
    char *ra = search_slurp(ref_out), *rb = search_slurp(out);
    char a1[512], b1[512], a2[64], b2[64];
    json_field(ra, "best_arch", a1, sizeof a1);
    json_field(rb, "best_arch", b1, sizeof b1);
    json_field(ra, "best_score", a2, sizeof a2);
    json_field(rb, "best_score", b2, sizeof b2);
    CHECK_MSG(a1[0] && !strcmp(a1, b1) && !strcmp(a2, b2), "%s: best %s %s vs %s %s", name, a1, a2,
              b1, b2);
    printf("%-20s %3d kills, %d trials identical, best %s\n", name, kills, budget, b2);
    free(ra);
    free(rb);
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
