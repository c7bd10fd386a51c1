/* mo.c — expected hypervolume improvement and the linear cost model of model-based two-objective
 * search (mo_int.h). */
#include "mo_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double nasc_mo_quantile(double *v, int n, double q) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    double pos = q * (double)(n - 1);
    int i = (int)pos;
    if (i >= n - 1)
        return v[n - 1];
    return v[i] + (pos - (double)i) * (v[i + 1] - v[i]);
}

bool nasc_mo_reference(const learn_base *b, int n_ref, double q, double ref[2]) {
    double a[64], c[64];
    int n = 0;
    for (int i = 0; i < b->n_hist && i < n_ref && n < 64; i++) {
        const learn_trial *t = &b->hist[i];
        if (t->n_obj >= 2 && isfinite(t->fitness) && isfinite(t->obj[0]) && isfinite(t->obj[1])) {
            a[n] = t->obj[0];
            c[n++] = t->obj[1];
        }
    }
    if (!n)
        return false;
    ref[0] = nasc_mo_quantile(a, n, q);
    ref[1] = nasc_mo_quantile(c, n, 1.0 - q);
    /* never cut off the most accurate architecture found: the cost reference is at least 10 %
     * above its cost (the nadir of the front in cost, with a margin) */
    double best = -INFINITY, best_cost = 0.0;
    for (int i = 0; i < b->n_hist; i++) {
        const learn_trial *t = &b->hist[i];
        if (t->n_obj >= 2 && isfinite(t->fitness) && isfinite(t->obj[0]) && isfinite(t->obj[1]) &&
            (t->obj[0] > best || (t->obj[0] == best && t->obj[1] < best_cost))) {
            best = t->obj[0];
            best_cost = t->obj[1];
        }
    }
    ref[1] = fmax(ref[1], 1.1 * best_cost);
    return true;
}

int nasc_mo_gather(const learn_base *b, const double ref[2], bool clip, nasc_arch **arch,
                   double *acc, double *cost) {
    int n = 0;
    for (int i = 0; i < b->n_hist; i++) {
        const learn_trial *t = &b->hist[i];
        if (isfinite(t->fitness) && t->n_obj >= 2 && isfinite(t->obj[0]) && isfinite(t->obj[1])) {
            arch[n] = t->arch;
            acc[n] = clip ? fmax(t->obj[0], ref[0]) : t->obj[0];
            cost[n++] = t->obj[1];
        }
    }
    return n;
}

static nasc_status front_grow(mo_front *f, nasc_err *err) {
    if (f->n < f->cap)
        return NASC_OK;
    int cap = f->cap ? 2 * f->cap : 32;
    double *a = nasc_realloc(f->acc, sizeof(double) * (size_t)cap);
    if (!a)
        return nasc_errorf(err, NASC_ERR_NOMEM, "out of memory");
    f->acc = a;
    double *c = nasc_realloc(f->cost, sizeof(double) * (size_t)cap);
    if (!c)
        return nasc_errorf(err, NASC_ERR_NOMEM, "out of memory");
    f->cost = c;
    f->cap = cap;
    return NASC_OK;
}

nasc_status nasc_mo_front_add(mo_front *f, double acc, double cost, nasc_err *err) {
    if (!(acc > f->ref[0] && cost < f->ref[1]))
        return NASC_OK;
    /* dominated (or equalled) by a point already there? */
    for (int i = 0; i < f->n; i++)
        if (f->cost[i] <= cost && f->acc[i] >= acc)
            return NASC_OK;
    /* drop the points it dominates, insert keeping the cost order */
    int m = 0;
    for (int i = 0; i < f->n; i++)
        if (!(cost <= f->cost[i] && acc >= f->acc[i])) {
            f->acc[m] = f->acc[i];
            f->cost[m++] = f->cost[i];
        }
    f->n = m;
    NASC_TRY(front_grow(f, err));
    int k = f->n;
    while (k > 0 && f->cost[k - 1] > cost) {
        f->cost[k] = f->cost[k - 1];
        f->acc[k] = f->acc[k - 1];
        k--;
    }
    f->cost[k] = cost;
    f->acc[k] = acc;
    f->n++;
    return NASC_OK;
}

nasc_status nasc_mo_front_build(const learn_base *b, const double ref[2], mo_front *f,
                                nasc_err *err) {
    f->n = 0;
    f->ref[0] = ref[0];
    f->ref[1] = ref[1];
    for (int i = 0; i < b->n_hist; i++) {
        const learn_trial *t = &b->hist[i];
        if (t->n_obj >= 2 && isfinite(t->fitness) && isfinite(t->obj[0]) && isfinite(t->obj[1]))
            NASC_TRY(nasc_mo_front_add(f, t->obj[0], t->obj[1], err));
    }
    return NASC_OK;
}

