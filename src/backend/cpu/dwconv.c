/* cpu/dwconv.c — depthwise convolution (groups == C == K), NHWC, vectorised over channels.
 *
 * x (N,C,H,W), w (C,1,KH,KW) stored [C][KH][KW], b (1,C,1,1) or NULL, y (N,C,OH,OW).
 *   y[n,c,oh,ow] = b[c] + sum_{kh,kw} x[n, c, oh*sh-ph+kh*dh, ow*sw-pw+kw*dw] * w[c,kh,kw]
 * (zero padding). These are the DARTS sep_conv / dil_conv kernels: 3x3 and 5x5, stride 1 and 2,
 * dilation 1 and 2, C = 16..64 — but any size, stride, dilation and padding is handled.
 *
 * Channels are processed in blocks of 16 (one AVX-512 register; the tail block is masked). The
 * weights are first transposed into wt[KH*KW][Cp] (Cp = C rounded up to 16, zero padded) so that
 * a tap's 16 weights are one load.
 *
 * Forward and backward-data are the same "gather row" kernel: an output row of Q pixels, each
 *     out[q] (=|+=) init + sum_taps in_tap[q*istep + off_tap] * w_tap,
 * with, per tap, the range [q0, q1) of q whose input lies inside the row. The interior (all taps
 * valid) runs 8 (then 4) outputs at a time with the accumulators in registers; the edges one by one
 * with per-tap checks.
 *   forward:   out row = y(n, oh),  taps = (kh, kw) with ih inside, istep = sw pixels of x(n, ih);
 *   bwd-data:  dx(n, ih, iw) = sum dy(n, oh, ow) w(kh, kw) over ih = oh*sh-ph+kh*dh and likewise
 *              for iw. For each residue r = iw mod sw, iw = r + q*sw, the taps are the (kh, kw)
 *              with (ih+ph-kh*dh) divisible by sh and (r+pw-kw*dw) by sw, and then
 *              ow = q + (r+pw-kw*dw)/sw: a unit-stride gather over dy, written with stride sw.
 * Backward-weights: dw[c,kh,kw] = sum_{n,oh,ow} dy[n,c,oh,ow] x[n,c,ih,iw]: per output row and
 * valid kh, each kw's sum over ow runs in 4 independent vector accumulators. Each ith takes a fixed
 * range of output rows, sums an image at a time in float, flushes it into its private double
 * buffer, and the private buffers are added in ith order (deterministic for a thread count).
 *
 * Threads: forward over output rows (n, oh), backward-data over input rows (n, ih) (each dx row
 * is written by one ith), backward-weights over output rows with private sums.
 * The AVX-512 kernels are compiled with a target attribute and used when the CPU has AVX-512; the
 * portable ones do the same arithmetic in plain C loops over the 16 lanes. */
#include "cpu_int.h"

#include <string.h>

#if NASC_CPU_X86
#include <immintrin.h>
#endif

#define DW_LANES 16
#define DW_GRAIN 4096 /* output elements x taps per thread */

typedef struct dw_tap {
    const float *row; /* input row base (pixel 0, channel 0) */
    const float *w;   /* this tap's Cp weights (transposed, padded) */
    ptrdiff_t off;    /* floats from row to the input of q = 0 (may be negative) */
    int q0, q1;       /* q whose input is inside the row */
} dw_tap;

typedef struct dw_row {
    float *out;        /* output of q = 0, channel 0 */
    ptrdiff_t ostep;   /* floats between outputs q and q+1 */
    ptrdiff_t istep;   /* floats between inputs of q and q+1 */
    int Q;             /* outputs in the row */
    int T;             /* taps */
    const dw_tap *taps;
    int qi0, qi1;      /* interior: every tap valid */
    const float *init; /* Cp values to start from (bias) or NULL (zero); ignored if acc */
    bool acc;          /* out += (backward data) instead of out = */
    int C;             /* channels */
    const float *pf_in;  /* next row's newest input row (software prefetch), or NULL */
    float *pf_out;       /* next row's output row, or NULL */
} dw_row;

