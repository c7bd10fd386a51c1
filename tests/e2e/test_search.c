/* test_search.c — `nasc search` and `nasc trials` end to end: bad input (budget 0, missing or
 * conflicting flags, bad strategy options, corrupt / foreign / empty / other-config databases,
 * bad YAML) exits 2 with a clear message and leaves files untouched; NaN results and crashed,
 * killed or timed-out workers become failed (or re-run) trials and the search finishes; results do
 * not depend on --workers; YAML files and their precedence; the output formats. */
// ctest: timeout=600
#include "test.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "e2e/search_cli.h"

static char dir[256];
static const char *cli;
static char out[400], errf[400];

#define NB "--space nb201 --benchmark nb201:cifar10"

/* Runs `nasc ARGS` (split on spaces) and returns the exit code; stdout/stderr in out/errf. */
static int nasc(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int nasc(const char *fmt, ...) {
    char buf[3000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return search_runf(cli, out, errf, "%s", buf);
}

static char *err_text(void) {
    return search_slurp(errf);
}
static char *out_text(void) {
    return search_slurp(out);
}

static void expect_usage(const char *needle, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void expect_usage(const char *needle, const char *fmt, ...) {
    char buf[3000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    int rc = search_runf(cli, out, errf, "%s", buf);
    char *e = err_text();
    CHECK_MSG(rc == 2, "'%s': exit %d, expected 2 (stderr: %s)", buf, rc, e);
    CHECK_MSG(strstr(e, needle) != NULL, "'%s': stderr lacks '%s': %s", buf, needle, e);
    CHECK_MSG(strstr(e, "nasc: error: ") == e, "'%s': message shape: %s", buf, e);
    free(e);
}

static void path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", dir, name);
}

static void write_file(const char *p, const char *text) {
    FILE *f = fopen(p, "wb");
    fputs(text, f);
    fclose(f);
}

static void test_bad_input(void) {
    expect_usage("budget: required: --budget N", "search " NB " --budget 0");
    expect_usage("budget: must be at least 1 (got -1)", "search " NB " --budget -1");
    expect_usage("budget: required: --budget N, the number of trials (at least 1)", "search " NB);
    expect_usage("space: required", "search --benchmark nb201:cifar10 --budget 5");
    expect_usage("exactly one evaluator", "search --space nb201 --budget 5");
    expect_usage("both given", "search " NB " --data fashion-mnist --budget 5");
    expect_usage("unknown strategy 'evo'", "search " NB " --strategy evo --budget 5");
    expect_usage("unknown option 'pop'",
                 "search " NB " --strategy evolution --strategy-opt pop=3 --budget 5");
    expect_usage("--budget: expected an integer (got 'ten')", "search " NB " --budget ten");
    expect_usage("workers: must be in [1, 256] (got 0)", "search " NB " --budget 5 --workers 0");
    expect_usage("unknown name 'nb999'",
                 "search --space nb999 --benchmark nb201:cifar10 --budget 5");
    expect_usage("unknown dataset 'cifar10:x'", "search " NB ":x --budget 5");
    expect_usage("needs --space nb201",
                 "search --space darts --benchmark nb201:cifar10 --budget 5");
    expect_usage("--resume needs --db", "search " NB " --budget 5 --resume");
    char p[400], missing_csv[400];
    path(p, sizeof p, "nothing.db");
    expect_usage("nothing to resume", "search --db %s --resume", p);
    path(missing_csv, sizeof missing_csv, "missing.csv");
    expect_usage("missing.csv", "search --space nb201 --benchmark table:%s:acc --budget 5",
                 missing_csv);
    /* a user table with a bad row names file and line */
    char csv[400];
    path(csv, sizeof csv, "bad.csv");
    write_file(csv, "arch,acc\n"
                    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|"
                    "nor_conv_3x3~1|skip_connect~2|,93.1\n"
                    "|conv9~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
                    "skip_connect~2|,91\n");
    expect_usage("bad.csv: line 3", "search --space nb201 --benchmark table:%s:acc --budget 5",
                 csv);
    expect_usage("no column 'top1'", "search --space nb201 --benchmark table:%s:top1 --budget 5",
                 csv);
}

/* Damaged and foreign databases: exit 2, message naming the file, file unchanged. */
static void expect_db_rejected(const char *db, const char *needle) {
    long s0, s1;
    unsigned long long h0 = search_file_sum(db, &s0);
    expect_usage(needle, "search " NB " --budget 5 --db %s", db);
    expect_usage(needle, "search --db %s --resume", db);
    expect_usage(needle, "trials --db %s", db);
    unsigned long long h1 = search_file_sum(db, &s1);
    CHECK_MSG(h0 == h1 && s0 == s1, "%s changed", db);
    char wal[450];
    snprintf(wal, sizeof wal, "%s-wal", db);
    CHECK_MSG(!search_exists(wal), "%s appeared", wal);
}

static void test_bad_db(void) {
    char p[400];
    path(p, sizeof p, "random.db");
    FILE *f = fopen(p, "wb");
    for (int i = 0; i < 8192; i++)
        fputc((i * 7919 + 13) & 0xff, f);
    fclose(f);
    expect_db_rejected(p, "not a nasc experiment database");

    path(p, sizeof p, "empty.db");
    write_file(p, "");
    expect_db_rejected(p, "empty file");

    path(p, sizeof p, "foreign.db");
    sqlite3 *h;
    sqlite3_open(p, &h);
    sqlite3_exec(h, "CREATE TABLE trials(id, arch); INSERT INTO trials VALUES (0, 'x')", NULL, NULL,
                 NULL);
    sqlite3_close(h);
    expect_db_rejected(p, "application_id");

    /* a real experiment, damaged in the middle */
    path(p, sizeof p, "damaged.db");
    CHECK(nasc("search " NB " --budget 200 --db %s --quiet", p) == 0);
    sqlite3_open(p, &h);
    sqlite3_exec(h, "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE", NULL, NULL,
                 NULL);
    sqlite3_close(h);
    f = fopen(p, "r+b");
    fseek(f, 2 * 4096, SEEK_SET);
    for (int i = 0; i < 200; i++)
        fputc(0xff, f);
    fclose(f);
    expect_db_rejected(p, "damaged.db");
}

/* Continuing with another configuration names every differing key; the file is untouched. */
static void test_other_config(void) {
    char p[400];
    path(p, sizeof p, "cfg.db");
    CHECK(nasc("search " NB " --strategy evolution --budget 20 --seed 4 --db %s --quiet", p) == 0);
    long s0, s1;
    unsigned long long h0 = search_file_sum(p, &s0);
    expect_usage("strategy ('evolution' in the database, 'random' given), seed ('4' in the "
                 "database, '5' given)",
                 "search " NB " --strategy random --budget 20 --seed 5 --db %s", p);
    expect_usage("strategy-opt", "search --db %s --resume --strategy-opt population=4", p);
    CHECK(search_file_sum(p, &s1) == h0 && s0 == s1);
    expect_usage("budget: 10 is less than the 20 trials", "search --db %s --resume --budget 10", p);
    /* the same configuration continues (and extends the budget) */
    CHECK(nasc("search " NB " --strategy evolution --budget 30 --seed 4 --db %s --json --quiet",
               p) == 0);
    char *o = out_text();
    CHECK_STR_CONTAINS(o, "\"trials\":30");
    free(o);
}

/* A damaged strategy snapshot is only a lost shortcut: resume replays from the seed instead. */
static void test_bad_snapshot(void) {
    char a[400], b[400];
    path(a, sizeof a, "snap.db");
    path(b, sizeof b, "snap-ref.db");
    CHECK(nasc("search " NB " --strategy evolution --budget 20 --snapshot-every 2 --db %s --quiet",
               a) == 0);
    sqlite3 *h;
    sqlite3_open(a, &h);
    CHECK(sqlite3_exec(h, "UPDATE snapshot SET state = x'00112233'", NULL, NULL, NULL) ==
          SQLITE_OK);
    sqlite3_close(h);
    CHECK(nasc("search --db %s --resume --budget 30 --quiet", a) == 0);
    char *e = err_text();
    CHECK_STR_CONTAINS(e, "strategy snapshot not used");
    free(e);
    CHECK(nasc("search " NB " --strategy evolution --budget 30 --snapshot-every 2 --db %s --quiet",
               b) == 0);
    nasc_trial_record *ta = NULL, *tb = NULL;
    int64_t na = 0, nb = 0;
    if (search_load(a, &ta, &na) && search_load(b, &tb, &nb)) {
        CHECK(na == 30 && nb == 30);
        for (int64_t i = 0; i < na && i < nb; i++)
            CHECK(!strcmp(ta[i].arch, tb[i].arch) && ta[i].score == tb[i].score);
    }
    nasc_db_trials_free(ta, na);
    nasc_db_trials_free(tb, nb);
}

/* A trial with a NaN result fails, the others go on; the search finishes. */
static void test_nan_trials(void) {
    /* a copy of the NB201 table where every third row is NaN (13 value columns) */
    char csv[400];
    path(csv, sizeof csv, "nan.csv");
    FILE *in = fopen(NASC_SOURCE_DIR "/data/nb201.csv", "r");
    FILE *o = fopen(csv, "w");
    char line[512];
    int row = 0;
    while (fgets(line, sizeof line, in)) {
        char *c1 = strchr(line, ',');
        if (row > 0 && c1 && row % 3 == 0)
            fprintf(o, "%.*s%s\n", (int)(c1 - line), line,
                    ",nan,nan,nan,nan,nan,nan,nan,nan,nan,nan,nan,nan,nan");
        else
            fputs(line, o);
        row++;
    }
    fclose(in);
    fclose(o);
    char db[400];
    path(db, sizeof db, "nan.db");
    int rc = nasc("search --space nb201 --benchmark table:%s:cifar10_valid --strategy "
                  "evolution --budget 60 --db %s --json --quiet",
                  csv, db);
    CHECK(rc == 0);
    nasc_trial_record *t = NULL;
    int64_t n = 0;
    int failed = 0;
    if (search_load(db, &t, &n)) {
        CHECK(n == 60);
        for (int64_t i = 0; i < n; i++)
            if (t[i].status == NASC_TRIAL_FAILED) {
                failed++;
                CHECK_STR_CONTAINS(t[i].reason, "no value");
            }
    }
    CHECK_MSG(failed >= 5, "only %d NaN trials in 60", failed);
    nasc_db_trials_free(t, n);
    char *j = out_text();
    CHECK_STR_CONTAINS(j, "\"trials\":60");
    free(j);
}

/* Workers: same trials with 1 and 3 workers; a crashed worker fails its trial; a killed worker's
 * trial is run again; a trial over its time limit fails. */
static void test_workers(void) {
    char a[400], b[400];
    path(a, sizeof a, "w1.db");
    path(b, sizeof b, "w3.db");
    CHECK(nasc("search " NB " --strategy evolution --ask-ahead 2 --budget 50 --workers 1 --db %s "
               "--quiet",
               a) == 0);
    CHECK(nasc("search " NB " --strategy evolution --ask-ahead 2 --budget 50 --workers 3 --db %s "
               "--quiet",
               b) == 0);
    nasc_trial_record *ta = NULL, *tb = NULL;
    int64_t na = 0, nb = 0;
    if (search_load(a, &ta, &na) && search_load(b, &tb, &nb)) {
        CHECK(na == 50 && nb == 50);
        int diff = 0, workers_seen = 0;
        for (int64_t i = 0; i < na && i < nb; i++) {
            diff += strcmp(ta[i].arch, tb[i].arch) != 0 || ta[i].score != tb[i].score;
            workers_seen |= 1 << tb[i].worker;
        }
        CHECK_MSG(diff == 0, "%d trials differ between --workers 1 and 3", diff);
        CHECK_MSG(workers_seen == (1 << 1 | 1 << 2 | 1 << 3), "worker slots used: %x",
                  workers_seen);
    }
    nasc_db_trials_free(ta, na);
    nasc_db_trials_free(tb, nb);

    /* trial 4's worker aborts: failed with the signal named; trial 7's is killed once: re-run */
    char c[400];
    path(c, sizeof c, "crash.db");
    setenv("NASC_TEST_CRASH_TRIAL", "4", 1);
    setenv("NASC_TEST_KILL_WORKER", "7", 1);
    int rc = nasc("search " NB " --budget 12 --workers 2 --db %s --quiet", c);
    unsetenv("NASC_TEST_CRASH_TRIAL");
    unsetenv("NASC_TEST_KILL_WORKER");
    CHECK(rc == 0);
    nasc_trial_record *t = NULL;
    int64_t n = 0;
    if (search_load(c, &t, &n) && n == 12) {
        CHECK(t[4].status == NASC_TRIAL_FAILED);
        CHECK_STR_CONTAINS(t[4].reason, "worker crashed: signal 6");
        CHECK(t[7].status == NASC_TRIAL_OK && t[7].attempts == 2);
        for (int i = 0; i < 12; i++)
            if (i != 4)
                CHECK(t[i].status == NASC_TRIAL_OK);
    } else {
        CHECK(!"crash.db: 12 trials expected");
    }
    nasc_db_trials_free(t, n);
}

/* YAML experiment files: every key, errors with key path and line, flags override the file. */
static void test_yaml(void) {
    char y[400], db[400];
    path(y, sizeof y, "exp.yaml");
    path(db, sizeof db, "yaml.db");
    write_file(y, "# an experiment\n"
                  "space: nb201\n"
                  "strategy: ga\n"
                  "strategy-opt:\n"
                  "  population: 8\n"
                  "  selection: rank\n"
                  "benchmark: nb201:cifar100\n"
                  "budget: 30\n"
                  "seed: 9\n"
                  "quiet: true\n");
    CHECK(nasc("search --config %s --budget 12 --json --db %s", y, db) == 0);
    char *o = out_text();
    CHECK_STR_CONTAINS(o, "\"trials\":12"); /* the flag wins over the file's 30 */
    CHECK_STR_CONTAINS(o, "\"strategy\":\"ga\"");
    CHECK_STR_CONTAINS(o, "\"seed\":9");
    free(o);
    /* the stored strategy options are canonical: the same search from flags continues it */
    CHECK(nasc("search --space nb201 --benchmark nb201:cifar100 --strategy ga --strategy-opt "
               "selection=rank,population=8 "
               "--seed 9 --budget 12 --db %s --quiet",
               db) == 0);

    write_file(y, "space: nb201\nbudget: 10\nbenchmark: nb201:cifar10\nworkrs: 2\n");
    expect_usage("exp.yaml:4: unknown key 'workrs'", "search --config %s", y);
    write_file(y, "space: nb201\nbudget: ten\n");
    expect_usage("exp.yaml:2: budget: expected an integer (got 'ten')", "search --config %s", y);
    write_file(y, "space: nb201\nbudget: \"10\"\n");
    expect_usage("exp.yaml:2: budget: expected an integer (got the string \"10\")",
                 "search --config %s", y);
    write_file(y, "space: nb201\nworkers:\n  - 1\n  - 2\n");
    expect_usage("exp.yaml:3: workers: expected an integer (got a sequence)", "search --config %s",
                 y);
    write_file(y, "strategy: evolution\nstrategy-opt:\n  population: 10\n  samples: 3\n");
    expect_usage("exp.yaml:4: strategy-opt.samples: strategy evolution: unknown option 'samples'",
                 "search --config %s", y);
    write_file(y, "strategy: evolution\nstrategy-opt:\n  population: many\n");
    expect_usage("exp.yaml:3: strategy-opt.population:", "search --config %s", y);
    write_file(y, "strategy-opt:\n  population: {a: 1}\n");
    expect_usage("exp.yaml:2: strategy-opt.population: expected a scalar value",
                 "search --config %s", y);
    write_file(y, "space: nb201\nspace: darts\n");
    expect_usage("exp.yaml:2: space: key given twice", "search --config %s", y);
    write_file(y, "resume: true\n");
    expect_usage("exp.yaml:1: resume: only on the command line", "search --config %s", y);
    /* the database can come from the file, also for --resume */
    char ydb[400];
    path(ydb, sizeof ydb, "from-yaml.db");
    char text[600];
    snprintf(text, sizeof text,
             "space: nb201\nbenchmark: nb201:cifar10\nbudget: 4\nquiet: true\ndb: %s\n", ydb);
    write_file(y, text);
    CHECK(nasc("search --config %s", y) == 0 && search_exists(ydb));
    CHECK(nasc("search --config %s --resume --budget 6 --json", y) == 0);
    o = out_text();
    CHECK_STR_CONTAINS(o, "\"trials\":6");
    free(o);
    write_file(y, "space: [nb201\n");
    expect_usage("exp.yaml:", "search --config %s", y);
    write_file(y, "- space\n- nb201\n");
    expect_usage("expected a mapping", "search --config %s", y);
    char missing[400];
    path(missing, sizeof missing, "none.yaml");
    expect_usage("none.yaml: cannot open", "search --config %s", missing);
}

static void test_output(void) {
    char db[400];
    path(db, sizeof db, "out.db");
    CHECK(nasc("search " NB " --strategy local --budget 25 --db %s --json --quiet", db) == 0);
    char *o = out_text();
    cJSON *j = cJSON_Parse(o);
    CHECK_MSG(j != NULL, "--json output is not JSON: %s", o);
    if (j) {
        CHECK(cJSON_IsString(cJSON_GetObjectItem(j, "best_arch")));
        CHECK(cJSON_IsNumber(cJSON_GetObjectItem(j, "best_score")));
        CHECK(cJSON_GetObjectItem(j, "trials") &&
              cJSON_GetObjectItem(j, "trials")->valuedouble == 25);
        /* best_score is the table's value of best_arch */
        double v = cJSON_GetObjectItem(j, "best_score")->valuedouble;
        CHECK(v > 90 && v < 95);
        cJSON_Delete(j);
    }
    /* stdout holds only the JSON object: one line */
    CHECK(strchr(o, '\n') == o + strlen(o) - 1);
    free(o);
    /* without --json: a human summary, and the progress line on stderr */
    CHECK(nasc("search " NB " --budget 5") == 0);
    o = out_text();
    char *e = err_text();
    CHECK_STR_CONTAINS(o, "best: |");
    CHECK_STR_CONTAINS(e, "5/5 trials");
    CHECK_STR_CONTAINS(e, "best ");
    CHECK_STR_CONTAINS(e, "ETA");
    free(o);
    free(e);

    CHECK(nasc("trials --db %s --format csv", db) == 0);
    o = out_text();
    int lines = 0;
    for (char *p = o; *p; p++)
        lines += *p == '\n';
    CHECK(lines == 26);
    CHECK(!strncmp(o, "id,status,score,test,fidelity,reached,seconds,sim_seconds,", 57));
    free(o);
    CHECK(nasc("trials --db %s --format json", db) == 0);
    o = out_text();
    j = cJSON_Parse(o);
    CHECK(j && cJSON_GetArraySize(cJSON_GetObjectItem(j, "trials")) == 25);
    CHECK(j && cJSON_IsString(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "config"), "strategy")));
    cJSON_Delete(j);
    free(o);
    CHECK(nasc("trials --db %s --status failed", db) == 0);
    o = out_text();
    /* the header, no trial, then the experiment's best trial */
    CHECK(strchr(o, '\n') && !strncmp(strchr(o, '\n') + 1, "best: trial ", 12));
    free(o);
    CHECK(nasc("trials --db %s", db) == 0);
    expect_usage("--format: expected table, csv or json", "trials --db %s --format xml", db);
    /* --cost records each table trial's params, multiply-adds and activation memory */
    char cdb[400];
    path(cdb, sizeof cdb, "cost.db");
    CHECK(nasc("search " NB " --budget 3 --cost --quiet --db %s", cdb) == 0);
    nasc_trial_record *t = NULL;
    int64_t n = 0;
    if (search_load(cdb, &t, &n))
        for (int64_t i = 0; i < n; i++)
            CHECK(t[i].cost.params > 1000 && t[i].cost.flops > t[i].cost.params &&
                  t[i].cost.memory_bytes > 0 && isnan(t[i].cost.latency_ms));
    nasc_db_trials_free(t, n);
    expect_usage("--db FILE is required", "trials");
}

/* Training trials that diverge are failed with the reason; a trial over its time limit too. */
static void test_training_failures(void) {
    if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK)) {
        fprintf(stderr, "note: no Fashion-MNIST, training cases skipped\n");
        return;
    }
    char db[400];
    path(db, sizeof db, "diverge.db");
    const char *tiny = "--space nb201 --data fashion-mnist --data-fraction 0.01 --epochs 1 "
                       "--channels 4 --cells 1 --batch 32 --threads 1 --quiet";
    int rc = nasc("search %s --budget 3 --lr 1e6 --db %s", tiny, db);
    CHECK(rc == 1); /* every trial failed: nothing to report */
    char *e = err_text();
    CHECK_STR_CONTAINS(e, "all 3 trials failed");
    free(e);
    nasc_trial_record *t = NULL;
    int64_t n = 0;
    if (search_load(db, &t, &n)) {
        CHECK(n == 3);
        for (int64_t i = 0; i < n; i++) {
            CHECK(t[i].status == NASC_TRIAL_FAILED);
            CHECK_STR_CONTAINS(t[i].reason, "diverged");
        }
    }
    nasc_db_trials_free(t, n);
    /* hyperband on training: fidelity = epochs; the best is taken at the highest fidelity
     * (the synchronous brackets: with 2 workers the default would be ASHA) */
    path(db, sizeof db, "hb.db");
    rc = nasc("search --space nb201 --data fashion-mnist --data-fraction 0.01 --channels 4 "
              "--cells 1 --batch 32 --threads 1 --quiet --strategy hyperband "
              "--strategy-opt eta=2,schedule=sync "
              "--epochs 4 --budget 11 --workers 2 --db %s --json",
              db);
    CHECK(rc == 0);
    if (search_load(db, &t, &n)) {
        /* s_max = 2: 4 configs @1 epoch, 2 @2, 1 @4; then 3 @2, 1 @4 */
        static const double fid[11] = {1, 1, 1, 1, 2, 2, 4, 2, 2, 2, 4};
        CHECK(n == 11);
        for (int64_t i = 0; i < n && i < 11; i++) {
            CHECK(t[i].cost.params > 0 && t[i].cost.flops > 0); /* always measured when training */
            CHECK_MSG(t[i].fidelity == fid[i], "trial %lld at fidelity %g, expected %g",
                      (long long)i, t[i].fidelity, fid[i]);
            CHECK(t[i].status == NASC_TRIAL_OK && t[i].result && t[i].result->n_curve >= 1 &&
                  t[i].result->fidelity == fid[i]);
        }
        char *o = out_text();
        char want[64];
        snprintf(want, sizeof want, "\"best_trial\":");
        const char *bt = strstr(o, want);
        int best = bt ? atoi(bt + strlen(want)) : -1;
        CHECK_MSG(best == 6 || best == 10, "best trial %d is not a 4-epoch trial", best);
        free(o);
    }
    nasc_db_trials_free(t, n);
    /* the median stopping rule stops some trials early (status ok, partial fidelity) */
    path(db, sizeof db, "median.db");
    rc = nasc("search --space nb201 --data fashion-mnist --data-fraction 0.01 --channels 4 "
              "--cells 1 --batch 32 --threads 1 --quiet --budget 10 --epochs 3 --median-stop "
              "--strategy random --db %s",
              db);
    CHECK(rc == 0);
    if (search_load(db, &t, &n)) {
        int stopped = 0;
        for (int64_t i = 0; i < n; i++)
            if (t[i].result && t[i].result->stopped_early) {
                stopped++;
                CHECK(t[i].status == NASC_TRIAL_OK && t[i].result->fidelity < 3);
                CHECK_STR_CONTAINS(t[i].reason, "median rule");
            }
        CHECK_MSG(stopped >= 1 && stopped < n, "%d of %lld trials stopped early", stopped,
                  (long long)n);
        for (int i = 0; i < 4 && i < n; i++) /* too few finished trials to stop the first ones */
            CHECK(t[i].result && !t[i].result->stopped_early);
    }
    nasc_db_trials_free(t, n);
    /* SIGINT stops the search cleanly (exit 1, "interrupted"); --resume then finishes it */
    char bud[] = "6";
    const char *args[] = {"search",
                          "--space",
                          "nb201",
                          "--data",
                          "fashion-mnist",
                          "--data-fraction",
                          "0.02",
                          "--epochs",
                          "2",
                          "--channels",
                          "4",
                          "--cells",
                          "1",
                          "--batch",
                          "32",
                          "--threads",
                          "1",
                          "--quiet",
                          "--budget",
                          bud,
                          "--workers",
                          "2",
                          "--db",
                          db,
                          NULL};
    /* Under load the signal can arrive before nasc has installed its handler (it then dies of
     * it, exit 130, before any trial): try again later, on a fresh database. */
    search_kill_signal = SIGINT;
    for (int attempt = 0; attempt < 4; attempt++) {
        char name[32];
        snprintf(name, sizeof name, "sigint%d.db", attempt);
        path(db, sizeof db, name);
        rc = search_run(cli, args, -1, 1.5 * (1 << attempt), out, errf);
        if (rc != 128 + SIGINT)
            break;
    }
    search_kill_signal = SIGKILL;
    if (rc == 1) {
        char *msg = err_text();
        CHECK_STR_CONTAINS(msg, "interrupted after");
        CHECK_STR_CONTAINS(msg, "--resume");
        free(msg);
        /* while one search runs on it (extended to 12 trials), a second one is refused */
        pid_t first = fork();
        if (first == 0) {
            if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
                _exit(126);
            execl(cli, cli, "search", "--db", db, "--resume", "--budget", "12", "--quiet",
                  (char *)NULL);
            _exit(127);
        }
        usleep(500000);
        int rc2 = nasc("search --db %s --resume --budget 12 --quiet", db);
        msg = err_text();
        int wst = 0;
        waitpid(first, &wst, 0);
        int rc1 = WIFEXITED(wst) ? WEXITSTATUS(wst) : -1;
        /* exactly one of them ran; the other was told why (normally the second) */
        CHECK_MSG((rc1 == 0 && rc2 == 1 && strstr(msg, "another nasc search is running")) ||
                      (rc1 == 1 && rc2 == 0),
                  "concurrent searches: exits %d and %d (%s)", rc1, rc2, msg);
        free(msg);
        if (search_load(db, &t, &n)) {
            CHECK(n == 12);
            for (int64_t i = 0; i < n; i++)
                CHECK(t[i].status == NASC_TRIAL_OK);
        }
        nasc_db_trials_free(t, n);
    } else {
        CHECK_MSG(rc == 0, "SIGINT: exit %d", rc); /* finished before the signal: fine */
    }
    path(db, sizeof db, "timeout.db");
    rc = nasc("search %s --budget 2 --trial-timeout 0.001 --db %s", tiny, db);
    CHECK(rc == 1);
    if (search_load(db, &t, &n)) {
        CHECK(n == 2);
        for (int64_t i = 0; i < n; i++)
            CHECK_STR_CONTAINS(t[i].reason, "timed out after 0.001 s");
    }
    nasc_db_trials_free(t, n);
}

