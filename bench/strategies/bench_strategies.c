/* bench_strategies.c — every strategy on the NAS-Bench-201 table: S seeds x Q queries, mean and
 * standard deviation over the seeds of the best test accuracy found, CIFAR-10 and CIFAR-100.
 *
 * The strategies run in process against the table (nasc_strategy_run: the same call sequence as
 * `nasc search`, no database). The first row is the exact expectation of random search's best of Q
 * draws, computed from the table itself (a check of the random row).
 *
 *   build-exp/bench_strategies                       # 100 seeds x 100 queries, every strategy
 *   build-exp/bench_strategies --seeds 20 --queries 100 --strategy evolution \
 *                              --opts population=20,sample=5
 *   build-exp/bench_strategies --sweep --seed0 1001  # evolution's P x S grid on CIFAR-10 (how
 *                                                    # it was tuned: on seeds apart from 1..100)
 *   build-exp/bench_strategies --sweep100            # the same on CIFAR-100
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nasc/strategy.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct row {
    const char *name, *opts, *label;
} row;

/* mean and std over seeds of the best value found */
static int seed0 = 1; /* first seed (--seed0): tune on one range, report on another */

static int run_row(const nasc_space *sp, nasc_evaluator *ev, const char *name, const char *opts,
                   int seeds, int queries, double *mean, double *sd) {
    double s1 = 0, s2 = 0;
    for (int seed = seed0; seed < seed0 + seeds; seed++) {
        nasc_err err = {0};
        nasc_strategy *st;
        nasc_strategy_config sc = {.seed = (uint64_t)seed, .budget = queries, .max_fidelity = 1};
        if (nasc_strategy_new(name, sp, &sc, opts, &st, &err) != NASC_OK) {
            fprintf(stderr, "bench_strategies: %s\n", err.msg);
            return 1;
        }
        nasc_run_summary rs;
        if (nasc_strategy_run(st, ev, &(nasc_run_config){.budget = queries}, &rs, &err) !=
            NASC_OK) {
            fprintf(stderr, "bench_strategies: %s: %s\n", name, err.msg);
            nasc_strategy_free(st);
            return 1;
        }
        nasc_strategy_free(st);
        double best = rs.best_score;
        s1 += best;
        s2 += best * best;
    }
    *mean = s1 / seeds;
    *sd = seeds > 1 ? sqrt(fmax(0.0, (s2 - s1 * s1 / seeds) / (seeds - 1))) : 0.0;
    return 0;
}