static void row_interior(dw_row *r) {
    int lo = 0, hi = r->Q;
    for (int t = 0; t < r->T; t++) {
        lo = r->taps[t].q0 > lo ? r->taps[t].q0 : lo;
        hi = r->taps[t].q1 < hi ? r->taps[t].q1 : hi;
    }
    r->qi0 = lo;
    r->qi1 = hi > lo ? hi : lo;
}

/* ---- portable kernels ---- */

static void gather_row_c(const dw_row *r) {
    for (int q = 0; q < r->Q; q++) {
        float *o = r->out + q * r->ostep;
        const bool inner = q >= r->qi0 && q < r->qi1;
        for (int cb = 0; cb < r->C; cb += DW_LANES) {
            const int cn = r->C - cb < DW_LANES ? r->C - cb : DW_LANES;
            float acc[DW_LANES];
            for (int l = 0; l < cn; l++)
                acc[l] = r->acc ? o[cb + l] : r->init ? r->init[cb + l] : 0.0f;
            for (int t = 0; t < r->T; t++) {
                const dw_tap *tp = &r->taps[t];
                if (!inner && (q < tp->q0 || q >= tp->q1))
                    continue;
                const float *in = tp->row + (tp->off + q * r->istep + cb);
                for (int l = 0; l < cn; l++)
                    acc[l] += in[l] * tp->w[cb + l];
            }
            for (int l = 0; l < cn; l++)
                o[cb + l] = acc[l];
        }
    }
}

/* acc[c] += sum_{q in [q0,q1)} a[q*astep + c] * b[boff + q*bstep + c] for c < C. */
static void dot_rows_c(float *acc, const float *a, ptrdiff_t astep, const float *b,
                       ptrdiff_t boff, ptrdiff_t bstep, int q0, int q1, int C) {
    for (int q = q0; q < q1; q++) {
        const float *ap = a + q * astep, *bp = b + (boff + q * bstep);
        for (int c = 0; c < C; c++)
            acc[c] += ap[c] * bp[c];
    }
}

/* ---- AVX-512 kernels ---- */
#if NASC_CPU_X86

#define LD(p) _mm512_maskz_loadu_ps(m, (p))

static inline __mmask16 lane_mask(int C, int cb) {
    const int cn = C - cb < DW_LANES ? C - cb : DW_LANES;
    return (__mmask16)((1u << cn) - 1u);
}

/* One output q, channel block cb, with per-tap range checks (edges) or without (interior). */
NASC_CPU_AVX512
static inline __m512 gather_one_avx512(const dw_row *r, int q, int cb, __m512 a, __mmask16 m,
                                       bool check) {
    for (int t = 0; t < r->T; t++) {
        const dw_tap *tp = &r->taps[t];
        if (check && (q < tp->q0 || q >= tp->q1))
            continue;
        a = _mm512_fmadd_ps(LD(tp->row + (tp->off + q * r->istep + cb)),
                            _mm512_loadu_ps(tp->w + cb), a);
    }
    return a;
}

NASC_CPU_AVX512
static void gather_single_avx512(const dw_row *r, int q, bool check) {
    float *o = r->out + q * r->ostep;
    for (int cb = 0; cb < r->C; cb += DW_LANES) {
        const __mmask16 m = lane_mask(r->C, cb);
        const __m512 a0 = r->acc ? LD(o + cb) : r->init ? LD(r->init + cb) : _mm512_setzero_ps();
        _mm512_mask_storeu_ps(o + cb, m, gather_one_avx512(r, q, cb, a0, m, check));
    }
}

/* The channel-block loop sits inside the pixel-block loop, so memory is read and written in
 * storage order (all C of a pixel before the next pixel) whatever C is. */
