/* strategy.c — the strategy registry, option parsing and the generic ask/tell/save/load wrappers
 * that enforce the contract of strategy.h (results told in order, a "wait" ask changes nothing). */
#include "strategy_int.h"
#include "nasc/text.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- registry ---- */

#define MAX_EXTRA 32
static const nasc_strategy_i *const builtin[] = {
    &nasc_strategy_random_i,    &nasc_strategy_grid_i,      &nasc_strategy_evolution_i,
    &nasc_strategy_ga_i,        &nasc_strategy_local_i,     &nasc_strategy_sh_i,
    &nasc_strategy_hyperband_i, &nasc_strategy_reinforce_i, &nasc_strategy_ppo_i,
    &nasc_strategy_bo_gp_i,     &nasc_strategy_bo_rf_i,     &nasc_strategy_bananas_i,
    &nasc_strategy_gan_i,       &nasc_strategy_pnas_i,      &nasc_strategy_bohb_i,
    &nasc_strategy_nsga2_i,
};
#define N_BUILTIN (int)(sizeof builtin / sizeof builtin[0])
static const nasc_strategy_i *extra[MAX_EXTRA];
static int n_extra;

const nasc_strategy_i *nasc_strategy_find(const char *name) {
    if (!name)
        return NULL;
    for (int i = 0; i < N_BUILTIN; i++)
        if (!strcmp(builtin[i]->name, name))
            return builtin[i];
    for (int i = 0; i < n_extra; i++)
        if (!strcmp(extra[i]->name, name))
            return extra[i];
    return NULL;
}

/* "unknown strategy 'evolutoin'; did you mean 'evolution'? (strategies: ...)" */
static nasc_status unknown_strategy(const char *name, nasc_err *err) {
    char hint[96];
    return nasc_errorf(err, NASC_ERR_ARG, "unknown strategy '%s'%s (strategies: %s)",
                       name ? name : "(null)",
                       nasc_did_you_mean(name, nasc_strategy_names(), hint, sizeof hint),
                       nasc_strategy_names());
}

const char *nasc_strategy_names(void) {
    static char names[512];
    size_t k = 0;
    names[0] = '\0';
    for (int i = 0; i < N_BUILTIN + n_extra; i++) {
        const nasc_strategy_i *it = i < N_BUILTIN ? builtin[i] : extra[i - N_BUILTIN];
        k += (size_t)snprintf(names + k, sizeof names - k, "%s%s", i ? ", " : "", it->name);
        if (k >= sizeof names)
            break;
    }
    return names;
}

nasc_status nasc_strategy_register(const nasc_strategy_i *iface, nasc_err *err) {
    if (nasc_strategy_find(iface->name))
        return nasc_errorf(err, NASC_ERR_ARG, "strategy '%s' is already registered", iface->name);
    if (n_extra >= MAX_EXTRA)
        return nasc_errorf(err, NASC_ERR_ARG, "strategy registry full (%d extra)", MAX_EXTRA);
    extra[n_extra++] = iface;
    return NASC_OK;
}

/* ---- options ---- */

static const nasc_strategy_opt *opt_find(const nasc_strategy_i *it, const char *name, size_t len,
                                         int *out_i) {
    for (int i = 0; i < it->n_opts; i++)
        if (strlen(it->opts[i].name) == len && !strncmp(it->opts[i].name, name, len)) {
            *out_i = i;
            return &it->opts[i];
        }
    return NULL;
}

static void opt_names(const nasc_strategy_i *it, char *buf, size_t n) {
    size_t k = 0;
    buf[0] = '\0';
    if (!it->n_opts) {
        snprintf(buf, n, "none");
        return;
    }
    for (int i = 0; i < it->n_opts && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%s", i ? ", " : "", it->opts[i].name);
}

/* Index of value v in the "a|b|c" list, or -1. */
static int choice_index(const char *choices, const char *v) {
    int idx = 0;
    const char *p = choices;
    size_t vl = strlen(v);
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if (l == vl && !strncmp(p, v, l))
            return idx;
        idx++;
        if (!bar)
            break;
        p = bar + 1;
    }
    return -1;
}

