/* test_export_pytorch.c — `nasc export --format pytorch` run by Debian's PyTorch
 * (python3-torch): the baseline CNN, an nb201 network, DARTS_V2 (C=16, 8 cells, auxiliary head)
 * and a mobilenet-space network, each trained briefly. In eval mode the module's logits must
 * agree with `nasc predict --logits` to 1e-4 (max abs) with the same accuracy (all 10,000 test
 * images for the baseline, the first 1,000 for the others; test_export_pytorch_all.c: all 10,000
 * for every network); train mode must work and gradients
 * reach every parameter (tests/export/torch_run.py). Skipped (77) when torch is absent. */
// ctest: labels=slow timeout=1200
#include "test.h"

#include "export_check.h"

#ifndef XC_ALL
#define XC_ALL 0
#endif

int main(void) {
    if (!xc_torch_ready())
        return 77;
    xc_ctx c;
    xc_begin(&c, "export_torch");
    for (int i = 0; i < XC_N_NETS; i++) {
        const xc_net *net = &xc_nets[i];
        /* all 10,000 test images for the baseline, the first 1,000 for the others */
        const int n = (XC_ALL || !strcmp(net->name, "baseline")) ? XC_N_TEST : 1000;
        char model[600];
        const double t0 = xc_now();
        float *want = xc_model(&c, net, n, model, sizeof model);
        const double t1 = xc_now();
        xc_check_torch(&c, net, model, n, want);
        printf("%-10s export + torch eval and train %.1f s (model and nasc's logits %.1f s)\n",
               net->name, xc_now() - t1, t1 - t0);
        nasc_free(want);
    }
    xc_tail(c.log); /* torch_run.py's summary lines (versions, the train-mode step) */
    return xc_end(&c, XC_ALL ? "test_export_pytorch_all" : "test_export_pytorch");
}
