/* cpu/pool.c — max, average and global average pooling, vectorised over C (NHWC).
 *
 * x (N,C,H,W), y (N,C,OH,OW). Window of y[n,:,oh,ow]: rows oh*sh-ph .. +KH-1, cols ow*sw-pw .. +KW-1,
 * cells outside the input skipped. Semantics as ref/pool.c: max pooling keeps the first maximum in
 * row-major window order (a NaN wins) and saves its x offset (int32 per output element) for
 * backward; average pooling divides by KH*KW (count_include_pad) or by the valid cell count (here
 * as a multiply by the reciprocal: within 1 ulp of ref's division).
 *
 * Loop order: output row (n, oh) with its valid kh range and row pointers computed once; output
 * pixel with its valid kw range; window cell; channels innermost, 16 per AVX-512 vector (argmax
 * kept as a vector of int32 offsets, updated under the compare mask). With C = 16 a window cell is
 * one load and one max/add, so the per-cell bookkeeping of the first version (offsets recomputed
 * per cell, 9 bounds checks) cost more than the arithmetic: measured 1.7 ms -> see docs/ARCH.md (Layout).
 * Threads split the (n, oh) output rows in forward. Backward scatters into dx, and windows of
 * neighbouring rows overlap, so it splits by image n instead (windows never cross images); within
 * an image the adds run in ref's order. Global average pooling: per image, C running sums. */
#include "cpu_int.h"

#include <math.h>
#include <string.h>

#if NASC_CPU_X86
#include <immintrin.h>
#endif

#define POOL_GRAIN 8192 /* output elements per thread */
#define POOL_MAXK 64    /* kernel rows kept as pointers on the stack (larger windows: generic) */

typedef struct pool_args {
    nasc_tensor *node;
    int32_t *arg; /* max pool: saved argmax, or NULL */
    bool bwd, avx512;
} pool_args;

/* The window of output row (n, oh): valid rows [kh0, kh1), their offsets in x (channel 0). */
typedef struct pool_rows {
    int kh0, kh1;
    size_t off[POOL_MAXK];
} pool_rows;

static void window_rows(const nasc_pool2d_params *p, int H, int W, int C, int n, int oh,
                        pool_rows *r) {
    const int ih0 = oh * p->stride[0] - p->pad[0];
    r->kh0 = ih0 < 0 ? -ih0 : 0;
    r->kh1 = H - ih0 < p->k[0] ? H - ih0 : p->k[0];
    for (int kh = r->kh0; kh < r->kh1; kh++)
        r->off[kh] = (((size_t)n * H + (size_t)(ih0 + kh)) * W) * (size_t)C;
}

static inline void window_cols(const nasc_pool2d_params *p, int W, int ow, int *iw0, int *kw0,
                               int *kw1) {
    *iw0 = ow * p->stride[1] - p->pad[1];
    *kw0 = *iw0 < 0 ? -*iw0 : 0;
    *kw1 = W - *iw0 < p->k[1] ? W - *iw0 : p->k[1];
}

#if NASC_CPU_X86
/* Max pooling of one output pixel: y[c] and argmax am[c] (x offsets) over the window. */
NASC_CPU_AVX512
static void maxpool_pixel_avx512(const float *x, const pool_rows *r, int iw0, int kw0, int kw1,
                                 int C, float *y, int32_t *am) {
    const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int cb = 0; cb < C; cb += 16) {
        const __mmask16 m = (__mmask16)(C - cb >= 16 ? 0xFFFF : (1u << (C - cb)) - 1u);
        size_t o = r->off[r->kh0] + (size_t)(iw0 + kw0) * C + cb;
        __m512 best = _mm512_maskz_loadu_ps(m, x + o);
        __m512i bi = _mm512_add_epi32(_mm512_set1_epi32((int32_t)o), lanes);
        for (int kh = r->kh0; kh < r->kh1; kh++)
            for (int kw = kw0; kw < kw1; kw++) {
                if (kh == r->kh0 && kw == kw0)
                    continue;
                o = r->off[kh] + (size_t)(iw0 + kw) * C + cb;
                const __m512 v = _mm512_maskz_loadu_ps(m, x + o);
                const __mmask16 take = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) |
                                       _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
                best = _mm512_mask_mov_ps(best, take, v);
                if (am)
                    bi = _mm512_mask_mov_epi32(
                        bi, take, _mm512_add_epi32(_mm512_set1_epi32((int32_t)o), lanes));
            }
        _mm512_mask_storeu_ps(y + cb, m, best);
        if (am)
            _mm512_mask_storeu_epi32(am + cb, m, bi);
    }
}