void nasc_mo_front_free(mo_front *f) {
    nasc_free(f->acc);
    nasc_free(f->cost);
    memset(f, 0, sizeof *f);
}

double nasc_mo_ehvi(const mo_front *f, double mu, double sd, double cost) {
    if (!(cost < f->ref[1]))
        return 0.0;
    /* level at `cost`: the best accuracy of the points no dearer (the staircase is increasing) */
    double level = f->ref[0];
    int i = 0;
    while (i < f->n && f->cost[i] <= cost)
        level = f->acc[i++];
    double var = sd * sd, sum = 0.0, from = cost;
    for (; i <= f->n; i++) {
        double to = i < f->n ? f->cost[i] : f->ref[1];
        sum += (to - from) * nasc_expected_improvement(mu, var, level, 0.0);
        if (i < f->n)
            level = f->acc[i];
        from = to;
    }
    return sum;
}

/* Solves A x = r in place (A d x d symmetric positive definite, row-major; Cholesky). */
static bool chol_solve(double *A, double *r, int d) {
    for (int j = 0; j < d; j++) {
        double s = A[j * d + j];
        for (int k = 0; k < j; k++)
            s -= A[j * d + k] * A[j * d + k];
        if (!(s > 0.0))
            return false;
        A[j * d + j] = sqrt(s);
        for (int i = j + 1; i < d; i++) {
            double t = A[i * d + j];
            for (int k = 0; k < j; k++)
                t -= A[i * d + k] * A[j * d + k];
            A[i * d + j] = t / A[j * d + j];
        }
    }
    for (int i = 0; i < d; i++) { /* L z = r */
        double t = r[i];
        for (int k = 0; k < i; k++)
            t -= A[i * d + k] * r[k];
        r[i] = t / A[i * d + i];
    }
    for (int i = d - 1; i >= 0; i--) { /* L^T x = z */
        double t = r[i];
        for (int k = i + 1; k < d; k++)
            t -= A[k * d + i] * r[k];
        r[i] = t / A[i * d + i];
    }
    return true;
}

nasc_status nasc_mo_ridge(const float *X, const double *y, int n, int d, double lambda,
                          const float *Xq, int m, double *pred, nasc_err *err) {
    double *xm = nasc_calloc((size_t)d, sizeof(double));
    double *A = nasc_calloc((size_t)d * (size_t)d, sizeof(double));
    double *r = nasc_calloc((size_t)d, sizeof(double));
    if (!xm || !A || !r) {
        nasc_free(xm);
        nasc_free(A);
        nasc_free(r);
        return nasc_errorf(err, NASC_ERR_NOMEM, "cost model: out of memory");
    }
    double ym = 0.0;
    for (int i = 0; i < n; i++) {
        ym += y[i];
        for (int j = 0; j < d; j++)
            xm[j] += (double)X[(size_t)i * d + j];
    }
    ym /= n;
    for (int j = 0; j < d; j++)
        xm[j] /= n;
    for (int i = 0; i < n; i++) {
        const float *x = X + (size_t)i * d;
        double yc = y[i] - ym;
        for (int j = 0; j < d; j++) {
            double xj = (double)x[j] - xm[j];
            if (xj == 0.0)
                continue;
            r[j] += xj * yc;
            for (int k = 0; k <= j; k++)
                A[j * d + k] += xj * ((double)x[k] - xm[k]);
        }
    }
    for (int j = 0; j < d; j++) {
        A[j * d + j] += lambda;
        for (int k = 0; k < j; k++)
            A[k * d + j] = A[j * d + k];
    }
    bool ok = chol_solve(A, r, d);
    if (ok)
        for (int i = 0; i < m; i++) {
            double p = ym;
            for (int j = 0; j < d; j++)
                p += r[j] * ((double)Xq[(size_t)i * d + j] - xm[j]);
            pred[i] = p;
        }
    else /* cannot happen with lambda > 0; the mean is the safe answer */
        for (int i = 0; i < m; i++)
            pred[i] = ym;
    nasc_free(xm);
    nasc_free(A);
    nasc_free(r);
    return NASC_OK;
}

