/* test_benchmark.c — the benchmark protocol on tables: search on validation, report test.
 *
 *   - the NAS-Bench-201 table: validation accuracy as the score, test accuracy only in
 *     result.test_score, the 12- and 200-epoch fidelities, the simulated training time, and the
 *     oracle mode that searches on test (only when asked);
 *   - the oracle is unreachable by default: a spy strategy, run through nasc_strategy_run and
 *     through the experiment loop, is never told a test value, and every score it is told is the
 *     validation column's;
 *   - user tables (table:FILE:SEARCH[:REPORT], low-fidelity and cost columns): refused with the
 *     line and the column named for a missing column, a value that is not a number, an
 *     architecture outside the space, a training time <= 0, an ambiguous or unknown column, and a
 *     report column used as an objective;
 *   - the exact expectation of random search's reported value against a brute-force enumeration;
 *   - Hyperband on the table's two fidelities, and the time budget. */
#include "test.h"

#include <math.h>
#include <unistd.h>

#include "nasc/arena.h"
#include "nasc/experiment.h"
#include "nasc/strategy.h"

static char dir[256];
static nasc_space *nb201;

/* Row 2 of data/nb201.csv (values per column, as in the file). */
static const char *A1 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|"
                        "nor_conv_3x3~1|skip_connect~2|";
static const char *A2 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|"
                        "skip_connect~1|skip_connect~2|";
static const char *A3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|"
                        "nor_conv_3x3~1|nor_conv_3x3~2|";

static void write_file(const char *p, const char *text) {
    FILE *f = fopen(p, "wb");
    fputs(text, f);
    fclose(f);
}

static nasc_trial_result eval_at(nasc_evaluator *ev, const char *arch, double fidelity) {
    nasc_arch *a = NULL;
    nasc_err err = {0};
    nasc_trial_result r;
    nasc_trial_result_init(&r);
    if (nasc_arch_parse(nb201, arch, &a, &err) != NASC_OK)
        return r;
    nasc_evaluator_evaluate(ev, &(nasc_eval_request){.arch = a, .fidelity = fidelity}, &r, &err);
    nasc_arch_free(a);
    return r;
}

static nasc_evaluator *nb201_eval(const char *spec, bool oracle) {
    nasc_evaluator *ev = NULL;
    nasc_err err = {0};
    const nasc_table_eval_config c = {
        .spec = spec, .csv_path = NASC_SOURCE_DIR "/data/nb201.csv", .oracle = oracle};
    CHECK_STATUS(nasc_evaluator_table_new(nb201, &c, &ev, &err), NASC_OK);
    if (err.code)
        fprintf(stderr, "%s\n", err.msg);
    return ev;
}

