/* test_fault_data.c — the data module under faults.
 *
 * (a) Allocation faults, as SQLite's faultsim: a scenario (load an idx dataset, plain and gzip, or
 *     CIFAR-10/100; take a fraction and a split; create a loader with prefetch and read an epoch)
 *     is first run with a counting allocator to learn its number of allocations K; then for
 *     k = 1..K it runs again with the k-th allocation failing, once transiently (only the k-th)
 *     and once persistently (the k-th and all later ones). Each run must return NASC_ERR_NOMEM
 *     with a message, leave its outputs NULL, never crash, and free everything it allocated
 *     (counted here, and checked by LeakSanitizer in the ASan build).
 * (b) Byte-level corruption: small fixtures truncated at every offset, and every header byte
 *     flipped (each bit, and all bits). Each case must return NASC_ERR_FORMAT or NASC_ERR_IO with a
 *     message naming the damaged file and a byte offset, and err->path/err->offset set. For the
 *     gzip files, every byte of the compressed file is also flipped: the load either fails that
 *     way or (gzip header fields that do not affect the data, like the mtime) returns exactly the
 *     original data. */
#include "test.h"

#include "data/data_int.h"
#include "nasc/arena.h"
#include "nasc/data.h"
#include "unit/data_fixtures.h"

#include <dirent.h>
#include <pthread.h>

static char root[128];

/* ---- failing allocator ---- */

static pthread_mutex_t fs_mu = PTHREAD_MUTEX_INITIALIZER;
static long fs_count;   /* allocations so far */
static long fs_fail_at; /* fail the allocation with this number (1-based); 0 = never */
static bool fs_persist; /* also fail every later one */
static long fs_live;    /* blocks allocated and not yet freed */
static long fs_failed;  /* allocations refused */

static bool fs_should_fail(void) {
    fs_count++;
    if (fs_fail_at > 0 && (fs_count == fs_fail_at || (fs_persist && fs_count > fs_fail_at))) {
        fs_failed++;
        return true;
    }
    return false;
}

static void *fs_malloc(size_t n, void *u) {
    (void)u;
    pthread_mutex_lock(&fs_mu);
    void *p = fs_should_fail() ? NULL : malloc(n);
    fs_live += p != NULL;
    pthread_mutex_unlock(&fs_mu);
    return p;
}

static void *fs_realloc(void *p, size_t n, void *u) {
    (void)u;
    pthread_mutex_lock(&fs_mu);
    void *q = fs_should_fail() ? NULL : realloc(p, n);
    fs_live += p == NULL && q != NULL;
    pthread_mutex_unlock(&fs_mu);
    return q;
}

static void fs_free(void *p, void *u) {
    (void)u;
    pthread_mutex_lock(&fs_mu);
    fs_live -= p != NULL;
    pthread_mutex_unlock(&fs_mu);
    free(p);
}

static void fs_arm(long fail_at, bool persist) {
    fs_count = 0;
    fs_fail_at = fail_at;
    fs_persist = persist;
    fs_live = 0;
    fs_failed = 0;
}

/* ---- scenarios: each returns the first non-OK status, frees everything it made ---- */

typedef nasc_status (*scenario_fn)(const char *arg, nasc_err *err);

static nasc_status scen_load(const char *spec, nasc_err *err) {
    nasc_dataset *ds = NULL;
    nasc_status st = nasc_dataset_load(spec, NASC_SPLIT_TRAIN, &ds, err);
    if (st != NASC_OK && ds != NULL)
        return NASC_ERR_INTERNAL; /* outputs must be NULL on failure */
    nasc_dataset_free(ds);
    return st;
}

