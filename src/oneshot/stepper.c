/* stepper.c — the one-shot stepper (oneshot.h): a supernet, SGD on its weights, Adam on its
 * architecture parameters, and each method's step.
 *
 * A pass (forward, loss, backward) trains exactly the store(s) it needs: the other store's
 * tensors are detached for the pass (requires_grad off and their grad pointers NULL), so an
 * architecture step computes no weight gradients (a third of a backward's convolution work) and
 * a weight step no alpha gradients. The DARTS code computes both every time.
 *
 * Second-order DARTS (Liu et al. 2019, eq. 7-8), with xi = the current weight learning rate:
 *   w'   = w - xi * (momentum * buf + dL_train/dw + wd * w)            (one unrolled SGD step)
 *   v    = dL_val(w', a)/dw' + wd * w'
 *   grad = dL_val(w', a)/da - xi * (dL_train(w+, a)/da - dL_train(w-, a)/da) / (2 R),
 *          w+- = w +- R v,  R = 0.01 / |v|
 * which is the gradient of F(a) = L_val(w'(a), a) + wd/2 |w'(a)|^2 up to the O(R^2) error of the
 * central difference (tests/grad/test_grad_darts2.c checks it against finite differences of F).
 * Every pass of an architecture step uses batch statistics and leaves the BN running statistics
 * alone, so only weight steps move them. */
#include "stepper_int.h"

#include "nasc/arena.h"
#include "nasc/dist.h"
#include "nasc/optim.h"
#include "nasc/rng.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The methods, in the enum's order (stepper_int.h has what a row holds). */
static const nasc_os_method *const methods[NASC_ONESHOT_METHOD_COUNT] = {
    [NASC_ONESHOT_DARTS] = &nasc_os_darts_m,         [NASC_ONESHOT_DARTS2] = &nasc_os_darts2_m,
    [NASC_ONESHOT_GDAS] = &nasc_os_gdas_m,           [NASC_ONESHOT_PCDARTS] = &nasc_os_pcdarts_m,
    [NASC_ONESHOT_ENAS] = &nasc_os_enas_m,           [NASC_ONESHOT_SPOS] = &nasc_os_spos_m,
    [NASC_ONESHOT_PROXYLESS] = &nasc_os_proxyless_m};

const nasc_os_method *nasc_os_method_row(nasc_oneshot_method m) { return methods[m]; }

const char *nasc_oneshot_method_name(nasc_oneshot_method m) {
    return (unsigned)m < (unsigned)NASC_ONESHOT_METHOD_COUNT ? methods[m]->name : NULL;
}

bool nasc_oneshot_method_parse(const char *name, nasc_oneshot_method *out) {
    for (int m = 0; name && m < NASC_ONESHOT_METHOD_COUNT; m++)
        if (!strcmp(name, methods[m]->name)) {
            if (out)
                *out = (nasc_oneshot_method)m;
            return true;
        }
    return false;
}

const char *nasc_oneshot_method_names(void) {
    return "darts, darts2, gdas, pc-darts, enas, spos, proxyless";
}

void nasc_oneshot_opts_default(nasc_oneshot_opts *o, nasc_oneshot_method m, int epochs) {
#define DEF(f, v)                                                                                  \
    if (o->f == 0)                                                                                 \
    o->f = (v)
    nasc_train_hparams hp; /* the weights' SGD: the one-shot preset of the one defaults table */
    nasc_train_hparams_default(&hp, NASC_TRAIN_PRESET_ONESHOT);
    DEF(momentum, (float)hp.momentum);
    DEF(weight_decay, (float)hp.weight_decay);
    DEF(clip, (float)hp.clip);
    DEF(arch_lr, m == NASC_ONESHOT_PROXYLESS ? 6e-3f : m == NASC_ONESHOT_ENAS ? 3.5e-4f : 3e-4f);
    DEF(arch_beta1, m == NASC_ONESHOT_PROXYLESS ? 1e-6f : 0.5f);
    DEF(arch_beta2, 0.999f);
    DEF(arch_wd, m == NASC_ONESHOT_PROXYLESS ? 0.0f : 1e-3f);
    if (m == NASC_ONESHOT_PCDARTS && o->arch_warmup == 0)
        o->arch_warmup = (int)lround(0.3 * epochs);
    DEF(tau_max, 10.0f);
    DEF(tau_min, 0.1f);
    DEF(partial, 4);
    DEF(evo_population, 50);
    DEF(evo_iterations, 20);
    DEF(evo_val_batches, 4);
    DEF(enas_samples, 20);
    DEF(enas_entropy, 1e-4f);
    DEF(enas_baseline, 0.95f);
    DEF(latency_weight, 0.1f);
#undef DEF
}

