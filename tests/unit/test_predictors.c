/* test_predictors.c — the predictors of predictor.h:
 *   - expected improvement and Kendall tau against hand-computed values;
 *   - the GP's log marginal likelihood gradient against central differences (both kernels);
 *   - the GP interpolates a smooth function, and Bayesian optimisation with it (EI over a grid)
 *     recovers the minimum of the Branin function within 25 evaluations;
 *   - the random forest and the MLP ensemble rank held-out NAS-Bench-201 cells: Kendall tau with
 *     the true CIFAR-10 accuracy, trained on 100 random cells, tested on 1000 others. The figures
 *     are printed; over five random splits they average 0.44-0.50 (forest) and 0.54-0.58 (MLP
 *     ensemble), single splits vary by about 0.05, so the bound 0.3 fails only a broken
 *     predictor (an untrained or shuffled one scores ~0).
 * Deterministic: every random choice comes from fixed seeds. */
#include "test.h"

#include <math.h>

#include "nasc/arena.h"
#include "nasc/predictor.h"
#include "nasc/strategy.h"
#include "strategy/learn_int.h"

#include <sys/wait.h>
#include <unistd.h>

static void test_helpers(void) {
    /* EI of N(mu, s^2) over best: s*(z*Phi(z) + phi(z)), z = (mu-best)/s */
    CHECK_CLOSE(nasc_expected_improvement(0.0, 1.0, 0.0, 0.0), 1.0 / sqrt(2.0 * M_PI), 1e-12, 0);
    CHECK_CLOSE(nasc_expected_improvement(1.0, 0.0, 0.5, 0.0), 0.5, 1e-12, 0);
    CHECK_CLOSE(nasc_expected_improvement(0.0, 0.0, 0.5, 0.0), 0.0, 0, 1e-15);
    /* z = 1: 1*(0.841344746) + 0.241970725 */
    CHECK_CLOSE(nasc_expected_improvement(1.0, 1.0, 0.0, 0.0), 1.083315471, 1e-8, 0);
    double a[5] = {1, 2, 3, 4, 5}, b[5] = {1, 3, 2, 4, 5}, c[5] = {5, 4, 3, 2, 1};
    CHECK_CLOSE(nasc_kendall_tau(a, a, 5), 1.0, 1e-12, 0);
    CHECK_CLOSE(nasc_kendall_tau(a, c, 5), -1.0, 1e-12, 0);
    CHECK_CLOSE(nasc_kendall_tau(a, b, 5), 0.8, 1e-12, 0); /* 9 concordant, 1 discordant */
    double t1[4] = {1, 1, 2, 3}, t2[4] = {1, 2, 3, 4};     /* tau-b with a tie in t1 */
    CHECK_CLOSE(nasc_kendall_tau(t1, t2, 4), 5.0 / sqrt(5.0 * 6.0), 1e-12, 0);
}

/* ---- GP ---- */

static double branin(double x1, double x2) {
    const double a = 1, b = 5.1 / (4 * M_PI * M_PI), c = 5 / M_PI, r = 6, s = 10,
                 t = 1 / (8 * M_PI);
    double u = x2 - b * x1 * x1 + c * x1 - r;
    return a * u * u + s * (1 - t) * cos(x1) + s;
}

/* d log p / d theta by the analytic formula vs a 4-point stencil in theta, for both kernels.
 * log p is computed in double, so h = 1e-3 gives truncation ~h^4 and rounding ~1e-13/h: the
 * tolerance 1e-5 relative + 1e-6 absolute is far above both and far below a wrong term. */
