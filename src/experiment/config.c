/* config.c — the experiment configuration: one key table shared by command-line flags, the YAML
 * experiment file and the database's config table. */
#include "nasc/limits.h"
#include "experiment_int.h"

#include "nasc/oneshot.h"
#include "nasc/pareto.h"
#include "nasc/text.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#define OFF(f) offsetof(nasc_experiment_config, f)
#define SZ(f) sizeof(((nasc_experiment_config *)0)->f)
#define ID (NASC_CFG_IDENTITY | NASC_CFG_STORED)
#define RT NASC_CFG_STORED

static const nasc_config_key keys[] = {
    {"space", NASC_CFG_STR, OFF(space), SZ(space), ID, "SPACE", "search space"},
    {"strategy", NASC_CFG_STR, OFF(strategy), SZ(strategy), ID, "NAME", "search strategy"},
    {"strategy-opt", NASC_CFG_STR, OFF(strategy_opt), SZ(strategy_opt), ID, "K=V,...",
     "strategy options, e.g. population=20,sample=5"},
    {"init-archs", NASC_CFG_STR, OFF(init_archs), SZ(init_archs), ID, "FILE",
     "architectures (one a line) proposed first: the initial population of evolution, the first "
     "trials of random"},
    {"benchmark", NASC_CFG_STR, OFF(benchmark), SZ(benchmark), ID, "SPEC",
     "tabular evaluator: nb201:cifar10, nb201:cifar100 (search on validation, report test) or "
     "table:FILE.csv:SEARCH_COLUMN[:REPORT_COLUMN]"},
    {"oracle", NASC_CFG_BOOL, OFF(oracle), 0, ID, NULL,
     "nb201 tables: search on the TEST accuracy (an oracle; labelled as such in every output)"},
    {"table-low", NASC_CFG_STR, OFF(table_low), SZ(table_low), ID, "COL[:REPORT]",
     "user tables: the search (and report) column after the low fidelity's epochs"},
    {"table-cost", NASC_CFG_STR, OFF(table_cost), SZ(table_cost), ID, "COL",
     "user tables: training seconds at full fidelity (simulated time per query)"},
    {"table-epochs", NASC_CFG_STR, OFF(table_epochs), SZ(table_epochs), ID, "LOW,FULL",
     "user tables: the two fidelities in epochs (default 12,200)"},
    {"data", NASC_CFG_STR, OFF(data), SZ(data), ID, "DATASET",
     "train on this dataset (fashion-mnist, fashion-mnist:DIR, mnist:DIR, cifar10:DIR, ...)"},
    {"proxy", NASC_CFG_STR, OFF(proxy), SZ(proxy), ID, "NAME",
     "zero-cost proxy instead of training: synflow, snip, grad_norm, jacob_cov, naswot"},
    {"seed", NASC_CFG_U64, OFF(seed), 0, ID, "S", "experiment seed"},
    {"budget", NASC_CFG_I64, OFF(budget), 0, RT, "N", "number of trials (failed ones count)"},
    {"time-budget", NASC_CFG_DOUBLE, OFF(time_budget), 0, RT, "SECONDS",
     "stop once the simulated training time of the trials reaches it (tables; --budget then "
     "optional)"},
    {"wall-budget", NASC_CFG_DOUBLE, OFF(wall_budget), 0, RT, "SECONDS",
     "stop SECONDS of wall time after this run's first trial started: nothing starts after it "
     "and running trials are cancelled (recorded as running: --resume runs them again)"},
    {"ask-ahead", NASC_CFG_INT, OFF(ask_ahead), 0, ID, "K",
     "trials an adaptive strategy may propose ahead of the results (default auto: 0 with one "
     "worker, else 2 x (workers - 1); sh, hyperband, bohb: 8 x (workers - 1))"},
    {"epochs", NASC_CFG_INT, OFF(epochs), 0, ID, "N", "training epochs per trial (full fidelity)"},
    {"data-fraction", NASC_CFG_DOUBLE, OFF(data_fraction), 0, ID, "F",
     "share of the training set used, in (0,1]"},
    {"val-fraction", NASC_CFG_DOUBLE, OFF(val_fraction), 0, ID, "F",
     "share of it held out to score trials, in (0,1)"},
    {"channels", NASC_CFG_INT, OFF(channels), 0, ID, "C", "initial channels (0 = space default)"},
    {"cells", NASC_CFG_INT, OFF(cells), 0, ID, "N", "cells (0 = space default)"},
    {"batch", NASC_CFG_INT, OFF(batch), 0, ID, "N", "training batch size"},
    {"lr", NASC_CFG_DOUBLE, OFF(lr), 0, ID, "X", "peak learning rate"},
    {"lr-min", NASC_CFG_DOUBLE, OFF(lr_min), 0, ID, "X", "final learning rate of the cosine"},
    {"warmup-epochs", NASC_CFG_INT, OFF(warmup_epochs), 0, ID, "N", "linear warm-up epochs"},
    {"optimizer", NASC_CFG_STR, OFF(optimizer), SZ(optimizer), ID, "NAME", "sgd, adam or adamw"},
    {"momentum", NASC_CFG_DOUBLE, OFF(momentum), 0, ID, "X", "SGD momentum (Nesterov)"},
    {"no-nesterov", NASC_CFG_BOOL, OFF(no_nesterov), 0, ID, NULL, "plain momentum"},
    {"weight-decay", NASC_CFG_DOUBLE, OFF(weight_decay), 0, ID, "X", "weight decay"},
    {"clip", NASC_CFG_DOUBLE, OFF(clip), 0, ID, "X", "clip gradients to this global norm (0 off)"},
    {"label-smoothing", NASC_CFG_DOUBLE, OFF(label_smoothing), 0, ID, "X", "label smoothing"},
    {"crop-pad", NASC_CFG_INT, OFF(crop_pad), 0, ID, "P", "random crop with P pixels of padding"},
    {"hflip", NASC_CFG_BOOL, OFF(hflip), 0, ID, NULL, "random horizontal flips"},
    {"cutout", NASC_CFG_INT, OFF(cutout), 0, ID, "L", "cutout square of side L"},
    {"drop-path", NASC_CFG_DOUBLE, OFF(drop_path), 0, ID, "P", "maximum drop-path probability"},
    {"median-stop", NASC_CFG_BOOL, OFF(median_stop), 0, ID, NULL,
     "stop training trials by the median stopping rule"},
    {"cost", NASC_CFG_BOOL, OFF(cost), 0, RT, NULL,
     "record params/FLOPs/memory of table trials too (builds each network; input 3x32x32)"},
    {"objective", NASC_CFG_STR, OFF(objective), SZ(objective), ID, "LIST",
     "objectives: acc and any of params, flops, latency, memory (e.g. acc,params)"},
    {"constraint", NASC_CFG_STR, OFF(constraint), SZ(constraint), ID, "LIST",
     "constraints, e.g. params<=1e6,latency<=5ms (violating trials fail)"},
    {"workers", NASC_CFG_INT, OFF(workers), 0, RT, "N",
     "trials evaluated at once (processes; under mpirun: the other ranks)"},
    {"threads", NASC_CFG_INT, OFF(threads), 0, RT, "N", "kernel threads per trial"},
    {"trial-timeout", NASC_CFG_DOUBLE, OFF(trial_timeout), 0, RT, "SECONDS",
     "fail a trial that runs longer (0 = no limit)"},
    {"sim-sleep", NASC_CFG_DOUBLE, OFF(sim_sleep), 0, RT, "SECONDS",
     "tables: each trial sleeps SECONDS x its simulated training time / the table's mean (a "
     "scale model of real trial times for scheduling benchmarks; results are unchanged)"},
    {"snapshot-every", NASC_CFG_INT, OFF(snapshot_every), 0, RT, "N",
     "results between strategy snapshots"},
    {"db", NASC_CFG_STR, OFF(db), SZ(db), 0, "FILE", "trial database (created, or continued)"},
    {"resume", NASC_CFG_BOOL, OFF(resume), 0, NASC_CFG_NO_FILE, NULL,
     "continue the experiment in --db (its configuration is taken from it)"},
    {"json", NASC_CFG_BOOL, OFF(json), 0, 0, NULL, "print one JSON object on stdout"},
    {"quiet", NASC_CFG_BOOL, OFF(quiet), 0, 0, NULL, "no progress line"},
};
#define N_KEYS (int)(sizeof keys / sizeof keys[0])