/* ---- detaching a store for one pass ---- */

void nasc_os_store_train(nasc_params *ps, float **saved_grads, bool on) {
    const int n = nasc_params_n_tensors(ps);
    for (int i = 0; i < n; i++) {
        nasc_tensor *t = nasc_params_tensor(ps, i);
        if (on) {
            t->grad = saved_grads[i];
            t->flags |= NASC_TENSOR_REQUIRES_GRAD;
        } else {
            if (t->grad)
                saved_grads[i] = t->grad;
            t->grad = NULL;
            t->flags &= ~(uint32_t)NASC_TENSOR_REQUIRES_GRAD;
        }
    }
}

static void train_only(nasc_oneshot *os, bool weights, bool arch) {
    nasc_os_store_train(nasc_supernet_weights(os->sn), os->wgrads, weights);
    nasc_os_store_train(nasc_supernet_arch_params(os->sn), os->agrads, arch);
}

/* ---- life cycle ---- */

nasc_status nasc_oneshot_new(nasc_oneshot_method m, nasc_supernet *sn, nasc_backend *be,
                             const nasc_oneshot_opts *o, uint64_t seed, nasc_oneshot **out,
                             nasc_err *err) {
    *out = NULL;
    if ((unsigned)m >= (unsigned)NASC_ONESHOT_METHOD_COUNT)
        return nasc_errorf(err, NASC_ERR_ARG, "oneshot: unknown method %d", (int)m);
    const nasc_supernet_config *sc = nasc_supernet_get_config(sn);
    const nasc_os_method *mi = methods[m];
    if (mi->partial > 0 && sc->partial < 2)
        return nasc_errorf(err, NASC_ERR_ARG,
                           "%s: the supernet needs partial channels (partial >= 2)", mi->name);
    if (mi->partial < 0 && sc->partial > 1)
        return nasc_errorf(err, NASC_ERR_ARG, "%s: partial channels are PC-DARTS's", mi->name);
    nasc_oneshot *os = nasc_calloc(1, sizeof *os);
    if (!os)
        return nasc_errorf(err, NASC_ERR_NOMEM, "oneshot: out of memory");
    os->m = m;
    os->mi = mi;
    if (o)
        os->o = *o;
    nasc_oneshot_opts_default(&os->o, m, 50);
    os->sn = sn;
    os->be = be;
    os->seed = seed;
    os->epochs = 1;
    os->arch_on = true;
    os->tau = os->o.tau_max;
    nasc_rng_init(&os->rng, seed, NASC_STREAM_STRATEGY + 7);
    nasc_params *w = nasc_supernet_weights(sn), *a = nasc_supernet_arch_params(sn);
    const int nw = nasc_params_n_tensors(w), na = nasc_params_n_tensors(a);
    os->nw = nasc_params_flat_len(w);
    os->na = nasc_params_flat_len(a);
    os->wgrads = nasc_calloc((size_t)nw + 1, sizeof *os->wgrads);
    os->agrads = nasc_calloc((size_t)na + 1, sizeof *os->agrads);
    os->g = nasc_graph_new(be, 0, err);
    nasc_status st = NASC_OK;
    if (!os->wgrads || !os->agrads || !os->g) {
        st = os->g ? nasc_errorf(err, NASC_ERR_NOMEM, "oneshot: out of memory") : err->code;
        goto fail;
    }
    for (int i = 0; i < nw; i++)
        os->wgrads[i] = nasc_params_tensor(w, i)->grad;
    for (int i = 0; i < na; i++)
        os->agrads[i] = nasc_params_tensor(a, i)->grad;
    nasc_graph_set_release_grads(os->g, true);
    if ((st = nasc_optim_new(w,
                             &(nasc_optim_config){.kind = NASC_OPTIM_SGD,
                                                  .momentum = os->o.momentum,
                                                  .weight_decay = os->o.weight_decay},
                             &os->wopt, err)) != NASC_OK)
        goto fail;
    if (os->na &&
        (st = nasc_optim_new(a,
                             &(nasc_optim_config){.kind = NASC_OPTIM_ADAM,
                                                  .beta1 = os->o.arch_beta1,
                                                  .beta2 = os->o.arch_beta2,
                                                  .weight_decay = os->o.arch_wd},
                             &os->aopt, err)) != NASC_OK)
        goto fail;
    if (mi->second_order) {
        os->w_save = nasc_malloc_aligned((os->nw + 1) * sizeof(float));
        os->v = nasc_malloc_aligned((os->nw + 1) * sizeof(float));
        os->a_tmp = nasc_malloc_aligned((os->na + 1) * sizeof(float));
        os->a_tmp2 = nasc_malloc_aligned((os->na + 1) * sizeof(float));
        if (!os->w_save || !os->v || !os->a_tmp || !os->a_tmp2) {
            st = nasc_errorf(err, NASC_ERR_NOMEM, "darts2: out of memory for the unrolled step");
            goto fail;
        }
    }
    if (mi->init && (st = mi->init(os, err)) != NASC_OK)
        goto fail;
    *out = os;
    return NASC_OK;
fail:
    nasc_oneshot_free(os);
    return st;
}

