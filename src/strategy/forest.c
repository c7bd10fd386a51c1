/* forest.c — random-forest regression in the style of SMAC (Hutter, Hoos & Leyton-Brown,
 * "Sequential Model-Based Optimization for General Algorithm Configuration", LION 2011, sec. 4.1).
 *
 * Each tree is a CART regression tree grown on a bootstrap sample of the points: at every node a
 * random subset of ceil(max_features * dim) features is tried, and the split (threshold halfway
 * between consecutive distinct values) that most reduces the sum of squared errors wins; a node
 * becomes a leaf below min_samples_split points, at max_depth, when no split leaves
 * min_samples_leaf points on both sides, or when its targets are all equal. A leaf keeps the mean
 * and the (population) variance of its targets. Features that are 0/1 in a node (the one-hot and
 * path encodings) have a single split point, found without sorting.
 *
 * Prediction: mu = mean over trees of the leaf means; var = mean over trees of (leaf var + leaf
 * mean^2) - mu^2 (the law of total variance over the mixture of the trees' leaves, as pyrfr).
 *
 * All randomness of the k-th fit comes from Philox (seed, stream NASC_STREAM_USER + k), so a fit is
 * a pure function of (data, seed, k). */
#include "learn_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct tnode {
    int feature;      /* -1 for a leaf */
    float threshold;  /* go left if x[feature] <= threshold */
    int left, right;  /* child node indices */
    double mean, var; /* leaf statistics */
} tnode;

typedef struct tree {
    tnode *nodes;
    int n, cap;
} tree;

struct nasc_forest {
    nasc_forest_config cfg;
    int dim;
    uint64_t seed;
    uint64_t n_fits;
    tree *trees;
    /* scratch of one fit */
    const float *X;
    const double *y;
    int *idx, *tmp, *feat;
    double *vals;
    nasc_rng rng;
};

nasc_status nasc_forest_new(const nasc_forest_config *cfg, int dim, uint64_t seed,
                            nasc_forest **out, nasc_err *err) {
    *out = NULL;
    if (dim < 1)
        return nasc_errorf(err, NASC_ERR_ARG, "forest: bad dimension %d", dim);
    nasc_forest *f = nasc_calloc(1, sizeof *f);
    if (!f)
        return nasc_errorf(err, NASC_ERR_NOMEM, "forest: out of memory");
    if (cfg)
        f->cfg = *cfg;
    if (f->cfg.n_trees <= 0)
        f->cfg.n_trees = 32;
    if (!(f->cfg.max_features > 0.0 && f->cfg.max_features <= 1.0))
        f->cfg.max_features = 5.0 / 6.0;
    if (f->cfg.min_samples_split <= 0)
        f->cfg.min_samples_split = 3;
    if (f->cfg.min_samples_leaf <= 0)
        f->cfg.min_samples_leaf = 1;
    if (f->cfg.max_depth <= 0)
        f->cfg.max_depth = 20;
    f->dim = dim;
    f->seed = seed;
    f->trees = nasc_calloc((size_t)f->cfg.n_trees, sizeof *f->trees);
    if (!f->trees) {
        nasc_free(f);
        return nasc_errorf(err, NASC_ERR_NOMEM, "forest: out of memory");
    }
    *out = f;
    return NASC_OK;
}

void nasc_forest_free(nasc_forest *f) {
    if (!f)
        return;
    for (int t = 0; t < f->cfg.n_trees; t++)
        nasc_free(f->trees[t].nodes);
    nasc_free(f->trees);
    nasc_free(f);
}

uint64_t nasc_forest_fit_count(const nasc_forest *f) {
    return f->n_fits;
}
void nasc_forest_set_fit_count(nasc_forest *f, uint64_t k) {
    f->n_fits = k;
}

