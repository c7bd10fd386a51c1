/* proxy.c — zero-cost proxies: a score for an untrained network from one batch, as defined in
 * Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS" (ICLR 2021) and Mellor et al.,
 * "Neural Architecture Search without Training" (ICML 2021). Higher is better for all five.
 *
 *   synflow    params replaced by |params|, BN in inference mode (at initialisation its running
 *              statistics make it the identity: the paper's "no BN" variant), input all ones
 *              (1,C,H,W), R = sum(logits); score = sum over conv/linear weights of |w * dR/dw|.
 *              R is a product of |weights| along every path, so it overflows float32 in deep
 *              networks (an NB201 cell network at C=16, N=5 reaches 1e38). NASLib computes it in
 *              double; the engine is float32, so instead, when float32 overflows, the input is
 *              scaled by s = 2^-k and the output gradient by t = 2^-k: every activation is
 *              then s times and every gradient t times (the network is positively homogeneous in
 *              its input and its biases' paths add nothing to weight gradients), so
 *              sum |w * grad| = s t score exactly up to float rounding, and the score is
 *              recovered in double (ldexp). k = 0, 32, 64, 96, 120 are tried in turn.
 *   snip       training mode, cross entropy L on the batch; score = sum |w * dL/dw|.
 *   grad_norm  the same gradients; score = sum over weight tensors of ||dL/dw||_2.
 *   jacob_cov  J = d sum(logits) / d x, one row per image; C = corrcoef(J) (N x N) with
 *              eigenvalues v; score = -sum(log(v + k) + 1/(v + k)), k = 1e-5.
 *   naswot     binary codes of every ReLU output per image; K[i][j] = number of units where
 *              images i and j agree; score = log|det K|.
 * "Weights" are the conv and linear weight tensors (parameters named "*.w"). The batch is the
 * first batch of a seeded shuffle of the training split: the same for every trial. */
#include "eval_int.h"

#include "nasc/arena.h"
#include "nasc/backend.h"
#include "nasc/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { P_SYNFLOW, P_SNIP, P_GRAD_NORM, P_JACOB_COV, P_NASWOT, P_COUNT };
static const char *const proxy_names[P_COUNT] = {"synflow", "snip", "grad_norm", "jacob_cov",
                                                 "naswot"};

const char *nasc_proxy_names(void) {
    return "synflow, snip, grad_norm, jacob_cov, naswot";
}

typedef struct proxy_eval {
    int kind;
    int threads;
    int channels, cells;
    int n, c, h, w, n_classes; /* the batch: n images (N,C,H,W) */
    float *x;                  /* NHWC */
    int32_t *labels;
} proxy_eval;

static bool is_weight(const nasc_tensor *t) {
    size_t l = strlen(t->name);
    return l >= 2 && !strcmp(t->name + l - 2, ".w");
}

/* Symmetric eigenvalues of a (n x n, row-major, overwritten) by cyclic Jacobi rotations. */
static void sym_eigenvalues(double *a, int n, double *out) {
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0.0;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++)
                off += a[p * n + q] * a[p * n + q];
        if (off < 1e-22)
            break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                double apq = a[p * n + q];
                if (fabs(apq) < 1e-300)
                    continue;
                double theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
                double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
                for (int k = 0; k < n; k++) { /* columns p, q */
                    double akp = a[k * n + p], akq = a[k * n + q];
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for (int k = 0; k < n; k++) { /* rows p, q */
                    double apk = a[p * n + k], aqk = a[q * n + k];
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
            }
    }
    for (int i = 0; i < n; i++)
        out[i] = a[i * n + i];
}

/* log|det a| by LU with partial pivoting (a is overwritten); -inf if singular. */
static double log_abs_det(double *a, int n) {
    double s = 0.0;
    for (int k = 0; k < n; k++) {
        int p = k;
        for (int i = k + 1; i < n; i++)
            if (fabs(a[i * n + k]) > fabs(a[p * n + k]))
                p = i;
        if (a[p * n + k] == 0.0)
            return -(double)INFINITY;
        if (p != k)
            for (int j = 0; j < n; j++) {
                double t = a[k * n + j];
                a[k * n + j] = a[p * n + j];
                a[p * n + j] = t;
            }
        s += log(fabs(a[k * n + k]));
        for (int i = k + 1; i < n; i++) {
            double f = a[i * n + k] / a[k * n + k];
            for (int j = k; j < n; j++)
                a[i * n + j] -= f * a[k * n + j];
        }
    }
    return s;
}

