/* pareto.c — objectives, constraints and Pareto tools of multi-objective search (pareto.h).
 *
 * Non-dominated sorting and crowding distance follow Deb, Pratap, Agarwal & Meyarivan, "A Fast
 * and Elitist Multiobjective Genetic Algorithm: NSGA-II", IEEE TEC 2002, sec. III-A and III-B. The
 * scalarisation is ParEGO's augmented Chebyshev function (Knowles, IEEE TEC 2006, eq. 2) with
 * rho = 0.05, negated so that higher is better like every other fitness in nasc. */
#include "learn_int.h"

#include "nasc/cost.h"
#include "nasc/text.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const obj_names[NASC_OBJ_COUNT] = {"acc",     "params", "flops",
                                                      "latency", "memory", "column"};

const char *nasc_objective_name(nasc_objective_kind k) {
    return (unsigned)k < NASC_OBJ_COUNT ? obj_names[k] : "?";
}

static int obj_lookup(const char *w, size_t n) {
    static const struct {
        const char *name;
        nasc_objective_kind k;
    } alias[] = {
        {"acc", NASC_OBJ_ACCURACY},   {"accuracy", NASC_OBJ_ACCURACY}, {"valid", NASC_OBJ_ACCURACY},
        {"score", NASC_OBJ_ACCURACY}, {"params", NASC_OBJ_PARAMS},     {"flops", NASC_OBJ_FLOPS},
        {"macs", NASC_OBJ_FLOPS},     {"latency", NASC_OBJ_LATENCY},   {"memory", NASC_OBJ_MEMORY}};
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
        if (strlen(alias[i].name) == n && !strncmp(alias[i].name, w, n))
            return (int)alias[i].k;
    /* any other name is a table column, if it can be one */
    if (!n || n >= NASC_COLUMN_NAME)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)w[i]) && w[i] != '_' && w[i] != '-' && w[i] != '.')
            return -1;
    return (int)NASC_OBJ_COLUMN;
}

/* Trims blanks of [p, p+n) in place: adjusts *p and returns the new length. */
static size_t trim(const char **p, size_t n) {
    while (n && isspace((unsigned char)**p))
        (*p)++, n--;
    while (n && isspace((unsigned char)(*p)[n - 1]))
        n--;
    return n;
}

/* The next item of the comma-separated list at *p: its trimmed text at *w, its length returned;
 * *p moves past the item and its comma, and *comma says whether there was one. */
static size_t next_item(const char **p, const char **w, bool *comma) {
    const char *c = strchr(*p, ',');
    const size_t n = c ? (size_t)(c - *p) : strlen(*p);
    *w = *p;
    *p = c ? c + 1 : *p + n;
    *comma = c != NULL;
    return trim(w, n);
}

/* A bound with its unit: k/M/G multipliers for counts, ms/s for latency (ms), B/KB/MB/GB for
 * memory (bytes). */
static nasc_status parse_bound(nasc_objective_kind k, const char *item, const char *v, size_t n,
                               double *out, nasc_err *err) {
    char buf[64];
    if (!n || n >= sizeof buf)
        return nasc_errorf(err, NASC_ERR_ARG, "constraint '%s': expected a number", item);
    memcpy(buf, v, n);
    buf[n] = '\0';
    char *end;
    errno = 0;
    double x = strtod(buf, &end);
    if (errno || end == buf || !isfinite(x))
        return nasc_errorf(err, NASC_ERR_ARG, "constraint '%s': expected a number (got '%s')", item,
                           buf);
    const char *u = end;
    double mult = 1.0;
    bool ok = true;
    if (!*u) {
        mult = 1.0;
    } else if (k == NASC_OBJ_LATENCY) {
        if (!strcmp(u, "ms"))
            mult = 1.0;
        else if (!strcmp(u, "s"))
            mult = 1e3;
        else if (!strcmp(u, "us"))
            mult = 1e-3;
        else
            ok = false;
    } else if (k == NASC_OBJ_MEMORY) { /* bytes: powers of 1024 */
        ok = nasc_unit_multiplier(u, 1024.0, "B KB K k MB M GB G", 0, &mult);
    } else if (k == NASC_OBJ_ACCURACY) {
        ok = !strcmp(u, "%");
    } else if (k == NASC_OBJ_COLUMN) {
        ok = false; /* a column's unit is the table's */
    } else { /* params, FLOPs: powers of 1000 */
        ok = nasc_unit_multiplier(u, 1000.0, "k K M G", 0, &mult);
    }
    if (!ok)
        return nasc_errorf(err, NASC_ERR_ARG, "constraint '%s': unknown unit '%s' for %s", item, u,
                           nasc_objective_name(k));
    *out = x * mult;
    return NASC_OK;
}

