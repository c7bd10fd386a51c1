/* progress.c — a one-line progress display on stderr: redrawn in place on a terminal, printed as
 * periodic lines otherwise (so logs of background runs stay readable); and the signal handlers
 * that stop a long call cleanly. */
#include "cli.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const char *cli_fmt_duration(double s, char *buf, size_t n) {
    if (!(s >= 0) || s > 1e7) {
        snprintf(buf, n, "?");
        return buf;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
    return buf;
}

void cli_progress_init(cli_progress *p, bool quiet) {
    memset(p, 0, sizeof *p);
    p->quiet = quiet;
    p->tty = isatty(STDERR_FILENO);
    p->t_start = cli_now();
    p->last_print = -1e9;
}

void cli_progress_show(cli_progress *p, const char *line, double min_interval, bool force) {
    if (p->quiet)
        return;
    double now = cli_now();
    if (p->tty) {
        if (!force && now - p->last_print < 0.1)
            return;
        int len = (int)strlen(line);
        fprintf(stderr, "\r%s%*s", line, p->last_len > len ? p->last_len - len : 0, "");
        p->last_len = len;
    } else {
        if (!force && now - p->last_print < min_interval)
            return;
        fprintf(stderr, "%s\n", line);
    }
    fflush(stderr);
    p->last_print = now;
}

void cli_progress_end(cli_progress *p) {
    if (!p->quiet && p->tty && p->last_len) {
        fputc('\n', stderr);
        fflush(stderr);
    }
    p->last_len = 0;
}

void cli_signals_catch(cli_signals *s, void (*handler)(int)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &s->old_int);
    sigaction(SIGTERM, &sa, &s->old_term);
}

void cli_signals_restore(const cli_signals *s) {
    sigaction(SIGINT, &s->old_int, NULL);
    sigaction(SIGTERM, &s->old_term, NULL);
}
