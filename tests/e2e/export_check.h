/* export_check.h — shared by the export tests (test_export_onnx.c, test_export_pytorch.c,
 * test_export_c.c, test_export_spaces.c): run a program with arguments, train the small models the
 * tests export, write test images as raw float32 pixels, run each format in its tool (ONNX
 * Runtime, PyTorch, a C compiler: xc_check_onnx, xc_check_torch, xc_c_*), and compare another
 * runtime's logits with `nasc predict --logits`. A test keeps only what differs:
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

/* The other spaces (test_export_spaces.c), each with the ops that set it apart: chain's
 * sigmoid/tanh/fc layers and both pools; macro's six layer types, skips concatenated, and its
 * pooling of every node; morph's 1x1 skip convolutions summed into a unit (each from a narrower unit), a max and
 * an average pool;
 * and a DARTS network without the auxiliary head whose cells use the ops DARTS_V2 does not
 * (5x5 separable and dilated convolutions, average pooling, a skip in the reduction cell, i.e. a
 * factorized reduce). */
static const xc_net xc_space_nets[] = {
    {"chain", "chain", "conv3x3-16,relu,maxpool,conv5x5-32,sigmoid,avgpool,fc-64,tanh", 0, 0,
     false, 0.0f},
    {"macro", "macro",
     "conv3x3,sepconv5x5+0,maxpool+0+1,avgpool+2,conv5x5,sepconv3x3+1+3,conv3x3+5,maxpool,"
     "avgpool+0+7,sepconv5x5,conv5x5+9,sepconv3x3+2+10",
     8, 0, false, 0.0f},
    {"morph", "morph",
     "conv3x3-8,conv1x1-16+0,maxpool,conv3x3-16,conv5x5-32+2,avgpool,conv3x3-16,conv3x3-32+4", 0,
     0, false, 0.0f},
    {"darts_noaux", "darts",
     "Genotype(normal=[('sep_conv_5x5', 0), ('dil_conv_5x5', 1), ('avg_pool_3x3', 0), "
     "('skip_connect', 2), ('dil_conv_3x3', 1), ('max_pool_3x3', 3), ('sep_conv_3x3', 2), "
     "('avg_pool_3x3', 4)], normal_concat=[2, 3, 4, 5], reduce=[('skip_connect', 0), "
     "('avg_pool_3x3', 1), ('sep_conv_5x5', 0), ('skip_connect', 2), ('dil_conv_5x5', 1), "
     "('max_pool_3x3', 0), ('dil_conv_3x3', 3), ('sep_conv_3x3', 4)], reduce_concat=[2, 3, 4, 5])",
     8, 5, false, 0.0f},
};
enum { XC_N_SPACE_NETS = sizeof xc_space_nets / sizeof xc_space_nets[0] };

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

/* ---- the formats, each run by a tool other than nasc ---- */

#define XC_NPM_DIR NASC_BINARY_DIR "/npm-onnxruntime"

/* Whether ONNX can be checked here: false with a message when node or npm is absent (the caller
 * skips), false with a failed check when onnxruntime-node cannot be installed; it is installed once
 * into BUILD/npm-onnxruntime with `npm install --ignore-scripts` (its CPU library ships inside the
 * package) and NODE_PATH is pointed at it. */
static inline bool xc_onnx_ready(xc_ctx *c) {
    if (!xc_have("node") || !xc_have("npm")) {
        printf("skipped ONNX: node or npm is not installed (scripts/setup installs nodejs and "
               "npm)\n");
        return false;
    }
    if (access(XC_NPM_DIR "/node_modules/onnxruntime-node/package.json", R_OK) != 0) {
        mkdir(XC_NPM_DIR, 0755);
        const char *argv[] = {"npm", "install", "--ignore-scripts", "--no-audit", "--no-fund",
                              "--prefix", XC_NPM_DIR, "onnxruntime-node", NULL};
        printf("installing onnxruntime-node into %s (once)\n", XC_NPM_DIR);
        if (xc_run(c->log, argv) != 0) {
            xc_tail(c->log);
            CHECK_MSG(false, "npm install onnxruntime-node failed (log above)");
            return false;
        }
    }
    setenv("NODE_PATH", XC_NPM_DIR "/node_modules", 1);
    return true;
}

