/* test_limits_cli.c — sizes past nasc/limits.h, from flags and from a model file's metadata, are
 * refused with exit 2 and a message naming the value and the bound, before anything is allocated
 * (issue 22, defects 4 and 5: signed overflow from --channels 1e9, --width 1e30 training a
 * 75-parameter network, metadata width <= 0 becoming 1, classes 1e9 exiting 1, --cells 1000000
 * running for minutes, --threads 1000000 accepted), and the smaller input defects of 9: input
 * [0,0,0] evaluated, messages cut at 511 bytes, --max-memory nan accepted, a FIFO as --model or
 * --config blocking, a directory as --config reported as a YAML error, a trial database with a
 * finished trial without score or with a text score read as 0. */
#include "test.h"

#include "search_cli.h"

#include "nasc/limits.h"
#include "nasc/nn.h"
#include "nasc/weights.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define NB201 "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"

static char dir[] = "/tmp/nasc_limits.XXXXXX";

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return strdup(buf);
}

/* Runs the CLI with args; expects exit code want_rc and want_msg in stderr. Returns after a
 * 60-second limit at most (a refused size must not start the work). */
static void expect(int want_rc, const char *want_msg, const char *const *args) {
    char err_path[128];
    snprintf(err_path, sizeof err_path, "%s/err", dir);
    const double t0 = search_now();
    int rc = search_run(search_cli(), args, -1, 60.0, NULL, err_path);
    char *err = slurp(err_path);
    CHECK_MSG(rc == want_rc, "%s %s ...: exit %d, expected %d (stderr: %s)", args[0], args[1], rc,
              want_rc, err);
    if (want_msg)
        CHECK_STR_CONTAINS(err, want_msg);
    CHECK_MSG(search_now() - t0 < 30.0, "%s %s: took %.1f s", args[0], args[1],
              search_now() - t0);
    free(err);
}

/* Writes a weights file of a real (small baseline) model whose metadata is meta; returns its
 * path. The metadata is what nasc eval reads first, so the tensors never matter. */
static const char *model_with_meta(const char *name, const char *meta) {
    static char path[160];
    snprintf(path, sizeof path, "%s/%s.nasc", dir, name);
    nasc_err err = {0};
    nasc_model *m = NULL;
    CHECK_STATUS(nasc_baseline_new(1, 8, 8, 2, 0.125f, 1, &m, &err), NASC_OK);
    CHECK_STATUS(nasc_weights_save(path, m, meta, &err), NASC_OK);
    nasc_model_free(m);
    return path;
}

static void eval_meta(const char *name, const char *meta, const char *want_msg) {
    const char *path = model_with_meta(name, meta);
    expect(2, want_msg, (const char *[]){"eval", "--model", path, NULL});
}

