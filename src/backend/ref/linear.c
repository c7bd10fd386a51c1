/* ref/linear.c — y[n,k] = b[k] + sum_f x[n,f] w[k,f]; x (N,F) row-major, w (K,F), y (N,K).
 * dx[n,f] += sum_k dy[n,k] w[k,f];  dw[k,f] += sum_n dy[n,k] x[n,f];  db[k] += sum_n dy[n,k]. */
#include "ref_int.h"

nasc_status nasc_ref_linear_fwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    const nasc_tensor *x = node->src[0], *w = node->src[1], *b = node->src[2];
    const int N = x->ne[0], K = w->ne[0];
    const size_t F = nasc_n(x) / (size_t)N;
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) {
            double acc = b ? b->data[k] : 0.0;
            for (size_t f = 0; f < F; f++)
                acc += (double)x->data[n * F + f] * w->data[k * F + f];
            node->data[(size_t)n * K + k] = (float)acc;
        }
    return NASC_OK;
}

nasc_status nasc_ref_linear_bwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    nasc_tensor *x = node->src[0], *w = node->src[1], *b = node->src[2];
    const int N = x->ne[0], K = w->ne[0];
    const size_t F = nasc_n(x) / (size_t)N;
    const float *dy = node->grad;
    if (x->grad)
        for (int n = 0; n < N; n++)
            for (size_t f = 0; f < F; f++) {
                double acc = 0.0;
                for (int k = 0; k < K; k++)
                    acc += (double)dy[(size_t)n * K + k] * w->data[k * F + f];
                x->grad[n * F + f] += (float)acc;
            }
    if (w->grad)
        for (int k = 0; k < K; k++)
            for (size_t f = 0; f < F; f++) {
                double acc = 0.0;
                for (int n = 0; n < N; n++)
                    acc += (double)dy[(size_t)n * K + k] * x->data[n * F + f];
                w->grad[k * F + f] += (float)acc;
            }
    if (b && b->grad)
        for (int k = 0; k < K; k++) {
            double acc = 0.0;
            for (int n = 0; n < N; n++)
                acc += dy[(size_t)n * K + k];
            b->grad[k] += (float)acc;
        }
    return NASC_OK;
}
