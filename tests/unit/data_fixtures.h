/* data_fixtures.h — small idx and CIFAR files written at run time for the data tests (unit and
 * fault), plain or gzip-compressed, with predictable contents:
 *   idx image i, row h, column w:        fx_idx_pixel(i, h, w)
 *   idx label i:                         i % 10
 *   CIFAR image i, channel c, row h, w:  fx_cifar_pixel(i, c, h, w)
 *   CIFAR label i:                       i % n_classes (coarse i % 20 for CIFAR-100) */
#ifndef NASC_TEST_DATA_FIXTURES_H
#define NASC_TEST_DATA_FIXTURES_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

typedef struct fx_buf {
    unsigned char *p;
    size_t n;
} fx_buf;

static inline uint8_t fx_idx_pixel(int i, int h, int w) {
    return (uint8_t)(i * 7 + h * 3 + w);
}
static inline uint8_t fx_cifar_pixel(int i, int c, int h, int w) {
    return (uint8_t)(i * 11 + c * 85 + h * 5 + w * 3);
}

static inline void fx_put_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* idx images file: magic 0x803, n, rows, cols, pixels. */
static inline fx_buf fx_idx_images(int n, int rows, int cols) {
    fx_buf b = {NULL, 16 + (size_t)n * (size_t)rows * (size_t)cols};
    b.p = malloc(b.n);
    fx_put_be32(b.p, 0x803);
    fx_put_be32(b.p + 4, (uint32_t)n);
    fx_put_be32(b.p + 8, (uint32_t)rows);
    fx_put_be32(b.p + 12, (uint32_t)cols);
    unsigned char *px = b.p + 16;
    for (int i = 0; i < n; i++)
        for (int h = 0; h < rows; h++)
            for (int w = 0; w < cols; w++)
                *px++ = fx_idx_pixel(i, h, w);
    return b;
}

/* idx labels file: magic 0x801, n, labels i % 10. */
static inline fx_buf fx_idx_labels(int n) {
    fx_buf b = {NULL, 8 + (size_t)n};
    b.p = malloc(b.n);
    fx_put_be32(b.p, 0x801);
    fx_put_be32(b.p + 4, (uint32_t)n);
    for (int i = 0; i < n; i++)
        b.p[8 + i] = (unsigned char)(i % 10);
    return b;
}

/* CIFAR batch of n records starting at image `first`: [coarse,] label, 3072 CHW pixels. */
static inline fx_buf fx_cifar(int first, int n, int label_bytes, int n_classes) {
    const size_t rec = (size_t)label_bytes + 3072;
    fx_buf b = {malloc(rec * (size_t)n), rec * (size_t)n};
    for (int r = 0; r < n; r++) {
        int i = first + r;
        unsigned char *p = b.p + rec * (size_t)r;
        if (label_bytes == 2)
            *p++ = (unsigned char)(i % 20);
        *p++ = (unsigned char)(i % n_classes);
        for (int c = 0; c < 3; c++)
            for (int h = 0; h < 32; h++)
                for (int w = 0; w < 32; w++)
                    *p++ = fx_cifar_pixel(i, c, h, w);
    }
    return b;
}

/* gzip-compresses b (deflate with the gzip wrapper). */
static inline fx_buf fx_gzip(fx_buf b) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    fx_buf out = {NULL, deflateBound(&zs, (uLong)b.n) + 64};
    out.p = malloc(out.n);
    zs.next_in = b.p;
    zs.avail_in = (uInt)b.n;
    zs.next_out = out.p;
    zs.avail_out = (uInt)out.n;
    deflate(&zs, Z_FINISH);
    out.n = zs.total_out;
    deflateEnd(&zs);
    return out;
}

static inline void fx_write(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(1);
    }
    if (n && fwrite(p, 1, n, f) != n) {
        perror(path);
        exit(1);
    }
    fclose(f);
}

static inline void fx_write_buf(const char *dir, const char *name, fx_buf b) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fx_write(path, b.p, b.n);
}

static inline void fx_free(fx_buf *b) {
    free(b->p);
    b->p = NULL;
    b->n = 0;
}

static inline fx_buf fx_copy(fx_buf b) {
    fx_buf c = {malloc(b.n + 1), b.n};
    memcpy(c.p, b.p, b.n);
    return c;
}

/* A fresh directory under /tmp: path written to dir (at least 64 bytes). */
static inline void fx_mkdtemp(char *dir, size_t n, const char *tag) {
    snprintf(dir, n, "/tmp/nasc_%s_XXXXXX", tag);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
}

static inline void fx_mkdir(const char *dir, const char *sub, char *out, size_t n) {
    snprintf(out, n, "%s/%s", dir, sub);
    mkdir(out, 0755);
}

/* Removes dir and the files in it (one level of subdirectories). */
static inline void fx_rmtree(const char *dir) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", dir);
}

/* Writes an idx dataset of n 28x28 images into dir (train or t10k prefix), plain or gzip. */
static inline void fx_write_idx(const char *dir, const char *prefix, int n, int gz) {
    fx_buf im = fx_idx_images(n, 28, 28), lb = fx_idx_labels(n);
    char name[128];
    if (gz) {
        fx_buf zi = fx_gzip(im), zl = fx_gzip(lb);
        snprintf(name, sizeof name, "%s-images-idx3-ubyte.gz", prefix);
        fx_write_buf(dir, name, zi);
        snprintf(name, sizeof name, "%s-labels-idx1-ubyte.gz", prefix);
        fx_write_buf(dir, name, zl);
        fx_free(&zi);
        fx_free(&zl);
    } else {
        snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
        fx_write_buf(dir, name, im);
        snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
        fx_write_buf(dir, name, lb);
    }
    fx_free(&im);
    fx_free(&lb);
}

#endif /* NASC_TEST_DATA_FIXTURES_H */
