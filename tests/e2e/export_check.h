/* export_check.h — shared by the export tests (test_export_onnx.c, test_export_pytorch.c,
 * test_export_c.c): run a program with arguments, train the small models the tests export, write
 * test images as raw float32 pixels, and compare another runtime's logits with
 * `nasc predict --logits`. A test keeps only what differs:
 *
 *     xc_ctx c;
 *     xc_begin(&c, "export_onnx");                 // NASC_CLI, a scratch dir, the test labels
 *     for (int i = 0; i < XC_N_NETS; i++) {
 *         char model[600];
 *         float *want = xc_model(&c, &xc_nets[i], n, model, sizeof model);  // trained + predicted
 *         ... export model, run it elsewhere on xc_pixels(&c, n), writing got.f32 ...
 *         xc_check_file(&c, xc_nets[i].name, got_path, want, n, 1e-4);
 *         nasc_free(want);
 *     }
 *     return xc_end(&c, "test_export_onnx");       // removes the dir unless something failed
 *
 * The models are trained once per build and kept in BUILD/export-models (see xc_model). */
#ifndef NASC_TEST_EXPORT_CHECK_H
#define NASC_TEST_EXPORT_CHECK_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nasc/arena.h"
#include "nasc/data.h"
#include "nasc/space.h"
#include "nasc/train.h"
#include "nasc/weights.h"

static inline double xc_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Runs argv[0] (a path, or a name looked up in PATH) with argv, stdout+stderr appended to log.
 * Returns the exit code (128+signal if killed, 127 if it could not start). */
static inline int xc_run(const char *log, const char *const *argv) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dprintf(fd, "$");
            for (int i = 0; argv[i]; i++)
                dprintf(fd, " %s", argv[i]);
            dprintf(fd, "\n");
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Prints the last lines of log to stderr (after a failed command). */
static inline void xc_tail(const char *log) {
    FILE *f = fopen(log, "rb");
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long n = ftell(f), from = n > 3000 ? n - 3000 : 0;
    fseek(f, from, SEEK_SET);
    char buf[3001];
    size_t r = fread(buf, 1, sizeof buf - 1, f);
    buf[r] = '\0';
    fprintf(stderr, "--- %s (tail) ---\n%s\n---\n", log, buf);
    fclose(f);
}

/* Whether a program is on PATH. */
static inline bool xc_have(const char *prog) {
    const char *argv[] = {"sh", "-c", NULL, NULL};
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
    argv[2] = cmd;
    return xc_run("/dev/null", argv) == 0;
}

static inline const char *xc_cli(void) {
    const char *cli = getenv("NASC_CLI");
    if (!cli || access(cli, X_OK)) {
        fprintf(stderr, "skipped: NASC_CLI is not set (no CLI in this build)\n");
        exit(77);
    }
    return cli;
}

/* The networks the issue asks for, each trained one epoch on 0.5% of Fashion-MNIST's training set
 * (300 images) by xc_train — so that weights and batch-norm statistics are not the
 * initial ones — and saved as `nasc train --out` saves a model (metadata as in FORMAT.md). The
 * training runs here and not through `nasc train`, which always evaluates the whole test set. */
typedef struct xc_net {
    const char *name, *space, *arch;
    int channels, cells;
    bool aux;
    float drop_path;
} xc_net;

#define XC_DARTS_V2                                                                                \
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "             \
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "         \
    "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "              \
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "         \
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"

static const xc_net xc_nets[] = {
    {"baseline", "baseline", "baseline", 0, 0, false, 0.0f},
    /* with a 'none' edge, and a dead node: node 2 reaches the output only through 'none', so
     * the inference graph drops its ops (nor_conv_1x1 and its weights); every format must
     * still give the same network (the PyTorch module once failed to load without them) */
    {"nb201", "nb201",
     "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
     "none~2|",
     16, 1, false, 0.0f},
    /* DARTS_V2, C=16, 8 cells, trained with the auxiliary head and drop-path (both gone in the
     * export) */
    {"darts", "darts", XC_DARTS_V2, 16, 8, true, 0.2f},
    {"mobilenet", "mobilenet", "e6k3d1,e3k5d1,e6k7d1,e3k3d1,e6k5d1", 16, 0, false, 0.0f},
};
enum { XC_N_NETS = sizeof xc_nets / sizeof xc_nets[0] };

