/* ref/mixed.c — weighted sum and channel shuffle (ops of supernets).
 *
 * weighted_sum: src w (any shape, read flat), x_1..x_n (each the output's shape, or NULL = 1).
 *   forward   out[j] = sum_i w[idx_i] * x_i[j]            (double accumulator, terms in order)
 *   backward  dx_i[j] += w[idx_i] * dout[j];  dw[idx_i] += sum_j dout[j] * x_i[j]
 *             (for a NULL term: dw[idx_i] += sum_j dout[j])
 * channel_shuffle with G groups, C = G*Cg: out(n, i*G + k) = x(n, k*Cg + i); backward is the
 * inverse permutation of the gradient.
 * batchnorm_inplace: see below. */
#include "ref_int.h"

#include <math.h>

nasc_status nasc_ref_wsum_fwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    const nasc_tensor *w = node->src[0];
    const nasc_wsum_params *p = &node->params.wsum;
    const size_t M = nasc_n(node);
    for (size_t j = 0; j < M; j++) {
        double s = 0.0;
        for (int i = 0; i < p->n; i++) {
            const nasc_tensor *x = node->src[i + 1];
            s += (double)w->data[p->idx[i]] * (x ? (double)x->data[j] : 1.0);
        }
        node->data[j] = (float)s;
    }
    return NASC_OK;
}

nasc_status nasc_ref_wsum_bwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    nasc_tensor *w = node->src[0];
    const nasc_wsum_params *p = &node->params.wsum;
    const size_t M = nasc_n(node);
    const float *dy = node->grad;
    for (int i = 0; i < p->n; i++) {
        nasc_tensor *x = node->src[i + 1];
        const float wi = w->data[p->idx[i]];
        if (x && x->grad)
            for (size_t j = 0; j < M; j++)
                x->grad[j] += wi * dy[j];
        if (w->grad) {
            double s = 0.0;
            for (size_t j = 0; j < M; j++)
                s += (double)dy[j] * (x ? (double)x->data[j] : 1.0);
            w->grad[p->idx[i]] += (float)s;
        }
    }
    return NASC_OK;
}

nasc_status nasc_ref_channel_shuffle_fwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    const nasc_tensor *x = node->src[0];
    const int C = node->ne[1], G = node->params.shuffle.groups, Cg = C / G;
    const size_t P = nasc_n(node) / (size_t)C;
    for (size_t q = 0; q < P; q++)
        for (int k = 0; k < G; k++)
            for (int i = 0; i < Cg; i++)
                node->data[q * C + (size_t)(i * G + k)] = x->data[q * C + (size_t)(k * Cg + i)];
    return NASC_OK;
}

nasc_status nasc_ref_channel_shuffle_bwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    nasc_tensor *x = node->src[0];
    if (!x->grad)
        return NASC_OK;
    const int C = node->ne[1], G = node->params.shuffle.groups, Cg = C / G;
    const size_t P = nasc_n(node) / (size_t)C;
    for (size_t q = 0; q < P; q++)
        for (int k = 0; k < G; k++)
            for (int i = 0; i < Cg; i++)
                x->grad[q * C + (size_t)(k * Cg + i)] += node->grad[q * C + (size_t)(i * G + k)];
    return NASC_OK;
}

/* batchnorm_inplace: src x (aliased by the output), running_mean, running_var (or NULL); no
 * affine. saved: mean then invstd (2C floats). Forward as ref/batchnorm.c with gamma = 1,
 * beta = 0, writing y over x (statistics are complete before the first write). Backward from y:
 *   training   dx += invstd * (dy - mean(dy) - y * mean(dy * y))   (xhat = y)
 *   inference  dx += invstd * dy */
nasc_status nasc_ref_bn_inplace_fwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    nasc_tensor *x = node->src[0], *rmean = node->src[1], *rvar = node->src[2];
    const nasc_bn_params *p = &node->params.bn;
    const int C = x->ne[1];
    const size_t M = nasc_n(x) / (size_t)C;
    float *saved = nasc_graph_alloc(gr, 2 * (size_t)C * sizeof(float));
    if (!saved)
        return nasc_graph_status(gr);
    node->saved = saved;
    for (int c = 0; c < C; c++) {
        double mu, invstd;
        nasc_ref_bn_stats(x, c, p, rmean, rvar, &mu, &invstd);
        saved[c] = (float)mu;
        saved[C + c] = (float)invstd;
        for (size_t i = 0; i < M; i++)
            node->data[i * C + c] = (float)((x->data[i * C + c] - mu) * invstd);
    }
    return NASC_OK;
}

nasc_status nasc_ref_bn_inplace_bwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    nasc_tensor *x = node->src[0];
    if (!x->grad)
        return NASC_OK;
    const int C = x->ne[1];
    const size_t M = nasc_n(x) / (size_t)C;
    const float *saved = node->saved, *y = node->data, *dy = node->grad;
    for (int c = 0; c < C; c++) {
        const double invstd = saved[C + c];
        if (!node->params.bn.training) {
            for (size_t i = 0; i < M; i++)
                x->grad[i * C + c] += (float)(invstd * dy[i * C + c]);
            continue;
        }
        double sdy = 0.0, sdyy = 0.0;
        for (size_t i = 0; i < M; i++) {
            sdy += dy[i * C + c];
            sdyy += (double)dy[i * C + c] * y[i * C + c];
        }
        const double mdy = sdy / (double)M, mdyy = sdyy / (double)M;
        for (size_t i = 0; i < M; i++)
            x->grad[i * C + c] +=
                (float)(invstd * (dy[i * C + c] - mdy - (double)y[i * C + c] * mdyy));
    }
    return NASC_OK;
}