void nasc_oneshot_free(nasc_oneshot *os) {
    if (!os)
        return;
    /* give the stores their gradients back whatever state a failed pass left */
    if (os->wgrads && os->agrads)
        train_only(os, true, true);
    nasc_os_method_free(os);
    nasc_optim_free(os->wopt);
    nasc_optim_free(os->aopt);
    nasc_graph_free(os->g);
    nasc_free(os->wgrads);
    nasc_free(os->agrads);
    nasc_free_aligned(os->w_save);
    nasc_free_aligned(os->v);
    nasc_free_aligned(os->a_tmp);
    nasc_free_aligned(os->a_tmp2);
    nasc_dp_free(os->dpw);
    nasc_dp_free(os->dpa);
    nasc_free(os);
}

/* ---- data parallel ---- */

nasc_status nasc_os_set_data_parallel(nasc_oneshot *os, nasc_err *err) {
    if (nasc_dist_size() < 2 || os->dpw)
        return NASC_OK;
    NASC_TRY(nasc_dp_new(nasc_supernet_weights(os->sn), 2, &os->dpw, err));
    if (os->na)
        NASC_TRY(nasc_dp_new(nasc_supernet_arch_params(os->sn), 1, &os->dpa, err));
    return NASC_OK;
}

int nasc_os_batch_total(const nasc_oneshot_batch *b) { return b->n_total > 0 ? b->n_total : b->n; }

int nasc_os_dp_rank(const nasc_oneshot *os) { return os->dpw ? nasc_dist_rank() : 0; }

/* The mean loss of the global batch must be finite: checked after the sum, so that every rank
 * stops at the same pass. */
static nasc_status dp_finite(const nasc_oneshot *os, float loss, nasc_err *err) {
    if (isfinite(loss))
        return NASC_OK;
    return nasc_errorf(err, NASC_ERR_ABORTED, "%s: diverged (loss %g)", os->mi->name,
                       (double)loss);
}

nasc_status nasc_os_dp_weights(nasc_oneshot *os, const nasc_oneshot_batch *b, bool buffers,
                               float *loss, int *correct, nasc_err *err) {
    if (!os->dpw)
        return NASC_OK;
    const int nt = nasc_os_batch_total(b);
    float ex[2] = {loss ? *loss * (float)b->n / (float)nt : 0.0f,
                   correct ? (float)*correct : 0.0f};
    NASC_TRY(buffers ? nasc_dp_average(os->dpw, b->n, nt, ex, err)
                     : nasc_dp_average_grads(os->dpw, b->n, nt, ex, err));
    if (loss)
        *loss = ex[0];
    if (correct)
        *correct = (int)ex[1];
    return loss ? dp_finite(os, *loss, err) : NASC_OK;
}

