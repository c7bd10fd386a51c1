/* train.c — the training loop (nasc_train) and evaluation (nasc_evaluate). */
#include "nasc/train.h"

#include "nasc/arena.h"
#include "nasc/data.h"
#include "nasc/dist.h"
#include "nasc/weights.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
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

/* The one table of training defaults: a row per preset (train.h). Searches and `nasc train`
 * read theirs from here; nothing else writes a default hyperparameter. */
static const nasc_train_hparams presets[NASC_TRAIN_PRESET_COUNT] = {
    [NASC_TRAIN_PRESET_LIBRARY] = {.epochs = 10, .batch = 64, .lr = 0.05, .optimizer = "sgd",
                                   .momentum = 0.9, .weight_decay = 5e-4, .clip = 5.0,
                                   .data_fraction = 1.0, .threads = 1},
    [NASC_TRAIN_PRESET_COMMAND] = {.epochs = 5, .batch = 128, .lr = 0.1, .optimizer = "sgd",
                                   .momentum = 0.9, .weight_decay = 5e-4, .clip = 5.0,
                                   .data_fraction = 1.0, .val_fraction = 0.2, .threads = 2},
    [NASC_TRAIN_PRESET_ONESHOT] = {.epochs = 50, .batch = 64, .lr = 0.025, .lr_min = 0.001,
                                   .optimizer = "sgd", .momentum = 0.9, .weight_decay = 3e-4,
                                   .clip = 5.0, .data_fraction = 1.0, .val_fraction = 0.5,
                                   .threads = 2},
};

void nasc_train_hparams_default(nasc_train_hparams *hp, nasc_train_preset p) {
    NASC_ASSERT((unsigned)p < NASC_TRAIN_PRESET_COUNT);
    *hp = presets[p];
}

void nasc_train_config_set_hparams(nasc_train_config *c, const nasc_train_hparams *hp) {
    c->epochs = hp->epochs;
    c->batch = hp->batch;
    c->lr = (float)hp->lr;
    c->lr_min = (float)hp->lr_min;
    c->warmup_epochs = hp->warmup_epochs;
    c->optim = !strcmp(hp->optimizer, "adam")    ? NASC_OPTIM_ADAM
               : !strcmp(hp->optimizer, "adamw") ? NASC_OPTIM_ADAMW
                                                 : NASC_OPTIM_SGD;
    c->momentum = (float)hp->momentum;
    c->nesterov = !hp->no_nesterov && c->optim == NASC_OPTIM_SGD && c->momentum > 0.0f;
    c->weight_decay = (float)hp->weight_decay;
    c->clip_norm = (float)hp->clip;
    c->label_smoothing = (float)hp->label_smoothing;
    c->crop_pad = hp->crop_pad;
    c->hflip = hp->hflip;
    c->cutout = hp->cutout;
    c->drop_path = (float)hp->drop_path;
    c->threads = hp->threads;
}

