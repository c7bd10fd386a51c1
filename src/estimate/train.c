/* train.c — the training loop (nasc_train) and evaluation (nasc_evaluate). */
#include "nasc/train.h"

#include "nasc/arena.h"
#include "nasc/data.h"
#include "nasc/dist.h"
#include "nasc/weights.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* NAS-Bench-201 (Dong & Yang, ICLR 2020), configs/nas-benchmark/hyper-opts/{LESS,200E}.config of
 * its code: SGD nesterov, momentum 0.9, decay 5e-4, LR 0.1, cosine with eta_min 0 stepped every
 * iteration, batch 256, RandomCrop(32, padding=4) + RandomHorizontalFlip, plain cross entropy. */
static const struct {
    const char *name;
    int epochs;
} recipes[] = {{"nb201-12", 12}, {"nb201-200", 200}};

const char *nasc_train_recipe_names(void) {
    return "nb201-12, nb201-200";
}

nasc_status nasc_train_recipe_apply(const char *name, nasc_train_config *c, int *out_channels,
                                    int *out_cells, nasc_err *err) {
    for (size_t i = 0; i < sizeof recipes / sizeof recipes[0]; i++) {
        if (!name || strcmp(name, recipes[i].name))
            continue;
        c->epochs = recipes[i].epochs;
        c->batch = 256;
        c->optim = NASC_OPTIM_SGD;
        c->lr = 0.1f;
        c->lr_min = 0.0f;
        c->warmup_epochs = 0;
        c->momentum = 0.9f;
        c->nesterov = true;
        c->weight_decay = 5e-4f;
        c->clip_norm = 0.0f;
        c->label_smoothing = 0.0f;
        c->drop_path = 0.0f;
        c->aux_weight = 0.0f;
        c->crop_pad = 4;
        c->hflip = true;
        c->cutout = 0;
        if (out_channels)
            *out_channels = 16;
        if (out_cells)
            *out_cells = 5;
        return NASC_OK;
    }
    return nasc_errorf(err, NASC_ERR_ARG, "train: unknown recipe '%s' (expected %s)",
                       name ? name : "", nasc_train_recipe_names());
}