static void test_gp_gradient(void) {
    nasc_err err = {0};
    nasc_rng rng;
    nasc_rng_init(&rng, 7, NASC_STREAM_USER);
    const int n = 25, d = 3;
    float X[75];
    double y[25];
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < d; k++)
            X[i * d + k] = nasc_rng_uniform(&rng) * 2.0f - 1.0f;
        y[i] = sin(3.0 * X[i * d]) + X[i * d + 1] * X[i * d + 2] + 0.05 * nasc_rng_normal(&rng);
    }
    for (int kind = 0; kind < NASC_GP_KERNEL_COUNT; kind++) {
        nasc_gp *gp;
        CHECK_STATUS(nasc_gp_new(&(nasc_gp_config){.kernel = (nasc_gp_kernel)kind}, d, &gp, &err),
                     NASC_OK);
        CHECK_STATUS(nasc_gp_fit(gp, X, y, n, &err), NASC_OK);
        const double th[3][3] = {{-0.3, 0.2, -3.0}, {0.5, -0.4, -1.0}, {0.1, 0.8, -5.0}};
        for (int p = 0; p < 3; p++) {
            double g[3];
            double f0 = nasc_gp_log_ml(gp, th[p], g);
            CHECK(isfinite(f0));
            for (int j = 0; j < 3; j++) {
                const double h = 1e-3;
                double t[3] = {th[p][0], th[p][1], th[p][2]}, f[4];
                const double off[4] = {2 * h, h, -h, -2 * h};
                for (int k = 0; k < 4; k++) {
                    t[j] = th[p][j] + off[k];
                    f[k] = nasc_gp_log_ml(gp, t, NULL);
                }
                double num = (-f[0] + 8 * f[1] - 8 * f[2] + f[3]) / (12 * h);
                CHECK_MSG(fabs(g[j] - num) <= 1e-6 + 1e-5 * fabs(num),
                          "kernel %d point %d dtheta%d: analytic %.10g numeric %.10g", kind, p, j,
                          g[j], num);
            }
        }
        nasc_gp_free(gp);
    }
}

/* Fitting hyperparameters raises the marginal likelihood, and the posterior mean interpolates. */
static void test_gp_fit(void) {
    nasc_err err = {0};
    const int n = 12;
    float X[12];
    double y[12];
    for (int i = 0; i < n; i++) {
        X[i] = (float)i / (n - 1) * 6.0f;
        y[i] = sin((double)X[i]);
    }
    nasc_gp *gp;
    CHECK_STATUS(nasc_gp_new(&(nasc_gp_config){.kernel = NASC_GP_RBF,
                                               .lengthscale = 0.2,
                                               .fit_hyper = true,
                                               .fit_iters = 200},
                             1, &gp, &err),
                 NASC_OK);
    double th0[3] = {log(0.2), 0.0, log(1e-2)};
    CHECK_STATUS(nasc_gp_fit(gp, X, y, n, &err), NASC_OK);
    double th[3];
    nasc_gp_get_hyper(gp, th);
    CHECK_MSG(nasc_gp_log_ml(gp, th, NULL) > nasc_gp_log_ml(gp, th0, NULL) + 1.0,
              "marginal likelihood not improved by the fit");
    float q[3] = {0.25f, 2.6f, 4.9f};
    double mu[3], var[3];
    nasc_gp_predict(gp, q, 3, mu, var);
    for (int i = 0; i < 3; i++) {
        CHECK_CLOSE(mu[i], sin((double)q[i]), 0, 0.03);
        CHECK(var[i] >= 0.0 && var[i] < 0.01);
    }
    nasc_gp_free(gp);
}

/* BO on Branin over a 101x101 grid of [-5,10]x[0,15]: 5 random points, then 25 EI steps. The
 * grid's minimum is within 0.01 of the function's 0.397887; BO must get within 0.05 of it. A GP
 * that ignores the data (or EI with a sign error) ends far away (random search's expected best of
 * 30 grid points is ~2.5; with a grid this fine, hitting the minimum by chance is hopeless). */
