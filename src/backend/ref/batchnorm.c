/* ref/batchnorm.c — batch normalisation (Ioffe & Szegedy 2015), per channel over (N, H, W).
 *
 * src: x (N,C,H,W), gamma, beta, running_mean, running_var (each (1,C,1,1) or NULL).
 * Training:  mu = mean(x), var = mean((x-mu)^2) (biased), xhat = (x-mu)/sqrt(var+eps),
 *            y = gamma*xhat + beta; running = (1-m)*running + m*(mu, var*M/(M-1)), M = N*H*W.
 * Inference: mu, var = running statistics.
 * saved: 2C floats, mean then invstd = 1/sqrt(var+eps).
 * Backward (training), with g = dy*gamma:
 *   dx = invstd/M * (M*g - sum(g) - xhat*sum(g*xhat)),  dgamma = sum(dy*xhat),  dbeta = sum(dy).
 * Backward (inference): dx = g*invstd.
 * NASC_OP_BN_RELU: the same with y = max(0, y) written, and dy taken as 0 where y <= 0 (ReLU's
 * derivative from its output, as ref/eltwise.c) before the formulas above. */
#include "ref_int.h"

#include <math.h>

/* Channel c's mean and 1/sqrt(var+eps): batch statistics (and the running ones updated) when
 * training, the running statistics otherwise. Shared with the in-place op (mixed.c). */
void nasc_ref_bn_stats(const nasc_tensor *x, int c, const nasc_bn_params *p, nasc_tensor *rmean,
                       nasc_tensor *rvar, double *out_mu, double *out_invstd) {
    const int C = x->ne[1];
    const size_t M = nasc_n(x) / (size_t)C;
    double mu, var;
    if (p->training) {
        double s = 0.0;
        for (size_t i = 0; i < M; i++)
            s += x->data[i * C + c];
        mu = s / (double)M;
        double ss = 0.0;
        for (size_t i = 0; i < M; i++) {
            double d = x->data[i * C + c] - mu;
            ss += d * d;
        }
        var = ss / (double)M;
        if (rmean) {
            const double m = p->momentum;
            rmean->data[c] = (float)((1.0 - m) * rmean->data[c] + m * mu);
            rvar->data[c] =
                (float)((1.0 - m) * rvar->data[c] + m * var * (double)M / (double)(M - 1));
        }
    } else {
        mu = rmean->data[c];
        var = rvar->data[c];
    }
    *out_mu = mu;
    *out_invstd = 1.0 / sqrt(var + (double)p->eps);
}

nasc_status nasc_ref_batchnorm_fwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    const nasc_tensor *x = node->src[0], *gamma = node->src[1], *beta = node->src[2];
    nasc_tensor *rmean = node->src[3], *rvar = node->src[4];
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
        const double ga = gamma ? gamma->data[c] : 1.0, bb = beta ? beta->data[c] : 0.0;
        for (size_t i = 0; i < M; i++)
            node->data[i * C + c] = (float)(ga * ((x->data[i * C + c] - mu) * invstd) + bb);
        if (node->op == NASC_OP_BN_RELU)
            for (size_t i = 0; i < M; i++)
                node->data[i * C + c] = node->data[i * C + c] > 0.0f ? node->data[i * C + c] : 0.0f;
    }
    return NASC_OK;
}

nasc_status nasc_ref_batchnorm_bwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    nasc_tensor *x = node->src[0], *gamma = node->src[1], *beta = node->src[2];
    const nasc_bn_params *p = &node->params.bn;
    const int C = x->ne[1];
    const size_t M = nasc_n(x) / (size_t)C;
    const float *saved = node->saved;
    const float *dy = node->grad;
    float *masked = NULL;
    if (node->op == NASC_OP_BN_RELU) { /* dy through the ReLU first */
        masked = nasc_graph_alloc(gr, nasc_n(node) * sizeof(float));
        if (!masked)
            return nasc_graph_status(gr);
        for (size_t i = 0; i < nasc_n(node); i++)
            masked[i] = node->data[i] > 0.0f ? dy[i] : 0.0f;
        dy = masked;
    }
    for (int c = 0; c < C; c++) {
        const double mu = saved[c], invstd = saved[C + c];
        const double ga = gamma ? gamma->data[c] : 1.0;
        double sdy = 0.0, sdy_xhat = 0.0;
        for (size_t i = 0; i < M; i++) {
            const double xhat = (x->data[i * C + c] - mu) * invstd;
            sdy += dy[i * C + c];
            sdy_xhat += dy[i * C + c] * xhat;
        }
        if (gamma && gamma->grad)
            gamma->grad[c] += (float)sdy_xhat;
        if (beta && beta->grad)
            beta->grad[c] += (float)sdy;
        if (!x->grad)
            continue;
        if (p->training) {
            /* sum(g) = gamma*sdy, sum(g*xhat) = gamma*sdy_xhat */
            for (size_t i = 0; i < M; i++) {
                const double xhat = (x->data[i * C + c] - mu) * invstd;
                const double d = ga * invstd / (double)M *
                                 ((double)M * dy[i * C + c] - sdy - xhat * sdy_xhat);
                x->grad[i * C + c] += (float)d;
            }
        } else {
            for (size_t i = 0; i < M; i++)
                x->grad[i * C + c] += (float)(dy[i * C + c] * ga * invstd);
        }
    }
    return NASC_OK;
}
