/* cpu/dwconv.c — depthwise convolution (groups == C == K), NHWC, vectorised over channels.
 *
 * x (N,C,H,W), w (C,1,KH,KW) stored [C][KH][KW], b (1,C,1,1) or NULL, y (N,C,OH,OW).
 *   y[n,c,oh,ow] = b[c] + sum_{kh,kw} x[n, c, oh*sh-ph+kh*dh, ow*sw-pw+kw*dw] * w[c,kh,kw]
 * (zero padding). These are the DARTS sep_conv / dil_conv kernels: 3x3 and 5x5, stride 1 and 2,
 * dilation 1 and 2, C = 16..64; other sizes within the limits of nasc_cpu_dw_ok run through a
 * generic tap loop, anything beyond them takes the GEMM / oneDNN paths.
 *
 * Channels are processed in blocks of 16 (one AVX-512 register; the tail block is masked on
 * store). The weights are transposed into wt[KH*KW][Cp] (Cp = C rounded up to 16, zero padded) so
 * that a tap's 16 weights are one load.
 *
 * Padded row cache. Each ith copies the input rows it reads (x rows in forward and
 * backward-weights, dy rows in backward-data) into a small ring of zero-padded rows: pixel stride
 * Cp, zero pixels left and right, and a zero row standing for rows outside the image. The copy
 * costs one load and store per element per pass (each row is copied once: the ring holds the
 * (KH-1)*dh + 1 + sh rows that consecutive output rows share); in exchange no kernel checks a
 * border: edge pixels run at the interior's speed (at 7x7 and 14x14 most pixels are edges), and
 * the last channel block needs no load masks.
 *
 * Forward: for each output row, a block of NB outputs (16, 8, then 4 with a masked store) keeps
 * NB accumulators in registers. For KW in {3, 5}, horizontal stride and dilation in {1, 2} the
 * kernel is generated with constant loop bounds and slides along the input row: each input
 * vector is loaded once and feeds every (output, kw) pair it belongs to, e.g. 20 loads for 80
 * FMAs with NB = 16, KW = 5 (one load per FMA in the plain form); other sizes use a per-tap loop.
 * Backward-data: dx(n,ih,iw) = sum dy(n,oh,ow) w(kh,kw) over ih = oh*sh-ph+kh*dh, iw alike. With
 * horizontal stride 1 that is the forward kernel again, on dy rows, with the kernel flipped in kw
 * and left padding (KW-1)*dw - pw, accumulating into dx. With stride sw > 1 the columns split into
 * residues r = iw mod sw: iw = r + q*sw takes the taps with (r+pw-kw*dw) divisible by sw, at
 * ow = q + (r+pw-kw*dw)/sw, a unit-stride gather over dy written with stride sw (per-tap loop).
 * Rows: the kh with (ih+ph-kh*dh) divisible by sh and oh inside.
 * Backward-weights: dw[c,kh,kw] = sum_{n,oh,ow} dy[n,c,oh,ow] x[n,c,ih,iw]. For 3x3 and 5x5 all
 * 9 / 25 tap sums of a channel block stay in registers over an output row (one dy load feeds
 * KH*KW FMAs); other sizes take a dot product per tap. Each ith takes a fixed range of output
 * rows, sums an image at a time in float, flushes it into its private double buffer, and the
 * private buffers are added in ith order (deterministic for a thread count).
 *
 * Threads: forward over output rows (n, oh), backward-data over input rows (n, ih) (each dx row
 * is written by one ith), backward-weights over output rows with private sums. With stride 1
 * (OH == H) both backward passes run in one sweep, row rr's dx then row rr's weight sums, so dy
 * comes from memory once; a fresh dx (NASC_TENSOR_GRAD_FRESH) is stored, not zero-filled in a
 * pass of its own and added to. Neither changes a result bit. While a row runs,
 * the output row and newest input row two rows ahead are prefetched in software, spread over the
 * row's blocks (dw_pf): the hardware prefetchers left these kernels waiting on DRAM once the
 * tensors outgrow the caches (measured 2x at C=64, N=64).
 * The AVX-512 kernels are compiled with a target attribute and used when the CPU has AVX-512; the
 * portable ones do the same arithmetic in plain C loops over the 16 lanes. */
#include "cpu_int.h"

#include <string.h>

#if NASC_CPU_X86
#include <immintrin.h>
#endif

#define DW_LANES 16
#define DW_GRAIN 4096 /* output elements x taps per thread */
#define DW_MAXK 16    /* KH, KW limit */
#define DW_MAXS 4     /* horizontal stride limit (residue classes of bwd-data) */
#define DW_MAXR 64    /* rows of the padded row ring */
#define DW_BLK 16     /* largest output block (overrun of the row buffers) */

bool nasc_cpu_dw_ok(const nasc_cpu_conv *c) {
    return c->G == c->C && c->G == c->K && c->KH <= DW_MAXK && c->KW <= DW_MAXK &&
           c->sw <= DW_MAXS && (c->KH - 1) * c->dh + 1 + c->sh <= DW_MAXR;
}

/* ---- padded row ring ---- */

typedef struct dw_ring {
    float *buf;              /* R rows then one zero row, each Wp pixels of Cp floats */
    const float *src;        /* the tensor whose rows are cached: rows of Wsrc pixels x C */
    int R, Wp, pl, Wsrc, C, Cp;
    int64_t tag[DW_MAXR];    /* global row (n*rows + r) held by each slot, or -1 */
} dw_ring;

static size_t ring_floats(int R, int Wp, int Cp) { return (size_t)(R + 1) * Wp * Cp; }