void nasc_train_config_default(nasc_train_config *c) {
    memset(c, 0, sizeof *c);
    nasc_train_config_set_hparams(c, &presets[NASC_TRAIN_PRESET_LIBRARY]);
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

nasc_status nasc_train_recipe_hparams(const char *name, nasc_train_hparams *hp,
                                      int *out_channels, int *out_cells, nasc_err *err) {
    for (size_t i = 0; i < sizeof recipes / sizeof recipes[0]; i++) {
        if (!name || strcmp(name, recipes[i].name))
            continue;
        const double data_fraction = hp->data_fraction, val_fraction = hp->val_fraction;
        const int threads = hp->threads;
        *hp = (nasc_train_hparams){.epochs = recipes[i].epochs, .batch = 256, .lr = 0.1,
                                   .optimizer = "sgd", .momentum = 0.9, .weight_decay = 5e-4,
                                   .crop_pad = 4, .hflip = true, .data_fraction = data_fraction,
                                   .val_fraction = val_fraction, .threads = threads};
        if (out_channels)
            *out_channels = 16;
        if (out_cells)
            *out_cells = 5;
        return NASC_OK;
    }
    return nasc_errorf(err, NASC_ERR_ARG, "train: unknown recipe '%s' (expected %s)",
                       name ? name : "", nasc_train_recipe_names());
}

nasc_status nasc_train_recipe_apply(const char *name, nasc_train_config *c, int *out_channels,
                                    int *out_cells, nasc_err *err) {
    nasc_train_hparams hp = {.threads = c->threads};
    NASC_TRY(nasc_train_recipe_hparams(name, &hp, out_channels, out_cells, err));
    nasc_train_config_set_hparams(c, &hp);
    c->aux_weight = 0.0f;
    return NASC_OK;
}

static nasc_status check_config(const nasc_train_config *c, nasc_err *err) {
    if (c->epochs < 1)
        return nasc_errorf(err, NASC_ERR_ARG, "train: epochs must be >= 1 (%d)", c->epochs);
    if (c->steps < 0)
        return nasc_errorf(err, NASC_ERR_ARG, "train: steps must be >= 0 (%lld)",
                           (long long)c->steps);
    if (c->n_refits < 0 || c->n_refits > NASC_TRAIN_MAX_REFITS || (c->n_refits && !c->refits) ||
        ((c->n_refits || c->refit) && c->steps <= 0))
        return nasc_errorf(err, NASC_ERR_ARG,
                           "train: refits need steps > 0 and at most %d of them (%d)",
                           NASC_TRAIN_MAX_REFITS, c->n_refits);
    for (int i = 0; i < c->n_refits; i++)
        if (c->refits[i].at_step < 1 || c->refits[i].steps <= c->refits[i].at_step ||
            (i && c->refits[i].at_step <= c->refits[i - 1].at_step) ||
            c->refits[i].at_step >= (i ? c->refits[i - 1].steps : c->steps))
            return nasc_errorf(err, NASC_ERR_ARG,
                               "train: refit %d (after step %lld, to %lld steps) is not after the "
                               "previous one and before the end it changes",
                               i, (long long)c->refits[i].at_step, (long long)c->refits[i].steps);
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
    /* each activation's buffer is reused after its last reader (learnt from the pass before, so
     * the first batch is preceded by a pass over its first image): memory follows the live
     * activations, not the whole network; the logits are bit-identical */
    nasc_graph_set_reuse(g, true);
    nasc_status st = NASC_OK;
    double loss_sum = 0.0;
    int64_t correct = 0, seen = 0;
    nasc_batch b;
    nasc_loader_start_epoch(ld, 0);
    bool first = true;
    while (nasc_loader_next(ld, &b)) {
        if (first && b.n > 1) {
            nasc_graph_reset(g);
            nasc_tensor *x1 = nasc_input(g, 1, ds->c, ds->h, ds->w, b.x);
            nasc_cross_entropy(g, nasc_model_forward(m, g, x1, NULL), b.labels, 0.0f);
        }
        first = false;
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
        correct += nasc_count_correct(logits, b.labels);
        seen += b.n;
    }
    nasc_loader_free(ld);
    nasc_graph_set_reuse(g, false);
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
    int n_refits; /* the step-count refits made before gstep (cfg->refit, cfg->refits) */
    nasc_train_refit refits[NASC_TRAIN_MAX_REFITS];
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
    if (c->steps > 0) /* only when set: checkpoints of epoch runs stay as they were */
        cJSON_AddNumberToObject(j, "steps", (double)c->steps);
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
    if (p->n_refits > 0) { /* the step-count refits made so far, [[at_step, steps], ...] */
        cJSON *a = cJSON_AddArrayToObject(ts, "refits");
        for (int i = 0; a && i < p->n_refits; i++) {
            cJSON *pair = cJSON_CreateArray();
            cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)p->refits[i].at_step));
            cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)p->refits[i].steps));
            cJSON_AddItemToArray(a, pair);
        }
    }
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
                               int64_t spe, nasc_model *m, nasc_optim *o, progress *p,
                               nasc_err *err) {
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
    /* the refits the checkpointed run made must be the first of the ones given now */
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(ts, "refits");
    p->n_refits = cJSON_GetArraySize(rf);
    int max_epochs = c->epochs;
    for (int i = 0; i < p->n_refits; i++) {
        const cJSON *pair = cJSON_GetArrayItem(rf, i);
        const cJSON *a = cJSON_GetArrayItem(pair, 0), *b = cJSON_GetArrayItem(pair, 1);
        const bool ok = i < c->n_refits && cJSON_IsNumber(a) && cJSON_IsNumber(b) &&
                        (int64_t)a->valuedouble == c->refits[i].at_step &&
                        (int64_t)b->valuedouble == c->refits[i].steps;
        if (!ok) {
            st = nasc_errorf_at(err, NASC_ERR_ARG, path, -1,
                                "train: %s: the checkpointed run refitted its step count (refit "
                                "%d of %d) and this run is not given that refit; pass the run's "
                                "refits or remove the file",
                                path, i + 1, p->n_refits);
            goto done;
        }
        p->refits[i] = c->refits[i];
        max_epochs = (int)((p->refits[i].steps + spe - 1) / spe);
    }
    if (p->n_refits < c->n_refits && c->refits[p->n_refits].at_step <= p->gstep) {
        st = nasc_errorf_at(err, NASC_ERR_ARG, path, -1,
                            "train: %s: refit %d (after step %lld) is not in the checkpoint "
                            "written after step %lld",
                            path, p->n_refits + 1, (long long)c->refits[p->n_refits].at_step,
                            (long long)p->gstep);
        goto done;
    }
    if (p->epochs_done < 1 || p->epochs_done > max_epochs || p->gstep < 1 || p->images < 1 ||
        !(p->seconds >= 0.0)) {
        st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, -1,
                            "train: %s: corrupt train_state (epochs_done %d of %d, step %lld)",
                            path, p->epochs_done, max_epochs, (long long)p->gstep);
        goto done;
    }
    st = nasc_checkpoint_load(path, m, o, err);