static void test_gp_minimum(void) {
    nasc_err err = {0};
    enum { G = 101, NG = G * G, BUDGET = 30 };
    static float grid[NG * 2];
    static double f[NG];
    static bool used[NG];
    double gmin = INFINITY;
    for (int i = 0; i < G; i++)
        for (int j = 0; j < G; j++) {
            int k = i * G + j;
            double x1 = -5.0 + 15.0 * i / (G - 1), x2 = 15.0 * j / (G - 1);
            grid[2 * k] = (float)((x1 + 5.0) / 15.0); /* scaled to the unit square */
            grid[2 * k + 1] = (float)(x2 / 15.0);
            f[k] = branin(x1, x2);
            gmin = fmin(gmin, f[k]);
        }
    nasc_gp *gp;
    CHECK_STATUS(
        nasc_gp_new(
            &(nasc_gp_config){.kernel = NASC_GP_MATERN52, .fit_hyper = true, .lengthscale = 0.3}, 2,
            &gp, &err),
        NASC_OK);
    float X[BUDGET * 2];
    double y[BUDGET];
    static double mu[NG], var[NG];
    nasc_rng rng;
    nasc_rng_init(&rng, 3, NASC_STREAM_USER);
    double best = INFINITY;
    for (int it = 0; it < BUDGET; it++) {
        int pick = -1;
        if (it < 5) {
            do
                pick = (int)nasc_rng_below(&rng, NG);
            while (used[pick]);
        } else {
            CHECK_STATUS(nasc_gp_fit(gp, X, y, it, &err), NASC_OK);
            nasc_gp_predict(gp, grid, NG, mu, var);
            double ybest = -INFINITY, acq_best = -1.0;
            for (int i = 0; i < it; i++)
                ybest = fmax(ybest, y[i]);
            for (int k = 0; k < NG; k++) {
                if (used[k])
                    continue;
                double a = nasc_expected_improvement(mu[k], var[k], ybest, 0.0);
                if (a > acq_best) {
                    acq_best = a;
                    pick = k;
                }
            }
        }
        used[pick] = true;
        X[2 * it] = grid[2 * pick];
        X[2 * it + 1] = grid[2 * pick + 1];
        y[it] = -f[pick]; /* the GP maximises */
        best = fmin(best, f[pick]);
    }
    printf("GP-EI on Branin: best %.4f after %d evaluations (grid minimum %.4f, true 0.3979)\n",
           best, BUDGET, gmin);
    CHECK(gmin < 0.3979 + 0.01);
    CHECK_MSG(best <= gmin + 0.05, "best %.4f vs grid minimum %.4f", best, gmin);
    nasc_gp_free(gp);
}

/* ---- rank correlation on NAS-Bench-201 ---- */

static double tau_on_nb201(int kind, nasc_encoding enc) {
    nasc_err err = {0};
    nasc_space *sp;
    nasc_evaluator *ev;
    CHECK_STATUS(nasc_space_new("nb201", NULL, &sp, &err), NASC_OK);
    if (nasc_evaluator_tabular_new(sp, "nb201:cifar10", NULL, &ev, &err) != NASC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        CHECK(0);
        nasc_space_free(sp);
        return NAN;
    }
    const nasc_table *t = nasc_evaluator_table(ev);
    enum { NTR = 100, NTE = 1000 };
    const size_t L = nasc_space_encoding_len(sp, enc), N = nasc_table_size(t);
    float *X = nasc_calloc((NTR + NTE) * L, sizeof(float));
    double *y = nasc_malloc(sizeof(double) * (NTR + NTE));
    uint32_t *perm = nasc_malloc(sizeof(uint32_t) * N);
    for (size_t i = 0; i < N; i++)
        perm[i] = (uint32_t)i;
    nasc_rng rng;
    nasc_rng_init(&rng, 11, NASC_STREAM_USER);
    nasc_rng_shuffle_u32(&rng, perm, N);
    int m = 0;
    for (size_t i = 0; i < N && m < NTR + NTE; i++) {
        double v = nasc_table_value(t, perm[i]);
        if (!isfinite(v))
            continue;
        nasc_arch *a;
        CHECK_STATUS(nasc_arch_parse(sp, nasc_table_arch(t, perm[i]), &a, &err), NASC_OK);
        CHECK_STATUS(nasc_arch_encode(a, enc, X + (size_t)m * L, &err), NASC_OK);
        nasc_arch_free(a);
        y[m++] = v;
    }
    double mu[NTE], sd[NTE];
    if (kind == 0) {
        nasc_forest *f;
        CHECK_STATUS(nasc_forest_new(NULL, (int)L, 5, &f, &err), NASC_OK);
        CHECK_STATUS(nasc_forest_fit(f, X, y, NTR, &err), NASC_OK);
        nasc_forest_predict(f, X + NTR * L, NTE, mu, sd);
        for (int i = 0; i < NTE; i++)
            CHECK(sd[i] >= 0.0);
        nasc_forest_free(f);
    } else {
        nasc_mlp_ensemble *e;
        CHECK_STATUS(nasc_mlp_ensemble_new(NULL, (int)L, 5, &e, &err), NASC_OK);
        CHECK_STATUS(nasc_mlp_ensemble_fit(e, X, y, NTR, &err), NASC_OK);
        CHECK_STATUS(nasc_mlp_ensemble_predict(e, X + NTR * L, NTE, mu, sd, NULL, &err), NASC_OK);
        nasc_mlp_ensemble_free(e);
    }
    double tau = nasc_kendall_tau(mu, y + NTR, NTE);
    nasc_free(X);
    nasc_free(y);
    nasc_free(perm);
    nasc_evaluator_free(ev);
    nasc_space_free(sp);
    return tau;
}

