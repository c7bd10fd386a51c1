/* train.c — the training loop (nasc_train) and evaluation (nasc_evaluate). */
#include "nasc/train.h"

#include "nasc/arena.h"
#include "nasc/data.h"

#include <math.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void nasc_train_config_default(nasc_train_config *c) {
    memset(c, 0, sizeof *c);
    c->epochs = 10;
    c->batch = 64;
    c->eval_batch = 256;
    c->optim = NASC_OPTIM_SGD;
    c->lr = 0.05f;
    c->lr_min = 0.0f;
    c->momentum = 0.9f;
    c->nesterov = true;
    c->weight_decay = 5e-4f;
    c->clip_norm = 5.0f;
    c->threads = 1;
    c->seed = 1;
    c->prefetch = true;
}

static nasc_status check_config(const nasc_train_config *c, nasc_err *err) {
    if (c->epochs < 1)
        return nasc_errorf(err, NASC_ERR_ARG, "train: epochs must be >= 1 (%d)", c->epochs);
    if (c->batch < 1 || c->eval_batch < 1)
        return nasc_errorf(err, NASC_ERR_ARG, "train: batch sizes must be >= 1 (%d, %d)", c->batch,
                           c->eval_batch);
    if (!(c->lr > 0.0f) || !(c->lr_min >= 0.0f) || c->lr_min > c->lr)
        return nasc_errorf(err, NASC_ERR_ARG, "train: need lr > 0 and 0 <= lr_min <= lr (%g, %g)",
                           (double)c->lr, (double)c->lr_min);
    if (c->warmup_epochs < 0 || c->warmup_epochs >= c->epochs + (c->warmup_epochs == 0))
        return nasc_errorf(err, NASC_ERR_ARG, "train: warmup_epochs must be in [0, epochs) (%d)",
                           c->warmup_epochs);
    if (!(c->label_smoothing >= 0.0f && c->label_smoothing < 1.0f))
        return nasc_errorf(err, NASC_ERR_ARG, "train: label_smoothing must be in [0,1) (%g)",
                           (double)c->label_smoothing);
    if (!(c->drop_path >= 0.0f && c->drop_path < 1.0f))
        return nasc_errorf(err, NASC_ERR_ARG, "train: drop_path must be in [0,1) (%g)",
                           (double)c->drop_path);
    if (!(c->aux_weight >= 0.0f) || !(c->clip_norm >= 0.0f) || !(c->max_seconds >= 0.0))
        return nasc_errorf(err, NASC_ERR_ARG,
                           "train: aux_weight, clip_norm and max_seconds must be >= 0");
    if (!c->backend && c->threads < 1)
        return nasc_errorf(err, NASC_ERR_ARG, "train: threads must be >= 1 (%d)", c->threads);
    return NASC_OK;
}

static nasc_status check_fit(const nasc_model *m, const nasc_dataset *ds, const char *what,
                             nasc_err *err) {
    if (ds->c != m->in_c || ds->h != m->in_h || ds->w != m->in_w)
        return nasc_errorf(err, NASC_ERR_SHAPE,
                           "train: %s set %s has images %dx%dx%d (CxHxW) but the model expects "
                           "%dx%dx%d",
                           what, ds->name, ds->c, ds->h, ds->w, m->in_c, m->in_h, m->in_w);
    if (ds->n_classes > m->n_classes)
        return nasc_errorf(err, NASC_ERR_SHAPE,
                           "train: %s set %s has %d classes but the model outputs %d", what,
                           ds->name, ds->n_classes, m->n_classes);
    return NASC_OK;
}

/* Number of samples of the batch whose argmax logit is the label. */
static int n_correct(const nasc_tensor *logits, const int32_t *labels, int n) {
    const int K = logits->ne[1];
    int ok = 0;
    for (int i = 0; i < n; i++) {
        const float *row = logits->data + (size_t)i * K;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (row[k] > row[best])
                best = k;
        ok += best == labels[i];
    }
    return ok;
}

static nasc_status graph_fail(nasc_graph *g, nasc_err *err) {
    const nasc_err *ge = nasc_graph_err(g);
    return nasc_errorf(err, ge->code != NASC_OK ? ge->code : NASC_ERR_INTERNAL, "%s", ge->msg);
}