int nasc_mo_rank_targets(const learn_base *b, const double ref[2], double *y, nasc_err *err) {
    const int n = b->n_hist;
    double *obj = nasc_malloc(sizeof(double) * 2 * (size_t)(n ? n : 1));
    int *rank = nasc_malloc(sizeof(int) * (size_t)(n ? n : 1));
    if (!obj || !rank) {
        nasc_free(obj);
        nasc_free(rank);
        nasc_errorf(err, NASC_ERR_NOMEM, "out of memory");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const learn_trial *t = &b->hist[i];
        bool ok = isfinite(t->fitness) && t->n_obj >= 2;
        obj[2 * i] = ok ? t->obj[0] : (double)NAN;
        obj[2 * i + 1] = ok ? t->obj[1] : (double)NAN;
    }
    if (n && nasc_pareto_sort(obj, n, 2, rank) < 0) {
        nasc_free(obj);
        nasc_free(rank);
        nasc_errorf(err, NASC_ERR_NOMEM, "out of memory");
        return -1;
    }
    int in_box = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(b->hist[i].fitness) || isnan(obj[2 * i]) || isnan(obj[2 * i + 1])) {
            y[i] = -(double)INFINITY;
            continue;
        }
        bool box = obj[2 * i] > ref[0] && obj[2 * i + 1] < ref[1];
        y[i] = -(double)rank[i] - (box ? 0.0 : 0.5);
        in_box += box && rank[i] == 0;
    }
    nasc_free(obj);
    nasc_free(rank);
    return in_box;
}

nasc_status nasc_mo_screen(const nasc_strategy *s, const learn_base *b, int ref_n, int min_fit,
                           nasc_arch *const *c, int n, int *pick, nasc_err *err) {
    *pick = -1;
    size_t L = nasc_space_encoding_len(s->space, NASC_ENC_ONEHOT);
    double ref[2];
    if (!L || !nasc_mo_reference(b, ref_n, 0.5, ref))
        return NASC_OK;
    const int nh = b->n_hist;
    nasc_arch **ok = nasc_malloc(sizeof *ok * (size_t)(nh + n + 1));
    double *ya = nasc_malloc(sizeof(double) * (size_t)(nh + 1));
    double *yc = nasc_malloc(sizeof(double) * (size_t)(nh + 1));
    double *pa = nasc_malloc(sizeof(double) * (size_t)(nh + n + 1));
    double *pc = nasc_malloc(sizeof(double) * (size_t)(nh + n + 1));
    float *X = nasc_calloc((size_t)(nh + n + 1) * L, sizeof(float));
    mo_front f = {0};
    nasc_status st = NASC_OK;
    if (!ok || !ya || !yc || !pa || !pc || !X) {
        st = nasc_errorf(err, NASC_ERR_NOMEM, "strategy %s: out of memory", s->iface->name);
        goto done;
    }
    int m = nasc_mo_gather(b, ref, true, ok, ya, yc);
    if (m < min_fit || m < 2)
        goto done;
    for (int i = 0; i < n; i++)
        ok[m + i] = c[i];
    if ((st = nasc_learn_encode(ok, (size_t)(m + n), NASC_ENC_ONEHOT, L, X, err)) != NASC_OK ||
        (st = nasc_mo_ridge(X, ya, m, (int)L, 1.0, X, m + n, pa, err)) != NASC_OK ||
        (st = nasc_mo_ridge(X, yc, m, (int)L, 0.1, X, m + n, pc, err)) != NASC_OK ||
        (st = nasc_mo_front_build(b, ref, &f, err)) != NASC_OK)
        goto done;
    double rss = 0.0;
    for (int i = 0; i < m; i++)
        rss += (ya[i] - pa[i]) * (ya[i] - pa[i]);
    double sd = sqrt(rss / m);
    double best = -1.0;
    for (int i = 0; i < n; i++) {
        double v = nasc_mo_ehvi(&f, pa[m + i], sd, pc[m + i]);
        if (v > best) {
            best = v;
            *pick = i;
        }
    }
done:
    nasc_mo_front_free(&f);
    nasc_free(ok);
    nasc_free(ya);
    nasc_free(yc);
    nasc_free(pa);
    nasc_free(pc);
    nasc_free(X);
    return st;
}

nasc_status nasc_mo_pool_init(mo_pool *p, int cap, const nasc_strategy *s, nasc_err *err) {
    p->c = nasc_calloc((size_t)cap, sizeof *p->c);
    p->keys = nasc_calloc((size_t)cap, sizeof *p->keys);
    p->n = 0;
    p->cap = cap;
    if (!p->c || !p->keys)
        return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", s->iface->name);
    return NASC_OK;
}

bool nasc_mo_pool_add(mo_pool *p, const learn_base *b, nasc_arch *a) {
    uint64_t k = nasc_learn_key(a);
    bool dup = nasc_learn_set_has(&b->seen, k) || p->n >= p->cap;
    for (int i = 0; i < p->n && !dup; i++)
        dup = p->keys[i] == k;
    if (dup) {
        nasc_arch_free(a);
        return false;
    }
    p->keys[p->n] = k;
    p->c[p->n++] = a;
    return true;
}

