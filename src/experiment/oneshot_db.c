/* oneshot_db.c — one-shot searches as experiments (oneshot_search.h): the experiment
 * configuration mapped onto nasc_oneshot_config, and every epoch recorded in the trial database.
 * The one-shot loop itself (oneshot.h) knows nothing of databases; this file is the glue. */
#include "nasc/oneshot_search.h"

#include "experiment_int.h"
#include "nasc/arena.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

bool nasc_oneshot_search_handles(const nasc_experiment_config *cfg) {
    return cfg && nasc_oneshot_method_parse(cfg->strategy, NULL);
}

typedef struct glue {
    const nasc_oneshot_search_opts *opts;
    nasc_db *db;
    int64_t n_trials;          /* trials already in the database */
    cJSON *history;            /* {"method": ..., "epochs": [...]} */
    float curve[NASC_MAX_CURVE];
    const nasc_oneshot_config *oc;
    double memory_bytes;
    int n_ops;
} glue;

static bool was_given(const nasc_experiment_config *cfg, const bool *given, const char *key) {
    if (cfg->resume)
        return true; /* the stored configuration holds the resolved values */
    const nasc_config_key *k = nasc_config_key_find(key);
    int n;
    const nasc_config_key *keys = nasc_config_keys(&n);
    return given && k && given[k - keys];
}

/* cfg -> oc (DARTS defaults for what was not given), and the resolved experiment config res. */
static nasc_status resolve(const nasc_experiment_config *cfg, const nasc_oneshot_search_opts *o,
                           nasc_oneshot_config *oc, nasc_experiment_config *res, nasc_err *err) {
    const bool *g = o ? o->given : NULL;
    nasc_oneshot_config_default(oc, cfg->strategy);
    *res = *cfg;
    if (cfg->benchmark[0] || cfg->proxy[0])
        return nasc_errorf(err, NASC_ERR_ARG,
                           "%s: one-shot strategies train a supernet on --data; --%s does not "
                           "apply",
                           cfg->strategy, cfg->benchmark[0] ? "benchmark" : "proxy");
    if (!cfg->data[0])
        return nasc_errorf(err, NASC_ERR_ARG,
                           "%s: one-shot strategies need --data DATASET (e.g. fashion-mnist)",
                           cfg->strategy);
    const char *space = cfg->space[0] ? cfg->space : "darts";
    if (strlen(space) >= sizeof oc->space)
        return nasc_errorf(err, NASC_ERR_ARG, "%s: space '%s' has no supernet (darts, nb201)",
                           cfg->strategy, space);
    memcpy(oc->space, space, strlen(space) + 1);
    snprintf(oc->data, sizeof oc->data, "%s", cfg->data);
    oc->seed = cfg->seed;
    if (was_given(cfg, g, "epochs"))
        oc->epochs = cfg->epochs;
    if (was_given(cfg, g, "data-fraction"))
        oc->data_fraction = cfg->data_fraction;
    if (was_given(cfg, g, "val-fraction"))
        oc->val_fraction = cfg->val_fraction;
    if (was_given(cfg, g, "batch"))
        oc->batch = cfg->batch;
    if (was_given(cfg, g, "lr"))
        oc->lr = (float)cfg->lr;
    if (was_given(cfg, g, "lr-min"))
        oc->lr_min = (float)cfg->lr_min;
    if (was_given(cfg, g, "channels"))
        oc->channels = cfg->channels;
    if (was_given(cfg, g, "cells"))
        oc->cells = cfg->cells;
    if (was_given(cfg, g, "crop-pad"))
        oc->crop_pad = cfg->crop_pad;
    if (was_given(cfg, g, "hflip"))
        oc->hflip = cfg->hflip;
    if (cfg->threads > 0)
        oc->threads = cfg->threads;
    if (was_given(cfg, g, "momentum"))
        oc->opts.momentum = (float)cfg->momentum;
    if (was_given(cfg, g, "weight-decay"))
        oc->opts.weight_decay = (float)cfg->weight_decay;
    if (was_given(cfg, g, "clip"))
        oc->opts.clip = cfg->clip > 0.0 ? (float)cfg->clip : -1.0f;
    NASC_TRY(nasc_oneshot_opts_parse(cfg->strategy_opt, oc, err));
    if (o && o->max_memory)
        oc->max_memory = o->max_memory;
    if (cfg->db[0])
        snprintf(oc->checkpoint, sizeof oc->checkpoint, "%s.ckpt", cfg->db);
    oc->resume = cfg->resume;
    oc->stop_after_steps = o ? o->stop_after_steps : 0;
    oc->data_parallel = o && o->data_parallel && nasc_dist_size() > 1;
    /* what the database stores: the values actually used */
    res->epochs = oc->epochs;
    res->data_fraction = oc->data_fraction;
    res->val_fraction = oc->val_fraction;
    res->batch = oc->batch;
    res->channels = oc->channels;
    res->cells = oc->cells;
    nasc_train_hparams def; /* what nasc_oneshot_opts_default gives options left at 0 */
    nasc_train_hparams_default(&def, NASC_TRAIN_PRESET_ONESHOT);
    res->momentum = oc->opts.momentum != 0.0f ? (double)oc->opts.momentum : def.momentum;
    res->weight_decay =
        oc->opts.weight_decay != 0.0f ? (double)oc->opts.weight_decay : def.weight_decay;
    res->clip = oc->opts.clip == 0.0f  ? def.clip
                : oc->opts.clip < 0.0f ? 0.0
                                       : (double)oc->opts.clip;
    /* the search runs in float: the values it ran with. (Taken from a run's float fields:
     * GCC 12's SLP vectorizer drops the pair (double)(float)x when two of them sit side by
     * side, which would store the double as given instead.) */
    nasc_train_config run;
    nasc_train_config_set_hparams(&run, &oc->train);
    res->lr = run.lr;
    res->lr_min = run.lr_min;
    res->budget = oc->epochs;
    snprintf(res->space, sizeof res->space, "%s", oc->space);
    return NASC_OK;
}

