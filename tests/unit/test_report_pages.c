/* test_report_pages.c — the report writer (report.h) on databases built here, so that every
 * section runs under the sanitizers in a second (the e2e tests make the same pages from real
 * searches, and render them in Chromium):
 *   - a training-like experiment with two objectives and a constraint, per-epoch curves, a trial
 *     stopped early and failed trials whose reason needs escaping;
 *   - a one-shot experiment (darts) whose history holds softmax(alpha) for two epochs;
 *   - an experiment without trials, and one interrupted (a trial left running);
 * and the metrics JSON keeps the per-epoch training values (and old records without them load). */
#include "test.h"

#include <unistd.h>

#include "nasc/arena.h"
#include "nasc/db.h"
#include "nasc/report.h"

static char dir[256];

/* The page of db as a malloc'd string. */
static char *page(const char *db_path, nasc_report_info *info) {
    nasc_db *db = NULL;
    nasc_err err = {0};
    CHECK_STATUS(nasc_db_open_readonly(db_path, &db, &err), NASC_OK);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK_STATUS(nasc_report_write(db, db_path, NULL, f, info, &err), NASC_OK);
    fclose(f);
    nasc_db_close(db);
    return buf;
}

static void has(const char *h, const char *needle, const char *label) {
    CHECK_MSG(strstr(h, needle) != NULL, "%s: the page lacks \"%s\"", label, needle);
}

static void add_trial(nasc_db *db, int64_t id, const nasc_trial_result *r, bool finish) {
    nasc_err err = {0};
    char arch[64];
    snprintf(arch, sizeof arch, "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|x~%lld|", (long long)id);
    nasc_trial_record t = {.id = id, .arch = arch, .hash = (uint64_t)id, .fidelity = 0, .seed = 1};
    nasc_cost_unknown(&t.cost);
    CHECK_STATUS(nasc_db_trial_insert(db, &t, &err), NASC_OK);
    CHECK_STATUS(nasc_db_trial_start(db, id, 1, 1, &err), NASC_OK);
    if (finish)
        CHECK_STATUS(nasc_db_trial_finish(db, id, r, &err), NASC_OK);
}

