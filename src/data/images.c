/* images.c — image-folder datasets (`images:DIR`): one subfolder per class, as torchvision's
 * ImageFolder reads them, decoded once into a cache file that later runs map instead of decoding.
 *
 * Layout: DIR/train/<class>/<file> and DIR/test/<class>/<file> when both folders exist; otherwise
 * DIR/<class>/<file>, split into train and test with nasc_dataset_split (stratified, seed 0, so the
 * test images never change with the training seed). Classes are the train folder's subfolders in
 * strcmp order; a test folder may lack a class but may not add one. Files are taken in strcmp
 * order; names starting with '.' are skipped, and so are files whose name does not end in .jpg,
 * .jpeg, .png, .pgm, .ppm or .pnm (any case) (counted and logged, as ImageFolder filters by
 * extension). Every image is fitted to C x H x W (nasc_data_image_fit).
 *
 * Cache: one file per (folder, options) in the cache directory, named by a hash of the folder's
 * real path and the options; its header holds a key hashed from every file's relative path, size
 * and modification time, so any change to the folder rebuilds it. It is written to a temporary
 * file, fsynced and renamed, so a reader never sees half a cache; it carries a CRC-32 of its body.
 * docs/FORMAT.md ("Image cache") gives the layout byte by byte. */
#include "data_int.h"

#include "nasc/arena.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define WHAT "images"
#define CACHE_MAGIC "NASCIMG\0"
#define CACHE_VERSION 1u
#define CACHE_HEADER_BYTES 64u
#define DEFAULT_TEST_FRACTION 0.2
#define SPLIT_SEED 0u /* the held-out split never depends on the training seed */

typedef struct img_opts {
    int c, h, w;          /* 0: the first image's */
    double test_fraction; /* used without DIR/train + DIR/test */
    bool skip_bad;
} img_opts;

typedef struct img_entry {
    char *path;       /* full path; owned */
    int label;        /* class index */
    int part;         /* 0 train, 1 test (only with DIR/train + DIR/test) */
    int64_t size;     /* bytes */
    int64_t mtime_ns; /* modification time */
} img_entry;

typedef struct img_scan {
    char root[PATH_MAX]; /* DIR as given */
    bool parts;          /* DIR/train + DIR/test */
    int n_classes;
    char *names;         /* n_classes * NASC_CLASS_NAME_BYTES */
    img_entry *e;
    size_t n, cap;
    size_t n_ignored;    /* files skipped by name */
    uint64_t key;        /* content hash */
} img_scan;

/* FNV-1a 64. (The space module has its own for architectures; data sits below it.) */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
#define FNV_INIT 0xcbf29ce484222325ull

/* The options field by field (the struct has padding). */
static uint64_t fnv_opts(uint64_t h, const img_opts *o) {
    const int32_t v[4] = {o->c, o->h, o->w, o->skip_bad};
    h = fnv(h, v, sizeof v);
    return fnv(h, &o->test_fraction, sizeof o->test_fraction);
}

/* ---- options: DIR?input=CxHxW&test-fraction=F&skip-bad ---- */
static nasc_status parse_spec(const char *spec, char *dir, size_t dir_bytes, img_opts *o,
                              nasc_err *err) {
    memset(o, 0, sizeof *o);
    o->test_fraction = DEFAULT_TEST_FRACTION;
    const char *q = strchr(spec, '?');
    const size_t dl = q ? (size_t)(q - spec) : strlen(spec);
    if (dl == 0)
        return nasc_errorf(err, NASC_ERR_ARG, "data: 'images:%s': empty directory", spec);
    if (dl >= dir_bytes)
        return nasc_errorf(err, NASC_ERR_ARG, "data: 'images:%s': directory name too long", spec);
    memcpy(dir, spec, dl);
    dir[dl] = '\0';
    while (q && *q) {
        q++;
        const char *end = strchr(q, '&');
        const size_t len = end ? (size_t)(end - q) : strlen(q);
        char tok[128];
        if (len >= sizeof tok)
            return nasc_errorf(err, NASC_ERR_ARG, "data: images: option too long in '%s'", spec);
        memcpy(tok, q, len);
        tok[len] = '\0';
        char junk;
        if (!strcmp(tok, "skip-bad")) {
            o->skip_bad = true;
        } else if (!strncmp(tok, "input=", 6)) {
            if (sscanf(tok + 6, "%dx%dx%d%c", &o->c, &o->h, &o->w, &junk) != 3 ||
                (o->c != 1 && o->c != 3) || o->h < 1 || o->w < 1 || o->h > 4096 || o->w > 4096)
                return nasc_errorf(err, NASC_ERR_ARG,
                                   "data: images: input '%s' (expected CxHxW, C 1 or 3, H and W "
                                   "in [1,4096])",
                                   tok + 6);
        } else if (!strncmp(tok, "test-fraction=", 14)) {
            char *e = NULL;
            o->test_fraction = strtod(tok + 14, &e);
            if (e == tok + 14 || *e || !(o->test_fraction > 0.0 && o->test_fraction < 1.0))
                return nasc_errorf(err, NASC_ERR_ARG,
                                   "data: images: test-fraction '%s' (expected 0 < F < 1)",
                                   tok + 14);
        } else {
            return nasc_errorf(err, NASC_ERR_ARG,
                               "data: images: unknown option '%s' (expected input=CxHxW, "
                               "test-fraction=F or skip-bad)",
                               tok);
        }
        q = end;
    }
    return NASC_OK;
}