static void test_nb201_table(void) {
    nasc_evaluator *ev = nb201_eval("nb201:cifar10", false);
    if (!ev)
        return;
    CHECK(ev->max_fidelity == 200 && ev->n_fidelities == 2 && ev->fidelities[0] == 12 &&
          ev->fidelities[1] == 200 && ev->has_test && ev->has_sim_time);
    /* A1: cifar10_valid 90.7693, _test 93.66, _valid_12ep 82.834, _test_12ep 88.22, 2169.6 s */
    nasc_trial_result r = eval_at(ev, A1, 0);
    CHECK_MSG(r.status == NASC_TRIAL_OK && r.score == 90.7693 && r.test_score == 93.66 &&
                  r.fidelity == 200 && r.sim_seconds == 2169.6,
              "full fidelity: %g %g %g %g", r.score, r.test_score, r.fidelity, r.sim_seconds);
    r = eval_at(ev, A1, 12);
    CHECK_MSG(r.score == 82.834 && r.test_score == 88.22 && r.fidelity == 12 &&
                  fabs(r.sim_seconds - 2169.6 * 12 / 200) < 1e-9,
              "12 epochs: %g %g %g %g", r.score, r.test_score, r.fidelity, r.sim_seconds);
    r = eval_at(ev, A1, 5); /* below the lowest fidelity: the lowest */
    CHECK(r.fidelity == 12 && r.score == 82.834);
    r = eval_at(ev, A1, 50); /* between the two: the full one (never less than asked) */
    CHECK(r.fidelity == 200 && r.score == 90.7693);
    nasc_evaluator_free(ev);
    /* CIFAR-100: valid 69.8267, test 70.2933, 4339.3 s */
    ev = nb201_eval("nb201:cifar100", false);
    if (ev) {
        r = eval_at(ev, A1, 0);
        CHECK(r.score == 69.8267 && r.test_score == 70.2933 && r.sim_seconds == 4339.3);
        nasc_evaluator_free(ev);
    }
    /* the oracle searches on test, at both fidelities, and says so in its description */
    ev = nb201_eval("nb201:cifar10", true);
    if (ev) {
        r = eval_at(ev, A1, 0);
        CHECK(r.score == 93.66 && r.test_score == 93.66);
        r = eval_at(ev, A1, 12);
        CHECK(r.score == 88.22);
        CHECK_STR_CONTAINS(ev->desc, "ORACLE");
        nasc_evaluator_free(ev);
    }
    /* the oracle is for the nb201 tables only; a report column is never an objective */
    nasc_err err = {0};
    const nasc_table_eval_config bad = {
        .spec = "table:" NASC_SOURCE_DIR "/data/nb201.csv:cifar10_valid", .oracle = true};
    CHECK_STATUS(nasc_evaluator_table_new(nb201, &bad, &ev, &err), NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "oracle is for the nb201 tables");
    nasc_err_clear(&err);
    const char *test_col[] = {"cifar10_test"};
    const nasc_table_eval_config peek = {.spec = "nb201:cifar10",
                                         .csv_path = NASC_SOURCE_DIR "/data/nb201.csv",
                                         .columns = test_col,
                                         .n_columns = 1};
    CHECK_STATUS(nasc_evaluator_table_new(nb201, &peek, &ev, &err), NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "column 'cifar10_test' is the one reported");
    nasc_err_clear(&err);
    /* columns for objectives, by their name without the unit */
    const char *lat[] = {"latency_raspi4", "params_mb"};
    const nasc_table_eval_config mo = {.spec = "nb201:cifar10",
                                       .csv_path = NASC_SOURCE_DIR "/data/nb201.csv",
                                       .columns = lat,
                                       .n_columns = 2};
    CHECK_STATUS(nasc_evaluator_table_new(nb201, &mo, &ev, &err), NASC_OK);
    if (ev) {
        r = eval_at(ev, A1, 0);
        CHECK(r.n_columns == 2 && r.columns[0] == 54.7774 && r.columns[1] == 0.802426);
        nasc_evaluator_free(ev);
    }
}

/* ---- the oracle is unreachable: a strategy that records what it is told ---- */

typedef struct spy_log {
    int n_told, n_test_seen, n_wrong_score, n_low;
} spy_log;
static spy_log spy;
static nasc_evaluator *c10_valid, *c100_valid; /* the validation columns, to compare with */

static nasc_status spy_init(nasc_strategy *s, nasc_err *err) {
    (void)s, (void)err;
    return NASC_OK;
}
/* uniform samples, every fourth at the low fidelity, one at a time (so every result but the last
 * is told) */
static nasc_status spy_ask(nasc_strategy *s, nasc_proposal *out, nasc_err *err) {
    if (s->n_told < s->n_asked)
        return NASC_OK;
    NASC_TRY(nasc_space_sample(s->space, &s->rng, &out->arch, err));
    out->fidelity = s->n_asked % 4 == 3 ? 12 : 0;
    return NASC_OK;
}
static nasc_status spy_tell(nasc_strategy *s, int64_t trial, const nasc_arch *arch, double fid,
                            const nasc_trial_result *r, nasc_err *err) {
    (void)trial, (void)err;
    spy.n_told++;
    spy.n_test_seen += !isnan(r->test_score);
    spy.n_low += fid == 12;
    /* the score told is the validation column's at that fidelity */
    nasc_evaluator *ref = s->cfg.seed == 100 ? c100_valid : c10_valid;
    nasc_trial_result v;
    nasc_evaluator_evaluate(ref, &(nasc_eval_request){.arch = arch, .fidelity = fid}, &v, NULL);
    spy.n_wrong_score += v.score != r->score;
    return NASC_OK;
}
static const nasc_strategy_i spy_i = {
    .name = "spy", .help = "test", .init = spy_init, .ask = spy_ask, .tell = spy_tell};