done:
    cJSON_Delete(id);
    cJSON_Delete(meta);
    return st;
}

/* One run of nasc_train: what it trains with and where it stands. */
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

typedef struct train_run {
    nasc_model *m;
    const nasc_dataset *train, *eval;
    const nasc_train_config *cfg;
    nasc_train_cb cb;
    void *user;
    nasc_train_result *out;
    nasc_backend *be;
    nasc_loader *ld;
    nasc_graph *g;
    nasc_optim *opt;
    nasc_sched sched;
    nasc_dp *dp;               /* data parallel over ranks, or NULL */
    int rank;                  /* this rank (0 without data parallelism) */
    int64_t spe;               /* steps per epoch */
    int64_t total;             /* steps of the whole run */
    double t0, eval_time;      /* start (resumed seconds included), time spent evaluating */
    int64_t images, gstep;
    double loss_sum;           /* this epoch so far */
    int64_t correct, seen, step;
    int epochs;                /* epochs of the run: ceil(total / spe) after refits */
    /* step-count refits (cfg->refits replayed, then cfg->refit's): the applied ones in
     * done.refits[0..done.n_refits), each with the cosine phase at its anchor */
    progress done;             /* only n_refits / refits used */
    int64_t anchor[NASC_TRAIN_MAX_REFITS];
    double anchor_phase[NASC_TRAIN_MAX_REFITS];
} train_run;

/* The cosine's phase at `step` in [0, 1] after the first n refits (nasc_train_config.refit's
 * re-anchoring rule): the schedule's own before any refit, then from each refit's anchor a on
 * linearly from the phase there to 1 at the refit's end. */