/* Trains net and saves it to path; true on success. */
static inline bool xc_train(const xc_net *net, const char *path) {
    nasc_err err = {0};
    nasc_dataset *full = NULL, *part = NULL;
    nasc_model *m = NULL;
    nasc_space *sp = NULL;
    nasc_arch *a = NULL;
    nasc_status st = nasc_dataset_load("fashion-mnist", NASC_SPLIT_TRAIN, &full, &err);
    if (st == NASC_OK)
        st = nasc_dataset_fraction(full, 0.005, 1, &part, &err);
    if (st == NASC_OK && !strcmp(net->space, "baseline"))
        st = nasc_baseline_new(1, 28, 28, 10, 1.0f, 1, &m, &err);
    else if (st == NASC_OK) {
        st = nasc_space_new(net->space, NULL, &sp, &err);
        if (st == NASC_OK)
            st = nasc_arch_parse(sp, net->arch, &a, &err);
        const nasc_net_config nc = {.in_c = 1, .in_h = 28, .in_w = 28, .n_classes = 10,
                                    .channels = net->channels, .cells = net->cells,
                                    .auxiliary = net->aux};
        if (st == NASC_OK)
            st = nasc_space_build(a, &nc, 1, &m, &err);
    }
    nasc_train_config cfg;
    nasc_train_config_default(&cfg);
    cfg.epochs = 1;
    cfg.batch = 32;
    cfg.threads = 2;
    cfg.drop_path = net->drop_path;
    cfg.aux_weight = net->aux ? 0.4f : 0.0f;
    nasc_train_result res;
    if (st == NASC_OK)
        st = nasc_train(m, part, NULL, &cfg, NULL, NULL, &res, &err);
    char meta[2048];
    snprintf(meta, sizeof meta,
             "{\"format\":\"nasc-model\",\"space\":\"%s\",\"arch\":\"%s\",\"input\":[1,28,28],"
             "\"classes\":10,\"width\":1,\"channels\":%d,\"cells\":%d,\"auxiliary\":%s}",
             net->space, net->arch, net->channels, net->cells, net->aux ? "true" : "false");
    if (st == NASC_OK)
        st = nasc_weights_save(path, m, meta, &err);
    if (st != NASC_OK)
        fprintf(stderr, "%s: %s\n", net->name, err.msg);
    nasc_model_free(m);
    nasc_arch_free(a);
    nasc_space_free(sp);
    nasc_dataset_free(part);
    nasc_dataset_free(full);
    return st == NASC_OK;
}

/* The first n test images of Fashion-MNIST as raw float32 NCHW pixel/255 in dir/pixels.f32, and
 * their labels into labels[0..n). */
static inline bool xc_write_pixels(const char *path, int n, int32_t *labels) {
    nasc_err err = {0};
    nasc_dataset *ds = NULL;
    if (nasc_dataset_load("fashion-mnist", NASC_SPLIT_TEST, &ds, &err) != NASC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return false;
    }
    const size_t per = nasc_dataset_image_bytes(ds); /* C = 1: NHWC == NCHW */
    float *px = nasc_malloc((size_t)n * per * sizeof *px);
    for (size_t i = 0; px && i < (size_t)n * per; i++)
        px[i] = (float)ds->images[i] / 255.0f;
    for (int i = 0; i < n; i++)
        labels[i] = ds->labels[i];
    FILE *f = fopen(path, "wb");
    bool ok = px && f && fwrite(px, sizeof *px, (size_t)n * per, f) == (size_t)n * per;
    if (f)
        ok &= fclose(f) == 0;
    nasc_free(px);
    nasc_dataset_free(ds);
    return ok;
}

/* Reads exactly n floats from path into a new buffer (NULL on any mismatch, with a message). */
static inline float *xc_read_floats(const char *path, size_t n) {
    FILE *f = fopen(path, "rb");
    float *v = nasc_malloc((n + 1) * sizeof *v);
    size_t r = f && v ? fread(v, sizeof *v, n + 1, f) : 0;
    if (f)
        fclose(f);
    if (r != n) {
        fprintf(stderr, "%s: %zu floats, expected %zu\n", path, r, n);
        nasc_free(v);
        return NULL;
    }
    return v;
}