static void test_rank_correlation(void) {
    double rf1 = tau_on_nb201(0, NASC_ENC_ONEHOT), rf2 = tau_on_nb201(0, NASC_ENC_PATH);
    double ml1 = tau_on_nb201(1, NASC_ENC_ONEHOT), ml2 = tau_on_nb201(1, NASC_ENC_PATH);
    printf("Kendall tau, 100 training / 1000 held-out NAS-Bench-201 cells (CIFAR-10):\n"
           "  random forest  one-hot %.3f  path %.3f\n"
           "  MLP ensemble   one-hot %.3f  path %.3f\n",
           rf1, rf2, ml1, ml2);
    CHECK_MSG(rf1 > 0.3 && rf2 > 0.3, "forest tau %.3f / %.3f", rf1, rf2);
    CHECK_MSG(ml1 > 0.3 && ml2 > 0.3, "MLP tau %.3f / %.3f", ml1, ml2);
}

/* The pipelined ensemble (BANANAS' pipeline, issue 17): after fit call k, predict answers with
 * exactly (bit for bit) the model an ordinary ensemble has after call k-1 (after call 0: call 0's),
 * although call k's fit ran in a thread; a fork while the thread trains returns (the atfork
 * guard); a saved pipeline state restores into an ensemble that continues identically; freeing
 * with a fit running ends it. */
enum { PD = 12, PQ = 40 };
static void pdata(int n, uint64_t seed, float *X, double *y) {
    nasc_rng r;
    nasc_rng_init(&r, seed, NASC_STREAM_USER);
    for (int i = 0; i < n; i++) {
        double v = 0;
        for (int d = 0; d < PD; d++) {
            X[i * PD + d] = nasc_rng_uniform_double(&r) < 0.5 ? 0.0f : 1.0f;
            v += (d % 3 ? 1.0 : -2.0) * X[i * PD + d];
        }
        y[i] = 50.0 + v + nasc_rng_uniform_double(&r);
    }
}

static bool same_pred(nasc_mlp_ensemble *a, const double *mu_ref, const double *sd_ref,
                      const float *Xq) {
    nasc_err err = {0};
    double mu[PQ], sd[PQ];
    CHECK_STATUS(nasc_mlp_ensemble_predict(a, Xq, PQ, mu, sd, NULL, &err), NASC_OK);
    return !memcmp(mu, mu_ref, sizeof mu) && !memcmp(sd, sd_ref, sizeof sd);
}

