/* linear.c — fully connected node: (N,F) x (K,F)^T + b. Kernels: backend/{ref,cpu}. */
#include "../engine_int.h"

nasc_tensor *nasc_linear(nasc_graph *g, nasc_tensor *x, nasc_tensor *w, nasc_tensor *b) {
    nasc_tensor *need[] = {x, w};
    if (!nasc_engine_ok(g, 2, need))
        return NULL;
    char xs[48], ws[48], bs[48];
    const int64_t F = nasc_tensor_nelem(x) / x->ne[0];
    const int K = w->ne[0];
    if (w->ne[2] != 1 || w->ne[3] != 1 || w->ne[1] != F) {
        nasc_graph_errorf(g, NASC_ERR_SHAPE,
                          "linear: input %s vs weight %s: weight must be (K,F,1,1) with F=%lld", 
                          NASC_SHAPE(x, xs), NASC_SHAPE(w, ws), (long long)F);
        return NULL;
    }
    if (b && (b->ne[0] != 1 || b->ne[1] != K || b->ne[2] != 1 || b->ne[3] != 1)) {
        nasc_graph_errorf(g, NASC_ERR_SHAPE, "linear: weight %s vs bias %s: bias must be (1,%d,1,1)",
                          NASC_SHAPE(w, ws), NASC_SHAPE(b, bs), K);
        return NULL;
    }
    const int ne[4] = {x->ne[0], K, 1, 1};
    nasc_tensor *src[] = {x, w, b};
    return nasc_engine_apply(g, NASC_OP_LINEAR, ne, 3, src, NULL, NULL, NULL);
}
