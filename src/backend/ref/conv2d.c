/* ref/conv2d.c — direct convolution, the definition itself.
 *
 * x: (N,C,H,W) NHWC, w: (K,C/G,KH,KW) stored [K][KH][KW][C/G], b: (1,K,1,1), y: (N,K,OH,OW).
 * y[n,k,oh,ow] = b[k] + sum_{kh,kw,cg} x[n, g*Cg+cg, oh*sh-ph+kh*dh, ow*sw-pw+kw*dw] * w[k,cg,kh,kw]
 * with g = k / (K/G), Cg = C/G; out-of-range input positions are zero padding.
 * Accumulation in double, loop order kh, kw, cg. Backward scatters the same products. */
#include "ref_int.h"

typedef struct conv_geom {
    int N, C, H, W, K, OH, OW, KH, KW, G, Cg, Kg;
    int sh, sw, ph, pw, dh, dw;
} conv_geom;

static conv_geom geom(const nasc_tensor *node) {
    const nasc_tensor *x = node->src[0], *w = node->src[1];
    const nasc_conv2d_params *p = &node->params.conv;
    conv_geom c = {
        .N = x->ne[0], .C = x->ne[1], .H = x->ne[2], .W = x->ne[3],
        .K = w->ne[0], .OH = node->ne[2], .OW = node->ne[3], .KH = w->ne[2], .KW = w->ne[3],
        .G = p->groups, .sh = p->stride[0], .sw = p->stride[1], .ph = p->pad[0], .pw = p->pad[1],
        .dh = p->dil[0], .dw = p->dil[1],
    };
    c.Cg = c.C / c.G;
    c.Kg = c.K / c.G;
    return c;
}

nasc_status nasc_ref_conv2d_fwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    const nasc_tensor *x = node->src[0], *w = node->src[1], *b = node->src[2];
    const conv_geom c = geom(node);
    for (int n = 0; n < c.N; n++)
        for (int oh = 0; oh < c.OH; oh++)
            for (int ow = 0; ow < c.OW; ow++)
                for (int k = 0; k < c.K; k++) {
                    const int g = k / c.Kg;
                    double acc = b ? b->data[k] : 0.0;
                    for (int kh = 0; kh < c.KH; kh++) {
                        const int ih = oh * c.sh - c.ph + kh * c.dh;
                        if (ih < 0 || ih >= c.H)
                            continue;
                        for (int kw = 0; kw < c.KW; kw++) {
                            const int iw = ow * c.sw - c.pw + kw * c.dw;
                            if (iw < 0 || iw >= c.W)
                                continue;
                            for (int cg = 0; cg < c.Cg; cg++)
                                acc += (double)x->data[nasc_tensor_offset(x, n, g * c.Cg + cg, ih, iw)] *
                                       w->data[nasc_tensor_offset(w, k, cg, kh, kw)];
                        }
                    }
                    node->data[nasc_tensor_offset(node, n, k, oh, ow)] = (float)acc;
                }
    return NASC_OK;
}

nasc_status nasc_ref_conv2d_bwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    nasc_tensor *x = node->src[0], *w = node->src[1], *b = node->src[2];
    const conv_geom c = geom(node);
    /* Gradients are summed in double buffers, then added to the float grads once. */
    double *dx = NULL, *dw = NULL;
    if (x->grad) {
        dx = nasc_graph_alloc(gr, nasc_n(x) * sizeof(double));
        if (!dx)
            return nasc_graph_status(gr);
        for (size_t i = 0; i < nasc_n(x); i++)
            dx[i] = 0.0;
    }
    if (w->grad) {
        dw = nasc_graph_alloc(gr, nasc_n(w) * sizeof(double));
        if (!dw)
            return nasc_graph_status(gr);
        for (size_t i = 0; i < nasc_n(w); i++)
            dw[i] = 0.0;
    }
    for (int n = 0; n < c.N; n++)
        for (int oh = 0; oh < c.OH; oh++)
            for (int ow = 0; ow < c.OW; ow++)
                for (int k = 0; k < c.K; k++) {
                    const int g = k / c.Kg;
                    const double dy = node->grad[nasc_tensor_offset(node, n, k, oh, ow)];
                    for (int kh = 0; kh < c.KH; kh++) {
                        const int ih = oh * c.sh - c.ph + kh * c.dh;
                        if (ih < 0 || ih >= c.H)
                            continue;
                        for (int kw = 0; kw < c.KW; kw++) {
                            const int iw = ow * c.sw - c.pw + kw * c.dw;
                            if (iw < 0 || iw >= c.W)
                                continue;
                            for (int cg = 0; cg < c.Cg; cg++) {
                                const int64_t xo = nasc_tensor_offset(x, n, g * c.Cg + cg, ih, iw);
                                const int64_t wo = nasc_tensor_offset(w, k, cg, kh, kw);
                                if (dx)
                                    dx[xo] += dy * w->data[wo];
                                if (dw)
                                    dw[wo] += dy * x->data[xo];
                            }
                        }
                    }
                }
    if (dx)
        for (size_t i = 0; i < nasc_n(x); i++)
            x->grad[i] += (float)dx[i];
    if (dw)
        for (size_t i = 0; i < nasc_n(w); i++)
            w->grad[i] += (float)dw[i];
    if (b && b->grad) {
        for (int k = 0; k < c.K; k++) {
            double s = 0.0;
            for (int n = 0; n < c.N; n++)
                for (int oh = 0; oh < c.OH; oh++)
                    for (int ow = 0; ow < c.OW; ow++)
                        s += node->grad[nasc_tensor_offset(node, n, k, oh, ow)];
            b->grad[k] += (float)s;
        }
    }
    return NASC_OK;
}
