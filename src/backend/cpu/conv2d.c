/* cpu/conv2d.c — conv2d: path choice, the 1x1 GEMM path and the im2col + sgemm path.
 *
 * x (N,C,H,W) NHWC, w (K,C/G,KH,KW) stored [K][KH][KW][Cg], b (1,K,1,1), y (N,K,OH,OW); P = pixels.
 *
 * Paths (docs/ARCH.md (Layout) has the measurements behind the choice, bench/kernels the commands):
 *   DW    depthwise (G == C == K): own NHWC kernels (dwconv.c), AVX-512 or portable;
 *   1X1   1x1, stride 1, no padding, G == 1: in NHWC the input already is the GEMM operand
 *         x[N*H*W][C], so y[P][K] = x[P][C] w[K][C]^T with no im2col at all;
 *   DNNL  oneDNN primitives on the nhwc tensors (dnnl.c), for dense and grouped convolutions;
 *   GEMM  im2col + OpenBLAS sgemm per image and group: the fallback without oneDNN;
 *   REF   the reference loops (only when forced).
 * The path is picked in forward and saved on the node, so backward uses the same one.
 *
 * Threads: the 1X1 path splits the P rows of the GEMMs; the GEMM path splits images. Weight and
 * bias gradients are sums over P: each ith sums its rows / images into a private buffer, and the
 * buffers are added in ith order. OpenBLAS runs one thread per call (cpu.c). */
#include "cpu_int.h"

#include "../ref/ref_int.h"

#include <string.h>

#define CONV_GRAIN (1u << 18) /* multiply-adds per thread below which one thread is used */

nasc_cpu_conv nasc_cpu_conv_geom(const nasc_tensor *node) {
    const nasc_tensor *x = node->src[0], *w = node->src[1];
    const nasc_conv2d_params *p = &node->params.conv;
    nasc_cpu_conv c = {
        .N = x->ne[0], .C = x->ne[1], .H = x->ne[2], .W = x->ne[3],
        .K = w->ne[0], .OH = node->ne[2], .OW = node->ne[3], .KH = w->ne[2], .KW = w->ne[3],
        .G = p->groups, .sh = p->stride[0], .sw = p->stride[1], .ph = p->pad[0], .pw = p->pad[1],
        .dh = p->dil[0], .dw = p->dil[1],
    };
    c.Cg = c.C / c.G;
    c.Kg = c.K / c.G;
    return c;
}

static bool is_depthwise(const nasc_cpu_conv *c) { return nasc_cpu_dw_ok(c); }

static bool is_1x1(const nasc_cpu_conv *c) {
    return c->KH == 1 && c->KW == 1 && c->sh == 1 && c->sw == 1 && c->ph == 0 && c->pw == 0 &&
           c->G == 1;
}

const char *nasc_cpu_conv_path_name(enum nasc_cpu_conv_path p) {
    switch (p) {
    case NASC_CPU_CONV_AUTO: return "auto";
    case NASC_CPU_CONV_DW: return "dw";
    case NASC_CPU_CONV_1X1: return "1x1";
    case NASC_CPU_CONV_GEMM: return "gemm";
    case NASC_CPU_CONV_DNNL: return "dnnl";
    case NASC_CPU_CONV_REF: return "ref";
    case NASC_CPU_CONV_DW_DNNL: return "dw+dnnl";
    }
    return "?";
}

static bool dw_hybrid(const nasc_cpu_conv *c);

enum nasc_cpu_conv_path nasc_cpu_conv_path(const nasc_backend *be, const nasc_tensor *node) {
    const nasc_cpu_ctx *ctx = nasc_cpu_ctx_of(be);
    const nasc_cpu_conv c = nasc_cpu_conv_geom(node);
    switch (ctx->conv_force) {
    case NASC_CPU_CONV_DW:
        if (is_depthwise(&c))
            return NASC_CPU_CONV_DW;
        break;
    case NASC_CPU_CONV_1X1:
        if (is_1x1(&c))
            return NASC_CPU_CONV_1X1;
        break;
    case NASC_CPU_CONV_DNNL:
        if (ctx->dnnl)
            return NASC_CPU_CONV_DNNL;
        break;
    case NASC_CPU_CONV_GEMM:
    case NASC_CPU_CONV_REF:
        return (enum nasc_cpu_conv_path)ctx->conv_force;
    default:
        break;
    }
    if (is_depthwise(&c))
        return ctx->dnnl && dw_hybrid(&c) ? NASC_CPU_CONV_DW_DNNL : NASC_CPU_CONV_DW;
    if (is_1x1(&c))
        return NASC_CPU_CONV_1X1;
    return ctx->dnnl ? NASC_CPU_CONV_DNNL : NASC_CPU_CONV_GEMM;
}

