/* train_opts.c — the training flags shared by `nasc train` and `nasc search`, dataset loading with
 * --data-fraction, and the model metadata written into weight files. */
#include "train_opts.h"

#include "nasc/arena.h"
#include "nasc/limits.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

void cli_train_opts_init(cli_train_opts *o) {
    memset(o, 0, sizeof *o);
    nasc_train_hparams_default(&o->hp, NASC_TRAIN_PRESET_COMMAND);
    nasc_train_config_default(&o->cfg);
    nasc_train_config_set_hparams(&o->cfg, &o->hp);
    o->data = "fashion-mnist";
    o->optimizer = o->hp.optimizer;
    o->backend = "cpu";
}

int cli_train_flags_add(cli_flag *f, int n, cli_train_opts *o) {
    nasc_train_hparams *c = &o->hp;
    const cli_flag add[] = {
        {"data", CLI_STR, &o->data, "DATASET",
         "fashion-mnist (default), fashion-mnist:DIR, mnist:DIR, cifar10:DIR, cifar100:DIR, "
         "images:DIR"},
        {"input", CLI_STR, &o->input, "CxHxW",
         "images:DIR: fit every image to this shape (default: the first image's)"},
        {"test-fraction", CLI_DOUBLE, &o->test_fraction, "F",
         "images:DIR without train/ and test/: share held out for testing (default 0.2)"},
        {"skip-bad", CLI_BOOL, &o->skip_bad, NULL,
         "images:DIR: skip (and count) files that are not decodable images"},
        {"data-fraction", CLI_DOUBLE, &c->data_fraction, "F",
         "train on this share of the training set, stratified (default 1)"},
        {"epochs", CLI_INT, &c->epochs, "N", "training epochs (default 5)"},
        {"batch", CLI_INT, &c->batch, "B", "batch size (default 128)"},
        {"lr", CLI_DOUBLE, &c->lr, "X", "peak learning rate (default 0.1)"},
        {"lr-min", CLI_DOUBLE, &c->lr_min, "X", "final learning rate of the cosine (default 0)"},
        {"warmup-epochs", CLI_INT, &c->warmup_epochs, "N", "linear warm-up epochs (default 0)"},
        {"optimizer", CLI_STR, &o->optimizer, "NAME", "sgd (default), adam or adamw"},
        {"momentum", CLI_DOUBLE, &c->momentum, "X", "SGD momentum (default 0.9, Nesterov)"},
        {"no-nesterov", CLI_BOOL, &c->no_nesterov, NULL, "plain momentum instead of Nesterov"},
        {"weight-decay", CLI_DOUBLE, &c->weight_decay, "X", "weight decay (default 5e-4)"},
        {"clip", CLI_DOUBLE, &c->clip, "X", "clip gradients to this global norm (default 5; 0 off)"},
        {"label-smoothing", CLI_DOUBLE, &c->label_smoothing, "X", "label smoothing (default 0)"},
        {"crop-pad", CLI_INT, &c->crop_pad, "P", "random crop with P pixels of padding (default 0)"},
        {"hflip", CLI_BOOL, &c->hflip, NULL, "random horizontal flips"},
        {"cutout", CLI_INT, &c->cutout, "L", "cutout square of side L (default 0)"},
        {"drop-path", CLI_DOUBLE, &c->drop_path, "P", "maximum drop-path probability (default 0)"},
        {"aux-weight", CLI_FLOAT, &o->cfg.aux_weight, "W", "weight of the auxiliary head's loss (default 0)"},
        {"seed", CLI_U64, &o->cfg.seed, "S", "random seed (default 1)"},
        {"threads", CLI_INT, &c->threads, "T", "kernel threads (default 2)"},
        {"backend", CLI_STR, &o->backend, "NAME", "cpu (default) or ref"},
    };
    for (size_t i = 0; i < sizeof add / sizeof add[0]; i++)
        f[n++] = add[i];
    return n;
}

