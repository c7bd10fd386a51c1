/* bench_train_step.c — times training steps (forward, backward, SGD) of a nasc model on random
 * data and prints one JSON line: images/s (median of per-step rates after warm-up), peak RSS.
 * The PyTorch side and the comparison are in bench/train_step.py.
 *
 *   bench_train_step [--model baseline|darts|nb201] [--batch 64] [--threads 2] [--steps 20]
 *                    [--warmup 3] [--input 1x28x28] [--classes 10] [--backend cpu]
 *                    [--genotype TEXT] [--channels 16] [--cells 8]
 *                    [--auxiliary W] [--drop-path P] [--clip NORM]
 *
 * --model darts builds the DARTS network (NetworkCIFAR) of --genotype (default: DARTS_V2) with
 * --channels C and --cells L; --auxiliary W > 0 adds the auxiliary head (loss weight W),
 * --drop-path P drops op outputs with probability P, --clip clips the gradient norm (the DARTS
 * CIFAR evaluation recipe: --channels 36 --cells 20 --input 3x32x32 --batch 96 --auxiliary 0.4
 * --drop-path 0.2 --clip 5). --model nb201 builds the
 * NAS-Bench-201 network of the cell given as --genotype (C and N from --channels and --cells).
 */
#include "nasc/arena.h"
#include "nasc/backend.h"
#include "nasc/nn.h"
#include "nasc/optim.h"
#include "nasc/rng.h"
#include "nasc/space.h"
#include "darts_v2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static nasc_status space_net_new(const char *space, const char *genotype, int C, int L, int in_c,
                                 int in_h, int in_w, int classes, bool aux, float drop,
                                 nasc_model **out, nasc_err *err) {
    nasc_space *sp = NULL;
    nasc_arch *a = NULL;
    nasc_status st = nasc_space_new(space, NULL, &sp, err);
    if (st == NASC_OK)
        st = nasc_arch_parse(sp, genotype, &a, err);
    if (st == NASC_OK) {
        const nasc_net_config nc = {.in_c = in_c, .in_h = in_h, .in_w = in_w,
                                    .n_classes = classes, .channels = C, .cells = L,
                                    .auxiliary = aux, .drop_path = drop};
        st = nasc_space_build(a, &nc, 1, out, err);
    }
    nasc_arch_free(a);
    nasc_space_free(sp);
    return st;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *model = "baseline", *backend = "cpu", *genotype = DARTS_V2;
    int batch = 64, threads = 2, steps = 20, warmup = 3, C = 1, H = 28, W = 28, classes = 10;
    int channels = 16, cells = 8;
    float aux_w = 0.0f, drop = 0.0f, clip = 0.0f;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model")) model = argv[i + 1];
        else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--warmup")) warmup = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--classes")) classes = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--backend")) backend = argv[i + 1];
        else if (!strcmp(argv[i], "--genotype")) genotype = argv[i + 1];
        else if (!strcmp(argv[i], "--channels")) channels = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--cells")) cells = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--auxiliary")) aux_w = strtof(argv[i + 1], NULL);
        else if (!strcmp(argv[i], "--drop-path")) drop = strtof(argv[i + 1], NULL);
        else if (!strcmp(argv[i], "--clip")) clip = strtof(argv[i + 1], NULL);
        else if (!strcmp(argv[i], "--input")) {
            if (sscanf(argv[i + 1], "%dx%dx%d", &C, &H, &W) != 3) {
                fprintf(stderr, "bad --input\n");
                return 2;
            }
        } else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    nasc_err err = {0};
    nasc_backend *be = nasc_backend_new(backend, threads, &err);
    nasc_model *m = NULL;
    nasc_status st = NASC_ERR_ARG;
    if (!strcmp(model, "baseline"))
        st = nasc_baseline_new(C, H, W, classes, 1.0f, 1, &m, &err);
    else if (!strcmp(model, "darts") || !strcmp(model, "nb201"))
        st = space_net_new(model, genotype, channels, cells, C, H, W, classes, aux_w > 0.0f,
                           drop, &m, &err);
    if (!be || st != NASC_OK) {
        fprintf(stderr, "bench: %s\n", err.msg[0] ? err.msg : "unknown model");
        return 1;
    }
    nasc_graph *g = nasc_graph_new(be, 64u << 20, &err);
    nasc_graph_set_release_grads(g, true); /* as nasc_train does */
    nasc_optim *o = NULL;
    nasc_optim_new(m->params,
                   &(nasc_optim_config){.kind = NASC_OPTIM_SGD, .momentum = 0.9f,
                                        .weight_decay = 5e-4f},
                   &o, &err);
    const size_t n_in = (size_t)batch * C * H * W;
    float *x = malloc(n_in * sizeof(float));
    int32_t *y = malloc((size_t)batch * sizeof(int32_t));
    nasc_rng r;
    nasc_rng_init(&r, 1, 1);
    for (size_t i = 0; i < n_in; i++)
        x[i] = nasc_rng_normal(&r);
    for (int i = 0; i < batch; i++)
        y[i] = (int32_t)nasc_rng_below(&r, (uint32_t)classes);
    double *rates = malloc((size_t)steps * sizeof(double));
    float loss_v = 0;
    for (int s = 0; s < warmup + steps; s++) {
        double t0 = now();
        nasc_graph_reset(g);
        nasc_graph_set_rng(g, 1, (uint64_t)s);
        nasc_params_zero_grad(m->params);
        nasc_tensor *in = nasc_input(g, batch, C, H, W, x);
        const nasc_forward_opts fo = {.drop_path = drop, .want_aux = aux_w > 0.0f};
        nasc_tensor *loss = nasc_cross_entropy(g, nasc_model_forward(m, g, in, &fo), y, 0.0f);
        if (loss && aux_w > 0.0f && m->aux_logits)
            loss = nasc_add(g, loss,
                            nasc_scale(g, nasc_cross_entropy(g, m->aux_logits, y, 0.0f), aux_w));
        if (!loss || nasc_backward(g, loss) != NASC_OK) {
            fprintf(stderr, "bench: %s\n", nasc_graph_errmsg(g));
            return 1;
        }
        if (clip > 0.0f)
            nasc_clip_grad_norm(m->params, clip);
        nasc_optim_step(o, 0.01f);
        loss_v = loss->data[0];
        double dt = now() - t0;
        if (s >= warmup)
            rates[s - warmup] = batch / dt;
    }
    qsort(rates, (size_t)steps, sizeof(double), cmp_double);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"impl\": \"nasc\", \"model\": \"%s\", \"batch\": %d, \"threads\": %d, "
           "\"images_per_second\": %.2f, \"peak_rss_mb\": %.1f, \"step_arena_mb\": %.1f, "
           "\"params\": %zu, \"last_loss\": %.4f}\n",
           model, batch, threads, rates[steps / 2], (double)ru.ru_maxrss / 1024.0,
           (double)nasc_arena_high_water(nasc_graph_arena(g)) / 1048576.0,
           nasc_params_count(m->params), (double)loss_v);
    free(rates);
    free(x);
    free(y);
    nasc_optim_free(o);
    nasc_graph_free(g);
    nasc_model_free(m);
    nasc_backend_free(be);
    return 0;
}