static void ring_init(dw_ring *rg, float *mem, const float *src, int R, int Wp, int pl,
                      int Wsrc, int C, int Cp) {
    rg->buf = mem;
    rg->src = src;
    rg->R = R;
    rg->Wp = Wp;
    rg->pl = pl;
    rg->Wsrc = Wsrc;
    rg->C = C;
    rg->Cp = Cp;
    for (int i = 0; i < R; i++)
        rg->tag[i] = -1;
    memset(mem, 0, ring_floats(R, Wp, Cp) * sizeof(float));
}

/* Pixel 0, channel 0 of padded global row `key` (key < 0: the zero row). Reading from pixel -pl
 * to Wp-pl-1 is valid. */
static const float *ring_row(dw_ring *rg, int64_t key) {
    const size_t rowf = (size_t)rg->Wp * rg->Cp;
    if (key < 0)
        return rg->buf + (size_t)rg->R * rowf + (size_t)rg->pl * rg->Cp;
    const int slot = (int)(key % rg->R);
    float *dst = rg->buf + (size_t)slot * rowf + (size_t)rg->pl * rg->Cp;
    if (rg->tag[slot] != key) {
        const float *s = rg->src + (size_t)key * rg->Wsrc * rg->C;
        if (rg->C == rg->Cp) {
            memcpy(dst, s, (size_t)rg->Wsrc * rg->C * sizeof(float));
        } else {
            for (int px = 0; px < rg->Wsrc; px++)
                memcpy(dst + (size_t)px * rg->Cp, s + (size_t)px * rg->C,
                       (size_t)rg->C * sizeof(float));
        }
        rg->tag[slot] = key;
    }
    return dst;
}

/* ---- per-call plan ---- */

typedef struct dw_plan {
    nasc_cpu_conv c;
    int T, Cp;
    bool avx512;
    const float *x, *dy, *bias; /* bias: Cp padded copy or NULL */
    const float *wt, *wf;       /* [T][Cp]; wf flipped in kw (bwd-data, sw == 1) */
    float *y, *dx;
    bool store_dx;              /* dx is fresh (NASC_TENSOR_GRAD_FRESH): store, do not add */
    /* padded row geometry: forward / backward-weights read x rows, backward-data dy rows */
    int R, f_pl, f_Wp, b_pl, b_Wp;
    char *ring_mem;             /* nth rings */
    size_t ring_bytes;          /* per ith */
    /* backward-data with sw > 1, per residue res: the kw that reach it and their dy offsets */
    int bn[DW_MAXS], bkw[DW_MAXS][DW_MAXK], boff[DW_MAXS][DW_MAXK], bQ[DW_MAXS];
    /* backward-weights */
    float *facc;   /* nth * (T+1)*Cp floats: this image's sums (last row: bias) */
    double *priv;  /* nth * (T+1)*Cp doubles */
    bool want_dw, want_db;
} dw_plan;

static int round_up(int v, int m) { return (v + m - 1) / m * m; }

static void plan_init(dw_plan *p) {
    const nasc_cpu_conv *c = &p->c;
    p->R = (c->KH - 1) * c->dh + 1 + c->sh;
    /* forward: outputs q in [0, round_up(OW) + block overrun) read pixels q*sw - pw + kw*dw */
    const int fq_end = round_up(c->OW, 4) + DW_BLK;
    p->f_pl = c->pw;
    const int f_right = (fq_end - 1) * c->sw - c->pw + (c->KW - 1) * c->dw + 1;
    p->f_Wp = c->pw + (f_right > c->W ? f_right : c->W);
    /* backward-data over dy rows (OW pixels): sw == 1 reads dy pixels q - padb + kw'*dw with
     * padb = (KW-1)*dw - pw for q in [0, W + overrun); sw > 1 reads q + off over residues */
    if (c->sw == 1) {
        const int padb = (c->KW - 1) * c->dw - c->pw;
        p->b_pl = padb > 0 ? padb : 0;
        const int right = round_up(c->W, 4) + DW_BLK - 1 - padb + (c->KW - 1) * c->dw + 1;
        p->b_Wp = p->b_pl + (right > c->OW ? right : c->OW);
    } else {
        int lo = 0, hi = c->OW;
        for (int res = 0; res < c->sw; res++) {
            const int Q = res < c->W ? (c->W - res + c->sw - 1) / c->sw : 0;
            p->bQ[res] = Q;
            p->bn[res] = 0;
            for (int kw = 0; kw < c->KW; kw++) {
                const int vw = res + c->pw - kw * c->dw;
                if (((vw % c->sw) + c->sw) % c->sw != 0)
                    continue;
                const int i = p->bn[res]++;
                p->bkw[res][i] = kw;
                p->boff[res][i] = vw / c->sw; /* exact: ow = q + off */
                lo = p->boff[res][i] < lo ? p->boff[res][i] : lo;
                const int e = round_up(Q, 4) + DW_BLK + p->boff[res][i];
                hi = e > hi ? e : hi;
            }
        }
        p->b_pl = -lo;
        p->b_Wp = -lo + hi;
    }
}

/* ---- kernels ---- */

/* Prefetches the part [q0/Q, q1/Q) of each of the two ranges: a row's worth of prefetches spread
 * over the row's blocks. Bursts of a whole row at once did less (the miss buffers fill up);
 * spread over the row and two rows ahead, they took pooling at C=64, N=64 from 5.0 to 2.9 ms. */
static inline void dw_pf(const char *const *pf, const size_t *len, int q0, int q1, int Q) {
    for (int i = 0; i < 2; i++) {
        if (!pf[i])
            continue;
        /* (the two divisions also pace the prefetches: computing the bounds by multiplication
         * issued them in tighter bursts and measured 1.7x slower at C=64, N=64) */
        const size_t b0 = len[i] * (size_t)q0 / (size_t)Q, b1 = len[i] * (size_t)q1 / (size_t)Q;
        for (size_t b = b0 & ~(size_t)63; b < b1; b += 64)
            __builtin_prefetch(pf[i] + b, 0, 3);
    }
}

