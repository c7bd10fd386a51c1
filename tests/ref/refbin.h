/* refbin.h — reader of the PyTorch reference files tests/ref/{ops,sgd}.bin (gen_torch.py).
 * Test-only and header-only (static functions), shared by test_ref_ops.c and test_ref_sgd.c.
 *
 * Format (byte by byte in docs/FORMAT_REF.md, "Reference value files"), all little-endian:
 *   0  char[8]  magic "NASC_REF"
 *   8  u32      version (1)
 *  12  u32      info_bytes: length of the info text after the header
 *  16  u32      n_tensors
 *  20  u32      CRC-32 (zlib / PNG polynomial) of every byte from offset 32 to the end
 *  24  u64      file_bytes: the total file size
 *  32  info text (UTF-8, not NUL-terminated), then n_tensors records:
 *        char name[48] (NUL-padded, at least one NUL), i32 ne[4] (N,C,H,W, each >= 1),
 *        f32 data[N*C*H*W] in NHWC storage order.
 *
 * The reader validates everything before it trusts a byte: a bad file gives NASC_ERR_IO (cannot
 * open / read) or NASC_ERR_FORMAT with a message naming the file and the byte offset, e.g.
 *   refbin: tests/ref/ops.bin: byte 8: version 1 expected (got 2)
 * and never reads out of bounds (the ASan build checks it, as do the corruption cases in
 * test_ref_ops.c). Ownership: refbin_load/parse fill a caller-owned refbin whose tensors and data
 * are heap copies freed by refbin_free (also safe on a zeroed or half-filled refbin). */
#ifndef NASC_TEST_REFBIN_H
#define NASC_TEST_REFBIN_H

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "nasc/status.h"

#define REFBIN_MAGIC "NASC_REF"
#define REFBIN_VERSION 1u
#define REFBIN_HEADER_BYTES 32u
#define REFBIN_NAME_BYTES 48u
#define REFBIN_RECORD_HEAD (REFBIN_NAME_BYTES + 16u)
#define REFBIN_MAX_ELEMS (1u << 24) /* 64 MiB of floats: far above any reference tensor */

typedef struct refbin_tensor {
    char name[REFBIN_NAME_BYTES]; /* "<case>/<tensor>" */
    int ne[4];                    /* logical (N,C,H,W) */
    size_t n;                     /* N*C*H*W */
    float *data;                  /* n floats, NHWC; owned by the refbin */
    int used;                     /* lookups by the test (an unused tensor is a test bug) */
} refbin_tensor;

typedef struct refbin {
    char path[256]; /* as given, for messages */
    char info[256]; /* the header text (truncated to fit), NUL-terminated */
    int n;          /* tensors */
    refbin_tensor *t;
} refbin;

static uint32_t refbin_u32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t refbin_u64(const unsigned char *p) {
    return (uint64_t)refbin_u32(p) | (uint64_t)refbin_u32(p + 4) << 32;
}

