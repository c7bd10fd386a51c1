/* file.c — a sequential reader over plain or gzip files that tracks its byte offset, so every
 * format error can name the file and the offset. gzip is decoded with zlib's inflate (not gzread)
 * so that zlib's allocations go through nasc_malloc (the fault tests fail them) and so that a
 * truncated member, a bad CRC or garbage after the gzip data are all reported, not ignored. */
#include "data_int.h"

#include "nasc/arena.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static voidpf z_alloc(voidpf opaque, uInt items, uInt size) {
    (void)opaque;
    return nasc_malloc((size_t)items * (size_t)size);
}

static void z_free(voidpf opaque, voidpf p) {
    (void)opaque;
    nasc_free(p);
}

/* read(2) until n bytes or end of file; returns bytes read, or -1 with errno set. */
static ssize_t read_full(int fd, void *buf, size_t n) {
    size_t done = 0;
    while (done < n) {
        size_t want = n - done;
        if (want > (size_t)1 << 30)
            want = (size_t)1 << 30;
        ssize_t r = read(fd, (unsigned char *)buf + done, want);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            break;
        done += (size_t)r;
    }
    return (ssize_t)done;
}

nasc_status nasc_data_file_open(data_file *f, const char *what, const char *path, nasc_err *err) {
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->what = what;
    f->path = path;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return nasc_errorf_at(err, NASC_ERR_IO, path, -1, "%s: %s: cannot open (%s)", what, path,
                              strerror(errno));
    f->fd = fd;
    struct stat st;
    int fs = fstat(fd, &st);
    if (fs != 0 || S_ISDIR(st.st_mode)) {
        int e = fs != 0 ? errno : EISDIR;
        nasc_data_file_close(f);
        return nasc_errorf_at(err, NASC_ERR_IO, path, -1, "%s: %s: cannot read (%s)", what, path,
                              strerror(e));
    }
    f->file_bytes = (int64_t)st.st_size;

    /* Sniff the format instead of trusting the name: a .gz that was decompressed in place, or a
     * plain file that was compressed, still reads. No valid idx or CIFAR file starts with 1f 8b
     * (idx starts with 00 00; a CIFAR label byte is at most 99). */
    unsigned char magic[2];
    ssize_t got = read_full(fd, magic, sizeof magic);
    if (got < 0) {
        int e = errno;
        nasc_data_file_close(f);
        return nasc_errorf_at(err, NASC_ERR_IO, path, 0, "%s: %s: byte 0: read failed (%s)", what,
                              path, strerror(e));
    }
    if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        f->gz = true;
        f->in = nasc_malloc(DATA_IN_BYTES);
        if (!f->in) {
            nasc_data_file_close(f);
            return nasc_errorf_at(err, NASC_ERR_NOMEM, path, -1,
                                  "%s: %s: out of memory for the gzip input buffer", what, path);
        }
        memcpy(f->in, magic, 2);
        f->zs.next_in = f->in;
        f->zs.avail_in = 2;
        f->zs.zalloc = z_alloc;
        f->zs.zfree = z_free;
        f->zs.opaque = Z_NULL;
        f->in_read = 2; /* the two sniffed bytes are fed to inflate from the buffer */
        int zr = inflateInit2(&f->zs, 16 + MAX_WBITS); /* 16: gzip wrapper only */
        if (zr != Z_OK) {
            nasc_data_file_close(f);
            return nasc_errorf_at(err, zr == Z_MEM_ERROR ? NASC_ERR_NOMEM : NASC_ERR_INTERNAL, path,
                                  -1, "%s: %s: cannot start gzip decoder (zlib error %d)", what,
                                  path, zr);
        }
        f->zs_live = true;
    } else if (lseek(fd, 0, SEEK_SET) != 0) {
        int e = errno;
        nasc_data_file_close(f);
        return nasc_errorf_at(err, NASC_ERR_IO, path, -1, "%s: %s: cannot seek (%s)", what, path,
                              strerror(e));
    }
    return NASC_OK;
}

void nasc_data_file_close(data_file *f) {
    if (f->zs_live)
        inflateEnd(&f->zs);
    f->zs_live = false;
    nasc_free(f->in);
    f->in = NULL;
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}