/* The hybrid depthwise path, by measurement (docs/ARCH.md (Layout)): with C = K = 16 NHWC is
 * oneDNN's blocked nChw16c, whose jit kernels beat ours for the undilated forward (3x3: 0.11 vs
 * 0.21 ms, 5x5 0.26 vs 0.32, N=64 28x28, 1 thread) and the undilated 3x3 weight gradient (0.09 vs
 * 0.15 ms), while its backward-data (plus the pass that adds its result into dx) and every dilated
 * or 5x5 weight gradient (a reference kernel: 100-500 ms) lose to ours. */
static bool dw_hybrid(const nasc_cpu_conv *c) {
    return c->C == 16 && c->K == 16 && c->dh == 1 && c->dw == 1 && c->KH == c->KW &&
           (c->KH == 3 || c->KH == 5) && c->sh == c->sw && c->sh <= 2;
}

/* ---- 1x1 path: plain GEMMs over the pixel rows ---- */

typedef struct c11_args {
    nasc_cpu_conv c;
    const float *x, *w, *b, *dy;
    float *y, *dx;
    float *pw;  /* nth private [K][C] weight-gradient buffers */
    double *pb; /* nth private [K] bias-gradient buffers */
    int part;   /* 0 fwd, 1 bwd */
} c11_args;

static void c11_task(void *arg, int ith, int nth) {
    const c11_args *a = arg;
    const int C = a->c.C, K = a->c.K;
    size_t p0, p1;
    nasc_cpu_range((size_t)a->c.N * a->c.OH * a->c.OW, ith, nth, &p0, &p1);
    const int m = (int)(p1 - p0);
    if (a->part == 0) {
        float *y = a->y + p0 * (size_t)K;
        nasc_cpu_sgemm(false, true, m, K, C, 1.0f, a->x + p0 * (size_t)C, C, a->w, C, 0.0f, y, K);
        if (a->b)
            for (int i = 0; i < m; i++)
                for (int k = 0; k < K; k++)
                    y[(size_t)i * K + k] += a->b[k];
        return;
    }
    const float *dy = a->dy + p0 * (size_t)K;
    if (a->dx)
        nasc_cpu_sgemm(false, false, m, C, K, 1.0f, dy, K, a->w, C, 1.0f, a->dx + p0 * (size_t)C,
                       C);
    if (a->pw) {
        float *pw = a->pw + (size_t)ith * K * C;
        if (m > 0)
            nasc_cpu_sgemm(true, false, K, C, m, 1.0f, dy, K, a->x + p0 * (size_t)C, C, 0.0f, pw,
                           C);
        else
            memset(pw, 0, (size_t)K * C * sizeof *pw);
    }
    if (a->pb) {
        double *pb = a->pb + (size_t)ith * K;
        for (int k = 0; k < K; k++)
            pb[k] = 0.0;
        for (int i = 0; i < m; i++)
            for (int k = 0; k < K; k++)
                pb[k] += (double)dy[(size_t)i * K + k];
    }
}

static nasc_status conv1x1_fwd(nasc_backend *be, nasc_tensor *node) {
    c11_args a = {.c = nasc_cpu_conv_geom(node), .x = node->src[0]->data,
                  .w = node->src[1]->data, .b = node->src[2] ? node->src[2]->data : NULL,
                  .y = node->data};
    const size_t work = nasc_n(node) * (size_t)a.c.C;
    nasc_cpu_run(nasc_cpu_nth(be, work, CONV_GRAIN), c11_task, &a);
    return NASC_OK;
}