/* Sum over the window times rdiv (average pooling forward). */
NASC_CPU_AVX512
static void avgpool_pixel_avx512(const float *x, const pool_rows *r, int iw0, int kw0, int kw1,
                                 int C, float rdiv, float *y) {
    const __m512 rd = _mm512_set1_ps(rdiv);
    for (int cb = 0; cb < C; cb += 16) {
        const __mmask16 m = (__mmask16)(C - cb >= 16 ? 0xFFFF : (1u << (C - cb)) - 1u);
        __m512 s = _mm512_setzero_ps();
        for (int kh = r->kh0; kh < r->kh1; kh++) {
            const float *xr = x + r->off[kh] + cb;
            for (int kw = kw0; kw < kw1; kw++)
                s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(m, xr + (size_t)(iw0 + kw) * C));
        }
        _mm512_mask_storeu_ps(y + cb, m, _mm512_mul_ps(s, rd));
    }
}

/* dx[window] += dy * rdiv (average pooling backward). */
NASC_CPU_AVX512
static void avgpool_back_avx512(float *dx, const pool_rows *r, int iw0, int kw0, int kw1, int C,
                                float rdiv, const float *dy) {
    const __m512 rd = _mm512_set1_ps(rdiv);
    for (int cb = 0; cb < C; cb += 16) {
        const __mmask16 m = (__mmask16)(C - cb >= 16 ? 0xFFFF : (1u << (C - cb)) - 1u);
        const __m512 d = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, dy + cb), rd);
        for (int kh = r->kh0; kh < r->kh1; kh++) {
            float *xr = dx + r->off[kh] + cb;
            for (int kw = kw0; kw < kw1; kw++) {
                float *q = xr + (size_t)(iw0 + kw) * C;
                _mm512_mask_storeu_ps(q, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, q), d));
            }
        }
    }
}
#endif

NASC_CPU_CLONES
static void maxpool_fwd_task(void *varg, int ith, int nth) {
    const pool_args *a = varg;
    nasc_tensor *node = a->node;
    const nasc_tensor *x = node->src[0];
    const nasc_pool2d_params *p = &node->params.pool;
    const int C = x->ne[1], H = x->ne[2], W = x->ne[3], OH = node->ne[2], OW = node->ne[3];
    size_t r0, r1;
    nasc_cpu_range((size_t)node->ne[0] * OH, ith, nth, &r0, &r1);
    pool_rows rows;
    for (size_t r = r0; r < r1; r++) {
        const int n = (int)(r / (size_t)OH), oh = (int)(r % (size_t)OH);
        window_rows(p, H, W, C, n, oh, &rows);
        const int ihn = oh * p->stride[0] - p->pad[0] + p->k[0] - 1 + 2 * p->stride[0];
        const float *pfx = ihn < H ? x->data + (((size_t)n * H + (size_t)ihn) * W) * (size_t)C
                                   : NULL;
        for (int ow = 0; ow < OW; ow++) {
            int iw0, kw0, kw1;
            window_cols(p, W, ow, &iw0, &kw0, &kw1);
            const size_t yo = (r * (size_t)OW + (size_t)ow) * (size_t)C;
            float *restrict y = node->data + yo;
            if (pfx && iw0 + kw1 - 1 < W) /* two rows ahead, one pixel at a time */
                for (size_t b = 0; b < (size_t)C * p->stride[1] * sizeof(float); b += 64)
                    __builtin_prefetch((const char *)(pfx + (size_t)(iw0 + kw1 - 1) * C) + b, 0, 3);
            int32_t *restrict am = a->arg ? a->arg + yo : NULL;
#if NASC_CPU_X86
            if (a->avx512) {
                maxpool_pixel_avx512(x->data, &rows, iw0, kw0, kw1, C, y, am);
                continue;
            }
#endif
            bool first = true;
            for (int kh = rows.kh0; kh < rows.kh1; kh++)
                for (int kw = kw0; kw < kw1; kw++) {
                    const size_t xo = rows.off[kh] + (size_t)(iw0 + kw) * (size_t)C;
                    const float *restrict xv = x->data + xo;
                    if (first) {
                        memcpy(y, xv, (size_t)C * sizeof(float));
                        if (am)
                            for (int c = 0; c < C; c++)
                                am[c] = (int32_t)(xo + (size_t)c);
                        first = false;
                    } else if (am) {
                        for (int c = 0; c < C; c++) {
                            const bool take = xv[c] > y[c] || xv[c] != xv[c];
                            y[c] = take ? xv[c] : y[c];
                            am[c] = take ? (int32_t)(xo + (size_t)c) : am[c];
                        }
                    } else {
                        for (int c = 0; c < C; c++)
                            y[c] = (xv[c] > y[c] || xv[c] != xv[c]) ? xv[c] : y[c];
                    }
                }
        }
    }
}