const nasc_config_key *nasc_config_keys(int *out_n) {
    *out_n = N_KEYS;
    return keys;
}

const nasc_config_key *nasc_config_key_find(const char *name) {
    for (int i = 0; i < N_KEYS; i++)
        if (!strcmp(keys[i].name, name))
            return &keys[i];
    return NULL;
}

int nasc_ask_ahead_auto(const char *strategy, int workers) {
    const nasc_strategy_i *it = nasc_strategy_find(strategy);
    int k = it && it->ahead_per_worker > 0 ? it->ahead_per_worker : NASC_ASK_AHEAD_PER_WORKER;
    return workers > 1 ? k * (workers - 1) : 0;
}

void nasc_config_default(nasc_experiment_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->strategy, sizeof cfg->strategy, "random");
    cfg->seed = 1;
    cfg->budget = 0;
    nasc_train_hparams_default(&cfg->train, NASC_TRAIN_PRESET_COMMAND); /* as `nasc train` */
    cfg->workers = 1;
    cfg->ask_ahead = NASC_ASK_AHEAD_AUTO;
    cfg->snapshot_every = 50;
}

static const char *type_name(nasc_config_type t) {
    switch (t) {
    case NASC_CFG_INT:
    case NASC_CFG_I64:
        return "an integer";
    case NASC_CFG_U64:
        return "a non-negative integer";
    case NASC_CFG_DOUBLE:
        return "a number";
    case NASC_CFG_BOOL:
        return "true or false";
    default:
        return "a string";
    }
}