static nasc_status scen_pipeline(const char *spec, nasc_err *err) {
    nasc_dataset *all = NULL, *part = NULL, *tr = NULL, *va = NULL;
    nasc_loader *l = NULL;
    nasc_status st = nasc_dataset_load(spec, NASC_SPLIT_TRAIN, &all, err);
    if (st != NASC_OK && all)
        return NASC_ERR_INTERNAL;
    if (st == NASC_OK) {
        st = nasc_dataset_fraction(all, 0.5, 1, &part, err);
        if (st != NASC_OK && part)
            return NASC_ERR_INTERNAL;
    }
    if (st == NASC_OK) {
        st = nasc_dataset_split(part, 0.3, 2, &tr, &va, err);
        if (st != NASC_OK && (tr || va))
            return NASC_ERR_INTERNAL;
    }
    if (st == NASC_OK) {
        nasc_loader_config cfg = {.batch = 3,
                                  .shuffle = true,
                                  .prefetch = true,
                                  .seed = 3,
                                  .aug = {.crop_pad = 2, .hflip = true, .cutout = 4}};
        st = nasc_loader_new(tr, &cfg, &l, err);
        if (st != NASC_OK && l)
            return NASC_ERR_INTERNAL;
    }
    if (st == NASC_OK) {
        nasc_batch b;
        for (uint32_t e = 0; e < 2; e++) {
            nasc_loader_start_epoch(l, e);
            while (nasc_loader_next(l, &b)) {
            }
        }
    }
    nasc_loader_free(l);
    nasc_dataset_free(va);
    nasc_dataset_free(tr);
    nasc_dataset_free(part);
    nasc_dataset_free(all);
    return st;
}

static void faultsim(const char *name, scenario_fn fn, const char *arg) {
    nasc_alloc_set_hooks(&(nasc_alloc_hooks){fs_malloc, fs_realloc, fs_free, NULL});
    nasc_err err = {0};
    fs_arm(0, false);
    nasc_status st = fn(arg, &err);
    const long total = fs_count;
    CHECK_MSG(st == NASC_OK, "%s: clean run failed: %s", name, err.msg);
    CHECK_MSG(fs_live == 0, "%s: clean run leaks %ld blocks", name, fs_live);
    int bad = 0;
    for (int persist = 0; persist < 2; persist++)
        for (long k = 1; k <= total; k++) {
            nasc_err_clear(&err);
            fs_arm(k, persist);
            st = fn(arg, &err);
            if (st != NASC_ERR_NOMEM || err.msg[0] == '\0' || fs_live != 0) {
                if (bad++ < 5)
                    fprintf(stderr,
                            "%s: allocation %ld of %ld failing (%s): status %s, %ld blocks "
                            "leaked, message '%s'\n",
                            name, k, total, persist ? "persistent" : "once", nasc_status_str(st),
                            fs_live, err.msg);
            }
        }
    CHECK_MSG(bad == 0, "%s: %d of %ld fault cases misbehaved", name, bad, 2 * total);
    CHECK_MSG(total >= 3, "%s: only %ld allocations seen", name, total);
    printf("%s: %ld allocations, each failed once and persistently\n", name, total);
    nasc_alloc_set_hooks(NULL);
    fs_arm(0, false);
}

/* ---- corruption ---- */

typedef struct corrupt_stats {
    long cases, bad;
} corrupt_stats;

/* Loads spec expecting FORMAT or IO naming `file`; or, if ok_if_same, OK with exactly `want`. */
static void expect_rejected(const char *what, const char *spec, const char *file,
                            const nasc_dataset *want, corrupt_stats *cs) {
    nasc_err err = {0};
    nasc_dataset *ds = NULL;
    fs_arm(0, false); /* count live blocks: a rejected file must leave none */
    nasc_status st = nasc_dataset_load(spec, NASC_SPLIT_TRAIN, &ds, &err);
    cs->cases++;
    bool good;
    if (st == NASC_OK) {
        good =
            want && ds->n == want->n &&
            !memcmp(ds->images, want->images, (size_t)want->n * nasc_dataset_image_bytes(want)) &&
            !memcmp(ds->labels, want->labels, (size_t)want->n * sizeof(int32_t));
    } else {
        good = (st == NASC_ERR_FORMAT || st == NASC_ERR_IO) && ds == NULL && fs_live == 0 &&
               strstr(err.msg, file) && strstr(err.path, file) && strstr(err.msg, "byte ") &&
               err.offset >= 0;
    }
    if (!good && cs->bad++ < 5)
        fprintf(stderr, "%s: status %s, offset %lld, path '%s', %ld blocks left: %s\n", what,
                nasc_status_str(st), (long long)err.offset, err.path, fs_live, err.msg);
    nasc_dataset_free(ds);
}

