/* mbo.c — the loop shared by the model-based strategies bo-gp, bo-rf and bananas (mbo_int.h).
 *
 * Trials 0 .. init-1 are uniform samples never proposed before. After that, whenever the queue is
 * empty and the results the batch may use are known (learn_int.h), one iteration runs:
 *   1. targets: the score of every told trial (a random scalarisation of the objectives when there
 *      are several; new weights each iteration, ParEGO-style); failed trials are left out; with
 *      `floor` q, targets below the q-quantile are raised to it (nasc_learn_floor);
 *   2. the surrogate (GP, random forest or MLP ensemble) is fitted on the encodings;
 *   3. candidates: all neighbours of the `top` best architectures, `mutations` random 2..max_edits
 *      edit mutations of each of them and `random` uniform samples, none proposed before
 *      (the acquisition is optimised by mutation around the best, as BANANAS and NASBOT do);
 *   4. the `batch` candidates with the highest acquisition are queued:
 *        ei   expected improvement over the best target (margin xi, in target units),
 *        ucb  mean + beta * sd,
 *        its  independent Thompson sampling: one draw from N(mean, sd^2) per candidate.
 * The state is the history plus the queue plus the surrogate's warm start, so save/load is exact.
 */
#include "mbo_int.h"
#include "mo_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

nasc_status nasc_mbo_new(nasc_strategy *s, mbo **out, nasc_err *err) {
    mbo *m = nasc_calloc(1, sizeof *m);
    if (!m)
        return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", s->iface->name);
    s->impl = m;
    *out = m;
    nasc_mbo_read_common(s, &m->c);
    NASC_TRY(nasc_learn_init(&m->b, s, err));
    m->enc_len = nasc_space_encoding_len(s->space, m->c.enc);
    if (!m->enc_len)
        return nasc_errorf(err, NASC_ERR_ARG, "strategy %s: space %s has no %s encoding",
                           s->iface->name, nasc_space_name(s->space),
                           m->c.enc == NASC_ENC_PATH ? "path" : "one-hot");
    return NASC_OK;
}

/* The training set past `max-fit` results (a cheaper surrogate past a history size: a GP fit is
 * cubic in it, an MLP fit linear): the max/2 best targets and, of the rest, the most recent, kept
 * in history order. Ties by history order, so the subset is a function of the history only.
 * Returns the new count; ok and y are compacted in place. */
typedef struct ranked {
    double y;
    int i;
} ranked;

static int by_target_desc(const void *a, const void *b) {
    const ranked *p = a, *q = b;
    if (p->y != q->y)
        return p->y > q->y ? -1 : 1;
    return p->i < q->i ? -1 : 1;
}

static int fit_subset(nasc_arch **ok, double *y, int n, int max, nasc_err *err, bool *nomem) {
    ranked *r = nasc_malloc(sizeof *r * (size_t)n);
    bool *keep = nasc_calloc((size_t)n, sizeof(bool));
    if (!r || !keep) {
        nasc_free(r);
        nasc_free(keep);
        *nomem = true;
        nasc_errorf(err, NASC_ERR_NOMEM, "model-based strategy: out of memory");
        return n;
    }
    for (int i = 0; i < n; i++)
        r[i] = (ranked){y[i], i};
    qsort(r, (size_t)n, sizeof *r, by_target_desc);
    int kept = 0;
    for (int i = 0; i < max / 2; i++, kept++)
        keep[r[i].i] = true;
    for (int i = n - 1; i >= 0 && kept < max; i--)
        if (!keep[i]) {
            keep[i] = true;
            kept++;
        }
    int m = 0;
    for (int i = 0; i < n; i++)
        if (keep[i]) {
            ok[m] = ok[i];
            y[m++] = y[i];
        }
    nasc_free(r);
    nasc_free(keep);
    return m;
}

/* Queues candidate i of a batch: marks it proposed, pushes it and takes it from the list (the
 * queue owns it now). */
static nasc_status queue_pick(learn_base *b, nasc_arch **cand, size_t i, nasc_err *err) {
    nasc_learn_mark(b, cand[i]);
    nasc_status st = nasc_learn_push(b, cand[i], 0.0, err);
    cand[i] = NULL;
    return st;
}