static double jacob_cov_score(const float *j, int n, size_t d) {
    double *c = nasc_malloc(sizeof(double) * (size_t)n * (size_t)n);
    double *mean = nasc_malloc(sizeof(double) * (size_t)n), *v = nasc_malloc(sizeof(double) * n);
    double score = (double)NAN;
    if (!c || !mean || !v)
        goto done;
    for (int i = 0; i < n; i++) {
        double s = 0.0;
        for (size_t k = 0; k < d; k++)
            s += (double)j[(size_t)i * d + k];
        mean[i] = s / (double)d;
    }
    for (int a = 0; a < n; a++)
        for (int b = a; b < n; b++) {
            double s = 0.0;
            for (size_t k = 0; k < d; k++)
                s += ((double)j[(size_t)a * d + k] - mean[a]) *
                     ((double)j[(size_t)b * d + k] - mean[b]);
            c[a * n + b] = c[b * n + a] = s;
        }
    for (int a = 0; a < n; a++)
        v[a] = sqrt(c[a * n + a]);
    for (int a = 0; a < n; a++)
        for (int b = 0; b < n; b++)
            c[a * n + b] /= v[a] * v[b]; /* corrcoef; NaN for a constant row */
    for (int a = 0; a < n * n; a++)
        if (!isfinite(c[a]))
            goto done;
    sym_eigenvalues(c, n, v);
    const double k = 1e-5;
    score = 0.0;
    for (int a = 0; a < n; a++)
        score -= log(v[a] + k) + 1.0 / (v[a] + k);
done:
    nasc_free(c);
    nasc_free(mean);
    nasc_free(v);
    return score;
}

/* A node whose output is a ReLU's: the ReLU itself or a batch norm fused with its ReLU (the
 * training graphs' NASC_OP_BN_RELU), so a fusion does not change the codes NASWOT reads. */
static bool is_relu_unit(const nasc_tensor *t, int n) {
    return (t->op == NASC_OP_RELU || t->op == NASC_OP_BN_RELU) && t->ne[0] == n;
}

/* log|det K| over the binary ReLU codes of the batch (bits packed per image). */
static double naswot_score(nasc_graph *g, int n) {
    size_t units = 0;
    for (nasc_tensor *t = nasc_graph_last_node(g); t; t = t->prev)
        if (is_relu_unit(t, n))
            units += (size_t)(nasc_tensor_nelem(t) / n);
    if (!units)
        return (double)NAN;
    size_t words = (units + 63) / 64;
    uint64_t *bits = nasc_calloc((size_t)n * words, sizeof(uint64_t));
    double *k = nasc_malloc(sizeof(double) * (size_t)n * (size_t)n);
    double score = (double)NAN;
    if (!bits || !k)
        goto done;
    size_t u0 = 0;
    for (nasc_tensor *t = nasc_graph_last_node(g); t; t = t->prev) {
        if (!is_relu_unit(t, n))
            continue;
        size_t per = (size_t)(nasc_tensor_nelem(t) / n); /* storage NHWC: image i contiguous */
        for (int i = 0; i < n; i++) {
            const float *p = t->data + (size_t)i * per;
            uint64_t *row = bits + (size_t)i * words;
            for (size_t u = 0; u < per; u++)
                if (p[u] > 0.0f)
                    row[(u0 + u) >> 6] |= 1ULL << ((u0 + u) & 63);
        }
        u0 += per;
    }
    for (int a = 0; a < n; a++)
        for (int b = a; b < n; b++) {
            size_t diff = 0;
            for (size_t w = 0; w < words; w++)
                diff += (size_t)__builtin_popcountll(bits[(size_t)a * words + w] ^
                                                     bits[(size_t)b * words + w]);
            k[a * n + b] = k[b * n + a] = (double)(units - diff);
        }
    score = log_abs_det(k, n);
done:
    nasc_free(bits);
    nasc_free(k);
    return score;
}

