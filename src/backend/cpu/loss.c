/* cpu/loss.c — softmax and log-softmax over C (a contiguous row per pixel in NHWC), cross entropy,
 * sum and mean. Formulas as ref/loss.c:
 *   softmax:     y = exp(x - max) / sum;               dx += y * (dy - sum(dy*y))
 *   log_softmax: y = x - max - log(sum exp(x - max));  dx += dy - exp(y) * sum(dy)
 *   cross entropy, t = (1-s)*onehot + s/K:  loss = -1/N sum t log p;  dlogits += dy/N * (p - t)
 * Rows are split across threads by pixel range; row reductions run in double, in order. Sum and
 * mean reduce each thread's range into a double partial (8 lanes, fixed lane order), and the
 * partials are added in ith order. Cross entropy (N rows of K logits, tiny) runs on one thread. */
#include "cpu_int.h"

#include <math.h>

#define ROW_GRAIN 16384 /* elements per thread */

/* log(sum exp(x)) of one row, in double, and its max. */
static double row_lse(const float *x, int K) {
    float m = x[0];
    for (int k = 1; k < K; k++)
        if (x[k] > m)
            m = x[k];
    double s = 0.0;
    for (int k = 0; k < K; k++)
        s += exp((double)x[k] - (double)m);
    return (double)m + log(s);
}

typedef struct row_args {
    nasc_tensor *node;
    bool log, bwd;
} row_args;

static void row_task(void *arg, int ith, int nth) {
    const row_args *a = arg;
    nasc_tensor *node = a->node;
    const int K = node->ne[1];
    size_t p0, p1;
    nasc_cpu_range(nasc_n(node) / (size_t)K, ith, nth, &p0, &p1);
    for (size_t p = p0; p < p1; p++) {
        const float *y = node->data + p * K;
        if (!a->bwd) {
            const float *x = node->src[0]->data + p * K;
            float *out = node->data + p * K;
            const double lse = row_lse(x, K);
            if (a->log)
                for (int k = 0; k < K; k++)
                    out[k] = (float)((double)x[k] - lse);
            else
                for (int k = 0; k < K; k++)
                    out[k] = (float)exp((double)x[k] - lse);
        } else {
            const float *dy = node->grad + p * K;
            float *dx = node->src[0]->grad + p * K;
            double s = 0.0;
            if (a->log) {
                for (int k = 0; k < K; k++)
                    s += (double)dy[k];
                for (int k = 0; k < K; k++)
                    dx[k] += (float)((double)dy[k] - exp((double)y[k]) * s);
            } else {
                for (int k = 0; k < K; k++)
                    s += (double)dy[k] * (double)y[k];
                for (int k = 0; k < K; k++)
                    dx[k] += (float)((double)y[k] * ((double)dy[k] - s));
            }
        }
    }
}

static nasc_status row_run(nasc_backend *be, nasc_tensor *node, bool log, bool bwd) {
    if (bwd && !node->src[0]->grad)
        return NASC_OK;
    row_args a = {.node = node, .log = log, .bwd = bwd};
    nasc_cpu_run(nasc_cpu_nth(be, nasc_n(node), ROW_GRAIN), row_task, &a);
    return NASC_OK;
}

nasc_status nasc_cpu_softmax_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    return row_run(be, node, false, false);
}
nasc_status nasc_cpu_softmax_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    return row_run(be, node, false, true);
}
nasc_status nasc_cpu_log_softmax_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    return row_run(be, node, true, false);
}
nasc_status nasc_cpu_log_softmax_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    return row_run(be, node, true, true);
}

nasc_status nasc_cpu_cross_entropy_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)be;
    (void)g;
    const nasc_tensor *lg = node->src[0];
    const int N = lg->ne[0], K = lg->ne[1];
    const int32_t *labels = node->saved;
    const double s = node->params.ce.smoothing;
    double total = 0.0;
    for (int n = 0; n < N; n++) {
        const float *x = lg->data + (size_t)n * K;
        const double lse = row_lse(x, K);
        double sum_x = 0.0;
        for (int k = 0; k < K; k++)
            sum_x += (double)x[k];
        const double sum_logp = sum_x - K * lse, logp_label = (double)x[labels[n]] - lse;
        total += -(1.0 - s) * logp_label - s / K * sum_logp;
    }
    node->data[0] = (float)(total / N);
    return NASC_OK;
}

