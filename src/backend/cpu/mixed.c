/* cpu/mixed.c — the supernet ops: weighted sum (mixed operations) and channel shuffle.
 *
 * weighted_sum: src w (read flat), x_1..x_n (each the output's shape, or NULL = constant 1).
 *   forward   out[j] = sum_i w[idx_i] * x_i[j]           (terms added in order, float)
 *   backward  dx_i[j] += w[idx_i] * dout[j];  dw[idx_i] += sum_j dout[j] * x_i[j]
 *             (a fresh dx_i, NASC_TENSOR_GRAD_FRESH, is stored: dx_i[j] = w[idx_i] * dout[j])
 * One pass over the elements does every term: each ith takes a fixed element range and, per block
 * of 2048 elements (in L1/L2), adds every term's contribution, so dout is read once for all terms
 * and each x_i / dx_i once. The n sums for dw run in double per ith (private) and are added in
 * ith order. In a DARTS supernet this is the mixed operation of every edge: one node instead of
 * n scale and n-1 add nodes, and one pass over memory instead of 2n.
 *
 * channel_shuffle with G groups, C = G*Cg: out(n, i*G + k) = x(n, k*Cg + i); backward adds the
 * gradient back through the inverse permutation. Pixels are split across threads. */
#include "cpu_int.h"

#include <string.h>

#if NASC_CPU_X86
#include <immintrin.h>
#endif

#define WS_GRAIN 16384 /* elements per thread */
#define WS_BLOCK 2048  /* elements per block (8 KB of each stream) */

typedef struct ws_args {
    nasc_tensor *node;
    double *priv;   /* nth * n partial sums for dw, or NULL */
    uint64_t store; /* bwd: bit i set: term i's dx is fresh, store w_i*dy instead of adding */
    bool bwd, avx512;
} ws_args;

#if NASC_CPU_X86
/* The backward of one block [b0, b1) for term (x, wi): dx += wi*dy, and the block's dot(dy, x)
 * (or sum(dy) for a constant term) returned in double. Two 16-lane accumulators; the next block
 * of each stream is prefetched (with ~15 streams in flight the hardware prefetchers fall behind:
 * measured 17% of a DARTS edge in this op before). Remainder lanes masked. */
NASC_CPU_AVX512
static double ws_bwd_block_avx512(const float *dy, const float *x, float *dx, float wi, size_t b0,
                                  size_t b1, bool want_dot, bool store) {
    const __m512 w = _mm512_set1_ps(wi);
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    size_t j = b0;
    for (; j + 32 <= b1; j += 32) {
        const __m512 d0 = _mm512_loadu_ps(dy + j), d1 = _mm512_loadu_ps(dy + j + 16);
        if (dx && store) {
            _mm512_storeu_ps(dx + j, _mm512_mul_ps(w, d0));
            _mm512_storeu_ps(dx + j + 16, _mm512_mul_ps(w, d1));
        } else if (dx) {
            _mm_prefetch((const char *)(dx + j + WS_BLOCK), _MM_HINT_T0);
            _mm512_storeu_ps(dx + j, _mm512_fmadd_ps(w, d0, _mm512_loadu_ps(dx + j)));
            _mm512_storeu_ps(dx + j + 16, _mm512_fmadd_ps(w, d1, _mm512_loadu_ps(dx + j + 16)));
        }
        if (want_dot) {
            if (x) {
                _mm_prefetch((const char *)(x + j + WS_BLOCK), _MM_HINT_T0);
                s0 = _mm512_fmadd_ps(d0, _mm512_loadu_ps(x + j), s0);
                s1 = _mm512_fmadd_ps(d1, _mm512_loadu_ps(x + j + 16), s1);
            } else {
                s0 = _mm512_add_ps(s0, d0);
                s1 = _mm512_add_ps(s1, d1);
            }
        }
    }
    for (; j < b1; j += 16) {
        const __mmask16 m = (__mmask16)(b1 - j >= 16 ? 0xFFFF : (1u << (b1 - j)) - 1u);
        const __m512 d0 = _mm512_maskz_loadu_ps(m, dy + j);
        if (dx)
            _mm512_mask_storeu_ps(dx + j, m,
                                  store ? _mm512_mul_ps(w, d0)
                                        : _mm512_fmadd_ps(w, d0, _mm512_maskz_loadu_ps(m, dx + j)));
        if (want_dot)
            s0 = x ? _mm512_fmadd_ps(d0, _mm512_maskz_loadu_ps(m, x + j), s0)
                   : _mm512_add_ps(s0, d0);
    }
    if (!want_dot)
        return 0.0;
    const __m512 s = _mm512_add_ps(s0, s1);
    const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(s));
    const __m512d hi = _mm512_cvtps_pd(_mm512_extractf32x8_ps(s, 1));
    return _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
}
#endif