static nasc_status set_key(nasc_experiment_config *cfg, const nasc_config_key *k, const char *v,
                           nasc_err *err) {
    char *p = (char *)cfg + k->offset, *end = NULL;
    errno = 0;
    switch (k->type) {
    case NASC_CFG_STR:
        if (strlen(v) >= k->size)
            return nasc_errorf(err, NASC_ERR_ARG, "%s: value too long (%zu bytes, at most %zu)",
                               k->name, strlen(v), k->size - 1);
        memcpy(p, v, strlen(v) + 1);
        return NASC_OK;
    case NASC_CFG_INT: {
        if (!strcmp(k->name, "ask-ahead") && !strcmp(v, "auto")) {
            *(int *)p = NASC_ASK_AHEAD_AUTO;
            return NASC_OK;
        }
        long x = strtol(v, &end, 10);
        if (errno || !*v || *end || x < INT32_MIN || x > INT32_MAX)
            break;
        *(int *)p = (int)x;
        return NASC_OK;
    }
    case NASC_CFG_I64: {
        long long x = strtoll(v, &end, 10);
        if (errno || !*v || *end)
            break;
        *(int64_t *)p = x;
        return NASC_OK;
    }
    case NASC_CFG_U64: {
        if (*v == '-')
            break;
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || !*v || *end)
            break;
        *(uint64_t *)p = x;
        return NASC_OK;
    }
    case NASC_CFG_DOUBLE: {
        double x = strtod(v, &end);
        if (errno || !*v || *end || !isfinite(x))
            break;
        *(double *)p = x;
        return NASC_OK;
    }
    case NASC_CFG_BOOL:
        if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on") ||
            !strcmp(v, "1")) {
            *(bool *)p = true;
            return NASC_OK;
        }
        if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off") ||
            !strcmp(v, "0")) {
            *(bool *)p = false;
            return NASC_OK;
        }
        break;
    }
    return nasc_errorf(err, NASC_ERR_ARG, "%s: expected %s (got '%s')", k->name, type_name(k->type),
                       v);
}

/* "; did you mean 'workers'?" for a mistyped key, or "". */
static const char *key_hint(const char *name, char *out, size_t n) {
    char names[2048];
    size_t k = 0;
    names[0] = '\0';
    for (size_t i = 0; i < sizeof keys / sizeof keys[0] && k < sizeof names; i++)
        k += (size_t)snprintf(names + k, sizeof names - k, "%s ", keys[i].name);
    return nasc_did_you_mean(name, names, out, n);
}

nasc_status nasc_config_set(nasc_experiment_config *cfg, const char *key, const char *value,
                            nasc_err *err) {
    const nasc_config_key *k = nasc_config_key_find(key);
    char hint[96];
    if (!k)
        return nasc_errorf(err, NASC_ERR_ARG, "unknown key '%s'%s", key,
                           key_hint(key, hint, sizeof hint));
    return set_key(cfg, k, value, err);
}

static void fmt_double(char *buf, size_t n, double v) {
    snprintf(buf, n, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, n, "%.17g", v);
}

void nasc_config_get(const nasc_experiment_config *cfg, const nasc_config_key *k, char *buf,
                     size_t n) {
    const char *p = (const char *)cfg + k->offset;
    switch (k->type) {
    case NASC_CFG_STR:
        snprintf(buf, n, "%s", p);
        break;
    case NASC_CFG_INT:
        if (!strcmp(k->name, "ask-ahead") && *(const int *)p == NASC_ASK_AHEAD_AUTO)
            snprintf(buf, n, "auto");
        else
            snprintf(buf, n, "%d", *(const int *)p);
        break;
    case NASC_CFG_I64:
        snprintf(buf, n, "%" PRId64, *(const int64_t *)p);
        break;
    case NASC_CFG_U64:
        snprintf(buf, n, "%" PRIu64, *(const uint64_t *)p);
        break;
    case NASC_CFG_DOUBLE:
        fmt_double(buf, n, *(const double *)p);
        break;
    case NASC_CFG_BOOL:
        snprintf(buf, n, "%s", *(const bool *)p ? "true" : "false");
        break;
    }
}