/* Compares got with want (n x K logits): max abs diff, argmax accuracies against labels, and the
 * number of images whose argmax differs. Checks max diff <= tol and identical accuracy. */
static inline void xc_compare(const char *what, const float *got, const float *want, int n, int K,
                       const int32_t *labels, double tol) {
    double max_abs = 0.0;
    int ok_got = 0, ok_want = 0, differ = 0;
    for (int i = 0; i < n; i++) {
        int bg = 0, bw = 0;
        for (int k = 0; k < K; k++) {
            const double d = fabs((double)got[i * K + k] - (double)want[i * K + k]);
            max_abs = d > max_abs || d != d ? d : max_abs;
            if (got[i * K + k] > got[i * K + bg])
                bg = k;
            if (want[i * K + k] > want[i * K + bw])
                bw = k;
        }
        ok_got += bg == labels[i];
        ok_want += bw == labels[i];
        differ += bg != bw;
    }
    printf("%-10s %5d images: max abs diff %.3g, accuracy %.2f%% vs nasc %.2f%%, %d argmax "
           "differ\n",
           what, n, max_abs, 100.0 * ok_got / n, 100.0 * ok_want / n, differ);
    CHECK_MSG(max_abs <= tol, "%s: max abs diff %.3g > %.3g", what, max_abs, tol);
    CHECK_MSG(ok_got == ok_want, "%s: accuracy %d vs nasc %d of %d", what, ok_got, ok_want, n);
}

/* ---- one test's scratch ---- */

enum { XC_N_TEST = 10000, XC_K = 10 };

typedef struct xc_ctx {
    const char *cli;  /* NASC_CLI */
    char dir[256];    /* scratch directory, removed by xc_end when every check passed */
    char log[300];    /* dir/log.txt: every command and its output */
    int32_t *labels;  /* the XC_N_TEST test labels */
    char pixels[320]; /* the last path xc_pixels returned */
} xc_ctx;

/* NASC_CLI (skips with 77 when unset), a new scratch directory /tmp/nasc_TAG_XXXXXX, the test
 * labels. Exits 1 if the directory cannot be made or the dataset cannot be read. */
static inline void xc_begin(xc_ctx *c, const char *tag) {
    memset(c, 0, sizeof *c);
    c->cli = xc_cli();
    snprintf(c->dir, sizeof c->dir, "/tmp/nasc_%s_XXXXXX", tag);
    nasc_err err = {0};
    nasc_dataset *ds = NULL;
    c->labels = nasc_malloc(XC_N_TEST * sizeof *c->labels);
    if (!mkdtemp(c->dir) || !c->labels ||
        nasc_dataset_load("fashion-mnist", NASC_SPLIT_TEST, &ds, &err) != NASC_OK ||
        ds->n < XC_N_TEST) {
        fprintf(stderr, "%s: cannot set up (%s)\n", tag, err.msg[0] ? err.msg : strerror(errno));
        exit(1);
    }
    for (int i = 0; i < XC_N_TEST; i++)
        c->labels[i] = ds->labels[i];
    nasc_dataset_free(ds);
    snprintf(c->log, sizeof c->log, "%s/log.txt", c->dir);
}

/* The first n test images as raw float32 in dir/pixels<n>.f32 (written once per n); its path
 * (valid until the next call), or NULL with a failed check. */
static inline const char *xc_pixels(xc_ctx *c, int n) {
    snprintf(c->pixels, sizeof c->pixels, "%s/pixels%d.f32", c->dir, n);
    if (access(c->pixels, R_OK) == 0)
        return c->pixels;
    int32_t *tmp = nasc_malloc(XC_N_TEST * sizeof *tmp);
    const bool ok = tmp && xc_write_pixels(c->pixels, n, tmp);
    nasc_free(tmp);
    CHECK_MSG(ok, "cannot write %s", c->pixels);
    return ok ? c->pixels : NULL;
}

