/* draw.c — architectures as SVG: the space's DOT text, laid out and rendered by libgvc.
 *
 * libgvc is not thread-safe and reports errors through one global handler, so a call holds
 * draw_lock from start to end, routes Graphviz's messages into draw_msg (never to stderr: the
 * library does not print) and restores the previous handler. Everything Graphviz allocates in a
 * call (context, graph, layout, render buffer) is freed before the call returns. */
#include "nasc/draw.h"

#include "nasc/arena.h"

#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>
#include <pthread.h>
#include <string.h>

static pthread_mutex_t draw_lock = PTHREAD_MUTEX_INITIALIZER;
static char draw_msg[512]; /* Graphviz's messages of the current call, guarded by draw_lock */

static int collect_msg(char *msg) {
    const size_t have = strlen(draw_msg);
    if (have + 1 < sizeof draw_msg)
        snprintf(draw_msg + have, sizeof draw_msg - have, "%s", msg);
    return 0;
}

/* Graphviz's messages end in a newline and may hold several lines: one line for our message. */
static const char *gv_message(void) {
    for (char *p = draw_msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = p[1] ? ' ' : '\0';
    return draw_msg[0] ? draw_msg : "no message";
}

static bool prefix_ok(const char *p) {
    for (; p && *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-'))
            return false;
    return true;
}

/* Removes the edges labelled "none" (the zero op: no information flows along them). */
static void drop_none_edges(Agraph_t *g) {
    for (Agnode_t *n = agfstnode(g); n; n = agnxtnode(g, n)) {
        Agedge_t *next;
        for (Agedge_t *e = agfstout(g, n); e; e = next) {
            next = agnxtout(g, e);
            const char *label = agget(e, "label");
            if (label && !strcmp(label, "none"))
                agdelete(g, e);
        }
    }
}

/* The <svg ...>...</svg> element of Graphviz's output, without what precedes it (XML prolog,
 * DOCTYPE, the generator comment) and without comments, ids prefixed. NULL on OOM. */
static char *clean_svg(const char *svg, size_t len, const char *prefix) {
    const char *end = svg + len, *p = strstr(svg, "<svg");
    if (!p)
        return NULL;
    const size_t plen = prefix ? strlen(prefix) : 0;
    size_t n_ids = 0;
    for (const char *q = p; (q = strstr(q, " id=\"")) != NULL; q += 5)
        n_ids++;
    char *out = nasc_malloc((size_t)(end - p) + n_ids * plen + 2), *o = out;
    if (!out)
        return NULL;
    while (p < end && *p) {
        if (!strncmp(p, "<!--", 4)) {
            const char *c = strstr(p + 4, "-->");
            p = c ? c + 3 : end;
            if (p < end && *p == '\n') /* the comment's own line */
                p++;
        } else if (plen && !strncmp(p, " id=\"", 5)) {
            memcpy(o, p, 5), o += 5, p += 5;
            memcpy(o, prefix, plen), o += plen;
        } else {
            *o++ = *p++;
        }
    }
    if (o == out || o[-1] != '\n')
        *o++ = '\n';
    *o = '\0';
    return out;
}

nasc_status nasc_draw_dot_svg(const char *dot, const nasc_draw_config *cfg, char **out,
                              nasc_err *err) {
    static const nasc_draw_config defaults = {0};
    if (!cfg)
        cfg = &defaults;
    *out = NULL;
    if (!prefix_ok(cfg->id_prefix))
        return nasc_errorf(err, NASC_ERR_ARG,
                           "draw: id prefix '%s': expected letters, digits, '_' or '-'",
                           cfg->id_prefix);
    nasc_status st = NASC_OK;
    GVC_t *gvc = NULL;
    Agraph_t *g = NULL;
    char *svg = NULL;
    unsigned int svg_len = 0;
    bool laid_out = false;

    pthread_mutex_lock(&draw_lock);
    draw_msg[0] = '\0';
    const agusererrf old_errf = agseterrf(collect_msg);
    /* Every message goes to collect_msg: a level above AGWARN would send the others to a
     * tmpfile that Graphviz keeps open for the rest of the process. */
    const agerrlevel_t old_level = agseterr(AGWARN);

    gvc = gvContext();
    if (!gvc) {
        st = nasc_errorf(err, NASC_ERR_NOMEM, "draw: cannot create a Graphviz context");
        goto done;
    }
    g = agmemread(dot);
    if (!g) {
        st = nasc_errorf(err, NASC_ERR_FORMAT, "draw: Graphviz cannot read the drawing: %s",
                         gv_message());
        goto done;
    }
    if (!cfg->keep_none)
        drop_none_edges(g);
    agsafeset(g, "bgcolor", "transparent", "");
    agattr(g, AGRAPH, "fontname", "Helvetica,Arial,sans-serif");
    agattr(g, AGNODE, "fontname", "Helvetica,Arial,sans-serif");
    agattr(g, AGEDGE, "fontname", "Helvetica,Arial,sans-serif");
    agattr(g, AGEDGE, "fontsize", "10");
    if (gvLayout(gvc, g, "dot") != 0) {
        st = nasc_errorf(err, NASC_ERR_INTERNAL,
                         "draw: Graphviz layout \"dot\" failed (are its plugins configured? "
                         "`dot -c` as root): %s",
                         gv_message());
        goto done;
    }
    laid_out = true;
    if (gvRenderData(gvc, g, "svg", &svg, &svg_len) != 0 || !svg) {
        st = nasc_errorf(err, NASC_ERR_INTERNAL, "draw: Graphviz cannot render SVG: %s",
                         gv_message());
        goto done;
    }
    *out = clean_svg(svg, svg_len, cfg->id_prefix);
    if (!*out)
        st = nasc_errorf(err, NASC_ERR_NOMEM, "draw: out of memory (or no <svg> element)");
done:
    if (svg)
        gvFreeRenderData(svg);
    if (laid_out)
        gvFreeLayout(gvc, g);
    if (g)
        agclose(g);
    if (gvc)
        gvFreeContext(gvc);
    agseterr(old_level);
    agseterrf(old_errf);
    pthread_mutex_unlock(&draw_lock);
    return st;
}

nasc_status nasc_draw_svg(const nasc_arch *a, const nasc_draw_config *cfg, char **out,
                          nasc_err *err) {
    *out = NULL;
    char *dot = nasc_arch_to_dot(a);
    if (!dot)
        return nasc_errorf(err, NASC_ERR_NOMEM, "draw: out of memory");
    nasc_status st = nasc_draw_dot_svg(dot, cfg, out, err);
    nasc_free(dot);
    return st;
}
