/* search.c — the one-shot search loop (nasc_oneshot_run): data split, epochs, the per-epoch
 * record, the collapse report and DARTS+ early stop, the memory check, and checkpoints.
 *
 * Data: the training set (optionally a stratified share, --data-fraction) is split stratified
 * into a training and a validation half (val_fraction, 0.5 as in the DARTS paper). Weight steps
 * take the training half in a per-epoch shuffled order; each step's architecture step takes the
 * next batch of the validation half, which cycles through its own shuffled epochs. The epoch's
 * validation score is the supernet's accuracy on (the first eval_batches of) the validation half.
 *
 * Checkpoint (docs/ONESHOT.md, "Checkpoint file"): the stepper's state (weights, BN statistics,
 * alpha, both optimizers, rng, counters, method state), both loader positions, the epoch's
 * running sums and every finished epoch's record, written atomically (PATH.tmp, fsync, rename) at
 * the end of every epoch and every checkpoint_every steps. Every random draw is keyed by the seed
 * and these counters, so a search resumed from any checkpoint continues exactly as the
 * uninterrupted one (same thread count): same losses, same alpha, same final architecture. */
#include "nasc/limits.h"
#include "stepper_int.h"

#include "nasc/text.h"
#include "nasc/arena.h"
#include "nasc/cost.h"
#include "nasc/data.h"
#include "nasc/dist.h"
#include "nasc/weights.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zlib.h>

#define CKPT_MAGIC "NASCOSK" /* 8 bytes with the NUL */
#define CKPT_VERSION 1u
#define CKPT_HEADER 32u

/* ---- config ---- */

void nasc_oneshot_config_default(nasc_oneshot_config *cfg, const char *method) {
    memset(cfg, 0, sizeof *cfg);
    if (method && nasc_oneshot_method_parse(method, NULL))
        snprintf(cfg->method, sizeof cfg->method, "%s", method);
    snprintf(cfg->space, sizeof cfg->space, "darts");
    snprintf(cfg->data, sizeof cfg->data, "fashion-mnist");
    nasc_train_hparams_default(&cfg->train, NASC_TRAIN_PRESET_ONESHOT);
    cfg->seed = 1;
    cfg->checkpoint_every = 200;
}

bool nasc_oneshot_parse_bytes(const char *text, size_t *out) {
    double v;
    if (!text || nasc_parse_size(text, 1024.0, "K M G KB MB GB B", NASC_UNIT_NOCASE, &v) ||
        !(v > 0.0) || v > 1e18)
        return false;
    *out = (size_t)v;
    return true;
}

typedef struct opt_key {
    const char *name;
    char type; /* 'f' float, 'i' int */
    size_t off;
    bool in_cfg; /* field of the config (else of the opts) */
} opt_key;

#define OO(f) offsetof(nasc_oneshot_opts, f)
#define OC(f) offsetof(nasc_oneshot_config, f)
static const opt_key opt_keys[] = {
    {"momentum", 'f', OO(momentum), false},     {"weight-decay", 'f', OO(weight_decay), false},
    {"clip", 'f', OO(clip), false},             {"arch-lr", 'f', OO(arch_lr), false},
    {"arch-beta1", 'f', OO(arch_beta1), false}, {"arch-beta2", 'f', OO(arch_beta2), false},
    {"arch-wd", 'f', OO(arch_wd), false},       {"arch-warmup", 'i', OO(arch_warmup), false},
    {"tau-max", 'f', OO(tau_max), false},       {"tau-min", 'f', OO(tau_min), false},
    {"partial", 'i', OO(partial), false},       {"population", 'i', OO(evo_population), false},
    {"iterations", 'i', OO(evo_iterations), false},
    {"evo-batches", 'i', OO(evo_val_batches), false},
    {"samples", 'i', OO(enas_samples), false},  {"entropy", 'f', OO(enas_entropy), false},
    {"baseline", 'f', OO(enas_baseline), false},
    {"latency-weight", 'f', OO(latency_weight), false},
    {"max-skips", 'i', OO(max_skips), false},   {"skip-reg", 'f', OO(skip_reg), false},
    {"eval-batches", 'i', OC(eval_batches), true},
    {"checkpoint-every", 'i', OC(checkpoint_every), true},
};

nasc_status nasc_oneshot_opts_parse(const char *text, nasc_oneshot_config *cfg, nasc_err *err) {
    if (!text || !*text)
        return NASC_OK;
    const char *p = text;
    while (*p) {
        const size_t len = strcspn(p, ",");
        char item[128];
        snprintf(item, sizeof item, "%.*s", (int)len, p);
        p += len + (p[len] == ',');
        if (!item[0])
            continue;
        char *eq = strchr(item, '=');
        if (!eq)
            return nasc_errorf(err, NASC_ERR_ARG, "%s: option '%s': expected key=value",
                               cfg->method, item);
        *eq = '\0';
        const char *key = item, *val = eq + 1;
        if (!strcmp(key, "latency")) { /* per-op milliseconds, op order of the space */
            const char *q = val;
            for (int k = 0; k < NASC_SUPERNET_MAX_OPS && *q; k++) {
                char *end;
                const double v = strtod(q, &end);
                if (end == q || !(v >= 0.0) || (*end && *end != ':'))
                    return nasc_errorf(err, NASC_ERR_ARG,
                                       "%s: option latency: expected ms per op as a:b:c... "
                                       "(got '%s')",
                                       cfg->method, val);
                cfg->opts.op_latency[k] = (float)v;
                q = *end ? end + 1 : end;
            }
            continue;
        }
        if (!strcmp(key, "max-memory")) {
            if (!nasc_oneshot_parse_bytes(val, &cfg->max_memory))
                return nasc_errorf(err, NASC_ERR_ARG,
                                   "%s: option max-memory: expected bytes like 4G, 500M (got '%s')",
                                   cfg->method, val);
            continue;
        }
        const opt_key *k = NULL;
        for (size_t i = 0; i < sizeof opt_keys / sizeof opt_keys[0]; i++)
            if (!strcmp(opt_keys[i].name, key))
                k = &opt_keys[i];
        if (!k) {
            char names[512];
            size_t o = 0;
            for (size_t i = 0; i < sizeof opt_keys / sizeof opt_keys[0]; i++)
                o += (size_t)snprintf(names + o, sizeof names - o, "%s, ", opt_keys[i].name);
            char hint[96];
            snprintf(names + (o < sizeof names ? o : sizeof names - 1),
                     sizeof names - (o < sizeof names ? o : sizeof names - 1), "max-memory");
            return nasc_errorf(err, NASC_ERR_ARG, "%s: unknown option '%s'%s (known: %s)",
                               cfg->method, key, nasc_did_you_mean(key, names, hint, sizeof hint),
                               names);
        }
        char *end;
        errno = 0;
        char *base = k->in_cfg ? (char *)cfg : (char *)&cfg->opts;
        if (k->type == 'f') {
            const double v = strtod(val, &end);
            if (errno || end == val || *end || !isfinite(v) || v < 0.0)
                return nasc_errorf(err, NASC_ERR_ARG,
                                   "%s: option %s: expected a number >= 0 (got '%s')", cfg->method,
                                   key, val);
            *(float *)(base + k->off) = (float)v;
        } else {
            const long v = strtol(val, &end, 10);
            if (errno || end == val || *end || v < 0 || v > 1000000)
                return nasc_errorf(err, NASC_ERR_ARG,
                                   "%s: option %s: expected an integer >= 0 (got '%s')",
                                   cfg->method, key, val);
            *(int *)(base + k->off) = (int)v;
        }
    }
    return NASC_OK;
}