static nasc_status check_config(const nasc_train_config *c, nasc_err *err) {
    if (c->epochs < 1)
        return nasc_errorf(err, NASC_ERR_ARG, "train: epochs must be >= 1 (%d)", c->epochs);
    if (c->batch < 1 || c->eval_batch < 0)
        return nasc_errorf(err, NASC_ERR_ARG,
                           "train: need batch >= 1 and eval_batch >= 0 (%d, %d)", c->batch,
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

/* Accuracy and loss of m on ds. *gp is the evaluation graph: created here when NULL and left for
 * the caller to reuse and free (a network's inference graph holds gigabytes; building it afresh
 * for every evaluation costs millions of page faults). Training passes its own graph, so that a
 * run's peak memory is the larger of a training step and an evaluation batch, not their sum; the
 * graph is left in inference mode without gradients. */
static nasc_status evaluate(nasc_model *m, const nasc_dataset *ds, nasc_backend *be, int batch,
                            nasc_graph **gp, float *out_acc, float *out_loss, float *out_logits,
                            nasc_err *err) {
    nasc_loader *ld = NULL;
    const nasc_loader_config lc = {.batch = batch, .prefetch = true};
    NASC_TRY(nasc_loader_new(ds, &lc, &ld, err));
    if (!*gp && !(*gp = nasc_graph_new(be, 16u << 20, err))) {
        nasc_loader_free(ld);
        return err ? err->code : NASC_ERR_NOMEM;
    }
    nasc_graph *g = *gp;
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
        if (out_logits) /* loader batches come in dataset order (no shuffle) */
            memcpy(out_logits + (size_t)seen * (size_t)m->n_classes, logits->data,
                   (size_t)b.n * (size_t)m->n_classes * sizeof *out_logits);
        loss_sum += (double)loss->data[0] * b.n;
        correct += n_correct(logits, b.labels, b.n);
        seen += b.n;
    }
    nasc_loader_free(ld);
    if (st == NASC_OK) {
        *out_acc = seen ? (float)(100.0 * (double)correct / (double)seen) : NAN;
        *out_loss = seen ? (float)(loss_sum / (double)seen) : NAN;
    }
    return st;
}

/* The caller's backend, or a new cpu one at `threads` that *own holds for the caller to free. */
static nasc_status backend_or_own(nasc_backend **be, int threads, nasc_backend **own,
                                  nasc_err *err) {
    if (*be)
        return NASC_OK;
    *own = *be = nasc_backend_new("cpu", threads, err);
    return *be ? NASC_OK : (err ? err->code : NASC_ERR_ARG);
}

nasc_status nasc_evaluate(nasc_model *m, const nasc_dataset *ds, nasc_backend *be, int threads,
                          int batch, float *out_acc, float *out_loss, nasc_err *err) {
    NASC_TRY(check_fit(m, ds, "evaluation", err));
    if (batch < 1)
        return nasc_errorf(err, NASC_ERR_ARG, "evaluate: batch must be >= 1 (%d)", batch);
    nasc_backend *own = NULL;
    NASC_TRY(backend_or_own(&be, threads, &own, err));
    nasc_graph *g = NULL;
    nasc_status st = evaluate(m, ds, be, batch, &g, out_acc, out_loss, NULL, err);
    nasc_graph_free(g);
    nasc_backend_free(own);
    return st;
}

nasc_status nasc_predict(nasc_model *m, const nasc_dataset *ds, nasc_backend *be, int threads,
                         int batch, float *out_logits, float *out_acc, nasc_err *err) {
    NASC_TRY(check_fit(m, ds, "prediction", err));
    if (batch < 1)
        return nasc_errorf(err, NASC_ERR_ARG, "predict: batch must be >= 1 (%d)", batch);
    nasc_backend *own = NULL;
    NASC_TRY(backend_or_own(&be, threads, &own, err));
    nasc_graph *g = NULL;
    float acc = 0.0f, loss = 0.0f;
    nasc_status st = evaluate(m, ds, be, batch, &g, &acc, &loss, out_logits, err);
    if (st == NASC_OK && out_acc)
        *out_acc = acc;
    nasc_graph_free(g);
    nasc_backend_free(own);
    return st;
}

/* ---- checkpoints (cfg->checkpoint) ---- */

/* Where training stands after a completed epoch. */
typedef struct progress {
    int epochs_done;
    int64_t gstep, images;
    double seconds;
    float train_loss, train_acc, eval_acc, eval_loss;
} progress;

/* f as the double of its shortest decimal form, so checkpoints show 0.1 rather than
 * 0.10000000149011612. */
static double f2d(float f) {
    char buf[32];
    for (int digits = 1; digits < 9; digits++) {
        snprintf(buf, sizeof buf, "%.*g", digits, (double)f);
        if (strtof(buf, NULL) == f)
            return strtod(buf, NULL);
    }
    return (double)f;
}

/* The options a checkpoint must share with the run that continues it. */
static cJSON *identity_json(const nasc_train_config *c, const nasc_dataset *train) {
    cJSON *j = cJSON_CreateObject();
    if (!j)
        return NULL;
    static const char *const optim_names[] = {"sgd", "adam", "adamw"};
    cJSON_AddStringToObject(j, "train_set", train->name);
    cJSON_AddNumberToObject(j, "train_images", train->n);
    cJSON_AddNumberToObject(j, "epochs", c->epochs);
    cJSON_AddNumberToObject(j, "batch", c->batch);
    cJSON_AddStringToObject(j, "optimizer", optim_names[c->optim % NASC_OPTIM_COUNT]);
    cJSON_AddNumberToObject(j, "lr", f2d(c->lr));
    cJSON_AddNumberToObject(j, "lr_min", f2d(c->lr_min));
    cJSON_AddNumberToObject(j, "warmup_epochs", c->warmup_epochs);
    cJSON_AddNumberToObject(j, "momentum", f2d(c->momentum));
    cJSON_AddBoolToObject(j, "nesterov", c->nesterov);
    cJSON_AddNumberToObject(j, "weight_decay", f2d(c->weight_decay));
    cJSON_AddNumberToObject(j, "clip", f2d(c->clip_norm));
    cJSON_AddNumberToObject(j, "label_smoothing", f2d(c->label_smoothing));
    cJSON_AddNumberToObject(j, "drop_path", f2d(c->drop_path));
    cJSON_AddNumberToObject(j, "aux_weight", f2d(c->aux_weight));
    cJSON_AddNumberToObject(j, "crop_pad", c->crop_pad);
    cJSON_AddBoolToObject(j, "hflip", c->hflip);
    cJSON_AddNumberToObject(j, "cutout", c->cutout);
    cJSON_AddNumberToObject(j, "seed", (double)c->seed);
    return j;
}

static nasc_status ckpt_save(const nasc_train_config *c, const nasc_dataset *train,
                             const nasc_model *m, nasc_optim *o, const progress *p,
                             nasc_err *err) {
    cJSON *meta = cJSON_Parse(c->checkpoint_meta ? c->checkpoint_meta : "{}");
    if (!cJSON_IsObject(meta)) {
        cJSON_Delete(meta);
        return nasc_errorf(err, NASC_ERR_ARG, "train: checkpoint_meta is not a JSON object");
    }
    cJSON *ts = cJSON_AddObjectToObject(meta, "train_state");
    cJSON *id = identity_json(c, train);
    if (ts && id)
        cJSON_AddItemToObject(ts, "identity", id);
    else
        cJSON_Delete(id);
    cJSON_AddNumberToObject(ts, "epochs_done", p->epochs_done);
    cJSON_AddNumberToObject(ts, "global_step", (double)p->gstep);
    cJSON_AddNumberToObject(ts, "images", (double)p->images);
    cJSON_AddNumberToObject(ts, "seconds", p->seconds);
    cJSON_AddNumberToObject(ts, "train_loss", p->train_loss);
    cJSON_AddNumberToObject(ts, "train_acc", p->train_acc);
    if (!isnan(p->eval_acc)) {
        cJSON_AddNumberToObject(ts, "eval_acc", p->eval_acc);
        cJSON_AddNumberToObject(ts, "eval_loss", p->eval_loss);
    }
    char *text = cJSON_PrintUnformatted(meta);
    cJSON_Delete(meta);
    if (!text || !ts || !id)
        return nasc_errorf(err, NASC_ERR_NOMEM, "train: %s: out of memory", c->checkpoint);
    nasc_status st = nasc_checkpoint_save(c->checkpoint, m, o, text, err);
    cJSON_free(text);
    return st;
}

static double num_or_nan(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : (double)NAN;
}

/* Restores m, o and *p from the checkpoint after checking it was written by this configuration. */
static nasc_status ckpt_resume(const nasc_train_config *c, const nasc_dataset *train,
                               nasc_model *m, nasc_optim *o, progress *p, nasc_err *err) {
    const char *path = c->checkpoint;
    char *text = NULL;
    NASC_TRY(nasc_weights_read_meta(path, &text, err));
    cJSON *meta = cJSON_Parse(text);
    nasc_free(text);
    cJSON *id = identity_json(c, train);
    nasc_status st = NASC_OK;
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(meta, "train_state");
    const cJSON *sid = cJSON_GetObjectItemCaseSensitive(ts, "identity");
    if (!id) {
        st = nasc_errorf(err, NASC_ERR_NOMEM, "train: %s: out of memory", path);
        goto done;
    }
    if (!cJSON_IsObject(sid)) {
        st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, -1,
                            "train: %s: not a training checkpoint (no train_state in its "
                            "metadata; a weights file from --out?)",
                            path);
        goto done;
    }
    for (const cJSON *it = id->child; it; it = it->next) {
        const cJSON *was = cJSON_GetObjectItemCaseSensitive(sid, it->string);
        if (was && cJSON_Compare(was, it, true))
            continue;
        char *a = was ? cJSON_PrintUnformatted(was) : NULL, *b = cJSON_PrintUnformatted(it);
        st = nasc_errorf_at(err, NASC_ERR_ARG, path, -1,
                            "train: %s: written by a different training configuration (%s %s in "
                            "the checkpoint, %s now); use the same options or remove the file",
                            path, it->string, a ? a : "missing", b ? b : "?");
        cJSON_free(a);
        cJSON_free(b);
        goto done;
    }
    p->epochs_done = (int)num_or_nan(ts, "epochs_done");
    p->gstep = (int64_t)num_or_nan(ts, "global_step");
    p->images = (int64_t)num_or_nan(ts, "images");
    p->seconds = num_or_nan(ts, "seconds");
    p->train_loss = (float)num_or_nan(ts, "train_loss");
    p->train_acc = (float)num_or_nan(ts, "train_acc");
    p->eval_acc = (float)num_or_nan(ts, "eval_acc");
    p->eval_loss = (float)num_or_nan(ts, "eval_loss");
    if (p->epochs_done < 1 || p->epochs_done > c->epochs || p->gstep < 1 || p->images < 1 ||
        !(p->seconds >= 0.0)) {
        st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, -1,
                            "train: %s: corrupt train_state (epochs_done %d of %d, step %lld)",
                            path, p->epochs_done, c->epochs, (long long)p->gstep);
        goto done;
    }
    st = nasc_checkpoint_load(path, m, o, err);