static nasc_status evaluate(nasc_model *m, const nasc_dataset *ds, nasc_backend *be, int batch,
                            float *out_acc, float *out_loss, nasc_err *err) {
    nasc_loader *ld = NULL;
    const nasc_loader_config lc = {.batch = batch, .prefetch = true};
    NASC_TRY(nasc_loader_new(ds, &lc, &ld, err));
    nasc_graph *g = nasc_graph_new(be, 16u << 20, err);
    if (!g) {
        nasc_loader_free(ld);
        return err ? err->code : NASC_ERR_NOMEM;
    }
    nasc_graph_set_training(g, false);
    nasc_graph_set_grad(g, false);
    nasc_status st = NASC_OK;
    double loss_sum = 0.0;
    int64_t correct = 0, seen = 0;
    nasc_batch b;
    nasc_loader_start_epoch(ld, 0);
    while (nasc_loader_next(ld, &b)) {
        nasc_graph_reset(g);
        nasc_tensor *x = nasc_input(g, b.n, ds->c, ds->h, ds->w, b.x);
        nasc_tensor *logits = nasc_model_forward(m, g, x, NULL);
        nasc_tensor *loss = nasc_cross_entropy(g, logits, b.labels, 0.0f);
        if (!loss) {
            st = graph_fail(g, err);
            break;
        }
        loss_sum += (double)loss->data[0] * b.n;
        correct += n_correct(logits, b.labels, b.n);
        seen += b.n;
    }
    nasc_graph_free(g);
    nasc_loader_free(ld);
    if (st == NASC_OK) {
        *out_acc = seen ? (float)(100.0 * (double)correct / (double)seen) : NAN;
        *out_loss = seen ? (float)(loss_sum / (double)seen) : NAN;
    }
    return st;
}

nasc_status nasc_evaluate(nasc_model *m, const nasc_dataset *ds, nasc_backend *be, int threads,
                          int batch, float *out_acc, float *out_loss, nasc_err *err) {
    NASC_TRY(check_fit(m, ds, "evaluation", err));
    if (batch < 1)
        return nasc_errorf(err, NASC_ERR_ARG, "evaluate: batch must be >= 1 (%d)", batch);
    nasc_backend *own = NULL;
    if (!be) {
        own = be = nasc_backend_new("cpu", threads, err);
        if (!be)
            return err ? err->code : NASC_ERR_ARG;
    }
    nasc_status st = evaluate(m, ds, be, batch, out_acc, out_loss, err);
    nasc_backend_free(own);
    return st;
}