nasc_status nasc_config_to_kv(const nasc_experiment_config *cfg, nasc_kv **out, int *out_n,
                              nasc_err *err) {
    /* pairs first, then a 600-byte text slot per pair */
    enum { SLOT = 600 };
    nasc_kv *kv = nasc_malloc((sizeof(nasc_kv) + SLOT) * (size_t)N_KEYS);
    if (!kv)
        return nasc_errorf(err, NASC_ERR_NOMEM, "config: out of memory");
    char *text = (char *)(kv + N_KEYS);
    int n = 0;
    for (int i = 0; i < N_KEYS; i++) {
        if (!(keys[i].flags & NASC_CFG_STORED))
            continue;
        char *slot = text + (size_t)n * SLOT;
        nasc_config_get(cfg, &keys[i], slot, SLOT);
        kv[n].key = keys[i].name;
        kv[n].value = slot;
        n++;
    }
    *out = kv;
    *out_n = n;
    return NASC_OK;
}

nasc_status nasc_config_table_epochs(const nasc_experiment_config *cfg, double *out_low,
                                     double *out_full, nasc_err *err) {
    *out_low = 12.0;
    *out_full = 200.0;
    if (!cfg->table_epochs[0])
        return NASC_OK;
    char *end;
    errno = 0;
    double a = strtod(cfg->table_epochs, &end);
    double b = *end == ',' ? strtod(end + 1, &end) : (double)NAN;
    if (errno || *end || !(a > 0) || !(b > a) || !isfinite(b))
        return nasc_errorf(err, NASC_ERR_ARG,
                           "table-epochs: expected LOW,FULL with 0 < LOW < FULL (got '%s')",
                           cfg->table_epochs);
    *out_low = a;
    *out_full = b;
    return NASC_OK;
}

void nasc_config_legacy_value(const nasc_kv *stored, int n, const nasc_config_key *k, char *buf,
                              size_t bn) {
    nasc_experiment_config def;
    nasc_config_default(&def);
    nasc_config_get(&def, k, buf, bn);
    if (!strcmp(k->name, "oracle")) /* nb201 tables were searched on test accuracy until then */
        for (int i = 0; i < n; i++)
            if (!strcmp(stored[i].key, "benchmark") && !strncmp(stored[i].value, "nb201:", 6))
                snprintf(buf, bn, "true");
}

/* The checks of one key's own range (all keys if only is NULL), so that the YAML loader can
 * name the line of a value out of range. Checks across keys stay in nasc_config_validate. */
