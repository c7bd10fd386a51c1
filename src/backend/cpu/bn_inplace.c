/* cpu/bn_inplace.c — batch norm without affine parameters, in place (ops.h
 * nasc_batchnorm_inplace; semantics and formulas as ref/mixed.c). For supernets: the output
 * overwrites the input, and backward reads the output y (= xhat) instead of x.
 *
 * Layout NHWC: M = N*H*W pixel rows of C floats; every loop runs over pixels outside and C
 * inside (vectorised over the contiguous channels). Work is split into nth fixed pixel ranges
 * (nasc_cpu_range); per-channel sums go to private per-ith buffers: float partial sums over
 * blocks of BLK pixels, added into double per block, and the ith buffers added in ith order, so
 * results depend on the shape and nth only.
 *
 * With AVX-512 and C % 16 == 0 (every supernet BN but partial-channel ones at C < 16) both passes
 * keep up to 64 channels of constants and sums in registers (see below).
 *
 * Training forward: pass 1 shifted sums s1 = sum(x-k), s2 = sum((x-k)^2) with k = x[pixel 0]
 * (keeps E[x^2]-E[x]^2 from cancelling); pass 2 y = (x-mean)*invstd in place.
 * Training backward: pass 1 sdy = sum(dy), sdyy = sum(dy*y); pass 2
 * dx += invstd*dy - invstd*sdy/M - (invstd*sdyy/M)*y. Inference: y = (x-rm)*invstd;
 * dx += invstd*dy. */
#include "cpu_int.h"

#include <math.h>
#include <string.h>

#if NASC_CPU_X86
#include <immintrin.h>
#endif

#define BNI_GRAIN 16384 /* elements per thread */
#define BNI_BLK 64      /* pixels per float partial sum */
#define BNI_MAXC 4096   /* channels handled by the stack partials */

typedef struct bni_args {
    float *x;          /* x (fwd), y (bwd) */
    const float *dy;   /* NULL in the forward */
    float *dx;
    int C;
    size_t M;
    const float *k;    /* shift (fwd pass 1), mean (fwd pass 2) */
    const float *a, *b, *c; /* pass-2 coefficients per channel */
    double *priv;      /* nth * 2C */
    bool avx512;       /* C % 16 == 0 and the CPU has AVX-512: the register-blocked passes */
} bni_args;

#if NASC_CPU_X86
/* AVX-512 passes for C % 16 == 0: channels in chunks of up to 64 (4 vectors) held in registers,
 * pixels inner; sums in float over BNI_BLK pixels, then folded into double accumulators (the
 * generic loops kept the per-channel sums in memory: a store-to-load round trip per pixel). */
NASC_CPU_AVX512
static inline void fold(__m512d *acc, __m512 v) {
    acc[0] = _mm512_add_pd(acc[0], _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
    acc[1] = _mm512_add_pd(acc[1], _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));
}