done:
    cJSON_Delete(id);
    cJSON_Delete(meta);
    return st;
}

/* ---- data-parallel training (cfg->data_parallel; optim.h's nasc_dp) ---- */

/* Rank 0's decisions (flags) for every rank: the other ranks must stop, evaluate nothing, and
 * end the run at the same step. */
static nasc_status dp_agree(const nasc_dp *dp, int *flags, int n, nasc_err *err) {
    return dp ? nasc_dist_bcast(flags, (size_t)n * sizeof *flags, 0, err) : NASC_OK;
}

/* After a resume read by rank 0 alone (or a fresh start): every rank continues from rank 0's
 * weights, buffers, optimizer state and progress. */
static nasc_status dp_share_start(const nasc_dp *dp, nasc_model *m, nasc_optim *o, progress *p,
                                  nasc_err *err) {
    if (!dp)
        return NASC_OK;
    NASC_TRY(nasc_dist_bcast(p, sizeof *p, 0, err));
    return nasc_dp_bcast_state(m->params, o, err);
}

/* ---- end of data-parallel helpers ---- */

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

    /* data parallel: this rank's share of every batch (rank 0 of 1 without it) */
    const bool dpar = cfg->data_parallel && nasc_dist_size() > 1;
    const int rank = dpar ? nasc_dist_rank() : 0, n_ranks = dpar ? nasc_dist_size() : 1;
    if (dpar && (cfg->batch < n_ranks || train->n < n_ranks))
        return nasc_errorf(err, NASC_ERR_ARG,
                           "train: data-parallel over %d ranks needs a batch and a training set "
                           "of at least %d images (batch %d, %d images)",
                           n_ranks, n_ranks, cfg->batch, train->n);
    nasc_dp *dp = NULL;

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
        .shard = rank,
        .n_shards = n_ranks,
    };
    if ((st = nasc_loader_new(train, &lc, &ld, err)) != NASC_OK)
        goto done;
    if (!(g = nasc_graph_new(be, 32u << 20, err))) {
        st = err ? err->code : NASC_ERR_NOMEM;
        goto done;
    }
    /* a node's gradient goes back to the graph's pool once its backward has run: peak gradient
     * memory follows the backward frontier instead of holding one buffer per activation */
    nasc_graph_set_release_grads(g, true);
    const nasc_optim_config oc = {.kind = cfg->optim,
                                  .momentum = cfg->optim == NASC_OPTIM_SGD ? cfg->momentum : 0.0f,
                                  .nesterov = cfg->optim == NASC_OPTIM_SGD && cfg->nesterov,
                                  .weight_decay = cfg->weight_decay};
    if ((st = nasc_optim_new(m->params, &oc, &opt, err)) != NASC_OK)
        goto done;
    if (dpar && (st = nasc_dp_new(m->params, 2, &dp, err)) != NASC_OK)
        goto done;

    const int64_t spe = (int64_t)nasc_loader_n_batches(ld);
    const nasc_sched sched = {.kind = NASC_SCHED_COSINE,
                              .lr_max = cfg->lr,
                              .lr_min = cfg->lr_min,
                              .warmup_steps = (int64_t)cfg->warmup_epochs * spe,
                              .total_steps = (int64_t)cfg->epochs * spe};
    progress done_before = {.eval_acc = NAN, .eval_loss = NAN};
    struct stat sb;
    if (cfg->checkpoint && rank == 0 && stat(cfg->checkpoint, &sb) == 0) {
        if ((st = ckpt_resume(cfg, train, m, opt, &done_before, err)) != NASC_OK)
            goto done;
        if (done_before.gstep != (int64_t)done_before.epochs_done * spe) {
            st = nasc_errorf_at(err, NASC_ERR_FORMAT, cfg->checkpoint, -1,
                                "train: %s: %lld steps for %d epochs of %lld steps (corrupt "
                                "train_state)",
                                cfg->checkpoint, (long long)done_before.gstep,
                                done_before.epochs_done, (long long)spe);
            goto done;
        }
        out->resumed_epochs = out->epochs_done = done_before.epochs_done;
        out->steps = done_before.gstep;
        out->seconds = done_before.seconds;
        out->images_per_second =
            done_before.seconds > 0 ? (double)done_before.images / done_before.seconds : 0.0;
        out->train_loss = done_before.train_loss;
        out->train_acc = done_before.train_acc;
        out->eval_acc = done_before.eval_acc;
        out->eval_loss = done_before.eval_loss;
    } else if (cfg->checkpoint && rank == 0 && errno != ENOENT) {
        st = nasc_errorf_at(err, NASC_ERR_IO, cfg->checkpoint, -1, "train: %s: %s",
                            cfg->checkpoint, strerror(errno));
        goto done;
    }
    if ((st = dp_share_start(dp, m, opt, &done_before, err)) != NASC_OK)
        goto done;
    if (rank > 0) {
        out->resumed_epochs = out->epochs_done = done_before.epochs_done;
        out->steps = done_before.gstep;
    }
    const double t0 = now_s() - done_before.seconds;
    double eval_time = 0.0;
    int64_t images = done_before.images, gstep = done_before.gstep;
    for (int epoch = done_before.epochs_done; epoch < cfg->epochs && st == NASC_OK; epoch++) {
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
            nasc_graph_set_grad(g, true);
            nasc_graph_set_rng(g, cfg->seed, (uint64_t)gstep);
            nasc_graph_set_batch_first(g, b.first);
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
            float lv = loss->data[0];
            int n_ok = n_correct(logits, b.labels, b.n), nb = b.n;
            if (dp) { /* data parallel: the global batch's mean loss, gradients and counts */
                float ex[2] = {lv * (float)b.n / (float)b.n_total, (float)n_ok};
                if ((st = nasc_dp_average(dp, b.n, b.n_total, ex, err)) != NASC_OK)
                    break;
                lv = ex[0];
                n_ok = (int)ex[1];
                nb = b.n_total;
            }
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
            loss_sum += (double)lv * nb;
            correct += n_ok;
            seen += nb;
            images += nb;
            step++;
            gstep++;
            const double elapsed = now_s() - t0 - eval_time;
            out->steps = gstep;
            out->seconds = elapsed;
            out->images_per_second = elapsed > 0 ? (double)images / elapsed : 0.0;
            out->train_loss = (float)(loss_sum / (double)seen);
            out->train_acc = (float)(100.0 * (double)correct / (double)seen);
            int halt = 0; /* 1: the callback stopped the run, 2: out of time (rank 0 decides) */
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
                if (!cb(&ev, user))
                    halt = 1;
            }
            if (!halt && cfg->max_seconds > 0.0 && elapsed >= cfg->max_seconds)
                halt = 2;
            if ((st = dp_agree(dp, &halt, 1, err)) != NASC_OK)
                break;
            if (halt == 1) {
                st = nasc_errorf(err, NASC_ERR_ABORTED, "train: stopped at epoch %d step %lld",
                                 epoch + 1, (long long)step);
                break;
            }
            if (halt == 2)
                break;
        }
        if (st != NASC_OK)
            break;
        const bool full_epoch = step == spe;
        out->epochs_done = epoch + 1;
        int last = epoch + 1 == cfg->epochs ||
                   (cfg->max_seconds > 0.0 && out->seconds >= cfg->max_seconds);
        if ((st = dp_agree(dp, &last, 1, err)) != NASC_OK)
            break;
        float eacc = NAN, eloss = NAN;
        if (eval && rank == 0 && (cfg->eval_each_epoch || last)) {
            const double te = now_s();
            const int eb = cfg->eval_batch ? cfg->eval_batch : cfg->batch;
            if ((st = evaluate(m, eval, be, eb, &g, &eacc, &eloss, NULL, err)) != NASC_OK)
                break;
            eval_time += now_s() - te;
            out->eval_acc = eacc;
            out->eval_loss = eloss;
        }
        if (cfg->checkpoint && full_epoch && rank == 0) {
            const progress now = {.epochs_done = epoch + 1, .gstep = gstep, .images = images,
                                  .seconds = out->seconds, .train_loss = out->train_loss,
                                  .train_acc = out->train_acc, .eval_acc = eacc,
                                  .eval_loss = eloss};
            if ((st = ckpt_save(cfg, train, m, opt, &now, err)) != NASC_OK)
                break;
        }
        int halt = 0;
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
            halt = !cb(&ev, user);
        }
        if ((st = dp_agree(dp, &halt, 1, err)) != NASC_OK)
            break;
        if (halt) {
            st = nasc_errorf(err, NASC_ERR_ABORTED, "train: stopped after epoch %d", epoch + 1);
            break;
        }
        if (last)
            break;
    }
