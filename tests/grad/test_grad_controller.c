/* test_grad_controller.c — gradients of the learned strategies' networks against finite
 * differences, in the style of test_grad_ops.c:
 *   - the LSTM controller (predictor.h): L = sum_t w_t (-log p_t) + u_t H_t + v_t V_t with fixed
 *     random w, u, v, on nb201 (fixed option counts) and chain (option counts that depend on
 *     earlier choices), with and without the tanh/temperature logits and the value head;
 *   - the REINFORCE loss (rl_int.h) as built by the strategy;
 *   - the PPO loss: the backward of the strategy's surrogate against finite differences of the
 *     true clipped objective J (so the "coefficient times -log p" construction is checked), with
 *     ratios placed inside and outside the clip range;
 *   - the MLP ensemble's training loss (mean squared error) w.r.t. every weight.
 *
 * Numerical derivative: 4-point central stencil
 *   dL/dx ~ (-L(x+2h) + 8L(x+h) - 8L(x-h) + L(x-2h)) / (12h)
 * with L accumulated in double from the float32 outputs. Truncation is O(h^4); the noise floor is
 * float rounding of the outputs (~1e-7 relative, on losses of size ~1-10) divided by h.
 *   controller and REINFORCE losses: h = 1e-2, observed worst differences 2e-5 .. 2e-4;
 *   PPO objective: h = 3e-3 (it is piecewise smooth: the ratios sit at least 0.05 from the kinks
 *     at 1 +- eps, and a perturbation moves them by < 0.02), observed worst ~2e-4;
 *   MLP loss: h = 1e-3 (ReLU kinks kept 0.005 away, see mlp_grad), observed worst ~1e-4.
 * The tolerance |analytic - numeric| <= 1e-3 + 1e-2 |numeric| is several times above those and
 * far below what a wrong term gives (errors of the order of the gradient itself).
 * Parameters are checked on a stride (every element when there are few) to keep the test fast. */
#include "test.h"

#include <math.h>

#include "nasc/arena.h"
#include "nasc/optim.h"
#include "strategy/rl_int.h"

typedef double (*loss_fn)(void *ctx, bool backward);

static const double RTOL = 1e-2, ATOL = 1e-3;

/* Compares the gradient in ps (after loss(ctx, true)) with the stencil on every `stride`-th
 * element; returns the number of mismatches. */
static int check_params(const char *name, nasc_params *ps, loss_fn loss, void *ctx, double h,
                        int stride) {
    nasc_params_zero_grad(ps);
    loss(ctx, true);
    int bad = 0, n = 0;
    double worst = 0.0;
    for (int ti = 0; ti < nasc_params_n_tensors(ps); ti++) {
        nasc_tensor *t = nasc_params_tensor(ps, ti);
        int64_t ne = nasc_tensor_nelem(t);
        for (int64_t i = ti % stride; i < ne; i += stride) {
            float x0 = t->data[i];
            double f[4];
            const double off[4] = {2 * h, h, -h, -2 * h};
            for (int k = 0; k < 4; k++) {
                t->data[i] = (float)(x0 + off[k]);
                f[k] = loss(ctx, false);
            }
            t->data[i] = x0;
            double num = (-f[0] + 8 * f[1] - 8 * f[2] + f[3]) / (12 * h);
            double an = (double)t->grad[i];
            double d = fabs(an - num);
            worst = fmax(worst, d);
            n++;
            if (!(d <= ATOL + RTOL * fabs(num))) {
                if (bad < 5)
                    fprintf(stderr, "  %s: %s[%lld]: analytic %.7g numeric %.7g\n", name, t->name,
                            (long long)i, an, num);
                bad++;
            }
        }
    }
    CHECK_MSG(bad == 0, "%s: %d of %d gradient elements off (tolerance %g + %g*|numeric|)", name,
              bad, n, ATOL, RTOL);
    printf("%-28s %5d elements, worst |analytic - numeric| %.2e\n", name, n, worst);
    return bad;
}

/* ---- the controller ---- */

typedef struct ctl_case {
    nasc_controller *c;
    int d[256], n;
    double w[256], u[256], v[256];
    bool value;
    int mode; /* 0: weighted sum, 1: REINFORCE loss, 2: PPO surrogate / objective */
    double adv, ent;
    double old_lp[256], A[256], ret, eps, vcoef;
} ctl_case;

