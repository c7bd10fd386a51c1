/* timing.c — the C export against nasc itself, in one process (bench/export_c/run.sh builds it
 * with the two generated files netf.c (float32) and netq.c (int8) and libnasc):
 *   accuracy of nasc (nasc_predict), float C and int8 C on the whole test set;
 *   latency of one image and of a batch of 64 for each, median of repeated runs, one thread.
 * With DIR, it also writes what ort_time.js needs to measure ONNX Runtime the same way:
 * DIR/pixels.f32 (the test images, raw float32 NCHW in [0,1]), DIR/labels.u8 and DIR/int8_ms
 * (the int8 C's single-image and batch-64 latencies).
 * usage: timing MODEL.nasc [REPS [DIR]] (REPS at most 16) */
#include "netf.h"
#include "netq.h"
#include "train_opts.h"

#include "nasc/arena.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

typedef int (*predict_fn)(const float *, float *);

/* Seconds for images [0, n) of px through fn, median over reps. */
static double time_c(predict_fn fn, const float *px, size_t per, int n, int reps) {
    double t[64];
    float lg[NETF_N_CLASSES];
    for (int r = 0; r < reps; r++) {
        const double t0 = now();
        for (int i = 0; i < n; i++)
            (void)fn(px + (size_t)i * per, lg);
        t[r] = now() - t0;
    }
    return median(t, reps);
}