/* ---- scanning ---- */

/* "a/b" into out; false if it does not fit. */
static bool join(char *out, size_t n, const char *a, const char *b) {
    return snprintf(out, n, "%s/%s", a, b) < (int)n;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the entries of dir (without "." names); dirs_only keeps subfolders, else files.
 * *out is an array of nasc_strdup'd names (free with free_names). */
static nasc_status list_dir(const char *dir, bool dirs_only, char ***out, size_t *out_n,
                            size_t *out_other, nasc_err *err) {
    *out = NULL;
    *out_n = 0;
    if (out_other)
        *out_other = 0;
    DIR *d = opendir(dir);
    if (!d)
        return nasc_errorf_at(err, NASC_ERR_IO, dir, -1, "%s: %s: cannot open (%s)", WHAT, dir,
                              strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    nasc_status st = NASC_OK;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        /* d_type saves a stat per entry (60,000 for CIFAR-10); symlinks and file systems that
         * do not fill it in are stat'ed (following links, as the loader does). */
        bool is_dir = de->d_type == DT_DIR;
        if (de->d_type == DT_UNKNOWN || de->d_type == DT_LNK) {
            char path[PATH_MAX];
            struct stat sb;
            if (!join(path, sizeof path, dir, de->d_name) || stat(path, &sb) != 0)
                continue;
            is_dir = S_ISDIR(sb.st_mode);
        }
        if (is_dir != dirs_only) {
            if (out_other)
                (*out_other)++;
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **g = nasc_realloc(names, cap * sizeof *names);
            if (!g) {
                st = nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", WHAT);
                break;
            }
            names = g;
        }
        if (!(names[n] = nasc_strdup(de->d_name))) {
            st = nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", WHAT);
            break;
        }
        n++;
    }
    closedir(d);
    if (st != NASC_OK) {
        for (size_t i = 0; i < n; i++)
            nasc_free(names[i]);
        nasc_free(names);
        return st;
    }
    if (n)
        qsort(names, n, sizeof *names, cmp_str);
    *out = names;
    *out_n = n;
    return NASC_OK;
}

static void free_names(char **names, size_t n) {
    for (size_t i = 0; i < n; i++)
        nasc_free(names[i]);
    nasc_free(names);
}

static bool image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    if (!dot)
        return false;
    static const char *const ext[] = {".jpg", ".jpeg", ".png", ".pgm", ".ppm", ".pnm"};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (!strcasecmp(dot, ext[i]))
            return true;
    return false;
}

static void scan_free(img_scan *s) {
    for (size_t i = 0; i < s->n; i++)
        nasc_free(s->e[i].path);
    nasc_free(s->e);
    nasc_free(s->names);
    memset(s, 0, sizeof *s);
}