nasc_status nasc_os_dp_arch(nasc_oneshot *os, const nasc_oneshot_batch *b, float *loss,
                            nasc_err *err) {
    if (!os->dpa)
        return NASC_OK;
    const int nt = nasc_os_batch_total(b);
    float ex[1] = {loss ? *loss * (float)b->n / (float)nt : 0.0f};
    NASC_TRY(nasc_dp_average_grads(os->dpa, b->n, nt, ex, err));
    if (loss)
        *loss = ex[0];
    return loss ? dp_finite(os, *loss, err) : NASC_OK;
}

nasc_status nasc_os_dp_sum(nasc_oneshot *os, float *v, size_t n, nasc_err *err) {
    return os->dpw ? nasc_dist_allreduce_sum(v, n, err) : NASC_OK;
}

nasc_status nasc_os_dp_agree(nasc_oneshot *os, void *p, size_t n, nasc_err *err) {
    return os->dpw ? nasc_dist_bcast(p, n, 0, err) : NASC_OK;
}

nasc_supernet *nasc_oneshot_supernet(const nasc_oneshot *os) { return os->sn; }

void nasc_oneshot_set_epoch(nasc_oneshot *os, int epoch, int epochs) {
    os->epoch = epoch;
    os->epochs = epochs > 0 ? epochs : 1;
    os->arch_on = epoch >= os->o.arch_warmup;
    /* GDAS: tau_max - (tau_max - tau_min) * epoch / (epochs - 1) */
    const float f = os->epochs > 1 ? (float)epoch / (float)(os->epochs - 1) : 1.0f;
    os->tau = os->o.tau_max - (os->o.tau_max - os->o.tau_min) * f;
}

void nasc_oneshot_memory(const nasc_oneshot *os, size_t *out_arena, size_t *out_grads) {
    if (out_arena)
        *out_arena = nasc_arena_high_water(nasc_graph_arena(os->g));
    if (out_grads)
        nasc_graph_grad_bytes(os->g, NULL, out_grads, false);
}

/* ---- passes ---- */

nasc_status nasc_os_graph_error(nasc_oneshot *os, nasc_err *err) {
    return nasc_errorf(err, nasc_graph_status(os->g), "%s", nasc_graph_errmsg(os->g));
}

nasc_tensor *nasc_os_begin(nasc_oneshot *os, const nasc_oneshot_batch *b, bool training) {
    nasc_graph *g = os->g;
    nasc_graph_reset(g);
    nasc_graph_set_training(g, training);
    nasc_graph_set_grad(g, true);
    nasc_graph_set_rng(g, os->seed, os->n_passes++);
    nasc_graph_set_batch_first(g, b->first); /* per-image draws as in one process */
    const nasc_supernet_config *c = nasc_supernet_get_config(os->sn);
    return nasc_input(g, b->n, c->in_c, c->in_h, c->in_w, b->x);
}

nasc_status nasc_os_finish(nasc_oneshot *os, nasc_tensor *logits, const nasc_oneshot_batch *b,
                           bool backward, float *out_loss, int *out_correct, nasc_err *err) {
    nasc_graph *g = os->g;
    nasc_tensor *loss = nasc_cross_entropy(g, logits, b->labels, 0.0f);
    if (nasc_graph_status(g) != NASC_OK)
        return nasc_os_graph_error(os, err);
    if (out_loss)
        *out_loss = loss->data[0];
    if (out_correct)
        *out_correct = nasc_count_correct(logits, b->labels);
    /* data parallel: checked on the global batch's loss, by every rank alike (dp_finite) */
    if (!os->dpw && !isfinite(loss->data[0]))
        return nasc_errorf(err, NASC_ERR_ABORTED, "%s: diverged (loss %g)",
                           os->mi->name, (double)loss->data[0]);
    if (backward && nasc_backward(g, loss) != NASC_OK)
        return nasc_os_graph_error(os, err);
    size_t arena = nasc_arena_high_water(nasc_graph_arena(g));
    if (arena > os->arena_peak)
        os->arena_peak = arena;
    return NASC_OK;
}

/* Forward (and backward) of batch b under the softmax plan. */
static nasc_status softmax_pass(nasc_oneshot *os, const nasc_oneshot_batch *b, bool batch_stats,
                                bool backward, float *out_loss, int *out_correct, nasc_err *err) {
    nasc_tensor *x = nasc_os_begin(os, b, true);
    nasc_supernet_plan plan;
    nasc_supernet_plan_softmax(os->sn, os->g, &plan);
    plan.bn_batch_stats_only = batch_stats;
    nasc_tensor *logits = nasc_supernet_forward(os->sn, os->g, x, &plan);
    return nasc_os_finish(os, logits, b, backward, out_loss, out_correct, err);
}