NASC_CPU_AVX512
static void gather_row_avx512(const dw_row *r) {
    const ptrdiff_t os = r->ostep, is = r->istep;
    const int T = r->T;
    const dw_tap *taps = r->taps;
    int q;
    for (q = 0; q < r->qi0; q++) /* left edge */
        gather_single_avx512(r, q, true);
    /* interior: 8 outputs at a time with the accumulators in registers, then 4, then 1 */
    for (; q + 8 <= r->qi1; q += 8) {
        if (r->pf_in) {
            /* the same pixels of the next row: DRAM latency is not hidden by the hardware
             * prefetchers once the tensors outgrow the caches (measured: 2x at C=64, N=64) */
            const char *pi = (const char *)(r->pf_in + q * is);
            const char *po = (const char *)(r->pf_out + q * os);
            for (ptrdiff_t b = 0; b < 8 * is * (ptrdiff_t)sizeof(float); b += 64)
                _mm_prefetch(pi + b, _MM_HINT_T0);
            for (ptrdiff_t b = 0; b < 8 * os * (ptrdiff_t)sizeof(float); b += 64)
                _mm_prefetch(po + b, _MM_HINT_T0);
        }
        for (int cb = 0; cb < r->C; cb += DW_LANES) {
            const __mmask16 m = lane_mask(r->C, cb);
            float *o = r->out + q * os + cb;
            __m512 a0, a1, a2, a3, a4, a5, a6, a7;
            if (r->acc) {
                a0 = LD(o); a1 = LD(o + os); a2 = LD(o + 2 * os); a3 = LD(o + 3 * os);
                a4 = LD(o + 4 * os); a5 = LD(o + 5 * os); a6 = LD(o + 6 * os); a7 = LD(o + 7 * os);
            } else {
                a0 = r->init ? LD(r->init + cb) : _mm512_setzero_ps();
                a1 = a2 = a3 = a4 = a5 = a6 = a7 = a0;
            }
            for (int t = 0; t < T; t++) {
                const __m512 wv = _mm512_loadu_ps(taps[t].w + cb);
                const float *p = taps[t].row + (taps[t].off + q * is + cb);
                a0 = _mm512_fmadd_ps(LD(p), wv, a0);
                a1 = _mm512_fmadd_ps(LD(p + is), wv, a1);
                a2 = _mm512_fmadd_ps(LD(p + 2 * is), wv, a2);
                a3 = _mm512_fmadd_ps(LD(p + 3 * is), wv, a3);
                a4 = _mm512_fmadd_ps(LD(p + 4 * is), wv, a4);
                a5 = _mm512_fmadd_ps(LD(p + 5 * is), wv, a5);
                a6 = _mm512_fmadd_ps(LD(p + 6 * is), wv, a6);
                a7 = _mm512_fmadd_ps(LD(p + 7 * is), wv, a7);
            }
            _mm512_mask_storeu_ps(o, m, a0);
            _mm512_mask_storeu_ps(o + os, m, a1);
            _mm512_mask_storeu_ps(o + 2 * os, m, a2);
            _mm512_mask_storeu_ps(o + 3 * os, m, a3);
            _mm512_mask_storeu_ps(o + 4 * os, m, a4);
            _mm512_mask_storeu_ps(o + 5 * os, m, a5);
            _mm512_mask_storeu_ps(o + 6 * os, m, a6);
            _mm512_mask_storeu_ps(o + 7 * os, m, a7);
        }
    }
    for (; q + 4 <= r->qi1; q += 4) {
        for (int cb = 0; cb < r->C; cb += DW_LANES) {
            const __mmask16 m = lane_mask(r->C, cb);
            float *o = r->out + q * os + cb;
            __m512 a0, a1, a2, a3;
            if (r->acc) {
                a0 = LD(o); a1 = LD(o + os); a2 = LD(o + 2 * os); a3 = LD(o + 3 * os);
            } else {
                a0 = r->init ? LD(r->init + cb) : _mm512_setzero_ps();
                a1 = a2 = a3 = a0;
            }
            for (int t = 0; t < T; t++) {
                const __m512 wv = _mm512_loadu_ps(taps[t].w + cb);
                const float *p = taps[t].row + (taps[t].off + q * is + cb);
                a0 = _mm512_fmadd_ps(LD(p), wv, a0);
                a1 = _mm512_fmadd_ps(LD(p + is), wv, a1);
                a2 = _mm512_fmadd_ps(LD(p + 2 * is), wv, a2);
                a3 = _mm512_fmadd_ps(LD(p + 3 * is), wv, a3);
            }
            _mm512_mask_storeu_ps(o, m, a0);
            _mm512_mask_storeu_ps(o + os, m, a1);
            _mm512_mask_storeu_ps(o + 2 * os, m, a2);
            _mm512_mask_storeu_ps(o + 3 * os, m, a3);
        }
    }
    for (; q < r->qi1; q++)
        gather_single_avx512(r, q, false);
    for (q = r->qi1 > r->qi0 ? r->qi1 : r->qi0; q < r->Q; q++) /* right edge */
        gather_single_avx512(r, q, true);
}