/* Adds the image files of folder `cdir` (class `label`, part `part`). */
static nasc_status scan_class(img_scan *s, const char *cdir, int label, int part, nasc_err *err) {
    char **files = NULL;
    size_t nf = 0, other = 0;
    NASC_TRY(list_dir(cdir, false, &files, &nf, &other, err));
    nasc_status st = NASC_OK;
    size_t added = 0;
    s->n_ignored += other; /* subfolders inside a class folder are not read */
    for (size_t i = 0; i < nf && st == NASC_OK; i++) {
        if (!image_name(files[i])) {
            s->n_ignored++;
            nasc_log(NASC_LOG_INFO, "%s: %s/%s: ignored (not an image file name)", WHAT, cdir,
                     files[i]);
            continue;
        }
        char path[PATH_MAX];
        struct stat sb;
        if (!join(path, sizeof path, cdir, files[i])) {
            st = nasc_errorf(err, NASC_ERR_ARG, "%s: %s/%s: path too long", WHAT, cdir, files[i]);
            break;
        }
        if (stat(path, &sb) != 0) {
            st = nasc_errorf_at(err, NASC_ERR_IO, path, -1, "%s: %s: cannot stat (%s)", WHAT,
                                path, strerror(errno));
            break;
        }
        if (s->n == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 1024;
            img_entry *g = nasc_realloc(s->e, s->cap * sizeof *g);
            if (!g) {
                st = nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", WHAT);
                break;
            }
            s->e = g;
        }
        img_entry *e = &s->e[s->n];
        if (!(e->path = nasc_strdup(path))) {
            st = nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", WHAT);
            break;
        }
        e->label = label;
        e->part = part;
        e->size = (int64_t)sb.st_size;
        e->mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + (int64_t)sb.st_mtim.tv_nsec;
        s->n++;
        added++;
    }
    free_names(files, nf);
    if (st == NASC_OK && added == 0 && part == 0)
        st = nasc_errorf_at(err, NASC_ERR_FORMAT, cdir, -1,
                            "%s: %s: empty class folder (expected at least one .jpg, .jpeg, .png, "
                            ".pgm or .ppm file)",
                            WHAT, cdir);
    return st;
}

static nasc_status scan(const char *root, const img_opts *o, img_scan *s, nasc_err *err) {
    memset(s, 0, sizeof *s);
    snprintf(s->root, sizeof s->root, "%s", root);
    char tr[PATH_MAX], te[PATH_MAX];
    struct stat sb;
    if (!join(tr, sizeof tr, root, "train") || !join(te, sizeof te, root, "test"))
        return nasc_errorf(err, NASC_ERR_ARG, "%s: %s: path too long", WHAT, root);
    s->parts = stat(tr, &sb) == 0 && S_ISDIR(sb.st_mode) && stat(te, &sb) == 0 &&
               S_ISDIR(sb.st_mode);
    const char *base = s->parts ? tr : root;
    char **classes = NULL;
    size_t nc = 0;
    NASC_TRY(list_dir(base, true, &classes, &nc, NULL, err));
    nasc_status st = NASC_OK;
    if (nc == 0)
        st = nasc_errorf_at(err, NASC_ERR_FORMAT, base, -1,
                            "%s: %s: no class folders (expected one subfolder of images per class%s)",
                            WHAT, base, s->parts ? "" : ", or train/ and test/ folders");
    else if (nc > 100000)
        st = nasc_errorf(err, NASC_ERR_FORMAT, "%s: %s: %zu class folders (at most 100000)", WHAT,
                         base, nc);
    if (st == NASC_OK && !(s->names = nasc_calloc(nc, NASC_CLASS_NAME_BYTES)))
        st = nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", WHAT);
    for (size_t k = 0; k < nc && st == NASC_OK; k++) {
        if (strlen(classes[k]) >= NASC_CLASS_NAME_BYTES) {
            st = nasc_errorf_at(err, NASC_ERR_FORMAT, base, -1,
                                "%s: %s/%s: class name longer than %d bytes", WHAT, base,
                                classes[k], NASC_CLASS_NAME_BYTES - 1);
            break;
        }
        memcpy(s->names + k * NASC_CLASS_NAME_BYTES, classes[k], strlen(classes[k]) + 1);
        char cdir[PATH_MAX];
        st = join(cdir, sizeof cdir, base, classes[k])
                 ? scan_class(s, cdir, (int)k, 0, err)
                 : nasc_errorf(err, NASC_ERR_ARG, "%s: %s: path too long", WHAT, base);
    }
    s->n_classes = (int)nc;
    if (st == NASC_OK && s->parts) {
        char **tc = NULL;
        size_t ntc = 0;
        st = list_dir(te, true, &tc, &ntc, NULL, err);
        for (size_t i = 0; i < ntc && st == NASC_OK; i++) {
            char **hit = bsearch(&tc[i], classes, nc, sizeof *classes, cmp_str);
            char cdir[PATH_MAX];
            if (!join(cdir, sizeof cdir, te, tc[i]))
                st = nasc_errorf(err, NASC_ERR_ARG, "%s: %s: path too long", WHAT, te);
            else if (!hit)
                st = nasc_errorf_at(err, NASC_ERR_FORMAT, cdir, -1,
                                    "%s: %s: class '%s' is not a class of %s (expected the same "
                                    "class folders as the training images)",
                                    WHAT, cdir, tc[i], tr);
            else
                st = scan_class(s, cdir, (int)(hit - classes), 1, err);
        }
        free_names(tc, ntc);
    }
    free_names(classes, nc);
    if (st != NASC_OK) {
        scan_free(s);
        return st;
    }
    /* The key: format version, options, classes, then every file. */
    uint64_t h = FNV_INIT;
    const uint32_t v = CACHE_VERSION;
    h = fnv(h, &v, sizeof v);
    h = fnv_opts(h, o);
    h = fnv(h, s->names, (size_t)nc * NASC_CLASS_NAME_BYTES);
    for (size_t i = 0; i < s->n; i++) {
        const img_entry *e = &s->e[i];
        h = fnv(h, e->path + strlen(root), strlen(e->path + strlen(root)) + 1);
        h = fnv(h, &e->label, sizeof e->label);
        h = fnv(h, &e->part, sizeof e->part);
        h = fnv(h, &e->size, sizeof e->size);
        h = fnv(h, &e->mtime_ns, sizeof e->mtime_ns);
    }
    s->key = h;
    return NASC_OK;
}

