/* mlp_ensemble.c — an ensemble of small MLPs on the nasc engine, the predictor of BANANAS (White,
 * Neiswanger & Savani, "BANANAS: Bayesian Optimization with Neural Architectures for Neural
 * Architecture Search", AAAI 2021, sec. 4): each member is  dim -> H (ReLU) x n_layers -> 1,
 * initialised from its own seed and trained with Adam on the mean squared error of normalised
 * targets; the ensemble's spread is the uncertainty estimate.
 *
 * Members run on a private one-thread "cpu" backend, so a fit is deterministic for a given seed on
 * any machine with the same kernels. The k-th fit of member j initialises from
 * seed' = hash(seed, k, j) and shuffles its minibatches with Philox (seed', NASC_STREAM_SHUFFLE).
 *
 * Loss of a minibatch of B rows (x: (B,dim,1,1), t: (B,1,1,1) normalised targets):
 *   p = mlp(x);  L = mean((p - t)^2)     built as  d = add(p, -t);  mean(mul(d, d))
 * Its gradient w.r.t. every weight is checked against finite differences in
 * tests/grad/test_grad_controller.c. */
#include "learn_int.h"

#include "nasc/backend.h"
#include "nasc/optim.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MLP_MAX_LAYERS 8

typedef struct member {
    nasc_params *ps;
    nasc_fc layer[MLP_MAX_LAYERS + 1]; /* hidden layers, then the output layer */
} member;

struct nasc_mlp_ensemble {
    nasc_mlp_config cfg;
    int dim;
    uint64_t seed, n_fits;
    member *m;
    nasc_backend *be;
    nasc_graph *g;
    double y_mean, y_std;
    float *xb, *tb; /* minibatch scratch */
    uint32_t *perm;
    int scratch_n;
};