/* Sets one cell of trial 0 in db with an SQL statement. */
static void damage(const char *db, const char *sql) {
    sqlite3 *h = NULL;
    CHECK(sqlite3_open(db, &h) == SQLITE_OK);
    char *msg = NULL;
    CHECK_MSG(sqlite3_exec(h, sql, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", sql,
              msg ? msg : "");
    sqlite3_free(msg);
    sqlite3_close(h);
}

static void test_defect9(void) {
    char path[2400], fifo[200], db[200], copy[200];

    /* a message longer than nasc_err.msg keeps its end, where the actual error is */
    char long_dir[1600];
    memset(long_dir, 'd', sizeof long_dir - 1);
    long_dir[sizeof long_dir - 1] = 0;
    nasc_err e = {0};
    nasc_errorf(&e, NASC_ERR_IO, "data: /%s/train.gz: file not found", long_dir);
    CHECK(strlen(e.msg) == sizeof e.msg - 1);
    CHECK_STR_CONTAINS(e.msg, "data: /ddd");
    CHECK_STR_CONTAINS(e.msg, " ... ");
    CHECK_MSG(!strcmp(e.msg + strlen(e.msg) - 27, "dd/train.gz: file not found"), "tail: %s",
              e.msg + strlen(e.msg) - 40);
    snprintf(path, sizeof path, "fashion-mnist:/tmp/%s/x", long_dir);
    expect(2, "/x/train-labels-idx1-ubyte.gz: file not found",
           (const char *[]){"train", "--data", path, "--epochs", "1", NULL});

    /* --max-memory: nan refused everywhere, and the flag refused where nothing reads it */
    expect(2, "--max-memory: expected bytes",
           (const char *[]){"search", "--space", "nb201", "--benchmark", "nb201:cifar10",
                            "--strategy", "darts", "--budget", "3", "--max-memory", "nan", NULL});
    expect(2, "--max-memory: only for the one-shot strategies",
           (const char *[]){"search", "--space", "nb201", "--benchmark", "nb201:cifar10",
                            "--strategy", "random", "--budget", "3", "--max-memory", "nan", NULL});

    /* a FIFO as --model or --config is refused at once (it used to block forever: the 60-second
     * kill in expect() turns a hang into a failed check); a directory as --config says so */
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    CHECK(mkfifo(fifo, 0600) == 0);
    expect(2, "not a regular file", (const char *[]){"eval", "--model", fifo, NULL});
    expect(2, "not a regular file",
           (const char *[]){"search", "--config", fifo, "--budget", "3", NULL});
    expect(2, "is a directory, not a file",
           (const char *[]){"search", "--config", dir, "--budget", "3", NULL});

    /* the trial database: a finished trial without a score, a score stored as text */
    snprintf(db, sizeof db, "%s/t.db", dir);
    expect(0, NULL,
           (const char *[]){"search", "--space", "nb201", "--benchmark", "nb201:cifar10",
                            "--strategy", "random", "--budget", "3", "--quiet", "--db", db,
                            NULL});
    expect(0, NULL, (const char *[]){"trials", "--db", db, NULL});
    snprintf(copy, sizeof copy, "%s/null.db", dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cp %s %s", db, copy);
    CHECK(system(cmd) == 0);
    damage(copy, "UPDATE trials SET score = NULL WHERE id = 0");
    expect(2, "trial 0: status ok without a score",
           (const char *[]){"trials", "--db", copy, NULL});
    snprintf(copy, sizeof copy, "%s/text.db", dir);
    snprintf(cmd, sizeof cmd, "cp %s %s", db, copy);
    CHECK(system(cmd) == 0);
    damage(copy, "UPDATE trials SET score = 'high' WHERE id = 0");
    expect(2, "trial 0: column score holds text, not a number",
           (const char *[]){"trials", "--db", copy, NULL});
}

int main(void) {
    search_cli();
    if (!mkdtemp(dir))
        return 1;

    /* defect 4: sizes that overflowed an int, from flags */
    expect(2, "--channels: must be in [0, 4096] (got 1000000000)",
           (const char *[]){"show", "--space", "darts", "--arch", "x", "--channels", "1000000000",
                            NULL});
    expect(2, "--channels: must be in [0, 4096] (got 1000000000)",
           (const char *[]){"train", "--space", "nb201", "--arch", NB201, "--channels",
                            "1000000000", NULL});
    expect(2, "--width: must be in (0, 64] (got 1e+30)",
           (const char *[]){"train", "--width", "1e30", NULL});
    expect(2, "--classes: must be in [0, 100000] (got 1000000000)",
           (const char *[]){"show", "--space", "nb201", "--arch", NB201, "--classes",
                            "1000000000", "--repeats", "0", NULL});
    /* the largest channel count per tensor: 4096 initial channels at 4x in the last stage of
     * nb201 is past the elements one kernel indexes, refused by the engine's 64-bit check */
    expect(2, "exceed 2147483647",
           (const char *[]){"show", "--space", "nb201", "--arch", NB201, "--channels", "4096",
                            "--repeats", "0", NULL});

    /* defect 5: unbounded work from one number */
    expect(2, "--cells: must be in [0, 256] (got 1000000)",
           (const char *[]){"show", "--space", "darts", "--arch", "x", "--cells", "1000000", NULL});
    expect(2, "--batch: must be in [1, 65536] (got 1000000)",
           (const char *[]){"show", "--space", "nb201", "--arch", NB201, "--batch", "1000000",
                            "--repeats", "0", NULL});
    expect(2, "--threads: must be in [1, 256] (got 1000000)",
           (const char *[]){"show", "--space", "nb201", "--arch", NB201, "--threads", "1000000",
                            NULL});
    expect(2, "--threads: must be in [1, 256] (got 1000000)",
           (const char *[]){"eval", "--model", "none.nasc", "--threads", "1000000", NULL});
    expect(2, "--batch: must be in [1, 65536] (got 1000000)",
           (const char *[]){"eval", "--model", "none.nasc", "--batch", "1000000", NULL});
    expect(2, "--batch: must be in [1, 65536] (got 100000)",
           (const char *[]){"train", "--batch", "100000", NULL});
    /* within the bounds, --repeats 0 measures no latency and so never allocates the batch */
    expect(0, NULL,
           (const char *[]){"show", "--space", "nb201", "--arch", NB201, "--batch", "65536",
                            "--repeats", "0", "--channels", "4", "--cells", "1", NULL});

    /* the same bounds on a model file's metadata (nasc eval) */
    eval_meta("channels", "{\"format\":\"nasc-model\",\"space\":\"nb201\",\"arch\":\"" NB201
                          "\",\"input\":[1,28,28],\"classes\":10,\"width\":1,\"channels\":"
                          "1000000000,\"cells\":1}",
              "metadata channels must be a whole number in [0, 4096]");
    eval_meta("cells", "{\"format\":\"nasc-model\",\"space\":\"darts\",\"arch\":\"x\","
                       "\"input\":[1,28,28],\"classes\":10,\"width\":1,\"channels\":4,"
                       "\"cells\":1000000}",
              "metadata cells must be a whole number in [0, 256]");
    eval_meta("classes", "{\"format\":\"nasc-model\",\"space\":\"baseline\",\"arch\":\"baseline\","
                         "\"input\":[1,28,28],\"classes\":1e9,\"width\":1}",
              "metadata classes must be a whole number in [2, 100000]");
    eval_meta("width0", "{\"format\":\"nasc-model\",\"space\":\"baseline\",\"arch\":\"baseline\","
                        "\"input\":[1,28,28],\"classes\":10,\"width\":0}",
              "metadata width must be a number in (0, 64]");
    eval_meta("widthneg", "{\"format\":\"nasc-model\",\"space\":\"baseline\",\"arch\":\"baseline\","
                          "\"input\":[1,28,28],\"classes\":10,\"width\":-2}",
              "metadata width must be a number in (0, 64]");
    eval_meta("widthbig", "{\"format\":\"nasc-model\",\"space\":\"baseline\",\"arch\":\"baseline\","
                          "\"input\":[1,28,28],\"classes\":10,\"width\":1e30}",
              "metadata width must be a number in (0, 64]");
    /* defect 9: input [0,0,0] used to mean the space's default input and evaluated */
    eval_meta("input0", "{\"format\":\"nasc-model\",\"space\":\"nb201\",\"arch\":\"" NB201
                        "\",\"input\":[0,0,0],\"classes\":10,\"width\":1,\"channels\":4,"
                        "\"cells\":1}",
              "metadata input C must be a whole number in [1, 64]");
    eval_meta("inputfrac", "{\"format\":\"nasc-model\",\"space\":\"baseline\",\"arch\":"
                           "\"baseline\",\"input\":[1,28.5,28],\"classes\":10,\"width\":1}",
                           "metadata input H must be a whole number in [1, 4096]");

    test_defect9();
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return test_done("test_limits_cli");
}