static nasc_status open_db(const nasc_experiment_config *res, glue *gl, nasc_err *err) {
    int n_keys;
    const nasc_config_key *keys = nasc_config_keys(&n_keys);
    nasc_kv kv[128];
    char vals[128][512];
    int n = 0;
    for (int i = 0; i < n_keys && n < 128; i++) {
        if (!(keys[i].flags & NASC_CFG_STORED))
            continue;
        nasc_config_get(res, &keys[i], vals[n], sizeof vals[n]);
        kv[n].key = keys[i].name;
        kv[n].value = vals[n];
        n++;
    }
    if (!res->db[0])
        return nasc_db_open_memory(kv, n, &gl->db, err);
    if (!res->resume)
        return nasc_db_create(res->db, kv, n, &gl->db, err);
    NASC_TRY(nasc_db_open(res->db, &gl->db, err));
    nasc_kv *stored = NULL;
    int ns = 0;
    nasc_status st = nasc_db_config_get(gl->db, &stored, &ns, err);
    for (int i = 0; st == NASC_OK && i < ns; i++)
        if (!strcmp(stored[i].key, "strategy") && strcmp(stored[i].value, res->strategy))
            st = nasc_errorf_at(err, NASC_ERR_ARG, res->db, -1,
                                "%s: experiment of strategy '%s', not '%s'", res->db,
                                stored[i].value, res->strategy);
    nasc_free(stored);
    if (st == NASC_OK)
        st = nasc_db_trial_count(gl->db, &gl->n_trials, err);
    /* the history snapshot, to append to */
    void *buf = NULL;
    size_t len = 0;
    int64_t a, t;
    if (st == NASC_OK && nasc_db_snapshot_get(gl->db, &a, &t, &buf, &len, err) == NASC_OK &&
        buf) {
        cJSON *h = cJSON_ParseWithLength(buf, len);
        if (h) {
            cJSON_Delete(gl->history);
            gl->history = h;
        }
    }
    nasc_free(buf);
    return st;
}

static void log_epoch(glue *gl, const nasc_oneshot_epoch *e) {
    if (!gl->opts || !gl->opts->on_epoch_log)
        return;
    char head[512];
    snprintf(head, sizeof head,
             "epoch %d/%d lr %.5f | train loss %.4f acc %.2f%% | val loss %.4f acc %.2f%% | "
             "param-free ops %.0f%%, skips in normal cell %d | %.0f s, %.1f img/s%s%s\n",
             e->epoch + 1, e->epochs, (double)e->lr, (double)e->train_loss, (double)e->train_acc,
             (double)e->val_loss, (double)e->val_acc, 100.0 * e->param_free_share,
             e->n_skip_normal, e->seconds, e->images_per_second,
             e->stop_reason ? " | " : "", e->stop_reason ? e->stop_reason : "");
    const size_t n = strlen(head) + strlen(e->arch) + strlen(e->alpha_json) + 64;
    char *text = nasc_malloc(n);
    if (!text)
        return;
    snprintf(text, n, "%s  genotype: %s\n  alpha: %s\n", head, e->arch, e->alpha_json);
    gl->opts->on_epoch_log(text, gl->opts->user);
    nasc_free(text);
}

