/* test_data_images.c — images:DIR on the committed folders of tests/data/images (written by
 * gen_images.py with PIL): JPEG, PNG, grey, PGM/PPM, RGBA, other sizes, a file ignored by name,
 * train/ + test/ or a held-out split, --input fitting, corrupt files (error naming the file, or
 * skip-bad), options and folder errors; the cache (hit, invalidation when a file is added, a
 * damaged cache rebuilt, cache off); and CIFAR-10 JPEGs decoded exactly as PIL decodes them. */
#include "test.h"

#include "nasc/arena.h"
#include "nasc/data.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIX NASC_SOURCE_DIR "/tests/data/images"

static char tmp[256], logbuf[8192];

static void on_log(nasc_log_level level, const char *msg, void *user) {
    (void)level;
    (void)user;
    size_t n = strlen(logbuf);
    snprintf(logbuf + n, sizeof logbuf - n, "%s\n", msg);
}

static nasc_dataset *load(const char *spec, nasc_split split) {
    nasc_err err = {0};
    nasc_dataset *ds = NULL;
    nasc_status st = nasc_dataset_load(spec, split, &ds, &err);
    CHECK_MSG(st == NASC_OK, "%s: %s", spec, err.msg);
    return ds;
}

static void expect_err(const char *spec, nasc_status want, const char *needle) {
    nasc_err err = {0};
    nasc_dataset *ds = NULL;
    CHECK_STATUS(nasc_dataset_load(spec, NASC_SPLIT_TRAIN, &ds, &err), want);
    CHECK(ds == NULL);
    CHECK_STR_CONTAINS(err.msg, needle);
}

/* The formulas of gen_images.py. */
static uint8_t pattern(int x, int y, int c) {
    return (uint8_t)(c == 0 ? x * 30 : c == 1 ? y * 30 : (x + y) * 10);
}
static uint8_t grey(int x, int y) {
    return (uint8_t)(10 + 20 * x + 5 * y);
}
static const uint8_t *px(const nasc_dataset *ds, int i, int y, int x) {
    return ds->images + (size_t)i * nasc_dataset_image_bytes(ds) +
           ((size_t)y * (size_t)ds->w + (size_t)x) * (size_t)ds->c;
}

/* Counts pixels of image i that differ from want(x, y, c) by more than tol. */
static int diff_image(const nasc_dataset *ds, int i, int kind, int tol, const uint8_t *solid) {
    int bad = 0;
    for (int y = 0; y < ds->h; y++)
        for (int x = 0; x < ds->w; x++)
            for (int c = 0; c < ds->c; c++) {
                const int want = kind == 0 ? pattern(x, y, c) : kind == 1 ? grey(x, y) : solid[c];
                const int got = px(ds, i, y, x)[c];
                if (abs(got - want) > tol && bad++ < 3)
                    fprintf(stderr, "  image %d (y %d, x %d, c %d) = %d, expected %d\n", i, y, x,
                            c, got, want);
            }
    return bad;
}

