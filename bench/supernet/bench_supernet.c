/* bench_supernet.c — one DARTS search step on the supernet (first or second order), timed, with
 * peak memory; the nasc side of bench/supernet/supernet_step.py, which runs the same step in
 * PyTorch and prints both with the ratios.
 *
 * A step is what the DARTS code does per training batch (train_search.py): an architecture step
 * on a validation batch (alpha by Adam lr 3e-4, betas 0.5/0.999, wd 1e-3; first order: the
 * gradient of the validation loss; second order: the unrolled one), then a weight step on a
 * training batch (SGD lr 0.025 momentum 0.9 wd 3e-4, clip 5). images/s counts training images
 * (batch / step time), as the PyTorch side does.
 *
 *     bench_supernet [--batch 64] [--channels 16] [--cells 8] [--threads 2] [--steps 5]
 *                    [--warmup 1] [--order 1] [--partial 1] [--space darts] [--backend cpu]
 * Prints one JSON object. */
#include "nasc/arena.h"
#include "nasc/backend.h"
#include "nasc/oneshot.h"
#include "nasc/optim.h"
#include "nasc/rng.h"
#include "nasc/supernet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU seconds of the process (user + system): unlike wall time, barely affected by other
 * processes on a shared machine (with one thread it is the step's work). */
static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

static int iarg(int argc, char **argv, const char *name, int def) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return atoi(argv[i + 1]);
    return def;
}
static const char *sarg(int argc, char **argv, const char *name, const char *def) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return def;
}

int main(int argc, char **argv) {
    const int B = iarg(argc, argv, "--batch", 64), C = iarg(argc, argv, "--channels", 16);
    const int L = iarg(argc, argv, "--cells", 8), T = iarg(argc, argv, "--threads", 2);
    const int steps = iarg(argc, argv, "--steps", 5), warm = iarg(argc, argv, "--warmup", 1);
    const int order = iarg(argc, argv, "--order", 1), partial = iarg(argc, argv, "--partial", 1);
    const char *space_name = sarg(argc, argv, "--space", "darts");
    const char *backend = sarg(argc, argv, "--backend", "cpu");
    nasc_err err = {0};
    nasc_space *space = NULL;
    nasc_supernet *sn = NULL;
    nasc_backend *be = nasc_backend_new(backend, T, &err);
    if (!be || nasc_space_new(space_name, NULL, &space, &err) ||
        nasc_supernet_new(space, &(nasc_supernet_config){.channels = C, .cells = L,
                                                         .partial = partial,
                                                         .edge_norm = partial > 1},
                          1, &sn, &err)) {
        fprintf(stderr, "bench_supernet: %s\n", err.msg);
        return 1;
    }
    nasc_supernet_memory mem;
    if (nasc_supernet_memory_predict(sn, be, B, 1, &mem, &err)) {
        fprintf(stderr, "bench_supernet: %s\n", err.msg);
        return 1;
    }
    nasc_oneshot *d = NULL;
    const nasc_oneshot_method m = partial > 1  ? NASC_ONESHOT_PCDARTS
                                  : order == 2 ? NASC_ONESHOT_DARTS2
                                               : NASC_ONESHOT_DARTS;
    if (nasc_oneshot_new(m, sn, be, NULL, 1, &d, &err)) {
        fprintf(stderr, "bench_supernet: %s\n", err.msg);
        return 1;
    }
    /* synthetic batches: N(0,1) pixels, labels i % 10 */
    const size_t n_in = (size_t)B * 28 * 28;
    float *xt = malloc(n_in * sizeof(float)), *xv = malloc(n_in * sizeof(float));
    int32_t *yt = malloc((size_t)B * sizeof(int32_t)), *yv = malloc((size_t)B * sizeof(int32_t));
    nasc_rng r;
    nasc_rng_init(&r, 7, NASC_STREAM_USER);
    for (size_t i = 0; i < n_in; i++) {
        xt[i] = nasc_rng_normal(&r);
        xv[i] = nasc_rng_normal(&r);
    }
    for (int i = 0; i < B; i++) {
        yt[i] = i % 10;
        yv[i] = (i * 7) % 10;
    }
    double total = 0.0, best = 1e30, cpu_total = 0.0;
    float loss = 0.0f;
    for (int s = 0; s < warm + steps; s++) {
        const double t0 = now_s(), c0 = cpu_s();
        nasc_oneshot_batch tb = {.x = xt, .labels = yt, .n = B}, vb = {.x = xv, .labels = yv, .n = B};
        nasc_oneshot_step_stats stats;
        if (nasc_oneshot_step(d, &tb, &vb, 0.025f, &stats, &err)) {
            fprintf(stderr, "bench_supernet: step %d: %s\n", s, err.msg);
            return 1;
        }
        const double dt = now_s() - t0, dc = cpu_s() - c0;
        if (s >= warm) {
            total += dt;
            cpu_total += dc;
            best = dt < best ? dt : best;
        }
        loss = stats.train_loss;
        fprintf(stderr, "step %d: %.3f s (cpu %.3f s), loss %.4f\n", s, dt, dc, (double)loss);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    size_t arena_peak = 0, grad_peak = 0;
    nasc_oneshot_memory(d, &arena_peak, &grad_peak);
    printf("{\"impl\": \"nasc\", \"space\": \"%s\", \"order\": %d, \"batch\": %d, \"channels\": %d, "
           "\"cells\": %d, \"threads\": %d, \"images_per_second\": %.3f, "
           "\"images_per_second_best\": %.3f, \"cpu_seconds_per_step\": %.3f, "
           "\"peak_rss_mb\": %.1f, "
           "\"predicted_mb\": %.1f, \"arena_mb\": %.1f, \"grad_pool_mb\": %.1f, "
           "\"params\": %zu}\n",
           space_name, order, B, C, L, T, B * steps / total, B / best, cpu_total / steps,
           ru.ru_maxrss / 1024.0,
           mem.total_bytes / 1048576.0, arena_peak / 1048576.0, grad_peak / 1048576.0,
           nasc_params_count(nasc_supernet_weights(sn)));
    nasc_oneshot_free(d);
    nasc_supernet_free(sn);
    nasc_space_free(space);
    nasc_backend_free(be);
    free(xt);
    free(xv);
    free(yt);
    free(yv);
    return 0;
}