/* Parses one value of option o into *out (CHOICE: the index). */
static nasc_status opt_value(const char *strat, const nasc_strategy_opt *o, const char *v,
                             double *out, nasc_err *err) {
    char *end;
    errno = 0;
    switch (o->type) {
    case NASC_OPT_INT: {
        long x = strtol(v, &end, 10);
        if (errno || !*v || *end || x < o->min || x > o->max)
            return nasc_errorf(err, NASC_ERR_ARG,
                               "strategy %s: option %s: expected an integer in [%g, %g] (got '%s')",
                               strat, o->name, o->min, o->max, v);
        *out = (double)x;
        return NASC_OK;
    }
    case NASC_OPT_DOUBLE: {
        double x = strtod(v, &end);
        if (errno || !*v || *end || !(x >= o->min && x <= o->max))
            return nasc_errorf(err, NASC_ERR_ARG,
                               "strategy %s: option %s: expected a number in [%g, %g] (got '%s')",
                               strat, o->name, o->min, o->max, v);
        *out = x;
        return NASC_OK;
    }
    case NASC_OPT_CHOICE: {
        int i = choice_index(o->choices, v);
        if (i < 0)
            return nasc_errorf(err, NASC_ERR_ARG,
                               "strategy %s: option %s: expected one of %s (got '%s')", strat,
                               o->name, o->choices, v);
        *out = i;
        return NASC_OK;
    }
    }
    return nasc_errorf(err, NASC_ERR_INTERNAL, "bad option type");
}

static void fmt_double(char *buf, size_t n, double v) {
    snprintf(buf, n, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, n, "%.17g", v);
}

/* Parses text into values[it->n_opts] (defaults first) and writes the canonical text. */
static nasc_status opts_parse(const nasc_strategy_i *it, const char *text, double *values,
                              char *canon, size_t canon_n, nasc_err *err) {
    bool given[64] = {0};
    char raw[64][64];
    NASC_ASSERT(it->n_opts <= 64);
    for (int i = 0; i < it->n_opts; i++)
        NASC_TRY(opt_value(it->name, &it->opts[i], it->opts[i].def, &values[i], err));
    const char *p = text ? text : "";
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *end = p + strcspn(p, ",");
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (!eq) {
            return nasc_errorf(err, NASC_ERR_ARG, "strategy %s: option '%.*s': expected key=value",
                               it->name, (int)(end - p), p);
        }
        size_t kl = (size_t)(eq - p);
        while (kl && p[kl - 1] == ' ')
            kl--;
        int idx;
        const nasc_strategy_opt *o = opt_find(it, p, kl, &idx);
        if (!o) {
            char names[256], key[64], hint[96];
            opt_names(it, names, sizeof names);
            snprintf(key, sizeof key, "%.*s", (int)(kl < 63 ? kl : 63), p);
            return nasc_errorf(err, NASC_ERR_ARG,
                               "strategy %s: unknown option '%.*s'%s (options: %s)", it->name,
                               (int)kl, p, nasc_did_you_mean(key, names, hint, sizeof hint),
                               names);
        }
        if (given[idx])
            return nasc_errorf(err, NASC_ERR_ARG, "strategy %s: option %s given twice", it->name,
                               o->name);
        const char *v = eq + 1;
        while (*v == ' ')
            v++;
        size_t vl = (size_t)(end - v);
        while (vl && v[vl - 1] == ' ')
            vl--;
        if (vl >= sizeof raw[0])
            return nasc_errorf(err, NASC_ERR_ARG, "strategy %s: option %s: value too long",
                               it->name, o->name);
        memcpy(raw[idx], v, vl);
        raw[idx][vl] = '\0';
        NASC_TRY(opt_value(it->name, o, raw[idx], &values[idx], err));
        given[idx] = true;
        p = end;
    }
    size_t k = 0;
    canon[0] = '\0';
    for (int i = 0; i < it->n_opts; i++) {
        if (!given[i])
            continue;
        char val[64];
        const nasc_strategy_opt *o = &it->opts[i];
        if (o->type == NASC_OPT_INT)
            snprintf(val, sizeof val, "%ld", (long)values[i]);
        else if (o->type == NASC_OPT_DOUBLE)
            fmt_double(val, sizeof val, values[i]);
        else
            snprintf(val, sizeof val, "%s", raw[i]);
        k += (size_t)snprintf(canon + k, k < canon_n ? canon_n - k : 0, "%s%s=%s", k ? "," : "",
                              o->name, val);
    }
    if (k >= canon_n)
        return nasc_errorf(err, NASC_ERR_ARG, "strategy %s: options too long", it->name);
    return NASC_OK;
}

nasc_status nasc_strategy_opts_canonical(const char *name, const char *opts, char *buf, size_t n,
                                         nasc_err *err) {
    const nasc_strategy_i *it = nasc_strategy_find(name);
    if (!it)
        return unknown_strategy(name, err);
    double values[64];
    return opts_parse(it, opts, values, buf, n, err);
}

