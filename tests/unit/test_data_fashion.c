/* test_data_fashion.c — the real Fashion-MNIST as installed by Debian's dataset-fashion-mnist
 * (skipped, exit 77, when it is not installed). Expected values were read once with Python's gzip
 * module from /usr/share/datasets/fashion-mnist and are hard-coded here. */
#include "test.h"

#include "nasc/data.h"

#include <unistd.h>

typedef struct px_case {
    int n, h, w, value;
} px_case;

static void check_split(nasc_split split, int n, const int first_labels[10], const px_case *px,
                        int n_px, long long sum_image0) {
    nasc_err err = {0};
    nasc_dataset *ds = NULL;
    CHECK_STATUS(nasc_dataset_load("fashion-mnist", split, &ds, &err), NASC_OK);
    if (!ds) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK(ds->n == n);
    CHECK(ds->h == 28 && ds->w == 28 && ds->c == 1);
    CHECK(ds->n_classes == 10);
    CHECK(!strcmp(ds->name, "fashion-mnist"));
    CHECK_CLOSE(ds->mean[0], 0.2860, 0, 1e-7);
    CHECK_CLOSE(ds->std[0], 0.3530, 0, 1e-7);
    int hist[10] = {0};
    for (int i = 0; i < ds->n; i++)
        if (ds->labels[i] >= 0 && ds->labels[i] < 10)
            hist[ds->labels[i]]++;
    for (int c = 0; c < 10; c++)
        CHECK_MSG(hist[c] == n / 10, "class %d: %d images, expected %d", c, hist[c], n / 10);
    for (int i = 0; i < 10; i++)
        CHECK_MSG(ds->labels[i] == first_labels[i], "label %d = %d, expected %d", i,
                  (int)ds->labels[i], first_labels[i]);
    for (int k = 0; k < n_px; k++) {
        int v = ds->images[(size_t)px[k].n * 784 + (size_t)px[k].h * 28 + (size_t)px[k].w];
        CHECK_MSG(v == px[k].value, "pixel (%d,%d,%d) = %d, expected %d", px[k].n, px[k].h, px[k].w,
                  v, px[k].value);
    }
    long long sum = 0;
    for (int i = 0; i < 784; i++)
        sum += ds->images[i];
    CHECK(sum == sum_image0);

    /* A plain evaluation loader over it: first batch is (pixel/255 - 0.2860)/0.3530. */
    nasc_loader_config cfg = {.batch = 256};
    nasc_loader *ld = NULL;
    CHECK_STATUS(nasc_loader_new(ds, &cfg, &ld, &err), NASC_OK);
    if (ld) {
        CHECK(nasc_loader_n_batches(ld) == (size_t)(n + 255) / 256);
        nasc_batch b;
        CHECK(nasc_loader_next(ld, &b));
        CHECK(b.n == 256);
        const size_t at = (size_t)px[0].h * 28 + (size_t)px[0].w;
        CHECK_CLOSE(b.x[at], (px[0].value / 255.0f - 0.2860f) / 0.3530f, 1e-6, 1e-6);
        CHECK(b.labels[0] == first_labels[0]);
        nasc_loader_free(ld);
    }
    nasc_dataset_free(ds);
}

int main(void) {
    unsetenv("NASC_DATA_DIR");
    if (access(NASC_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", R_OK) != 0) {
        printf("test_data_fashion: skipped (%s not installed; apt-get install "
               "dataset-fashion-mnist)\n",
               NASC_FASHION_MNIST_DIR);
        return 77;
    }
    const int train_labels[10] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
    const px_case train_px[] = {
        {0, 14, 14, 217}, {0, 10, 20, 210}, {1, 5, 5, 226}, {123, 20, 7, 62}, {59999, 14, 14, 0}};
    check_split(NASC_SPLIT_TRAIN, 60000, train_labels, train_px, 5, 76247);
    const int test_labels[10] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
    const px_case test_px[] = {
        {0, 14, 14, 110}, {0, 10, 20, 157}, {1, 5, 5, 248}, {123, 20, 7, 227}, {9999, 14, 14, 132}};
    check_split(NASC_SPLIT_TEST, 10000, test_labels, test_px, 5, 33456);
    /* With NASC_DATA_DIR set but holding no fashion-mnist folder, Debian's files are used. */
    setenv("NASC_DATA_DIR", "/nonexistent", 1);
    nasc_dataset *fb = NULL;
    nasc_err fe = {0};
    CHECK_STATUS(nasc_dataset_load("fashion-mnist", NASC_SPLIT_TEST, &fb, &fe), NASC_OK);
    CHECK(fb && fb->n == 10000);
    nasc_dataset_free(fb);
    unsetenv("NASC_DATA_DIR");
    /* The explicit directory form reads the same files. */
    nasc_err err = {0};
    nasc_dataset *ds = NULL;
    CHECK_STATUS(
        nasc_dataset_load("fashion-mnist:" NASC_FASHION_MNIST_DIR, NASC_SPLIT_TEST, &ds, &err),
        NASC_OK);
    CHECK(ds && ds->n == 10000 && ds->labels[9999] == 5);
    nasc_dataset_free(ds);
    return test_done("test_data_fashion");
}
