/* status.c — status strings, error recording, the always-on assert. */
#include "nasc/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_names[] = {
    "ok",
    "bad argument",
    "shape mismatch",
    "i/o error",
    "bad format",
    "out of memory",
    "unsupported",
    "database error",
    "aborted",
    "internal error",
};
_Static_assert(sizeof status_names / sizeof status_names[0] == NASC_STATUS_COUNT,
               "one name per status");

const char *nasc_status_str(nasc_status st) {
    if ((unsigned)st >= (unsigned)NASC_STATUS_COUNT)
        return "unknown status";
    return status_names[st];
}

void nasc_err_clear(nasc_err *err) {
    if (!err)
        return;
    err->code = NASC_OK;
    err->msg[0] = '\0';
    err->path[0] = '\0';
    err->offset = -1;
    err->line = 0;
}

nasc_status nasc_verrorf(nasc_err *err, nasc_status code, const char *fmt, va_list ap) {
    if (!err || err->code != NASC_OK)
        return code;
    err->code = code;
    /* A message longer than msg keeps its head and its end, which says what went wrong (a long
     * path in the middle must not hide it): "<head> ... <tail>". */
    char small[sizeof err->msg];
    va_list ap2;
    va_copy(ap2, ap);
    const int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n >= 0 && (size_t)n < sizeof small) {
        memcpy(err->msg, small, (size_t)n + 1);
    } else if (n >= 0) {
        char *full = malloc((size_t)n + 1); /* plain malloc: no failure hook on the error path */
        if (full) {
            vsnprintf(full, (size_t)n + 1, fmt, ap2);
            enum { HEAD = 160 };
            static const char dots[] = " ... ";
            const size_t tail = sizeof err->msg - 1 - HEAD - (sizeof dots - 1);
            memcpy(err->msg, full, HEAD);
            memcpy(err->msg + HEAD, dots, sizeof dots - 1);
            memcpy(err->msg + HEAD + sizeof dots - 1, full + (size_t)n - tail, tail + 1);
            free(full);
        } else {
            memcpy(err->msg, small, sizeof small);
        }
    } else {
        snprintf(err->msg, sizeof err->msg, "%s", nasc_status_str(code));
    }
    va_end(ap2);
    err->path[0] = '\0';
    err->offset = -1;
    err->line = 0;
    return code;
}

nasc_status nasc_errorf(nasc_err *err, nasc_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    nasc_verrorf(err, code, fmt, ap);
    va_end(ap);
    return code;
}

nasc_status nasc_errorf_at(nasc_err *err, nasc_status code, const char *path, int64_t offset,
                           const char *fmt, ...) {
    if (!err || err->code != NASC_OK)
        return code;
    va_list ap;
    va_start(ap, fmt);
    nasc_verrorf(err, code, fmt, ap);
    va_end(ap);
    if (path)
        snprintf(err->path, sizeof err->path, "%s", path);
    err->offset = offset;
    return code;
}

void nasc_assert_fail(const char *file, int line, const char *cond) {
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, cond);
    fflush(stderr);
    abort();
}