/* The keys that must match for a checkpoint to continue this search. */
static void identity(const nasc_oneshot_config *c, const nasc_oneshot_opts *o, char *buf,
                     size_t n) {
    snprintf(buf, n,
             "method=%s space=%s data=%s fraction=%.17g val=%.17g seed=%llu epochs=%d batch=%d "
             "lr=%.9g lr_min=%.9g channels=%d cells=%d crop_pad=%d hflip=%d momentum=%.9g "
             "wd=%.9g clip=%.9g arch_lr=%.9g arch_betas=%.9g,%.9g arch_wd=%.9g warmup=%d "
             "tau=%.9g,%.9g partial=%d evo=%d,%d,%d enas=%d,%.9g,%.9g latency=%.9g "
             "op_latency=%.9g:%.9g:%.9g:%.9g:%.9g:%.9g:%.9g:%.9g max_skips=%d skip_reg=%.9g",
             c->method, c->space, c->data, c->data_fraction, c->val_fraction,
             (unsigned long long)c->seed, c->epochs, c->batch, (double)(float)c->lr,
             (double)(float)c->lr_min,
             c->channels, c->cells, c->crop_pad, (int)c->hflip, (double)o->momentum,
             (double)o->weight_decay, (double)o->clip, (double)o->arch_lr, (double)o->arch_beta1,
             (double)o->arch_beta2, (double)o->arch_wd, o->arch_warmup, (double)o->tau_max,
             (double)o->tau_min, o->partial, o->evo_population, o->evo_iterations,
             o->evo_val_batches, o->enas_samples, (double)o->enas_entropy,
             (double)o->enas_baseline, (double)o->latency_weight, (double)o->op_latency[0],
             (double)o->op_latency[1], (double)o->op_latency[2], (double)o->op_latency[3],
             (double)o->op_latency[4], (double)o->op_latency[5], (double)o->op_latency[6],
             (double)o->op_latency[7], o->max_skips,
             (double)o->skip_reg);
}

/* The first space-separated "key=value" token where a and b differ, for messages. */
static void first_diff(const char *a, const char *b, char *out, size_t n) {
    for (;;) {
        size_t la = strcspn(a, " "), lb = strcspn(b, " ");
        if (la != lb || strncmp(a, b, la) || !a[la] || !b[lb]) {
            snprintf(out, n, "%.*s in the checkpoint, %.*s now", (int)la, a, (int)lb, b);
            return;
        }
        a += la + 1;
        b += lb + 1;
    }
}

double nasc_oneshot_param_free_share(const nasc_arch *a, int *out_skips) {
    const char *sp = nasc_space_name(nasc_arch_space(a));
    int d[64], n = 0;
    nasc_arch_to_decisions(a, d, &n);
    int free_ops = 0, ops = 0, skips = 0;
    if (!strcmp(sp, "darts")) {
        /* ops of each cell: decisions 2k; none 0, max 1, avg 2, skip 3 */
        for (int t = 0; t < 2; t++)
            for (int k = 0; k < 8; k++) {
                const int op = d[16 * t + 2 * k];
                ops++;
                free_ops += op <= 3;
                skips += t == 0 && op == 3;
            }
    } else if (!strcmp(sp, "nb201")) {
        for (int e = 0; e < n; e++) {
            ops++;
            free_ops += d[e] == 0 || d[e] == 1 || d[e] == 4; /* none, skip, avg pool */
            skips += d[e] == 1;
        }
    }
    if (out_skips)
        *out_skips = skips;
    return ops ? (double)free_ops / ops : 0.0;
}

/* softmax(alpha) per cell type as JSON, 4 decimals: {"normal": [[...], ...], ...} */
static char *alpha_json(const nasc_supernet *sn) {
    const int T = nasc_supernet_n_types(sn), E = nasc_supernet_n_edges(sn);
    const int K = nasc_supernet_n_ops(sn);
    nasc_buf b = {0};
    static const char *const names[2][2] = {{"cell", ""}, {"normal", "reduce"}};
    float p[NASC_SUPERNET_MAX_EDGES * NASC_SUPERNET_MAX_OPS], ew[NASC_SUPERNET_MAX_EDGES];
    char tmp[64];
    nasc_buf_put(&b, "{", 1);
    for (int t = 0; t < T; t++) {
        nasc_supernet_probs(sn, t, p, ew);
        snprintf(tmp, sizeof tmp, "%s\"%s\": [", t ? ", " : "", names[T - 1][t]);
        nasc_buf_put(&b, tmp, strlen(tmp));
        for (int e = 0; e < E; e++) {
            nasc_buf_put(&b, e ? ", [" : "[", e ? 3 : 1);
            for (int k = 0; k < K; k++) {
                snprintf(tmp, sizeof tmp, "%s%.4f", k ? ", " : "", (double)p[e * K + k]);
                nasc_buf_put(&b, tmp, strlen(tmp));
            }
            nasc_buf_put(&b, "]", 1);
        }
        nasc_buf_put(&b, "]", 1);
        if (nasc_supernet_beta(sn, t)) {
            snprintf(tmp, sizeof tmp, ", \"%s_edges\": [", names[T - 1][t]);
            nasc_buf_put(&b, tmp, strlen(tmp));
            for (int e = 0; e < E; e++) {
                snprintf(tmp, sizeof tmp, "%s%.4f", e ? ", " : "", (double)ew[e]);
                nasc_buf_put(&b, tmp, strlen(tmp));
            }
            nasc_buf_put(&b, "]", 1);
        }
    }
    nasc_buf_puts(&b, "}");
    return nasc_buf_take_str(&b);
}

