/* tabular.c — tables of architecture -> value (NAS-Bench-201 and user CSVs) and the tabular
 * evaluator. A table is parsed once into an open-addressing hash map keyed by each row's decision
 * sequence (one per architecture, space.h), so a lookup is one probe sequence and loading the
 * 15,625-row NAS-Bench-201 table takes about 20 ms (parsing its texts). */
#include "nasc/limits.h"
#include "nasc/arena.h"
#include "nasc/estimate.h"

#include <dlfcn.h>
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
    int n_cols;              /* columns kept */
    double *value;           /* value[i*n_cols + c] (NaN = missing) */
    char **col_name;         /* header name of kept column c (owned, one block) */
    int *line;               /* file line of row i (for messages about its values) */
    char **text;             /* row i's architecture text as written in the file (in text_pool) */
    char *text_pool;
    char path[256]; /* the file, for messages */
    size_t cap;     /* hash slots (power of two) */
    int64_t *slot;  /* row index + 1, 0 = empty */
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
    nasc_free(t->col_name);
    nasc_free(t->line);
    nasc_free(t->text_pool);
    nasc_free(t->slot);
    nasc_free(t);
}

size_t nasc_table_size(const nasc_table *t) {
    return t->n;
}
int nasc_table_n_columns(const nasc_table *t) {
    return t->n_cols;
}
const char *nasc_table_column(const nasc_table *t, int c) {
    return c >= 0 && c < t->n_cols ? t->col_name[c] : NULL;
}
int nasc_table_column_index(const nasc_table *t, const char *name) {
    for (int c = 0; c < t->n_cols; c++)
        if (!strcmp(t->col_name[c], name))
            return c;
    return -1;
}
double nasc_table_get(const nasc_table *t, size_t i, int c) {
    return i < t->n && c >= 0 && c < t->n_cols ? t->value[i * (size_t)t->n_cols + (size_t)c]
                                               : (double)NAN;
}
double nasc_table_value(const nasc_table *t, size_t i) {
    return nasc_table_get(t, i, 0);
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

int64_t nasc_table_find(const nasc_table *t, const nasc_arch *a) {
    int stack[64], *d = t->n_dec <= 64 ? stack : nasc_malloc(sizeof(int) * (size_t)t->n_dec);
    if (!d)
        return -1;
    arch_key(t, a, d);
    int64_t r = table_find(t, d);
    if (d != stack)
        nasc_free(d);
    return r;
}

bool nasc_table_lookup(const nasc_table *t, const nasc_arch *a, double *out_value) {
    int64_t r = nasc_table_find(t, a);
    if (r < 0)
        return false;
    *out_value = nasc_table_get(t, (size_t)r, 0);
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

typedef struct search_report {
    double s, r;
} search_report;

static int cmp_search(const void *a, const void *b) {
    double x = ((const search_report *)a)->s, y = ((const search_report *)b)->s;
    return (x > y) - (x < y);
}

/* Over the m rows sorted by search value v_(1) <= ... <= v_(m), the best of n draws is row i with
 * probability (i/m)^n - ((i-1)/m)^n. Rows with equal search values share their total probability
 * equally (each is as likely to be the first of them drawn). */
void nasc_table_expected_best(const nasc_table *t, int n, int search_col, int report_col,
                              double *out_mean, double *out_std) {
    *out_mean = *out_std = (double)NAN;
    search_report *v = nasc_malloc(sizeof *v * (t->n ? t->n : 1));
    if (!v)
        return;
    size_t m = 0;
    for (size_t i = 0; i < t->n; i++) {
        double s = nasc_table_get(t, i, search_col), r = nasc_table_get(t, i, report_col);
        if (isfinite(s))
            v[m++] = (search_report){s, r};
    }
    if (m && n > 0) {
        qsort(v, m, sizeof *v, cmp_search);
        double e1 = 0.0, e2 = 0.0;
        for (size_t i = 0; i < m;) {
            size_t j = i;
            while (j < m && v[j].s == v[i].s)
                j++;
            /* rows i..j-1 (0-based) tie: P(best is among them) = (j/m)^n - (i/m)^n */
            double p = pow((double)j / (double)m, n) - pow((double)i / (double)m, n);
            for (size_t k = i; k < j; k++) {
                e1 += p / (double)(j - i) * v[k].r;
                e2 += p / (double)(j - i) * v[k].r * v[k].r;
            }
            i = j;
        }
        *out_mean = e1;
        *out_std = sqrt(fmax(0.0, e2 - e1 * e1));
    }
    nasc_free(v);
}

void nasc_table_expected_max(const nasc_table *t, int n, double *out_mean, double *out_std) {
    nasc_table_expected_best(t, n, 0, 0, out_mean, out_std);
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
    char *buf = NULL;
    nasc_file_read_all(path, "table", NASC_MAX_TABLE_BYTES, &buf, out_len, err);
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

/* Index of the header field that column name `want` means: an exact match, else the one field
 * that is want + "_" + a suffix without '_' (a unit: "latency_raspi4" -> "latency_raspi4_ms").
 * -1 if none, -2 if several fields fit the second rule. Field 0 (the architecture) never
 * matches. */
static int header_match(char *const *fields, int n, const char *want) {
    for (int c = 1; c < n; c++)
        if (!strcmp(fields[c], want))
            return c;
    int found = -1;
    size_t wl = strlen(want);
    for (int c = 1; c < n; c++)
        if (!strncmp(fields[c], want, wl) && fields[c][wl] == '_' && fields[c][wl + 1] &&
            !strchr(fields[c] + wl + 1, '_'))
            found = found == -1 ? c : -2;
    return found;
}

/* Splits the header line into fields (pointers into one nasc_malloc'd block holding the copies
 * and the pointer array); NULL on OOM. */
static char **header_fields(const char *line, int *out_n, char *field, size_t field_n) {
    const char *p = line;
    bool truncated;
    int n = 0;
    while (csv_field(&p, field, field_n, &truncated))
        n++;
    size_t bytes = sizeof(char *) * (size_t)(n ? n : 1) + strlen(line) + (size_t)n + 1;
    char **f = nasc_malloc(bytes);
    if (!f)
        return NULL;
    char *pool = (char *)(f + (n ? n : 1));
    p = line;
    for (int i = 0; i < n; i++) {
        csv_field(&p, field, field_n, &truncated);
        size_t l = strlen(field) + 1;
        memcpy(pool, field, l);
        f[i] = pool;
        pool += l;
    }
    *out_n = n;
    return f;
}

nasc_status nasc_table_load(const nasc_space *s, const char *path, const char *column,
                            nasc_table **out, nasc_err *err) {
    return nasc_table_load_columns(s, path, &column, 1, out, err);
}

nasc_status nasc_table_load_columns(const nasc_space *s, const char *path,
                                    const char *const *columns, int n_columns, nasc_table **out,
                                    nasc_err *err) {
    *out = NULL;
    if (n_columns < 1)
        return nasc_errorf(err, NASC_ERR_ARG, "%s: no column asked for", path);
    size_t len = 0;
    char *buf = read_file(path, &len, err);
    if (!buf)
        return err ? err->code : NASC_ERR_IO;
    nasc_status st = NASC_OK;
    size_t *offs = NULL;
    char **hdr = NULL;
    int n_hdr = 0;
    int *col_of = nasc_malloc(sizeof(int) * (size_t)n_columns); /* header field of column c */
    nasc_table *t = nasc_calloc(1, sizeof *t);
    char *field = nasc_malloc(8192);
    size_t n_lines = 1;
    for (size_t i = 0; i < len; i++)
        n_lines += buf[i] == '\n';
    int n_dec = nasc_space_n_decisions(s);
    if (t) {
        t->space = s;
        snprintf(t->path, sizeof t->path, "%s", path);
        t->n_dec = n_dec > 0 ? n_dec : 1;
        t->n_cols = n_columns;
        t->dec = nasc_malloc(sizeof(int) * (size_t)t->n_dec * n_lines);
        t->text = nasc_calloc(n_lines, sizeof(char *));
        t->value = nasc_malloc(sizeof(double) * (size_t)n_columns * n_lines);
        t->line = nasc_malloc(sizeof(int) * n_lines);
        t->text_pool = nasc_malloc(len + 1);
    }
    offs = nasc_malloc(sizeof(size_t) * n_lines);
    if (!t || !field || !col_of || !t->dec || !t->text || !t->value || !t->line || !t->text_pool ||
        !offs) {
        st = nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    size_t pool_len = 0;
    int line_no = 0;
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
        if (!hdr) { /* header: find every column asked for */
            if (!(hdr = header_fields(line, &n_hdr, field, 8192))) {
                st = nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", path);
                goto done;
            }
            size_t name_bytes = 0;
            for (int c = 0; c < n_columns; c++) {
                col_of[c] = header_match(hdr, n_hdr, columns[c]);
                if (col_of[c] < 0) {
                    st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, -1,
                                        col_of[c] == -1
                                            ? "%s: line %d: no column '%s' in the header "
                                              "(columns: %s)"
                                            : "%s: line %d: column '%s' is ambiguous (columns: "
                                              "%s)",
                                        path, line_no, columns[c], line);
                    set_line(err, line_no);
                    goto done;
                }
                name_bytes += strlen(hdr[col_of[c]]) + 1;
            }
            t->col_name = nasc_malloc(sizeof(char *) * (size_t)n_columns + name_bytes);
            if (!t->col_name) {
                st = nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", path);
                goto done;
            }
            char *np = (char *)(t->col_name + n_columns);
            for (int c = 0; c < n_columns; c++) {
                size_t l = strlen(hdr[col_of[c]]) + 1;
                memcpy(np, hdr[col_of[c]], l);
                t->col_name[c] = np;
                np += l;
            }
            line = next;
            continue;
        }
        nasc_arch *a = NULL;
        csv_field(&p, field, 8192, &truncated);
        nasc_err aerr = {0};
        if (truncated || nasc_arch_parse(s, field, &a, &aerr) != NASC_OK) {
            st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, -1,
                                "%s: line %d: column '%s': not an architecture of space %s: %s",
                                path, line_no, hdr[0], nasc_space_name(s),
                                truncated ? "text too long" : aerr.msg);
            set_line(err, line_no);
            goto done;
        }
        arch_key(t, a, t->dec + t->n * (size_t)t->n_dec);
        nasc_arch_free(a);
        size_t fl = strlen(field) + 1; /* never longer than its line: the pool cannot overflow */
        memcpy(t->text_pool + pool_len, field, fl);
        offs[t->n] = pool_len;
        pool_len += fl;
        double *row = t->value + t->n * (size_t)n_columns;
        for (int c = 0; c < n_columns; c++)
            row[c] = (double)NAN;
        int f = 1, n_found = 0;
        while (n_found < n_columns && csv_field(&p, field, 8192, &truncated)) {
            for (int c = 0; c < n_columns; c++) {
                if (col_of[c] != f)
                    continue;
                n_found++;
                if (!parse_value(field, &row[c])) {
                    st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, -1,
                                        "%s: line %d: column '%s': not a number ('%s')", path,
                                        line_no, hdr[f], field);
                    set_line(err, line_no);
                    goto done;
                }
            }
            f++;
        }
        if (n_found < n_columns) {
            for (int c = 0; c < n_columns; c++)
                if (col_of[c] >= f) {
                    st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, -1,
                                        "%s: line %d: column '%s': missing (the row has %d "
                                        "fields)",
                                        path, line_no, hdr[col_of[c]], f);
                    break;
                }
            set_line(err, line_no);
            goto done;
        }
        t->line[t->n] = line_no;
        t->n++;
        line = next;
    }
    if (!hdr) {
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
                                    path, t->line[r], t->line[o], t->text[r]);
                set_line(err, t->line[r]);
                break;
            }
        }
    }