static double refit_phase(const train_run *r, int n, int64_t step) {
    const int64_t w = r->sched.warmup_steps;
    if (n == 0) {
        const int64_t T = r->sched.total_steps - w;
        return T > 0 ? (double)(step - w) / (double)T : 1.0;
    }
    const int64_t a = r->anchor[n - 1], end = r->done.refits[n - 1].steps;
    const double pa = r->anchor_phase[n - 1];
    return end > a ? pa + (1.0 - pa) * (double)(step - a) / (double)(end - a) : 1.0;
}

/* Applies refit i (r->done.refits[i] set): its anchor and the phase there. */
static void refit_apply(train_run *r, int i) {
    const int64_t w = r->sched.warmup_steps, k = r->done.refits[i].at_step;
    const int64_t a = k > w ? k : w;
    double pa = refit_phase(r, i, a);
    pa = pa < 0.0 ? 0.0 : (pa > 1.0 ? 1.0 : pa);
    r->anchor[i] = a;
    r->anchor_phase[i] = pa;
    r->done.n_refits = i + 1;
    r->total = r->done.refits[i].steps;
    const int64_t e = (r->total + r->spe - 1) / r->spe;
    r->epochs = e > INT_MAX ? INT_MAX : (int)e;
}

/* The learning rate of `step`: the schedule's (nasc_sched_lr, bit for bit) until a refit, then
 * the cosine at the re-anchored phase. */
static float train_lr(const train_run *r, int64_t step) {
    const nasc_sched *s = &r->sched;
    if (r->done.n_refits == 0 || s->kind == NASC_SCHED_CONSTANT || step < s->warmup_steps)
        return nasc_sched_lr(s, step);
    if (step >= r->total)
        return s->lr_min;
    double t = refit_phase(r, r->done.n_refits, step);
    t = t < 0.0 ? 0.0 : (t > 1.0 ? 1.0 : t);
    const double lo = s->lr_min, hi = s->lr_max;
    return (float)(lo + 0.5 * (hi - lo) * (1.0 + cos(3.14159265358979323846 * t)));
}

/* After a step: a recorded refit due at this step is applied; past the last recorded one,
 * cfg->refit (rank 0) may ask for a new total (shared with every rank). */
static nasc_status refit_after_step(train_run *r, const nasc_train_event *ev, nasc_err *err) {
    const nasc_train_config *cfg = r->cfg;
    const int i = r->done.n_refits;
    if (i < cfg->n_refits) {
        if (cfg->refits[i].at_step == r->gstep) {
            r->done.refits[i] = cfg->refits[i];
            refit_apply(r, i);
        }
        return NASC_OK;
    }
    if (!cfg->refit)
        return NASC_OK;
    int64_t want = r->rank == 0 ? cfg->refit(ev, r->user) : 0;
    if (r->dp)
        NASC_TRY(nasc_dist_bcast(&want, sizeof want, 0, err));
    if (want == 0 || want == r->total)
        return NASC_OK;
    if (want <= r->gstep)
        return nasc_errorf(err, NASC_ERR_ARG,
                           "train: refit to %lld steps after %lld steps done (must be more)",
                           (long long)want, (long long)r->gstep);
    if (i >= NASC_TRAIN_MAX_REFITS)
        return NASC_OK; /* no room left: the count stands */
    r->done.refits[i] = (nasc_train_refit){.at_step = r->gstep, .steps = want};
    refit_apply(r, i);
    return NASC_OK;
}

/* Continues from cfg->checkpoint when the file exists: restores the model, the optimizer and
 * *p, and starts r->out where the checkpointed run stood. */
