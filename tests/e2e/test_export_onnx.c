/* test_export_onnx.c — `nasc export --format onnx` checked by other tools: onnx.checker (Debian
 * python3-onnx, full check with shape inference) and ONNX Runtime (npm's onnxruntime-node under
 * Debian's Node.js), on the baseline CNN, an nb201 network, DARTS_V2 (C=16, 8 cells, auxiliary
 * head) and a mobilenet-space network, each trained briefly. ONNX Runtime's logits must agree with
 * `nasc predict --logits` to 1e-4 (max abs) with the same accuracy: on all 10,000 test images for
 * the baseline and the DARTS network, on the first 1,000 for the others.
 *
 * Setup: onnxruntime-node is installed once into BUILD/npm-onnxruntime with
 * `npm install --ignore-scripts onnxruntime-node` (its CPU library ships inside the package).
 * Skipped (77) with a message when node or npm is absent.
 */
// ctest: labels=slow timeout=1200
#include "test.h"

#include "export_check.h"

#define NPM_DIR NASC_BINARY_DIR "/npm-onnxruntime"

static bool ensure_onnxruntime(const char *log) {
    if (access(NPM_DIR "/node_modules/onnxruntime-node/package.json", R_OK) == 0)
        return true;
    mkdir(NPM_DIR, 0755);
    const char *argv[] = {"npm", "install", "--ignore-scripts", "--no-audit", "--no-fund",
                          "--prefix", NPM_DIR, "onnxruntime-node", NULL};
    printf("installing onnxruntime-node into %s (once)\n", NPM_DIR);
    if (xc_run(log, argv) != 0) {
        xc_tail(log);
        return false;
    }
    return true;
}

int main(void) {
    const char *cli = xc_cli();
    if (!xc_have("node") || !xc_have("npm")) {
        fprintf(stderr, "skipped: node or npm is not installed (scripts/setup installs nodejs "
                        "and npm)\n");
        return 77;
    }
    char dir[] = "/tmp/nasc_export_onnx_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char log[600], pixels[600];
    snprintf(log, sizeof log, "%s/log.txt", dir);
    snprintf(pixels, sizeof pixels, "%s/pixels.f32", dir);
    if (!ensure_onnxruntime(log)) {
        CHECK_MSG(false, "npm install onnxruntime-node failed (log above)");
        return test_done("test_export_onnx");
    }
    enum { N_ALL = 10000, N_SUB = 1000, K = 10 };
    int32_t *labels = nasc_malloc(N_ALL * sizeof *labels);
    CHECK(xc_write_pixels(pixels, N_ALL, labels));
    setenv("NODE_PATH", NPM_DIR "/node_modules", 1);

    for (int i = 0; i < XC_N_NETS; i++) {
        const xc_net *net = &xc_nets[i];
        const int n = (!strcmp(net->name, "baseline") || !strcmp(net->name, "darts")) ? N_ALL
                                                                                      : N_SUB;
        char model[600], onnx[600], want_path[600], got_path[600], nbuf[16], sub_pixels[600];
        snprintf(model, sizeof model, "%s/%s.nasc", dir, net->name);
        snprintf(onnx, sizeof onnx, "%s/%s.onnx", dir, net->name);
        snprintf(want_path, sizeof want_path, "%s/%s.nasc.f32", dir, net->name);
        snprintf(got_path, sizeof got_path, "%s/%s.ort.f32", dir, net->name);
        snprintf(nbuf, sizeof nbuf, "%d", n);
        snprintf(sub_pixels, sizeof sub_pixels, "%s", pixels);
        double t0 = xc_now();
        if (!xc_train(net, model)) {
            CHECK_MSG(false, "%s: training failed", net->name);
            continue;
        }
        double t1 = xc_now();
        const char *pred[] = {cli, "predict", "--model", model, "--data", "fashion-mnist",
                              "--limit", nbuf, "--quiet", "--logits", want_path, NULL};
        const char *exp[] = {cli, "export", "--model", model, "--format", "onnx", "--out", onnx,
                             NULL};
        const char *chk[] = {"/usr/bin/python3", "-c",
                             "import sys, onnx; m = onnx.load(sys.argv[1]); "
                             "onnx.checker.check_model(m, full_check=True); "
                             "assert m.opset_import[0].version >= 13; "
                             "i = m.graph.input[0].type.tensor_type.shape.dim; "
                             "assert m.graph.input[0].name == 'input' and i[0].dim_param; "
                             "assert m.graph.output[0].name == 'logits'; print('onnx.checker: ok')",
                             onnx, NULL};
        const char *ort[] = {"node", NASC_SOURCE_DIR "/tests/export/onnx_run.js", onnx,
                             sub_pixels, nbuf, "1", "28", "28", got_path, NULL};
        bool ok = true;
        ok = ok && xc_run(log, pred) == 0;
        ok = ok && xc_run(log, exp) == 0;
        ok = ok && xc_run(log, chk) == 0;
        double t2 = xc_now();
        /* onnx_run.js reads the first n images of the file (it checks the size: give it n) */
        if (ok && n < N_ALL) {
            snprintf(sub_pixels, sizeof sub_pixels, "%s/pixels%d.f32", dir, n);
            int32_t *tmp = nasc_malloc(N_ALL * sizeof *tmp);
            ok = xc_write_pixels(sub_pixels, n, tmp);
            nasc_free(tmp);
        }
        ok = ok && xc_run(log, ort) == 0;
        double t3 = xc_now();
        CHECK_MSG(ok, "%s: a command failed", net->name);
        if (!ok) {
            xc_tail(log);
            continue;
        }
        float *want = xc_read_floats(want_path, (size_t)n * K);
        float *got = xc_read_floats(got_path, (size_t)n * K);
        CHECK(want && got);
        if (want && got)
            xc_compare(net->name, got, want, n, K, labels, 1e-4);
        printf("%-10s train %.1f s, predict+export+checker %.1f s, onnxruntime %.1f s\n",
               net->name, t1 - t0, t2 - t1, t3 - t2);
        nasc_free(want);
        nasc_free(got);
    }
    nasc_free(labels);
    if (!test_failures) {
        const char *rm[] = {"rm", "-rf", dir, NULL};
        xc_run("/dev/null", rm);
    } else {
        printf("files kept in %s\n", dir);
    }
    return test_done("test_export_onnx");
}
