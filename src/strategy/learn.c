/* learn.c — the shared machinery of the learned strategies (learn_int.h): history, the set of
 * proposed architectures, the proposal queue, candidates around the best, targets and
 * scalarisation, save/load of all of it, and the surrogate wrapper. */
#include "learn_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- sets of decision sequences ---- */

uint64_t nasc_learn_key(const nasc_arch *a) {
    int d[1024], n = 0;
    const nasc_space *s = nasc_arch_space(a);
    NASC_ASSERT(nasc_space_n_decisions(s) <= 1024);
    nasc_arch_to_decisions(a, d, &n);
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < n; i++) {
        uint32_t v = (uint32_t)d[i] + 1u;
        for (int k = 0; k < 4; k++) {
            h ^= (v >> (8 * k)) & 0xffu;
            h *= 0x100000001b3ull;
        }
    }
    h ^= (uint64_t)n;
    h *= 0x100000001b3ull;
    /* final avalanche (splitmix64's), so the low bits index the table well */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h ? h : 1;
}

static bool set_grow(learn_set *set) {
    size_t cap = set->cap ? set->cap * 2 : 256;
    uint64_t *k = nasc_calloc(cap, sizeof *k);
    if (!k)
        return false;
    for (size_t i = 0; i < set->cap; i++) {
        uint64_t key = set->keys[i];
        if (!key)
            continue;
        size_t j = key & (cap - 1);
        while (k[j])
            j = (j + 1) & (cap - 1);
        k[j] = key;
    }
    nasc_free(set->keys);
    set->keys = k;
    set->cap = cap;
    return true;
}

bool nasc_learn_set_has(const learn_set *set, uint64_t key) {
    if (!set->cap)
        return false;
    for (size_t j = key & (set->cap - 1);; j = (j + 1) & (set->cap - 1)) {
        if (!set->keys[j])
            return false;
        if (set->keys[j] == key)
            return true;
    }
}

bool nasc_learn_set_add(learn_set *set, uint64_t key, bool *oom) {
    if (nasc_learn_set_has(set, key))
        return false;
    if ((set->n + 1) * 2 > set->cap && !set_grow(set)) {
        if (oom)
            *oom = true;
        return false;
    }
    size_t j = key & (set->cap - 1);
    while (set->keys[j])
        j = (j + 1) & (set->cap - 1);
    set->keys[j] = key;
    set->n++;
    return true;
}

/* ---- base ---- */

nasc_status nasc_learn_init(learn_base *b, const nasc_strategy *s, nasc_err *err) {
    (void)err;
    memset(b, 0, sizeof *b);
    b->space = s->space;
    b->n_dec = nasc_space_n_decisions(s->space);
    b->n_obj = s->cfg.n_objectives > 1 ? s->cfg.n_objectives : 0;
    if (b->n_obj > NASC_MAX_OBJECTIVES)
        return nasc_errorf(err, NASC_ERR_ARG, "strategy %s: %d objectives (at most %d)",
                           s->iface->name, b->n_obj, NASC_MAX_OBJECTIVES);
    for (int j = 0; j < NASC_MAX_OBJECTIVES; j++)
        b->weights[j] = b->n_obj ? 1.0 / b->n_obj : 0.0;
    return NASC_OK;
}

void nasc_learn_deinit(learn_base *b) {
    for (int i = 0; i < b->n_hist; i++)
        nasc_arch_free(b->hist[i].arch);
    nasc_free(b->hist);
    for (int i = 0; i < b->q_n; i++)
        nasc_arch_free(b->queue[(b->q_head + i) % b->q_cap]);
    nasc_free(b->queue);
    nasc_free(b->queue_fid);
    nasc_free(b->seen.keys);
    memset(b, 0, sizeof *b);
}

