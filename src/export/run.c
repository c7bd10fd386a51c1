/* run.c — the export graph's reference interpreter and its memory plan (export.h).
 *
 * Plain loops over one image at a time, NCHW, float accumulators in a fixed order; it is what
 * the exported formats are checked against when nasc's own forward is not at hand, and it is
 * obviously the graph's meaning: every op is a few lines. */
#include "nasc/export.h"

#include "nasc/arena.h"

#include <math.h>
#include <string.h>

static size_t numel(nasc_export_shape s) { return (size_t)s.c * s.h * s.w; }

/* x (C,H,W), w (K,C/G,KH,KW), b (K) -> y (K,OH,OW) */
static void run_conv(const nasc_export_node *nd, nasc_export_shape xs, const float *x,
                     nasc_export_shape ys, float *y) {
    const nasc_conv2d_params *p = &nd->conv;
    const int K = ys.c, G = p->groups, Cg = nd->w_shape[1], Kg = K / G;
    const int KH = nd->w_shape[2], KW = nd->w_shape[3];
    for (int k = 0; k < K; k++) {
        const int g = k / Kg;
        for (int oh = 0; oh < ys.h; oh++)
            for (int ow = 0; ow < ys.w; ow++) {
                float acc = nd->b[k];
                for (int c = 0; c < Cg; c++)
                    for (int i = 0; i < KH; i++) {
                        const int ih = oh * p->stride[0] - p->pad[0] + i * p->dil[0];
                        if (ih < 0 || ih >= xs.h)
                            continue;
                        for (int j = 0; j < KW; j++) {
                            const int iw = ow * p->stride[1] - p->pad[1] + j * p->dil[1];
                            if (iw < 0 || iw >= xs.w)
                                continue;
                            acc += nd->w[((k * Cg + c) * KH + i) * KW + j] *
                                   x[((size_t)(g * Cg + c) * xs.h + ih) * xs.w + iw];
                        }
                    }
                y[((size_t)k * ys.h + oh) * ys.w + ow] = acc;
            }
    }
}

static void run_pool(const nasc_export_node *nd, nasc_export_shape xs, const float *x,
                     nasc_export_shape ys, float *y) {
    const nasc_pool2d_params *p = &nd->pool;
    const bool is_max = nd->op == NASC_EXPORT_OP_MAXPOOL;
    for (int c = 0; c < ys.c; c++)
        for (int oh = 0; oh < ys.h; oh++)
            for (int ow = 0; ow < ys.w; ow++) {
                float acc = is_max ? -INFINITY : 0.0f;
                int cnt = 0;
                for (int i = 0; i < p->k[0]; i++) {
                    const int ih = oh * p->stride[0] - p->pad[0] + i;
                    if (ih < 0 || ih >= xs.h)
                        continue;
                    for (int j = 0; j < p->k[1]; j++) {
                        const int iw = ow * p->stride[1] - p->pad[1] + j;
                        if (iw < 0 || iw >= xs.w)
                            continue;
                        const float v = x[((size_t)c * xs.h + ih) * xs.w + iw];
                        if (is_max)
                            acc = v > acc ? v : acc;
                        else
                            acc += v;
                        cnt++;
                    }
                }
                if (!is_max)
                    acc /= (float)(p->count_include_pad ? p->k[0] * p->k[1] : cnt);
                y[((size_t)c * ys.h + oh) * ys.w + ow] = acc;
            }
}