static void test_oracle_unreachable(void) {
    nasc_err err = {0};
    CHECK_STATUS(nasc_strategy_register(&spy_i, &err), NASC_OK);
    c10_valid = nb201_eval("nb201:cifar10", false);
    c100_valid = nb201_eval("nb201:cifar100", false);
    if (!c10_valid || !c100_valid)
        return;
    /* in process */
    for (int d = 0; d < 2; d++) {
        memset(&spy, 0, sizeof spy);
        nasc_strategy_config sc = {.seed = d ? 100 : 10, .max_fidelity = 200};
        nasc_strategy *st = NULL;
        CHECK_STATUS(nasc_strategy_new("spy", nb201, &sc, NULL, &st, &err), NASC_OK);
        nasc_evaluator *ev = d ? c100_valid : c10_valid;
        nasc_run_summary rs;
        CHECK_STATUS(nasc_strategy_run(st, ev, &(nasc_run_config){.budget = 200}, &rs, &err),
                     NASC_OK);
        nasc_strategy_free(st);
        /* results are told lazily: all but the last few */
        CHECK_MSG(spy.n_told == 199 && spy.n_test_seen == 0 && spy.n_wrong_score == 0 &&
                      spy.n_low > 30,
                  "run %d: told %d, test seen %d, wrong scores %d, low %d", d, spy.n_told,
                  spy.n_test_seen, spy.n_wrong_score, spy.n_low);
        /* the summary reports the test accuracy of the best on validation at full fidelity */
        CHECK(rs.n == 200 && rs.best_fidelity == 200 && isfinite(rs.best_test) &&
              rs.best_test != rs.best_score);
    }
    /* through the experiment loop (the path of nasc search), CIFAR-10 and CIFAR-100 */
    for (int d = 0; d < 2; d++) {
        memset(&spy, 0, sizeof spy);
        nasc_experiment_config cfg;
        nasc_config_default(&cfg);
        nasc_config_set(&cfg, "space", "nb201", NULL);
        nasc_config_set(&cfg, "strategy", "spy", NULL);
        nasc_config_set(&cfg, "benchmark", d ? "nb201:cifar100" : "nb201:cifar10", NULL);
        nasc_config_set(&cfg, "seed", d ? "100" : "10", NULL);
        nasc_config_set(&cfg, "budget", "120", NULL);
        /* left set afterwards: later cases read the table too */
        setenv("NASC_NB201_CSV", NASC_SOURCE_DIR "/data/nb201.csv", 1);
        nasc_experiment *ex = NULL;
        CHECK_STATUS(nasc_experiment_open(&cfg, &ex, &err), NASC_OK);
        if (!ex) {
            fprintf(stderr, "%s\n", err.msg);
            continue;
        }
        CHECK_STATUS(nasc_experiment_run(ex, NULL, NULL, &err), NASC_OK);
        CHECK_MSG(spy.n_told == 120 && spy.n_test_seen == 0 && spy.n_wrong_score == 0,
                  "experiment %d: told %d, test seen %d, wrong scores %d", d, spy.n_told,
                  spy.n_test_seen, spy.n_wrong_score);
        /* ... while the database keeps the test accuracy and the simulated time */
        nasc_trial_record *t = NULL;
        int64_t n = 0;
        CHECK_STATUS(nasc_db_trials_load(nasc_experiment_db(ex), &t, &n, &err), NASC_OK);
        int with_test = 0;
        double sim = 0;
        for (int64_t i = 0; i < n; i++) {
            with_test += isfinite(t[i].test_score);
            sim += t[i].sim_seconds;
        }
        nasc_search_summary s;
        nasc_experiment_summary(ex, &s);
        CHECK_MSG(with_test == 120 && fabs(s.sim_seconds - sim) < 1e-6 * sim && s.has_sim_time,
                  "%d trials with a test score, simulated %g s (summary %g)", with_test, sim,
                  s.sim_seconds);
        CHECK(s.best_fidelity == 200 && s.best_test == t[s.best_trial].test_score);
        nasc_db_trials_free(t, n);
        nasc_experiment_free(ex);
    }
    nasc_evaluator_free(c10_valid);
    nasc_evaluator_free(c100_valid);
}

