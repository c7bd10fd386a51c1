/* test_report_train.c — `nasc report` on searches that train (docs/REPORT.md):
 *   - a Hyperband training search with the median rule, one trial's worker crashing: while it
 *     runs, `nasc report` says "running" and `--watch` rewrites the page (which reloads itself)
 *     until the search ends, then writes the final page without the reload; the page shows the
 *     rungs (one colour per fidelity), the failed trial with its reason, and the per-epoch
 *     validation accuracy, training loss and training accuracy of the trials;
 *   - a tiny DARTS one-shot search: softmax(alpha) heat maps of both cells, small multiples per
 *     epoch, accuracy and parameter-free share per epoch, the genotype per epoch;
 * checked in C and rendered in headless Chromium (report_check.h). No -wal / -shm is left by
 * the reports. */
// ctest: labels=slow
/* slow: two searches that train on Fashion-MNIST (about 15 s each on an idle machine); the
 * report code they reach runs under the sanitizers in tests/unit/test_report_pages.c */
#include "test.h"

#include "report_check.h"

static const char *cli;
static char dir[256];

static bool have_data(void) {
    return !access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK);
}

static void test_training(void) {
    char db[400], html[400], err[400], live[400];
    snprintf(db, sizeof db, "%s/hb.db", dir);
    snprintf(html, sizeof html, "%s/hb.html", dir);
    snprintf(live, sizeof live, "%s/live.html", dir);
    snprintf(err, sizeof err, "%s/watch.err", dir);
    /* the search, in the background; trial 3's worker aborts */
    setenv("NASC_TEST_CRASH_TRIAL", "3", 1);
    fflush(NULL);
    const pid_t pid = fork();
    if (pid == 0) {
        const char *args[] = {cli,
                              "search",
                              "--space",
                              "nb201",
                              "--data",
                              "fashion-mnist",
                              "--data-fraction",
                              "0.01",
                              "--channels",
                              "4",
                              "--cells",
                              "1",
                              "--batch",
                              "32",
                              "--threads",
                              "1",
                              "--strategy",
                              "hyperband",
                              "--strategy-opt",
                              "eta=2",
                              "--epochs",
                              "4",
                              "--budget",
                              "11",
                              "--workers",
                              "2",
                              "--median-stop",
                              "--db",
                              db,
                              "--quiet",
                              NULL};
        int nul = open("/dev/null", O_WRONLY);
        dup2(nul, 1);
        dup2(nul, 2);
        execv(cli, (char *const *)args);
        _exit(127);
    }
    unsetenv("NASC_TEST_CRASH_TRIAL");
    /* wait for the database (it appears whole: created as .tmp and renamed) */
    for (int i = 0; i < 3000 && !search_exists(db); i++)
        usleep(10000);
    CHECK_MSG(search_exists(db), "the search created no database");
    /* a report while the search writes */
    CHECK(report_run(cli, db, live, NULL, NULL) == 0);
    char *h = search_slurp(live);
    const bool was_running = strstr(h, "state-running") != NULL;
    free(h);
    /* --watch until the search ends */
    const int rc = search_runf(cli, NULL, err, "report --db %s --out %s --watch 0.5", db, html);
    CHECK(rc == 0);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the search failed (status %d)", st);
    char *e = search_slurp(err);
    /* one line per rewrite: "...: running, ..." while it ran, then the final state */
    int lines_running = 0;
    for (const char *p = strstr(e, ": running,"); p; p = strstr(p + 1, ": running,"))
        lines_running++;
    CHECK_MSG(was_running || lines_running > 0, "no report saw the search running:\n%s", e);
    CHECK_MSG(strstr(e, ": finished,") != NULL,
              "--watch did not end with the finished search:"
              "\n%s",
              e);
    free(e);
    char wal[420], shm[420];
    snprintf(wal, sizeof wal, "%s-wal", db);
    snprintf(shm, sizeof shm, "%s-shm", db);
    CHECK_MSG(!search_exists(wal) && !search_exists(shm), "-wal / -shm left after the search and "
                                                          "its reports");
    h = search_slurp(html);
    static const char *const ids[] = {
        "history-trial", "history-time",  "failures",         "failed-trials",   "top-trials",
        "curves",        "curve-val-acc", "curve-train-loss", "curve-train-acc", NULL};
    report_check_ids(h, ids, "hb");
    CHECK_MSG(report_check_figures(h, "hb") == 5, "hb: expected 5 plots");
    CHECK_HAS(h, "state-finished", "hb");
    CHECK_HAS(h, "worker crashed: signal 6", "hb");
    CHECK_HAS(h, "fidelity 4", "hb"); /* rungs told apart */
    CHECK_HAS(h, "training on fashion-mnist", "hb");
    CHECK_MSG(strstr(h, "http-equiv=\"refresh\"") == NULL, "hb: the final page still reloads");
    free(h);
    report_chromium(dir, html, ids, "hb");
}

static void test_darts(void) {
    char db[400], html[400];
    snprintf(db, sizeof db, "%s/darts.db", dir);
    snprintf(html, sizeof html, "%s/darts.html", dir);
    CHECK(search_runf(cli, NULL, NULL,
                      "search --space darts --strategy darts --data fashion-mnist "
                      "--data-fraction 0.002 --epochs 2 --batch 8 --channels 4 --cells 3 "
                      "--threads 1 --db %s --quiet",
                      db) == 0);
    long n0 = 0, n1 = 0;
    const unsigned long long h0 = search_file_sum(db, &n0);
    CHECK(report_run(cli, db, html, NULL, NULL) == 0);
    CHECK(search_file_sum(db, &n1) == h0 && n0 == n1);
    char *h = search_slurp(html);
    static const char *const ids[] = {"oneshot",
                                      "alpha-normal",
                                      "alpha-reduce",
                                      "alpha-multiples-normal",
                                      "alpha-multiples-reduce",
                                      "oneshot-accuracy",
                                      "oneshot-param-free",
                                      "genotypes",
                                      "history-trial",
                                      NULL};
    report_check_ids(h, ids, "darts");
    report_check_figures(h, "darts");
    CHECK_HAS(h, "sep_conv_3x3", "darts"); /* op names from the supernet */
    CHECK_HAS(h, "Genotype(normal=", "darts");
    CHECK_HAS(h, "one-shot supernet (darts)", "darts");
    CHECK_HAS(h, "2 recorded: 2 ok", "darts");
    free(h);
    report_chromium(dir, html, ids, "darts");
}

int main(void) {
    cli = search_cli();
    if (!have_data()) {
        fprintf(stderr, "skipped: no Fashion-MNIST (apt install dataset-fashion-mnist)\n");
        return 77;
    }
    snprintf(dir, sizeof dir, "%s/test_report_train.XXXXXX", NASC_BINARY_DIR);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_training();
    test_darts();
    printf("%d checks, %d failed\n", test_checks, test_failures);
    return test_failures ? 1 : 0;
}
