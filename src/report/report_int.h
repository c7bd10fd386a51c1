/* report_int.h — internals of the HTML report: text escaping, number formatting and the SVG plot
 * primitives (plot.c), shared by the sections (report.c, oneshot_view.c). Never installed. */
#ifndef NASC_REPORT_INT_H
#define NASC_REPORT_INT_H

#include <stdbool.h>
#include <stdio.h>

#include "nasc/report.h"

/* ---- text ---- */

/* s with &, <, >, " and ' escaped for HTML text and attribute values. */
NASC_INTERNAL void nasc_rp_esc(FILE *f, const char *s);
/* A number for people: 4 significant digits, k/M/G suffixes past 10^4 ("1.23M"), "–" if not
 * finite. buf is returned. */
const char *nasc_rp_num(double v, char *buf, size_t n);

/* ---- plots ----
 * A plot is a <figure> holding an <svg role="img"> with <title> and <desc> (its text
 * alternative), a frame, ticks with labels, and axis labels (with units) in <text class="xlabel">
 * and <text class="ylabel">, then the marks, then a <figcaption>. Coordinates: data units
 * through the axes (linear or log10). */

typedef struct nasc_rp_axis {
    double lo, hi;     /* data range shown */
    bool log;          /* log10 scale (lo > 0) */
    bool integer;      /* ticks at whole numbers only (epochs, trial ids) */
    const char *label; /* with its unit: "wall time (s)" */
} nasc_rp_axis;

typedef struct nasc_rp_plot {
    FILE *f;
    double w, h;           /* SVG size (px) */
    double ml, mr, mt, mb; /* margins (px) */
    nasc_rp_axis x, y;
    int *counter; /* plots written (nasc_report_info.n_plots) */
} nasc_rp_plot;

/* Fits an axis to the finite values v[0..n) (log: the positive ones), with 4 % padding; an empty
 * or constant set gets a unit-wide range. Clears a->integer. */
NASC_INTERNAL void nasc_rp_axis_fit(nasc_rp_axis *a, const double *v, long n, bool log,
                                    const char *label);
/* Widens a to include v. */
NASC_INTERNAL void nasc_rp_axis_include(nasc_rp_axis *a, double v);

/* Opens the figure: id (HTML id, unique), title (also the heading of the figure), alt (one or
 * two sentences saying what the plot shows and its main numbers). */
NASC_INTERNAL void nasc_rp_plot_begin(nasc_rp_plot *p, FILE *f, double w, double h, const char *id,
                                      const char *title, const char *alt, nasc_rp_axis x,
                                      nasc_rp_axis y, int *counter);
NASC_INTERNAL void nasc_rp_plot_end(nasc_rp_plot *p, const char *caption);
NASC_INTERNAL double nasc_rp_px(const nasc_rp_plot *p, double x);
NASC_INTERNAL double nasc_rp_py(const nasc_rp_plot *p, double y);
/* Points (x[i], y[i]) as round dots of class cls, all in one <path> (zero-length segments with
 * round caps: ~15 bytes a point, so 10,000 trials stay small). Non-finite points are skipped. */
NASC_INTERNAL void nasc_rp_dots(nasc_rp_plot *p, const double *x, const double *y, long n,
                                const char *cls);
/* The same as crosses (failed trials), at y (clamped into the plot). */
NASC_INTERNAL void nasc_rp_crosses(nasc_rp_plot *p, const double *x, const double *y, long n,
                                   const char *cls);
/* A polyline through the finite points (a gap at non-finite ones); step: horizontal then
 * vertical (best so far). */
NASC_INTERNAL void nasc_rp_line(nasc_rp_plot *p, const double *x, const double *y, long n,
                                const char *cls, bool step);
/* A dashed horizontal (vertical = false) or vertical line at v with a label (a constraint). */
NASC_INTERNAL void nasc_rp_rule(nasc_rp_plot *p, double v, bool vertical, const char *label);
/* A legend entry at row k (top right): a sample of class cls and its text. */
NASC_INTERNAL void nasc_rp_legend(nasc_rp_plot *p, int k, const char *cls, bool cross,
                                  const char *text);

#endif /* NASC_REPORT_INT_H */
