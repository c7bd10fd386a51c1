/* test_db.c — the trial database: create/open, the trial lifecycle, metrics round trip,
 * snapshots, and rejection (with the file left untouched) of foreign, damaged, empty and
 * other-version files. */
#include "test.h"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nasc/arena.h"
#include "nasc/db.h"

static char dir[256];

static void path_in(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", dir, name);
}

/* FNV-1a of a whole file (to prove it was not modified); 0 if unreadable. */
static unsigned long long file_sum(const char *path, long *out_size) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    unsigned long long h = 1469598103934665603ULL;
    long n = 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        h = (h ^ (unsigned char)c) * 1099511628211ULL;
        n++;
    }
    fclose(f);
    if (out_size)
        *out_size = n;
    return h;
}

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(p, 1, n, f);
    fclose(f);
}

static nasc_db *make_db(const char *name, char *path, size_t n) {
    path_in(path, n, name);
    unlink(path);
    nasc_kv cfg[] = {{"space", "nb201"}, {"strategy", "random"}, {"seed", "7"}};
    nasc_err err = {0};
    nasc_db *db = NULL;
    CHECK_STATUS(nasc_db_create(path, cfg, 3, &db, &err), NASC_OK);
    if (err.code)
        fprintf(stderr, "%s\n", err.msg);
    return db;
}

