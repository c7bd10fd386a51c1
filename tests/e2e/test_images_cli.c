/* test_images_cli.c — `nasc train`, `nasc eval` and `nasc search` on an image folder: the
 * committed CIFAR-10 JPEG sample (tests/data/images/cifar: 20 training, 10 test images), a tiny
 * nb201 network for one epoch. Checks the runs succeed end to end, the model file keeps the class
 * names and eval reports them, the second start reads the cache, and a corrupt file fails with
 * exit 2 naming it unless --skip-bad. */
#include "test.h"

#include "e2e/search_cli.h"
#include "nasc/train.h"

#define FIX NASC_SOURCE_DIR "/tests/data/images"
#define ARCH "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"

int main(void) {
    const char *cli = search_cli();
    char tmp[] = "/tmp/nasc_images_cli_XXXXXX";
    if (!mkdtemp(tmp))
        return 1;
    char cache[256], out[256], err[256], model[256], db[256];
    snprintf(cache, sizeof cache, "%s/cache", tmp);
    snprintf(out, sizeof out, "%s/out", tmp);
    snprintf(err, sizeof err, "%s/err", tmp);
    snprintf(model, sizeof model, "%s/m.nasc", tmp);
    snprintf(db, sizeof db, "%s/s.db", tmp);
    setenv("NASC_CACHE_DIR", cache, 1);

    /* train: 20 images, one epoch; then again (the cache), same result */
    int rc = search_runf(cli, out, err,
                         "train --data images:" FIX "/cifar --space nb201 --arch " ARCH
                         " --channels 4 --cells 1 --epochs 1 --batch 8 --threads 1 --quiet --json "
                         "--out %s",
                         model);
    char *o1 = search_slurp(out), *e1 = search_slurp(err);
    CHECK_MSG(rc == 0, "train exit %d: %s", rc, e1);
    CHECK_STR_CONTAINS(o1, "\"train_images\":20");
    char acc1[64], acc2[64];
    json_field(o1, "test_accuracy", acc1, sizeof acc1);
    rc = search_runf(cli, out, err,
                     "train --data images:" FIX "/cifar --space nb201 --arch " ARCH
                     " --channels 4 --cells 1 --epochs 1 --batch 8 --threads 1 --quiet --json");
    char *o2 = search_slurp(out);
    json_field(o2, "test_accuracy", acc2, sizeof acc2);
    CHECK_MSG(rc == 0 && acc1[0] && !strcmp(acc1, acc2), "second run: exit %d, accuracy %s vs %s",
              rc, acc2, acc1);
    free(o1);
    free(e1);
    free(o2);

    /* eval: the model's input shape and its class names */
    rc = search_runf(cli, out, err, "eval --model %s --data images:" FIX "/cifar --json", model);
    char *o3 = search_slurp(out), *e3 = search_slurp(err);
    CHECK_MSG(rc == 0, "eval exit %d: %s", rc, e3);
    CHECK_STR_CONTAINS(o3, "\"images\":10");
    CHECK_STR_CONTAINS(o3, "\"airplane\",\"automobile\",\"bird\"");
    free(o3);
    free(e3);
    rc = search_runf(cli, out, err, "eval --model %s --data images:" FIX "/mixed --json", model);
    char *e4 = search_slurp(err);
    CHECK_MSG(rc == 2, "eval on other classes: exit %d", rc);
    CHECK_STR_CONTAINS(e4, "other classes");
    free(e4);

    /* a corrupt JPEG: exit 2 naming it; --skip-bad trains on the rest */
    rc = search_runf(cli, out, err,
                     "train --data images:" FIX "/bad --epochs 1 --batch 2 --threads 1 --quiet");
    char *e5 = search_slurp(err);
    CHECK_MSG(rc == 2, "corrupt file: exit %d", rc);
    CHECK_STR_CONTAINS(e5, "nasc: error: images: " FIX "/bad/train/cat/trunc.jpg: not a decodable");
    free(e5);
    rc = search_runf(cli, out, err,
                     "train --data images:" FIX "/bad --skip-bad --epochs 1 --batch 2 --threads 1 "
                     "--quiet --json");
    char *o6 = search_slurp(out);
    CHECK_MSG(rc == 0, "--skip-bad: exit %d", rc);
    CHECK_STR_CONTAINS(o6, "\"train_images\":2");
    free(o6);
    rc = search_runf(cli, out, err, "train --data fashion-mnist --skip-bad --epochs 1");
    CHECK_MSG(rc == 2, "--skip-bad without images: exit %d", rc);

    /* --recipe nb201-12: NAS-Bench-201's schedule and network; the parameter count equals the
     * benchmark's params_mb for this cell (data/nb201.csv: 0.587386), explicit flags override */
    rc = search_runf(cli, out, err,
                     "train --recipe nb201-12 --data images:" FIX "/cifar --space nb201 --arch " ARCH
                     " --epochs 1 --threads 1 --json");
    char *o8 = search_slurp(out), *e8 = search_slurp(err);
    CHECK_MSG(rc == 0, "recipe: exit %d: %s", rc, e8);
    CHECK_STR_CONTAINS(o8, "\"params\":587386,");
    CHECK_STR_CONTAINS(e8, "1 epochs, batch 256");
    free(o8);
    free(e8);
    rc = search_runf(cli, out, err, "train --recipe nb201-13");
    CHECK_MSG(rc == 2, "unknown recipe: exit %d", rc);
    nasc_train_config c;
    nasc_train_config_default(&c);
    int ch = 0, cells = 0;
    nasc_err e = {0};
    CHECK_STATUS(nasc_train_recipe_apply("nb201-200", &c, &ch, &cells, &e), NASC_OK);
    CHECK(c.epochs == 200 && c.batch == 256 && c.optim == NASC_OPTIM_SGD && c.lr == 0.1f &&
          c.lr_min == 0.0f && c.momentum == 0.9f && c.nesterov && c.weight_decay == 5e-4f &&
          c.clip_norm == 0.0f && c.crop_pad == 4 && c.hflip && c.cutout == 0 &&
          c.label_smoothing == 0.0f && c.warmup_epochs == 0 && ch == 16 && cells == 5);
    CHECK_STATUS(nasc_train_recipe_apply("nb201", &c, NULL, NULL, &e), NASC_ERR_ARG);
    CHECK_STR_CONTAINS(e.msg, "nb201-12, nb201-200");

    /* search: two trained trials of the nb201 space on the folder (options in the spec) */
    rc = search_runf(cli, out, err,
                     "search --space nb201 --strategy random --data images:" FIX
                     "/cifar?input=3x16x16 --channels 4 --cells 1 --epochs 1 --batch 8 "
                     "--threads 1 --budget 2 --quiet --json --db %s",
                     db);
    char *o7 = search_slurp(out), *e7 = search_slurp(err);
    CHECK_MSG(rc == 0, "search exit %d: %s", rc, e7);
    CHECK_STR_CONTAINS(o7, "\"best_arch\"");
    free(o7);
    free(e7);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
    return test_done("test_images_cli");
}
