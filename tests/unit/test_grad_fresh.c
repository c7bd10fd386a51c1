/* test_grad_fresh.c — first-write gradients. With the gradient pool on, a node's gradient buffer
 * comes unzeroed and flagged NASC_TENSOR_GRAD_FRESH; the first backward that reaches it stores
 * its contribution (relu, scale, drop-path, add, concat, batch norm, 1x1 and depthwise convs on
 * the cpu backend; the depthwise one with its two backward passes apart or in one sweep)
 * or has it zero-filled
 * first (every other kernel, and the ref backend). Each case below puts the op under test on an
 * intermediate node h (so h's gradient comes from the pool), also in the awkward spots: h used
 * twice by one op (h + h, concat(h, k, h)), h read by two ops (the first in backward order
 * stores, the second adds), an op that only adds (mul, a 3x3 conv) next to one that stores;
 * batch norm and the 1x1 conv (whose AVX-512 kernel stores) on their own; the weighted sum (a
 * supernet's mixed op) with h as two of its terms and next to a relu of h. The input
 * gradient must equal the one computed with the pool off (zeroed arena gradients, every kernel
 * adding), value for value, on both backends; and a pool block filled with garbage beforehand
 * (a previous step's values) must not leak into the result. */
#include "test.h"

#include "nasc/backend.h"
#include "nasc/ops.h"
#include "nasc/rng.h"

enum { N = 4, C = 8, H = 5, W = 5, E = N * C * H * W, N_CASES = 19 };

static const char *const case_names[N_CASES] = {
    "relu",          "scale",           "drop_path",           "add(h, k)",
    "add(h, h)",     "concat(h,k,h)",   "relu + scale of h",   "mul(h, h) + relu(h)",
    "concat(relu, h)", "batchnorm",     "conv1x1",             "conv1x1 + conv3x3 of h",
    "depthwise 3x3", "bn + relu of h", "wsum(h, k, 1, h)", "relu(h) + wsum(h, k)",
    "depthwise 3x3 s2", "depthwise 5x5 d2, weight grad", "depthwise 3x3 + relu of h"};

static float wconv[C * C * 9];
static const float wsum_w[4] = {0.3f, -1.25f, 0.6f, 0.9f}; /* a weighted sum's weights */

/* A conv of h with the fixed weights wconv (a leaf without gradient): k x k, groups. */
static nasc_tensor *conv(nasc_graph *g, nasc_tensor *h, int k, int groups) {
    nasc_tensor *w = nasc_input(g, C, C / groups, k, k, wconv);
    return nasc_conv2d(g, h, w, NULL,
                       &(nasc_conv2d_params){.stride = {1, 1}, .pad = {k / 2, k / 2},
                                             .dil = {1, 1}, .groups = groups});
}

/* A depthwise k x k conv of h, stride s, dilation d ("same" padding), with weights wconv that
 * require a gradient when wgrad (the cpu kernel then runs both backward passes in one sweep). */
static nasc_tensor *dwconv(nasc_graph *g, nasc_tensor *h, int k, int s, int d, bool wgrad) {
    nasc_tensor *w = nasc_input(g, C, 1, k, k, wconv);
    nasc_tensor_set_requires_grad(w, wgrad);
    const int p = d * (k - 1) / 2;
    return nasc_conv2d(g, h, w, NULL,
                       &(nasc_conv2d_params){.stride = {s, s}, .pad = {p, p}, .dil = {d, d},
                                             .groups = C});
}

static nasc_tensor *bn(nasc_graph *g, nasc_tensor *h) {
    return nasc_batchnorm(g, h, NULL, NULL, NULL, NULL,
                          &(nasc_bn_params){.eps = 1e-5f, .momentum = 0.1f});
}