static void test_training(void) {
    char p[400];
    snprintf(p, sizeof p, "%s/train.db", dir);
    nasc_kv cfg[] = {{"space", "nb201"},
                     {"strategy", "hyperband"},
                     {"data", "fashion-mnist"},
                     {"epochs", "3"},
                     {"budget", "6"},
                     {"objective", "acc,params"},
                     {"constraint", "params<=5k"},
                     {"seed", "1"}};
    nasc_db *db = NULL;
    nasc_err err = {0};
    CHECK_STATUS(nasc_db_create(p, cfg, (int)(sizeof cfg / sizeof cfg[0]), &db, &err), NASC_OK);
    for (int i = 0; i < 6; i++) {
        nasc_trial_result r;
        nasc_trial_result_init(&r);
        if (i == 2 || i == 4) {
            nasc_trial_result_fail(&r, "constraint params<=5000 violated (<%d> & \"x\")", i);
        } else {
            r.status = NASC_TRIAL_OK;
            r.fidelity = i < 3 ? 1 : 3;
            r.n_curve = r.n_train_curve = (int)r.fidelity;
            for (int e = 0; e < r.n_curve; e++) {
                r.curve[e] = 50.0f + 10.0f * (float)e + (float)i;
                r.train_loss_curve[e] = 2.0f / (float)(e + 1);
                r.train_acc_curve[e] = 40.0f + 12.0f * (float)e;
            }
            r.stopped_early = i == 5;
            r.score = r.curve[r.n_curve - 1];
            r.cost.params = 1000.0 * (i + 1);
            r.cost.flops = 1e5 * (i + 1);
            r.n_objectives = 2;
            r.objectives[0] = r.score;
            r.objectives[1] = r.cost.params;
        }
        add_trial(db, i, &r, true);
    }
    nasc_db_close(db);
    /* the per-epoch values round-trip through the metrics JSON */
    nasc_trial_record *t = NULL;
    int64_t n = 0;
    CHECK_STATUS(nasc_db_open_readonly(p, &db, &err), NASC_OK);
    CHECK_STATUS(nasc_db_trials_load(db, &t, &n, &err), NASC_OK);
    nasc_db_close(db);
    CHECK(n == 6 && t[3].result && t[3].result->n_train_curve == 3);
    if (n == 6 && t[3].result) {
        CHECK_CLOSE(t[3].result->train_loss_curve[2], 2.0 / 3.0, 1e-6, 0);
        CHECK_CLOSE(t[3].result->train_acc_curve[1], 52.0, 1e-6, 0);
    }
    nasc_db_trials_free(t, n);
    nasc_trial_result old;
    nasc_trial_result_init(&old);
    CHECK_STATUS(nasc_trial_metrics_parse("{\"score\":1,\"curve\":[1,2]}", &old, &err), NASC_OK);
    CHECK(old.n_curve == 2 && old.n_train_curve == 0);

    nasc_report_info info;
    char *h = page(p, &info);
    CHECK(info.n_trials == 6 && info.n_ok == 4 && info.n_failed == 2);
    CHECK_MSG(info.n_plots == 2 + 2 + 3, "training: %d plots", info.n_plots);
    static const char *const ids[] = {"history-trial", "history-time",     "failures",
                                      "pareto-0-1",    "parallel",         "top-trials",
                                      "curve-val-acc", "curve-train-loss", "curve-train-acc"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char pat[64];
        snprintf(pat, sizeof pat, "id=\"%s\"", ids[i]);
        has(h, pat, "training");
    }
    has(h, "(&lt;2&gt; &amp; &quot;x&quot;)", "training"); /* escaped */
    has(h, "curve stopped", "training");                   /* the early stop in its own colour */
    has(h, "fidelity 3", "training");
    has(h, "class=\"rule\"", "training");
    has(h, "state-finished", "training");
    has(h, "no drawing: ", "training"); /* an architecture the space rejects: the reason */
    CHECK(strstr(h, "<2>") == NULL);
    free(h);
}

static void test_oneshot(void) {
    char p[400];
    snprintf(p, sizeof p, "%s/os.db", dir);
    nasc_kv cfg[] = {{"space", "darts"}, {"strategy", "darts"}, {"data", "fashion-mnist"},
                     {"epochs", "2"},    {"budget", "2"},       {"seed", "1"}};
    nasc_db *db = NULL;
    nasc_err err = {0};
    CHECK_STATUS(nasc_db_create(p, cfg, (int)(sizeof cfg / sizeof cfg[0]), &db, &err), NASC_OK);
    /* history: 2 epochs, 14 edges x 8 ops per cell type */
    char *js = nasc_malloc(64 * 1024);
    size_t k = 0;
    k += (size_t)snprintf(js + k, 64 * 1024 - k, "{\"method\":\"darts\",\"epochs\":[");
    for (int e = 0; e < 2; e++) {
        k +=
            (size_t)snprintf(js + k, 64 * 1024 - k,
                             "%s{\"epoch\":%d,\"arch\":\"Genotype(normal=[('sep_conv_3x3', %d)])\","
                             "\"alpha\":{",
                             e ? "," : "", e, e);
        for (int t = 0; t < 2; t++) {
            k += (size_t)snprintf(js + k, 64 * 1024 - k, "%s\"%s\":[", t ? "," : "",
                                  t ? "reduce" : "normal");
            for (int i = 0; i < 14; i++) {
                k += (size_t)snprintf(js + k, 64 * 1024 - k, "%s[", i ? "," : "");
                for (int o = 0; o < 8; o++)
                    k += (size_t)snprintf(js + k, 64 * 1024 - k, "%s%.4f", o ? "," : "",
                                          o == (i + e) % 8 ? 0.3 : 0.1);
                k += (size_t)snprintf(js + k, 64 * 1024 - k, "]");
            }
            k += (size_t)snprintf(js + k, 64 * 1024 - k, "]");
        }
        k += (size_t)snprintf(js + k, 64 * 1024 - k,
                              "},\"train_loss\":1.5,\"train_acc\":%d,\"val_loss\":1.6,"
                              "\"val_acc\":%d,\"param_free_share\":0.%d,\"skips_normal\":%d}",
                              40 + e, 35 + e, 3 + e, e);
    }
    k += (size_t)snprintf(js + k, 64 * 1024 - k, "]}");
    for (int e = 0; e < 2; e++) {
        nasc_trial_result r;
        nasc_trial_result_init(&r);
        r.status = NASC_TRIAL_OK;
        r.score = 35 + e;
        r.fidelity = e + 1;
        add_trial(db, e, &r, true);
    }
    CHECK_STATUS(nasc_db_snapshot_put(db, 2, 2, js, strlen(js), &err), NASC_OK);
    nasc_free(js);
    nasc_db_close(db);
    nasc_report_info info;
    char *h = page(p, &info);
    static const char *const ids[] = {"oneshot",
                                      "alpha-normal",
                                      "alpha-reduce",
                                      "alpha-multiples-normal",
                                      "alpha-multiples-reduce",
                                      "oneshot-accuracy",
                                      "oneshot-param-free",
                                      "genotypes"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char pat[64];
        snprintf(pat, sizeof pat, "id=\"%s\"", ids[i]);
        has(h, pat, "oneshot");
    }
    has(h, "sep_conv_5x5", "oneshot"); /* op names of the darts supernet */
    has(h, "<b>Genotype", "oneshot");  /* the genotype changed at epoch 2 */
    has(h, "supernet validation accuracy (%)", "oneshot");
    free(h);
}