/* Two objectives with mo=ehvi: the surrogate models the accuracy, a ridge regression the cost,
 * candidates are the neighbours of the front (its members inside the reference box, at least the
 * `top` best-ranked trials; `mutations` and `random` do not apply), and the batch maximises the
 * expected hypervolume improvement over the front so far (each pick's predicted point joins the
 * front for the next pick: the "kriging believer"). */
static nasc_status iterate_ehvi(nasc_strategy *s, mbo *m, nasc_err *err) {
    learn_base *b = &m->b;
    const int n = b->n_hist;
    const size_t L = m->enc_len;
    double ref[2];
    if (!nasc_mo_reference(b, m->c.n_init, m->c.ref_q, ref)) { /* nothing known yet */
        nasc_arch *a;
        NASC_TRY(nasc_learn_random_unseen(s, b, &a, err));
        return nasc_learn_push(b, a, 0.0, err);
    }
    nasc_arch **ok = nasc_malloc(sizeof *ok * (size_t)(n + 1));
    double *ya = nasc_malloc(sizeof(double) * (size_t)(n + 1));
    double *yc = nasc_malloc(sizeof(double) * (size_t)(n + 1));
    double *yr = nasc_malloc(sizeof(double) * (size_t)(n + 1));
    float *X = nasc_malloc(sizeof(float) * (size_t)(n + 1) * L);
    float *Xc = NULL;
    double *mu = NULL, *sd = NULL, *cost = NULL;
    nasc_arch **cand = NULL;
    size_t n_cand = 0;
    mo_front f = {0};
    nasc_status st = NASC_OK;
    if (!ok || !ya || !yc || !yr || !X) {
        st = nasc_errorf(err, NASC_ERR_NOMEM, "strategy %s: out of memory", s->iface->name);
        goto done;
    }
    int n_ok = nasc_mo_gather(b, ref, m->c.clip, ok, ya, yc);
    if (n_ok < 2) {
        nasc_arch *a;
        if ((st = nasc_learn_random_unseen(s, b, &a, err)) == NASC_OK)
            st = nasc_learn_push(b, a, 0.0, err);
        goto done;
    }
    if ((st = nasc_learn_encode(ok, (size_t)n_ok, m->c.enc, L, X, err)) != NASC_OK ||
        (st = nasc_learn_model_fit(&m->model, X, ya, n_ok, err)) != NASC_OK)
        goto done;
    int in_box = nasc_mo_rank_targets(b, ref, yr, err);
    if (in_box < 0) {
        st = NASC_ERR_NOMEM;
        goto done;
    }
    /* the neighbours of the front only (mutations and uniform samples did worse on validation:
     * docs/STRATEGIES.md §4) */
    st = nasc_learn_candidates(s, b, yr, in_box > m->c.top ? in_box : m->c.top, 0, m->c.max_edits,
                               0, &cand, &n_cand, err);
    if (st != NASC_OK)
        goto done;
    if (!n_cand) {
        nasc_arch *a;
        if ((st = nasc_learn_random_unseen(s, b, &a, err)) == NASC_OK)
            st = nasc_learn_push(b, a, 0.0, err);
        goto done;
    }
    Xc = nasc_malloc(sizeof(float) * n_cand * L);
    mu = nasc_malloc(sizeof(double) * n_cand);
    sd = nasc_malloc(sizeof(double) * n_cand);
    cost = nasc_malloc(sizeof(double) * n_cand);
    if (!Xc || !mu || !sd || !cost) {
        st = nasc_errorf(err, NASC_ERR_NOMEM, "strategy %s: out of memory", s->iface->name);
        goto done;
    }
    if ((st = nasc_learn_encode(cand, n_cand, m->c.enc, L, Xc, err)) != NASC_OK ||
        (st = nasc_learn_model_predict(&m->model, Xc, (int)n_cand, mu, sd, err)) != NASC_OK ||
        (st = nasc_mo_ridge(X, yc, n_ok, (int)L, m->c.lambda, Xc, (int)n_cand, cost, err)) !=
            NASC_OK)
        goto done;
    if ((st = nasc_mo_front_build(b, ref, &f, err)) != NASC_OK)
        goto done;
    for (int k = 0; k < m->c.batch && (size_t)k < n_cand && st == NASC_OK; k++) {
        size_t bi = 0;
        double best = -1.0;
        for (size_t i = 0; i < n_cand; i++) {
            if (!cand[i])
                continue;
            double v = nasc_mo_ehvi(&f, mu[i], sd[i], cost[i]);
            if (v > best) {
                best = v;
                bi = i;
            }
        }
        if (best < 0.0)
            break;
        if ((st = nasc_mo_front_add(&f, mu[bi], cost[bi], err)) != NASC_OK)
            break;
        st = queue_pick(b, cand, bi, err);
    }
done:
    if (cand)
        nasc_arch_list_free(cand, n_cand);
    nasc_mo_front_free(&f);
    nasc_free(ok);
    nasc_free(ya);
    nasc_free(yc);
    nasc_free(yr);
    nasc_free(X);
    nasc_free(Xc);
    nasc_free(mu);
    nasc_free(sd);
    nasc_free(cost);
    return st;
}