static nasc_status hist_append(learn_base *b, nasc_arch *a, double fitness, double fidelity,
                               int n_obj, const double *obj, nasc_err *err) {
    if (b->n_hist == b->cap_hist) {
        int cap = b->cap_hist ? 2 * b->cap_hist : 64;
        learn_trial *t = nasc_realloc(b->hist, sizeof *t * (size_t)cap);
        if (!t) {
            nasc_arch_free(a);
            return nasc_errorf(err, NASC_ERR_NOMEM, "strategy: out of memory (history)");
        }
        b->hist = t;
        b->cap_hist = cap;
    }
    learn_trial *t = &b->hist[b->n_hist++];
    memset(t, 0, sizeof *t);
    t->arch = a;
    t->fitness = fitness;
    t->fidelity = fidelity;
    t->n_obj = n_obj;
    for (int j = 0; j < n_obj; j++)
        t->obj[j] = obj[j];
    return NASC_OK;
}

nasc_status nasc_learn_record(learn_base *b, const nasc_arch *arch, double fidelity,
                              const nasc_trial_result *r, nasc_err *err) {
    nasc_arch *a = nasc_arch_clone(arch);
    if (!a)
        return nasc_errorf(err, NASC_ERR_NOMEM, "strategy: out of memory (history)");
    nasc_learn_mark(b, a); /* replayed or externally told trials count as seen too */
    int n_obj = 0;
    double obj[NASC_MAX_OBJECTIVES];
    if (b->n_obj) {
        n_obj = b->n_obj;
        for (int j = 0; j < n_obj; j++)
            obj[j] =
                r->status == NASC_TRIAL_OK && j < r->n_objectives ? r->objectives[j] : (double)NAN;
    }
    return hist_append(b, a, nasc_result_fitness(r), fidelity, n_obj, obj, err);
}

bool nasc_learn_ready(const nasc_strategy *s) {
    return s->n_told >= s->n_asked - s->cfg.ask_ahead;
}

nasc_status nasc_learn_push(learn_base *b, nasc_arch *a, double fidelity, nasc_err *err) {
    if (b->q_n == b->q_cap) {
        int cap = b->q_cap ? 2 * b->q_cap : 16;
        nasc_arch **q = nasc_malloc(sizeof *q * (size_t)cap);
        double *f = nasc_malloc(sizeof *f * (size_t)cap);
        if (!q || !f) {
            nasc_free(q);
            nasc_free(f);
            nasc_arch_free(a);
            return nasc_errorf(err, NASC_ERR_NOMEM, "strategy: out of memory (queue)");
        }
        for (int i = 0; i < b->q_n; i++) {
            q[i] = b->queue[(b->q_head + i) % b->q_cap];
            f[i] = b->queue_fid[(b->q_head + i) % b->q_cap];
        }
        nasc_free(b->queue);
        nasc_free(b->queue_fid);
        b->queue = q;
        b->queue_fid = f;
        b->q_head = 0;
        b->q_cap = cap;
    }
    int slot = (b->q_head + b->q_n) % b->q_cap;
    b->queue[slot] = a;
    b->queue_fid[slot] = fidelity;
    b->q_n++;
    return NASC_OK;
}

bool nasc_learn_pop(learn_base *b, nasc_proposal *out) {
    if (!b->q_n)
        return false;
    out->arch = b->queue[b->q_head];
    out->fidelity = b->queue_fid[b->q_head];
    b->q_head = (b->q_head + 1) % b->q_cap;
    b->q_n--;
    return true;
}

bool nasc_learn_mark(learn_base *b, const nasc_arch *a) {
    return nasc_learn_set_add(&b->seen, nasc_learn_key(a), NULL);
}

nasc_status nasc_learn_random_unseen(nasc_strategy *s, learn_base *b, nasc_arch **out,
                                     nasc_err *err) {
    *out = NULL;
    for (int tries = 0;; tries++) {
        nasc_arch *a;
        NASC_TRY(nasc_space_sample(s->space, &s->rng, &a, err));
        if (nasc_learn_mark(b, a) || tries >= 1000) {
            *out = a;
            return NASC_OK;
        }
        nasc_arch_free(a);
    }
}

