/* cmd_eval.c — `nasc eval`: accuracy of a saved model on a dataset's test split. */
#include "train_opts.h"

#include "nasc/limits.h"

#include <cjson/cJSON.h>
#include "nasc/arena.h"

#include <string.h>

/* Whether the model's class names are the dataset's, in the same order. */
static bool names_match(const cJSON *names, const nasc_dataset *ds) {
    for (int k = 0; k < ds->n_classes; k++) {
        const cJSON *v = cJSON_GetArrayItem(names, k);
        if (!cJSON_IsString(v) || strcmp(v->valuestring, nasc_dataset_class_name(ds, k)))
            return false;
    }
    return true;
}

int cmd_eval(int argc, char **argv) {
    const char *model_path = NULL, *data = "fashion-mnist", *split = "test";
    int batch = 256, threads = 2;
    bool json = false;
    cli_flag flags[] = {
        {"model", CLI_STR, &model_path, "FILE", "weights file written by nasc train --out"},
        {"data", CLI_STR, &data, "DATASET", "dataset (default fashion-mnist)"},
        {"split", CLI_STR, &split, "NAME", "test (default) or train"},
        {"batch", CLI_INT, &batch, "B", "batch size (default 256)"},
        {"threads", CLI_INT, &threads, "T", "kernel threads (default 2)"},
        {"json", CLI_BOOL, &json, NULL, "print the result as one JSON object"},
    };
    int rc = cli_parse("eval", argc, argv, 2, flags, (int)(sizeof flags / sizeof flags[0]),
                       "nasc eval --model FILE [--data DATASET] [--split test|train] [--json]",
                       "Evaluates a saved model: accuracy and mean cross entropy.");
    if (rc != CLI_OK)
        return rc == CLI_HELP ? CLI_OK : rc;
    if (!model_path) {
        cli_error("nasc eval: --model FILE is required");
        return CLI_USAGE;
    }
    if (strcmp(split, "test") && strcmp(split, "train")) {
        cli_error("nasc eval: --split: expected test or train, got '%s'", split);
        return CLI_USAGE;
    }
    if (cli_check_int("eval", "batch", batch, 1, NASC_MAX_BATCH) != CLI_OK ||
        cli_check_int("eval", "threads", threads, 1, NASC_MAX_THREADS) != CLI_OK)
        return CLI_USAGE;
    nasc_err err = {0};
    nasc_model *m = NULL;
    nasc_dataset *ds = NULL;
    char *spec = NULL;
    cJSON *names = NULL;
    nasc_status st = cli_model_from_file(model_path, &m, &err);
    if (st == NASC_OK && !strncmp(data, "images:", 7) && !strstr(data, "input=")) {
        /* image folders are fitted to the model's input unless the spec says otherwise */
        char opt[64];
        snprintf(opt, sizeof opt, "input=%dx%dx%d", m->in_c, m->in_h, m->in_w);
        if (!(spec = cli_images_spec(data, opt)))
            st = nasc_errorf(&err, NASC_ERR_NOMEM, "out of memory");
    }
    if (st == NASC_OK)
        st = nasc_dataset_load(spec ? spec : data,
                               strcmp(split, "test") ? NASC_SPLIT_TRAIN : NASC_SPLIT_TEST, &ds,
                               &err);
    if (st == NASC_OK && (names = cli_model_class_names(model_path)) &&
        (cJSON_GetArraySize(names) != ds->n_classes ||
         (ds->class_names && !names_match(names, ds))))
        st = nasc_errorf(&err, NASC_ERR_ARG,
                         "eval: the model was trained on other classes than those of %s", data);
    float acc = 0, loss = 0;
    if (st == NASC_OK)
        st = nasc_evaluate(m, ds, NULL, threads, batch, &acc, &loss, &err);
    if (st != NASC_OK) {
        rc = cli_fail(st, &err, true);
    } else {
        if (json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "model", model_path);
            cJSON_AddStringToObject(j, "space", m->space ? m->space : "");
            cJSON_AddStringToObject(j, "arch", m->arch ? m->arch : "");
            cJSON_AddStringToObject(j, "data", data);
            cJSON_AddStringToObject(j, "split", split);
            cJSON_AddNumberToObject(j, "images", ds->n);
            cJSON_AddNumberToObject(j, "accuracy", acc);
            cJSON_AddNumberToObject(j, "loss", loss);
            if (names)
                cJSON_AddItemToObject(j, "class_names", cJSON_Duplicate(names, true));
            char *s = cJSON_Print(j);
            printf("%s\n", s);
            cJSON_free(s);
            cJSON_Delete(j);
        } else {
            printf("%s accuracy %.2f%% (loss %.4f) on %d images\n", split, (double)acc,
                   (double)loss, ds->n);
        }
        rc = CLI_OK;
    }
    cJSON_Delete(names);
    nasc_free(spec);
    nasc_dataset_free(ds);
    nasc_model_free(m);
    return rc;
}