static void test_mixed(void) {
    nasc_dataset *tr = load("images:" FIX "/mixed", NASC_SPLIT_TRAIN);
    nasc_dataset *te = load("images:" FIX "/mixed", NASC_SPLIT_TEST);
    if (!tr || !te)
        goto done;
    /* cat: a.png b.jpg c.png d.ppm e.png f.png; dog: a.jpg b.pgm c.PNG (notes.txt ignored) */
    CHECK(tr->n == 9 && te->n == 2 && tr->n_classes == 2);
    CHECK(tr->c == 3 && tr->h == 8 && tr->w == 8); /* the first image's shape */
    CHECK(!strcmp(tr->name, "images"));
    CHECK(nasc_dataset_class_name(tr, 0) && !strcmp(nasc_dataset_class_name(tr, 0), "cat"));
    CHECK(nasc_dataset_class_name(te, 1) && !strcmp(nasc_dataset_class_name(te, 1), "dog"));
    CHECK(nasc_dataset_class_name(tr, 2) == NULL);
    const int32_t labels[9] = {0, 0, 0, 0, 0, 0, 1, 1, 1};
    for (int i = 0; i < 9; i++)
        CHECK_MSG(tr->labels[i] == labels[i], "label %d = %d", i, tr->labels[i]);
    CHECK(te->labels[0] == 0 && te->labels[1] == 1);
    const uint8_t brown[3] = {200, 100, 50}, green[3] = {0, 255, 0};
    CHECK(diff_image(tr, 0, 0, 0, NULL) == 0);  /* RGB PNG: exact */
    CHECK(diff_image(tr, 1, 0, 24, NULL) == 0); /* JPEG q90, 4:2:0 chroma: close */
    CHECK(diff_image(tr, 2, 1, 0, NULL) == 0);  /* grey PNG copied to R, G, B */
    CHECK(diff_image(tr, 3, 0, 0, NULL) == 0);  /* PPM: exact */
    CHECK(diff_image(tr, 4, 2, 0, brown) == 0); /* 16x12 fitted to 8x8 */
    CHECK(diff_image(tr, 5, 0, 0, NULL) == 0);  /* opaque RGBA PNG */
    CHECK(diff_image(tr, 6, 1, 12, NULL) == 0); /* grey JPEG */
    CHECK(diff_image(tr, 7, 1, 0, NULL) == 0);  /* PGM: exact */
    CHECK(diff_image(tr, 8, 2, 0, green) == 0); /* 10x10 .PNG */
    CHECK(diff_image(te, 0, 0, 0, NULL) == 0 && diff_image(te, 1, 1, 0, NULL) == 0);
    /* mean/std: from the training images, shared by the test split */
    for (int c = 0; c < 3; c++) {
        double s = 0, s2 = 0;
        const size_t n = (size_t)tr->n * 64;
        for (size_t i = 0; i < n; i++) {
            const double v = tr->images[i * 3 + (size_t)c] / 255.0;
            s += v;
            s2 += v * v;
        }
        const double m = s / (double)n;
        CHECK_CLOSE(tr->mean[c], m, 1e-5, 1e-6);
        CHECK_CLOSE(tr->std[c], sqrt(s2 / (double)n - m * m), 1e-4, 1e-6);
        CHECK(te->mean[c] == tr->mean[c] && te->std[c] == tr->std[c]);
    }
    /* a subset keeps the names */
    nasc_dataset *sub = NULL;
    nasc_err err = {0};
    const uint32_t idx[2] = {8, 0};
    CHECK_STATUS(nasc_dataset_subset(tr, idx, 2, &sub, &err), NASC_OK);
    CHECK(sub && nasc_dataset_class_name(sub, 1) && !strcmp(nasc_dataset_class_name(sub, 1), "dog"));
    nasc_dataset_free(sub);
done:
    nasc_dataset_free(tr);
    nasc_dataset_free(te);
}