done:
    nasc_free(offs);
    nasc_free(hdr);
    nasc_free(col_of);
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
        snprintf(buf, n, "%s/nb201.csv", env);
        if (file_exists(buf))
            return NASC_OK;
        snprintf(tried + strlen(tried), sizeof tried - strlen(tried), "%s ", buf);
    }
#ifdef NASC_INSTALL_DATADIR
    /* An installed copy: the data directory fixed by CMake's install prefix at configure time. */
    snprintf(buf, n, "%s/nb201.csv", NASC_INSTALL_DATADIR);
    if (file_exists(buf))
        return NASC_OK;
    snprintf(tried + strlen(tried), sizeof tried - strlen(tried), "%s ", buf);
#endif
#ifdef NASC_LIBDIR_TO_DATADIR
    /* An installed copy moved or installed with `cmake --install --prefix P`: the data directory
     * beside the library that holds this code (libnasc.so; the executable itself when libnasc.a
     * was linked in). */
    Dl_info info;
    if (dladdr((void *)nasc_nb201_csv_find, &info) && info.dli_fname) {
        char lib[PATH_MAX];
        if (realpath(info.dli_fname, lib)) {
            char *slash = strrchr(lib, '/');
            if (slash) {
                *slash = '\0';
                snprintf(buf, n, "%s/%s/nb201.csv", lib, NASC_LIBDIR_TO_DATADIR);
                if (file_exists(buf))
                    return NASC_OK;
                snprintf(tried + strlen(tried), sizeof tried - strlen(tried), "%s ", buf);
            }
        }
    }