static void test_mlp_pipeline(void) {
    nasc_err err = {0};
    const nasc_mlp_config mc = {.n_models = 3, .hidden = 16, .epochs = 15};
    enum { K = 5 };
    const int n[K] = {20, 33, 47, 60, 64};
    float X[K][64 * PD], Xq[PQ * PD];
    double y[K][64], yq[PQ];
    for (int k = 0; k < K; k++)
        pdata(n[k], 100 + (uint64_t)k, X[k], y[k]);
    pdata(PQ, 99, Xq, yq);
    /* the reference: ordinary fits, predictions after each call */
    double mu[K][PQ], sd[K][PQ];
    nasc_mlp_ensemble *ref, *pe, *re;
    CHECK_STATUS(nasc_mlp_ensemble_new(&mc, PD, 7, &ref, &err), NASC_OK);
    for (int k = 0; k < K; k++) {
        CHECK_STATUS(nasc_mlp_ensemble_fit(ref, X[k], y[k], n[k], &err), NASC_OK);
        CHECK_STATUS(nasc_mlp_ensemble_predict(ref, Xq, PQ, mu[k], sd[k], NULL, &err), NASC_OK);
    }
    CHECK(memcmp(mu[0], mu[1], sizeof mu[0]) != 0); /* the calls' models differ */
    nasc_mlp_ensemble_free(ref);
    CHECK_STATUS(nasc_mlp_ensemble_new(&mc, PD, 7, &pe, &err), NASC_OK);
    CHECK_STATUS(nasc_mlp_ensemble_set_pipeline(pe, true, &err), NASC_OK);
    nasc_buf saved = {0};
    for (int k = 0; k < K; k++) {
        CHECK_STATUS(nasc_mlp_ensemble_fit(pe, X[k], y[k], n[k], &err), NASC_OK);
        if (k == 1) { /* a fork while call 1's fit runs: the child ends, the parent goes on */
            pid_t pid = fork();
            if (pid == 0)
                _exit(0);
            int wst = 1;
            CHECK(pid > 0 && waitpid(pid, &wst, 0) == pid && WIFEXITED(wst));
        }
        CHECK_MSG(same_pred(pe, mu[k ? k - 1 : 0], sd[k ? k - 1 : 0], Xq),
                  "pipelined call %d: not the model of call %d", k, k ? k - 1 : 0);
        if (k == 2)
            nasc_mlp_ensemble_save_pipeline(pe, &saved);
    }
    CHECK_STATUS(nasc_mlp_ensemble_fit(pe, X[0], y[0], n[0], &err), NASC_OK);
    nasc_mlp_ensemble_free(pe); /* a fit still running: ended */
    /* restored after call 2: call 3 answers with call 2's model, call 4 with call 3's */
    CHECK_STATUS(nasc_mlp_ensemble_new(&mc, PD, 7, &re, &err), NASC_OK);
    CHECK_STATUS(nasc_mlp_ensemble_set_pipeline(re, true, &err), NASC_OK);
    nasc_mlp_ensemble_set_fit_count(re, 3);
    nasc_reader r = nasc_reader_of(saved.data, saved.len);
    CHECK_STATUS(nasc_mlp_ensemble_load_pipeline(re, &r, &err), NASC_OK);
    CHECK(!r.bad && r.left == 0);
    for (int k = 3; k < K; k++) {
        CHECK_STATUS(nasc_mlp_ensemble_fit(re, X[k], y[k], n[k], &err), NASC_OK);
        CHECK_MSG(same_pred(re, mu[k - 1], sd[k - 1], Xq), "restored call %d", k);
    }
    nasc_mlp_ensemble_free(re);
    /* a truncated state is refused */
    CHECK_STATUS(nasc_mlp_ensemble_new(&mc, PD, 7, &re, &err), NASC_OK);
    CHECK_STATUS(nasc_mlp_ensemble_set_pipeline(re, true, &err), NASC_OK);
    r = nasc_reader_of(saved.data, saved.len / 2);
    CHECK_STATUS(nasc_mlp_ensemble_load_pipeline(re, &r, &err), NASC_ERR_FORMAT);
    nasc_mlp_ensemble_free(re);
    nasc_buf_free(&saved);
}

int main(void) {
    test_helpers();
    test_mlp_pipeline();
    test_gp_gradient();
    test_gp_fit();
    test_gp_minimum();
    test_rank_correlation();
    return test_done("test_predictors");
}
