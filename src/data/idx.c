/* idx.c — MNIST and Fashion-MNIST in LeCun's idx format (plain or gzip):
 *   labels: u32 magic 0x00000801, u32 n, then n label bytes              (8 + n bytes)
 *   images: u32 magic 0x00000803, u32 n, u32 rows, u32 cols, n*rows*cols (16 + n*784 bytes)
 * all integers big-endian. The labels file is read and validated first: its size is then backed by
 * real data, so a corrupt image count is caught by the count check before n*784 bytes are
 * allocated. Pixels are stored as read: (N, 28, 28, 1) is already NHWC. */
#include "data_int.h"

#include "nasc/arena.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

enum {
    IDX_LABELS_MAGIC = 0x00000801,
    IDX_IMAGES_MAGIC = 0x00000803,
    IDX_LABELS_HEADER = 8,
    IDX_IMAGES_HEADER = 16,
    IDX_SIDE = 28,
    IDX_CLASSES = 10
};

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Reads n bytes into a new buffer. For gzip the buffer grows as data arrives (doubling from 1 MiB),
 * so a header claiming 4 billion labels over a small stream fails as "truncated" without first
 * allocating 4 GB. Plain files were size-checked already, so they get one exact allocation. */
static nasc_status read_alloc(data_file *f, size_t n, int64_t total, uint8_t **out, nasc_err *err) {
    *out = NULL;
    size_t cap = n;
    if (f->gz && cap > ((size_t)1 << 20))
        cap = (size_t)1 << 20;
    uint8_t *buf = nasc_malloc(cap);
    if (!buf)
        return nasc_errorf_at(err, NASC_ERR_NOMEM, f->path, -1, "%s: %s: out of memory (%zu bytes)",
                              f->what, f->path, cap);
    size_t have = 0;
    while (have < n) {
        if (have == cap) {
            size_t next = cap > n / 2 ? n : cap * 2;
            uint8_t *grown = nasc_realloc(buf, next);
            if (!grown) {
                nasc_free(buf);
                return nasc_errorf_at(err, NASC_ERR_NOMEM, f->path, -1,
                                      "%s: %s: out of memory (%zu bytes)", f->what, f->path, next);
            }
            buf = grown;
            cap = next;
        }
        nasc_status st = nasc_data_file_read(f, buf + have, cap - have, total, err);
        if (st != NASC_OK) {
            nasc_free(buf);
            return st;
        }
        have = cap;
    }
    *out = buf;
    return NASC_OK;
}

/* Labels file: header, exact size, every label in [0, 10). *out_raw (n bytes) is the caller's. */
static nasc_status load_labels(const char *what, const char *path, uint8_t **out_raw,
                               uint32_t *out_n, nasc_err *err) {
    data_file f;
    uint8_t *raw = NULL;
    unsigned char hdr[IDX_LABELS_HEADER];
    nasc_status st = nasc_data_file_open(&f, what, path, err);
    if (st != NASC_OK)
        return st;
    if ((st = nasc_data_file_read_header(&f, hdr, sizeof hdr, err)) != NASC_OK)
        goto fail;
    uint32_t magic = be32(hdr), n = be32(hdr + 4);
    if (magic != IDX_LABELS_MAGIC) {
        st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, 0,
                            "%s: %s: byte 0: bad magic 0x%08x (expected 0x%08x for labels)", what,
                            path, magic, IDX_LABELS_MAGIC);
        goto fail;
    }
    if (n == 0 || n > INT_MAX) {
        st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, 4,
                            "%s: %s: byte 4: label count %u out of range [1,%d]", what, path, n,
                            INT_MAX);
        goto fail;
    }
    /* Plain files: the size on disk must match the count before anything is allocated. */
    int64_t total = IDX_LABELS_HEADER + (int64_t)n;
    if ((st = nasc_data_file_check_size(&f, total, err)) != NASC_OK)
        goto fail;
    if ((st = read_alloc(&f, n, total, &raw, err)) != NASC_OK)
        goto fail;
    for (uint32_t i = 0; i < n; i++) {
        if (raw[i] >= IDX_CLASSES) {
            st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, IDX_LABELS_HEADER + (int64_t)i,
                                "%s: %s: byte %lld: label %u out of range [0,%d]", what, path,
                                (long long)(IDX_LABELS_HEADER + (int64_t)i), raw[i],
                                IDX_CLASSES - 1);
            goto fail;
        }
    }
    if ((st = nasc_data_file_finish(&f, total, err)) != NASC_OK)
        goto fail;
    nasc_data_file_close(&f);
    *out_raw = raw;
    *out_n = n;
    return NASC_OK;
fail:
    nasc_free(raw);
    nasc_data_file_close(&f);
    return st;
}

