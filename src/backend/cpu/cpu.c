/* cpu.c — the CPU backend: a table of optimised kernels; ops without one run on ref. */
#include "cpu_int.h"

#include "nasc/arena.h"

static const nasc_kernel_pair cpu_table[NASC_OP_COUNT] = {
    [NASC_OP_NONE] = {NULL, NULL},
};

static bool cpu_supports(const nasc_backend *be, const nasc_tensor *node) {
    (void)be;
    return (unsigned)node->op < (unsigned)NASC_OP_COUNT && cpu_table[node->op].fwd &&
           cpu_table[node->op].bwd;
}

static nasc_status cpu_forward(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    return cpu_table[node->op].fwd(be, g, node);
}

static nasc_status cpu_backward(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    return cpu_table[node->op].bwd(be, g, node);
}

static const nasc_backend_i cpu_iface = {
    .name = "cpu",
    .supports = cpu_supports,
    .forward = cpu_forward,
    .backward = cpu_backward,
    .sync = NULL,
    .free = NULL,
};

nasc_backend *nasc_backend_cpu_create(int n_threads, nasc_err *err) {
    nasc_backend *be = nasc_calloc(1, sizeof *be);
    if (!be) {
        nasc_errorf(err, NASC_ERR_NOMEM, "backend cpu: out of memory");
        return NULL;
    }
    be->iface = &cpu_iface;
    be->n_threads = n_threads;
    return be;
}