int cli_train_opts_finish(cli_train_opts *o, const char *cmd) {
    nasc_train_config *c = &o->cfg;
    if (strcmp(o->optimizer, "sgd") && strcmp(o->optimizer, "adam") &&
        strcmp(o->optimizer, "adamw")) {
        cli_error("nasc %s: --optimizer: expected sgd, adam or adamw, got '%s'", cmd, o->optimizer);
        return CLI_USAGE;
    }
    if (o->optimizer != o->hp.optimizer)
        snprintf(o->hp.optimizer, sizeof o->hp.optimizer, "%s", o->optimizer);
    o->optimizer = o->hp.optimizer;
    nasc_train_config_set_hparams(c, &o->hp);
    if (!(o->hp.data_fraction > 0.0 && o->hp.data_fraction <= 1.0)) {
        cli_error("nasc %s: --data-fraction must be in (0, 1] (got %g)", cmd,
                  o->hp.data_fraction);
        return CLI_USAGE;
    }
    const bool images = !strncmp(o->data, "images:", 7);
    if (!images && (o->input || o->test_fraction != 0.0 || o->skip_bad)) {
        cli_error("nasc %s: --input, --test-fraction and --skip-bad are options of --data "
                  "images:DIR",
                  cmd);
        return CLI_USAGE;
    }
    if (images && (o->input || o->test_fraction != 0.0 || o->skip_bad)) {
        char opts[256];
        int k = 0;
        opts[0] = '\0';
        if (o->input)
            k += snprintf(opts + k, sizeof opts - (size_t)k, "%sinput=%.64s", k ? "&" : "",
                          o->input);
        if (o->test_fraction != 0.0)
            k += snprintf(opts + k, sizeof opts - (size_t)k, "%stest-fraction=%.17g",
                          k ? "&" : "", o->test_fraction);
        if (o->skip_bad)
            snprintf(opts + k, sizeof opts - (size_t)k, "%sskip-bad", k ? "&" : "");
        if (!(o->data_spec = cli_images_spec(o->data, opts))) {
            cli_error("nasc %s: out of memory", cmd);
            return CLI_FAIL;
        }
        o->data = o->data_spec;
    }
    if (cli_check_int(cmd, "threads", c->threads, 1, NASC_MAX_THREADS) != CLI_OK)
        return CLI_USAGE;
    if (c->epochs < 1) {
        cli_error("nasc %s: --epochs must be >= 1 (got %d)", cmd, c->epochs);
        return CLI_USAGE;
    }
    if (cli_check_int(cmd, "batch", c->batch, 1, NASC_MAX_BATCH) != CLI_OK)
        return CLI_USAGE;
    if (strcmp(o->backend, "cpu") && strcmp(o->backend, "ref")) {
        cli_error("nasc %s: --backend: expected cpu or ref, got '%s'", cmd, o->backend);
        return CLI_USAGE;
    }
    return CLI_OK;
}

int cli_train_recipe_add(cli_flag *f, int n, int argc, char **argv, int first, cli_train_opts *o,
                         cli_net_opts *net, const char *cmd) {
    static char help[160];
    snprintf(help, sizeof help,
             "a benchmark's training schedule and network size (%s); later flags override it",
             nasc_train_recipe_names());
    f[n++] = (cli_flag){"recipe", CLI_STR, &o->recipe, "NAME", help};
    for (int i = first; i < argc; i++) {
        const char *name = NULL;
        if (!strcmp(argv[i], "--recipe") && i + 1 < argc)
            name = argv[i + 1];
        else if (!strncmp(argv[i], "--recipe=", 9))
            name = argv[i] + 9;
        if (!name)
            continue;
        nasc_err err = {0};
        if (nasc_train_recipe_hparams(name, &o->hp, &net->channels, &net->cells, &err) !=
            NASC_OK) {
            cli_error("nasc %s: --recipe: %s", cmd, err.msg);
            return -1;
        }
        o->cfg.aux_weight = 0.0f;
        o->optimizer = o->hp.optimizer;
    }
    return n;
}

void cli_train_opts_deinit(cli_train_opts *o) {
    nasc_free(o->data_spec);
    o->data_spec = NULL;
}

char *cli_images_spec(const char *data, const char *opts) {
    const size_t n = strlen(data) + strlen(opts) + 2;
    char *s = nasc_malloc(n);
    if (s)
        snprintf(s, n, "%s%s%s", data, *opts ? (strchr(data, '?') ? "&" : "?") : "", opts);
    return s;
}

