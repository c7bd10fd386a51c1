/* cmd_show.c — `nasc show`: an architecture's structure, network, cost and Graphviz drawing. */
#include "cli.h"

#include "nasc/arena.h"
#include "nasc/limits.h"
#include "nasc/cost.h"
#include "nasc/draw.h"
#include "nasc/weights.h"

#include <stdio.h>
#include <string.h>

/* `--svg [FILE]`: the file is optional, so a bare --svg (last, or before another option) becomes
 * "--svg=-" (stdout) before parsing. Rewrites argv in place with strings that live for the run. */
static void svg_default_stdout(int argc, char **argv) {
    static char bare[] = "--svg=-";
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--svg") && (i + 1 == argc || !strncmp(argv[i + 1], "--", 2)))
            argv[i] = bare;
}

/* Draws a as SVG to stdout ("-") or to path, written atomically. */
static nasc_status show_svg(const nasc_arch *a, const char *path, nasc_err *err) {
    char *svg = NULL;
    nasc_status st = nasc_draw_svg(a, NULL, &svg, err);
    if (st == NASC_OK) {
        if (!strcmp(path, "-"))
            fputs(svg, stdout);
        else
            st = nasc_write_file_atomic(path, svg, strlen(svg), err);
    }
    nasc_free(svg);
    return st;
}

int cmd_show(int argc, char **argv) {
    const char *space = NULL, *arch = NULL, *input = NULL, *svg = NULL;
    int classes = 0, channels = 0, cells = 0, batch = 32, repeats = 10, threads = 1;
    bool auxiliary = false, json = false, dot = false;
    cli_flag flags[] = {
        {"space", CLI_STR, &space, "SPACE", "nb201, darts, chain, mobilenet, macro or morph"},
        {"arch", CLI_STR, &arch, "TEXT", "the architecture in the space's text form"},
        {"input", CLI_STR, &input, "CxHxW", "input shape (default: the space's, e.g. 1x28x28)"},
        {"classes", CLI_INT, &classes, "K", "number of classes (default 10)"},
        {"channels", CLI_INT, &channels, "C", "initial channels (default: the space's)"},
        {"cells", CLI_INT, &cells, "L", "cells (nb201: per stage; darts: total)"},
        {"auxiliary", CLI_BOOL, &auxiliary, NULL, "darts: include the auxiliary head"},
        {"batch", CLI_INT, &batch, "B", "batch size for the second latency figure (default 32)"},
        {"repeats", CLI_INT, &repeats, "N", "timed forward passes per latency figure (default 10; 0 skips)"},
        {"threads", CLI_INT, &threads, "T", "threads for the latency measurement (default 1)"},
        {"json", CLI_BOOL, &json, NULL, "print one JSON object (params, flops, memory_bytes, latency_ms, ...)"},
        {"dot", CLI_BOOL, &dot, NULL, "print only the Graphviz drawing"},
        {"svg", CLI_STR, &svg, "[FILE]", "draw the architecture as SVG (Graphviz layout) to FILE "
                                         "(written atomically) or stdout"},
    };
    svg_default_stdout(argc, argv);
    int rc = cli_parse("show", argc, argv, 2, flags, (int)(sizeof flags / sizeof flags[0]),
                       "nasc show --space SPACE --arch TEXT [--input CxHxW] [--classes K] "
                       "[--channels C] [--cells L] [--auxiliary] [--json | --dot | --svg [FILE]]",
                       "Prints an architecture's cell/network structure, its cost (parameters, "
                       "multiply-adds, peak activation memory, latency measured on this machine) "
                       "and a Graphviz DOT drawing; --svg draws it laid out, as SVG.");
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    if (!space || !arch) {
        cli_error("nasc show: --space SPACE and --arch TEXT are required");
        return CLI_USAGE;
    }
    if (json + dot + (svg != NULL) > 1) {
        cli_error("nasc show: --json, --dot and --svg exclude each other");
        return CLI_USAGE;
    }
    nasc_net_config net = {.n_classes = classes, .channels = channels, .cells = cells,
                           .auxiliary = auxiliary};
    if (input) {
        char tail;
        if (sscanf(input, "%dx%dx%d%c", &net.in_c, &net.in_h, &net.in_w, &tail) != 3 ||
            net.in_c < 1 || net.in_h < 1 || net.in_w < 1) {
            cli_error("nasc show: --input: expected CxHxW with positive sizes, e.g. 3x32x32 (got '%s')",
                      input);
            return CLI_USAGE;
        }
    }
    if (cli_check_int("show", "classes", classes, 0, NASC_MAX_CLASSES) != CLI_OK ||
        cli_check_int("show", "channels", channels, 0, NASC_MAX_CHANNELS) != CLI_OK ||
        cli_check_int("show", "cells", cells, 0, NASC_MAX_CELLS) != CLI_OK ||
        cli_check_int("show", "batch", batch, 1, NASC_MAX_BATCH) != CLI_OK ||
        cli_check_int("show", "repeats", repeats, 0, 100000) != CLI_OK ||
        cli_check_int("show", "threads", threads, 1, NASC_MAX_THREADS) != CLI_OK)
        return CLI_USAGE;
    if (input && (net.in_c > NASC_MAX_INPUT_CHANNELS || net.in_h > NASC_MAX_INPUT_SIDE ||
                  net.in_w > NASC_MAX_INPUT_SIDE)) {
        cli_error("nasc show: --input: C at most %d, H and W at most %d (got '%s')",
                  NASC_MAX_INPUT_CHANNELS, NASC_MAX_INPUT_SIDE, input);
        return CLI_USAGE;
    }
    nasc_err err = {0};
    nasc_space *sp = NULL;
    nasc_arch *a = NULL;
    char *out = NULL;
    nasc_status st = nasc_space_new(space, NULL, &sp, &err);
    if (st == NASC_OK)
        st = nasc_arch_parse(sp, arch, &a, &err);
    if (st == NASC_OK && svg) {
        st = show_svg(a, svg, &err);
        rc = st == NASC_OK ? CLI_OK : cli_fail(st, &err, false);
        nasc_arch_free(a);
        nasc_space_free(sp);
        return rc;
    }
    if (st == NASC_OK) {
        const nasc_cost_config cc = {.batch = batch, .repeats = repeats ? repeats : -1,
                                     .threads = threads};
        st = nasc_show(a, &net, &cc, json ? NASC_SHOW_JSON : dot ? NASC_SHOW_DOT : NASC_SHOW_TEXT,
                       &out, &err);
    }
    if (st == NASC_OK) {
        fputs(out, stdout);
        rc = CLI_OK;
    } else {
        rc = cli_fail(st, &err, true);
    }
    nasc_free(out);
    nasc_arch_free(a);
    nasc_space_free(sp);
    return rc;
}
