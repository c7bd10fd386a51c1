/* bench_bohb.c — BOHB against Hyperband on Fashion-MNIST training, epochs as the fidelity.
 *
 * Both run the same bracket scheduler (hyperband.c: eta = 3, fidelities 1, 3 and 9 epochs by
 * default); BOHB proposes new configurations from its TPE-style model, Hyperband uniformly. Each
 * search trains NAS-Bench-201 cells (small: C channels, N cells per stage) on a fraction of
 * Fashion-MNIST and scores them by validation accuracy (the test set is never used). Reported per
 * strategy, over seeds: the best validation accuracy at the full fidelity (mean +- std), the
 * epochs trained in all, and the wall time.
 *
 *   build-learn/bench/bench_bohb                         # 3 seeds x 44 trials (two Hyperband
 *                                                        # iterations), a few minutes on 2 cores
 *   build-learn/bench/bench_bohb --seeds 5 --budget 66 --data-fraction 0.05
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nasc/experiment.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int set(nasc_experiment_config *c, const char *k, const char *v) {
    nasc_err err = {0};
    if (nasc_config_set(c, k, v, &err) != NASC_OK) {
        fprintf(stderr, "bench_bohb: %s\n", err.msg);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    int seeds = 3;
    const char *budget = "44", *epochs = "9", *fraction = "0.02", *channels = "4", *cells = "1";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seeds") && i + 1 < argc)
            seeds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--budget") && i + 1 < argc)
            budget = argv[++i];
        else if (!strcmp(argv[i], "--epochs") && i + 1 < argc)
            epochs = argv[++i];
        else if (!strcmp(argv[i], "--data-fraction") && i + 1 < argc)
            fraction = argv[++i];
        else if (!strcmp(argv[i], "--channels") && i + 1 < argc)
            channels = argv[++i];
        else if (!strcmp(argv[i], "--cells") && i + 1 < argc)
            cells = argv[++i];
        else {
            fprintf(stderr, "usage: bench_bohb [--seeds N] [--budget TRIALS] [--epochs R] "
                            "[--data-fraction F] [--channels C] [--cells N]\n");
            return 2;
        }
    }
    static const char *const strategies[2] = {"hyperband", "bohb"};
    printf("Fashion-MNIST (data fraction %s, nb201 C=%s N=%s), epochs up to %s, eta 3, %s trials, "
           "%d seeds: best validation accuracy at full fidelity (mean +- std)\n\n",
           fraction, channels, cells, epochs, budget, seeds);
    printf("| %-10s | %-16s | %12s | %9s |\n", "strategy", "best val acc (%)", "epochs/run",
           "time (s)");
    printf("|------------|------------------|--------------|-----------|\n");
    for (int si = 0; si < 2; si++) {
        double s1 = 0, s2 = 0, ep = 0, t0 = now_s();
        for (int seed = 1; seed <= seeds; seed++) {
            nasc_experiment_config c;
            nasc_config_default(&c);
            char sd[16];
            snprintf(sd, sizeof sd, "%d", seed);
            if (set(&c, "space", "nb201") || set(&c, "strategy", strategies[si]) ||
                set(&c, "data", "fashion-mnist") || set(&c, "data-fraction", fraction) ||
                set(&c, "channels", channels) || set(&c, "cells", cells) ||
                set(&c, "epochs", epochs) || set(&c, "budget", budget) || set(&c, "seed", sd) ||
                set(&c, "threads", "1") || set(&c, "quiet", "true"))
                return 1;
            nasc_err err = {0};
            nasc_experiment *ex;
            if (nasc_experiment_open(&c, &ex, &err) != NASC_OK ||
                nasc_experiment_run(ex, NULL, NULL, &err) != NASC_OK) {
                fprintf(stderr, "bench_bohb: %s: %s\n", strategies[si], err.msg);
                return 1;
            }
            nasc_search_summary s;
            nasc_experiment_summary(ex, &s);
            nasc_trial_record *t = NULL;
            int64_t n = 0;
            if (nasc_db_trials_load(nasc_experiment_db(ex), &t, &n, &err) == NASC_OK) {
                for (int64_t i = 0; i < n; i++)
                    ep += t[i].fidelity;
                nasc_db_trials_free(t, n);
            }
            fprintf(stderr, "  %s seed %d: best %.2f at %g epochs (%s)\n", strategies[si], seed,
                    s.best_score, s.best_fidelity, s.best_arch ? s.best_arch : "-");
            s1 += s.best_score;
            s2 += s.best_score * s.best_score;
            nasc_experiment_free(ex);
        }
        double m = s1 / seeds, sd = seeds > 1 ? sqrt(fmax(0, (s2 - s1 * s1 / seeds) / (seeds - 1)))
                                              : 0.0;
        printf("| %-10s | %6.2f +- %5.2f  | %12.0f | %9.1f |\n", strategies[si], m, sd,
               ep / seeds, now_s() - t0);
        fflush(stdout);
    }
    return 0;
}