static void test_input(void) {
    /* grey 4x4: colour goes to luma (PIL's weights), sizes are fitted */
    nasc_dataset *tr = load("images:" FIX "/mixed?input=1x4x4", NASC_SPLIT_TRAIN);
    if (!tr)
        return;
    CHECK(tr->c == 1 && tr->h == 4 && tr->w == 4 && tr->n == 9);
    const uint8_t brown_luma[1] = {124}; /* (200*19595 + 100*38470 + 50*7471 + 32768) >> 16 */
    const uint8_t green_luma[1] = {150}; /* (255*38470 + 32768) >> 16 */
    CHECK(diff_image(tr, 4, 2, 0, brown_luma) == 0);
    CHECK(diff_image(tr, 8, 2, 0, green_luma) == 0);
    /* 8x8 -> 4x4 halves: each output pixel averages a 2x2 block, by the triangle filter of
     * width 2 (weights 1/4, 3/4, 3/4, 1/4 over 4 source pixels) */
    const double wts[4] = {0.125, 0.375, 0.375, 0.125};
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++) {
            double acc = 0;
            for (int j = 0; j < 4; j++)
                for (int i = 0; i < 4; i++) {
                    const int sy = 2 * y - 1 + j, sx = 2 * x - 1 + i;
                    if (sy < 0 || sy > 7 || sx < 0 || sx > 7)
                        continue;
                    acc += wts[j] * wts[i] * grey(sx, sy);
                }
            double norm = 0; /* edge rows/columns renormalise */
            for (int j = 0; j < 4; j++)
                for (int i = 0; i < 4; i++) {
                    const int sy = 2 * y - 1 + j, sx = 2 * x - 1 + i;
                    if (sy >= 0 && sy <= 7 && sx >= 0 && sx <= 7)
                        norm += wts[j] * wts[i];
                }
            const int want = (int)(acc / norm + 0.5);
            CHECK_MSG(abs(px(tr, 7, y, x)[0] - want) <= 1, "(%d,%d) = %d, expected %d", y, x,
                      px(tr, 7, y, x)[0], want);
        }
    nasc_dataset_free(tr);
    /* upscaling a grey image to 3 channels */
    tr = load("images:" FIX "/mixed?input=3x16x16", NASC_SPLIT_TRAIN);
    if (tr) {
        const uint8_t *p = px(tr, 2, 5, 7);
        CHECK(tr->c == 3 && tr->h == 16 && p[0] == p[1] && p[1] == p[2]);
        CHECK(diff_image(tr, 4, 2, 0, (const uint8_t[3]){200, 100, 50}) == 0);
    }
    nasc_dataset_free(tr);
}

static void test_flat_split(void) {
    nasc_dataset *tr = load("images:" FIX "/flat", NASC_SPLIT_TRAIN);
    nasc_dataset *te = load("images:" FIX "/flat", NASC_SPLIT_TEST);
    if (tr && te) {
        CHECK(tr->n == 12 && te->n == 3 && tr->n_classes == 3); /* default 0.2, stratified */
        CHECK(tr->c == 1 && tr->h == 4);
        int seen[3] = {0};
        for (int i = 0; i < te->n; i++)
            seen[te->labels[i]]++;
        CHECK(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
        /* every pixel of an image is 40*class + file index: no image on both sides */
        for (int i = 0; i < te->n; i++)
            for (int j = 0; j < tr->n; j++)
                CHECK(te->images[i * 16] != tr->images[j * 16]);
    }
    nasc_dataset_free(tr);
    nasc_dataset_free(te);
    tr = load("images:" FIX "/flat?test-fraction=0.4", NASC_SPLIT_TRAIN);
    te = load("images:" FIX "/flat?test-fraction=0.4", NASC_SPLIT_TEST);
    CHECK(tr && te && tr->n == 9 && te->n == 6);
    nasc_dataset_free(tr);
    nasc_dataset_free(te);
}

static void write_pgm(const char *dir, const char *name, int v) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    fprintf(f, "P5\n# a comment\n2 2\n255\n");
    for (int i = 0; i < 4; i++)
        fputc(v, f);
    fclose(f);
}