static nasc_status check_ranges(const nasc_experiment_config *cfg, const char *only,
                                nasc_err *err) {
#define ON(name) (!only || !strcmp(only, name))
    if (ON("workers")) {
        /* forked processes: at most 256; a distributed search has one worker per other rank */
        const int max_workers = nasc_dist_size() - 1 > 256 ? nasc_dist_size() - 1 : 256;
        if (cfg->workers < 1 || cfg->workers > max_workers)
            return nasc_errorf(err, NASC_ERR_ARG, "workers: must be in [1, %d] (got %d)",
                               max_workers, cfg->workers);
    }
    if (ON("threads")) {
        NASC_TRY(nasc_limit_check_int(err, "threads", cfg->threads, 1, NASC_MAX_THREADS));
    }
    if (ON("ask-ahead")) {
        if (cfg->ask_ahead < 0 && cfg->ask_ahead != NASC_ASK_AHEAD_AUTO)
            return nasc_errorf(err, NASC_ERR_ARG, "ask-ahead: must be >= 0 or auto (got %d)",
                               cfg->ask_ahead);
    }
    if (ON("epochs")) {
        if (cfg->epochs < 1 || cfg->epochs > NASC_MAX_CURVE)
            return nasc_errorf(err, NASC_ERR_ARG, "epochs: must be in [1, %d] (got %d)",
                               NASC_MAX_CURVE, cfg->epochs);
    }
    if (ON("data-fraction")) {
        if (!(cfg->data_fraction > 0 && cfg->data_fraction <= 1))
            return nasc_errorf(err, NASC_ERR_ARG, "data-fraction: must be in (0, 1] (got %g)",
                               cfg->data_fraction);
    }
    if (ON("val-fraction")) {
        if (!(cfg->val_fraction > 0 && cfg->val_fraction < 1))
            return nasc_errorf(err, NASC_ERR_ARG, "val-fraction: must be in (0, 1) (got %g)",
                               cfg->val_fraction);
    }
    if (ON("channels")) {
        NASC_TRY(nasc_limit_check_int(err, "channels", cfg->channels, 0, NASC_MAX_CHANNELS));
    }
    if (ON("cells")) {
        NASC_TRY(nasc_limit_check_int(err, "cells", cfg->cells, 0, NASC_MAX_CELLS));
    }
    if (ON("batch")) {
        NASC_TRY(nasc_limit_check_int(err, "batch", cfg->batch, 1, NASC_MAX_BATCH));
    }
    if (ON("lr")) {
        if (!(cfg->lr > 0))
            return nasc_errorf(err, NASC_ERR_ARG, "lr: must be > 0 (got %g)", cfg->lr);
    }
    if (ON("optimizer")) {
        if (strcmp(cfg->optimizer, "sgd") && strcmp(cfg->optimizer, "adam") &&
            strcmp(cfg->optimizer, "adamw"))
            return nasc_errorf(err, NASC_ERR_ARG,
                               "optimizer: expected sgd, adam or adamw (got '%s')", cfg->optimizer);
    }
    if (ON("warmup-epochs") || ON("crop-pad") || ON("cutout")) {
        if (cfg->warmup_epochs < 0 || cfg->crop_pad < 0 || cfg->cutout < 0)
            return nasc_errorf(err, NASC_ERR_ARG, "%s: must be >= 0",
                               cfg->warmup_epochs < 0 ? "warmup-epochs"
                               : cfg->crop_pad < 0    ? "crop-pad"
                                                      : "cutout");
    }
    if (ON("momentum") || ON("weight-decay") || ON("clip") || ON("label-smoothing") ||
        ON("drop-path")) {
        if (!(cfg->momentum >= 0 && cfg->momentum < 1) || !(cfg->weight_decay >= 0) ||
            !(cfg->clip >= 0) || !(cfg->label_smoothing >= 0 && cfg->label_smoothing < 1) ||
            !(cfg->drop_path >= 0 && cfg->drop_path < 1))
            return nasc_errorf(err, NASC_ERR_ARG, "%s: out of range",
                               !(cfg->momentum >= 0 && cfg->momentum < 1) ? "momentum in [0, 1)"
                               : !(cfg->weight_decay >= 0)                ? "weight-decay >= 0"
                               : !(cfg->clip >= 0)                        ? "clip >= 0"
                               : !(cfg->label_smoothing >= 0 && cfg->label_smoothing < 1)
                                   ? "label-smoothing in [0, 1)"
                                   : "drop-path in [0, 1)");
    }
    if (ON("sim-sleep")) {
        if (!(cfg->sim_sleep >= 0) || !isfinite(cfg->sim_sleep))
            return nasc_errorf(err, NASC_ERR_ARG, "sim-sleep: must be >= 0 seconds (got %g)",
                               cfg->sim_sleep);
    }
    if (ON("trial-timeout")) {
        if (cfg->trial_timeout < 0)
            return nasc_errorf(err, NASC_ERR_ARG, "trial-timeout: must be >= 0 (got %g)",
                               cfg->trial_timeout);
    }
    if (ON("snapshot-every")) {
        if (cfg->snapshot_every < 1)
            return nasc_errorf(err, NASC_ERR_ARG, "snapshot-every: must be at least 1 (got %d)",
                               cfg->snapshot_every);
    }
#undef ON
    return NASC_OK;
}