/* nb (1..4) channel blocks from cb at once, two partial sums (even / odd q) per block, so that
 * 2*nb independent FMA chains hide the FMA latency while reading both rows in storage order. */
NASC_CPU_AVX512
static inline __attribute__((always_inline)) void
dot_chunk_avx512(float *acc, const float *a, ptrdiff_t astep, const float *b, ptrdiff_t boff,
                 ptrdiff_t bstep, int q0, int q1, int C, int cb, const int nb) {
    __m512 s[4], u[4];
    __mmask16 mk[4];
    for (int j = 0; j < nb; j++) {
        s[j] = u[j] = _mm512_setzero_ps();
        mk[j] = lane_mask(C, cb + j * DW_LANES);
    }
    int q = q0;
    for (; q + 2 <= q1; q += 2) {
        const float *ap = a + q * astep + cb, *bp = b + (boff + q * bstep + cb);
        for (int j = 0; j < nb; j++) {
            const __mmask16 m = mk[j];
            s[j] = _mm512_fmadd_ps(LD(ap + j * DW_LANES), LD(bp + j * DW_LANES), s[j]);
            u[j] = _mm512_fmadd_ps(LD(ap + astep + j * DW_LANES), LD(bp + bstep + j * DW_LANES),
                                   u[j]);
        }
    }
    if (q < q1) {
        const float *ap = a + q * astep + cb, *bp = b + (boff + q * bstep + cb);
        for (int j = 0; j < nb; j++) {
            const __mmask16 m = mk[j];
            s[j] = _mm512_fmadd_ps(LD(ap + j * DW_LANES), LD(bp + j * DW_LANES), s[j]);
        }
    }
    for (int j = 0; j < nb; j++) {
        const __mmask16 m = mk[j];
        float *ac = acc + cb + j * DW_LANES;
        _mm512_mask_storeu_ps(ac, m, _mm512_add_ps(LD(ac), _mm512_add_ps(s[j], u[j])));
    }
}

NASC_CPU_AVX512
static void dot_rows_avx512(float *acc, const float *a, ptrdiff_t astep, const float *b,
                            ptrdiff_t boff, ptrdiff_t bstep, int q0, int q1, int C) {
    for (int cb = 0; cb < C; cb += 4 * DW_LANES) {
        const int left = (C - cb + DW_LANES - 1) / DW_LANES;
        switch (left >= 4 ? 4 : left) {
        case 4: dot_chunk_avx512(acc, a, astep, b, boff, bstep, q0, q1, C, cb, 4); break;
        case 3: dot_chunk_avx512(acc, a, astep, b, boff, bstep, q0, q1, C, cb, 3); break;
        case 2: dot_chunk_avx512(acc, a, astep, b, boff, bstep, q0, q1, C, cb, 2); break;
        default: dot_chunk_avx512(acc, a, astep, b, boff, bstep, q0, q1, C, cb, 1); break;
        }
    }
}
#undef LD
#endif /* NASC_CPU_X86 */

static void gather_row(bool avx512, const dw_row *r) {
#if NASC_CPU_X86
    if (avx512) {
        gather_row_avx512(r);
        return;
    }
#endif
    (void)avx512;
    gather_row_c(r);
}

static void dot_rows(bool avx512, float *acc, const float *a, ptrdiff_t astep, const float *b,
                     ptrdiff_t boff, ptrdiff_t bstep, int q0, int q1, int C) {
#if NASC_CPU_X86
    if (avx512) {
        dot_rows_avx512(acc, a, astep, b, boff, bstep, q0, q1, C);
        return;
    }
#endif
    (void)avx512;
    dot_rows_c(acc, a, astep, b, boff, bstep, q0, q1, C);
}

/* ---- drivers ---- */