#if NASC_CPU_X86
/* Forward of one block: y = sum_i w_i x_i with the sum of up to 8 terms in a register per
 * vector, so y is written once per 8 terms instead of read and written per term. */
NASC_CPU_AVX512
static void ws_fwd_block_avx512(const nasc_tensor *node, size_t b0, size_t b1) {
    const nasc_wsum_params *p = &node->params.wsum;
    const float *wd = node->src[0]->data;
    float *y = node->data;
    for (int i0 = 0; i0 < p->n; i0 += 8) {
        const int ni = p->n - i0 < 8 ? p->n - i0 : 8;
        const float *xs[8];
        __m512 wv[8];
        __m512 cst = _mm512_setzero_ps(); /* the constant terms (NULL x) */
        int nx = 0;
        for (int i = 0; i < ni; i++) {
            const nasc_tensor *x = node->src[i0 + i + 1];
            const float wi = wd[p->idx[i0 + i]];
            if (x) {
                xs[nx] = x->data;
                wv[nx++] = _mm512_set1_ps(wi);
            } else {
                cst = _mm512_add_ps(cst, _mm512_set1_ps(wi));
            }
        }
        for (size_t j = b0; j < b1; j += 16) {
            const __mmask16 m = (__mmask16)(b1 - j >= 16 ? 0xFFFF : (1u << (b1 - j)) - 1u);
            __m512 acc = i0 == 0 ? cst : _mm512_add_ps(_mm512_maskz_loadu_ps(m, y + j), cst);
            for (int k = 0; k < nx; k++) {
                _mm_prefetch((const char *)(xs[k] + j + WS_BLOCK), _MM_HINT_T0);
                acc = _mm512_fmadd_ps(wv[k], _mm512_maskz_loadu_ps(m, xs[k] + j), acc);
            }
            _mm512_mask_storeu_ps(y + j, m, acc);
        }
    }
}
#endif

NASC_CPU_CLONES
static void ws_task(void *arg, int ith, int nth) {
    const ws_args *a = arg;
    nasc_tensor *node = a->node;
    const nasc_tensor *w = node->src[0];
    const nasc_wsum_params *p = &node->params.wsum;
    size_t j0, j1;
    nasc_cpu_range(nasc_n(node), ith, nth, &j0, &j1);
    double *part = a->priv ? a->priv + (size_t)ith * p->n : NULL;
    if (part)
        memset(part, 0, (size_t)p->n * sizeof *part);
    for (size_t b0 = j0; b0 < j1; b0 += WS_BLOCK) {
        const size_t b1 = b0 + WS_BLOCK < j1 ? b0 + WS_BLOCK : j1;
        if (!a->bwd) {
#if NASC_CPU_X86
            if (a->avx512) {
                ws_fwd_block_avx512(node, b0, b1);
                continue;
            }
#endif
            float *restrict y = node->data;
            for (int i = 0; i < p->n; i++) {
                const nasc_tensor *x = node->src[i + 1];
                const float wi = w->data[p->idx[i]];
                if (i == 0) {
                    if (x) {
                        const float *restrict xv = x->data;
                        for (size_t j = b0; j < b1; j++)
                            y[j] = wi * xv[j];
                    } else {
                        for (size_t j = b0; j < b1; j++)
                            y[j] = wi;
                    }
                } else if (x) {
                    const float *restrict xv = x->data;
                    for (size_t j = b0; j < b1; j++)
                        y[j] += wi * xv[j];
                } else {
                    for (size_t j = b0; j < b1; j++)
                        y[j] += wi;
                }
            }
            continue;
        }
        const float *restrict dy = node->grad;
#if NASC_CPU_X86
        if (a->avx512) {
            for (int i = 0; i < p->n; i++) {
                nasc_tensor *x = node->src[i + 1];
                const double d = ws_bwd_block_avx512(
                    dy, x ? x->data : NULL, x && x->grad ? x->grad : NULL, w->data[p->idx[i]],
                    b0, b1, part != NULL, i < 64 && ((a->store >> i) & 1u));
                if (part)
                    part[i] += d;
            }
            continue;
        }
#endif
        for (int i = 0; i < p->n; i++) {
            nasc_tensor *x = node->src[i + 1];
            const float wi = w->data[p->idx[i]];
            if (x && x->grad && i < 64 && ((a->store >> i) & 1u)) {
                float *restrict dx = x->grad;
                for (size_t j = b0; j < b1; j++)
                    dx[j] = wi * dy[j];
            } else if (x && x->grad) {
                float *restrict dx = x->grad;
                for (size_t j = b0; j < b1; j++)
                    dx[j] += wi * dy[j];
            }
            if (part) {
                /* 8 lanes in float within the block, then one double add: fixed order */
                float lane[8] = {0};
                size_t j = b0;
                if (x) {
                    const float *restrict xv = x->data;
                    for (; j + 8 <= b1; j += 8)
                        for (int l = 0; l < 8; l++)
                            lane[l] += dy[j + (size_t)l] * xv[j + (size_t)l];
                    for (; j < b1; j++)
                        lane[0] += dy[j] * xv[j];
                } else {
                    for (; j + 8 <= b1; j += 8)
                        for (int l = 0; l < 8; l++)
                            lane[l] += dy[j + (size_t)l];
                    for (; j < b1; j++)
                        lane[0] += dy[j];
                }
                double s = 0.0;
                for (int l = 0; l < 8; l++)
                    s += (double)lane[l];
                part[i] += s;
            }
        }
    }
}