static int node_new(tree *t) {
    if (t->n == t->cap) {
        int cap = t->cap ? 2 * t->cap : 64;
        tnode *nn = nasc_realloc(t->nodes, sizeof *nn * (size_t)cap);
        if (!nn)
            return -1;
        t->nodes = nn;
        t->cap = cap;
    }
    memset(&t->nodes[t->n], 0, sizeof t->nodes[0]);
    t->nodes[t->n].feature = -1;
    return t->n++;
}

static const float *sort_col;
static int sort_dim, sort_feat;
static int cmp_feat(const void *a, const void *b) {
    float u = sort_col[(size_t) * (const int *)a * (size_t)sort_dim + (size_t)sort_feat];
    float v = sort_col[(size_t) * (const int *)b * (size_t)sort_dim + (size_t)sort_feat];
    if (u != v)
        return u < v ? -1 : 1;
    return *(const int *)a - *(const int *)b; /* stable: the same split on any libc */
}

/* Grows the subtree of points idx[0..n) at depth; returns its node index or -1 on OOM. */
static int grow(nasc_forest *f, tree *t, int *idx, int n, int depth) {
    int id = node_new(t);
    if (id < 0)
        return -1;
    double m = 0.0, v = 0.0;
    for (int i = 0; i < n; i++)
        m += f->y[idx[i]];
    m /= n;
    for (int i = 0; i < n; i++)
        v += (f->y[idx[i]] - m) * (f->y[idx[i]] - m);
    t->nodes[id].mean = m;
    t->nodes[id].var = v / n;
    const nasc_forest_config *c = &f->cfg;
    if (n < c->min_samples_split || depth >= c->max_depth || v <= 1e-12 * n)
        return id;
    const int d = f->dim;
    int k = (int)ceil(c->max_features * d);
    if (k < 1)
        k = 1;
    for (int j = 0; j < d; j++)
        f->feat[j] = j;
    double best_gain = 1e-12, best_thr = 0.0;
    int best_feat = -1;
    double tot = m * n;
    for (int j = 0; j < k; j++) {
        int r = j + (int)nasc_rng_below(&f->rng, (uint32_t)(d - j));
        int fe = f->feat[r];
        f->feat[r] = f->feat[j];
        f->feat[j] = fe;
        /* binary features (one-hot and path encodings): one split point, no sort */
        bool binary = true;
        double s0 = 0.0;
        int n0 = 0;
        for (int i = 0; i < n && binary; i++) {
            float xv = f->X[(size_t)idx[i] * (size_t)d + (size_t)fe];
            binary = xv == 0.0f || xv == 1.0f;
            if (xv == 0.0f) {
                s0 += f->y[idx[i]];
                n0++;
            }
        }
        if (binary) {
            int n1 = n - n0;
            if (n0 >= c->min_samples_leaf && n1 >= c->min_samples_leaf && n0 && n1) {
                double s1 = tot - s0;
                double gain = s0 * s0 / n0 + s1 * s1 / n1 - tot * tot / n;
                if (gain > best_gain) {
                    best_gain = gain;
                    best_feat = fe;
                    best_thr = 0.5;
                }
            }
            continue;
        }
        memcpy(f->tmp, idx, sizeof(int) * (size_t)n);
        sort_col = f->X;
        sort_dim = d;
        sort_feat = fe;
        qsort(f->tmp, (size_t)n, sizeof(int), cmp_feat);
        /* SSE reduction of a split = nl*ml^2 + nr*mr^2 - n*m^2 */
        double sl = 0.0;
        for (int i = 0; i < n - 1; i++) {
            sl += f->y[f->tmp[i]];
            int nl = i + 1, nr = n - nl;
            float a = f->X[(size_t)f->tmp[i] * (size_t)d + (size_t)fe];
            float b = f->X[(size_t)f->tmp[i + 1] * (size_t)d + (size_t)fe];
            if (a == b || nl < c->min_samples_leaf || nr < c->min_samples_leaf)
                continue;
            double sr = tot - sl;
            double gain = sl * sl / nl + sr * sr / nr - tot * tot / n;
            if (gain > best_gain) {
                best_gain = gain;
                best_feat = fe;
                best_thr = 0.5 * ((double)a + (double)b);
            }
        }
    }
    if (best_feat < 0)
        return id;
    /* partition idx in place (order kept on both sides) */
    int nl = 0, nr = 0;
    for (int i = 0; i < n; i++) {
        float xv = f->X[(size_t)idx[i] * (size_t)d + (size_t)best_feat];
        if ((double)xv <= best_thr)
            idx[nl++] = idx[i];
        else
            f->tmp[nr++] = idx[i];
    }
    memcpy(idx + nl, f->tmp, sizeof(int) * (size_t)nr);
    int left = grow(f, t, idx, nl, depth + 1);
    if (left < 0)
        return -1;
    int right = grow(f, t, idx + nl, nr, depth + 1);
    if (right < 0)
        return -1;
    t->nodes[id].feature = best_feat;
    t->nodes[id].threshold = (float)best_thr;
    t->nodes[id].left = left;
    t->nodes[id].right = right;
    return id;
}

