/* views.c — report sections over the trials' results: the multi-objective plots (a Pareto front
 * per pair of objectives, parallel coordinates) and the per-epoch values of training trials. */
#include "report_int.h"
#include "view_int.h"

#include "nasc/arena.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- objectives ---- */

static void obj_label(const nasc_rv *v, int j, char *buf, size_t n) {
    const nasc_objectives *o = &v->obj;
    switch (o->kind[j]) {
    case NASC_OBJ_ACCURACY:
        snprintf(buf, n, "%s", v->score_label);
        break;
    case NASC_OBJ_PARAMS:
        snprintf(buf, n, "parameters (count)");
        break;
    case NASC_OBJ_FLOPS:
        snprintf(buf, n, "multiply-adds per image (count)");
        break;
    case NASC_OBJ_LATENCY:
        snprintf(buf, n, "latency at batch 1 (ms)");
        break;
    case NASC_OBJ_MEMORY:
        snprintf(buf, n, "activation memory at batch 1 (bytes)");
        break;
    default:
        snprintf(buf, n, "%s (table column%s)", o->column[j],
                 strstr(o->column[j], "latency") ? ", ms" : ", its unit");
    }
}

static double obj_value(const nasc_rv *v, const nasc_trial_record *t, int j) {
    const nasc_trial_result *r = t->result;
    if (!r || t->status != NASC_TRIAL_OK)
        return NAN;
    if (r->n_objectives == v->obj.n)
        return r->objectives[j];
    return nasc_objectives_value(&v->obj, j, r);
}

/* Whether the finite positive values of x span more than 50x (then a log axis reads better). */
static bool wide(const double *x, long n) {
    double lo = INFINITY, hi = 0;
    for (long i = 0; i < n; i++)
        if (isfinite(x[i]) && x[i] > 0)
            lo = fmin(lo, x[i]), hi = fmax(hi, x[i]);
    return hi > 0 && lo < (double)INFINITY && hi / lo > 50;
}

static void constraint_rules(nasc_rp_plot *p, const nasc_rv *v, int j, bool vertical) {
    const nasc_objectives *o = &v->obj;
    for (int c = 0; c < o->n_constraints; c++) {
        const nasc_constraint *k = &o->constraint[c];
        if (k->kind != o->kind[j] ||
            (k->kind == NASC_OBJ_COLUMN && strcmp(k->column, o->column[j])))
            continue;
        char lab[96], a[32];
        snprintf(lab, sizeof lab, "constraint %s %s", k->at_least ? "\xE2\x89\xA5" : "\xE2\x89\xA4",
                 nasc_rp_num(k->bound, a, sizeof a));
        nasc_rp_rule(p, k->bound, vertical, lab);
    }
}

static int cmp_x(const void *a, const void *b, void *ctx) {
    const double *x = ctx;
    const double u = x[*(const int *)a], w = x[*(const int *)b];
    return u < w ? -1 : u > w;
}