/* ---- epoch records (kept for the checkpoint and replayed on resume) ---- */

typedef struct epoch_rec {
    nasc_oneshot_epoch e; /* arch / alpha_json / stop_reason point into the strings below */
    char *arch, *alpha, *stop;
} epoch_rec;

static void rec_free(epoch_rec *r) {
    nasc_free(r->arch);
    nasc_free(r->alpha);
    nasc_free(r->stop);
}

static void rec_put(nasc_buf *b, const epoch_rec *r) {
    const nasc_oneshot_epoch *e = &r->e;
    nasc_buf_put_u64(b, (uint64_t)e->epoch);
    nasc_buf_put_f64(b, e->lr);
    nasc_buf_put_f64(b, e->train_loss);
    nasc_buf_put_f64(b, e->train_acc);
    nasc_buf_put_f64(b, e->val_loss);
    nasc_buf_put_f64(b, e->val_acc);
    nasc_buf_put_f64(b, e->param_free_share);
    nasc_buf_put_u64(b, (uint64_t)e->n_skip_normal);
    nasc_buf_put_f64(b, e->seconds);
    nasc_buf_put_f64(b, e->images_per_second);
    nasc_buf_put_u64(b, e->last);
    nasc_buf_put_str(b, r->arch);
    nasc_buf_put_str(b, r->alpha);
    nasc_buf_put_str(b, r->stop);
}

static bool rec_get(nasc_reader *b, epoch_rec *r, int epochs) {
    memset(r, 0, sizeof *r);
    nasc_oneshot_epoch *e = &r->e;
    e->epoch = (int)nasc_read_u64(b);
    e->epochs = epochs;
    e->lr = (float)nasc_read_f64(b);
    e->train_loss = (float)nasc_read_f64(b);
    e->train_acc = (float)nasc_read_f64(b);
    e->val_loss = (float)nasc_read_f64(b);
    e->val_acc = (float)nasc_read_f64(b);
    e->param_free_share = nasc_read_f64(b);
    e->n_skip_normal = (int)nasc_read_u64(b);
    e->seconds = nasc_read_f64(b);
    e->images_per_second = nasc_read_f64(b);
    e->last = nasc_read_u64(b) != 0;
    r->arch = nasc_read_str(b, SIZE_MAX);
    r->alpha = nasc_read_str(b, SIZE_MAX);
    r->stop = nasc_read_str(b, SIZE_MAX);
    if (r->stop && !r->stop[0]) {
        nasc_free(r->stop);
        r->stop = NULL;
    }
    e->arch = r->arch;
    e->alpha_json = r->alpha;
    e->stop_reason = r->stop;
    return !b->bad && r->arch && r->alpha;
}

/* ---- the run's state ---- */

typedef struct run_state {
    const nasc_oneshot_config *cfg;
    nasc_oneshot_opts opts;
    char ident[2048];
    nasc_space *space;
    nasc_dataset *all, *part, *train, *val;
    nasc_backend *be;
    nasc_supernet *sn;
    nasc_oneshot *os;
    nasc_loader *tl, *vl, *el; /* training, validation (arch steps), evaluation */
    /* data parallel (cfg->data_parallel in a job of several ranks): tl, vl and el hand out this
     * rank's share of each batch; rl the whole training batches for the BN re-estimation */
    bool dp;
    int rank;
    nasc_loader *rl;
    /* position */
    int epoch;
    int64_t step;              /* steps done in this epoch */
    uint32_t val_epoch;
    size_t val_batch;
    double loss_sum, seconds;  /* this epoch so far */
    int64_t correct, seen;
    epoch_rec *hist;
    int n_hist;
    bool done;                 /* the search finished (all epochs or an early stop) */
    /* this run (not checkpointed): for the ETAs, the wall time of its steps (loader waits
     * included) and of its last end-of-epoch phase (evaluation, derivation, checkpoint) */
    double t_start;
    size_t n_batches;          /* training batches per epoch */
    int64_t steps_this_run;
    double run_step_s, epoch_end_s;
    int64_t kill_step;         /* NASC_TEST: NASC_TEST_ONESHOT_KILL_STEP */
} run_state;

static nasc_status ckpt_write(run_state *rs, nasc_err *err) {
    if (rs->rank > 0) /* data parallel: rank 0 writes, the state is the same on every rank */
        return NASC_OK;
    nasc_buf b = {0};
    nasc_buf_put_str(&b, rs->ident);
    nasc_buf_put_u64(&b, (uint64_t)rs->epoch);
    nasc_buf_put_u64(&b, (uint64_t)rs->step);
    nasc_buf_put_u64(&b, rs->val_epoch);
    nasc_buf_put_u64(&b, rs->val_batch);
    nasc_buf_put_f64(&b, rs->loss_sum);
    nasc_buf_put_f64(&b, rs->seconds);
    nasc_buf_put_u64(&b, (uint64_t)rs->correct);
    nasc_buf_put_u64(&b, (uint64_t)rs->seen);
    nasc_buf_put_u64(&b, rs->done);
    nasc_buf_put_u64(&b, (uint64_t)rs->n_hist);
    for (int i = 0; i < rs->n_hist; i++)
        rec_put(&b, &rs->hist[i]);
    nasc_os_save_state(rs->os, &b);
    if (b.oom) {
        nasc_buf_free(&b);
        return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory building the checkpoint",
                           rs->cfg->checkpoint);
    }
    uint8_t hdr[CKPT_HEADER] = {0};
    memcpy(hdr, CKPT_MAGIC, 8);
    const uint32_t ver = CKPT_VERSION, hs = CKPT_HEADER;
    const uint64_t len = b.len;
    const uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), b.data, (uInt)b.len);
    memcpy(hdr + 8, &ver, 4);
    memcpy(hdr + 12, &hs, 4);
    memcpy(hdr + 16, &len, 8);
    memcpy(hdr + 24, &crc, 4);
    nasc_buf f = {0};
    nasc_buf_put(&f, hdr, sizeof hdr);
    nasc_buf_put(&f, b.data, b.len);
    nasc_buf_free(&b);
    if (f.oom) {
        nasc_buf_free(&f);
        return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory building the checkpoint",
                           rs->cfg->checkpoint);
    }
    nasc_status st = nasc_write_file_atomic(rs->cfg->checkpoint, f.data, f.len, err);
    nasc_buf_free(&f);
    return st;
}

