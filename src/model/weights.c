/* weights.c — the weights file: a 64-byte header, JSON metadata, a tensor table and float32
 * data, all little-endian, with CRC-32 checksums of the header and of the body (docs/FORMAT.md). */
#include "nasc/limits.h"
#include "nasc/weights.h"

#include "nasc/arena.h"
#include "nasc/optim.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

enum {
    HEADER_BYTES = 64,
    ENTRY_BYTES = 64,
    NAME_BYTES = 32,
    KIND_PARAM = 0,
    KIND_BUFFER = 1,
    KIND_OPTIM = 2, /* a training checkpoint's optimizer state (one flat tensor) */
};

#define OPTIM_NAME "optim.state"

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u32(const unsigned char *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static uint64_t get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}
static uint32_t crc(const unsigned char *p, size_t n) {
    uLong c = crc32(0L, Z_NULL, 0);
    while (n > 0) { /* zlib takes uInt lengths */
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return (uint32_t)c;
}

nasc_status nasc_write_file_atomic(const char *path, const void *data, size_t len, nasc_err *err) {
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return nasc_errorf(err, NASC_ERR_ARG, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return nasc_errorf_at(err, NASC_ERR_IO, path, -1, "%s: cannot create: %s", tmp,
                              strerror(errno));
    const unsigned char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            return nasc_errorf_at(err, NASC_ERR_IO, path, -1, "%s: write failed: %s", tmp,
                                  strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return nasc_errorf_at(err, NASC_ERR_IO, path, -1, "%s: fsync/close failed: %s", tmp,
                              strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return nasc_errorf_at(err, NASC_ERR_IO, path, -1, "%s: rename failed: %s", path,
                              strerror(e));
    }
    /* Make the rename itself durable. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return NASC_OK;
}

static size_t n_total_tensors(const nasc_params *ps) {
    return (size_t)nasc_params_n_tensors(ps) + (size_t)nasc_params_n_buffers(ps);
}

static nasc_tensor *tensor_at(const nasc_params *ps, size_t i, uint32_t *kind) {
    const size_t nt = (size_t)nasc_params_n_tensors(ps);
    if (i < nt) {
        *kind = KIND_PARAM;
        return nasc_params_tensor(ps, (int)i);
    }
    *kind = KIND_BUFFER;
    return nasc_params_buffer(ps, (int)(i - nt));
}

/* The weights file of m; with extra_len > 0 also the table entry OPTIM_NAME (kind KIND_OPTIM) holding
 * extra, and steps in header bytes 36..43 (a training checkpoint). */
static nasc_status save(const char *path, const nasc_model *m, const char *meta,
                        const float *extra, size_t extra_len, uint64_t steps, nasc_err *err) {
    if (!meta)
        meta = "{}";
    if (extra_len > (1u << 30))
        return nasc_errorf(err, NASC_ERR_ARG, "checkpoint: %s: optimizer state too large (%zu)",
                           path, extra_len);
    const nasc_params *ps = m->params;
    const size_t n_model = n_total_tensors(ps), meta_len = strlen(meta);
    const size_t n = n_model + (extra_len > 0);
    size_t data_bytes = extra_len * 4;
    for (size_t i = 0; i < n_model; i++) {
        uint32_t kind;
        data_bytes += (size_t)nasc_tensor_nelem(tensor_at(ps, i, &kind)) * 4;
    }
    const size_t body = meta_len + n * ENTRY_BYTES + data_bytes;
    const size_t total = HEADER_BYTES + body;
    unsigned char *buf = nasc_calloc(1, total);
    if (!buf)
        return nasc_errorf(err, NASC_ERR_NOMEM, "weights: %s: out of memory (%zu bytes)", path,
                           total);
    unsigned char *b = buf + HEADER_BYTES;
    memcpy(b, meta, meta_len);
    unsigned char *table = b + meta_len, *data = table + n * ENTRY_BYTES;
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t kind = KIND_OPTIM;
        const nasc_tensor *t = i < n_model ? tensor_at(ps, i, &kind) : NULL;
        const char *name = t ? t->name : OPTIM_NAME;
        const float *vals = t ? t->data : extra;
        const size_t cnt = t ? (size_t)nasc_tensor_nelem(t) : extra_len;
        unsigned char *e = table + i * ENTRY_BYTES;
        memcpy(e, name, strnlen(name, NAME_BYTES - 1)); /* zero-padded: buf is calloc ed */
        put_u32(e + 32, kind);
        for (int d = 0; d < 4; d++)
            put_u32(e + 36 + 4 * d, t ? (uint32_t)t->ne[d] : d == 0 ? (uint32_t)cnt : 1u);
        put_u64(e + 52, off);
        for (size_t j = 0; j < cnt; j++) {
            uint32_t bits;
            memcpy(&bits, &vals[j], 4);
            put_u32(data + (off + j) * 4, bits);
        }
        off += cnt;
    }
    memcpy(buf, NASC_WEIGHTS_MAGIC, 8);
    put_u32(buf + 8, NASC_WEIGHTS_VERSION);
    put_u32(buf + 12, HEADER_BYTES);
    put_u32(buf + 16, (uint32_t)n);
    put_u32(buf + 20, (uint32_t)meta_len);
    put_u64(buf + 24, (uint64_t)body);
    put_u32(buf + 32, crc(b, body));
    put_u64(buf + 36, steps);
    put_u32(buf + 60, crc(buf, 60));
    nasc_status st = nasc_write_file_atomic(path, buf, total, err);
    nasc_free(buf);
    return st;
}

nasc_status nasc_weights_save(const char *path, const nasc_model *m, const char *meta,
                              nasc_err *err) {
    return save(path, m, meta, NULL, 0, 0, err);
}

nasc_status nasc_checkpoint_save(const char *path, const nasc_model *m, nasc_optim *o,
                                 const char *meta, nasc_err *err) {
    size_t len = 0;
    const float *state = nasc_optim_state(o, &len);
    return save(path, m, meta, state, len, (uint64_t)nasc_optim_steps(o), err);
}

/* A validated file in memory. */
typedef struct wfile {
    unsigned char *buf;
    size_t len;
    uint32_t n;
    const char *meta;
    size_t meta_len;
    const unsigned char *table, *data;
} wfile;

#define BAD(off, ...) nasc_errorf_at(err, NASC_ERR_FORMAT, path, (off), __VA_ARGS__)

static nasc_status read_all(const char *path, unsigned char **out, size_t *out_len, nasc_err *err) {
    return nasc_file_read_all(path, "weights", UINT64_MAX, (char **)out, out_len, err);
}

static nasc_status parse(const char *path, wfile *w, nasc_err *err) {
    memset(w, 0, sizeof *w);
    NASC_TRY(read_all(path, &w->buf, &w->len, err));
    const unsigned char *b = w->buf;
    nasc_status st = NASC_OK;
    if (w->len < HEADER_BYTES) {
        st = BAD((int64_t)w->len, "weights: %s: truncated at byte %zu (header needs %d bytes)", path,
                 w->len, HEADER_BYTES);
        goto fail;
    }
    if (memcmp(b, NASC_WEIGHTS_MAGIC, 8) != 0) {
        st = BAD(0, "weights: %s: byte 0: bad magic (expected \"NASCWTS\"; not a nasc weights file)",
                 path);
        goto fail;
    }
    if (get_u32(b + 60) != crc(b, 60)) {
        st = BAD(60, "weights: %s: byte 60: header checksum mismatch (stored 0x%08x, computed 0x%08x)",
                 path, get_u32(b + 60), crc(b, 60));
        goto fail;
    }
    if (get_u32(b + 8) != NASC_WEIGHTS_VERSION) {
        st = BAD(8, "weights: %s: byte 8: unsupported version %u (this build reads %u)", path,
                 get_u32(b + 8), NASC_WEIGHTS_VERSION);
        goto fail;
    }
    if (get_u32(b + 12) != HEADER_BYTES) {
        st = BAD(12, "weights: %s: byte 12: header size %u (expected %d)", path, get_u32(b + 12),
                 HEADER_BYTES);
        goto fail;
    }
    const uint64_t body = get_u64(b + 24);
    if (body != w->len - HEADER_BYTES) {
        st = BAD((int64_t)w->len, "weights: %s: %s at byte %zu (expected %llu bytes)", path,
                 body > w->len - HEADER_BYTES ? "truncated" : "trailing data",
                 body > w->len - HEADER_BYTES ? w->len : (size_t)(HEADER_BYTES + body),
                 (unsigned long long)(HEADER_BYTES + body));
        goto fail;
    }
    const uint32_t body_crc = crc(b + HEADER_BYTES, (size_t)body);
    if (get_u32(b + 32) != body_crc) {
        st = BAD(32, "weights: %s: byte 32: data checksum mismatch (stored 0x%08x, computed 0x%08x): "
                     "the file is corrupt",
                 path, get_u32(b + 32), body_crc);
        goto fail;
    }
    w->n = get_u32(b + 16);
    w->meta_len = get_u32(b + 20);
    w->meta = (const char *)b + HEADER_BYTES;
    if ((uint64_t)w->meta_len + (uint64_t)w->n * ENTRY_BYTES > body) {
        st = BAD(16, "weights: %s: byte 16: %u tensors and %zu metadata bytes do not fit in %llu "
                     "body bytes",
                 path, w->n, w->meta_len, (unsigned long long)body);
        goto fail;
    }
    w->table = b + HEADER_BYTES + w->meta_len;
    w->data = w->table + (size_t)w->n * ENTRY_BYTES;
    const uint64_t data_floats = (body - w->meta_len - (uint64_t)w->n * ENTRY_BYTES) / 4;
    for (uint32_t i = 0; i < w->n; i++) {
        const unsigned char *e = w->table + (size_t)i * ENTRY_BYTES;
        const int64_t eoff = (int64_t)(e - b);
        if (memchr(e, 0, NAME_BYTES) == NULL) {
            st = BAD(eoff, "weights: %s: byte %lld: tensor %u name not terminated", path,
                     (long long)eoff, i);
            goto fail;
        }
        if (get_u32(e + 32) > KIND_OPTIM) {
            st = BAD(eoff + 32, "weights: %s: byte %lld: tensor '%s' has unknown kind %u", path,
                     (long long)(eoff + 32), (const char *)e, get_u32(e + 32));
            goto fail;
        }
        uint64_t cnt = 1;
        for (int d = 0; d < 4; d++) {
            const uint32_t v = get_u32(e + 36 + 4 * d);
            if (v == 0 || v > (1u << 30)) {
                st = BAD(eoff + 36 + 4 * d, "weights: %s: byte %lld: tensor '%s' has bad dim %u",
                         path, (long long)(eoff + 36 + 4 * d), (const char *)e, v);
                goto fail;
            }
            cnt *= v;
        }
        const uint64_t off = get_u64(e + 52);
        if (off > data_floats || cnt > data_floats - off) {
            st = BAD(eoff + 52, "weights: %s: byte %lld: tensor '%s' data [%llu, %llu) outside the "
                                "%llu stored values",
                     path, (long long)(eoff + 52), (const char *)e, (unsigned long long)off,
                     (unsigned long long)(off + cnt), (unsigned long long)data_floats);
            goto fail;
        }
    }
    return NASC_OK;
fail:
    nasc_free(w->buf);
    w->buf = NULL;
    return st;
}

nasc_status nasc_weights_read_meta(const char *path, char **out_meta, nasc_err *err) {
    *out_meta = NULL;
    wfile w;
    NASC_TRY(parse(path, &w, err));
    char *meta = nasc_malloc(w.meta_len + 1);
    if (!meta) {
        nasc_free(w.buf);
        return nasc_errorf(err, NASC_ERR_NOMEM, "weights: %s: out of memory", path);
    }
    memcpy(meta, w.meta, w.meta_len);
    meta[w.meta_len] = '\0';
    nasc_free(w.buf);
    *out_meta = meta;
    return NASC_OK;
}

/* Loads the model tensors of the file into m and, with o, the optimizer state (a checkpoint's);
 * nothing is written unless everything checks out. */
static nasc_status load(const char *path, nasc_model *m, nasc_optim *o, nasc_err *err) {
    wfile w;
    NASC_TRY(parse(path, &w, err));
    const nasc_params *ps = m->params;
    const size_t n = n_total_tensors(ps);
    nasc_status st = NASC_OK;
    uint32_t n_model = 0;
    const unsigned char *opt_entry = NULL;
    for (uint32_t j = 0; j < w.n; j++) {
        const unsigned char *c = w.table + (size_t)j * ENTRY_BYTES;
        if (get_u32(c + 32) != KIND_OPTIM)
            n_model++;
        else if (!opt_entry && !strcmp((const char *)c, OPTIM_NAME))
            opt_entry = c;
    }
    if (n_model != n) {
        st = nasc_errorf_at(err, NASC_ERR_SHAPE, path, 16,
                            "weights: %s: file holds %u tensors, the model has %zu (a different "
                            "architecture?)",
                            path, n_model, n);
        goto done;
    }
    /* Check every model tensor against the file before touching any of them. */
    const unsigned char **found = nasc_calloc(n ? n : 1, sizeof *found);
    if (!found) {
        st = nasc_errorf(err, NASC_ERR_NOMEM, "weights: %s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < n && st == NASC_OK; i++) {
        uint32_t kind;
        const nasc_tensor *t = tensor_at(ps, i, &kind);
        const unsigned char *e = NULL;
        for (uint32_t j = 0; j < w.n; j++) {
            const unsigned char *c = w.table + (size_t)j * ENTRY_BYTES;
            if (get_u32(c + 32) != KIND_OPTIM && !strcmp((const char *)c, t->name)) {
                e = c;
                break;
            }
        }
        if (!e) {
            st = nasc_errorf_at(err, NASC_ERR_SHAPE, path, -1,
                                "weights: %s: tensor '%s' of the model is not in the file", path,
                                t->name);
            break;
        }
        int ne[4];
        for (int d = 0; d < 4; d++)
            ne[d] = (int)get_u32(e + 36 + 4 * d);
        if (memcmp(ne, t->ne, sizeof ne) != 0 || get_u32(e + 32) != kind) {
            st = nasc_errorf_at(err, NASC_ERR_SHAPE, path, (int64_t)(e - w.buf),
                                "weights: %s: tensor '%s' is (%d,%d,%d,%d) in the file but "
                                "(%d,%d,%d,%d) in the model",
                                path, t->name, ne[0], ne[1], ne[2], ne[3], t->ne[0], t->ne[1],
                                t->ne[2], t->ne[3]);
            break;
        }
        found[i] = e;
    }
    float *state = NULL;
    size_t state_len = 0;
    if (st == NASC_OK && o) {
        state = nasc_optim_state(o, &state_len);
        uint64_t have = opt_entry ? 1 : 0;
        for (int d = 0; opt_entry && d < 4; d++)
            have *= get_u32(opt_entry + 36 + 4 * d);
        if (have != state_len)
            st = nasc_errorf_at(err, NASC_ERR_SHAPE, path,
                                opt_entry ? (int64_t)(opt_entry - w.buf) + 36 : -1,
                                "checkpoint: %s: holds %llu optimizer state values, this optimizer "
                                "has %zu (a different optimizer or momentum setting?)",
                                path, (unsigned long long)have, state_len);
    }
    if (st == NASC_OK) {
        for (size_t i = 0; i < n; i++) {
            uint32_t kind;
            nasc_tensor *t = tensor_at(ps, i, &kind);
            const uint64_t off = get_u64(found[i] + 52);
            const size_t cnt = (size_t)nasc_tensor_nelem(t);
            for (size_t j = 0; j < cnt; j++) {
                const uint32_t bits = get_u32(w.data + (off + j) * 4);
                memcpy(&t->data[j], &bits, 4);
            }
        }
        if (o && state_len > 0) {
            const uint64_t off = get_u64(opt_entry + 52);
            for (size_t j = 0; j < state_len; j++) {
                const uint32_t bits = get_u32(w.data + (off + j) * 4);
                memcpy(&state[j], &bits, 4);
            }
        }
        if (o)
            nasc_optim_set_steps(o, (int64_t)get_u64(w.buf + 36));
    }
    nasc_free(found);
done:
    nasc_free(w.buf);
    return st;
}

nasc_status nasc_weights_load(const char *path, nasc_model *m, nasc_err *err) {
    return load(path, m, NULL, err);
}

nasc_status nasc_checkpoint_load(const char *path, nasc_model *m, nasc_optim *o, nasc_err *err) {
    return load(path, m, o, err);
}