static int opt_index(const nasc_strategy *st, const char *name) {
    for (int i = 0; i < st->iface->n_opts; i++)
        if (!strcmp(st->iface->opts[i].name, name))
            return i;
    NASC_ASSERT(!"option not declared by the strategy");
    return -1;
}

int nasc_strategy_opt_int(const nasc_strategy *st, const char *name) {
    return (int)st->opt_values[opt_index(st, name)];
}
double nasc_strategy_opt_double(const nasc_strategy *st, const char *name) {
    return st->opt_values[opt_index(st, name)];
}
int nasc_strategy_opt_choice(const nasc_strategy *st, const char *name) {
    return (int)st->opt_values[opt_index(st, name)];
}

/* ---- the initial population (cfg.init) ---- */

nasc_status nasc_strategy_init_parse(const nasc_strategy *s, nasc_arch ***out, nasc_err *err) {
    *out = NULL;
    const int n = s->cfg.n_init;
    if (n <= 0)
        return NASC_OK;
    nasc_arch **a = nasc_calloc((size_t)n, sizeof *a);
    if (!a)
        return nasc_errorf(err, NASC_ERR_NOMEM, "strategy %s: out of memory", s->iface->name);
    for (int i = 0; i < n; i++) {
        nasc_err e = {0};
        if (nasc_arch_parse(s->space, s->cfg.init[i], &a[i], &e) != NASC_OK) {
            nasc_strategy_init_free(a, n);
            return nasc_errorf(err, NASC_ERR_ARG,
                               "strategy %s: initial population, architecture %d: %s",
                               s->iface->name, i + 1, e.msg);
        }
    }
    *out = a;
    return NASC_OK;
}

void nasc_strategy_init_free(nasc_arch **a, int n) {
    for (int i = 0; a && i < n; i++)
        nasc_arch_free(a[i]);
    nasc_free(a);
}

/* ---- lifetime ---- */

nasc_status nasc_strategy_new(const char *name, const nasc_space *s,
                              const nasc_strategy_config *cfg, const char *opts,
                              nasc_strategy **out, nasc_err *err) {
    *out = NULL;
    const nasc_strategy_i *it = nasc_strategy_find(name);
    if (!it)
        return unknown_strategy(name, err);
    if (it->needs_finite && nasc_space_size(s) == 0)
        return nasc_errorf(err, NASC_ERR_ARG,
                           "strategy %s needs a finite, enumerable space (%s is not)", it->name,
                           nasc_space_name(s));
    if (cfg && cfg->n_init > 0 && !it->takes_init)
        return nasc_errorf(err, NASC_ERR_ARG,
                           "strategy %s takes no initial population (evolution and random do)",
                           it->name);
    nasc_strategy *st = nasc_calloc(1, sizeof *st);
    if (!st)
        return nasc_errorf(err, NASC_ERR_NOMEM, "strategy %s: out of memory", name);
    st->iface = it;
    st->space = s;
    if (cfg)
        st->cfg = *cfg;
    if (st->cfg.max_fidelity <= 0)
        st->cfg.max_fidelity = 1.0;
    if (st->cfg.ask_ahead < 0)
        st->cfg.ask_ahead = 0;
    if (st->cfg.n_init < 0 || !st->cfg.init)
        st->cfg.n_init = 0;
    nasc_rng_init(&st->rng, st->cfg.seed, NASC_STREAM_STRATEGY);
    char canon[512];
    st->opt_values = nasc_calloc((size_t)(it->n_opts > 0 ? it->n_opts : 1), sizeof(double));
    nasc_status rc =
        st->opt_values ? NASC_OK : nasc_errorf(err, NASC_ERR_NOMEM, "strategy: out of memory");
    if (rc == NASC_OK)
        rc = opts_parse(it, opts, st->opt_values, canon, sizeof canon, err);
    if (rc == NASC_OK && !(st->opt_text = nasc_strdup(canon)))
        rc = nasc_errorf(err, NASC_ERR_NOMEM, "strategy: out of memory");
    if (rc == NASC_OK && it->init)
        rc = it->init(st, err);
    if (rc != NASC_OK) {
        nasc_strategy_free(st);
        return rc;
    }
    *out = st;
    return NASC_OK;
}

void nasc_strategy_free(nasc_strategy *st) {
    if (!st)
        return;
    if (st->impl && st->iface->free_impl)
        st->iface->free_impl(st->impl);
    nasc_free(st->opt_values);
    nasc_free(st->opt_text);
    nasc_free(st);
}