nasc_status nasc_config_validate(const nasc_experiment_config *cfg, nasc_err *err) {
    if (!cfg->space[0])
        return nasc_errorf(err, NASC_ERR_ARG, "space: required (--space SPACE; spaces: %s)",
                           nasc_space_names());
    if (!nasc_strategy_find(cfg->strategy)) { /* one-shot names never get here (search.h) */
        char all[1024], hint[96];
        snprintf(all, sizeof all, "%s, %s", nasc_strategy_names(), nasc_oneshot_method_names());
        return nasc_errorf(err, NASC_ERR_ARG,
                           "strategy: unknown strategy '%s'%s (strategies: %s; one-shot: %s)",
                           cfg->strategy, nasc_did_you_mean(cfg->strategy, all, hint, sizeof hint),
                           nasc_strategy_names(), nasc_oneshot_method_names());
    }
    char canon[256];
    NASC_TRY(
        nasc_strategy_opts_canonical(cfg->strategy, cfg->strategy_opt, canon, sizeof canon, err));
    if (!cfg->benchmark[0] == !cfg->data[0])
        return nasc_errorf(err, NASC_ERR_ARG,
                           "benchmark / data: give exactly one evaluator: --benchmark "
                           "nb201:DATASET (a table) or --data DATASET (training)%s",
                           cfg->benchmark[0] ? " (both given)" : "");
    if (cfg->proxy[0] && !cfg->data[0])
        return nasc_errorf(err, NASC_ERR_ARG, "proxy: needs --data DATASET (one batch of it)");
    nasc_objectives obj;
    NASC_TRY(nasc_objectives_parse(cfg->objective, cfg->constraint, &obj, err));
    if (!(cfg->time_budget >= 0))
        return nasc_errorf(err, NASC_ERR_ARG, "time-budget: must be >= 0 (got %g)",
                           cfg->time_budget);
    if (!(cfg->wall_budget >= 0) || !isfinite(cfg->wall_budget))
        return nasc_errorf(err, NASC_ERR_ARG,
                           "wall-budget: must be a number of seconds >= 0 (got %g)",
                           cfg->wall_budget);
    if (cfg->time_budget > 0 && !cfg->benchmark[0])
        return nasc_errorf(err, NASC_ERR_ARG,
                           "time-budget: counts simulated training time, which only benchmark "
                           "tables have (--benchmark)");
    if (cfg->budget == 0 && !(cfg->time_budget > 0)) /* the default: not given */
        return nasc_errorf(err, NASC_ERR_ARG,
                           "budget: required: --budget N, the number of trials (at least 1)");
    if (cfg->budget < 0)
        return nasc_errorf(err, NASC_ERR_ARG, "budget: must be at least 1 (got %lld)",
                           (long long)cfg->budget);
    if (cfg->oracle && strncmp(cfg->benchmark, "nb201:", 6))
        return nasc_errorf(err, NASC_ERR_ARG,
                           "oracle: only for the nb201 tables (--benchmark nb201:DATASET; a user "
                           "table names the column it searches on)");
    if ((cfg->table_low[0] || cfg->table_cost[0] || cfg->table_epochs[0]) &&
        strncmp(cfg->benchmark, "table:", 6))
        return nasc_errorf(err, NASC_ERR_ARG, "%s: only for user tables (--benchmark table:...)",
                           cfg->table_low[0]    ? "table-low"
                           : cfg->table_cost[0] ? "table-cost"
                                                : "table-epochs");
    double low_ep, full_ep;
    NASC_TRY(nasc_config_table_epochs(cfg, &low_ep, &full_ep, err));
    NASC_TRY(check_ranges(cfg, NULL, err));
    if (!(cfg->lr_min >= 0 && cfg->lr_min <= cfg->lr))
        return nasc_errorf(err, NASC_ERR_ARG, "lr-min: must be in [0, lr] (got %g)", cfg->lr_min);
    return NASC_OK;
}

/* ---- YAML ---- */

static nasc_status yaml_err(nasc_err *err, const char *path, int line, const char *fmt, ...)
    NASC_PRINTF(4, 5);