/* Records epoch e as trial e->epoch (score: the supernet's validation accuracy). */
static nasc_status record_trial(glue *gl, const nasc_oneshot_epoch *e, nasc_err *err) {
    nasc_trial_result r;
    nasc_trial_result_init(&r);
    r.status = isfinite(e->val_acc) ? NASC_TRIAL_OK : NASC_TRIAL_FAILED;
    r.score = e->val_acc;
    r.fidelity = e->epoch + 1;
    r.train_loss = e->train_loss;
    r.seconds = e->seconds;
    r.cost.memory_bytes = gl->memory_bytes;
    r.n_curve = e->epoch + 1 < NASC_MAX_CURVE ? e->epoch + 1 : NASC_MAX_CURVE;
    memcpy(r.curve, gl->curve, (size_t)r.n_curve * sizeof(float));
    if (r.status != NASC_TRIAL_OK)
        snprintf(r.reason, sizeof r.reason, "supernet validation accuracy is not finite");
    else if (e->stop_reason)
        snprintf(r.reason, sizeof r.reason, "%s", e->stop_reason);
    nasc_arch *a = NULL;
    nasc_space *sp = NULL;
    uint64_t hash = 0;
    if (nasc_space_new(gl->oc->space, NULL, &sp, err) == NASC_OK &&
        nasc_arch_parse(sp, e->arch, &a, err) == NASC_OK)
        hash = nasc_arch_hash(a);
    nasc_arch_free(a);
    nasc_space_free(sp);
    nasc_trial_record t = {.id = e->epoch, .arch = e->arch, .hash = hash, .fidelity = e->epoch + 1,
                           .seed = gl->oc->seed};
    nasc_cost_unknown(&t.cost);
    NASC_TRY(nasc_db_trial_insert(gl->db, &t, err));
    NASC_TRY(nasc_db_trial_start(gl->db, e->epoch, 0, 1, err));
    return nasc_db_trial_finish(gl->db, e->epoch, &r, err);
}

/* Appends epoch e's record (genotype, softmax(alpha), losses, collapse figures) to the history. */
static nasc_status history_add(cJSON *eps, const nasc_oneshot_epoch *e, nasc_err *err) {
    cJSON *rec = cJSON_CreateObject();
    cJSON *alpha = cJSON_Parse(e->alpha_json);
    if (!rec) {
        cJSON_Delete(alpha);
        return nasc_errorf(err, NASC_ERR_NOMEM, "oneshot: out of memory");
    }
    cJSON_AddNumberToObject(rec, "epoch", e->epoch);
    cJSON_AddStringToObject(rec, "arch", e->arch);
    cJSON_AddItemToObject(rec, "alpha", alpha ? alpha : cJSON_CreateObject());
    cJSON_AddNumberToObject(rec, "train_loss", e->train_loss);
    cJSON_AddNumberToObject(rec, "train_acc", e->train_acc);
    cJSON_AddNumberToObject(rec, "val_loss", e->val_loss);
    cJSON_AddNumberToObject(rec, "val_acc", e->val_acc);
    cJSON_AddNumberToObject(rec, "param_free_share", e->param_free_share);
    cJSON_AddNumberToObject(rec, "skips_normal", e->n_skip_normal);
    if (e->stop_reason)
        cJSON_AddStringToObject(rec, "stop_reason", e->stop_reason);
    cJSON_AddItemToArray(eps, rec);
    return NASC_OK;
}

static nasc_status on_epoch(const nasc_oneshot_epoch *e, void *user, nasc_err *err) {
    glue *gl = user;
    if (e->epoch < NASC_MAX_CURVE)
        gl->curve[e->epoch] = e->val_acc;
    if (!e->replayed)
        log_epoch(gl, e);
    /* history snapshot (alpha per epoch) and the epoch's trial are written in one transaction;
     * an epoch replayed on resume is already in both */
    cJSON *eps = cJSON_GetObjectItem(gl->history, "epochs");
    if (!eps)
        return nasc_errorf(err, NASC_ERR_NOMEM, "oneshot: out of memory");
    if (e->epoch < gl->n_trials && e->epoch < cJSON_GetArraySize(eps))
        return NASC_OK; /* recorded before the interruption */
    if (e->epoch >= cJSON_GetArraySize(eps))
        NASC_TRY(history_add(eps, e, err));
    char *js = cJSON_PrintUnformatted(gl->history);
    if (!js)
        return nasc_errorf(err, NASC_ERR_NOMEM, "oneshot: out of memory");
    nasc_status st = nasc_db_group_begin(gl->db, err);
    if (st == NASC_OK && e->epoch >= gl->n_trials)
        st = record_trial(gl, e, err);
    if (st == NASC_OK)
        st = nasc_db_snapshot_put(gl->db, e->epoch + 1, e->epoch + 1, js, strlen(js), err);
    cJSON_free(js);
    if (st == NASC_OK)
        st = nasc_db_group_end(gl->db, true, err);
    else {
        nasc_err ignored = {0};
        nasc_db_group_end(gl->db, false, &ignored);
    }
    if (st == NASC_OK && e->epoch >= gl->n_trials)
        gl->n_trials = e->epoch + 1;
    return st;
}

