/*
 * draw.h — an architecture drawn as SVG, laid out by Graphviz's library (libgvc, "dot").
 *
 * The structure comes from the space (nasc_arch_to_dot: one home for what a cell looks like);
 * this module lays it out and renders it, so the SVG shows exactly what `nasc show --dot` prints:
 *   darts      the normal and the reduction cell side by side, each a cluster with the inputs
 *              c_{k-2}, c_{k-1}, intermediate nodes 2..5 and the output c_{k}; edges labelled
 *              with their op;
 *   nb201      the cell's 4 nodes (in, 1, 2, out) and its edges labelled with their op;
 *   chain, mobilenet, macro, morph   a block diagram from input to classifier (skips dashed).
 * Edges whose op is "none" (the zero operation of the cell spaces) are left out of the drawing.
 *
 * The result is a bare <svg> element: no XML prolog, DOCTYPE or comments, so it can be inlined
 * in HTML as it is (and it is still a well-formed XML document on its own). Element ids are
 * Graphviz's (graph0, node1, edge1, clust1, ...), prefixed with cfg->id_prefix so that several
 * drawings can share one page. Graphviz writes presentation attributes (fill="black", ...);
 * CSS rules on the page override them (e.g. for a dark mode). The background is transparent.
 *
 * Ownership: the returned string is nasc_malloc'd; the caller frees it with nasc_free.
 * Thread safety: libgvc keeps global state (error handler, plugin registry), so calls are
 * serialised by a mutex inside this module; every call creates and frees its own Graphviz
 * context, graph and layout (nothing is kept between calls).
 *
 *     nasc_space *sp; nasc_arch *a; char *svg; nasc_err err = {0};
 *     nasc_space_new("nb201", NULL, &sp, &err);
 *     nasc_arch_parse(sp, "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|", &a, &err);
 *     if (nasc_draw_svg(a, &(nasc_draw_config){.id_prefix = "top1-"}, &svg, &err) == NASC_OK) {
 *         fputs(svg, html);               // "<svg width=... viewBox=...>...</svg>\n"
 *         nasc_free(svg);
 *     }
 */
#ifndef NASC_DRAW_H
#define NASC_DRAW_H

#include "nasc/space.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Drawing options; a zero struct (or NULL) gives the defaults. */
typedef struct nasc_draw_config {
    const char *id_prefix; /* prepended to every id="..." (NULL: none); [A-Za-z0-9_-] only */
    bool keep_none;        /* draw "none" edges too (dotted), as nasc_arch_to_dot has them */
} nasc_draw_config;

/* Draws a as an SVG element into *out (nasc_malloc'd, caller frees; NULL on failure).
 * NASC_ERR_ARG for a bad id_prefix; NASC_ERR_NOMEM; NASC_ERR_INTERNAL with Graphviz's message
 * if Graphviz fails (e.g. its plugins are not configured: run `dot -c` as root). */
NASC_API nasc_status nasc_draw_svg(const nasc_arch *a, const nasc_draw_config *cfg, char **out,
                                   nasc_err *err);

/* As nasc_draw_svg for a Graphviz graph given as DOT text (what nasc_arch_to_dot returns), for
 * drawings that are not one architecture. NASC_ERR_FORMAT with Graphviz's message if dot does
 * not parse. */
NASC_API nasc_status nasc_draw_dot_svg(const char *dot, const nasc_draw_config *cfg, char **out,
                                       nasc_err *err);

#ifdef __cplusplus
}
#endif
#endif /* NASC_DRAW_H */