/* An output row for the per-tap kernels: out[q] (=|+=) init + sum_t in_t[q*istep] * w_t. */
typedef struct dw_row {
    float *out;             /* output of q = 0 at channel 0 */
    ptrdiff_t ostep, istep; /* floats between outputs / inputs of q and q+1 */
    int Q, T, C, Cp;
    const float *const *in; /* T input pointers at q = 0 (padded rows: any q < Q+DW_BLK valid) */
    const float *const *w;  /* T weight rows (Cp floats) */
    const float *init;      /* Cp values (bias) or NULL (zero); ignored if acc */
    bool acc;               /* out += (backward data) instead of out = */
    const char *pf[2];      /* rows to prefetch while this one runs (dw_pf), or NULL */
    size_t pf_len[2];       /* their bytes */
} dw_row;

static void gather_row_c(const dw_row *r) {
    for (int q = 0; q < r->Q; q++) {
        float *o = r->out + q * r->ostep;
        for (int cb = 0; cb < r->C; cb += DW_LANES) {
            const int cn = r->C - cb < DW_LANES ? r->C - cb : DW_LANES;
            float acc[DW_LANES];
            for (int l = 0; l < cn; l++)
                acc[l] = r->acc ? o[cb + l] : r->init ? r->init[cb + l] : 0.0f;
            for (int t = 0; t < r->T; t++) {
                const float *in = r->in[t] + (q * r->istep + cb);
                const float *w = r->w[t] + cb;
                for (int l = 0; l < cn; l++)
                    acc[l] += in[l] * w[l];
            }
            for (int l = 0; l < cn; l++)
                o[cb + l] = acc[l];
        }
    }
}

/* acc[c] += sum_{q < Q} a[q*astep + c] * b[q*bstep + c] for c < C (a: dy row, b: padded x). */
static void dot_row_c(float *acc, const float *a, ptrdiff_t astep, const float *b,
                      ptrdiff_t bstep, int Q, int C) {
    for (int q = 0; q < Q; q++)
        for (int c = 0; c < C; c++)
            acc[c] += a[q * astep + c] * b[q * bstep + c];
}

#if NASC_CPU_X86

static inline __mmask16 lane_mask(int C, int cb) {
    const int cn = C - cb < DW_LANES ? C - cb : DW_LANES;
    return (__mmask16)((1u << cn) - 1u);
}

/* Generic per-tap row: NB outputs at a time (8, 4, then 4 with masked stores). */
#define DEF_GATHER_BLOCK(NB)                                                                       \
    NASC_CPU_AVX512 static void gather_blk##NB(const dw_row *r, int q, int nq) {                  \
        for (int cb = 0; cb < r->C; cb += DW_LANES) {                                              \
            const __mmask16 m = lane_mask(r->C, cb);                                               \
            float *o = r->out + q * r->ostep + cb;                                                 \
            __m512 a[NB];                                                                          \
            _Pragma("GCC unroll 16") for (int i = 0; i < NB; i++) a[i] =                           \
                r->acc    ? _mm512_maskz_loadu_ps(i < nq ? m : 0, o + (i < nq ? i : 0) * r->ostep)                \
                : r->init ? _mm512_loadu_ps(r->init + cb)                                          \
                          : _mm512_setzero_ps();                                                   \
            for (int t = 0; t < r->T; t++) {                                                       \
                const __m512 wv = _mm512_loadu_ps(r->w[t] + cb);                                   \
                const float *p = r->in[t] + (q * r->istep + cb);                                   \
                _Pragma("GCC unroll 16") for (int i = 0; i < NB; i++) a[i] =                       \
                    _mm512_fmadd_ps(_mm512_loadu_ps(p + i * r->istep), wv, a[i]);                  \
            }                                                                                      \
            _Pragma("GCC unroll 16") for (int i = 0; i < NB; i++) if (i < nq)                      \
                _mm512_mask_storeu_ps(o + i * r->ostep, m, a[i]);                                  \
        }                                                                                          \
    }
DEF_GATHER_BLOCK(8)
DEF_GATHER_BLOCK(4)

NASC_CPU_AVX512
static void gather_row_avx512(const dw_row *r) {
    int q = 0;
    for (; q + 8 <= r->Q; q += 8) {
        dw_pf(r->pf, r->pf_len, q, q + 8, r->Q);
        gather_blk8(r, q, 8);
    }
    for (; q < r->Q; q += 4) {
        dw_pf(r->pf, r->pf_len, q, q + 4 < r->Q ? q + 4 : r->Q, r->Q);
        gather_blk4(r, q, r->Q - q < 4 ? r->Q - q : 4);
    }
}

/* Sliding-window rows: NB outputs of one output row, input pixel stride S, dilation D, kernel
 * width K, all constants. rows[r] / wk[r]: input row (at the pixel of output q = 0, tap kw = 0,
 * channel 0, padded) and the K weight rows of that kernel row (kw stride Cp). Each input vector
 * at position p (pixel q*S + p) is loaded once and feeds every (i, kw) with i*S + kw*D == p. */
typedef struct dw_slide {
    float *out;          /* output q = 0, channel 0 */
    ptrdiff_t ostep;     /* floats between outputs */
    int Q, C, Cp, nr;
    const float *const *rows;
    const float *const *wk;
    const float *init;
    bool acc;
    const char *pf[2];   /* rows to prefetch while this one runs (dw_pf), or NULL */
    size_t pf_len[2];
} dw_slide;