/* `nasc export --format onnx` of model, onnx.checker.check_model(full_check=True) (Debian
 * python3-onnx), ONNX Runtime on the first n test images (tests/export/onnx_run.js, batches of 64
 * and a partial one), logits compared with want (nasc predict's) to 1e-4 with the same accuracy. */
static inline void xc_check_onnx(xc_ctx *c, const xc_net *net, const char *model, int n,
                                 const float *want) {
    char onnx[600], got[600], nbuf[16], what[64];
    snprintf(onnx, sizeof onnx, "%s/%s.onnx", c->dir, net->name);
    snprintf(got, sizeof got, "%s/%s.ort.f32", c->dir, net->name);
    snprintf(nbuf, sizeof nbuf, "%d", n);
    snprintf(what, sizeof what, "%s/onnx", net->name);
    const char *pixels = xc_pixels(c, n);
    const char *exp[] = {c->cli, "export", "--model", model, "--format", "onnx", "--out", onnx,
                         NULL};
    const char *chk[] = {"/usr/bin/python3", "-c",
                         "import sys, onnx; m = onnx.load(sys.argv[1]); "
                         "onnx.checker.check_model(m, full_check=True); "
                         "assert m.opset_import[0].version >= 13; "
                         "i = m.graph.input[0].type.tensor_type.shape.dim; "
                         "assert m.graph.input[0].name == 'input' and i[0].dim_param; "
                         "assert m.graph.output[0].name == 'logits'; print('onnx.checker: ok')",
                         onnx, NULL};
    /* onnx_run.js reads exactly n images from the pixels file */
    const char *ort[] = {"node", NASC_SOURCE_DIR "/tests/export/onnx_run.js", onnx, pixels,
                         nbuf, "1", "28", "28", got, NULL};
    if (want && pixels && xc_cmd(c, what, exp) && xc_cmd(c, what, chk) && xc_cmd(c, what, ort))
        xc_check_file(c, what, got, want, n, 1e-4);
}

/* Whether /usr/bin/python3 imports torch and numpy (else a message: the caller skips). */
static inline bool xc_torch_ready(void) {
    const char *probe[] = {"/usr/bin/python3", "-c", "import torch, numpy", NULL};
    if (xc_run("/dev/null", probe) == 0)
        return true;
    printf("skipped PyTorch: /usr/bin/python3 cannot import torch and numpy (scripts/setup "
           "installs python3-torch)\n");
    return false;
}

/* `nasc export --format pytorch` of model, run by tests/export/torch_run.py: eval-mode logits of
 * the first n test images compared with want to 1e-4 with the same accuracy; in train mode every
 * parameter gets a finite gradient and one SGD step changes the loss (torch_run.py fails if not). */
static inline void xc_check_torch(xc_ctx *c, const xc_net *net, const char *model, int n,
                                  const float *want) {
    char py[600], got[600], nbuf[16], what[64];
    snprintf(py, sizeof py, "%s/%s_net.py", c->dir, net->name);
    snprintf(got, sizeof got, "%s/%s.torch.f32", c->dir, net->name);
    snprintf(nbuf, sizeof nbuf, "%d", n);
    snprintf(what, sizeof what, "%s/torch", net->name);
    const char *pixels = xc_pixels(c, n);
    const char *exp[] = {c->cli, "export", "--model", model, "--format", "pytorch", "--out", py,
                         NULL};
    const char *run[] = {"/usr/bin/python3", NASC_SOURCE_DIR "/tests/export/torch_run.py", py,
                         pixels, nbuf, "1", "28", "28", got, NULL};
    if (want && pixels && xc_cmd(c, what, exp) && xc_cmd(c, what, run))
        xc_check_file(c, what, got, want, n, 1e-4);
}

/* ---- the C export: a driver, the generated files, two compilers ---- */

/* The driver: reads n images (raw float32 NCHW) from argv[1], writes n x K logits to argv[2]. */
static const char *const xc_c_driver_src =
    "#include \"net.h\"\n"
    "#include <stdio.h>\n"
    "#include <stdlib.h>\n"
    "int main(int argc, char **argv) {\n"
    "    static float px[NET_IN_C * NET_IN_H * NET_IN_W];\n"
    "    float lg[NET_N_CLASSES];\n"
    "    FILE *in, *out;\n"
    "    int i, n;\n"
    "    if (argc != 4)\n"
    "        return 2;\n"
    "    in = fopen(argv[1], \"rb\");\n"
    "    out = fopen(argv[2], \"wb\");\n"
    "    n = atoi(argv[3]);\n"
    "    if (!in || !out)\n"
    "        return 1;\n"
    "    for (i = 0; i < n; i++) {\n"
    "        if (fread(px, sizeof px, 1, in) != 1)\n"
    "            return 1;\n"
    "        (void)net_predict(px, lg);\n"
    "        if (fwrite(lg, sizeof lg, 1, out) != 1)\n"
    "            return 1;\n"
    "    }\n"
    "    fclose(in);\n"
    "    return fclose(out) != 0;\n"
    "}\n";