/* ---- ranking and targets ---- */

static const double *rank_key;
static int rank_cmp(const void *pa, const void *pb) {
    int a = *(const int *)pa, b = *(const int *)pb;
    double ya = rank_key[a], yb = rank_key[b];
    if (ya != yb) {
        if (isnan(ya) || ya < yb)
            return 1;
        return -1;
    }
    return a < b ? -1 : a > b;
}

void nasc_learn_rank(const learn_base *b, const double *target, int *out) {
    for (int i = 0; i < b->n_hist; i++)
        out[i] = i;
    rank_key = target; /* qsort has no user pointer; strategies run on one thread */
    qsort(out, (size_t)b->n_hist, sizeof *out, rank_cmp);
    rank_key = NULL;
}

void nasc_learn_targets(const learn_base *b, double *y) {
    if (!b->n_obj) {
        for (int i = 0; i < b->n_hist; i++)
            y[i] = b->hist[i].fitness;
        return;
    }
    double lo[NASC_MAX_OBJECTIVES], hi[NASC_MAX_OBJECTIVES];
    for (int j = 0; j < b->n_obj; j++) {
        lo[j] = INFINITY;
        hi[j] = -INFINITY;
    }
    for (int i = 0; i < b->n_hist; i++)
        for (int j = 0; j < b->n_obj; j++) {
            double v = b->hist[i].obj[j];
            if (isfinite(v)) {
                lo[j] = fmin(lo[j], v);
                hi[j] = fmax(hi[j], v);
            }
        }
    for (int i = 0; i < b->n_hist; i++)
        y[i] = isfinite(b->hist[i].fitness)
                   ? nasc_pareto_scalarize(b->hist[i].obj, b->n_obj, b->weights, lo, hi)
                   : -(double)INFINITY;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void nasc_learn_standardize(const double *y, int n, double *mean, double *std) {
    double m = 0.0, v = 0.0;
    for (int i = 0; i < n; i++)
        m += y[i];
    m /= n;
    for (int i = 0; i < n; i++)
        v += (y[i] - m) * (y[i] - m);
    v = n > 1 ? v / (n - 1) : 0.0;
    *mean = m;
    *std = v > 1e-24 ? sqrt(v) : 1.0;
}

void nasc_learn_floor(double *y, int n, double q) {
    if (!(q > 0.0) || n < 4)
        return;
    double *s = nasc_malloc(sizeof(double) * (size_t)n);
    if (!s)
        return; /* the targets stay as they are: a weaker model, not an error */
    int m = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(y[i]))
            s[m++] = y[i];
    if (m >= 4) {
        qsort(s, (size_t)m, sizeof(double), cmp_double);
        double f = s[(int)(q * (m - 1))];
        for (int i = 0; i < n; i++)
            if (isfinite(y[i]) && y[i] < f)
                y[i] = f;
    }
    nasc_free(s);
}

void nasc_learn_draw_weights(nasc_strategy *s, learn_base *b) {
    if (!b->n_obj)
        return;
    double sum = 0.0;
    for (int j = 0; j < b->n_obj; j++) { /* Dirichlet(1,...,1): normalised exponentials */
        b->weights[j] = -log(1.0 - nasc_rng_uniform_double(&s->rng));
        sum += b->weights[j];
    }
    for (int j = 0; j < b->n_obj; j++)
        b->weights[j] /= sum;
}

/* ---- candidates ---- */

typedef struct cand_list {
    nasc_arch **a;
    size_t n, cap;
    learn_set local;
} cand_list;