#define DEF_SLIDE(K, S, D, NB)                                                                     \
    NASC_CPU_AVX512 static void slide_##K##_##S##_##D##_##NB(const dw_slide *s, int q, int nq) {  \
        for (int cb = 0; cb < s->C; cb += DW_LANES) {                                              \
            const __mmask16 m = lane_mask(s->C, cb);                                               \
            float *o = s->out + q * s->ostep + cb;                                                 \
            __m512 a[NB];                                                                          \
            _Pragma("GCC unroll 16") for (int i = 0; i < NB; i++) a[i] =                           \
                s->acc    ? _mm512_maskz_loadu_ps(i < nq ? m : 0, o + (i < nq ? i : 0) * s->ostep)                \
                : s->init ? _mm512_loadu_ps(s->init + cb)                                          \
                          : _mm512_setzero_ps();                                                   \
            for (int r = 0; r < s->nr; r++) {                                                      \
                __m512 w[K];                                                                       \
                _Pragma("GCC unroll 8") for (int kw = 0; kw < K; kw++) w[kw] =                     \
                    _mm512_loadu_ps(s->wk[r] + (size_t)kw * s->Cp + cb);                           \
                const float *base = s->rows[r] + ((ptrdiff_t)q * S * s->Cp + cb);                  \
                _Pragma("GCC unroll 64") for (int p = 0; p <= (NB - 1) * S + (K - 1) * D; p++) {   \
                    const __m512 v = _mm512_loadu_ps(base + (ptrdiff_t)p * s->Cp);                 \
                    _Pragma("GCC unroll 8") for (int kw = 0; kw < K; kw++) {                       \
                        const int j = p - kw * D;                                                  \
                        if (j >= 0 && j % S == 0 && j / S < NB)                                    \
                            a[j / S] = _mm512_fmadd_ps(v, w[kw], a[j / S]);                        \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
            _Pragma("GCC unroll 16") for (int i = 0; i < NB; i++) if (i < nq)                      \
                _mm512_mask_storeu_ps(o + i * s->ostep, m, a[i]);                                  \
        }                                                                                          \
    }
#define DEF_SLIDES(K, S, D) DEF_SLIDE(K, S, D, 16) DEF_SLIDE(K, S, D, 8) DEF_SLIDE(K, S, D, 4)
DEF_SLIDES(3, 1, 1)
DEF_SLIDES(3, 1, 2)
DEF_SLIDES(3, 2, 1)
DEF_SLIDES(3, 2, 2)
DEF_SLIDES(5, 1, 1)
DEF_SLIDES(5, 1, 2)
DEF_SLIDES(5, 2, 1)
DEF_SLIDES(5, 2, 2)

typedef void (*slide_fn)(const dw_slide *s, int q, int nq);
typedef struct slide_set {
    slide_fn b16, b8, b4;
} slide_set;

#define SET(K, S, D) {slide_##K##_##S##_##D##_16, slide_##K##_##S##_##D##_8, slide_##K##_##S##_##D##_4}
static const slide_set slide_sets[2][2][2] = { /* [K==5][S-1][D-1] */
    {{SET(3, 1, 1), SET(3, 1, 2)}, {SET(3, 2, 1), SET(3, 2, 2)}},
    {{SET(5, 1, 1), SET(5, 1, 2)}, {SET(5, 2, 1), SET(5, 2, 2)}},
};
#undef SET

static const slide_set *slide_pick(int K, int S, int D) {
    if ((K != 3 && K != 5) || S < 1 || S > 2 || D < 1 || D > 2)
        return NULL;
    return &slide_sets[K == 5][S - 1][D - 1];
}

NASC_CPU_AVX512
static void slide_row_avx512(const slide_set *fs, const dw_slide *s) {
    int q = 0;
    for (; q + 16 <= s->Q; q += 16) {
        dw_pf(s->pf, s->pf_len, q, q + 16, s->Q);
        fs->b16(s, q, 16);
    }
    for (; q + 8 <= s->Q; q += 8) {
        dw_pf(s->pf, s->pf_len, q, q + 8, s->Q);
        fs->b8(s, q, 8);
    }
    for (; q < s->Q; q += 4) {
        dw_pf(s->pf, s->pf_len, q, q + 4 < s->Q ? q + 4 : s->Q, s->Q);
        fs->b4(s, q, s->Q - q < 4 ? s->Q - q : 4);
    }
}

/* acc[c] += sum_{q < Q} a[q*astep + c] * b[q*bstep + c] (dy row against a padded x row), two
 * partial sums per channel block for two FMA chains. */
NASC_CPU_AVX512
static void dot_row_avx512(float *acc, const float *a, ptrdiff_t astep, const float *b,
                           ptrdiff_t bstep, int Q, int C) {
    for (int cb = 0; cb < C; cb += DW_LANES) {
        const __mmask16 m = lane_mask(C, cb);
        __m512 s0 = _mm512_setzero_ps(), s1 = s0;
        int q = 0;
        for (; q + 2 <= Q; q += 2) {
            s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + q * astep + cb),
                                 _mm512_loadu_ps(b + q * bstep + cb), s0);
            s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + (q + 1) * astep + cb),
                                 _mm512_loadu_ps(b + (q + 1) * bstep + cb), s1);
        }
        if (q < Q)
            s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + q * astep + cb),
                                 _mm512_loadu_ps(b + q * bstep + cb), s0);
        _mm512_storeu_ps(acc + cb, _mm512_add_ps(_mm512_loadu_ps(acc + cb), _mm512_add_ps(s0, s1)));
    }
}

/* All KH*KW tap sums of one channel block over one output row with the accumulators in
 * registers: facc[t][cb..] += sum_q dy[q] * xr_kh[q*S + kw*D]. xr: the KH padded x rows at the
 * pixel of q = 0, kw = 0 (the zero row where outside the image). Generated for 3x3 and 5x5. */
