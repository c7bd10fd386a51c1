/* test_limits_cli.c — sizes past nasc/limits.h, from flags and from a model file's metadata, are
 * refused with exit 2 and a message naming the value and the bound, before anything is allocated
 * (issue 22, defects 4 and 5: signed overflow from --channels 1e9, --width 1e30 training a
 * 75-parameter network, metadata width <= 0 becoming 1, classes 1e9 exiting 1, --cells 1000000
 * running for minutes, --threads 1000000 accepted; defect 9: input [0,0,0] evaluated). */
#include "test.h"

#include "search_cli.h"

#include "nasc/limits.h"
#include "nasc/nn.h"
#include "nasc/weights.h"

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

    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return test_done("test_limits_cli");
}
