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

/* Python's XML parser (an independent reader) checks every drawing at the end, in one run
 * (python3 starts slowly): xml_keep() saves a document under a name, xml_check_all() parses
 * them all and expects exactly the ones kept with want_ok = false to be rejected. */
enum { MAX_DOCS = 32 };
static char xml_dir[] = "/tmp/nasc_test_draw_XXXXXX";
static struct {
    char name[64];
    bool want_ok;
} docs[MAX_DOCS];
static int n_docs;

static void xml_keep(const char *name, const char *text, bool want_ok) {
    if (n_docs >= MAX_DOCS || (n_docs == 0 && !mkdtemp(xml_dir)))
        return;
    char path[256];
    snprintf(path, sizeof path, "%s/%.63s.svg", xml_dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fputs(text, f);
    fclose(f);
    snprintf(docs[n_docs].name, sizeof docs[n_docs].name, "%s", name);
    docs[n_docs++].want_ok = want_ok;
}

static void xml_check_all(void) {
    if (system("python3 -c 'import xml.dom.minidom' >/dev/null 2>&1") != 0) {
        fprintf(stderr, "note: python3 not found; XML well-formedness not checked\n");
    } else {
        char cmd[256], out[160];
        snprintf(cmd, sizeof cmd,
                 "cd %s && python3 -c 'import sys, glob, xml.dom.minidom as m\n"
                 "for p in sorted(glob.glob(\"*.svg\")):\n"
                 "  try: m.parse(p)\n"
                 "  except Exception: print(p[:-4])' 2>&1",
                 xml_dir);
        FILE *p = popen(cmd, "r");
        bool rejected[MAX_DOCS] = {false};
        while (p && fgets(out, sizeof out, p)) {
            out[strcspn(out, "\n")] = '\0';
            bool known = false;
            for (int i = 0; i < n_docs; i++)
                if (!strcmp(docs[i].name, out))
                    rejected[i] = known = true;
            CHECK_MSG(known, "python: %s", out);
        }
        CHECK(p && pclose(p) == 0);
        for (int i = 0; i < n_docs; i++)
            CHECK_MSG(rejected[i] != docs[i].want_ok, "%s: Python's XML parser %s it", docs[i].name,
                      rejected[i] ? "rejects" : "accepts");
    }
    for (int i = 0; i < n_docs; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%.63s.svg", xml_dir, docs[i].name);
        unlink(path);
    }
    if (n_docs)
        rmdir(xml_dir);
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
        xml_keep(c->space, svg, true);
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
    xml_keep("broken", "<svg><g></svg>\n", false); /* the check can fail */
    nasc_free(svg);
    CHECK_STATUS(nasc_draw_svg(a, &(nasc_draw_config){.keep_none = true}, &svg, &err), NASC_OK);
    CHECK(svg && count(svg, ">none</text>") == 2 && count(svg, "class=\"edge\"") == 6);
    nasc_free(svg);

    /* one DARTS cell alone: its cluster, its 7 nodes and 8 + 4 edges, none of the other cell */
    nasc_space *dsp = NULL;
    nasc_arch *da = NULL;
    CHECK_STATUS(nasc_space_new("darts", NULL, &dsp, &err), NASC_OK);
    CHECK_STATUS(nasc_arch_parse(dsp, cases[1].arch, &da, &err), NASC_OK);
    CHECK_STATUS(nasc_draw_svg(da, &(nasc_draw_config){.cell = "reduce"}, &svg, &err), NASC_OK);
    CHECK(svg && strstr(svg, ">reduce cell</text>") && !strstr(svg, ">normal cell</text>"));
    CHECK(svg && !strstr(svg, ">sep_conv_3x3</text>") && strstr(svg, ">max_pool_3x3</text>"));
    CHECK(svg && count(svg, "class=\"node\"") == 7 && count(svg, "class=\"edge\"") == 12);
    if (svg)
        xml_keep("darts_reduce", svg, true);
    nasc_free(svg);
    CHECK_STATUS(nasc_draw_svg(da, &(nasc_draw_config){.cell = "normal"}, &svg, &err), NASC_OK);
    CHECK(svg && strstr(svg, ">normal cell</text>") && !strstr(svg, ">max_pool_3x3</text>"));
    nasc_free(svg);
    CHECK_STATUS(nasc_draw_svg(da, &(nasc_draw_config){.cell = "reduction"}, &svg, &err),
                 NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "draw: no cell 'reduction' in this drawing (cells: normal, reduce)");
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_draw_svg(a, &(nasc_draw_config){.cell = "normal"}, &svg, &err),
                 NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "it has one cell only");
    nasc_arch_free(da);
    nasc_space_free(dsp);
    nasc_err_clear(&err);

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
    if (svg)
        xml_keep("escaped", svg, true);
    nasc_free(svg);

    nasc_arch_free(a);
    nasc_space_free(sp);
    xml_check_all();
    return test_done("test_draw");
}