/* Takes a; keeps it if neither proposed before nor already a candidate. */
static nasc_status cand_add(cand_list *c, learn_base *b, nasc_arch *a, nasc_err *err) {
    uint64_t k = nasc_learn_key(a);
    bool oom = false;
    if (nasc_learn_set_has(&b->seen, k) || !nasc_learn_set_add(&c->local, k, &oom)) {
        nasc_arch_free(a);
        return oom ? nasc_errorf(err, NASC_ERR_NOMEM, "strategy: out of memory (candidates)")
                   : NASC_OK;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 256;
        nasc_arch **na = nasc_realloc(c->a, sizeof *na * cap);
        if (!na) {
            nasc_arch_free(a);
            return nasc_errorf(err, NASC_ERR_NOMEM, "strategy: out of memory (candidates)");
        }
        c->a = na;
        c->cap = cap;
    }
    c->a[c->n++] = a;
    return NASC_OK;
}

nasc_status nasc_learn_candidates(nasc_strategy *s, learn_base *b, const double *y, int top,
                                  int n_mut, int max_edits, int n_rand, nasc_arch ***out,
                                  size_t *out_n, nasc_err *err) {
    *out = NULL;
    *out_n = 0;
    cand_list c = {0};
    nasc_status st = NASC_OK;
    int *order = nasc_malloc(sizeof(int) * (size_t)(b->n_hist ? b->n_hist : 1));
    if (!order)
        return nasc_errorf(err, NASC_ERR_NOMEM, "strategy: out of memory (candidates)");
    nasc_learn_rank(b, y, order);
    int n_top = 0;
    for (int r = 0; r < b->n_hist && n_top < top && st == NASC_OK; r++) {
        const nasc_arch *p = b->hist[order[r]].arch;
        if (!isfinite(y[order[r]]))
            break;
        n_top++;
        nasc_arch **nb = NULL;
        size_t nn = 0;
        st = nasc_arch_neighbors(p, &nb, &nn, err);
        for (size_t i = 0; st == NASC_OK && i < nn; i++) {
            st = cand_add(&c, b, nb[i], err);
            nb[i] = NULL;
        }
        if (nb)
            nasc_arch_list_free(nb, nn);
        for (int m = 0; m < n_mut && st == NASC_OK; m++) {
            int edits =
                2 + (max_edits > 2 ? (int)nasc_rng_below(&s->rng, (uint32_t)(max_edits - 1)) : 0);
            nasc_arch *cur = nasc_arch_clone(p);
            if (!cur) {
                st = nasc_errorf(err, NASC_ERR_NOMEM, "strategy: out of memory (candidates)");
                break;
            }
            for (int e = 0; e < edits && st == NASC_OK; e++) {
                nasc_arch *nx;
                st = nasc_arch_mutate(cur, &s->rng, &nx, err);
                nasc_arch_free(cur);
                cur = st == NASC_OK ? nx : NULL;
            }
            if (st == NASC_OK)
                st = cand_add(&c, b, cur, err);
        }
    }
    for (int i = 0; i < n_rand && st == NASC_OK; i++) {
        nasc_arch *a;
        st = nasc_space_sample(s->space, &s->rng, &a, err);
        if (st == NASC_OK)
            st = cand_add(&c, b, a, err);
    }
    nasc_free(order);
    nasc_free(c.local.keys);
    if (st != NASC_OK) {
        nasc_arch_list_free(c.a, c.n);
        return st;
    }
    *out = c.a;
    *out_n = c.n;
    return NASC_OK;
}

nasc_status nasc_learn_encode(nasc_arch *const *archs, size_t n, nasc_encoding kind, size_t len,
                              float *X, nasc_err *err) {
    memset(X, 0, sizeof(float) * n * len);
    for (size_t i = 0; i < n; i++)
        NASC_TRY(nasc_arch_encode(archs[i], kind, X + i * len, err));
    return NASC_OK;
}

