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
    if (!xc_have("node") || !xc_have("npm")) {
        fprintf(stderr, "skipped: node or npm is not installed (scripts/setup installs nodejs "
                        "and npm)\n");
        return 77;
    }
    xc_ctx c;
    xc_begin(&c, "export_onnx");
    if (!ensure_onnxruntime(c.log)) {
        CHECK_MSG(false, "npm install onnxruntime-node failed (log above)");
        return xc_end(&c, "test_export_onnx");
    }
    setenv("NODE_PATH", NPM_DIR "/node_modules", 1);
    for (int i = 0; i < XC_N_NETS; i++) {
        const xc_net *net = &xc_nets[i];
        /* all 10,000 test images for the baseline and the DARTS network, 1,000 for the others */
        const int n = (!strcmp(net->name, "baseline") || !strcmp(net->name, "darts")) ? XC_N_TEST
                                                                                      : 1000;
        char model[600], onnx[600], got[600], nbuf[16];
        snprintf(onnx, sizeof onnx, "%s/%s.onnx", c.dir, net->name);
        snprintf(got, sizeof got, "%s/%s.ort.f32", c.dir, net->name);
        snprintf(nbuf, sizeof nbuf, "%d", n);
        const double t0 = xc_now();
        float *want = xc_model(&c, net, n, model, sizeof model);
        const char *pixels = xc_pixels(&c, n);
        const double t1 = xc_now();
        const char *exp[] = {c.cli, "export", "--model", model, "--format", "onnx", "--out", onnx,
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
        const bool ok = want && pixels && xc_cmd(&c, net->name, exp) &&
                        xc_cmd(&c, net->name, chk) && xc_cmd(&c, net->name, ort);
        if (ok)
            xc_check_file(&c, net->name, got, want, n, 1e-4);
        printf("%-10s predict + export + checker + onnxruntime %.1f s (model and nasc's logits "
               "%.1f s)\n",
               net->name, xc_now() - t1, t1 - t0);
        nasc_free(want);
    }
    return xc_end(&c, "test_export_onnx");
}
