/* limits.h — the largest sizes nasc accepts, in one place.
 *
 * Every size a user can give (a flag, a YAML key, a model file's metadata, a space's network
 * options) is checked against these bounds before anything is allocated, so that one number can
 * neither overflow an int nor start unbounded work. Past a bound the caller gets NASC_ERR_ARG
 * (flags, configs) or NASC_ERR_FORMAT (files) naming the value and the bound; the CLI exits 2.
 * docs/ERRORS.md lists the same bounds for users.
 *
 * The fixed bounds keep every intermediate product of int sizes inside 64 bits; what the machine
 * can hold is checked separately in 64-bit arithmetic against its physical memory:
 *
 *     nasc_err err = {0};
 *     if (nasc_limit_check_int(&err, "--channels", c, 1, NASC_MAX_CHANNELS) != NASC_OK) ...
 *     if (nasc_limit_check_bytes(&err, "parameters", n_floats * 4) != NASC_OK) ...
 */
#ifndef NASC_LIMITS_H
#define NASC_LIMITS_H

#include "nasc/status.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NASC_MAX_CHANNELS 4096         /* initial channels C of a space's network */
#define NASC_MAX_CELLS 256             /* cells (nb201: per stage; darts: total) */
#define NASC_MAX_CLASSES 100000        /* output classes */
#define NASC_MAX_INPUT_CHANNELS 64     /* input channels (images: 1 or 3) */
#define NASC_MAX_INPUT_SIDE 4096       /* input height and width */
#define NASC_MAX_WIDTH 64.0            /* baseline CNN width multiplier, in (0, 64] */
#define NASC_MAX_BATCH 65536           /* batch size of training, evaluation and latency runs */
#define NASC_MAX_THREADS 256           /* kernel threads */
#define NASC_MAX_TENSOR_ELEMS 2147483647LL /* elements of one tensor (kernels index with int) */
#define NASC_MAX_CONFIG_BYTES (1 << 20)    /* a YAML config file */
#define NASC_MAX_CONFIG_DEPTH 64           /* nesting of a YAML config */
#define NASC_MAX_TABLE_BYTES (1LL << 30)   /* a user CSV table (benchmark tables) */

/* Physical memory of this machine in bytes (sysconf), or a large fallback when unknown. */
NASC_API uint64_t nasc_mem_total_bytes(void);

/* NASC_ERR_ARG "<what>: must be in [lo, hi] (got v)" unless lo <= v <= hi. err may be NULL. */
NASC_API nasc_status nasc_limit_check_int(nasc_err *err, const char *what, int64_t v, int64_t lo,
                                          int64_t hi);

/* NASC_ERR_ARG "<what> need <bytes> bytes, more than this machine's <total> bytes of memory"
 * when bytes exceeds nasc_mem_total_bytes(). Compute bytes in 64 bits (saturating). */
NASC_API nasc_status nasc_limit_check_bytes(nasc_err *err, const char *what, uint64_t bytes);

/* Reads the whole regular file at path into *out (nasc_malloc'd, NUL-terminated; *out_len bytes
 * without the NUL). Never blocks: a FIFO, device or socket is refused, and so is a directory (as
 * such). NASC_ERR_IO "<what>: <path>: ..." when the file cannot be opened or read, is not a
 * regular file, or is larger than max_bytes or this machine's memory; NOMEM. *out is NULL on any
 * error. */
NASC_API nasc_status nasc_file_read_all(const char *path, const char *what, uint64_t max_bytes,
                                        char **out, size_t *out_len, nasc_err *err);

#ifdef __cplusplus
}
#endif

#endif /* NASC_LIMITS_H */