static void test_errors(void) {
    expect_err("images:" FIX "/bad", NASC_ERR_FORMAT, "bad/train/cat/trunc.jpg: not a decodable JPEG image");
    expect_err("images:" FIX "/bad/train/dog", NASC_ERR_FORMAT, "no class folders");
    expect_err("images:/nonexistent/folder", NASC_ERR_IO, "/nonexistent/folder");
    expect_err("images:", NASC_ERR_ARG, "needs a directory");
    expect_err("images:" FIX "/mixed?input=2x8x8", NASC_ERR_ARG, "input '2x8x8'");
    expect_err("images:" FIX "/mixed?input=3x8", NASC_ERR_ARG, "expected CxHxW");
    expect_err("images:" FIX "/flat?test-fraction=1", NASC_ERR_ARG, "test-fraction '1'");
    expect_err("images:" FIX "/mixed?colour", NASC_ERR_ARG, "unknown option 'colour'");
    /* skip-bad: the truncated JPEG and the text file named .png are skipped */
    logbuf[0] = '\0';
    nasc_log_set(on_log, NULL, NASC_LOG_DEBUG);
    nasc_dataset *tr = load("images:" FIX "/bad?skip-bad", NASC_SPLIT_TRAIN);
    nasc_log_set(NULL, NULL, NASC_LOG_WARN);
    CHECK(tr && tr->n == 2 && tr->labels[0] == 0 && tr->labels[1] == 1);
    CHECK_STR_CONTAINS(logbuf, "skipped 2 files");
    CHECK_STR_CONTAINS(logbuf, "text.png: byte 0: not a JPEG, PNG, PGM or PPM image");
    nasc_dataset_free(tr);
    /* an empty class folder; a test class the training folder does not have */
    char d[512];
    snprintf(d, sizeof d, "%s/e/a", tmp);
    mkdir(d, 0755); /* parent made below */
    snprintf(d, sizeof d, "%s/e", tmp);
    mkdir(d, 0755);
    snprintf(d, sizeof d, "%s/e/a", tmp);
    mkdir(d, 0755);
    write_pgm(d, "1.pgm", 7);
    snprintf(d, sizeof d, "%s/e/b", tmp);
    mkdir(d, 0755);
    char spec[600];
    snprintf(spec, sizeof spec, "images:%s/e", tmp);
    expect_err(spec, NASC_ERR_FORMAT, "/e/b: empty class folder");
    snprintf(d, sizeof d, "%s/t", tmp);
    mkdir(d, 0755);
    const char *sub[] = {"train", "train/a", "test", "test/z"};
    for (int i = 0; i < 4; i++) {
        snprintf(d, sizeof d, "%s/t/%s", tmp, sub[i]);
        mkdir(d, 0755);
    }
    snprintf(d, sizeof d, "%s/t/train/a", tmp);
    write_pgm(d, "1.pgm", 1);
    snprintf(d, sizeof d, "%s/t/test/z", tmp);
    write_pgm(d, "1.pgm", 1);
    snprintf(spec, sizeof spec, "images:%s/t", tmp);
    expect_err(spec, NASC_ERR_FORMAT, "class 'z' is not a class of");
}