static double time_nasc(nasc_model *m, const nasc_dataset *ds, int batch, float *lg, int reps) {
    double t[64];
    nasc_err err = {0};
    for (int r = 0; r < reps; r++) {
        const double t0 = now();
        if (nasc_predict(m, ds, NULL, 1, batch, lg, NULL, &err) != NASC_OK) {
            fprintf(stderr, "nasc_predict: %s\n", err.msg);
            exit(1);
        }
        t[r] = now() - t0;
    }
    return median(t, reps);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: timing MODEL.nasc [REPS [DIR]]\n");
        return 2;
    }
    const int reps = argc > 2 ? atoi(argv[2]) : 15;
    if (reps < 1 || reps > 16) { /* 4 x REPS single-image runs fill t[64] */
        fprintf(stderr, "timing: REPS must be in 1..16 (%s)\n", argv[2]);
        return 2;
    }
    nasc_err err = {0};
    nasc_model *m = NULL;
    nasc_dataset *test = NULL, *one = NULL, *b64 = NULL;
    if (cli_model_from_file(argv[1], &m, &err) ||
        nasc_dataset_load("fashion-mnist", NASC_SPLIT_TEST, &test, &err)) {
        fprintf(stderr, "timing: %s\n", err.msg);
        return 1;
    }
    const int n = test->n, K = NETF_N_CLASSES;
    const size_t per = nasc_dataset_image_bytes(test); /* one channel: NHWC == NCHW */
    float *px = malloc((size_t)n * per * sizeof *px), *lg = malloc((size_t)n * K * sizeof *lg);
    float *lf = malloc((size_t)K * sizeof *lf), *lq = malloc((size_t)K * sizeof *lq);
    for (size_t i = 0; i < (size_t)n * per; i++)
        px[i] = test->images[i] / 255.0f;
    /* accuracy: nasc, float C, int8 C on every test image */
    if (nasc_predict(m, test, NULL, 2, 256, lg, NULL, &err) != NASC_OK) {
        fprintf(stderr, "timing: %s\n", err.msg);
        return 1;
    }
    int ok_n = 0, ok_f = 0, ok_q = 0, agree_fq = 0;
    double max_diff = 0.0;
    for (int i = 0; i < n; i++) {
        const int cf = netf_predict(px + (size_t)i * per, lf);
        const int cq = netq_predict(px + (size_t)i * per, lq);
        int cn = 0;
        for (int k = 0; k < K; k++) {
            cn = lg[i * K + k] > lg[i * K + cn] ? k : cn;
            const double d = lf[k] > lg[i * K + k] ? lf[k] - lg[i * K + k] : lg[i * K + k] - lf[k];
            max_diff = d > max_diff ? d : max_diff;
        }
        ok_n += cn == test->labels[i];
        ok_f += cf == test->labels[i];
        ok_q += cq == test->labels[i];
        agree_fq += cf == cq;
    }
    printf("accuracy on %d test images: nasc %.2f%%, float C %.2f%% (max abs logit diff %.2g), "
           "int8 C %.2f%% (drop %.2f points; argmax agrees with float C on %.2f%%)\n",
           n, 100.0 * ok_n / n, 100.0 * ok_f / n, max_diff, 100.0 * ok_q / n,
           100.0 * (ok_f - ok_q) / n, 100.0 * agree_fq / n);
    printf("bytes: float C weights %d, int8 C weights %d (%.1f%% saved); arena float %d, int8 %d\n",
           (int)NETF_WEIGHT_BYTES, (int)NETQ_WEIGHT_BYTES,
           100.0 * (1.0 - (double)NETQ_WEIGHT_BYTES / (double)NETF_WEIGHT_BYTES),
           (int)NETF_ARENA_BYTES, (int)NETQ_ARENA_BYTES);

    /* latency, one thread everywhere */
    uint32_t idx[64];
    for (int i = 0; i < 64; i++)
        idx[i] = (uint32_t)i;
    if (nasc_dataset_subset(test, idx, 1, &one, &err) ||
        nasc_dataset_subset(test, idx, 64, &b64, &err)) {
        fprintf(stderr, "timing: %s\n", err.msg);
        return 1;
    }
    (void)time_nasc(m, b64, 64, lg, 2); /* warm up */
    const double n1 = time_nasc(m, one, 1, lg, reps), n64 = time_nasc(m, b64, 64, lg, reps);
    const double f1 = time_c(netf_predict, px, per, 1, reps * 4);
    const double f64 = time_c(netf_predict, px, per, 64, reps);
    const double q1 = time_c(netq_predict, px, per, 1, reps * 4);
    const double q64 = time_c(netq_predict, px, per, 64, reps);
    printf("latency (1 thread, median of %d): single image / batch 64 (ms)\n", reps);
    printf("  nasc predict (engine)  %8.3f  %9.3f\n", n1 * 1e3, n64 * 1e3);
    printf("  float C                %8.3f  %9.3f\n", f1 * 1e3, f64 * 1e3);
    printf("  int8 C                 %8.3f  %9.3f\n", q1 * 1e3, q64 * 1e3);
    printf("ratios: int8 C vs float C %.2fx / %.2fx faster; float C vs nasc %.2fx / %.2fx; "
           "int8 C vs nasc %.2fx / %.2fx\n",
           f1 / q1, f64 / q64, n1 / f1, n64 / f64, n1 / q1, n64 / q64);
    if (argc > 3) {
        char p[4096];
        snprintf(p, sizeof p, "%s/pixels.f32", argv[3]);
        FILE *f = fopen(p, "wb");
        bool ok = f && fwrite(px, sizeof *px, (size_t)n * per, f) == (size_t)n * per;
        ok = f && fclose(f) == 0 && ok;
        snprintf(p, sizeof p, "%s/labels.u8", argv[3]);
        f = fopen(p, "wb");
        for (int i = 0; f && i < n; i++)
            ok = ok && fputc(test->labels[i], f) != EOF;
        ok = f && fclose(f) == 0 && ok;
        snprintf(p, sizeof p, "%s/int8_ms", argv[3]);
        f = fopen(p, "w");
        ok = ok && f && fprintf(f, "%.6f %.6f\n", q1 * 1e3, q64 * 1e3) > 0;
        ok = f && fclose(f) == 0 && ok;
        if (!ok) {
            fprintf(stderr, "timing: cannot write the ONNX Runtime inputs into %s\n", argv[3]);
            return 1;
        }
    }
    free(px), free(lg), free(lf), free(lq);
    nasc_dataset_free(one), nasc_dataset_free(b64), nasc_dataset_free(test);
    nasc_model_free(m);
    return 0;
}