nasc_status nasc_objectives_parse(const char *objectives, const char *constraints,
                                  nasc_objectives *out, nasc_err *err) {
    memset(out, 0, sizeof *out);
    out->n = 1;
    out->kind[0] = NASC_OBJ_ACCURACY;
    bool used[NASC_OBJ_COUNT] = {false};
    const char *p = objectives ? objectives : "";
    bool any = false;
    while (*p) {
        const char *w;
        bool comma;
        size_t wl = next_item(&p, &w, &comma);
        if (!wl) {
            if (comma || any)
                return nasc_errorf(err, NASC_ERR_ARG, "objective: empty item in '%s'", objectives);
            continue;
        }
        any = true;
        int k = obj_lookup(w, wl);
        if (k < 0)
            return nasc_errorf(err, NASC_ERR_ARG,
                               "objective '%.*s': unknown (expected acc, params, flops, latency, "
                               "memory or the name of a benchmark table's column)",
                               (int)wl, w);
        bool twice = k != NASC_OBJ_COLUMN && used[k];
        for (int j = 1; j < out->n && k == NASC_OBJ_COLUMN; j++)
            twice |= out->kind[j] == NASC_OBJ_COLUMN && strlen(out->column[j]) == wl &&
                     !strncmp(out->column[j], w, wl);
        if (twice)
            return nasc_errorf(err, NASC_ERR_ARG, "objective '%.*s' listed twice", (int)wl, w);
        used[k] = true;
        if (k == NASC_OBJ_ACCURACY)
            continue; /* always objective 0 */
        if (out->n == NASC_MAX_OBJECTIVES)
            return nasc_errorf(err, NASC_ERR_ARG, "objective: more than %d objectives",
                               NASC_MAX_OBJECTIVES);
        if (k == NASC_OBJ_COLUMN)
            snprintf(out->column[out->n], NASC_COLUMN_NAME, "%.*s", (int)wl, w);
        out->kind[out->n++] = (nasc_objective_kind)k;
    }
    p = constraints ? constraints : "";
    while (*p) {
        const char *w;
        bool comma;
        size_t wl = next_item(&p, &w, &comma);
        if (!wl)
            continue;
        char item[128];
        snprintf(item, sizeof item, "%.*s", (int)wl, w);
        const char *op = strpbrk(item, "<>");
        if (!op || op[1] != '=')
            return nasc_errorf(err, NASC_ERR_ARG,
                               "constraint '%s': expected NAME<=VALUE or acc>=VALUE", item);
        const char *name = item;
        size_t nl = trim(&name, (size_t)(op - item));
        int k = obj_lookup(name, nl);
        if (k < 0)
            return nasc_errorf(err, NASC_ERR_ARG,
                               "constraint '%s': unknown quantity '%.*s' (expected acc, params, "
                               "flops, latency, memory or the name of a benchmark table's "
                               "column)",
                               item, (int)nl, name);
        bool upper = op[0] == '<';
        if (k != NASC_OBJ_COLUMN && upper == (k == NASC_OBJ_ACCURACY))
            return nasc_errorf(err, NASC_ERR_ARG, "constraint '%s': %s can only be bounded %s",
                               item, nasc_objective_name((nasc_objective_kind)k),
                               k == NASC_OBJ_ACCURACY ? "from below (acc>=...)"
                                                      : "from above (<=)");
        if (out->n_constraints == NASC_MAX_CONSTRAINTS)
            return nasc_errorf(err, NASC_ERR_ARG, "constraint: more than %d constraints",
                               NASC_MAX_CONSTRAINTS);
        const char *v = op + 2;
        size_t vl = trim(&v, strlen(v));
        double bound = 0.0;
        NASC_TRY(parse_bound((nasc_objective_kind)k, item, v, vl, &bound, err));
        nasc_constraint *c = &out->constraint[out->n_constraints++];
        c->kind = (nasc_objective_kind)k;
        c->bound = bound;
        c->at_least = !upper;
        if (k == NASC_OBJ_COLUMN)
            snprintf(c->column, sizeof c->column, "%.*s", (int)nl, name);
    }
    /* the distinct columns, objectives first */
    const char *names[NASC_MAX_OBJECTIVES + NASC_MAX_CONSTRAINTS];
    out->n_columns = 0;
    for (int j = 0; j < out->n + out->n_constraints; j++) {
        bool is_obj = j < out->n;
        nasc_constraint *c = is_obj ? NULL : &out->constraint[j - out->n];
        if ((is_obj ? out->kind[j] : c->kind) != NASC_OBJ_COLUMN)
            continue;
        const char *nm = is_obj ? out->column[j] : c->column;
        int idx = -1;
        for (int i = 0; i < out->n_columns && idx < 0; i++)
            if (!strcmp(names[i], nm))
                idx = i;
        if (idx < 0) {
            if (out->n_columns == NASC_MAX_COLUMNS)
                return nasc_errorf(err, NASC_ERR_ARG,
                                   "objective / constraint: more than %d table columns",
                                   NASC_MAX_COLUMNS);
            idx = out->n_columns;
            names[out->n_columns++] = nm;
        }
        if (is_obj)
            out->col[j] = idx;
        else
            c->col = idx;
    }
    return NASC_OK;
}

