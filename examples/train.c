/* train.c — train a network through libnasc: load Fashion-MNIST, build a NAS-Bench-201 cell
 * network (or the baseline CNN), train it, report test accuracy and save the weights.
 *
 *     cc train.c $(pkg-config --cflags --libs nasc) -o train
 *     ./train [DATA_FRACTION [EPOCHS [OUT.nasc]]]      # defaults: 0.1, 1, no file
 *
 * DATA_FRACTION is the stratified share of both splits used (training and test), so that a quick
 * try is quick; 1 uses all of Fashion-MNIST.
 *
 * The saved file is what `nasc eval`, `nasc predict` and `nasc export` read. */
#include <nasc/nasc.h>

#include <stdio.h>
#include <stdlib.h>

static bool on_event(const nasc_train_event *ev, void *user) {
    (void)user;
    if (ev->kind == NASC_TRAIN_EPOCH_END)
        printf("epoch %d/%d: loss %.4f, train accuracy %.2f%%\n", ev->epoch + 1, ev->epochs,
               (double)ev->avg_loss, (double)ev->avg_acc);
    return true; /* false would stop training */
}

int main(int argc, char **argv) {
    double fraction = argc > 1 ? atof(argv[1]) : 0.1;
    int epochs = argc > 2 ? atoi(argv[2]) : 1;
    const char *out = argc > 3 ? argv[3] : NULL;

    nasc_err err = {0};
    nasc_dataset *all = NULL, *train = NULL, *all_test = NULL, *test = NULL;
    nasc_space *space = NULL;
    nasc_arch *arch = NULL;
    nasc_model *net = NULL;
    int rc = 1;

    /* Data: the same stratified share of both splits. */
    if (nasc_dataset_load("fashion-mnist", NASC_SPLIT_TRAIN, &all, &err) ||
        nasc_dataset_fraction(all, fraction, 1, &train, &err) ||
        nasc_dataset_load("fashion-mnist", NASC_SPLIT_TEST, &all_test, &err) ||
        nasc_dataset_fraction(all_test, fraction, 1, &test, &err))
        goto fail;

    /* An architecture in its space's text form, built into a network for 1x28x28 inputs. For the
     * baseline CNN use nasc_baseline_new(1, 28, 28, 10, 1.0f, seed, &net, &err) instead. */
    if (nasc_space_new("nb201", NULL, &space, &err) ||
        nasc_arch_parse(space,
                        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+"
                        "|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
                        &arch, &err))
        goto fail;
    nasc_net_config net_cfg = {.in_c = train->c, .in_h = train->h, .in_w = train->w,
                               .n_classes = train->n_classes, .channels = 8, .cells = 1};
    if (nasc_space_build(arch, &net_cfg, 1, &net, &err))
        goto fail;

    nasc_train_config cfg;
    nasc_train_config_default(&cfg);
    cfg.epochs = epochs;
    cfg.batch = 64;
    cfg.lr = 0.05f;
    cfg.threads = 2;
    nasc_train_result res;
    if (nasc_train(net, train, test, &cfg, on_event, NULL, &res, &err))
        goto fail;
    printf("test accuracy %.2f%% on %d images after %d epoch(s) on %d images (%.0f images/s)\n",
           (double)res.eval_acc, test->n, res.epochs_done, train->n, res.images_per_second);

    if (out) {
        /* The metadata that lets `nasc` rebuild the network (docs/FORMAT.md, "Weights file"). */
        char *arch_text = nasc_arch_to_string(arch);
        char meta[1024];
        snprintf(meta, sizeof meta,
                 "{\"format\":\"nasc-model\",\"space\":\"nb201\",\"arch\":\"%s\","
                 "\"input\":[%d,%d,%d],\"classes\":%d,\"width\":1,\"channels\":%d,"
                 "\"cells\":%d,\"auxiliary\":false}",
                 arch_text ? arch_text : "", net_cfg.in_c, net_cfg.in_h, net_cfg.in_w,
                 net_cfg.n_classes, net_cfg.channels, net_cfg.cells);
        nasc_free(arch_text);
        if (nasc_weights_save(out, net, meta, &err))
            goto fail;
        printf("saved %s\n", out);
    }
    rc = 0;
fail:
    if (rc)
        fprintf(stderr, "train: %s\n", err.msg);
    nasc_model_free(net);
    nasc_arch_free(arch);
    nasc_space_free(space);
    nasc_dataset_free(test);
    nasc_dataset_free(all_test);
    nasc_dataset_free(train);
    nasc_dataset_free(all);
    return rc;
}