/* Over the conv and linear weights: sum |w * dL/dw| (synflow, snip) or the sum of the per-tensor
 * gradient norms (grad_norm), in double; NaN or inf if a gradient is not finite. */
static double weight_sum(const nasc_model *m, int kind) {
    double score = 0.0;
    for (int i = 0; i < nasc_params_n_tensors(m->params); i++) {
        const nasc_tensor *t = nasc_params_tensor(m->params, i);
        if (!is_weight(t))
            continue;
        double s = 0.0;
        int64_t ne = nasc_tensor_nelem(t);
        for (int64_t e = 0; e < ne; e++)
            s += kind == P_GRAD_NORM ? (double)t->grad[e] * (double)t->grad[e]
                                     : fabs((double)t->data[e] * (double)t->grad[e]);
        score += kind == P_GRAD_NORM ? sqrt(s) : s;
    }
    return score;
}

/* A graph that could not be built or differentiated: out of memory is the evaluator's failure;
 * anything else (a network that does not fit the input) is the trial's. */
static nasc_status graph_failed(const proxy_eval *pe, nasc_graph *g, nasc_trial_result *out,
                                nasc_err *err) {
    if (nasc_graph_status(g) == NASC_ERR_NOMEM)
        return nasc_errorf(err, NASC_ERR_NOMEM, "%s", nasc_graph_errmsg(g));
    nasc_trial_result_fail(out, "%s: %s", proxy_names[pe->kind], nasc_graph_errmsg(g));
    return NASC_OK;
}