/* Collapse regulariser: + skip_reg * mean over edges of softmax(alpha)[e, skip], added to the
 * alpha gradient analytically: d p_s / d a_k = p_s (delta_sk - p_k). */
void nasc_os_skip_reg_grad(nasc_oneshot *os) {
    const float lam = os->o.skip_reg;
    if (lam <= 0.0f || nasc_os_kind(os->sn) != OS_DARTS)
        return;
    const int E = nasc_supernet_n_edges(os->sn), K = nasc_supernet_n_ops(os->sn);
    const int skip = 3; /* skip_connect in DARTS order */
    const int T = nasc_supernet_n_types(os->sn);
    float p[NASC_SUPERNET_MAX_OPS];
    for (int t = 0; t < T; t++) {
        nasc_tensor *al = nasc_supernet_alpha(os->sn, t);
        for (int e = 0; e < E; e++) {
            nasc_os_softmax(al->data + e * K, K, p);
            for (int k = 0; k < K; k++)
                al->grad[e * K + k] +=
                    lam / (float)(E * T) * p[skip] * ((k == skip ? 1.0f : 0.0f) - p[k]);
        }
    }
}

/* The first-order alpha gradient (of the validation loss) into the alpha grads. */
static nasc_status arch_grad_first(nasc_oneshot *os, const nasc_oneshot_batch *val,
                                   float *out_loss, nasc_err *err) {
    nasc_params_zero_grad(nasc_supernet_arch_params(os->sn));
    train_only(os, false, true);
    float loss = NAN;
    nasc_status st = softmax_pass(os, val, true, true, &loss, NULL, err);
    train_only(os, true, true);
    if (st == NASC_OK)
        st = nasc_os_dp_arch(os, val, &loss, err);
    if (out_loss)
        *out_loss = loss;
    return st;
}

static float norm2(const float *x, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)x[i] * (double)x[i];
    return (float)sqrt(s);
}

/* The second-order alpha gradient into the alpha grads (see the top of the file). */
static nasc_status arch_grad_second(nasc_oneshot *os, const nasc_oneshot_batch *train,
                                    const nasc_oneshot_batch *val, float xi, float *out_loss,
                                    nasc_err *err) {
    nasc_params *wp = nasc_supernet_weights(os->sn), *ap = nasc_supernet_arch_params(os->sn);
    float *w = nasc_params_data(wp), *gw = nasc_params_grad(wp), *ga = nasc_params_grad(ap);
    const size_t nw = os->nw, na = os->na;
    const float wd = os->o.weight_decay, mom = os->o.momentum;
    nasc_status st;
    /* 1. dL_train/dw at w */
    nasc_params_zero_grad(wp);
    train_only(os, true, false);
    st = softmax_pass(os, train, true, true, NULL, NULL, err);
    if (st == NASC_OK) /* data parallel: the global batch's gradient, so w' is the same */
        st = nasc_os_dp_weights(os, train, false, NULL, NULL, err);
    if (st != NASC_OK)
        goto done;
    /* 2. w' = w - xi (momentum * buf + g + wd w); buf is zero before the first SGD step */
    size_t n_state = 0;
    const float *buf = nasc_optim_state(os->wopt, &n_state);
    const bool have_buf = nasc_optim_steps(os->wopt) > 0 && n_state == nw;
    memcpy(os->w_save, w, nw * sizeof(float));
    for (size_t i = 0; i < nw; i++)
        w[i] -= xi * ((have_buf ? mom * buf[i] : 0.0f) + gw[i] + wd * os->w_save[i]);
    /* 3. at w': dL_val/da and v = dL_val/dw' + wd w' */
    nasc_params_zero_grad(wp);
    nasc_params_zero_grad(ap);
    train_only(os, true, true);
    float vloss = NAN;
    st = softmax_pass(os, val, true, true, &vloss, NULL, err);
    if (st == NASC_OK) /* v of the global batch (R and w +- R v the same on every rank); the alpha
                        * gradients stay this rank's: step 5 is linear in them, averaged there */
        st = nasc_os_dp_weights(os, val, false, &vloss, NULL, err);
    if (out_loss)
        *out_loss = vloss;
    if (st != NASC_OK)
        goto restore;
    memcpy(os->a_tmp, ga, na * sizeof(float));
    for (size_t i = 0; i < nw; i++)
        os->v[i] = gw[i] + wd * w[i];
    /* 4. dL_train/da at w +- R v */
    const float vn = norm2(os->v, nw);
    const float R = vn > 0.0f ? 0.01f / vn : 0.0f;
    train_only(os, false, true);
    for (int sgn = 0; sgn < 2; sgn++) {
        const float s = sgn == 0 ? R : -R;
        for (size_t i = 0; i < nw; i++)
            w[i] = os->w_save[i] + s * os->v[i];
        nasc_params_zero_grad(ap);
        st = softmax_pass(os, train, true, true, NULL, NULL, err);
        if (st != NASC_OK)
            goto restore;
        if (sgn == 0)
            memcpy(os->a_tmp2, ga, na * sizeof(float));
    }
    /* 5. grad = dL_val/da - xi (g+ - g-) / 2R */
    for (size_t i = 0; i < na; i++)
        ga[i] = os->a_tmp[i] - (R > 0.0f ? xi * (os->a_tmp2[i] - ga[i]) / (2.0f * R) : 0.0f);
    st = nasc_os_dp_arch(os, val, NULL, err);
restore:
    memcpy(w, os->w_save, nw * sizeof(float));
done:
    train_only(os, true, true);
    nasc_params_zero_grad(wp);
    return st;
}