#endif
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) {
        exe[k] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0'; /* exe's directory */
            static const char *const rel[] = {"/../data/nb201.csv", "/../../data/nb201.csv",
                                              "/../share/nasc/nb201.csv"};
            for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
                snprintf(buf, n, "%s%s", exe, rel[i]);
                if (file_exists(buf))
                    return NASC_OK;
                snprintf(tried + strlen(tried), sizeof tried - strlen(tried), "%s ", buf);
            }
        }
    }
    snprintf(buf, n, "data/nb201.csv");
    if (file_exists(buf))
        return NASC_OK;
    snprintf(tried + strlen(tried), sizeof tried - strlen(tried), "%s", buf);
    return nasc_errorf(err, NASC_ERR_IO,
                       "nb201: cannot find nb201.csv (set NASC_NB201_CSV or NASC_DATA_DIR; "
                       "looked at: %s)",
                       tried);
}

/* ---- the tabular evaluator ---- */

/* Columns of the evaluator's table, in this order (absent ones are -1 and take no column). */
typedef struct tabular {
    nasc_table *table;
    int c_search, c_report;  /* at the full fidelity */
    int c_low, c_low_report; /* at the low fidelity */
    int c_cost;              /* training seconds at the full fidelity */
    int c_extra, n_extra;    /* result.columns */
    double low_epochs, full_epochs;
    char name[256];
} tabular;

