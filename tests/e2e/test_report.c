/* test_report.c — `nasc report` on table searches and on bad input (docs/REPORT.md):
 *   - a tabular evolution search: header (finished, best validation and its test score), the
 *     history against trial number, wall time and simulated time, the top trials;
 *   - a multi-objective NSGA-II search with a constraint: a Pareto plot per pair of objectives
 *     with the constraint drawn, parallel coordinates, the failed (violating) trials' reasons;
 *   - an interrupted search (killed at a database commit): state "interrupted" and the exact
 *     --resume command;
 *   - a nasc database without trials: a correct page saying so;
 *   - not a nasc database (text, an empty file, another program's SQLite file): exit 2 with a
 *     message naming the file, no output file;
 * every database byte-identical after its report, with no -wal / -shm left beside it; every
 * page checked in C (sections, plots, titles, axis labels with units) and rendered in headless
 * Chromium (no console message, the same plots in its DOM). */
#include "test.h"

#include "report_check.h"

#include <sqlite3.h>

static const char *cli;
static char dir[256];

static void path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", dir, name);
}

static bool side_files(const char *db) {
    char p[512];
    snprintf(p, sizeof p, "%s-wal", db);
    bool any = search_exists(p);
    snprintf(p, sizeof p, "%s-shm", db);
    return any || search_exists(p);
}

/* Reports db into NAME.html, checks the database was not touched, returns the page. */
static char *report(const char *db, const char *name, const char *extra) {
    char html[512], err[512];
    snprintf(html, sizeof html, "%s/%s.html", dir, name);
    snprintf(err, sizeof err, "%s/%s.err", dir, name);
    long n0 = 0, n1 = 0;
    const bool side0 = side_files(db); /* a killed search leaves its own */
    const unsigned long long h0 = search_file_sum(db, &n0);
    const int rc = report_run(cli, db, html, extra, err);
    const unsigned long long h1 = search_file_sum(db, &n1);
    char *e = search_slurp(err);
    CHECK_MSG(rc == 0, "%s: nasc report exited %d: %s", name, rc, e);
    free(e);
    CHECK_MSG(h0 == h1 && n0 == n1, "%s: the database changed while its report was made", name);
    CHECK_MSG(side_files(db) == side0, "%s: -wal / -shm left beside the database", name);
    char tmp[520];
    snprintf(tmp, sizeof tmp, "%s.tmp", html);
    CHECK_MSG(!search_exists(tmp), "%s: %s left behind", name, tmp);
    return search_slurp(html);
}

static void render(const char *name, const char *const *ids) {
    char html[512];
    snprintf(html, sizeof html, "%s/%s.html", dir, name);
    report_chromium(dir, html, ids, name);
}

static void test_evolution(void) {
    char db[400];
    path(db, sizeof db, "evo.db");
    CHECK(search_runf(cli, NULL, NULL,
                      "search --space nb201 --strategy evolution --benchmark nb201:cifar10 "
                      "--budget 60 --seed 3 --db %s --quiet",
                      db) == 0);
    char *h = report(db, "evo", NULL);
    static const char *const ids[] = {"experiment",  "history", "history-trial", "history-time",
                                      "history-sim", "top",     "top-trials",    NULL};
    report_check_ids(h, ids, "evo");
    CHECK_MSG(report_check_figures(h, "evo") == 3, "evo: expected 3 plots");
    CHECK_HAS(h, "state-finished", "evolution");
    CHECK_HAS(h, "benchmark table nb201:cifar10", "evolution");
    CHECK_HAS(h, "60 recorded: 60 ok, 0 failed", "evolution");
    CHECK_HAS(h, ", test ", "evolution"); /* the best trial's test accuracy is reported */
    CHECK_HAS(h, "validation accuracy (%)", "evolution");
    CHECK(strstr(h, "id=\"failures\"") == NULL && strstr(h, "id=\"objectives\"") == NULL);
    CHECK(strstr(h, "http-equiv=\"refresh\"") == NULL);
    /* the top table lists 10 trials, best first: its first row is the header's best trial */
    const char *top = strstr(h, "id=\"top-trials\"");
    int rows = 0;
    for (const char *p = top ? strstr(top, "<tr><td") : NULL; p && p < strstr(top, "</table>");
         p = strstr(p + 1, "<tr><td"))
        rows++;
    CHECK_MSG(rows == 10, "evo: %d rows in the top table", rows);
    /* no script, no external resource */
    CHECK(strstr(h, "<script") == NULL && strstr(h, "http://") == NULL &&
          strstr(h, "https://") == NULL && strstr(h, "src=") == NULL);
    free(h);
    render("evo", ids);
    /* --top 3 */
    h = report(db, "evo-top3", "--top 3");
    CHECK_HAS(h, "Top 3 trials", "evolution");
    free(h);
}

