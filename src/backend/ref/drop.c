/* ref/drop.c — dropout (per element) and drop-path (per sample). Keep when u >= p, where u is a
 * Philox uniform keyed by (graph seed, stream built from step and op sequence, element index), and
 * scale kept values by 1/(1-p). Backward recomputes the mask instead of storing it. */
#include "ref_int.h"

#include "nasc/rng.h"

float nasc_drop_uniform(const nasc_drop_params *d, uint64_t i) {
    const uint64_t stream = (d->step << 24) ^ ((uint64_t)d->seq << 8) ^ NASC_STREAM_DROPOUT;
    return nasc_philox_uniform(d->seed, stream, d->first + i);
}

nasc_status nasc_ref_dropout_fwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    const nasc_drop_params *d = &node->params.drop;
    const float scale = 1.0f / (1.0f - d->p);
    const float *x = node->src[0]->data;
    for (size_t i = 0; i < nasc_n(node); i++)
        node->data[i] = nasc_drop_uniform(d, i) >= d->p ? x[i] * scale : 0.0f;
    return NASC_OK;
}

nasc_status nasc_ref_dropout_bwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    const nasc_drop_params *d = &node->params.drop;
    const float scale = 1.0f / (1.0f - d->p);
    float *dx = node->src[0]->grad;
    if (dx)
        for (size_t i = 0; i < nasc_n(node); i++)
            if (nasc_drop_uniform(d, i) >= d->p)
                dx[i] += node->grad[i] * scale;
    return NASC_OK;
}

nasc_status nasc_ref_drop_path_fwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    const nasc_drop_params *d = &node->params.drop;
    const float scale = 1.0f / (1.0f - d->p);
    const int N = node->ne[0];
    const size_t S = nasc_n(node) / (size_t)N;
    const float *x = node->src[0]->data;
    for (int n = 0; n < N; n++) {
        const float m = nasc_drop_uniform(d, (uint64_t)n) >= d->p ? scale : 0.0f;
        for (size_t i = 0; i < S; i++)
            node->data[n * S + i] = x[n * S + i] * m;
    }
    return NASC_OK;
}

nasc_status nasc_ref_drop_path_bwd(nasc_backend *be, nasc_graph *gr, nasc_tensor *node) {
    (void)be;
    (void)gr;
    const nasc_drop_params *d = &node->params.drop;
    const float scale = 1.0f / (1.0f - d->p);
    const int N = node->ne[0];
    const size_t S = nasc_n(node) / (size_t)N;
    float *dx = node->src[0]->grad;
    if (!dx)
        return NASC_OK;
    for (int n = 0; n < N; n++) {
        const float m = nasc_drop_uniform(d, (uint64_t)n) >= d->p ? scale : 0.0f;
        for (size_t i = 0; i < S; i++)
            dx[n * S + i] += node->grad[n * S + i] * m;
    }
    return NASC_OK;
}
