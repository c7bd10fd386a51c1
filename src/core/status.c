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
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
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
