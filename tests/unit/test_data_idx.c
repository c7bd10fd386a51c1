/* test_data_idx.c — MNIST-style idx files written at run time, plain and gzip: contents as
 * written, and every validation error with its message (file name and byte offset), err->path
 * and err->offset. Also the dataset spec strings. */
#include "test.h"

#include "nasc/arena.h"
#include "nasc/data.h"
#include "unit/data_fixtures.h"

static char root[128];

/* Loads spec and expects status want; the message must contain each non-NULL needle, err->path
 * must end with file (if given), err->offset must equal offset (if >= -1). */
static void expect_err(const char *spec, nasc_split split, nasc_status want, const char *file,
                       long long offset, const char *needle1, const char *needle2) {
    nasc_err err = {0};
    nasc_dataset *ds = (nasc_dataset *)1;
    nasc_status st = nasc_dataset_load(spec, split, &ds, &err);
    CHECK_STATUS(st, want);
    CHECK(ds == NULL);
    if (st == NASC_OK)
        nasc_dataset_free(ds);
    CHECK_MSG(err.code == want, "err.code %d", (int)err.code);
    if (file) {
        size_t lp = strlen(err.path), lf = strlen(file);
        CHECK_MSG(lp >= lf && !strcmp(err.path + lp - lf, file), "err.path '%s' vs '%s'", err.path,
                  file);
        CHECK_STR_CONTAINS(err.msg, file);
    }
    if (offset >= -1)
        CHECK_MSG(err.offset == offset, "offset %lld, expected %lld (%s)", (long long)err.offset,
                  offset, err.msg);
    if (needle1)
        CHECK_STR_CONTAINS(err.msg, needle1);
    if (needle2)
        CHECK_STR_CONTAINS(err.msg, needle2);
}

/* A directory with a valid plain or gz train set of n images; spec written to spec. */
static void fresh_dir(const char *tag, int gz, int n, char *dir, size_t dn, char *spec, size_t sn) {
    snprintf(dir, dn, "%s/%s", root, tag);
    mkdir(dir, 0755);
    fx_write_idx(dir, "train", n, gz);
    snprintf(spec, sn, "fashion-mnist:%s", dir);
}

static void check_contents(const nasc_dataset *ds, int n) {
    CHECK(ds->n == n);
    CHECK(ds->h == 28 && ds->w == 28 && ds->c == 1 && ds->n_classes == 10);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        if (ds->labels[i] != i % 10)
            bad++;
        for (int h = 0; h < 28; h++)
            for (int w = 0; w < 28; w++)
                if (ds->images[(size_t)i * 784 + (size_t)h * 28 + (size_t)w] !=
                    fx_idx_pixel(i, h, w))
                    bad++;
    }
    CHECK_MSG(bad == 0, "%d wrong pixels or labels", bad);
}