nasc_status nasc_oneshot_arch_grad(nasc_oneshot *os, const nasc_oneshot_batch *train,
                                   const nasc_oneshot_batch *val, float lr, float *out,
                                   nasc_err *err) {
    if (!os->mi->relaxed)
        return nasc_errorf(err, NASC_ERR_UNSUPPORTED,
                           "%s: the architecture gradient is defined for darts, darts2 and "
                           "pc-darts",
                           os->mi->name);
    nasc_status st = os->mi->second_order
                         ? arch_grad_second(os, train, val, lr, NULL, err)
                         : arch_grad_first(os, val, NULL, err);
    if (st == NASC_OK)
        memcpy(out, nasc_params_grad(nasc_supernet_arch_params(os->sn)), os->na * sizeof(float));
    return st;
}

/* The weight step every method shares: forward under `plan_fn`'s plan, backward into the
 * weights only, clip, SGD. */
nasc_status nasc_os_weight_step(nasc_oneshot *os, const nasc_oneshot_batch *train, float lr,
                                nasc_os_plan_fn plan_fn, nasc_oneshot_step_stats *stats,
                                nasc_err *err) {
    nasc_params *wp = nasc_supernet_weights(os->sn);
    nasc_params_zero_grad(wp);
    train_only(os, true, false);
    nasc_tensor *x = nasc_os_begin(os, train, true);
    nasc_supernet_plan plan;
    nasc_status st = plan_fn(os, &plan, err);
    if (st == NASC_OK) {
        nasc_tensor *logits = nasc_supernet_forward(os->sn, os->g, x, &plan);
        st = nasc_os_finish(os, logits, train, true, &stats->train_loss, &stats->train_correct,
                            err);
    }
    train_only(os, true, true);
    if (st == NASC_OK)
        st = nasc_os_dp_weights(os, train, true, &stats->train_loss, &stats->train_correct, err);
    if (st != NASC_OK)
        return st;
    if (os->o.clip > 0.0f)
        nasc_clip_grad_norm(wp, os->o.clip);
    nasc_optim_step(os->wopt, lr);
    return NASC_OK;
}

static nasc_status plan_softmax(nasc_oneshot *os, nasc_supernet_plan *plan, nasc_err *err) {
    (void)err;
    nasc_supernet_plan_softmax(os->sn, os->g, plan);
    return NASC_OK;
}

nasc_status nasc_os_arch_update(nasc_oneshot *os) {
    nasc_os_skip_reg_grad(os);
    nasc_optim_step(os->aopt, os->o.arch_lr);
    return NASC_OK;
}

