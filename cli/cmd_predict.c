/* cmd_predict.c — `nasc predict`: a saved model's top-k classes per image, and its raw logits for
 * comparing other runtimes with nasc exactly. The logits are computed by nasc_predict, the same
 * path as `nasc eval`. */
#include "train_opts.h"

#include "nasc/arena.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <string.h>

/* Softmax probabilities of one row (in double, then rounded). */
static void softmax_row(const float *z, int K, double *p) {
    double mx = z[0], sum = 0.0;
    for (int k = 1; k < K; k++)
        mx = fmax(mx, (double)z[k]);
    for (int k = 0; k < K; k++)
        sum += (p[k] = exp((double)z[k] - mx));
    for (int k = 0; k < K; k++)
        p[k] /= sum;
}

/* The indices of the top K values of z (ties: lower index first). */
static void top_k(const float *z, int n, int K, int *idx) {
    for (int t = 0; t < K; t++) {
        int best = -1;
        for (int k = 0; k < n; k++) {
            bool used = false;
            for (int u = 0; u < t; u++)
                used |= idx[u] == k;
            if (!used && (best < 0 || z[k] > z[best]))
                best = k;
        }
        idx[t] = best;
    }
}

static int predict(const char *model_path, const char *data, const char *split,
                   const char *const *paths, int n_paths, const char *norm_spec,
                   const char *logits_path, int batch, int threads, int top, int limit, bool json,
                   bool quiet);

/* The image files fitted to the model's input, as a dataset normalised with norm (labels 0). */
static nasc_status images_dataset(const nasc_model *m, const char *const *paths, int n,
                                  const nasc_export_norm *norm, nasc_dataset **out, nasc_err *err) {
    NASC_TRY(nasc_dataset_new("images", n, m->in_h, m->in_w, m->in_c, m->n_classes, out, err));
    nasc_dataset *ds = *out;
    for (int c = 0; c < norm->c; c++) {
        ds->mean[c] = norm->mean[c];
        ds->std[c] = norm->std[c];
    }
    for (int i = 0; i < n; i++) {
        nasc_status st = nasc_image_load(paths[i], m->in_c, m->in_h, m->in_w,
                                         ds->images + (size_t)i * nasc_dataset_image_bytes(ds),
                                         err);
        if (st != NASC_OK) {
            nasc_dataset_free(ds);
            *out = NULL;
            return st;
        }
    }
    return NASC_OK;
}

int cmd_predict(int argc, char **argv) {
    const char *model_path = NULL, *data = NULL, *split = "test", *image = NULL, *norm_spec = NULL;
    const char *logits_path = NULL;
    int batch = 256, threads = 2, top = 3, limit = 0;
    bool json = false, quiet = false;
    cli_flag flags[] = {
        {"model", CLI_STR, &model_path, "FILE", "weights file written by nasc train --out"},
        {"data", CLI_STR, &data, "DATASET", "predict every image of this dataset's split"},
        {"split", CLI_STR, &split, "NAME", "with --data: test (default) or train"},
        {"image", CLI_STR, &image, "FILE",
         "predict image files (PNG, JPEG, PGM/PPM; more files may follow FILE)"},
        {"norm", CLI_STR, &norm_spec, "DATASET",
         "with --image: normalise as this dataset (default: the model's, else fashion-mnist)"},
        {"top", CLI_INT, &top, "K", "classes listed per image (default 3)"},
        {"limit", CLI_INT, &limit, "N", "only the first N images of the split (default all)"},
        {"logits", CLI_STR, &logits_path, "FILE",
         "write the raw logits: float32 little-endian, images x classes"},
        {"json", CLI_BOOL, &json, NULL, "print one JSON object"},
        {"quiet", CLI_BOOL, &quiet, NULL, "print only the summary, not a line per image"},
        {"batch", CLI_INT, &batch, "B", "batch size (default 256)"},
        {"threads", CLI_INT, &threads, "T", "kernel threads (default 2)"},
    };
    /* --image FILE [FILE...]: the words after FILE up to the next flag are more files */
    enum { MAX_IMAGES = 4096 };
    const char **paths = nasc_malloc(MAX_IMAGES * sizeof *paths);
    char **args = nasc_malloc((size_t)argc * sizeof *args);
    if (!paths || !args) {
        nasc_free(paths);
        nasc_free(args);
        cli_error("nasc predict: out of memory");
        return CLI_FAIL;
    }
    int n_paths = 0, n_args = 0;
    for (int i = 0; i < argc; i++) {
        args[n_args++] = argv[i];
        if (i >= 2 && !strcmp(argv[i], "--image") && i + 1 < argc) {
            args[n_args++] = argv[++i];
            paths[n_paths++] = argv[i];
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) && n_paths < MAX_IMAGES)
                paths[n_paths++] = argv[++i];
        }
    }
    int rc = cli_parse("predict", n_args, args, 2, flags, (int)(sizeof flags / sizeof flags[0]),
                       "nasc predict --model FILE (--data DATASET | --image FILE...) [--top K] "
                       "[--json] [--logits FILE]",
                       "Classifies images with a saved model: the top K classes of each image "
                       "with their probabilities, and optionally the raw logits as float32 "
                       "(the numbers nasc eval scores), so that exported models can be compared "
                       "with nasc exactly.");
    nasc_free(args);
    if (rc != CLI_OK) {
        nasc_free(paths);
        return rc == CLI_HELP ? CLI_OK : rc;
    }
    rc = predict(model_path, data, split, paths, n_paths, norm_spec, logits_path, batch, threads,
                 top, limit, json, quiet);
    nasc_free(paths);
    return rc;
}