/* ---- decoding every file ---- */
static nasc_status read_file(const char *path, int64_t size, uint8_t **buf, size_t *cap,
                             size_t *out_n, nasc_err *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return nasc_errorf_at(err, NASC_ERR_IO, path, -1, "%s: %s: cannot open (%s)", WHAT, path,
                              strerror(errno));
    const size_t want = (size_t)(size > 0 ? size : 0) + 1;
    if (want > *cap) {
        uint8_t *g = nasc_realloc(*buf, want);
        if (!g) {
            close(fd);
            return nasc_errorf(err, NASC_ERR_NOMEM, "%s: %s: out of memory", WHAT, path);
        }
        *buf = g;
        *cap = want;
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, *buf + n, *cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            const int e = errno;
            close(fd);
            return nasc_errorf_at(err, NASC_ERR_IO, path, (int64_t)n,
                                  "%s: %s: byte %zu: read failed (%s)", WHAT, path, n,
                                  strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == *cap) { /* the file grew since the scan: read what is there */
            uint8_t *g = nasc_realloc(*buf, *cap * 2);
            if (!g) {
                close(fd);
                return nasc_errorf(err, NASC_ERR_NOMEM, "%s: %s: out of memory", WHAT, path);
            }
            *buf = g;
            *cap *= 2;
        }
    }
    close(fd);
    *out_n = n;
    return NASC_OK;
}

static void set_stats(nasc_dataset *ds) {
    const size_t px = (size_t)ds->n * (size_t)ds->h * (size_t)ds->w;
    for (int c = 0; c < ds->c; c++) {
        double s = 0.0, s2 = 0.0;
        for (size_t i = 0; i < px; i++) {
            const double v = ds->images[i * (size_t)ds->c + (size_t)c] / 255.0;
            s += v;
            s2 += v * v;
        }
        const double mean = px ? s / (double)px : 0.0;
        double var = px ? s2 / (double)px - mean * mean : 0.0;
        ds->mean[c] = (float)mean;
        ds->std[c] = var > 1e-12 ? (float)sqrt(var) : 1.0f; /* a constant channel: no scaling */
    }
}