#define DEF_SUMS(NB)                                                                               \
    NASC_CPU_AVX512 static void sums_##NB(const bni_args *a, size_t p0, size_t p1, int c0,        \
                                          double *s1, double *s2) {                               \
        const size_t C = (size_t)a->C;                                                             \
        __m512 k[NB];                                                                              \
        __m512d d1[NB][2], d2[NB][2];                                                              \
        for (int j = 0; j < NB; j++) {                                                             \
            k[j] = a->dy ? _mm512_setzero_ps() : _mm512_loadu_ps(a->k + c0 + 16 * j);             \
            d1[j][0] = d1[j][1] = d2[j][0] = d2[j][1] = _mm512_setzero_pd();                       \
        }                                                                                          \
        for (size_t q = p0; q < p1; q += BNI_BLK) {                                                \
            const size_t qe = q + BNI_BLK < p1 ? q + BNI_BLK : p1;                                 \
            __m512 f1[NB], f2[NB];                                                                 \
            for (int j = 0; j < NB; j++)                                                           \
                f1[j] = f2[j] = _mm512_setzero_ps();                                               \
            if (a->dy) {                                                                           \
                for (size_t p = q; p < qe; p++) {                                                  \
                    const float *yp = a->x + p * C + c0, *dp = a->dy + p * C + c0;                 \
                    for (int j = 0; j < NB; j++) {                                                 \
                        const __m512 d = _mm512_loadu_ps(dp + 16 * j);                             \
                        f1[j] = _mm512_add_ps(f1[j], d);                                           \
                        f2[j] = _mm512_fmadd_ps(d, _mm512_loadu_ps(yp + 16 * j), f2[j]);           \
                    }                                                                              \
                }                                                                                  \
            } else {                                                                               \
                for (size_t p = q; p < qe; p++) {                                                  \
                    const float *xp = a->x + p * C + c0;                                           \
                    for (int j = 0; j < NB; j++) {                                                 \
                        const __m512 d = _mm512_sub_ps(_mm512_loadu_ps(xp + 16 * j), k[j]);        \
                        f1[j] = _mm512_add_ps(f1[j], d);                                           \
                        f2[j] = _mm512_fmadd_ps(d, d, f2[j]);                                      \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
            for (int j = 0; j < NB; j++) {                                                         \
                fold(d1[j], f1[j]);                                                                \
                fold(d2[j], f2[j]);                                                                \
            }                                                                                      \
        }                                                                                          \
        for (int j = 0; j < NB; j++) {                                                             \
            _mm512_storeu_pd(s1 + c0 + 16 * j, d1[j][0]);                                          \
            _mm512_storeu_pd(s1 + c0 + 16 * j + 8, d1[j][1]);                                      \
            _mm512_storeu_pd(s2 + c0 + 16 * j, d2[j][0]);                                          \
            _mm512_storeu_pd(s2 + c0 + 16 * j + 8, d2[j][1]);                                      \
        }                                                                                          \
    }
DEF_SUMS(1)
DEF_SUMS(2)
DEF_SUMS(3)
DEF_SUMS(4)

#define DEF_APPLY(NB)                                                                              \
    NASC_CPU_AVX512 static void apply_##NB(const bni_args *a, size_t p0, size_t p1, int c0) {     \
        const size_t C = (size_t)a->C;                                                             \
        __m512 ka[NB], kb[NB], kc[NB];                                                             \
        for (int j = 0; j < NB; j++) {                                                             \
            ka[j] = _mm512_loadu_ps(a->a + c0 + 16 * j);                                           \
            kb[j] = a->dy ? _mm512_loadu_ps(a->b + c0 + 16 * j)                                    \
                          : _mm512_loadu_ps(a->k + c0 + 16 * j);                                   \
            kc[j] = a->dy ? _mm512_loadu_ps(a->c + c0 + 16 * j) : _mm512_setzero_ps();             \
        }                                                                                          \
        if (!a->dy) {                                                                              \
            for (size_t p = p0; p < p1; p++) {                                                     \
                float *xp = a->x + p * C + c0;                                                     \
                for (int j = 0; j < NB; j++)                                                       \
                    _mm512_storeu_ps(xp + 16 * j,                                                  \
                                     _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(xp + 16 * j),    \
                                                                 kb[j]),                          \
                                                   ka[j]));                                        \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        for (size_t p = p0; p < p1; p++) {                                                         \
            const float *yp = a->x + p * C + c0, *dp = a->dy + p * C + c0;                         \
            float *dx = a->dx + p * C + c0;                                                        \
            for (int j = 0; j < NB; j++) {                                                         \
                __m512 v = _mm512_fmadd_ps(ka[j], _mm512_loadu_ps(dp + 16 * j), kb[j]);           \
                v = _mm512_fmadd_ps(kc[j], _mm512_loadu_ps(yp + 16 * j), v);                       \
                _mm512_storeu_ps(dx + 16 * j, _mm512_add_ps(_mm512_loadu_ps(dx + 16 * j), v));     \
            }                                                                                      \
        }                                                                                          \
    }
DEF_APPLY(1)
DEF_APPLY(2)
DEF_APPLY(3)
DEF_APPLY(4)

static void sums_avx512(const bni_args *a, size_t p0, size_t p1, double *s1, double *s2) {
    for (int c0 = 0; c0 < a->C; c0 += 64) {
        const int nb = (a->C - c0) / 16 < 4 ? (a->C - c0) / 16 : 4;
        if (nb == 4)
            sums_4(a, p0, p1, c0, s1, s2);
        else if (nb == 3)
            sums_3(a, p0, p1, c0, s1, s2);
        else if (nb == 2)
            sums_2(a, p0, p1, c0, s1, s2);
        else
            sums_1(a, p0, p1, c0, s1, s2);
    }
}

static void apply_avx512(const bni_args *a, size_t p0, size_t p1) {
    for (int c0 = 0; c0 < a->C; c0 += 64) {
        const int nb = (a->C - c0) / 16 < 4 ? (a->C - c0) / 16 : 4;
        if (nb == 4)
            apply_4(a, p0, p1, c0);
        else if (nb == 3)
            apply_3(a, p0, p1, c0);
        else if (nb == 2)
            apply_2(a, p0, p1, c0);
        else
            apply_1(a, p0, p1, c0);
    }
}
#endif

NASC_CPU_CLONES
static void bni_sums_task(void *arg, int ith, int nth) {
    const bni_args *a = arg;
    const int C = a->C;
    size_t p0, p1;
    nasc_cpu_range(a->M, ith, nth, &p0, &p1);
    double *restrict s1 = a->priv + (size_t)ith * 2 * (size_t)C, *restrict s2 = s1 + C;
    memset(s1, 0, 2 * (size_t)C * sizeof *s1);
#if NASC_CPU_X86
    if (a->avx512) {
        sums_avx512(a, p0, p1, s1, s2);
        return;
    }
#endif
    float f1[BNI_MAXC], f2[BNI_MAXC];
    for (size_t q = p0; q < p1; q += BNI_BLK) {
        const size_t qe = q + BNI_BLK < p1 ? q + BNI_BLK : p1;
        for (int c = 0; c < C; c++)
            f1[c] = f2[c] = 0.0f;
        if (a->dy) {
            for (size_t p = q; p < qe; p++) {
                const float *restrict yp = a->x + p * (size_t)C, *restrict dp = a->dy + p * (size_t)C;
                for (int c = 0; c < C; c++) {
                    f1[c] += dp[c];
                    f2[c] += dp[c] * yp[c];
                }
            }
        } else {
            const float *restrict k = a->k;
            for (size_t p = q; p < qe; p++) {
                const float *restrict xp = a->x + p * (size_t)C;
                for (int c = 0; c < C; c++) {
                    const float d = xp[c] - k[c];
                    f1[c] += d;
                    f2[c] += d * d;
                }
            }
        }
        for (int c = 0; c < C; c++) {
            s1[c] += (double)f1[c];
            s2[c] += (double)f2[c];
        }
    }
}

/* fwd: x = (x - k) * a;  bwd: dx += a*dy + b + c*y */
NASC_CPU_CLONES
static void bni_apply_task(void *arg, int ith, int nth) {
    const bni_args *a = arg;
    const int C = a->C;
    size_t p0, p1;
    nasc_cpu_range(a->M, ith, nth, &p0, &p1);
#if NASC_CPU_X86
    if (a->avx512) {
        apply_avx512(a, p0, p1);
        return;
    }
#endif
    const float *restrict ka = a->a, *restrict kb = a->b, *restrict kc = a->c, *restrict k = a->k;
    if (!a->dy) {
        for (size_t p = p0; p < p1; p++) {
            float *restrict xp = a->x + p * (size_t)C;
            for (int c = 0; c < C; c++)
                xp[c] = (xp[c] - k[c]) * ka[c];
        }
        return;
    }
    for (size_t p = p0; p < p1; p++) {
        const float *restrict yp = a->x + p * (size_t)C, *restrict dp = a->dy + p * (size_t)C;
        float *restrict dx = a->dx + p * (size_t)C;
        for (int c = 0; c < C; c++)
            dx[c] += ka[c] * dp[c] + kb[c] + kc[c] * yp[c];
    }
}

static void sum_priv(const double *priv, int nth, int C, double *o1, double *o2) {
    for (int c = 0; c < C; c++) {
        double u = 0.0, v = 0.0;
        for (int t = 0; t < nth; t++) {
            u += priv[(size_t)t * 2 * (size_t)C + (size_t)c];
            v += priv[(size_t)t * 2 * (size_t)C + (size_t)C + (size_t)c];
        }
        o1[c] = u;
        o2[c] = v;
    }
}

/* scratch: priv (nth*2C doubles) | 4C floats (k, a, b, c) */
static void *bni_scratch(nasc_backend *be, nasc_graph *g, int nth, int C, double **priv,
                         float **f) {
    const size_t pb = nasc_cpu_align64((size_t)nth * 2 * (size_t)C * sizeof(double));
    char *ws = nasc_cpu_scratch(be, g, pb + 4 * (size_t)C * sizeof(float));
    if (ws) {
        *priv = (double *)ws;
        *f = (float *)(ws + pb);
    }
    return ws;
}

nasc_status nasc_cpu_bn_inplace_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    nasc_tensor *x = node->src[0], *rmean = node->src[1], *rvar = node->src[2];
    const nasc_bn_params *p = &node->params.bn;
    const int C = x->ne[1];
    const size_t M = nasc_n(x) / (size_t)C;
    if (C > BNI_MAXC)
        return nasc_backend_ref()->iface->forward(nasc_backend_ref(), g, node);
    float *saved = nasc_graph_alloc(g, 2 * (size_t)C * sizeof(float));
    if (!saved)
        return nasc_graph_status(g);
    node->saved = saved;
    const int nth = nasc_cpu_nth(be, nasc_n(x), BNI_GRAIN);
    double *priv;
    float *f;
    if (!bni_scratch(be, g, nth, C, &priv, &f))
        return nasc_graph_status(g);
    float *k = f, *ka = f + C;
    bni_args a = {.x = node->data, .C = C, .M = M, .k = k, .a = ka, .priv = priv,
                  .avx512 = nasc_cpu_ctx_of(be)->avx512 && C % 16 == 0};
    if (p->training) {
        memcpy(k, x->data, (size_t)C * sizeof(float)); /* shift: pixel 0 */
        nasc_cpu_run(nth, bni_sums_task, &a);
        double s1[BNI_MAXC], s2[BNI_MAXC];
        sum_priv(priv, nth, C, s1, s2);
        for (int c = 0; c < C; c++) {
            const double m1 = s1[c] / (double)M;
            double var = s2[c] / (double)M - m1 * m1;
            var = var > 0.0 ? var : 0.0;
            const double mu = (double)k[c] + m1;
            if (rmean) {
                const double m = p->momentum;
                rmean->data[c] = (float)((1.0 - m) * (double)rmean->data[c] + m * mu);
                rvar->data[c] = (float)((1.0 - m) * (double)rvar->data[c] +
                                        m * var * (double)M / (double)(M - 1));
            }
            saved[c] = (float)mu;
            saved[C + c] = (float)(1.0 / sqrt(var + (double)p->eps));
        }
    } else {
        for (int c = 0; c < C; c++) {
            saved[c] = rmean->data[c];
            saved[C + c] = (float)(1.0 / sqrt((double)rvar->data[c] + (double)p->eps));
        }
    }
    memcpy(k, saved, (size_t)C * sizeof(float));
    memcpy(ka, saved + C, (size_t)C * sizeof(float));
    nasc_cpu_run(nth, bni_apply_task, &a);
    return NASC_OK;
}

nasc_status nasc_cpu_bn_inplace_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    nasc_tensor *x = node->src[0];
    if (!x->grad)
        return NASC_OK;
    const int C = x->ne[1];
    const size_t M = nasc_n(x) / (size_t)C;
    if (C > BNI_MAXC)
        return nasc_backend_ref()->iface->backward(nasc_backend_ref(), g, node);
    const float *saved = node->saved;
    const int nth = nasc_cpu_nth(be, nasc_n(x), BNI_GRAIN);
    double *priv;
    float *f;
    if (!bni_scratch(be, g, nth, C, &priv, &f))
        return nasc_graph_status(g);
    float *ka = f + C, *kb = f + 2 * C, *kc = f + 3 * C;
    bni_args a = {.x = node->data, .dy = node->grad, .dx = x->grad, .C = C, .M = M,
                  .a = ka, .b = kb, .c = kc, .priv = priv,
                  .avx512 = nasc_cpu_ctx_of(be)->avx512 && C % 16 == 0};
    if (node->params.bn.training) {
        nasc_cpu_run(nth, bni_sums_task, &a);
        double s1[BNI_MAXC], s2[BNI_MAXC];
        sum_priv(priv, nth, C, s1, s2);
        for (int c = 0; c < C; c++) {
            const double is = saved[C + c];
            ka[c] = (float)is;
            kb[c] = (float)(-is * s1[c] / (double)M);
            kc[c] = (float)(-is * s2[c] / (double)M);
        }
    } else {
        for (int c = 0; c < C; c++) {
            ka[c] = saved[C + c];
            kb[c] = kc[c] = 0.0f;
        }
    }
    nasc_cpu_run(nth, bni_apply_task, &a);
    return NASC_OK;
}