/* Writes the driver to dir/driver.c (a failed check if it cannot). */
static inline bool xc_c_driver(xc_ctx *c) {
    char p[300];
    snprintf(p, sizeof p, "%s/driver.c", c->dir);
    FILE *f = fopen(p, "w");
    bool ok = f && fputs(xc_c_driver_src, f) >= 0;
    if (f)
        ok &= fclose(f) == 0;
    CHECK_MSG(ok, "cannot write %s", p);
    return ok;
}

/* `nasc export --format c` of model with extra arguments into sub/net.{c,h}; the exit code (the
 * output in dir/export.log). */
static inline int xc_c_export(xc_ctx *c, const char *model, const char *sub, const char *extra) {
    char log[512], cmd[2048];
    snprintf(log, sizeof log, "%s/export.log", c->dir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s && %s export --model %s --format c --out %s/net.c %s",
             sub, c->cli, model, sub, extra);
    const char *argv[] = {"sh", "-c", cmd, NULL};
    return xc_run(log, argv);
}

/* Compiles sub/net.c + the driver with cc, `-std=c99 -O2 -Wall -Wextra -pedantic -Werror` and
 * extra flags into sub/exe; true on success, else a failed check and the compiler's output. */
static inline bool xc_c_build(xc_ctx *c, const char *sub, const char *cc, const char *extra,
                              const char *exe) {
    char log[512], cmd[2048];
    snprintf(log, sizeof log, "%s/build.log", c->dir);
    snprintf(cmd, sizeof cmd,
             "cd %s && %s -std=c99 -O2 -Wall -Wextra -pedantic -Werror %s net.c %s/driver.c -I. "
             "-o %s -lm",
             sub, cc, extra, c->dir, exe);
    const char *argv[] = {"sh", "-c", cmd, NULL};
    const int rc = xc_run(log, argv);
    CHECK_MSG(rc == 0, "%s: %s failed (%d)", sub, cc, rc);
    if (rc)
        xc_tail(log);
    return rc == 0;
}

/* Runs sub/exe on the first n images of pixels (optionally under a wrapper such as valgrind) and
 * reads its n x XC_K logits (caller frees); NULL with a failed check on failure. */
static inline float *xc_c_run(xc_ctx *c, const char *sub, const char *exe, const char *wrap,
                              const char *pixels, int n) {
    char log[512], cmd[2048], out[600];
    snprintf(log, sizeof log, "%s/run.log", c->dir);
    snprintf(out, sizeof out, "%s/%s.logits", sub, exe);
    snprintf(cmd, sizeof cmd, "cd %s && %s ./%s %s %s %d", sub, wrap, exe, pixels, out, n);
    const char *argv[] = {"sh", "-c", cmd, NULL};
    const int rc = xc_run(log, argv);
    CHECK_MSG(rc == 0, "%s: %s %s exited %d", sub, wrap, exe, rc);
    if (rc) {
        xc_tail(log);
        return NULL;
    }
    return xc_read_floats(out, (size_t)n * XC_K);
}

/* The generated header's NET_WEIGHT_BYTES and NET_ARENA_BYTES (0 when missing). */
static inline void xc_c_header_sizes(const char *sub, size_t *wb, size_t *ab) {
    char p[700], line[256];
    snprintf(p, sizeof p, "%s/net.h", sub);
    FILE *f = fopen(p, "r");
    *wb = *ab = 0;
    while (f && fgets(line, sizeof line, f)) {
        sscanf(line, "#define NET_WEIGHT_BYTES %zu", wb);
        sscanf(line, "#define NET_ARENA_BYTES %zu", ab);
    }
    if (f)
        fclose(f);
}

#endif /* NASC_TEST_EXPORT_CHECK_H */