nasc_status nasc_oneshot_step(nasc_oneshot *os, const nasc_oneshot_batch *train,
                              const nasc_oneshot_batch *val, float lr,
                              nasc_oneshot_step_stats *out, nasc_err *err) {
    nasc_oneshot_step_stats st_local;
    nasc_oneshot_step_stats *stats = out ? out : &st_local;
    stats->arch_loss = NAN;
    stats->train_loss = NAN;
    stats->train_correct = 0;
    if (!train || !train->x || !train->labels || train->n < 1)
        return nasc_errorf(err, NASC_ERR_ARG, "%s: step needs a training batch",
                           os->mi->name);
    return os->mi->step(os, train, val, lr, stats, err);
}

/* The DARTS family's step: an architecture step on the validation batch (first order, or
 * through one unrolled weight step), then a weight step under softmax(alpha). */
static nasc_status relaxed_step(nasc_oneshot *os, const nasc_oneshot_batch *train,
                                const nasc_oneshot_batch *val, float lr,
                                nasc_oneshot_step_stats *stats, nasc_err *err) {
    if (os->arch_on && val) {
        const nasc_status st = os->mi->second_order
                                   ? arch_grad_second(os, train, val, lr, &stats->arch_loss, err)
                                   : arch_grad_first(os, val, &stats->arch_loss, err);
        if (st != NASC_OK)
            return st;
        nasc_os_arch_update(os);
    }
    return nasc_os_weight_step(os, train, lr, plan_softmax, stats, err);
}

nasc_status nasc_os_derive_alpha(nasc_oneshot *os, nasc_arch **out, nasc_err *err) {
    return nasc_supernet_derive(os->sn, NULL, NULL, out, err);
}

const nasc_os_method nasc_os_darts_m = {.name = "darts",
                                        .relaxed = true,
                                        .has_alpha = true,
                                        .step = relaxed_step,
                                        .derive = nasc_os_derive_alpha};
const nasc_os_method nasc_os_darts2_m = {.name = "darts2",
                                         .relaxed = true,
                                         .has_alpha = true,
                                         .second_order = true,
                                         .step = relaxed_step,
                                         .derive = nasc_os_derive_alpha};
const nasc_os_method nasc_os_pcdarts_m = {.name = "pc-darts",
                                          .relaxed = true,
                                          .has_alpha = true,
                                          .partial = 1,
                                          .step = relaxed_step,
                                          .derive = nasc_os_derive_alpha};

nasc_status nasc_oneshot_eval_batch(nasc_oneshot *os, const nasc_oneshot_batch *b,
                                    float *out_loss, int *out_correct, nasc_err *err) {
    nasc_graph *g = os->g;
    nasc_tensor *x;
    nasc_status st;
    if (os->mi->relaxed) {
        x = nasc_os_begin(os, b, false);
        nasc_graph_set_grad(g, false);
        nasc_supernet_plan plan;
        nasc_supernet_plan_softmax(os->sn, g, &plan);
        st = nasc_os_finish(os, nasc_supernet_forward(os->sn, g, x, &plan), b, false, out_loss,
                            out_correct, err);
    } else {
        /* sampling methods: the derived path, BN on batch statistics (the running statistics
         * average over many paths) */
        nasc_arch *a = NULL;
        if ((st = nasc_oneshot_derive(os, &a, err)) != NASC_OK)
            return st;
        st = nasc_os_eval_arch(os, a, b, out_loss, out_correct, err);
        nasc_arch_free(a);
    }
    nasc_graph_set_grad(g, true);
    return st;
}

nasc_status nasc_oneshot_recalibrate_bn(nasc_oneshot *os, const nasc_oneshot_batch *b, int pass,
                                        nasc_err *err) {
    if (!os->mi->relaxed)
        return NASC_OK;
    if (!b || !b->x || !b->labels || b->n < 2 || pass < 0)
        return nasc_errorf(err, NASC_ERR_ARG,
                           "%s: BN recalibration needs a batch of 2 or more images and pass >= 0",
                           os->mi->name);
    nasc_graph *g = os->g;
    nasc_tensor *x = nasc_os_begin(os, b, true);
    nasc_graph_set_grad(g, false);
    nasc_supernet_plan plan;
    nasc_supernet_plan_softmax(os->sn, g, &plan);
    plan.bn_momentum = 1.0f / (float)(pass + 1);
    nasc_supernet_forward(os->sn, g, x, &plan);
    nasc_graph_set_grad(g, true);
    return nasc_graph_status(g) != NASC_OK ? nasc_os_graph_error(os, err) : NASC_OK;
}

