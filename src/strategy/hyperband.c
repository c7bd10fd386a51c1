/* hyperband.c — multi-fidelity search: successive halving (Jamieson & Talwalkar 2016) and
 * Hyperband (Li et al., JMLR 2018), synchronous, with fidelity = the evaluator's fidelity (epochs
 * for the training evaluator).
 *
 * A bracket starts n configurations at fidelity r; after every rung the best 1/eta of the rung
 * (by score; failed trials last) are evaluated again at eta times the fidelity (a new trial of the
 * same architecture, trained from scratch), until the full fidelity R. Hyperband cycles through the
 * brackets s = s_max .. 0, s_max = floor(log_eta(R / r_min)): bracket s starts
 * n = ceil((s_max+1)/(s+1) * eta^s) configurations at r = R * eta^-s. `sh` repeats the most
 * aggressive bracket (s = s_max). Every evaluation is one trial of the budget. A rung is proposed
 * whole (its trials can run in parallel) and the next one once all its results are known.
 * New configurations are uniform samples of the space; BOHB brings its own sampler through
 * nasc_hb_setup (strategy_int.h).
 *
 * An evaluator that offers only a few fidelities (a benchmark table: 12 and 200 epochs) gives the
 * ladder instead: its fidelities from min-fidelity to the full one are the rungs, s_max is their
 * number minus one, and eta (when not given) is the ratio that makes every rung cost the same,
 * (R / r_min)^(1/s_max) (16.7 for 12 -> 200: 17 configurations at 12 epochs, the best one
 * at 200).
 *
 * schedule=async (the default when --ask-ahead > 0, i.e. with parallel workers): asynchronous
 * successive halving (ASHA; Li et al., "A System for Massively Parallel Hyperparameter Tuning",
 * MLSys 2020). No rung is waited for: every ask promotes a configuration that is in the top
 * 1/eta of its rung's finished results and not yet promoted (the highest rung first), and
 * otherwise starts a new configuration at the lowest rung. Hyperband's brackets become
 * asynchronous too (Li et al. section 3.3): new configurations are dealt to the brackets in the
 * proportion of their sizes n_s (sh: all to s = s_max), and each bracket promotes within its own
 * rungs. Trial k is proposed once the results of trials 0 .. k-1-ask_ahead are told (the ask/tell
 * contract of strategy.h), so the schedule depends only on the seed and the results, never on
 * timing; with ask_ahead = 0 it is sequential ASHA. */
#include "strategy_int.h"

#include <math.h>
#include <string.h>

/* ASHA: a finished result in a rung (rungs are kept sorted: best first, ties in tell order,
 * failed trials last) */
typedef struct asha_entry {
    int cfg;       /* index in hb.acfg */
    double fit;    /* nasc_result_fitness */
    bool promoted; /* already sent to the next rung */
} asha_entry;
typedef struct asha_rung {
    asha_entry *e;
    int n;
    size_t cap;
} asha_rung;
typedef struct asha_job { /* one asked trial, in ask order: where its result goes */
    int cfg, bracket, rung;
} asha_job;

typedef struct hb {
    bool hyperband;
    double eta, r_min, R;
    int s_max;
    int n_ladder; /* discrete fidelities: the rungs (0 = continuous) */
    double ladder[NASC_MAX_FIDELITIES + 1];
    int bracket;     /* index in the cycle: s = s_max - bracket % (s_max + 1) (sh: always s_max) */
    int rung;        /* 0 .. s */
    int s;           /* the current bracket's s */
    nasc_arch **cfg; /* this rung's configurations (rung 0: filled as sampled) */
    double *fit;     /* their results */
    int *order;      /* scratch for ranking */
    int n_rung;      /* configurations in this rung */
    int cap;
    int asked, told;     /* in this rung */
    double r;            /* this rung's fidelity */
    nasc_hb_sampler smp; /* new configurations (sample == NULL: uniform) */
    /* ---- schedule=async (ASHA) ---- */
    bool async;
    int lag;          /* ask_ahead: trial k waits for the results of 0 .. k-1-lag */
    int n_br;         /* brackets: b = 0 .. n_br-1 is s = s_max - b (sh: 1) */
    asha_rung *rungs; /* rungs[b * (s_max + 1) + i]: bracket b, rung i */
    nasc_arch **acfg; /* every configuration started */
    int n_acfg;
    size_t cap_acfg;
    asha_job *jobs; /* asked trials, in order */
    int64_t n_jobs, n_jobs_told;
    size_t cap_jobs;
    int64_t n_new; /* new configurations so far (they cycle through the brackets) */
} hb;