static double ctl_loss(void *p, bool backward) {
    ctl_case *k = p;
    nasc_graph *g = nasc_controller_graph(k->c);
    nasc_graph_reset(g);
    nasc_graph_set_grad(g, backward);
    double L = 0.0;
    if (k->mode == 0) {
        nasc_controller_out o;
        CHECK_STATUS(nasc_controller_forward(k->c, g, k->d, k->n, &o), NASC_OK);
        nasc_tensor *w = nasc_input(g, 1, k->n, 1, 1, NULL),
                    *u = nasc_input(g, 1, k->n, 1, 1, NULL);
        nasc_tensor *v = nasc_input(g, 1, k->n, 1, 1, NULL);
        for (int t = 0; t < k->n; t++) {
            w->data[t] = (float)k->w[t];
            u->data[t] = (float)k->u[t];
            v->data[t] = (float)k->v[t];
            L += k->w[t] * (double)o.neglogp->data[t] + k->u[t] * (double)o.entropy->data[t];
            if (o.value)
                L += k->v[t] * (double)o.value->data[t];
        }
        if (backward) {
            nasc_tensor *loss = nasc_add(g, nasc_sum(g, nasc_mul(g, o.neglogp, w)),
                                         nasc_sum(g, nasc_mul(g, o.entropy, u)));
            if (o.value)
                loss = nasc_add(g, loss, nasc_sum(g, nasc_mul(g, o.value, v)));
            CHECK_STATUS(nasc_backward(g, loss), NASC_OK);
        }
    } else if (k->mode == 1) {
        nasc_tensor *loss = nasc_rl_reinforce_loss(k->c, g, k->d, k->n, k->adv, k->ent);
        CHECK(loss != NULL);
        if (!loss)
            return NAN;
        L = (double)loss->data[0];
        if (backward)
            CHECK_STATUS(nasc_backward(g, loss), NASC_OK);
    } else {
        double obj = 0.0;
        nasc_tensor *loss = nasc_rl_ppo_loss(k->c, g, k->d, k->n, k->old_lp, k->A, k->ret, k->eps,
                                             k->vcoef, k->ent, &obj);
        CHECK(loss != NULL);
        if (!loss)
            return NAN;
        L = obj; /* the true objective, not the surrogate */
        if (backward)
            CHECK_STATUS(nasc_backward(g, loss), NASC_OK);
    }
    nasc_graph_set_grad(g, true);
    return L;
}

static void controller_case(const char *space, const nasc_space_config *scfg,
                            const nasc_controller_config *cc, int mode, const char *label) {
    nasc_err err = {0};
    nasc_space *sp;
    CHECK_STATUS(nasc_space_new(space, scfg, &sp, &err), NASC_OK);
    ctl_case *k = nasc_calloc(1, sizeof *k);
    CHECK_STATUS(nasc_controller_new(sp, cc, 17, &k->c, &err), NASC_OK);
    /* weights away from the uniform start, so gradients are not degenerate */
    nasc_params *ps = nasc_controller_params(k->c);
    nasc_rng rng;
    nasc_rng_init(&rng, 23, NASC_STREAM_USER);
    float *flat = nasc_params_data(ps);
    for (size_t i = 0; i < nasc_params_flat_len(ps); i++)
        flat[i] += 0.3f * (nasc_rng_uniform(&rng) - 0.5f);
    nasc_rng r2;
    nasc_rng_init(&r2, 5, NASC_STREAM_USER);
    CHECK_STATUS(nasc_controller_sample(k->c, &r2, k->d, &k->n, NULL, NULL, &err), NASC_OK);
    k->value = cc->value_head;
    k->mode = mode;
    for (int t = 0; t < k->n; t++) {
        k->w[t] = nasc_rng_uniform(&rng) * 2.0 - 1.0;
        k->u[t] = nasc_rng_uniform(&rng) * 2.0 - 1.0;
        k->v[t] = nasc_rng_uniform(&rng) * 2.0 - 1.0;
    }
    k->adv = 1.7;
    k->ent = 0.3;
    double h = 1e-2;
    if (mode == 2) {
        /* current per-step log-probabilities, then behaviour ones chosen to place the ratios
         * r_t = exp(lp_t - old_t) at 0.6, 0.9, 1.1, 1.5, ... (eps = 0.2) with advantages of both
         * signs: clipped and unclipped cases, >= 0.05 from the kinks at 0.8 and 1.2 */
        nasc_graph *g = nasc_controller_graph(k->c);
        nasc_graph_reset(g);
        nasc_controller_out o;
        CHECK_STATUS(nasc_controller_forward(k->c, g, k->d, k->n, &o), NASC_OK);
        static const double ratio[4] = {0.6, 0.9, 1.1, 1.5};
        for (int t = 0; t < k->n; t++) {
            double lp = -(double)o.neglogp->data[t];
            k->old_lp[t] = lp - log(ratio[t % 4]);
            k->A[t] = (t / 4) % 2 ? -0.8 - 0.1 * t : 0.7 + 0.1 * t;
        }
        k->ret = 0.4;
        k->eps = 0.2;
        k->vcoef = 0.5;
        h = 3e-3;
    }
    check_params(label, ps, ctl_loss, k, h, nasc_params_flat_len(ps) > 1500 ? 3 : 1);
    nasc_controller_free(k->c);
    nasc_free(k);
    nasc_space_free(sp);
}

