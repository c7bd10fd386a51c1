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
    char wk[16];
    snprintf(wk, sizeof wk, "%d", workers);
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
                          NULL /* set by kill_resume_check */,
                          NULL};
    const int i_db = (int)(sizeof args / sizeof args[0]) - 2;
    kill_resume_check(cli, args,
                      &(struct resume_case){.dir = dir, .name = name, .name_width = 16,
                                            .i_db = i_db, .budget = 8, .seed = seed,
                                            .max_point = max_point, .max_delay = max_delay,
                                            .min_kills = 3});
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