static nasc_status proxy_evaluate(nasc_evaluator *ev, const nasc_eval_request *req,
                                  nasc_trial_result *out, nasc_err *err) {
    proxy_eval *pe = ev->impl;
    const nasc_net_config net = {.in_c = pe->c,
                                 .in_h = pe->h,
                                 .in_w = pe->w,
                                 .n_classes = pe->n_classes,
                                 .channels = pe->channels,
                                 .cells = pe->cells};
    nasc_model *m = NULL;
    nasc_err berr = {0};
    if (nasc_space_build(req->arch, &net, req->seed, &m, &berr) != NASC_OK) {
        if (berr.code == NASC_ERR_NOMEM)
            return nasc_errorf(err, NASC_ERR_NOMEM, "%s", berr.msg);
        nasc_trial_result_fail(out, "build: %s", berr.msg);
        return NASC_OK;
    }
    out->cost.params = (double)nasc_params_count(m->params);
    nasc_status st = NASC_OK;
    nasc_backend *be = nasc_backend_new("cpu", pe->threads, err);
    nasc_graph *g = be ? nasc_graph_new(be, 0, err) : NULL;
    float *ones = NULL;
    if (!be || !g) {
        st = err && err->code ? err->code : NASC_ERR_NOMEM;
        goto done;
    }
    nasc_graph_set_rng(g, req->seed, 0);
    nasc_params_zero_grad(m->params);
    double score = (double)NAN;
    nasc_tensor *x, *logits, *loss = NULL;
    if (pe->kind == P_SYNFLOW) {
        size_t np = nasc_params_flat_len(m->params);
        float *w = nasc_params_data(m->params);
        for (size_t i = 0; i < np; i++)
            w[i] = fabsf(w[i]);
        size_t img = (size_t)pe->c * (size_t)pe->h * (size_t)pe->w;
        if (!(ones = nasc_malloc(sizeof(float) * img))) {
            st = nasc_errorf(err, NASC_ERR_NOMEM, "synflow: out of memory");
            goto done;
        }
        nasc_graph_set_training(g, false);
        static const int scale_exp[] = {0, 32, 64, 96, 120};
        size_t a0 = 0;
#ifdef NASC_TEST
        /* test hook: start at a larger exponent, to check that the scaled score is the same */
        const char *hook = getenv("NASC_TEST_SYNFLOW_MIN_EXP");
        while (hook && a0 + 1 < sizeof scale_exp / sizeof scale_exp[0] &&
               scale_exp[a0] < atoi(hook))
            a0++;
#endif
        for (size_t a = a0; a < sizeof scale_exp / sizeof scale_exp[0]; a++) {
            const int k = scale_exp[a];
            const float sc = ldexpf(1.0f, -k); /* exact: a power of two */
            nasc_graph_reset(g);
            nasc_params_zero_grad(m->params);
            for (size_t i = 0; i < img; i++)
                ones[i] = sc;
            x = nasc_input(g, 1, pe->c, pe->h, pe->w, ones);
            logits = nasc_model_forward(m, g, x, NULL);
            loss = nasc_scale(g, nasc_sum(g, logits), sc);
            if (!loss || nasc_backward(g, loss) != NASC_OK) {
                st = graph_failed(pe, g, out, err);
                goto done;
            }
            if (!isfinite(loss->data[0]))
                continue; /* the forward pass overflowed */
            double sum = weight_sum(m, P_SYNFLOW);
            if (isfinite(sum)) { /* else a gradient overflowed */
                /* scaled yet zero: the network's range exceeds float32 both ways */
                score = sum == 0.0 && k > 0 ? (double)NAN : ldexp(sum, 2 * k);
                break;
            }
        }
        if (!isfinite(score)) {
            nasc_trial_result_fail(out, "synflow: beyond float32 even with the input and the "
                                        "output gradient rescaled (overflow, or underflow "
                                        "after scaling)");
            goto done;
        }
    } else {
        nasc_graph_set_training(g, true);
        x = nasc_input(g, pe->n, pe->c, pe->h, pe->w, pe->x);
        if (x && pe->kind == P_JACOB_COV)
            nasc_tensor_set_requires_grad(x, true);
        logits = nasc_model_forward(m, g, x, NULL);
        loss = pe->kind == P_JACOB_COV || pe->kind == P_NASWOT
                   ? nasc_sum(g, logits)
                   : nasc_cross_entropy(g, logits, pe->labels, 0.0f);
    }
    if (pe->kind != P_SYNFLOW && (!loss || nasc_backward(g, loss) != NASC_OK)) {
        st = graph_failed(pe, g, out, err);
        goto done;
    }
    /* every failure to produce a finite score says why (float32 overflow, NaN) */
    switch (pe->kind) {
    case P_SYNFLOW:
        break; /* computed above */
    case P_SNIP:
    case P_GRAD_NORM:
        score = weight_sum(m, pe->kind);
        if (!isfinite(score)) {
            nasc_trial_result_fail(out, "%s: gradients not finite (float32 overflow or NaN)",
                                   proxy_names[pe->kind]);
            goto done;
        }
        break;
    case P_JACOB_COV: {
        size_t d = (size_t)pe->c * pe->h * pe->w;
        bool finite = x->grad != NULL;
        for (size_t i = 0; finite && i < (size_t)pe->n * d; i++)
            finite = isfinite(x->grad[i]);
        if (!finite) {
            nasc_trial_result_fail(out, "jacob_cov: input gradients not finite (float32 overflow "
                                        "or NaN)");
            goto done;
        }
        score = jacob_cov_score(x->grad, pe->n, d);
        if (!isfinite(score)) {
            nasc_trial_result_fail(out, "jacob_cov: correlation undefined (a constant Jacobian "
                                        "row: no gradient reaches the input)");
            goto done;
        }
        break;
    }
    case P_NASWOT:
        score = naswot_score(g, pe->n);
        if (!isfinite(score)) {
            nasc_trial_result_fail(out, "naswot: %s",
                                   isnan(score) ? "no ReLU output to code"
                                                : "the kernel matrix is "
                                                  "singular (log|det K| = "
                                                  "-inf)");
            goto done;
        }
        break;
    }
    out->status = NASC_TRIAL_OK;
    out->score = score;
done:
    nasc_free(ones);
    nasc_graph_free(g);
    nasc_backend_free(be);
    nasc_model_free(m);
    return st;
}

