/* search_cli.h — helpers for the tests that drive `nasc search` / `nasc trials` as a process:
 * run the CLI with arguments (optionally killing it with SIGKILL at a test-hook point or after a
 * delay), read files, load an experiment database's trials, and check that a search killed and
 * resumed many times ends with the trials of an uninterrupted one. */
#ifndef NASC_TEST_SEARCH_CLI_H
#define NASC_TEST_SEARCH_CLI_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nasc/arena.h"
#include "nasc/db.h"

#define SEARCH_ARGS_MAX 64

/* The nasc binary, or exit 77 (skipped) when the build has none. */
static inline const char *search_cli(void) {
    const char *cli = getenv("NASC_CLI");
    if (!cli || access(cli, X_OK)) {
        fprintf(stderr, "skipped: NASC_CLI is not set (no CLI in this build)\n");
        exit(77);
    }
    return cli;
}

static inline double search_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Runs `cli args...` (args NULL-terminated) with stdout and stderr to out_path / err_path (NULL:
 * /dev/null), NASC_TEST_KILL_AT=kill_at when kill_at >= 0, and search_kill_signal (SIGKILL) after
 * kill_after seconds when kill_after > 0. Returns the exit code, or 128 + signal if it was killed.
 */
static int search_kill_signal = SIGKILL; /* the signal search_run sends after kill_after */