static void maxpool_bwd_task(void *varg, int ith, int nth) {
    const pool_args *a = varg;
    nasc_tensor *node = a->node;
    float *restrict dx = node->src[0]->grad;
    const float *restrict dy = node->grad;
    const int32_t *restrict am = a->arg;
    const size_t per = nasc_n(node) / (size_t)node->ne[0];
    size_t n0, n1;
    nasc_cpu_range((size_t)node->ne[0], ith, nth, &n0, &n1);
    for (size_t i = n0 * per; i < n1 * per; i++)
        dx[am[i]] += dy[i];
}

bool nasc_cpu_pool_ok(const nasc_tensor *node) { return node->params.pool.k[0] <= POOL_MAXK; }

nasc_status nasc_cpu_maxpool2d_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    pool_args a = {.node = node, .avx512 = nasc_cpu_ctx_of(be)->avx512};
    if (node->flags & NASC_TENSOR_REQUIRES_GRAD) {
        a.arg = nasc_graph_alloc(g, nasc_n(node) * sizeof *a.arg);
        if (!a.arg)
            return nasc_graph_status(g);
        node->saved = a.arg;
    }
    nasc_cpu_run(nasc_cpu_nth(be, nasc_n(node), POOL_GRAIN), maxpool_fwd_task, &a);
    return NASC_OK;
}

nasc_status nasc_cpu_maxpool2d_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    if (!node->src[0]->grad)
        return NASC_OK;
    pool_args a = {.node = node, .arg = node->saved, .bwd = true};
    int nth = nasc_cpu_nth(be, nasc_n(node), POOL_GRAIN);
    nth = nth > node->ne[0] ? node->ne[0] : nth;
    nasc_cpu_run(nth, maxpool_bwd_task, &a);
    return NASC_OK;
}

static float avg_rdiv(const nasc_pool2d_params *p, const pool_rows *r, int kw0, int kw1) {
    if (p->count_include_pad)
        return 1.0f / (float)(p->k[0] * p->k[1]);
    return 1.0f / (float)((r->kh1 - r->kh0) * (kw1 - kw0));
}

/* Average pooling. Forward over output rows (n, oh); backward over images n. */
NASC_CPU_CLONES
static void avgpool_task(void *varg, int ith, int nth) {
    const pool_args *a = varg;
    nasc_tensor *node = a->node;
    const nasc_tensor *x = node->src[0];
    const nasc_pool2d_params *p = &node->params.pool;
    const int C = x->ne[1], H = x->ne[2], W = x->ne[3], OH = node->ne[2], OW = node->ne[3];
    size_t r0, r1;
    if (a->bwd) {
        size_t n0, n1;
        nasc_cpu_range((size_t)node->ne[0], ith, nth, &n0, &n1);
        r0 = n0 * (size_t)OH;
        r1 = n1 * (size_t)OH;
    } else {
        nasc_cpu_range((size_t)node->ne[0] * OH, ith, nth, &r0, &r1);
    }
    pool_rows rows;
    for (size_t r = r0; r < r1; r++) {
        const int n = (int)(r / (size_t)OH), oh = (int)(r % (size_t)OH);
        window_rows(p, H, W, C, n, oh, &rows);
        const int ihn = oh * p->stride[0] - p->pad[0] + p->k[0] - 1 + 2 * p->stride[0];
        const float *pfx = ihn < H ? (a->bwd ? x->grad : x->data) +
                                         (((size_t)n * H + (size_t)ihn) * W) * (size_t)C
                                   : NULL;
        for (int ow = 0; ow < OW; ow++) {
            int iw0, kw0, kw1;
            window_cols(p, W, ow, &iw0, &kw0, &kw1);
            const size_t yo = (r * (size_t)OW + (size_t)ow) * (size_t)C;
            if (pfx && iw0 + kw1 - 1 < W) /* two rows ahead, one pixel at a time */
                for (size_t b = 0; b < (size_t)C * p->stride[1] * sizeof(float); b += 64)
                    __builtin_prefetch((const char *)(pfx + (size_t)(iw0 + kw1 - 1) * C) + b, 0, 3);
            const float rdiv = avg_rdiv(p, &rows, kw0, kw1);
            if (!a->bwd) {
                float *restrict y = node->data + yo;
#if NASC_CPU_X86
                if (a->avx512) {
                    avgpool_pixel_avx512(x->data, &rows, iw0, kw0, kw1, C, rdiv, y);
                    continue;
                }
#endif
                memset(y, 0, (size_t)C * sizeof(float));
                for (int kh = rows.kh0; kh < rows.kh1; kh++)
                    for (int kw = kw0; kw < kw1; kw++) {
                        const float *restrict xv =
                            x->data + rows.off[kh] + (size_t)(iw0 + kw) * (size_t)C;
                        for (int c = 0; c < C; c++)
                            y[c] += xv[c];
                    }
                for (int c = 0; c < C; c++)
                    y[c] *= rdiv;
            } else {
                const float *restrict dy = node->grad + yo;
#if NASC_CPU_X86
                if (a->avx512) {
                    avgpool_back_avx512(x->grad, &rows, iw0, kw0, kw1, C, rdiv, dy);
                    continue;
                }
#endif
                for (int kh = rows.kh0; kh < rows.kh1; kh++)
                    for (int kw = kw0; kw < kw1; kw++) {
                        float *restrict dx =
                            x->grad + rows.off[kh] + (size_t)(iw0 + kw) * (size_t)C;
                        for (int c = 0; c < C; c++)
                            dx[c] += dy[c] * rdiv;
                    }
            }
        }
    }
}