/* --wall-budget: the search stops that long after its first trial started and cancels what runs
 * (left 'running', the count reported); the trials recorded are those of the run without it; a
 * --resume without it finishes with exactly the trials of the uninterrupted run. */
static void test_wall_budget(void) {
    char a[400], b[400];
    path(a, sizeof a, "wall.db");
    path(b, sizeof b, "wall_full.db");
    CHECK(nasc("search " NB " --strategy evolution --ask-ahead 4 --budget 100000 --workers 3 "
               "--sim-sleep 0.05 --wall-budget 1 --db %s --json",
               a) == 0);
    char *j = out_text(), *e = err_text();
    CHECK_STR_CONTAINS(j, "\"wall_stopped\":true");
    CHECK_STR_CONTAINS(e, "wall-time budget of 1 s reached after");
    cJSON *o = cJSON_Parse(j);
    double cancelled = o ? cJSON_GetNumberValue(cJSON_GetObjectItem(o, "cancelled")) : -1;
    double seconds = o ? cJSON_GetNumberValue(cJSON_GetObjectItem(o, "seconds")) : -1;
    cJSON_Delete(o);
    free(j);
    free(e);
    CHECK_MSG(seconds >= 1 && seconds < 20, "a 1 s wall budget ran %g s", seconds);
    nasc_trial_record *ta = NULL, *tb = NULL;
    int64_t na = 0, nb = 0;
    if (!search_load(a, &ta, &na)) {
        CHECK(0);
        return;
    }
    int64_t running = 0, ok = 0, pending = 0;
    for (int64_t i = 0; i < na; i++) {
        running += ta[i].status == NASC_TRIAL_RUNNING;
        ok += ta[i].status == NASC_TRIAL_OK;
        pending += ta[i].status == NASC_TRIAL_PENDING; /* asked while every worker was busy */
    }
    CHECK_MSG(running == (int64_t)cancelled, "%lld trials left running, %g reported cancelled",
              (long long)running, cancelled);
    CHECK_MSG(ok >= 3 && ok + running + pending == na, "%lld ok, %lld running of %lld",
              (long long)ok, (long long)running, (long long)na);
    /* the same trials as a run of that many trials without a wall budget */
    CHECK(nasc("search " NB " --strategy evolution --ask-ahead 4 --budget %lld --workers 3 --db %s "
               "--quiet",
               (long long)na, b) == 0);
    if (search_load(b, &tb, &nb)) {
        int diff = 0;
        for (int64_t i = 0; i < na && i < nb; i++)
            diff += strcmp(ta[i].arch, tb[i].arch) != 0 ||
                    (ta[i].status == NASC_TRIAL_OK && ta[i].score != tb[i].score);
        CHECK_MSG(nb == na && diff == 0,
                  "%d of %lld trials differ from the run without a wall "
                  "budget",
                  diff, (long long)na);
    }
    nasc_db_trials_free(ta, na);
    ta = NULL;
    /* --resume (the stored wall budget lifted) runs the cancelled trials: the full run exactly */
    CHECK(nasc("search --db %s --resume --budget %lld --wall-budget 0 --quiet", a, (long long)na) ==
          0);
    if (search_load(a, &ta, &na)) {
        int diff = 0;
        for (int64_t i = 0; i < na && i < nb; i++)
            diff += strcmp(ta[i].arch, tb[i].arch) != 0 || ta[i].status != NASC_TRIAL_OK ||
                    ta[i].score != tb[i].score;
        CHECK_MSG(na == nb && diff == 0, "resumed: %d of %lld trials differ", diff, (long long)na);
    }
    nasc_db_trials_free(ta, na);
    nasc_db_trials_free(tb, nb);
    expect_usage("wall-budget: must be", "search " NB " --strategy random --budget 5 "
                                         "--wall-budget -1");
}

int main(void) {
    cli = search_cli();
    snprintf(dir, sizeof dir, "%s/test_search.XXXXXX", NASC_BINARY_DIR);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    path(out, sizeof out, "stdout.txt");
    path(errf, sizeof errf, "stderr.txt");
    test_bad_input();
    test_bad_db();
    test_other_config();
    test_nan_trials();
    test_bad_snapshot();
    test_workers();
    test_wall_budget();
    test_yaml();
    test_output();
    test_training_failures();
    if (!test_failures) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return test_done("test_search");
}
