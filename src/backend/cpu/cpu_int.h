/* cpu_int.h — optimised CPU kernels (OpenBLAS, oneDNN, AVX-512, OpenMP). Never installed.
 * Each kernel follows the ref kernel's semantics exactly (tests/parity checks it) and splits work
 * across be->n_threads by fixed ranges (nasc_cpu_range), so results depend only on the thread
 * count. */
#ifndef NASC_CPU_INT_H
#define NASC_CPU_INT_H

#include "../backend_int.h"

/* [*out_begin, *out_end) of n items for thread ith of nth: contiguous, balanced, fixed. */
static inline void nasc_cpu_range(size_t n, int ith, int nth, size_t *out_begin, size_t *out_end) {
    const size_t per = n / (size_t)nth, rem = n % (size_t)nth;
    const size_t i = (size_t)ith;
    *out_begin = i * per + (i < rem ? i : rem);
    *out_end = *out_begin + per + (i < rem ? 1 : 0);
}

#endif /* NASC_CPU_INT_H */
