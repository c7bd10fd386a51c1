/* oneshot_view.c — the report of a one-shot search (DARTS, GDAS, PC-DARTS, ...): from the history
 * the search keeps as its strategy snapshot (docs/ONESHOT.md, "What is recorded"): softmax(alpha)
 * per edge as a heat map at the last epoch and as small multiples over the epochs, the genotype
 * derived after each epoch, the share of parameter-free ops (collapse) and the training and
 * validation accuracy per epoch. */
#include "report_int.h"
#include "view_int.h"

#include "nasc/arena.h"
#include "nasc/supernet.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

/* Op names and edge endpoints of the space's supernet (a tiny one is built to ask); generic
 * names if it cannot be built. */
typedef struct cell_info {
    int n_ops, n_edges;
    char op[NASC_SUPERNET_MAX_OPS][32];
    bool param_free[NASC_SUPERNET_MAX_OPS];
    int from[NASC_SUPERNET_MAX_EDGES], to[NASC_SUPERNET_MAX_EDGES];
    bool known;
} cell_info;

static void cell_info_get(const char *space, cell_info *ci) {
    memset(ci, 0, sizeof *ci);
    nasc_space *sp = NULL;
    nasc_supernet *sn = NULL;
    nasc_err err = {0};
    const nasc_supernet_config sc = {.channels = 4, .cells = !strcmp(space, "darts") ? 3 : 1};
    if (nasc_space_new(space, NULL, &sp, &err) == NASC_OK &&
        nasc_supernet_new(sp, &sc, 1, &sn, &err) == NASC_OK) {
        ci->known = true;
        ci->n_ops = nasc_supernet_n_ops(sn);
        ci->n_edges = nasc_supernet_n_edges(sn);
        for (int k = 0; k < ci->n_ops && k < NASC_SUPERNET_MAX_OPS; k++) {
            snprintf(ci->op[k], sizeof ci->op[k], "%s", nasc_supernet_op_name(sn, k));
            ci->param_free[k] = nasc_supernet_op_param_free(sn, k);
        }
        for (int e = 0; e < ci->n_edges && e < NASC_SUPERNET_MAX_EDGES; e++) {
            ci->from[e] = nasc_supernet_edge_from(sn, e);
            ci->to[e] = nasc_supernet_edge_to(sn, e);
        }
    }
    nasc_supernet_free(sn);
    nasc_space_free(sp);
}

static double num(const cJSON *o, const char *k) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(x) ? x->valuedouble : (double)NAN;
}

/* alpha rows of cell type `type` in an epoch record: E arrays of K probabilities */
static const cJSON *alpha_of(const cJSON *ep, const char *type) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(ep, "alpha");
    const cJSON *t = a ? cJSON_GetObjectItemCaseSensitive(a, type) : NULL;
    return cJSON_IsArray(t) ? t : NULL;
}

static void edge_name(const cell_info *ci, int e, char *buf, size_t n) {
    if (ci->known && e < ci->n_edges)
        snprintf(buf, n, "%d\xE2\x86\x92%d", ci->from[e], ci->to[e]); /* "0→2" */
    else
        snprintf(buf, n, "edge %d", e);
}

static void op_name(const cell_info *ci, int k, char *buf, size_t n) {
    if (ci->known && k < ci->n_ops)
        snprintf(buf, n, "%s", ci->op[k]);
    else
        snprintf(buf, n, "op %d", k);
}