int main(int argc, char **argv) {
    int seeds = 100, queries = 100;
    const char *only = NULL, *only_opts = "";
    int sweep = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seeds") && i + 1 < argc)
            seeds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--queries") && i + 1 < argc)
            queries = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--strategy") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--opts") && i + 1 < argc)
            only_opts = argv[++i];
        else if (!strcmp(argv[i], "--sweep"))
            sweep = 1;
        else if (!strcmp(argv[i], "--sweep100"))
            sweep = 2;
        else if (!strcmp(argv[i], "--seed0") && i + 1 < argc)
            seed0 = atoi(argv[++i]);
        else {
            fprintf(stderr,
                    "usage: bench_strategies [--seeds N] [--queries N] [--strategy NAME [--opts "
                    "K=V,...]] [--sweep | --sweep100] [--seed0 S]\n");
            return 2;
        }
    }
    if (seeds < 1 || queries < 1) {
        fprintf(stderr, "bench_strategies: --seeds and --queries must be >= 1\n");
        return 2;
    }
    nasc_err err = {0};
    nasc_space *sp;
    if (nasc_space_new("nb201", NULL, &sp, &err) != NASC_OK) {
        fprintf(stderr, "bench_strategies: %s\n", err.msg);
        return 1;
    }
    const char *datasets[2] = {"nb201:cifar10", "nb201:cifar100"};
    nasc_evaluator *ev[2];
    for (int d = 0; d < 2; d++) {
        double t0 = now_s();
        if (nasc_evaluator_tabular_new(sp, datasets[d], NULL, &ev[d], &err) != NASC_OK) {
            fprintf(stderr, "bench_strategies: %s\n", err.msg);
            return 1;
        }
        fprintf(stderr, "loaded %s in %.1f ms\n", ev[d]->desc, (now_s() - t0) * 1e3);
    }

    if (sweep) {
        int d = sweep - 1;
        printf("evolution sweep on %s, seeds %d..%d x %d queries (mean best test acc)\n",
               datasets[d], seed0, seed0 + seeds - 1, queries);
        static const int Ps[] = {5, 10, 15, 20, 30, 50}, Ss[] = {2, 3, 5, 7, 10, 15};
        printf("%6s", "P\\S");
        for (size_t j = 0; j < sizeof Ss / sizeof Ss[0]; j++)
            printf("  %6d", Ss[j]);
        printf("\n");
        for (size_t i = 0; i < sizeof Ps / sizeof Ps[0]; i++) {
            printf("%6d", Ps[i]);
            for (size_t j = 0; j < sizeof Ss / sizeof Ss[0]; j++) {
                if (Ss[j] > Ps[i]) {
                    printf("  %6s", "-");
                    continue;
                }
                char opts[64];
                snprintf(opts, sizeof opts, "population=%d,sample=%d", Ps[i], Ss[j]);
                double m, sd;
                if (run_row(sp, ev[d], "evolution", opts, seeds, queries, &m, &sd))
                    return 1;
                printf("  %6.2f", m);
                fflush(stdout);
            }
            printf("\n");
        }
        return 0;
    }

    static const row rows[] = {
        {"random", "", "random"},
        {"evolution", "", "evolution (P=10,S=7)"},
        {"ga", "", "ga (tournament)"},
        {"ga", "selection=rank", "ga (rank)"},
        {"ga", "selection=proportional", "ga (proportional)"},
        {"local", "", "local (first improvement)"},
        {"local", "mode=best", "local (best improvement)"},
        {"grid", "order=shuffle", "grid (shuffled order)"},
        {"grid", "", "grid (enumeration order)"},
        /* issue 5: learned and model-based strategies (docs/STRATEGIES.md) */
        {"reinforce", "", "reinforce (LSTM, baseline)"},
        {"ppo", "", "ppo (LSTM + value, clip)"},
        {"bo-gp", "", "bo-gp (GP Matern, EI)"},
        {"bo-rf", "", "bo-rf (SMAC forest, EI)"},
        {"bananas", "", "bananas (MLP ens., path, TS)"},
        {"gan", "", "gan (GA-NAS style)"},
        {"pnas", "", "pnas (MLP ensemble)"},
        {"pnas", "surrogate=gp", "pnas (GP surrogate)"},
        {"bohb", "", "bohb (TPE; one fidelity)"},
        {"nsga2", "", "nsga2 (one objective)"},
    };
    printf("NAS-Bench-201 table, %d seeds x %d queries: best test accuracy found (mean +- std over "
           "seeds)\n\n",
           seeds, queries);
    printf("| %-28s | %-16s | %-16s | %8s |\n", "strategy", "CIFAR-10", "CIFAR-100", "time (s)");
    printf("|%s|%s|%s|%s|\n", "------------------------------", "------------------",
           "------------------", "----------");
    double m[2], sd[2];
    for (int d = 0; d < 2; d++)
        nasc_table_expected_max(nasc_evaluator_table(ev[d]), queries, &m[d], &sd[d]);
    printf("| %-28s | %6.2f +- %5.2f  | %6.2f +- %5.2f  | %8s |\n", "random (exact expectation)",
           m[0], sd[0], m[1], sd[1], "-");
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        const char *name = rows[r].name, *opts = rows[r].opts, *label = rows[r].label;
        char lab[96];
        if (only) {
            if (r > 0)
                break;
            name = only;
            opts = only_opts;
            snprintf(lab, sizeof lab, "%s%s%s%s", only, *only_opts ? " (" : "", only_opts,
                     *only_opts ? ")" : "");
            label = lab;
        }
        double t0 = now_s();
        for (int d = 0; d < 2; d++)
            if (run_row(sp, ev[d], name, opts, seeds, queries, &m[d], &sd[d]))
                return 1;
        printf("| %-28s | %6.2f +- %5.2f  | %6.2f +- %5.2f  | %8.2f |\n", label, m[0], sd[0], m[1],
               sd[1], now_s() - t0);
        fflush(stdout);
    }
    for (int d = 0; d < 2; d++)
        nasc_evaluator_free(ev[d]);
    nasc_space_free(sp);
    return 0;
}