nasc_status nasc_train(nasc_model *m, const nasc_dataset *train, const nasc_dataset *eval,
                       const nasc_train_config *cfg, nasc_train_cb cb, void *user,
                       nasc_train_result *out, nasc_err *err) {
    memset(out, 0, sizeof *out);
    out->eval_acc = out->eval_loss = NAN;
    out->train_loss = out->train_acc = NAN;
    NASC_TRY(check_config(cfg, err));
    NASC_TRY(check_fit(m, train, "training", err));
    if (eval)
        NASC_TRY(check_fit(m, eval, "evaluation", err));

    nasc_status st = NASC_OK;
    nasc_backend *own = NULL, *be = cfg->backend;
    nasc_loader *ld = NULL;
    nasc_graph *g = NULL;
    nasc_optim *opt = NULL;
    if (!be) {
        own = be = nasc_backend_new("cpu", cfg->threads, err);
        if (!be)
            return err ? err->code : NASC_ERR_ARG;
    }
    const nasc_loader_config lc = {
        .batch = cfg->batch,
        .shuffle = true,
        .drop_last = train->n > cfg->batch, /* a lone tiny last batch would skew batch norm */
        .prefetch = cfg->prefetch,
        .seed = cfg->seed,
        .aug = {.crop_pad = cfg->crop_pad, .hflip = cfg->hflip, .cutout = cfg->cutout},
    };
    if ((st = nasc_loader_new(train, &lc, &ld, err)) != NASC_OK)
        goto done;
    if (!(g = nasc_graph_new(be, 32u << 20, err))) {
        st = err ? err->code : NASC_ERR_NOMEM;
        goto done;
    }
    const nasc_optim_config oc = {.kind = cfg->optim,
                                  .momentum = cfg->optim == NASC_OPTIM_SGD ? cfg->momentum : 0.0f,
                                  .nesterov = cfg->optim == NASC_OPTIM_SGD && cfg->nesterov,
                                  .weight_decay = cfg->weight_decay};
    if ((st = nasc_optim_new(m->params, &oc, &opt, err)) != NASC_OK)
        goto done;

    const int64_t spe = (int64_t)nasc_loader_n_batches(ld);
    const nasc_sched sched = {.kind = NASC_SCHED_COSINE,
                              .lr_max = cfg->lr,
                              .lr_min = cfg->lr_min,
                              .warmup_steps = (int64_t)cfg->warmup_epochs * spe,
                              .total_steps = (int64_t)cfg->epochs * spe};
    const double t0 = now_s();
    double eval_time = 0.0;
    int64_t images = 0, gstep = 0;
    for (int epoch = 0; epoch < cfg->epochs && st == NASC_OK; epoch++) {
        nasc_loader_start_epoch(ld, (uint32_t)epoch);
        const nasc_forward_opts fo = {
            .drop_path = cfg->drop_path * (float)epoch / (float)cfg->epochs,
            .want_aux = cfg->aux_weight > 0.0f,
        };
        double loss_sum = 0.0;
        int64_t correct = 0, seen = 0;
        nasc_batch b;
        int64_t step = 0;
        while (nasc_loader_next(ld, &b)) {
            nasc_graph_reset(g);
            nasc_graph_set_training(g, true);
            nasc_graph_set_rng(g, cfg->seed, (uint64_t)gstep);
            nasc_params_zero_grad(m->params);
            nasc_tensor *x = nasc_input(g, b.n, train->c, train->h, train->w, b.x);
            nasc_tensor *logits = nasc_model_forward(m, g, x, &fo);
            nasc_tensor *loss = nasc_cross_entropy(g, logits, b.labels, cfg->label_smoothing);
            if (loss && fo.want_aux && m->aux_logits) {
                nasc_tensor *aux = nasc_cross_entropy(g, m->aux_logits, b.labels,
                                                      cfg->label_smoothing);
                loss = nasc_add(g, loss, nasc_scale(g, aux, cfg->aux_weight));
            }
            if (!loss || nasc_backward(g, loss) != NASC_OK) {
                st = graph_fail(g, err);
                break;
            }
            const float lv = loss->data[0];
            if (!isfinite(lv)) {
                st = nasc_errorf(err, NASC_ERR_ABORTED,
                                 "train: diverged at epoch %d step %lld (loss %g)", epoch + 1,
                                 (long long)step, (double)lv);
                break;
            }
            if (cfg->clip_norm > 0.0f)
                nasc_clip_grad_norm(m->params, cfg->clip_norm);
            const float lr = nasc_sched_lr(&sched, gstep);
            nasc_optim_step(opt, lr);
            loss_sum += (double)lv * b.n;
            correct += n_correct(logits, b.labels, b.n);
            seen += b.n;
            images += b.n;
            step++;
            gstep++;
            const double elapsed = now_s() - t0 - eval_time;
            out->steps = gstep;
            out->seconds = elapsed;
            out->images_per_second = elapsed > 0 ? (double)images / elapsed : 0.0;
            out->train_loss = (float)(loss_sum / (double)seen);
            out->train_acc = (float)(100.0 * (double)correct / (double)seen);
            if (cb) {
                const int64_t left = (int64_t)cfg->epochs * spe - gstep;
                const nasc_train_event ev = {
                    .kind = NASC_TRAIN_STEP, .epoch = epoch, .epochs = cfg->epochs,
                    .step = step - 1, .steps_per_epoch = spe, .global_step = gstep - 1,
                    .loss = lv, .avg_loss = out->train_loss, .avg_acc = out->train_acc,
                    .lr = lr, .images_per_second = out->images_per_second,
                    .elapsed_s = elapsed, .eta_s = gstep ? elapsed / (double)gstep * (double)left : 0,
                    .eval_acc = NAN, .eval_loss = NAN,
                };
                if (!cb(&ev, user)) {
                    st = nasc_errorf(err, NASC_ERR_ABORTED, "train: stopped at epoch %d step %lld",
                                     epoch + 1, (long long)step);
                    break;
                }
            }
            if (cfg->max_seconds > 0.0 && elapsed >= cfg->max_seconds)
                break;
        }
        if (st != NASC_OK)
            break;
        out->epochs_done = epoch + 1;
        const bool last = epoch + 1 == cfg->epochs ||
                          (cfg->max_seconds > 0.0 && out->seconds >= cfg->max_seconds);
        float eacc = NAN, eloss = NAN;
        if (eval && (cfg->eval_each_epoch || last)) {
            const double te = now_s();
            if ((st = evaluate(m, eval, be, cfg->eval_batch, &eacc, &eloss, err)) != NASC_OK)
                break;
            eval_time += now_s() - te;
            out->eval_acc = eacc;
            out->eval_loss = eloss;
        }
        if (cb) {
            const nasc_train_event ev = {
                .kind = NASC_TRAIN_EPOCH_END, .epoch = epoch, .epochs = cfg->epochs,
                .step = step, .steps_per_epoch = spe, .global_step = gstep,
                .loss = NAN, .avg_loss = out->train_loss, .avg_acc = out->train_acc,
                .lr = nasc_sched_lr(&sched, gstep), .images_per_second = out->images_per_second,
                .elapsed_s = out->seconds,
                .eta_s = gstep ? out->seconds / (double)gstep * (double)((int64_t)cfg->epochs * spe - gstep) : 0,
                .eval_acc = eacc, .eval_loss = eloss,
            };
            if (!cb(&ev, user)) {
                st = nasc_errorf(err, NASC_ERR_ABORTED, "train: stopped after epoch %d",
                                 epoch + 1);
                break;
            }
        }
        if (last)
            break;
    }
done:
    nasc_optim_free(opt);
    nasc_graph_free(g);
    nasc_loader_free(ld);
    nasc_backend_free(own);
    return st;
}
