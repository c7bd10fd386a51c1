/* test_grad_darts2.c — the second-order DARTS architecture gradient against finite differences.
 *
 * DARTS's unrolled objective (Liu et al. 2019, eq. 6), with the weight decay the DARTS code
 * folds into the unrolled step and into the vector of its Hessian-vector product:
 *   w'(a) = w - xi * (dL_train(w, a)/dw + wd * w)          (no momentum before the first step)
 *   F(a)  = L_val(w'(a), a) + wd/2 * |w'(a)|^2
 * nasc_oneshot_arch_grad (method darts2) computes dF/da with a central-difference
 * Hessian-vector product. Here F itself is evaluated (a full unrolled step per evaluation) and
 * differentiated numerically along random directions u: the 4-point stencil
 *   (-F(a+2hu) + 8F(a+hu) - 8F(a-hu) + F(a-2hu)) / 12h,  h = 1e-2,
 * in double from float losses (noise ~1e-7 / h). Tolerance: |numeric - <grad, u>| <= 1e-2 *
 * |numeric| + 2e-5 (measured agreement: ~1e-3). The test also checks that the second-order term
 * matters here (xi = 0.1):
 * the first-order gradient misses the numeric directional derivative by more than the
 * tolerance in at least one direction, so a second-order gradient that dropped its Hessian term
 * would fail.
 * Network: the darts supernet at C=4, 3 cells, 8x8x1 inputs, 3 classes, batch 8, on the ref
 * backend; BN uses batch statistics in every pass (as the stepper's architecture steps do).
 * The supernet runs in its smooth mode (tanh for ReLU, average for max pooling): with ReLU,
 * w'(a) jumps wherever a ReLU or a max-pool argmax changes state under the perturbation, so F is
 * piecewise smooth with small jumps that dominate any finite difference of it (measured: the
 * numeric derivative changes sign with h); the formula and code under test do not depend on the
 * activation. */
#include "test.h"

#include "nasc/arena.h"
#include "nasc/oneshot.h"
#include "nasc/rng.h"

enum { B = 8, HW = 8 };

static float xt[B * HW * HW], xv[B * HW * HW];
static int32_t yt[B], yv[B];

/* L of batch (x, y) at the supernet's current weights; with grads into the weights if wgrad. */
static double loss_of(nasc_supernet *sn, nasc_graph *g, const float *x, const int32_t *y,
                      bool wgrad) {
    nasc_graph_reset(g);
    nasc_graph_set_grad(g, wgrad);
    nasc_tensor *in = nasc_input(g, B, 1, HW, HW, x);
    nasc_supernet_plan plan;
    nasc_supernet_plan_softmax(sn, g, &plan);
    plan.bn_batch_stats_only = true;
    nasc_tensor *loss = nasc_cross_entropy(g, nasc_supernet_forward(sn, g, in, &plan), y, 0.0f);
    if (!loss) {
        fprintf(stderr, "forward: %s\n", nasc_graph_errmsg(g));
        return NAN;
    }
    if (wgrad)
        nasc_backward(g, loss);
    nasc_graph_set_grad(g, true);
    return loss->data[0];
}

/* F(a) at the supernet's current alpha (see the top of the file). */
static double unrolled(nasc_supernet *sn, nasc_graph *g, float xi, float wd) {
    nasc_params *wp = nasc_supernet_weights(sn);
    const size_t nw = nasc_params_flat_len(wp);
    float *w = nasc_params_data(wp), *gw = nasc_params_grad(wp);
    float *save = malloc(nw * sizeof(float));
    memcpy(save, w, nw * sizeof(float));
    nasc_params_zero_grad(wp);
    loss_of(sn, g, xt, yt, true);
    double reg = 0.0;
    for (size_t i = 0; i < nw; i++) {
        w[i] -= xi * (gw[i] + wd * save[i]);
        reg += (double)w[i] * w[i];
    }
    const double F = loss_of(sn, g, xv, yv, false) + 0.5 * wd * reg;
    memcpy(w, save, nw * sizeof(float));
    nasc_params_zero_grad(wp);
    free(save);
    return F;
}