static void test_states(void) {
    char p[400];
    snprintf(p, sizeof p, "%s/st.db", dir);
    nasc_kv cfg[] = {{"space", "nb201"},
                     {"strategy", "random"},
                     {"benchmark", "nb201:cifar10"},
                     {"budget", "4"}};
    nasc_db *db = NULL;
    nasc_err err = {0};
    CHECK_STATUS(nasc_db_create(p, cfg, 4, &db, &err), NASC_OK);
    nasc_db_close(db);
    nasc_report_info info;
    char *h = page(p, &info);
    CHECK(info.state == NASC_REPORT_EMPTY && info.n_plots == 0);
    has(h, "id=\"no-trials\"", "empty");
    free(h);
    CHECK_STATUS(nasc_db_open(p, &db, &err), NASC_OK);
    nasc_trial_result r;
    nasc_trial_result_init(&r);
    r.status = NASC_TRIAL_OK;
    r.score = 90;
    add_trial(db, 0, &r, true);
    add_trial(db, 1, &r, false); /* left running */
    /* while this process holds the writer lock, the report says running */
    h = page(p, &info);
    CHECK_MSG(info.state == NASC_REPORT_RUNNING, "state %s while the writer is open",
              nasc_report_state_str(info.state));
    free(h);
    nasc_db_close(db);
    h = page(p, &info);
    CHECK(info.state == NASC_REPORT_INTERRUPTED);
    has(h, "--resume", "interrupted");
    has(h, "1 pending or running", "interrupted");
    free(h);
    /* nasc_report_write_file: whole file or nothing */
    char out[420];
    snprintf(out, sizeof out, "%s/r.html", dir);
    CHECK_STATUS(nasc_report_write_file(p, out, NULL, &info, &err), NASC_OK);
    CHECK(access(out, R_OK) == 0);
    snprintf(out, sizeof out, "%s/none/r.html", dir);
    nasc_err e2 = {0};
    CHECK_STATUS(nasc_report_write_file(p, out, NULL, &info, &e2), NASC_ERR_IO);
    CHECK(strstr(e2.msg, "none/r.html") != NULL);
}

int main(void) {
    snprintf(dir, sizeof dir, "%s/test_report_pages.XXXXXX", NASC_BINARY_DIR);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_training();
    test_oneshot();
    test_states();
    printf("%d checks, %d failed\n", test_checks, test_failures);
    return test_failures ? 1 : 0;
}
