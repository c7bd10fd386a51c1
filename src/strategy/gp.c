/* gp.c — Gaussian-process regression for Bayesian optimisation (predictor.h), and the expected
 * improvement and Kendall tau helpers shared by the learned strategies.
 *
 * Model (Rasmussen & Williams, "Gaussian Processes for Machine Learning", 2006, ch. 2 and 5):
 *   y = f(x) + e,  f ~ GP(0, k),  e ~ N(0, sn2),  targets normalised to mean 0, variance 1.
 *   K = Kf + (sn2 + jitter) I,  Kf_ab = k(r_ab),  r_ab = |x_a - x_b| / l.
 *   log p(y) = -1/2 y' a - sum_i log L_ii - n/2 log 2pi,   K = L L',  a = K^-1 y     (eq. 5.8)
 *   d log p / d theta_j = 1/2 tr((a a' - K^-1) dK/dtheta_j)                          (eq. 5.9)
 * with theta = (log l, log s2, log sn2):
 *   dK/dlog s2  = Kf
 *   dK/dlog sn2 = sn2 I
 *   dK/dlog l   = RBF:        Kf_ab * r_ab^2
 *                 Matern-5/2: s2 * 5/3 * r^2 (1 + sqrt5 r) exp(-sqrt5 r)
 *     (d r / d log l = -r;  RBF: dk/dr = -r k;  Matern-5/2: dk/dr = -5/3 s2 r (1 + sqrt5 r)
 * e^-sqrt5r) The gradient is checked against finite differences in tests/unit/test_predictors.c.
 *
 * Hyperparameters are fitted by projected gradient ascent on log p(y) in theta (box bounds below),
 * with an adaptive step (grown by 1.5 after an improving step, halved after a failed one), warm
 * started from the previous fit: BO refits after every new point, and the optimum moves little.
 *
 * Prediction: mean = k*' a, var = s2 - v'v with L v = k*, both mapped back to y's units. All
 * matrices are row-major doubles; Cholesky, solves and the inverse are LAPACK's dpotrf / dpotrs /
 * dpotri / dtrtrs through LAPACKE. */
#include "learn_int.h"

#include <cblas.h> /* openblas_set_num_threads */
#include <lapacke.h>
#include <math.h>
#include <string.h>

/* Box bounds on theta = (log l, log s2, log sn2); sn2 >= 1e-6 also keeps K well conditioned. */
static const double theta_lo[3] = {-4.6, -4.6, -13.8}; /* l >= 0.01, s2 >= 0.01, sn2 >= 1e-6 */
static const double theta_hi[3] = {6.9, 4.6, 0.0};     /* l <= 1000, s2 <= 100, sn2 <= 1 */

struct nasc_gp {
    nasc_gp_config cfg;
    int dim;
    double theta[3];
    int n, cap; /* points and allocated capacity */
    double *X;  /* cap x dim */
    double *y;  /* normalised targets */
    double y_mean, y_std;
    double *D2;    /* n x n squared distances */
    double *L;     /* Cholesky factor of K (lower, row-major) at theta */
    double *alpha; /* K^-1 y */
    double *work;  /* n x n scratch (K^-1 for the gradient) */
    double jitter; /* diagonal jitter that made the last factorisation succeed */
    bool fitted;
};

double nasc_expected_improvement(double mean, double var, double best, double xi) {
    double d = mean - best - xi;
    if (!(var > 0.0))
        return d > 0.0 ? d : 0.0;
    double s = sqrt(var), z = d / s;
    double pdf = exp(-0.5 * z * z) / sqrt(2.0 * M_PI);
    double cdf = 0.5 * erfc(-z / sqrt(2.0));
    return d * cdf + s * pdf;
}

double nasc_kendall_tau(const double *a, const double *b, int n) {
    if (n < 2)
        return 0.0;
    double conc = 0, disc = 0, ta = 0, tb = 0; /* ta / tb: pairs tied only in a / only in b */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            double da = a[i] - a[j], db = b[i] - b[j];
            if (da == 0.0 && db == 0.0)
                continue;
            if (da == 0.0)
                ta++;
            else if (db == 0.0)
                tb++;
            else if ((da > 0.0) == (db > 0.0))
                conc++;
            else
                disc++;
        }
    double den = sqrt((conc + disc + ta) * (conc + disc + tb));
    return den > 0.0 ? (conc - disc) / den : 0.0;
}

