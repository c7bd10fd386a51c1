/* limits.c — checks against the bounds of limits.h and this machine's memory. */
#include "nasc/limits.h"

#include <inttypes.h>
#include <unistd.h>

uint64_t nasc_mem_total_bytes(void) {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0)
        return UINT64_C(1) << 40; /* unknown: 1 TiB, still far below any overflowed size */
    return (uint64_t)pages * (uint64_t)page;
}

nasc_status nasc_limit_check_int(nasc_err *err, const char *what, int64_t v, int64_t lo,
                                 int64_t hi) {
    if (v >= lo && v <= hi)
        return NASC_OK;
    return nasc_errorf(err, NASC_ERR_ARG, "%s: must be in [%" PRId64 ", %" PRId64 "] (got %" PRId64 ")",
                       what, lo, hi, v);
}

nasc_status nasc_limit_check_bytes(nasc_err *err, const char *what, uint64_t bytes) {
    const uint64_t total = nasc_mem_total_bytes();
    if (bytes <= total)
        return NASC_OK;
    return nasc_errorf(err, NASC_ERR_ARG,
                       "%s need %" PRIu64 " bytes, more than this machine's %" PRIu64
                       " bytes of memory",
                       what, bytes, total);
}