/* Reads the whole file into *out (nasc_malloc'd). */
static nasc_status read_file(const char *path, uint8_t **out, size_t *out_len, nasc_err *err) {
    return nasc_file_read_all(path, "checkpoint", UINT64_MAX, (char **)out, out_len, err);
}

/* Data parallel: rank 0's file bytes (or its failure) to every rank; the others' *p is
 * nasc_malloc'd here. */
static nasc_status ckpt_share(run_state *rs, nasc_status st, uint8_t **p, size_t *n,
                              nasc_err *err) {
    int64_t hdr[2] = {(int64_t)st, (int64_t)*n};
    NASC_TRY(nasc_dist_bcast(hdr, sizeof hdr, 0, err));
    if (hdr[0] != NASC_OK)
        return rs->rank == 0 ? st
                             : nasc_errorf(err, (nasc_status)hdr[0],
                                           "%s: rank 0 could not read the checkpoint",
                                           rs->cfg->checkpoint);
    if (rs->rank > 0) {
        *n = (size_t)hdr[1];
        if (!(*p = nasc_malloc(*n ? *n : 1)))
            return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", rs->cfg->checkpoint);
    }
    return nasc_dist_bcast(*p, *n, 0, err);
}

static nasc_status ckpt_read(run_state *rs, nasc_err *err) {
    const char *path = rs->cfg->checkpoint;
    uint8_t *p = NULL;
    size_t n = 0;
    nasc_status st = rs->rank == 0 ? read_file(path, &p, &n, err) : NASC_OK;
    if (rs->dp)
        st = ckpt_share(rs, st, &p, &n, err);
    if (st != NASC_OK) {
        nasc_free(p);
        return st;
    }
    uint32_t ver, hs, crc;
    uint64_t len;
    if (n < CKPT_HEADER || memcmp(p, CKPT_MAGIC, 8)) {
        st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, 0,
                            "%s: byte 0: not a nasc one-shot checkpoint (magic)", path);
        goto done;
    }
    memcpy(&ver, p + 8, 4);
    memcpy(&hs, p + 12, 4);
    memcpy(&len, p + 16, 8);
    memcpy(&crc, p + 24, 4);
    if (ver != CKPT_VERSION || hs != CKPT_HEADER) {
        st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, 8,
                            "%s: byte 8: version %u / header %u, expected %u / %u", path, ver, hs,
                            CKPT_VERSION, CKPT_HEADER);
        goto done;
    }
    if (len != n - CKPT_HEADER) {
        st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, 16,
                            "%s: byte 16: payload of %llu bytes, the file holds %zu (truncated?)",
                            path, (unsigned long long)len, n - CKPT_HEADER);
        goto done;
    }
    if ((uint32_t)crc32(crc32(0L, Z_NULL, 0), p + CKPT_HEADER, (uInt)len) != crc) {
        st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, 24, "%s: byte 24: checksum mismatch",
                            path);
        goto done;
    }
    nasc_reader b = nasc_reader_of(p + CKPT_HEADER, (size_t)len);
    char *id = nasc_read_str(&b, SIZE_MAX);
    if (!id || strcmp(id, rs->ident)) {
        char d[256] = "unreadable identity";
        if (id)
            first_diff(id, rs->ident, d, sizeof d);
        st = nasc_errorf_at(err, NASC_ERR_ARG, path, -1,
                            "%s: written by a different search configuration (%s)", path, d);
        nasc_free(id);
        goto done;
    }
    nasc_free(id);
    rs->epoch = (int)nasc_read_u64(&b);
    rs->step = (int64_t)nasc_read_u64(&b);
    rs->val_epoch = (uint32_t)nasc_read_u64(&b);
    rs->val_batch = (size_t)nasc_read_u64(&b);
    rs->loss_sum = nasc_read_f64(&b);
    rs->seconds = nasc_read_f64(&b);
    rs->correct = (int64_t)nasc_read_u64(&b);
    rs->seen = (int64_t)nasc_read_u64(&b);
    rs->done = nasc_read_u64(&b) != 0;
    const uint64_t nh = nasc_read_u64(&b);
    if (b.bad || nh > (uint64_t)rs->cfg->epochs) {
        st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, -1, "%s: corrupt epoch history", path);
        goto done;
    }
    rs->hist = nasc_calloc((size_t)rs->cfg->epochs + 1, sizeof *rs->hist);
    if (!rs->hist) {
        st = nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (uint64_t i = 0; i < nh; i++) {
        /* counted only once whole: the result and run_free read every counted record */
        if (!rec_get(&b, &rs->hist[i], rs->cfg->epochs)) {
            rec_free(&rs->hist[i]);
            memset(&rs->hist[i], 0, sizeof rs->hist[i]);
            st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, -1, "%s: corrupt epoch record %llu",
                                path, (unsigned long long)i);
            goto done;
        }
        rs->n_hist++;
    }
    st = nasc_os_load_state(rs->os, &b, path, err);
    if (st == NASC_OK && (b.bad || b.left))
        st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, -1, "%s: %s", path,
                            b.bad ? "truncated state" : "trailing bytes");
done:
    nasc_free(p);
    return st;
}

/* ---- the memory check ---- */

/* Binary units, as --max-memory's K/M/G suffixes. */
static void fmt_bytes(double b, char *buf, size_t n) {
    if (b >= 1073741824.0)
        snprintf(buf, n, "%.2f GiB", b / 1073741824.0);
    else
        snprintf(buf, n, "%.0f MiB", b / 1048576.0);
}

/* Predicted step memory of a supernet like sn's with another cell count or partial channels. */
static double predict_variant(run_state *rs, int cells, int partial) {
    nasc_supernet_config c = *nasc_supernet_get_config(rs->sn);
    c.cells = cells;
    c.partial = partial;
    c.edge_norm = partial > 1;
    nasc_supernet *v = NULL;
    nasc_err e = {0};
    double r = -1.0;
    nasc_supernet_memory m;
    if (nasc_supernet_new(rs->space, &c, 1, &v, &e) == NASC_OK &&
        nasc_supernet_memory_predict(v, rs->be, rs->cfg->batch, 1, &m, &e) == NASC_OK)
        r = (double)m.total_bytes;
    nasc_supernet_free(v);
    return r;
}

