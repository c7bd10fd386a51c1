/* test_fault_resume_train.c — the kill/resume test of test_fault_resume with the training
 * evaluator on a tiny Fashion-MNIST subset: SIGKILL at random transaction points and at random
 * moments in time (mid-training included), --workers 1 and 2; the resumed experiment must hold
 * exactly the trials of an uninterrupted run (same architectures and validation accuracies, bit
 * for bit) and the same best architecture. */
// ctest: labels=slow timeout=900
#include "test.h"

#include "e2e/search_cli.h"

static char dir[256];

static void scenario(const char *cli, const char *name, int workers, int max_point,
                     double max_delay, unsigned seed) {
    char ref_db[400], db[400], ref_out[400], out[400], wk[16];
    snprintf(ref_db, sizeof ref_db, "%s/%s-ref.db", dir, name);
    snprintf(db, sizeof db, "%s/%s.db", dir, name);
    snprintf(ref_out, sizeof ref_out, "%s/%s-ref.json", dir, name);
    snprintf(out, sizeof out, "%s/%s.json", dir, name);
    snprintf(wk, sizeof wk, "%d", workers);
    const int budget = 8;
    const char *args[] = {"search",
                          "--space",
                          "nb201",
                          "--strategy",
                          "evolution",
                          "--strategy-opt",
                          "population=3,sample=2",
                          "--data",
                          "fashion-mnist",
                          "--data-fraction",
                          "0.01",
                          "--epochs",
                          "2",
                          "--channels",
                          "4",
                          "--cells",
                          "1",
                          "--batch",
                          "32",
                          "--threads",
                          "1",
                          "--budget",
                          "8",
                          "--seed",
                          "3",
                          "--ask-ahead",
                          "1",
                          "--workers",
                          wk,
                          "--json",
                          "--quiet",
                          "--db",
                          ref_db,
                          NULL};
    const int i_db = (int)(sizeof args / sizeof args[0]) - 2;
    CHECK(search_run(cli, args, -1, 0, ref_out, NULL) == 0);
    args[i_db] = db;
    unsigned rng = seed;
    int kills = kill_and_resume(cli, args, db, &rng, max_point, max_delay, out);
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
    printf("%-16s %3d kills, %d trials identical, best %s\n", name, kills, budget, b2);
    free(ra);
    free(rb);
}

int main(void) {
    const char *cli = search_cli();
    if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK)) {
        fprintf(stderr, "skipped: needs Debian's dataset-fashion-mnist\n");
        return 77;
    }
    snprintf(dir, sizeof dir, "%s/test_fault_resume_train.XXXXXX", NASC_BINARY_DIR);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    scenario(cli, "hook-w1", 1, 20, 0, 1);
    scenario(cli, "hook-w2", 2, 20, 0, 2);
    scenario(cli, "timer-w1", 1, 0, 0.8, 3);
    scenario(cli, "timer-w2", 2, 0, 0.8, 4);
    if (!test_failures) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return test_done("test_fault_resume_train");
}