static void test_lifecycle(void) {
    char path[512];
    nasc_db *db = make_db("life.db", path, sizeof path);
    if (!db)
        return;
    nasc_err err = {0};
    /* no FILE.tmp left behind */
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(access(tmp, F_OK) != 0);
    CHECK_STATUS(nasc_db_create(path, NULL, 0, &(nasc_db *){NULL}, &err), NASC_ERR_IO);
    nasc_err_clear(&err);

    for (int i = 0; i < 3; i++) {
        char arch[32];
        snprintf(arch, sizeof arch, "arch-%d", i);
        nasc_trial_record t = {.id = i,
                               .arch = arch,
                               .hash = 0xabcdef0123456789ULL + (uint64_t)i,
                               .fidelity = i == 2 ? 3.0 : 0.0,
                               .seed = UINT64_MAX - (uint64_t)i};
        CHECK_STATUS(nasc_db_trial_insert(db, &t, &err), NASC_OK);
    }
    /* ids are dense: inserting id 5 next is refused */
    nasc_trial_record gap = {.id = 5, .arch = "x"};
    CHECK_STATUS(nasc_db_trial_insert(db, &gap, &err), NASC_ERR_DB);
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_db_trial_start(db, 0, 1, 1, &err), NASC_OK);
    CHECK_STATUS(nasc_db_trial_start(db, 1, 2, 2, &err), NASC_OK);
    CHECK_STATUS(nasc_db_trial_start(db, 9, 2, 2, &err), NASC_ERR_DB); /* no such trial */
    nasc_err_clear(&err);

    nasc_trial_result ok;
    nasc_trial_result_init(&ok);
    ok.status = NASC_TRIAL_OK;
    ok.score = 93.123456789012345;
    ok.fidelity = 2;
    ok.cost.params = 12345;
    ok.n_curve = 3;
    ok.curve[0] = 0.1f;
    ok.curve[1] = 51.25f;
    ok.curve[2] = 1.0f / 3.0f;
    ok.train_loss = 0.25;
    ok.stopped_early = true;
    snprintf(ok.reason, sizeof ok.reason, "stopped by the median rule");
    ok.seconds = 1.5;
    CHECK_STATUS(nasc_db_trial_finish(db, 0, &ok, &err), NASC_OK);
    nasc_trial_result bad;
    nasc_trial_result_init(&bad);
    nasc_trial_result_fail(&bad, "score is %s", "nan");
    CHECK_STATUS(nasc_db_trial_finish(db, 1, &bad, &err), NASC_OK);

    CHECK_STATUS(nasc_db_snapshot_put(db, 3, 2, "abc", 3, &err), NASC_OK);
    CHECK_STATUS(nasc_db_snapshot_put(db, 4, 3, "defg", 4, &err), NASC_OK); /* replaces */
    nasc_db_close(db);

    /* reopen and read everything back */
    CHECK_STATUS(nasc_db_open(path, &db, &err), NASC_OK);
    if (!db)
        return;
    nasc_kv *cfg = NULL;
    int n_cfg = 0;
    CHECK_STATUS(nasc_db_config_get(db, &cfg, &n_cfg, &err), NASC_OK);
    CHECK(n_cfg == 3);
    for (int i = 0; i < n_cfg; i++)
        if (!strcmp(cfg[i].key, "seed"))
            CHECK(!strcmp(cfg[i].value, "7"));
    nasc_free(cfg);
    nasc_trial_record *t = NULL;
    int64_t n = 0;
    CHECK_STATUS(nasc_db_trials_load(db, &t, &n, &err), NASC_OK);
    CHECK(n == 3);
    if (n == 3) {
        CHECK(t[0].status == NASC_TRIAL_OK && t[0].score == ok.score);
        CHECK(t[0].worker == 1 && t[0].attempts == 1);
        CHECK(t[0].hash == 0xabcdef0123456789ULL && t[0].seed == UINT64_MAX);
        CHECK(t[0].cost.params == 12345 && isnan(t[0].cost.flops));
        CHECK(!isnan(t[0].started_at) && !isnan(t[0].ended_at));
        CHECK(t[0].result != NULL);
        if (t[0].result) {
            const nasc_trial_result *r = t[0].result;
            CHECK(r->score == ok.score && r->n_curve == 3 && r->stopped_early);
            CHECK(r->curve[1] == 51.25f && r->curve[2] == 1.0f / 3.0f && r->train_loss == 0.25);
            CHECK(r->fidelity == 2 && r->seconds == 1.5);
            CHECK_STR_CONTAINS(r->reason, "median rule");
        }
        CHECK(t[1].status == NASC_TRIAL_FAILED && isnan(t[1].score));
        CHECK_STR_CONTAINS(t[1].reason, "score is nan");
        CHECK(t[1].result && t[1].result->status == NASC_TRIAL_FAILED);
        CHECK(t[2].status == NASC_TRIAL_PENDING && t[2].result == NULL && t[2].fidelity == 3.0);
        CHECK(t[2].worker == -1 && t[2].attempts == 0 && isnan(t[2].started_at));
        CHECK(!strcmp(t[2].arch, "arch-2"));
    }
    nasc_db_trials_free(t, n);
    int64_t a, tl;
    void *buf = NULL;
    size_t len = 0;
    CHECK_STATUS(nasc_db_snapshot_get(db, &a, &tl, &buf, &len, &err), NASC_OK);
    CHECK(a == 4 && tl == 3 && len == 4 && buf && !memcmp(buf, "defg", 4));
    nasc_free(buf);
    /* artifacts: put, replace, get, delete */
    CHECK_STATUS(nasc_db_artifact_put(db, "darts/checkpoint", "v1", 2, &err), NASC_OK);
    CHECK_STATUS(nasc_db_artifact_put(db, "darts/checkpoint", "version2", 8, &err), NASC_OK);
    CHECK_STATUS(nasc_db_artifact_put(db, "empty", NULL, 0, &err), NASC_OK);
    CHECK_STATUS(nasc_db_artifact_get(db, "darts/checkpoint", &buf, &len, &err), NASC_OK);
    CHECK(len == 8 && buf && !memcmp(buf, "version2", 8));
    nasc_free(buf);
    CHECK_STATUS(nasc_db_artifact_get(db, "empty", &buf, &len, &err), NASC_OK);
    CHECK(buf != NULL && len == 0);
    nasc_free(buf);
    CHECK_STATUS(nasc_db_artifact_delete(db, "darts/checkpoint", &err), NASC_OK);
    CHECK_STATUS(nasc_db_artifact_get(db, "darts/checkpoint", &buf, &len, &err), NASC_OK);
    CHECK(buf == NULL && len == 0);
    nasc_db_close(db);

    /* read-only open works and sees the same rows */
    CHECK_STATUS(nasc_db_open_readonly(path, &db, &err), NASC_OK);
    int64_t cnt = 0;
    CHECK_STATUS(nasc_db_trial_count(db, &cnt, &err), NASC_OK);
    CHECK(cnt == 3);
    nasc_db_close(db);
}