int nasc_objectives_columns(const nasc_objectives *o, const char **out_names) {
    int n = 0;
    for (int j = 0; j < o->n + o->n_constraints; j++) {
        bool is_obj = j < o->n;
        const nasc_constraint *c = is_obj ? NULL : &o->constraint[j - o->n];
        if ((is_obj ? o->kind[j] : c->kind) != NASC_OBJ_COLUMN)
            continue;
        int idx = is_obj ? o->col[j] : c->col;
        if (idx == n && n < NASC_MAX_COLUMNS) /* first use: indices are given in this order */
            out_names[n++] = is_obj ? o->column[j] : c->column;
    }
    return n;
}

void nasc_objectives_format(const nasc_objectives *o, char *obj_buf, size_t obj_n, char *con_buf,
                            size_t con_n) {
    size_t k = 0;
    if (obj_n)
        obj_buf[0] = '\0';
    for (int j = 0; j < o->n && k < obj_n; j++)
        k += (size_t)snprintf(obj_buf + k, obj_n - k, "%s%s", j ? "," : "",
                              o->kind[j] == NASC_OBJ_COLUMN ? o->column[j]
                                                            : nasc_objective_name(o->kind[j]));
    k = 0;
    if (con_n)
        con_buf[0] = '\0';
    for (int j = 0; j < o->n_constraints && k < con_n; j++) {
        const nasc_constraint *c = &o->constraint[j];
        k += (size_t)snprintf(con_buf + k, con_n - k, "%s%s%s%.17g", j ? "," : "",
                              c->kind == NASC_OBJ_COLUMN ? c->column : nasc_objective_name(c->kind),
                              c->at_least ? ">=" : "<=", c->bound);
    }
}