/* A heat map of rows (E x K) as SVG: full (labels, values) or a small multiple. */
static void heat_map(FILE *f, const cell_info *ci, const cJSON *rows, const char *id,
                     const char *title, bool full, double lo, double hi, int *counter) {
    const int E = cJSON_GetArraySize(rows);
    int K = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, rows) {
        K = cJSON_GetArraySize(r) > K ? cJSON_GetArraySize(r) : K;
    }
    const double cw = full ? 46 : 9, ch = full ? 20 : 6;
    const double ml = full ? 70 : 2, mt = full ? 112 : 16, mb = full ? 26 : 2;
    const double w = ml + cw * K + 4, h = mt + ch * E + mb;
    if (counter)
        ++*counter;
    /* small multiples are "mini": no axes of their own, the group's caption names them */
    fprintf(f,
            "<figure class=\"%s heat\" id=\"%s\"><svg viewBox=\"0 0 %.0f %.0f\" "
            "width=\"%.0f\" height=\"%.0f\" role=\"img\" aria-labelledby=\"%s-t %s-d\">"
            "<title id=\"%s-t\">",
            full ? "plot" : "mini", id, w, h, w, h, id, id, id);
    nasc_rp_esc(f, title);
    fprintf(f,
            "</title><desc id=\"%s-d\">softmax(alpha): one row per edge (%d), one column per "
            "operation (%d); darker is a larger weight.",
            id, E, K);
    /* the text alternative names each edge's strongest op */
    int e = 0;
    cJSON_ArrayForEach(r, rows) {
        int best = 0, k = 0;
        double bv = -1;
        const cJSON *x;
        cJSON_ArrayForEach(x, r) {
            if (cJSON_IsNumber(x) && x->valuedouble > bv)
                bv = x->valuedouble, best = k;
            k++;
        }
        if (full) {
            char en[32], on[32];
            edge_name(ci, e, en, sizeof en);
            op_name(ci, best, on, sizeof on);
            fprintf(f, " %s: %s %.2f.", en, on, bv);
        }
        e++;
    }
    fprintf(f, "</desc>\n");
    if (!full)
        fprintf(f, "<text x=\"2\" y=\"11\">%s</text>\n", title);
    e = 0;
    cJSON_ArrayForEach(r, rows) {
        int k = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, r) {
            const double p = cJSON_IsNumber(x) ? x->valuedouble : 0;
            const double px = ml + cw * k, py = mt + ch * e;
            /* shade relative to the map's range: softmax(alpha) starts near uniform (1/K) */
            const double u = hi > lo ? fmin(1.0, fmax(0.0, (p - lo) / (hi - lo))) : 0.5;
            fprintf(f,
                    "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" "
                    "style=\"fill:var(--c1);fill-opacity:%.3f\"/>",
                    px, py, cw - 1, ch - 1, 0.06 + 0.94 * u);
            if (full)
                fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\"%s>%.2f</text>",
                        px + cw / 2, py + ch - 6, u > 0.6 ? " style=\"fill:#fff\"" : "", p);
            k++;
        }
        if (full) {
            char en[32];
            edge_name(ci, e, en, sizeof en);
            fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">%s</text>", ml - 6,
                    mt + ch * e + ch - 6, en);
        }
        fprintf(f, "\n");
        e++;
    }
    if (full) {
        fprintf(f, "<g class=\"axis axis-x\">");
        for (int k = 0; k < K; k++) {
            char on[32];
            op_name(ci, k, on, sizeof on);
            fprintf(f, "<text transform=\"translate(%.0f %.0f) rotate(-60)\">%s%s</text>",
                    ml + cw * k + cw / 2, mt - 6, on,
                    ci->known && k < ci->n_ops && ci->param_free[k] ? " \xE2\x80\xA0" : "");
        }
        fprintf(f,
                "<text class=\"xlabel\" x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">operation "
                "(\xE2\x80\xA0 parameter-free)</text></g>",
                ml + cw * K / 2, h - 6);
        fprintf(f,
                "<g class=\"axis axis-y\"><text class=\"ylabel\" transform=\"translate(12 "
                "%.0f) rotate(-90)\" text-anchor=\"middle\">edge (from\xE2\x86\x92to node)"
                "</text></g>",
                mt + ch * E / 2);
    }
    fprintf(f, "</svg>");
    if (full) {
        fprintf(f, "<figcaption>");
        nasc_rp_esc(f, title);
        fprintf(f, ". Shade scaled from %.3f (lightest) to %.3f (darkest).</figcaption>", lo, hi);
    }
    fprintf(f, "</figure>\n");
}