static void run_node(const nasc_export_graph *xg, const nasc_export_node *nd, float *const *v) {
    const nasc_export_shape xs = xg->shape[nd->in[0]], ys = xg->shape[nd->out];
    const float *x = v[nd->in[0]];
    float *y = v[nd->out];
    const size_t n = numel(ys), hw = (size_t)ys.h * ys.w;
    switch (nd->op) {
    case NASC_EXPORT_OP_CONV:
        run_conv(nd, xs, x, ys, y);
        break;
    case NASC_EXPORT_OP_AFFINE:
        for (size_t i = 0; i < n; i++)
            y[i] = x[i] * nd->w[i / hw] + nd->b[i / hw];
        break;
    case NASC_EXPORT_OP_RELU:
        for (size_t i = 0; i < n; i++)
            y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    case NASC_EXPORT_OP_SIGMOID:
        for (size_t i = 0; i < n; i++)
            y[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    case NASC_EXPORT_OP_TANH:
        for (size_t i = 0; i < n; i++)
            y[i] = tanhf(x[i]);
        break;
    case NASC_EXPORT_OP_ADD:
        for (size_t i = 0; i < n; i++)
            y[i] = x[i] + v[nd->in[1]][i];
        break;
    case NASC_EXPORT_OP_SCALE:
        for (size_t i = 0; i < n; i++)
            y[i] = nd->scalar * x[i];
        break;
    case NASC_EXPORT_OP_MAXPOOL:
    case NASC_EXPORT_OP_AVGPOOL:
        run_pool(nd, xs, x, ys, y);
        break;
    case NASC_EXPORT_OP_GAP: {
        const size_t xhw = (size_t)xs.h * xs.w;
        for (int c = 0; c < xs.c; c++) {
            float acc = 0.0f;
            for (size_t i = 0; i < xhw; i++)
                acc += x[c * xhw + i];
            y[c] = acc / (float)xhw;
        }
        break;
    }
    case NASC_EXPORT_OP_CONCAT: {
        size_t off = 0;
        for (int k = 0; k < nd->n_in; k++) {
            const size_t len = numel(xg->shape[nd->in[k]]);
            memcpy(y + off, v[nd->in[k]], len * sizeof *y);
            off += len;
        }
        break;
    }
    case NASC_EXPORT_OP_SLICE: {
        const nasc_slice_params *p = &nd->slice;
        for (int c = 0; c < ys.c; c++)
            for (int i = 0; i < ys.h; i++)
                for (int j = 0; j < ys.w; j++)
                    y[((size_t)c * ys.h + i) * ys.w + j] =
                        x[((size_t)(p->c0 + c) * xs.h + p->h0 + i * p->sh) * xs.w + p->w0 +
                          j * p->sw];
        break;
    }
    case NASC_EXPORT_OP_LINEAR: {
        const int F = nd->w_shape[1];
        for (int k = 0; k < ys.c; k++) {
            float acc = nd->b[k];
            for (int f = 0; f < F; f++)
                acc += nd->w[(size_t)k * F + f] * x[f];
            y[k] = acc;
        }
        break;
    }
    case NASC_EXPORT_OP_SHUFFLE: {
        const int G = nd->groups, Cg = xs.c / G;
        for (int g = 0; g < G; g++)
            for (int i = 0; i < Cg; i++) /* out channel i*G + g = in channel g*Cg + i */
                memcpy(y + (size_t)(i * G + g) * hw, x + (size_t)(g * Cg + i) * hw,
                       hw * sizeof *y);
        break;
    }
    default:
        NASC_ASSERT(!"unknown export op");
    }
}

nasc_status nasc_export_graph_run(const nasc_export_graph *xg, int n, const float *pixels,
                                  float *logits, nasc_err *err) {
    float **v = nasc_calloc((size_t)xg->n_values, sizeof *v);
    nasc_status st = NASC_OK;
    if (!v)
        return nasc_errorf(err, NASC_ERR_NOMEM, "export: out of memory");
    for (int i = 1; i < xg->n_values && st == NASC_OK; i++)
        if (!(v[i] = nasc_malloc(numel(xg->shape[i]) * sizeof(float))))
            st = nasc_errorf(err, NASC_ERR_NOMEM, "export: out of memory");
    const size_t in_n = numel(xg->shape[0]);
    for (int img = 0; img < n && st == NASC_OK; img++) {
        v[0] = (float *)(uintptr_t)(pixels + (size_t)img * in_n); /* read only */
        for (int i = 0; i < xg->n_nodes; i++)
            run_node(xg, &xg->nodes[i], v);
        memcpy(logits + (size_t)img * xg->n_classes, v[xg->n_nodes],
               (size_t)xg->n_classes * sizeof *logits);
    }
    for (int i = 1; i < xg->n_values; i++)
        nasc_free(v[i]);
    nasc_free(v);
    return st;
}

void nasc_export_graph_memory(const nasc_export_graph *xg, size_t *out_peak_bytes,
                              size_t *out_max_value_floats) {
    /* last[v]: the last node reading v (the logits live to the end) */
    size_t peak = 0, live = 0, max_v = 0;
    int *last = nasc_malloc((size_t)xg->n_values * sizeof *last);
    if (last) {
        for (int i = 0; i < xg->n_values; i++)
            last[i] = i - 1;
        for (int i = 0; i < xg->n_nodes; i++)
            for (int k = 0; k < xg->nodes[i].n_in; k++)
                last[xg->nodes[i].in[k]] = i;
        last[xg->n_nodes] = xg->n_nodes;
        live = numel(xg->shape[0]);
        peak = live;
        for (int i = 0; i < xg->n_nodes; i++) {
            const size_t o = numel(xg->shape[i + 1]);
            max_v = o > max_v ? o : max_v;
            live += o;
            peak = live > peak ? live : peak;
            for (int v = 0; v <= i + 1; v++) /* free what node i read for the last time */
                if (last[v] == i)
                    live -= numel(xg->shape[v]);
        }
        nasc_free(last);
    }
    if (out_peak_bytes)
        *out_peak_bytes = peak * sizeof(float);
    if (out_max_value_floats)
        *out_max_value_floats = max_v;
}