bool nasc_trial_better(double fidelity_a, double score_a, double fidelity_b, double score_b) {
    if (isnan(score_a))
        return false;
    if (isnan(score_b))
        return true;
    return fidelity_a > fidelity_b || (fidelity_a == fidelity_b && score_a > score_b);
}

static nasc_status tabular_evaluate(nasc_evaluator *ev, const nasc_eval_request *req,
                                    nasc_trial_result *out, nasc_err *err) {
    (void)err;
    tabular *tb = ev->impl;
    /* the smallest fidelity the table has that is >= the one asked (0 = full) */
    bool low = tb->c_low >= 0 && req->fidelity > 0 && req->fidelity <= tb->low_epochs;
    double fid = low ? tb->low_epochs : tb->full_epochs;
    out->fidelity = fid;
    int64_t r = nasc_table_find(tb->table, req->arch);
    if (r < 0) {
        char *text = nasc_arch_to_string(req->arch);
        nasc_trial_result_fail(out, "%s: architecture not in the table: %s", tb->name,
                               text ? text : "?");
        nasc_free(text);
        return NASC_OK;
    }
    const nasc_table *t = tb->table;
    size_t row = (size_t)r;
    if (tb->c_cost >= 0) /* the training happened whatever its result */
        out->sim_seconds = nasc_table_get(t, row, tb->c_cost) * fid / tb->full_epochs;
    for (int j = 0; j < tb->n_extra; j++)
        out->columns[j] = nasc_table_get(t, row, tb->c_extra + j);
    out->n_columns = tb->n_extra;
    int c_score = low ? tb->c_low : tb->c_search, c_test = low ? tb->c_low_report : tb->c_report;
    double v = nasc_table_get(t, row, c_score);
    if (isnan(v)) {
        nasc_trial_result_fail(out, "%s: no value for this architecture (column %s, line %d)",
                               tb->name, nasc_table_column(t, c_score), t->line[row]);
        return NASC_OK;
    }
    out->status = NASC_TRIAL_OK;
    out->score = v;
    out->test_score = nasc_table_get(t, row, c_test);
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

/* "NAME" or "NAME:REPORT" into two buffers (report "" if absent). */
static nasc_status split_pair(const char *what, const char *v, char *a, char *b, size_t n,
                              nasc_err *err) {
    const char *colon = strchr(v, ':');
    size_t la = colon ? (size_t)(colon - v) : strlen(v);
    if (!la || la >= n ||
        (colon && (!colon[1] || strlen(colon + 1) >= n || strchr(colon + 1, ':'))))
        return nasc_errorf(err, NASC_ERR_ARG, "%s '%s': expected COLUMN or COLUMN:REPORT_COLUMN",
                           what, v);
    snprintf(a, n, "%.*s", (int)la, v);
    snprintf(b, n, "%s", colon ? colon + 1 : "");
    return NASC_OK;
}

nasc_status nasc_evaluator_table_new(const nasc_space *s, const nasc_table_eval_config *c,
                                     nasc_evaluator **out, nasc_err *err) {
    *out = NULL;
    enum { NAME = 128 };
    char path[1024], search[NAME], report[NAME] = "", low[NAME] = "", low_report[NAME] = "",
                                   cost[NAME] = "";
    const char *spec = c->spec ? c->spec : "";
    bool has_low = c->low && *c->low, has_cost = c->cost && *c->cost;
    if (c->n_columns < 0 || c->n_columns > NASC_MAX_COLUMNS)
        return nasc_errorf(err, NASC_ERR_ARG,
                           "benchmark '%s': at most %d table columns as "
                           "objectives and constraints (got %d)",
                           spec, NASC_MAX_COLUMNS, c->n_columns);
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
        if (has_low || has_cost)
            return nasc_errorf(err, NASC_ERR_ARG,
                               "benchmark '%s': %s is for user tables (the nb201 tables have "
                               "their own columns)",
                               spec, has_low ? "table-low" : "table-cost");
        const char *sc = c->oracle ? "test" : "valid";
        snprintf(search, sizeof search, "%s_%s", ds, sc);
        snprintf(report, sizeof report, "%s_test", ds);
        snprintf(low, sizeof low, "%s_%s_12ep", ds, sc);
        snprintf(low_report, sizeof low_report, "%s_test_12ep", ds);
        snprintf(cost, sizeof cost, "%s_train_seconds", ds);
        if (c->csv_path)
            snprintf(path, sizeof path, "%s", c->csv_path);
        else
            NASC_TRY(nasc_nb201_csv_find(path, sizeof path, err));
    } else if (!strncmp(spec, "table:", 6)) {
        if (c->oracle)
            return nasc_errorf(err, NASC_ERR_ARG,
                               "benchmark '%s': oracle is for the nb201 tables (a user table "
                               "names the column it searches on)",
                               spec);
        /* FILE:SEARCH or FILE:SEARCH:REPORT; a path may hold ':' itself, so the two-column form
         * is taken when the part before the last two names is a file */
        const char *rest = spec + 6, *last = strrchr(rest, ':');
        if (!last || last == rest || !last[1])
            return nasc_errorf(err, NASC_ERR_ARG,
                               "benchmark '%s': expected table:FILE.csv:SEARCH_COLUMN"
                               "[:REPORT_COLUMN]",
                               spec);
        const char *prev = last;
        while (prev > rest && prev[-1] != ':')
            prev--;
        prev = prev > rest ? prev - 1 : NULL; /* the colon before the last name */
        size_t pl = (size_t)(last - rest);
        if (prev && prev > rest) {
            snprintf(path, sizeof path, "%.*s", (int)(prev - rest), rest);
            if (file_exists(path) && last > prev + 1)
                pl = (size_t)(prev - rest);
        }
        if (pl >= sizeof path)
            return nasc_errorf(err, NASC_ERR_ARG, "benchmark '%s': path too long", spec);
        snprintf(path, sizeof path, "%.*s", (int)pl, rest);
        NASC_TRY(split_pair("benchmark", rest + pl + 1, search, report, NAME, err));
        if (has_low)
            NASC_TRY(split_pair("table-low", c->low, low, low_report, NAME, err));
        if (has_cost) {
            if (strlen(c->cost) >= NAME || strchr(c->cost, ':'))
                return nasc_errorf(err, NASC_ERR_ARG, "table-cost '%s': expected a column name",
                                   c->cost);
            snprintf(cost, sizeof cost, "%s", c->cost);
        }
    } else {
        return nasc_errorf(err, NASC_ERR_ARG,
                           "benchmark '%s': expected nb201:cifar10, nb201:cifar100 or "
                           "table:FILE.csv:SEARCH_COLUMN[:REPORT_COLUMN]",
                           spec);
    }
    double low_ep = c->low_epochs > 0 ? c->low_epochs : 12.0;
    double full_ep = c->full_epochs > 0 ? c->full_epochs : 200.0;
    if (low[0] && !(low_ep < full_ep))
        return nasc_errorf(err, NASC_ERR_ARG,
                           "benchmark '%s': the low fidelity (%g epochs) must be below the full "
                           "one (%g)",
                           spec, low_ep, full_ep);
    /* the columns to load, in the order of struct tabular */
    const char *names[5 + NASC_MAX_COLUMNS];
    int n = 0;
    tabular *tb = nasc_calloc(1, sizeof *tb);
    if (!tb)
        return nasc_errorf(err, NASC_ERR_NOMEM, "tabular: out of memory");
#define ADD(field, name) tb->field = (name)[0] ? (names[n] = (name), n++) : -1
    ADD(c_search, search);
    ADD(c_report, report);
    ADD(c_low, low);
    ADD(c_low_report, low_report);
    ADD(c_cost, cost);
#undef ADD
    tb->c_extra = n;
    tb->n_extra = c->n_columns;
    for (int j = 0; j < c->n_columns; j++)
        names[n++] = c->columns[j];
    tb->low_epochs = low_ep;
    tb->full_epochs = full_ep;
    snprintf(tb->name, sizeof tb->name, "%s", spec);
    nasc_status st = nasc_table_load_columns(s, path, names, n, &tb->table, err);
    if (st != NASC_OK) {
        nasc_free(tb);
        return st;
    }
    const nasc_table *t = tb->table;
    /* a strategy must never be handed the report column through an objective */
    for (int j = 0; j < tb->n_extra && tb->c_report >= 0 && !c->oracle; j++)
        if (!strcmp(nasc_table_column(t, tb->c_extra + j), nasc_table_column(t, tb->c_report)) ||
            (tb->c_low_report >= 0 && !strcmp(nasc_table_column(t, tb->c_extra + j),
                                              nasc_table_column(t, tb->c_low_report)))) {
            st = nasc_errorf(err, NASC_ERR_ARG,
                             "benchmark '%s': column '%s' is the one reported, not one to search "
                             "on (objectives and constraints see only search columns)",
                             spec, nasc_table_column(t, tb->c_extra + j));
            tabular_free(tb);
            return st;
        }
    double sum_cost = 0.0;
    for (size_t i = 0; i < t->n && tb->c_cost >= 0; i++) {
        double v = nasc_table_get(t, i, tb->c_cost);
        sum_cost += v;
        if (!(v > 0) || !isfinite(v)) {
            st = nasc_errorf_at(err, NASC_ERR_FORMAT, path, -1,
                                "%s: line %d: column '%s': a training time must be a number > 0 "
                                "(got %g)",
                                path, t->line[i], nasc_table_column(t, tb->c_cost), v);
            set_line(err, t->line[i]);
            tabular_free(tb);
            return st;
        }
    }
    size_t rows = nasc_table_size(t);
    nasc_evaluator *ev = nasc_evaluator_new(&tabular_iface, tb, s);
    if (!ev)
        return nasc_errorf(err, NASC_ERR_NOMEM, "tabular: out of memory");
    ev->in_process = true;
    ev->max_fidelity = full_ep;
    if (tb->c_low >= 0)
        ev->fidelities[ev->n_fidelities++] = low_ep;
    ev->fidelities[ev->n_fidelities++] = full_ep;
    ev->has_test = tb->c_report >= 0;
    ev->has_sim_time = tb->c_cost >= 0;
    ev->mean_sim_seconds = tb->c_cost >= 0 && t->n > 0 ? sum_cost / (double)t->n : 0.0;
    snprintf(ev->desc, sizeof ev->desc, "%.80s%s (%zu rows)", spec, c->oracle ? " ORACLE" : "",
             rows);
    *out = ev;
    return NASC_OK;
}

nasc_status nasc_evaluator_tabular_new(const nasc_space *s, const char *spec, const char *csv_path,
                                       nasc_evaluator **out, nasc_err *err) {
    const nasc_table_eval_config c = {.spec = spec, .csv_path = csv_path};
    return nasc_evaluator_table_new(s, &c, out, err);
}