nasc_status nasc_learn_probe_options(const nasc_space *s, int *M, int *d, nasc_err *err) {
    const int T = nasc_space_n_decisions(s);
    nasc_rng rng;
    nasc_rng_init(&rng, 0x6c73746dull, NASC_STREAM_USER); /* fixed: independent of the search */
    int n = 0, mx = 1;
    for (int t = 0; t < T; t++)
        M[t] = 0;
    for (int k = 0; k < 256; k++) {
        nasc_arch *a;
        NASC_TRY(nasc_space_sample(s, &rng, &a, err));
        nasc_arch_to_decisions(a, d, &n);
        nasc_arch_free(a);
        for (int t = 0; t < n; t++) {
            int o = nasc_space_n_options(s, t, d);
            M[t] = o > M[t] ? o : M[t];
            mx = o > mx ? o : mx;
        }
    }
    for (int t = 0; t < T; t++)
        if (!M[t])
            M[t] = mx;
    return NASC_OK;
}

/* ---- save / load ---- */

void nasc_learn_save(const learn_base *b, nasc_buf *out) {
    nasc_buf_put_u64(out, (uint64_t)b->n_hist);
    for (int i = 0; i < b->n_hist; i++) {
        const learn_trial *t = &b->hist[i];
        nasc_buf_put_arch(out, t->arch);
        nasc_buf_put_f64(out, t->fitness);
        nasc_buf_put_f64(out, t->fidelity);
        nasc_buf_put_u64(out, (uint64_t)t->n_obj);
        for (int j = 0; j < t->n_obj; j++)
            nasc_buf_put_f64(out, t->obj[j]);
    }
    nasc_buf_put_u64(out, (uint64_t)b->seen.n);
    for (size_t i = 0; i < b->seen.cap; i++)
        if (b->seen.keys[i])
            nasc_buf_put_u64(out, b->seen.keys[i]);
    nasc_buf_put_u64(out, (uint64_t)b->q_n);
    for (int i = 0; i < b->q_n; i++) {
        nasc_buf_put_arch(out, b->queue[(b->q_head + i) % b->q_cap]);
        nasc_buf_put_f64(out, b->queue_fid[(b->q_head + i) % b->q_cap]);
    }
    for (int j = 0; j < NASC_MAX_OBJECTIVES; j++)
        nasc_buf_put_f64(out, b->weights[j]);
}

nasc_status nasc_learn_load(learn_base *b, nasc_reader *r, nasc_err *err) {
    uint64_t n = nasc_read_u64(r);
    if (r->bad || n > (1u << 26))
        return nasc_errorf(err, NASC_ERR_FORMAT, "strategy snapshot: bad history length");
    for (uint64_t i = 0; i < n; i++) {
        nasc_arch *a = nasc_read_arch(r, b->space);
        double fit = nasc_read_f64(r), fid = nasc_read_f64(r);
        uint64_t n_obj = nasc_read_u64(r);
        double obj[NASC_MAX_OBJECTIVES] = {0};
        if (n_obj > NASC_MAX_OBJECTIVES)
            r->bad = true;
        for (uint64_t j = 0; !r->bad && j < n_obj; j++)
            obj[j] = nasc_read_f64(r);
        if (r->bad || !a) {
            nasc_arch_free(a);
            return nasc_errorf(err, NASC_ERR_FORMAT, "strategy snapshot: bad trial %llu",
                               (unsigned long long)i);
        }
        NASC_TRY(hist_append(b, a, fit, fid, (int)n_obj, obj, err));
    }
    uint64_t ns = nasc_read_u64(r);
    if (r->bad || ns > (1u << 26))
        return nasc_errorf(err, NASC_ERR_FORMAT, "strategy snapshot: bad seen set");
    for (uint64_t i = 0; i < ns; i++) {
        uint64_t k = nasc_read_u64(r);
        bool oom = false;
        if (r->bad || !k)
            return nasc_errorf(err, NASC_ERR_FORMAT, "strategy snapshot: bad seen set");
        nasc_learn_set_add(&b->seen, k, &oom);
        if (oom)
            return nasc_errorf(err, NASC_ERR_NOMEM, "strategy: out of memory (seen set)");
    }
    uint64_t nq = nasc_read_u64(r);
    if (r->bad || nq > (1u << 20))
        return nasc_errorf(err, NASC_ERR_FORMAT, "strategy snapshot: bad queue");
    for (uint64_t i = 0; i < nq; i++) {
        nasc_arch *a = nasc_read_arch(r, b->space);
        double fid = nasc_read_f64(r);
        if (r->bad || !a) {
            nasc_arch_free(a);
            return nasc_errorf(err, NASC_ERR_FORMAT, "strategy snapshot: bad queued proposal");
        }
        NASC_TRY(nasc_learn_push(b, a, fid, err));
    }
    for (int j = 0; j < NASC_MAX_OBJECTIVES; j++)
        b->weights[j] = nasc_read_f64(r);
    if (r->bad)
        return nasc_errorf(err, NASC_ERR_FORMAT, "strategy snapshot: truncated");
    return NASC_OK;
}