const nasc_strategy_opt nasc_hb_opts[NASC_HB_N_OPTS] = {
    NASC_HB_OPTS_INIT,
};

/* Fidelities are epochs for the training evaluator: whole numbers from 1 up. */
static double fid_round(double r) {
    double x = floor(r + 0.5);
    return x < 1 ? 1 : x;
}

static int bracket_n(const hb *h, int s) {
    if (!h->hyperband) /* eta^s, rounded up so that a non-integer eta still promotes one */
        return (int)ceil(pow(h->eta, s) - 1e-9);
    return (int)ceil((double)(h->s_max + 1) / (s + 1) * pow(h->eta, s) - 1e-9);
}

/* Fidelity of rung `rung` of bracket s (rung 0 .. s). */
static double rung_fidelity(const hb *h, int s, int rung) {
    if (h->n_ladder)
        return h->ladder[h->s_max - s + rung];
    return fid_round(fmin(h->R, h->R * pow(h->eta, rung - s)));
}

static void start_bracket(hb *h) {
    h->s = h->hyperband ? h->s_max - h->bracket % (h->s_max + 1) : h->s_max;
    h->rung = 0;
    h->n_rung = bracket_n(h, h->s);
    if (h->n_rung < 1)
        h->n_rung = 1;
    h->r = rung_fidelity(h, h->s, 0);
    h->asked = h->told = 0;
}

static nasc_status ensure_cap(hb *h, int n, nasc_err *err) {
    if (n <= h->cap)
        return NASC_OK;
    nasc_arch **c = nasc_realloc(h->cfg, sizeof *c * (size_t)n);
    if (c)
        h->cfg = c;
    double *f = nasc_realloc(h->fit, sizeof *f * (size_t)n);
    if (f)
        h->fit = f;
    int *o = nasc_realloc(h->order, sizeof *o * (size_t)n);
    if (o)
        h->order = o;
    if (!c || !f || !o)
        return nasc_errorf(err, NASC_ERR_NOMEM, "hyperband: out of memory");
    for (int i = h->cap; i < n; i++)
        h->cfg[i] = NULL;
    h->cap = n;
    return NASC_OK;
}

