/* pnas.c — progressive search ("pnas"), after PNAS (Liu et al., "Progressive Neural Architecture
 * Search", ECCV 2018): cells are grown one block at a time; a surrogate trained on every cell
 * evaluated so far ranks the one-block expansions of the best cells, and only the top K are
 * evaluated.
 *
 * What a block is, per space (docs/STRATEGIES.md):
 *   nb201  a block is an intermediate node with its incoming edges: node 1 (edge 0->1), node 2
 *          (0->2, 1->2), node 3 = the output (0->3, 1->3, 2->3); B = 3. A cell grown to b < 3
 *          nodes is evaluated as the full cell whose later edges are 'none' except a skip from
 *          node b to the output, so it computes exactly the b-node cell.
 *   darts  a block is intermediate node j (its two (op, input) pairs) in both the normal and the
 *          reduction cell; B = 4. Nodes not grown yet take 'none' on input 0: they output zeros,
 *          so the grown nodes alone carry the cell.
 * Other spaces have no notion of block: ARG.
 *
 * Loop, beam K = `beam`:
 *   level 1   the expansions of the empty cell (all of them if at most `expand`, else a uniform
 *             sample of `expand`); K of them evaluated (in random order: no model yet);
 *   level b+1 the surrogate (`surrogate`: MLP ensemble, random forest or GP, on the one-hot
 *             encoding of the filled cells) is fitted on every told trial; the expansions of the K
 *             best level-b cells are ranked by predicted mean, the K best unseen ones evaluated;
 *   level B   once cells are complete, the search goes on until the budget: candidates are the
 *             level-B expansions of the K best level-(B-1) cells and the neighbours of the K best
 *             complete cells; again the K best by prediction.
 * Resume: save/load of the history, the queue, the levels and the surrogate's fit counter. */
#include "learn_int.h"
#include "mo_int.h"

#include <math.h>
#include <string.h>

enum { PN_MAX_DEC = 64 };

typedef struct pnas {
    learn_base b;
    learn_model model;
    int K, expand, B, T;
    double floor_q;        /* nasc_learn_floor of the surrogate's targets */
    bool mo_hv;            /* two objectives: hypervolume-based targets (nasc_mo_targets) */
    int level;             /* level of the last round proposed (0 before the first) */
    int block[PN_MAX_DEC]; /* level at which decision t is set (1..B) */
    int darts;             /* 1: darts layout, 0: nb201 */
    int *lvl;              /* level of every proposal, by trial index */
    int n_prop, cap_prop;
    size_t enc_len;
} pnas;

static const nasc_strategy_opt pnas_opts[] = {
    {.name = "beam",
     .type = NASC_OPT_INT,
     .def = "0",
     .min = 0,
     .max = 100000,
     .help = "cells evaluated per level (K; 0: 5 with the GP surrogate, 10 with the others)"},
    {.name = "expand",
     .type = NASC_OPT_INT,
     .def = "2000",
     .min = 1,
     .max = 1000000,
     .help = "most expansions ranked per parent (a uniform sample beyond)"},
    {.name = "surrogate",
     .type = NASC_OPT_CHOICE,
     .def = "mlp",
     .choices = "mlp|rf|gp",
     .help = "predictor ranking the expansions"},
    {.name = "floor",
     .type = NASC_OPT_DOUBLE,
     .def = "0.5",
     .min = 0,
     .max = 0.99,
     .help = "targets below this quantile of the results are raised to it (0: off)"},
    {.name = "mo-reward",
     .type = NASC_OPT_CHOICE,
     .def = "hv",
     .choices = "parego|hv",
     .help = "two objectives: the surrogate's targets by random ParEGO scalarisations or "
             "hypervolume-based (non-dominated rank, reference box, contribution)"},
};

/* Sets the filler of decisions above level lv: nb201 'none' everywhere but a skip from node lv to
 * the output; darts 'none' on input 0. */
static void fill(const pnas *p, int *d, int lv) {
    for (int t = 0; t < p->T; t++)
        if (p->block[t] > lv)
            d[t] = 0;
    if (!p->darts && lv < p->B)
        d[3 + lv] = 1; /* edges 0->3, 1->3, 2->3 are decisions 3, 4, 5; op 1 = skip_connect */
}