/* ---- user tables ---- */

static void expect_refused(const char *csv, const char *spec_cols, const char *low,
                           const char *cost, nasc_status want, const char *needle, int line) {
    char p[400], spec[600];
    snprintf(p, sizeof p, "%s/u.csv", dir);
    write_file(p, csv);
    snprintf(spec, sizeof spec, "table:%s:%s", p, spec_cols);
    nasc_evaluator *ev = NULL;
    nasc_err err = {0};
    const nasc_table_eval_config c = {.spec = spec, .low = low, .cost = cost};
    CHECK_STATUS(nasc_evaluator_table_new(nb201, &c, &ev, &err), want);
    CHECK_MSG(ev == NULL && strstr(err.msg, needle), "'%s' lacks '%s'", err.msg, needle);
    if (line)
        CHECK_MSG(err.line == line && strstr(err.msg, "u.csv"), "line %d, expected %d (%s)",
                  err.line, line, err.msg);
    nasc_evaluator_free(ev);
}

static void test_user_tables(void) {
    char p[400], spec[600], text[2048];
    snprintf(p, sizeof p, "%s/ok.csv", dir);
    snprintf(text, sizeof text,
             "arch,val,test,val_12,test_12,secs,lat_ms\n"
             "%s,90,93,80,85,1000,5\n"
             "%s,70,72,60,64,500,2\n",
             A1, A2);
    write_file(p, text);
    snprintf(spec, sizeof spec, "table:%s:val:test", p);
    nasc_evaluator *ev = NULL;
    nasc_err err = {0};
    const char *lat[] = {"lat"};
    nasc_table_eval_config c = {.spec = spec,
                                .low = "val_12:test_12",
                                .cost = "secs",
                                .low_epochs = 10,
                                .full_epochs = 100,
                                .columns = lat,
                                .n_columns = 1};
    CHECK_STATUS(nasc_evaluator_table_new(nb201, &c, &ev, &err), NASC_OK);
    if (ev) {
        nasc_trial_result r = eval_at(ev, A1, 0);
        CHECK(r.score == 90 && r.test_score == 93 && r.fidelity == 100 && r.sim_seconds == 1000 &&
              r.columns[0] == 5);
        r = eval_at(ev, A2, 10);
        CHECK(r.score == 60 && r.test_score == 64 && r.fidelity == 10 && r.sim_seconds == 50);
        r = eval_at(ev, A3, 0); /* not in the table: a failed trial that cost nothing */
        CHECK(r.status == NASC_TRIAL_FAILED && isnan(r.sim_seconds));
        CHECK_STR_CONTAINS(r.reason, "architecture not in the table");
        CHECK(nasc_table_column_index(nasc_evaluator_table(ev), "lat_ms") >= 0);
        nasc_evaluator_free(ev);
    }
    /* no report column, no fidelities: a plain table */
    snprintf(spec, sizeof spec, "table:%s:val", p);
    c = (nasc_table_eval_config){.spec = spec};
    CHECK_STATUS(nasc_evaluator_table_new(nb201, &c, &ev, &err), NASC_OK);
    if (ev) {
        nasc_trial_result r = eval_at(ev, A1, 12);
        CHECK(r.score == 90 && isnan(r.test_score) && isnan(r.sim_seconds) && !ev->has_test &&
              !ev->has_sim_time && ev->n_fidelities == 1);
        nasc_evaluator_free(ev);
    }
    /* refusals name the file, the line and the column */
    snprintf(text, sizeof text, "arch,val,test\n%s,90,93\n%s,70\n", A1, A2);
    expect_refused(text, "val:test", NULL, NULL, NASC_ERR_FORMAT,
                   "line 3: column 'test': missing (the row has 2 fields)", 3);
    snprintf(text, sizeof text, "arch,val,test\n%s,90,93\n%s,70,7O\n", A1, A2);
    expect_refused(text, "val:test", NULL, NULL, NASC_ERR_FORMAT,
                   "line 3: column 'test': not a number ('7O')", 3);
    snprintf(text, sizeof text, "arch,val,test\n%s,90,93\n|nor_conv_5x5~0|+|x|,70,72\n", A1);
    expect_refused(text, "val:test", NULL, NULL, NASC_ERR_FORMAT,
                   "line 3: column 'arch': not an architecture of space nb201", 3);
    snprintf(text, sizeof text, "arch,val,secs\n%s,90,1000\n%s,70,0\n", A1, A2);
    expect_refused(text, "val", NULL, "secs", NASC_ERR_FORMAT,
                   "line 3: column 'secs': a training time must be a number > 0 (got 0)", 3);
    snprintf(text, sizeof text, "arch,val,lat_ms,lat_s\n%s,90,1,2\n", A1);
    expect_refused(text, "lat", NULL, NULL, NASC_ERR_FORMAT, "column 'lat' is ambiguous", 1);
    expect_refused(text, "top1", NULL, NULL, NASC_ERR_FORMAT, "line 1: no column 'top1'", 1);
    expect_refused(text, "val", "val_12", NULL, NASC_ERR_FORMAT, "no column 'val_12'", 1);
    expect_refused(text, "val", "a:b:c", NULL, NASC_ERR_ARG,
                   "table-low 'a:b:c': expected COLUMN or COLUMN:REPORT_COLUMN", 0);
    expect_refused(text, "val:", NULL, NULL, NASC_ERR_ARG, "expected table:FILE.csv:SEARCH", 0);
}