static void test_valid(void) {
    for (int gz = 0; gz < 2; gz++) {
        char dir[256], spec[300];
        fresh_dir(gz ? "valid_gz" : "valid_plain", gz, 20, dir, sizeof dir, spec, sizeof spec);
        fx_write_idx(dir, "t10k", 7, gz);
        nasc_err err = {0};
        nasc_dataset *ds = NULL;
        CHECK_STATUS(nasc_dataset_load(spec, NASC_SPLIT_TRAIN, &ds, &err), NASC_OK);
        if (ds) {
            check_contents(ds, 20);
            CHECK(!strcmp(ds->name, "fashion-mnist"));
            CHECK_CLOSE(ds->mean[0], 0.2860, 0, 1e-7);
            CHECK_CLOSE(ds->std[0], 0.3530, 0, 1e-7);
        }
        nasc_dataset_free(ds);
        ds = NULL;
        CHECK_STATUS(nasc_dataset_load(spec, NASC_SPLIT_TEST, &ds, &err), NASC_OK);
        if (ds)
            check_contents(ds, 7);
        nasc_dataset_free(ds);
        /* mnist: same files, its own constants */
        snprintf(spec, sizeof spec, "mnist:%s", dir);
        ds = NULL;
        CHECK_STATUS(nasc_dataset_load(spec, NASC_SPLIT_TRAIN, &ds, &err), NASC_OK);
        if (ds) {
            CHECK(!strcmp(ds->name, "mnist"));
            CHECK_CLOSE(ds->mean[0], 0.1307, 0, 1e-7);
            CHECK_CLOSE(ds->std[0], 0.3081, 0, 1e-7);
        }
        nasc_dataset_free(ds);
    }
    /* one file compressed, the other not; gzip with two members back to back */
    char dir[256], spec[300], path[512];
    fresh_dir("mixed", 0, 12, dir, sizeof dir, spec, sizeof spec);
    fx_buf lb = fx_idx_labels(12), half1 = {lb.p, 10}, half2 = {lb.p + 10, lb.n - 10};
    fx_buf z1 = fx_gzip(half1), z2 = fx_gzip(half2), both = {malloc(z1.n + z2.n), z1.n + z2.n};
    memcpy(both.p, z1.p, z1.n);
    memcpy(both.p + z1.n, z2.p, z2.n);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    unlink(path);
    fx_write_buf(dir, "train-labels-idx1-ubyte.gz", both);
    nasc_err err = {0};
    nasc_dataset *ds = NULL;
    CHECK_STATUS(nasc_dataset_load(spec, NASC_SPLIT_TRAIN, &ds, &err), NASC_OK);
    if (ds)
        check_contents(ds, 12);
    nasc_dataset_free(ds);
    fx_free(&lb);
    fx_free(&z1);
    fx_free(&z2);
    fx_free(&both);
}

/* Writes buffer b as dir/name, gzip-compressed if gz (name gets ".gz"). Removes the other form. */
static void put(const char *dir, const char *base, fx_buf b, int gz) {
    char name[128], path[512];
    snprintf(name, sizeof name, "%s%s", base, gz ? ".gz" : "");
    snprintf(path, sizeof path, "%s/%s%s", dir, base, gz ? "" : ".gz");
    unlink(path);
    if (gz) {
        fx_buf z = fx_gzip(b);
        fx_write_buf(dir, name, z);
        fx_free(&z);
    } else {
        fx_write_buf(dir, name, b);
    }
}