nasc_status nasc_cpu_cross_entropy_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)be;
    (void)g;
    nasc_tensor *lg = node->src[0];
    if (!lg->grad)
        return NASC_OK;
    const int N = lg->ne[0], K = lg->ne[1];
    const int32_t *labels = node->saved;
    const double s = node->params.ce.smoothing;
    const double scale = (double)node->grad[0] / N;
    for (int n = 0; n < N; n++) {
        const float *x = lg->data + (size_t)n * K;
        const double lse = row_lse(x, K);
        float *dx = lg->grad + (size_t)n * K;
        for (int k = 0; k < K; k++) {
            const double t = (k == labels[n] ? 1.0 - s : 0.0) + s / K;
            dx[k] += (float)(scale * (exp((double)x[k] - lse) - t));
        }
    }
    return NASC_OK;
}

/* ---- sum / mean ---- */

typedef struct red_args {
    const float *x;
    size_t n;
    double part[64]; /* one partial per ith (nth <= 64) */
} red_args;

NASC_CPU_CLONES
static void red_task(void *arg, int ith, int nth) {
    red_args *a = arg;
    size_t i0, i1;
    nasc_cpu_range(a->n, ith, nth, &i0, &i1);
    const float *restrict x = a->x;
    double lane[8] = {0};
    size_t i = i0;
    for (; i + 8 <= i1; i += 8)
        for (int l = 0; l < 8; l++)
            lane[l] += (double)x[i + (size_t)l];
    double s = 0.0;
    for (int l = 0; l < 8; l++)
        s += lane[l];
    for (; i < i1; i++)
        s += (double)x[i];
    a->part[ith] = s;
}

static double reduce_sum(nasc_backend *be, const nasc_tensor *x) {
    red_args a = {.x = x->data, .n = nasc_n(x)};
    int nth = nasc_cpu_nth(be, a.n, 4 * ROW_GRAIN);
    if (nth > 64)
        nth = 64;
    nasc_cpu_run(nth, red_task, &a);
    double s = 0.0;
    for (int t = 0; t < nth; t++)
        s += a.part[t];
    return s;
}

typedef struct fill_args {
    float *dx;
    float d;
    size_t n;
} fill_args;

NASC_CPU_CLONES
static void addc_task(void *arg, int ith, int nth) {
    const fill_args *a = arg;
    size_t i0, i1;
    nasc_cpu_range(a->n, ith, nth, &i0, &i1);
    float *restrict dx = a->dx;
    for (size_t i = i0; i < i1; i++)
        dx[i] += a->d;
}

static void add_const(nasc_backend *be, float *dx, float d, size_t n) {
    fill_args a = {dx, d, n};
    nasc_cpu_run(nasc_cpu_nth(be, n, ROW_GRAIN), addc_task, &a);
}

nasc_status nasc_cpu_sum_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    node->data[0] = (float)reduce_sum(be, node->src[0]);
    return NASC_OK;
}

nasc_status nasc_cpu_sum_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    nasc_tensor *x = node->src[0];
    if (x->grad)
        add_const(be, x->grad, node->grad[0], nasc_n(x));
    return NASC_OK;
}

nasc_status nasc_cpu_mean_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    const nasc_tensor *x = node->src[0];
    node->data[0] = (float)(reduce_sum(be, x) / (double)nasc_n(x));
    return NASC_OK;
}

nasc_status nasc_cpu_mean_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    nasc_tensor *x = node->src[0];
    if (x->grad)
        add_const(be, x->grad, (float)((double)node->grad[0] / (double)nasc_n(x)), nasc_n(x));
    return NASC_OK;
}