#define DW_MAX_TAPS NASC_CPU_DW_MAX_TAPS

typedef struct dw_args {
    nasc_cpu_conv c;
    bool avx512;
    const float *x, *dy, *bias; /* bias: Cp padded copy or NULL */
    float *y, *dx;
    const float *wt;            /* [T][Cp] */
    int Cp, T;
    /* backward weights */
    float *facc;                /* nth * (T+1)*Cp floats: this image's sums (last row: bias) */
    double *priv;               /* nth * (T+1)*Cp doubles */
    bool want_db;
} dw_args;

/* First q with q*s + off >= 0 and end q with q*s + off <= lim-1, clamped to [0, Q]. */
static void q_range(int off, int s, int lim, int Q, int *q0, int *q1) {
    int lo = off >= 0 ? 0 : (-off + s - 1) / s;
    int hi = lim - 1 - off < 0 ? 0 : (lim - 1 - off) / s + 1;
    *q0 = lo > Q ? Q : lo;
    *q1 = hi > Q ? Q : hi;
    if (*q1 < *q0)
        *q1 = *q0;
}

static void dw_fwd_task(void *arg, int ith, int nth) {
    const dw_args *a = arg;
    const nasc_cpu_conv *c = &a->c;
    dw_tap taps[DW_MAX_TAPS];
    size_t r0, r1;
    nasc_cpu_range((size_t)c->N * c->OH, ith, nth, &r0, &r1);
    for (size_t rr = r0; rr < r1; rr++) {
        const int n = (int)(rr / (size_t)c->OH), oh = (int)(rr % (size_t)c->OH);
        dw_row r = {.out = a->y + ((size_t)rr * c->OW) * c->C, .ostep = c->C,
                    .istep = (ptrdiff_t)c->sw * c->C, .Q = c->OW, .taps = taps,
                    .init = a->bias, .acc = false, .C = c->C};
        int T = 0;
        for (int kh = 0; kh < c->KH; kh++) {
            const int ih = oh * c->sh - c->ph + kh * c->dh;
            if (ih < 0 || ih >= c->H)
                continue;
            const float *row = a->x + (((size_t)n * c->H + ih) * c->W) * c->C;
            for (int kw = 0; kw < c->KW; kw++) {
                dw_tap *tp = &taps[T++];
                const int off = kw * c->dw - c->pw;
                tp->row = row;
                tp->w = a->wt + (size_t)(kh * c->KW + kw) * a->Cp;
                tp->off = (ptrdiff_t)off * c->C;
                q_range(off, c->sw, c->W, c->OW, &tp->q0, &tp->q1);
            }
        }
        r.T = T;
        row_interior(&r);
        if (rr + 1 < r1 && oh + 1 < c->OH) {
            const int ih = (oh + 1) * c->sh - c->ph + (c->KH - 1) * c->dh;
            if (ih >= 0 && ih < c->H) {
                r.pf_in = a->x + (((size_t)n * c->H + ih) * c->W) * c->C;
                r.pf_out = r.out + (size_t)c->OW * c->C;
            }
        }
        gather_row(a->avx512, &r);
    }
}