static bool uses(const nasc_objectives *o, nasc_objective_kind k) {
    for (int j = 0; j < o->n; j++)
        if (o->kind[j] == k)
            return true;
    for (int j = 0; j < o->n_constraints; j++)
        if (o->constraint[j].kind == k)
            return true;
    return false;
}

bool nasc_objectives_need_cost(const nasc_objectives *o) {
    for (int k = NASC_OBJ_PARAMS; k <= NASC_OBJ_MEMORY; k++)
        if (uses(o, (nasc_objective_kind)k))
            return true;
    return false;
}

nasc_status nasc_objectives_cost(const nasc_objectives *o, const nasc_arch *a,
                                 const nasc_net_config *net, nasc_cost *out, nasc_err *err) {
    nasc_cost_unknown(out);
    if (!nasc_objectives_need_cost(o))
        return NASC_OK;
    nasc_model *m;
    NASC_TRY(nasc_space_build(a, net, 1, &m, err));
    bool lat = uses(o, NASC_OBJ_LATENCY);
    nasc_model_cost c;
    nasc_status st = nasc_model_cost_measure(
        m, &(nasc_cost_config){.repeats = lat ? 10 : -1, .threads = 1, .batch = 1}, &c, err);
    nasc_model_free(m);
    NASC_TRY(st);
    out->params = (double)c.params;
    out->flops = c.macs;
    out->memory_bytes = (double)c.memory_bytes;
    if (lat)
        out->latency_ms = c.latency_ms;
    return NASC_OK;
}

double nasc_objective_value(nasc_objective_kind k, const nasc_trial_result *r) {
    switch (k) {
    case NASC_OBJ_ACCURACY:
        return r->status == NASC_TRIAL_OK ? r->score : (double)NAN;
    case NASC_OBJ_PARAMS:
        return r->cost.params;
    case NASC_OBJ_FLOPS:
        return r->cost.flops;
    case NASC_OBJ_LATENCY:
        return r->cost.latency_ms;
    case NASC_OBJ_MEMORY:
        return r->cost.memory_bytes;
    default:
        return (double)NAN;
    }
}

static double column_value(int col, const nasc_trial_result *r) {
    return col >= 0 && col < r->n_columns && col < NASC_MAX_COLUMNS ? r->columns[col] : (double)NAN;
}

double nasc_objectives_value(const nasc_objectives *o, int j, const nasc_trial_result *r) {
    if (j < 0 || j >= o->n)
        return (double)NAN;
    return o->kind[j] == NASC_OBJ_COLUMN ? column_value(o->col[j], r)
                                         : nasc_objective_value(o->kind[j], r);
}

bool nasc_objectives_apply(const nasc_objectives *o, const nasc_cost *c, nasc_trial_result *r) {
    if (isfinite(c->params))
        r->cost.params = c->params;
    if (isfinite(c->flops))
        r->cost.flops = c->flops;
    if (isfinite(c->latency_ms))
        r->cost.latency_ms = c->latency_ms;
    if (isfinite(c->memory_bytes))
        r->cost.memory_bytes = c->memory_bytes;
    bool feasible = true;
    for (int j = 0; j < o->n_constraints && feasible; j++) {
        const nasc_constraint *cn = &o->constraint[j];
        double v = cn->kind == NASC_OBJ_COLUMN ? column_value(cn->col, r)
                                               : nasc_objective_value(cn->kind, r);
        if (cn->kind == NASC_OBJ_ACCURACY && r->status != NASC_TRIAL_OK)
            continue; /* already failed for its own reason */
        bool holds = cn->at_least ? v >= cn->bound : v <= cn->bound;
        if (!holds) {
            feasible = false;
            if (r->status == NASC_TRIAL_OK)
                nasc_trial_result_fail(r, "constraint %s%s%g violated (%g)",
                                       cn->kind == NASC_OBJ_COLUMN ? cn->column
                                                                   : nasc_objective_name(cn->kind),
                                       cn->at_least ? ">=" : "<=", cn->bound, v);
        }
    }
    if (o->n > 1) {
        r->n_objectives = o->n;
        for (int j = 0; j < o->n; j++)
            r->objectives[j] = nasc_objectives_value(o, j, r);
    }
    return feasible;
}

