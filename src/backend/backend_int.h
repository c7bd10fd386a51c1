/* backend_int.h — the kernel table shared by backends. Never installed. */
#ifndef NASC_BACKEND_INT_H
#define NASC_BACKEND_INT_H

#include "nasc/autograd.h"
#include "nasc/backend.h"

/* A forward or backward kernel: reads node->src / node->grad, writes node->data / src grads. */
typedef nasc_status (*nasc_kernel_fn)(nasc_backend *be, nasc_graph *g, nasc_tensor *node);

typedef struct nasc_kernel_pair {
    nasc_kernel_fn fwd;
    nasc_kernel_fn bwd;
} nasc_kernel_pair;

/* The reference kernels, indexed by op (every op has both). */
NASC_INTERNAL const nasc_kernel_pair *nasc_ref_kernels(void);

/* Constructors of the built-in backends (backend.c picks by name). */
NASC_INTERNAL nasc_backend *nasc_backend_cpu_create(int n_threads, nasc_err *err);

/* Elements of a tensor as size_t, for loops. */
static inline size_t nasc_n(const nasc_tensor *t) { return (size_t)nasc_tensor_nelem(t); }

#endif /* NASC_BACKEND_INT_H */
