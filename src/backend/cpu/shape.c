/* cpu/shape.c — concat along C, strided slice, reshape: copies between NHWC rows.
 *
 * In NHWC a channel concat interleaves at every pixel: output pixel p is the rows x0[p], x1[p], ...
 * laid end to end, so each task copies whole pixel rows over its pixel range.
 * Backward adds the rows back. Slice copies row segments [c0, c1) of strided pixels. Reshape is a
 * view (forward is nothing), its backward adds dy into dx. */
#include "cpu_int.h"

#include <string.h>

#define SHAPE_GRAIN 16384

typedef struct cat_args {
    nasc_tensor *node;
    size_t P; /* pixels N*H*W */
    bool bwd;
    uint64_t store; /* bwd: bit s set: src s's gradient is fresh, store instead of adding */
} cat_args;

/* Forward copies src by src (each src row is one memcpy into its column range of the output);
 * backward walks the pixels once and hands each src its row of dy: the big tensor streams
 * through memory once (the src-major form read dy once per src with a stride of C floats, 4x
 * slower at C = 36, 4 srcs, bench_kernels --op concat4). A src used twice stores at its first
 * place and adds at the second, pixel by pixel, in src order. */
NASC_CPU_CLONES
static void cat_task(void *arg, int ith, int nth) {
    const cat_args *a = arg;
    const nasc_tensor *node = a->node;
    const int C = node->ne[1], n_src = node->n_src;
    size_t p0, p1;
    nasc_cpu_range(a->P, ith, nth, &p0, &p1);
    if (!a->bwd) {
        int c0 = 0;
        for (int s = 0; s < n_src; s++) {
            const nasc_tensor *x = node->src[s];
            const int Cs = x->ne[1];
            for (size_t p = p0; p < p1; p++)
                memcpy(node->data + p * C + c0, x->data + p * Cs, (size_t)Cs * sizeof(float));
            c0 += Cs;
        }
        return;
    }
    for (size_t p = p0; p < p1; p++) {
        int c0 = 0;
        for (int s = 0; s < n_src; s++) {
            const nasc_tensor *x = node->src[s];
            const int Cs = x->ne[1];
            if (x->grad) {
                float *restrict dx = x->grad + p * Cs;
                const float *restrict dy = node->grad + p * C + c0;
                if (s < 64 && ((a->store >> s) & 1u))
                    for (int c = 0; c < Cs; c++)
                        dx[c] = dy[c];
                else
                    for (int c = 0; c < Cs; c++)
                        dx[c] += dy[c];
            }
            c0 += Cs;
        }
    }
}

static void cat_run(nasc_backend *be, nasc_tensor *node, bool bwd) {
    cat_args a = {.node = node, .P = nasc_n(node) / (size_t)node->ne[1], .bwd = bwd};
    if (bwd) {
        /* a src used twice (x, x) stores at its first place and adds at the second: each task
         * walks the srcs in order over its own pixels. Srcs past 64 are zero-filled and added. */
        for (int s = 0; s < node->n_src; s++) {
            nasc_tensor *x = node->src[s];
            if (!x->grad || !nasc_cpu_take_fresh(x))
                continue;
            if (s < 64)
                a.store |= (uint64_t)1 << s;
            else
                memset(x->grad, 0, nasc_n(x) * sizeof(float));
        }
    }
    nasc_cpu_run(nasc_cpu_nth(be, nasc_n(node), SHAPE_GRAIN), cat_task, &a);
}

nasc_status nasc_cpu_concat_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    cat_run(be, node, false);
    return NASC_OK;
}

nasc_status nasc_cpu_concat_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    cat_run(be, node, true);
    return NASC_OK;
}

typedef struct slice_args {
    nasc_tensor *node;
    bool bwd;
} slice_args;

/* Output rows (n, i) over [r0, r1); each row has OW pixels of (c1-c0) channels. */
NASC_CPU_CLONES
static void slice_task(void *arg, int ith, int nth) {
    const slice_args *a = arg;
    nasc_tensor *node = a->node, *x = node->src[0];
    const nasc_slice_params *p = &node->params.slice;
    const int OC = node->ne[1], OH = node->ne[2], OW = node->ne[3];
    size_t r0, r1;
    nasc_cpu_range((size_t)node->ne[0] * OH, ith, nth, &r0, &r1);
    for (size_t r = r0; r < r1; r++) {
        const int n = (int)(r / (size_t)OH), i = (int)(r % (size_t)OH);
        for (int j = 0; j < OW; j++) {
            const size_t xo =
                (size_t)nasc_tensor_offset(x, n, p->c0, p->h0 + i * p->sh, p->w0 + j * p->sw);
            const size_t yo = (size_t)nasc_tensor_offset(node, n, 0, i, j);
            if (!a->bwd) {
                memcpy(node->data + yo, x->data + xo, (size_t)OC * sizeof(float));
            } else {
                float *restrict dx = x->grad + xo;
                const float *restrict dy = node->grad + yo;
                for (int c = 0; c < OC; c++)
                    dx[c] += dy[c];
            }
        }
    }
}

static void slice_run(nasc_backend *be, nasc_tensor *node, bool bwd) {
    slice_args a = {.node = node, .bwd = bwd};
    /* strided output positions never share an input element, so rows split freely */
    nasc_cpu_run(nasc_cpu_nth(be, nasc_n(node), SHAPE_GRAIN), slice_task, &a);
}

nasc_status nasc_cpu_slice_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    slice_run(be, node, false);
    return NASC_OK;
}

nasc_status nasc_cpu_slice_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    if (node->src[0]->grad)
        slice_run(be, node, true);
    return NASC_OK;
}

nasc_status nasc_cpu_reshape_fwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)be;
    (void)g;
    (void)node; /* the output aliases the input's data */
    return NASC_OK;
}

nasc_status nasc_cpu_reshape_bwd(nasc_backend *be, nasc_graph *g, nasc_tensor *node) {
    (void)g;
    if (node->src[0]->grad)
        nasc_cpu_add_into(node->src[0]->grad, node->grad, nasc_n(node), be->n_threads);
    return NASC_OK;
}