static void on_memory(const nasc_supernet_memory *m, void *user) {
    glue *gl = user;
    gl->memory_bytes = (double)m->total_bytes;
    if (gl->opts && gl->opts->on_memory)
        gl->opts->on_memory(m, gl->opts->user);
}

static bool on_step(const nasc_oneshot_progress *p, void *user) {
    glue *gl = user;
    return !gl->opts || !gl->opts->on_step || gl->opts->on_step(p, gl->opts->user);
}

nasc_status nasc_oneshot_search(const nasc_experiment_config *cfg,
                                const nasc_oneshot_search_opts *opts, nasc_oneshot_result *out,
                                nasc_err *err) {
    memset(out, 0, sizeof *out);
    if (!nasc_oneshot_search_handles(cfg))
        return nasc_errorf(err, NASC_ERR_ARG, "oneshot: '%s' is not a one-shot strategy (%s)",
                           cfg ? cfg->strategy : "(null)", nasc_oneshot_method_names());
    nasc_oneshot_config oc;
    nasc_experiment_config res;
    NASC_TRY(resolve(cfg, opts, &oc, &res, err));
    glue gl = {.opts = opts, .oc = &oc};
    if (oc.data_parallel && nasc_dist_rank() > 0) { /* rank 0 records; this rank computes */
        nasc_oneshot_hooks h = {.on_step = on_step, .user = &gl};
        return nasc_oneshot_run(&oc, &h, out, err);
    }
    gl.history = cJSON_CreateObject();
    if (!gl.history || !cJSON_AddStringToObject(gl.history, "method", oc.method) ||
        !cJSON_AddArrayToObject(gl.history, "epochs")) {
        cJSON_Delete(gl.history);
        return nasc_errorf(err, NASC_ERR_NOMEM, "oneshot: out of memory");
    }
    nasc_status st = open_db(&res, &gl, err);
    if (st == NASC_OK) {
        nasc_oneshot_hooks h = {.on_step = on_step, .on_epoch = on_epoch,
                                .on_memory = on_memory, .user = &gl};
        st = nasc_oneshot_run(&oc, &h, out, err);
    }
    nasc_db_close(gl.db);
    cJSON_Delete(gl.history);
    return st;
}

/* ---- data parallel: the configuration from rank 0 ---- */

nasc_status nasc_oneshot_search_share(const nasc_experiment_config *cfg, const bool *given,
                                      size_t max_memory, nasc_err *err) {
    /* what every rank would refuse alike is refused here, before any rank is involved */
    nasc_oneshot_config oc;
    nasc_experiment_config res;
    const nasc_oneshot_search_opts o = {.given = given, .max_memory = max_memory};
    if (!nasc_oneshot_search_handles(cfg))
        return nasc_errorf(err, NASC_ERR_ARG, "oneshot: '%s' is not a one-shot strategy (%s)",
                           cfg ? cfg->strategy : "(null)", nasc_oneshot_method_names());
    NASC_TRY(resolve(cfg, &o, &oc, &res, err));
    const int n_ranks = nasc_dist_size();
    if (oc.batch < 2 * n_ranks)
        return nasc_errorf(err, NASC_ERR_ARG,
                           "%s: --batch %d: data-parallel over %d ranks needs at least %d (2 "
                           "images per rank for batch norm)",
                           oc.method, oc.batch, n_ranks, 2 * n_ranks);
    int n_keys;
    nasc_config_keys(&n_keys);
    for (int r = 1; r < nasc_dist_size(); r++)
        NASC_TRY(nasc_remote_send_oneshot(r, cfg, given, n_keys, max_memory, err));
    return NASC_OK;
}

nasc_status nasc_oneshot_search_wait(nasc_experiment_config *cfg, bool *given,
                                     size_t *max_memory, bool *out_oneshot, nasc_err *err) {
    *out_oneshot = false;
    nasc_dist_msg m;
    unsigned us = 20; /* polling, not a blocking receive: see dist.h */
    while (!nasc_dist_poll(0, &m)) {
        usleep(us);
        us = us < 4000 ? 2 * us : 4000;
    }
    if (m.tag != NASC_TAG_ONESHOT)
        return NASC_OK;
    int n_keys;
    nasc_config_keys(&n_keys);
    NASC_TRY(nasc_remote_recv_oneshot(&m, cfg, given, n_keys, max_memory, err));
    *out_oneshot = true;
    return NASC_OK;
}