static nasc_status check_memory(run_state *rs, const nasc_supernet_memory *m, nasc_err *err) {
    const double lim = (double)rs->cfg->max_memory;
    const double extra = rs->os->mi->second_order ? 2.0 * (double)rs->os->nw * 4 : 0.0;
    const double total = (double)m->total_bytes + extra;
    if (lim <= 0.0 || total <= lim)
        return NASC_OK;
    char need[32], have[32], act[32], grads[32], params[32], sugg[512] = "";
    fmt_bytes(total, need, sizeof need);
    fmt_bytes(lim, have, sizeof have);
    fmt_bytes((double)m->activation_bytes, act, sizeof act);
    fmt_bytes((double)m->grad_bytes, grads, sizeof grads);
    fmt_bytes((double)m->params_bytes + extra, params, sizeof params);
    size_t o = 0;
    /* the batch that fits: fixed part + per-image slope */
    const double fixed = total - (double)m->per_image_bytes * rs->cfg->batch;
    if (m->per_image_bytes > 0 && lim > fixed) {
        const long bfit = (long)((lim - fixed) / (double)m->per_image_bytes);
        if (bfit >= 2)
            o += (size_t)snprintf(sugg + o, sizeof sugg - o, "--batch %ld or less", bfit);
    }
    const nasc_supernet_config *c = nasc_supernet_get_config(rs->sn);
    const int step = nasc_os_kind(rs->sn) == OS_DARTS ? 3 : 1;
    for (int cells = c->cells - step; cells >= (nasc_os_kind(rs->sn) == OS_DARTS ? 3 : 1);
         cells -= step) {
        const double v = predict_variant(rs, cells, c->partial) + extra;
        if (v > 0 && v <= lim) {
            char vb[32];
            fmt_bytes(v, vb, sizeof vb);
            o += (size_t)snprintf(sugg + o, sizeof sugg - o, "%s--cells %d (%s)", o ? ", " : "",
                                  cells, vb);
            break;
        }
    }
    if (nasc_os_kind(rs->sn) == OS_DARTS && c->partial == 1 && c->channels % 8 == 0 &&
        o < sizeof sugg - 64) {
        const double v = predict_variant(rs, c->cells, 4);
        if (v > 0 && v <= lim) {
            char vb[32];
            fmt_bytes(v, vb, sizeof vb);
            o += (size_t)snprintf(sugg + o, sizeof sugg - o,
                                  "%spartial channels 1/4 (--strategy pc-darts, %s)",
                                  o ? ", " : "", vb);
        }
    }
    return nasc_errorf(err, NASC_ERR_NOMEM,
                       "%s: a search step needs %s (activations %s, gradients %s, parameters and "
                       "optimizer state %s at batch %d, C=%d, %d cells), over --max-memory %s; "
                       "what would fit: %s",
                       rs->cfg->method, need, act, grads, params, rs->cfg->batch, c->channels,
                       c->cells, have, o ? sugg : "nothing smaller helps (raise the limit)");
}

/* ---- the loop ---- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void run_free(run_state *rs) {
    nasc_loader_free(rs->tl);
    nasc_loader_free(rs->vl);
    nasc_loader_free(rs->el);
    nasc_loader_free(rs->rl);
    nasc_oneshot_free(rs->os);
    nasc_supernet_free(rs->sn);
    nasc_backend_free(rs->be);
    nasc_dataset_free(rs->train);
    nasc_dataset_free(rs->val);
    nasc_dataset_free(rs->part);
    nasc_dataset_free(rs->all);
    nasc_space_free(rs->space);
    for (int i = 0; i < rs->n_hist; i++)
        rec_free(&rs->hist[i]);
    nasc_free(rs->hist);
}

/* The next validation batch for an architecture step (cycling through shuffled epochs). */
static bool next_val(run_state *rs, nasc_batch *vb) {
    for (int tries = 0; tries < 2; tries++) {
        if (nasc_loader_next(rs->vl, vb)) {
            rs->val_batch++;
            return true;
        }
        rs->val_epoch++;
        rs->val_batch = 0;
        nasc_loader_start_epoch(rs->vl, rs->val_epoch);
    }
    return false;
}

/* Validation batches for methods that score candidates (SPOS evolution, ENAS rewards): the
 * evaluation loader's first batches, in order. */
static bool eval_batch_at(void *user, int i, nasc_oneshot_batch *out) {
    run_state *rs = user;
    nasc_batch b;
    if (i == 0)
        nasc_loader_start_epoch(rs->el, 0);
    if (!nasc_loader_next(rs->el, &b))
        return false;
    *out = (nasc_oneshot_batch){.x = b.x, .labels = b.labels, .n = b.n, .first = b.first,
                                .n_total = b.n_total};
    return true;
}

/* Training batches the running BN statistics are re-estimated on before each evaluation. The
 * weight steps' running averages (momentum 0.1) start at mean 0, var 1 against the mixed ops'
 * variances of 5e-3..5e-2 and trail weights that move fast early in a search: after an
 * 18-step epoch, inference with them scored 23.8% where the epoch's training batches scored
 * 39.2%, and 57.3% with the statistics averaged over 10 batches at the evaluated weights
 * (docs/ONESHOT.md, "Evaluation"). */
#define BN_RECAL_BATCHES 10

static nasc_status evaluate(run_state *rs, float *out_loss, float *out_acc, nasc_err *err) {
    if (rs->os->mi->relaxed) {
        /* the first batches of the epoch just trained, in its order (deterministic, so a
         * resumed search re-estimates the same statistics); the next epoch restarts tl */
        nasc_loader *ld = rs->rl ? rs->rl : rs->tl; /* data parallel: whole batches */
        nasc_loader_start_epoch(ld, (uint32_t)rs->epoch);
        nasc_batch b;
        for (int i = 0; i < BN_RECAL_BATCHES && nasc_loader_next(ld, &b); i++) {
            nasc_oneshot_batch ob = {.x = b.x, .labels = b.labels, .n = b.n};
            NASC_TRY(nasc_oneshot_recalibrate_bn(rs->os, &ob, i, err));
        }
    }
    nasc_loader_start_epoch(rs->el, 0);
    double loss = 0.0;
    int64_t correct = 0, seen = 0;
    nasc_batch b;
    for (int i = 0; (rs->cfg->eval_batches <= 0 || i < rs->cfg->eval_batches) &&
                    nasc_loader_next(rs->el, &b);
         i++) {
        float l = 0.0f;
        int c = 0;
        nasc_oneshot_batch ob = {.x = b.x, .labels = b.labels, .n = b.n, .first = b.first,
                                 .n_total = b.n_total};
        if (b.n > 0) /* data parallel: a short last batch may leave a rank nothing */
            NASC_TRY(nasc_oneshot_eval_batch(rs->os, &ob, &l, &c, err));
        if (rs->dp) { /* the global batch's loss sum and count, the same on every rank */
            float sums[2] = {l * (float)b.n, (float)c};
            NASC_TRY(nasc_os_dp_sum(rs->os, sums, 2, err));
            loss += (double)sums[0];
            correct += (int64_t)sums[1];
            seen += b.n_total;
        } else {
            loss += (double)l * b.n;
            correct += c;
            seen += b.n;
        }
    }
    *out_loss = seen ? (float)(loss / (double)seen) : NAN;
    *out_acc = seen ? (float)(100.0 * (double)correct / (double)seen) : NAN;
    return NASC_OK;
}