/* Decodes every file of s into *out_train / *out_test. */
static nasc_status decode_all(const img_scan *s, const img_opts *o, nasc_dataset **out_train,
                              nasc_dataset **out_test, nasc_err *err) {
    *out_train = *out_test = NULL;
    uint8_t *buf = NULL, *px = NULL;
    int32_t *labels = NULL;
    uint8_t *part = NULL;
    size_t cap = 0, n_ok = 0, n_bad = 0;
    int C = o->c, H = o->h, W = o->w;
    nasc_dataset *all = NULL, *tr = NULL, *te = NULL;
    nasc_status st = NASC_OK;
    labels = nasc_malloc((s->n + 1) * sizeof *labels);
    part = nasc_malloc(s->n + 1);
    if (!labels || !part) {
        st = nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", WHAT);
        goto done;
    }
    for (size_t i = 0; i < s->n; i++) {
        const img_entry *e = &s->e[i];
        size_t nb = 0;
        data_image img = {0};
        nasc_err e1 = {0};
        nasc_status fs = read_file(e->path, e->size, &buf, &cap, &nb, &e1);
        if (fs == NASC_OK)
            fs = nasc_data_image_decode(WHAT, e->path, buf, nb, &img, &e1);
        if (fs == NASC_ERR_NOMEM || (fs != NASC_OK && !o->skip_bad)) {
            st = fs;
            if (err && err->code == NASC_OK)
                *err = e1;
            goto done;
        }
        if (fs != NASC_OK) {
            if (n_bad < 10)
                nasc_log(NASC_LOG_WARN, "%s (skipped)", e1.msg);
            n_bad++;
            continue;
        }
        if (!px) { /* the first good image fixes the shape unless input= did */
            if (!C) {
                C = img.c;
                H = img.h;
                W = img.w;
            }
            px = nasc_malloc((s->n + 1) * (size_t)C * (size_t)H * (size_t)W);
            if (!px) {
                nasc_data_image_free(&img);
                st = nasc_errorf(err, NASC_ERR_NOMEM,
                                 "%s: out of memory for %zu images of %dx%dx%d", WHAT, s->n, C, H,
                                 W);
                goto done;
            }
        }
        st = nasc_data_image_fit(&img, H, W, C, px + n_ok * (size_t)C * (size_t)H * (size_t)W,
                                 err);
        nasc_data_image_free(&img);
        if (st != NASC_OK)
            goto done;
        labels[n_ok] = e->label;
        part[n_ok] = (uint8_t)e->part;
        n_ok++;
    }
    if (n_bad)
        nasc_log(NASC_LOG_WARN, "%s: %s: skipped %zu files that are not decodable images", WHAT,
                 s->root, n_bad);
    if (s->n_ignored)
        nasc_log(NASC_LOG_INFO, "%s: %s: ignored %zu entries that are not image files", WHAT,
                 s->root, s->n_ignored);
    if (n_ok == 0) {
        st = nasc_errorf_at(err, NASC_ERR_FORMAT, s->root, -1, "%s: %s: no decodable images",
                            WHAT, s->root);
        goto done;
    }
    /* Everything in one dataset, then the parts. */
    const size_t img_bytes = (size_t)C * (size_t)H * (size_t)W;
    if (n_ok > (size_t)INT32_MAX) {
        st = nasc_errorf(err, NASC_ERR_FORMAT, "%s: %s: too many images", WHAT, s->root);
        goto done;
    }
    if ((st = nasc_dataset_new(WHAT, (int)n_ok, H, W, C, s->n_classes, &all, err)) != NASC_OK)
        goto done;
    memcpy(all->images, px, n_ok * img_bytes);
    memcpy(all->labels, labels, n_ok * sizeof *labels);
    if (s->parts) {
        uint32_t *idx = nasc_malloc((n_ok + 1) * sizeof *idx);
        if (!idx) {
            st = nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", WHAT);
            goto done;
        }
        size_t k = 0;
        for (size_t i = 0; i < n_ok; i++)
            if (part[i] == 0)
                idx[k++] = (uint32_t)i;
        const size_t n_tr = k;
        for (size_t i = 0; i < n_ok; i++)
            if (part[i] == 1)
                idx[k++] = (uint32_t)i;
        if (n_tr == 0 || n_tr == n_ok)
            st = nasc_errorf_at(err, NASC_ERR_FORMAT, s->root, -1,
                                "%s: %s: no %s images", WHAT, s->root,
                                n_tr == 0 ? "training" : "test");
        if (st == NASC_OK)
            st = nasc_dataset_subset(all, idx, n_tr, &tr, err);
        if (st == NASC_OK)
            st = nasc_dataset_subset(all, idx + n_tr, n_ok - n_tr, &te, err);
        nasc_free(idx);
    } else {
        st = nasc_dataset_split(all, o->test_fraction, SPLIT_SEED, &tr, &te, err);
    }
    if (st != NASC_OK)
        goto done;
    set_stats(tr);
    memcpy(te->mean, tr->mean, sizeof te->mean);
    memcpy(te->std, tr->std, sizeof te->std);
    const size_t nb = (size_t)s->n_classes * NASC_CLASS_NAME_BYTES;
    tr->class_names = nasc_malloc(nb);
    te->class_names = nasc_malloc(nb);
    if (!tr->class_names || !te->class_names) {
        st = nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", WHAT);
        goto done;
    }
    memcpy(tr->class_names, s->names, nb);
    memcpy(te->class_names, s->names, nb);
    *out_train = tr;
    *out_test = te;
    tr = te = NULL;
done:
    nasc_dataset_free(all);
    nasc_dataset_free(tr);
    nasc_dataset_free(te);
    nasc_free(buf);
    nasc_free(px);
    nasc_free(labels);
    nasc_free(part);
    return st;
}