static nasc_status train_resume(train_run *r, progress *p, nasc_err *err) {
    const nasc_train_config *cfg = r->cfg;
    nasc_train_result *out = r->out;
    struct stat sb;
    if (!cfg->checkpoint)
        return NASC_OK;
    if (stat(cfg->checkpoint, &sb) != 0) {
        if (errno == ENOENT)
            return NASC_OK;
        return nasc_errorf_at(err, NASC_ERR_IO, cfg->checkpoint, -1, "train: %s: %s",
                              cfg->checkpoint, strerror(errno));
    }
    NASC_TRY(ckpt_resume(cfg, r->train, r->spe, r->m, r->opt, p, err));
    if (p->gstep != (int64_t)p->epochs_done * r->spe)
        return nasc_errorf_at(err, NASC_ERR_FORMAT, cfg->checkpoint, -1,
                              "train: %s: %lld steps for %d epochs of %lld steps (corrupt "
                              "train_state)",
                              cfg->checkpoint, (long long)p->gstep, p->epochs_done,
                              (long long)r->spe);
    out->resumed_epochs = out->epochs_done = p->epochs_done;
    out->steps = p->gstep;
    out->seconds = p->seconds;
    out->images_per_second = p->seconds > 0 ? (double)p->images / p->seconds : 0.0;
    out->train_loss = p->train_loss;
    out->train_acc = p->train_acc;
    out->eval_acc = p->eval_acc;
    out->eval_loss = p->eval_loss;
    return NASC_OK;
}

/* One optimizer step on batch b of epoch `epoch` (forward options fo), then the running means
 * in r->out and the STEP event. *halt: 2 when the time limit is reached (rank 0 decides for
 * every rank); a callback's stop is NASC_ERR_ABORTED. */
static nasc_status train_step(train_run *r, int epoch, const nasc_forward_opts *fo,
                              const nasc_batch *b, int *halt, nasc_err *err) {
    *halt = 0;
    const nasc_train_config *cfg = r->cfg;
    nasc_train_result *out = r->out;
    nasc_graph *g = r->g;
    nasc_graph_reset(g);
    nasc_graph_set_training(g, true);
    nasc_graph_set_grad(g, true);
    nasc_graph_set_rng(g, cfg->seed, (uint64_t)r->gstep);
    nasc_graph_set_batch_first(g, b->first);
    nasc_params_zero_grad(r->m->params);
    nasc_tensor *x = nasc_input(g, b->n, r->train->c, r->train->h, r->train->w, b->x);
    nasc_tensor *logits = nasc_model_forward(r->m, g, x, fo);
    nasc_tensor *loss = nasc_cross_entropy(g, logits, b->labels, cfg->label_smoothing);
    if (loss && fo->want_aux && r->m->aux_logits) {
        nasc_tensor *aux =
            nasc_cross_entropy(g, r->m->aux_logits, b->labels, cfg->label_smoothing);
        loss = nasc_add(g, loss, nasc_scale(g, aux, cfg->aux_weight));
    }
    if (!loss || nasc_backward(g, loss) != NASC_OK)
        return graph_fail(g, err);
    float lv = loss->data[0];
    int n_ok = (int)nasc_count_correct(logits, b->labels), nb = b->n;
    if (r->dp) { /* data parallel: the global batch's mean loss, gradients and counts */
        float ex[2] = {lv * (float)b->n / (float)b->n_total, (float)n_ok};
        NASC_TRY(nasc_dp_average(r->dp, b->n, b->n_total, ex, err));
        lv = ex[0];
        n_ok = (int)ex[1];
        nb = b->n_total;
    }
    if (!isfinite(lv))
        return nasc_errorf(err, NASC_ERR_ABORTED, "train: diverged at epoch %d step %lld (loss %g)",
                           epoch + 1, (long long)r->step, (double)lv);
    if (cfg->clip_norm > 0.0f)
        nasc_clip_grad_norm(r->m->params, cfg->clip_norm);
    const float lr = train_lr(r, r->gstep);
    nasc_optim_step(r->opt, lr);
    r->loss_sum += (double)lv * nb;
    r->correct += n_ok;
    r->seen += nb;
    r->images += nb;
    r->step++;
    r->gstep++;
    const double elapsed = now_s() - r->t0 - r->eval_time;
    out->steps = r->gstep;
    out->seconds = elapsed;
    out->images_per_second = elapsed > 0 ? (double)r->images / elapsed : 0.0;
    out->train_loss = (float)(r->loss_sum / (double)r->seen);
    out->train_acc = (float)(100.0 * (double)r->correct / (double)r->seen);
    int stop = 0; /* 1: the callback stopped the run, 2: out of time (rank 0 decides) */
    const int64_t left = r->total - r->gstep;
    const nasc_train_event ev = {
        .kind = NASC_TRAIN_STEP, .epoch = epoch, .epochs = r->epochs,
        .step = r->step - 1, .steps_per_epoch = r->spe, .global_step = r->gstep - 1,
        .loss = lv, .avg_loss = out->train_loss, .avg_acc = out->train_acc,
        .lr = lr, .images_per_second = out->images_per_second,
        .elapsed_s = elapsed, .eta_s = r->gstep ? elapsed / (double)r->gstep * (double)left : 0,
        .eval_acc = NAN, .eval_loss = NAN,
    };
    if (r->cb && !r->cb(&ev, r->user))
        stop = 1;
    if (!stop && cfg->max_seconds > 0.0 && elapsed >= cfg->max_seconds)
        stop = 2;
    NASC_TRY(dp_agree(r->dp, &stop, 1, err));
    if (!stop)
        NASC_TRY(refit_after_step(r, &ev, err));
    if (stop == 1)
        return nasc_errorf(err, NASC_ERR_ABORTED, "train: stopped at epoch %d step %lld",
                           epoch + 1, (long long)r->step);
    *halt = stop;
    return NASC_OK;
}

