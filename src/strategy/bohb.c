/* bohb.c — BOHB ("bohb"; Falkner, Klein & Hutter, "BOHB: Robust and Efficient Hyperparameter
 * Optimization at Scale", ICML 2018): Hyperband's brackets of successive halving on the evaluator's
 * fidelity (epochs for training), with new configurations proposed by a TPE-style density model
 * instead of uniformly. The brackets are hyperband.c's scheduler (nasc_hb_setup with this file's
 * sampler), so bohb and hyperband differ only in where new configurations come from.
 *
 * Proposals (every new configuration of a bracket's first rung): with probability
 * `random-fraction` a uniform sample; otherwise, once some fidelity has at least `min-points`
 * told results, the model of the highest such fidelity: its results are split into the best
 * `gamma` share (l, at least 2) and the rest (g); each decision gets a smoothed categorical
 * density per set
 *     p(c) = (count(c) + a) / (N + a n_opts)        a = `prior` (Laplace smoothing; BOHB uses
 *                                                    Aitchison-Aitken kernels, the same idea)
 * and `samples` candidates are drawn from l with a widened prior (a * `bandwidth`); the one with
 * the largest l(x)/g(x) is proposed (TPE, Bergstra et al. 2011). Works on every space through the
 * decision sequence (the product of per-step densities, steps beyond a sequence's end ignored).
 * Configurations are never proposed twice (a model proposal already seen falls back to the next
 * best candidate, then to a uniform unseen sample). With random-fraction = 1 this is Hyperband
 * with deduplicated uniform samples. Resume replays (no save/load).
 *
 * `batch` B (issue 17: a coordinator with many workers): the densities are rebuilt once per B
 * model proposals (and only when results came in since), not for each: B proposals from one
 * model, as BOHB's own parallel version samples a batch per model. B = 1 rebuilds whenever the
 * history changed, which proposes exactly what rebuilding every time does. */
#include "learn_int.h"

#include <math.h>
#include <string.h>

typedef struct bohb {
    learn_base b;
    double rand_frac, gamma, prior, bw;
    int n_samples, min_points;
    int *M, *dec;          /* per-step option counts (probe), scratch decisions */
    double *cnt_l, *cnt_g; /* per step x option counts of the two sets */
    int *off, L;
    /* the model: built on the first n_built results, used for `since` proposals so far */
    int batch, n_built, since, m_good, m_n;
    bool built;
} bohb;

/* The first three are Hyperband's (nasc_hb_opts, same names, defaults and ranges), as
 * nasc_hb_setup requires. */
static const nasc_strategy_opt bohb_opts[] = {
    NASC_HB_OPTS_INIT,
    {.name = "random-fraction",
     .type = NASC_OPT_DOUBLE,
     .def = "0.3333333333333333",
     .min = 0,
     .max = 1,
     .help = "share of uniform proposals (1 = Hyperband)"},
    {.name = "gamma",
     .type = NASC_OPT_DOUBLE,
     .def = "0.15",
     .min = 0.01,
     .max = 0.99,
     .help = "share of results in the good density l"},
    {.name = "samples",
     .type = NASC_OPT_INT,
     .def = "64",
     .min = 1,
     .max = 100000,
     .help = "candidates drawn from l per proposal"},
    {.name = "min-points",
     .type = NASC_OPT_INT,
     .def = "0",
     .min = 0,
     .max = 100000,
     .help = "results a fidelity needs for a model (0: decisions + 1)"},
    {.name = "prior",
     .type = NASC_OPT_DOUBLE,
     .def = "1",
     .min = 1e-6,
     .max = 1e6,
     .help = "Laplace smoothing of the categorical densities"},
    {.name = "bandwidth",
     .type = NASC_OPT_DOUBLE,
     .def = "3",
     .min = 1,
     .max = 1e6,
     .help = "widening of l's prior when sampling candidates"},
    {.name = "batch",
     .type = NASC_OPT_INT,
     .def = "1",
     .min = 1,
     .max = 1000000,
     .help = "model proposals per density rebuild (a coordinator with many workers)"},
};

static void bohb_free(void *impl) {
    bohb *h = impl;
    if (!h)
        return;
    nasc_learn_deinit(&h->b);
    nasc_free(h->M);
    nasc_free(h->dec);
    nasc_free(h->off);
    nasc_free(h->cnt_l);
    nasc_free(h->cnt_g);
    nasc_free(h);
}

/* Adds the decisions of a to counts c (weight 1). */
static void count_arch(const bohb *h, const nasc_arch *a, double *c) {
    int d[1024], n = 0;
    nasc_arch_to_decisions(a, d, &n);
    for (int t = 0; t < n && t < h->b.n_dec; t++)
        if (d[t] < h->M[t])
            c[h->off[t] + d[t]] += 1.0;
}