static nasc_status pnas_init(nasc_strategy *s, nasc_err *err) {
    pnas *p = nasc_calloc(1, sizeof *p);
    if (!p)
        return nasc_errorf(err, NASC_ERR_NOMEM, "pnas: out of memory");
    s->impl = p;
    NASC_TRY(nasc_learn_init(&p->b, s, err));
    p->K = nasc_strategy_opt_int(s, "beam");
    if (!p->K) /* chosen on validation accuracy (docs/STRATEGIES.md §4) */
        p->K = nasc_strategy_opt_choice(s, "surrogate") == 2 ? 5 : 10;
    p->expand = nasc_strategy_opt_int(s, "expand");
    p->floor_q = nasc_strategy_opt_double(s, "floor");
    p->mo_hv = nasc_strategy_opt_choice(s, "mo-reward") == 1;
    p->T = p->b.n_dec;
    const char *sn = nasc_space_name(s->space);
    if (!strcmp(sn, "nb201")) {
        static const int blk[6] = {1, 2, 2, 3, 3, 3};
        p->B = 3;
        memcpy(p->block, blk, sizeof blk);
        /* guard: the layout assumed above (edge order and op numbering of docs/SPACES.md) */
        nasc_arch *a;
        int d[6], n;
        NASC_TRY(nasc_arch_parse(
            s->space, "|none~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|", &a, err));
        nasc_arch_to_decisions(a, d, &n);
        nasc_arch_free(a);
        NASC_ASSERT(n == 6 && d[4] == 1 && d[0] == 0 && d[3] == 0 && d[5] == 0);
    } else if (!strcmp(sn, "darts")) {
        p->darts = 1;
        p->B = 4;
        NASC_ASSERT(p->T == 32);
        for (int t = 0; t < 32; t++)
            p->block[t] = (t % 16) / 4 + 1; /* pair k = (t%16)/2, node k/2 */
    } else {
        return nasc_errorf(err, NASC_ERR_ARG,
                           "strategy pnas: defined for the cell spaces nb201 and darts (not %s)",
                           sn);
    }
    p->enc_len = nasc_space_encoding_len(s->space, NASC_ENC_ONEHOT);
    int kind = nasc_strategy_opt_choice(s, "surrogate");
    uint64_t seed = nasc_rng_u64(&s->rng);
    p->model.kind = kind == 0 ? LEARN_MLP : kind == 1 ? LEARN_RF : LEARN_GP;
    if (kind == 0)
        return nasc_mlp_ensemble_new(NULL, (int)p->enc_len, seed, &p->model.mlp, err);
    if (kind == 1)
        return nasc_forest_new(NULL, (int)p->enc_len, seed, &p->model.rf, err);
    return nasc_gp_new(&(nasc_gp_config){.kernel = NASC_GP_MATERN52, .fit_hyper = true},
                       (int)p->enc_len, &p->model.gp, err);
}

static void pnas_free(void *impl) {
    pnas *p = impl;
    if (!p)
        return;
    nasc_learn_deinit(&p->b);
    nasc_learn_model_free(&p->model);
    nasc_free(p->lvl);
    nasc_free(p);
}

static nasc_status propose(pnas *p, nasc_arch *a, int level, nasc_err *err) {
    if (p->n_prop == p->cap_prop) {
        int cap = p->cap_prop ? 2 * p->cap_prop : 128;
        int *nl = nasc_realloc(p->lvl, sizeof(int) * (size_t)cap);
        if (!nl) {
            nasc_arch_free(a);
            return nasc_errorf(err, NASC_ERR_NOMEM, "pnas: out of memory");
        }
        p->lvl = nl;
        p->cap_prop = cap;
    }
    p->lvl[p->n_prop++] = level;
    nasc_learn_mark(&p->b, a);
    return nasc_learn_push(&p->b, a, 0.0, err);
}

typedef struct alist {
    nasc_arch **a;
    size_t n, cap;
    learn_set set;
} alist;