/* Sums nth private float buffers [n] in ith order and adds them to dst. */
static void add_priv_f(float *dst, const float *priv, int nth, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float s = priv[i];
        for (int t = 1; t < nth; t++)
            s += priv[(size_t)t * n + i];
        dst[i] += s;
    }
}

static void add_priv_d(float *dst, const double *priv, int nth, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double s = 0.0;
        for (int t = 0; t < nth; t++)
            s += priv[(size_t)t * n + i];
        dst[i] += (float)s;
    }
}

static nasc_status conv1x1_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    nasc_tensor *x = node->src[0], *w = node->src[1], *b = node->src[2];
    c11_args a = {.c = nasc_cpu_conv_geom(node), .x = x->data, .w = w->data, .dy = node->grad,
                  .dx = x->grad, .part = 1};
    const size_t work = nasc_n(node) * (size_t)a.c.C;
    const int nth = nasc_cpu_nth(be, work, CONV_GRAIN);
    const size_t pw_b = w->grad ? nasc_cpu_align64((size_t)nth * nasc_n(w) * sizeof(float)) : 0;
    const size_t pb_b = b && b->grad ? (size_t)nth * (size_t)a.c.K * sizeof(double) : 0;
    char *ws = nasc_cpu_scratch(be, g, pw_b + pb_b);
    if (!ws)
        return nasc_graph_status(g);
    a.pw = pw_b ? (float *)ws : NULL;
    a.pb = pb_b ? (double *)(ws + pw_b) : NULL;
    nasc_cpu_run(nth, c11_task, &a);
    if (a.pw)
        add_priv_f(w->grad, a.pw, nth, nasc_n(w));
    if (a.pb)
        add_priv_d(b->grad, a.pb, nth, (size_t)a.c.K);
    return NASC_OK;
}

/* ---- im2col + sgemm path ---- */

typedef struct gemm_args {
    nasc_cpu_conv c;
    const float *x, *w, *b, *dy;
    float *y, *dx, *dw;
    char *ws;          /* per-ith workspace: col | dcol, ws_per bytes each ith */
    size_t ws_per;
    float *pw;         /* nth private weight-gradient buffers (nasc_n(w) each) */
    double *pb;        /* nth private bias-gradient buffers (K each) */
    bool bwd;
} gemm_args;

/* col[p][kh][kw][cg] = x[n, ih, iw, g*Cg + cg] (0 outside): P x KH*KW*Cg. */
static void im2col(const nasc_cpu_conv *c, const float *xn, int g, float *col) {
    const size_t kkc = (size_t)c->KH * c->KW * c->Cg;
    for (int oh = 0; oh < c->OH; oh++)
        for (int ow = 0; ow < c->OW; ow++) {
            float *dst = col + ((size_t)oh * c->OW + ow) * kkc;
            for (int kh = 0; kh < c->KH; kh++) {
                const int ih = oh * c->sh - c->ph + kh * c->dh;
                for (int kw = 0; kw < c->KW; kw++, dst += c->Cg) {
                    const int iw = ow * c->sw - c->pw + kw * c->dw;
                    if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W)
                        memset(dst, 0, (size_t)c->Cg * sizeof(float));
                    else
                        memcpy(dst, xn + ((size_t)ih * c->W + iw) * c->C + (size_t)g * c->Cg,
                               (size_t)c->Cg * sizeof(float));
                }
            }
        }
}

/* dx[n, ih, iw, g*Cg + cg] += dcol[p][kh][kw][cg]. */
static void col2im(const nasc_cpu_conv *c, const float *dcol, int g, float *dxn) {
    const size_t kkc = (size_t)c->KH * c->KW * c->Cg;
    for (int oh = 0; oh < c->OH; oh++)
        for (int ow = 0; ow < c->OW; ow++) {
            const float *src = dcol + ((size_t)oh * c->OW + ow) * kkc;
            for (int kh = 0; kh < c->KH; kh++) {
                const int ih = oh * c->sh - c->ph + kh * c->dh;
                for (int kw = 0; kw < c->KW; kw++, src += c->Cg) {
                    const int iw = ow * c->sw - c->pw + kw * c->dw;
                    if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W)
                        continue;
                    float *d = dxn + ((size_t)ih * c->W + iw) * c->C + (size_t)g * c->Cg;
                    for (int cg = 0; cg < c->Cg; cg++)
                        d[cg] += src[cg];
                }
            }
        }
}

