/* cli.h — shared pieces of the nasc command-line tool: flag parsing, exit codes, progress output.
 * The CLI is the only place that prints to stdout and maps a status to an exit code:
 * 0 ok, 2 bad usage or bad input (ARG, SHAPE, FORMAT, and IO on inputs), 1 otherwise. */
#ifndef NASC_CLI_H
#define NASC_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "nasc/status.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_HELP = -1 };

typedef enum cli_flag_type {
    CLI_INT,    /* int */
    CLI_I64,    /* int64_t */
    CLI_U64,    /* uint64_t */
    CLI_FLOAT,  /* float */
    CLI_DOUBLE, /* double */
    CLI_STR,    /* const char * (points into argv) */
    CLI_BOOL    /* bool, set to true by the bare flag */
} cli_flag_type;

typedef struct cli_flag {
    const char *name;    /* without the leading "--" */
    cli_flag_type type;
    void *dst;           /* where the value goes */
    const char *metavar; /* e.g. "N", shown in help; NULL for CLI_BOOL */
    const char *help;    /* one line; the default is appended by the caller's text */
    bool seen;           /* set when given on the command line */
} cli_flag;

/* Parses argv[first..argc) (after the command name) into flags. Accepts "--name value" and
 * "--name=value". Returns CLI_OK, CLI_HELP (--help or --version printed to stdout: exit 0) or
 * CLI_USAGE (an unknown option gets a "did you mean" from nasc_suggest; message printed
 * as "nasc: error: ..." to stderr). `usage` is the synopsis line, `about` a paragraph for --help. */
int cli_parse(const char *cmd, int argc, char **argv, int first, cli_flag *flags, int n_flags,
              const char *usage, const char *about);

/* Prints "nasc: error: <msg>" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Exit code for a failed status; input_io says whether an IO error concerned an input file. */
int cli_exit_code(nasc_status st, bool input_io);
/* Reports err (or the generic text of st) and returns the exit code. */
int cli_fail(nasc_status st, const nasc_err *err, bool input_io);

/* CLI_OK if lo <= v <= hi, else prints "nasc CMD: --FLAG: must be in [LO, HI] (got V)" and returns
 * CLI_USAGE. The bounds come from nasc/limits.h. */
int cli_check_int(const char *cmd, const char *flag, int64_t v, int64_t lo, int64_t hi);
/* After a search stopped by a signal (NASC_ERR_ABORTED): prints on stderr the exact command
 * that continues it ("nasc: note: continue with: nasc search --db PATH --resume"), or, when the
 * search had no --db (its state was in memory), that there is nothing to continue. */
void cli_resume_hint(const char *db);

/* Adds key: v to the cJSON object o as the shortest text that reads back as v (nasc_fmt_real:
 * a float-valued score prints as 57.833332, not 57.833332061767578), or null if v is not finite.
 * Every JSON number of nasc's outputs that may carry float noise goes through here. */
struct cJSON;
void cli_json_real(struct cJSON *o, const char *key, double v);

/* Parses a duration ("90", "90s", "5m", "1.5h"; positive, at most a year) into seconds. CLI_OK,
 * or CLI_USAGE after printing "nasc CMD: --FLAG: expected a duration ...". */
int cli_parse_duration(const char *cmd, const char *flag, const char *s, double *out);

/* ---- progress ---- */

typedef struct cli_progress {
    bool tty;          /* stderr is a terminal: redraw one line with \r */
    bool quiet;        /* print nothing */
    double t_start;    /* seconds */
    double last_print; /* seconds */
    int last_len;
} cli_progress;

void cli_progress_init(cli_progress *p, bool quiet);
/* Shows `line` (no newline): redrawn in place on a terminal, else printed as a new line at most
 * every `min_interval` seconds (or always if force). */
void cli_progress_show(cli_progress *p, const char *line, double min_interval, bool force);
/* Ends the progress line (newline on a terminal). */
void cli_progress_end(cli_progress *p);
/* Monotonic seconds. */
double cli_now(void);
/* "1:23" / "1:02:03" into buf. */
const char *cli_fmt_duration(double seconds, char *buf, size_t n);

/* ---- signals ---- */

/* SIGINT and SIGTERM go to handler while a long call runs (a search, a report being watched);
 * the handler only asks that call to stop, so it ends cleanly with what it has done.
 * cli_signals_restore puts back the handlers saved by cli_signals_catch. */
typedef struct cli_signals {
    struct sigaction old_int, old_term;
} cli_signals;
void cli_signals_catch(cli_signals *s, void (*handler)(int));
void cli_signals_restore(const cli_signals *s);

/* ---- commands ---- */
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_search(int argc, char **argv); /* cmd_search.c */
/* One-shot strategies of nasc search (cmd_oneshot.c); given is indexed like nasc_config_keys. */
struct nasc_experiment_config;
int cli_search_oneshot(const struct nasc_experiment_config *cfg, const bool *given,
                       const char *max_memory);
/* Under mpirun, a rank > 0 before serving trials: if rank 0 sends a one-shot search, takes its
 * data-parallel share of it (quietly) and sets *handled. A failure ends the whole job. */
int cli_search_oneshot_rank(bool *handled);
int cmd_trials(int argc, char **argv); /* cmd_trials.c */
int cmd_report(int argc, char **argv); /* cmd_report.c */
int cmd_predict(int argc, char **argv); /* cmd_predict.c */
int cmd_export(int argc, char **argv);  /* cmd_export.c */
int cmd_auto(int argc, char **argv);    /* cmd_auto.c */

#endif /* NASC_CLI_H */
