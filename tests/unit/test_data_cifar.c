/* test_data_cifar.c — CIFAR-10 and CIFAR-100 binary batches written at run time: CHW -> HWC
 * conversion, labels, the extracted-subfolder lookup, .gz batches, the official record counts
 * (full-size test batches), and every validation error with file name and byte offset. Small
 * fixtures use the NASC_TEST hook that lowers the records expected per file. */
#include "test.h"

#include "data/data_int.h"
#include "nasc/data.h"
#include "unit/data_fixtures.h"

static char root[128];

static int check_images(const nasc_dataset *ds, int n, int n_classes) {
    int bad = 0;
    for (int i = 0; i < n && bad < 5; i++) {
        if (ds->labels[i] != i % n_classes) {
            fprintf(stderr, "  label %d = %d\n", i, (int)ds->labels[i]);
            bad++;
        }
        for (int h = 0; h < 32; h++)
            for (int w = 0; w < 32; w++)
                for (int c = 0; c < 3; c++) {
                    uint8_t got =
                        ds->images[(size_t)i * 3072 + ((size_t)h * 32 + (size_t)w) * 3 + (size_t)c];
                    if (got != fx_cifar_pixel(i, c, h, w) && bad++ < 5)
                        fprintf(stderr, "  image %d (h %d, w %d, c %d) = %d, expected %d\n", i, h,
                                w, c, got, fx_cifar_pixel(i, c, h, w));
                }
    }
    return bad;
}

static void write_c10(const char *dir, int per_file, int gz_test) {
    for (int k = 0; k < 5; k++) {
        char name[64];
        snprintf(name, sizeof name, "data_batch_%d.bin", k + 1);
        fx_buf b = fx_cifar(k * per_file, per_file, 1, 10);
        fx_write_buf(dir, name, b);
        fx_free(&b);
    }
    fx_buf t = fx_cifar(0, per_file, 1, 10);
    if (gz_test) {
        fx_buf z = fx_gzip(t);
        fx_write_buf(dir, "test_batch.bin.gz", z);
        fx_free(&z);
    } else {
        fx_write_buf(dir, "test_batch.bin", t);
    }
    fx_free(&t);
}

static void expect_err(const char *spec, nasc_split split, nasc_status want, const char *file,
                       long long offset, const char *needle) {
    nasc_err err = {0};
    nasc_dataset *ds = NULL;
    CHECK_STATUS(nasc_dataset_load(spec, split, &ds, &err), want);
    CHECK(ds == NULL);
    nasc_dataset_free(ds);
    CHECK_STR_CONTAINS(err.msg, file);
    CHECK_STR_CONTAINS(err.path, file);
    if (offset >= -1)
        CHECK_MSG(err.offset == offset, "offset %lld, expected %lld (%s)", (long long)err.offset,
                  offset, err.msg);
    CHECK_STR_CONTAINS(err.msg, needle);
}

static void test_cifar10(void) {
    char dir[256], sub[300], spec[400];
    nasc_data_test_cifar_records(3);
    /* batches in DIR/cifar-10-batches-bin, test batch gzipped */
    snprintf(dir, sizeof dir, "%s/c10", root);
    mkdir(dir, 0755);
    fx_mkdir(dir, "cifar-10-batches-bin", sub, sizeof sub);
    write_c10(sub, 3, 1);
    snprintf(spec, sizeof spec, "cifar10:%s", dir);
    nasc_err err = {0};
    nasc_dataset *ds = NULL;
    CHECK_STATUS(nasc_dataset_load(spec, NASC_SPLIT_TRAIN, &ds, &err), NASC_OK);
    if (ds) {
        CHECK(ds->n == 15 && ds->h == 32 && ds->w == 32 && ds->c == 3 && ds->n_classes == 10);
        CHECK(!strcmp(ds->name, "cifar10"));
        CHECK(check_images(ds, 15, 10) == 0);
        CHECK_CLOSE(ds->mean[1], 0.4822, 0, 1e-7);
        CHECK_CLOSE(ds->std[2], 0.2616, 0, 1e-7);
    }
    nasc_dataset_free(ds);
    ds = NULL;
    CHECK_STATUS(nasc_dataset_load(spec, NASC_SPLIT_TEST, &ds, &err), NASC_OK);
    CHECK(ds && ds->n == 3 && check_images(ds, 3, 10) == 0);
    nasc_dataset_free(ds);
    /* the folder itself works too */
    snprintf(spec, sizeof spec, "cifar10:%s", sub);
    ds = NULL;
    CHECK_STATUS(nasc_dataset_load(spec, NASC_SPLIT_TEST, &ds, &err), NASC_OK);
    CHECK(ds && ds->n == 3);
    nasc_dataset_free(ds);

    /* errors, each in a fresh copy */
    const long long rec = 3073, total = 3 * rec;
    char want[160];
    snprintf(dir, sizeof dir, "%s/c10_err", root);
    mkdir(dir, 0755);
    snprintf(spec, sizeof spec, "cifar10:%s", dir);
    write_c10(dir, 3, 0);
    fx_buf b = fx_cifar(6, 3, 1, 10);
    b.n -= 73;
    fx_write_buf(dir, "data_batch_3.bin", b);
    snprintf(want, sizeof want, "truncated at byte %lld (expected %lld bytes)", total - 73, total);
    expect_err(spec, NASC_SPLIT_TRAIN, NASC_ERR_FORMAT, "data_batch_3.bin", total - 73, want);
    b.n += 73;
    b.p[2 * rec] = 10; /* record 2's label */
    fx_write_buf(dir, "data_batch_3.bin", b);
    snprintf(want, sizeof want, "byte %lld: label 10 out of range [0,9]", 2 * rec);
    expect_err(spec, NASC_SPLIT_TRAIN, NASC_ERR_FORMAT, "data_batch_3.bin", 2 * rec, want);
    fx_free(&b);
    b = fx_cifar(0, 4, 1, 10); /* one record too many */
    fx_write_buf(dir, "test_batch.bin", b);
    snprintf(want, sizeof want, "byte %lld: 3073 trailing bytes (expected %lld bytes)", total,
             total);
    expect_err(spec, NASC_SPLIT_TEST, NASC_ERR_FORMAT, "test_batch.bin", total, want);
    fx_free(&b);
    char path[512];
    snprintf(path, sizeof path, "%s/data_batch_5.bin", dir);
    unlink(path);
    expect_err(spec, NASC_SPLIT_TRAIN, NASC_ERR_IO, "data_batch_5.bin", -1,
               "file not found (nor data_batch_5.bin.gz)");
    nasc_data_test_cifar_records(0);
}

