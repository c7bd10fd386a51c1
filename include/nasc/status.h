/*
 * status.h — status codes, error details and the assert/try macros used by every nasc module.
 *
 * Every function that can fail returns a nasc_status and, when given a nasc_err, fills it with a
 * human-readable message of the shape `<what>: <where>: <expected> (<got>)`, plus the file path and
 * byte offset or line where that applies (SQLite's sqlite3_errmsg / sqlite3_error_offset model).
 * Graph builders return NULL instead and keep the error on the graph (see ops.h).
 *
 * NASC_ASSERT is for invariants that no input can break: it prints file:line and aborts.
 * Anything a user can trigger (a file, a flag, a shape, an architecture) returns a status instead.
 *
 * Usage:
 *
 *     nasc_err err = {0};
 *     nasc_dataset *ds = NULL;
 *     nasc_status st = nasc_dataset_load("fashion-mnist", NASC_SPLIT_TRAIN, &ds, &err);
 *     if (st != NASC_OK) {
 *         fprintf(stderr, "nasc: error: %s\n", err.msg);   // names file and byte offset
 *         return st;
 *     }
 *
 *     static nasc_status load_all(...) {
 *         NASC_TRY(step_one(..., err));                   // returns early on failure
 *         NASC_TRY(step_two(..., err));
 *         return NASC_OK;
 *     }
 */
#ifndef NASC_STATUS_H
#define NASC_STATUS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(NASC_BUILD)
#define NASC_API __attribute__((visibility("default")))
#else
#define NASC_API
#endif
/* Cross-file internals: hidden from the shared library's symbol table (Lua's LUAI_FUNC). */
#define NASC_INTERNAL __attribute__((visibility("hidden")))

#define NASC_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))

typedef enum nasc_status {
    NASC_OK = 0,
    NASC_ERR_ARG,         /* bad argument or flag value */
    NASC_ERR_SHAPE,       /* tensor shapes do not fit an op */
    NASC_ERR_IO,          /* a file could not be opened, read or written */
    NASC_ERR_FORMAT,      /* a file or text is malformed (wrong magic, truncated, bad value) */
    NASC_ERR_NOMEM,       /* an allocation failed or a frozen arena would have to grow */
    NASC_ERR_UNSUPPORTED, /* valid request that this build or backend cannot do */
    NASC_ERR_DB,          /* trial database error */
    NASC_ERR_ABORTED,     /* interrupted (signal, timeout, user request) */
    NASC_ERR_INTERNAL,    /* a bug or a failure of a library we call */
    NASC_STATUS_COUNT
} nasc_status;

/* Static text for a status code ("ok", "bad argument", ...); never NULL. */
NASC_API const char *nasc_status_str(nasc_status st);

/* Error details. Callers own it (usually on the stack); zero-initialise before use. */
typedef struct nasc_err {
    nasc_status code; /* NASC_OK when no error was recorded */
    char msg[1024];   /* message, already including path and offset where known; a longer one
                       * keeps its first 160 bytes and its end, joined by " ... " */
    char path[256];   /* file the error is about, "" if none */
    int64_t offset;   /* byte offset in that file, -1 if none */
    int line;         /* 1-based line in that file, 0 if none */
} nasc_err;

/* Clears err (code OK, empty message, offset -1). err may be NULL. */
NASC_API void nasc_err_clear(nasc_err *err);

/* Records code and a printf-formatted message in err (which may be NULL) and returns code.
 * The first error wins: if err already holds an error, it is kept unchanged. */
NASC_API nasc_status nasc_errorf(nasc_err *err, nasc_status code, const char *fmt, ...)
    NASC_PRINTF(3, 4);
NASC_API nasc_status nasc_verrorf(nasc_err *err, nasc_status code, const char *fmt, va_list ap);

/* As nasc_errorf, and also records the file path and byte offset (offset < 0: none). The message
 * should already name them; they are kept separately for programs that want them. */
NASC_API nasc_status nasc_errorf_at(nasc_err *err, nasc_status code, const char *path,
                                    int64_t offset, const char *fmt, ...) NASC_PRINTF(5, 6);

/* Prints "file:line: assertion failed: cond" to stderr and aborts. Used by NASC_ASSERT. */
NASC_API void nasc_assert_fail(const char *file, int line, const char *cond) __attribute__((noreturn));

#define NASC_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            nasc_assert_fail(__FILE__, __LINE__, #cond);                                           \
    } while (0)

#ifdef NDEBUG
#define NASC_DEBUG_ASSERT(cond) ((void)0)
#else
#define NASC_DEBUG_ASSERT(cond) NASC_ASSERT(cond)
#endif

/* Propagates a non-OK status to the caller. */
#define NASC_TRY(expr)                                                                             \
    do {                                                                                           \
        nasc_status nasc_try_st_ = (expr);                                                         \
        if (nasc_try_st_ != NASC_OK)                                                               \
            return nasc_try_st_;                                                                   \
    } while (0)

/* Logging through a callback; the library never prints to stdout. Default: warnings and errors
 * to stderr. level: 0 debug, 1 info, 2 warn, 3 error. */
typedef enum nasc_log_level {
    NASC_LOG_DEBUG = 0,
    NASC_LOG_INFO,
    NASC_LOG_WARN,
    NASC_LOG_ERROR
} nasc_log_level;
typedef void (*nasc_log_fn)(nasc_log_level level, const char *msg, void *user);
/* Installs fn (NULL restores the default) and the minimum level that reaches it. */
NASC_API void nasc_log_set(nasc_log_fn fn, void *user, nasc_log_level min_level);
NASC_API void nasc_log(nasc_log_level level, const char *fmt, ...) NASC_PRINTF(2, 3);

#ifdef __cplusplus
}
#endif
#endif /* NASC_STATUS_H */
