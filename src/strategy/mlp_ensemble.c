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
 * tests/grad/test_grad_controller.c.
 *
 * Pipelined fits (nasc_mlp_ensemble_set_pipeline; BANANAS under parallel workers): the k-th fit
 * call returns at once and predict answers with the model of call k-1, while call k's members
 * train in a background thread (on a second member set, its own graph and backend, a copy of the
 * data), joined when call k+1 needs them. So a coordinator hands out proposals while the next
 * model trains on another core, as DeepHyper's asks computed ahead; the trained members are bit
 * for bit those of a fit of the same data and fit index in the caller's thread (the same code,
 * same seeds, one-thread kernels), so the predictions are a function of the calls alone, whatever
 * the timing. The first call fits in the caller's thread (there is no earlier model).
 * The coordinator also forks trial workers: a fork while the thread is inside a kernel (holding,
 * say, a BLAS buffer lock) could leave the child a lock nobody releases, so a pthread_atfork
 * handler holds every fork until the thread is between two minibatch steps (fork_mu). (A forked
 * child instead of a thread costs the coordinator a copy-on-write fault for every page it writes
 * while the child runs: a quarter of its time in a measured run.) */
#include "learn_int.h"

#include "nasc/backend.h"
#include "nasc/optim.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define MLP_MAX_LAYERS 8

typedef struct member {
    nasc_params *ps;
    nasc_fc layer[MLP_MAX_LAYERS + 1]; /* hidden layers, then the output layer */
} member;

/* A set of members with the target scaling they were trained with. */
typedef struct member_set {
    member *m;
    double y_mean, y_std;
} member_set;

/* The pipeline's last fit call: its data, fit index and where its model is. */
typedef enum last_state {
    LAST_NONE = 0, /* no fit call yet */
    LAST_CURRENT,  /* its model is the current set (the first call) */
    LAST_RUNNING,  /* the thread trains it into the spare set */
    LAST_READY,    /* trained into the spare set in the caller's thread (no thread could start) */
    LAST_UNFITTED, /* restored by nasc_mlp_ensemble_load_pipeline: to be fitted */
} last_state;

struct nasc_mlp_ensemble {
    nasc_mlp_config cfg;
    int dim;
    uint64_t seed, n_fits;
    member_set set[2];      /* set[1] only with the pipeline */
    int cur;                /* the set predict uses */
    nasc_backend *be, *be2; /* be2, g2: the fit thread's */
    nasc_graph *g, *g2;
    float *xb, *tb; /* minibatch scratch (of whichever fit runs: one at a time) */
    uint32_t *perm;
    int scratch_n;
    /* pipelined fits */
    bool pipeline;
    last_state last;
    float *lX;
    double *ly;
    int ln, lcap;
    uint64_t lfit; /* the last call's fit index */
    pthread_t th;  /* LAST_RUNNING */
    nasc_status th_st;
    nasc_err th_err;
    atomic_bool cancel; /* the thread stops at its next step (free) */
};

/* ---- the fork guard: the fit threads hold fork_mu except between minibatch steps ---- */
static pthread_mutex_t fork_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int fork_wanted;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void) {
    atomic_fetch_add(&fork_wanted, 1);
    pthread_mutex_lock(&fork_mu);
}
static void fork_done(void) {
    pthread_mutex_unlock(&fork_mu);
    atomic_fetch_sub(&fork_wanted, 1);
}
static void fork_guard_install(void) {
    pthread_atfork(fork_prepare, fork_done, fork_done);
}

/* A fit thread's point between two steps: lets a waiting fork through. */
static void fork_yield(void) {
    if (!atomic_load(&fork_wanted))
        return;
    pthread_mutex_unlock(&fork_mu);
    while (atomic_load(&fork_wanted))
        sched_yield();
    pthread_mutex_lock(&fork_mu);
}