#define DEF_WG_ROW(K)                                                                              \
    NASC_CPU_AVX512 static void wg_row_##K(float *facc, int Cp, const float *const *xr,           \
                                           const float *dyrow, int C, int cb, int sw, int dw,     \
                                           int OW, const char *const *pf, const size_t *pf_len) { \
        const __mmask16 m = lane_mask(C, cb);                                                      \
        __m512 a[K][K];                                                                            \
        _Pragma("GCC unroll 8") for (int i = 0; i < K; i++)                                        \
            _Pragma("GCC unroll 8") for (int j = 0; j < K; j++) a[i][j] = _mm512_setzero_ps();     \
        const ptrdiff_t xs = (ptrdiff_t)sw * Cp, xd = (ptrdiff_t)dw * Cp;                          \
        for (int q = 0; q < OW; q++) {                                                             \
            if (pf && (q & 7) == 0)                                                                \
                dw_pf(pf, pf_len, q, q + 8 < OW ? q + 8 : OW, OW);                                 \
            const __m512 d = _mm512_maskz_loadu_ps(m, dyrow + (ptrdiff_t)q * C + cb);              \
            _Pragma("GCC unroll 8") for (int i = 0; i < K; i++) {                                  \
                const float *xp = xr[i] + (q * xs + cb);                                           \
                _Pragma("GCC unroll 8") for (int j = 0; j < K; j++) a[i][j] =                      \
                    _mm512_fmadd_ps(d, _mm512_loadu_ps(xp + j * xd), a[i][j]);                     \
            }                                                                                      \
        }                                                                                          \
        _Pragma("GCC unroll 8") for (int i = 0; i < K; i++)                                        \
            _Pragma("GCC unroll 8") for (int j = 0; j < K; j++) {                                  \
            float *f = facc + (size_t)(i * K + j) * Cp + cb;                                       \
            _mm512_storeu_ps(f, _mm512_add_ps(_mm512_loadu_ps(f), a[i][j]));                       \
        }                                                                                          \
    }
DEF_WG_ROW(3)
DEF_WG_ROW(5)
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

/* A sliding-window row run as a per-tap row where no generated kernel fits (or no AVX-512). */
static void slide_as_gather(const dw_plan *a, const dw_slide *s, int K, int S, int D) {
    const float *in[DW_MAXK * DW_MAXK], *w[DW_MAXK * DW_MAXK];
    int T = 0;
    for (int r = 0; r < s->nr; r++)
        for (int kw = 0; kw < K; kw++) {
            in[T] = s->rows[r] + (ptrdiff_t)kw * D * s->Cp;
            w[T] = s->wk[r] + (size_t)kw * s->Cp;
            T++;
        }
    dw_row g = {.out = s->out, .ostep = s->ostep, .istep = (ptrdiff_t)S * s->Cp, .Q = s->Q,
                .T = T, .C = s->C, .Cp = s->Cp, .in = in, .w = w, .init = s->init,
                .acc = s->acc};
    gather_row(a->avx512, &g);
}

static void slide_row(const dw_plan *a, const dw_slide *s, int K, int S, int D) {
#if NASC_CPU_X86
    const slide_set *fs = a->avx512 ? slide_pick(K, S, D) : NULL;
    if (fs) {
        slide_row_avx512(fs, s);
        return;
    }
#endif
    slide_as_gather(a, s, K, S, D);
}

/* ---- drivers ---- */

/* The row two rows ahead of rr in the output (n*rows + r indexing) and the newest input row it
 * reads, as prefetch ranges (bytes); NULL where there is none. */
static void pf_ahead(const float *out, size_t out_row_floats, const float *in, size_t in_row_floats,
                     int64_t in_row, size_t rr, size_t r1, const char **pf, size_t *len) {
    pf[0] = pf[1] = NULL;
    len[0] = len[1] = 0;
    if (rr + 2 >= r1)
        return;
    pf[0] = (const char *)(out + (rr + 2) * out_row_floats);
    len[0] = out_row_floats * sizeof(float);
    if (in_row >= 0) {
        pf[1] = (const char *)(in + (size_t)in_row * in_row_floats);
        len[1] = in_row_floats * sizeof(float);
    }
}

static void dw_fwd_task(void *arg, int ith, int nth) {
    const dw_plan *a = arg;
    const nasc_cpu_conv *c = &a->c;
    dw_ring rg;
    ring_init(&rg, (float *)(a->ring_mem + (size_t)ith * a->ring_bytes), a->x, a->R, a->f_Wp,
              a->f_pl, c->W, c->C, a->Cp);
    const float *rows[DW_MAXK], *wk[DW_MAXK];
    size_t r0, r1;
    nasc_cpu_range((size_t)c->N * c->OH, ith, nth, &r0, &r1);
    for (size_t rr = r0; rr < r1; rr++) {
        const int n = (int)(rr / (size_t)c->OH), oh = (int)(rr % (size_t)c->OH);
        int nr = 0;
        for (int kh = 0; kh < c->KH; kh++) {
            const int ih = oh * c->sh - c->ph + kh * c->dh;
            if (ih < 0 || ih >= c->H)
                continue;
            rows[nr] = ring_row(&rg, (int64_t)n * c->H + ih) - (ptrdiff_t)c->pw * a->Cp;
            wk[nr] = a->wt + (size_t)kh * c->KW * a->Cp;
            nr++;
        }
        dw_slide s = {.out = a->y + (size_t)rr * c->OW * c->C, .ostep = c->C, .Q = c->OW,
                      .C = c->C, .Cp = a->Cp, .nr = nr, .rows = rows, .wk = wk, .init = a->bias,
                      .acc = false};
        {
            const int ohn = (int)((rr + 2) % (size_t)c->OH), nn = (int)((rr + 2) / (size_t)c->OH);
            const int ih = ohn * c->sh - c->ph + (c->KH - 1) * c->dh;
            pf_ahead(a->y, (size_t)c->OW * c->C, a->x, (size_t)c->W * c->C,
                     ih >= 0 && ih < c->H ? (int64_t)nn * c->H + ih : -1, rr, r1, s.pf, s.pf_len);
        }
        slide_row(a, &s, c->KW, c->sw, c->dw);
    }
}