nasc_status nasc_os_eval_arch(nasc_oneshot *os, const nasc_arch *a, const nasc_oneshot_batch *b,
                              float *out_loss, int *out_correct, nasc_err *err) {
    nasc_graph *g = os->g;
    nasc_tensor *x = nasc_os_begin(os, b, true);
    nasc_graph_set_grad(g, false);
    nasc_supernet_plan plan;
    nasc_status st = nasc_supernet_plan_arch(os->sn, g, a, &plan, err);
    if (st == NASC_OK) {
        plan.bn_batch_stats_only = true;
        st = nasc_os_finish(os, nasc_supernet_forward(os->sn, g, x, &plan), b, false, out_loss,
                            out_correct, err);
    }
    nasc_graph_set_grad(g, true);
    return st;
}

nasc_status nasc_oneshot_derive(nasc_oneshot *os, nasc_arch **out, nasc_err *err) {
    return os->mi->derive(os, out, err);
}

/* ---- state for checkpoints ---- */

static void put_floats(nasc_buf *b, const float *x, size_t n) {
    nasc_buf_put_u64(b, n);
    nasc_buf_put_f32s(b, x, n);
}

static bool get_floats(nasc_reader *b, float *x, size_t n) {
    if (nasc_read_u64(b) != n)
        return false;
    return nasc_read_f32s(b, x, n);
}

void nasc_os_save_state(const nasc_oneshot *os, nasc_buf *b) {
    nasc_buf_put_u64(b, (uint64_t)os->m);
    nasc_buf_put(b, &os->rng, sizeof os->rng);
    nasc_buf_put_u64(b, os->n_passes);
    nasc_params *stores[2] = {nasc_supernet_weights(os->sn), nasc_supernet_arch_params(os->sn)};
    nasc_optim *opts[2] = {os->wopt, os->aopt};
    for (int s = 0; s < 2; s++) {
        put_floats(b, nasc_params_data(stores[s]), nasc_params_flat_len(stores[s]));
        put_floats(b, nasc_params_buffer_data(stores[s]), nasc_params_buffer_count(stores[s]));
        size_t n = 0;
        const float *st = opts[s] ? nasc_optim_state(opts[s], &n) : NULL;
        nasc_buf_put_u64(b, opts[s] ? (uint64_t)nasc_optim_steps(opts[s]) : 0);
        put_floats(b, st, st ? n : 0);
    }
    nasc_os_method_save(os, b);
}

nasc_status nasc_os_load_state(nasc_oneshot *os, nasc_reader *b, const char *path, nasc_err *err) {
    if (nasc_read_u64(b) != (uint64_t)os->m)
        return nasc_errorf(err, NASC_ERR_FORMAT, "%s: checkpoint of another method", path);
    nasc_read(b, &os->rng, sizeof os->rng);
    os->n_passes = nasc_read_u64(b);
    nasc_params *stores[2] = {nasc_supernet_weights(os->sn), nasc_supernet_arch_params(os->sn)};
    nasc_optim *opts[2] = {os->wopt, os->aopt};
    static const char *const what[2] = {"weights", "architecture parameters"};
    for (int s = 0; s < 2; s++) {
        size_t n = 0;
        float *st = opts[s] ? nasc_optim_state(opts[s], &n) : NULL;
        if (!get_floats(b, nasc_params_data(stores[s]), nasc_params_flat_len(stores[s])) ||
            !get_floats(b, nasc_params_buffer_data(stores[s]), nasc_params_buffer_count(stores[s])))
            return nasc_errorf(err, NASC_ERR_FORMAT,
                               "%s: checkpoint %s do not match the supernet's", path, what[s]);
        const int64_t steps = (int64_t)nasc_read_u64(b);
        if (!get_floats(b, st, st ? n : 0))
            return nasc_errorf(err, NASC_ERR_FORMAT,
                               "%s: checkpoint optimizer state of the %s does not match", path,
                               what[s]);
        if (opts[s])
            nasc_optim_set_steps(opts[s], steps);
    }
    return nasc_os_method_load(os, b, path, err);
}
