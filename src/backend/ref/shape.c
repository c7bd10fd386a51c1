/* ref/shape.c — concat along C, strided slice, reshape (a view: backward only adds). */
#include "ref_int.h"

nasc_status nasc_ref_concat_fwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    const int C = node->ne[1];
    const size_t P = nasc_n(node) / (size_t)C; /* pixels N*H*W */
    int c0 = 0;
    for (int s = 0; s < node->n_src; s++) {
        const nasc_tensor *x = node->src[s];
        const int Cs = x->ne[1];
        for (size_t p = 0; p < P; p++)
            for (int c = 0; c < Cs; c++)
                node->data[p * C + c0 + c] = x->data[p * Cs + c];
        c0 += Cs;
    }
    return NASC_OK;
}

nasc_status nasc_ref_concat_bwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    const int C = node->ne[1];
    const size_t P = nasc_n(node) / (size_t)C;
    int c0 = 0;
    for (int s = 0; s < node->n_src; s++) {
        nasc_tensor *x = node->src[s];
        const int Cs = x->ne[1];
        if (x->grad)
            for (size_t p = 0; p < P; p++)
                for (int c = 0; c < Cs; c++)
                    x->grad[p * Cs + c] += node->grad[p * C + c0 + c];
        c0 += Cs;
    }
    return NASC_OK;
}

nasc_status nasc_ref_slice_fwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    const nasc_tensor *x = node->src[0];
    const nasc_slice_params *p = &node->params.slice;
    for (int n = 0; n < node->ne[0]; n++)
        for (int i = 0; i < node->ne[2]; i++)
            for (int j = 0; j < node->ne[3]; j++)
                for (int c = 0; c < node->ne[1]; c++)
                    node->data[nasc_tensor_offset(node, n, c, i, j)] = x->data[nasc_tensor_offset(
                        x, n, p->c0 + c, p->h0 + i * p->sh, p->w0 + j * p->sw)];
    return NASC_OK;
}

nasc_status nasc_ref_slice_bwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    nasc_tensor *x = node->src[0];
    const nasc_slice_params *p = &node->params.slice;
    if (!x->grad)
        return NASC_OK;
    for (int n = 0; n < node->ne[0]; n++)
        for (int i = 0; i < node->ne[2]; i++)
            for (int j = 0; j < node->ne[3]; j++)
                for (int c = 0; c < node->ne[1]; c++)
                    x->grad[nasc_tensor_offset(x, n, p->c0 + c, p->h0 + i * p->sh,
                                               p->w0 + j * p->sw)] +=
                        node->grad[nasc_tensor_offset(node, n, c, i, j)];
    return NASC_OK;
}

nasc_status nasc_ref_reshape_fwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    (void)node; /* the output aliases the input's data */
    return NASC_OK;
}

nasc_status nasc_ref_reshape_bwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    float *dx = node->src[0]->grad;
    if (dx)
        for (size_t i = 0; i < nasc_n(node); i++)
            dx[i] += node->grad[i];
    return NASC_OK;
}
