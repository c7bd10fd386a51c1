/* test_train_checkpoint.c — `nasc train --checkpoint FILE` as a user runs it on a Fashion-MNIST
 * subset: killed by SIGKILL at random moments (mid-epoch included) and rerun with the same command
 * until it finishes, it saves exactly the model of an uninterrupted run without a checkpoint, byte
 * for byte; rerunning a finished one trains nothing; a checkpoint of other options, of another
 * model, a corrupt or truncated one, or a plain weights file is refused with a message naming the
 * file and the problem, and left as it was; `nasc eval` reads a checkpoint. */
// ctest: timeout=600
#include "test.h"

#include "e2e/search_cli.h"

static const char *cli;
static char dir[64];

/* `nasc train` on 3% of Fashion-MNIST for 3 epochs, width 0.25 unless extra (appended,
 * space-separated) names another. */
static int train(const char *extra, double kill_after, const char *out, const char *err) {
    char args[1024];
    snprintf(args, sizeof args,
             "train --data-fraction 0.03 --epochs 3 --batch 32 --threads 1 --crop-pad 2 --hflip "
             "--seed 7 %s%s",
             strstr(extra, "--width") ? "" : "--width 0.25 ", extra);
    const char *argv[64];
    int n = 0;
    for (char *tok = strtok(args, " "); tok && n < 63; tok = strtok(NULL, " "))
        argv[n++] = tok;
    argv[n] = NULL;
    return search_run(cli, argv, -1, kill_after, out, err);
}

static bool same_bytes(const char *a, const char *b) {
    long na = -1, nb = -2;
    const unsigned long long ha = search_file_sum(a, &na), hb = search_file_sum(b, &nb);
    return na == nb && na > 0 && ha == hb;
}

/* Runs train `extra` expecting exit code 2 and `want` in its message, with ckpt unchanged. */
static void refused(const char *ckpt, const char *extra, const char *want) {
    char args[512], out[128], err[128];
    snprintf(args, sizeof args, "%s --checkpoint %s", extra, ckpt);
    snprintf(out, sizeof out, "%s/refused.out", dir);
    snprintf(err, sizeof err, "%s/refused.err", dir);
    long n0 = -1, n1 = -2;
    const unsigned long long h0 = search_file_sum(ckpt, &n0);
    const int rc = train(args, 0, out, err);
    char *msg = search_slurp(err);
    CHECK_MSG(rc == 2, "%s: exit %d, expected 2 (%s)", extra, rc, msg);
    CHECK_MSG(strstr(msg, ckpt) && strstr(msg, want), "%s: message '%s' lacks '%s' or the path",
              extra, msg, want);
    CHECK_MSG(search_file_sum(ckpt, &n1) == h0 && n0 == n1, "%s: the checkpoint changed", extra);
    free(msg);
}

int main(void) {
    cli = search_cli();
    if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK)) {
        fprintf(stderr, "skipped: needs Debian's dataset-fashion-mnist\n");
        return 77;
    }
    snprintf(dir, sizeof dir, "/tmp/nasc_trainckpt_XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    char ref[128], got[128], ckpt[128], extra[512], out[128], err[128];
    snprintf(ref, sizeof ref, "%s/ref.nasc", dir);
    snprintf(got, sizeof got, "%s/got.nasc", dir);
    snprintf(ckpt, sizeof ckpt, "%s/run.ckpt", dir);
    snprintf(out, sizeof out, "%s/run.out", dir);
    snprintf(err, sizeof err, "%s/run.err", dir);

    /* the uninterrupted run, without a checkpoint */
    snprintf(extra, sizeof extra, "--quiet --out %s", ref);
    double t0 = search_now();
    CHECK(train(extra, 0, NULL, NULL) == 0);
    const double full = search_now() - t0;

    /* killed at random moments until it finishes */
    snprintf(extra, sizeof extra, "--quiet --json --checkpoint %s --out %s", ckpt, got);
    unsigned rng = 12345;
    int kills = 0, runs = 0, rc;
    do {
        rng = rng * 1103515245u + 12345u;
        const double u = (double)(rng >> 16 & 0x7fff) / 32768.0;
        /* the first two kills come before any run could finish (a resumed run has at least a
         * third of the work left), the next ones anywhere; after 6 runs it may finish */
        const double at = runs < 2 ? full * (0.1 + 0.2 * u) : runs < 6 ? full * (0.25 + 0.5 * u) : 0;
        rc = train(extra, at, out, err);
        kills += rc == 128 + SIGKILL;
        runs++;
    } while (rc == 128 + SIGKILL && runs < 20);
    char *o = search_slurp(out), *e = search_slurp(err);
    CHECK_MSG(rc == 0, "final run: exit %d: %s", rc, e);
    CHECK_MSG(kills >= 2, "only %d of %d runs were killed", kills, runs);
    CHECK_MSG(same_bytes(ref, got), "after %d kills the model differs from the uninterrupted one",
              kills);
    CHECK_MSG(strstr(o, "\"resumed_epochs\":"), "no resumed_epochs in %s", o);
    char acc_ref[64] = "", acc_got[64] = "";
    json_field(o, "test_accuracy", acc_got, sizeof acc_got);
    free(o);
    free(e);

    /* a finished checkpoint: nothing left to train, same model, same accuracy */
    unlink(got);
    CHECK(train(extra, 0, out, err) == 0);
    o = search_slurp(out);
    json_field(o, "test_accuracy", acc_ref, sizeof acc_ref);
    CHECK_MSG(strstr(o, "\"resumed_epochs\":\t3") || strstr(o, "\"resumed_epochs\": 3") ||
                  strstr(o, "\"resumed_epochs\":3"),
              "finished checkpoint not recognised: %s", o);
    CHECK_MSG(acc_ref[0] && !strcmp(acc_ref, acc_got), "accuracy %s vs %s", acc_ref, acc_got);
    CHECK(same_bytes(ref, got));
    free(o);

    /* `nasc eval` reads the checkpoint as a weights file */
    const char *ev[] = {"eval", "--model", ckpt, "--data", "fashion-mnist", "--json", NULL};
    CHECK(search_run(cli, ev, -1, 0, out, err) == 0);
    o = search_slurp(out);
    char acc_eval[64] = "";
    json_field(o, "accuracy", acc_eval, sizeof acc_eval);
    CHECK_MSG(acc_eval[0] && fabs(atof(acc_eval) - atof(acc_ref)) < 1e-3,
              "eval of the checkpoint: '%s' vs %s", acc_eval, acc_ref);
    free(o);

    /* refusals */
    refused(ckpt, "--lr 0.05", "lr 0.1 in the checkpoint, 0.05 now");
    refused(ckpt, "--no-nesterov", "nesterov");
    refused(ckpt, "--width 0.5", "in the file but");
    refused(ref, "", "not a training checkpoint");
    size_t n;
    long nl = 0;
    search_file_sum(ckpt, &nl);
    n = (size_t)nl;
    char bad[128];
    snprintf(bad, sizeof bad, "%s/bad.ckpt", dir);
    unsigned char *bytes = (unsigned char *)search_slurp(ckpt);
    FILE *f = fopen(bad, "wb");
    fwrite(bytes, 1, n / 2, f);
    fclose(f);
    refused(bad, "", "truncated");
    bytes[n - 9] ^= 0x10;
    f = fopen(bad, "wb");
    fwrite(bytes, 1, n, f);
    fclose(f);
    refused(bad, "", "checksum");
    free(bytes);

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    fprintf(stderr, "train checkpoint: %d runs, %d killed, identical model\n", runs, kills);
    return test_done("train_checkpoint");
}