static uint64_t mix(uint64_t a, uint64_t b) {
    uint64_t z = a ^ (b + 0x9e3779b97f4a7c15ull + (a << 6) + (a >> 2));
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Allocates ms's members: dim -> hidden x n_layers -> 1, initialised from (seed, member). */
static nasc_status members_new(nasc_mlp_ensemble *e, member_set *ms, nasc_err *err) {
    const nasc_mlp_config *c = &e->cfg;
    ms->y_mean = 0.0;
    ms->y_std = 1.0;
    if (!(ms->m = nasc_calloc((size_t)c->n_models, sizeof *ms->m)))
        return nasc_errorf(err, NASC_ERR_NOMEM, "mlp ensemble: out of memory");
    for (int j = 0; j < c->n_models; j++) {
        member *mb = &ms->m[j];
        char name[32];
        snprintf(name, sizeof name, "mlp%d", j);
        if (!(mb->ps = nasc_params_new(name)))
            return nasc_errorf(err, NASC_ERR_NOMEM, "mlp ensemble: out of memory");
        int in = e->dim;
        for (int l = 0; l <= c->n_layers; l++) {
            int outw = l == c->n_layers ? 1 : c->hidden;
            snprintf(name, sizeof name, "fc%d", l);
            NASC_TRY(nasc_fc_init(&mb->layer[l], mb->ps, name, in, outw, true, err));
            in = outw;
        }
        NASC_TRY(nasc_params_finalize(mb->ps, err));
        nasc_params_init(mb->ps, mix(e->seed, (uint64_t)j));
    }
    return NASC_OK;
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
    if (st == NASC_OK)
        st = members_new(e, &e->set[0], err);
    if (st == NASC_OK && !(e->be = nasc_backend_new("cpu", 1, err)))
        st = err->code ? err->code : NASC_ERR_NOMEM;
    if (st == NASC_OK && !(e->g = nasc_graph_new(e->be, 1 << 20, err)))
        st = err->code ? err->code : NASC_ERR_NOMEM;
    if (st != NASC_OK) {
        nasc_mlp_ensemble_free(e);
        return st;
    }
    *out = e;
    return NASC_OK;
}

static void members_free(const nasc_mlp_ensemble *e, member_set *ms) {
    if (ms->m)
        for (int j = 0; j < e->cfg.n_models; j++)
            nasc_params_free(ms->m[j].ps);
    nasc_free(ms->m);
    ms->m = NULL;
}

/* Ends a running fit thread (its fit is not wanted). */
static void thread_end(nasc_mlp_ensemble *e) {
    if (e->last != LAST_RUNNING)
        return;
    atomic_store(&e->cancel, true);
    pthread_join(e->th, NULL);
    atomic_store(&e->cancel, false);
    e->last = LAST_UNFITTED;
}

void nasc_mlp_ensemble_free(nasc_mlp_ensemble *e) {
    if (!e)
        return;
    thread_end(e);
    members_free(e, &e->set[0]);
    members_free(e, &e->set[1]);
    nasc_free(e->lX);
    nasc_free(e->ly);
    nasc_graph_free(e->g);
    nasc_backend_free(e->be);
    nasc_graph_free(e->g2);
    nasc_backend_free(e->be2);
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
    return j >= 0 && j < e->cfg.n_models ? e->set[e->cur].m[j].ps : NULL;
}

/* Records member mb's prediction for x on g: (B,1,1,1). */
static nasc_tensor *forward(const nasc_mlp_ensemble *e, const member *mb, nasc_graph *g,
                            nasc_tensor *x) {
    nasc_tensor *h = x;
    for (int l = 0; l < e->cfg.n_layers; l++)
        h = nasc_relu(g, nasc_fc_forward(g, &mb->layer[l], h));
    return nasc_fc_forward(g, &mb->layer[e->cfg.n_layers], h);
}

/* Mean squared error of member mb on rows x (B x dim) against t (B), on g (reset here). */
static nasc_status loss_on(nasc_mlp_ensemble *e, nasc_graph *g, const member *mb, const float *x,
                           const float *t, int B, bool backward, double *out_loss, nasc_err *err) {
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
    return loss_on(e, e->g, &e->set[e->cur].m[j], X, t, n, backward, out_loss, err);
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

/* Fit number `fit` of ms on X (n x dim), y: every member from a fresh initialisation, on graph g.
 * thread: called from the fit thread (lets forks through between steps, stops when cancelled). */
static nasc_status fit_set(nasc_mlp_ensemble *e, member_set *ms, nasc_graph *g, const float *X,
                           const double *y, int n, uint64_t fit, bool thread, nasc_err *err) {
    NASC_TRY(scratch(e, n, err));
    nasc_learn_standardize(y, n, &ms->y_mean, &ms->y_std);
    const int B = e->cfg.batch < n ? e->cfg.batch : n;
    for (int j = 0; j < e->cfg.n_models; j++) {
        member *mb = &ms->m[j];
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
                    e->tb[i] = (float)((y[r] - ms->y_mean) / ms->y_std);
                }
                double loss;
                nasc_params_zero_grad(mb->ps);
                st = loss_on(e, g, mb, e->xb, e->tb, B, true, &loss, err);
                if (st == NASC_OK)
                    nasc_optim_step(opt, e->cfg.lr);
                if (thread) {
                    fork_yield();
                    if (atomic_load(&e->cancel))
                        st = nasc_errorf(err, NASC_ERR_ABORTED, "mlp ensemble: fit cancelled");
                }
            }
        }
        nasc_optim_free(opt);
        NASC_TRY(st);
    }
    return NASC_OK;
}