nasc_status cli_load_data(const cli_train_opts *o, nasc_dataset **out_train,
                          nasc_dataset **out_test, nasc_err *err) {
    *out_train = *out_test = NULL;
    nasc_dataset *full = NULL;
    NASC_TRY(nasc_dataset_load(o->data, NASC_SPLIT_TRAIN, &full, err));
    nasc_status st = nasc_dataset_load(o->data, NASC_SPLIT_TEST, out_test, err);
    if (st == NASC_OK && o->hp.data_fraction < 1.0) {
        nasc_dataset *part = NULL;
        st = nasc_dataset_fraction(full, o->hp.data_fraction, o->cfg.seed, &part, err);
        nasc_dataset_free(full);
        full = part;
    }
    if (st != NASC_OK) {
        nasc_dataset_free(full);
        nasc_dataset_free(*out_test);
        *out_test = NULL;
        return st;
    }
    *out_train = full;
    return NASC_OK;
}

char *cli_model_meta(const nasc_model *m, const cli_net_opts *net, const nasc_dataset *ds) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "format", "nasc-model");
    cJSON_AddStringToObject(j, "space", m->space ? m->space : "");
    cJSON_AddStringToObject(j, "arch", m->arch ? m->arch : "");
    const int in[3] = {m->in_c, m->in_h, m->in_w};
    cJSON_AddItemToObject(j, "input", cJSON_CreateIntArray(in, 3));
    cJSON_AddNumberToObject(j, "classes", m->n_classes);
    cJSON_AddNumberToObject(j, "width", (double)net->width);
    cJSON_AddNumberToObject(j, "channels", net->channels);
    cJSON_AddNumberToObject(j, "cells", net->cells);
    cJSON_AddBoolToObject(j, "auxiliary", net->auxiliary);
    if (ds) { /* the input normalisation, for exports and predict --image (docs/EXPORT.md) */
        cJSON *nz = cJSON_AddObjectToObject(j, "normalize");
        double mean[3], std[3];
        for (int c = 0; c < ds->c && c < 3; c++) {
            mean[c] = (double)ds->mean[c];
            std[c] = (double)ds->std[c];
        }
        cJSON_AddItemToObject(nz, "mean", cJSON_CreateDoubleArray(mean, ds->c));
        cJSON_AddItemToObject(nz, "std", cJSON_CreateDoubleArray(std, ds->c));
    }
    if (ds && ds->class_names) {
        cJSON *names = cJSON_AddArrayToObject(j, "class_names");
        for (int k = 0; names && k < ds->n_classes; k++)
            cJSON_AddItemToArray(names, cJSON_CreateString(nasc_dataset_class_name(ds, k)));
    }
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    char *copy = s ? nasc_strdup(s) : NULL;
    cJSON_free(s);
    return copy;
}

nasc_status cli_model_build(const char *space, const char *arch, const cli_net_opts *net, int in_c,
                            int in_h, int in_w, int classes, uint64_t seed, nasc_model **out,
                            nasc_err *err) {
    *out = NULL;
    if (!space || !strcmp(space, "baseline")) {
        if (arch && strcmp(arch, "baseline"))
            return nasc_errorf(err, NASC_ERR_ARG,
                               "--arch '%s' needs --space (nb201, darts, chain, mobilenet, macro, "
                               "morph); without --space only the baseline CNN is built",
                               arch);
        return nasc_baseline_new(in_c, in_h, in_w, classes, net->width,
                                 seed, out, err);
    }
    if (!arch)
        return nasc_errorf(err, NASC_ERR_ARG, "--space %s needs --arch TEXT (the architecture)",
                           space);
    nasc_space *sp = NULL;
    nasc_arch *a = NULL;
    NASC_TRY(nasc_space_new(space, NULL, &sp, err));
    nasc_status st = nasc_arch_parse(sp, arch, &a, err);
    if (st == NASC_OK) {
        const nasc_net_config nc = {.in_c = in_c, .in_h = in_h, .in_w = in_w,
                                    .n_classes = classes, .channels = net->channels,
                                    .cells = net->cells, .auxiliary = net->auxiliary};
        st = nasc_space_build(a, &nc, seed, out, err);
    }
    nasc_arch_free(a);
    nasc_space_free(sp);
    return st;
}