/* ---- the cache file ---- */

/* The cache directory (created if needed) into out, or false when caching is off or impossible. */
static bool cache_dir(char *out, size_t n) {
    const char *d = getenv("NASC_CACHE_DIR");
    if (d && !*d)
        return false;
    if (d) {
        snprintf(out, n, "%s", d);
    } else {
        const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
        if (x && *x)
            snprintf(out, n, "%s/nasc", x);
        else if (home && *home)
            snprintf(out, n, "%s/.cache/nasc", home);
        else
            return false;
        if (!x || !*x) { /* ~/.cache may not exist yet */
            char parent[PATH_MAX];
            snprintf(parent, sizeof parent, "%s/.cache", home);
            mkdir(parent, 0755);
        }
    }
    struct stat sb;
    if (mkdir(out, 0755) != 0 && errno != EEXIST)
        return false;
    return stat(out, &sb) == 0 && S_ISDIR(sb.st_mode) && access(out, W_OK | X_OK) == 0;
}

typedef struct cache_hdr {
    char magic[8];         /* "NASCIMG\0" */
    uint32_t version;      /* CACHE_VERSION */
    uint32_t header_bytes; /* 64 */
    uint64_t key;          /* content key */
    int32_t c, h, w;       /* image shape */
    int32_t n_train, n_test, n_classes;
    uint32_t body_crc;     /* CRC-32 of the body */
    uint32_t reserved;
    uint64_t body_bytes;   /* file size - 64 */
} cache_hdr;
_Static_assert(sizeof(cache_hdr) == CACHE_HEADER_BYTES, "cache header layout");

/* Body: class names (n_classes * 64), mean[3], std[3] (floats), labels (int32, train then test),
 * images (uint8 NHWC, train then test). */
static uint64_t body_size(const cache_hdr *h) {
    const uint64_t n = (uint64_t)h->n_train + (uint64_t)h->n_test;
    return (uint64_t)h->n_classes * NASC_CLASS_NAME_BYTES + 24u + 4u * n +
           n * (uint64_t)h->c * (uint64_t)h->h * (uint64_t)h->w;
}

static uint32_t crc_update(uint32_t crc, const void *data, uint64_t n) {
    const uint8_t *p = data;
    uLong c = crc;
    while (n) {
        const uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return (uint32_t)c;
}

static nasc_status write_all(int fd, const void *p, size_t n) {
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return NASC_ERR_IO;
        b += w;
        n -= (size_t)w;
    }
    return NASC_OK;
}