static void proxy_free(void *impl) {
    proxy_eval *pe = impl;
    if (!pe)
        return;
    nasc_free(pe->x);
    nasc_free(pe->labels);
    nasc_free(pe);
}

static const nasc_evaluator_i proxy_iface = {
    .kind = "proxy",
    .evaluate = proxy_evaluate,
    .free_impl = proxy_free,
};

nasc_status nasc_evaluator_proxy_new(const nasc_space *s, const nasc_train_eval_config *c,
                                     uint64_t seed, nasc_evaluator **out, nasc_err *err) {
    *out = NULL;
    int kind = -1;
    for (int i = 0; i < P_COUNT; i++)
        if (c->proxy && !strcmp(c->proxy, proxy_names[i]))
            kind = i;
    if (kind < 0)
        return nasc_errorf(err, NASC_ERR_ARG, "proxy: unknown proxy '%s' (proxies: %s)",
                           c->proxy ? c->proxy : "", nasc_proxy_names());
    if (c->proxy_batch < 2)
        return nasc_errorf(err, NASC_ERR_ARG, "proxy: batch must be at least 2 (got %d)",
                           c->proxy_batch);
    nasc_dataset *train = NULL, *val = NULL;
    NASC_TRY(nasc_eval_load_split(c, seed, &train, &val, err));
    nasc_dataset_free(val);
    proxy_eval *pe = nasc_calloc(1, sizeof *pe);
    nasc_loader *ld = NULL;
    nasc_status st = pe ? NASC_OK : nasc_errorf(err, NASC_ERR_NOMEM, "proxy: out of memory");
    const nasc_loader_config lc = {.batch = c->proxy_batch, .shuffle = true, .seed = seed};
    if (st == NASC_OK)
        st = nasc_loader_new(train, &lc, &ld, err);
    nasc_batch b;
    if (st == NASC_OK) {
        nasc_loader_start_epoch(ld, 0);
        if (!nasc_loader_next(ld, &b) || b.n < 2)
            st = nasc_errorf(err, NASC_ERR_ARG,
                             "proxy: the training split has fewer than 2 "
                             "images");
    }
    if (st == NASC_OK) {
        pe->kind = kind;
        pe->threads = c->train.threads > 0 ? c->train.threads : 1;
        pe->channels = c->channels;
        pe->cells = c->cells;
        pe->n = b.n;
        pe->c = train->c;
        pe->h = train->h;
        pe->w = train->w;
        pe->n_classes = train->n_classes;
        size_t nx = (size_t)b.n * nasc_dataset_image_bytes(train);
        pe->x = nasc_malloc(sizeof(float) * nx);
        pe->labels = nasc_malloc(sizeof(int32_t) * (size_t)b.n);
        if (!pe->x || !pe->labels)
            st = nasc_errorf(err, NASC_ERR_NOMEM, "proxy: out of memory");
        else {
            memcpy(pe->x, b.x, sizeof(float) * nx);
            memcpy(pe->labels, b.labels, sizeof(int32_t) * (size_t)b.n);
        }
    }
    nasc_loader_free(ld);
    nasc_dataset_free(train);
    if (st != NASC_OK) {
        proxy_free(pe);
        return st;
    }
    int n = pe->n;
    nasc_evaluator *ev = nasc_evaluator_new(&proxy_iface, pe, s);
    if (!ev)
        return nasc_errorf(err, NASC_ERR_NOMEM, "proxy: out of memory");
    ev->in_process = false;
    ev->max_fidelity = 1.0;
    nasc_evaluator_set_cost(ev,
                            &(nasc_net_config){.in_c = pe->c,
                                               .in_h = pe->h,
                                               .in_w = pe->w,
                                               .n_classes = pe->n_classes,
                                               .channels = pe->channels,
                                               .cells = pe->cells},
                            0);
    snprintf(ev->desc, sizeof ev->desc, "proxy %s on %d images of %.40s", proxy_names[kind], n,
             c->data);
    *out = ev;
    return NASC_OK;
}