/* ---- Pareto tools ---- */

/* Objective j of a vector as "lower is better" (NaN -> +inf, worse than anything). */
static double lower(const double *v, int j) {
    double x = j == 0 ? -v[0] : v[j];
    return isnan(x) ? (double)INFINITY : x;
}

bool nasc_pareto_dominates(const double *a, const double *b, int n_obj) {
    bool better = false;
    for (int j = 0; j < n_obj; j++) {
        double x = lower(a, j), y = lower(b, j);
        if (x > y)
            return false;
        if (x < y)
            better = true;
    }
    return better;
}

int nasc_pareto_sort(const double *obj, int n, int n_obj, int *out_rank) {
    if (n <= 0)
        return 0;
    /* S_p as one flat list per point (offsets), n_p as counts */
    int *cnt = nasc_calloc((size_t)n, sizeof(int));
    int *dom_n = nasc_calloc((size_t)n, sizeof(int));
    int *off = nasc_calloc((size_t)n + 1, sizeof(int));
    int *front = nasc_malloc(sizeof(int) * (size_t)n);
    int *list = NULL;
    int n_fronts = -1;
    if (!cnt || !dom_n || !off || !front)
        goto done;
    for (int p = 0; p < n; p++)
        for (int q = 0; q < n; q++)
            if (p != q &&
                nasc_pareto_dominates(obj + (size_t)p * n_obj, obj + (size_t)q * n_obj, n_obj))
                dom_n[p]++, cnt[q]++;
    for (int p = 0; p < n; p++)
        off[p + 1] = off[p] + dom_n[p];
    list = nasc_malloc(sizeof(int) * (size_t)(off[n] ? off[n] : 1));
    if (!list)
        goto done;
    for (int p = 0; p < n; p++) {
        int k = off[p];
        for (int q = 0; q < n; q++)
            if (p != q &&
                nasc_pareto_dominates(obj + (size_t)p * n_obj, obj + (size_t)q * n_obj, n_obj))
                list[k++] = q;
    }
    int nf = 0;
    for (int p = 0; p < n; p++)
        if (!cnt[p]) {
            out_rank[p] = 0;
            front[nf++] = p;
        }
    n_fronts = 0;
    int head = 0;
    while (head < nf) {
        int end = nf;
        n_fronts++;
        for (; head < end; head++) {
            int p = front[head];
            for (int k = off[p]; k < off[p + 1]; k++) {
                int q = list[k];
                if (--cnt[q] == 0) {
                    out_rank[q] = n_fronts;
                    front[nf++] = q;
                }
            }
        }
    }
done:
    nasc_free(cnt);
    nasc_free(dom_n);
    nasc_free(off);
    nasc_free(front);
    nasc_free(list);
    return n_fronts;
}

static const double *crowd_obj;
static int crowd_nobj, crowd_j;
static const int *crowd_idx;
static int crowd_cmp(const void *a, const void *b) {
    int ia = *(const int *)a, ib = *(const int *)b;
    double x = lower(crowd_obj + (size_t)crowd_idx[ia] * crowd_nobj, crowd_j);
    double y = lower(crowd_obj + (size_t)crowd_idx[ib] * crowd_nobj, crowd_j);
    if (x != y)
        return x < y ? -1 : 1;
    return ia - ib;
}