/* Pareto plot of objective i (y) against objective j (x), over the m points xs/ys. */
static void pair_plot(FILE *f, const nasc_rv *v, int i, int j, const double *ys, const double *xs,
                      long m, int *counter) {
    char xl[96], yl[96], id[32], title[256], alt[512];
    obj_label(v, j, xl, sizeof xl);
    obj_label(v, i, yl, sizeof yl);
    /* 2-D front: element 0 higher-better (accuracy, or a negated cost), element 1 a cost */
    double *pt = nasc_malloc(sizeof(double) * 2 * (size_t)(m ? m : 1));
    int *front = nasc_malloc(sizeof(int) * (size_t)(m ? m : 1));
    double *fx = nasc_malloc(sizeof(double) * (size_t)(m ? m : 1));
    double *fy = nasc_malloc(sizeof(double) * (size_t)(m ? m : 1));
    if (!pt || !front || !fx || !fy)
        goto done;
    for (long k = 0; k < m; k++) {
        pt[2 * k] = i == 0 ? ys[k] : -ys[k];
        pt[2 * k + 1] = xs[k];
    }
    const int nf = nasc_pareto_front(pt, (int)m, 2, front);
    qsort_r(front, (size_t)nf, sizeof(int), cmp_x, (void *)xs);
    for (int k = 0; k < nf; k++) {
        fx[k] = xs[front[k]];
        fy[k] = ys[front[k]];
    }
    nasc_rp_axis ax, ay;
    nasc_rp_axis_fit(&ax, xs, m, wide(xs, m), xl);
    nasc_rp_axis_fit(&ay, ys, m, i > 0 && wide(ys, m), yl);
    for (int c = 0; c < v->obj.n_constraints; c++) { /* constraints stay visible */
        const nasc_constraint *k = &v->obj.constraint[c];
        if (k->kind == v->obj.kind[j])
            nasc_rp_axis_include(&ax, k->bound);
        if (k->kind == v->obj.kind[i])
            nasc_rp_axis_include(&ay, k->bound);
    }
    snprintf(id, sizeof id, "pareto-%d-%d", i, j);
    snprintf(title, sizeof title, "Pareto front: %s against %s", yl, xl);
    snprintf(alt, sizeof alt,
             "%ld successful trials; %d of them are on the front of these two objectives "
             "(highlighted, joined by a staircase line).",
             m, nf);
    nasc_rp_plot p;
    nasc_rp_plot_begin(&p, f, 520, 320, id, title, alt, ax, ay, counter);
    nasc_rp_dots(&p, xs, ys, m, "dot");
    nasc_rp_line(&p, fx, fy, nf, "frontline", true);
    nasc_rp_dots(&p, fx, fy, nf, "dot front");
    constraint_rules(&p, v, j, true);
    constraint_rules(&p, v, i, false);
    nasc_rp_legend(&p, 0, "dot", false, "trial");
    nasc_rp_legend(&p, 1, "dot front", false, "on the front");
    char cap[128];
    snprintf(cap, sizeof cap, "%s is better %s.",
             i == 0 ? "Up and to the left" : "Down and to the left",
             ax.log ? "; log scale on x" : "");
    nasc_rp_plot_end(&p, cap);
done:
    nasc_free(pt);
    nasc_free(front);
    nasc_free(fx);
    nasc_free(fy);
}

/* Parallel coordinates: one vertical axis per objective, each trial a polyline; the trials on
 * the front of all objectives highlighted. vals: m rows of n_obj values. */
static void parallel_plot(FILE *f, const nasc_rv *v, const double *vals, long m, int *counter) {
    const int n_obj = v->obj.n;
    int *front = nasc_malloc(sizeof(int) * (size_t)(m ? m : 1));
    bool *on = nasc_calloc((size_t)(m ? m : 1), sizeof(bool));
    double *col = nasc_malloc(sizeof(double) * (size_t)(m ? m : 1));
    if (!front || !on || !col)
        goto done;
    const int nf = nasc_pareto_front(vals, (int)m, n_obj, front);
    for (int k = 0; k < nf; k++)
        on[front[k]] = true;
    const double w = 180.0 * n_obj + 80, h = 320, top = 28, bot = h - 56;
    nasc_rp_axis ax[NASC_MAX_OBJECTIVES];
    char lab[NASC_MAX_OBJECTIVES][96];
    for (int j = 0; j < n_obj; j++) {
        for (long k = 0; k < m; k++)
            col[k] = vals[k * n_obj + j];
        obj_label(v, j, lab[j], sizeof lab[j]);
        nasc_rp_axis_fit(&ax[j], col, m, j > 0 && wide(col, m), lab[j]);
    }
    if (counter)
        ++*counter;
    fprintf(f,
            "<figure class=\"plot\" id=\"parallel\"><svg viewBox=\"0 0 %.0f %.0f\" "
            "width=\"%.0f\" height=\"%.0f\" role=\"img\" aria-labelledby=\"parallel-t "
            "parallel-d\"><title id=\"parallel-t\">Parallel coordinates of the objectives"
            "</title><desc id=\"parallel-d\">Each line is one of %ld successful trials, "
            "crossing one vertical axis per objective at its value; the %d trials on the "
            "Pareto front of all objectives are highlighted.</desc>\n",
            w, h, w, h, m, nf);
    for (int pass = 0; pass < 2; pass++) {
        fprintf(f, "<path class=\"pc%s\" d=\"", pass ? " front" : "");
        for (long k = 0; k < m; k++) {
            if (on[k] != (pass == 1))
                continue;
            for (int j = 0; j < n_obj; j++) {
                const nasc_rp_axis *a = &ax[j];
                double x = vals[k * n_obj + j];
                if (!isfinite(x) || (a->log && x <= 0))
                    x = a->lo;
                const double t = a->log ? (log10(x) - log10(a->lo)) / (log10(a->hi) - log10(a->lo))
                                        : (x - a->lo) / (a->hi - a->lo);
                fprintf(f, "%c%.1f %.1f", j ? 'L' : 'M', 60.0 + 180.0 * j, bot - t * (bot - top));
            }
        }
        fprintf(f, "\"/>\n");
    }
    char a[32];
    for (int j = 0; j < n_obj; j++) {
        const double x = 60.0 + 180.0 * j;
        fprintf(f,
                "<g class=\"axis\"><line class=\"pcaxis\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" "
                "y2=\"%.1f\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>",
                x, x, top, bot, x, top - 6, nasc_rp_num(ax[j].hi, a, sizeof a));
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>", x, bot + 14,
                nasc_rp_num(ax[j].lo, a, sizeof a));
        fprintf(f, "<text class=\"xlabel\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", x,
                bot + 34);
        nasc_rp_esc(f, lab[j]);
        fprintf(f, "</text></g>\n");
    }
    fprintf(f, "</svg><figcaption>Axis ends show each objective's range (log scale for costs "
               "spanning more than 50x). Accuracy is better up, costs better down.</figcaption>"
               "</figure>\n");
