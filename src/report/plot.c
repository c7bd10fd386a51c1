/* plot.c — the report's SVG plots: axes with "nice" ticks (1, 2, 5 x 10^k; powers of ten on a log
 * scale), axis labels, and marks written compactly so that a 10,000-trial report stays a few MB.
 * Colours come from CSS classes (report.c's style sheet), so light and dark mode and print need
 * nothing here. */
#include "report_int.h"

#include <math.h>
#include <string.h>

void nasc_rp_esc(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

const char *nasc_rp_num(double v, char *buf, size_t n) {
    if (!isfinite(v)) {
        snprintf(buf, n, "\xE2\x80\x93"); /* en dash */
        return buf;
    }
    const double a = fabs(v);
    if (a >= 1e9)
        snprintf(buf, n, "%.4gG", v / 1e9);
    else if (a >= 1e6)
        snprintf(buf, n, "%.4gM", v / 1e6);
    else if (a >= 1e4)
        snprintf(buf, n, "%.4gk", v / 1e3);
    else
        snprintf(buf, n, "%.4g", v);
    return buf;
}

/* ---- axes ---- */

static double tr(const nasc_rp_axis *a, double v) {
    return a->log ? log10(v) : v;
}

void nasc_rp_axis_fit(nasc_rp_axis *a, const double *v, long n, bool log, const char *label) {
    double lo = INFINITY, hi = -INFINITY;
    for (long i = 0; i < n; i++) {
        if (!isfinite(v[i]) || (log && v[i] <= 0))
            continue;
        lo = fmin(lo, v[i]);
        hi = fmax(hi, v[i]);
    }
    a->log = log;
    a->integer = false;
    a->label = label;
    if (!(lo <= hi)) { /* nothing to show */
        lo = log ? 1 : 0;
        hi = log ? 10 : 1;
    }
    if (log) {
        double l = log10(lo), h = log10(hi);
        if (h - l < 1e-9) {
            l -= 0.5;
            h += 0.5;
        }
        const double pad = 0.04 * (h - l);
        a->lo = pow(10, l - pad);
        a->hi = pow(10, h + pad);
        return;
    }
    if (hi - lo < 1e-12 * fmax(1.0, fabs(hi))) {
        lo -= fmax(0.5, fabs(lo) * 0.05);
        hi += fmax(0.5, fabs(hi) * 0.05);
    }
    const double pad = 0.04 * (hi - lo);
    a->lo = lo - pad;
    a->hi = hi + pad;
}

void nasc_rp_axis_include(nasc_rp_axis *a, double v) {
    if (!isfinite(v) || (a->log && v <= 0))
        return;
    const double pad = 0.04 * (tr(a, a->hi) - tr(a, a->lo));
    if (v < a->lo)
        a->lo = a->log ? pow(10, log10(v) - pad) : v - pad;
    if (v > a->hi)
        a->hi = a->log ? pow(10, log10(v) + pad) : v + pad;
}

/* Tick values of a into t (at most 12); returns their count. */
static int ticks(const nasc_rp_axis *a, double *t) {
    int n = 0;
    if (a->log) {
        const double l = floor(log10(a->lo)), h = ceil(log10(a->hi));
        const int step = h - l > 8 ? 2 : 1;
        for (double e = l; e <= h && n < 12; e += step) {
            const double v = pow(10, e);
            if (v >= a->lo && v <= a->hi)
                t[n++] = v;
        }
        if (n < 2) /* less than a decade: 1-2-5 ticks too */
            for (double e = l; e <= h && n < 12; e++)
                for (int m = 2; m <= 5; m += 3) {
                    const double v = m * pow(10, e);
                    if (v >= a->lo && v <= a->hi && n < 12)
                        t[n++] = v;
                }
        return n;
    }
    const double span = a->hi - a->lo, raw = span / 5;
    const double mag = pow(10, floor(log10(raw))), f = raw / mag;
    double step = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
    if (a->integer && step < 1) /* epochs, trial ids */
        step = 1;
    for (double v = ceil(a->lo / step) * step; v <= a->hi + 1e-9 * span && n < 12; v += step)
        t[n++] = fabs(v) < 1e-9 * span ? 0.0 : v;
    return n;
}

/* ---- the figure ---- */

double nasc_rp_px(const nasc_rp_plot *p, double x) {
    const double l = tr(&p->x, p->x.lo), h = tr(&p->x, p->x.hi);
    return p->ml + (tr(&p->x, x) - l) / (h - l) * (p->w - p->ml - p->mr);
}

double nasc_rp_py(const nasc_rp_plot *p, double y) {
    const double l = tr(&p->y, p->y.lo), h = tr(&p->y, p->y.hi);
    return p->h - p->mb - (tr(&p->y, y) - l) / (h - l) * (p->h - p->mt - p->mb);
}

void nasc_rp_plot_begin(nasc_rp_plot *p, FILE *f, double w, double h, const char *id,
                        const char *title, const char *alt, nasc_rp_axis x, nasc_rp_axis y,
                        int *counter) {
    *p = (nasc_rp_plot){.f = f,
                        .w = w,
                        .h = h,
                        .ml = 62,
                        .mr = 14,
                        .mt = 26,
                        .mb = 46,
                        .x = x,
                        .y = y,
                        .counter = counter};
    if (counter)
        ++*counter;
    fprintf(f, "<figure class=\"plot\" id=\"");
    nasc_rp_esc(f, id);
    fprintf(f,
            "\"><svg viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\" "
            "aria-labelledby=\"%s-t %s-d\"><title id=\"%s-t\">",
            w, h, w, h, id, id, id);
    nasc_rp_esc(f, title);
    fprintf(f, "</title><desc id=\"%s-d\">", id);
    nasc_rp_esc(f, alt);
    fprintf(f, "</desc>\n");
    const double x0 = p->ml, x1 = w - p->mr, y0 = p->mt, y1 = h - p->mb;
    fprintf(f, "<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n", x0,
            y0, x1 - x0, y1 - y0);
    double t[12];
    char buf[32];
    int n = ticks(&p->x, t);
    fprintf(f, "<g class=\"axis axis-x\">");
    for (int i = 0; i < n; i++) {
        const double px = nasc_rp_px(p, t[i]);
        fprintf(f,
                "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>",
                px, px, y0, y1 + 4, px, y1 + 16, nasc_rp_num(t[i], buf, sizeof buf));
    }
    fprintf(f, "<text class=\"xlabel\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
            (x0 + x1) / 2, h - 8);
    nasc_rp_esc(f, p->x.label);
    fprintf(f, "</text></g>\n<g class=\"axis axis-y\">");
    n = ticks(&p->y, t);
    for (int i = 0; i < n; i++) {
        const double py = nasc_rp_py(p, t[i]);
        fprintf(f,
                "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>",
                x0 - 4, x1, py, py, x0 - 6, py + 4, nasc_rp_num(t[i], buf, sizeof buf));
    }
    fprintf(f,
            "<text class=\"ylabel\" transform=\"translate(14 %.1f) rotate(-90)\" "
            "text-anchor=\"middle\">",
            (y0 + y1) / 2);
    nasc_rp_esc(f, p->y.label);
    fprintf(f, "</text></g>\n");
}

void nasc_rp_plot_end(nasc_rp_plot *p, const char *caption) {
    fprintf(p->f, "</svg>");
    if (caption && *caption) {
        fprintf(p->f, "<figcaption>");
        nasc_rp_esc(p->f, caption);
        fprintf(p->f, "</figcaption>");
    }
    fprintf(p->f, "</figure>\n");
}

static bool inside(const nasc_rp_plot *p, double x, double y) {
    return isfinite(x) && isfinite(y) && (!p->x.log || x > 0) && (!p->y.log || y > 0);
}

void nasc_rp_dots(nasc_rp_plot *p, const double *x, const double *y, long n, const char *cls) {
    fprintf(p->f, "<path class=\"%s\" d=\"", cls);
    for (long i = 0; i < n; i++)
        if (inside(p, x[i], y[i]))
            fprintf(p->f, "M%.1f %.1fh0", nasc_rp_px(p, x[i]), nasc_rp_py(p, y[i]));
    fprintf(p->f, "\"/>\n");
}

void nasc_rp_crosses(nasc_rp_plot *p, const double *x, const double *y, long n, const char *cls) {
    fprintf(p->f, "<path class=\"%s\" d=\"", cls);
    const double top = p->mt, bot = p->h - p->mb;
    for (long i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            continue;
        double py = isfinite(y[i]) ? nasc_rp_py(p, y[i]) : bot - 6;
        py = fmin(fmax(py, top + 4), bot - 4);
        fprintf(p->f, "M%.1f %.1fl6 6m0-6l-6 6", nasc_rp_px(p, x[i]) - 3, py - 3);
    }
    fprintf(p->f, "\"/>\n");
}

void nasc_rp_line(nasc_rp_plot *p, const double *x, const double *y, long n, const char *cls,
                  bool step) {
    fprintf(p->f, "<path class=\"%s\" d=\"", cls);
    bool pen = false;
    for (long i = 0; i < n; i++) {
        if (!inside(p, x[i], y[i])) {
            pen = false;
            continue;
        }
        const double px = nasc_rp_px(p, x[i]), py = nasc_rp_py(p, y[i]);
        if (!pen)
            fprintf(p->f, "M%.1f %.1f", px, py);
        else if (step)
            fprintf(p->f, "H%.1fV%.1f", px, py);
        else
            fprintf(p->f, "L%.1f %.1f", px, py);
        pen = true;
    }
    fprintf(p->f, "\"/>\n");
}

void nasc_rp_rule(nasc_rp_plot *p, double v, bool vertical, const char *label) {
    if (!isfinite(v) || (vertical && (v < p->x.lo || v > p->x.hi)) ||
        (!vertical && (v < p->y.lo || v > p->y.hi)))
        return;
    FILE *f = p->f;
    if (vertical) {
        const double px = nasc_rp_px(p, v);
        fprintf(f,
                "<line class=\"rule\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                "<text class=\"rule-label\" x=\"%.1f\" y=\"%.1f\">",
                px, px, p->mt, p->h - p->mb, px + 3, p->mt + 12);
    } else {
        const double py = nasc_rp_py(p, v);
        fprintf(f,
                "<line class=\"rule\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                "<text class=\"rule-label\" x=\"%.1f\" y=\"%.1f\">",
                p->ml, p->w - p->mr, py, py, p->ml + 4, py - 4);
    }
    nasc_rp_esc(f, label);
    fprintf(f, "</text>\n");
}

void nasc_rp_legend(nasc_rp_plot *p, int k, const char *cls, bool cross, const char *text) {
    /* in the top margin, left to right, so it never hides a mark */
    const double x = p->ml + 6 + 150.0 * k, y = p->mt - 8;
    if (cross)
        fprintf(p->f, "<path class=\"%s\" d=\"M%.1f %.1fl6 6m0-6l-6 6\"/>", cls, x - 3, y - 7);
    else
        fprintf(p->f, "<path class=\"%s\" d=\"M%.1f %.1fh0\"/>", cls, x, y - 4);
    fprintf(p->f, "<text class=\"legend\" x=\"%.1f\" y=\"%.1f\">", x + 10, y);
    nasc_rp_esc(p->f, text);
    fprintf(p->f, "</text>\n");
}