static nasc_dataset *load_ok(const char *spec) {
    nasc_err err = {0};
    nasc_dataset *ds = NULL;
    if (nasc_dataset_load(spec, NASC_SPLIT_TRAIN, &ds, &err) != NASC_OK) {
        fprintf(stderr, "fixture does not load: %s\n", err.msg);
        exit(1);
    }
    return ds;
}

/* Every truncation and header flip of one idx file (images or labels) of a valid pair. */
static void corrupt_idx(int gz, int images, corrupt_stats *cs) {
    char dir[256], spec[300], what[128];
    snprintf(dir, sizeof dir, "%s/idx_%s_%s", root, gz ? "gz" : "plain", images ? "img" : "lbl");
    mkdir(dir, 0755);
    const int n = 3;
    fx_write_idx(dir, "train", n, gz);
    snprintf(spec, sizeof spec, "mnist:%s", dir);
    nasc_dataset *want = load_ok(spec);
    char name[64];
    snprintf(name, sizeof name, "train-%s-ubyte%s", images ? "images-idx3" : "labels-idx1",
             gz ? ".gz" : "");
    fx_buf raw = images ? fx_idx_images(n, 28, 28) : fx_idx_labels(n);
    fx_buf file = gz ? fx_gzip(raw) : fx_copy(raw);

    /* truncated at every offset (of the file as stored) */
    for (size_t cut = 0; cut < file.n; cut++) {
        fx_write_buf(dir, name, (fx_buf){file.p, cut});
        snprintf(what, sizeof what, "%s cut at %zu", name, cut);
        expect_rejected(what, spec, name, NULL, cs);
    }
    /* every bit and every whole byte of the idx header flipped (recompressed for gz) */
    const size_t hdr = images ? 16 : 8;
    for (size_t i = 0; i < hdr; i++)
        for (int m = 0; m < 9; m++) {
            fx_buf c = fx_copy(raw);
            c.p[i] ^= (unsigned char)(m < 8 ? 1u << m : 0xffu);
            fx_buf out = gz ? fx_gzip(c) : fx_copy(c);
            fx_write_buf(dir, name, out);
            snprintf(what, sizeof what, "%s header byte %zu ^ 0x%02x", name, i,
                     m < 8 ? 1u << m : 0xffu);
            expect_rejected(what, spec, name, NULL, cs);
            fx_free(&out);
            fx_free(&c);
        }
    /* every label made out of range */
    if (!images)
        for (int i = 0; i < n; i++) {
            fx_buf c = fx_copy(raw);
            c.p[8 + i] ^= 0xff;
            fx_buf out = gz ? fx_gzip(c) : fx_copy(c);
            fx_write_buf(dir, name, out);
            snprintf(what, sizeof what, "%s label %d flipped", name, i);
            expect_rejected(what, spec, name, NULL, cs);
            fx_free(&out);
            fx_free(&c);
        }
    /* gzip: every byte of the compressed file flipped */
    if (gz)
        for (size_t i = 0; i < file.n; i++) {
            fx_buf c = fx_copy(file);
            c.p[i] ^= 0xff;
            fx_write_buf(dir, name, c);
            snprintf(what, sizeof what, "%s compressed byte %zu flipped", name, i);
            expect_rejected(what, spec, name, want, cs);
            fx_free(&c);
        }
    fx_free(&file);
    fx_free(&raw);
    nasc_dataset_free(want);
}

