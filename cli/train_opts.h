/* train_opts.h — flags shared by `nasc train` and `nasc search` (training, data, network). */
#ifndef NASC_CLI_TRAIN_OPTS_H
#define NASC_CLI_TRAIN_OPTS_H

#include "cli.h"

#include "nasc/data.h"
#include "nasc/export.h"
#include "nasc/space.h"
#include "nasc/train.h"
#include "nasc/weights.h"

typedef struct cli_train_opts {
    nasc_train_hparams hp; /* --epochs, --batch, --lr, ..., --data-fraction, --threads (train.h) */
    nasc_train_config cfg; /* the run: hp's values once finished, --seed, --aux-weight, ... */
    const char *data;      /* --data spec */
    const char *optimizer; /* --optimizer (into hp.optimizer once checked) */
    const char *backend;   /* --backend */
    const char *input;     /* --input CxHxW (images:DIR) */
    double test_fraction;  /* --test-fraction (images:DIR without train/ and test/; 0: default) */
    bool skip_bad;         /* --skip-bad (images:DIR) */
    const char *recipe;    /* --recipe (applied before parsing by cli_train_recipe_add) */
    char *data_spec;       /* --data with the image options folded in (nasc_malloc'd) or NULL */
} cli_train_opts;

/* Network options: --channels, --cells, --auxiliary (and the baseline's width). */
typedef struct cli_net_opts {
    float width;
    int channels;
    int cells;
    bool auxiliary;
} cli_net_opts;

/* Defaults: fashion-mnist, the hyperparameters of NASC_TRAIN_PRESET_COMMAND (5 epochs, batch
 * 128, SGD lr 0.1 Nesterov, wd 5e-4, 2 threads), seed 1. */
void cli_train_opts_init(cli_train_opts *o);
/* Appends the training flags to f[n..] and returns the new count (at most 28 are added). */
int cli_train_flags_add(cli_flag *f, int n, cli_train_opts *o);
/* Checks the parsed values (optimizer name, ranges), sets o->cfg from o->hp and folds --input,
 * --test-fraction and --skip-bad into the images:DIR spec (o->data then points at o->data_spec).
 * CLI_OK or CLI_USAGE (printed). */
int cli_train_opts_finish(cli_train_opts *o, const char *cmd);
/* Applies --recipe NAME (found anywhere in argv[first..]) to o and net before the flags are
 * parsed, so explicit flags override it. Adds the --recipe flag to f[n..] and returns the new
 * count, or -1 after printing the error for an unknown recipe. */
int cli_train_recipe_add(cli_flag *f, int n, int argc, char **argv, int first, cli_train_opts *o,
                         cli_net_opts *net, const char *cmd);
/* Frees what cli_train_opts_finish allocated. */
void cli_train_opts_deinit(cli_train_opts *o);
/* data ("images:DIR[?...]") with opts appended ('?' or '&' joined), nasc_malloc'd. */
char *cli_images_spec(const char *data, const char *opts);
/* Loads the training split (reduced by --data-fraction) and the test split of --data. */
nasc_status cli_load_data(const cli_train_opts *o, nasc_dataset **out_train,
                          nasc_dataset **out_test, nasc_err *err);
/* Builds the network for (space, arch) or the baseline CNN; parameters initialised from seed. */
nasc_status cli_model_build(const char *space, const char *arch, const cli_net_opts *net, int in_c,
                            int in_h, int in_w, int classes, uint64_t seed, nasc_model **out,
                            nasc_err *err);
/* The JSON metadata written into a weights file (nasc_malloc'd). With ds (may be NULL) holding
 * class names (images:DIR), they are stored as "class_names", and its mean/std as "normalize". */
char *cli_model_meta(const nasc_model *m, const cli_net_opts *net, const nasc_dataset *ds);
/* The class names stored in a weights file's metadata: a cJSON array to free with cJSON_Delete,
 * or NULL when the file has none (older models, idx and CIFAR datasets). */
struct cJSON *cli_model_class_names(const char *path);
/* Rebuilds the model described by a weights file and loads its weights. */
nasc_status cli_model_from_file(const char *path, nasc_model **out, nasc_err *err);

/* The dataset normalisation of a saved model, for exports and --image: the mean/std of dataset
 * `spec` when given (its test split is loaded), else the model's metadata "normalize" when it has
 * one, else Fashion-MNIST's. */
nasc_status cli_model_norm(const char *model_path, const char *spec, nasc_export_norm *out,
                           nasc_err *err);

/* --time-limit: fits cfg->epochs to `seconds` (the measurement included) by training a probe copy
 * of (space, arch) for 5 % of the time within [2 s, 30 s] (nasc_train_fit_time); eval (may be
 * NULL) is evaluated at the end. On success cfg->epochs is the count chosen. */
nasc_status cli_train_fit(const char *space, const char *arch, const cli_net_opts *net,
                          const nasc_dataset *train, const nasc_dataset *eval,
                          nasc_train_config *cfg, double seconds, nasc_train_fit *out,
                          nasc_err *err);
/* The epoch count a time-limited run recorded in a checkpoint's / model's metadata
 * ("train_epochs"), or 0 when the file is missing or has none. */
int cli_checkpoint_epochs(const char *ckpt);
/* meta (nasc_malloc'd JSON, consumed) with "train_epochs" and "time_limit_s" added; NULL on OOM. */
char *cli_meta_add_epochs(char *meta, int epochs, double time_limit);

#endif /* NASC_CLI_TRAIN_OPTS_H */
