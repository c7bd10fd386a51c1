/* text.c — "did you mean" suggestions, shortest round-trip number formatting and sizes with unit
 * suffixes (text.h). */
#include "nasc/text.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { MAX_WORD = 63 };

int nasc_edit_distance(const char *a, const char *b) {
    /* rows i-2, i-1 and i of the (|a|+1) x (|b|+1) dynamic-programming table */
    int la = (int)strnlen(a, MAX_WORD), lb = (int)strnlen(b, MAX_WORD);
    int r0[MAX_WORD + 1], r1[MAX_WORD + 1], r2[MAX_WORD + 1];
    int *pp = r0, *p = r1, *c = r2;
    for (int j = 0; j <= lb; j++)
        p[j] = j;
    for (int i = 1; i <= la; i++) {
        c[0] = i;
        const int ca = tolower((unsigned char)a[i - 1]);
        for (int j = 1; j <= lb; j++) {
            const int cb = tolower((unsigned char)b[j - 1]);
            int d = p[j - 1] + (ca != cb);
            if (p[j] + 1 < d)
                d = p[j] + 1;
            if (c[j - 1] + 1 < d)
                d = c[j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && pp[j - 2] + 1 < d)
                d = pp[j - 2] + 1; /* adjacent transposition */
            c[j] = d;
        }
        int *t = pp;
        pp = p, p = c, c = t;
    }
    return p[lb];
}

const char *nasc_suggest(const char *word, const char *names, char *out, size_t n) {
    if (n)
        out[0] = '\0';
    if (!word || !names || !n)
        return NULL;
    const size_t lw = strlen(word);
    if (lw == 0 || lw > MAX_WORD)
        return NULL;
    const int limit = lw <= 4 ? 1 : 2;
    int best = limit + 1, n_prefix = 0;
    char best_name[MAX_WORD + 1] = "", prefix_name[MAX_WORD + 1] = "";
    for (const char *s = names; *s;) {
        s += strspn(s, ", |");
        const size_t len = strcspn(s, ", |");
        if (!len)
            break;
        if (len <= MAX_WORD) {
            char name[MAX_WORD + 1];
            memcpy(name, s, len);
            name[len] = '\0';
            if (!strcmp(name, word)) /* an exact name is no typo */
                return NULL;
            const int d = nasc_edit_distance(word, name);
            if (d < best) {
                best = d;
                memcpy(best_name, name, len + 1);
            }
            if (lw >= 3 && lw < len && !strncasecmp(word, name, lw) && n_prefix++ == 0)
                memcpy(prefix_name, name, len + 1);
        }
        s += len;
    }
    const char *pick = best <= limit ? best_name : n_prefix == 1 ? prefix_name : NULL;
    if (!pick)
        return NULL;
    snprintf(out, n, "%s", pick);
    return out;
}

const char *nasc_did_you_mean(const char *word, const char *names, char *out, size_t n) {
    char name[MAX_WORD + 1];
    if (n)
        out[0] = '\0';
    if (n && nasc_suggest(word, names, name, sizeof name))
        snprintf(out, n, "; did you mean '%s'?", name);
    return out;
}

const char *nasc_fmt_real(double v, char *out, size_t n) {
    if (!n)
        return out;
    if (isnan(v)) {
        snprintf(out, n, "nan");
        return out;
    }
    if (isinf(v)) {
        snprintf(out, n, v > 0 ? "inf" : "-inf");
        return out;
    }
    if (v == floor(v) && fabs(v) < 9007199254740992.0) { /* integers (counts) print whole */
        snprintf(out, n, "%.0f", v);
        return out;
    }
    const float f = (float)v;
    const bool is_float = isfinite(f) && (double)f == v;
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, n, "%.*g", prec, v);
        if (is_float ? strtof(out, NULL) == f : strtod(out, NULL) == v)
            return out;
    }
    return out; /* %.17g always reads back as v */
}

bool nasc_unit_multiplier(const char *suffix, double base, const char *units, unsigned flags,
                          double *out_mult) {
    if (!*suffix) {
        *out_mult = 1.0;
        return true;
    }
    const size_t n = strlen(suffix);
    for (const char *u = units; *u;) {
        const size_t len = strcspn(u, " ");
        const bool same = len == n && ((flags & NASC_UNIT_NOCASE) ? !strncasecmp(u, suffix, n)
                                                                   : !strncmp(u, suffix, n));
        if (same) {
            const char *powers = "BKMG", *p = strchr(powers, toupper((unsigned char)u[0]));
            if (!p)
                return false; /* not a size unit: the list is wrong */
            double mult = 1.0;
            for (long i = 0; i < p - powers; i++)
                mult *= base;
            *out_mult = mult;
            return true;
        }
        u += len;
        u += strspn(u, " ");
    }
    return false;
}

nasc_size_rc nasc_parse_size(const char *text, double base, const char *units, unsigned flags,
                             double *out) {
    char *end;
    errno = 0;
    const double x = strtod(text, &end);
    if (errno || end == text || !isfinite(x))
        return NASC_SIZE_BAD_NUMBER;
    double mult;
    if (!nasc_unit_multiplier(end, base, units, flags, &mult))
        return NASC_SIZE_BAD_UNIT;
    *out = x * mult;
    return NASC_SIZE_OK;
}