static void gemm_task(void *arg, int ith, int nth) {
    const gemm_args *a = arg;
    const nasc_cpu_conv *c = &a->c;
    const int P = c->OH * c->OW, kkc = c->KH * c->KW * c->Cg;
    /* a 1x1 stride-1 unpadded kernel reads x in place: column block g of x[P][C] */
    const bool direct = c->KH == 1 && c->KW == 1 && c->sh == 1 && c->sw == 1 && c->ph == 0 &&
                        c->pw == 0;
    float *col = (float *)(a->ws + (size_t)ith * a->ws_per);
    float *dcol = col + (size_t)P * kkc;
    float *pw = a->pw ? a->pw + (size_t)ith * c->K * kkc : NULL;
    double *pb = a->pb ? a->pb + (size_t)ith * c->K : NULL;
    if (pw)
        memset(pw, 0, (size_t)c->K * kkc * sizeof *pw);
    if (pb)
        for (int k = 0; k < c->K; k++)
            pb[k] = 0.0;
    size_t n0, n1;
    nasc_cpu_range((size_t)c->N, ith, nth, &n0, &n1);
    for (size_t n = n0; n < n1; n++) {
        const float *xn = a->x + n * (size_t)c->H * c->W * c->C;
        for (int g = 0; g < c->G; g++) {
            const float *wg = a->w + (size_t)g * c->Kg * kkc;
            const float *A = direct ? xn + (size_t)g * c->Cg : col;
            const int lda = direct ? c->C : kkc;
            if (!a->bwd) {
                if (!direct)
                    im2col(c, xn, g, col);
                float *yn = a->y + n * (size_t)P * c->K + (size_t)g * c->Kg;
                nasc_cpu_sgemm(false, true, P, c->Kg, kkc, 1.0f, A, lda, wg, kkc, 0.0f, yn, c->K);
                continue;
            }
            const float *dyn = a->dy + n * (size_t)P * c->K + (size_t)g * c->Kg;
            if (a->dx) {
                float *dxn = a->dx + n * (size_t)c->H * c->W * c->C;
                if (direct) {
                    nasc_cpu_sgemm(false, false, P, kkc, c->Kg, 1.0f, dyn, c->K, wg, kkc, 1.0f,
                                   dxn + (size_t)g * c->Cg, c->C);
                } else {
                    nasc_cpu_sgemm(false, false, P, kkc, c->Kg, 1.0f, dyn, c->K, wg, kkc, 0.0f,
                                   dcol, kkc);
                    col2im(c, dcol, g, dxn);
                }
            }
            if (pw) {
                if (!direct)
                    im2col(c, xn, g, col);
                nasc_cpu_sgemm(true, false, c->Kg, kkc, P, 1.0f, dyn, c->K, A, lda, 1.0f,
                               pw + (size_t)g * c->Kg * kkc, kkc);
            }
        }
        if (!a->bwd && a->b) {
            float *yn = a->y + n * (size_t)P * c->K;
            for (int p = 0; p < P; p++)
                for (int k = 0; k < c->K; k++)
                    yn[(size_t)p * c->K + k] += a->b[k];
        }
        if (pb) {
            const float *dyn = a->dy + n * (size_t)P * c->K;
            for (int p = 0; p < P; p++)
                for (int k = 0; k < c->K; k++)
                    pb[k] += (double)dyn[(size_t)p * c->K + k];
        }
    }
}