static void test_nsga2(void) {
    char db[400];
    path(db, sizeof db, "mo.db");
    CHECK(search_runf(cli, NULL, NULL,
                      "search --space nb201 --strategy nsga2 --strategy-opt population=8 "
                      "--benchmark nb201:cifar10 --budget 40 --objective acc,params,flops "
                      "--constraint params<=700k --seed 2 --db %s --quiet",
                      db) == 0);
    char *h = report(db, "mo", NULL);
    static const char *const ids[] = {"objectives", "pareto-0-1", "pareto-0-2",    "pareto-1-2",
                                      "parallel",   "failures",   "failed-trials", NULL};
    report_check_ids(h, ids, "mo");
    CHECK_MSG(report_check_figures(h, "mo") == 3 + 4, "mo: expected 3 history + 4 objective "
                                                      "plots");
    CHECK_HAS(h, "parameters (count)", "nsga2");
    CHECK_HAS(h, "multiply-adds per image (count)", "nsga2");
    CHECK_HAS(h, "constraint params&lt;=700000 violated", "nsga2"); /* a failure reason */
    CHECK_HAS(h, "class=\"rule\"", "nsga2");                        /* the constraint drawn */
    CHECK_HAS(h, "class=\"dot front\"", "nsga2");
    free(h);
    render("mo", ids);
}

static void test_interrupted(void) {
    char db[400];
    path(db, sizeof db, "int.db");
    const char *args[] = {
        "search",   "--space", "nb201", "--strategy", "random",  "--benchmark", "nb201:cifar10",
        "--budget", "50",      "--db",  db,           "--quiet", NULL};
    const int rc = search_run(cli, args, 40, 0, NULL, NULL); /* SIGKILL at commit 40 */
    CHECK_MSG(rc == 128 + SIGKILL, "the search was not killed (exit %d)", rc);
    char *h = report(db, "int", NULL);
    static const char *const ids[] = {"experiment", "history-trial", "top-trials", NULL};
    report_check_ids(h, ids, "int");
    report_check_figures(h, "int");
    CHECK_HAS(h, "state-interrupted", "interrupted");
    char want[600];
    snprintf(want, sizeof want, "nasc search --db %s --resume", db);
    CHECK_HAS(h, want, "interrupted");
    free(h);
    render("int", ids);
    /* the report read it without a trace: the search still resumes and completes */
    const char *again[] = {"search", "--db", db, "--resume", "--quiet", NULL};
    CHECK(search_run(cli, again, -1, 0, NULL, NULL) == 0);
    h = report(db, "int-done", NULL);
    CHECK_HAS(h, "state-finished", "interrupted");
    CHECK_HAS(h, "50 recorded: 50 ok", "interrupted");
    free(h);
}

