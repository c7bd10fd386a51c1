/* args.c — flag parsing with strict number checks, exit codes, error printing. */
#include "cli.h"

#include "nasc/limits.h"

#include "nasc/text.h"
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("nasc: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_exit_code(nasc_status st, bool input_io) {
    switch (st) {
    case NASC_OK:
        return CLI_OK;
    case NASC_ERR_ARG:
    case NASC_ERR_SHAPE:
    case NASC_ERR_FORMAT:
        return CLI_USAGE;
    case NASC_ERR_IO:
        return input_io ? CLI_USAGE : CLI_FAIL;
    default:
        return CLI_FAIL;
    }
}

int cli_fail(nasc_status st, const nasc_err *err, bool input_io) {
    if (err && err->code != NASC_OK && err->msg[0])
        cli_error("%s", err->msg);
    else
        cli_error("%s", nasc_status_str(st));
    return cli_exit_code(st, input_io);
}

int cli_check_int(const char *cmd, const char *flag, int64_t v, int64_t lo, int64_t hi) {
    char what[96];
    snprintf(what, sizeof what, "nasc %s: --%s", cmd, flag);
    nasc_err err = {0};
    if (nasc_limit_check_int(&err, what, v, lo, hi) == NASC_OK)
        return CLI_OK;
    cli_error("%s", err.msg);
    return CLI_USAGE;
}

void cli_resume_hint(const char *db) {
    if (!db || !db[0]) {
        fprintf(stderr, "nasc: note: nothing to resume: this search kept its state in memory "
                        "(give --db FILE to be able to continue a search)\n");
        return;
    }
    /* quote the path for a POSIX shell unless it is plain */
    bool plain = true;
    for (const char *p = db; *p; p++)
        if (!(isalnum((unsigned char)*p) || strchr("/._-+,:@%", *p)))
            plain = false;
    fprintf(stderr, "nasc: note: continue with: nasc search --db ");
    if (plain) {
        fputs(db, stderr);
    } else {
        fputc('\'', stderr);
        for (const char *p = db; *p; p++) {
            if (*p == '\'')
                fputs("'\\''", stderr); /* close, escaped quote, reopen */
            else
                fputc(*p, stderr);
        }
        fputc('\'', stderr);
    }
    fputs(" --resume\n", stderr);
}

void cli_json_real(cJSON *o, const char *key, double v) {
    char buf[40];
    if (isfinite(v))
        cJSON_AddRawToObject(o, key, nasc_fmt_real(v, buf, sizeof buf));
    else
        cJSON_AddNullToObject(o, key);
}

static bool parse_value(cli_flag *f, const char *cmd, const char *v) {
    char *end = NULL;
    errno = 0;
    switch (f->type) {
    case CLI_INT: {
        long x = strtol(v, &end, 10);
        if (errno || !*v || *end || x < INT32_MIN || x > INT32_MAX)
            goto bad;
        *(int *)f->dst = (int)x;
        return true;
    }
    case CLI_I64: {
        long long x = strtoll(v, &end, 10);
        if (errno || !*v || *end)
            goto bad;
        *(int64_t *)f->dst = x;
        return true;
    }
    case CLI_U64: {
        if (*v == '-')
            goto bad;
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || !*v || *end)
            goto bad;
        *(uint64_t *)f->dst = x;
        return true;
    }
    case CLI_FLOAT:
    case CLI_DOUBLE: {
        double x = strtod(v, &end);
        if (errno || !*v || *end || !isfinite(x))
            goto bad;
        if (f->type == CLI_FLOAT)
            *(float *)f->dst = (float)x;
        else
            *(double *)f->dst = x;
        return true;
    }
    case CLI_STR:
        *(const char **)f->dst = v;
        return true;
    case CLI_BOOL:
        return true;
    }
bad:
    cli_error("nasc %s: --%s: expected %s, got '%s'", cmd, f->name,
              f->type == CLI_INT || f->type == CLI_I64 ? "an integer"
              : f->type == CLI_U64                     ? "a non-negative integer"
                                                       : "a number",
              v);
    return false;
}