/* Keeps a if unseen and new to the list; frees it otherwise. */
static nasc_status alist_add(alist *l, const learn_base *b, nasc_arch *a, nasc_err *err) {
    uint64_t k = nasc_learn_key(a);
    bool oom = false;
    if (nasc_learn_set_has(&b->seen, k) || !nasc_learn_set_add(&l->set, k, &oom)) {
        nasc_arch_free(a);
        return oom ? nasc_errorf(err, NASC_ERR_NOMEM, "pnas: out of memory") : NASC_OK;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        nasc_arch **na = nasc_realloc(l->a, sizeof *na * cap);
        if (!na) {
            nasc_arch_free(a);
            return nasc_errorf(err, NASC_ERR_NOMEM, "pnas: out of memory");
        }
        l->a = na;
        l->cap = cap;
    }
    l->a[l->n++] = a;
    return NASC_OK;
}

static void alist_free(alist *l) {
    if (l->a)
        nasc_arch_list_free(l->a, l->n);
    nasc_free(l->set.keys);
    memset(l, 0, sizeof *l);
}

/* Adds the expansions of parent decisions pd (grown to level lv-1) by block lv to l. */
static nasc_status expansions(nasc_strategy *s, pnas *p, const int *pd, int lv, alist *l,
                              nasc_err *err) {
    int idx[PN_MAX_DEC], nb = 0;
    for (int t = 0; t < p->T; t++)
        if (p->block[t] == lv)
            idx[nb++] = t;
    double total = 1.0;
    int d[PN_MAX_DEC];
    memcpy(d, pd, sizeof(int) * (size_t)p->T);
    for (int k = 0; k < nb; k++) /* fixed radix in both spaces: options do not depend on d */
        total *= nasc_space_n_options(s->space, idx[k], d);
    bool all = total <= p->expand;
    long count = all ? (long)total : p->expand;
    for (long e = 0; e < count; e++) {
        long code = e;
        memcpy(d, pd, sizeof(int) * (size_t)p->T);
        fill(p, d, lv);
        for (int k = nb - 1; k >= 0; k--) {
            int no = nasc_space_n_options(s->space, idx[k], d);
            if (all) {
                d[idx[k]] = (int)(code % no);
                code /= no;
            } else {
                d[idx[k]] = (int)nasc_rng_below(&s->rng, (uint32_t)no);
            }
        }
        nasc_arch *a;
        NASC_TRY(nasc_arch_from_decisions(s->space, d, p->T, &a, err));
        NASC_TRY(alist_add(l, &p->b, a, err));
    }
    return NASC_OK;
}

/* The told trials of level lv, best first by y, at most K, into out; returns the count. */
static int best_of_level(const pnas *p, const double *y, const int *order, int lv, int K,
                         int *out) {
    int n = 0;
    for (int r = 0; r < p->b.n_hist && n < K; r++) {
        int k = order[r];
        if (p->lvl[k] == lv && isfinite(y[k]))
            out[n++] = k;
    }
    return n;
}