static void test_errors(int gz) {
    char dir[256], spec[300];
    const char *ext = gz ? ".gz" : "";
    char lbl[64], img[64];
    snprintf(lbl, sizeof lbl, "train-labels-idx1-ubyte%s", ext);
    snprintf(img, sizeof img, "train-images-idx3-ubyte%s", ext);
    const int n = 10;
    const long long img_total = 16 + n * 784;
    char want[256];

    /* labels: bad magic (the images magic) */
    fresh_dir(gz ? "e_magic_gz" : "e_magic", gz, n, dir, sizeof dir, spec, sizeof spec);
    fx_buf b = fx_idx_labels(n);
    fx_put_be32(b.p, 0x802);
    put(dir, "train-labels-idx1-ubyte", b, gz);
    expect_err(spec, NASC_SPLIT_TRAIN, NASC_ERR_FORMAT, lbl, 0,
               "byte 0: bad magic 0x00000802 (expected 0x00000801 for labels)", NULL);
    fx_free(&b);
    /* images: bad magic */
    fresh_dir(gz ? "e_magic2_gz" : "e_magic2", gz, n, dir, sizeof dir, spec, sizeof spec);
    b = fx_idx_images(n, 28, 28);
    b.p[2] = 0x09;
    put(dir, "train-images-idx3-ubyte", b, gz);
    expect_err(spec, NASC_SPLIT_TRAIN, NASC_ERR_FORMAT, img, 0,
               "byte 0: bad magic 0x00000903 (expected 0x00000803 for images)", NULL);
    fx_free(&b);
    /* wrong dims (file otherwise self-consistent) */
    fresh_dir(gz ? "e_rows_gz" : "e_rows", gz, n, dir, sizeof dir, spec, sizeof spec);
    b = fx_idx_images(n, 29, 28);
    put(dir, "train-images-idx3-ubyte", b, gz);
    expect_err(spec, NASC_SPLIT_TRAIN, NASC_ERR_FORMAT, img, 8,
               "byte 8: 29 rows per image (expected 28)", NULL);
    fx_free(&b);
    fresh_dir(gz ? "e_cols_gz" : "e_cols", gz, n, dir, sizeof dir, spec, sizeof spec);
    b = fx_idx_images(n, 28, 32);
    put(dir, "train-images-idx3-ubyte", b, gz);
    expect_err(spec, NASC_SPLIT_TRAIN, NASC_ERR_FORMAT, img, 12,
               "byte 12: 32 columns per image (expected 28)", NULL);
    fx_free(&b);
    /* count mismatch: 9 images, 10 labels */
    fresh_dir(gz ? "e_count_gz" : "e_count", gz, n, dir, sizeof dir, spec, sizeof spec);
    b = fx_idx_images(n - 1, 28, 28);
    put(dir, "train-images-idx3-ubyte", b, gz);
    expect_err(spec, NASC_SPLIT_TRAIN, NASC_ERR_FORMAT, img, 4, "byte 4: 9 images but ",
               "holds 10 labels");
    fx_free(&b);
    /* label count 0 */
    fresh_dir(gz ? "e_zero_gz" : "e_zero", gz, n, dir, sizeof dir, spec, sizeof spec);
    b = fx_idx_labels(0);
    put(dir, "train-labels-idx1-ubyte", b, gz);
    expect_err(spec, NASC_SPLIT_TRAIN, NASC_ERR_FORMAT, lbl, 4,
               "byte 4: label count 0 out of range", NULL);
    fx_free(&b);
    /* label out of range: label 3 (byte 11) is 11 */
    fresh_dir(gz ? "e_label_gz" : "e_label", gz, n, dir, sizeof dir, spec, sizeof spec);
    b = fx_idx_labels(n);
    b.p[8 + 3] = 11;
    put(dir, "train-labels-idx1-ubyte", b, gz);
    expect_err(spec, NASC_SPLIT_TRAIN, NASC_ERR_FORMAT, lbl, 11,
               "byte 11: label 11 out of range [0,9]", NULL);
    fx_free(&b);
    b = fx_idx_labels(n);
    b.p[8 + 9] = 10; /* the first value out of range, in the last label */
    put(dir, "train-labels-idx1-ubyte", b, gz);
    expect_err(spec, NASC_SPLIT_TRAIN, NASC_ERR_FORMAT, lbl, 17,
               "byte 17: label 10 out of range [0,9]", NULL);
    fx_free(&b);
    /* truncated body: the images file cut 100 bytes short */
    fresh_dir(gz ? "e_trunc_gz" : "e_trunc", gz, n, dir, sizeof dir, spec, sizeof spec);
    b = fx_idx_images(n, 28, 28);
    b.n -= 100;
    put(dir, "train-images-idx3-ubyte", b, gz);
    snprintf(want, sizeof want, "truncated at byte %lld (expected %lld bytes)", img_total - 100,
             img_total);
    expect_err(spec, NASC_SPLIT_TRAIN, NASC_ERR_FORMAT, img, img_total - 100, want, NULL);
    fx_free(&b);
    /* truncated header */
    fresh_dir(gz ? "e_hdr_gz" : "e_hdr", gz, n, dir, sizeof dir, spec, sizeof spec);
    b = fx_idx_images(n, 28, 28);
    b.n = 10;
    put(dir, "train-images-idx3-ubyte", b, gz);
    expect_err(spec, NASC_SPLIT_TRAIN, NASC_ERR_FORMAT, img, 10,
               "truncated at byte 10 (expected a 16-byte header)", NULL);
    fx_free(&b);
    /* trailing bytes after the last image */
    fresh_dir(gz ? "e_trail_gz" : "e_trail", gz, n, dir, sizeof dir, spec, sizeof spec);
    b = fx_idx_images(n, 28, 28);
    b.p = realloc(b.p, b.n + 5);
    memset(b.p + b.n, 0, 5);
    b.n += 5;
    put(dir, "train-images-idx3-ubyte", b, gz);
    snprintf(want, sizeof want, "byte %lld: %strailing bytes (expected %lld bytes)", img_total,
             gz ? "" : "5 ", img_total);
    expect_err(spec, NASC_SPLIT_TRAIN, NASC_ERR_FORMAT, img, img_total, want, NULL);
    fx_free(&b);
    /* a label file claiming far more labels than it holds */
    fresh_dir(gz ? "e_huge_gz" : "e_huge", gz, n, dir, sizeof dir, spec, sizeof spec);
    b = fx_idx_labels(n);
    fx_put_be32(b.p + 4, 2000000000u);
    put(dir, "train-labels-idx1-ubyte", b, gz);
    expect_err(spec, NASC_SPLIT_TRAIN, NASC_ERR_FORMAT, lbl, 8 + n,
               "truncated at byte 18 (expected 2000000008 bytes)", NULL);
    fx_free(&b);
    /* missing file */
    fresh_dir(gz ? "e_missing_gz" : "e_missing", gz, n, dir, sizeof dir, spec, sizeof spec);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, img);
    unlink(path);
    expect_err(spec, NASC_SPLIT_TRAIN, NASC_ERR_IO, "train-images-idx3-ubyte.gz", -1,
               "file not found", NULL);
    /* a directory where a file should be */
    mkdir(path, 0755);
    expect_err(spec, NASC_SPLIT_TRAIN, NASC_ERR_IO, img, -1, "cannot read", NULL);
}

