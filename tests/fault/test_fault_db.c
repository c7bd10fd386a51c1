/* test_fault_db.c — the trial database, tables, configuration files and a whole search under
 * allocation faults (in the manner of SQLite's faultsim): each scenario runs once with a counting
 * allocator to learn its number of allocations K, then for k = 1..K with the k-th allocation
 * failing, once alone and once with every later one failing too. Each run must fail cleanly
 * (a non-OK status with a message, or for a search a finished run whose trials record the
 * failures), never crash, free every block (counted here; LeakSanitizer in the ASan build), and
 * leave an existing database byte-identical and valid. (libyaml and SQLite allocate through
 * their own allocators, so only nasc's own allocations are failed here.) */
// ctest: timeout=600
#include "test.h"

#include <unistd.h>

#include "nasc/arena.h"
#include "nasc/experiment.h"

static char dir[256];
static nasc_space *nb201;

/* ---- the failing allocator ---- */

static long fa_count, fa_fail_at, fa_live, fa_refused;
static bool fa_persist;

static bool fa_fail(void) {
    fa_count++;
    bool f = fa_fail_at > 0 && (fa_count == fa_fail_at || (fa_persist && fa_count > fa_fail_at));
    fa_refused += f;
    return f;
}

static void *fa_malloc(size_t n, void *u) {
    (void)u;
    void *p = fa_fail() ? NULL : malloc(n);
    fa_live += p != NULL;
    return p;
}

static void *fa_realloc(void *p, size_t n, void *u) {
    (void)u;
    void *q = fa_fail() ? NULL : realloc(p, n);
    fa_live += !p && q;
    return q;
}

static void fa_free(void *p, void *u) {
    (void)u;
    fa_live -= p != NULL;
    free(p);
}

static const nasc_alloc_hooks fa_hooks = {fa_malloc, fa_realloc, fa_free, NULL};

/* ---- scenarios: return the status of the first failing step (NASC_OK if none failed) ---- */

static const char *A1 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|"
                        "nor_conv_3x3~1|skip_connect~2|";
static char existing_db[400], table_csv[400];
static int scenario_no;

static nasc_status sc_create(nasc_err *err) {
    char p[400];
    snprintf(p, sizeof p, "%s/create-%d.db", dir, scenario_no++);
    nasc_kv cfg[] = {{"space", "nb201"}, {"seed", "3"}};
    nasc_db *db = NULL;
    nasc_status st = nasc_db_create(p, cfg, 2, &db, err);
    for (int i = 0; st == NASC_OK && i < 3; i++) {
        nasc_trial_record t = {.id = i, .arch = A1, .fidelity = 0, .seed = 9};
        st = nasc_db_trial_insert(db, &t, err);
        if (st == NASC_OK)
            st = nasc_db_trial_start(db, i, 1, 1, err);
        nasc_trial_result r;
        nasc_trial_result_init(&r);
        r.status = NASC_TRIAL_OK;
        r.score = 50 + i;
        r.n_curve = 2;
        if (st == NASC_OK)
            st = nasc_db_trial_finish(db, i, &r, err);
    }
    nasc_trial_record *t = NULL;
    int64_t n = 0;
    if (st == NASC_OK)
        st = nasc_db_trials_load(db, &t, &n, err);
    nasc_db_trials_free(t, n);
    nasc_db_close(db);
    /* whatever happened, the file is absent or a valid experiment database */
    if (access(p, F_OK) == 0) {
        nasc_err e = {0};
        CHECK_MSG(nasc_db_check(p, &e) == NASC_OK, "%s left invalid: %s", p, e.msg);
    }
    return st;
}

static nasc_status sc_open(nasc_err *err) {
    nasc_db *db = NULL;
    nasc_status st = nasc_db_open(existing_db, &db, err);
    nasc_trial_record *t = NULL;
    int64_t n = 0;
    nasc_kv *kv = NULL;
    int n_kv = 0;
    void *snap = NULL;
    size_t len;
    int64_t a, b;
    if (st == NASC_OK)
        st = nasc_db_trials_load(db, &t, &n, err);
    if (st == NASC_OK)
        st = nasc_db_config_get(db, &kv, &n_kv, err);
    if (st == NASC_OK)
        st = nasc_db_snapshot_get(db, &a, &b, &snap, &len, err);
    nasc_free(snap);
    nasc_free(kv);
    nasc_db_trials_free(t, n);
    nasc_db_close(db);
    return st;
}

static nasc_status sc_table(nasc_err *err) {
    nasc_table *t = NULL;
    nasc_status st = nasc_table_load(nb201, table_csv, "acc", &t, err);
    nasc_table_free(t);
    return st;
}