static int predict(const char *model_path, const char *data, const char *split,
                   const char *const *paths, int n_paths, const char *norm_spec,
                   const char *logits_path, int batch, int threads, int top, int limit, bool json,
                   bool quiet) {
    int rc = CLI_OK;
    const bool image = n_paths > 0;
    if (!model_path) {
        cli_error("nasc predict: --model FILE is required");
        return CLI_USAGE;
    }
    if (!data == !image) {
        cli_error("nasc predict: give exactly one of --data DATASET and --image FILE...");
        return CLI_USAGE;
    }
    if (norm_spec && data) {
        cli_error("nasc predict: --norm goes with --image (--data normalises as its dataset)");
        return CLI_USAGE;
    }
    if (strcmp(split, "test") && strcmp(split, "train")) {
        cli_error("nasc predict: --split: expected test or train, got '%s'", split);
        return CLI_USAGE;
    }
    if (batch < 1 || threads < 1 || top < 1 || limit < 0) {
        cli_error("nasc predict: --batch, --threads and --top must be >= 1, --limit >= 0");
        return CLI_USAGE;
    }

    nasc_err err = {0};
    nasc_model *m = NULL;
    nasc_dataset *ds = NULL;
    float *logits = NULL;
    float acc = NAN;
    nasc_status st = cli_model_from_file(model_path, &m, &err);
    if (st == NASC_OK && data)
        st = nasc_dataset_load(data, strcmp(split, "test") ? NASC_SPLIT_TRAIN : NASC_SPLIT_TEST,
                               &ds, &err);
    if (st == NASC_OK && image) {
        nasc_export_norm norm;
        st = cli_model_norm(model_path, norm_spec, &norm, &err);
        if (st == NASC_OK && norm.c != m->in_c)
            st = nasc_errorf(&err, NASC_ERR_ARG,
                             "predict: a normalisation of %d channels for a model with %d input "
                             "channels (see --norm)",
                             norm.c, m->in_c);
        if (st == NASC_OK)
            st = images_dataset(m, paths, n_paths, &norm, &ds, &err);
    }
    if (st == NASC_OK && limit > 0 && limit < ds->n) {
        uint32_t *idx = nasc_malloc((size_t)limit * sizeof *idx);
        nasc_dataset *part = NULL;
        for (int i = 0; idx && i < limit; i++)
            idx[i] = (uint32_t)i;
        st = idx ? nasc_dataset_subset(ds, idx, (size_t)limit, &part, &err)
                 : nasc_errorf(&err, NASC_ERR_NOMEM, "predict: out of memory");
        nasc_free(idx);
        if (st == NASC_OK) {
            nasc_dataset_free(ds);
            ds = part;
        }
    }
    if (st == NASC_OK && !(logits = nasc_malloc((size_t)(ds->n > 0 ? ds->n : 1) *
                                                (size_t)m->n_classes * sizeof *logits)))
        st = nasc_errorf(&err, NASC_ERR_NOMEM, "predict: out of memory");
    if (st == NASC_OK)
        st = nasc_predict(m, ds, NULL, threads, batch, logits, data ? &acc : NULL, &err);
    if (st == NASC_OK && logits_path) {
        /* float32 little-endian: the host order on every machine nasc builds for */
        _Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "little-endian host");
        st = nasc_write_file_atomic(logits_path, logits,
                                    (size_t)ds->n * (size_t)m->n_classes * sizeof *logits, &err);
    }
    if (st != NASC_OK) {
        rc = cli_fail(st, &err, true); /* a bad --logits path is bad input too */
        goto done;
    }
    const int K = m->n_classes, kk = top < K ? top : K;
    double *p = nasc_malloc((size_t)K * sizeof *p);
    int *idx = nasc_malloc((size_t)kk * sizeof *idx);
    if (!p || !idx) {
        nasc_free(p);
        nasc_free(idx);
        cli_error("nasc predict: out of memory");
        rc = CLI_FAIL;
        goto done;
    }
    cJSON *j = json ? cJSON_CreateObject() : NULL, *preds = NULL;
    if (j) {
        cJSON_AddStringToObject(j, "model", model_path);
        cJSON_AddStringToObject(j, "space", m->space ? m->space : "");
        cJSON_AddStringToObject(j, "arch", m->arch ? m->arch : "");
        if (data) {
            cJSON_AddStringToObject(j, "data", data);
            cJSON_AddStringToObject(j, "split", split);
        }
        cJSON_AddNumberToObject(j, "images", ds->n);
        cJSON_AddNumberToObject(j, "classes", K);
        if (data)
            cJSON_AddNumberToObject(j, "accuracy", (double)acc);
        if (logits_path)
            cJSON_AddStringToObject(j, "logits", logits_path);
        preds = quiet ? NULL : cJSON_AddArrayToObject(j, "predictions");
    }
    for (int i = 0; i < ds->n && (preds || (!json && !quiet)); i++) {
        const float *z = logits + (size_t)i * K;
        softmax_row(z, K, p);
        top_k(z, K, kk, idx);
        if (preds) {
            cJSON *o = cJSON_CreateObject();
            if (image)
                cJSON_AddStringToObject(o, "image", paths[i]);
            else
                cJSON_AddNumberToObject(o, "index", i);
            if (data)
                if (data)
                cJSON_AddNumberToObject(o, "label", ds->labels[i]);
            cJSON *tops = cJSON_AddArrayToObject(o, "top");
            for (int t = 0; t < kk; t++) {
                cJSON *c = cJSON_CreateObject();
                cJSON_AddNumberToObject(c, "class", idx[t]);
                cJSON_AddNumberToObject(c, "prob", p[idx[t]]);
                cJSON_AddNumberToObject(c, "logit", (double)z[idx[t]]);
                cJSON_AddItemToArray(tops, c);
            }
            cJSON_AddItemToArray(preds, o);
        } else {
            if (image)
                printf("%s:", paths[i]);
            else
                printf("%d (label %d):", i, ds->labels[i]);
            for (int t = 0; t < kk; t++)
                printf(" %d %.4f", idx[t], p[idx[t]]);
            putchar('\n');
        }
    }
    if (j) {
        char *s = cJSON_PrintUnformatted(j);
        printf("%s\n", s);
        cJSON_free(s);
        cJSON_Delete(j);
    } else if (data) {
        printf("%s accuracy %.2f%% on %d images\n", split, (double)acc, ds->n);
    }
    nasc_free(p);
    nasc_free(idx);
    rc = CLI_OK;
done:
    nasc_free(logits);
    nasc_dataset_free(ds);
    nasc_model_free(m);
    return rc;
}