/* log density of decisions d[0..n) under counts c of N points with smoothing a. */
static double log_dens(const bohb *h, const double *c, double N, double a, const int *d, int n) {
    double lp = 0.0;
    for (int t = 0; t < n; t++) {
        int no = nasc_space_n_options(h->b.space, t, d);
        double cc = d[t] < h->M[t] ? c[h->off[t] + d[t]] : 0.0;
        lp += log((cc + a) / (N + a * no));
    }
    return lp;
}

/* Builds the densities l and g from the results of the highest fidelity with enough OK results;
 * false (h->built unchanged) if there is none. */
static nasc_status tpe_build(bohb *h, bool *out_ok, nasc_err *err) {
    *out_ok = false;
    learn_base *b = &h->b;
    /* the highest fidelity with enough OK results (one pass; fidelities are few) */
    double fv[NASC_MAX_FIDELITIES * 4];
    int fc[NASC_MAX_FIDELITIES * 4], nfv = 0;
    bool many = false;
    for (int i = 0; i < b->n_hist && !many; i++) {
        if (!isfinite(b->hist[i].fitness))
            continue;
        int j = 0;
        while (j < nfv && fv[j] != b->hist[i].fidelity)
            j++;
        if (j == nfv) {
            if (nfv == (int)(sizeof fv / sizeof fv[0])) {
                many = true;
                break;
            }
            fv[nfv] = b->hist[i].fidelity;
            fc[nfv++] = 0;
        }
        fc[j]++;
    }
    double fid = -1.0;
    if (!many) {
        for (int j = 0; j < nfv; j++)
            if (fc[j] >= h->min_points && fv[j] > fid)
                fid = fv[j];
    } else { /* many distinct fidelities (training with any epochs): count each */
        for (int i = 0; i < b->n_hist; i++) {
            double f = b->hist[i].fidelity;
            if (f <= fid || !isfinite(b->hist[i].fitness))
                continue;
            int cnt = 0;
            for (int j = 0; j < b->n_hist; j++)
                cnt += b->hist[j].fidelity == f && isfinite(b->hist[j].fitness);
            if (cnt >= h->min_points)
                fid = f;
        }
    }
    if (fid < 0.0)
        return NASC_OK;
    double *y = nasc_malloc(sizeof(double) * (size_t)b->n_hist);
    int *order = nasc_malloc(sizeof(int) * (size_t)b->n_hist);
    if (!y || !order) {
        nasc_free(y);
        nasc_free(order);
        return nasc_errorf(err, NASC_ERR_NOMEM, "bohb: out of memory");
    }
    nasc_learn_targets(b, y);
    for (int i = 0; i < b->n_hist; i++) /* only this fidelity; failed ones count as bad */
        if (b->hist[i].fidelity != fid)
            y[i] = (double)NAN;
    nasc_learn_rank(b, y, order);
    int N = 0;
    for (int i = 0; i < b->n_hist; i++)
        N += b->hist[i].fidelity == fid;
    int n_good = (int)ceil(h->gamma * N);
    if (n_good < 2)
        n_good = 2;
    if (n_good > N - 1)
        n_good = N - 1;
    memset(h->cnt_l, 0, sizeof(double) * (size_t)h->L);
    memset(h->cnt_g, 0, sizeof(double) * (size_t)h->L);
    for (int r = 0; r < N; r++)
        count_arch(h, b->hist[order[r]].arch, r < n_good ? h->cnt_l : h->cnt_g);
    nasc_free(y);
    nasc_free(order);
    h->m_good = n_good;
    h->m_n = N;
    *out_ok = true;
    return NASC_OK;
}

/* A rung-0 proposal from the TPE model, or NULL in *out if no fidelity has enough points. The
 * densities are rebuilt when results came in since the last build and B proposals used it. */
static nasc_status tpe_propose(nasc_strategy *s, bohb *h, nasc_arch **out, nasc_err *err) {
    *out = NULL;
    learn_base *b = &h->b;
    if (!h->built || (h->n_built != b->n_hist && h->since >= h->batch)) {
        bool ok;
        NASC_TRY(tpe_build(h, &ok, err));
        if (!ok)
            return NASC_OK;
        h->built = true;
        h->n_built = b->n_hist;
        h->since = 0;
    }
    h->since++;
    const int n_good = h->m_good, N = h->m_n;
    double best = -INFINITY;
    int bestd[1024], bestn = 0;
    const double a = h->prior, aw = h->prior * h->bw;
    for (int k = 0; k < h->n_samples; k++) {
        int n = 0;
        for (int t = 0; t < b->n_dec; t++) {
            int no = nasc_space_n_options(s->space, t, h->dec);
            if (no <= 0)
                break;
            double tot = 0.0;
            for (int c = 0; c < no; c++)
                tot += (c < h->M[t] ? h->cnt_l[h->off[t] + c] : 0.0) + aw;
            double u = nasc_rng_uniform_double(&s->rng) * tot, acc = 0.0;
            int pick = no - 1;
            for (int c = 0; c < no; c++) {
                acc += (c < h->M[t] ? h->cnt_l[h->off[t] + c] : 0.0) + aw;
                if (u < acc) {
                    pick = c;
                    break;
                }
            }
            h->dec[t] = pick;
            n = t + 1;
        }
        double score = log_dens(h, h->cnt_l, n_good, a, h->dec, n) -
                       log_dens(h, h->cnt_g, N - n_good, a, h->dec, n);
        nasc_arch *cand;
        NASC_TRY(nasc_arch_from_decisions(s->space, h->dec, n, &cand, err));
        bool seen = nasc_learn_set_has(&b->seen, nasc_learn_key(cand));
        nasc_arch_free(cand);
        if (!seen && score > best) {
            best = score;
            memcpy(bestd, h->dec, sizeof(int) * (size_t)n);
            bestn = n;
        }
    }
    if (bestn == 0)
        return NASC_OK;
    NASC_TRY(nasc_arch_from_decisions(s->space, bestd, bestn, out, err));
    nasc_learn_mark(b, *out);
    return NASC_OK;
}