cJSON *cli_model_class_names(const char *path) {
    char *meta = NULL;
    nasc_err err = {0};
    if (nasc_weights_read_meta(path, &meta, &err) != NASC_OK)
        return NULL;
    cJSON *j = cJSON_Parse(meta);
    nasc_free(meta);
    cJSON *names = j ? cJSON_DetachItemFromObject(j, "class_names") : NULL;
    cJSON_Delete(j);
    if (names && !cJSON_IsArray(names)) {
        cJSON_Delete(names);
        names = NULL;
    }
    return names;
}

nasc_status cli_model_from_file(const char *path, nasc_model **out, nasc_err *err) {
    *out = NULL;
    char *meta = NULL;
    NASC_TRY(nasc_weights_read_meta(path, &meta, err));
    cJSON *j = cJSON_Parse(meta);
    nasc_status st = NASC_OK;
    const cJSON *in = j ? cJSON_GetObjectItem(j, "input") : NULL;
    const cJSON *cls = j ? cJSON_GetObjectItem(j, "classes") : NULL;
    const cJSON *sp = j ? cJSON_GetObjectItem(j, "space") : NULL;
    const cJSON *ar = j ? cJSON_GetObjectItem(j, "arch") : NULL;
    if (!j || !cJSON_IsArray(in) || cJSON_GetArraySize(in) != 3 || !cJSON_IsNumber(cls) ||
        !cJSON_IsString(sp) || !cJSON_IsString(ar)) {
        st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, 64,
                            "model %s: byte 64: metadata is not a nasc model description", path);
        goto done;
    }
    /* Every size is a whole number within limits.h, checked before anything is built (a
     * missing width is the baseline's 1; a present one must be in (0, NASC_MAX_WIDTH]). */
    cli_net_opts net = {.width = 1.0f};
    int sizes[6] = {0}; /* input C, H, W, classes, channels, cells */
    const cJSON *items[6] = {cJSON_GetArrayItem(in, 0), cJSON_GetArrayItem(in, 1),
                             cJSON_GetArrayItem(in, 2), cls, cJSON_GetObjectItem(j, "channels"),
                             cJSON_GetObjectItem(j, "cells")};
    static const char *const names[6] = {"input C", "input H", "input W", "classes", "channels",
                                         "cells"};
    static const int lo[6] = {1, 1, 1, 2, 0, 0};
    static const int hi[6] = {NASC_MAX_INPUT_CHANNELS, NASC_MAX_INPUT_SIDE, NASC_MAX_INPUT_SIDE,
                              NASC_MAX_CLASSES, NASC_MAX_CHANNELS, NASC_MAX_CELLS};
    for (int i = 0; i < 6; i++) {
        if (!items[i] && i >= 4)
            continue; /* channels, cells: optional (the space's default) */
        const double d = cJSON_IsNumber(items[i]) ? items[i]->valuedouble : -1.0;
        if (!(d >= lo[i] && d <= hi[i] && d == floor(d))) {
            st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, 64,
                                "model %s: byte 64: metadata %s must be a whole number in [%d, %d]",
                                path, names[i], lo[i], hi[i]);
            goto done;
        }
        sizes[i] = (int)d;
    }
    net.channels = sizes[4];
    net.cells = sizes[5];
    const cJSON *v;
    if ((v = cJSON_GetObjectItem(j, "width"))) {
        const double d = cJSON_IsNumber(v) ? v->valuedouble : -1.0;
        if (!(d > 0 && d <= NASC_MAX_WIDTH)) {
            st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, 64,
                                "model %s: byte 64: metadata width must be a number in (0, %g]",
                                path, NASC_MAX_WIDTH);
            goto done;
        }
        net.width = (float)d;
    }
    if ((v = cJSON_GetObjectItem(j, "auxiliary")) && cJSON_IsBool(v))
        net.auxiliary = cJSON_IsTrue(v);
    st = cli_model_build(sp->valuestring, ar->valuestring, &net, sizes[0], sizes[1], sizes[2],
                         sizes[3], 0, out, err);
    if (st == NASC_OK) {
        st = nasc_weights_load(path, *out, err);
        if (st != NASC_OK) {
            nasc_model_free(*out);
            *out = NULL;
        }
    }
done:
    cJSON_Delete(j);
    nasc_free(meta);
    return st;
}