static uint64_t mix(uint64_t a, uint64_t b) {
    uint64_t z = a ^ (b + 0x9e3779b97f4a7c15ull + (a << 6) + (a >> 2));
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

nasc_status nasc_mlp_ensemble_new(const nasc_mlp_config *cfg, int dim, uint64_t seed,
                                  nasc_mlp_ensemble **out, nasc_err *err) {
    *out = NULL;
    if (dim < 1)
        return nasc_errorf(err, NASC_ERR_ARG, "mlp ensemble: bad dimension %d", dim);
    nasc_mlp_ensemble *e = nasc_calloc(1, sizeof *e);
    if (!e)
        return nasc_errorf(err, NASC_ERR_NOMEM, "mlp ensemble: out of memory");
    if (cfg)
        e->cfg = *cfg;
    nasc_mlp_config *c = &e->cfg;
    if (c->n_models <= 0)
        c->n_models = 5;
    if (c->hidden <= 0)
        c->hidden = 32;
    if (c->n_layers <= 0)
        c->n_layers = 2;
    if (c->epochs <= 0)
        c->epochs = 150;
    if (c->batch <= 0)
        c->batch = 32;
    if (!(c->lr > 0.0f))
        c->lr = 0.01f;
    e->dim = dim;
    e->seed = seed;
    nasc_status st = NASC_OK;
    if (c->n_layers > MLP_MAX_LAYERS)
        st = nasc_errorf(err, NASC_ERR_ARG, "mlp ensemble: %d hidden layers (at most %d)",
                         c->n_layers, MLP_MAX_LAYERS);
    if (st == NASC_OK && !(e->m = nasc_calloc((size_t)c->n_models, sizeof *e->m)))
        st = nasc_errorf(err, NASC_ERR_NOMEM, "mlp ensemble: out of memory");
    for (int j = 0; st == NASC_OK && j < c->n_models; j++) {
        member *mb = &e->m[j];
        char name[32];
        snprintf(name, sizeof name, "mlp%d", j);
        if (!(mb->ps = nasc_params_new(name))) {
            st = nasc_errorf(err, NASC_ERR_NOMEM, "mlp ensemble: out of memory");
            break;
        }
        int in = dim;
        for (int l = 0; st == NASC_OK && l <= c->n_layers; l++) {
            int outw = l == c->n_layers ? 1 : c->hidden;
            snprintf(name, sizeof name, "fc%d", l);
            st = nasc_fc_init(&mb->layer[l], mb->ps, name, in, outw, true, err);
            in = outw;
        }
        if (st == NASC_OK)
            st = nasc_params_finalize(mb->ps, err);
        if (st == NASC_OK)
            nasc_params_init(mb->ps, mix(seed, (uint64_t)j));
    }
    if (st == NASC_OK && !(e->be = nasc_backend_new("cpu", 1, err)))
        st = err->code ? err->code : NASC_ERR_NOMEM;
    if (st == NASC_OK && !(e->g = nasc_graph_new(e->be, 1 << 20, err)))
        st = err->code ? err->code : NASC_ERR_NOMEM;
    if (st != NASC_OK) {
        nasc_mlp_ensemble_free(e);
        return st;
    }
    e->y_std = 1.0;
    *out = e;
    return NASC_OK;
}

void nasc_mlp_ensemble_free(nasc_mlp_ensemble *e) {
    if (!e)
        return;
    if (e->m)
        for (int j = 0; j < e->cfg.n_models; j++)
            nasc_params_free(e->m[j].ps);
    nasc_free(e->m);
    nasc_graph_free(e->g);
    nasc_backend_free(e->be);
    nasc_free(e->xb);
    nasc_free(e->tb);
    nasc_free(e->perm);
    nasc_free(e);
}

uint64_t nasc_mlp_ensemble_fit_count(const nasc_mlp_ensemble *e) {
    return e->n_fits;
}
void nasc_mlp_ensemble_set_fit_count(nasc_mlp_ensemble *e, uint64_t k) {
    e->n_fits = k;
}

nasc_params *nasc_mlp_ensemble_params(nasc_mlp_ensemble *e, int j) {
    return j >= 0 && j < e->cfg.n_models ? e->m[j].ps : NULL;
}

/* Records member mb's prediction for x on g: (B,1,1,1). */
static nasc_tensor *forward(const nasc_mlp_ensemble *e, const member *mb, nasc_graph *g,
                            nasc_tensor *x) {
    nasc_tensor *h = x;
    for (int l = 0; l < e->cfg.n_layers; l++)
        h = nasc_relu(g, nasc_fc_forward(g, &mb->layer[l], h));
    return nasc_fc_forward(g, &mb->layer[e->cfg.n_layers], h);
}

/* Mean squared error of member mb on rows x (B x dim) against t (B), on e->g (reset here). */
static nasc_status loss_on(nasc_mlp_ensemble *e, const member *mb, const float *x, const float *t,
                           int B, bool backward, double *out_loss, nasc_err *err) {
    nasc_graph *g = e->g;
    nasc_graph_reset(g);
    nasc_graph_set_grad(g, backward);
    nasc_tensor *xi = nasc_input(g, B, e->dim, 1, 1, x);
    nasc_tensor *nt = nasc_input(g, B, 1, 1, 1, NULL);
    if (nt)
        for (int i = 0; i < B; i++)
            nt->data[i] = -t[i];
    nasc_tensor *d = nasc_add(g, forward(e, mb, g, xi), nt);
    nasc_tensor *loss = nasc_mean(g, nasc_mul(g, d, d));
    if (nasc_graph_status(g) != NASC_OK)
        return nasc_errorf(err, nasc_graph_status(g), "mlp ensemble: %s", nasc_graph_errmsg(g));
    *out_loss = (double)loss->data[0];
    if (backward && nasc_backward(g, loss) != NASC_OK)
        return nasc_errorf(err, nasc_graph_status(g), "mlp ensemble: %s", nasc_graph_errmsg(g));
    return NASC_OK;
}

nasc_status nasc_mlp_ensemble_loss(nasc_mlp_ensemble *e, int j, const float *X, const float *t,
                                   int n, bool backward, double *out_loss, nasc_err *err) {
    if (j < 0 || j >= e->cfg.n_models || n < 1)
        return nasc_errorf(err, NASC_ERR_ARG, "mlp ensemble: bad member %d or %d rows", j, n);
    return loss_on(e, &e->m[j], X, t, n, backward, out_loss, err);
}

static nasc_status scratch(nasc_mlp_ensemble *e, int n, nasc_err *err) {
    if (n <= e->scratch_n)
        return NASC_OK;
    nasc_free(e->xb);
    nasc_free(e->tb);
    nasc_free(e->perm);
    e->xb = nasc_malloc(sizeof(float) * (size_t)n * (size_t)e->dim);
    e->tb = nasc_malloc(sizeof(float) * (size_t)n);
    e->perm = nasc_malloc(sizeof(uint32_t) * (size_t)n);
    if (!e->xb || !e->tb || !e->perm) {
        e->scratch_n = 0;
        return nasc_errorf(err, NASC_ERR_NOMEM, "mlp ensemble: out of memory");
    }
    e->scratch_n = n;
    return NASC_OK;
}

nasc_status nasc_mlp_ensemble_fit(nasc_mlp_ensemble *e, const float *X, const double *y, int n,
                                  nasc_err *err) {
    if (n < 1)
        return nasc_errorf(err, NASC_ERR_ARG, "mlp ensemble: fit needs at least one point");
    NASC_TRY(scratch(e, n, err));
    nasc_learn_standardize(y, n, &e->y_mean, &e->y_std);
    const uint64_t fit = e->n_fits++;
    const int B = e->cfg.batch < n ? e->cfg.batch : n;
    for (int j = 0; j < e->cfg.n_models; j++) {
        member *mb = &e->m[j];
        uint64_t s = mix(mix(e->seed, fit + 1), (uint64_t)j);
        nasc_params_init(mb->ps, s);
        nasc_optim *opt;
        NASC_TRY(nasc_optim_new(
            mb->ps,
            &(nasc_optim_config){.kind = NASC_OPTIM_ADAM, .weight_decay = e->cfg.weight_decay},
            &opt, err));
        nasc_rng rng;
        nasc_rng_init(&rng, s, NASC_STREAM_SHUFFLE);
        for (int i = 0; i < n; i++)
            e->perm[i] = (uint32_t)i;
        nasc_status st = NASC_OK;
        for (int ep = 0; ep < e->cfg.epochs && st == NASC_OK; ep++) {
            nasc_rng_shuffle_u32(&rng, e->perm, (size_t)n);
            for (int b0 = 0; b0 + B <= n && st == NASC_OK; b0 += B) { /* drop the ragged tail */
                for (int i = 0; i < B; i++) {
                    uint32_t r = e->perm[b0 + i];
                    memcpy(e->xb + (size_t)i * (size_t)e->dim, X + (size_t)r * (size_t)e->dim,
                           sizeof(float) * (size_t)e->dim);
                    e->tb[i] = (float)((y[r] - e->y_mean) / e->y_std);
                }
                double loss;
                nasc_params_zero_grad(mb->ps);
                st = loss_on(e, mb, e->xb, e->tb, B, true, &loss, err);
                if (st == NASC_OK)
                    nasc_optim_step(opt, e->cfg.lr);
            }
        }
        nasc_optim_free(opt);
        NASC_TRY(st);
    }
    return NASC_OK;
}

nasc_status nasc_mlp_ensemble_predict(nasc_mlp_ensemble *e, const float *Xq, int m,
                                      double *out_mean, double *out_std, double *per_model,
                                      nasc_err *err) {
    const int M = e->cfg.n_models, CH = 1024;
    for (int i = 0; i < m; i++)
        out_mean[i] = out_std[i] = 0.0;
    nasc_graph *g = e->g;
    for (int j = 0; j < M; j++)
        for (int i0 = 0; i0 < m; i0 += CH) {
            int B = m - i0 < CH ? m - i0 : CH;
            nasc_graph_reset(g);
            nasc_graph_set_grad(g, false);
            nasc_tensor *p = forward(
                e, &e->m[j], g, nasc_input(g, B, e->dim, 1, 1, Xq + (size_t)i0 * (size_t)e->dim));
            if (nasc_graph_status(g) != NASC_OK)
                return nasc_errorf(err, nasc_graph_status(g), "mlp ensemble: %s",
                                   nasc_graph_errmsg(g));
            for (int i = 0; i < B; i++) {
                double v = e->y_mean + e->y_std * (double)p->data[i];
                if (per_model)
                    per_model[(size_t)j * (size_t)m + (size_t)(i0 + i)] = v;
                out_mean[i0 + i] += v;
                out_std[i0 + i] += v * v;
            }
        }
    for (int i = 0; i < m; i++) {
        double mu = out_mean[i] / M;
        out_mean[i] = mu;
        out_std[i] = sqrt(fmax(out_std[i] / M - mu * mu, 0.0));
    }
    nasc_graph_set_grad(g, true);
    return NASC_OK;
}