/* The case's output from h = 1.5 x and k = -0.5 x. */
static nasc_tensor *op_case(nasc_graph *g, int c, nasc_tensor *h, nasc_tensor *k) {
    switch (c) {
    case 0: return nasc_relu(g, h);
    case 1: return nasc_scale(g, h, 0.7f);
    case 2: return nasc_drop_path(g, h, 0.4f);
    case 3: return nasc_add(g, h, k);
    case 4: return nasc_add(g, h, h);
    case 5: {
        nasc_tensor *xs[3] = {h, k, h};
        return nasc_concat(g, 3, xs);
    }
    case 6: return nasc_add(g, nasc_relu(g, h), nasc_scale(g, h, -2.0f));
    case 7: return nasc_add(g, nasc_mul(g, h, h), nasc_relu(g, h));
    case 8: {
        nasc_tensor *xs[2] = {nasc_relu(g, h), h};
        return nasc_concat(g, 2, xs);
    }
    case 9: return bn(g, h);
    case 10: return conv(g, h, 1, 1);
    case 11: return nasc_add(g, conv(g, h, 1, 1), conv(g, h, 3, 1));
    case 12: return conv(g, h, 3, C);
    case 13: return nasc_add(g, bn(g, h), nasc_relu(g, h));
    case 14: {
        nasc_tensor *xs[4] = {h, k, NULL, h};
        return nasc_weighted_sum(g, nasc_input(g, 1, 4, 1, 1, wsum_w), 4, xs,
                                 (const int[]){0, 1, 2, 3});
    }
    case 16: return dwconv(g, h, 3, 2, 1, false);
    case 17: return dwconv(g, h, 5, 1, 2, true);
    case 18: return nasc_add(g, dwconv(g, h, 3, 1, 1, true), nasc_relu(g, h));
    case 15: {
        nasc_tensor *xs[2] = {h, k};
        nasc_tensor *r = nasc_relu(g, h);
        return nasc_add(g, r, nasc_weighted_sum(g, nasc_input(g, 1, 4, 1, 1, wsum_w), 2, xs,
                                                (const int[]){2, 0}));
    }
    }
    return NULL;
}

/* x's gradient of sum(op(...) * w) after one step (two with release: the first fills the pool's
 * blocks with that step's values, so the second starts from garbage). */
static void run(nasc_backend *be, bool release, int c, const float *xd, const float *wd,
                float *out) {
    nasc_err err = {0};
    nasc_graph *g = nasc_graph_new(be, 0, &err);
    nasc_graph_set_release_grads(g, release);
    for (int step = 0; step < (release ? 2 : 1); step++) {
        nasc_graph_reset(g);
        nasc_graph_set_rng(g, 7, 0); /* the same drop-path mask every step */
        nasc_tensor *x = nasc_input(g, N, C, H, W, xd);
        nasc_tensor_set_requires_grad(x, true);
        nasc_tensor *h = nasc_scale(g, x, step == 0 && release ? 3.0f : 1.5f);
        nasc_tensor *k = nasc_scale(g, x, -0.5f);
        nasc_tensor *y = op_case(g, c, h, k);
        nasc_tensor *w = y ? nasc_input(g, y->ne[0], y->ne[1], y->ne[2], y->ne[3], NULL) : NULL;
        for (int i = 0; w && i < (int)nasc_tensor_nelem(w); i++)
            w->data[i] = wd[i % (3 * E)];
        nasc_tensor *loss = nasc_sum(g, nasc_mul(g, y, w));
        CHECK_MSG(loss && nasc_backward(g, loss) == NASC_OK, "%s: %s", case_names[c],
                  nasc_graph_errmsg(g));
        if (loss && x->grad)
            memcpy(out, x->grad, E * sizeof(float));
    }
    nasc_graph_free(g);
}

int main(void) {
    nasc_err err = {0};
    nasc_backend *backends[2] = {nasc_backend_ref(), nasc_backend_new("cpu", 2, &err)};
    static float xd[E], wd[3 * E], off[E], on[E];
    nasc_rng r;
    nasc_rng_init(&r, 5, 1);
    for (int i = 0; i < E; i++)
        xd[i] = nasc_rng_normal(&r);
    for (int i = 0; i < 3 * E; i++)
        wd[i] = nasc_rng_normal(&r);
    for (int i = 0; i < C * C * 9; i++)
        wconv[i] = 0.3f * nasc_rng_normal(&r);
    for (int b = 0; b < 2; b++) {
        if (!backends[b])
            continue;
        for (int c = 0; c < N_CASES; c++) {
            memset(off, 0, sizeof off);
            memset(on, 0xff, sizeof on); /* NaN unless written */
            run(backends[b], false, c, xd, wd, off);
            run(backends[b], true, c, xd, wd, on);
            int bad = 0;
            double norm = 0.0;
            for (int i = 0; i < E; i++) {
                norm += (double)off[i] * off[i];
                if (!(on[i] == off[i]) && bad++ < 3)
                    CHECK_MSG(0, "[%s] %s: x.grad[%d] %.9g with the pool, %.9g without",
                              nasc_backend_name(backends[b]), case_names[c], i, (double)on[i],
                              (double)off[i]);
            }
            CHECK_MSG(bad == 0, "[%s] %s: %d elements differ", nasc_backend_name(backends[b]),
                      case_names[c], bad);
            CHECK_MSG(norm > 0.0, "[%s] %s: zero gradient", nasc_backend_name(backends[b]),
                      case_names[c]);
        }
    }
    nasc_backend_free(backends[1]);
    return test_done("grad_fresh");
}