/* Smallest and largest probability in rows. */
static void range_of(const cJSON *rows, double *lo, double *hi) {
    const cJSON *r, *x;
    cJSON_ArrayForEach(r, rows) {
        cJSON_ArrayForEach(x, r) {
            if (cJSON_IsNumber(x)) {
                *lo = fmin(*lo, x->valuedouble);
                *hi = fmax(*hi, x->valuedouble);
            }
        }
    }
}

static void epoch_plot(FILE *f, const cJSON *eps, int n, const char *id, const char *title,
                       const char *ylabel, const char *const *keys, const char *const *names,
                       int n_keys, double scale, int *counter) {
    double x[NASC_MAX_CURVE] = {0}, y[4][NASC_MAX_CURVE] = {{0}}, all[4 * NASC_MAX_CURVE] = {0};
    int m = 0;
    const cJSON *ep;
    cJSON_ArrayForEach(ep, eps) {
        if (m >= NASC_MAX_CURVE)
            break;
        x[m] = num(ep, "epoch") + 1;
        for (int s = 0; s < n_keys; s++)
            all[s * NASC_MAX_CURVE + m] = y[s][m] = num(ep, keys[s]) * scale;
        m++;
    }
    (void)n;
    double ys[4 * NASC_MAX_CURVE];
    int q = 0;
    for (int s = 0; s < n_keys; s++)
        for (int i = 0; i < m; i++)
            ys[q++] = all[s * NASC_MAX_CURVE + i];
    nasc_rp_axis ax, ay;
    nasc_rp_axis_fit(&ax, x, m, false, "epoch (completed epochs)");
    ax.integer = true;
    nasc_rp_axis_fit(&ay, ys, q, false, ylabel);
    char alt[512], a[32];
    snprintf(alt, sizeof alt, "%s over %d epochs; last epoch: %s %s.", title, m, names[0],
             m ? nasc_rp_num(y[0][m - 1], a, sizeof a) : "none");
    nasc_rp_plot p;
    nasc_rp_plot_begin(&p, f, 460, 280, id, title, alt, ax, ay, counter);
    static const char *const cls[] = {"curve c1", "curve c2", "curve c3", "curve c4"};
    static const char *const dot[] = {"dot", "dot f1", "dot f2", "dot f3"};
    for (int s = 0; s < n_keys; s++) {
        nasc_rp_line(&p, x, y[s], m, cls[s], false);
        nasc_rp_dots(&p, x, y[s], m, dot[s]);
        nasc_rp_legend(&p, s, dot[s], false, names[s]);
    }
    nasc_rp_plot_end(&p, "");
}

