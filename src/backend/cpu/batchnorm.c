/* cpu/batchnorm.c — batch norm over (N,H,W) per channel, vectorised over C (NHWC rows).
 *
 * src: x (N,C,H,W), gamma, beta, running_mean, running_var (each (1,C,1,1) or NULL); M = N*H*W.
 * Semantics as ref/batchnorm.c (saved: mean then invstd, 2C floats).
 *
 * Training forward, two passes over x:
 *   1. statistics in ONE pass: shifted sums s1 = sum(x-k), s2 = sum((x-k)^2) with k = x[pixel 0]
 *      (the shift keeps E[x^2]-E[x]^2 from cancelling when |mean| >> std), in double, each ith over
 *      its pixel range into private buffers added in ith order; mean = k + s1/M,
 *      var = s2/M - (s1/M)^2 (biased);
 *   2. y = (x-mean)*a + beta with a = gamma*invstd (float).
 * Backward, two passes over (x, dy):
 *   1. sdy = sum(dy), sdyx = sum(dy*(x-mean)) per channel (double, private per ith);
 *      dgamma += sdyx*invstd, dbeta += sdy;
 *   2. training:  dx += k1*dy + k2*(x-mean) + k3, the ref formula
 *                 dx = gamma*invstd/M * (M*dy - sdy - xhat*sum(dy*xhat)) regrouped per channel:
 *                 k1 = gamma*invstd, k2 = -gamma*invstd^3*sdyx/M, k3 = -k1*sdy/M;
 *      inference: dx += gamma*invstd*dy.
 * Every pass splits the M pixels into nth fixed ranges.
 *
 * NASC_OP_BN_RELU (relu(bn(x)) in one node): pass 2 of the forward stores max(0, y); saved holds
 * 4C floats (mean, invstd, then pass 2's k1, k2) so that the backward recomputes y's sign from x
 * with the forward's very FMA (bit-identical, so the mask is exactly y > 0) and uses dy masked by
 * it in both passes. Against BN then ReLU this skips the ReLU's forward pass (read y, write r), its
 * backward pass (read r and dr, write dy) and the BN output tensor; the generic (non-AVX-512)
 * loops read the mask from the output instead. */
#include "cpu_int.h"

#include <math.h>
#include <string.h>

#if NASC_CPU_X86
#include <immintrin.h>
#endif

#define BN_GRAIN 16384 /* elements per thread */
#define BN_FLUSH 64    /* pixels summed in float before the double accumulators take them */
#define BN_PF 32       /* software prefetch distance in pixels */

typedef struct bn_args {
    const float *x, *dy;
    float *y, *dx;
    int C;
    size_t M;
    const float *shift;  /* pass-1 shift per channel (fwd), mean (bwd) */
    double *priv;        /* nth * 2C doubles */
    const float *k1, *k2, *k3; /* per-channel coefficients of pass 2 */
    bool avx512;
    bool store;          /* bwd: dx is fresh: store instead of adding */
    bool relu;           /* NASC_OP_BN_RELU: fwd stores max(0, y); bwd masks dy by y > 0 */
    const float *rk1, *rk2; /* bwd with relu: the forward's k1, k2 (y = (x-mean)*rk1 + rk2) */
} bn_args;

#if NASC_CPU_X86
/* The AVX-512 passes take the channels 64 at a time (4 vectors), pixels inner, so the per-channel
 * constants and the sums stay in registers; the generic loops kept s1/s2 in memory and paid a
 * store-to-load round trip per pixel (measured: BN was 22% of a DARTS edge). Statistics are summed
 * in float over BN_FLUSH pixels and then added into double accumulators. */
static inline __mmask16 bn_mask(int C, int c) {
    return (__mmask16)(C - c >= 16 ? 0xFFFF : (1u << (C - c)) - 1u);
}