static int count_files(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static void test_cache(void) {
    char data[512], cache[512], spec[600], a[600], b[600];
    snprintf(data, sizeof data, "%s/c", tmp);
    snprintf(cache, sizeof cache, "%s/cache2", tmp); /* its own: one file expected */
    snprintf(a, sizeof a, "%s/a", data);
    snprintf(b, sizeof b, "%s/b", data);
    mkdir(data, 0755);
    mkdir(a, 0755);
    mkdir(b, 0755);
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof name, "%d.pgm", i);
        write_pgm(a, name, 10 + i);
        write_pgm(b, name, 100 + i);
    }
    snprintf(spec, sizeof spec, "images:%s?test-fraction=0.4", data);
    setenv("NASC_CACHE_DIR", cache, 1);
    nasc_log_set(on_log, NULL, NASC_LOG_DEBUG);
    logbuf[0] = '\0';
    nasc_dataset *d1 = load(spec, NASC_SPLIT_TRAIN);
    CHECK_STR_CONTAINS(logbuf, "decoded 6 + 4 images (cache");
    CHECK(count_files(cache) == 1);
    logbuf[0] = '\0';
    nasc_dataset *d2 = load(spec, NASC_SPLIT_TRAIN);
    nasc_dataset *t2 = load(spec, NASC_SPLIT_TEST);
    CHECK_STR_CONTAINS(logbuf, "6 images from the cache");
    CHECK_STR_CONTAINS(logbuf, "4 images from the cache");
    CHECK(d1 && d2 && d1->n == d2->n && !memcmp(d1->images, d2->images, (size_t)d1->n * 4) &&
          !memcmp(d1->labels, d2->labels, (size_t)d1->n * 4) && d1->mean[0] == d2->mean[0] &&
          d1->std[0] == d2->std[0]);
    CHECK(t2 && t2->n == 4 && t2->mean[0] == d1->mean[0]);
    CHECK(d2 && !strcmp(nasc_dataset_class_name(d2, 1), "b"));
    nasc_dataset_free(d2);
    nasc_dataset_free(t2);
    /* a new file: the key changes and the images are decoded again */
    write_pgm(a, "5.pgm", 15);
    logbuf[0] = '\0';
    d2 = load(spec, NASC_SPLIT_TRAIN);
    CHECK_STR_CONTAINS(logbuf, "stale");
    CHECK_STR_CONTAINS(logbuf, "decoded 7 + 4 images");
    nasc_dataset_free(d2);
    /* a damaged cache (one pixel byte flipped) is noticed and rebuilt */
    DIR *dd = opendir(cache);
    struct dirent *e;
    char cfile[1024] = "";
    while (dd && (e = readdir(dd)))
        if (e->d_name[0] != '.')
            snprintf(cfile, sizeof cfile, "%s/%s", cache, e->d_name);
    if (dd)
        closedir(dd);
    FILE *f = fopen(cfile, "r+b");
    CHECK(f != NULL);
    if (f) {
        fseek(f, -3, SEEK_END);
        fputc(0x5a, f);
        fclose(f);
    }
    logbuf[0] = '\0';
    d2 = load(spec, NASC_SPLIT_TRAIN);
    CHECK_STR_CONTAINS(logbuf, "damaged (checksum)");
    CHECK(d2 && d2->n == 7);
    nasc_dataset_free(d2);
    logbuf[0] = '\0';
    d2 = load(spec, NASC_SPLIT_TRAIN);
    CHECK_STR_CONTAINS(logbuf, "7 images from the cache");
    nasc_dataset_free(d2);
    /* cache off */
    setenv("NASC_CACHE_DIR", "", 1);
    logbuf[0] = '\0';
    d2 = load(spec, NASC_SPLIT_TRAIN);
    CHECK_STR_CONTAINS(logbuf, "(cache off)");
    nasc_dataset_free(d2);
    nasc_log_set(NULL, NULL, NASC_LOG_WARN);
    setenv("NASC_CACHE_DIR", cache, 1);
    nasc_dataset_free(d1);
}

/* CIFAR-10 JPEGs (quality 75, from shared/data/cifar10-jpeg.tar.gz) against PIL's decode. */
static void test_cifar_pil(void) {
    nasc_dataset *te = load("images:" FIX "/cifar", NASC_SPLIT_TEST);
    nasc_dataset *tr = load("images:" FIX "/cifar", NASC_SPLIT_TRAIN);
    FILE *f = fopen(FIX "/cifar_pil.bin", "rb");
    CHECK(f != NULL);
    if (te && tr && f) {
        CHECK(te->n == 10 && tr->n == 20 && te->c == 3 && te->h == 32 && te->w == 32);
        CHECK(!strcmp(nasc_dataset_class_name(te, 9), "truck"));
        uint8_t *ref = malloc(10 * 3072);
        CHECK(ref && fread(ref, 1, 10 * 3072, f) == 10 * 3072 && fgetc(f) == EOF);
        int bad = 0;
        for (size_t i = 0; ref && i < 10 * 3072; i++)
            if (te->images[i] != ref[i] && bad++ < 5)
                fprintf(stderr, "  image %zu byte %zu: nasc %d, PIL %d\n", i / 3072, i % 3072,
                        te->images[i], ref[i]);
        CHECK_MSG(bad == 0, "%d of 30720 bytes differ from PIL's decode", bad);
        free(ref);
    }
    if (f)
        fclose(f);
    nasc_dataset_free(te);
    nasc_dataset_free(tr);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/nasc_images_XXXXXX");
    if (!mkdtemp(tmp))
        return 1;
    char cache[300];
    snprintf(cache, sizeof cache, "%s/cache", tmp);
    setenv("NASC_CACHE_DIR", cache, 1); /* never the user's cache */
    test_mixed();
    test_input();
    test_flat_split();
    test_errors();
    test_cache();
    test_cifar_pil();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
    return test_done("test_data_images");
}