static void dw_bwd_data_task(void *arg, int ith, int nth) {
    const dw_args *a = arg;
    const nasc_cpu_conv *c = &a->c;
    dw_tap taps[DW_MAX_TAPS];
    size_t r0, r1;
    nasc_cpu_range((size_t)c->N * c->H, ith, nth, &r0, &r1);
    for (size_t rr = r0; rr < r1; rr++) {
        const int n = (int)(rr / (size_t)c->H), ih = (int)(rr % (size_t)c->H);
        for (int res = 0; res < c->sw && res < c->W; res++) {
            const int Q = (c->W - res + c->sw - 1) / c->sw;
            dw_row r = {.out = a->dx + ((size_t)rr * c->W + res) * c->C,
                        .ostep = (ptrdiff_t)c->sw * c->C, .istep = c->C, .Q = Q, .taps = taps,
                        .acc = true, .C = c->C};
            int T = 0;
            for (int kh = 0; kh < c->KH; kh++) {
                const int vh = ih + c->ph - kh * c->dh;
                if (vh < 0 || vh % c->sh != 0 || vh / c->sh >= c->OH)
                    continue;
                const int oh = vh / c->sh;
                const float *row = a->dy + (((size_t)n * c->OH + oh) * c->OW) * c->C;
                for (int kw = 0; kw < c->KW; kw++) {
                    const int vw = res + c->pw - kw * c->dw;
                    if (((vw % c->sw) + c->sw) % c->sw != 0)
                        continue;
                    const int off = vw / c->sw; /* exact: ow = q + off */
                    dw_tap *tp = &taps[T++];
                    tp->row = row;
                    tp->w = a->wt + (size_t)(kh * c->KW + kw) * a->Cp;
                    tp->off = (ptrdiff_t)off * c->C;
                    q_range(off, 1, c->OW, Q, &tp->q0, &tp->q1);
                }
            }
            if (T == 0)
                continue;
            r.T = T;
            row_interior(&r);
            if (rr + 1 < r1 && ih + 1 < c->H) {
                int oh = (ih + 1 + c->ph) / c->sh;
                oh = oh < c->OH ? oh : c->OH - 1;
                r.pf_in = a->dy + (((size_t)n * c->OH + oh) * c->OW) * c->C;
                r.pf_out = r.out + (size_t)c->W * c->C;
            }
            gather_row(a->avx512, &r);
        }
    }
}

static void dw_flush(const dw_args *a, float *facc, double *priv) {
    const size_t n = (size_t)(a->T + 1) * a->Cp;
    for (size_t i = 0; i < n; i++) {
        priv[i] += (double)facc[i];
        facc[i] = 0.0f;
    }
}

static void dw_bwd_weights_task(void *arg, int ith, int nth) {
    const dw_args *a = arg;
    const nasc_cpu_conv *c = &a->c;
    const size_t per = (size_t)(a->T + 1) * a->Cp;
    float *facc = a->facc + (size_t)ith * per;
    double *priv = a->priv + (size_t)ith * per;
    memset(facc, 0, per * sizeof *facc);
    memset(priv, 0, per * sizeof *priv);
    size_t r0, r1;
    nasc_cpu_range((size_t)c->N * c->OH, ith, nth, &r0, &r1);
    int cur_n = r0 < r1 ? (int)(r0 / (size_t)c->OH) : 0;
    for (size_t rr = r0; rr < r1; rr++) {
        const int n = (int)(rr / (size_t)c->OH), oh = (int)(rr % (size_t)c->OH);
        if (n != cur_n) { /* an image done: move its float sums into the double buffer */
            dw_flush(a, facc, priv);
            cur_n = n;
        }
        const float *dyrow = a->dy + ((size_t)rr * c->OW) * c->C;
        if (a->want_db) {
            float *ab = facc + (size_t)a->T * a->Cp;
            for (int ow = 0; ow < c->OW; ow++)
                for (int ch = 0; ch < c->C; ch++)
                    ab[ch] += dyrow[(size_t)ow * c->C + ch];
        }
        if (!a->wt) /* only the bias gradient is wanted */
            continue;
        for (int kh = 0; kh < c->KH; kh++) {
            const int ih = oh * c->sh - c->ph + kh * c->dh;
            if (ih < 0 || ih >= c->H)
                continue;
            const float *xrow = a->x + (((size_t)n * c->H + ih) * c->W) * c->C;
            for (int kw = 0; kw < c->KW; kw++) {
                const int off = kw * c->dw - c->pw;
                int q0, q1;
                q_range(off, c->sw, c->W, c->OW, &q0, &q1);
                if (q1 > q0)
                    dot_rows(a->avx512, facc + (size_t)(kh * c->KW + kw) * a->Cp, dyrow, c->C,
                             xrow, (ptrdiff_t)off * c->C, (ptrdiff_t)c->sw * c->C, q0, q1, c->C);
            }
        }
    }
    dw_flush(a, facc, priv);
}