/* ---- the MLP ensemble ---- */

typedef struct mlp_case {
    nasc_mlp_ensemble *e;
    float X[16 * 12], t[16];
} mlp_case;

static double mlp_loss(void *p, bool backward) {
    mlp_case *k = p;
    nasc_err err = {0};
    double L = NAN;
    CHECK_STATUS(nasc_mlp_ensemble_loss(k->e, 1, k->X, k->t, 16, backward, &L, &err), NASC_OK);
    return L;
}

static void mlp_grad(void) {
    nasc_err err = {0};
    mlp_case *k = nasc_calloc(1, sizeof *k);
    CHECK_STATUS(
        nasc_mlp_ensemble_new(&(nasc_mlp_config){.n_models = 2, .hidden = 8, .n_layers = 2}, 12, 3,
                              &k->e, &err),
        NASC_OK);
    /* ReLU kinks avoided explicitly: inputs are redrawn until every hidden pre-activation of
     * member 1 is at least 0.005 away from zero; a perturbation of 2h = 0.002 of one weight moves
     * a pre-activation by at most 0.002 * |input| < 0.005 (inputs 0/1, hidden values < 2) */
    nasc_params *ps = nasc_mlp_ensemble_params(k->e, 1);
    nasc_tensor *w0 = nasc_params_find(ps, "fc0.w"), *b0 = nasc_params_find(ps, "fc0.b");
    nasc_tensor *w1 = nasc_params_find(ps, "fc1.w"), *b1 = nasc_params_find(ps, "fc1.b");
    nasc_rng rng;
    double margin = 0.0;
    for (uint64_t seed = 9; margin < 0.005 && seed < 5000; seed++) {
        nasc_rng_init(&rng, seed, NASC_STREAM_USER);
        for (int i = 0; i < 16 * 12; i++)
            k->X[i] = nasc_rng_uniform(&rng) < 0.3f ? 1.0f : 0.0f;
        margin = INFINITY;
        for (int r = 0; r < 16; r++) {
            double h1[8];
            for (int j = 0; j < 8; j++) {
                double z = (double)b0->data[j];
                for (int q = 0; q < 12; q++)
                    z += (double)w0->data[j * 12 + q] * (double)k->X[r * 12 + q];
                margin = fmin(margin, fabs(z));
                h1[j] = z > 0 ? z : 0;
            }
            for (int j = 0; j < 8; j++) {
                double z = (double)b1->data[j];
                for (int q = 0; q < 8; q++)
                    z += (double)w1->data[j * 8 + q] * h1[q];
                margin = fmin(margin, fabs(z));
            }
        }
    }
    CHECK(margin >= 0.005);
    for (int i = 0; i < 16; i++)
        k->t[i] = nasc_rng_normal(&rng);
    check_params("mlp ensemble (MSE loss)", nasc_mlp_ensemble_params(k->e, 1), mlp_loss, k, 1e-3,
                 1);
    nasc_mlp_ensemble_free(k->e);
    nasc_free(k);
}

int main(void) {
    const nasc_controller_config plain = {.hidden = 8};
    const nasc_controller_config fancy = {
        .hidden = 6, .tanh_c = 2.5f, .temperature = 1.7f, .value_head = true};
    controller_case("nb201", NULL, &plain, 0, "controller nb201");
    controller_case("nb201", NULL, &fancy, 0, "controller nb201 tanh+value");
    controller_case("chain", &(nasc_space_config){.max_layers = 4}, &fancy, 0,
                    "controller chain (var. opts)");
    controller_case("nb201", NULL, &plain, 1, "reinforce loss nb201");
    controller_case("nb201", NULL, &fancy, 2, "ppo objective nb201");
    controller_case("mobilenet", NULL, &fancy, 2, "ppo objective mobilenet");
    mlp_grad();
    return test_done("test_grad_controller");
}