/* The end of epoch `epoch`: evaluation (every epoch if asked, else after the last), the
 * checkpoint after a full epoch, the EPOCH_END event. *out_last: no epoch follows (the last
 * one, or the time limit reached). */
static nasc_status train_epoch_end(train_run *r, int epoch, bool *out_last, nasc_err *err) {
    const nasc_train_config *cfg = r->cfg;
    nasc_train_result *out = r->out;
    const bool full_epoch = r->step == r->spe;
    out->epochs_done = epoch + 1;
    int last = epoch + 1 >= r->epochs ||
               (cfg->max_seconds > 0.0 && out->seconds >= cfg->max_seconds);
    NASC_TRY(dp_agree(r->dp, &last, 1, err));
    *out_last = last;
    float eacc = NAN, eloss = NAN;
    if (r->eval && r->rank == 0 && (cfg->eval_each_epoch || last)) {
        const double te = now_s();
        const int eb = cfg->eval_batch ? cfg->eval_batch : cfg->batch;
        NASC_TRY(evaluate(r->m, r->eval, r->be, eb, &r->g, &eacc, &eloss, NULL, err));
        r->eval_time += now_s() - te;
        out->eval_acc = eacc;
        out->eval_loss = eloss;
    }
    if (cfg->checkpoint && full_epoch && r->rank == 0) {
        progress now = r->done; /* the refits made so far */
        now.epochs_done = epoch + 1;
        now.gstep = r->gstep;
        now.images = r->images;
        now.seconds = out->seconds;
        now.train_loss = out->train_loss;
        now.train_acc = out->train_acc;
        now.eval_acc = eacc;
        now.eval_loss = eloss;
        NASC_TRY(ckpt_save(cfg, r->train, r->m, r->opt, &now, err));
    }
    const int64_t left = r->total - r->gstep;
    const nasc_train_event ev = {
        .kind = NASC_TRAIN_EPOCH_END, .epoch = epoch, .epochs = r->epochs,
        .step = r->step, .steps_per_epoch = r->spe, .global_step = r->gstep,
        .loss = NAN, .avg_loss = out->train_loss, .avg_acc = out->train_acc,
        .lr = train_lr(r, r->gstep), .images_per_second = out->images_per_second,
        .elapsed_s = out->seconds,
        .eta_s = r->gstep ? out->seconds / (double)r->gstep * (double)left : 0,
        .eval_acc = eacc, .eval_loss = eloss,
    };
    int halt = r->cb && !r->cb(&ev, r->user);
    NASC_TRY(dp_agree(r->dp, &halt, 1, err));
    if (halt)
        return nasc_errorf(err, NASC_ERR_ABORTED, "train: stopped after epoch %d", epoch + 1);
    return NASC_OK;
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

    /* data parallel: this rank's share of every batch (rank 0 of 1 without it) */
    const bool dpar = cfg->data_parallel && nasc_dist_size() > 1;
    const int rank = dpar ? nasc_dist_rank() : 0, n_ranks = dpar ? nasc_dist_size() : 1;
    if (dpar && (cfg->batch < n_ranks || train->n < n_ranks))
        return nasc_errorf(err, NASC_ERR_ARG,
                           "train: data-parallel over %d ranks needs a batch and a training set "
                           "of at least %d images (batch %d, %d images)",
                           n_ranks, n_ranks, cfg->batch, train->n);

    train_run r = {.m = m, .train = train, .eval = eval, .cfg = cfg, .cb = cb, .user = user,
                   .out = out, .be = cfg->backend, .rank = rank};
    nasc_backend *own = NULL;
    NASC_TRY(backend_or_own(&r.be, cfg->threads, &own, err));
    nasc_status st = NASC_OK;
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
    if ((st = nasc_loader_new(train, &lc, &r.ld, err)) != NASC_OK)
        goto done;
    if (!(r.g = nasc_graph_new(r.be, 32u << 20, err))) {
        st = err ? err->code : NASC_ERR_NOMEM;
        goto done;
    }
    /* a node's gradient goes back to the graph's pool once its backward has run: peak gradient
     * memory follows the backward frontier instead of holding one buffer per activation */
    nasc_graph_set_release_grads(r.g, true);
    const nasc_optim_config oc = {.kind = cfg->optim,
                                  .momentum = cfg->optim == NASC_OPTIM_SGD ? cfg->momentum : 0.0f,
                                  .nesterov = cfg->optim == NASC_OPTIM_SGD && cfg->nesterov,
                                  .weight_decay = cfg->weight_decay};
    if ((st = nasc_optim_new(m->params, &oc, &r.opt, err)) != NASC_OK)
        goto done;
    if (dpar && (st = nasc_dp_new(m->params, 2, &r.dp, err)) != NASC_OK)
        goto done;

    r.spe = (int64_t)nasc_loader_n_batches(r.ld);
    /* a run of cfg->steps steps: the epochs that hold them, the last one partial */
    nasc_train_config by_steps;
    if (cfg->steps > 0) {
        by_steps = *cfg;
        const int64_t e = (cfg->steps + r.spe - 1) / r.spe;
        by_steps.epochs = e > INT_MAX ? INT_MAX : (int)e;
        if (by_steps.warmup_epochs >= by_steps.epochs)
            by_steps.warmup_epochs = by_steps.epochs - 1;
        cfg = r.cfg = &by_steps;
    }
    const int64_t total = cfg->steps > 0 ? cfg->steps : (int64_t)cfg->epochs * r.spe;
    r.total = total;
    r.epochs = cfg->epochs;
    r.sched = (nasc_sched){.kind = NASC_SCHED_COSINE,
                           .lr_max = cfg->lr,
                           .lr_min = cfg->lr_min,
                           .warmup_steps = (int64_t)cfg->warmup_epochs * r.spe,
                           .total_steps = total};
    progress done_before = {.eval_acc = NAN, .eval_loss = NAN};
    if (rank == 0 && (st = train_resume(&r, &done_before, err)) != NASC_OK)
        goto done;
    if ((st = dp_share_start(r.dp, m, r.opt, &done_before, err)) != NASC_OK)
        goto done;
    if (rank > 0) {
        out->resumed_epochs = out->epochs_done = done_before.epochs_done;
        out->steps = done_before.gstep;
    }
    /* the refits the checkpointed run made, replayed on the schedule (anchors in order) */
    for (int i = 0; i < done_before.n_refits; i++) {
            r.done.refits[i] = done_before.refits[i];
            refit_apply(&r, i);
        }
    r.t0 = now_s() - done_before.seconds;
    r.images = done_before.images;
    r.gstep = done_before.gstep;
    for (int epoch = done_before.epochs_done; epoch < r.epochs; epoch++) {
        nasc_loader_start_epoch(r.ld, (uint32_t)epoch);
        const nasc_forward_opts fo = {
            .drop_path = cfg->drop_path * (float)epoch / (float)r.epochs,
            .want_aux = cfg->aux_weight > 0.0f,
        };
        r.loss_sum = 0.0;
        r.correct = r.seen = r.step = 0;
        nasc_batch b;
        int halt = 0;
        while (st == NASC_OK && !halt && r.gstep < r.total && nasc_loader_next(r.ld, &b))
            st = train_step(&r, epoch, &fo, &b, &halt, err);
        bool last = false;
        if (st != NASC_OK || (st = train_epoch_end(&r, epoch, &last, err)) != NASC_OK || last)
            break;
    }
done:
    nasc_dp_free(r.dp);
    nasc_optim_free(r.opt);
    nasc_graph_free(r.g);
    nasc_loader_free(r.ld);
    nasc_backend_free(own);
    return st;
}