/* Backward-data of input row rr (n*H + ih) of the range ending at r1; rg caches dy rows. */
static void dw_bwd_data_row(const dw_plan *a, dw_ring *rgp, size_t rr, size_t r1) {
    const nasc_cpu_conv *c = &a->c;
    dw_ring *const rg = rgp;
    {
        const int n = (int)(rr / (size_t)c->H), ih = (int)(rr % (size_t)c->H);
        const float *dyr[DW_MAXK];
        int khs[DW_MAXK], nr = 0;
        for (int kh = 0; kh < c->KH; kh++) {
            const int vh = ih + c->ph - kh * c->dh;
            if (vh < 0 || vh % c->sh != 0 || vh / c->sh >= c->OH)
                continue;
            dyr[nr] = ring_row(rg, (int64_t)n * c->OH + vh / c->sh);
            khs[nr++] = kh;
        }
        float *dxrow = a->dx + (size_t)rr * c->W * c->C;
        if (nr == 0 || (a->store_dx && c->sw > 1)) { /* a fresh row no tap (or residue) covers */
            if (a->store_dx)
                memset(dxrow, 0, (size_t)c->W * c->C * sizeof(float));
            if (nr == 0)
                return;
        }
        const char *pf[2];
        size_t pf_len[2];
        {
            const int ihn = (int)((rr + 2) % (size_t)c->H), nn = (int)((rr + 2) / (size_t)c->H);
            int ohn = (ihn + c->ph) / c->sh;
            ohn = ohn < c->OH ? ohn : c->OH - 1;
            pf_ahead(a->dx, (size_t)c->W * c->C, a->dy, (size_t)c->OW * c->C,
                     (int64_t)nn * c->OH + ohn, rr, r1, pf, pf_len);
        }
        if (c->sw == 1) {
            /* forward with the kernel flipped in kw: dx[iw] += sum_kw' dy[iw - padb + kw'*dw]
             * wf[kw'], padb = (KW-1)*dw - pw */
            const int padb = (c->KW - 1) * c->dw - c->pw;
            const float *rows[DW_MAXK], *wk[DW_MAXK];
            for (int i = 0; i < nr; i++) {
                rows[i] = dyr[i] - (ptrdiff_t)padb * a->Cp;
                wk[i] = a->wf + (size_t)khs[i] * c->KW * a->Cp;
            }
            dw_slide s = {.out = dxrow, .ostep = c->C, .Q = c->W, .C = c->C, .Cp = a->Cp,
                          .nr = nr, .rows = rows, .wk = wk, .acc = !a->store_dx,
                          .pf = {pf[0], pf[1]}, .pf_len = {pf_len[0], pf_len[1]}};
            slide_row(a, &s, c->KW, 1, c->dw);
            return;
        }
        for (int res = 0; res < c->sw && res < c->W; res++) {
            const float *in[DW_MAXK * DW_MAXK], *w[DW_MAXK * DW_MAXK];
            int T = 0;
            for (int i = 0; i < nr; i++)
                for (int j = 0; j < a->bn[res]; j++) {
                    in[T] = dyr[i] + (ptrdiff_t)a->boff[res][j] * a->Cp;
                    w[T] = a->wt + (size_t)(khs[i] * c->KW + a->bkw[res][j]) * a->Cp;
                    T++;
                }
            if (T == 0)
                continue;
            dw_row g = {.out = dxrow + (size_t)res * c->C, .ostep = (ptrdiff_t)c->sw * c->C,
                        .istep = a->Cp, .Q = a->bQ[res], .T = T, .C = c->C, .Cp = a->Cp,
                        .in = in, .w = w, .acc = true};
            if (res == 0) {
                g.pf[0] = pf[0];
                g.pf[1] = pf[1];
                g.pf_len[0] = pf_len[0];
                g.pf_len[1] = pf_len[1];
            }
            gather_row(a->avx512, &g);
        }
    }
}

static void dw_bwd_data_task(void *arg, int ith, int nth) {
    const dw_plan *a = arg;
    const nasc_cpu_conv *c = &a->c;
    dw_ring rg;
    ring_init(&rg, (float *)(a->ring_mem + (size_t)ith * a->ring_bytes), a->dy, a->R, a->b_Wp,
              a->b_pl, c->OW, c->C, a->Cp);
    size_t r0, r1;
    nasc_cpu_range((size_t)c->N * c->H, ith, nth, &r0, &r1);
    for (size_t rr = r0; rr < r1; rr++)
        dw_bwd_data_row(a, &rg, rr, r1);
}

static void dw_flush(const dw_plan *a, float *facc, double *priv) {
    const size_t n = (size_t)(a->T + 1) * a->Cp;
    for (size_t i = 0; i < n; i++) {
        priv[i] += (double)facc[i];
        facc[i] = 0.0f;
    }
}

/* Backward-weights of output row rr (n*OH + oh) of the range ending at r1 into this ith's float
 * sums facc (flushed into priv when the image changes; *cur_n: the image now summed); rg caches
 * x rows. */