nasc_status nasc_cpu_avgpool2d_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    pool_args a = {.node = node, .avx512 = nasc_cpu_ctx_of(be)->avx512};
    nasc_cpu_run(nasc_cpu_nth(be, nasc_n(node), POOL_GRAIN), avgpool_task, &a);
    return NASC_OK;
}

nasc_status nasc_cpu_avgpool2d_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    if (!node->src[0]->grad)
        return NASC_OK;
    pool_args a = {.node = node, .bwd = true, .avx512 = nasc_cpu_ctx_of(be)->avx512};
    int nth = nasc_cpu_nth(be, nasc_n(node), POOL_GRAIN);
    nth = nth > node->ne[0] ? node->ne[0] : nth;
    nasc_cpu_run(nth, avgpool_task, &a);
    return NASC_OK;
}

/* Global average pooling over images [n0, n1): y[n,c] = sum_hw x / (H*W), sums in float lanes of
 * up to 256 channels; backward dx += dy * (1/(H*W)) as ref. */
NASC_CPU_CLONES
static void gap_task(void *varg, int ith, int nth) {
    const pool_args *a = varg;
    nasc_tensor *node = a->node, *x = node->src[0];
    const int C = x->ne[1];
    const size_t HW = (size_t)x->ne[2] * x->ne[3];
    size_t n0, n1;
    nasc_cpu_range((size_t)x->ne[0], ith, nth, &n0, &n1);
    if (!a->bwd) {
        const double inv = 1.0 / (double)HW;
        for (size_t n = n0; n < n1; n++)
            for (int c0 = 0; c0 < C; c0 += 256) {
                const int cn = C - c0 < 256 ? C - c0 : 256;
                float acc[256];
                memset(acc, 0, sizeof acc);
                const float *restrict xp = x->data + n * HW * (size_t)C + (size_t)c0;
                for (size_t i = 0; i < HW; i++)
                    for (int c = 0; c < cn; c++)
                        acc[c] += xp[i * (size_t)C + (size_t)c];
                for (int c = 0; c < cn; c++)
                    node->data[n * (size_t)C + (size_t)(c0 + c)] = (float)((double)acc[c] * inv);
            }
    } else {
        const float inv = 1.0f / (float)HW;
        for (size_t n = n0; n < n1; n++) {
            float *restrict dx = x->grad + n * HW * (size_t)C;
            const float *restrict dy = node->grad + n * (size_t)C;
            for (size_t i = 0; i < HW; i++)
                for (int c = 0; c < C; c++)
                    dx[i * (size_t)C + (size_t)c] += dy[c] * inv;
        }
    }
}

nasc_status nasc_cpu_global_avgpool_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    pool_args a = {.node = node};
    int nth = nasc_cpu_nth(be, nasc_n(node->src[0]), POOL_GRAIN);
    nth = nth > node->ne[0] ? node->ne[0] : nth;
    nasc_cpu_run(nth, gap_task, &a);
    return NASC_OK;
}

nasc_status nasc_cpu_global_avgpool_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    if (!node->src[0]->grad)
        return NASC_OK;
    pool_args a = {.node = node, .bwd = true};
    int nth = nasc_cpu_nth(be, nasc_n(node->src[0]), POOL_GRAIN);
    nth = nth > node->ne[0] ? node->ne[0] : nth;
    nasc_cpu_run(nth, gap_task, &a);
    return NASC_OK;
}
