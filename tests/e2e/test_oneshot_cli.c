/* test_oneshot_cli.c — `nasc search --strategy darts` as a user runs it, killed with SIGKILL
 * and resumed (docs/ONESHOT.md):
 *   - an uninterrupted search logs every epoch (genotype and softmax(alpha)) and prints the
 *     found genotype (--json);
 *   - the same search killed by SIGKILL mid-epoch (a test hook dies right after a given global
 *     step; 120 training images, batch 16: 7 steps per epoch, checkpoint every 2 steps) at
 *     steps 5 and then 10, and once more by a timed SIGKILL, resumed with --db FILE --resume
 *     each time, ends with the same genotype;
 *   - its trial database holds exactly one trial per epoch (ids 0, 1; no loss, no duplicate),
 *     each with an architecture of the darts space and a finite score, and the strategy
 *     snapshot holds softmax(alpha) for both epochs, once each;
 *   - the same holds when the search is killed at each database transaction point (just before
 *     and just after every commit) and resumed: an epoch's trial and its alpha record are one
 *     transaction (a kill between them once left the snapshot without the epoch);
 *   - `nasc train --space darts --arch GENOTYPE` retrains the found cell;
 *   - --max-memory below the prediction exits non-zero saying what would fit. */
// ctest: labels=slow
/* slow: about twenty CLI runs, each loading Fashion-MNIST; the same resume logic runs under the
 * sanitizers in test_oneshot_search.c */
#include "test.h"

#include "search_cli.h"

#include "nasc/space.h"

static const char *cli;
static char dir[64];

/* json_field keeps a string's quotes: drop them */
static void unquote(char *s) {
    const size_t n = strlen(s);
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        memmove(s, s + 1, n - 2);
        s[n - 2] = '\0';
    }
}

/* The small search on database db (fresh, or --resume), killed by SIGKILL right after global
 * training step kill_step (> 0), at database transaction point kill_at (>= 0) or after
 * kill_after seconds (> 0). */
static int search(const char *db, bool resume, long kill_step, long kill_at, double kill_after,
                  const char *out, const char *err_file) {
    char dbp[128];
    snprintf(dbp, sizeof dbp, "%s/%s", dir, db);
    if (kill_step > 0) {
        char v[32];
        snprintf(v, sizeof v, "%ld", kill_step);
        setenv("NASC_TEST_ONESHOT_KILL_STEP", v, 1);
    } else {
        unsetenv("NASC_TEST_ONESHOT_KILL_STEP");
    }
    const char *fresh[] = {"search", "--space", "darts", "--strategy", "darts", "--data",
                           "fashion-mnist", "--data-fraction", "0.004", "--epochs", "2",
                           "--batch", "16", "--channels", "4", "--cells", "3", "--threads", "1",
                           "--strategy-opt", "checkpoint-every=2", "--db", dbp, "--json", NULL};
    const char *again[] = {"search", "--db", dbp, "--resume", "--threads", "1", "--json", NULL};
    const int rc = search_run(cli, resume ? again : fresh, kill_at, kill_after, out, err_file);
    unsetenv("NASC_TEST_ONESHOT_KILL_STEP");
    return rc;
}

