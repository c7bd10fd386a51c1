/* cmd_export_c.c — `nasc export --format c [--quantize int8 --calibration DATASET]`. */
#include "cmd_export_c.h"

#include "nasc/arena.h"
#include "nasc/data.h"

#include <ctype.h>
#include <string.h>
#include <sys/stat.h>

int cli_export_c_check(const cli_export_c_opts *o) {
    if (o->quantize && strcmp(o->quantize, "int8")) {
        cli_error("nasc export: --quantize: expected int8, got '%s'", o->quantize);
        return CLI_USAGE;
    }
    if (o->quantize && !o->calibration) {
        cli_error("nasc export: --quantize int8 needs --calibration DATASET (training images "
                  "whose activation ranges set the int8 scales)");
        return CLI_USAGE;
    }
    if (!o->quantize && o->calibration) {
        cli_error("nasc export: --calibration applies to --quantize int8 only");
        return CLI_USAGE;
    }
    if (o->calib_images < 1) {
        cli_error("nasc export: --calibration-images: expected a count >= 1, got %d",
                  o->calib_images);
        return CLI_USAGE;
    }
    return CLI_OK;
}

/* A C identifier from a file name: letters, digits and '_' kept, others '_', no leading digit. */
static void ident_from(const char *path, char *buf, size_t n) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t k = 0;
    if (isdigit((unsigned char)*b) && k + 1 < n)
        buf[k++] = 'm';
    for (; *b && *b != '.' && k + 1 < n && k < 64; b++)
        buf[k++] = isalnum((unsigned char)*b) ? *b : '_';
    if (k == 0)
        buf[k++] = 'm';
    buf[k] = '\0';
}

/* n images of the calibration set's training split, a stratified sample, as NCHW floats / 255. */
static nasc_status load_calib(const char *spec, int want, const nasc_export_graph *xg,
                              float **out, int *out_n, nasc_err *err) {
    nasc_dataset *all = NULL, *part = NULL;
    NASC_TRY(nasc_dataset_load(spec, NASC_SPLIT_TRAIN, &all, err));
    nasc_status st = NASC_OK;
    const nasc_export_shape in = xg->shape[0];
    if (all->c != in.c || all->h != in.h || all->w != in.w)
        st = nasc_errorf(err, NASC_ERR_SHAPE,
                         "export: --calibration %s: images (%d,%d,%d) do not fit the model's "
                         "input (%d,%d,%d)",
                         spec, all->c, all->h, all->w, in.c, in.h, in.w);
    if (st == NASC_OK) {
        double frac = (double)want / all->n;
        st = nasc_dataset_fraction(all, frac < 1.0 ? frac : 1.0, 1, &part, err);
    }
    float *x = NULL;
    if (st == NASC_OK && !(x = nasc_malloc((size_t)part->n * in.c * in.h * in.w * sizeof *x)))
        st = nasc_errorf(err, NASC_ERR_NOMEM, "export: out of memory");
    if (st == NASC_OK) {
        const size_t hw = (size_t)in.h * in.w, img = hw * in.c;
        for (int i = 0; i < part->n; i++)
            for (int c = 0; c < in.c; c++) /* NHWC bytes -> NCHW floats */
                for (size_t p = 0; p < hw; p++)
                    x[i * img + c * hw + p] = part->images[i * img + p * in.c + c] / 255.0f;
        *out = x;
        *out_n = part->n;
    }
    nasc_dataset_free(part);
    nasc_dataset_free(all);
    return st;
}

nasc_status cli_export_c(const char *model_path, const nasc_export_graph *xg,
                         const nasc_export_norm *norm, const char *out,
                         const cli_export_c_opts *o, nasc_err *err) {
    (void)norm;
    char name[80], stem[4096], cpath[4200], hpath[4200];
    struct stat sb;
    if (out && stat(out, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        ident_from(model_path, name, sizeof name);
        snprintf(stem, sizeof stem, "%s/%s", out, name);
    } else {
        const char *src = out ? out : model_path;
        size_t n = strlen(src);
        if (!out && n > 5 && !strcmp(src + n - 5, ".nasc"))
            n -= 5;
        if (out && n > 2 && (!strcmp(src + n - 2, ".c") || !strcmp(src + n - 2, ".h")))
            n -= 2;
        if (n >= sizeof stem)
            return nasc_errorf(err, NASC_ERR_ARG, "export: output path too long");
        memcpy(stem, src, n);
        stem[n] = '\0';
        ident_from(stem, name, sizeof name);
    }
    if (o->name)
        snprintf(name, sizeof name, "%s", o->name);
    snprintf(cpath, sizeof cpath, "%s.c", stem);
    snprintf(hpath, sizeof hpath, "%s.h", stem);

    nasc_export_c_opts co = {.name = name, .int8 = o->quantize != NULL};
    float *calib = NULL;
    if (co.int8)
        NASC_TRY(load_calib(o->calibration, o->calib_images, xg, &calib, &co.n_calib, err));
    co.calib = calib;
    nasc_export_c_info info;
    nasc_status st = nasc_export_c(xg, &co, cpath, hpath, &info, err);
    nasc_free(calib);
    if (st != NASC_OK)
        return st;
    if (o->info)
        *o->info = info;
    fprintf(stderr,
            "nasc export: c%s (%d ops) written to %s and %s: %s_predict, weights %zu bytes%s, "
            "activation arena %zu bytes\n",
            co.int8 ? " int8" : "", info.n_nodes, cpath, hpath, name, info.weight_bytes,
            co.int8 ? "" : " (float32)", info.arena_bytes);
    if (co.int8)
        fprintf(stderr,
                "nasc export: int8 weights %zu bytes vs %zu as float32 (%.1f%% saved); "
                "calibrated on %d images of %s\n",
                info.weight_bytes, info.float_weight_bytes,
                100.0 * (1.0 - (double)info.weight_bytes / (double)info.float_weight_bytes),
                co.n_calib, o->calibration);
    return NASC_OK;
}
