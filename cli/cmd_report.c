/* cmd_report.c — `nasc report --db FILE [--out FILE] [--top N] [--watch SECONDS]`: an experiment
 * as one self-contained HTML page (report.h). The database is opened read-only, so a report can
 * be made while the search runs; --watch rewrites the page (atomically) every SECONDS until the
 * search is no longer running, and the page reloads itself meanwhile (docs/REPORT.md). */
#include "cli.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nasc/report.h"

static volatile sig_atomic_t stop_watch;

static void on_signal(int sig) {
    (void)sig;
    stop_watch = 1;
}

/* Sleeps up to s seconds, waking early when a signal asks to stop. */
static void nap(double s) {
    const double until = cli_now() + s;
    while (!stop_watch && cli_now() < until) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int cmd_report(int argc, char **argv) {
    const char *db_path = NULL, *out = "report.html", *title = NULL;
    int top = 10;
    double watch = 0;
    bool quiet = false;
    cli_flag flags[] = {
        {"db", CLI_STR, &db_path, "FILE", "experiment database (required; opened read-only)",
         false},
        {"out", CLI_STR, &out, "FILE", "the HTML file to write (default report.html)", false},
        {"top", CLI_INT, &top, "N", "top trials listed (default 10)", false},
        {"title", CLI_STR, &title, "TEXT", "page title (default: nasc report: <db file>)", false},
        {"watch", CLI_DOUBLE, &watch, "SECONDS",
         "rewrite the report every SECONDS while a search runs on the database; the page "
         "reloads itself meanwhile",
         false},
        {"quiet", CLI_BOOL, &quiet, NULL, "print nothing on success", false},
    };
    int rc = cli_parse("report", argc, argv, 2, flags, (int)(sizeof flags / sizeof flags[0]),
                       "nasc report --db FILE [--out FILE] [--top N] [--title TEXT] "
                       "[--watch SECONDS] [--quiet]",
                       "Writes one self-contained HTML page (inline SVG and CSS, no script, no "
                       "network) showing what a search did: its configuration and state, the "
                       "optimization history, failed trials, Pareto fronts, the top trials, "
                       "learning curves and, for one-shot searches, the architecture weights per "
                       "epoch. The database is only read; a running search is never blocked.");
    if (rc == CLI_HELP)
        return CLI_OK;
    if (rc != CLI_OK)
        return rc;
    if (!db_path) {
        cli_error("nasc report: --db FILE is required");
        return CLI_USAGE;
    }
    if (top < 0) {
        cli_error("nasc report: --top: must be at least 0 (got %d)", top);
        return CLI_USAGE;
    }
    if (watch < 0 || (watch > 0 && watch < 0.5)) {
        cli_error("nasc report: --watch: must be at least 0.5 seconds (got %g)", watch);
        return CLI_USAGE;
    }
    nasc_report_opts o;
    nasc_report_opts_default(&o);
    o.top = top;
    o.title = title;
    o.refresh_s = watch;
    cli_signals sig; /* kept until the process ends */
    if (watch > 0)
        cli_signals_catch(&sig, on_signal);
    for (int round = 0;; round++) {
        nasc_err err = {0};
        nasc_report_info info;
        nasc_status st = nasc_report_write_file(db_path, out, &o, &info, &err);
        if (st != NASC_OK) /* an error about the output file is not bad input */
            return cli_fail(st, &err, strcmp(err.path, out) != 0);
        if (!quiet)
            fprintf(stderr, "%s: %s, %lld trials (%lld ok, %lld failed), %d plots\n", out,
                    nasc_report_state_str(info.state), (long long)info.n_trials,
                    (long long)info.n_ok, (long long)info.n_failed, info.n_plots);
        if (watch <= 0 || info.state != NASC_REPORT_RUNNING || stop_watch)
            break;
        nap(watch);
        if (stop_watch)
            break;
    }
    return CLI_OK;
}