void nasc_pareto_crowding(const double *obj, int n_obj, const int *idx, int m, double *out_dist) {
    for (int i = 0; i < m; i++)
        out_dist[i] = 0.0;
    if (m <= 2) {
        for (int i = 0; i < m; i++)
            out_dist[i] = INFINITY;
        return;
    }
    int *ord = nasc_malloc(sizeof(int) * (size_t)m);
    if (!ord) { /* no ordering possible: treat all as boundary points */
        for (int i = 0; i < m; i++)
            out_dist[i] = INFINITY;
        return;
    }
    for (int j = 0; j < n_obj; j++) {
        for (int i = 0; i < m; i++)
            ord[i] = i;
        crowd_obj = obj;
        crowd_nobj = n_obj;
        crowd_j = j;
        crowd_idx = idx;
        qsort(ord, (size_t)m, sizeof(int), crowd_cmp);
        double lo = lower(obj + (size_t)idx[ord[0]] * n_obj, j);
        double hi = lower(obj + (size_t)idx[ord[m - 1]] * n_obj, j);
        out_dist[ord[0]] = out_dist[ord[m - 1]] = INFINITY;
        if (!(hi > lo) || !isfinite(hi - lo))
            continue;
        for (int i = 1; i < m - 1; i++) {
            double a = lower(obj + (size_t)idx[ord[i - 1]] * n_obj, j);
            double c = lower(obj + (size_t)idx[ord[i + 1]] * n_obj, j);
            out_dist[ord[i]] += (c - a) / (hi - lo);
        }
    }
    nasc_free(ord);
}

int nasc_pareto_front(const double *obj, int n, int n_obj, int *out_idx) {
    int k = 0;
    for (int p = 0; p < n; p++) {
        const double *a = obj + (size_t)p * n_obj;
        bool nan = false;
        for (int j = 0; j < n_obj; j++)
            nan |= isnan(a[j]);
        if (nan)
            continue;
        bool dominated = false;
        for (int q = 0; q < n && !dominated; q++)
            dominated = q != p && nasc_pareto_dominates(obj + (size_t)q * n_obj, a, n_obj);
        if (!dominated)
            out_idx[k++] = p;
    }
    return k;
}

static int cmp_cost(const void *a, const void *b) {
    const double *x = a, *y = b;
    if (x[1] != y[1])
        return x[1] < y[1] ? -1 : 1;
    return (x[0] < y[0]) - (x[0] > y[0]); /* equal cost: higher accuracy first */
}

double nasc_pareto_hypervolume2(const double *obj, int n, const double *ref) {
    double *p = nasc_malloc(sizeof(double) * 2 * (size_t)(n > 0 ? n : 1));
    if (!p)
        return (double)NAN;
    int m = 0;
    for (int i = 0; i < n; i++) {
        double a = obj[2 * i], c = obj[2 * i + 1];
        if (a > ref[0] && c < ref[1]) { /* NaN fails both tests */
            p[2 * m] = a;
            p[2 * m + 1] = c;
            m++;
        }
    }
    qsort(p, (size_t)m, 2 * sizeof(double), cmp_cost);
    /* sweep by cost: each point adds the strip from its cost to the next larger cost, up to the
     * best accuracy reached so far */
    double hv = 0.0, best = ref[0];
    for (int i = 0; i < m; i++) {
        best = fmax(best, p[2 * i]);
        double next = i + 1 < m ? p[2 * (i + 1) + 1] : ref[1];
        hv += (best - ref[0]) * (next - p[2 * i + 1]);
    }
    nasc_free(p);
    return hv;
}

double nasc_pareto_scalarize(const double *v, int n_obj, const double *w, const double *lo,
                             const double *hi) {
    double mx = -INFINITY, sum = 0.0;
    for (int j = 0; j < n_obj; j++) {
        if (isnan(v[j]))
            return -INFINITY;
        double range = hi[j] - lo[j];
        double u = j == 0 ? hi[j] - v[j] : v[j] - lo[j]; /* badness: distance from the best seen */
        u = range > 0.0 && isfinite(range) ? u / range : 0.0;
        mx = fmax(mx, w[j] * u);
        sum += w[j] * u;
    }
    return -(mx + 0.05 * sum);
}