/* ---- fitting the epoch count to a time budget ---- */

typedef struct fit_probe {
    double t_first; /* elapsed after the first step (graph and buffers allocated) */
    double t_warm;  /* elapsed after the warm-up (FIT_WARMUP_STEPS) */
    double t_last;
    int64_t steps;
    double limit;   /* seconds to measure for */
} fit_probe;

/* The first steps of a run are slower than the rest (the first allocates the graph; the next
 * few run while the loader's prefetch fills its queue and the buffer pools grow). With the mean
 * of steps 2-3 as the step time, nasc auto's 3-minute runs on the shared 2-core machine planned
 * 2-4 times the time their steps then took (docs/AUTO.md); so the steady time is taken after
 * FIT_WARMUP_STEPS steps, over at least FIT_MIN_STEADY more. */
#define FIT_WARMUP_STEPS 3
#define FIT_MIN_STEADY 3

/* at least the warm-up and FIT_MIN_STEADY steady steps, then until the measuring time is spent */
static bool fit_on_event(const nasc_train_event *ev, void *user) {
    fit_probe *p = user;
    if (ev->kind != NASC_TRAIN_STEP)
        return true;
    if (p->steps == 0)
        p->t_first = ev->elapsed_s;
    p->t_last = ev->elapsed_s;
    p->steps++;
    if (p->steps == FIT_WARMUP_STEPS)
        p->t_warm = ev->elapsed_s;
    return p->steps < FIT_WARMUP_STEPS + FIT_MIN_STEADY || ev->elapsed_s < p->limit;
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
    c.steps = 0;
    c.refits = NULL;
    c.n_refits = 0;
    c.refit = NULL;
    c.warmup_epochs = 0;
    c.eval_each_epoch = false;
    c.checkpoint = NULL;
    c.checkpoint_meta = NULL;
    c.max_seconds = 0.0;
    fit_probe p = {.limit = calib_seconds};
    nasc_train_result r;
    const double t0 = now_s();
    nasc_status st = nasc_train(probe, train, NULL, &c, fit_on_event, &p, &r, err);
    if (st == NASC_ERR_ABORTED && p.steps >= FIT_WARMUP_STEPS + FIT_MIN_STEADY)
        st = NASC_OK; /* stopped by fit_on_event */
    if (st != NASC_OK)
        return st;
    out->calib_steps = p.steps;
    /* the steady state, after the warm-up (an epoch shorter than that: all but the first step) */
    if (p.steps > FIT_WARMUP_STEPS)
        out->step_seconds = (p.t_last - p.t_warm) / (double)(p.steps - FIT_WARMUP_STEPS);
    else
        out->step_seconds =
            p.steps > 1 ? (p.t_last - p.t_first) / (double)(p.steps - 1) : p.t_last;
    out->first_step_seconds = p.t_first;
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
