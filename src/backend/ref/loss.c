/* ref/loss.c — softmax and log-softmax over C at each (n,h,w) (contiguous in NHWC), cross
 * entropy with label smoothing, sum and mean.
 *   softmax:     y = exp(x - max) / sum;          dx = y * (dy - sum(dy*y))
 *   log_softmax: y = x - max - log(sum exp(x-max)); dx = dy - softmax(x) * sum(dy)
 *   cross entropy, target t = (1-s)*onehot(label) + s/K:
 *                loss = -1/N sum_n sum_k t[n,k] log p[n,k];  dlogits = dy/N * (p - t). */
#include "ref_int.h"

#include <math.h>

/* log(sum_k exp(x[k])) computed stably; also returns the max. */
static double logsumexp(const float *x, int K, double *out_max) {
    double m = x[0];
    for (int k = 1; k < K; k++)
        if (x[k] > m)
            m = x[k];
    double s = 0.0;
    for (int k = 0; k < K; k++)
        s += exp((double)x[k] - m);
    *out_max = m;
    return m + log(s);
}

nasc_status nasc_ref_softmax_fwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    const int K = node->ne[1];
    const size_t P = nasc_n(node) / (size_t)K;
    const float *x = node->src[0]->data;
    for (size_t p = 0; p < P; p++) {
        double m;
        const double lse = logsumexp(x + p * K, K, &m);
        for (int k = 0; k < K; k++)
            node->data[p * K + k] = (float)exp((double)x[p * K + k] - lse);
    }
    return NASC_OK;
}

nasc_status nasc_ref_softmax_bwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    const int K = node->ne[1];
    const size_t P = nasc_n(node) / (size_t)K;
    float *dx = node->src[0]->grad;
    if (!dx)
        return NASC_OK;
    for (size_t p = 0; p < P; p++) {
        const float *y = node->data + p * K, *dy = node->grad + p * K;
        double dot = 0.0;
        for (int k = 0; k < K; k++)
            dot += (double)dy[k] * y[k];
        for (int k = 0; k < K; k++)
            dx[p * K + k] += (float)(y[k] * (dy[k] - dot));
    }
    return NASC_OK;
}

nasc_status nasc_ref_log_softmax_fwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    const int K = node->ne[1];
    const size_t P = nasc_n(node) / (size_t)K;
    const float *x = node->src[0]->data;
    for (size_t p = 0; p < P; p++) {
        double m;
        const double lse = logsumexp(x + p * K, K, &m);
        for (int k = 0; k < K; k++)
            node->data[p * K + k] = (float)((double)x[p * K + k] - lse);
    }
    return NASC_OK;
}

nasc_status nasc_ref_log_softmax_bwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    const int K = node->ne[1];
    const size_t P = nasc_n(node) / (size_t)K;
    float *dx = node->src[0]->grad;
    if (!dx)
        return NASC_OK;
    for (size_t p = 0; p < P; p++) {
        const float *y = node->data + p * K, *dy = node->grad + p * K;
        double s = 0.0;
        for (int k = 0; k < K; k++)
            s += dy[k];
        for (int k = 0; k < K; k++)
            dx[p * K + k] += (float)(dy[k] - exp((double)y[k]) * s);
    }
    return NASC_OK;
}

nasc_status nasc_ref_cross_entropy_fwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    const nasc_tensor *lg = node->src[0];
    const int N = lg->ne[0], K = lg->ne[1];
    const int32_t *labels = node->saved;
    const double s = node->params.ce.smoothing;
    double total = 0.0;
    for (int n = 0; n < N; n++) {
        const float *x = lg->data + (size_t)n * K;
        double m;
        const double lse = logsumexp(x, K, &m);
        double sum_logp = 0.0;
        for (int k = 0; k < K; k++)
            sum_logp += (double)x[k] - lse;
        const double logp_label = (double)x[labels[n]] - lse;
        total += -(1.0 - s) * logp_label - s / K * sum_logp;
    }
    node->data[0] = (float)(total / N);
    return NASC_OK;
}

nasc_status nasc_ref_cross_entropy_bwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    nasc_tensor *lg = node->src[0];
    if (!lg->grad)
        return NASC_OK;
    const int N = lg->ne[0], K = lg->ne[1];
    const int32_t *labels = node->saved;
    const double s = node->params.ce.smoothing;
    const double scale = (double)node->grad[0] / N;
    for (int n = 0; n < N; n++) {
        const float *x = lg->data + (size_t)n * K;
        double m;
        const double lse = logsumexp(x, K, &m);
        for (int k = 0; k < K; k++) {
            const double p = exp((double)x[k] - lse);
            const double t = (k == labels[n] ? 1.0 - s : 0.0) + s / K;
            lg->grad[(size_t)n * K + k] += (float)(scale * (p - t));
        }
    }
    return NASC_OK;
}

nasc_status nasc_ref_sum_fwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    const nasc_tensor *x = node->src[0];
    double s = 0.0;
    for (size_t i = 0; i < nasc_n(x); i++)
        s += x->data[i];
    node->data[0] = (float)s;
    return NASC_OK;
}

nasc_status nasc_ref_sum_bwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    nasc_tensor *x = node->src[0];
    if (x->grad)
        for (size_t i = 0; i < nasc_n(x); i++)
            x->grad[i] += node->grad[0];
    return NASC_OK;
}

nasc_status nasc_ref_mean_fwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    const nasc_tensor *x = node->src[0];
    double s = 0.0;
    for (size_t i = 0; i < nasc_n(x); i++)
        s += x->data[i];
    node->data[0] = (float)(s / (double)nasc_n(x));
    return NASC_OK;
}

nasc_status nasc_ref_mean_bwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    nasc_tensor *x = node->src[0];
    const float d = (float)((double)node->grad[0] / (double)nasc_n(x));
    if (x->grad)
        for (size_t i = 0; i < nasc_n(x); i++)
            x->grad[i] += d;
    return NASC_OK;
}