/* mtime of a file (0 if it cannot be read) */
static inline double xc_mtime(const char *path) {
    struct stat sb;
    return stat(path, &sb) ? 0.0 : (double)sb.st_mtim.tv_sec + 1e-9 * (double)sb.st_mtim.tv_nsec;
}

/* The briefly trained model of net in *model, and nasc's logits on the first n test images
 * (`nasc predict --limit n --logits`, n x XC_K floats, caller frees), or NULL with a failed
 * check and the log's tail. Training is deterministic (fixed seed and thread count), so the model
 * is trained once per build into NASC_BINARY_DIR/export-models/NAME.nasc and reused while it is
 * newer than the test program; the export tests then share it instead of each training it again
 * (under a lock, so that tests run side by side train it once). */
static inline float *xc_model(xc_ctx *c, const xc_net *net, int n, char *model, size_t len) {
    snprintf(model, len, "%s/export-models", NASC_BINARY_DIR);
    mkdir(model, 0755);
    snprintf(model, len, "%s/export-models/%s.nasc", NASC_BINARY_DIR, net->name);
    const double t0 = xc_now();
    /* one test trains, one running beside it (ctest -j) waits for the model */
    char lock[700];
    snprintf(lock, sizeof lock, "%s.lock", model);
    const int lfd = open(lock, O_RDWR | O_CREAT, 0644);
    if (lfd >= 0)
        flock(lfd, LOCK_EX);
    if (xc_mtime(model) <= xc_mtime("/proc/self/exe")) {
        char tmp[700]; /* beside the model, so that rename replaces it whole */
        snprintf(tmp, sizeof tmp, "%s.%ld.tmp", model, (long)getpid());
        const bool ok = xc_train(net, tmp) && rename(tmp, model) == 0;
        CHECK_MSG(ok, "%s: training into %s failed", net->name, model);
        if (!ok)
            remove(tmp);
        else
            printf("%-10s trained in %.1f s\n", net->name, xc_now() - t0);
    }
    if (lfd >= 0)
        close(lfd); /* releases the lock */
    if (access(model, R_OK))
        return NULL;
    char want[600], nbuf[16];
    snprintf(want, sizeof want, "%s/%s.nasc.f32", c->dir, net->name);
    snprintf(nbuf, sizeof nbuf, "%d", n);
    const char *pred[] = {c->cli, "predict", "--model", model, "--data", "fashion-mnist",
                          "--limit", nbuf, "--quiet", "--logits", want, NULL};
    const int rc = xc_run(c->log, pred);
    CHECK_MSG(rc == 0, "%s: nasc predict exited %d", net->name, rc);
    if (rc) {
        xc_tail(c->log);
        return NULL;
    }
    return xc_read_floats(want, (size_t)n * XC_K);
}

/* Reads n x XC_K logits from got_path and compares them with want (xc_compare, tolerance tol). */
static inline void xc_check_file(xc_ctx *c, const char *what, const char *got_path,
                                 const float *want, int n, double tol) {
    float *got = xc_read_floats(got_path, (size_t)n * XC_K);
    CHECK_MSG(got && want, "%s: no logits to compare", what);
    if (got && want)
        xc_compare(what, got, want, n, XC_K, c->labels, tol);
    nasc_free(got);
}

/* Runs argv, logging to the test's log; false with a failed check and the log's tail. */
static inline bool xc_cmd(xc_ctx *c, const char *what, const char *const *argv) {
    const int rc = xc_run(c->log, argv);
    CHECK_MSG(rc == 0, "%s: %s exited %d", what, argv[0], rc);
    if (rc)
        xc_tail(c->log);
    return rc == 0;
}

/* Removes the scratch directory when every check passed (else says where it is) and returns
 * test_done(name). */
static inline int xc_end(xc_ctx *c, const char *name) {
    if (!test_failures) {
        const char *rm[] = {"rm", "-rf", c->dir, NULL};
        xc_run("/dev/null", rm);
    } else {
        fprintf(stderr, "files kept in %s\n", c->dir);
    }
    nasc_free(c->labels);
    return test_done(name);
}

#endif /* NASC_TEST_EXPORT_CHECK_H */