/* ---- pipelined fits ---- */

static void *fit_thread(void *arg) {
    nasc_mlp_ensemble *e = arg;
    pthread_mutex_lock(&fork_mu);
    e->th_st =
        fit_set(e, &e->set[1 - e->cur], e->g2, e->lX, e->ly, e->ln, e->lfit, true, &e->th_err);
    pthread_mutex_unlock(&fork_mu);
    return NULL;
}

/* Makes the last call's model the current set: joins its thread, or fits it here. */
static nasc_status last_promote(nasc_mlp_ensemble *e, nasc_err *err) {
    member_set *ms = &e->set[1 - e->cur];
    if (e->last == LAST_RUNNING || e->last == LAST_READY) {
        if (e->last == LAST_RUNNING)
            pthread_join(e->th, NULL);
        e->last = LAST_UNFITTED;
        if (e->th_st != NASC_OK)
            return nasc_errorf(err, e->th_st, "%s", e->th_err.msg);
    } else if (e->last == LAST_UNFITTED) {
        NASC_TRY(fit_set(e, ms, e->g, e->lX, e->ly, e->ln, e->lfit, false, err));
    } else {
        return NASC_OK; /* LAST_NONE, LAST_CURRENT: nothing to promote */
    }
    e->cur = 1 - e->cur;
    e->last = LAST_CURRENT;
    return NASC_OK;
}

/* Keeps a copy of X, y as the last call's data. */
static nasc_status last_keep(nasc_mlp_ensemble *e, const float *X, const double *y, int n,
                             nasc_err *err) {
    if (n > e->lcap) {
        nasc_free(e->lX);
        nasc_free(e->ly);
        e->lX = nasc_malloc(sizeof(float) * (size_t)n * (size_t)e->dim);
        e->ly = nasc_malloc(sizeof(double) * (size_t)n);
        e->lcap = e->lX && e->ly ? n : 0;
        if (!e->lcap)
            return nasc_errorf(err, NASC_ERR_NOMEM, "mlp ensemble: out of memory");
    }
    memcpy(e->lX, X, sizeof(float) * (size_t)n * (size_t)e->dim);
    memcpy(e->ly, y, sizeof(double) * (size_t)n);
    e->ln = n;
    return NASC_OK;
}

nasc_status nasc_mlp_ensemble_set_pipeline(nasc_mlp_ensemble *e, bool on, nasc_err *err) {
    if (on == e->pipeline)
        return NASC_OK;
    if (e->last != LAST_NONE)
        return nasc_errorf(err, NASC_ERR_ARG, "mlp ensemble: pipeline set after a fit");
    if (on && !e->set[1].m)
        NASC_TRY(members_new(e, &e->set[1], err));
    if (on && !e->be2 && !(e->be2 = nasc_backend_new("cpu", 1, err)))
        return err->code ? err->code : NASC_ERR_NOMEM;
    if (on && !e->g2 && !(e->g2 = nasc_graph_new(e->be2, 1 << 20, err)))
        return err->code ? err->code : NASC_ERR_NOMEM;
    if (on)
        pthread_once(&fork_once, fork_guard_install);
    e->pipeline = on;
    return NASC_OK;
}