/* Fits the surrogate and queues the batch (see the header comment). */
static nasc_status iterate(nasc_strategy *s, mbo *m, nasc_err *err) {
    learn_base *b = &m->b;
    if (b->n_obj == 2 && m->c.ehvi)
        return iterate_ehvi(s, m, err);
    nasc_learn_draw_weights(s, b);
    const int n = b->n_hist;
    double *y = nasc_malloc(sizeof(double) * (size_t)(n + 1));
    nasc_arch **ok = nasc_malloc(sizeof *ok * (size_t)(n + 1));
    double *yok = nasc_malloc(sizeof(double) * (size_t)(n + 1));
    float *X = NULL, *Xc = NULL;
    double *mu = NULL, *sd = NULL, *acq = NULL;
    nasc_arch **cand = NULL;
    size_t n_cand = 0;
    nasc_status st = NASC_OK;
    if (!y || !ok || !yok) {
        st = nasc_errorf(err, NASC_ERR_NOMEM, "strategy %s: out of memory", s->iface->name);
        goto done;
    }
    nasc_learn_targets(b, y);
    int n_ok = 0;
    double best = -INFINITY;
    for (int i = 0; i < n; i++)
        if (isfinite(y[i])) {
            ok[n_ok] = b->hist[i].arch;
            yok[n_ok++] = y[i];
            best = fmax(best, y[i]);
        }
    nasc_learn_floor(yok, n_ok, m->c.floor_q);
    if (m->c.max_fit > 0 && n_ok > m->c.max_fit) {
        bool nomem = false;
        n_ok = fit_subset(ok, yok, n_ok, m->c.max_fit, err, &nomem);
        if (nomem) {
            st = NASC_ERR_NOMEM;
            goto done;
        }
    }
    if (n_ok < 2) { /* nothing to learn from yet */
        nasc_arch *a;
        for (int k = 0; k < m->c.batch && st == NASC_OK; k++) {
            st = nasc_learn_random_unseen(s, b, &a, err);
            if (st == NASC_OK)
                st = nasc_learn_push(b, a, 0.0, err);
        }
        goto done;
    }
    X = nasc_malloc(sizeof(float) * (size_t)n_ok * m->enc_len);
    if (!X) {
        st = nasc_errorf(err, NASC_ERR_NOMEM, "strategy %s: out of memory", s->iface->name);
        goto done;
    }
    if ((st = nasc_learn_encode(ok, (size_t)n_ok, m->c.enc, m->enc_len, X, err)) != NASC_OK ||
        (st = nasc_learn_model_fit(&m->model, X, yok, n_ok, err)) != NASC_OK)
        goto done;
    st = nasc_learn_candidates(s, b, y, m->c.top, m->c.n_mut, m->c.max_edits, m->c.n_rand, &cand,
                               &n_cand, err);
    if (st != NASC_OK)
        goto done;
    if (!n_cand) { /* every candidate was proposed before: fall back to uniform samples */
        nasc_arch *a;
        st = nasc_learn_random_unseen(s, b, &a, err);
        if (st == NASC_OK)
            st = nasc_learn_push(b, a, 0.0, err);
        goto done;
    }
    Xc = nasc_malloc(sizeof(float) * n_cand * m->enc_len);
    mu = nasc_malloc(sizeof(double) * n_cand);
    sd = nasc_malloc(sizeof(double) * n_cand);
    acq = nasc_malloc(sizeof(double) * n_cand);
    if (!Xc || !mu || !sd || !acq) {
        st = nasc_errorf(err, NASC_ERR_NOMEM, "strategy %s: out of memory", s->iface->name);
        goto done;
    }
    if ((st = nasc_learn_encode(cand, n_cand, m->c.enc, m->enc_len, Xc, err)) != NASC_OK ||
        (st = nasc_learn_model_predict(&m->model, Xc, (int)n_cand, mu, sd, err)) != NASC_OK)
        goto done;
    for (size_t i = 0; i < n_cand; i++) {
        switch (m->c.acq) {
        case MBO_EI:
            acq[i] = nasc_expected_improvement(mu[i], sd[i] * sd[i], best, m->c.xi);
            break;
        case MBO_UCB:
            acq[i] = mu[i] + m->c.beta * sd[i];
            break;
        default: /* MBO_ITS */
            acq[i] = mu[i] + sd[i] * (double)nasc_rng_normal(&s->rng);
            break;
        }
    }
    /* the batch: repeatedly the first best remaining candidate */
    for (int k = 0; k < m->c.batch && (size_t)k < n_cand && st == NASC_OK; k++) {
        size_t bi = 0;
        for (size_t i = 1; i < n_cand; i++)
            if (acq[i] > acq[bi])
                bi = i;
        if (acq[bi] == -(double)INFINITY)
            break;
        acq[bi] = -INFINITY;
        st = queue_pick(b, cand, bi, err);
    }
done:
    if (cand)
        nasc_arch_list_free(cand, n_cand);
    nasc_free(y);
    nasc_free(ok);
    nasc_free(yok);
    nasc_free(X);
    nasc_free(Xc);
    nasc_free(mu);
    nasc_free(sd);
    nasc_free(acq);
    return st;
}