static nasc_status round_(nasc_strategy *s, pnas *p, nasc_err *err) {
    learn_base *b = &p->b;
    alist cand = {0};
    nasc_status st = NASC_OK;
    int d0[PN_MAX_DEC] = {0};
    if (p->level == 0) { /* level 1: no model yet; K expansions of the empty cell at random */
        st = expansions(s, p, d0, 1, &cand, err);
        for (size_t i = cand.n; st == NASC_OK && i > 1; i--) { /* shuffle */
            size_t j = nasc_rng_below(&s->rng, (uint32_t)i);
            nasc_arch *t = cand.a[i - 1];
            cand.a[i - 1] = cand.a[j];
            cand.a[j] = t;
        }
        for (size_t i = 0; st == NASC_OK && i < cand.n && (int)i < p->K; i++) {
            st = propose(p, cand.a[i], 1, err);
            cand.a[i] = NULL;
        }
        p->level = 1;
        for (size_t i = 0; i < cand.n; i++)
            nasc_arch_free(cand.a[i]);
        cand.n = 0;
        alist_free(&cand);
        return st;
    }
    nasc_learn_draw_weights(s, b);
    const int n = b->n_hist;
    double *y = nasc_malloc(sizeof(double) * (size_t)n);
    int *order = nasc_malloc(sizeof(int) * (size_t)n);
    int *par = nasc_malloc(sizeof(int) * (size_t)p->K);
    nasc_arch **ok = nasc_malloc(sizeof *ok * (size_t)n);
    double *yok = nasc_malloc(sizeof(double) * (size_t)n);
    float *X = NULL;
    double *mu = NULL, *sd = NULL;
    if (!y || !order || !par || !ok || !yok) {
        st = nasc_errorf(err, NASC_ERR_NOMEM, "pnas: out of memory");
        goto done;
    }
    bool hv = false;
    if (p->mo_hv && (st = nasc_mo_targets(b, 20, y, &hv, err)) != NASC_OK)
        goto done;
    if (!hv)
        nasc_learn_targets(b, y);
    nasc_learn_rank(b, y, order);
    int next = p->level < p->B ? p->level + 1 : p->B;
    /* parents one level below `next`, grown by one block */
    int np = best_of_level(p, y, order, next - 1, p->K, par);
    for (int i = 0; i < np && st == NASC_OK; i++) {
        int pd[PN_MAX_DEC], nd;
        nasc_arch_to_decisions(b->hist[par[i]].arch, pd, &nd);
        st = expansions(s, p, pd, next, &cand, err);
    }
    if (p->level == p->B) { /* complete cells: their neighbourhoods too */
        int nc = best_of_level(p, y, order, p->B, p->K, par);
        for (int i = 0; i < nc && st == NASC_OK; i++) {
            nasc_arch **nb = NULL;
            size_t nn = 0;
            st = nasc_arch_neighbors(b->hist[par[i]].arch, &nb, &nn, err);
            for (size_t j = 0; j < nn && st == NASC_OK; j++) {
                st = alist_add(&cand, b, nb[j], err);
                nb[j] = NULL;
            }
            if (nb)
                nasc_arch_list_free(nb, nn);
        }
    }
    if (st != NASC_OK)
        goto done;
    if (!cand.n) { /* nothing left to expand: uniform samples */
        for (int k = 0; k < p->K && st == NASC_OK; k++) {
            nasc_arch *a;
            st = nasc_learn_random_unseen(s, b, &a, err);
            if (st == NASC_OK)
                st = propose(p, a, p->B, err);
        }
        p->level = p->B;
        goto done;
    }
    int n_ok = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(y[i])) {
            ok[n_ok] = b->hist[i].arch;
            yok[n_ok++] = y[i];
        }
    X = nasc_malloc(sizeof(float) * p->enc_len * (cand.n > (size_t)n_ok ? cand.n : (size_t)n_ok));
    mu = nasc_malloc(sizeof(double) * cand.n);
    sd = nasc_malloc(sizeof(double) * cand.n);
    if (!X || !mu || !sd) {
        st = nasc_errorf(err, NASC_ERR_NOMEM, "pnas: out of memory");
        goto done;
    }
    nasc_learn_floor(yok, n_ok, p->floor_q);
    if (n_ok >= 2) {
        if ((st = nasc_learn_encode(ok, (size_t)n_ok, NASC_ENC_ONEHOT, p->enc_len, X, err)) ||
            (st = nasc_learn_model_fit(&p->model, X, yok, n_ok, err)) ||
            (st = nasc_learn_encode(cand.a, cand.n, NASC_ENC_ONEHOT, p->enc_len, X, err)) ||
            (st = nasc_learn_model_predict(&p->model, X, (int)cand.n, mu, sd, err)))
            goto done;
    } else {
        for (size_t i = 0; i < cand.n; i++)
            mu[i] = nasc_rng_uniform_double(&s->rng);
    }
    for (int k = 0; k < p->K && (size_t)k < cand.n && st == NASC_OK; k++) {
        size_t bi = 0;
        for (size_t i = 1; i < cand.n; i++)
            if (mu[i] > mu[bi])
                bi = i;
        if (mu[bi] == -(double)INFINITY)
            break;
        mu[bi] = -INFINITY;
        st = propose(p, cand.a[bi], next, err);
        cand.a[bi] = NULL;
    }
    p->level = next;