/* ---- surrogate wrapper ---- */

void nasc_learn_model_free(learn_model *m) {
    nasc_gp_free(m->gp);
    nasc_forest_free(m->rf);
    nasc_mlp_ensemble_free(m->mlp);
    m->gp = NULL;
    m->rf = NULL;
    m->mlp = NULL;
}

void nasc_learn_model_save(const learn_model *m, nasc_buf *out) {
    double th[3] = {0, 0, 0};
    if (m->gp)
        nasc_gp_get_hyper(m->gp, th);
    for (int j = 0; j < 3; j++)
        nasc_buf_put_f64(out, th[j]);
    nasc_buf_put_u64(out, m->rf ? nasc_forest_fit_count(m->rf) : 0);
    nasc_buf_put_u64(out, m->mlp ? nasc_mlp_ensemble_fit_count(m->mlp) : 0);
}

void nasc_learn_model_load(learn_model *m, nasc_reader *r) {
    double th[3];
    for (int j = 0; j < 3; j++)
        th[j] = nasc_read_f64(r);
    uint64_t kr = nasc_read_u64(r), km = nasc_read_u64(r);
    if (r->bad)
        return;
    if (m->gp)
        nasc_gp_set_hyper(m->gp, th);
    if (m->rf)
        nasc_forest_set_fit_count(m->rf, kr);
    if (m->mlp)
        nasc_mlp_ensemble_set_fit_count(m->mlp, km);
}

nasc_status nasc_learn_model_fit(learn_model *m, const float *X, const double *y, int n,
                                 nasc_err *err) {
    switch (m->kind) {
    case LEARN_GP:
        return nasc_gp_fit(m->gp, X, y, n, err);
    case LEARN_RF:
        return nasc_forest_fit(m->rf, X, y, n, err);
    case LEARN_MLP:
        return nasc_mlp_ensemble_fit(m->mlp, X, y, n, err);
    }
    return nasc_errorf(err, NASC_ERR_INTERNAL, "strategy: bad surrogate kind");
}

nasc_status nasc_learn_model_predict(learn_model *m, const float *X, int n, double *mean,
                                     double *sd, nasc_err *err) {
    switch (m->kind) {
    case LEARN_GP:
    case LEARN_RF:
        if (m->kind == LEARN_GP)
            nasc_gp_predict(m->gp, X, n, mean, sd);
        else
            nasc_forest_predict(m->rf, X, n, mean, sd);
        for (int i = 0; i < n; i++) /* variance -> standard deviation */
            sd[i] = sqrt(sd[i] > 0.0 ? sd[i] : 0.0);
        return NASC_OK;
    case LEARN_MLP:
        return nasc_mlp_ensemble_predict(m->mlp, X, n, mean, sd, NULL, err);
    }
    return nasc_errorf(err, NASC_ERR_INTERNAL, "strategy: bad surrogate kind");
}