static nasc_status yaml_err(nasc_err *err, const char *path, int line, const char *fmt, ...) {
    char msg[sizeof(((nasc_err *)0)->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    nasc_errorf_at(err, NASC_ERR_FORMAT, path, -1, "%s:%d: %s", path, line, msg);
    if (err)
        err->line = line;
    return NASC_ERR_FORMAT;
}

static const char *scalar(yaml_node_t *n) {
    return (const char *)n->data.scalar.value;
}

/* Options of a "strategy-opt" mapping, kept with their lines to name them in errors. */
typedef struct opt_line {
    char text[128]; /* "k=v" */
    char name[64];
    int line;
} opt_line;

/* "strategy-opt" as a mapping {k: v, ...}: joined into "k=v,..." */
static nasc_status strategy_opt_map(yaml_document_t *doc, yaml_node_t *map, const char *path,
                                    char *out, size_t n, opt_line *lines, int *n_lines,
                                    nasc_err *err) {
    size_t k = 0;
    *n_lines = 0;
    out[0] = '\0';
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(doc, p->value);
        int line = (int)kn->start_mark.line + 1;
        if (kn->type != YAML_SCALAR_NODE)
            return yaml_err(err, path, line, "strategy-opt: keys must be names");
        if (vn->type != YAML_SCALAR_NODE)
            return yaml_err(err, path, (int)vn->start_mark.line + 1,
                            "strategy-opt.%s: expected a scalar value (got a %s)", scalar(kn),
                            vn->type == YAML_MAPPING_NODE ? "mapping" : "sequence");
        if (strchr(scalar(vn), ',') || strchr(scalar(vn), '='))
            return yaml_err(err, path, (int)vn->start_mark.line + 1,
                            "strategy-opt.%s: value must not contain ',' or '='", scalar(kn));
        k += (size_t)snprintf(out + k, k < n ? n - k : 0, "%s%s=%s", k ? "," : "", scalar(kn),
                              scalar(vn));
        if (k >= n)
            return yaml_err(err, path, line, "strategy-opt: too long");
        if (*n_lines < 32) {
            opt_line *o = &lines[(*n_lines)++];
            snprintf(o->text, sizeof o->text, "%s=%s", scalar(kn), scalar(vn));
            snprintf(o->name, sizeof o->name, "%s", scalar(kn));
            o->line = line;
        }
    }
    return NASC_OK;
}

/* Checks strategy-opt against the strategy known so far, naming the option's line. */
static nasc_status check_strategy_opts(const nasc_experiment_config *cfg, const char *path,
                                       const opt_line *lines, int n_lines, int scalar_line,
                                       nasc_err *err) {
    if (!nasc_strategy_find(cfg->strategy))
        return NASC_OK; /* reported by validation, which names the strategy */
    char canon[256];
    for (int i = 0; i < n_lines; i++) {
        nasc_err e = {0};
        if (nasc_strategy_opts_canonical(cfg->strategy, lines[i].text, canon, sizeof canon, &e) !=
            NASC_OK)
            return yaml_err(err, path, lines[i].line, "strategy-opt.%s: %s", lines[i].name, e.msg);
    }
    nasc_err e = {0};
    if (scalar_line > 0 && nasc_strategy_opts_canonical(cfg->strategy, cfg->strategy_opt, canon,
                                                        sizeof canon, &e) != NASC_OK)
        return yaml_err(err, path, scalar_line, "strategy-opt: %s", e.msg);
    return NASC_OK;
}

/* Walks the event stream once before the document is built, which bounds the work: nesting
 * deeper than NASC_MAX_CONFIG_DEPTH stops at once (libyaml's loader is quadratic in the depth of
 * flow collections), and the forms a configuration never needs are refused with their line:
 * tags (!x, !!str) and a second document. */
static nasc_status yaml_precheck(const char *path, const char *text, size_t len, nasc_err *err) {
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", path);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    nasc_status st = NASC_OK;
    int depth = 0, docs = 0;
    for (bool end = false; !end && st == NASC_OK;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            st = yaml_err(err, path, (int)p.problem_mark.line + 1, "YAML syntax error: %s%s%s",
                          p.problem ? p.problem : "unknown problem", p.context ? " " : "",
                          p.context ? p.context : "");
            break;
        }
        const int line = (int)ev.start_mark.line + 1;
        const yaml_char_t *tag = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            end = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1)
                st = yaml_err(err, path, line,
                              "a second YAML document ('---'): a configuration file holds one");
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            tag = ev.type == YAML_SEQUENCE_START_EVENT ? ev.data.sequence_start.tag
                                                       : ev.data.mapping_start.tag;
            if (++depth > NASC_MAX_CONFIG_DEPTH)
                st = yaml_err(err, path, line, "nested deeper than %d levels",
                              NASC_MAX_CONFIG_DEPTH);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        case YAML_SCALAR_EVENT:
            tag = ev.data.scalar.tag;
            break;
        default:
            break;
        }
        if (st == NASC_OK && tag)
            st = yaml_err(err, path, line, "YAML tags are not accepted (got '%.40s')",
                          (const char *)tag);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return st;
}