nasc_status nasc_hb_setup(nasc_strategy *s, bool hyperband, const nasc_hb_sampler *sampler,
                          nasc_err *err) {
    hb *h = nasc_calloc(1, sizeof *h);
    if (!h) {
        if (sampler && sampler->free_ctx)
            sampler->free_ctx(sampler->ctx);
        return nasc_errorf(err, NASC_ERR_NOMEM, "hyperband: out of memory");
    }
    s->impl = h;
    if (sampler)
        h->smp = *sampler;
    h->hyperband = hyperband;
    h->eta = nasc_strategy_opt_double(s, "eta");
    h->r_min = nasc_strategy_opt_double(s, "min-fidelity");
    h->R = nasc_strategy_opt_double(s, "max-fidelity");
    const nasc_strategy_config *c = &s->cfg;
    if (h->eta > 0 && h->eta < 1.5)
        return nasc_errorf(err, NASC_ERR_ARG,
                           "strategy %s: eta must be 0 (automatic) or at least 1.5 (got %g)",
                           s->iface->name, h->eta);
    if (h->R <= 0)
        h->R = c->max_fidelity > 0 ? c->max_fidelity : 1;
    if (h->r_min <= 0)
        h->r_min = c->n_fidelities > 0 ? c->fidelities[0] : 1;
    if (h->r_min > h->R)
        return nasc_errorf(err, NASC_ERR_ARG,
                           "strategy %s: min-fidelity %g exceeds the full fidelity %g",
                           s->iface->name, h->r_min, h->R);
    if (c->n_fidelities > 0) { /* the evaluator's fidelities in [r_min, R], then R */
        for (int i = 0; i < c->n_fidelities && i < NASC_MAX_FIDELITIES; i++)
            if (c->fidelities[i] >= h->r_min && c->fidelities[i] < h->R)
                h->ladder[h->n_ladder++] = c->fidelities[i];
        h->ladder[h->n_ladder++] = h->R;
        h->s_max = h->n_ladder - 1;
        if (h->eta <= 0)
            h->eta = h->s_max > 0 ? pow(h->R / h->ladder[0], 1.0 / h->s_max) : 3.0;
    } else {
        if (h->eta <= 0)
            h->eta = 3.0;
        h->s_max = (int)floor(log(h->R / h->r_min) / log(h->eta) + 1e-9);
    }
    int sched = nasc_strategy_opt_choice(s, "schedule"); /* auto | sync | async */
    h->async = sched == 2 || (sched == 0 && c->ask_ahead > 0);
    if (h->async) {
        h->lag = c->ask_ahead;
        h->n_br = h->hyperband ? h->s_max + 1 : 1;
        h->rungs = nasc_calloc((size_t)h->n_br * (size_t)(h->s_max + 1), sizeof *h->rungs);
        if (!h->rungs)
            return nasc_errorf(err, NASC_ERR_NOMEM, "hyperband: out of memory");
        return NASC_OK;
    }
    start_bracket(h);
    return ensure_cap(h, h->n_rung, err);
}

static nasc_status hb_init(nasc_strategy *s, nasc_err *err) {
    return nasc_hb_setup(s, true, NULL, err);
}
static nasc_status sh_init(nasc_strategy *s, nasc_err *err) {
    return nasc_hb_setup(s, false, NULL, err);
}

/* ---- ASHA ---- */

static asha_rung *asha_rung_at(hb *h, int b, int i) {
    return &h->rungs[(size_t)b * (size_t)(h->s_max + 1) + (size_t)i];
}

/* The bracket of the next new configuration: the cycle of sum_s n_s new configurations gives
 * n_s to bracket s, the most aggressive first (as synchronous Hyperband's brackets would). */
static int asha_new_bracket(const hb *h) {
    if (h->n_br == 1)
        return 0;
    int64_t total = 0;
    for (int b = 0; b < h->n_br; b++)
        total += bracket_n(h, h->s_max - b);
    int64_t p = h->n_new % total;
    for (int b = 0; b < h->n_br; b++) {
        p -= bracket_n(h, h->s_max - b);
        if (p < 0)
            return b;
    }
    return h->n_br - 1;
}

