/* test_sim_sleep.c — --sim-sleep S (the scale model for scheduling benchmarks): every table trial
 * sleeps S x its simulated training time / the table's mean training time, so the recorded trial
 * times are proportional to the simulated ones (as uneven as real trainings), and the trials and
 * their results are those of the same search without sleeping. */
#include "test.h"

#include "e2e/search_cli.h"

int main(void) {
    const char *cli = search_cli();
    char dir[200], a[300], b[300];
    snprintf(dir, sizeof dir, "%s/test_sim_sleep.XXXXXX", NASC_BINARY_DIR);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(a, sizeof a, "%s/plain.db", dir);
    snprintf(b, sizeof b, "%s/sleep.db", dir);
    const char *cmd = "search --space nb201 --strategy hyperband --strategy-opt eta=3 "
                      "--benchmark nb201:cifar10 --budget 8 --seed 2 --workers 2 --quiet --json";
    CHECK(search_runf(cli, NULL, NULL, "%s --db %s", cmd, a) == 0);
    CHECK(search_runf(cli, NULL, NULL, "%s --sim-sleep 1 --db %s", cmd, b) == 0);
    same_trials(a, b, 8, "sim-sleep");
    nasc_trial_record *t = NULL;
    int64_t n = 0;
    if (search_load(b, &t, &n) && n == 8) {
        /* seconds = lookup and process overhead + 1 x sim / mean: with k the smallest ratio
         * seconds / sim_seconds (about 1 / mean), what is left over is the overhead, small for
         * every trial; a sleep not proportional to the simulated time leaves most of a second */
        double k = INFINITY, total = 0, worst = 0;
        for (int64_t i = 0; i < n; i++) {
            double r = t[i].seconds / t[i].sim_seconds;
            k = r < k ? r : k;
            total += t[i].seconds;
        }
        for (int64_t i = 0; i < n; i++) {
            double over = t[i].seconds - k * t[i].sim_seconds;
            worst = over > worst ? over : worst;
        }
        CHECK_MSG(k > 0 && worst < 0.3, "a trial took %.3f s more than its share of sleep", worst);
        CHECK_MSG(total > 1.0, "the trials slept %g s in all", total);
        printf("sim-sleep 1: 8 trials as without it; %.2f s slept, overhead at most %.3f s\n",
               total, worst);
    }
    nasc_db_trials_free(t, n);
    CHECK(search_runf(cli, NULL, NULL, "%s --sim-sleep -1 --db %s/x.db", cmd, dir) == 2);
    if (!test_failures) {
        char rm[300];
        snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
        if (system(rm) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return test_done("test_sim_sleep");
}
