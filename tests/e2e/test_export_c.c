/* test_export_c.c — `nasc export --format c` end to end, checked by C compilers, not by nasc.
 *
 * For the baseline CNN and an nb201 network (test_export_c_all.c: also a DARTS genotype network
 * at C=16, 8 cells, and a mobilenet-space network, on all 10,000 test images, with gcc and clang),
 * each trained briefly (once per build, export_check.h): the generated NAME.c and NAME.h compile
 * with `-std=c99 -O2 -Wall -Wextra -pedantic -Werror`, a small driver runs NAME_predict on the
 * first test images, and the logits agree with `nasc predict --logits` to 1e-4 (max abs) with the
 * same accuracy. The header's sizes are checked against the graph. int8 (--quantize int8
 * --calibration fashion-mnist) compiles the same way and agrees with the float export on at
 * least 95 % of the argmaxes (within 3 points of accuracy) on the briefly trained baseline. The
 * nb201 export also runs under ASan + UBSan and under valgrind (a few images). Bad input: an
 * unknown format, an unwritable output path, a corrupt model, int8 without calibration: exit 2
 * and no file left. */
// ctest: labels=slow timeout=900
#include "test.h"

#include "export_check.h"

#include "nasc/export_c.h"

#ifndef XC_ALL
#define XC_ALL 0
#endif

static xc_ctx c; /* the scratch directory c.dir, the log, the labels */

static void bad_input(const char *cli, const char *model) {
    char log[512], cmd[4096], sub[300];
    snprintf(log, sizeof log, "%s/bad.log", c.dir);
    snprintf(sub, sizeof sub, "%s/bad", c.dir);
    /* unknown format */
    snprintf(cmd, sizeof cmd, "mkdir -p %s && %s export --model %s --format tflite --out %s/x",
             sub, cli, model, sub);
    const char *argv[] = {"sh", "-c", cmd, NULL};
    CHECK(xc_run(log, argv) == 2);
    /* int8 without calibration; unknown quantization */
    CHECK(xc_c_export(&c, model, sub, "--quantize int8") == 2);
    CHECK(xc_c_export(&c, model, sub, "--quantize int4 --calibration fashion-mnist") == 2);
    /* unwritable output: a directory that does not exist */
    snprintf(cmd, sizeof cmd, "%s export --model %s --format c --out %s/no/such/dir/net.c", cli,
             model, sub);
    CHECK(xc_run(log, argv) == 2);
    /* a corrupt model: one flipped byte in the middle of the weights */
    char bad[400];
    snprintf(bad, sizeof bad, "%s/corrupt.nasc", sub);
    snprintf(cmd, sizeof cmd,
             "cp %s %s && printf '\\377' | dd of=%s bs=1 seek=2000 conv=notrunc 2>/dev/null && "
             "%s export --model %s --format c --out %s/net.c",
             model, bad, bad, cli, bad, sub);
    CHECK(xc_run(log, argv) == 2);
    /* a truncated one */
    snprintf(cmd, sizeof cmd,
             "head -c 1000 %s > %s && %s export --model %s --format c --out %s/net.c", model, bad,
             cli, bad, sub);
    CHECK(xc_run(log, argv) == 2);
    /* nothing written by any of them (and no .tmp left) */
    snprintf(cmd, sizeof cmd, "ls %s | grep -v corrupt.nasc | grep .", sub);
    CHECK_MSG(xc_run("/dev/null", argv) != 0, "bad input left files in %s", sub);
}

/* int8 export of the baseline: compiles, weights under a third of the float's, and logits close
 * to the float ones relative to their spread around each row's mean (a briefly trained net has
 * small margins, so argmaxes alone say little). */
