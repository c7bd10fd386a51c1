/* oneshot_int.h — internals of the one-shot module: the supernet's layout (supernet.c) as the
 * methods (darts.c, sample.c, oneshot.c) see it, and helpers shared by them. Never installed. */
#ifndef NASC_ONESHOT_INT_H
#define NASC_ONESHOT_INT_H

#include "nasc/oneshot.h"
#include "nasc/supernet.h"

/* The two spaces a supernet is built for. */
typedef enum os_kind { OS_DARTS = 0, OS_NB201 } os_kind;

/* Kind of the supernet's space. */
NASC_INTERNAL os_kind nasc_os_kind(const nasc_supernet *sn);

/* Number of weights of the supernet's network store reachable by architecture `a` (the params of
 * its ops, stem, preprocessing and classifier), for reports. */
NASC_INTERNAL size_t nasc_os_arch_params(const nasc_supernet *sn, const nasc_arch *a);

/* Writes softmax of n logits (double accumulation) into out. */
NASC_INTERNAL void nasc_os_softmax(const float *x, int n, float *out);

/* ---- a growable byte buffer for checkpoints (remembers OOM; reads check bounds) ---- */

typedef struct os_buf {
    uint8_t *p;
    size_t len, cap, pos;
    bool oom, short_read;
} os_buf;

NASC_INTERNAL void nasc_os_put(os_buf *b, const void *data, size_t n);
NASC_INTERNAL void nasc_os_put_u64(os_buf *b, uint64_t v);
NASC_INTERNAL void nasc_os_put_f64(os_buf *b, double v);
NASC_INTERNAL void nasc_os_put_str(os_buf *b, const char *s);
/* Reads n bytes (zeros and short_read set when the buffer is shorter). */
NASC_INTERNAL void nasc_os_get(os_buf *b, void *out, size_t n);
NASC_INTERNAL uint64_t nasc_os_get_u64(os_buf *b);
NASC_INTERNAL double nasc_os_get_f64(os_buf *b);
/* A nasc_malloc'd copy of the next string (NULL on a short read or OOM). */
NASC_INTERNAL char *nasc_os_get_str(os_buf *b);

/* The stepper's state (rng, counters, both stores, buffers, optimizer states, method state) into
 * b, and back. Load checks every length against the supernet's and fails with FORMAT. */
NASC_INTERNAL void nasc_os_save_state(const nasc_oneshot *os, os_buf *b);
NASC_INTERNAL nasc_status nasc_os_load_state(nasc_oneshot *os, os_buf *b, const char *path,
                                             nasc_err *err);

#endif /* NASC_ONESHOT_INT_H */