static nasc_status setup(run_state *rs, const nasc_oneshot_hooks *hooks, nasc_oneshot_result *out,
                         nasc_err *err) {
    const nasc_oneshot_config *cfg = rs->cfg;
    nasc_oneshot_method m;
    if (!nasc_oneshot_method_parse(cfg->method, &m))
        return nasc_errorf(err, NASC_ERR_ARG, "oneshot: unknown method '%s' (expected %s)",
                           cfg->method, nasc_oneshot_method_names());
    if (cfg->epochs < 1 || cfg->batch < 2 || !((float)cfg->lr > 0.0f) || (float)cfg->lr_min < 0.0f ||
        !(cfg->val_fraction > 0.0 && cfg->val_fraction < 1.0) ||
        !(cfg->data_fraction >= 0.0 && cfg->data_fraction <= 1.0) || cfg->threads < 1 ||
        cfg->checkpoint_every < 0)
        return nasc_errorf(err, NASC_ERR_ARG,
                           "%s: bad config: need epochs >= 1 (%d), batch >= 2 (%d), lr > 0 (%g), "
                           "lr_min >= 0, 0 < val_fraction < 1 (%g), 0 <= data_fraction <= 1 "
                           "(%g), threads >= 1 (%d)",
                           cfg->method, cfg->epochs, cfg->batch, (double)(float)cfg->lr,
                           cfg->val_fraction, cfg->data_fraction, cfg->threads);
    rs->dp = cfg->data_parallel && nasc_dist_size() > 1;
    rs->rank = rs->dp ? nasc_dist_rank() : 0;
    const int n_ranks = rs->dp ? nasc_dist_size() : 1;
    if (rs->dp && cfg->batch < 2 * n_ranks)
        return nasc_errorf(err, NASC_ERR_ARG,
                           "%s: data-parallel over %d ranks needs a batch of at least %d (2 "
                           "images per rank for batch norm; got %d)",
                           cfg->method, n_ranks, 2 * n_ranks, cfg->batch);
    rs->opts = cfg->opts;
    nasc_oneshot_opts_default(&rs->opts, m, cfg->epochs);
    identity(cfg, &rs->opts, rs->ident, sizeof rs->ident);
    NASC_TRY(nasc_space_new(cfg->space, NULL, &rs->space, err));
    NASC_TRY(nasc_dataset_load(cfg->data, NASC_SPLIT_TRAIN, &rs->all, err));
    const nasc_dataset *base = rs->all;
    if (cfg->data_fraction > 0.0 && cfg->data_fraction < 1.0) {
        NASC_TRY(nasc_dataset_fraction(rs->all, cfg->data_fraction, cfg->seed, &rs->part, err));
        base = rs->part;
    }
    NASC_TRY(nasc_dataset_split(base, cfg->val_fraction, cfg->seed, &rs->train, &rs->val, err));
    rs->be = nasc_backend_new("cpu", cfg->threads, err);
    if (!rs->be)
        return err->code;
    nasc_supernet_config sc = {.in_c = rs->all->c, .in_h = rs->all->h, .in_w = rs->all->w,
                               .n_classes = rs->all->n_classes, .channels = cfg->channels,
                               .cells = cfg->cells};
    if (nasc_os_method_row(m)->partial > 0) { /* pc-darts */
        sc.partial = rs->opts.partial;
        sc.edge_norm = true;
    }
    NASC_TRY(nasc_supernet_new(rs->space, &sc, cfg->seed, &rs->sn, err));
    NASC_TRY(nasc_oneshot_new(m, rs->sn, rs->be, &rs->opts, cfg->seed, &rs->os, err));
    NASC_TRY(nasc_supernet_memory_predict(rs->sn, rs->be, cfg->batch, 1, &out->memory, err));
    if (hooks && hooks->on_memory)
        hooks->on_memory(&out->memory, hooks->user);
    NASC_TRY(check_memory(rs, &out->memory, err));
    nasc_loader_config tc = {.batch = cfg->batch, .shuffle = true, .drop_last = true,
                             .prefetch = true, .seed = cfg->seed,
                             .aug = {.crop_pad = cfg->crop_pad, .hflip = cfg->hflip}};
    nasc_loader_config vc = tc;
    vc.seed = cfg->seed ^ 0x5eed0f0a11ull;
    vc.aug = (nasc_augment){0};
    nasc_loader_config ec = {.batch = cfg->batch, .shuffle = false, .drop_last = false,
                             .prefetch = true, .seed = cfg->seed};
    if (rs->dp) {
        nasc_loader_config rc = tc; /* whole batches, as one process's BN re-estimation */
        rc.prefetch = false;
        NASC_TRY(nasc_loader_new(rs->train, &rc, &rs->rl, err));
        tc.shard = vc.shard = ec.shard = rs->rank;
        tc.n_shards = vc.n_shards = ec.n_shards = n_ranks;
        NASC_TRY(nasc_os_set_data_parallel(rs->os, err));
    }
    NASC_TRY(nasc_loader_new(rs->train, &tc, &rs->tl, err));
    NASC_TRY(nasc_loader_new(rs->val, &vc, &rs->vl, err));
    NASC_TRY(nasc_loader_new(rs->val, &ec, &rs->el, err));
    nasc_os_set_val_source(rs->os, eval_batch_at, rs);
    return NASC_OK;
}

/* The end-of-search phase (SPOS's evolution) reported through on_step, with phase set. */
typedef struct phase_ctx {
    const nasc_oneshot_hooks *hooks;
    run_state *rs;
    int epochs;
    double t_start, t_phase; /* run start; phase start (0 before its first report) */
} phase_ctx;