/* Images file: header (magic, count == n_labels, 28x28), exact size, pixels into ds->images. */
static nasc_status load_images(const char *what, const char *path, const char *labels_path,
                               const uint8_t *labels, uint32_t n_labels, nasc_dataset **out,
                               nasc_err *err) {
    data_file f;
    nasc_dataset *ds = NULL;
    unsigned char hdr[IDX_IMAGES_HEADER];
    nasc_status st = nasc_data_file_open(&f, what, path, err);
    if (st != NASC_OK)
        return st;
    if ((st = nasc_data_file_read_header(&f, hdr, sizeof hdr, err)) != NASC_OK)
        goto fail;
    uint32_t magic = be32(hdr), n = be32(hdr + 4), rows = be32(hdr + 8), cols = be32(hdr + 12);
    if (magic != IDX_IMAGES_MAGIC) {
        st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, 0,
                            "%s: %s: byte 0: bad magic 0x%08x (expected 0x%08x for images)", what,
                            path, magic, IDX_IMAGES_MAGIC);
        goto fail;
    }
    /* MNIST and Fashion-MNIST are 28x28; other sizes would be another dataset, so refuse them
     * rather than train a network built for 28x28 on them. */
    if (rows != IDX_SIDE) {
        st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, 8,
                            "%s: %s: byte 8: %u rows per image (expected %d)", what, path, rows,
                            IDX_SIDE);
        goto fail;
    }
    if (cols != IDX_SIDE) {
        st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, 12,
                            "%s: %s: byte 12: %u columns per image (expected %d)", what, path, cols,
                            IDX_SIDE);
        goto fail;
    }
    /* Checked before the size: a count that disagrees with the (already validated) labels file
     * is reported as a mismatch, not as a truncation of a file that is fine for its header. */
    if (n != n_labels) {
        st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, 4,
                            "%s: %s: byte 4: %u images but %s holds %u labels", what, path, n,
                            labels_path, n_labels);
        goto fail;
    }
    const int64_t image_bytes = IDX_SIDE * IDX_SIDE;
    int64_t total = IDX_IMAGES_HEADER + (int64_t)n * image_bytes;
    if ((st = nasc_data_file_check_size(&f, total, err)) != NASC_OK)
        goto fail;
    if ((st = nasc_dataset_new(what, (int)n, IDX_SIDE, IDX_SIDE, 1, IDX_CLASSES, &ds, err)) !=
        NASC_OK)
        goto fail;
    if ((st = nasc_data_file_read(&f, ds->images, (size_t)n * (size_t)image_bytes, total, err)) !=
        NASC_OK)
        goto fail;
    if ((st = nasc_data_file_finish(&f, total, err)) != NASC_OK)
        goto fail;
    for (uint32_t i = 0; i < n; i++) /* validated by load_labels: all in [0, 10) */
        ds->labels[i] = labels[i];
    nasc_data_file_close(&f);
    *out = ds;
    return NASC_OK;
fail:
    nasc_dataset_free(ds);
    nasc_data_file_close(&f);
    return st;
}

nasc_status nasc_data_idx_load(data_kind kind, const char *what, const char *dir, nasc_split split,
                               nasc_dataset **out, nasc_err *err) {
    *out = NULL;
    const char *prefix = split == NASC_SPLIT_TRAIN ? "train" : "t10k";
    char img_gz[64], img_raw[64], lbl_gz[64], lbl_raw[64];
    snprintf(img_gz, sizeof img_gz, "%s-images-idx3-ubyte.gz", prefix);
    snprintf(img_raw, sizeof img_raw, "%s-images-idx3-ubyte", prefix);
    snprintf(lbl_gz, sizeof lbl_gz, "%s-labels-idx1-ubyte.gz", prefix);
    snprintf(lbl_raw, sizeof lbl_raw, "%s-labels-idx1-ubyte", prefix);
    const char *img_names[] = {img_gz, img_raw}, *lbl_names[] = {lbl_gz, lbl_raw};
    char img_path[4096], lbl_path[4096];
    NASC_TRY(nasc_data_find_file(what, dir, lbl_names, 2, lbl_path, sizeof lbl_path, err));
    NASC_TRY(nasc_data_find_file(what, dir, img_names, 2, img_path, sizeof img_path, err));

    uint8_t *labels = NULL;
    uint32_t n = 0;
    NASC_TRY(load_labels(what, lbl_path, &labels, &n, err));
    nasc_dataset *ds = NULL;
    nasc_status st = load_images(what, img_path, lbl_path, labels, n, &ds, err);
    nasc_free(labels);
    if (st != NASC_OK)
        return st;
    if (kind == DATA_MNIST) { /* the usual constants (torchvision examples, DARTS) */
        ds->mean[0] = 0.1307f;
        ds->std[0] = 0.3081f;
    } else {
        ds->mean[0] = 0.2860f;
        ds->std[0] = 0.3530f;
    }
    *out = ds;
    return NASC_OK;
}