/* ---- the exact expectation of random search ---- */

static void test_expected_best(void) {
    char p[400], text[2048];
    snprintf(p, sizeof p, "%s/e.csv", dir);
    /* search values 1, 2, 2, 4 (a tie), report values 10, 20, 30, 40 */
    snprintf(text, sizeof text, "arch,s,r\n%s,1,10\n%s,2,20\n%s,2,30\n%s,4,40\n", A1, A2, A3,
             "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|");
    write_file(p, text);
    nasc_table *t = NULL;
    nasc_err err = {0};
    const char *cols[] = {"s", "r"};
    CHECK_STATUS(nasc_table_load_columns(nb201, p, cols, 2, &t, &err), NASC_OK);
    if (!t)
        return;
    CHECK(nasc_table_n_columns(t) == 2 && !strcmp(nasc_table_column(t, 1), "r"));
    for (int n = 1; n <= 3; n++) {
        /* every sequence of n draws; the best is the first drawn of the highest search value */
        const double s[4] = {1, 2, 2, 4}, r[4] = {10, 20, 30, 40};
        double s1 = 0, s2 = 0, cnt = 0;
        int idx[3];
        int total = n == 1 ? 4 : n == 2 ? 16 : 64;
        for (int code = 0; code < total; code++) {
            int c = code, best = -1;
            for (int k = 0; k < n; k++) {
                idx[k] = c % 4;
                c /= 4;
                if (best < 0 || s[idx[k]] > s[best])
                    best = idx[k];
            }
            s1 += r[best];
            s2 += r[best] * r[best];
            cnt++;
        }
        double m, sd;
        nasc_table_expected_best(t, n, 0, 1, &m, &sd);
        CHECK_CLOSE(m, s1 / cnt, 1e-12, 1e-12);
        CHECK_CLOSE(sd, sqrt(s2 / cnt - (s1 / cnt) * (s1 / cnt)), 1e-9, 1e-9);
    }
    nasc_table_free(t);
}