/* Damage inside the gzip container: bad CRC, bad deflate block, garbage after the data, a file
 * that ends inside the trailer. Offsets are decompressed-stream offsets. */
static void test_gzip_damage(void) {
    char dir[256], spec[300];
    const int n = 10;
    const long long total = 16 + n * 784;
    fx_buf im = fx_idx_images(n, 28, 28), z = fx_gzip(im);
    const char *img = "train-images-idx3-ubyte.gz";

    fresh_dir("g_crc", 1, n, dir, sizeof dir, spec, sizeof spec);
    fx_buf c = fx_copy(z);
    c.p[c.n - 8] ^= 0x01; /* CRC-32 of the trailer */
    fx_write_buf(dir, img, c);
    expect_err(spec, NASC_SPLIT_TRAIN, NASC_ERR_FORMAT, img, total,
               "corrupt gzip stream (incorrect data check)", NULL);
    fx_free(&c);

    fresh_dir("g_len", 1, n, dir, sizeof dir, spec, sizeof spec);
    c = fx_copy(z);
    c.p[c.n - 4] ^= 0x01; /* ISIZE */
    fx_write_buf(dir, img, c);
    expect_err(spec, NASC_SPLIT_TRAIN, NASC_ERR_FORMAT, img, total,
               "corrupt gzip stream (incorrect length check)", NULL);
    fx_free(&c);

    fresh_dir("g_block", 1, n, dir, sizeof dir, spec, sizeof spec);
    c = fx_copy(z);
    c.p[10] = 0x07; /* first deflate block: BFINAL=1, BTYPE=3 (reserved) */
    fx_write_buf(dir, img, c);
    expect_err(spec, NASC_SPLIT_TRAIN, NASC_ERR_FORMAT, img, 0,
               "byte 0: corrupt gzip stream (invalid block type)", NULL);
    fx_free(&c);

    fresh_dir("g_garbage", 1, n, dir, sizeof dir, spec, sizeof spec);
    c = fx_copy(z);
    c.p = realloc(c.p, c.n + 3);
    memcpy(c.p + c.n, "xyz", 3);
    c.n += 3;
    fx_write_buf(dir, img, c);
    char want[128];
    snprintf(want, sizeof want, "garbage after the gzip data at compressed byte %zu", z.n);
    expect_err(spec, NASC_SPLIT_TRAIN, NASC_ERR_FORMAT, img, total, want, NULL);
    fx_free(&c);

    fresh_dir("g_trailer", 1, n, dir, sizeof dir, spec, sizeof spec);
    c = fx_copy(z);
    c.n -= 3; /* inside ISIZE: all data decodes, the trailer is cut */
    fx_write_buf(dir, img, c);
    expect_err(spec, NASC_SPLIT_TRAIN, NASC_ERR_FORMAT, img, total, "gzip stream truncated", NULL);
    fx_free(&c);
    fx_free(&z);
    fx_free(&im);
}