nasc_status nasc_gp_new(const nasc_gp_config *cfg, int dim, nasc_gp **out, nasc_err *err) {
    *out = NULL;
    if (dim < 1 || (cfg && (unsigned)cfg->kernel >= NASC_GP_KERNEL_COUNT))
        return nasc_errorf(err, NASC_ERR_ARG, "gp: bad dimension %d or kernel", dim);
    nasc_gp *gp = nasc_calloc(1, sizeof *gp);
    if (!gp)
        return nasc_errorf(err, NASC_ERR_NOMEM, "gp: out of memory");
    if (cfg)
        gp->cfg = *cfg;
    gp->dim = dim;
    if (!(gp->cfg.lengthscale > 0))
        gp->cfg.lengthscale = 0.5 * sqrt((double)dim);
    if (!(gp->cfg.signal_var > 0))
        gp->cfg.signal_var = 1.0;
    if (!(gp->cfg.noise_var > 0))
        gp->cfg.noise_var = 1e-2;
    if (gp->cfg.fit_iters <= 0)
        gp->cfg.fit_iters = 30;
    gp->theta[0] = log(gp->cfg.lengthscale);
    gp->theta[1] = log(gp->cfg.signal_var);
    gp->theta[2] = log(gp->cfg.noise_var);
    for (int j = 0; j < 3; j++)
        gp->theta[j] = fmin(fmax(gp->theta[j], theta_lo[j]), theta_hi[j]);
    /* The factorisations are small (n <= a few hundred): OpenBLAS's thread pool only slows them
     * down (its workers spin on a busy machine) and would tie the bits to the thread count. One
     * thread, as the cpu backend sets too. */
    openblas_set_num_threads(1);
    *out = gp;
    return NASC_OK;
}

void nasc_gp_free(nasc_gp *gp) {
    if (!gp)
        return;
    nasc_free(gp->X);
    nasc_free(gp->y);
    nasc_free(gp->D2);
    nasc_free(gp->L);
    nasc_free(gp->alpha);
    nasc_free(gp->work);
    nasc_free(gp);
}

void nasc_gp_get_hyper(const nasc_gp *gp, double out_theta[3]) {
    memcpy(out_theta, gp->theta, sizeof gp->theta);
}

void nasc_gp_set_hyper(nasc_gp *gp, const double theta[3]) {
    for (int j = 0; j < 3; j++)
        gp->theta[j] =
            isfinite(theta[j]) ? fmin(fmax(theta[j], theta_lo[j]), theta_hi[j]) : gp->theta[j];
}

/* k(r^2) for the kernel, s2 = signal variance. */
static double kern(nasc_gp_kernel kind, double r2, double s2) {
    if (kind == NASC_GP_RBF)
        return s2 * exp(-0.5 * r2);
    double r = sqrt(r2), q = sqrt(5.0) * r;
    return s2 * (1.0 + q + 5.0 / 3.0 * r2) * exp(-q);
}

/* dk / dlog l at r^2 (see the header comment). */
static double kern_dlogl(nasc_gp_kernel kind, double r2, double s2) {
    if (kind == NASC_GP_RBF)
        return s2 * exp(-0.5 * r2) * r2;
    double r = sqrt(r2), q = sqrt(5.0) * r;
    return s2 * 5.0 / 3.0 * r2 * (1.0 + q) * exp(-q);
}

/* Factorises K(theta) into gp->L and solves gp->alpha; raises jitter until it works. Returns
 * false if K is not positive definite even with jitter 1e-4. */
static bool factor(nasc_gp *gp, const double theta[3]) {
    const int n = gp->n;
    const double l2 = exp(2.0 * theta[0]), s2 = exp(theta[1]), sn2 = exp(theta[2]);
    for (double jit = 1e-8; jit <= 1.01e-4; jit *= 10.0) {
        for (int a = 0; a < n; a++) {
            for (int b = 0; b <= a; b++)
                gp->L[a * n + b] = kern(gp->cfg.kernel, gp->D2[a * n + b] / l2, s2);
            gp->L[a * n + a] += sn2 + jit;
            for (int b = a + 1; b < n; b++)
                gp->L[a * n + b] = 0.0;
        }
        if (LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', n, gp->L, n) == 0) {
            memcpy(gp->alpha, gp->y, sizeof(double) * (size_t)n);
            if (LAPACKE_dpotrs(LAPACK_ROW_MAJOR, 'L', n, 1, gp->L, n, gp->alpha, 1) != 0)
                return false;
            gp->jitter = jit;
            return true;
        }
    }
    return false;
}