int main(void) {
    nasc_err err = {0};
    nasc_space *space = NULL;
    nasc_supernet *sn = NULL;
    CHECK_STATUS(nasc_space_new("darts", NULL, &space, &err), NASC_OK);
    CHECK_STATUS(nasc_supernet_new(space,
                                   &(nasc_supernet_config){.in_c = 1, .in_h = HW, .in_w = HW,
                                                           .n_classes = 3, .channels = 4,
                                                           .cells = 3, .smooth = true},
                                   5, &sn, &err),
                 NASC_OK);
    if (!sn)
        return test_done("grad_darts2");
    nasc_rng r;
    nasc_rng_init(&r, 21, 1);
    for (int i = 0; i < B * HW * HW; i++) {
        xt[i] = nasc_rng_normal(&r);
        xv[i] = nasc_rng_normal(&r);
    }
    for (int i = 0; i < B; i++) {
        yt[i] = i % 3;
        yv[i] = (i * 2 + 1) % 3;
    }
    /* alpha away from uniform so that the mixture is not symmetric */
    nasc_params *ap = nasc_supernet_arch_params(sn);
    const size_t na = nasc_params_flat_len(ap);
    float *alpha = nasc_params_data(ap);
    for (size_t i = 0; i < na; i++)
        alpha[i] = 0.5f * nasc_rng_normal(&r);
    nasc_backend *be = nasc_backend_ref();
    const float xi = 0.1f, wd = 3e-4f;
    nasc_oneshot_opts o = {.weight_decay = wd};
    nasc_oneshot *os2 = NULL, *os1 = NULL;
    CHECK_STATUS(nasc_oneshot_new(NASC_ONESHOT_DARTS2, sn, be, &o, 1, &os2, &err), NASC_OK);
    CHECK_STATUS(nasc_oneshot_new(NASC_ONESHOT_DARTS, sn, be, &o, 1, &os1, &err), NASC_OK);
    float *g2 = calloc(na, sizeof(float)), *g1 = calloc(na, sizeof(float));
    nasc_oneshot_batch tb = {xt, yt, B}, vb = {xv, yv, B};
    CHECK_STATUS(nasc_oneshot_arch_grad(os2, &tb, &vb, xi, g2, &err), NASC_OK);
    CHECK_STATUS(nasc_oneshot_arch_grad(os1, &tb, &vb, xi, g1, &err), NASC_OK);
    nasc_graph *g = nasc_graph_new(be, 0, &err);
    float *a0 = malloc(na * sizeof(float)), *u = malloc(na * sizeof(float));
    memcpy(a0, alpha, na * sizeof(float));
    const double h = 1e-2, rtol = 1e-2, atol = 2e-5;
    int first_order_misses = 0;
    for (int dir = 0; dir < 6; dir++) {
        /* a random unit direction; the last two are single coordinates */
        double norm = 0.0;
        for (size_t i = 0; i < na; i++) {
            u[i] = dir < 4 ? nasc_rng_normal(&r) : 0.0f;
            norm += (double)u[i] * u[i];
        }
        if (dir >= 4) {
            u[nasc_rng_below(&r, (uint32_t)na)] = 1.0f;
            norm = 1.0;
        }
        double ana2 = 0.0, ana1 = 0.0;
        for (size_t i = 0; i < na; i++) {
            u[i] = (float)(u[i] / sqrt(norm));
            ana2 += (double)g2[i] * u[i];
            ana1 += (double)g1[i] * u[i];
        }
        const double steps[4] = {2, 1, -1, -2};
        double F[4];
        for (int s = 0; s < 4; s++) {
            for (size_t i = 0; i < na; i++)
                alpha[i] = (float)(a0[i] + steps[s] * h * u[i]);
            F[s] = unrolled(sn, g, xi, wd);
        }
        memcpy(alpha, a0, na * sizeof(float));
        const double num = (-F[0] + 8 * F[1] - 8 * F[2] + F[3]) / (12 * h);
        CHECK_MSG(fabs(num - ana2) <= atol + rtol * fabs(num),
                  "direction %d: numeric %.6g, second-order gradient %.6g (first order %.6g)",
                  dir, num, ana2, ana1);
        if (fabs(num - ana1) > atol + rtol * fabs(num))
            first_order_misses++;
        fprintf(stderr, "direction %d: numeric %.6g  second order %.6g  first order %.6g\n", dir,
                num, ana2, ana1);
    }
    CHECK_MSG(first_order_misses > 0,
              "the second-order term is too small here to tell the gradients apart");
    free(a0);
    free(u);
    free(g1);
    free(g2);
    nasc_graph_free(g);
    nasc_oneshot_free(os1);
    nasc_oneshot_free(os2);
    nasc_supernet_free(sn);
    nasc_space_free(space);
    return test_done("grad_darts2");
}