/* Makes sure at least `want` compressed bytes are buffered, unless the file ends first. */
static nasc_status fill_input(data_file *f, size_t want, nasc_err *err) {
    if (f->zs.avail_in >= want)
        return NASC_OK;
    if (f->zs.avail_in > 0)
        memmove(f->in, f->zs.next_in, f->zs.avail_in);
    f->zs.next_in = f->in;
    while (f->zs.avail_in < want) {
        ssize_t r = read(f->fd, f->in + f->zs.avail_in, DATA_IN_BYTES - f->zs.avail_in);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return nasc_errorf_at(err, NASC_ERR_IO, f->path, f->pos,
                                  "%s: %s: byte %lld: read failed at compressed byte %lld (%s)",
                                  f->what, f->path, (long long)f->pos, (long long)f->in_read,
                                  strerror(errno));
        }
        if (r == 0) /* end of file: the caller decides whether that is a truncation */
            break;
        f->zs.avail_in += (uInt)r;
        f->in_read += r;
    }
    return NASC_OK;
}

/* Why a read delivered fewer bytes than asked for. */
typedef enum short_reason {
    SHORT_NONE,    /* delivered everything */
    SHORT_END,     /* the data ended cleanly (plain EOF, or the last gzip member ended) */
    SHORT_GZ_TRUNC /* the file ended inside a gzip member */
} short_reason;

/* Reads up to n bytes; *got < n only with *why != SHORT_NONE. Errors (I/O, corrupt gzip data, OOM)
 * are returned with the message set. */
static nasc_status raw_read(data_file *f, unsigned char *buf, size_t n, size_t *got,
                            short_reason *why, nasc_err *err) {
    *got = 0;
    *why = SHORT_NONE;
    if (!f->gz) {
        ssize_t r = read_full(f->fd, buf, n);
        if (r < 0)
            return nasc_errorf_at(err, NASC_ERR_IO, f->path, f->pos,
                                  "%s: %s: byte %lld: read failed (%s)", f->what, f->path,
                                  (long long)f->pos, strerror(errno));
        *got = (size_t)r;
        f->pos += r;
        if ((size_t)r < n)
            *why = SHORT_END;
        return NASC_OK;
    }
    /* Inflate straight into buf: no intermediate copy of the decompressed data. */
    size_t done = 0;
    while (done < n) {
        if (f->member_done) {
            /* gzip allows several members back to back; anything else after the data is garbage. */
            NASC_TRY(fill_input(f, 2, err));
            if (f->zs.avail_in == 0) {
                *why = SHORT_END;
                break;
            }
            if (f->zs.avail_in < 2 || f->zs.next_in[0] != 0x1f || f->zs.next_in[1] != 0x8b)
                return nasc_errorf_at(
                    err, NASC_ERR_FORMAT, f->path, f->pos,
                    "%s: %s: byte %lld: corrupt gzip stream (garbage after the gzip data at "
                    "compressed byte %lld)",
                    f->what, f->path, (long long)f->pos,
                    (long long)(f->in_read - (int64_t)f->zs.avail_in));
            inflateReset(&f->zs);
            f->member_done = false;
        }
        NASC_TRY(fill_input(f, 1, err));
        if (f->zs.avail_in == 0) {
            *why = SHORT_GZ_TRUNC;
            break;
        }
        size_t chunk = n - done;
        if (chunk > UINT_MAX)
            chunk = UINT_MAX;
        f->zs.next_out = buf + done;
        f->zs.avail_out = (uInt)chunk;
        uInt in_before = f->zs.avail_in;
        int zr = inflate(&f->zs, Z_NO_FLUSH);
        size_t produced = chunk - f->zs.avail_out;
        done += produced;
        f->pos += (int64_t)produced;
        switch (zr) {
        case Z_OK:
            break;
        case Z_STREAM_END:
            f->member_done = true;
            break;
        case Z_BUF_ERROR: /* no progress: cannot happen with input and output space, but never spin
                           */
            if (produced == 0 && f->zs.avail_in == in_before)
                return nasc_errorf_at(err, NASC_ERR_FORMAT, f->path, f->pos,
                                      "%s: %s: byte %lld: corrupt gzip stream (no progress)",
                                      f->what, f->path, (long long)f->pos);
            break;
        case Z_MEM_ERROR:
            return nasc_errorf_at(err, NASC_ERR_NOMEM, f->path, f->pos,
                                  "%s: %s: byte %lld: out of memory in the gzip decoder", f->what,
                                  f->path, (long long)f->pos);
        default: /* Z_DATA_ERROR (bad block, CRC, length), Z_NEED_DICT, Z_STREAM_ERROR */
            return nasc_errorf_at(err, NASC_ERR_FORMAT, f->path, f->pos,
                                  "%s: %s: byte %lld: corrupt gzip stream (%s)", f->what, f->path,
                                  (long long)f->pos, f->zs.msg ? f->zs.msg : "invalid data");
        }
    }
    *got = done;
    return NASC_OK;
}

