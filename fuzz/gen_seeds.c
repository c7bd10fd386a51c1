/* gen_seeds.c — writes the seed corpora of the harnesses into DIR/<harness>/ from real nasc
 * files: sampled architectures of every space (text and JSON), a small model and a training
 * checkpoint, the one-shot harness's own checkpoint, idx and CIFAR files, YAML configs and a
 * CSV table. (The trial-database seeds come from `nasc search`, see scripts/fuzz.) The committed
 * corpus was made with `fuzz_gen_seeds fuzz/corpus`. */
#include "fuzz_oneshot.h"

#include "nasc/arena.h"
#include "nasc/nn.h"
#include "nasc/optim.h"
#include "nasc/rng.h"
#include "nasc/space.h"
#include "nasc/weights.h"

#include <sys/stat.h>

static const char *out_dir;

/* Writes prefix (n_prefix bytes: the harness's mode bytes) + body to DIR/harness/name. */
static void seed(const char *harness, const char *name, const uint8_t *prefix, size_t n_prefix,
                 const void *body, size_t n) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", out_dir, harness);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/%s/%s", out_dir, harness, name);
    uint8_t *b = malloc(n_prefix + n + 1);
    memcpy(b, prefix, n_prefix);
    memcpy(b + n_prefix, body, n);
    fuzz_write(p, b, n_prefix + n);
    free(b);
}

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f)
        abort();
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n + 1);
    if (fread(b, 1, *n, f) != *n)
        abort();
    fclose(f);
    return b;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_gen_seeds DIR\n");
        return 2;
    }
    out_dir = argv[1];
    mkdir(out_dir, 0755);
    char name[64], p[256];
    size_t n;

    /* arch: two samples of every space, as text and as JSON */
    static const char *const spaces[] = {"nb201", "darts", "chain", "mobilenet", "macro", "morph"};
    nasc_rng rng;
    nasc_rng_init(&rng, 7, NASC_STREAM_USER);
    for (int s = 0; s < 6; s++) {
        nasc_space *sp = NULL;
        if (nasc_space_new(spaces[s], NULL, &sp, NULL) != NASC_OK)
            abort();
        for (int k = 0; k < 2; k++) {
            nasc_arch *a = NULL;
            if (nasc_space_sample(sp, &rng, &a, NULL) != NASC_OK)
                abort();
            char *t = nasc_arch_to_string(a), *j = nasc_arch_to_json(a);
            snprintf(name, sizeof name, "%s_%d_text", spaces[s], k);
            seed("arch", name, (const uint8_t[]){(uint8_t)s, 0}, 2, t, strlen(t));
            snprintf(name, sizeof name, "%s_%d_json", spaces[s], k);
            seed("arch", name, (const uint8_t[]){(uint8_t)s, 1}, 2, j, strlen(j));
            nasc_free(t), nasc_free(j);
            nasc_arch_free(a);
        }
        nasc_space_free(sp);
    }

    /* weights: the harness's model as a weights file and as a training checkpoint */
    nasc_model *m = NULL;
    nasc_optim *o = NULL;
    const nasc_optim_config oc = {.kind = NASC_OPTIM_SGD, .momentum = 0.9f};
    if (nasc_baseline_new(1, 8, 8, 2, 0.125f, 1, &m, NULL) != NASC_OK ||
        nasc_optim_new(m->params, &oc, &o, NULL) != NASC_OK)
        abort();
    const char *meta = "{\"format\":\"nasc-model\",\"space\":\"baseline\",\"arch\":\"baseline\","
                       "\"input\":[1,8,8],\"classes\":2,\"width\":0.125}";
    fuzz_path(p, sizeof p, "m.nasc");
    if (nasc_weights_save(p, m, meta, NULL) != NASC_OK)
        abort();
    uint8_t *b = slurp(p, &n);
    seed("weights", "model", (const uint8_t[]){0}, 1, b, n);
    seed("weights", "model_fixcrc", (const uint8_t[]){1}, 1, b, n);
    free(b);
    if (nasc_checkpoint_save(p, m, o, meta, NULL) != NASC_OK)
        abort();
    b = slurp(p, &n);
    seed("weights", "checkpoint", (const uint8_t[]){2}, 1, b, n);
    seed("weights", "checkpoint_fixcrc", (const uint8_t[]){3}, 1, b, n);
    free(b);
    nasc_optim_free(o);
    nasc_model_free(m);

    /* oneshot: the tiny search's checkpoint after one step */
    nasc_oneshot_config cfg;
    fuzz_oneshot_config(&cfg);
    unlink(cfg.checkpoint);
    nasc_oneshot_result r = {0};
    nasc_err err = {0};
    nasc_status st = nasc_oneshot_run(&cfg, NULL, &r, &err);
    if (st != NASC_OK && st != NASC_ERR_ABORTED) {
        fprintf(stderr, "oneshot: %s\n", err.msg);
        abort();
    }
    nasc_oneshot_result_free(&r);
    b = slurp(cfg.checkpoint, &n);
    seed("oneshot", "checkpoint", (const uint8_t[]){0}, 1, b, n);
    seed("oneshot", "checkpoint_fixcrc", (const uint8_t[]){1}, 1, b, n);
    free(b);

    /* idx: 2 images of 28x28 and their labels (the split at byte 16 + 2*784) */
    {
        const char *d = fuzz_path(p, sizeof p, "fm");
        (void)d;
        char ip[300], lp[300];
        snprintf(ip, sizeof ip, "%s/train-images-idx3-ubyte", p);
        snprintf(lp, sizeof lp, "%s/train-labels-idx1-ubyte", p);
        size_t ni, nl;
        uint8_t *im = slurp(ip, &ni), *lb = slurp(lp, &nl);
        /* keep 2 of the 8 images: patch the counts */
        fuzz_be32(im + 4, 2), fuzz_be32(lb + 4, 2);
        ni = 16 + 2 * 784, nl = 8 + 2;
        uint8_t *both = malloc(2 + ni + nl);
        both[0] = (uint8_t)(ni & 255), both[1] = (uint8_t)(ni >> 8);
        memcpy(both + 2, im, ni);
        memcpy(both + 2 + ni, lb, nl);
        seed("idx", "two_images", NULL, 0, both, 2 + ni + nl);
        free(both), free(im), free(lb);
    }

    /* cifar: 2 records of CIFAR-10 (label + 3072 bytes) and of CIFAR-100 (2 labels + 3072) */
    for (int c100 = 0; c100 < 2; c100++) {
        const size_t rec = (size_t)(c100 ? 3074 : 3073);
        uint8_t *f = malloc(2 * rec);
        for (size_t i = 0; i < 2 * rec; i++)
            f[i] = (uint8_t)(i * 7);
        f[0] = 3, f[rec] = 1;
        if (c100)
            f[1] = 42, f[rec + 1] = 99;
        seed("cifar", c100 ? "cifar100_two" : "cifar10_two", (const uint8_t[]){(uint8_t)(c100 | 2)},
             1, f, 2 * rec);
        free(f);
    }

    /* yaml: configurations as users write them */
    static const char *const yamls[] = {
        "space: nb201\nstrategy: evolution\nstrategy-opt: {sample: 4, population: 12}\n"
        "benchmark: 'nb201:cifar100'\nbudget: 77\nmedian-stop: on\ndata-fraction: 0.25\n",
        "space: darts\nstrategy: darts\ndata: fashion-mnist\nepochs: 3\nbatch: 16\nchannels: 8\n"
        "cells: 5\nlr: 0.025\nseed: 3\n",
        "# a comment\nspace: chain\nstrategy: random\nbudget: 10\nworkers: 2\nthreads: 1\n"
        "objective: [score, -params]\n",
    };
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "config_%d", i);
        seed("yaml", name, NULL, 0, yamls[i], strlen(yamls[i]));
    }

    /* table: an NB201 CSV of 4 architectures (byte 0 = 0: nb201, both columns) */
    {
        nasc_space *sp = NULL;
        if (nasc_space_new("nb201", NULL, &sp, NULL) != NASC_OK)
            abort();
        char csv[4096];
        size_t k = (size_t)snprintf(csv, sizeof csv, "arch,valid_acc,test_acc,train_time_s\n");
        for (uint64_t i = 0; i < 4; i++) {
            nasc_arch *a = NULL;
            if (nasc_space_get(sp, i * 1000, &a, NULL) != NASC_OK)
                abort();
            char *t = nasc_arch_to_string(a);
            k += (size_t)snprintf(csv + k, sizeof csv - k, "%s,%.2f,%s,%d\n", t, 80.0 + (double)i,
                                  i == 2 ? "nan" : "71.5", 100 + (int)i);
            nasc_free(t);
            nasc_arch_free(a);
        }
        seed("table", "nb201_four", (const uint8_t[]){0}, 1, csv, k);
        nasc_space_free(sp);
    }
    printf("seeds written to %s\n", out_dir);
    return 0;
}