void nasc_rv_write_oneshot(FILE *f, const nasc_rv *v, int *counter) {
    fprintf(f, "<section id=\"oneshot\"><h2>One-shot search</h2>\n");
    const cJSON *eps = v->history ? cJSON_GetObjectItemCaseSensitive(v->history, "epochs") : NULL;
    const int n = cJSON_IsArray(eps) ? cJSON_GetArraySize(eps) : 0;
    if (!n) {
        fprintf(f, "<p>No epoch history recorded yet.</p></section>\n");
        return;
    }
    cell_info ci;
    cell_info_get(nasc_rv_cfg(v, "space"), &ci);
    const cJSON *last = cJSON_GetArrayItem(eps, n - 1);
    static const char *const types[] = {"normal", "reduce", "cell"};
    char id[48], title[96];
    fprintf(f, "<h3>Architecture weights after the last epoch (%d)</h3>\n", n);
    for (int t = 0; t < 3; t++) {
        const cJSON *rows = alpha_of(last, types[t]);
        if (!rows)
            continue;
        snprintf(id, sizeof id, "alpha-%s", types[t]);
        snprintf(title, sizeof title, "softmax(alpha), %s cell, epoch %d", types[t], n);
        double lo = INFINITY, hi = -INFINITY;
        range_of(rows, &lo, &hi);
        heat_map(f, &ci, rows, id, title, true, lo, hi, counter);
    }
    fprintf(f, "<h3>Architecture weights across epochs</h3>\n");
    for (int t = 0; t < 3; t++) {
        if (!alpha_of(last, types[t]))
            continue;
        fprintf(f,
                "<div class=\"multiples\" id=\"alpha-multiples-%s\" role=\"group\" "
                "aria-label=\"softmax(alpha) of the %s cell after each epoch\">\n",
                types[t], types[t]);
        const cJSON *ep;
        double lo = INFINITY, hi = -INFINITY; /* one scale for all epochs */
        cJSON_ArrayForEach(ep, eps) {
            const cJSON *rows = alpha_of(ep, types[t]);
            if (rows)
                range_of(rows, &lo, &hi);
        }
        int k = 0;
        cJSON_ArrayForEach(ep, eps) {
            const cJSON *rows = alpha_of(ep, types[t]);
            if (rows) {
                snprintf(id, sizeof id, "alpha-%s-%d", types[t], k);
                snprintf(title, sizeof title, "epoch %d", k + 1);
                heat_map(f, &ci, rows, id, title, false, lo, hi, NULL);
            }
            k++;
        }
        fprintf(f,
                "</div><p class=\"muted\">%s cell, epochs 1 to %d (rows: edges, columns: "
                "operations, as above); one shade scale for all epochs, %.3f to %.3f.</p>\n",
                types[t], k, lo, hi);
    }
    fprintf(f, "<h3>Per epoch</h3>\n");
    static const char *const acc_keys[] = {"train_acc", "val_acc"};
    static const char *const acc_names[] = {"training", "validation (supernet)"};
    epoch_plot(f, eps, n, "oneshot-accuracy", "Training and validation accuracy per epoch",
               "accuracy (%)", acc_keys, acc_names, 2, 1.0, counter);
    static const char *const pf_keys[] = {"param_free_share"};
    static const char *const pf_names[] = {"parameter-free ops"};
    epoch_plot(f, eps, n, "oneshot-param-free", "Share of parameter-free ops in the derived cells",
               "parameter-free ops (% of the cells' ops)", pf_keys, pf_names, 1, 100.0, counter);
    fprintf(f, "<table id=\"genotypes\"><thead><tr><th>epoch</th><th>train acc (%%)</th>"
               "<th>val acc (%%)</th><th>param-free (%%)</th><th>skips (normal)</th>"
               "<th>genotype derived after the epoch (bold: changed)</th></tr></thead><tbody>\n");
    const char *prev = NULL;
    const cJSON *ep;
    cJSON_ArrayForEach(ep, eps) {
        const cJSON *arch = cJSON_GetObjectItemCaseSensitive(ep, "arch");
        const char *a = cJSON_IsString(arch) ? arch->valuestring : "";
        const bool changed = prev && strcmp(prev, a);
        fprintf(f,
                "<tr><td class=\"n\">%.0f</td><td class=\"n\">%.2f</td><td class=\"n\">%.2f"
                "</td><td class=\"n\">%.0f</td><td class=\"n\">%.0f</td><td class=\"arch\">%s",
                num(ep, "epoch") + 1, num(ep, "train_acc"), num(ep, "val_acc"),
                100 * num(ep, "param_free_share"), num(ep, "skips_normal"), changed ? "<b>" : "");
        nasc_rp_esc(f, a);
        const cJSON *sr = cJSON_GetObjectItemCaseSensitive(ep, "stop_reason");
        fprintf(f, "%s", changed ? "</b>" : "");
        if (cJSON_IsString(sr)) {
            fprintf(f, "<br><span class=\"muted\">stopped: ");
            nasc_rp_esc(f, sr->valuestring);
            fprintf(f, "</span>");
        }
        fprintf(f, "</td></tr>\n");
        prev = a;
    }
    fprintf(f, "</tbody></table></section>\n");
}