static uint32_t refbin_crc(const unsigned char *p, size_t n) {
    uLong c = crc32(0L, Z_NULL, 0);
    while (n > 0) { /* zlib takes uInt lengths */
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return (uint32_t)c;
}

static void refbin_free(refbin *rb) {
    if (!rb)
        return;
    if (rb->t)
        for (int i = 0; i < rb->n; i++)
            free(rb->t[i].data);
    free(rb->t);
    rb->t = NULL;
    rb->n = 0;
}

/* Parses size bytes at buf (the whole file). path only names the file in messages. On failure
 * returns NASC_ERR_FORMAT (or NOMEM) with err set, and rb holds nothing. */
static nasc_status refbin_parse(refbin *rb, const unsigned char *buf, size_t size, const char *path,
                                nasc_err *err) {
    memset(rb, 0, sizeof *rb);
    snprintf(rb->path, sizeof rb->path, "%s", path);
#define REFBIN_FAIL(off, ...)                                                                      \
    do {                                                                                           \
        char m_[400];                                                                              \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                                      \
        refbin_free(rb);                                                                           \
        return nasc_errorf_at(err, NASC_ERR_FORMAT, path, (int64_t)(off),                          \
                              "refbin: %s: byte %llu: %s", path, (unsigned long long)(off), m_);   \
    } while (0)
    if (size < REFBIN_HEADER_BYTES)
        REFBIN_FAIL(size, "file too short for the %u-byte header (got %zu bytes)",
                    REFBIN_HEADER_BYTES, size);
    if (memcmp(buf, REFBIN_MAGIC, 8) != 0)
        REFBIN_FAIL(0, "magic \"%s\" expected (got %02x %02x %02x %02x %02x %02x %02x %02x)",
                    REFBIN_MAGIC, buf[0], buf[1], buf[2], buf[3], buf[4], buf[5], buf[6], buf[7]);
    const uint32_t version = refbin_u32(buf + 8), info_bytes = refbin_u32(buf + 12);
    const uint32_t n_tensors = refbin_u32(buf + 16), crc = refbin_u32(buf + 20);
    const uint64_t file_bytes = refbin_u64(buf + 24);
    if (version != REFBIN_VERSION)
        REFBIN_FAIL(8, "version %u expected (got %u)", REFBIN_VERSION, version);
    if (file_bytes != size)
        REFBIN_FAIL(24, "file size %llu in the header (got %zu bytes: truncated or padded)",
                    (unsigned long long)file_bytes, size);
    if (info_bytes > size - REFBIN_HEADER_BYTES)
        REFBIN_FAIL(12, "info text of at most %zu bytes expected (got %u)",
                    size - REFBIN_HEADER_BYTES, info_bytes);
    const size_t body = size - REFBIN_HEADER_BYTES - info_bytes;
    if (n_tensors == 0 || n_tensors > body / (REFBIN_RECORD_HEAD + 4u))
        REFBIN_FAIL(16, "between 1 and %zu tensors expected in %zu bytes (got %u)",
                    body / (REFBIN_RECORD_HEAD + 4u), body, n_tensors);
    const uint32_t crc_got = refbin_crc(buf + REFBIN_HEADER_BYTES, size - REFBIN_HEADER_BYTES);
    if (crc != crc_got)
        REFBIN_FAIL(20, "checksum %08x in the header does not match the data (computed %08x)", crc,
                    crc_got);
    const size_t ni = info_bytes < sizeof rb->info ? info_bytes : sizeof rb->info - 1;
    memcpy(rb->info, buf + REFBIN_HEADER_BYTES, ni);
    rb->info[ni] = '\0';
    rb->t = calloc(n_tensors, sizeof *rb->t);
    if (!rb->t)
        return nasc_errorf(err, NASC_ERR_NOMEM, "refbin: %s: out of memory", path);
    size_t off = REFBIN_HEADER_BYTES + info_bytes;
    for (uint32_t i = 0; i < n_tensors; i++) {
        refbin_tensor *t = &rb->t[i];
        if (size - off < REFBIN_RECORD_HEAD)
            REFBIN_FAIL(off, "record %u: %u-byte name and dims expected (got %zu bytes)", i,
                        REFBIN_RECORD_HEAD, size - off);
        const unsigned char *name = buf + off;
        const unsigned char *nul = memchr(name, 0, REFBIN_NAME_BYTES);
        if (!nul || nul == name)
            REFBIN_FAIL(off, "record %u: a NUL-terminated name of 1..%u bytes expected", i,
                        REFBIN_NAME_BYTES - 1);
        for (const unsigned char *c = name; c < nul; c++)
            if (*c < 0x20 || *c > 0x7e)
                REFBIN_FAIL(off + (size_t)(c - name),
                            "record %u: printable name expected "
                            "(got byte %02x)",
                            i, *c);
        memcpy(t->name, name, (size_t)(nul - name) + 1);
        for (uint32_t j = 0; j < i; j++)
            if (!strcmp(rb->t[j].name, t->name))
                REFBIN_FAIL(off, "record %u: name '%s' already used by record %u", i, t->name, j);
        size_t n = 1;
        for (int d = 0; d < 4; d++) {
            const int32_t v = (int32_t)refbin_u32(buf + off + REFBIN_NAME_BYTES + 4 * d);
            if (v < 1 || (uint32_t)v > REFBIN_MAX_ELEMS)
                REFBIN_FAIL(off + REFBIN_NAME_BYTES + 4 * (size_t)d,
                            "record %u '%s': dim %d in [1,%u] expected (got %d)", i, t->name, d,
                            REFBIN_MAX_ELEMS, v);
            t->ne[d] = v;
            n *= (size_t)v;
            if (n > REFBIN_MAX_ELEMS)
                REFBIN_FAIL(off + REFBIN_NAME_BYTES,
                            "record %u '%s': at most %u elements "
                            "expected",
                            i, t->name, REFBIN_MAX_ELEMS);
        }
        off += REFBIN_RECORD_HEAD;
        if ((size - off) / 4 < n)
            REFBIN_FAIL(off, "record %u '%s' (%d,%d,%d,%d): %zu bytes of data expected (got %zu)",
                        i, t->name, t->ne[0], t->ne[1], t->ne[2], t->ne[3], 4 * n, size - off);
        t->n = n;
        t->data = malloc(n * sizeof(float));
        rb->n = (int)i + 1; /* so that refbin_free releases this record too */
        if (!t->data) {
            refbin_free(rb);
            return nasc_errorf(err, NASC_ERR_NOMEM, "refbin: %s: out of memory", path);
        }
        for (size_t k = 0; k < n; k++) {
            const uint32_t u = refbin_u32(buf + off + 4 * k);
            memcpy(&t->data[k], &u, 4);
            if (!isfinite(t->data[k]))
                REFBIN_FAIL(off + 4 * k, "record %u '%s': finite value expected at element %zu", i,
                            t->name, k);
        }
        off += 4 * n;
    }
    if (off != size)
        REFBIN_FAIL(off, "end of file expected after %u records (got %zu more bytes)", n_tensors,
                    size - off);
#undef REFBIN_FAIL
    return NASC_OK;
}

/* Reads and parses the file at path. NASC_ERR_IO if it cannot be opened or read. */
static nasc_status refbin_load(refbin *rb, const char *path, nasc_err *err) {
    memset(rb, 0, sizeof *rb);
    FILE *f = fopen(path, "rb");
    if (!f)
        return nasc_errorf_at(err, NASC_ERR_IO, path, -1, "refbin: %s: cannot open (%s)", path,
                              strerror(errno));
    unsigned char *buf = NULL;
    size_t size = 0, cap = 0;
    for (;;) {
        if (size == cap) {
            cap = cap ? 2 * cap : 1u << 16;
            unsigned char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return nasc_errorf(err, NASC_ERR_NOMEM, "refbin: %s: out of memory", path);
            }
            buf = nb;
        }
        size_t got = fread(buf + size, 1, cap - size, f);
        size += got;
        if (got == 0)
            break;
    }
    const int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return nasc_errorf_at(err, NASC_ERR_IO, path, (int64_t)size,
                              "refbin: %s: byte %zu: read error", path, size);
    }
    nasc_status st = refbin_parse(rb, buf, size, path, err);
    free(buf);
    return st;
}

/* The tensor called name, or NULL. Counts the lookup (see refbin_check_all_used). */
static refbin_tensor *refbin_find(refbin *rb, const char *name) {
    for (int i = 0; i < rb->n; i++)
        if (!strcmp(rb->t[i].name, name)) {
            rb->t[i].used++;
            return &rb->t[i];
        }
    return NULL;
}

/* Number of tensors no test looked at; prints them (a case in the file that the test ignores). */
static int refbin_report_unused(const refbin *rb) {
    int unused = 0;
    for (int i = 0; i < rb->n; i++)
        if (!rb->t[i].used) {
            fprintf(stderr, "%s: tensor '%s' is never checked by the test\n", rb->path,
                    rb->t[i].name);
            unused++;
        }
    return unused;
}

#endif /* NASC_TEST_REFBIN_H */