/* Every kind of file that is not one of our databases: FORMAT (or IO), a message naming the file,
 * and the file byte-for-byte unchanged. */
static void expect_rejected(const char *path, nasc_status want, const char *needle) {
    long size0 = -1, size1 = -1;
    unsigned long long sum0 = file_sum(path, &size0);
    nasc_err err = {0};
    nasc_db *db = NULL;
    nasc_status st = nasc_db_open(path, &db, &err);
    CHECK_STATUS(st, want);
    CHECK(db == NULL);
    CHECK_STR_CONTAINS(err.msg, path);
    if (needle)
        CHECK_STR_CONTAINS(err.msg, needle);
    nasc_db_close(db);
    unsigned long long sum1 = file_sum(path, &size1);
    CHECK_MSG(sum0 == sum1 && size0 == size1, "%s was modified by a rejected open", path);
    /* no WAL / shm side files appear next to a rejected file either */
    char side[600];
    snprintf(side, sizeof side, "%s-wal", path);
    CHECK(access(side, F_OK) != 0);
}

static void test_rejects(void) {
    char path[512];
    path_in(path, sizeof path, "missing.db");
    unlink(path);
    nasc_err err = {0};
    CHECK_STATUS(nasc_db_open(path, &(nasc_db *){NULL}, &err), NASC_ERR_IO);

    path_in(path, sizeof path, "empty.db");
    write_bytes(path, "", 0);
    expect_rejected(path, NASC_ERR_FORMAT, "empty file");

    path_in(path, sizeof path, "text.db");
    const char *txt = "space: nb201\nstrategy: random\n";
    write_bytes(path, txt, strlen(txt));
    expect_rejected(path, NASC_ERR_FORMAT, "not a nasc experiment database");

    /* a foreign SQLite database (another program's application_id) */
    path_in(path, sizeof path, "foreign.db");
    unlink(path);
    sqlite3 *h;
    sqlite3_open(path, &h);
    sqlite3_exec(h, "CREATE TABLE t(x); INSERT INTO t VALUES (1); PRAGMA application_id=1234", NULL,
                 NULL, NULL);
    sqlite3_close(h);
    expect_rejected(path, NASC_ERR_FORMAT, "application_id");

    /* a plain SQLite database (application_id 0) */
    path_in(path, sizeof path, "plain.db");
    unlink(path);
    sqlite3_open(path, &h);
    sqlite3_exec(h, "CREATE TABLE trials(x)", NULL, NULL, NULL);
    sqlite3_close(h);
    expect_rejected(path, NASC_ERR_FORMAT, "application_id");

    /* our application_id, another version */
    char good[512];
    nasc_db *db = make_db("version.db", good, sizeof good);
    nasc_db_close(db);
    sqlite3_open(good, &h);
    sqlite3_exec(h, "PRAGMA journal_mode=DELETE; PRAGMA user_version=99", NULL, NULL, NULL);
    sqlite3_close(h);
    expect_rejected(good, NASC_ERR_FORMAT, "version 99");

    /* our ids, but the schema is not ours */
    path_in(path, sizeof path, "schema.db");
    unlink(path);
    sqlite3_open(path, &h);
    sqlite3_exec(h,
                 "CREATE TABLE trials(x); PRAGMA application_id=1312904003; "
                 "PRAGMA user_version=1",
                 NULL, NULL, NULL);
    sqlite3_close(h);
    expect_rejected(path, NASC_ERR_FORMAT, "not a nasc experiment database");

    /* damaged: a real database truncated, and one with a page overwritten */
    db = make_db("trunc.db", good, sizeof good);
    for (int i = 0; i < 50; i++) {
        char arch[64];
        snprintf(arch, sizeof arch, "a-long-enough-architecture-text-%d", i);
        nasc_trial_record t = {.id = i, .arch = arch};
        nasc_db_trial_insert(db, &t, &err);
    }
    nasc_db_close(db);
    sqlite3_open(good, &h); /* fold the WAL into the file so that truncation hits data */
    sqlite3_exec(h, "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE", NULL, NULL,
                 NULL);
    sqlite3_close(h);
    long size = 0;
    file_sum(good, &size);
    CHECK(size > 4096);
    if (truncate(good, size / 2) != 0)
        CHECK(!"truncate failed");
    expect_rejected(good, NASC_ERR_FORMAT, NULL);

    db = make_db("flip.db", good, sizeof good);
    for (int i = 0; i < 50; i++) {
        char arch[64];
        snprintf(arch, sizeof arch, "a-long-enough-architecture-text-%d", i);
        nasc_trial_record t = {.id = i, .arch = arch};
        nasc_db_trial_insert(db, &t, &err);
    }
    nasc_db_close(db);
    sqlite3_open(good, &h);
    sqlite3_exec(h, "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode=DELETE", NULL, NULL,
                 NULL);
    sqlite3_close(h);
    FILE *f = fopen(good, "r+b");
    fseek(f, 4096 + 8, SEEK_SET); /* inside page 2: a b-tree page header */
    unsigned char junk[64];
    memset(junk, 0xA5, sizeof junk);
    fwrite(junk, 1, sizeof junk, f);
    fclose(f);
    expect_rejected(good, NASC_ERR_FORMAT, NULL);
}

