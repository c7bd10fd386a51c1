/* cpu/oneshot_ops.c — the supernet ops: weighted sum (mixed operations) and channel shuffle.
 *
 * weighted_sum: src w (read flat), x_1..x_n (each the output's shape, or NULL = constant 1).
 *   forward   out[j] = sum_i w[idx_i] * x_i[j]           (terms added in order, float)
 *   backward  dx_i[j] += w[idx_i] * dout[j];  dw[idx_i] += sum_j dout[j] * x_i[j]
 * One pass over the elements does every term: each ith takes a fixed element range and, per block
 * of 1024 elements (in L1), adds every term's contribution, so dout is read once for all terms
 * and each x_i / dx_i once. The n sums for dw run in double per ith (private) and are added in
 * ith order. In a DARTS supernet this is the mixed operation of every edge: one node instead of
 * n scale and n-1 add nodes, and one pass over memory instead of 2n.
 *
 * channel_shuffle with G groups, C = G*Cg: out(n, i*G + k) = x(n, k*Cg + i); backward adds the
 * gradient back through the inverse permutation. Pixels are split across threads. */
#include "cpu_int.h"

#include <string.h>

#define WS_GRAIN 16384 /* elements per thread */
#define WS_BLOCK 1024  /* elements per block (4 KB of each stream) */

typedef struct ws_args {
    nasc_tensor *node;
    double *priv; /* nth * n partial sums for dw, or NULL */
    bool bwd;
} ws_args;

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
        for (int i = 0; i < p->n; i++) {
            nasc_tensor *x = node->src[i + 1];
            const float wi = w->data[p->idx[i]];
            if (x && x->grad) {
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
    ws_args a = {.node = node};
    nasc_cpu_run(nasc_cpu_nth(be, nasc_n(node) * (size_t)node->params.wsum.n, WS_GRAIN), ws_task,
                 &a);
    return NASC_OK;
}

nasc_status nasc_cpu_wsum_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    nasc_tensor *w = node->src[0];
    const int n = node->params.wsum.n;
    const int nth = nasc_cpu_nth(be, nasc_n(node) * (size_t)n, WS_GRAIN);
    ws_args a = {.node = node, .bwd = true};
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
