/* tabular.c — tables of architecture -> value (NAS-Bench-201 and user CSVs) and the tabular
 * evaluator. A table is parsed once into an open-addressing hash map keyed by each row's decision
 * sequence (one per architecture, space.h), so a lookup is one probe sequence and loading the
 * 15,625-row NAS-Bench-201 table takes about 20 ms (parsing its texts). */
#include "nasc/arena.h"
#include "nasc/estimate.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

struct nasc_table {
    const nasc_space *space; /* not owned */
    size_t n;                /* rows */
    int n_dec;               /* decisions per row (the space's maximum) */
    int *dec;                /* row i's decisions: dec[i*n_dec ..], unused tail = -1 */
    double *value;           /* value of row i (NaN = missing) */
    char **text;             /* row i's architecture text as written in the file (in text_pool) */
    char *text_pool;
    size_t cap;    /* hash slots (power of two) */
    int64_t *slot; /* row index + 1, 0 = empty */
};

/* Rows are keyed by decision sequence: every architecture has exactly one (space.h), so this is
 * exact identity, and it costs no printing at load or lookup time. */
static uint64_t hash_dec(const int *d, int n) {
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < n; i++) {
        h ^= (uint64_t)(uint32_t)d[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

void nasc_table_free(nasc_table *t) {
    if (!t)
        return;
    nasc_free(t->dec);
    nasc_free(t->text);
    nasc_free(t->value);
    nasc_free(t->text_pool);
    nasc_free(t->slot);
    nasc_free(t);
}

size_t nasc_table_size(const nasc_table *t) {
    return t->n;
}
double nasc_table_value(const nasc_table *t, size_t i) {
    return i < t->n ? t->value[i] : (double)NAN;
}
const char *nasc_table_arch(const nasc_table *t, size_t i) {
    return i < t->n ? t->text[i] : NULL;
}

static int64_t table_find(const nasc_table *t, const int *d) {
    if (!t->cap)
        return -1;
    size_t mask = t->cap - 1;
    for (size_t i = (size_t)hash_dec(d, t->n_dec) & mask;; i = (i + 1) & mask) {
        int64_t r = t->slot[i];
        if (!r)
            return -1;
        if (!memcmp(t->dec + (size_t)(r - 1) * (size_t)t->n_dec, d, sizeof(int) * (size_t)t->n_dec))
            return r - 1;
    }
}

/* a's decisions padded with -1 to n_dec into d (a buffer of n_dec ints). */
static void arch_key(const nasc_table *t, const nasc_arch *a, int *d) {
    int n = 0;
    nasc_arch_to_decisions(a, d, &n);
    for (int i = n; i < t->n_dec; i++)
        d[i] = -1;
}

bool nasc_table_lookup(const nasc_table *t, const nasc_arch *a, double *out_value) {
    int stack[64], *d = t->n_dec <= 64 ? stack : nasc_malloc(sizeof(int) * (size_t)t->n_dec);
    if (!d)
        return false;
    arch_key(t, a, d);
    int64_t r = table_find(t, d);
    if (d != stack)
        nasc_free(d);
    if (r < 0)
        return false;
    *out_value = t->value[r];
    return true;
}

bool nasc_table_lookup_text(const nasc_table *t, const char *text, double *out_value) {
    nasc_arch *a = NULL;
    if (nasc_arch_parse(t->space, text, &a, NULL) != NASC_OK)
        return false;
    bool ok = nasc_table_lookup(t, a, out_value);
    nasc_arch_free(a);
    return ok;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* E[max of n draws] = sum_i v_(i) * ((i/m)^n - ((i-1)/m)^n) over the sorted values v_(1..m). */
void nasc_table_expected_max(const nasc_table *t, int n, double *out_mean, double *out_std) {
    *out_mean = *out_std = (double)NAN;
    double *v = nasc_malloc(sizeof(double) * (t->n ? t->n : 1));
    if (!v)
        return;
    size_t m = 0;
    for (size_t i = 0; i < t->n; i++)
        if (isfinite(t->value[i]))
            v[m++] = t->value[i];
    if (m && n > 0) {
        qsort(v, m, sizeof *v, cmp_double);
        double e1 = 0.0, e2 = 0.0, prev = 0.0;
        for (size_t i = 1; i <= m; i++) {
            double c = pow((double)i / (double)m, n);
            double p = c - prev;
            prev = c;
            e1 += p * v[i - 1];
            e2 += p * v[i - 1] * v[i - 1];
        }
        *out_mean = e1;
        *out_std = sqrt(fmax(0.0, e2 - e1 * e1));
    }
    nasc_free(v);
}

/* ---- CSV ---- */

/* Reads the next field of line starting at *p (handles "quoted, fields" with "" escapes) into
 * buf. Returns false at the end of the line. */
static bool csv_field(const char **p, char *buf, size_t n, bool *truncated) {
    const char *s = *p;
    if (!s)
        return false;
    size_t k = 0;
    *truncated = false;
    if (*s == '"') {
        s++;
        for (;;) {
            if (!*s)
                break;
            if (*s == '"') {
                if (s[1] == '"') {
                    s++;
                } else {
                    s++;
                    break;
                }
            }
            if (k + 1 < n)
                buf[k++] = *s;
            else
                *truncated = true;
            s++;
        }
    } else {
        while (*s && *s != ',') {
            if (k + 1 < n)
                buf[k++] = *s;
            else
                *truncated = true;
            s++;
        }
    }
    buf[k] = '\0';
    /* trim surrounding blanks of unquoted fields */
    while (k && (buf[k - 1] == ' ' || buf[k - 1] == '\t'))
        buf[--k] = '\0';
    if (*s == ',')
        *p = s + 1;
    else
        *p = NULL;
    return true;
}

static char *read_file(const char *path, size_t *out_len, nasc_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        nasc_errorf_at(err, NASC_ERR_IO, path, -1, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = nasc_malloc(cap);
    while (buf) {
        if (len + 1 >= cap) {
            char *nb = nasc_realloc(buf, cap * 2);
            if (!nb) {
                nasc_free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
    }
    if (!buf) {
        fclose(f);
        nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory reading the file", path);
        return NULL;
    }
    if (ferror(f)) {
        fclose(f);
        nasc_free(buf);
        nasc_errorf_at(err, NASC_ERR_IO, path, -1, "%s: read error", path);
        return NULL;
    }
    fclose(f);
    buf[len] = '\0';
    *out_len = len;
    return buf;
}

static void set_line(nasc_err *err, int line) {
    if (err)
        err->line = line;
}

static bool parse_value(const char *s, double *out) {
    if (!*s || !strcasecmp(s, "nan") || !strcasecmp(s, "na") || !strcmp(s, "-")) {
        *out = (double)NAN;
        return true;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

nasc_status nasc_table_load(const nasc_space *s, const char *path, const char *column,
                            nasc_table **out, nasc_err *err) {
    *out = NULL;
    size_t len = 0;
    char *buf = read_file(path, &len, err);
    if (!buf)
        return err ? err->code : NASC_ERR_IO;
    nasc_status st = NASC_OK;
    int *row_line = NULL;
    size_t *offs = NULL;
    nasc_table *t = nasc_calloc(1, sizeof *t);
    char *field = nasc_malloc(8192);
    size_t n_lines = 1;
    for (size_t i = 0; i < len; i++)
        n_lines += buf[i] == '\n';
    int n_dec = nasc_space_n_decisions(s);
    if (t) {
        t->space = s;
        t->n_dec = n_dec > 0 ? n_dec : 1;
        t->dec = nasc_malloc(sizeof(int) * (size_t)t->n_dec * n_lines);
        t->text = nasc_calloc(n_lines, sizeof(char *));
        t->value = nasc_calloc(n_lines, sizeof(double));
        t->text_pool = nasc_malloc(len + 1);
    }
    offs = nasc_malloc(sizeof(size_t) * n_lines);
    row_line = nasc_malloc(sizeof(int) * n_lines);
    if (!t || !field || !t->dec || !t->text || !t->value || !t->text_pool || !offs || !row_line) {
        st = nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    size_t pool_len = 0;
    int col = -1, line_no = 0;
    bool truncated;
    char *line = buf;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        size_t ll = strlen(line);
        if (ll && line[ll - 1] == '\r')
            line[--ll] = '\0';
        line_no++;
        char *next = nl ? nl + 1 : NULL;
        if (!ll) { /* blank lines are skipped */
            line = next;
            continue;
        }
        const char *p = line;
        if (col < 0) { /* header */
            int c = 0;
            while (csv_field(&p, field, 8192, &truncated)) {
                if (c > 0 && !strcmp(field, column))
                    col = c;
                c++;
            }
            if (col < 0) {
                st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, -1,
                                    "%s: line %d: no column '%s' in the header (columns: %s)", path,
                                    line_no, column, line);
                set_line(err, line_no);
                goto done;
            }
            line = next;
            continue;
        }
        nasc_arch *a = NULL;
        csv_field(&p, field, 8192, &truncated);
        nasc_err aerr = {0};
        if (truncated || nasc_arch_parse(s, field, &a, &aerr) != NASC_OK) {
            st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, -1,
                                "%s: line %d: not an architecture of space %s: %s", path, line_no,
                                nasc_space_name(s), truncated ? "text too long" : aerr.msg);
            set_line(err, line_no);
            goto done;
        }
        arch_key(t, a, t->dec + t->n * (size_t)t->n_dec);
        nasc_arch_free(a);
        size_t fl = strlen(field) + 1; /* never longer than its line: the pool cannot overflow */
        memcpy(t->text_pool + pool_len, field, fl);
        offs[t->n] = pool_len;
        pool_len += fl;
        int c = 1;
        bool found = false;
        while (csv_field(&p, field, 8192, &truncated)) {
            if (c == col) {
                found = true;
                break;
            }
            c++;
        }
        double v = NAN;
        if (!found || !parse_value(field, &v)) {
            st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, -1,
                                found ? "%s: line %d: column '%s': not a number ('%s')"
                                      : "%s: line %d: column '%s': missing%s",
                                path, line_no, column, found ? field : "");
            set_line(err, line_no);
            goto done;
        }
        t->value[t->n] = v;
        row_line[t->n] = line_no; /* to name duplicates */
        t->n++;
        line = next;
    }
    if (col < 0) {
        st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, -1, "%s: empty file (no header)", path);
        goto done;
    }
    for (size_t r = 0; r < t->n; r++)
        t->text[r] = t->text_pool + offs[r];
    /* hash map, checking duplicates */
    t->cap = 16;
    while (t->cap < 2 * t->n)
        t->cap <<= 1;
    t->slot = nasc_calloc(t->cap, sizeof(int64_t));
    if (!t->slot) {
        st = nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    size_t mask = t->cap - 1;
    for (size_t r = 0; r < t->n && st == NASC_OK; r++) {
        const int *d = t->dec + r * (size_t)t->n_dec;
        for (size_t i = (size_t)hash_dec(d, t->n_dec) & mask;; i = (i + 1) & mask) {
            if (!t->slot[i]) {
                t->slot[i] = (int64_t)r + 1;
                break;
            }
            int64_t o = t->slot[i] - 1;
            if (!memcmp(t->dec + (size_t)o * (size_t)t->n_dec, d, sizeof(int) * (size_t)t->n_dec)) {
                st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, -1,
                                    "%s: line %d: duplicate architecture (first on line %d): %s",
                                    path, row_line[r], row_line[o], t->text[r]);
                set_line(err, row_line[r]);
                break;
            }
        }
    }
done:
    nasc_free(offs);
    nasc_free(row_line);
    nasc_free(field);
    nasc_free(buf);
    if (st != NASC_OK) {
        nasc_table_free(t);
        return st;
    }
    *out = t;
    return NASC_OK;
}

/* ---- finding the NAS-Bench-201 CSV ---- */

static bool file_exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

nasc_status nasc_nb201_csv_find(char *buf, size_t n, nasc_err *err) {
    char tried[1024] = "";
    const char *env = getenv("NASC_NB201_CSV");
    if (env && *env) {
        snprintf(buf, n, "%s", env);
        if (file_exists(buf))
            return NASC_OK;
        snprintf(tried + strlen(tried), sizeof tried - strlen(tried), "%s ", buf);
    }
    env = getenv("NASC_DATA_DIR");
    if (env && *env) {
        snprintf(buf, n, "%s/nb201_cifar.csv", env);
        if (file_exists(buf))
            return NASC_OK;
        snprintf(tried + strlen(tried), sizeof tried - strlen(tried), "%s ", buf);
    }
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) {
        exe[k] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0'; /* exe's directory */
            static const char *const rel[] = {"/../data/nb201_cifar.csv",
                                              "/../../data/nb201_cifar.csv",
                                              "/../share/nasc/nb201_cifar.csv"};
            for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
                snprintf(buf, n, "%s%s", exe, rel[i]);
                if (file_exists(buf))
                    return NASC_OK;
                snprintf(tried + strlen(tried), sizeof tried - strlen(tried), "%s ", buf);
            }
        }
    }
    snprintf(buf, n, "data/nb201_cifar.csv");
    if (file_exists(buf))
        return NASC_OK;
    snprintf(tried + strlen(tried), sizeof tried - strlen(tried), "%s", buf);
    return nasc_errorf(err, NASC_ERR_IO,
                       "nb201: cannot find nb201_cifar.csv (set NASC_NB201_CSV or NASC_DATA_DIR; "
                       "looked at: %s)",
                       tried);
}

/* ---- the tabular evaluator ---- */

typedef struct tabular {
    nasc_table *table;
    char name[256];
} tabular;

static nasc_status tabular_evaluate(nasc_evaluator *ev, const nasc_eval_request *req,
                                    nasc_trial_result *out, nasc_err *err) {
    (void)err;
    tabular *tb = ev->impl;
    double v;
    if (!nasc_table_lookup(tb->table, req->arch, &v)) {
        char *text = nasc_arch_to_string(req->arch);
        nasc_trial_result_fail(out, "%s: architecture not in the table: %s", tb->name,
                               text ? text : "?");
        nasc_free(text);
    } else if (isnan(v)) {
        nasc_trial_result_fail(out, "%s: no value for this architecture", tb->name);
    } else {
        out->status = NASC_TRIAL_OK;
        out->score = v;
    }
    out->fidelity = req->fidelity > 0 ? req->fidelity : ev->max_fidelity;
    return NASC_OK;
}

static void tabular_free(void *impl) {
    tabular *tb = impl;
    if (!tb)
        return;
    nasc_table_free(tb->table);
    nasc_free(tb);
}

static const nasc_evaluator_i tabular_iface = {
    .kind = "tabular",
    .evaluate = tabular_evaluate,
    .free_impl = tabular_free,
};

const nasc_table *nasc_evaluator_table(const nasc_evaluator *ev) {
    return ev && ev->iface == &tabular_iface ? ((const tabular *)ev->impl)->table : NULL;
}

nasc_status nasc_evaluator_tabular_new(const nasc_space *s, const char *spec, const char *csv_path,
                                       nasc_evaluator **out, nasc_err *err) {
    *out = NULL;
    char path[1024], column[256];
    if (!strncmp(spec, "nb201:", 6)) {
        const char *ds = spec + 6;
        if (strcmp(ds, "cifar10") && strcmp(ds, "cifar100"))
            return nasc_errorf(err, NASC_ERR_ARG,
                               "benchmark '%s': unknown dataset '%s' (nb201 tables: cifar10, "
                               "cifar100)",
                               spec, ds);
        if (strcmp(nasc_space_name(s), "nb201"))
            return nasc_errorf(err, NASC_ERR_ARG, "benchmark '%s' needs --space nb201 (got %s)",
                               spec, nasc_space_name(s));
        snprintf(column, sizeof column, "%s_test_acc", ds);
        if (csv_path)
            snprintf(path, sizeof path, "%s", csv_path);
        else
            NASC_TRY(nasc_nb201_csv_find(path, sizeof path, err));
    } else if (!strncmp(spec, "table:", 6)) {
        const char *rest = spec + 6, *colon = strrchr(rest, ':');
        if (!colon || colon == rest || !colon[1])
            return nasc_errorf(err, NASC_ERR_ARG, "benchmark '%s': expected table:FILE.csv:COLUMN",
                               spec);
        if ((size_t)(colon - rest) >= sizeof path || strlen(colon + 1) >= sizeof column)
            return nasc_errorf(err, NASC_ERR_ARG, "benchmark '%s': name too long", spec);
        snprintf(path, sizeof path, "%.*s", (int)(colon - rest), rest);
        snprintf(column, sizeof column, "%s", colon + 1);
    } else {
        return nasc_errorf(err, NASC_ERR_ARG,
                           "benchmark '%s': expected nb201:cifar10, nb201:cifar100 or "
                           "table:FILE.csv:COLUMN",
                           spec);
    }
    tabular *tb = nasc_calloc(1, sizeof *tb);
    if (!tb)
        return nasc_errorf(err, NASC_ERR_NOMEM, "tabular: out of memory");
    snprintf(tb->name, sizeof tb->name, "%s", spec);
    nasc_status st = nasc_table_load(s, path, column, &tb->table, err);
    if (st != NASC_OK) {
        nasc_free(tb);
        return st;
    }
    size_t rows = nasc_table_size(tb->table);
    nasc_evaluator *ev = nasc_evaluator_new(&tabular_iface, tb, s);
    if (!ev)
        return nasc_errorf(err, NASC_ERR_NOMEM, "tabular: out of memory");
    ev->in_process = true;
    ev->max_fidelity = 1.0;
    snprintf(ev->desc, sizeof ev->desc, "%.100s (%zu rows)", spec, rows);
    *out = ev;
    return NASC_OK;
}
