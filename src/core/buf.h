/* buf.h — the one growable byte buffer and text builder of nasc, and its bounds-checked reader
 * (internal to the library, never installed).
 *
 * Writing never fails call by call: an allocation failure sets `oom`, later appends do nothing,
 * and the caller checks once at the end (nasc_buf_take / nasc_buf_take_str). Numbers are encoded
 * little-endian whatever the host, so checkpoints and strategy states move between machines.
 * Reading never runs past the end: a short read sets `bad` and yields zeros, checked once. */
#ifndef NASC_CORE_BUF_H
#define NASC_CORE_BUF_H

#include "nasc/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct nasc_buf {
    uint8_t *data; /* nasc_malloc'd; always NUL-terminated after a text append */
    size_t len, cap;
    bool oom;
} nasc_buf;

NASC_INTERNAL void nasc_buf_put(nasc_buf *b, const void *p, size_t n);
NASC_INTERNAL void nasc_buf_put_u64(nasc_buf *b, uint64_t v);
NASC_INTERNAL void nasc_buf_put_f64(nasc_buf *b, double v);
/* n floats, each as its IEEE-754 bits little-endian. */
NASC_INTERNAL void nasc_buf_put_f32s(nasc_buf *b, const float *x, size_t n);
/* Length-prefixed (u64) string; NULL is written as the empty string. */
NASC_INTERNAL void nasc_buf_put_str(nasc_buf *b, const char *s);

/* Text: append formatted / plain text (the buffer stays NUL-terminated, len excludes the NUL). */
NASC_INTERNAL void nasc_buf_printf(nasc_buf *b, const char *fmt, ...) NASC_PRINTF(2, 3);
NASC_INTERNAL void nasc_buf_puts(nasc_buf *b, const char *s);
/* The text built (caller frees with nasc_free; "" when nothing was appended), or NULL if an
 * append ran out of memory. The buffer is emptied either way. */
NASC_INTERNAL char *nasc_buf_take_str(nasc_buf *b);

/* Hands the bytes to the caller (*out nasc_malloc'd, may be NULL when len is 0), or NOMEM
 * naming `what`; the buffer is emptied either way. */
NASC_INTERNAL nasc_status nasc_buf_take(nasc_buf *b, void **out, size_t *out_len,
                                        const char *what, nasc_err *err);
NASC_INTERNAL void nasc_buf_free(nasc_buf *b);

typedef struct nasc_reader {
    const uint8_t *p; /* the next byte */
    size_t left;      /* bytes after p */
    bool bad;         /* a read ran past the end (or a string could not be allocated) */
} nasc_reader;

static inline nasc_reader nasc_reader_of(const void *data, size_t len) {
    return (nasc_reader){(const uint8_t *)data, len, false};
}

/* n bytes into out (zeros and bad when fewer are left). */
NASC_INTERNAL void nasc_read(nasc_reader *r, void *out, size_t n);
NASC_INTERNAL uint64_t nasc_read_u64(nasc_reader *r);
NASC_INTERNAL double nasc_read_f64(nasc_reader *r);
/* n floats; false (and bad) on a short read. */
NASC_INTERNAL bool nasc_read_f32s(nasc_reader *r, float *x, size_t n);
/* A nasc_malloc'd copy of the next length-prefixed string, at most max_len bytes long; NULL
 * (and bad) when it is longer, runs past the end or cannot be allocated. */
NASC_INTERNAL char *nasc_read_str(nasc_reader *r, size_t max_len);

#endif /* NASC_CORE_BUF_H */