static inline int search_run(const char *cli, const char *const *args, long kill_at,
                             double kill_after, const char *out_path, const char *err_path) {
    const char *argv[SEARCH_ARGS_MAX + 2];
    int n = 0;
    argv[n++] = cli;
    for (int i = 0; args[i] && n < SEARCH_ARGS_MAX; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err_path ? err_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0)
            _exit(126);
        dup2(o, 1);
        dup2(e, 2);
        char kill_env[64];
        if (kill_at >= 0) {
            snprintf(kill_env, sizeof kill_env, "%ld", kill_at);
            setenv("NASC_TEST_KILL_AT", kill_env, 1);
        } else {
            unsetenv("NASC_TEST_KILL_AT");
        }
        execv(cli, (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    if (kill_after > 0) {
        double t0 = search_now();
        for (;;) {
            pid_t r = waitpid(pid, &st, WNOHANG);
            if (r == pid)
                break;
            if (search_now() - t0 >= kill_after) {
                kill(pid, search_kill_signal);
                waitpid(pid, &st, 0);
                break;
            }
            usleep(2000);
        }
    } else {
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
    }
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs with printf-style arguments split on spaces (no quoting; paths must not hold spaces). */
static inline int search_runf(const char *cli, const char *out_path, const char *err_path,
                              const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static inline int search_runf(const char *cli, const char *out_path, const char *err_path,
                              const char *fmt, ...) {
    static char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    const char *args[SEARCH_ARGS_MAX + 1];
    int n = 0;
    for (char *tok = strtok(buf, " "); tok && n < SEARCH_ARGS_MAX; tok = strtok(NULL, " "))
        args[n++] = tok;
    args[n] = NULL;
    return search_run(cli, args, -1, 0, out_path, err_path);
}

/* The whole file as a malloc'd string ("" if unreadable). */
static inline char *search_slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return calloc(1, 1);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
    if (n > 0 && fread(b, 1, (size_t)n, f) != (size_t)n)
        b[0] = '\0';
    fclose(f);
    return b;
}

static inline bool search_exists(const char *path) {
    return access(path, F_OK) == 0;
}

/* FNV-1a of a file's bytes and its size (to prove a file was left untouched). */
static inline unsigned long long search_file_sum(const char *path, long *out_size) {
    FILE *f = fopen(path, "rb");
    unsigned long long h = 1469598103934665603ULL;
    long n = 0;
    if (f) {
        int c;
        while ((c = fgetc(f)) != EOF) {
            h = (h ^ (unsigned char)c) * 1099511628211ULL;
            n++;
        }
        fclose(f);
    }
    if (out_size)
        *out_size = f ? n : -1;
    return h;
}

/* Loads an experiment database's trials read-only; false (with a message) on failure. */
static inline bool search_load(const char *db_path, nasc_trial_record **out, int64_t *out_n) {
    nasc_err err = {0};
    nasc_db *db = NULL;
    *out = NULL;
    *out_n = 0;
    if (nasc_db_open_readonly(db_path, &db, &err) != NASC_OK ||
        nasc_db_trials_load(db, out, out_n, &err) != NASC_OK) {
        fprintf(stderr, "cannot load %s: %s\n", db_path, err.msg);
        nasc_db_close(db);
        return false;
    }
    nasc_db_close(db);
    return true;
}

/* ---- kill-and-resume (needs test.h's CHECK) ---- */
#ifdef CHECK
/* Extracts "key":value from a JSON line into buf (up to the next ',' or '}' outside quotes). */
static inline void json_field(const char *json, const char *key, char *buf, size_t n) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    buf[0] = '\0';
    if (!p)
        return;
    p += strlen(pat);
    size_t k = 0;
    bool q = false;
    for (; *p && k + 1 < n; p++) {
        if (*p == '"')
            q = !q;
        else if (!q && (*p == ',' || *p == '}'))
            break;
        buf[k++] = *p;
    }
    buf[k] = '\0';
}

static inline bool same_trials(const char *ref_db, const char *db, int64_t budget,
                               const char *what) {
    nasc_trial_record *a = NULL, *b = NULL;
    int64_t na = 0, nb = 0;
    bool ok = search_load(ref_db, &a, &na) && search_load(db, &b, &nb);
    CHECK_MSG(ok && na == budget && nb == budget, "%s: %lld and %lld trials, expected %lld", what,
              (long long)na, (long long)nb, (long long)budget);
    int bad = 0;
    for (int64_t i = 0; ok && i < na && i < nb; i++) {
        bool same = !strcmp(a[i].arch, b[i].arch) && a[i].status == b[i].status &&
                    (a[i].score == b[i].score || (isnan(a[i].score) && isnan(b[i].score))) &&
                    a[i].fidelity == b[i].fidelity;
        bool finished = b[i].status == NASC_TRIAL_OK || b[i].status == NASC_TRIAL_FAILED;
        if ((!same || !finished) && bad++ < 3)
            fprintf(stderr, "%s: trial %lld: %s %s %.4f vs %s %s %.4f\n", what, (long long)i,
                    nasc_trial_status_str(a[i].status), a[i].arch, a[i].score,
                    nasc_trial_status_str(b[i].status), b[i].arch, b[i].score);
    }
    CHECK_MSG(bad == 0, "%s: %d trials differ from the uninterrupted run", what, bad);
    nasc_db_trials_free(a, na);
    nasc_db_trials_free(b, nb);
    return ok && bad == 0;
}

/* Runs the search to completion through random kills; returns the number of kills. Each run is
 * killed at a random transaction point in [0, max_point) (max_point > 0), or after a random delay
 * in [0, max_delay) seconds (max_delay > 0). */
static inline int kill_and_resume(const char *cli, const char *const *args_full, const char *db,
                                  unsigned *rng, int max_point, double max_delay, const char *out) {
    const char *args_resume[] = {"search", "--db", db, "--resume", "--json", "--quiet", NULL};
    int kills = 0;
    for (int round = 0; round < 400; round++) {
        /* alternate: the full command line (creates or continues), and --resume alone */
        bool resume_only = (round & 1) && search_exists(db);
        long k = max_point > 0 ? (long)(rand_r(rng) % (unsigned)max_point) : -1;
        double delay = max_delay > 0 ? max_delay * (rand_r(rng) % 1000) / 1000.0 : 0;
        if (round >= 60) /* enough: let it finish */
            k = -1, delay = 0;
        int rc = search_run(cli, resume_only ? args_resume : args_full, k, delay, out, NULL);
        if (getenv("VERBOSE"))
            fprintf(stderr, "round %d %s k=%ld delay=%.3f rc=%d\n", round,
                    resume_only ? "resume" : "full", k, delay, rc);
        if (rc == 128 + SIGKILL) {
            kills++;
            continue;
        }
        CHECK_MSG(rc == 0, "round %d (%s, kill point %ld, delay %.3f): exit %d", round,
                  resume_only ? "--resume" : "full flags", k, delay, rc);
        return kills;
    }
    CHECK(!"never finished");
    return kills;
}

/* One kill-and-resume scenario for kill_resume_check. */
struct resume_case {
    const char *dir;  /* where the files go: <dir>/<name>-ref.{db,json}, <dir>/<name>.{db,json} */
    const char *name; /* the scenario: in file names, messages and the printed line */
    int name_width;   /* printf width of the name in the printed line */
    int i_db;         /* index of the --db value in args: set to each database, then restored */
    int budget;       /* trials both databases must hold */
    unsigned seed;    /* seed of the random kill points and delays */
    int max_point;    /* kill at a random transaction point below this (0: no hook kills) */
    double max_delay; /* kill after a random delay below this, in seconds (0: no timed kills) */
    int min_kills;    /* fewer kills than this fails the scenario */
};

/* Runs args (a NULL-terminated `search ... --json` command line) uninterrupted on the reference
 * database, then the same command on the database under test through random kills
 * (kill_and_resume), and checks that at least min_kills kills happened, that both databases hold
 * the same budget trials (same_trials), and that both --json outputs give the same best_arch and
 * best_score. Prints "<name> <kills> kills, <budget> trials identical, best <score>". */
static inline void kill_resume_check(const char *cli, const char **args,
                                     const struct resume_case *c) {
    char ref_db[400], db[400], ref_out[400], out[400];
    snprintf(ref_db, sizeof ref_db, "%s/%s-ref.db", c->dir, c->name);
    snprintf(db, sizeof db, "%s/%s.db", c->dir, c->name);
    snprintf(ref_out, sizeof ref_out, "%s/%s-ref.json", c->dir, c->name);
    snprintf(out, sizeof out, "%s/%s.json", c->dir, c->name);
    const char *arg_db = args[c->i_db];
    args[c->i_db] = ref_db;
    CHECK(search_run(cli, args, -1, 0, ref_out, NULL) == 0);
    args[c->i_db] = db; /* the same command on the database under test */
    unsigned rng = c->seed;
    int kills = kill_and_resume(cli, args, db, &rng, c->max_point, c->max_delay, out);
    args[c->i_db] = arg_db;
    CHECK_MSG(kills >= c->min_kills, "%s: only %d kills happened", c->name, kills);
    same_trials(ref_db, db, c->budget, c->name);
    char *ra = search_slurp(ref_out), *rb = search_slurp(out);
    char a1[512], b1[512], a2[64], b2[64];
    json_field(ra, "best_arch", a1, sizeof a1);
    json_field(rb, "best_arch", b1, sizeof b1);
    json_field(ra, "best_score", a2, sizeof a2);
    json_field(rb, "best_score", b2, sizeof b2);
    CHECK_MSG(a1[0] && !strcmp(a1, b1) && !strcmp(a2, b2), "%s: best %s %s vs %s %s", c->name, a1,
              a2, b1, b2);
    printf("%-*s %3d kills, %d trials identical, best %s\n", c->name_width, c->name, kills,
           c->budget, b2);
    free(ra);
    free(rb);
}

#endif

#endif /* NASC_TEST_SEARCH_CLI_H */