/* Every truncation and every label byte flip of a CIFAR file of 2 records. */
static void corrupt_cifar(int c100, corrupt_stats *cs) {
    char dir[256], spec[300], what[128];
    snprintf(dir, sizeof dir, "%s/%s", root, c100 ? "c100" : "c10");
    mkdir(dir, 0755);
    nasc_data_test_cifar_records(2);
    const int lb = c100 ? 2 : 1, k = c100 ? 100 : 10;
    const char *name = c100 ? "train.bin" : "data_batch_1.bin";
    fx_buf good = fx_cifar(0, 2, lb, k);
    if (c100) {
        fx_write_buf(dir, "train.bin", good);
    } else {
        for (int i = 1; i <= 5; i++) {
            char nm[64];
            snprintf(nm, sizeof nm, "data_batch_%d.bin", i);
            fx_write_buf(dir, nm, good);
        }
    }
    snprintf(spec, sizeof spec, "%s:%s", c100 ? "cifar100" : "cifar10", dir);
    nasc_dataset *want = load_ok(spec);
    nasc_dataset_free(want);
    for (size_t cut = 0; cut < good.n; cut++) {
        fx_write_buf(dir, name, (fx_buf){good.p, cut});
        snprintf(what, sizeof what, "%s cut at %zu", name, cut);
        expect_rejected(what, spec, name, NULL, cs);
    }
    const size_t rec = (size_t)lb + 3072;
    for (size_t r = 0; r < 2; r++)
        for (int j = 0; j < lb; j++) {
            fx_buf c = fx_copy(good);
            c.p[r * rec + (size_t)j] ^= 0xff;
            fx_write_buf(dir, name, c);
            snprintf(what, sizeof what, "%s record %zu label byte %d flipped", name, r, j);
            expect_rejected(what, spec, name, NULL, cs);
            fx_free(&c);
        }
    fx_free(&good);
    nasc_data_test_cifar_records(0);
}

