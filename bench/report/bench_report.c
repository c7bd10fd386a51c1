/* bench_report.c — how long `nasc report` takes on a large experiment, how big the page is, and
 * how long headless Chromium takes to render it (docs/REPORT.md, "Size and speed").
 *
 *   build/bench/bench_report [--trials 10000] [--dir DIR] [--repeats 5]
 *
 * 1. Builds DIR/big.db: a multi-objective NSGA-II search of the NAS-Bench-201 table (acc, params,
 *    flops; constraint params<=1.2M, so that some trials fail) of --trials trials, through the
 *    same library calls as `nasc search` (skipped when DIR/big.db already holds that many).
 * 2. Writes its report --repeats times with nasc_report_write_file (the whole of `nasc report`:
 *    open read-only, load, write, fsync, rename) and prints the median and minimum.
 * 3. Renders it with `chromium --headless --screenshot` --repeats times, and an empty page the same
 *    way in the same run (Chromium's own start-up), and prints both medians and the difference.
 * Nothing is selected: every timing of the run is printed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nasc/arena.h"
#include "nasc/db.h"
#include "nasc/experiment.h"
#include "nasc/report.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double load_avg(void) {
    double l[1] = {NAN};
    getloadavg(l, 1);
    return l[0];
}

static int cmp_d(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int64_t trials_in(const char *db) {
    nasc_db *d = NULL;
    nasc_err err = {0};
    int64_t n = -1;
    if (nasc_db_open_readonly(db, &d, &err) == NASC_OK)
        nasc_db_trial_count(d, &n, &err);
    nasc_db_close(d);
    return n;
}

static int make_db(const char *db, long trials) {
    if (!getenv("NASC_NB201_CSV"))
        setenv("NASC_NB201_CSV", NASC_SOURCE_DIR "/data/nb201.csv", 1);
    char budget[32];
    snprintf(budget, sizeof budget, "%ld", trials);
    const char *kv[][2] = {{"space", "nb201"},
                           {"strategy", "nsga2"},
                           {"strategy-opt", "population=50"},
                           {"benchmark", "nb201:cifar10"},
                           {"objective", "acc,params,flops"},
                           {"constraint", "params<=1.2M"},
                           {"budget", budget},
                           {"seed", "1"},
                           {"db", db}};
    nasc_experiment_config cfg;
    nasc_config_default(&cfg);
    nasc_err err = {0};
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (nasc_config_set(&cfg, kv[i][0], kv[i][1], &err) != NASC_OK) {
            fprintf(stderr, "bench_report: %s\n", err.msg);
            return 1;
        }
    nasc_experiment *ex = NULL;
    const double t0 = now();
    if (nasc_experiment_open(&cfg, &ex, &err) != NASC_OK ||
        nasc_experiment_run(ex, NULL, NULL, &err) != NASC_OK) {
        fprintf(stderr, "bench_report: search: %s\n", err.msg);
        nasc_experiment_free(ex);
        return 1;
    }
    nasc_experiment_free(ex);
    printf("database: %s, %ld trials (NSGA-II, 3 objectives) built in %.1f s\n", db, trials,
           now() - t0);
    return 0;
}

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU seconds (user + system) of the waited-for children so far. */
static double children_cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* Wall time of one headless Chromium screenshot of url (-1 if it failed); *out_cpu: the CPU time
 * of Chromium's processes (load-independent, unlike the wall time on a shared machine). */