done:
    nasc_dp_free(dp);
    nasc_optim_free(opt);
    nasc_graph_free(g);
    nasc_loader_free(ld);
    nasc_backend_free(own);
    return st;
}

/* ---- fitting the epoch count to a time budget ---- */

typedef struct fit_probe {
    double t_first; /* elapsed after the first step (graph and buffers allocated) */
    double t_last;
    int64_t steps;
    double limit;   /* seconds to measure for */
} fit_probe;

/* at least 3 steps (2 steady-state intervals), then until the measuring time is spent */
static bool fit_on_event(const nasc_train_event *ev, void *user) {
    fit_probe *p = user;
    if (ev->kind != NASC_TRAIN_STEP)
        return true;
    if (p->steps == 0)
        p->t_first = ev->elapsed_s;
    p->t_last = ev->elapsed_s;
    p->steps++;
    return p->steps < 3 || ev->elapsed_s < p->limit;
}

nasc_status nasc_train_fit_time(nasc_model *probe, const nasc_dataset *train,
                                const nasc_dataset *eval, const nasc_train_config *cfg,
                                double seconds, double calib_seconds, nasc_train_fit *out,
                                nasc_err *err) {
    memset(out, 0, sizeof *out);
    if (!(seconds > 0.0) || !(calib_seconds > 0.0))
        return nasc_errorf(err, NASC_ERR_ARG,
                           "train: time limit and calibration time must be > 0 (%g, %g)",
                           seconds, calib_seconds);
    /* one epoch at most, stopped by the callback: the steps measured are real steps of this
     * model, data and thread count (the loader, augmentation and optimizer included) */
    nasc_train_config c = *cfg;
    c.epochs = 1;
    c.warmup_epochs = 0;
    c.eval_each_epoch = false;
    c.checkpoint = NULL;
    c.checkpoint_meta = NULL;
    c.max_seconds = 0.0;
    fit_probe p = {.limit = calib_seconds};
    nasc_train_result r;
    const double t0 = now_s();
    nasc_status st = nasc_train(probe, train, NULL, &c, fit_on_event, &p, &r, err);
    if (st == NASC_ERR_ABORTED && p.steps >= 3)
        st = NASC_OK; /* stopped by fit_on_event */
    if (st != NASC_OK)
        return st;
    out->calib_steps = p.steps;
    /* the first step allocates the graph and warms caches; later steps are the steady state */
    out->step_seconds = p.steps > 1 ? (p.t_last - p.t_first) / (double)(p.steps - 1) : p.t_last;
    const int64_t spe = train->n > cfg->batch ? train->n / cfg->batch : 1; /* drop_last */
    out->epoch_seconds = out->step_seconds * (double)spe;
    /* the final evaluation: timed on 1 and on 4 batches of eval (after an untimed pass), which
     * separates the fixed cost of a call (loader, graph) from the cost per image; a small eval
     * set is simply timed whole */
    if (eval && eval->n > 0) {
        const int eb = cfg->eval_batch ? cfg->eval_batch : cfg->batch;
        const size_t k4 = (size_t)(eval->n < 4 * eb ? eval->n : 4 * eb);
        const size_t k1 = (size_t)(eval->n < eb ? eval->n : eb);
        uint32_t *idx = nasc_malloc(k4 * sizeof *idx);
        nasc_dataset *sub4 = NULL, *sub1 = NULL;
        if (!idx)
            return nasc_errorf(err, NASC_ERR_NOMEM, "train: out of memory");
        for (size_t i = 0; i < k4; i++)
            idx[i] = (uint32_t)i;
        st = nasc_dataset_subset(eval, idx, k4, &sub4, err);
        if (st == NASC_OK)
            st = nasc_dataset_subset(eval, idx, k1, &sub1, err);
        nasc_free(idx);
        float acc, loss;
        double t1 = 0.0, t4 = 0.0;
        if (st == NASC_OK)
            st = nasc_evaluate(probe, sub1, cfg->backend, cfg->threads, eb, &acc, &loss, err);
        double ts = now_s();
        if (st == NASC_OK)
            st = nasc_evaluate(probe, sub1, cfg->backend, cfg->threads, eb, &acc, &loss, err);
        t1 = now_s() - ts;
        ts = now_s();
        if (st == NASC_OK)
            st = nasc_evaluate(probe, sub4, cfg->backend, cfg->threads, eb, &acc, &loss, err);
        t4 = now_s() - ts;
        nasc_dataset_free(sub1);
        nasc_dataset_free(sub4);
        if (st != NASC_OK)
            return st;
        if ((size_t)eval->n == k4 || k4 == k1) {
            out->eval_seconds = t4 * (double)eval->n / (double)k4;
        } else {
            double per = (t4 - t1) / (double)(k4 - k1);
            per = per > 0.0 ? per : t4 / (double)k4;
            const double fixed = t1 > per * (double)k1 ? t1 - per * (double)k1 : 0.0;
            out->eval_seconds = fixed + per * (double)eval->n;
        }
        /* a short timing on a loaded machine can overshoot badly; inference never costs more
         * than a third of a training step per image (forward only, no backward or update) */
        const double cap = out->step_seconds / (double)cfg->batch * (double)eval->n / 3.0;
        if (cap > 0.0 && out->eval_seconds > cap)
            out->eval_seconds = cap;
    }
    out->calib_seconds = now_s() - t0;
    /* per epoch 2 % for its bookkeeping (checkpoint write, loader restart) */
    const double left = seconds - out->calib_seconds - out->eval_seconds;
    const double e = out->epoch_seconds > 0.0 ? left / (out->epoch_seconds * 1.02) : 1.0;
    out->epochs = e >= 1.0 ? (e < 100000.0 ? (int)e : 100000) : 1;
    return NASC_OK;
}