static fx_buf read_whole(const char *path) {
    fx_buf b = {NULL, 0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return b;
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b.p = malloc((size_t)(n > 0 ? n : 0) + 1);
    b.n = n > 0 && b.p && fread(b.p, 1, (size_t)n, f) == (size_t)n ? (size_t)n : 0;
    fclose(f);
    return b;
}

/* Loads spec expecting success with exactly want's images, labels and mean/std. */
static void expect_same_images(const char *what, const char *spec, const nasc_dataset *want,
                               corrupt_stats *cs) {
    nasc_err err = {0};
    nasc_dataset *ds = NULL;
    fs_arm(0, false);
    nasc_status st = nasc_dataset_load(spec, NASC_SPLIT_TRAIN, &ds, &err);
    cs->cases++;
    const bool good =
        st == NASC_OK && ds->n == want->n && ds->c == want->c && ds->h == want->h &&
        !memcmp(ds->images, want->images, (size_t)want->n * nasc_dataset_image_bytes(want)) &&
        !memcmp(ds->labels, want->labels, (size_t)want->n * sizeof(int32_t)) &&
        !memcmp(ds->mean, want->mean, sizeof want->mean) &&
        !memcmp(ds->std, want->std, sizeof want->std) && ds->class_names &&
        !strcmp(nasc_dataset_class_name(ds, 1), "dog");
    if (!good && cs->bad++ < 5)
        fprintf(stderr, "%s: status %s, not the original images: %s\n", what,
                nasc_status_str(st), err.msg);
    nasc_dataset_free(ds);
}

/* The image-folder cache (11 grey 2x2 images: 304 bytes) damaged every way: truncated at every
 * offset of its first 240 bytes (header, class names, mean/std, labels) and then every 7th, each
 * header byte flipped, and deleted. The load must never fail or
 * crash: it notices, decodes the folder again and returns exactly the original images (and leaves
 * no block behind: the counting allocator is on). */
static void corrupt_image_cache(const char *cache, corrupt_stats *cs) {
    const char *spec = "images:" NASC_SOURCE_DIR "/tests/data/images/mixed?input=1x2x2";
    setenv("NASC_CACHE_DIR", cache, 1);
    nasc_dataset *want = load_ok(spec); /* writes the cache */
    char path[512] = "";
    DIR *d = opendir(cache);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.')
            snprintf(path, sizeof path, "%s/%s", cache, e->d_name);
    if (d)
        closedir(d);
    fx_buf orig = read_whole(path);
    CHECK_MSG(orig.n > 64, "no image cache in %s", cache);
    char what[96];
    for (size_t cut = 0; cut < orig.n; cut += cut < 240 ? 1 : 7) {
        fx_write(path, orig.p, cut);
        snprintf(what, sizeof what, "image cache cut at byte %zu", cut);
        expect_same_images(what, spec, want, cs);
    }
    for (size_t i = 0; i < 64 && orig.n > 64; i++) {
        fx_buf c = fx_copy(orig);
        c.p[i] ^= 0xff;
        fx_write(path, c.p, c.n);
        fx_free(&c);
        snprintf(what, sizeof what, "image cache byte %zu flipped", i);
        expect_same_images(what, spec, want, cs);
    }
    unlink(path);
    expect_same_images("image cache deleted", spec, want, cs);
    fx_free(&orig);
    nasc_dataset_free(want);
    setenv("NASC_CACHE_DIR", "", 1);
}

int main(void) {
    fx_mkdtemp(root, sizeof root, "fault_data");

    /* (a) allocation faults */
    char dir[256], sub[300], spec[400];
    snprintf(dir, sizeof dir, "%s/fs_plain", root);
    mkdir(dir, 0755);
    fx_write_idx(dir, "train", 30, 0);
    snprintf(spec, sizeof spec, "fashion-mnist:%s", dir);
    faultsim("idx plain: load", scen_load, spec);
    faultsim("idx plain: load, fraction, split, loader", scen_pipeline, spec);
    snprintf(dir, sizeof dir, "%s/fs_gz", root);
    mkdir(dir, 0755);
    fx_write_idx(dir, "train", 30, 1);
    snprintf(spec, sizeof spec, "mnist:%s", dir);
    faultsim("idx gzip: load", scen_load, spec);
    faultsim("idx gzip: load, fraction, split, loader", scen_pipeline, spec);
    nasc_data_test_cifar_records(6);
    snprintf(dir, sizeof dir, "%s/fs_c10", root);
    mkdir(dir, 0755);
    fx_mkdir(dir, "cifar-10-batches-bin", sub, sizeof sub);
    for (int i = 1; i <= 5; i++) {
        char nm[64];
        snprintf(nm, sizeof nm, "data_batch_%d.bin%s", i, i == 3 ? ".gz" : "");
        fx_buf b = fx_cifar(6 * (i - 1), 6, 1, 10);
        if (i == 3) {
            fx_buf z = fx_gzip(b);
            fx_write_buf(sub, nm, z);
            fx_free(&z);
        } else {
            fx_write_buf(sub, nm, b);
        }
        fx_free(&b);
    }
    snprintf(spec, sizeof spec, "cifar10:%s", dir);
    faultsim("cifar10: load, fraction, split, loader", scen_pipeline, spec);
    snprintf(dir, sizeof dir, "%s/fs_c100", root);
    mkdir(dir, 0755);
    fx_buf b = fx_cifar(0, 6, 2, 100);
    fx_write_buf(dir, "train.bin", b);
    fx_free(&b);
    snprintf(spec, sizeof spec, "cifar100:%s", dir);
    faultsim("cifar100: load", scen_load, spec);
    nasc_data_test_cifar_records(0);
    /* image folders: decoding (cache off), then reading a cache written beforehand */
    setenv("NASC_CACHE_DIR", "", 1);
    snprintf(spec, sizeof spec, "images:%s/tests/data/images/mixed?input=3x6x6", NASC_SOURCE_DIR);
    faultsim("images: decode", scen_load, spec);
    faultsim("images: decode, fraction, split, loader", scen_pipeline, spec);
    char icache[300];
    snprintf(icache, sizeof icache, "%s/icache", root);
    setenv("NASC_CACHE_DIR", icache, 1);
    nasc_dataset_free(load_ok(spec)); /* every run below reads the cache */
    faultsim("images: from the cache", scen_load, spec);
    setenv("NASC_CACHE_DIR", "", 1);

    /* (b) corruption, with the counting allocator (no failures) to catch leaks */
    fs_arm(0, false);
    nasc_alloc_set_hooks(&(nasc_alloc_hooks){fs_malloc, fs_realloc, fs_free, NULL});
    corrupt_stats cs = {0, 0};
    for (int gz = 0; gz < 2; gz++)
        for (int images = 0; images < 2; images++)
            corrupt_idx(gz, images, &cs);
    corrupt_cifar(0, &cs);
    corrupt_cifar(1, &cs);
    snprintf(dir, sizeof dir, "%s/icache2", root);
    corrupt_image_cache(dir, &cs);
    nasc_alloc_set_hooks(NULL);
    CHECK_MSG(cs.bad == 0, "%ld of %ld corrupt files not rejected properly", cs.bad, cs.cases);
    printf("corruption: %ld damaged files, all rejected with file and offset\n", cs.cases);

    fx_rmtree(root);
    return test_done("test_fault_data");
}