/* The sampler hyperband.c calls for every new configuration. */
static nasc_status bohb_sample(nasc_strategy *s, void *ctx, double fidelity, nasc_arch **out,
                               nasc_err *err) {
    (void)fidelity;
    bohb *h = ctx;
    *out = NULL;
    if (nasc_rng_uniform_double(&s->rng) >= h->rand_frac)
        NASC_TRY(tpe_propose(s, h, out, err));
    if (!*out)
        NASC_TRY(nasc_learn_random_unseen(s, &h->b, out, err));
    return NASC_OK;
}

/* Every result, in trial order: the model's data. */
static nasc_status bohb_observe(nasc_strategy *s, void *ctx, const nasc_arch *a, double fidelity,
                                double fitness, nasc_err *err) {
    (void)s;
    bohb *h = ctx;
    nasc_trial_result r;
    nasc_trial_result_init(&r);
    if (isfinite(fitness)) {
        r.status = NASC_TRIAL_OK;
        r.score = fitness;
    }
    return nasc_learn_record(&h->b, a, fidelity, &r, err);
}

static nasc_status bohb_init(nasc_strategy *s, nasc_err *err) {
    bohb *h = nasc_calloc(1, sizeof *h);
    if (!h)
        return nasc_errorf(err, NASC_ERR_NOMEM, "bohb: out of memory");
    nasc_status st = nasc_learn_init(&h->b, s, err);
    h->b.n_obj = 0; /* brackets rank by the score */
    h->rand_frac = nasc_strategy_opt_double(s, "random-fraction");
    h->gamma = nasc_strategy_opt_double(s, "gamma");
    h->n_samples = nasc_strategy_opt_int(s, "samples");
    h->min_points = nasc_strategy_opt_int(s, "min-points");
    if (h->min_points <= 0)
        h->min_points = h->b.n_dec + 1;
    h->prior = nasc_strategy_opt_double(s, "prior");
    h->bw = nasc_strategy_opt_double(s, "bandwidth");
    h->batch = nasc_strategy_opt_int(s, "batch");
    const int T = h->b.n_dec;
    if (st == NASC_OK) {
        h->M = nasc_calloc((size_t)T, sizeof(int));
        h->dec = nasc_calloc((size_t)T + 1, sizeof(int));
        h->off = nasc_calloc((size_t)T + 1, sizeof(int));
        if (!h->M || !h->dec || !h->off)
            st = nasc_errorf(err, NASC_ERR_NOMEM, "bohb: out of memory");
    }
    if (st == NASC_OK)
        st = nasc_learn_probe_options(s->space, h->M, h->dec, err);
    if (st == NASC_OK) {
        for (int t = 0; t < T; t++)
            h->off[t + 1] = h->off[t] + h->M[t];
        h->L = h->off[T];
        h->cnt_l = nasc_calloc((size_t)h->L, sizeof(double));
        h->cnt_g = nasc_calloc((size_t)h->L, sizeof(double));
        if (!h->cnt_l || !h->cnt_g)
            st = nasc_errorf(err, NASC_ERR_NOMEM, "bohb: out of memory");
    }
    if (st != NASC_OK) {
        bohb_free(h);
        return st;
    }
    nasc_hb_sampler smp = {
        .sample = bohb_sample, .observe = bohb_observe, .free_ctx = bohb_free, .ctx = h};
    return nasc_hb_setup(s, true, &smp, err); /* takes h over, also on failure */
}

const nasc_strategy_i nasc_strategy_bohb_i = {
    .name = "bohb",
    .help = "BOHB: Hyperband brackets on the fidelity (epochs) with TPE-style proposals",
    .opts = bohb_opts,
    .n_opts = (int)(sizeof bohb_opts / sizeof bohb_opts[0]),
    .init = bohb_init,
    .ahead_per_worker = 8, /* ASHA's trials are as uneven as its fidelities */
    .ask = nasc_hb_ask,
    .tell = nasc_hb_tell,
    .free_impl = nasc_hb_free,
};