/* Transposes w [C][T] into wt [T][Cp] (zero padded). */
static void transpose_w(const float *w, float *wt, int C, int T, int Cp) {
    for (int t = 0; t < T; t++) {
        for (int ch = 0; ch < C; ch++)
            wt[(size_t)t * Cp + ch] = w[(size_t)ch * T + t];
        for (int ch = C; ch < Cp; ch++)
            wt[(size_t)t * Cp + ch] = 0.0f;
    }
}

nasc_status nasc_cpu_dwconv_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    const nasc_tensor *x = node->src[0], *w = node->src[1], *b = node->src[2];
    dw_args a = {.c = nasc_cpu_conv_geom(node), .avx512 = nasc_cpu_ctx_of(be)->avx512,
                 .x = x->data, .y = node->data};
    a.T = a.c.KH * a.c.KW;
    a.Cp = (a.c.C + DW_LANES - 1) / DW_LANES * DW_LANES;
    const size_t wt_b = nasc_cpu_align64((size_t)a.T * a.Cp * sizeof(float));
    char *ws = nasc_cpu_scratch(be, g, wt_b + (size_t)a.Cp * sizeof(float));
    if (!ws)
        return nasc_graph_status(g);
    float *wt = (float *)ws;
    transpose_w(w->data, wt, a.c.C, a.T, a.Cp);
    a.wt = wt;
    if (b) {
        float *bp = (float *)(ws + wt_b);
        memcpy(bp, b->data, (size_t)a.c.C * sizeof(float));
        for (int ch = a.c.C; ch < a.Cp; ch++)
            bp[ch] = 0.0f;
        a.bias = bp;
    }
    const size_t work = nasc_n(node) * (size_t)a.T;
    int nth = nasc_cpu_nth(be, work, DW_GRAIN * 16);
    nasc_cpu_run(nth, dw_fwd_task, &a);
    return NASC_OK;
}

nasc_status nasc_cpu_dwconv_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    nasc_tensor *x = node->src[0], *w = node->src[1], *b = node->src[2];
    dw_args a = {.c = nasc_cpu_conv_geom(node), .avx512 = nasc_cpu_ctx_of(be)->avx512,
                 .x = x->data, .dy = node->grad, .dx = x->grad};
    a.T = a.c.KH * a.c.KW;
    a.Cp = (a.c.C + DW_LANES - 1) / DW_LANES * DW_LANES;
    const bool want_dw = w->grad != NULL, want_db = b && b->grad;
    const size_t work = nasc_n(node) * (size_t)a.T;
    const int nth = nasc_cpu_nth(be, work, DW_GRAIN * 16);
    const size_t per = (size_t)(a.T + 1) * a.Cp;
    const size_t wt_b = nasc_cpu_align64((size_t)a.T * a.Cp * sizeof(float));
    const size_t facc_b = nasc_cpu_align64((size_t)nth * per * sizeof(float));
    const size_t priv_b = (size_t)nth * per * sizeof(double);
    char *ws = nasc_cpu_scratch(be, g, wt_b + ((want_dw || want_db) ? facc_b + priv_b : 0));
    if (!ws)
        return nasc_graph_status(g);
    float *wt = (float *)ws;
    transpose_w(w->data, wt, a.c.C, a.T, a.Cp);
    a.wt = wt;
    if (x->grad)
        nasc_cpu_run(nth, dw_bwd_data_task, &a);
    if (want_dw || want_db) {
        a.facc = (float *)(ws + wt_b);
        a.priv = (double *)(ws + wt_b + facc_b);
        a.want_db = want_db;
        if (!want_dw)
            a.wt = NULL;
        /* rows of the output; each ith's sums stay in its own buffers */
        int nthw = nth;
        nasc_cpu_run(nthw, dw_bwd_weights_task, &a);
        for (int t = 0; t <= a.T; t++) {
            if (t < a.T && !want_dw)
                continue;
            if (t == a.T && !want_db)
                continue;
            for (int ch = 0; ch < a.c.C; ch++) {
                double s = 0.0;
                for (int i = 0; i < nthw; i++)
                    s += a.priv[(size_t)i * per + (size_t)t * a.Cp + ch];
                if (t < a.T)
                    w->grad[(size_t)ch * a.T + t] += (float)s;
                else
                    b->grad[ch] += (float)s;
            }
        }
    }
    return NASC_OK;
}