done:
    nasc_free(front);
    nasc_free(on);
    nasc_free(col);
}

void nasc_rv_write_objectives(FILE *f, const nasc_rv *v, int *counter) {
    if (!v->has_obj || v->obj.n < 2 || !v->n_ok)
        return;
    const int n_obj = v->obj.n;
    const long m0 = (long)v->n_ok;
    double *vals = nasc_malloc(sizeof(double) * (size_t)(m0 * n_obj));
    double *xs = nasc_malloc(sizeof(double) * (size_t)m0);
    double *ys = nasc_malloc(sizeof(double) * (size_t)m0);
    if (!vals || !xs || !ys)
        goto done;
    long m = 0;
    for (int64_t i = 0; i < v->n; i++) {
        if (v->t[i].status != NASC_TRIAL_OK)
            continue;
        for (int j = 0; j < n_obj; j++)
            vals[m * n_obj + j] = obj_value(v, &v->t[i], j);
        m++;
    }
    fprintf(f,
            "<section id=\"objectives\"><h2>Objectives</h2>\n<p class=\"muted\">Objectives: "
            "%s",
            nasc_rv_cfg(v, "objective"));
    if (*nasc_rv_cfg(v, "constraint")) {
        fprintf(f, "; constraints (dashed lines): ");
        nasc_rp_esc(f, nasc_rv_cfg(v, "constraint"));
        fprintf(f, " &mdash; trials that violate one fail, and are listed under Failed trials");
    }
    fprintf(f, ".</p>\n");
    for (int i = 0; i < n_obj; i++)
        for (int j = i + 1; j < n_obj; j++) {
            for (long k = 0; k < m; k++) {
                ys[k] = vals[k * n_obj + i];
                xs[k] = vals[k * n_obj + j];
            }
            pair_plot(f, v, i, j, ys, xs, m, counter);
        }
    parallel_plot(f, v, vals, m, counter);
    fprintf(f, "</section>\n");
done:
    nasc_free(vals);
    nasc_free(xs);
    nasc_free(ys);
}

/* ---- per-epoch values ---- */

/* One plot of a per-epoch series over the trials that recorded at least two points of it. */
typedef enum { SER_VAL_ACC, SER_TRAIN_LOSS, SER_TRAIN_ACC } series_kind;

