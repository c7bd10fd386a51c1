/* fuzz_util.h — shared pieces of the libFuzzer harnesses (fuzz/README.md): the input written to a
 * scratch file (nasc's readers take paths), CRC fixing so the fuzzer gets past checksums, and a
 * scratch directory per process. Harness inputs never reach the network or the user's files. */
#ifndef NASC_FUZZ_UTIL_H
#define NASC_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "nasc/status.h"

/* A scratch directory for this process, created once and removed at exit. */
static char fuzz_dir_path[64];

static void fuzz_dir_remove(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir_path);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", fuzz_dir_path);
}

static const char *fuzz_dir(void) {
    if (!fuzz_dir_path[0]) {
        /* memory-backed where there is one: every input is written to a file */
        snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/nasc_fuzz.XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(fuzz_dir_path))
            abort();
        atexit(fuzz_dir_remove);
    }
    return fuzz_dir_path;
}

/* path = fuzz_dir()/name; returns path. */
static const char *fuzz_path(char *path, size_t n, const char *name) {
    snprintf(path, n, "%s/%s", fuzz_dir(), name);
    return path;
}

/* Writes data to path (truncating); aborts if the scratch file cannot be written. */
static void fuzz_write(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        abort();
}

static uint32_t fuzz_crc(const uint8_t *p, size_t n) {
    return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)n);
}

static void fuzz_put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void fuzz_put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* Weights and training checkpoints (docs/FORMAT.md): body size at 24, body CRC at 32, header CRC
 * at 60; fixes all three so that the fuzzer reaches the metadata and the tensor table. */
static void fuzz_fix_weights(uint8_t *p, size_t n) {
    if (n < 64)
        return;
    fuzz_put_u64(p + 24, (uint64_t)(n - 64));
    fuzz_put_u32(p + 32, fuzz_crc(p + 64, n - 64));
    fuzz_put_u32(p + 60, fuzz_crc(p, 60));
}

/* One-shot checkpoints: payload length at 16, payload CRC at 24, 32-byte header. */
static void fuzz_fix_oneshot(uint8_t *p, size_t n) {
    if (n < 32)
        return;
    fuzz_put_u64(p + 16, (uint64_t)(n - 32));
    fuzz_put_u32(p + 24, fuzz_crc(p + 32, n - 32));
}

static void fuzz_log_none(nasc_log_level level, const char *msg, void *user) {
    (void)level, (void)msg, (void)user;
}

/* The library's warnings about a bad input would flood the fuzzer's output. */
static void fuzz_quiet_logs(void) { nasc_log_set(fuzz_log_none, NULL, NASC_LOG_ERROR); }

/* ---- a tiny Fashion-MNIST-shaped dataset (random pixels) for the one-shot harness ---- */

static void fuzz_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* Writes DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte with n 28x28 images each. */
static void fuzz_write_idx(const char *dir, int n) {
    static const char *const prefix[] = {"train", "t10k"};
    uint32_t x = 12345;
    for (int s = 0; s < 2; s++) {
        size_t ni = 16 + (size_t)n * 784, nl = 8 + (size_t)n;
        uint8_t *im = calloc(ni, 1), *lb = calloc(nl, 1);
        im[2] = 8, im[3] = 3, lb[2] = 8, lb[3] = 1;
        fuzz_be32(im + 4, (uint32_t)n), fuzz_be32(im + 8, 28), fuzz_be32(im + 12, 28);
        fuzz_be32(lb + 4, (uint32_t)n);
        for (size_t i = 16; i < ni; i++)
            im[i] = (uint8_t)((x = x * 1103515245u + 12345u) >> 24);
        for (int i = 0; i < n; i++)
            lb[8 + i] = (uint8_t)(i % 10);
        char path[256];
        snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix[s]);
        fuzz_write(path, im, ni);
        snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix[s]);
        fuzz_write(path, lb, nl);
        free(im), free(lb);
    }
}

#endif /* NASC_FUZZ_UTIL_H */