NASC_CPU_AVX512
static inline void bn_fold(__m512d *acc, __m512 v) {
    acc[0] = _mm512_add_pd(acc[0], _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
    acc[1] = _mm512_add_pd(acc[1], _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
}

/* One chunk of NB (1..4) channel vectors from c0; generated per NB so that the loops over the
 * vectors unroll and the sums stay in registers. */
#define DEF_BN_STATS(NB)                                                                           \
    NASC_CPU_AVX512 static void bn_stats_##NB(const bn_args *a, size_t p0, size_t p1, int c0,     \
                                              double *s1, double *s2) {                           \
        const int C = a->C;                                                                        \
        __mmask16 mk[NB];                                                                          \
        __m512 k[NB], r1[NB], r2[NB];                                                              \
        __m512d d1[NB][2], d2[NB][2];                                                              \
        const bool relu = a->dy && a->relu;                                                        \
        _Pragma("GCC unroll 4") for (int j = 0; j < NB; j++) {                                     \
            mk[j] = bn_mask(C, c0 + 16 * j);                                                       \
            k[j] = _mm512_maskz_loadu_ps(mk[j], a->shift + c0 + 16 * j);                           \
            r1[j] = relu ? _mm512_maskz_loadu_ps(mk[j], a->rk1 + c0 + 16 * j) : _mm512_setzero_ps();\
            r2[j] = relu ? _mm512_maskz_loadu_ps(mk[j], a->rk2 + c0 + 16 * j) : _mm512_setzero_ps();\
            d1[j][0] = d1[j][1] = d2[j][0] = d2[j][1] = _mm512_setzero_pd();                       \
        }                                                                                          \
        for (size_t b = p0; b < p1; b += BN_FLUSH) {                                               \
            const size_t e = b + BN_FLUSH < p1 ? b + BN_FLUSH : p1;                                \
            __m512 f1[NB], f2[NB];                                                                 \
            _Pragma("GCC unroll 4") for (int j = 0; j < NB; j++) f1[j] = f2[j] =                   \
                _mm512_setzero_ps();                                                               \
            for (size_t p = b; p < e; p++) {                                                       \
                const float *xp = a->x + p * (size_t)C + c0;                                       \
                if (p + BN_PF < p1)                                                                \
                    _Pragma("GCC unroll 4") for (int j = 0; j < NB; j++) {                         \
                        _mm_prefetch((const char *)(xp + BN_PF * (size_t)C + 16 * j), _MM_HINT_T0);\
                        if (a->dy)                                                                 \
                            _mm_prefetch((const char *)(a->dy + (p + BN_PF) * (size_t)C + c0 +     \
                                                        16 * j), _MM_HINT_T0);                     \
                    }                                                                              \
                _Pragma("GCC unroll 4") for (int j = 0; j < NB; j++) {                             \
                    const __m512 xm =                                                              \
                        _mm512_sub_ps(_mm512_maskz_loadu_ps(mk[j], xp + 16 * j), k[j]);            \
                    if (a->dy) { /* backward: sum dy, sum dy*(x-mean) */                          \
                        __m512 d = _mm512_maskz_loadu_ps(                                          \
                            mk[j], a->dy + p * (size_t)C + c0 + 16 * j);                           \
                        if (relu) /* dy where the forward's y > 0 */                               \
                            d = _mm512_maskz_mov_ps(                                               \
                                _mm512_cmp_ps_mask(_mm512_fmadd_ps(xm, r1[j], r2[j]),              \
                                                   _mm512_setzero_ps(), _CMP_GT_OQ),               \
                                d);                                                                \
                        f1[j] = _mm512_add_ps(f1[j], d);                                           \
                        f2[j] = _mm512_fmadd_ps(d, xm, f2[j]);                                     \
                    } else {                                                                       \
                        f1[j] = _mm512_add_ps(f1[j], xm);                                          \
                        f2[j] = _mm512_fmadd_ps(xm, xm, f2[j]);                                    \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
            _Pragma("GCC unroll 4") for (int j = 0; j < NB; j++) {                                 \
                bn_fold(d1[j], f1[j]);                                                             \
                bn_fold(d2[j], f2[j]);                                                             \
            }                                                                                      \
        }                                                                                          \
        for (int j = 0; j < NB; j++) {                                                             \
            double t1[16], t2[16];                                                                 \
            _mm512_storeu_pd(t1, d1[j][0]);                                                        \
            _mm512_storeu_pd(t1 + 8, d1[j][1]);                                                    \
            _mm512_storeu_pd(t2, d2[j][0]);                                                        \
            _mm512_storeu_pd(t2 + 8, d2[j][1]);                                                    \
            for (int l = 0; l < 16 && c0 + 16 * j + l < C; l++) {                                  \
                s1[c0 + 16 * j + l] = t1[l];                                                       \
                s2[c0 + 16 * j + l] = t2[l];                                                       \
            }                                                                                      \
        }                                                                                          \
    }
DEF_BN_STATS(1)
DEF_BN_STATS(2)
DEF_BN_STATS(3)
DEF_BN_STATS(4)

#define DEF_BN_APPLY(NB)                                                                           \
    NASC_CPU_AVX512 static void bn_apply_##NB(const bn_args *a, size_t p0, size_t p1, int c0) {   \
        const int C = a->C;                                                                        \
        __mmask16 mk[NB];                                                                          \
        __m512 mu[NB], k1[NB], k2[NB], k3[NB], r1[NB], r2[NB];                                     \
        const bool relu = a->relu;                                                                 \
        _Pragma("GCC unroll 4") for (int j = 0; j < NB; j++) {                                     \
            mk[j] = bn_mask(C, c0 + 16 * j);                                                       \
            r1[j] = relu && a->dy ? _mm512_maskz_loadu_ps(mk[j], a->rk1 + c0 + 16 * j)             \
                                  : _mm512_setzero_ps();                                           \
            r2[j] = relu && a->dy ? _mm512_maskz_loadu_ps(mk[j], a->rk2 + c0 + 16 * j)             \
                                  : _mm512_setzero_ps();                                           \
            mu[j] = _mm512_maskz_loadu_ps(mk[j], a->shift + c0 + 16 * j);                          \
            k1[j] = _mm512_maskz_loadu_ps(mk[j], a->k1 + c0 + 16 * j);                             \
            k2[j] = _mm512_maskz_loadu_ps(mk[j], a->k2 + c0 + 16 * j);                             \
            k3[j] = a->k3 ? _mm512_maskz_loadu_ps(mk[j], a->k3 + c0 + 16 * j)                      \
                          : _mm512_setzero_ps();                                                   \
        }                                                                                          \
        for (size_t p = p0; p < p1; p++) {                                                         \
            const size_t o = p * (size_t)C + (size_t)c0;                                           \
            if (p + BN_PF < p1) {                                                                  \
                const size_t f = o + BN_PF * (size_t)C;                                            \
                _Pragma("GCC unroll 4") for (int j = 0; j < NB; j++) {                             \
                    _mm_prefetch((const char *)(a->x + f + 16 * j), _MM_HINT_T0);                 \
                    if (a->dy) {                                                                   \
                        _mm_prefetch((const char *)(a->dy + f + 16 * j), _MM_HINT_T0);            \
                        if (!a->store)                                                             \
                            _mm_prefetch((const char *)(a->dx + f + 16 * j), _MM_HINT_T0);        \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
            _Pragma("GCC unroll 4") for (int j = 0; j < NB; j++) {                                 \
                const __m512 xm =                                                                  \
                    _mm512_sub_ps(_mm512_maskz_loadu_ps(mk[j], a->x + o + 16 * j), mu[j]);         \
                if (!a->dy) {                                                                      \
                    __m512 y = _mm512_fmadd_ps(xm, k1[j], k2[j]);                                  \
                    if (relu)                                                                      \
                        y = _mm512_max_ps(y, _mm512_setzero_ps());                                 \
                    _mm512_mask_storeu_ps(a->y + o + 16 * j, mk[j], y);                            \
                } else {                                                                           \
                    float *dx = a->dx + o + 16 * j;                                                \
                    __m512 d = _mm512_maskz_loadu_ps(mk[j], a->dy + o + 16 * j);                   \
                    if (relu) /* the same FMA as the forward's y: the mask is y > 0 exactly */    \
                        d = _mm512_maskz_mov_ps(                                                   \
                            _mm512_cmp_ps_mask(_mm512_fmadd_ps(xm, r1[j], r2[j]),                  \
                                               _mm512_setzero_ps(), _CMP_GT_OQ),                   \
                            d);                                                                    \
                    __m512 v = _mm512_fmadd_ps(k1[j], d, _mm512_fmadd_ps(k2[j], xm, k3[j]));      \
                    if (!a->store)                                                                 \
                        v = _mm512_add_ps(_mm512_maskz_loadu_ps(mk[j], dx), v);                    \
                    _mm512_mask_storeu_ps(dx, mk[j], v);                                           \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }
DEF_BN_APPLY(1)
DEF_BN_APPLY(2)
DEF_BN_APPLY(3)
DEF_BN_APPLY(4)

static void bn_stats_avx512(const bn_args *a, size_t p0, size_t p1, double *s1, double *s2) {
    for (int c0 = 0; c0 < a->C; c0 += 64) {
        const int nb = (a->C - c0 + 15) / 16;
        if (nb >= 4) bn_stats_4(a, p0, p1, c0, s1, s2);
        else if (nb == 3) bn_stats_3(a, p0, p1, c0, s1, s2);
        else if (nb == 2) bn_stats_2(a, p0, p1, c0, s1, s2);
        else bn_stats_1(a, p0, p1, c0, s1, s2);
    }
}

static void bn_apply_avx512(const bn_args *a, size_t p0, size_t p1) {
    for (int c0 = 0; c0 < a->C; c0 += 64) {
        const int nb = (a->C - c0 + 15) / 16;
        if (nb >= 4) bn_apply_4(a, p0, p1, c0);
        else if (nb == 3) bn_apply_3(a, p0, p1, c0);
        else if (nb == 2) bn_apply_2(a, p0, p1, c0);
        else bn_apply_1(a, p0, p1, c0);
    }
}
#endif

NASC_CPU_CLONES
static void bn_stats_task(void *arg, int ith, int nth) {
    const bn_args *a = arg;
    const int C = a->C;
    size_t p0, p1;
    nasc_cpu_range(a->M, ith, nth, &p0, &p1);
    double *restrict s1 = a->priv + (size_t)ith * 2 * C, *restrict s2 = s1 + C;
    memset(s1, 0, 2 * (size_t)C * sizeof *s1);
#if NASC_CPU_X86
    if (a->avx512) {
        bn_stats_avx512(a, p0, p1, s1, s2);
        return;
    }
#endif
    const float *restrict k = a->shift;
    if (a->dy) { /* backward: sum dy, sum dy*(x-mean); with relu dy where y > 0 */
        for (size_t p = p0; p < p1; p++) {
            const float *restrict xp = a->x + p * C, *restrict dp = a->dy + p * C;
            const float *restrict yp = a->relu ? a->y + p * C : NULL;
            for (int c = 0; c < C; c++) {
                const double d = yp && !(yp[c] > 0.0f) ? 0.0 : (double)dp[c];
                s1[c] += d;
                s2[c] += d * (double)(xp[c] - k[c]);
            }
        }
    } else {
        for (size_t p = p0; p < p1; p++) {
            const float *restrict xp = a->x + p * C;
            for (int c = 0; c < C; c++) {
                const double d = (double)(xp[c] - k[c]);
                s1[c] += d;
                s2[c] += d * d;
            }
        }
    }
}

/* y = (x-mean)*k1 + k2 (forward), or dx += k1*dy + k2*(x-mean) + k3 (backward). */
NASC_CPU_CLONES
static void bn_apply_task(void *arg, int ith, int nth) {
    const bn_args *a = arg;
    const int C = a->C;
    size_t p0, p1;
    nasc_cpu_range(a->M, ith, nth, &p0, &p1);
#if NASC_CPU_X86
    if (a->avx512) {
        bn_apply_avx512(a, p0, p1);
        return;
    }
#endif
    const float *restrict k1 = a->k1, *restrict k2 = a->k2, *restrict k3 = a->k3;
    const float *restrict mu = a->shift;
    if (!a->dy) {
        for (size_t p = p0; p < p1; p++) {
            const float *restrict xp = a->x + p * C;
            float *restrict yp = a->y + p * C;
            for (int c = 0; c < C; c++) {
                const float y = (xp[c] - mu[c]) * k1[c] + k2[c];
                yp[c] = a->relu && !(y > 0.0f) ? 0.0f : y;
            }
        }
    } else {
        for (size_t p = p0; p < p1; p++) {
            const float *restrict xp = a->x + p * C, *restrict dp = a->dy + p * C;
            float *restrict dx = a->dx + p * C;
            const float *restrict yp = a->relu ? a->y + p * C : NULL;
            for (int c = 0; c < C; c++) {
                const float d = yp && !(yp[c] > 0.0f) ? 0.0f : dp[c];
                const float v = k1[c] * d + k2[c] * (xp[c] - mu[c]) + k3[c];
                dx[c] = a->store ? v : dx[c] + v;
            }
        }
    }
}

/* Sums the nth private (s1, s2) buffers in ith order into out1, out2 (double, C each). */
static void bn_sum_priv(const double *priv, int nth, int C, double *out1, double *out2) {
    for (int c = 0; c < C; c++) {
        double a = 0.0, b = 0.0;
        for (int t = 0; t < nth; t++) {
            a += priv[(size_t)t * 2 * C + (size_t)c];
            b += priv[(size_t)t * 2 * C + (size_t)C + (size_t)c];
        }
        out1[c] = a;
        out2[c] = b;
    }
}

nasc_status nasc_cpu_batchnorm_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    const nasc_tensor *x = node->src[0], *gamma = node->src[1], *beta = node->src[2];
    nasc_tensor *rmean = node->src[3], *rvar = node->src[4];
    const nasc_bn_params *p = &node->params.bn;
    const int C = x->ne[1];
    const size_t M = nasc_n(x) / (size_t)C;
    const bool relu = node->op == NASC_OP_BN_RELU;
    float *saved = nasc_graph_alloc(g, (relu ? 4 : 2) * (size_t)C * sizeof(float));
    if (!saved)
        return nasc_graph_status(g);
    node->saved = saved;
    const int nth = nasc_cpu_nth(be, nasc_n(x), BN_GRAIN);
    /* scratch: priv (nth*2C doubles) | s1, s2 (2C doubles) | k1, k2 (2C floats) */
    const size_t priv_b = nasc_cpu_align64((size_t)nth * 2 * C * sizeof(double));
    const size_t sum_b = nasc_cpu_align64(2 * (size_t)C * sizeof(double));
    char *ws = nasc_cpu_scratch(be, g, priv_b + sum_b + 2 * (size_t)C * sizeof(float));
    if (!ws)
        return nasc_graph_status(g);
    double *priv = (double *)ws, *s1 = (double *)(ws + priv_b), *s2 = s1 + C;
    float *k1 = (float *)(ws + priv_b + sum_b), *k2 = k1 + C;
    bn_args a = {.x = x->data, .y = node->data, .C = C, .M = M, .priv = priv, .k1 = k1, .k2 = k2,
                 .avx512 = nasc_cpu_ctx_of(be)->avx512, .relu = relu};
    if (p->training) {
        a.shift = x->data; /* pixel 0 */
        nasc_cpu_run(nth, bn_stats_task, &a);
        bn_sum_priv(priv, nth, C, s1, s2);
    }
    for (int c = 0; c < C; c++) {
        double mu, var;
        if (p->training) {
            const double m1 = s1[c] / (double)M;
            mu = (double)x->data[c] + m1;
            var = s2[c] / (double)M - m1 * m1;
            if (var < 0.0)
                var = 0.0;
            if (rmean) {
                const double m = p->momentum;
                rmean->data[c] = (float)((1.0 - m) * (double)rmean->data[c] + m * mu);
                rvar->data[c] =
                    (float)((1.0 - m) * (double)rvar->data[c] + m * var * (double)M / (double)(M - 1));
            }
        } else {
            mu = rmean->data[c];
            var = rvar->data[c];
        }
        const double invstd = 1.0 / sqrt(var + (double)p->eps);
        saved[c] = (float)mu;
        saved[C + c] = (float)invstd;
        const double ga = gamma ? (double)gamma->data[c] : 1.0;
        const double bb = beta ? (double)beta->data[c] : 0.0;
        k1[c] = (float)(ga * invstd);
        k2[c] = (float)bb;
    }
    a.shift = saved; /* the mean */
    if (relu) /* the backward's mask: y = (x-mean)*k1 + k2 with these very floats */
        memcpy(saved + 2 * (size_t)C, k1, 2 * (size_t)C * sizeof(float));
    nasc_cpu_run(nth, bn_apply_task, &a);
    return NASC_OK;
}

nasc_status nasc_cpu_batchnorm_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    nasc_tensor *x = node->src[0], *gamma = node->src[1], *beta = node->src[2];
    const nasc_bn_params *p = &node->params.bn;
    const int C = x->ne[1];
    const size_t M = nasc_n(x) / (size_t)C;
    const float *saved = node->saved;
    const bool need_sums = p->training ? (x->grad || (gamma && gamma->grad) || (beta && beta->grad))
                                       : ((gamma && gamma->grad) || (beta && beta->grad));
    if (!need_sums && !x->grad)
        return NASC_OK;
    const int nth = nasc_cpu_nth(be, nasc_n(x), BN_GRAIN);
    const size_t priv_b = nasc_cpu_align64((size_t)nth * 2 * C * sizeof(double));
    const size_t sum_b = nasc_cpu_align64(2 * (size_t)C * sizeof(double));
    char *ws = nasc_cpu_scratch(be, g, priv_b + sum_b + 3 * (size_t)C * sizeof(float));
    if (!ws)
        return nasc_graph_status(g);
    double *priv = (double *)ws, *sdy = (double *)(ws + priv_b), *sdyx = sdy + C;
    float *k1 = (float *)(ws + priv_b + sum_b), *k2 = k1 + C, *k3 = k2 + C;
    bn_args a = {.x = x->data, .dy = node->grad, .dx = x->grad, .C = C, .M = M,
                 .shift = saved, .priv = priv, .k1 = k1, .k2 = k2, .k3 = k3,
                 .avx512 = nasc_cpu_ctx_of(be)->avx512,
                 .store = x->grad && nasc_cpu_take_fresh(x),
                 .relu = node->op == NASC_OP_BN_RELU, .y = node->data,
                 .rk1 = saved + 2 * (size_t)C, .rk2 = saved + 3 * (size_t)C};
    nasc_backend_zero_fresh_grads(node); /* gamma / beta are parameters: never fresh */
    if (need_sums) {
        nasc_cpu_run(nth, bn_stats_task, &a);
        bn_sum_priv(priv, nth, C, sdy, sdyx);
    }
    for (int c = 0; c < C; c++) {
        const double invstd = saved[C + c];
        if (need_sums) {
            if (gamma && gamma->grad)
                gamma->grad[c] += (float)(sdyx[c] * invstd);
            if (beta && beta->grad)
                beta->grad[c] += (float)sdy[c];
        }
        const double ga = gamma ? (double)gamma->data[c] : 1.0;
        const double c1 = ga * invstd;
        if (p->training) {
            const double c2 = -c1 * invstd * invstd * sdyx[c] / (double)M;
            k1[c] = (float)c1;
            k2[c] = (float)c2;
            k3[c] = (float)(-c1 * sdy[c] / (double)M);
        } else {
            k1[c] = (float)c1;
            k2[c] = 0.0f;
            k3[c] = 0.0f;
        }
    }
    if (x->grad)
        nasc_cpu_run(nth, bn_apply_task, &a);
    return NASC_OK;
}