/* Writes the cache atomically (tmp, fsync, rename). Failure only costs the next run a decode. */
static void cache_write(const char *path, const img_scan *s, const nasc_dataset *tr,
                        const nasc_dataset *te) {
    cache_hdr h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, CACHE_MAGIC, 8);
    h.version = CACHE_VERSION;
    h.header_bytes = CACHE_HEADER_BYTES;
    h.key = s->key;
    h.c = tr->c;
    h.h = tr->h;
    h.w = tr->w;
    h.n_train = tr->n;
    h.n_test = te->n;
    h.n_classes = tr->n_classes;
    h.body_bytes = body_size(&h);
    float ms[6] = {tr->mean[0], tr->mean[1], tr->mean[2], tr->std[0], tr->std[1], tr->std[2]};
    const size_t names = (size_t)h.n_classes * NASC_CLASS_NAME_BYTES;
    const size_t trb = (size_t)tr->n * nasc_dataset_image_bytes(tr);
    const size_t teb = (size_t)te->n * nasc_dataset_image_bytes(te);
    uint32_t c = crc_update(0, s->names, names); /* the body in file order */
    c = crc_update(c, ms, sizeof ms);
    c = crc_update(c, tr->labels, 4u * (uint64_t)tr->n);
    c = crc_update(c, te->labels, 4u * (uint64_t)te->n);
    c = crc_update(c, tr->images, trb);
    c = crc_update(c, te->images, teb);
    h.body_crc = c;
    char tmp[PATH_MAX + 80];
    int fd = snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) < (int)sizeof tmp ? mkstemp(tmp) : -1;
    if (fd < 0) {
        nasc_log(NASC_LOG_WARN, "%s: cannot create the cache %s (%s); next run decodes again",
                 WHAT, tmp, strerror(errno));
        return;
    }
    nasc_status st = write_all(fd, &h, sizeof h);
    if (st == NASC_OK)
        st = write_all(fd, s->names, names);
    if (st == NASC_OK)
        st = write_all(fd, ms, sizeof ms);
    if (st == NASC_OK)
        st = write_all(fd, tr->labels, 4u * (size_t)tr->n);
    if (st == NASC_OK)
        st = write_all(fd, te->labels, 4u * (size_t)te->n);
    if (st == NASC_OK)
        st = write_all(fd, tr->images, trb);
    if (st == NASC_OK)
        st = write_all(fd, te->images, teb);
    if (st == NASC_OK && fsync(fd) != 0)
        st = NASC_ERR_IO;
    if (close(fd) != 0)
        st = NASC_ERR_IO;
    if (st == NASC_OK && rename(tmp, path) != 0)
        st = NASC_ERR_IO;
    if (st != NASC_OK) {
        nasc_log(NASC_LOG_WARN, "%s: cannot write the cache %s (%s); next run decodes again",
                 WHAT, path, strerror(errno));
        unlink(tmp);
    }
}

/* Maps the cache and copies out the requested part. Returns NASC_OK with *out set on a hit;
 * NASC_ERR_FORMAT (no message) on a miss, stale key or damaged file; NASC_ERR_NOMEM. */