nasc_status nasc_mbo_ask(nasc_strategy *s, nasc_proposal *out, nasc_err *err) {
    mbo *m = s->impl;
    if (nasc_learn_pop(&m->b, out))
        return NASC_OK;
    if (s->n_asked < m->c.n_init) {
        NASC_TRY(nasc_learn_random_unseen(s, &m->b, &out->arch, err));
        return NASC_OK;
    }
    if (!nasc_learn_ready(s))
        return NASC_OK; /* wait */
    NASC_TRY(iterate(s, m, err));
    nasc_learn_pop(&m->b, out);
    return NASC_OK;
}

nasc_status nasc_mbo_tell(nasc_strategy *s, int64_t trial, const nasc_arch *arch, double fidelity,
                          const nasc_trial_result *r, nasc_err *err) {
    (void)trial;
    mbo *m = s->impl;
    return nasc_learn_record(&m->b, arch, fidelity, r, err);
}

nasc_status nasc_mbo_save(const nasc_strategy *s, void **out_buf, size_t *out_len, nasc_err *err) {
    const mbo *m = s->impl;
    nasc_buf b = {0};
    nasc_learn_save(&m->b, &b);
    nasc_learn_model_save(&m->model, &b);
    return nasc_buf_take(&b, out_buf, out_len, "strategy state", err);
}

nasc_status nasc_mbo_load(nasc_strategy *s, const void *buf, size_t len, nasc_err *err) {
    mbo *m = s->impl;
    nasc_reader r = {buf, len, false};
    NASC_TRY(nasc_learn_load(&m->b, &r, err));
    nasc_learn_model_load(&m->model, &r);
    if (r.bad || r.left)
        return nasc_errorf(err, NASC_ERR_FORMAT, "strategy %s: bad snapshot", s->iface->name);
    return NASC_OK;
}

void nasc_mbo_free(void *impl) {
    mbo *m = impl;
    if (!m)
        return;
    nasc_learn_deinit(&m->b);
    nasc_learn_model_free(&m->model);
    nasc_free(m);
}