static nasc_status conv_gemm(nasc_backend *be, nasc_graph *g, nasc_tensor *node, bool bwd) {
    nasc_tensor *x = node->src[0], *w = node->src[1], *b = node->src[2];
    gemm_args a = {.c = nasc_cpu_conv_geom(node), .x = x->data, .w = w->data,
                   .b = b ? b->data : NULL, .y = node->data, .dy = node->grad, .bwd = bwd};
    const nasc_cpu_conv *c = &a.c;
    const size_t P = (size_t)c->OH * c->OW, kkc = (size_t)c->KH * c->KW * c->Cg;
    const size_t work = nasc_n(node) * kkc;
    int nth = nasc_cpu_nth(be, work, CONV_GRAIN);
    nth = nth > c->N ? c->N : nth;
    if (bwd) {
        a.dx = x->grad;
        if (!a.dx && !w->grad && !(b && b->grad))
            return NASC_OK;
    }
    a.ws_per = nasc_cpu_align64(P * kkc * sizeof(float) * (bwd ? 2 : 1));
    const size_t pw_b = bwd && w->grad ? nasc_cpu_align64((size_t)nth * nasc_n(w) * sizeof(float))
                                       : 0;
    const size_t pb_b = bwd && b && b->grad ? (size_t)nth * (size_t)c->K * sizeof(double) : 0;
    char *ws = nasc_cpu_scratch(be, g, (size_t)nth * a.ws_per + pw_b + pb_b);
    if (!ws)
        return nasc_graph_status(g);
    a.ws = ws;
    a.pw = pw_b ? (float *)(ws + (size_t)nth * a.ws_per) : NULL;
    a.pb = pb_b ? (double *)(ws + (size_t)nth * a.ws_per + pw_b) : NULL;
    nasc_cpu_run(nth, gemm_task, &a);
    if (a.pw)
        add_priv_f(w->grad, a.pw, nth, nasc_n(w));
    if (a.pb)
        add_priv_d(b->grad, a.pb, nth, (size_t)c->K);
    return NASC_OK;
}

/* ---- dispatch ---- */

/* oneDNN always runs on every thread; for small problems (the supernet's batch-1 probes, 7x7
 * cells) the wake-up costs more than the work, and our kernels drop to one thread by themselves
 * (nasc_cpu_nth). Measured under load: oneDNN calls on 784 pixels took a median 12 ms. */
static bool dnnl_worth(const nasc_backend *be, const nasc_tensor *node) {
    const nasc_cpu_conv c = nasc_cpu_conv_geom(node);
    const size_t macs = nasc_n(node) * (size_t)c.Cg * (size_t)c.KH * (size_t)c.KW;
    return nasc_cpu_nth(be, macs, CONV_GRAIN) >= be->n_threads;
}

/* Whether every pass the node needs runs on a oneDNN jit kernel (checked and cached once per
 * shape); oneDNN's reference kernels are 100-1000x slower than the GEMM path. */
static bool dnnl_all_jit(nasc_backend *be, nasc_graph *g, const nasc_tensor *node) {
    if (!nasc_cpu_dnnl_jit(be, g, node, 0))
        return false;
    if (!(node->flags & NASC_TENSOR_REQUIRES_GRAD))
        return true;
    return nasc_cpu_dnnl_jit(be, g, node, 1) && nasc_cpu_dnnl_jit(be, g, node, 2);
}