static nasc_status cache_read(const char *path, const img_scan *s, const img_opts *o,
                              nasc_split split, nasc_dataset **out, nasc_err *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NASC_ERR_FORMAT;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || sb.st_size < (off_t)CACHE_HEADER_BYTES) {
        close(fd);
        return NASC_ERR_FORMAT;
    }
    const size_t size = (size_t)sb.st_size;
    const uint8_t *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return NASC_ERR_FORMAT;
    nasc_status st = NASC_ERR_FORMAT;
    cache_hdr h;
    memcpy(&h, map, sizeof h);
    const char *why = "damaged";
    if (memcmp(h.magic, CACHE_MAGIC, 8) || h.version != CACHE_VERSION ||
        h.header_bytes != CACHE_HEADER_BYTES)
        why = "not a cache of this version";
    else if (h.key != s->key)
        why = "stale (the folder changed)";
    else if (h.c < 1 || h.c > 3 || h.h < 1 || h.w < 1 || h.h > 65536 || h.w > 65536 ||
             h.n_train < 1 || h.n_test < 1 || h.n_classes != s->n_classes ||
             (o->c && (h.c != o->c || h.h != o->h || h.w != o->w)) ||
             h.body_bytes != size - CACHE_HEADER_BYTES || body_size(&h) != h.body_bytes)
        why = "damaged (sizes)";
    else if (crc_update(0, map + CACHE_HEADER_BYTES, h.body_bytes) != h.body_crc)
        why = "damaged (checksum)";
    else
        why = NULL;
    if (why) {
        nasc_log(NASC_LOG_INFO, "%s: cache %s is %s: decoding the images again", WHAT, path, why);
        goto done;
    }
    const uint8_t *p = map + CACHE_HEADER_BYTES;
    const uint8_t *names = p;
    float ms[6];
    memcpy(ms, p + (size_t)h.n_classes * NASC_CLASS_NAME_BYTES, sizeof ms);
    const uint8_t *lab = p + (size_t)h.n_classes * NASC_CLASS_NAME_BYTES + 24;
    const size_t n_all = (size_t)h.n_train + (size_t)h.n_test;
    const size_t img = (size_t)h.c * (size_t)h.h * (size_t)h.w;
    const uint8_t *imgs = lab + 4 * n_all;
    const size_t first = split == NASC_SPLIT_TRAIN ? 0 : (size_t)h.n_train;
    const int n = split == NASC_SPLIT_TRAIN ? h.n_train : h.n_test;
    nasc_dataset *ds = NULL;
    if ((st = nasc_dataset_new(WHAT, n, h.h, h.w, h.c, h.n_classes, &ds, err)) != NASC_OK)
        goto done;
    memcpy(ds->labels, lab + 4 * first, 4 * (size_t)n);
    memcpy(ds->images, imgs + first * img, (size_t)n * img);
    for (int c = 0; c < 3; c++) {
        ds->mean[c] = ms[c];
        ds->std[c] = ms[3 + c];
    }
    for (int i = 0; i < n; i++)
        if (ds->labels[i] < 0 || ds->labels[i] >= h.n_classes) {
            nasc_dataset_free(ds);
            st = NASC_ERR_FORMAT;
            goto done;
        }
    if (!(ds->class_names = nasc_malloc((size_t)h.n_classes * NASC_CLASS_NAME_BYTES))) {
        nasc_dataset_free(ds);
        st = nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", WHAT);
        goto done;
    }
    memcpy(ds->class_names, names, (size_t)h.n_classes * NASC_CLASS_NAME_BYTES);
    for (int k = 0; k < h.n_classes; k++) /* never trust a name's terminator on disk */
        ds->class_names[(size_t)k * NASC_CLASS_NAME_BYTES + NASC_CLASS_NAME_BYTES - 1] = '\0';
    *out = ds;
    st = NASC_OK;
done:
    munmap((void *)map, size);
    return st;
}

nasc_status nasc_data_images_load(const char *spec, nasc_split split, nasc_dataset **out,
                                  nasc_err *err) {
    *out = NULL;
    char dir[PATH_MAX];
    img_opts o;
    NASC_TRY(parse_spec(spec, dir, sizeof dir, &o, err));
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return nasc_errorf_at(err, NASC_ERR_IO, dir, -1, "%s: %s: %s", WHAT, dir,
                              stat(dir, &sb) != 0 ? strerror(errno) : "not a directory");
    img_scan s;
    NASC_TRY(scan(dir, &o, &s, err));
    /* Cache file name: the folder's real path and the options. */
    char cdir[PATH_MAX], cpath[PATH_MAX + 64], real[PATH_MAX];
    const bool cached = cache_dir(cdir, sizeof cdir);
    if (cached) {
        if (!realpath(dir, real))
            snprintf(real, sizeof real, "%s", dir);
        uint64_t h = fnv(FNV_INIT, real, strlen(real));
        h = fnv_opts(h, &o);
        snprintf(cpath, sizeof cpath, "%s/images-%016llx.cache", cdir, (unsigned long long)h);
        nasc_status st = cache_read(cpath, &s, &o, split, out, err);
        if (st == NASC_OK)
            nasc_log(NASC_LOG_DEBUG, "%s: %s: %d images from the cache %s", WHAT, dir,
                     (*out)->n, cpath);
        if (st == NASC_OK || st == NASC_ERR_NOMEM) {
            scan_free(&s);
            return st;
        }
    }
    nasc_dataset *tr = NULL, *te = NULL;
    nasc_status st = decode_all(&s, &o, &tr, &te, err);
    if (st == NASC_OK) {
        nasc_log(NASC_LOG_DEBUG, "%s: %s: decoded %d + %d images (cache %s)", WHAT, dir, tr->n,
                 te->n, cached ? cpath : "off");
        if (cached)
            cache_write(cpath, &s, tr, te);
        if (split == NASC_SPLIT_TRAIN) {
            *out = tr;
            tr = NULL;
        } else {
            *out = te;
            te = NULL;
        }
    }
    nasc_dataset_free(tr);
    nasc_dataset_free(te);
    scan_free(&s);
    return st;
}