static void test_specs(void) {
    char dir[256], spec[300], forms[] = "fashion-mnist:DIR, mnist:DIR, cifar10:DIR, cifar100:DIR or images:DIR";
    expect_err("imagenet", NASC_SPLIT_TRAIN, NASC_ERR_ARG, NULL, -2, "unknown dataset 'imagenet'",
               forms);
    expect_err("fashion", NASC_SPLIT_TRAIN, NASC_ERR_ARG, NULL, -2, "unknown dataset", forms);
    expect_err("", NASC_SPLIT_TRAIN, NASC_ERR_ARG, NULL, -2, "unknown dataset", forms);
    expect_err("mnist:", NASC_SPLIT_TRAIN, NASC_ERR_ARG, NULL, -2, "empty directory", forms);
    unsetenv("NASC_DATA_DIR");
    expect_err("mnist", NASC_SPLIT_TRAIN, NASC_ERR_ARG, NULL, -2, "needs a directory", forms);
    expect_err("cifar10", NASC_SPLIT_TRAIN, NASC_ERR_ARG, NULL, -2, "NASC_DATA_DIR", forms);
    expect_err("mnist:/nonexistent/dir", NASC_SPLIT_TRAIN, NASC_ERR_IO,
               "/nonexistent/dir/train-labels-idx1-ubyte.gz", -1, "file not found",
               "(nor train-labels-idx1-ubyte)");
    expect_err("cifar10:/nonexistent/dir", NASC_SPLIT_TEST, NASC_ERR_IO,
               "/nonexistent/dir/test_batch.bin", -1, "cifar10: ", "file not found");
    /* NASC_DATA_DIR/<name> for a bare name */
    snprintf(dir, sizeof dir, "%s/env", root);
    mkdir(dir, 0755);
    char sub[300];
    fx_mkdir(dir, "mnist", sub, sizeof sub);
    fx_write_idx(sub, "t10k", 5, 1);
    setenv("NASC_DATA_DIR", dir, 1);
    nasc_err err = {0};
    nasc_dataset *ds = NULL;
    CHECK_STATUS(nasc_dataset_load("mnist", NASC_SPLIT_TEST, &ds, &err), NASC_OK);
    CHECK(ds && ds->n == 5);
    nasc_dataset_free(ds);
    /* ...and so does fashion-mnist, when $NASC_DATA_DIR/fashion-mnist exists */
    fx_mkdir(dir, "fashion-mnist", sub, sizeof sub);
    fx_write_idx(sub, "t10k", 6, 0);
    ds = NULL;
    CHECK_STATUS(nasc_dataset_load("fashion-mnist", NASC_SPLIT_TEST, &ds, &err), NASC_OK);
    CHECK(ds && ds->n == 6);
    nasc_dataset_free(ds);
    unsetenv("NASC_DATA_DIR");
    (void)spec;
    /* nasc_dataset_new argument checks; free(NULL) */
    ds = NULL;
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_dataset_new("x", 1, 0, 1, 1, 1, &ds, &err), NASC_ERR_ARG);
    CHECK(ds == NULL);
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_dataset_new("x", 1, 1, 1, 4, 1, &ds, &err), NASC_ERR_ARG);
    nasc_dataset_free(NULL);
}

int main(void) {
    fx_mkdtemp(root, sizeof root, "data_idx");
    test_valid();
    test_errors(0);
    test_errors(1);
    test_gzip_damage();
    test_specs();
    fx_rmtree(root);
    return test_done("test_data_idx");
}