const char *nasc_strategy_name(const nasc_strategy *st) {
    return st->iface->name;
}

/* ---- ask / tell ---- */

nasc_status nasc_strategy_ask(nasc_strategy *st, nasc_proposal *out, nasc_err *err) {
    out->arch = NULL;
    out->fidelity = 0.0;
    nasc_rng before = st->rng;
    nasc_status rc = st->iface->ask(st, out, err);
    if (rc != NASC_OK) {
        nasc_arch_free(out->arch);
        out->arch = NULL;
        return rc;
    }
    if (out->arch)
        st->n_asked++;
    else /* a "wait" must not draw: the replay on resume depends on it */
        NASC_ASSERT(!memcmp(&before, &st->rng, sizeof before));
    return NASC_OK;
}

nasc_status nasc_strategy_tell(nasc_strategy *st, int64_t trial, const nasc_arch *arch,
                               double fidelity, const nasc_trial_result *r, nasc_err *err) {
    if (trial != st->n_told || trial >= st->n_asked)
        return nasc_errorf(err, NASC_ERR_ARG,
                           "strategy %s: told trial %lld, expected trial %lld (results are told "
                           "in order, after they were asked)",
                           st->iface->name, (long long)trial, (long long)st->n_told);
    /* search on validation, report test: the report value never reaches a strategy */
    nasc_trial_result *seen = nasc_malloc(sizeof *seen);
    if (!seen)
        return nasc_errorf(err, NASC_ERR_NOMEM, "strategy %s: out of memory", st->iface->name);
    *seen = *r;
    seen->test_score = (double)NAN;
    nasc_status rc = st->iface->tell(st, trial, arch, fidelity, seen, err);
    nasc_free(seen);
    NASC_TRY(rc);
    st->n_told++;
    return NASC_OK;
}

double nasc_result_fitness(const nasc_trial_result *r) {
    if (r->status != NASC_TRIAL_OK || !isfinite(r->score))
        return -INFINITY;
    return r->score;
}

/* ---- save / load ---- */

#define STATE_MAGIC 0x5354534eu /* "NSTS" */
#define STATE_VERSION 1u

bool nasc_strategy_can_save(const nasc_strategy *st) {
    return st->iface->save && st->iface->load;
}

nasc_status nasc_strategy_save(const nasc_strategy *st, void **out_buf, size_t *out_len,
                               nasc_err *err) {
    *out_buf = NULL;
    *out_len = 0;
    if (!nasc_strategy_can_save(st))
        return nasc_errorf(err, NASC_ERR_UNSUPPORTED, "strategy %s cannot save its state",
                           st->iface->name);
    void *inner = NULL;
    size_t inner_len = 0;
    NASC_TRY(st->iface->save(st, &inner, &inner_len, err));
    nasc_buf b = {0};
    nasc_buf_put_u64(&b, STATE_MAGIC);
    nasc_buf_put_u64(&b, STATE_VERSION);
    nasc_buf_put_str(&b, st->iface->name);
    nasc_buf_put_u64(&b, (uint64_t)st->n_asked);
    nasc_buf_put_u64(&b, (uint64_t)st->n_told);
    nasc_buf_put_u64(&b, st->rng.seed);
    nasc_buf_put_u64(&b, st->rng.stream);
    nasc_buf_put_u64(&b, st->rng.counter);
    for (int i = 0; i < 4; i++)
        nasc_buf_put_u64(&b, st->rng.buf[i]);
    nasc_buf_put_u64(&b, st->rng.pos);
    nasc_buf_put_u64(&b, inner_len);
    nasc_buf_put(&b, inner, inner_len);
    nasc_free(inner);
    return nasc_buf_take(&b, out_buf, out_len, "strategy state", err);
}