static nasc_status asha_ask(nasc_strategy *s, hb *h, nasc_proposal *out, nasc_err *err) {
    if (s->n_told < s->n_asked - h->lag)
        return NASC_OK; /* trial k waits for the results of trials 0 .. k-1-lag */
    asha_job *jobs = nasc_grow(h->jobs, &h->cap_jobs, (size_t)h->n_jobs + 1, sizeof *jobs, 64);
    if (!jobs)
        return nasc_errorf(err, NASC_ERR_NOMEM, "hyperband: out of memory");
    h->jobs = jobs;
    /* a promotion: the highest rung first, brackets in order */
    for (int b = 0; b < h->n_br; b++) {
        int sb = h->s_max - b;
        for (int i = sb - 1; i >= 0; i--) {
            asha_rung *rg = asha_rung_at(h, b, i);
            int keep = (int)floor(rg->n / h->eta + 1e-9);
            for (int j = 0; j < keep && j < rg->n; j++) {
                asha_entry *e = &rg->e[j];
                if (e->promoted || !isfinite(e->fit))
                    continue;
                if (!(out->arch = nasc_arch_clone(h->acfg[e->cfg])))
                    return nasc_errorf(err, NASC_ERR_NOMEM, "hyperband: out of memory");
                e->promoted = true;
                out->fidelity = rung_fidelity(h, sb, i + 1);
                h->jobs[h->n_jobs++] = (asha_job){.cfg = e->cfg, .bracket = b, .rung = i + 1};
                return NASC_OK;
            }
        }
    }
    /* otherwise a new configuration at its bracket's lowest rung */
    nasc_arch **acfg = nasc_grow(h->acfg, &h->cap_acfg, (size_t)h->n_acfg + 1, sizeof *acfg, 64);
    if (!acfg)
        return nasc_errorf(err, NASC_ERR_NOMEM, "hyperband: out of memory");
    h->acfg = acfg;
    int b = asha_new_bracket(h);
    double r = rung_fidelity(h, h->s_max - b, 0);
    if (h->smp.sample)
        NASC_TRY(h->smp.sample(s, h->smp.ctx, r, &out->arch, err));
    else
        NASC_TRY(nasc_space_sample(s->space, &s->rng, &out->arch, err));
    if (!(h->acfg[h->n_acfg] = nasc_arch_clone(out->arch))) {
        nasc_arch_free(out->arch);
        out->arch = NULL;
        return nasc_errorf(err, NASC_ERR_NOMEM, "hyperband: out of memory");
    }
    out->fidelity = r;
    h->jobs[h->n_jobs++] = (asha_job){.cfg = h->n_acfg, .bracket = b, .rung = 0};
    h->n_acfg++;
    h->n_new++;
    return NASC_OK;
}

/* Files the next result (in ask order) into its rung, keeping the rung sorted. */
static nasc_status asha_tell(hb *h, double fit, nasc_err *err) {
    NASC_ASSERT(h->n_jobs_told < h->n_jobs);
    asha_job j = h->jobs[h->n_jobs_told++];
    asha_rung *rg = asha_rung_at(h, j.bracket, j.rung);
    asha_entry *e = nasc_grow(rg->e, &rg->cap, (size_t)rg->n + 1, sizeof *e, 32);
    if (!e)
        return nasc_errorf(err, NASC_ERR_NOMEM, "hyperband: out of memory");
    rg->e = e;
    /* after every entry at least as good (NaN never occurs: fitness is a score or -inf) */
    int p = rg->n;
    while (p > 0 && rg->e[p - 1].fit < fit)
        p--;
    memmove(&rg->e[p + 1], &rg->e[p], sizeof *rg->e * (size_t)(rg->n - p));
    rg->e[p] = (asha_entry){.cfg = j.cfg, .fit = fit, .promoted = false};
    rg->n++;
    return NASC_OK;
}

nasc_status nasc_hb_ask(nasc_strategy *s, nasc_proposal *out, nasc_err *err) {
    hb *h = s->impl;
    if (h->async)
        return asha_ask(s, h, out, err);
    if (h->asked == h->n_rung)
        return NASC_OK; /* wait for the rung's results */
    int j = h->asked;
    if (h->rung == 0) {
        if (h->smp.sample)
            NASC_TRY(h->smp.sample(s, h->smp.ctx, h->r, &out->arch, err));
        else
            NASC_TRY(nasc_space_sample(s->space, &s->rng, &out->arch, err));
        if (!(h->cfg[j] = nasc_arch_clone(out->arch)))
            return nasc_errorf(err, NASC_ERR_NOMEM, "hyperband: out of memory");
    } else if (!(out->arch = nasc_arch_clone(h->cfg[j]))) {
        return nasc_errorf(err, NASC_ERR_NOMEM, "hyperband: out of memory");
    }
    out->fidelity = h->r;
    h->asked++;
    return NASC_OK;
}

