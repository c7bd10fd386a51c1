/* train_eval.c — the training evaluator: every trial trains its network from scratch on a
 * train/validation split of the training set and is scored by validation accuracy (the test set
 * is never used for selection). Fidelity = epochs. With the median stopping rule, the network is
 * evaluated after every epoch and a trial whose best so far falls below the median of the finished
 * trials' running averages is stopped (status ok, stopped_early, its partial score). */
#include "eval_int.h"

#include "nasc/arena.h"
#include "nasc/train.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void nasc_train_eval_config_default(nasc_train_eval_config *c) {
    memset(c, 0, sizeof *c);
    nasc_train_config_default(&c->train);
    c->data_fraction = 1.0;
    c->val_fraction = 0.2;
    c->median_grace = 1;
    c->median_min_trials = 3;
    c->proxy_batch = 64;
}

typedef struct train_eval {
    nasc_train_eval_config cfg;
    char data[512];
    nasc_dataset *train, *val;
} train_eval;

typedef struct run_ctx {
    const nasc_eval_request *req;
    const train_eval *te;
    nasc_trial_result *out;
    bool stopped; /* by the median rule */
} run_ctx;

static bool on_event(const nasc_train_event *ev, void *user) {
    run_ctx *c = user;
    if (ev->kind != NASC_TRAIN_EPOCH_END)
        return true;
    nasc_trial_result *r = c->out;
    if (r->n_train_curve < NASC_MAX_CURVE) { /* free: the epoch's running means */
        r->train_loss_curve[r->n_train_curve] = ev->avg_loss;
        r->train_acc_curve[r->n_train_curve++] = ev->avg_acc;
    }
    if (r->n_curve < NASC_MAX_CURVE && !isnan(ev->eval_acc))
        r->curve[r->n_curve++] = ev->eval_acc;
    if (c->te->cfg.median_stop && ev->epoch + 1 < ev->epochs &&
        nasc_median_should_stop(c->req->history, r->curve, r->n_curve, c->te->cfg.median_grace,
                                c->te->cfg.median_min_trials)) {
        c->stopped = true;
        return false;
    }
    return true;
}

static nasc_status train_evaluate(nasc_evaluator *ev, const nasc_eval_request *req,
                                  nasc_trial_result *out, nasc_err *err) {
    train_eval *te = ev->impl;
    nasc_train_config tc = te->cfg.train;
    if (req->fidelity > 0)
        tc.epochs = (int)lround(req->fidelity);
    if (tc.epochs < 1)
        tc.epochs = 1;
    tc.seed = req->seed;
    tc.eval_each_epoch = te->cfg.median_stop;
    tc.backend = NULL;
    const nasc_net_config net = {.in_c = te->train->c,
                                 .in_h = te->train->h,
                                 .in_w = te->train->w,
                                 .n_classes = te->train->n_classes,
                                 .channels = te->cfg.channels,
                                 .cells = te->cfg.cells};
    nasc_model *m = NULL;
    nasc_err berr = {0};
    if (nasc_space_build(req->arch, &net, req->seed, &m, &berr) != NASC_OK) {
        if (berr.code == NASC_ERR_NOMEM)
            return nasc_errorf(err, NASC_ERR_NOMEM, "%s", berr.msg);
        nasc_trial_result_fail(out, "build: %s", berr.msg);
        return NASC_OK;
    }
    out->cost.params = (double)nasc_params_count(m->params);
    run_ctx ctx = {.req = req, .te = te, .out = out};
    nasc_train_result res;
    nasc_err terr = {0};
    nasc_status st = nasc_train(m, te->train, te->val, &tc, on_event, &ctx, &res, &terr);
    nasc_model_free(m);
    out->train_loss = res.train_loss;
    out->fidelity = res.epochs_done;
    if (ctx.stopped) {
        out->status = NASC_TRIAL_OK;
        out->score = out->curve[out->n_curve - 1];
        out->stopped_early = true;
        snprintf(out->reason, sizeof out->reason, "stopped by the median rule after epoch %d of %d",
                 out->n_curve, tc.epochs);
        return NASC_OK;
    }
    if (st == NASC_ERR_NOMEM)
        return nasc_errorf(err, st, "%s", terr.msg);
    if (st != NASC_OK) { /* divergence, a network that does not fit the data, ... */
        nasc_trial_result_fail(out, "%s", terr.msg[0] ? terr.msg : nasc_status_str(st));
        return NASC_OK;
    }
    out->status = NASC_TRIAL_OK;
    out->score = res.eval_acc; /* NaN becomes a failed trial in nasc_evaluator_evaluate */
    if (!te->cfg.median_stop)  /* the final evaluation is the only point of the curve */
        out->curve[out->n_curve++] = res.eval_acc;
    return NASC_OK;
}

static void train_eval_free(void *impl) {
    train_eval *te = impl;
    if (!te)
        return;
    nasc_dataset_free(te->train);
    nasc_dataset_free(te->val);
    nasc_free(te);
}

static const nasc_evaluator_i train_iface = {
    .kind = "train",
    .evaluate = train_evaluate,
    .free_impl = train_eval_free,
};

nasc_status nasc_eval_load_split(const nasc_train_eval_config *c, uint64_t seed,
                                 nasc_dataset **out_train, nasc_dataset **out_val, nasc_err *err) {
    *out_train = *out_val = NULL;
    if (!c->data || !*c->data)
        return nasc_errorf(err, NASC_ERR_ARG, "training evaluator: no dataset given");
    nasc_dataset *full = NULL;
    NASC_TRY(nasc_dataset_load(c->data, NASC_SPLIT_TRAIN, &full, err));
    nasc_status st = NASC_OK;
    if (c->data_fraction < 1.0) {
        nasc_dataset *part = NULL;
        st = nasc_dataset_fraction(full, c->data_fraction, seed, &part, err);
        nasc_dataset_free(full);
        full = part;
    }
    if (st == NASC_OK)
        st = nasc_dataset_split(full, c->val_fraction, seed, out_train, out_val, err);
    nasc_dataset_free(full);
    return st;
}

nasc_status nasc_evaluator_train_new(const nasc_space *s, const nasc_train_eval_config *c,
                                     uint64_t seed, nasc_evaluator **out, nasc_err *err) {
    *out = NULL;
    train_eval *te = nasc_calloc(1, sizeof *te);
    if (!te)
        return nasc_errorf(err, NASC_ERR_NOMEM, "training evaluator: out of memory");
    te->cfg = *c;
    snprintf(te->data, sizeof te->data, "%s", c->data ? c->data : "");
    te->cfg.data = te->data;
    te->cfg.proxy = NULL;
    nasc_status st = nasc_eval_load_split(c, seed, &te->train, &te->val, err);
    if (st != NASC_OK) {
        train_eval_free(te);
        return st;
    }
    int n_train = te->train->n, n_val = te->val->n;
    nasc_evaluator *ev = nasc_evaluator_new(&train_iface, te, s);
    if (!ev)
        return nasc_errorf(err, NASC_ERR_NOMEM, "training evaluator: out of memory");
    ev->in_process = false;
    ev->max_fidelity = c->train.epochs;
    nasc_evaluator_set_cost(ev,
                            &(nasc_net_config){.in_c = te->train->c,
                                               .in_h = te->train->h,
                                               .in_w = te->train->w,
                                               .n_classes = te->train->n_classes,
                                               .channels = c->channels,
                                               .cells = c->cells},
                            0);
    snprintf(ev->desc, sizeof ev->desc, "train %.40s: %d train / %d validation images, %d epochs",
             te->data, n_train, n_val, c->train.epochs);
    *out = ev;
    return NASC_OK;
}