nasc_status cli_model_norm(const char *model_path, const char *spec, nasc_export_norm *out,
                           nasc_err *err) {
    memset(out, 0, sizeof *out);
    if (!spec) {
        /* a model that records its normalisation: {"normalize": {"mean": [..], "std": [..]}} */
        char *meta = NULL;
        NASC_TRY(nasc_weights_read_meta(model_path, &meta, err));
        cJSON *j = cJSON_Parse(meta);
        nasc_free(meta);
        const cJSON *nz = j ? cJSON_GetObjectItem(j, "normalize") : NULL;
        const cJSON *mean = nz ? cJSON_GetObjectItem(nz, "mean") : NULL;
        const cJSON *std = nz ? cJSON_GetObjectItem(nz, "std") : NULL;
        const int c = cJSON_GetArraySize(mean);
        bool ok = nz && cJSON_IsArray(mean) && cJSON_IsArray(std) && c >= 1 && c <= 3 &&
                  cJSON_GetArraySize(std) == c;
        for (int i = 0; ok && i < c; i++) {
            const cJSON *a = cJSON_GetArrayItem(mean, i), *b = cJSON_GetArrayItem(std, i);
            ok = cJSON_IsNumber(a) && cJSON_IsNumber(b);
            if (ok) {
                out->mean[i] = (float)a->valuedouble;
                out->std[i] = (float)b->valuedouble;
            }
        }
        cJSON_Delete(j);
        if (ok) {
            out->c = c;
            return NASC_OK;
        }
        if (nz)
            return nasc_errorf_at(err, NASC_ERR_FORMAT, model_path, 64,
                                  "model %s: byte 64: metadata \"normalize\" is not "
                                  "{\"mean\": [..], \"std\": [..]} with 1 to 3 channels",
                                  model_path);
        spec = "fashion-mnist";
    }
    nasc_dataset *ds = NULL;
    NASC_TRY(nasc_dataset_load(spec, NASC_SPLIT_TEST, &ds, err));
    out->c = ds->c;
    for (int i = 0; i < ds->c; i++) {
        out->mean[i] = ds->mean[i];
        out->std[i] = ds->std[i];
    }
    nasc_dataset_free(ds);
    return NASC_OK;
}

nasc_status cli_train_fit(const char *space, const char *arch, const cli_net_opts *net,
                          const nasc_dataset *train, const nasc_dataset *eval,
                          nasc_train_config *cfg, double seconds, nasc_train_fit *out,
                          nasc_err *err) {
    nasc_model *probe = NULL;
    NASC_TRY(cli_model_build(space, arch, net, train->c, train->h, train->w, train->n_classes,
                             cfg->seed, &probe, err));
    double calib = 0.05 * seconds; /* 5 % of the time, within [2 s, 30 s] */
    calib = calib < 2.0 ? 2.0 : (calib > 30.0 ? 30.0 : calib);
    nasc_status st = nasc_train_fit_time(probe, train, eval, cfg, seconds, calib, out, err);
    nasc_model_free(probe);
    if (st == NASC_OK)
        cfg->epochs = out->epochs;
    return st;
}

int cli_checkpoint_epochs(const char *ckpt) {
    char *meta = NULL;
    nasc_err err = {0};
    if (!ckpt || nasc_weights_read_meta(ckpt, &meta, &err) != NASC_OK)
        return 0;
    cJSON *j = cJSON_Parse(meta);
    nasc_free(meta);
    const cJSON *e = j ? cJSON_GetObjectItem(j, "train_epochs") : NULL;
    const int epochs = cJSON_IsNumber(e) && e->valuedouble >= 1 && e->valuedouble <= 1e6
                           ? (int)e->valuedouble
                           : 0;
    cJSON_Delete(j);
    return epochs;
}

char *cli_meta_add_epochs(char *meta, int epochs, double time_limit) {
    cJSON *j = meta ? cJSON_Parse(meta) : NULL;
    nasc_free(meta);
    if (!j)
        return NULL;
    cJSON_AddNumberToObject(j, "train_epochs", epochs);
    cJSON_AddNumberToObject(j, "time_limit_s", time_limit);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    char *copy = s ? nasc_strdup(s) : NULL;
    cJSON_free(s);
    return copy;
}