nasc_status nasc_strategy_load(nasc_strategy *st, const void *buf, size_t len, nasc_err *err) {
    if (!nasc_strategy_can_save(st))
        return nasc_errorf(err, NASC_ERR_UNSUPPORTED, "strategy %s cannot load a state",
                           st->iface->name);
    nasc_reader r = {buf, len, false};
    uint64_t magic = nasc_read_u64(&r), version = nasc_read_u64(&r);
    uint64_t name_len = nasc_read_u64(&r);
    char name[64] = "";
    if (!r.bad && name_len < sizeof name && name_len <= r.left) {
        memcpy(name, r.p, name_len);
        name[name_len] = '\0';
        r.p += name_len;
        r.left -= name_len;
    } else {
        r.bad = true;
    }
    if (r.bad || magic != STATE_MAGIC || version != STATE_VERSION || strcmp(name, st->iface->name))
        return nasc_errorf(err, NASC_ERR_FORMAT,
                           "strategy %s: snapshot is not a version-%u state of this strategy",
                           st->iface->name, STATE_VERSION);
    int64_t n_asked = (int64_t)nasc_read_u64(&r), n_told = (int64_t)nasc_read_u64(&r);
    nasc_rng rng;
    rng.seed = nasc_read_u64(&r);
    rng.stream = nasc_read_u64(&r);
    rng.counter = nasc_read_u64(&r);
    for (int i = 0; i < 4; i++)
        rng.buf[i] = (uint32_t)nasc_read_u64(&r);
    rng.pos = (uint32_t)nasc_read_u64(&r);
    uint64_t inner_len = nasc_read_u64(&r);
    if (r.bad || inner_len != r.left)
        return nasc_errorf(err, NASC_ERR_FORMAT, "strategy %s: snapshot truncated",
                           st->iface->name);
    NASC_TRY(st->iface->load(st, r.p, (size_t)inner_len, err));
    st->n_asked = n_asked;
    st->n_told = n_told;
    st->rng = rng;
    return NASC_OK;
}

/* ---- architectures in saved states ---- */

void nasc_buf_put_arch(nasc_buf *b, const nasc_arch *a) {
    char *t = nasc_arch_to_string(a);
    if (!t) {
        b->oom = true;
        return;
    }
    nasc_buf_put_str(b, t);
    nasc_free(t);
}

nasc_arch *nasc_read_arch(nasc_reader *r, const nasc_space *s) {
    char *t = nasc_read_str(r, (size_t)1 << 20);
    if (!t)
        return NULL;
    nasc_arch *a = NULL;
    if (nasc_arch_parse(s, t, &a, NULL) != NASC_OK)
        r->bad = true;
    nasc_free(t);
    return a;
}

/* ---- in-process runs ---- */

nasc_status nasc_strategy_run(nasc_strategy *st, nasc_evaluator *ev, const nasc_run_config *rc,
                              nasc_run_summary *out, nasc_err *err) {
    const int64_t budget = rc->budget;
    memset(out, 0, sizeof *out);
    out->best_trial = -1;
    out->best_score = out->best_test = out->best_fidelity = (double)NAN;
    if (budget <= 0)
        return NASC_OK;
    nasc_arch **archs = nasc_calloc((size_t)budget, sizeof *archs);
    nasc_trial_result *res = nasc_malloc(sizeof *res * (size_t)budget);
    double *fid = nasc_malloc(sizeof *fid * (size_t)budget);
    nasc_status st_rc = NASC_OK;
    if (!archs || !res || !fid) {
        st_rc = nasc_errorf(err, NASC_ERR_NOMEM, "strategy run: out of memory");
        goto done;
    }
    int64_t n = 0;
    while (n < budget && !(rc->time_budget > 0 && out->sim_seconds >= rc->time_budget)) {
        nasc_proposal p;
        if ((st_rc = nasc_strategy_ask(st, &p, err)) != NASC_OK)
            goto done;
        if (p.arch) {
            archs[n] = p.arch;
            fid[n] = p.fidelity;
            nasc_eval_request rq = {
                .trial = n, .arch = p.arch, .fidelity = p.fidelity, .seed = (uint64_t)n};
            nasc_trial_result *r = &res[n];
            nasc_evaluator_evaluate(ev, &rq, r, NULL); /* failures are in r */
            if (rc->on_trial)
                rc->on_trial(n, p.arch, r, rc->user);
            if (isfinite(r->sim_seconds))
                out->sim_seconds += r->sim_seconds;
            double f = r->status == NASC_TRIAL_OK ? r->score : (double)NAN;
            if (nasc_trial_better(r->fidelity, f, out->best_fidelity, out->best_score)) {
                out->best_trial = n;
                out->best_score = f;
                out->best_test = r->test_score;
                out->best_fidelity = r->fidelity;
            }
            n++;
            out->n = n;
            continue;
        }
        int64_t k = st->n_told;
        if (k >= st->n_asked)
            break; /* exhausted */
        if ((st_rc = nasc_strategy_tell(st, k, archs[k], fid[k], &res[k], err)) != NASC_OK)
            goto done;
    }
done:
    if (archs)
        for (int64_t i = 0; i < budget; i++)
            nasc_arch_free(archs[i]);
    nasc_free(archs);
    nasc_free(res);
    nasc_free(fid);
    return st_rc;
}
