/* test_db_safety.c — how `nasc search` and `nasc trials` treat the experiment database around
 * refusals, races and read-only places (issue 22, defects 2, 3, 6 and 7):
 *   - a refused search (budget below the recorded trials, an unknown space or a bad architecture
 *     in the database) changes nothing: the file stays byte-identical, no -wal appears, and the
 *     search continues afterwards;
 *   - two searches creating the same new database at once: one runs, the other exits 1 saying
 *     another search runs (or continues the finished one); never an I/O error, never both
 *     failing, and the database ends with the trials of an uninterrupted run;
 *   - `nasc trials` leaves no -wal / -shm beside a closed database, reads a database while a
 *     search writes it (the search is neither blocked nor changed), and works on a read-only
 *     mount (a user namespace: skipped where unavailable), for a closed database and for one a
 *     killed search left with its -wal and -shm;
 *   - a hot rollback journal (what an older nasc left when killed while switching a new
 *     database to WAL): `nasc trials` says how to recover, `nasc search --resume` rolls it back
 *     and continues. */
#include "test.h"

#include <sqlite3.h>
#include <sys/wait.h>

#include "e2e/search_cli.h"
#include "experiment/experiment_int.h"

static char dir[256];
static const char *cli;
static char out[400], errf[400];

#define NB "--space nb201 --benchmark nb201:cifar10 --strategy evolution --seed 2 --quiet"