/* A whole search (in-memory database, tabular evaluator, evolution with a snapshot). */
static nasc_status sc_search(nasc_err *err) {
    nasc_experiment_config c;
    nasc_config_default(&c);
    nasc_config_set(&c, "space", "nb201", NULL);
    nasc_config_set(&c, "strategy", "evolution", NULL);
    nasc_config_set(&c, "strategy-opt", "population=4,sample=2", NULL);
    char spec[500];
    snprintf(spec, sizeof spec, "table:%s:acc", table_csv);
    nasc_config_set(&c, "benchmark", spec, NULL);
    nasc_config_set(&c, "budget", "12", NULL);
    nasc_config_set(&c, "snapshot-every", "3", NULL);
    nasc_experiment *ex = NULL;
    nasc_status st = nasc_experiment_open(&c, &ex, err);
    if (st == NASC_OK)
        st = nasc_experiment_run(ex, NULL, NULL, err);
    if (st == NASC_OK) {
        nasc_search_summary s;
        nasc_experiment_summary(ex, &s);
        CHECK(s.trials == 12);
    }
    nasc_experiment_free(ex);
    return st;
}

typedef nasc_status (*scenario)(nasc_err *err);

static void run_faults(const char *name, scenario fn, bool check_existing) {
    long s0 = 0, s1 = 0;
    unsigned long long h0 = 0;
    FILE *f;
    if (check_existing && (f = fopen(existing_db, "rb"))) {
        unsigned long long h = 1469598103934665603ULL;
        int c;
        while ((c = fgetc(f)) != EOF) {
            h = (h ^ (unsigned char)c) * 1099511628211ULL;
            s0++;
        }
        fclose(f);
        h0 = h;
    }
    /* count */
    fa_count = fa_fail_at = fa_live = fa_refused = 0;
    nasc_alloc_set_hooks(&fa_hooks);
    nasc_err err = {0};
    nasc_status st = fn(&err);
    nasc_alloc_set_hooks(NULL);
    CHECK_MSG(st == NASC_OK, "%s: fails without faults: %s", name, err.msg);
    long K = fa_count;
    CHECK_MSG(fa_live == 0, "%s: %ld blocks leaked without faults", name, fa_live);
    int clean_fail = 0;
    for (int persist = 0; persist < 2; persist++)
        for (long k = 1; k <= K; k++) {
            fa_count = fa_live = fa_refused = 0;
            fa_fail_at = k;
            fa_persist = persist;
            nasc_err_clear(&err);
            nasc_alloc_set_hooks(&fa_hooks);
            st = fn(&err);
            nasc_alloc_set_hooks(NULL);
            CHECK_MSG(fa_live == 0, "%s: k=%ld%s: %ld blocks leaked (status %s)", name, k,
                      persist ? " persistent" : "", fa_live, nasc_status_str(st));
            if (st != NASC_OK) {
                clean_fail++;
                CHECK_MSG(err.msg[0] != '\0', "%s: k=%ld: status %s without a message", name, k,
                          nasc_status_str(st));
            }
        }
    fa_fail_at = 0;
    if (check_existing) {
        unsigned long long h = 1469598103934665603ULL;
        f = fopen(existing_db, "rb");
        int c;
        while (f && (c = fgetc(f)) != EOF) {
            h = (h ^ (unsigned char)c) * 1099511628211ULL;
            s1++;
        }
        if (f)
            fclose(f);
        CHECK_MSG(h == h0 && s0 == s1, "%s: %s was modified", name, existing_db);
        nasc_err e = {0};
        CHECK_STATUS(nasc_db_check(existing_db, &e), NASC_OK);
    }
    printf("%-8s %4ld allocations, %d failing runs reported an error\n", name, K, clean_fail);
    CHECK_MSG(clean_fail > 0, "%s: no injected fault was reported", name);
}

int main(void) {
    snprintf(dir, sizeof dir, "%s/test_fault_db.XXXXXX", NASC_BINARY_DIR);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    nasc_err err = {0};
    if (nasc_space_new("nb201", NULL, &nb201, &err) != NASC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    /* fixtures: a small table (the first 200 NB201 rows), a YAML file, an existing database */
    snprintf(table_csv, sizeof table_csv, "%s/small.csv", dir);
    FILE *in = fopen(NASC_SOURCE_DIR "/data/nb201.csv", "r"), *out = fopen(table_csv, "w");
    char line[512];
    fprintf(out, "arch,acc\n");
    for (int i = 0; i < 201 && fgets(line, sizeof line, in); i++) {
        char *c1 = strchr(line, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        if (i > 0 && c1 && c2)
            fprintf(out, "%.*s\n", (int)(c2 - line), line);
    }
    fclose(in);
    fclose(out);
    snprintf(existing_db, sizeof existing_db, "%s/existing.db", dir);
    CHECK(sc_create(&err) == NASC_OK); /* creates create-0.db: use it as the existing one */
    char first[400];
    snprintf(first, sizeof first, "%s/create-0.db", dir);
    CHECK(rename(first, existing_db) == 0);

    run_faults("create", sc_create, false);
    run_faults("open", sc_open, true);
    run_faults("table", sc_table, false);
    run_faults("search", sc_search, false);
    nasc_space_free(nb201);
    if (!test_failures) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
    }
    return test_done("test_fault_db");
}