static void test_empty(void) {
    char db[400];
    path(db, sizeof db, "empty.db");
    nasc_kv cfg[] = {{"space", "nb201"}, {"strategy", "random"}, {"budget", "5"}};
    nasc_db *d = NULL;
    nasc_err err = {0};
    CHECK_STATUS(nasc_db_create(db, cfg, 3, &d, &err), NASC_OK);
    nasc_db_close(d);
    char *h = report(db, "empty", NULL);
    static const char *const ids[] = {"experiment", "no-trials", NULL};
    report_check_ids(h, ids, "empty");
    CHECK_HAS(h, "state-empty", "empty");
    CHECK(report_check_figures(h, "empty") == 0);
    free(h);
    render("empty", ids);
}

/* A file that is not a nasc database: exit 2, the file named, nothing written anywhere. */
static void expect_refused(const char *db, const char *name, const char *msg) {
    char html[512], err[512];
    snprintf(html, sizeof html, "%s/%s.html", dir, name);
    snprintf(err, sizeof err, "%s/%s.err", dir, name);
    long n0 = 0, n1 = 0;
    const unsigned long long h0 = search_file_sum(db, &n0);
    const int rc = report_run(cli, db, html, NULL, err);
    const unsigned long long h1 = search_file_sum(db, &n1);
    char *e = search_slurp(err);
    CHECK_MSG(rc == 2, "%s: exit %d, expected 2 (%s)", name, rc, e);
    CHECK_STR_CONTAINS(e, db);
    CHECK_STR_CONTAINS(e, msg);
    CHECK_MSG(h0 == h1 && n0 == n1, "%s: the file changed", name);
    CHECK_MSG(!side_files(db), "%s: -wal / -shm appeared", name);
    CHECK_MSG(!search_exists(html), "%s: a report was written", name);
    free(e);
}

static void test_bad_input(void) {
    char p[400];
    path(p, sizeof p, "notes.txt");
    FILE *f = fopen(p, "w");
    fputs("these are not the trials you are looking for\n", f);
    fclose(f);
    expect_refused(p, "bad-text", "not");
    path(p, sizeof p, "zero.db");
    f = fopen(p, "w");
    fclose(f);
    expect_refused(p, "bad-zero", "empty");
    path(p, sizeof p, "other.db");
    sqlite3 *s = NULL;
    CHECK(sqlite3_open(p, &s) == SQLITE_OK);
    CHECK(sqlite3_exec(s, "CREATE TABLE t(x); INSERT INTO t VALUES (1);", NULL, NULL, NULL) ==
          SQLITE_OK);
    sqlite3_close(s);
    expect_refused(p, "bad-other", "not a nasc");
    path(p, sizeof p, "missing.db");
    char html[512], err[512];
    snprintf(html, sizeof html, "%s/missing.html", dir);
    snprintf(err, sizeof err, "%s/missing.err", dir);
    CHECK(report_run(cli, p, html, NULL, err) == 2);
    CHECK(!search_exists(p) && !search_exists(html));
    /* usage */
    CHECK(search_runf(cli, NULL, NULL, "report") == 2);
    CHECK(search_runf(cli, NULL, NULL, "report --db %s --top -1", p) == 2);
    CHECK(search_runf(cli, NULL, NULL, "report --db %s --watch 0.1", p) == 2);
    /* an output that cannot be written: exit 1 (not bad input), the file named */
    path(p, sizeof p, "evo.db");
    snprintf(html, sizeof html, "%s/no/such/dir/r.html", dir);
    CHECK(report_run(cli, p, html, NULL, err) == 1);
    char *e = search_slurp(err);
    CHECK_STR_CONTAINS(e, "no/such/dir/r.html");
    free(e);
}

int main(void) {
    cli = search_cli();
    snprintf(dir, sizeof dir, "%s/test_report.XXXXXX", NASC_BINARY_DIR);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_evolution();
    test_nsga2();
    test_interrupted();
    test_empty();
    test_bad_input();
    printf("%d checks, %d failed\n", test_checks, test_failures);
    return test_failures ? 1 : 0;
}