/* occurrences of needle in s */
static int count(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* the trial database after a 2-epoch search: one trial per epoch with a darts architecture, the
 * last one `want`, and a snapshot holding each epoch's alpha once */
static void check_db(const char *dbp, const char *want, const char *label) {
    nasc_trial_record *t = NULL;
    int64_t n = 0;
    CHECK(search_load(dbp, &t, &n));
    CHECK_MSG(n == 2, "%s: %lld trials in the database, expected 2", label, (long long)n);
    nasc_space *sp = NULL;
    nasc_err err = {0};
    nasc_space_new("darts", NULL, &sp, &err);
    for (int64_t i = 0; t && i < n; i++) {
        nasc_arch *a = NULL;
        CHECK_MSG(t[i].id == i && t[i].status == NASC_TRIAL_OK && isfinite(t[i].score) &&
                      t[i].fidelity == (double)(i + 1),
                  "%s: trial %lld: id %lld status %d score %g fidelity %g", label, (long long)i,
                  (long long)t[i].id, (int)t[i].status, t[i].score, t[i].fidelity);
        CHECK_MSG(nasc_arch_parse(sp, t[i].arch, &a, &err) == NASC_OK, "%s: trial %lld: %s",
                  label, (long long)i, err.msg);
        nasc_arch_free(a);
    }
    if (t && n == 2)
        CHECK_MSG(!strcmp(t[1].arch, want), "%s: last trial's genotype is not the result", label);
    nasc_db_trials_free(t, n);
    nasc_db *db = NULL;
    if (nasc_db_open_readonly(dbp, &db, &err) == NASC_OK) {
        void *buf = NULL;
        size_t len = 0;
        int64_t na, nt;
        CHECK_STATUS(nasc_db_snapshot_get(db, &na, &nt, &buf, &len, &err), NASC_OK);
        char *snap = buf ? strndup(buf, len) : NULL;
        CHECK_MSG(snap && count(snap, "{\"epoch\":0,") == 1 && count(snap, "{\"epoch\":1,") == 1 &&
                      count(snap, "\"epoch\":") == 2 &&
                      count(snap, "\"alpha\":{\"normal\":[[") == 2,
                  "%s: the snapshot does not hold each epoch's alpha once: %s", label,
                  snap ? snap : "(none)");
        free(snap);
        nasc_free(buf);
        nasc_db_close(db);
    } else {
        CHECK_MSG(0, "%s: %s", label, err.msg);
    }
    nasc_space_free(sp);
}

int main(void) {
    cli = search_cli();
    snprintf(dir, sizeof dir, "/tmp/nasc_oscli_XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    char out[128], errf[128];
    snprintf(out, sizeof out, "%s/out.json", dir);
    snprintf(errf, sizeof errf, "%s/err.txt", dir);

    /* uninterrupted */
    int rc = search("a.db", false, 0, -1, 0, out, errf);
    CHECK_MSG(rc == 0, "uninterrupted search exited %d", rc);
    char *js = search_slurp(out), *log = search_slurp(errf);
    char want[2048] = "";
    if (js)
        json_field(js, "best_arch", want, sizeof want);
    unquote(want);
    CHECK_MSG(strstr(want, "Genotype(normal=") != NULL, "no genotype in %s", js ? js : "(none)");
    CHECK_MSG(log && strstr(log, "epoch 1/2") && strstr(log, "epoch 2/2") &&
                  strstr(log, "genotype: Genotype(") && strstr(log, "alpha: {\"normal\": [["),
              "the log lacks the per-epoch genotype / alpha lines");
    free(js);
    free(log);

    /* killed at global steps 5 (epoch 0) and 10 (epoch 1), resumed, then a timed kill */
    rc = search("b.db", false, 5, -1, 0, out, errf);
    CHECK_MSG(rc == 128 + SIGKILL, "first kill: exit %d", rc);
    rc = search("b.db", true, 10, -1, 0, out, errf);
    CHECK_MSG(rc == 128 + SIGKILL, "second kill: exit %d", rc);
    rc = search("b.db", true, 0, -1, 1.5, out, errf); /* may finish first: both are fine */
    CHECK_MSG(rc == 0 || rc == 128 + SIGKILL, "timed kill: exit %d", rc);
    rc = search("b.db", true, 0, -1, 0, out, errf);
    CHECK_MSG(rc == 0, "final resume exited %d", rc);
    js = search_slurp(out);
    char got[2048] = "";
    if (js)
        json_field(js, "best_arch", got, sizeof got);
    unquote(got);
    CHECK_MSG(!strcmp(got, want), "resumed search found\n  %s\nuninterrupted\n  %s", got, want);
    free(js);

    /* the trial database: one trial per epoch */
    char dbp[128];
    snprintf(dbp, sizeof dbp, "%s/b.db", dir);
    check_db(dbp, want, "timed kills");

    /* SIGKILL at every transaction point of a run (just before and just after each commit),
     * resumed: every epoch's trial and alpha record is there once; none is lost between them.
     * Points 0 and 1 are the database's creation, before any epoch. */
    for (long k = 2; k < 40; k++) {
        char label[32], name[32];
        snprintf(label, sizeof label, "kill point %ld", k);
        snprintf(name, sizeof name, "k%ld.db", k);
        rc = search(name, false, 0, k, 0, out, errf);
        if (rc == 0)
            break; /* past the last commit */
        CHECK_MSG(rc == 128 + SIGKILL, "%s: exit %d", label, rc);
        rc = search(name, true, 0, -1, 0, out, errf);
        CHECK_MSG(rc == 0, "%s: resume exited %d", label, rc);
        snprintf(dbp, sizeof dbp, "%s/%s", dir, name);
        check_db(dbp, want, label);
    }

    /* retraining the found cell */
    const char *train[] = {"train", "--space", "darts", "--arch", want, "--data", "fashion-mnist",
                           "--data-fraction", "0.004", "--epochs", "1", "--batch", "16",
                           "--channels", "4", "--cells", "3", "--threads", "1", "--json", NULL};
    rc = search_run(cli, train, -1, 0, out, errf);
    js = search_slurp(out);
    CHECK_MSG(rc == 0 && js && strstr(js, "\"test_accuracy\""), "nasc train exited %d: %s", rc,
              js ? js : "");
    free(js);

    /* --max-memory below the prediction */
    char dbm[128];
    snprintf(dbm, sizeof dbm, "%s/m.db", dir);
    const char *tight[] = {"search", "--space", "darts", "--strategy", "darts", "--data",
                           "fashion-mnist", "--data-fraction", "0.004", "--max-memory", "20M",
                           "--db", dbm, NULL};
    rc = search_run(cli, tight, -1, 0, out, errf);
    log = search_slurp(errf);
    CHECK_MSG(rc != 0 && log && strstr(log, "over --max-memory") && strstr(log, "what would fit"),
              "max-memory: exit %d, %s", rc, log ? log : "");
    free(log);

    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return test_done("oneshot_cli");
}