static double chromium_shot(const char *bin, const char *dir, const char *url, double *out_cpu) {
    char prof[600], shot[600];
    snprintf(prof, sizeof prof, "--user-data-dir=%s/chromium-profile", dir);
    snprintf(shot, sizeof shot, "--screenshot=%s/shot.png", dir);
    const double t0 = now(), c0 = children_cpu();
    fflush(NULL);
    const pid_t pid = fork();
    if (pid == 0) {
        FILE *n = freopen("/dev/null", "w", stderr);
        (void)n;
        n = freopen("/dev/null", "w", stdout);
        (void)n;
        execl(bin, bin, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
              "--hide-scrollbars", "--window-size=1200,2000", prof, shot, url, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    *out_cpu = children_cpu() - c0;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? now() - t0 : -1;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress shows through a pipe or a log file */
    long trials = 10000;
    int repeats = 5;
    const char *dir = "bench-report";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--trials"))
            trials = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--dir"))
            dir = argv[i + 1];
        else if (!strcmp(argv[i], "--repeats"))
            repeats = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: bench_report [--trials N] [--dir DIR] [--repeats R]\n");
            return 2;
        }
    }
    if (repeats < 1 || repeats > 50 || trials < 1) {
        fprintf(stderr, "bench_report: --repeats 1..50, --trials >= 1\n");
        return 2;
    }
    mkdir(dir, 0755);
    char db[512], html[512], empty[512];
    snprintf(db, sizeof db, "%s/big.db", dir);
    snprintf(html, sizeof html, "%s/big.html", dir);
    snprintf(empty, sizeof empty, "%s/empty.html", dir);
    if (trials_in(db) != trials) {
        unlink(db);
        printf("database: building %s, %ld trials (a few minutes; reused by later runs)\n", db, trials);
        if (make_db(db, trials))
            return 1;
    } else {
        printf("database: %s, %ld trials (reused)\n", db, trials);
    }
    double t[50], c[50];
    nasc_report_info info = {0};
    for (int r = 0; r < repeats; r++) {
        nasc_err err = {0};
        nasc_report_opts o;
        nasc_report_opts_default(&o);
        const double t0 = now(), c0 = cpu_now();
        if (nasc_report_write_file(db, html, &o, &info, &err) != NASC_OK) {
            fprintf(stderr, "bench_report: %s\n", err.msg);
            return 1;
        }
        t[r] = now() - t0;
        c[r] = cpu_now() - c0;
    }
    struct stat st;
    stat(html, &st);
    const double t_med = median(t, repeats), t_min = t[0], c_med = median(c, repeats);
    printf("report: %lld trials (%lld failed), %d plots, %.2f MB; generated in %.3f s wall "
           "median, %.3f s min, %.3f s CPU median (%d runs; load average %.1f)\n",
           (long long)info.n_trials, (long long)info.n_failed, info.n_plots,
           (double)st.st_size / 1e6, t_med, t_min, c_med, repeats, load_avg());
    const char *bin = !access("/usr/bin/chromium", X_OK) ? "/usr/bin/chromium" : NULL;
    if (!bin) {
        printf("chromium: not installed, rendering not measured\n");
        return 0;
    }
    FILE *f = fopen(empty, "w");
    if (!f)
        return 1;
    fputs("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>empty</title></head>"
          "<body></body></html>\n",
          f);
    fclose(f);
    char url_r[1200], url_e[1200], abs_dir[600];
    if (!realpath(dir, abs_dir))
        return 1;
    snprintf(url_r, sizeof url_r, "file://%s/big.html", abs_dir);
    snprintf(url_e, sizeof url_e, "file://%s/empty.html", abs_dir);
    double cw; /* warm the profile and the page cache */
    chromium_shot(bin, abs_dir, url_e, &cw);
    double tr[50], te[50], cr[50], ce[50];
    for (int r = 0; r < repeats; r++) { /* interleaved, so that load changes hit both */
        te[r] = chromium_shot(bin, abs_dir, url_e, &ce[r]);
        tr[r] = chromium_shot(bin, abs_dir, url_r, &cr[r]);
        if (te[r] < 0 || tr[r] < 0) {
            fprintf(stderr, "bench_report: chromium failed\n");
            return 1;
        }
    }
    const double mr = median(tr, repeats), me = median(te, repeats);
    const double mcr = median(cr, repeats), mce = median(ce, repeats);
    printf("chromium --headless --screenshot (median of %d; load average %.1f):\n"
           "  report     %.2f s wall, %.2f s CPU\n  empty page %.2f s wall, %.2f s CPU\n"
           "  difference %.2f s wall, %.2f s CPU (the report's own loading and rendering)\n",
           repeats, load_avg(), mr, mcr, me, mce, mr - me, mcr - mce);
    return 0;
}