/* ---- Hyperband on the two fidelities, and the time budget ---- */

typedef struct fid_trace {
    double fid[64];
    int n;
} fid_trace;

static void on_fid(int64_t k, const nasc_arch *a, const nasc_trial_result *r, void *user) {
    (void)a;
    fid_trace *t = user;
    if (k < 64)
        t->fid[k] = r->fidelity;
    t->n = (int)k + 1;
}

static void test_fidelities(void) {
    nasc_evaluator *ev = nb201_eval("nb201:cifar10", false);
    if (!ev)
        return;
    nasc_strategy_config sc = {
        .seed = 3, .max_fidelity = ev->max_fidelity, .n_fidelities = ev->n_fidelities};
    memcpy(sc.fidelities, ev->fidelities, sizeof sc.fidelities);
    nasc_err err = {0};
    /* eta = 200/12: 17 configurations at 12 epochs, the best one at 200 */
    nasc_strategy *st = NULL;
    CHECK_STATUS(nasc_strategy_new("sh", nb201, &sc, NULL, &st, &err), NASC_OK);
    fid_trace t = {0};
    nasc_run_summary rs;
    if (st)
        CHECK_STATUS(nasc_strategy_run(
                         st, ev, &(nasc_run_config){.budget = 36, .on_trial = on_fid, .user = &t},
                         &rs, &err),
                     NASC_OK);
    nasc_strategy_free(st);
    int bad = 0;
    for (int k = 0; k < 36; k++)
        bad += t.fid[k] != (k % 18 == 17 ? 200 : 12);
    CHECK_MSG(t.n == 36 && bad == 0, "sh on the table: %d trials, %d at the wrong fidelity", t.n,
              bad);
    /* hyperband: bracket s=1 (17 at 12, 1 at 200), then s=0 (2 at 200) */
    CHECK_STATUS(nasc_strategy_new("hyperband", nb201, &sc, NULL, &st, &err), NASC_OK);
    memset(&t, 0, sizeof t);
    if (st)
        CHECK_STATUS(nasc_strategy_run(
                         st, ev, &(nasc_run_config){.budget = 20, .on_trial = on_fid, .user = &t},
                         &rs, &err),
                     NASC_OK);
    nasc_strategy_free(st);
    bad = 0;
    for (int k = 0; k < 20; k++)
        bad += t.fid[k] != (k < 17 ? 12 : 200);
    CHECK_MSG(bad == 0, "hyperband on the table: %d at the wrong fidelity", bad);
    CHECK(rs.best_fidelity == 200); /* the best is a full-fidelity trial */
    /* the time budget: no trial starts once the simulated time reached it */
    CHECK_STATUS(nasc_strategy_new("random", nb201, &sc, NULL, &st, &err), NASC_OK);
    memset(&t, 0, sizeof t);
    const double budget = 20000;
    if (st)
        CHECK_STATUS(nasc_strategy_run(
                         st, ev,
                         &(nasc_run_config){
                             .budget = 1000, .time_budget = budget, .on_trial = on_fid, .user = &t},
                         &rs, &err),
                     NASC_OK);
    nasc_strategy_free(st);
    /* ~1800 s per query: about 11 queries, the last one ending past the budget */
    CHECK_MSG(rs.n >= 5 && rs.n <= 40 && rs.sim_seconds >= budget && rs.sim_seconds < budget + 3500,
              "time budget: %lld trials, %g s", (long long)rs.n, rs.sim_seconds);
    nasc_evaluator_free(ev);
}

int main(void) {
    snprintf(dir, sizeof dir, "%s/test_benchmark.XXXXXX", NASC_BINARY_DIR);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    nasc_err err = {0};
    if (nasc_space_new("nb201", NULL, &nb201, &err) != NASC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    test_nb201_table();
    test_oracle_unreachable();
    test_user_tables();
    test_expected_best();
    test_fidelities();
    nasc_space_free(nb201);
    if (!test_failures) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return test_done("test_benchmark");
}