static bool phase_progress(void *user, const char *phase, int64_t done, int64_t total,
                           double best) {
    phase_ctx *pc = user;
    const double t = now_s();
    if (pc->t_phase == 0.0)
        pc->t_phase = t;
    const double per = done > 1 ? (t - pc->t_phase) / (double)(done - 1) : 0.0;
    nasc_oneshot_progress p = {
        .epoch = pc->epochs - 1, .epochs = pc->epochs, .step = done, .steps = total,
        .loss = NAN, .acc = (float)best, .elapsed_s = t - pc->t_start,
        .epoch_eta_s = per * (double)(total - done), .eta_s = per * (double)(total - done),
        .phase = phase};
    int go = !pc->hooks || !pc->hooks->on_step || pc->hooks->on_step(&p, pc->hooks->user);
    if (pc->rs->dp) { /* rank 0 decides for every rank */
        nasc_err e = {0};
        if (nasc_os_dp_agree(pc->rs->os, &go, sizeof go, &e) != NASC_OK)
            go = 0;
    }
    return go;
}

/* Continues from the checkpoint when asked and one exists (handing the recorded epochs to the
 * caller again: it keeps whichever it lacks), else starts the epoch history. */
static nasc_status run_resume(run_state *rs, const nasc_oneshot_hooks *hooks,
                              nasc_oneshot_result *out, nasc_err *err) {
    const nasc_oneshot_config *cfg = rs->cfg;
    struct stat sb;
    int have = cfg->resume && cfg->checkpoint[0] && rs->rank == 0 && stat(cfg->checkpoint, &sb) == 0;
    if (rs->dp) /* only rank 0's disk holds the checkpoint */
        NASC_TRY(nasc_os_dp_agree(rs->os, &have, sizeof have, err));
    if (have) {
        NASC_TRY(ckpt_read(rs, err));
        out->resumed = true;
        out->resumed_epoch = rs->epoch;
        out->resumed_step = rs->step;
        for (int i = 0; hooks && hooks->on_epoch && i < rs->n_hist; i++) {
            nasc_oneshot_epoch e = rs->hist[i].e;
            e.replayed = true;
            NASC_TRY(hooks->on_epoch(&e, hooks->user, err));
        }
    } else if (!rs->hist) {
        rs->hist = nasc_calloc((size_t)cfg->epochs + 1, sizeof *rs->hist);
        if (!rs->hist)
            return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", cfg->method);
    }
    return NASC_OK;
}

/* Reports a step through on_step (false: stop). The rates are steady ones: the mean over this
 * run's steps, not the run's elapsed time (setup, evaluations, earlier epochs) over this epoch's
 * steps. */
static bool report_step(const run_state *rs, const nasc_oneshot_hooks *hooks, double now) {
    const nasc_oneshot_config *cfg = rs->cfg;
    const double step_s = rs->run_step_s / (double)rs->steps_this_run;
    const int64_t n_batches = (int64_t)rs->n_batches, left_epoch = n_batches - rs->step;
    const int epochs_left = cfg->epochs - rs->epoch - 1;
    const nasc_oneshot_progress p = {
        .epoch = rs->epoch, .epochs = cfg->epochs, .step = rs->step, .steps = n_batches,
        .loss = (float)(rs->loss_sum / (double)rs->seen),
        .acc = (float)(100.0 * (double)rs->correct / (double)rs->seen),
        .images_per_second = rs->seconds > 0 ? (double)rs->seen / rs->seconds : 0.0,
        .elapsed_s = now - rs->t_start,
        .epoch_eta_s = (double)left_epoch * step_s,
        .eta_s = (double)(left_epoch + (int64_t)epochs_left * n_batches) * step_s +
                 (double)(epochs_left + 1) * rs->epoch_end_s};
    return hooks->on_step(&p, hooks->user);
}

/* One search step on training batch tb (and the next validation batch) at learning rate lr:
 * the running sums, on_step, the checkpoint every checkpoint_every steps and the test hooks.
 * *t_mark: the end of the previous step (for the ETAs: loader waits included). */
static nasc_status run_step(run_state *rs, const nasc_oneshot_hooks *hooks, const nasc_batch *tb,
                            float lr, double *t_mark, nasc_err *err) {
    const nasc_oneshot_config *cfg = rs->cfg;
    const double t0 = now_s();
    nasc_batch vb;
    const bool have_val = next_val(rs, &vb);
    const nasc_oneshot_batch t = {.x = tb->x, .labels = tb->labels, .n = tb->n,
                                  .first = tb->first, .n_total = tb->n_total};
    const nasc_oneshot_batch v = {.x = have_val ? vb.x : NULL,
                                  .labels = have_val ? vb.labels : NULL,
                                  .n = have_val ? vb.n : 0, .first = have_val ? vb.first : 0,
                                  .n_total = have_val ? vb.n_total : 0};
    nasc_oneshot_step_stats ss;
    NASC_TRY(nasc_oneshot_step(rs->os, &t, have_val ? &v : NULL, lr, &ss, err));
    rs->step++;
    /* data parallel: loss and count are already the global batch's */
    const int n_step = nasc_os_batch_total(&t);
    rs->loss_sum += (double)ss.train_loss * n_step;
    rs->correct += ss.train_correct;
    rs->seen += n_step;
    const double t1 = now_s();
    rs->seconds += t1 - t0;
    rs->run_step_s += t1 - *t_mark;
    *t_mark = t1;
    rs->steps_this_run++;
    int stop = hooks && hooks->on_step && !report_step(rs, hooks, t1);
    if (rs->dp) /* rank 0 decides for every rank (a signal may reach the ranks at other steps) */
        NASC_TRY(nasc_os_dp_agree(rs->os, &stop, sizeof stop, err));
    if (stop)
        /* counted as the progress line counts: epoch 1/E, step s/S done */
        return nasc_errorf(err, NASC_ERR_ABORTED, "%s: stopped at epoch %d/%d step %lld/%lld",
                           cfg->method, rs->epoch + 1, cfg->epochs, (long long)rs->step,
                           (long long)rs->n_batches);
    if (cfg->checkpoint[0] && cfg->checkpoint_every > 0 &&
        rs->step % cfg->checkpoint_every == 0 && (size_t)rs->step < rs->n_batches)
        NASC_TRY(ckpt_write(rs, err));
#ifdef NASC_TEST
    /* test hook: die like a SIGKILL'd process right after global step N */
    if (rs->kill_step > 0 &&
        (int64_t)rs->epoch * (int64_t)rs->n_batches + rs->step == rs->kill_step)
        raise(SIGKILL);
#endif
    if (cfg->stop_after_steps > 0 && rs->steps_this_run >= cfg->stop_after_steps)
        return nasc_errorf(err, NASC_ERR_ABORTED, "%s: stopped after %d steps (test hook)",
                           cfg->method, cfg->stop_after_steps);
    return NASC_OK;
}

