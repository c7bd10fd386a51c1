/* cmd_export.c — `nasc export --model M.nasc --format FMT [--out PATH]`: a saved model in a
 * format other tools run. Every format is written from the same inference graph (export.h);
 * each writer is atomic, so a failed export leaves no file behind. */
#include "cmd_export_c.h"
#include "train_opts.h"

#include "nasc/arena.h"

#include <cjson/cJSON.h>
#include <string.h>

/* A format: its name, the default output suffix, and its writer. */
typedef struct export_format {
    const char *name;
    const char *suffix; /* appended to the model path without ".nasc" when --out is absent */
    nasc_status (*write)(const nasc_export_graph *xg, const char *path, nasc_err *err);
    bool keep_bn; /* the format trains further: batch norm is not folded */
} export_format;

/* Formats written to one path from the graph alone. `c` (a file pair, optional int8 with
 * calibration) is handled by cli_export_c (cmd_export_c.c). */
static const export_format formats[] = {
    {"onnx", ".onnx", nasc_export_onnx, false},
    {"pytorch", ".py", nasc_export_pytorch, true},
};

static const char *format_names(void) { return "onnx, pytorch or c"; }

/* A training checkpoint is not a deliverable model: refuse it by name. */
static nasc_status refuse_checkpoint(const char *path, nasc_err *err) {
    char *meta = NULL;
    NASC_TRY(nasc_weights_read_meta(path, &meta, err));
    cJSON *j = cJSON_Parse(meta);
    const bool ckpt = j && cJSON_GetObjectItem(j, "train_state");
    cJSON_Delete(j);
    nasc_free(meta);
    if (ckpt)
        return nasc_errorf_at(err, NASC_ERR_ARG, path, 64,
                              "export: %s is a training checkpoint (it holds optimizer state); "
                              "export the model that nasc train --out writes",
                              path);
    return NASC_OK;
}

int cmd_export(int argc, char **argv) {
    const char *model_path = NULL, *format = NULL, *out = NULL, *norm_spec = NULL;
    cli_export_c_opts copts = {.calib_images = 256};
    cli_flag flags[] = {
        {"model", CLI_STR, &model_path, "FILE", "weights file written by nasc train --out"},
        {"format", CLI_STR, &format, "FMT",
         "onnx, pytorch (a .py module + .bin weights) or c (C99 source, float or int8)"},
        {"out", CLI_STR, &out, "PATH", "output file (default: the model's path with the format's "
                                       "suffix); c: PATH.c and PATH.h, or NAME.c and NAME.h in "
                                       "a directory"},
        {"norm", CLI_STR, &norm_spec, "DATASET",
         "fold this dataset's normalisation into the input (default: the model's, else "
         "fashion-mnist)"},
        {"quantize", CLI_STR, &copts.quantize, "int8",
         "c: post-training int8 quantization (needs --calibration)"},
        {"calibration", CLI_STR, &copts.calibration, "DATASET",
         "c, int8: calibrate activation ranges on this dataset's training images"},
        {"calibration-images", CLI_INT, &copts.calib_images, "N",
         "c, int8: calibration images, a stratified sample (default 256)"},
        {"name", CLI_STR, &copts.name, "IDENT",
         "c: prefix of the generated C names (default: from the output file name)"},
    };
    int rc = cli_parse("export", argc, argv, 2, flags, (int)(sizeof flags / sizeof flags[0]),
                       "nasc export --model FILE --format onnx|pytorch|c [--out PATH] "
                       "[--quantize int8 --calibration DATASET]",
                       "Writes a saved model in inference form for other runtimes: batch norm "
                       "folded, dropout and drop-path removed, the auxiliary head dropped, and the "
                       "dataset normalisation folded in, so the input is raw pixels in [0, 1] "
                       "(N,C,H,W). An op the format cannot express is an error naming it. "
                       "See docs/EXPORT.md.");
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    if (!model_path || !format) {
        cli_error("nasc export: --model FILE and --format FMT are required");
        return CLI_USAGE;
    }
    const bool is_c = !strcmp(format, "c");
    if (!is_c && (copts.quantize || copts.calibration || copts.name)) {
        cli_error("nasc export: --quantize, --calibration and --name apply to --format c only");
        return CLI_USAGE;
    }
    if (is_c && cli_export_c_check(&copts) != CLI_OK)
        return CLI_USAGE;
    const export_format *fmt = NULL;
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (!strcmp(format, formats[i].name))
            fmt = &formats[i];
    if (!fmt && !is_c) {
        cli_error("nasc export: --format: expected %s, got '%s'", format_names(), format);
        return CLI_USAGE;
    }
    char *def_out = NULL;
    if (!out && !is_c) {
        size_t n = strlen(model_path);
        if (n > 5 && !strcmp(model_path + n - 5, ".nasc"))
            n -= 5;
        def_out = nasc_malloc(n + strlen(fmt->suffix) + 1);
        if (!def_out) {
            cli_error("nasc export: out of memory");
            return CLI_FAIL;
        }
        memcpy(def_out, model_path, n);
        strcpy(def_out + n, fmt->suffix);
        out = def_out;
    }
    nasc_err err = {0};
    nasc_model *m = NULL;
    nasc_export_graph *xg = NULL;
    nasc_export_norm norm;
    nasc_status st = refuse_checkpoint(model_path, &err);
    if (st == NASC_OK)
        st = cli_model_from_file(model_path, &m, &err);
    if (st == NASC_OK)
        st = cli_model_norm(model_path, norm_spec, &norm, &err);
    if (st == NASC_OK)
        st = nasc_export_graph_new_opts(
            m, &norm, &(nasc_export_opts){.keep_bn = fmt ? fmt->keep_bn : false}, &xg, &err);
    if (st == NASC_OK && is_c)
        st = cli_export_c(model_path, xg, &norm, out, &copts, &err);
    else if (st == NASC_OK)
        st = fmt->write(xg, out, &err);
    if (st != NASC_OK) {
        /* every failure here is about what the user gave: the model, the format, the path */
        rc = cli_fail(st, &err, true);
        if (st == NASC_ERR_UNSUPPORTED)
            rc = CLI_USAGE;
    } else {
        if (!is_c)
            fprintf(stderr, "nasc export: %s (%d ops, %zu weights) written to %s\n", fmt->name,
                    xg->n_nodes, xg->n_weights, out);
        rc = CLI_OK;
    }
    nasc_export_graph_free(xg);
    nasc_model_free(m);
    nasc_free(def_out);
    return rc;
}
