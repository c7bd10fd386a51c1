/* search.c — run an architecture search through libnasc: regularised evolution on the
 * NAS-Bench-201 space, scored by the NAS-Bench-201 table (no training, a few seconds), with an
 * in-memory trial database.
 *
 *     cc search.c $(pkg-config --cflags --libs nasc) -o search
 *     ./search [BUDGET [STRATEGY]]                       # defaults: 100, evolution
 *
 * The table (share/nasc/nb201.csv) is found beside the installed library; set NASC_NB201_CSV to
 * use another copy. To train every trial instead, set "data" (e.g. "fashion-mnist") and "epochs"
 * in place of "benchmark". */
#include <nasc/nasc.h>

#include <stdio.h>

static void on_trial(const nasc_search_progress *p, void *user) {
    (void)user;
    if (p->done % 25 == 0 || p->done == p->budget)
        printf("%lld/%lld trials, best validation accuracy %.2f%%\n", (long long)p->done,
               (long long)p->budget, p->best_score);
}

int main(int argc, char **argv) {
    const char *budget = argc > 1 ? argv[1] : "100";
    const char *strategy = argc > 2 ? argv[2] : "evolution";
    nasc_err err = {0};
    nasc_experiment_config cfg;
    nasc_config_default(&cfg);
    nasc_experiment *ex = NULL;
    int rc = 1;
    /* The same keys as `nasc search` flags and experiment YAML files (docs/EXPERIMENTS.md). */
    if (nasc_config_set(&cfg, "space", "nb201", &err) ||
        nasc_config_set(&cfg, "strategy", strategy, &err) ||
        nasc_config_set(&cfg, "benchmark", "nb201:cifar10", &err) ||
        nasc_config_set(&cfg, "budget", budget, &err) ||
        nasc_config_set(&cfg, "seed", "1", &err))
        goto fail;
    if (nasc_experiment_open(&cfg, &ex, &err) || nasc_experiment_run(ex, on_trial, NULL, &err))
        goto fail;
    nasc_search_summary s;
    nasc_experiment_summary(ex, &s);
    printf("best: %s\n  validation %.2f%%, test %.2f%% (trial %lld of %lld)\n",
           s.best_arch ? s.best_arch : "(none)", s.best_score, s.best_test,
           (long long)s.best_trial, (long long)s.trials);
    rc = 0;
fail:
    if (rc)
        fprintf(stderr, "search: %s\n", err.msg);
    nasc_experiment_free(ex);
    return rc;
}
