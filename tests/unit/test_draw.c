/* test_draw.c — architectures drawn as SVG (draw.h): one architecture per space; the drawing
 * holds the expected node and edge labels, "none" edges are left out (or kept on request), ids
 * carry the prefix, the output is a bare <svg> element (no prolog, DOCTYPE or comment) and
 * Python's XML parser (an independent reader) accepts it. */
#include "test.h"

#include "nasc/arena.h"
#include "nasc/draw.h"

#include <unistd.h>

typedef struct draw_case {
    const char *space, *arch;
    const char *labels[12]; /* texts that must appear as <text>...</text> */
    int n_edges;            /* class="edge" elements expected (-1: not checked) */
} draw_case;

static const draw_case cases[] = {
    {"nb201",
     "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|",
     {"in", "1", "2", "out", "nor_conv_3x3", "skip_connect", "avg_pool_3x3", "nor_conv_1x1"},
     4},
    {"darts",
     "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
     "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
     "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
     "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
     "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])",
     {"normal cell", "reduce cell", "c_{k&#45;2}", "c_{k&#45;1}", "c_{k}", "sep_conv_3x3",
      "skip_connect", "dil_conv_3x3", "max_pool_3x3", "5"},
     2 * (8 + 4)},
    {"chain", "conv3x3-32,relu,maxpool,conv5x5-64,relu,fc-128,relu",
     {"input", "conv3x3&#45;32", "maxpool", "conv5x5&#45;64", "fc&#45;128", "linear classifier"},
     8},
    {"mobilenet", "e6k3d2,e3k5d3,e6k7d1,e3k3d4,e6k5d2",
     {"stem conv3x3", "stage 0: 2 x MBConv e6 k3, stride 1, width x1",
      "head conv1x1, pool, linear"},
     6},
    {"macro",
     "conv3x3,sepconv5x5+0,maxpool+0+1,avgpool+2,conv5x5,conv3x3,conv3x3,conv3x3,conv3x3,"
     "conv3x3,conv3x3,conv3x3",
     {"stem", "0: conv3x3", "1: sepconv5x5", "2: maxpool", "3: avgpool", "pool, linear"},
     13 + 4},
    {"morph", "conv3x3-16,conv3x3-16+0,maxpool,conv3x3-32,conv5x5-32+2",
     {"input", "0: conv3x3&#45;16", "1: conv3x3&#45;16, maxpool", "1x1", "pool, linear"},
     5 + 2},
};

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* 1 if Python's XML parser accepts the text, 0 if it rejects it, -1 if python3 is missing. */
static int xml_ok(const char *svg) {
    if (system("python3 -c 'import xml.dom.minidom' >/dev/null 2>&1") != 0)
        return -1;
    char path[] = "/tmp/nasc_test_draw_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 0;
    FILE *f = fdopen(fd, "w");
    fputs(svg, f);
    fclose(f);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "python3 -c 'import sys, xml.dom.minidom as m; "
                              "m.parse(sys.argv[1])' %s 2>/dev/null", path);
    int rc = system(cmd);
    unlink(path);
    return rc == 0;
}