done:
    for (size_t i = 0; i < cand.n; i++)
        nasc_arch_free(cand.a[i]);
    cand.n = 0;
    alist_free(&cand);
    nasc_free(y);
    nasc_free(order);
    nasc_free(par);
    nasc_free(ok);
    nasc_free(yok);
    nasc_free(X);
    nasc_free(mu);
    nasc_free(sd);
    return st;
}

static nasc_status pnas_ask(nasc_strategy *s, nasc_proposal *out, nasc_err *err) {
    pnas *p = s->impl;
    if (nasc_learn_pop(&p->b, out))
        return NASC_OK;
    if (!nasc_learn_ready(s))
        return NASC_OK; /* wait */
    NASC_TRY(round_(s, p, err));
    if (!nasc_learn_pop(&p->b, out)) { /* a round with no proposal: uniform */
        nasc_arch *a;
        NASC_TRY(nasc_learn_random_unseen(s, &p->b, &a, err));
        NASC_TRY(propose(p, a, p->B, err));
        nasc_learn_pop(&p->b, out);
    }
    return NASC_OK;
}

static nasc_status pnas_tell(nasc_strategy *s, int64_t trial, const nasc_arch *arch,
                             double fidelity, const nasc_trial_result *r, nasc_err *err) {
    (void)trial;
    pnas *p = s->impl;
    return nasc_learn_record(&p->b, arch, fidelity, r, err);
}

static nasc_status pnas_save(const nasc_strategy *s, void **out_buf, size_t *out_len,
                             nasc_err *err) {
    const pnas *p = s->impl;
    nasc_buf b = {0};
    nasc_learn_save(&p->b, &b);
    nasc_learn_model_save(&p->model, &b);
    nasc_buf_put_u64(&b, (uint64_t)p->level);
    nasc_buf_put_u64(&b, (uint64_t)p->n_prop);
    for (int i = 0; i < p->n_prop; i++)
        nasc_buf_put_u64(&b, (uint64_t)p->lvl[i]);
    return nasc_buf_take(&b, out_buf, out_len, "strategy state", err);
}

static nasc_status pnas_load(nasc_strategy *s, const void *buf, size_t len, nasc_err *err) {
    pnas *p = s->impl;
    nasc_reader r = {buf, len, false};
    NASC_TRY(nasc_learn_load(&p->b, &r, err));
    nasc_learn_model_load(&p->model, &r);
    p->level = (int)nasc_read_u64(&r);
    uint64_t np = nasc_read_u64(&r);
    if (r.bad || np > (1u << 24) || p->level > p->B)
        return nasc_errorf(err, NASC_ERR_FORMAT, "pnas: bad snapshot");
    p->n_prop = 0;
    nasc_free(p->lvl);
    p->lvl = nasc_malloc(sizeof(int) * (size_t)(np ? np : 1));
    if (!p->lvl)
        return nasc_errorf(err, NASC_ERR_NOMEM, "pnas: out of memory");
    p->cap_prop = (int)(np ? np : 1);
    for (uint64_t i = 0; i < np; i++)
        p->lvl[p->n_prop++] = (int)nasc_read_u64(&r);
    if (r.bad || r.left)
        return nasc_errorf(err, NASC_ERR_FORMAT, "pnas: bad snapshot");
    return NASC_OK;
}

const nasc_strategy_i nasc_strategy_pnas_i = {
    .name = "pnas",
    .help = "progressive search: cells grown a block at a time, a surrogate ranks expansions",
    .opts = pnas_opts,
    .n_opts = (int)(sizeof pnas_opts / sizeof pnas_opts[0]),
    .init = pnas_init,
    .ask = pnas_ask,
    .tell = pnas_tell,
    .save = pnas_save,
    .load = pnas_load,
    .free_impl = pnas_free,
};