nasc_status nasc_mlp_ensemble_fit(nasc_mlp_ensemble *e, const float *X, const double *y, int n,
                                  nasc_err *err) {
    if (n < 1)
        return nasc_errorf(err, NASC_ERR_ARG, "mlp ensemble: fit needs at least one point");
    if (!e->pipeline)
        return fit_set(e, &e->set[0], e->g, X, y, n, e->n_fits++, false, err);
    NASC_TRY(last_promote(e, err)); /* the previous call's model: what predict now answers */
    bool first = e->last == LAST_NONE;
    NASC_TRY(last_keep(e, X, y, n, err));
    e->lfit = e->n_fits++;
    e->last = LAST_UNFITTED;
    if (first)
        return last_promote(e, err); /* no earlier model: this one, fitted here */
    nasc_err_clear(&e->th_err);
    e->th_st = NASC_OK;
    if (pthread_create(&e->th, NULL, fit_thread, e) != 0) { /* no thread: the same fit, here */
        e->th_st =
            fit_set(e, &e->set[1 - e->cur], e->g, e->lX, e->ly, e->ln, e->lfit, false, &e->th_err);
        e->last = LAST_READY;
        return NASC_OK;
    }
    e->last = LAST_RUNNING;
    return NASC_OK;
}

void nasc_mlp_ensemble_save_pipeline(const nasc_mlp_ensemble *e, nasc_buf *out) {
    bool has = e->pipeline && e->last != LAST_NONE;
    nasc_buf_put_u64(out, has ? 1 : 0);
    if (!has)
        return;
    nasc_buf_put_u64(out, e->lfit);
    nasc_buf_put_u64(out, (uint64_t)e->ln);
    nasc_buf_put_f32s(out, e->lX, (size_t)e->ln * (size_t)e->dim);
    for (int i = 0; i < e->ln; i++)
        nasc_buf_put_f64(out, e->ly[i]);
}

nasc_status nasc_mlp_ensemble_load_pipeline(nasc_mlp_ensemble *e, nasc_reader *r, nasc_err *err) {
    uint64_t has = nasc_read_u64(r);
    if (r->bad || has > 1 || (has && !e->pipeline))
        return nasc_errorf(err, NASC_ERR_FORMAT, "mlp ensemble: bad pipeline state");
    thread_end(e);
    e->last = LAST_NONE;
    if (!has)
        return NASC_OK;
    uint64_t fit = nasc_read_u64(r), n = nasc_read_u64(r);
    if (r->bad || n < 1 || n > (uint64_t)1 << 24 || n * (uint64_t)e->dim * 4 > r->left)
        return nasc_errorf(err, NASC_ERR_FORMAT, "mlp ensemble: bad pipeline state");
    if (n > (uint64_t)e->lcap) {
        nasc_free(e->lX);
        nasc_free(e->ly);
        e->lX = nasc_malloc(sizeof(float) * (size_t)n * (size_t)e->dim);
        e->ly = nasc_malloc(sizeof(double) * (size_t)n);
        e->lcap = e->lX && e->ly ? (int)n : 0;
        if (!e->lcap)
            return nasc_errorf(err, NASC_ERR_NOMEM, "mlp ensemble: out of memory");
    }
    nasc_read_f32s(r, e->lX, (size_t)n * (size_t)e->dim);
    for (uint64_t i = 0; i < n; i++)
        e->ly[i] = nasc_read_f64(r);
    if (r->bad)
        return nasc_errorf(err, NASC_ERR_FORMAT, "mlp ensemble: bad pipeline state");
    e->ln = (int)n;
    e->lfit = fit;
    e->last = LAST_UNFITTED; /* its model is fitted (here) when the next call needs it */
    return NASC_OK;
}

nasc_status nasc_mlp_ensemble_predict(nasc_mlp_ensemble *e, const float *Xq, int m,
                                      double *out_mean, double *out_std, double *per_model,
                                      nasc_err *err) {
    const int M = e->cfg.n_models, CH = 1024;
    const member_set *ms = &e->set[e->cur];
    for (int i = 0; i < m; i++)
        out_mean[i] = out_std[i] = 0.0;
    nasc_graph *g = e->g;
    for (int j = 0; j < M; j++)
        for (int i0 = 0; i0 < m; i0 += CH) {
            int B = m - i0 < CH ? m - i0 : CH;
            nasc_graph_reset(g);
            nasc_graph_set_grad(g, false);
            nasc_tensor *p = forward(
                e, &ms->m[j], g, nasc_input(g, B, e->dim, 1, 1, Xq + (size_t)i0 * (size_t)e->dim));
            if (nasc_graph_status(g) != NASC_OK)
                return nasc_errorf(err, nasc_graph_status(g), "mlp ensemble: %s",
                                   nasc_graph_errmsg(g));
            for (int i = 0; i < B; i++) {
                double v = ms->y_mean + ms->y_std * (double)p->data[i];
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