static void test_cifar100(void) {
    char dir[256], sub[300], spec[400];
    nasc_data_test_cifar_records(4);
    snprintf(dir, sizeof dir, "%s/c100", root);
    mkdir(dir, 0755);
    fx_mkdir(dir, "cifar-100-binary", sub, sizeof sub);
    fx_buf tr = fx_cifar(0, 4, 2, 100), te = fx_cifar(0, 4, 2, 100);
    fx_write_buf(sub, "train.bin", tr);
    fx_write_buf(sub, "test.bin", te);
    snprintf(spec, sizeof spec, "cifar100:%s", dir);
    nasc_err err = {0};
    nasc_dataset *ds = NULL;
    CHECK_STATUS(nasc_dataset_load(spec, NASC_SPLIT_TRAIN, &ds, &err), NASC_OK);
    if (ds) {
        CHECK(ds->n == 4 && ds->n_classes == 100 && ds->c == 3);
        CHECK(!strcmp(ds->name, "cifar100"));
        CHECK(check_images(ds, 4, 100) == 0);
        CHECK_CLOSE(ds->mean[0], 0.5071, 0, 1e-7);
        CHECK_CLOSE(ds->std[1], 0.2564, 0, 1e-7);
    }
    nasc_dataset_free(ds);
    /* fine label 100 in record 1 (byte 3074 + 1), then coarse label 20 in record 2 */
    const long long rec = 3074;
    te.p[rec + 1] = 100;
    fx_write_buf(sub, "test.bin", te);
    expect_err(spec, NASC_SPLIT_TEST, NASC_ERR_FORMAT, "test.bin", rec + 1,
               "byte 3075: label 100 out of range [0,99]");
    te.p[rec + 1] = 1;
    te.p[2 * rec] = 20;
    fx_write_buf(sub, "test.bin", te);
    expect_err(spec, NASC_SPLIT_TEST, NASC_ERR_FORMAT, "test.bin", 2 * rec,
               "byte 6148: coarse label 20 out of range [0,19]");
    fx_free(&tr);
    fx_free(&te);
    nasc_data_test_cifar_records(0);
}

/* The official counts, without the hook: full-size test batches (10000 records, 30 MB each). */
static void test_official_counts(void) {
    char dir[256], spec[400];
    snprintf(dir, sizeof dir, "%s/full", root);
    mkdir(dir, 0755);
    fx_buf t10 = fx_cifar(0, 10000, 1, 10);
    fx_write_buf(dir, "test_batch.bin", t10);
    snprintf(spec, sizeof spec, "cifar10:%s", dir);
    nasc_err err = {0};
    nasc_dataset *ds = NULL;
    CHECK_STATUS(nasc_dataset_load(spec, NASC_SPLIT_TEST, &ds, &err), NASC_OK);
    CHECK(ds && ds->n == 10000 && check_images(ds, 10000, 10) == 0);
    nasc_dataset_free(ds);
    /* one record short of the official count */
    t10.n -= 3073;
    fx_write_buf(dir, "test_batch.bin", t10);
    expect_err(spec, NASC_SPLIT_TEST, NASC_ERR_FORMAT, "test_batch.bin", 30730000 - 3073,
               "truncated at byte 30726927 (expected 30730000 bytes)");
    fx_free(&t10);

    fx_buf t100 = fx_cifar(0, 10000, 2, 100);
    fx_write_buf(dir, "test.bin", t100);
    snprintf(spec, sizeof spec, "cifar100:%s", dir);
    ds = NULL;
    CHECK_STATUS(nasc_dataset_load(spec, NASC_SPLIT_TEST, &ds, &err), NASC_OK);
    CHECK(ds && ds->n == 10000 && ds->labels[9999] == 99);
    nasc_dataset_free(ds);
    fx_free(&t100);
    /* train.bin must hold 50000 records */
    fx_buf small = fx_cifar(0, 10, 2, 100);
    fx_write_buf(dir, "train.bin", small);
    expect_err(spec, NASC_SPLIT_TRAIN, NASC_ERR_FORMAT, "train.bin", 30740,
               "truncated at byte 30740 (expected 153700000 bytes)");
    fx_free(&small);
}

int main(void) {
    fx_mkdtemp(root, sizeof root, "data_cifar");
    test_cifar10();
    test_cifar100();
    test_official_counts();
    fx_rmtree(root);
    return test_done("test_data_cifar");
}
