/* buf.c — the growable byte buffer, text builder and bounds-checked reader (buf.h). */
#include "core/buf.h"

#include "nasc/arena.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Room for n more bytes and a NUL after them. */
static bool reserve(nasc_buf *b, size_t n) {
    if (b->oom)
        return false;
    if (n > SIZE_MAX / 2 - b->len) {
        b->oom = true;
        return false;
    }
    if (b->len + n + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
        cap *= 2;
    uint8_t *d = nasc_realloc(b->data, cap);
    if (!d) {
        b->oom = true;
        return false;
    }
    b->data = d;
    b->cap = cap;
    return true;
}

void nasc_buf_put(nasc_buf *b, const void *p, size_t n) {
    if (!reserve(b, n))
        return;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}

void nasc_buf_put_u64(nasc_buf *b, uint64_t v) {
    uint8_t x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    nasc_buf_put(b, x, 8);
}

void nasc_buf_put_f64(nasc_buf *b, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    nasc_buf_put_u64(b, u);
}

void nasc_buf_put_f32s(nasc_buf *b, const float *x, size_t n) {
    if (n > SIZE_MAX / 8 || !reserve(b, 4 * n))
        return;
    uint8_t *d = b->data + b->len;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        d[4 * i] = (uint8_t)u;
        d[4 * i + 1] = (uint8_t)(u >> 8);
        d[4 * i + 2] = (uint8_t)(u >> 16);
        d[4 * i + 3] = (uint8_t)(u >> 24);
    }
    b->len += 4 * n;
    b->data[b->len] = 0;
}

void nasc_buf_put_str(nasc_buf *b, const char *s) {
    const size_t n = s ? strlen(s) : 0;
    nasc_buf_put_u64(b, n);
    nasc_buf_put(b, s ? s : "", n);
}

void nasc_buf_printf(nasc_buf *b, const char *fmt, ...) {
    if (b->oom)
        return;
    va_list ap;
    va_start(ap, fmt);
    const int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void nasc_buf_puts(nasc_buf *b, const char *s) { nasc_buf_put(b, s, strlen(s)); }

char *nasc_buf_take_str(nasc_buf *b) {
    char *r = NULL;
    if (!b->oom) {
        r = b->data ? (char *)b->data : nasc_strdup("");
        b->data = NULL;
    }
    nasc_buf_free(b);
    return r;
}

nasc_status nasc_buf_take(nasc_buf *b, void **out, size_t *out_len, const char *what,
                          nasc_err *err) {
    if (b->oom) {
        nasc_buf_free(b);
        return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", what);
    }
    *out = b->data;
    *out_len = b->len;
    *b = (nasc_buf){0};
    return NASC_OK;
}

void nasc_buf_free(nasc_buf *b) {
    nasc_free(b->data);
    *b = (nasc_buf){0};
}

void nasc_read(nasc_reader *r, void *out, size_t n) {
    if (r->bad || n > r->left) {
        r->bad = true;
        memset(out, 0, n);
        return;
    }
    if (n)
        memcpy(out, r->p, n);
    r->p += n;
    r->left -= n;
}

uint64_t nasc_read_u64(nasc_reader *r) {
    uint8_t x[8];
    nasc_read(r, x, 8);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)x[i] << (8 * i);
    return v;
}

double nasc_read_f64(nasc_reader *r) {
    const uint64_t u = nasc_read_u64(r);
    double v;
    memcpy(&v, &u, 8);
    return v;
}

bool nasc_read_f32s(nasc_reader *r, float *x, size_t n) {
    if (r->bad || n > r->left / 4) {
        r->bad = true;
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *s = r->p + 4 * i;
        const uint32_t u = (uint32_t)s[0] | (uint32_t)s[1] << 8 | (uint32_t)s[2] << 16 |
                           (uint32_t)s[3] << 24;
        memcpy(&x[i], &u, 4);
    }
    r->p += 4 * n;
    r->left -= 4 * n;
    return true;
}

char *nasc_read_str(nasc_reader *r, size_t max_len) {
    const uint64_t n = nasc_read_u64(r);
    if (r->bad || n > r->left || n > max_len) {
        r->bad = true;
        return NULL;
    }
    char *s = nasc_malloc((size_t)n + 1);
    if (!s) {
        r->bad = true;
        return NULL;
    }
    memcpy(s, r->p, (size_t)n);
    s[n] = '\0';
    r->p += n;
    r->left -= (size_t)n;
    return s;
}