static void check_case(const draw_case *c) {
    nasc_err err = {0};
    nasc_space *sp = NULL;
    nasc_arch *a = NULL;
    char *svg = NULL;
    CHECK_STATUS(nasc_space_new(c->space, NULL, &sp, &err), NASC_OK);
    CHECK_STATUS(nasc_arch_parse(sp, c->arch, &a, &err), NASC_OK);
    if (!a) {
        fprintf(stderr, "%s: %s\n", c->space, err.msg);
        nasc_space_free(sp);
        return;
    }
    nasc_status st = nasc_draw_svg(a, &(nasc_draw_config){.id_prefix = "t-"}, &svg, &err);
    CHECK_MSG(st == NASC_OK, "%s: %s", c->space, err.msg);
    if (svg) {
        CHECK_MSG(!strncmp(svg, "<svg", 4), "%s: starts with %.40s", c->space, svg);
        CHECK(strstr(svg, "<?xml") == NULL && strstr(svg, "DOCTYPE") == NULL);
        CHECK(strstr(svg, "<!--") == NULL);
        CHECK(strlen(svg) > 7 && !strcmp(svg + strlen(svg) - 7, "</svg>\n"));
        for (int i = 0; i < 12 && c->labels[i]; i++) {
            char want[160];
            snprintf(want, sizeof want, ">%s</text>", c->labels[i]);
            CHECK_MSG(strstr(svg, want) != NULL, "%s: no label %s", c->space, want);
        }
        if (c->n_edges >= 0)
            CHECK_MSG(count(svg, "class=\"edge\"") == c->n_edges, "%s: %d edges, expected %d",
                      c->space, count(svg, "class=\"edge\""), c->n_edges);
        CHECK_MSG(count(svg, " id=\"") == count(svg, " id=\"t-") && count(svg, " id=\"") > 0,
                  "%s: ids without the prefix", c->space);
        int ok = xml_ok(svg);
        CHECK_MSG(ok != 0, "%s: Python's XML parser rejects the SVG", c->space);
        if (ok < 0)
            fprintf(stderr, "note: python3 not found; XML well-formedness not checked\n");
    }
    nasc_free(svg);
    nasc_arch_free(a);
    nasc_space_free(sp);
}

int main(void) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(&cases[i]);

    /* "none" edges: left out by default, drawn on request; the XML parser rejects broken
     * SVG (the check above can fail). */
    nasc_err err = {0};
    nasc_space *sp = NULL;
    nasc_arch *a = NULL;
    char *svg = NULL;
    CHECK_STATUS(nasc_space_new("nb201", NULL, &sp, &err), NASC_OK);
    CHECK_STATUS(nasc_arch_parse(sp, cases[0].arch, &a, &err), NASC_OK);
    CHECK_STATUS(nasc_draw_svg(a, NULL, &svg, &err), NASC_OK);
    CHECK(svg && !strstr(svg, ">none</text>") && count(svg, "class=\"edge\"") == 4);
    CHECK(svg && strstr(svg, " id=\"graph0\""));
    if (svg && xml_ok("<svg><g></svg>\n") >= 0)
        CHECK_MSG(xml_ok("<svg><g></svg>\n") == 0, "the XML check accepts a broken document");
    nasc_free(svg);
    CHECK_STATUS(nasc_draw_svg(a, &(nasc_draw_config){.keep_none = true}, &svg, &err), NASC_OK);
    CHECK(svg && count(svg, ">none</text>") == 2 && count(svg, "class=\"edge\"") == 6);
    nasc_free(svg);

    /* bad input: an id prefix that would break the attribute, DOT that does not parse */
    svg = (char *)1;
    CHECK_STATUS(nasc_draw_svg(a, &(nasc_draw_config){.id_prefix = "a\"b"}, &svg, &err),
                 NASC_ERR_ARG);
    CHECK(svg == NULL);
    CHECK_STR_CONTAINS(err.msg, "id prefix");
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_draw_dot_svg("digraph { a -> ", NULL, &svg, &err), NASC_ERR_FORMAT);
    CHECK_STR_CONTAINS(err.msg, "draw: Graphviz cannot read the drawing: ");
    CHECK_STR_CONTAINS(err.msg, "syntax error");
    /* and a good drawing right after a failed parse still works (Graphviz's parser recovers) */
    CHECK_STATUS(nasc_draw_dot_svg("digraph { a -> b [label=\"x<y&z\"]; }", NULL, &svg, &err),
                 NASC_OK);
    CHECK(svg && strstr(svg, ">x&lt;y&amp;z</text>"));
    CHECK(svg && xml_ok(svg) != 0);
    nasc_free(svg);

    nasc_arch_free(a);
    nasc_space_free(sp);
    return test_done("test_draw");
}