/* log p(y) at theta (and its gradient); leaves gp->L / gp->alpha factorised at theta. */
static double log_ml(nasc_gp *gp, const double theta[3], double grad[3]) {
    const int n = gp->n;
    if (n < 1 || !factor(gp, theta))
        return (double)NAN;
    double lml = -0.5 * n * log(2.0 * M_PI);
    for (int i = 0; i < n; i++)
        lml -= 0.5 * gp->y[i] * gp->alpha[i] + log(gp->L[i * n + i]);
    if (!grad)
        return lml;
    /* K^-1 from the factor (lower triangle), then the traces of eq. 5.9 */
    memcpy(gp->work, gp->L, sizeof(double) * (size_t)n * (size_t)n);
    if (LAPACKE_dpotri(LAPACK_ROW_MAJOR, 'L', n, gp->work, n) != 0)
        return (double)NAN;
    const double l2 = exp(2.0 * theta[0]), s2 = exp(theta[1]), sn2 = exp(theta[2]);
    double g0 = 0.0, g1 = 0.0, g2 = 0.0;
    for (int a = 0; a < n; a++)
        for (int b = 0; b <= a; b++) {
            double w = gp->alpha[a] * gp->alpha[b] - gp->work[a * n + b];
            double mult = a == b ? 1.0 : 2.0; /* symmetric: count the upper triangle too */
            double r2 = gp->D2[a * n + b] / l2;
            g0 += mult * w * kern_dlogl(gp->cfg.kernel, r2, s2);
            g1 += mult * w * kern(gp->cfg.kernel, r2, s2);
            if (a == b)
                g2 += w * sn2;
        }
    grad[0] = 0.5 * g0;
    grad[1] = 0.5 * g1;
    grad[2] = 0.5 * g2;
    return lml;
}

double nasc_gp_log_ml(nasc_gp *gp, const double theta[3], double grad[3]) {
    double v = log_ml(gp, theta, grad);
    if (gp->fitted && !factor(gp, gp->theta)) /* restore the fitted posterior */
        gp->fitted = false;
    return v;
}

static nasc_status grow(nasc_gp *gp, int n, nasc_err *err) {
    if (n <= gp->cap)
        return NASC_OK;
    int cap = gp->cap ? gp->cap : 16;
    while (cap < n)
        cap *= 2;
    size_t c = (size_t)cap;
    double *X = nasc_realloc(gp->X, sizeof(double) * c * (size_t)gp->dim);
    if (X)
        gp->X = X;
    double *y = nasc_realloc(gp->y, sizeof(double) * c);
    if (y)
        gp->y = y;
    double *al = nasc_realloc(gp->alpha, sizeof(double) * c);
    if (al)
        gp->alpha = al;
    nasc_free(gp->D2);
    nasc_free(gp->L);
    nasc_free(gp->work);
    gp->D2 = nasc_malloc(sizeof(double) * c * c);
    gp->L = nasc_malloc(sizeof(double) * c * c);
    gp->work = nasc_malloc(sizeof(double) * c * c);
    if (!X || !y || !al || !gp->D2 || !gp->L || !gp->work) {
        gp->cap = 0;
        gp->n = 0;
        return nasc_errorf(err, NASC_ERR_NOMEM, "gp: out of memory for %d points", n);
    }
    gp->cap = cap;
    return NASC_OK;
}