static void dw_bwd_weights_row(const dw_plan *a, dw_ring *rgp, float *facc, double *priv,
                               int *cur_n, size_t rr, size_t r1) {
    const nasc_cpu_conv *c = &a->c;
    dw_ring *const rg = rgp;
    {
        const int n = (int)(rr / (size_t)c->OH), oh = (int)(rr % (size_t)c->OH);
        if (n != *cur_n) { /* an image done: move its float sums into the double buffer */
            dw_flush(a, facc, priv);
            *cur_n = n;
        }
        const float *dyrow = a->dy + (size_t)rr * c->OW * c->C;
        const char *pf[2];
        size_t pf_len[2];
        {
            const int ohn = (int)((rr + 2) % (size_t)c->OH), nn = (int)((rr + 2) / (size_t)c->OH);
            const int ih = ohn * c->sh - c->ph + (c->KH - 1) * c->dh;
            pf_ahead(a->dy, (size_t)c->OW * c->C, a->x, (size_t)c->W * c->C,
                     ih >= 0 && ih < c->H ? (int64_t)nn * c->H + ih : -1, rr, r1, pf, pf_len);
        }
        if (a->want_db) {
            float *ab = facc + (size_t)a->T * a->Cp;
            for (int ow = 0; ow < c->OW; ow++)
                for (int ch = 0; ch < c->C; ch++)
                    ab[ch] += dyrow[(size_t)ow * c->C + ch];
        }
        if (!a->want_dw)
            return;
        const float *xr[DW_MAXK];
        for (int kh = 0; kh < c->KH; kh++) {
            const int ih = oh * c->sh - c->ph + kh * c->dh;
            const int64_t key = ih >= 0 && ih < c->H ? (int64_t)n * c->H + ih : -1;
            xr[kh] = ring_row(rg, key) - (ptrdiff_t)c->pw * a->Cp;
        }
#if NASC_CPU_X86
        if (a->avx512 && c->KH == c->KW && (c->KH == 3 || c->KH == 5)) {
            for (int cb = 0; cb < c->C; cb += DW_LANES) {
                const char *const *p = cb == 0 ? pf : NULL;
                if (c->KH == 3)
                    wg_row_3(facc, a->Cp, xr, dyrow, c->C, cb, c->sw, c->dw, c->OW, p, pf_len);
                else
                    wg_row_5(facc, a->Cp, xr, dyrow, c->C, cb, c->sw, c->dw, c->OW, p, pf_len);
            }
            return;
        }
#endif
        for (int kh = 0; kh < c->KH; kh++) {
            if (oh * c->sh - c->ph + kh * c->dh < 0 || oh * c->sh - c->ph + kh * c->dh >= c->H)
                continue;
            for (int kw = 0; kw < c->KW; kw++) {
                float *f = facc + (size_t)(kh * c->KW + kw) * a->Cp;
                const float *xp = xr[kh] + (ptrdiff_t)kw * c->dw * a->Cp;
#if NASC_CPU_X86
                if (a->avx512) {
                    dot_row_avx512(f, dyrow, c->C, xp, (ptrdiff_t)c->sw * a->Cp, c->OW, c->C);
                    continue;
                }
#endif
                dot_row_c(f, dyrow, c->C, xp, (ptrdiff_t)c->sw * a->Cp, c->OW, c->C);
            }
        }
    }
}

/* This ith's weight-gradient sums, zeroed; the image of row r0 is the one summed first. */
static void wsums_init(const dw_plan *a, int ith, size_t r0, size_t r1, float **facc,
                       double **priv, int *cur_n) {
    const size_t per = (size_t)(a->T + 1) * a->Cp;
    *facc = a->facc + (size_t)ith * per;
    *priv = a->priv + (size_t)ith * per;
    memset(*facc, 0, per * sizeof **facc);
    memset(*priv, 0, per * sizeof **priv);
    *cur_n = r0 < r1 ? (int)(r0 / (size_t)a->c.OH) : 0;
}

static void dw_bwd_weights_task(void *arg, int ith, int nth) {
    const dw_plan *a = arg;
    const nasc_cpu_conv *c = &a->c;
    dw_ring rg;
    ring_init(&rg, (float *)(a->ring_mem + (size_t)ith * a->ring_bytes), a->x, a->R, a->f_Wp,
              a->f_pl, c->W, c->C, a->Cp);
    size_t r0, r1;
    nasc_cpu_range((size_t)c->N * c->OH, ith, nth, &r0, &r1);
    float *facc;
    double *priv;
    int cur_n;
    wsums_init(a, ith, r0, r1, &facc, &priv, &cur_n);
    for (size_t rr = r0; rr < r1; rr++)
        dw_bwd_weights_row(a, &rg, facc, priv, &cur_n, rr, r1);
    dw_flush(a, facc, priv);
}

/* Both passes in one sweep over the rows (stride 1, OH == H): row rr's dx, then row rr's weight
 * sums, so that the dy rows the weights read were just read by the data pass (one pass over dy
 * from memory instead of two). Each ith has two rings (dy rows, x rows). The rows each ith takes
 * and the order of every sum are those of the two separate passes: the results are the same
 * bits. */
static void dw_bwd_fused_task(void *arg, int ith, int nth) {
    const dw_plan *a = arg;
    const nasc_cpu_conv *c = &a->c;
    dw_ring rd, rx;
    char *mem = a->ring_mem + (size_t)ith * 2 * a->ring_bytes;
    ring_init(&rd, (float *)mem, a->dy, a->R, a->b_Wp, a->b_pl, c->OW, c->C, a->Cp);
    ring_init(&rx, (float *)(mem + a->ring_bytes), a->x, a->R, a->f_Wp, a->f_pl, c->W, c->C,
              a->Cp);
    size_t r0, r1;
    nasc_cpu_range((size_t)c->N * c->H, ith, nth, &r0, &r1);
    float *facc;
    double *priv;
    int cur_n;
    wsums_init(a, ith, r0, r1, &facc, &priv, &cur_n);
    for (size_t rr = r0; rr < r1; rr++) {
        dw_bwd_data_row(a, &rd, rr, r1);
        dw_bwd_weights_row(a, &rx, facc, priv, &cur_n, rr, r1);
    }
    dw_flush(a, facc, priv);
}

/* wt[t][c] = w[c][t] (zero padded to Cp); with flip, kw mirrored: wt[kh][kw] = w[kh][KW-1-kw]. */
static void transpose_w(const float *w, float *wt, int C, int KH, int KW, int Cp, bool flip) {
    const int T = KH * KW;
    for (int kh = 0; kh < KH; kh++)
        for (int kw = 0; kw < KW; kw++) {
            const int t = kh * KW + kw, src = kh * KW + (flip ? KW - 1 - kw : kw);
            for (int ch = 0; ch < C; ch++)
                wt[(size_t)t * Cp + ch] = w[(size_t)ch * T + src];
            for (int ch = C; ch < Cp; ch++)
                wt[(size_t)t * Cp + ch] = 0.0f;
        }
}

