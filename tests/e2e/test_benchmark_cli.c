/* test_benchmark_cli.c — `nasc search` / `nasc trials` on the NAS-Bench-201 table under the
 * benchmark protocol, end to end:
 *   - the result line, --json and nasc trials (its best line and JSON) report the validation
 *     accuracy searched on and the test accuracy of that architecture (the table's values for
 *     the printed cell), and the simulated time;
 *   - --oracle is labelled in the result line, the progress line, --json and nasc trials (table
 *     and CSV);
 *   - --time-budget ends the search at the simulated time, Hyperband runs on the 12/200 rungs;
 *   - a table column as an objective and as a constraint;
 *   - a database from before test_score / sim_seconds and the oracle key: nasc trials reads it
 *     unchanged (an oracle search), and continuing it adds the columns and keeps it an oracle
 *     search. */
// ctest: timeout=300
#include "test.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "e2e/search_cli.h"
#include "nasc/space.h"

static char dir[256];
static const char *cli;
static char out[400], errf[400];

static int nasc(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int nasc(const char *fmt, ...) {
    char buf[3000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return search_runf(cli, out, errf, "%s", buf);
}

static void path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", dir, name);
}

/* The row of data/nb201.csv for arch (canonical text), column c (1-based after arch). */
static double table_value(const char *arch, const char *column) {
    nasc_space *sp = NULL;
    nasc_table *t = NULL;
    nasc_err err = {0};
    double v = NAN;
    nasc_arch *a = NULL;
    if (nasc_space_new("nb201", NULL, &sp, &err) == NASC_OK &&
        nasc_table_load(sp, NASC_SOURCE_DIR "/data/nb201.csv", column, &t, &err) == NASC_OK &&
        nasc_arch_parse(sp, arch, &a, &err) == NASC_OK)
        nasc_table_lookup(t, a, &v);
    nasc_arch_free(a);
    nasc_table_free(t);
    nasc_space_free(sp);
    return v;
}

static double json_num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void test_report(void) {
    char db[400];
    path(db, sizeof db, "honest.db");
    CHECK(nasc("search --space nb201 --strategy evolution --benchmark nb201:cifar100 --budget 60 "
               "--seed 4 --json --quiet --db %s",
               db) == 0);
    char *o = search_slurp(out);
    cJSON *j = cJSON_Parse(o);
    CHECK(j != NULL);
    const char *arch = j ? cJSON_GetStringValue(cJSON_GetObjectItem(j, "best_arch")) : NULL;
    char best_arch[200] = "";
    double best_trial = j ? json_num(j, "best_trial") : NAN, best_test = NAN;
    if (arch) {
        snprintf(best_arch, sizeof best_arch, "%s", arch);
        best_test = json_num(j, "best_test");
        /* best_valid is the cell's validation accuracy, best_test its test accuracy */
        CHECK(json_num(j, "best_valid") == table_value(arch, "cifar100_valid"));
        CHECK(json_num(j, "best_test") == table_value(arch, "cifar100_test"));
        CHECK(json_num(j, "best_score") == json_num(j, "best_valid"));
        CHECK(cJSON_IsFalse(cJSON_GetObjectItem(j, "oracle")));
        CHECK(json_num(j, "sim_seconds") > 60 * 1000.0);
    }
    cJSON_Delete(j);
    free(o);
    /* nasc trials: test and simulated time per trial; the JSON says it is not an oracle */
    CHECK(nasc("trials --db %s --format json", db) == 0);
    o = search_slurp(out);
    j = cJSON_Parse(o);
    const cJSON *t0 = j ? cJSON_GetArrayItem(cJSON_GetObjectItem(j, "trials"), 0) : NULL;
    CHECK(t0 &&
          json_num(t0, "test_score") ==
              table_value(cJSON_GetStringValue(cJSON_GetObjectItem(t0, "arch")), "cifar100_test"));
    CHECK(t0 && json_num(t0, "sim_seconds") ==
                    table_value(cJSON_GetStringValue(cJSON_GetObjectItem(t0, "arch")),
                                "cifar100_train_seconds"));
    CHECK(j && cJSON_IsFalse(cJSON_GetObjectItem(j, "oracle")));
    /* ... and the same best trial as the search: its validation and test accuracy */
    CHECK_MSG(j && json_num(j, "best_trial") == best_trial &&
                  json_num(j, "best_test") == best_test &&
                  json_num(j, "best_valid") == table_value(best_arch, "cifar100_valid") &&
                  !strcmp(best_arch, cJSON_GetStringValue(cJSON_GetObjectItem(j, "best_arch"))),
              "nasc trials --format json: best trial %g test %g (search: %g, %g)",
              j ? json_num(j, "best_trial") : NAN, j ? json_num(j, "best_test") : NAN, best_trial,
              best_test);
    cJSON_Delete(j);
    free(o);
    CHECK(nasc("trials --db %s --status failed", db) == 0); /* a filter keeps the best line */
    o = search_slurp(out);
    CHECK(!strstr(o, "ORACLE") && strstr(o, "test") && strstr(o, "sim_s"));
    char want[400];
    snprintf(want, sizeof want, "best: trial %.0f, validation %.4f, test %.4f", best_trial,
             table_value(best_arch, "cifar100_valid"), best_test);
    CHECK_STR_CONTAINS(o, want);
    CHECK_STR_CONTAINS(o, best_arch);
    free(o);
    /* the text result line */
    CHECK(nasc("search --space nb201 --strategy random --benchmark nb201:cifar10 --budget 5 "
               "--quiet") == 0);
    o = search_slurp(out);
    CHECK_STR_CONTAINS(o, "(validation; test ");
    CHECK_STR_CONTAINS(o, "h of simulated training");
    free(o);
}

static void test_oracle_labels(void) {
    char db[400];
    path(db, sizeof db, "oracle.db");
    CHECK(nasc("search --space nb201 --strategy random --benchmark nb201:cifar10 --budget 8 "
               "--oracle --db %s",
               db) == 0);
    char *o = search_slurp(out), *e = search_slurp(errf);
    CHECK_STR_CONTAINS(o, "ORACLE: searched on test accuracy");
    CHECK_STR_CONTAINS(e, "ORACLE");
    free(o);
    free(e);
    CHECK(nasc("trials --db %s", db) == 0);
    o = search_slurp(out);
    CHECK_STR_CONTAINS(o, "ORACLE: the scores are test accuracy");
    CHECK_STR_CONTAINS(o, "ORACLE test ");
    free(o);
    CHECK(nasc("trials --db %s --format json", db) == 0);
    o = search_slurp(out);
    cJSON *jt = cJSON_Parse(o);
    CHECK(jt && cJSON_IsTrue(cJSON_GetObjectItem(jt, "oracle")) &&
          cJSON_IsNull(cJSON_GetObjectItem(jt, "best_valid")) &&
          json_num(jt, "best_test") == json_num(jt, "best_score"));
    cJSON_Delete(jt);
    free(o);
    CHECK(nasc("trials --db %s --format csv", db) == 0);
    o = search_slurp(out);
    CHECK(!strncmp(o, "id,status,score_ORACLE_test,", 28));
    free(o);
    CHECK(nasc("search --space nb201 --strategy random --benchmark nb201:cifar10 --budget 8 "
               "--oracle --json --quiet") == 0);
    o = search_slurp(out);
    cJSON *j = cJSON_Parse(o);
    CHECK(j && cJSON_IsTrue(cJSON_GetObjectItem(j, "oracle")) &&
          cJSON_IsNull(cJSON_GetObjectItem(j, "best_valid")) &&
          json_num(j, "best_test") == json_num(j, "best_score"));
    cJSON_Delete(j);
    free(o);
    /* only for the nb201 tables */
    CHECK(nasc("search --space nb201 --strategy random --benchmark table:%s/data/nb201.csv:"
               "cifar10_valid --budget 3 --oracle",
               NASC_SOURCE_DIR) == 2);
    e = search_slurp(errf);
    CHECK_STR_CONTAINS(e, "oracle: only for the nb201 tables");
    free(e);
}

static void test_time_budget(void) {
    char db[400];
    path(db, sizeof db, "time.db");
    /* 100 h of simulated training: Hyperband's rungs of 12 and 200 epochs */
    CHECK(nasc("search --space nb201 --strategy hyperband --benchmark nb201:cifar10 "
               "--time-budget 360000 --json --quiet --db %s",
               db) == 0);
    char *o = search_slurp(out);
    cJSON *j = cJSON_Parse(o);
    double sim = j ? json_num(j, "sim_seconds") : NAN;
    CHECK_MSG(sim >= 360000 && sim < 360000 + 3500, "simulated %g s", sim);
    CHECK(j && json_num(j, "time_budget") == 360000 && json_num(j, "budget") == 0);
    cJSON_Delete(j);
    free(o);
    nasc_trial_record *t = NULL;
    int64_t n = 0;
    if (search_load(db, &t, &n)) {
        int low = 0, full = 0;
        double before_last = 0;
        for (int64_t i = 0; i < n; i++) {
            double f = t[i].result ? t[i].result->fidelity : NAN;
            low += f == 12;
            full += f == 200;
            if (i + 1 < n)
                before_last += t[i].sim_seconds;
        }
        CHECK_MSG(low > 100 && full > 10 && low + full == n, "%d at 12 epochs, %d at 200", low,
                  full);
        CHECK(before_last < 360000); /* the last trial started before the budget was spent */
        nasc_db_trials_free(t, n);
    }
    /* the budget may be raised: the search continues */
    CHECK(nasc("search --db %s --resume --time-budget 400000 --json --quiet", db) == 0);
    o = search_slurp(out);
    j = cJSON_Parse(o);
    CHECK(j && json_num(j, "sim_seconds") >= 400000);
    cJSON_Delete(j);
    free(o);
    /* a training evaluator has no simulated time */
    CHECK(nasc("search --space nb201 --strategy random --data fashion-mnist --time-budget 100") ==
          2);
    char *e = search_slurp(errf);
    CHECK_STR_CONTAINS(e, "time-budget: counts simulated training time");
    free(e);
}

static void test_columns(void) {
    char db[400];
    path(db, sizeof db, "mo.db");
    CHECK(nasc("search --space nb201 --strategy nsga2 --benchmark nb201:cifar10 --budget 40 "
               "--objective valid,latency_raspi4 --constraint latency_pixel3<=5 --seed 2 --db %s "
               "--json --quiet",
               db) == 0);
    nasc_trial_record *t = NULL;
    int64_t n = 0;
    int violated = 0, ok = 0, wrong = 0;
    if (search_load(db, &t, &n)) {
        for (int64_t i = 0; i < n; i++) {
            if (strstr(t[i].reason, "constraint latency_pixel3<=5 violated"))
                violated++;
            if (t[i].status != NASC_TRIAL_OK)
                continue;
            ok++;
            /* objectives: the validation accuracy, then the Raspberry Pi 4 latency of the cell */
            const nasc_trial_result *r = t[i].result;
            wrong += !r || r->n_objectives != 2 ||
                     r->objectives[0] != table_value(t[i].arch, "cifar10_valid") ||
                     r->objectives[1] != table_value(t[i].arch, "latency_raspi4_ms") ||
                     table_value(t[i].arch, "latency_pixel3_ms") > 5;
        }
        nasc_db_trials_free(t, n);
    }
    CHECK_MSG(violated > 0 && ok > 0 && wrong == 0, "%d violated, %d ok, %d wrong", violated, ok,
              wrong);
    /* the front, listed with its test accuracy */
    CHECK(nasc("trials --db %s --pareto", db) == 0);
    char *o = search_slurp(out);
    CHECK_STR_CONTAINS(o, "(objectives ");
    free(o);
    /* a column the table lacks; the reported column; a column with a training evaluator */
    CHECK(nasc("search --space nb201 --strategy random --benchmark nb201:cifar10 --budget 3 "
               "--objective acc,latency_phone") == 2);
    char *e = search_slurp(errf);
    CHECK_STR_CONTAINS(e, "no column 'latency_phone'");
    free(e);
    CHECK(nasc("search --space nb201 --strategy random --benchmark nb201:cifar10 --budget 3 "
               "--objective acc,cifar10_test") == 2);
    e = search_slurp(errf);
    CHECK_STR_CONTAINS(e, "is the one reported");
    free(e);
    CHECK(nasc("search --space nb201 --strategy random --data fashion-mnist --budget 3 "
               "--objective acc,latency_raspi4") == 2);
    e = search_slurp(errf);
    CHECK_STR_CONTAINS(e, "only a benchmark table has columns");
    free(e);
}

/* Rewrites db as a database written before test_score, sim_seconds and the oracle key. */
static bool make_old(const char *db) {
    sqlite3 *h = NULL;
    bool ok = sqlite3_open(db, &h) == SQLITE_OK &&
              sqlite3_exec(h,
                           "PRAGMA journal_mode=DELETE; ALTER TABLE trials DROP COLUMN test_score;"
                           " ALTER TABLE trials DROP COLUMN sim_seconds;"
                           " DELETE FROM config WHERE key IN ('oracle', 'time-budget',"
                           " 'table-low', 'table-cost', 'table-epochs');",
                           NULL, NULL, NULL) == SQLITE_OK;
    sqlite3_close(h);
    return ok;
}

static void test_old_database(void) {
    char db[400];
    path(db, sizeof db, "old.db");
    CHECK(nasc("search --space nb201 --strategy evolution --benchmark nb201:cifar10 --budget 20 "
               "--oracle --seed 3 --db %s --quiet",
               db) == 0);
    CHECK(make_old(db));
    long size0 = 0;
    unsigned long long sum0 = search_file_sum(db, &size0);
    /* read-only: loads (NULL test and simulated time), says it is an oracle, changes nothing */
    CHECK(nasc("trials --db %s", db) == 0);
    char *o = search_slurp(out);
    CHECK_STR_CONTAINS(o, "ORACLE");
    free(o);
    nasc_trial_record *t = NULL;
    int64_t n = 0;
    if (search_load(db, &t, &n)) {
        CHECK(n == 20 && isnan(t[0].test_score) && isnan(t[0].sim_seconds) && t[0].score > 0);
        nasc_db_trials_free(t, n);
    }
    long size1 = 0;
    CHECK(search_file_sum(db, &size1) == sum0 && size1 == size0);
    /* continued without --oracle: refused (it is an oracle search), with it: continues */
    CHECK(nasc("search --space nb201 --strategy evolution --benchmark nb201:cifar10 --budget 30 "
               "--seed 3 --db %s --quiet",
               db) == 2);
    char *e = search_slurp(errf);
    CHECK_STR_CONTAINS(e, "oracle ('true' in the database, 'false' given)");
    free(e);
    CHECK(nasc("search --db %s --resume --budget 30 --json --quiet", db) == 0);
    o = search_slurp(out);
    CHECK_STR_CONTAINS(o, "\"oracle\":true");
    free(o);
    if (search_load(db, &t, &n)) {
        CHECK(n == 30 && isnan(t[0].test_score) && isfinite(t[25].test_score) &&
              t[25].test_score == t[25].score && isfinite(t[25].sim_seconds));
        nasc_db_trials_free(t, n);
    }
}

int main(void) {
    cli = search_cli();
    snprintf(dir, sizeof dir, "%s/test_benchmark_cli.XXXXXX", NASC_BINARY_DIR);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    path(out, sizeof out, "out.txt");
    path(errf, sizeof errf, "err.txt");
    test_report();
    test_oracle_labels();
    test_time_budget();
    test_columns();
    test_old_database();
    if (!test_failures) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return test_done("test_benchmark_cli");
}