/* Projected gradient ascent on log p(y) from gp->theta (see the header comment). */
static void fit_hyper(nasc_gp *gp) {
    double th[3], g[3], cand[3], cg[3];
    memcpy(th, gp->theta, sizeof th);
    double f = log_ml(gp, th, g);
    if (!isfinite(f)) { /* warm start unusable: back to the configured start */
        th[0] = log(gp->cfg.lengthscale);
        th[1] = log(gp->cfg.signal_var);
        th[2] = log(gp->cfg.noise_var);
        f = log_ml(gp, th, g);
        if (!isfinite(f))
            return;
    }
    double step = 0.1 / (1.0 + sqrt(g[0] * g[0] + g[1] * g[1] + g[2] * g[2]) / gp->n);
    for (int it = 0; it < gp->cfg.fit_iters; it++) {
        for (int j = 0; j < 3; j++)
            cand[j] = fmin(fmax(th[j] + step * g[j] / gp->n, theta_lo[j]), theta_hi[j]);
        double fc = log_ml(gp, cand, cg);
        if (isfinite(fc) && fc > f) {
            double moved = fabs(cand[0] - th[0]) + fabs(cand[1] - th[1]) + fabs(cand[2] - th[2]);
            memcpy(th, cand, sizeof th);
            memcpy(g, cg, sizeof g);
            double gain = fc - f;
            f = fc;
            step *= 1.5;
            if (moved < 1e-6 || gain < 1e-9 * (1.0 + fabs(f)))
                break;
        } else {
            step *= 0.5;
            if (step < 1e-8)
                break;
        }
    }
    memcpy(gp->theta, th, sizeof th);
}

nasc_status nasc_gp_fit(nasc_gp *gp, const float *X, const double *y, int n, nasc_err *err) {
    if (n < 1)
        return nasc_errorf(err, NASC_ERR_ARG, "gp: fit needs at least one point");
    NASC_TRY(grow(gp, n, err));
    const int d = gp->dim;
    gp->n = n;
    for (size_t i = 0; i < (size_t)n * (size_t)d; i++)
        gp->X[i] = (double)X[i];
    nasc_learn_standardize(y, n, &gp->y_mean, &gp->y_std);
    for (int i = 0; i < n; i++)
        gp->y[i] = (y[i] - gp->y_mean) / gp->y_std;
    for (int a = 0; a < n; a++)
        for (int b = 0; b <= a; b++) {
            double s = 0.0;
            for (int k = 0; k < d; k++) {
                double t = gp->X[a * d + k] - gp->X[b * d + k];
                s += t * t;
            }
            gp->D2[a * n + b] = gp->D2[b * n + a] = s;
        }
    if (gp->cfg.fit_hyper && n >= 3)
        fit_hyper(gp);
    if (!factor(gp, gp->theta)) {
        gp->fitted = false;
        return nasc_errorf(err, NASC_ERR_INTERNAL,
                           "gp: kernel matrix of %d points is not positive definite", n);
    }
    gp->fitted = true;
    return NASC_OK;
}

void nasc_gp_predict(const nasc_gp *gp, const float *Xq, int m, double *out_mean, double *out_var) {
    const int n = gp->n, d = gp->dim;
    const double l2 = exp(2.0 * gp->theta[0]), s2 = exp(gp->theta[1]);
    if (!gp->fitted) { /* the prior */
        for (int i = 0; i < m; i++) {
            out_mean[i] = gp->y_mean;
            out_var[i] = s2 * gp->y_std * gp->y_std;
        }
        return;
    }
    double *ks = nasc_malloc(sizeof(double) * (size_t)n);
    for (int i = 0; i < m; i++) {
        const float *q = Xq + (size_t)i * (size_t)d;
        double mu = 0.0;
        for (int a = 0; a < n; a++) {
            double s = 0.0;
            for (int k = 0; k < d; k++) {
                double t = (double)q[k] - gp->X[a * d + k];
                s += t * t;
            }
            double kv = kern(gp->cfg.kernel, s / l2, s2);
            mu += kv * gp->alpha[a];
            if (ks)
                ks[a] = kv;
        }
        double var = s2;
        if (ks) { /* v = L^-1 k* by forward substitution; var = s2 - v'v */
            for (int a = 0; a < n; a++) {
                double t = ks[a];
                for (int b = 0; b < a; b++)
                    t -= gp->L[a * n + b] * ks[b];
                ks[a] = t / gp->L[a * n + a];
                var -= ks[a] * ks[a];
            }
        }
        out_mean[i] = gp->y_mean + gp->y_std * mu;
        out_var[i] = (var > 0.0 ? var : 0.0) * gp->y_std * gp->y_std;
    }
    nasc_free(ks);
}