nasc_status nasc_mo_pool_add_neighbours(nasc_strategy *s, const learn_base *b, mo_pool *p,
                                        int ref_n, int n, nasc_err *err) {
    double ref[2];
    if (n <= 0 || b->n_obj != 2 || !nasc_mo_reference(b, ref_n, 0.5, ref))
        return NASC_OK;
    const int nh = b->n_hist;
    double *y = nasc_malloc(sizeof(double) * (size_t)(nh ? nh : 1));
    int *fr = nasc_malloc(sizeof(int) * (size_t)(nh ? nh : 1));
    if (!y || !fr) {
        nasc_free(y);
        nasc_free(fr);
        return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", s->iface->name);
    }
    nasc_status st = NASC_OK;
    int m = 0;
    if (nasc_mo_rank_targets(b, ref, y, err) < 0)
        st = NASC_ERR_NOMEM;
    for (int i = 0; i < nh && st == NASC_OK; i++)
        if (y[i] == 0.0)
            fr[m++] = i;
    for (int k = 0, added = 0; k < 4 * n && added < n && m && st == NASC_OK; k++) {
        nasc_arch *a = NULL;
        const nasc_arch *par = b->hist[fr[nasc_rng_below(&s->rng, (uint32_t)m)]].arch;
        if ((st = nasc_arch_mutate(par, &s->rng, &a, err)) == NASC_OK)
            added += nasc_mo_pool_add(p, b, a);
    }
    nasc_free(y);
    nasc_free(fr);
    return st;
}

nasc_status nasc_mo_pool_take(const nasc_strategy *s, learn_base *b, mo_pool *p, int ref_n,
                              int min_fit, nasc_arch **out, int *pick, nasc_err *err) {
    nasc_status st = nasc_mo_screen(s, b, ref_n, min_fit, p->c, p->n, pick, err);
    if (st != NASC_OK)
        return st;
    if (*pick < 0)
        *pick = 0;
    nasc_learn_mark(b, p->c[*pick]);
    *out = p->c[*pick];
    p->c[*pick] = NULL;
    return NASC_OK;
}

void nasc_mo_pool_free(mo_pool *p) {
    if (p->c)
        for (int i = 0; i < p->n; i++)
            nasc_arch_free(p->c[i]);
    nasc_free(p->c);
    nasc_free(p->keys);
    *p = (mo_pool){0};
}

void nasc_mo_hv_contribution(const double *obj, const int *idx, int m, const double ref[2],
                             double *hvc) {
    for (int k = 0; k < m; k++) {
        const double *v = obj + (size_t)idx[k] * 2;
        if (!(v[0] > ref[0] && v[1] < ref[1])) {
            hvc[k] = 0.0;
            continue;
        }
        /* the nearest neighbours inside the box: cheaper (less accurate) and dearer (more) */
        double acc_below = ref[0], cost_above = ref[1];
        for (int j = 0; j < m; j++) {
            const double *u = obj + (size_t)idx[j] * 2;
            if (j == k || !(u[0] > ref[0] && u[1] < ref[1]))
                continue;
            if (u[1] < v[1] || (u[1] == v[1] && u[0] < v[0]))
                acc_below = fmax(acc_below, u[0]);
            else if (u[1] > v[1] || u[0] > v[0])
                cost_above = fmin(cost_above, u[1]);
        }
        hvc[k] = fmax(0.0, v[0] - acc_below) * fmax(0.0, cost_above - v[1]);
    }
}

nasc_status nasc_mo_targets(const learn_base *b, int ref_n, double *y, bool *done, nasc_err *err) {
    double ref[2];
    *done = false;
    if (b->n_obj != 2 || !nasc_mo_reference(b, ref_n, 0.5, ref))
        return NASC_OK;
    const int n = b->n_hist;
    if (nasc_mo_rank_targets(b, ref, y, err) < 0)
        return NASC_ERR_NOMEM;
    int *fr = nasc_malloc(sizeof(int) * (size_t)(n ? n : 1));
    double *obj = nasc_malloc(sizeof(double) * 2 * (size_t)(n ? n : 1));
    double *hvc = nasc_malloc(sizeof(double) * (size_t)(n ? n : 1));
    if (!fr || !obj || !hvc) {
        nasc_free(fr);
        nasc_free(obj);
        nasc_free(hvc);
        return nasc_errorf(err, NASC_ERR_NOMEM, "out of memory");
    }
    int m = 0;
    for (int i = 0; i < n; i++) {
        obj[2 * i] = b->hist[i].obj[0];
        obj[2 * i + 1] = b->hist[i].obj[1];
        if (y[i] == 0.0) /* the front inside the box */
            fr[m++] = i;
    }
    nasc_mo_hv_contribution(obj, fr, m, ref, hvc);
    double top = 0.0;
    for (int k = 0; k < m; k++)
        top = fmax(top, hvc[k]);
    for (int k = 0; k < m && top > 0.0; k++)
        y[fr[k]] = 0.49 * hvc[k] / top;
    nasc_free(fr);
    nasc_free(obj);
    nasc_free(hvc);
    *done = true;
    return NASC_OK;
}