nasc_status nasc_cpu_wsum_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    ws_args a = {.node = node, .avx512 = nasc_cpu_ctx_of(be)->avx512};
    nasc_cpu_run(nasc_cpu_nth(be, nasc_n(node) * (size_t)node->params.wsum.n, WS_GRAIN), ws_task,
                 &a);
    return NASC_OK;
}

nasc_status nasc_cpu_wsum_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    nasc_tensor *w = node->src[0];
    const int n = node->params.wsum.n;
    const int nth = nasc_cpu_nth(be, nasc_n(node) * (size_t)n, WS_GRAIN);
    ws_args a = {.node = node, .bwd = true, .avx512 = nasc_cpu_ctx_of(be)->avx512};
    /* fresh gradients are stored, not zero-filled and added (a pass over memory less per term);
     * a tensor that is two terms stores at the first and adds at the second: each ith walks
     * the terms in order over its own elements. Terms past 64 and w are zero-filled. */
    if (w->grad && nasc_cpu_take_fresh(w))
        memset(w->grad, 0, nasc_n(w) * sizeof(float));
    for (int i = 0; i < n; i++) {
        nasc_tensor *x = node->src[i + 1];
        if (!x || !x->grad || !nasc_cpu_take_fresh(x))
            continue;
        if (i < 64)
            a.store |= (uint64_t)1 << i;
        else
            memset(x->grad, 0, nasc_n(x) * sizeof(float));
    }
    if (w->grad) {
        a.priv = nasc_cpu_scratch(be, g, (size_t)nth * (size_t)n * sizeof(double));
        if (!a.priv)
            return nasc_graph_status(g);
    }
    nasc_cpu_run(nth, ws_task, &a);
    if (w->grad)
        for (int i = 0; i < n; i++) {
            double s = 0.0;
            for (int t = 0; t < nth; t++)
                s += a.priv[(size_t)t * n + (size_t)i];
            w->grad[node->params.wsum.idx[i]] += (float)s;
        }
    return NASC_OK;
}

typedef struct shuf_args {
    nasc_tensor *node;
    bool bwd;
} shuf_args;

static void shuf_task(void *arg, int ith, int nth) {
    const shuf_args *a = arg;
    nasc_tensor *node = a->node, *x = node->src[0];
    const int C = node->ne[1], G = node->params.shuffle.groups, Cg = C / G;
    size_t q0, q1;
    nasc_cpu_range(nasc_n(node) / (size_t)C, ith, nth, &q0, &q1);
    for (size_t q = q0; q < q1; q++) {
        const size_t o = q * (size_t)C;
        if (!a->bwd) {
            for (int k = 0; k < G; k++)
                for (int i = 0; i < Cg; i++)
                    node->data[o + (size_t)(i * G + k)] = x->data[o + (size_t)(k * Cg + i)];
        } else {
            for (int k = 0; k < G; k++)
                for (int i = 0; i < Cg; i++)
                    x->grad[o + (size_t)(k * Cg + i)] += node->grad[o + (size_t)(i * G + k)];
        }
    }
}

nasc_status nasc_cpu_channel_shuffle_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    shuf_args a = {.node = node};
    nasc_cpu_run(nasc_cpu_nth(be, nasc_n(node), WS_GRAIN), shuf_task, &a);
    return NASC_OK;
}

nasc_status nasc_cpu_channel_shuffle_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    if (!node->src[0]->grad)
        return NASC_OK;
    shuf_args a = {.node = node, .bwd = true};
    nasc_cpu_run(nasc_cpu_nth(be, nasc_n(node), WS_GRAIN), shuf_task, &a);
    return NASC_OK;
}