/* A creation killed before the rename leaves FILE.tmp, never FILE; the next create cleans up. */
static void test_stale_tmp(void) {
    char path[512], tmp[600];
    path_in(path, sizeof path, "stale.db");
    unlink(path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    write_bytes(tmp, "garbage", 7);
    nasc_err err = {0};
    nasc_db *db = NULL;
    CHECK_STATUS(nasc_db_create(path, NULL, 0, &db, &err), NASC_OK);
    nasc_db_close(db);
    CHECK(access(tmp, F_OK) != 0);
    CHECK_STATUS(nasc_db_check(path, &err), NASC_OK);
}

/* change groups: kept together, discarded together, and a failed change inside a group
 * discards the group's earlier changes */
static void test_groups(void) {
    char path[512];
    nasc_db *db = make_db("group.db", path, sizeof path);
    if (!db)
        return;
    nasc_err err = {0};
    nasc_trial_record t0 = {.id = 0, .arch = "a0"}, t1 = {.id = 1, .arch = "a1"};
    int64_t n = -1;
    void *buf = NULL;
    size_t len = 0;
    int64_t na = 0, nt = 0;
    /* discarded */
    CHECK_STATUS(nasc_db_group_begin(db, &err), NASC_OK);
    CHECK_STATUS(nasc_db_group_begin(db, &err), NASC_ERR_ARG); /* no nesting */
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_db_trial_insert(db, &t0, &err), NASC_OK);
    CHECK_STATUS(nasc_db_snapshot_put(db, 1, 1, "s1", 2, &err), NASC_OK);
    CHECK_STATUS(nasc_db_group_end(db, false, &err), NASC_OK);
    CHECK_STATUS(nasc_db_trial_count(db, &n, &err), NASC_OK);
    CHECK(n == 0);
    CHECK_STATUS(nasc_db_snapshot_get(db, &na, &nt, &buf, &len, &err), NASC_OK);
    CHECK(buf == NULL);
    /* a failing change (trial 1 before trial 0) rolls back the insert before it */
    CHECK_STATUS(nasc_db_group_begin(db, &err), NASC_OK);
    CHECK_STATUS(nasc_db_snapshot_put(db, 1, 1, "s1", 2, &err), NASC_OK);
    CHECK_STATUS(nasc_db_trial_finish(db, 5, &(nasc_trial_result){.status = NASC_TRIAL_OK}, &err),
                 NASC_ERR_DB);
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_db_trial_insert(db, &t0, &err), NASC_ERR_DB); /* the group is gone */
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_db_group_end(db, true, &err), NASC_ERR_DB);
    CHECK(strstr(err.msg, "none was kept") != NULL);
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_db_snapshot_get(db, &na, &nt, &buf, &len, &err), NASC_OK);
    CHECK(buf == NULL);
    /* kept: visible to another connection only after group_end */
    CHECK_STATUS(nasc_db_group_begin(db, &err), NASC_OK);
    CHECK_STATUS(nasc_db_trial_insert(db, &t0, &err), NASC_OK);
    CHECK_STATUS(nasc_db_trial_insert(db, &t1, &err), NASC_OK);
    CHECK_STATUS(nasc_db_snapshot_put(db, 2, 2, "s2", 2, &err), NASC_OK);
    nasc_db *ro = NULL;
    CHECK_STATUS(nasc_db_open_readonly(path, &ro, &err), NASC_OK);
    if (ro) {
        CHECK_STATUS(nasc_db_trial_count(ro, &n, &err), NASC_OK);
        CHECK(n == 0);
    }
    CHECK_STATUS(nasc_db_group_end(db, true, &err), NASC_OK);
    CHECK_STATUS(nasc_db_group_end(db, true, &err), NASC_ERR_ARG); /* none open */
    nasc_err_clear(&err);
    if (ro) {
        CHECK_STATUS(nasc_db_trial_count(ro, &n, &err), NASC_OK);
        CHECK(n == 2);
        CHECK_STATUS(nasc_db_snapshot_get(ro, &na, &nt, &buf, &len, &err), NASC_OK);
        CHECK(buf && len == 2 && !memcmp(buf, "s2", 2) && na == 2 && nt == 2);
        nasc_free(buf);
        nasc_db_close(ro);
    }
    nasc_db_close(db);
}