/* The rung is complete: promote its best 1/eta, or start the next bracket. */
static nasc_status next_rung(hb *h, nasc_err *err) {
    int keep = (int)floor(h->n_rung / h->eta + 1e-9);
    bool last = h->rung >= h->s || keep < 1 || h->r >= h->R;
    if (last) {
        for (int i = 0; i < h->n_rung; i++) {
            nasc_arch_free(h->cfg[i]);
            h->cfg[i] = NULL;
        }
        h->bracket++;
        start_bracket(h);
        return ensure_cap(h, h->n_rung, err);
    }
    /* stable ranking by fitness, best first */
    for (int i = 0; i < h->n_rung; i++)
        h->order[i] = i;
    for (int i = 1; i < h->n_rung; i++) {
        int v = h->order[i], j = i - 1;
        while (j >= 0 && h->fit[h->order[j]] < h->fit[v]) {
            h->order[j + 1] = h->order[j];
            j--;
        }
        h->order[j + 1] = v;
    }
    nasc_arch **kept = nasc_malloc(sizeof *kept * (size_t)keep);
    if (!kept)
        return nasc_errorf(err, NASC_ERR_NOMEM, "hyperband: out of memory");
    for (int i = 0; i < keep; i++) {
        kept[i] = h->cfg[h->order[i]];
        h->cfg[h->order[i]] = NULL;
    }
    for (int i = 0; i < h->n_rung; i++) {
        nasc_arch_free(h->cfg[i]);
        h->cfg[i] = NULL;
    }
    for (int i = 0; i < keep; i++)
        h->cfg[i] = kept[i];
    nasc_free(kept);
    h->rung++;
    h->n_rung = keep;
    h->r = rung_fidelity(h, h->s, h->rung);
    h->asked = h->told = 0;
    return NASC_OK;
}

nasc_status nasc_hb_tell(nasc_strategy *s, int64_t trial, const nasc_arch *arch, double fidelity,
                         const nasc_trial_result *r, nasc_err *err) {
    (void)trial;
    hb *h = s->impl;
    if (h->async) {
        NASC_TRY(asha_tell(h, nasc_result_fitness(r), err));
        if (h->smp.observe)
            NASC_TRY(h->smp.observe(s, h->smp.ctx, arch, fidelity, nasc_result_fitness(r), err));
        return NASC_OK;
    }
    NASC_ASSERT(h->told < h->asked);
    h->fit[h->told++] = nasc_result_fitness(r);
    if (h->smp.observe)
        NASC_TRY(h->smp.observe(s, h->smp.ctx, arch, fidelity, nasc_result_fitness(r), err));
    if (h->told == h->n_rung)
        return next_rung(h, err);
    return NASC_OK;
}

void nasc_hb_free(void *impl) {
    hb *h = impl;
    if (!h)
        return;
    if (h->smp.free_ctx)
        h->smp.free_ctx(h->smp.ctx);
    for (int i = 0; i < h->cap; i++)
        nasc_arch_free(h->cfg[i]);
    nasc_free(h->cfg);
    if (h->rungs)
        for (int i = 0; i < h->n_br * (h->s_max + 1); i++)
            nasc_free(h->rungs[i].e);
    nasc_free(h->rungs);
    for (int i = 0; i < h->n_acfg; i++)
        nasc_arch_free(h->acfg[i]);
    nasc_free(h->acfg);
    nasc_free(h->jobs);
    nasc_free(h->fit);
    nasc_free(h->order);
    nasc_free(h);
}

const nasc_strategy_i nasc_strategy_hyperband_i = {
    .name = "hyperband",
    .help = "Hyperband: successive-halving brackets of every aggressiveness (fidelity = epochs; "
            "asynchronous, ASHA, with --ask-ahead)",
    .opts = nasc_hb_opts,
    .n_opts = NASC_HB_N_OPTS,
    .init = hb_init,
    .ahead_per_worker = 8, /* ASHA's trials are as uneven as its fidelities */
    .ask = nasc_hb_ask,
    .tell = nasc_hb_tell,
    .free_impl = nasc_hb_free,
};

const nasc_strategy_i nasc_strategy_sh_i = {
    .name = "sh",
    .help = "successive halving: eta^s configurations at the lowest fidelity, the best 1/eta "
            "promoted",
    .opts = nasc_hb_opts,
    .n_opts = NASC_HB_N_OPTS,
    .init = sh_init,
    .ahead_per_worker = 8, /* ASHA's trials are as uneven as its fidelities */
    .ask = nasc_hb_ask,
    .tell = nasc_hb_tell,
    .free_impl = nasc_hb_free,
};
