/* test_train_determinism.c — two `nasc train` runs with the same seed and thread count print
 * byte-identical per-step losses (--log-steps); a different seed gives different losses; the
 * saved model reloads to the same test accuracy. Runs the real CLI on a 1% Fashion-MNIST subset. */
// ctest: timeout=600
#include "test.h"

#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/nasc_determinism_XXXXXX";

static int run(const char *cli, const char *args, const char *log, const char *out) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "%s train --data-fraction 0.01 --epochs 2 --batch 32 --width 0.25 --threads 2 "
             "--quiet --log-steps %s %s > %s 2>&1",
             cli, log, args, out);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = calloc(1, (size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n)
        b[0] = '\0';
    fclose(f);
    return b;
}

int main(void) {
    const char *cli = getenv("NASC_CLI");
    if (!cli || access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK)) {
        fprintf(stderr, "skipped: needs NASC_CLI and Debian's dataset-fashion-mnist\n");
        return 77;
    }
    CHECK(mkdtemp(dir) != NULL);
    char a[256], b[256], c[256], oa[256], ob[256], oc[256], model[256];
    snprintf(a, sizeof a, "%s/a.log", dir);
    snprintf(b, sizeof b, "%s/b.log", dir);
    snprintf(c, sizeof c, "%s/c.log", dir);
    snprintf(oa, sizeof oa, "%s/a.out", dir);
    snprintf(ob, sizeof ob, "%s/b.out", dir);
    snprintf(oc, sizeof oc, "%s/c.out", dir);
    snprintf(model, sizeof model, "--seed 11 --out %s/m.nasc", dir);
    CHECK(run(cli, model, a, oa) == 0);
    CHECK(run(cli, "--seed 11", b, ob) == 0);
    CHECK(run(cli, "--seed 12", c, oc) == 0);
    char *la = slurp(a), *lb = slurp(b), *lc = slurp(c);
    int steps = 0;
    for (const char *p = la; (p = strstr(p, "loss ")); p++)
        steps++;
    CHECK_MSG(steps >= 30, "expected >= 30 logged steps, got %d", steps);
    CHECK_MSG(strcmp(la, lb) == 0, "same seed, different losses:\n--- a\n%.400s\n--- b\n%.400s", la, lb);
    CHECK_MSG(strcmp(la, lc) != 0, "different seeds gave identical losses");
    /* the summary line (test accuracy) is identical too, up to the throughput figures */
    char *sa = slurp(oa), *sb = slurp(ob);
    CHECK(strncmp(sa, sb, (size_t)(strstr(sa, "images;") - sa)) == 0);
    /* the saved model evaluates to the accuracy the run reported */
    char cmd[1024], ev[256];
    snprintf(ev, sizeof ev, "%s/eval.out", dir);
    snprintf(cmd, sizeof cmd, "%s eval --model %s/m.nasc > %s 2>&1", cli, dir, ev);
    CHECK(system(cmd) == 0);
    char *se = slurp(ev);
    float acc_train = -1, acc_eval = -2;
    sscanf(sa, "test accuracy %f%%", &acc_train);
    sscanf(se, "test accuracy %f%%", &acc_eval);
    CHECK_MSG(acc_train == acc_eval, "train reported %.2f%%, eval of the saved model %.2f%%",
              (double)acc_train, (double)acc_eval);
    free(la);
    free(lb);
    free(lc);
    free(sa);
    free(sb);
    free(se);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return test_done("train_determinism");
}