static void print_help(const char *cmd, const cli_flag *flags, int n, const char *usage,
                       const char *about) {
    printf("usage: %s\n\n", usage);
    if (about)
        printf("%s\n\n", about);
    printf("options:\n");
    for (int i = 0; i < n; i++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", flags[i].name, flags[i].metavar ? " " : "",
                 flags[i].metavar ? flags[i].metavar : "");
        printf("  %-26s %s\n", left, flags[i].help);
    }
    printf("  %-26s %s\n", "--help", "show this help and exit");
    printf("  %-26s %s\n", "--version", "print nasc's version and exit");
    (void)cmd;
}

int cli_parse(const char *cmd, int argc, char **argv, int first, cli_flag *flags, int n_flags,
              const char *usage, const char *about) {
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_help(cmd, flags, n_flags, usage, about);
            return CLI_HELP;
        }
        if (!strcmp(a, "--version")) { /* the same answer from every command */
            printf("nasc %s\n", NASC_VERSION_STRING);
            return CLI_HELP;
        }
        if (strncmp(a, "--", 2) != 0) {
            cli_error("nasc %s: unexpected argument '%s' (see 'nasc %s --help')", cmd, a, cmd);
            return CLI_USAGE;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        cli_flag *f = NULL;
        for (int j = 0; j < n_flags; j++)
            if (strlen(flags[j].name) == len && !strncmp(flags[j].name, name, len)) {
                f = &flags[j];
                break;
            }
        if (!f) {
            char word[64], names[2048] = "", near[64], hint[96] = "";
            snprintf(word, sizeof word, "%.*s", (int)(len < 63 ? len : 63), name);
            for (int j = 0, k = 0; j < n_flags && (size_t)k < sizeof names; j++)
                k += snprintf(names + k, sizeof names - (size_t)k, "%s ", flags[j].name);
            if (nasc_suggest(word, names, near, sizeof near))
                snprintf(hint, sizeof hint, "; did you mean '--%s'?", near);
            cli_error("nasc %s: unknown option '--%.*s'%s (see 'nasc %s --help')", cmd, (int)len,
                      name, hint, cmd);
            return CLI_USAGE;
        }
        if (f->seen) {
            cli_error("nasc %s: option --%s given twice", cmd, f->name);
            return CLI_USAGE;
        }
        f->seen = true;
        if (f->type == CLI_BOOL) {
            if (eq) {
                cli_error("nasc %s: option --%s takes no value", cmd, f->name);
                return CLI_USAGE;
            }
            *(bool *)f->dst = true;
            continue;
        }
        const char *v;
        if (eq)
            v = eq + 1;
        else if (i + 1 < argc)
            v = argv[++i];
        else {
            cli_error("nasc %s: option --%s needs a value (%s)", cmd, f->name,
                      f->metavar ? f->metavar : "value");
            return CLI_USAGE;
        }
        if (!parse_value(f, cmd, v))
            return CLI_USAGE;
    }
    return CLI_OK;
}

int cli_parse_duration(const char *cmd, const char *flag, const char *s, double *out) {
    char *end = NULL;
    errno = 0;
    const double v = s ? strtod(s, &end) : (double)NAN;
    double mult = 0.0;
    if (end && end != s && errno == 0) {
        if (!strcmp(end, "") || !strcmp(end, "s"))
            mult = 1.0;
        else if (!strcmp(end, "m"))
            mult = 60.0;
        else if (!strcmp(end, "h"))
            mult = 3600.0;
    }
    if (!(mult > 0.0) || !(v > 0.0) || !(v * mult <= 366.0 * 86400.0)) {
        cli_error("nasc %s: --%s: expected a duration such as 90s, 5m or 1h (got '%s')", cmd, flag,
                  s ? s : "");
        return CLI_USAGE;
    }
    *out = v * mult;
    return CLI_OK;
}
