/* log.c — logging through a callback; default prints warnings and errors to stderr. */
#include "nasc/status.h"

#include <stdio.h>

static nasc_log_fn log_fn;
static void *log_user;
static nasc_log_level log_min = NASC_LOG_WARN;

void nasc_log_set(nasc_log_fn fn, void *user, nasc_log_level min_level) {
    log_fn = fn;
    log_user = user;
    log_min = min_level;
}

void nasc_log(nasc_log_level level, const char *fmt, ...) {
    if (level < log_min)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (log_fn) {
        log_fn(level, msg, log_user);
        return;
    }
    static const char *const names[] = {"debug", "info", "warning", "error"};
    fprintf(stderr, "nasc: %s: %s\n", names[level & 3], msg);
}
