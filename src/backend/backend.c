/* backend.c — backend registry, dispatch with fallback to ref, and the shared scratch buffer. */
#include "backend_int.h"

#include "nasc/arena.h"

#include <string.h>
#include <time.h>

/* the profiling hook (nasc_backend_set_profile); NULL: off */
static nasc_backend_profile_fn profile_fn;
static void *profile_ud;

void nasc_backend_set_profile(nasc_backend_profile_fn fn, void *ud) {
    profile_fn = fn;
    profile_ud = ud;
}

static double profile_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs the kernel of node on use, timed and reported when the hook is set. */
static nasc_status run_kernel(nasc_backend *use, nasc_graph *g, nasc_tensor *node, bool bwd) {
    nasc_kernel_fn fn = bwd ? use->iface->backward : use->iface->forward;
    if (!profile_fn)
        return fn(use, g, node);
    const double t0 = profile_now();
    const nasc_status st = fn(use, g, node);
    if (use->iface->sync)
        use->iface->sync(use);
    const double dt = profile_now() - t0;
    if (st == NASC_OK)
        profile_fn(profile_ud, node, bwd, dt);
    return st;
}

nasc_backend *nasc_backend_new(const char *name, int n_threads, nasc_err *err) {
    if (!name || !strcmp(name, "auto") || !strcmp(name, "cpu")) {
        if (n_threads < 1) {
            nasc_errorf(err, NASC_ERR_ARG, "backend cpu: threads must be >= 1 (%d)", n_threads);
            return NULL;
        }
        return nasc_backend_cpu_create(n_threads, err);
    }
    if (!strcmp(name, "ref"))
        return nasc_backend_ref();
    nasc_errorf(err, NASC_ERR_ARG, "backend: unknown name '%s' (expected ref, cpu or auto)", name);
    return NULL;
}

void nasc_backend_free(nasc_backend *be) {
    if (!be || be == nasc_backend_ref())
        return;
    nasc_free_aligned(be->scratch);
    if (be->iface->free)
        be->iface->free(be);
    nasc_free(be);
}

const char *nasc_backend_name(const nasc_backend *be) { return be->iface->name; }

void *nasc_backend_scratch(nasc_backend *be, size_t bytes, nasc_err *err) {
    if (bytes <= be->scratch_bytes)
        return be->scratch;
    if (be->scratch_frozen) {
        nasc_errorf(err, NASC_ERR_NOMEM,
                    "backend %s: frozen scratch would have to grow from %zu to %zu bytes",
                    be->iface->name, be->scratch_bytes, bytes);
        return NULL;
    }
    void *p = nasc_malloc_aligned(bytes);
    if (!p) {
        nasc_errorf(err, NASC_ERR_NOMEM, "backend %s: out of memory for %zu bytes of scratch",
                    be->iface->name, bytes);
        return NULL;
    }
    nasc_free_aligned(be->scratch);
    be->scratch = p;
    be->scratch_bytes = bytes;
    be->scratch_grows++;
    return p;
}

static nasc_backend *pick(nasc_backend *be, const nasc_tensor *node) {
    if (be->iface->supports && be->iface->supports(be, node))
        return be;
    return nasc_backend_ref();
}

nasc_status nasc_backend_forward(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    return run_kernel(pick(be, node), g, node, false);
}

void nasc_backend_zero_fresh_grads(nasc_tensor *node) {
    for (int i = 0; i < node->n_src; i++) {
        nasc_tensor *s = node->src[i];
        if (s && (s->flags & NASC_TENSOR_GRAD_FRESH)) {
            memset(s->grad, 0, nasc_n(s) * sizeof(float));
            s->flags &= ~(uint32_t)NASC_TENSOR_GRAD_FRESH;
        }
    }
}

nasc_status nasc_backend_backward(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    return run_kernel(pick(be, node), g, node, true);
}
