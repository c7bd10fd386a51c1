/* test_export_onnx.c — `nasc export --format onnx` checked by other tools: onnx.checker (Debian
 * python3-onnx, full check with shape inference) and ONNX Runtime (npm's onnxruntime-node under
 * Debian's Node.js), on the baseline CNN, an nb201 network, DARTS_V2 (C=16, 8 cells, auxiliary
 * head) and a mobilenet-space network, each trained briefly. ONNX Runtime's logits must agree with
 * `nasc predict --logits` to 1e-4 (max abs) with the same accuracy: on all 10,000 test images for
 * the baseline and the DARTS network, on the first 1,000 for the others (test_export_onnx_all.c:
 * all 10,000 for every network).
 *
 * Setup: onnxruntime-node is installed once into BUILD/npm-onnxruntime with
 * `npm install --ignore-scripts onnxruntime-node` (its CPU library ships inside the package).
 * Skipped (77) with a message when node or npm is absent.
 */
// ctest: labels=slow timeout=1200
#include "test.h"

#include "export_check.h"

#ifndef XC_ALL
#define XC_ALL 0
#endif

int main(void) {
    if (!xc_have("node") || !xc_have("npm")) {
        fprintf(stderr, "skipped: node or npm is not installed (scripts/setup installs nodejs "
                        "and npm)\n");
        return 77;
    }
    xc_ctx c;
    xc_begin(&c, "export_onnx");
    if (!xc_onnx_ready(&c))
        return xc_end(&c, XC_ALL ? "test_export_onnx_all" : "test_export_onnx");
    for (int i = 0; i < XC_N_NETS; i++) {
        const xc_net *net = &xc_nets[i];
        /* all 10,000 test images for the baseline and the DARTS network, 1,000 for the others */
        const int n = (XC_ALL || !strcmp(net->name, "baseline") || !strcmp(net->name, "darts"))
                          ? XC_N_TEST
                          : 1000;
        char model[600];
        const double t0 = xc_now();
        float *want = xc_model(&c, net, n, model, sizeof model);
        const double t1 = xc_now();
        xc_check_onnx(&c, net, model, n, want);
        printf("%-10s export + checker + onnxruntime %.1f s (model and nasc's logits %.1f s)\n",
               net->name, xc_now() - t1, t1 - t0);
        nasc_free(want);
    }
    return xc_end(&c, XC_ALL ? "test_export_onnx_all" : "test_export_onnx");
}