nasc_status nasc_data_file_read_header(data_file *f, void *buf, size_t n, nasc_err *err) {
    size_t got;
    short_reason why;
    NASC_TRY(raw_read(f, buf, n, &got, &why, err));
    if (got < n)
        return nasc_errorf_at(err, NASC_ERR_FORMAT, f->path, f->pos,
                              "%s: %s: truncated at byte %lld (expected a %zu-byte header)",
                              f->what, f->path, (long long)f->pos, n);
    return NASC_OK;
}

nasc_status nasc_data_file_read(data_file *f, void *buf, size_t n, int64_t total, nasc_err *err) {
    size_t got;
    short_reason why;
    NASC_TRY(raw_read(f, buf, n, &got, &why, err));
    if (got < n)
        return nasc_errorf_at(err, NASC_ERR_FORMAT, f->path, f->pos,
                              "%s: %s: truncated at byte %lld (expected %lld bytes)", f->what,
                              f->path, (long long)f->pos, (long long)total);
    return NASC_OK;
}

nasc_status nasc_data_file_check_size(data_file *f, int64_t total, nasc_err *err) {
    if (f->gz || f->file_bytes == total)
        return NASC_OK;
    if (f->file_bytes < total)
        return nasc_errorf_at(err, NASC_ERR_FORMAT, f->path, f->file_bytes,
                              "%s: %s: truncated at byte %lld (expected %lld bytes)", f->what,
                              f->path, (long long)f->file_bytes, (long long)total);
    return nasc_errorf_at(err, NASC_ERR_FORMAT, f->path, total,
                          "%s: %s: byte %lld: %lld trailing bytes (expected %lld bytes)", f->what,
                          f->path, (long long)total, (long long)(f->file_bytes - total),
                          (long long)total);
}

nasc_status nasc_data_file_finish(data_file *f, int64_t total, nasc_err *err) {
    /* One more byte: for gzip this also makes inflate read and check the CRC-32 and length
     * trailer, which it does not do until asked for data beyond the last byte. */
    unsigned char extra;
    size_t got;
    short_reason why;
    NASC_TRY(raw_read(f, &extra, 1, &got, &why, err));
    if (got > 0) {
        if (!f->gz)
            return nasc_data_file_check_size(f, total, err);
        return nasc_errorf_at(err, NASC_ERR_FORMAT, f->path, total,
                              "%s: %s: byte %lld: trailing bytes (expected %lld bytes)", f->what,
                              f->path, (long long)total, (long long)total);
    }
    if (why == SHORT_GZ_TRUNC)
        return nasc_errorf_at(err, NASC_ERR_FORMAT, f->path, f->pos,
                              "%s: %s: byte %lld: gzip stream truncated (the file ends at "
                              "compressed byte %lld, before the end of the gzip member)",
                              f->what, f->path, (long long)f->pos, (long long)f->in_read);
    return NASC_OK;
}

nasc_status nasc_data_find_file(const char *what, const char *dir, const char *const *candidates,
                                int n_candidates, char *out, size_t n_bytes, nasc_err *err) {
    for (int i = 0; i < n_candidates; i++) {
        int len = snprintf(out, n_bytes, "%s/%s", dir, candidates[i]);
        if (len < 0 || (size_t)len >= n_bytes)
            return nasc_errorf(err, NASC_ERR_ARG, "%s: %s: directory name too long", what, dir);
        struct stat st;
        if (stat(out, &st) == 0)
            return NASC_OK;
    }
    snprintf(out, n_bytes, "%s/%s", dir, candidates[0]);
    if (n_candidates > 1)
        return nasc_errorf_at(err, NASC_ERR_IO, out, -1, "%s: %s: file not found (nor %s)", what,
                              out, candidates[1]);
    return nasc_errorf_at(err, NASC_ERR_IO, out, -1, "%s: %s: file not found", what, out);
}
