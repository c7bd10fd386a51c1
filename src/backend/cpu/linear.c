/* cpu/linear.c — fully connected layer as OpenBLAS sgemm calls, one per thread on a fixed slice.
 *
 * x (N,F) row-major (any (N,C,H,W) read in storage order), w (K,F), b (1,K,1,1), y (N,K).
 *   fwd:  y[N][K]   = x[N][F] w[K][F]^T (+ b)      slice: rows of y (n)
 *   bwd:  dx[N][F] += dy[N][K] w[K][F]            slice: rows of dx (n)
 *         dw[K][F] += dy[N][K]^T x[N][F]          slice: columns of dw (f), all n per call
 *         db[K]    += sum_n dy[n][k]              serial, in double
 * No slice shares an output element, so no reduction crosses threads and the result depends only
 * on the slicing (fixed by the shape and nth). */
#include "cpu_int.h"

#define LIN_GRAIN (1u << 17) /* multiply-adds per thread below which one thread is used */

typedef struct lin_args {
    const nasc_tensor *x, *w, *b;
    nasc_tensor *node;
    int N, K, F;
    int part; /* 0 fwd, 1 dx, 2 dw */
} lin_args;

static void lin_task(void *arg, int ith, int nth) {
    const lin_args *a = arg;
    const int N = a->N, K = a->K, F = a->F;
    size_t i0, i1;
    if (a->part == 0) {
        nasc_cpu_range((size_t)N, ith, nth, &i0, &i1);
        const int m = (int)(i1 - i0);
        float *y = a->node->data + i0 * (size_t)K;
        nasc_cpu_sgemm(false, true, m, K, F, 1.0f, a->x->data + i0 * (size_t)F, F, a->w->data, F,
                       0.0f, y, K);
        if (a->b)
            for (int n = 0; n < m; n++)
                for (int k = 0; k < K; k++)
                    y[(size_t)n * K + k] += a->b->data[k];
    } else if (a->part == 1) {
        nasc_cpu_range((size_t)N, ith, nth, &i0, &i1);
        nasc_cpu_sgemm(false, false, (int)(i1 - i0), F, K, 1.0f, a->node->grad + i0 * (size_t)K,
                       K, a->w->data, F, 1.0f, a->x->grad + i0 * (size_t)F, F);
    } else {
        nasc_cpu_range((size_t)F, ith, nth, &i0, &i1);
        nasc_cpu_sgemm(true, false, K, (int)(i1 - i0), N, 1.0f, a->node->grad, K, a->x->data + i0,
                       F, 1.0f, a->w->grad + i0, F);
    }
}

nasc_status nasc_cpu_linear_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    lin_args a = {.x = node->src[0], .w = node->src[1], .b = node->src[2], .node = node,
                  .N = node->src[0]->ne[0], .K = node->src[1]->ne[0], .part = 0};
    a.F = (int)(nasc_n(a.x) / (size_t)a.N);
    const size_t work = (size_t)a.N * (size_t)a.K * (size_t)a.F;
    int nth = nasc_cpu_nth(be, work, LIN_GRAIN);
    if (nth > a.N)
        nth = a.N;
    nasc_cpu_run(nth, lin_task, &a);
    return NASC_OK;
}

nasc_status nasc_cpu_linear_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    lin_args a = {.x = node->src[0], .w = node->src[1], .b = node->src[2], .node = node,
                  .N = node->src[0]->ne[0], .K = node->src[1]->ne[0]};
    a.F = (int)(nasc_n(a.x) / (size_t)a.N);
    const size_t work = (size_t)a.N * (size_t)a.K * (size_t)a.F;
    if (a.x->grad) {
        a.part = 1;
        int nth = nasc_cpu_nth(be, work, LIN_GRAIN);
        if (nth > a.N)
            nth = a.N;
        nasc_cpu_run(nth, lin_task, &a);
    }
    if (a.w->grad) {
        a.part = 2;
        int nth = nasc_cpu_nth(be, work, LIN_GRAIN);
        if (nth > a.F)
            nth = a.F;
        nasc_cpu_run(nth, lin_task, &a);
    }
    if (a.b && a.b->grad) {
        const float *dy = node->grad;
        for (int k = 0; k < a.K; k++) {
            double s = 0.0;
            for (int n = 0; n < a.N; n++)
                s += (double)dy[(size_t)n * a.K + k];
            a.b->grad[k] += (float)s;
        }
    }
    return NASC_OK;
}