nasc_status nasc_forest_fit(nasc_forest *f, const float *X, const double *y, int n, nasc_err *err) {
    if (n < 1)
        return nasc_errorf(err, NASC_ERR_ARG, "forest: fit needs at least one point");
    f->X = X;
    f->y = y;
    f->idx = nasc_malloc(sizeof(int) * (size_t)n);
    f->tmp = nasc_malloc(sizeof(int) * (size_t)n);
    f->feat = nasc_malloc(sizeof(int) * (size_t)f->dim);
    nasc_status st = NASC_OK;
    if (!f->idx || !f->tmp || !f->feat)
        st = nasc_errorf(err, NASC_ERR_NOMEM, "forest: out of memory");
    nasc_rng_init(&f->rng, f->seed, NASC_STREAM_USER + f->n_fits++);
    for (int t = 0; st == NASC_OK && t < f->cfg.n_trees; t++) {
        tree *tr = &f->trees[t];
        tr->n = 0;
        for (int i = 0; i < n; i++)
            f->idx[i] = f->cfg.no_bootstrap ? i : (int)nasc_rng_below(&f->rng, (uint32_t)n);
        if (grow(f, tr, f->idx, n, 0) < 0)
            st = nasc_errorf(err, NASC_ERR_NOMEM, "forest: out of memory");
    }
    nasc_free(f->idx);
    nasc_free(f->tmp);
    nasc_free(f->feat);
    f->idx = f->tmp = f->feat = NULL;
    f->X = NULL;
    f->y = NULL;
    if (st != NASC_OK)
        for (int t = 0; t < f->cfg.n_trees; t++)
            f->trees[t].n = 0;
    return st;
}

void nasc_forest_predict(const nasc_forest *f, const float *Xq, int m, double *out_mean,
                         double *out_var) {
    for (int i = 0; i < m; i++) {
        const float *x = Xq + (size_t)i * (size_t)f->dim;
        double s1 = 0.0, s2 = 0.0;
        int nt = 0;
        for (int t = 0; t < f->cfg.n_trees; t++) {
            const tree *tr = &f->trees[t];
            if (!tr->n)
                continue;
            int k = 0;
            while (tr->nodes[k].feature >= 0)
                k = x[tr->nodes[k].feature] <= tr->nodes[k].threshold ? tr->nodes[k].left
                                                                      : tr->nodes[k].right;
            s1 += tr->nodes[k].mean;
            s2 += tr->nodes[k].var + tr->nodes[k].mean * tr->nodes[k].mean;
            nt++;
        }
        if (!nt) {
            out_mean[i] = 0.0;
            out_var[i] = 1.0;
            continue;
        }
        double mu = s1 / nt;
        out_mean[i] = mu;
        out_var[i] = fmax(s2 / nt - mu * mu, 0.0);
    }
}
