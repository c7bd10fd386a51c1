/* test_export_spaces.c — every format on the spaces the Must-show tests leave out: a chain network
 * (relu, sigmoid, tanh, both pools, fc layers), a macro network (ENAS: all six layer types,
 * concatenated skips, pooling of every node), a morph network (1x1 skip convolutions summed into
 * units, across a max and an average pool) and a DARTS network without the auxiliary head (5x5
 * separable and dilated convolutions, average pooling, factorized reduce); export_check.h's
 * xc_space_nets. Each is trained briefly (once per build, export_check.h) and exported:
 *
 *   - ONNX: onnx.checker (full check) and ONNX Runtime (onnxruntime-node);
 *   - PyTorch: eval-mode logits; train mode gives every parameter a finite gradient and one SGD
 *     step changes the loss (tests/export/torch_run.py);
 *   - C float: compiled by gcc and clang with -std=c99 -O2 -Wall -Wextra -pedantic -Werror, run on
 *     the images by a small driver;
 *
 * and each format's logits on the first 500 test images must agree with `nasc predict --logits`
 * to 1e-4 (max abs) with the same accuracy. C int8 (--quantize int8 --calibration fashion-mnist)
 * must compile clean with both compilers, run, give finite logits and weights under 3/4 of the
 * float's bytes; it is not exact, so its accuracy is printed beside the float's, not compared.
 * A format whose tool is absent (node/npm, python3-torch, clang) is skipped with a message. */
// ctest: labels=slow timeout=900
#include "test.h"

#include "export_check.h"

enum { N_IMAGES = 500 };

static xc_ctx c;

/* The C export of net (float, then int8): both compilers, the float logits against want. */
static void check_c(const xc_net *net, const char *model, const float *want, bool have_clang) {
    const char *pixels = xc_pixels(&c, N_IMAGES);
    if (!pixels || !want)
        return;
    char pix[320], sub[520], sub8[530];
    snprintf(pix, sizeof pix, "%s", pixels);
    snprintf(sub, sizeof sub, "%s/%s_c", c.dir, net->name);
    snprintf(sub8, sizeof sub8, "%s/%s_c8", c.dir, net->name);
    const char *ccs[] = {"gcc", "clang"};
    int rc = xc_c_export(&c, model, sub, "");
    CHECK_MSG(rc == 0, "%s: nasc export --format c exited %d", net->name, rc);
    if (rc) {
        char p[300];
        snprintf(p, sizeof p, "%s/export.log", c.dir);
        xc_tail(p);
        return;
    }
    size_t wb = 0, ab = 0, wb8 = 0, ab8 = 0;
    xc_c_header_sizes(sub, &wb, &ab);
    CHECK_MSG(wb > 0 && ab > 0, "%s: header sizes %zu %zu", net->name, wb, ab);
    for (int k = 0; k < 2; k++) {
        if (k == 1 && !have_clang) {
            printf("skipped %s/c/clang: clang is not installed\n", net->name);
            continue;
        }
        if (!xc_c_build(&c, sub, ccs[k], "", ccs[k]))
            continue;
        float *got = xc_c_run(&c, sub, ccs[k], "", pix, N_IMAGES);
        char what[64];
        snprintf(what, sizeof what, "%s/c/%s", net->name, ccs[k]);
        if (got)
            xc_compare(what, got, want, N_IMAGES, XC_K, c.labels, 1e-4);
        nasc_free(got);
    }

    rc = xc_c_export(&c, model, sub8, "--quantize int8 --calibration fashion-mnist");
    CHECK_MSG(rc == 0, "%s: nasc export --format c --quantize int8 exited %d", net->name, rc);
    if (rc)
        return;
    xc_c_header_sizes(sub8, &wb8, &ab8);
    /* int8 weights are a quarter of the float bytes, but each output channel adds an int32 bias,
     * multiplier and a shift (9 bytes), and each element-wise op a 256-entry table (per channel
     * for an affine): at C=8 (macro, DARTS) that is nearly half of what is saved */
    CHECK_MSG(wb8 > 0 && wb8 < wb * 3 / 4, "%s: int8 weight bytes %zu vs float %zu", net->name,
              wb8, wb);
    bool built = true;
    for (int k = 0; k < 2; k++)
        if (k == 0 || have_clang)
            built &= xc_c_build(&c, sub8, ccs[k], "", ccs[k]);
    float *got = built ? xc_c_run(&c, sub8, "gcc", "", pix, N_IMAGES) : NULL;
    if (got) {
        int ok8 = 0, okf = 0, agree = 0, finite = 1;
        for (int i = 0; i < N_IMAGES; i++) {
            int b8 = 0, bf = 0;
            for (int k = 0; k < XC_K; k++) {
                finite &= isfinite(got[i * XC_K + k]);
                b8 = got[i * XC_K + k] > got[i * XC_K + b8] ? k : b8;
                bf = want[i * XC_K + k] > want[i * XC_K + bf] ? k : bf;
            }
            ok8 += b8 == c.labels[i];
            okf += bf == c.labels[i];
            agree += b8 == bf;
        }
        CHECK_MSG(finite, "%s: int8 logits not finite", net->name);
        printf("%-11s %d images: int8 C accuracy %.2f%% vs float %.2f%%, argmax agrees with float "
               "on %.2f%%; weight bytes %zu vs %zu (%.1f%% fewer), arena %zu vs %zu\n",
               net->name, N_IMAGES, 100.0 * ok8 / N_IMAGES, 100.0 * okf / N_IMAGES,
               100.0 * agree / N_IMAGES, wb8, wb, 100.0 * (1.0 - (double)wb8 / (double)wb), ab8,
               ab);
    }
    nasc_free(got);
}

/* Prints the lines of the log that start with prefix (torch_run.py's train-mode summaries). */
static void print_log_lines(const char *prefix) {
    FILE *f = fopen(c.log, "r");
    char line[1024];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, prefix, strlen(prefix)))
            fputs(line, stdout);
    if (f)
        fclose(f);
}

int main(void) {
    xc_begin(&c, "export_spaces");
    const bool onnx = xc_onnx_ready(&c), torch = xc_torch_ready(), have_clang = xc_have("clang");
    if (!have_clang)
        printf("skipped clang builds: clang is not installed\n");
    CHECK(xc_c_driver(&c));
    for (int i = 0; i < XC_N_SPACE_NETS; i++) {
        const xc_net *net = &xc_space_nets[i];
        char model[600];
        const double t0 = xc_now();
        float *want = xc_model(&c, net, N_IMAGES, model, sizeof model);
        const double t1 = xc_now();
        if (onnx)
            xc_check_onnx(&c, net, model, N_IMAGES, want);
        const double t2 = xc_now();
        if (torch)
            xc_check_torch(&c, net, model, N_IMAGES, want);
        const double t3 = xc_now();
        check_c(net, model, want, have_clang);
        printf("%-11s model and nasc's logits %.1f s, onnx %.1f s, pytorch %.1f s, c %.1f s\n",
               net->name, t1 - t0, t2 - t1, t3 - t2, xc_now() - t3);
        nasc_free(want);
    }
    print_log_lines("torch "); /* chain, macro, morph, darts_noaux in that order */
    return xc_end(&c, "test_export_spaces");
}
