/* oneshot_int.h — internals of the one-shot module: the supernet's layout (supernet.c) as the
 * stepper (stepper.c), the methods (sample.c) and the search loop (search.c) see it, and helpers
 * shared by them. Never installed. */
#ifndef NASC_ONESHOT_INT_H
#define NASC_ONESHOT_INT_H

#include "core/buf.h"
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

/* The stepper's state (rng, counters, both stores, buffers, optimizer states, method state) into
 * b, and back. Load checks every length against the supernet's and fails with FORMAT. */
NASC_INTERNAL void nasc_os_save_state(const nasc_oneshot *os, nasc_buf *b);
NASC_INTERNAL nasc_status nasc_os_load_state(nasc_oneshot *os, nasc_reader *b, const char *path,
                                             nasc_err *err);

#endif /* NASC_ONESHOT_INT_H */
