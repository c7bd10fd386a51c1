/* test_export_pytorch.c — `nasc export --format pytorch` run by Debian's PyTorch
 * (python3-torch): the baseline CNN, an nb201 network, DARTS_V2 (C=16, 8 cells, auxiliary head)
 * and a mobilenet-space network, each trained briefly. In eval mode the module's logits must
 * agree with `nasc predict --logits` to 1e-4 (max abs) with the same accuracy (all 10,000 test
 * images for the baseline, the first 1,000 for the others); train mode must work and gradients
 * reach every parameter (tests/export/torch_run.py). Skipped (77) when torch is absent. */
// ctest: labels=slow timeout=1200
#include "test.h"

#include "export_check.h"

int main(void) {
    const char *cli = xc_cli();
    const char *probe[] = {"/usr/bin/python3", "-c", "import torch, numpy", NULL};
    if (xc_run("/dev/null", probe) != 0) {
        fprintf(stderr, "skipped: /usr/bin/python3 cannot import torch and numpy (scripts/setup "
                        "installs python3-torch)\n");
        return 77;
    }
    char dir[] = "/tmp/nasc_export_torch_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char log[600];
    snprintf(log, sizeof log, "%s/log.txt", dir);
    enum { N_ALL = 10000, N_SUB = 1000, K = 10 };
    int32_t *labels = nasc_malloc(N_ALL * sizeof *labels);
    for (int i = 0; i < XC_N_NETS; i++) {
        const xc_net *net = &xc_nets[i];
        const int n = !strcmp(net->name, "baseline") ? N_ALL : N_SUB;
        char model[600], py[600], want_path[600], got_path[600], nbuf[16], pixels[600];
        snprintf(model, sizeof model, "%s/%s.nasc", dir, net->name);
        snprintf(py, sizeof py, "%s/%s_net.py", dir, net->name);
        snprintf(want_path, sizeof want_path, "%s/%s.nasc.f32", dir, net->name);
        snprintf(got_path, sizeof got_path, "%s/%s.torch.f32", dir, net->name);
        snprintf(pixels, sizeof pixels, "%s/pixels%d.f32", dir, n);
        snprintf(nbuf, sizeof nbuf, "%d", n);
        CHECK(xc_write_pixels(pixels, n, labels));
        double t0 = xc_now();
        if (!xc_train(net, model)) {
            CHECK_MSG(false, "%s: training failed", net->name);
            continue;
        }
        double t1 = xc_now();
        const char *pred[] = {cli, "predict", "--model", model, "--data", "fashion-mnist",
                              "--limit", nbuf, "--quiet", "--logits", want_path, NULL};
        const char *exp[] = {cli, "export", "--model", model, "--format", "pytorch", "--out", py,
                             NULL};
        const char *run[] = {"/usr/bin/python3", NASC_SOURCE_DIR "/tests/export/torch_run.py", py,
                             pixels, nbuf, "1", "28", "28", got_path, NULL};
        bool ok = xc_run(log, pred) == 0 && xc_run(log, exp) == 0;
        double t2 = xc_now();
        ok = ok && xc_run(log, run) == 0;
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
        printf("%-10s train %.1f s, predict+export %.1f s, torch eval+train %.1f s\n", net->name,
               t1 - t0, t2 - t1, t3 - t2);
        nasc_free(want);
        nasc_free(got);
    }
    xc_tail(log); /* torch_run.py's summary lines (versions, the train-mode step) */
    nasc_free(labels);
    if (!test_failures) {
        const char *rm[] = {"rm", "-rf", dir, NULL};
        xc_run("/dev/null", rm);
    } else {
        printf("files kept in %s\n", dir);
    }
    return test_done("test_export_pytorch");
}
