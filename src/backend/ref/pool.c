/* ref/pool.c — max, average and global average pooling.
 * x: (N,C,H,W) NHWC, y: (N,C,OH,OW). Window of y[n,c,oh,ow]: rows oh*sh-ph .. +KH-1, columns
 * ow*sw-pw .. +KW-1. Max pooling ignores padding and keeps the first maximum in row-major window
 * order (its argmax is saved for backward). Average pooling divides by KH*KW when
 * count_include_pad, else by the number of cells inside the input. */
#include "ref_int.h"

#include <math.h>

nasc_status nasc_ref_maxpool2d_fwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    const nasc_tensor *x = node->src[0];
    const nasc_pool2d_params *p = &node->params.pool;
    const int N = x->ne[0], C = x->ne[1], H = x->ne[2], W = x->ne[3];
    const int OH = node->ne[2], OW = node->ne[3];
    int32_t *arg = NULL;
    if (node->flags & NASC_TENSOR_REQUIRES_GRAD) {
        arg = nasc_graph_alloc(gr, nasc_n(node) * sizeof *arg);
        if (!arg)
            return nasc_graph_status(gr);
        node->saved = arg;
    }
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    float best = -INFINITY;
                    int64_t best_at = -1;
                    for (int kh = 0; kh < p->k[0]; kh++) {
                        const int ih = oh * p->stride[0] - p->pad[0] + kh;
                        if (ih < 0 || ih >= H)
                            continue;
                        for (int kw = 0; kw < p->k[1]; kw++) {
                            const int iw = ow * p->stride[1] - p->pad[1] + kw;
                            if (iw < 0 || iw >= W)
                                continue;
                            const int64_t o = nasc_tensor_offset(x, n, c, ih, iw);
                            if (best_at < 0 || x->data[o] > best || isnan(x->data[o])) {
                                best = x->data[o];
                                best_at = o;
                            }
                        }
                    }
                    const int64_t yo = nasc_tensor_offset(node, n, c, oh, ow);
                    node->data[yo] = best;
                    if (arg)
                        arg[yo] = (int32_t)best_at;
                }
    return NASC_OK;
}

nasc_status nasc_ref_maxpool2d_bwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    nasc_tensor *x = node->src[0];
    const int32_t *arg = node->saved;
    if (!x->grad)
        return NASC_OK;
    for (size_t i = 0; i < nasc_n(node); i++)
        if (arg[i] >= 0)
            x->grad[arg[i]] += node->grad[i];
    return NASC_OK;
}

/* Divisor of the average-pool window at (oh, ow). */
static int avg_div(const nasc_pool2d_params *p, int H, int W, int oh, int ow) {
    if (p->count_include_pad)
        return p->k[0] * p->k[1];
    int h0 = oh * p->stride[0] - p->pad[0], w0 = ow * p->stride[1] - p->pad[1];
    int h1 = h0 + p->k[0], w1 = w0 + p->k[1];
    if (h0 < 0) h0 = 0;
    if (w0 < 0) w0 = 0;
    if (h1 > H) h1 = H;
    if (w1 > W) w1 = W;
    return (h1 - h0) * (w1 - w0);
}

nasc_status nasc_ref_avgpool2d_fwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    const nasc_tensor *x = node->src[0];
    const nasc_pool2d_params *p = &node->params.pool;
    const int N = x->ne[0], C = x->ne[1], H = x->ne[2], W = x->ne[3];
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int oh = 0; oh < node->ne[2]; oh++)
                for (int ow = 0; ow < node->ne[3]; ow++) {
                    double s = 0.0;
                    for (int kh = 0; kh < p->k[0]; kh++) {
                        const int ih = oh * p->stride[0] - p->pad[0] + kh;
                        if (ih < 0 || ih >= H)
                            continue;
                        for (int kw = 0; kw < p->k[1]; kw++) {
                            const int iw = ow * p->stride[1] - p->pad[1] + kw;
                            if (iw >= 0 && iw < W)
                                s += x->data[nasc_tensor_offset(x, n, c, ih, iw)];
                        }
                    }
                    node->data[nasc_tensor_offset(node, n, c, oh, ow)] =
                        (float)(s / avg_div(p, H, W, oh, ow));
                }
    return NASC_OK;
}

nasc_status nasc_ref_avgpool2d_bwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    nasc_tensor *x = node->src[0];
    if (!x->grad)
        return NASC_OK;
    const nasc_pool2d_params *p = &node->params.pool;
    const int N = x->ne[0], C = x->ne[1], H = x->ne[2], W = x->ne[3];
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int oh = 0; oh < node->ne[2]; oh++)
                for (int ow = 0; ow < node->ne[3]; ow++) {
                    const float d = node->grad[nasc_tensor_offset(node, n, c, oh, ow)] /
                                    (float)avg_div(p, H, W, oh, ow);
                    for (int kh = 0; kh < p->k[0]; kh++) {
                        const int ih = oh * p->stride[0] - p->pad[0] + kh;
                        if (ih < 0 || ih >= H)
                            continue;
                        for (int kw = 0; kw < p->k[1]; kw++) {
                            const int iw = ow * p->stride[1] - p->pad[1] + kw;
                            if (iw >= 0 && iw < W)
                                x->grad[nasc_tensor_offset(x, n, c, ih, iw)] += d;
                        }
                    }
                }
    return NASC_OK;
}

nasc_status nasc_ref_global_avgpool_fwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    const nasc_tensor *x = node->src[0];
    const int N = x->ne[0], C = x->ne[1], H = x->ne[2], W = x->ne[3];
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            double s = 0.0;
            for (int h = 0; h < H; h++)
                for (int w = 0; w < W; w++)
                    s += x->data[nasc_tensor_offset(x, n, c, h, w)];
            node->data[(size_t)n * C + c] = (float)(s / ((double)H * W));
        }
    return NASC_OK;
}

nasc_status nasc_ref_global_avgpool_bwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    nasc_tensor *x = node->src[0];
    if (!x->grad)
        return NASC_OK;
    const int N = x->ne[0], C = x->ne[1], H = x->ne[2], W = x->ne[3];
    const float inv = 1.0f / (float)(H * W);
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            const float d = node->grad[(size_t)n * C + c] * inv;
            for (int h = 0; h < H; h++)
                for (int w = 0; w < W; w++)
                    x->grad[nasc_tensor_offset(x, n, c, h, w)] += d;
        }
    return NASC_OK;
}