static int nasc(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int nasc(const char *fmt, ...) {
    char buf[3000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return search_runf(cli, out, errf, "%s", buf);
}

static bool err_has(const char *needle) {
    char *e = search_slurp(errf);
    const bool r = strstr(e, needle) != NULL;
    if (!r)
        fprintf(stderr, "stderr: %s", e);
    free(e);
    return r;
}

static void path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", dir, name);
}

static bool side_exists(const char *db, const char *suffix) {
    char p[500];
    snprintf(p, sizeof p, "%s%s", db, suffix);
    return search_exists(p);
}

static void sql(const char *db, const char *stmt) {
    sqlite3 *h = NULL;
    CHECK(sqlite3_open(db, &h) == SQLITE_OK);
    CHECK_MSG(sqlite3_exec(h, stmt, NULL, NULL, NULL) == SQLITE_OK, "%s: %s", stmt,
              sqlite3_errmsg(h));
    sqlite3_close(h);
}

/* ---- defect 3: a refusal changes nothing ---- */

static void expect_refusal_untouched(const char *db, int want_rc, const char *needle,
                                     const char *args) {
    long s0, s1;
    const unsigned long long h0 = search_file_sum(db, &s0);
    const int rc = nasc("search --db %s %s", db, args);
    CHECK_MSG(rc == want_rc && err_has(needle), "search --db %s %s: exit %d, expected %d and '%s'",
              db, args, rc, want_rc, needle);
    const unsigned long long h1 = search_file_sum(db, &s1);
    CHECK_MSG(h0 == h1 && s0 == s1, "search --db %s %s changed the database", db, args);
    CHECK_MSG(!side_exists(db, "-wal"), "search --db %s %s left %s-wal", db, args, db);
}

static void test_refusals(void) {
    char db[400];
    path(db, sizeof db, "refuse.db");
    CHECK(nasc("search " NB " --budget 30 --db %s", db) == 0);
    expect_refusal_untouched(db, 2, "budget: 10 is less than the 30 trials",
                             "--resume --budget 10");
    /* the refusal stored nothing: a plain resume continues, and may extend */
    CHECK_MSG(nasc("search --db %s --resume --quiet", db) == 0, "resume after a refusal failed");
    CHECK(nasc("search --db %s --resume --budget 32 --quiet", db) == 0);
    expect_refusal_untouched(db, 2, "budget: 31 is less than the 32 trials",
                             "--resume --budget 31");

    /* an unknown space stored in the configuration */
    char db2[400];
    path(db2, sizeof db2, "refuse-space.db");
    CHECK(nasc("search " NB " --budget 5 --db %s", db2) == 0);
    sql(db2, "UPDATE config SET value = 'nospace' WHERE key = 'space'; "
             "PRAGMA wal_checkpoint(TRUNCATE)");
    expect_refusal_untouched(db2, 2, "nospace", "--resume --budget 8");

    /* a recorded architecture that does not parse */
    char db3[400];
    path(db3, sizeof db3, "refuse-arch.db");
    CHECK(nasc("search " NB " --budget 5 --db %s", db3) == 0);
    sql(db3, "UPDATE trials SET arch = '|bogus~0|' WHERE id = 2; PRAGMA wal_checkpoint(TRUNCATE)");
    expect_refusal_untouched(db3, 2, "trial 2", "--resume --budget 8");
}

/* ---- defect 6: two creators at once ---- */

static pid_t spawn(const char *const *args, const char *err_path) {
    fflush(NULL);
    const pid_t pid = fork();
    if (pid == 0) {
        int o = open("/dev/null", O_WRONLY);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0)
            _exit(126);
        dup2(o, 1);
        dup2(e, 2);
        const char *argv[32];
        int n = 0;
        argv[n++] = cli;
        for (int i = 0; args[i] && n < 31; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        execv(cli, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static int wait_rc(pid_t pid) {
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_race(void) {
    char ref[400], db[400], e1[400], e2[400];
    path(ref, sizeof ref, "race-ref.db");
    path(e1, sizeof e1, "race1.err");
    path(e2, sizeof e2, "race2.err");
    CHECK(nasc("search " NB " --budget 20 --db %s", ref) == 0);
    int both_ran = 0, one_refused = 0;
    for (int r = 0; r < 30; r++) {
        snprintf(db, sizeof db, "%s/race-%d.db", dir, r);
        const char *args[] = {
            "search",    "--space", "nb201", "--benchmark", "nb201:cifar10", "--strategy",
            "evolution", "--seed",  "2",     "--quiet",     "--budget",      "20",
            "--db",      db,        NULL};
        const pid_t a = spawn(args, e1), b = spawn(args, e2);
        const int ra = wait_rc(a), rb = wait_rc(b);
        char *ta = search_slurp(e1), *tb = search_slurp(e2);
        const char *busy = "another nasc search is running on this experiment";
        const bool ok_a = ra == 0 || (ra == 1 && strstr(ta, busy));
        const bool ok_b = rb == 0 || (rb == 1 && strstr(tb, busy));
        CHECK_MSG(ok_a && ok_b && (ra == 0 || rb == 0), "race %d: exits %d and %d:\n  %s  %s", r,
                  ra, rb, ta, tb);
        both_ran += ra == 0 && rb == 0;
        one_refused += ra == 1 || rb == 1;
        free(ta);
        free(tb);
        if (!same_trials(ref, db, 20, "race"))
            break;
        char tmp[420];
        snprintf(tmp, sizeof tmp, "%s.tmp", db);
        CHECK_MSG(!search_exists(tmp), "race %d: %s left behind", r, tmp);
    }
    if (test_failures == 0)
        printf("30 creation races: %d with one search refused, %d where the second continued the "
               "first's finished experiment\n",
               one_refused, both_ran);
}

/* ---- defect 7: readers ---- */

/* Runs `unshare -rm sh -c 'mount --bind -o ro D D && nasc trials --db DB'`: 77 if user
 * namespaces are unavailable, else the exit code of nasc trials. */
static int trials_on_readonly_mount(const char *mount_dir, const char *db) {
    char cmd[3000];
    snprintf(cmd, sizeof cmd,
             "unshare -rm sh -c 'mount --bind -o ro %s %s || exit 77; touch %s/x 2>/dev/null "
             "&& exit 78; exec %s trials --db %s --format csv' >%s 2>%s",
             mount_dir, mount_dir, mount_dir, cli, db, out, errf);
    const int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_readers(void) {
    char db[400];
    path(db, sizeof db, "read.db");
    CHECK(nasc("search " NB " --budget 12 --db %s", db) == 0);
    CHECK(!side_exists(db, "-wal") && !side_exists(db, "-shm"));
    long s0, s1;
    const unsigned long long h0 = search_file_sum(db, &s0);
    CHECK(nasc("trials --db %s --format csv", db) == 0);
    char *o = search_slurp(out);
    CHECK_MSG(strstr(o, "\n11,") != NULL, "nasc trials does not list trial 11: %s", o);
    free(o);
    CHECK_MSG(search_file_sum(db, &s1) == h0 && s0 == s1, "nasc trials changed the database");
    CHECK_MSG(!side_exists(db, "-wal") && !side_exists(db, "-shm"),
              "nasc trials left -wal / -shm beside a closed database");

    /* while a search writes: every read succeeds, the search is unaffected */
    char ref[400], live[400], e[400];
    path(ref, sizeof ref, "live-ref.db");
    path(live, sizeof live, "live.db");
    path(e, sizeof e, "live.err");
    CHECK(nasc("search " NB " --budget 300 --db %s", ref) == 0);
    const char *args[] = {"search",     "--space",   "nb201",  "--benchmark", "nb201:cifar10",
                          "--strategy", "evolution", "--seed", "2",           "--quiet",
                          "--budget",   "300",       "--db",   live,          NULL};
    const pid_t pid = spawn(args, e);
    int reads = 0, read_fail = 0;
    for (;;) {
        int st;
        const pid_t r = waitpid(pid, &st, WNOHANG);
        if (search_exists(live)) {
            const int rc = nasc("trials --db %s --format csv", live);
            reads++;
            if (rc != 0 && read_fail++ < 3)
                err_has("(nasc trials failed while the search ran)");
        }
        if (r == pid) {
            CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the search read meanwhile failed");
            break;
        }
    }
    CHECK_MSG(read_fail == 0, "%d of %d reads failed while the search ran", read_fail, reads);
    same_trials(ref, live, 300, "search read while it ran");

    /* read-only mount: a closed database, and one with a killed search's -wal and -shm */
    char ro[400], rodb[420];
    path(ro, sizeof ro, "ro");
    mkdir(ro, 0755);
    snprintf(rodb, sizeof rodb, "%s/exp.db", ro);
    CHECK(nasc("search " NB " --budget 12 --db %s", rodb) == 0);
    int rc = trials_on_readonly_mount(ro, rodb);
    if (rc == 77 || rc == 78) {
        printf("read-only mount: skipped (no user namespaces here)\n");
        return;
    }
    CHECK_MSG(rc == 0, "nasc trials on a read-only mount: exit %d", rc);
    const char *kargs[] = {"search", "--db", rodb, "--resume", "--budget", "400", "--quiet", NULL};
    rc = search_run(cli, kargs, 40, 0, NULL, NULL); /* killed at its 40th commit point */
    CHECK_MSG(rc == 128 + SIGKILL && side_exists(rodb, "-wal") && side_exists(rodb, "-shm"),
              "the killed search: exit %d", rc);
    rc = trials_on_readonly_mount(ro, rodb);
    o = search_slurp(out);
    CHECK_MSG(rc == 0 && strstr(o, "\n12"),
              "nasc trials on a read-only mount after a kill: exit %d", rc);
    free(o);
    if (test_failures == 0)
        printf("read-only mount: nasc trials reads a closed database and a killed search's\n");
}

/* ---- defect 2: a hot rollback journal left by an older nasc ---- */

static void test_hot_journal(void) {
    char db[400], ref[400];
    path(db, sizeof db, "hot.db");
    path(ref, sizeof ref, "hot-ref.db");
    CHECK(nasc("search " NB " --budget 6 --db %s", ref) == 0);
    CHECK(nasc("search " NB " --budget 3 --db %s", db) == 0);
    sql(db, "PRAGMA journal_mode=DELETE");
    /* what nasc before this fix did after creating FILE: switch it to WAL; killed at the k-th
     * write of that switch (the test VFS of db_fault.c), for the first k that leaves a hot
     * journal */
    bool hot = false;
    for (int k = 1; k < 20 && !hot; k++) {
        char copy[420];
        snprintf(copy, sizeof copy, "%s.k%d", db, k);
        char cmd[1000];
        snprintf(cmd, sizeof cmd, "cp %s %s", db, copy);
        CHECK(system(cmd) == 0);
        fflush(NULL);
        const pid_t pid = fork();
        if (pid == 0) {
            char env[32];
            snprintf(env, sizeof env, "kill:w:%d", k);
            setenv("NASC_TEST_DB_FAULT", env, 1);
            nasc_db_fault_install();
            sqlite3 *h = NULL;
            sqlite3_open(copy, &h);
            sqlite3_exec(h, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
            _exit(0);
        }
        const int rc = wait_rc(pid);
        hot = rc == 128 + SIGKILL && side_exists(copy, "-journal");
        if (hot) { /* hot: the journal header's magic is written (SQLite's file format) */
            char j[500];
            snprintf(j, sizeof j, "%s-journal", copy);
            unsigned char h[8] = {0};
            FILE *f = fopen(j, "rb");
            hot = f && fread(h, 1, 8, f) == 8 && !memcmp(h, "\xd9\xd5\x05\xf9\x20\xa1\x63\xd7", 8);
            if (f)
                fclose(f);
        }
        if (!hot)
            continue;
        CHECK_MSG(nasc("trials --db %s", copy) == 1 && err_has("--resume"),
                  "nasc trials on a hot journal should say how to recover");
        const int rc2 = nasc("search --db %s --resume --budget 6 --quiet", copy);
        CHECK_MSG(rc2 == 0 && !side_exists(copy, "-journal"),
                  "--resume does not recover from a hot journal (k=%d, exit %d)", k, rc2);
        if (rc2 != 0)
            err_has("(the search's message)");
        CHECK(nasc("trials --db %s", copy) == 0);
        same_trials(ref, copy, 6, "after a hot journal");
    }
    CHECK_MSG(hot, "no kill left a hot journal");
}

int main(void) {
    cli = search_cli();
    snprintf(dir, sizeof dir, "%s/test_db_safety.XXXXXX", NASC_BINARY_DIR);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    setenv("OMP_WAIT_POLICY", "passive", 0);
    snprintf(out, sizeof out, "%s/out.txt", dir);
    snprintf(errf, sizeof errf, "%s/err.txt", dir);
    test_refusals();
    test_race();
    test_readers();
    test_hot_journal();
    return test_done("db_safety");
}