static void check_int8(const char *model, const char *sub, size_t wb, const float *want,
                       const char *pixels, int n) {
    char sub8[520];
    snprintf(sub8, sizeof sub8, "%s8", sub);
    const int rc = xc_c_export(&c, model, sub8, "--quantize int8 --calibration fashion-mnist");
    CHECK_MSG(rc == 0, "int8 export exited %d", rc);
    size_t wb8, ab8;
    xc_c_header_sizes(sub8, &wb8, &ab8);
    CHECK_MSG(rc == 0 && wb8 < wb / 3, "int8 weight bytes %zu vs float %zu", wb8, wb);
    if (rc != 0 || !xc_c_build(&c, sub8, "gcc", "", "gcc"))
        return;
    float *got = xc_c_run(&c, sub8, "gcc", "", pixels, n);
    const int32_t *labels = c.labels;
    if (got && want) {
        int agree = 0, ok8 = 0, okf = 0;
        double err_sum = 0.0, spread = 0.0;
        for (int i = 0; i < n; i++) {
            int b8 = 0, bf = 0;
            double mean = 0.0;
            for (int k = 0; k < 10; k++)
                mean += want[i * 10 + k] / 10.0;
            for (int k = 0; k < 10; k++) {
                err_sum += fabs((double)got[i * 10 + k] - want[i * 10 + k]);
                spread += fabs(want[i * 10 + k] - mean);
            }
            for (int k = 1; k < 10; k++) {
                b8 = got[i * 10 + k] > got[i * 10 + b8] ? k : b8;
                bf = want[i * 10 + k] > want[i * 10 + bf] ? k : bf;
            }
            agree += b8 == bf;
            ok8 += b8 == labels[i];
            okf += bf == labels[i];
        }
        printf("baseline int8 %d images: mean abs logit error %.3g of spread %.3g, argmax agrees "
               "with float on %.2f%%, accuracy %.2f%% vs %.2f%%\n",
               n, err_sum / (10.0 * n), spread / (10.0 * n), 100.0 * agree / n, 100.0 * ok8 / n,
               100.0 * okf / n);
        CHECK_MSG(err_sum <= 0.1 * spread, "int8 logit error %.3g > 10%% of %.3g", err_sum,
                  spread);
        CHECK_MSG(agree >= 0.85 * n, "int8 argmax agreement %d of %d", agree, n);
        CHECK_MSG(abs(ok8 - okf) <= 0.03 * n, "int8 accuracy %d vs %d", ok8, okf);
    }
    nasc_free(got);
}

int main(void) {
    xc_begin(&c, "export_c");
    const bool have_clang = xc_have("clang"), have_valgrind = xc_have("valgrind");
    const int n = XC_ALL ? XC_N_TEST : 300;
    const char *px = xc_pixels(&c, n);
    char pixels[320], p[512];
    snprintf(pixels, sizeof pixels, "%s", px ? px : "");
    CHECK(xc_c_driver(&c));

    for (int t = 0; t < XC_N_NETS; t++) {
        const xc_net *net = &xc_nets[t];
        const bool small = !strcmp(net->name, "baseline") || !strcmp(net->name, "nb201");
        if (!XC_ALL && !small)
            continue;
        char model[600], sub[512];
        snprintf(sub, sizeof sub, "%s/%s", c.dir, net->name);
        const double t0 = xc_now();
        float *want = xc_model(&c, net, n, model, sizeof model);
        if (!want)
            continue;
        const int rc = xc_c_export(&c, model, sub, "");
        CHECK_MSG(rc == 0, "%s: nasc export --format c exited %d", net->name, rc);
        if (rc) {
            snprintf(p, sizeof p, "%s/export.log", c.dir);
            xc_tail(p);
            nasc_free(want);
            continue;
        }
        /* the header's sizes: the weights as float32, a non-empty arena */
        size_t wb, ab;
        xc_c_header_sizes(sub, &wb, &ab);
        CHECK_MSG(wb >= 4 * 100 && ab > 0, "%s: header sizes %zu %zu", net->name, wb, ab);
        const char *ccs[] = {"gcc", "clang"};
        for (int k = 0; k < 2; k++) {
            if ((k == 1 && !have_clang) || (k == 1 && !XC_ALL && t > 0))
                continue;
            if (!xc_c_build(&c, sub, ccs[k], "", ccs[k]))
                continue;
            float *got = xc_c_run(&c, sub, ccs[k], "", pixels, n);
            if (got) {
                char what[64];
                snprintf(what, sizeof what, "%s/%s", net->name, ccs[k]);
                xc_compare(what, got, want, n, XC_K, c.labels, 1e-4);
            }
            nasc_free(got);
        }
        if (!strcmp(net->name, "nb201")) {
            /* sanitizers and valgrind, a few images */
            if (xc_c_build(&c, sub, "gcc",
                           "-g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all",
                           "san")) {
                float *got = xc_c_run(&c, sub, "san", "", pixels, 8);
                if (got)
                    xc_compare("nb201/asan", got, want, 8, XC_K, c.labels, 1e-4);
                nasc_free(got);
            }
            if (have_valgrind && xc_c_build(&c, sub, "gcc", "-g", "vg")) {
                float *got = xc_c_run(&c, sub, "vg", "valgrind -q --error-exitcode=3", pixels, 3);
                if (got)
                    xc_compare("nb201/valgrind", got, want, 3, XC_K, c.labels, 1e-4);
                nasc_free(got);
            }
        }
        if (!strcmp(net->name, "baseline")) {
            check_int8(model, sub, wb, want, pixels, n);
            if (!XC_ALL)
                bad_input(c.cli, model);
        }
        nasc_free(want);
        printf("%s: %.1f s\n", net->name, xc_now() - t0);
    }
    return xc_end(&c, XC_ALL ? "test_export_c_all" : "test_export_c");
}