static int series(const nasc_trial_record *t, series_kind s, const float **out) {
    const nasc_trial_result *r = t->result;
    if (!r)
        return 0;
    switch (s) {
    case SER_VAL_ACC:
        *out = r->curve;
        return r->n_curve;
    case SER_TRAIN_LOSS:
        *out = r->train_loss_curve;
        return r->n_train_curve;
    default:
        *out = r->train_acc_curve;
        return r->n_train_curve;
    }
}

static bool series_plot(FILE *f, const nasc_rv *v, series_kind s, int *counter) {
    int64_t n_tr = 0, n_stopped = 0, n_pts = 0;
    int max_ep = 0;
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < v->n; i++) {
        const float *c;
        const int k = series(&v->t[i], s, &c);
        if (k < 2)
            continue;
        n_tr++;
        n_stopped += v->t[i].result->stopped_early;
        max_ep = k > max_ep ? k : max_ep;
        for (int e = 0; e < k; e++)
            if (isfinite(c[e]))
                lo = fmin(lo, c[e]), hi = fmax(hi, c[e]), n_pts++;
    }
    if (!n_tr)
        return false;
    static const char *const ids[] = {"curve-val-acc", "curve-train-loss", "curve-train-acc"};
    static const char *const ylab[] = {"validation accuracy (%)", "training loss (cross entropy)",
                                       "training accuracy (%)"};
    static const char *const what[] = {"Validation accuracy per epoch", "Training loss per epoch",
                                       "Training accuracy per epoch"};
    nasc_rp_axis ax = {
        .lo = 0.8, .hi = max_ep + 0.2, .integer = true, .label = "epoch (completed epochs)"};
    double yr[2] = {lo, hi};
    nasc_rp_axis ay;
    nasc_rp_axis_fit(&ay, yr, 2, false, ylab[s]);
    char alt[512];
    snprintf(alt, sizeof alt,
             "%lld trials, %lld values, up to %d epochs%s. Each line is one trial; a line that "
             "ends early was stopped or trained at a lower fidelity.",
             (long long)n_tr, (long long)n_pts, max_ep,
             n_stopped ? "; trials stopped by the median rule in a second colour" : "");
    nasc_rp_plot p;
    nasc_rp_plot_begin(&p, f, 520, 300, ids[s], what[s], alt, ax, ay, counter);
    double x[NASC_MAX_CURVE], y[NASC_MAX_CURVE];
    for (int pass = 0; pass < 2; pass++) { /* run to the end, then stopped early on top */
        fprintf(f, "<g class=\"%s\">", pass ? "stopped" : "full");
        for (int64_t i = 0; i < v->n; i++) {
            const float *c;
            const int k = series(&v->t[i], s, &c);
            if (k < 2 || v->t[i].result->stopped_early != (pass == 1))
                continue;
            for (int e = 0; e < k; e++) {
                x[e] = e + 1;
                y[e] = c[e];
            }
            nasc_rp_line(&p, x, y, k, pass ? "curve stopped" : "curve", false);
        }
        fprintf(f, "</g>\n");
    }
    nasc_rp_plot_end(&p, n_stopped ? "Orange: stopped early by the median rule." : "");
    return true;
}

void nasc_rv_write_curves(FILE *f, const nasc_rv *v, int *counter) {
    if (v->oneshot) /* one epoch = one trial: oneshot_view.c shows the search's curves */
        return;
    bool any = false;
    for (int64_t i = 0; i < v->n && !any; i++)
        any =
            v->t[i].result && (v->t[i].result->n_curve >= 2 || v->t[i].result->n_train_curve >= 2);
    if (!any)
        return;
    fprintf(f, "<section id=\"curves\"><h2>Learning curves (intermediate values)</h2>\n");
    const bool val = series_plot(f, v, SER_VAL_ACC, counter);
    series_plot(f, v, SER_TRAIN_LOSS, counter);
    series_plot(f, v, SER_TRAIN_ACC, counter);
    if (!val)
        fprintf(f, "<p class=\"muted\">Validation accuracy is measured after every epoch only "
                   "with <code>--median-stop</code>; without it each trial records its final "
                   "value.</p>\n");
    fprintf(f, "</section>\n");
}