nasc_status nasc_cpu_dwconv_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    const nasc_tensor *x = node->src[0], *w = node->src[1], *b = node->src[2];
    dw_plan a = {.c = nasc_cpu_conv_geom(node), .avx512 = nasc_cpu_ctx_of(be)->avx512,
                 .x = x->data, .y = node->data};
    a.T = a.c.KH * a.c.KW;
    a.Cp = (a.c.C + DW_LANES - 1) / DW_LANES * DW_LANES;
    plan_init(&a);
    const int nth = nasc_cpu_nth(be, nasc_n(node) * (size_t)a.T, DW_GRAIN * 16);
    const size_t wt_b = nasc_cpu_align64((size_t)a.T * a.Cp * sizeof(float));
    const size_t b_b = nasc_cpu_align64((size_t)a.Cp * sizeof(float));
    a.ring_bytes = nasc_cpu_align64(ring_floats(a.R, a.f_Wp, a.Cp) * sizeof(float));
    char *ws = nasc_cpu_scratch(be, g, wt_b + b_b + (size_t)nth * a.ring_bytes);
    if (!ws)
        return nasc_graph_status(g);
    float *wt = (float *)ws;
    transpose_w(w->data, wt, a.c.C, a.c.KH, a.c.KW, a.Cp, false);
    a.wt = wt;
    if (b) {
        float *bp = (float *)(ws + wt_b);
        memcpy(bp, b->data, (size_t)a.c.C * sizeof(float));
        for (int ch = a.c.C; ch < a.Cp; ch++)
            bp[ch] = 0.0f;
        a.bias = bp;
    }
    a.ring_mem = ws + wt_b + b_b;
    nasc_cpu_run(nth, dw_fwd_task, &a);
    return NASC_OK;
}

nasc_status nasc_cpu_dwconv_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    return nasc_cpu_dwconv_bwd_ex(be, g, node, true);
}

nasc_status nasc_cpu_dwconv_bwd_ex(nasc_backend *be, nasc_graph *g, nasc_tensor *node,
                                   bool weights) {
    nasc_tensor *x = node->src[0], *w = node->src[1], *b = node->src[2];
    dw_plan a = {.c = nasc_cpu_conv_geom(node), .avx512 = nasc_cpu_ctx_of(be)->avx512,
                 .x = x->data, .dy = node->grad, .dx = x->grad};
    a.T = a.c.KH * a.c.KW;
    a.Cp = (a.c.C + DW_LANES - 1) / DW_LANES * DW_LANES;
    a.want_dw = weights && w->grad != NULL;
    a.want_db = weights && b && b->grad;
    /* a fresh dx is stored row by row instead of zero-filled in a pass of its own and added to */
    a.store_dx = x->grad && nasc_cpu_take_fresh(x);
    nasc_backend_zero_fresh_grads(node); /* w / b (when fresh) */
    plan_init(&a);
    const int nth = nasc_cpu_nth(be, nasc_n(node) * (size_t)a.T, DW_GRAIN * 16);
    const size_t per = (size_t)(a.T + 1) * a.Cp;
    const size_t wt_b = nasc_cpu_align64((size_t)a.T * a.Cp * sizeof(float));
    const size_t fr = ring_floats(a.R, a.f_Wp, a.Cp), br = ring_floats(a.R, a.b_Wp, a.Cp);
    a.ring_bytes = nasc_cpu_align64((fr > br ? fr : br) * sizeof(float));
    const size_t facc_b = nasc_cpu_align64((size_t)nth * per * sizeof(float));
    const size_t priv_b = (size_t)nth * per * sizeof(double);
    const bool red = a.want_dw || a.want_db;
    const bool fused = x->grad && red && a.c.sh == 1 && a.c.sw == 1 && a.c.OH == a.c.H;
    const size_t rings_b = (size_t)nth * a.ring_bytes * (fused ? 2 : 1);
    char *ws = nasc_cpu_scratch(be, g, 2 * wt_b + rings_b + (red ? facc_b + priv_b : 0));
    if (!ws)
        return nasc_graph_status(g);
    float *wt = (float *)ws, *wf = (float *)(ws + wt_b);
    transpose_w(w->data, wt, a.c.C, a.c.KH, a.c.KW, a.Cp, false);
    transpose_w(w->data, wf, a.c.C, a.c.KH, a.c.KW, a.Cp, true);
    a.wt = wt;
    a.wf = wf;
    a.ring_mem = ws + 2 * wt_b;
    a.facc = red ? (float *)(ws + 2 * wt_b + rings_b) : NULL;
    a.priv = red ? (double *)(ws + 2 * wt_b + rings_b + facc_b) : NULL;
    if (fused)
        nasc_cpu_run(nth, dw_bwd_fused_task, &a);
    else if (x->grad)
        nasc_cpu_run(nth, dw_bwd_data_task, &a);
    if (!red)
        return NASC_OK;
    if (!fused)
        nasc_cpu_run(nth, dw_bwd_weights_task, &a);
    for (int t = 0; t <= a.T; t++) {
        if ((t < a.T && !a.want_dw) || (t == a.T && !a.want_db))
            continue;
        for (int ch = 0; ch < a.c.C; ch++) {
            double s = 0.0;
            for (int i = 0; i < nth; i++)
                s += a.priv[(size_t)i * per + (size_t)t * a.Cp + ch];
            if (t < a.T)
                w->grad[(size_t)ch * a.T + t] += (float)s;
            else
                b->grad[ch] += (float)s;
        }
    }
    return NASC_OK;
}