/* The end of an epoch trained at lr: evaluate, derive, record (the DARTS+ early stop included),
 * move to the next epoch, checkpoint, report through on_epoch. */
static nasc_status epoch_end(run_state *rs, const nasc_oneshot_hooks *hooks, float lr,
                             nasc_err *err) {
    const nasc_oneshot_config *cfg = rs->cfg;
    const int ep = rs->epoch;
    const double t_end = now_s();
    epoch_rec *r = &rs->hist[rs->n_hist];
    memset(r, 0, sizeof *r);
    nasc_oneshot_epoch *e = &r->e;
    e->epoch = ep;
    e->epochs = cfg->epochs;
    e->lr = lr;
    e->train_loss = rs->seen ? (float)(rs->loss_sum / (double)rs->seen) : NAN;
    e->train_acc = rs->seen ? (float)(100.0 * (double)rs->correct / (double)rs->seen) : NAN;
    e->seconds = rs->seconds;
    e->images_per_second = rs->seconds > 0 ? (double)rs->seen / rs->seconds : 0.0;
    const bool last = ep + 1 == cfg->epochs;
    if (rs->os->mi->epoch_end)
        NASC_TRY(rs->os->mi->epoch_end(rs->os, last, err));
    NASC_TRY(evaluate(rs, &e->val_loss, &e->val_acc, err));
    nasc_arch *a = NULL;
    NASC_TRY(nasc_oneshot_derive(rs->os, &a, err));
    r->arch = nasc_arch_to_string(a);
    e->param_free_share = nasc_oneshot_param_free_share(a, &e->n_skip_normal);
    nasc_arch_free(a);
    r->alpha = rs->os->mi->has_alpha ? alpha_json(rs->sn) : nasc_strdup("{}");
    if (!r->arch || !r->alpha)
        return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", cfg->method);
    rs->n_hist++;
    /* DARTS+ (Liang et al. 2019): stop once the normal cell collapses to skip connections */
    if (rs->opts.max_skips > 0 && e->n_skip_normal >= rs->opts.max_skips && !last) {
        char why[128];
        snprintf(why, sizeof why,
                 "DARTS+ early stop: %d skip connections in the normal cell (limit %d)",
                 e->n_skip_normal, rs->opts.max_skips);
        r->stop = nasc_strdup(why);
        rs->done = true;
        /* sampling methods pick their final answer now */
        if (rs->os->mi->epoch_end)
            NASC_TRY(rs->os->mi->epoch_end(rs->os, true, err));
    }
    e->arch = r->arch;
    e->alpha_json = r->alpha;
    e->stop_reason = r->stop;
    e->last = last || rs->done;
    rs->epoch++;
    rs->step = 0;
    rs->loss_sum = rs->seconds = 0.0;
    rs->correct = rs->seen = 0;
    if (e->last)
        rs->done = true;
    if (cfg->checkpoint[0])
        NASC_TRY(ckpt_write(rs, err));
    rs->epoch_end_s = now_s() - t_end;
    if (hooks && hooks->on_epoch)
        NASC_TRY(hooks->on_epoch(e, hooks->user, err));
    return NASC_OK;
}

nasc_status nasc_oneshot_run(const nasc_oneshot_config *cfg, const nasc_oneshot_hooks *hooks,
                             nasc_oneshot_result *out, nasc_err *err) {
    memset(out, 0, sizeof *out);
    out->resumed_epoch = -1;
    run_state rs = {.cfg = cfg, .t_start = now_s()};
    phase_ctx pc = {.hooks = hooks, .rs = &rs, .epochs = cfg->epochs, .t_start = rs.t_start};
    /* the DARTS code's schedule: cosine per epoch, from lr to lr_min */
    const nasc_sched sched = {.kind = NASC_SCHED_COSINE, .lr_max = (float)cfg->lr,
                              .lr_min = (float)cfg->lr_min, .total_steps = cfg->epochs,
                              .single = true};
#ifdef NASC_TEST
    const char *ks = getenv("NASC_TEST_ONESHOT_KILL_STEP");
    rs.kill_step = ks ? atoll(ks) : 0;
#endif
    nasc_status st = setup(&rs, hooks, out, err);
    if (st == NASC_OK && ((hooks && hooks->on_step) || rs.dp))
        nasc_os_set_phase_progress(rs.os, phase_progress, &pc);
    if (st == NASC_OK)
        st = run_resume(&rs, hooks, out, err);
    if (st == NASC_OK) {
        nasc_loader_start_epoch_at(rs.vl, rs.val_epoch, rs.val_batch, NULL);
        rs.n_batches = nasc_loader_n_batches(rs.tl);
    }
    while (st == NASC_OK && !rs.done && rs.epoch < cfg->epochs) {
        nasc_oneshot_set_epoch(rs.os, rs.epoch, cfg->epochs);
        const float lr = nasc_sched_lr(&sched, rs.epoch);
        st = nasc_loader_start_epoch_at(rs.tl, (uint32_t)rs.epoch, (size_t)rs.step, err);
        nasc_batch tb;
        double t_mark = now_s();
        while (st == NASC_OK && nasc_loader_next(rs.tl, &tb))
            st = run_step(&rs, hooks, &tb, lr, &t_mark, err);
        if (st == NASC_OK)
            st = epoch_end(&rs, hooks, lr, err);
    }
    out->seconds = now_s() - rs.t_start;
    out->epochs_done = rs.n_hist;
    if (rs.n_hist > 0) {
        const epoch_rec *r = &rs.hist[rs.n_hist - 1];
        out->arch = nasc_strdup(r->arch);
        out->val_acc = r->e.val_acc;
        out->param_free_share = r->e.param_free_share;
        if (r->stop)
            snprintf(out->stop_reason, sizeof out->stop_reason, "%s", r->stop);
    }
    run_free(&rs);
    return st;
}

void nasc_oneshot_result_free(nasc_oneshot_result *r) {
    if (!r)
        return;
    nasc_free(r->arch);
    r->arch = NULL;
}