nasc_status nasc_cpu_conv2d_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    enum nasc_cpu_conv_path path = nasc_cpu_conv_path(be, node);
    const bool auto_path = nasc_cpu_ctx_of(be)->conv_force == NASC_CPU_CONV_AUTO;
    if (path == NASC_CPU_CONV_DNNL && auto_path &&
        (!dnnl_worth(be, node) || !dnnl_all_jit(be, g, node))) {
        if (nasc_graph_status(g) != NASC_OK)
            return nasc_graph_status(g);
        path = NASC_CPU_CONV_GEMM;
    }
    if (path == NASC_CPU_CONV_DW_DNNL && !dnnl_worth(be, node))
        path = NASC_CPU_CONV_DW;
    if (node->flags & NASC_TENSOR_REQUIRES_GRAD) {
        int *saved = nasc_graph_alloc(g, sizeof *saved);
        if (!saved)
            return nasc_graph_status(g);
        *saved = (int)path;
        node->saved = saved;
    }
    switch (path) {
    case NASC_CPU_CONV_DW_DNNL:
        if (nasc_cpu_dnnl_jit(be, g, node, 0))
            return nasc_cpu_dnnl_conv_fwd(be, g, node);
        if (nasc_graph_status(g) != NASC_OK)
            return nasc_graph_status(g);
        return nasc_cpu_dwconv_fwd(be, g, node);
    case NASC_CPU_CONV_DW: return nasc_cpu_dwconv_fwd(be, g, node);
    case NASC_CPU_CONV_1X1: {
        /* C = K = 16: oneDNN's blocked forward measured 0.125 against our 0.16 ms (N=64 28x28,
         * 1 thread); the backward stays ours (equal time, and it accumulates in place) */
        const nasc_cpu_conv c = nasc_cpu_conv_geom(node);
        if (c.C == 16 && c.K == 16 && auto_path && dnnl_worth(be, node) &&
            nasc_cpu_dnnl_jit(be, g, node, 0))
            return nasc_cpu_dnnl_conv_fwd(be, g, node);
        if (nasc_graph_status(g) != NASC_OK)
            return nasc_graph_status(g);
        return nasc_cpu_conv1x1_avx512_ok(be, node) ? nasc_cpu_conv1x1_avx512_fwd(be, g, node)
                                                    : conv1x1_fwd(be, node);
    }
    case NASC_CPU_CONV_DNNL: return nasc_cpu_dnnl_conv_fwd(be, g, node);
    case NASC_CPU_CONV_REF: return nasc_ref_conv2d_fwd(be, g, node);
    default: return conv_gemm(be, g, node, false);
    }
}

nasc_status nasc_cpu_conv2d_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    const enum nasc_cpu_conv_path path =
        node->saved ? (enum nasc_cpu_conv_path) * (const int *)node->saved
                    : nasc_cpu_conv_path(be, node);
    /* strided unpadded 1x1 (factorized reduce): the 1x1 kernel's strided backward, 5-10x
     * faster than oneDNN's or im2col's here (conv1x1.c) */
    const nasc_cpu_conv c = nasc_cpu_conv_geom(node);
    if (nasc_cpu_ctx_of(be)->conv_force == NASC_CPU_CONV_AUTO && c.KH == 1 && c.KW == 1 &&
        c.ph == 0 && c.pw == 0 && c.G == 1 && (c.sh > 1 || c.sw > 1) &&
        nasc_cpu_conv1x1_avx512_ok(be, node))
        return nasc_cpu_conv1x1_avx512_bwd(be, g, node);
    /* the 1x1 AVX-512 and the depthwise kernels store into a fresh dx; the rest add into zeros */
    if (path != NASC_CPU_CONV_1X1 && path != NASC_CPU_CONV_DW && path != NASC_CPU_CONV_DW_DNNL)
        nasc_backend_zero_fresh_grads(node);
    switch (path) {
    case NASC_CPU_CONV_DW_DNNL: {
        const bool dnnl_w = c.KH == 3 && (node->src[1]->grad || (node->src[2] &&
                                                                 node->src[2]->grad)) &&
                            nasc_cpu_dnnl_jit(be, g, node, 2);
        if (nasc_graph_status(g) != NASC_OK)
            return nasc_graph_status(g);
        nasc_status st = nasc_cpu_dwconv_bwd_ex(be, g, node, !dnnl_w);
        if (st == NASC_OK && dnnl_w)
            st = nasc_cpu_dnnl_conv_bwd_part(be, g, node, false, true);
        return st;
    }
    case NASC_CPU_CONV_DW: return nasc_cpu_dwconv_bwd(be, g, node);
    case NASC_CPU_CONV_1X1:
        if (nasc_cpu_conv1x1_avx512_ok(be, node))
            return nasc_cpu_conv1x1_avx512_bwd(be, g, node); /* stores into a fresh dx */
        nasc_backend_zero_fresh_grads(node);
        return conv1x1_bwd(be, g, node);
    case NASC_CPU_CONV_DNNL: return nasc_cpu_dnnl_conv_bwd(be, g, node);
    case NASC_CPU_CONV_REF: return nasc_ref_conv2d_bwd(be, g, node);
    default: return conv_gemm(be, g, node, true);
    }
}
