/* cpu/pool.c — max, average and global average pooling, vectorised over C (NHWC).
 *
 * x (N,C,H,W), y (N,C,OH,OW). Window of y[n,:,oh,ow]: rows oh*sh-ph .. +KH-1, cols ow*sw-pw .. +KW-1,
 * cells outside the input skipped. Semantics as ref/pool.c: max pooling keeps the first maximum in
 * row-major window order (a NaN wins) and saves its x offset (int32 per output element) for
 * backward; average pooling divides by KH*KW (count_include_pad) or by the valid cell count.
 *
 * Loop order: output pixel, window cell (kh, kw), channel innermost (one contiguous row of C).
 * Threads split the (n, oh) output rows in forward. Backward scatters into dx, and windows of
 * neighbouring rows overlap, so it splits by image n instead (windows never cross images); within
 * an image the adds run in ref's order. Global average pooling: per image, C running sums. */
#include "cpu_int.h"

#include <math.h>
#include <string.h>

#define POOL_GRAIN 8192 /* output elements per thread */

typedef struct pool_args {
    nasc_tensor *node;
    int32_t *arg; /* max pool: saved argmax, or NULL */
    bool bwd;
} pool_args;

static int avg_div(const nasc_pool2d_params *p, int H, int W, int oh, int ow) {
    if (p->count_include_pad)
        return p->k[0] * p->k[1];
    int h0 = oh * p->stride[0] - p->pad[0], w0 = ow * p->stride[1] - p->pad[1];
    int h1 = h0 + p->k[0], w1 = w0 + p->k[1];
    h0 = h0 < 0 ? 0 : h0;
    w0 = w0 < 0 ? 0 : w0;
    h1 = h1 > H ? H : h1;
    w1 = w1 > W ? W : w1;
    return (h1 - h0) * (w1 - w0);
}

NASC_CPU_CLONES
static void maxpool_fwd_task(void *varg, int ith, int nth) {
    const pool_args *a = varg;
    nasc_tensor *node = a->node;
    const nasc_tensor *x = node->src[0];
    const nasc_pool2d_params *p = &node->params.pool;
    const int C = x->ne[1], H = x->ne[2], W = x->ne[3], OH = node->ne[2], OW = node->ne[3];
    size_t r0, r1;
    nasc_cpu_range((size_t)node->ne[0] * OH, ith, nth, &r0, &r1);
    for (size_t r = r0; r < r1; r++) {
        const int n = (int)(r / (size_t)OH), oh = (int)(r % (size_t)OH);
        for (int ow = 0; ow < OW; ow++) {
            const size_t yo = (size_t)nasc_tensor_offset(node, n, 0, oh, ow);
            float *restrict y = node->data + yo;
            int32_t *restrict am = a->arg ? a->arg + yo : NULL;
            bool first = true;
            for (int kh = 0; kh < p->k[0]; kh++) {
                const int ih = oh * p->stride[0] - p->pad[0] + kh;
                if (ih < 0 || ih >= H)
                    continue;
                for (int kw = 0; kw < p->k[1]; kw++) {
                    const int iw = ow * p->stride[1] - p->pad[1] + kw;
                    if (iw < 0 || iw >= W)
                        continue;
                    const size_t xo = (size_t)nasc_tensor_offset(x, n, 0, ih, iw);
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

nasc_status nasc_cpu_maxpool2d_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    pool_args a = {.node = node};
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
    for (size_t r = r0; r < r1; r++) {
        const int n = (int)(r / (size_t)OH), oh = (int)(r % (size_t)OH);
        for (int ow = 0; ow < OW; ow++) {
            const size_t yo = (size_t)nasc_tensor_offset(node, n, 0, oh, ow);
            const float rdiv = 1.0f / (float)avg_div(p, H, W, oh, ow);
            if (!a->bwd) {
                float *restrict y = node->data + yo;
                memset(y, 0, (size_t)C * sizeof(float));
                for (int kh = 0; kh < p->k[0]; kh++) {
                    const int ih = oh * p->stride[0] - p->pad[0] + kh;
                    if (ih < 0 || ih >= H)
                        continue;
                    for (int kw = 0; kw < p->k[1]; kw++) {
                        const int iw = ow * p->stride[1] - p->pad[1] + kw;
                        if (iw < 0 || iw >= W)
                            continue;
                        const float *restrict xv = x->data + nasc_tensor_offset(x, n, 0, ih, iw);
                        for (int c = 0; c < C; c++)
                            y[c] += xv[c];
                    }
                }
                for (int c = 0; c < C; c++)
                    y[c] *= rdiv;
            } else {
                const float *restrict dy = node->grad + yo;
                for (int kh = 0; kh < p->k[0]; kh++) {
                    const int ih = oh * p->stride[0] - p->pad[0] + kh;
                    if (ih < 0 || ih >= H)
                        continue;
                    for (int kw = 0; kw < p->k[1]; kw++) {
                        const int iw = ow * p->stride[1] - p->pad[1] + kw;
                        if (iw < 0 || iw >= W)
                            continue;
                        float *restrict dx = x->grad + nasc_tensor_offset(x, n, 0, ih, iw);
                        for (int c = 0; c < C; c++)
                            dx[c] += dy[c] * rdiv;
                    }
                }
            }
        }
    }
}

nasc_status nasc_cpu_avgpool2d_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    pool_args a = {.node = node};
    nasc_cpu_run(nasc_cpu_nth(be, nasc_n(node), POOL_GRAIN), avgpool_task, &a);
    return NASC_OK;
}

nasc_status nasc_cpu_avgpool2d_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    if (!node->src[0]->grad)
        return NASC_OK;
    pool_args a = {.node = node, .bwd = true};
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