nasc_status nasc_config_load_yaml(nasc_experiment_config *cfg, const char *path, bool *given,
                                  nasc_err *err) {
    char *text = NULL;
    size_t len = 0;
    NASC_TRY(nasc_file_read_all(path, "config", NASC_MAX_CONFIG_BYTES, &text, &len, err));
    nasc_status st = yaml_precheck(path, text, len, err);
    if (st != NASC_OK) {
        nasc_free(text);
        return st;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        nasc_free(text);
        return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", path);
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        st = yaml_err(err, path, (int)parser.problem_mark.line + 1, "YAML syntax error: %s%s%s",
                      parser.problem ? parser.problem : "unknown problem",
                      parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        nasc_free(text);
        return st;
    }
    bool seen[64] = {0};
    NASC_ASSERT(N_KEYS <= 64);
    opt_line opt_lines[32];
    int n_opt_lines = 0, opt_scalar_line = 0;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) /* an empty file sets nothing */
        goto done;
    if (root->type != YAML_MAPPING_NODE) {
        st = yaml_err(err, path, (int)root->start_mark.line + 1,
                      "expected a mapping of keys (key: value) at the top level");
        goto done;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(&doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(&doc, p->value);
        int line = (int)kn->start_mark.line + 1;
        if (kn->type != YAML_SCALAR_NODE) {
            st = yaml_err(err, path, line, "keys must be names");
            goto done;
        }
        const char *name = scalar(kn);
        const nasc_config_key *k = nasc_config_key_find(name);
        if (!k) {
            char hint[96];
            st = yaml_err(err, path, line, "unknown key '%s'%s", name,
                          key_hint(name, hint, sizeof hint));
            goto done;
        }
        if (k->flags & NASC_CFG_NO_FILE) {
            st = yaml_err(err, path, line, "%s: only on the command line (--%s)", name, name);
            goto done;
        }
        int idx = (int)(k - keys);
        if (seen[idx]) {
            st = yaml_err(err, path, line, "%s: key given twice", name);
            goto done;
        }
        seen[idx] = true;
        int vline = (int)vn->start_mark.line + 1;
        if (vn->type == YAML_MAPPING_NODE && !strcmp(name, "strategy-opt")) {
            char buf[256];
            if ((st = strategy_opt_map(&doc, vn, path, buf, sizeof buf, opt_lines, &n_opt_lines,
                                       err)) != NASC_OK)
                goto done;
            if ((st = set_key(cfg, k, buf, NULL)) != NASC_OK) {
                st = yaml_err(err, path, vline, "strategy-opt: too long");
                goto done;
            }
        } else if (vn->type != YAML_SCALAR_NODE) {
            st = yaml_err(err, path, vline, "%s: expected %s (got a %s)", name, type_name(k->type),
                          vn->type == YAML_MAPPING_NODE ? "mapping" : "sequence");
            goto done;
        } else {
            const char *v = scalar(vn);
            bool quoted = vn->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                          vn->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
            /* an unquoted empty / ~ / null is YAML's null: no value for any type */
            if (!quoted && (!*v || !strcmp(v, "~") || !strcasecmp(v, "null"))) {
                st = yaml_err(err, path, vline, "%s: expected %s (got null)", name,
                              type_name(k->type));
                goto done;
            }
            if (quoted && k->type != NASC_CFG_STR) {
                st = yaml_err(err, path, vline, "%s: expected %s (got the string \"%s\")", name,
                              type_name(k->type), v);
                goto done;
            }
            nasc_err e = {0};
            if (set_key(cfg, k, v, &e) != NASC_OK || check_ranges(cfg, name, &e) != NASC_OK) {
                st = yaml_err(err, path, vline, "%s", e.msg);
                goto done;
            }
            if (!strcmp(name, "strategy-opt"))
                opt_scalar_line = vline;
        }
        if (given)
            given[idx] = true;
    }
    st = check_strategy_opts(cfg, path, opt_lines, n_opt_lines, opt_scalar_line, err);
done:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    nasc_free(text);
    return st;
}

nasc_status nasc_config_load_db(nasc_experiment_config *cfg, const char *path, bool *given,
                                nasc_err *err) {
    nasc_db *db;
    if (access(path, F_OK) != 0)
        return nasc_errorf_at(err, NASC_ERR_IO, path, -1,
                              "%s: no such experiment database (nothing to resume)", path);
    NASC_TRY(nasc_db_open(path, &db, err));
    nasc_kv *kv = NULL;
    int n = 0;
    nasc_status st = nasc_db_config_get(db, &kv, &n, err);
    /* identity keys the database predates take the value they had then */
    for (int i = 0; st == NASC_OK && i < N_KEYS; i++) {
        if (!(keys[i].flags & NASC_CFG_IDENTITY))
            continue;
        bool stored = false;
        for (int j = 0; j < n; j++)
            stored |= !strcmp(kv[j].key, keys[i].name);
        if (stored)
            continue;
        char v[600];
        nasc_config_legacy_value(kv, n, &keys[i], v, sizeof v);
        nasc_err e = {0};
        if (set_key(cfg, &keys[i], v, &e) != NASC_OK)
            st = nasc_errorf(err, NASC_ERR_INTERNAL, "%s: %s", path, e.msg);
    }
    for (int i = 0; st == NASC_OK && i < n; i++) {
        const nasc_config_key *k = nasc_config_key_find(kv[i].key);
        if (!k || !(k->flags & NASC_CFG_STORED)) {
            st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, -1,
                                "%s: unknown configuration key '%s' (written by a newer nasc?)",
                                path, kv[i].key);
            break;
        }
        nasc_err e = {0};
        if (set_key(cfg, k, kv[i].value, &e) != NASC_OK) {
            st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, -1, "%s: stored configuration: %s",
                                path, e.msg);
            break;
        }
        if (given)
            given[k - keys] = true;
    }
    nasc_free(kv);
    nasc_db_close(db);
    return st;
}