static void test_metrics_json(void) {
    nasc_trial_result r, back;
    nasc_trial_result_init(&r);
    r.status = NASC_TRIAL_OK;
    r.score = 1.0 / 3.0;
    r.fidelity = 0.1;
    r.n_objectives = 2;
    r.objectives[0] = r.score;
    r.objectives[1] = 123456789.0;
    r.n_curve = 2;
    r.curve[0] = 0.3f;
    r.curve[1] = NAN;
    char *j = nasc_trial_metrics_json(&r);
    CHECK(j != NULL);
    nasc_trial_result_init(&back);
    nasc_err err = {0};
    CHECK_STATUS(nasc_trial_metrics_parse(j, &back, &err), NASC_OK);
    CHECK(back.fidelity == 0.1 && back.n_objectives == 2 && back.objectives[1] == 123456789.0);
    CHECK(back.n_curve == 2 && back.curve[0] == 0.3f && isnan(back.curve[1]));
    nasc_free(j);
    CHECK_STATUS(nasc_trial_metrics_parse("[1,2]", &back, &err), NASC_ERR_FORMAT);
}

int main(void) {
    snprintf(dir, sizeof dir, "%s/test_db.XXXXXX", NASC_BINARY_DIR);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_lifecycle();
    test_rejects();
    test_stale_tmp();
    test_groups();
    test_metrics_json();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (!test_failures && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return test_done("test_db");
}
