/* space.c — the space registry and every generic function over the space vtable: decision
 * sequences, sampling, enumeration, parse/print/JSON wrappers, hashing, and the default
 * mutation / crossover / neighbours for spaces whose decisions are independent (fixed radix). */
#include "space_int.h"
#include "nasc/limits.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* ---- string builder ---- */

static bool sb_reserve(sp_sb *sb, size_t extra) {
    if (sb->oom)
        return false;
    if (sb->len + extra + 1 <= sb->cap)
        return true;
    size_t cap = sb->cap ? sb->cap : 128;
    while (cap < sb->len + extra + 1)
        cap *= 2;
    char *p = nasc_realloc(sb->buf, cap);
    if (!p) {
        sb->oom = true;
        return false;
    }
    sb->buf = p;
    sb->cap = cap;
    return true;
}

void nasc_sp_sb_printf(sp_sb *sb, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (!sb_reserve(sb, (size_t)n))
        return;
    if ((size_t)n < sizeof tmp) {
        memcpy(sb->buf + sb->len, tmp, (size_t)n + 1);
    } else {
        va_start(ap, fmt);
        vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    sb->len += (size_t)n;
}

void nasc_sp_sb_puts(sp_sb *sb, const char *s) {
    size_t n = strlen(s);
    if (!sb_reserve(sb, n))
        return;
    memcpy(sb->buf + sb->len, s, n + 1);
    sb->len += n;
}

char *nasc_sp_sb_take(sp_sb *sb) {
    char *r = NULL;
    if (!sb->oom) {
        if (!sb->buf)
            r = nasc_strdup("");
        else
            r = sb->buf, sb->buf = NULL;
    }
    nasc_sp_sb_free(sb);
    return r;
}

void nasc_sp_sb_free(sp_sb *sb) {
    nasc_free(sb->buf);
    *sb = (sp_sb){0};
}

/* ---- text cursor ---- */

nasc_status nasc_sp_fail(sp_cur *c, size_t pos, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nasc_errorf_at(c->err, NASC_ERR_FORMAT, NULL, (int64_t)pos, "%s: column %zu: %s",
                          c->space, pos + 1, msg);
}

void nasc_sp_skip_ws(sp_cur *c) {
    while (c->text[c->pos] && isspace((unsigned char)c->text[c->pos]))
        c->pos++;
}

bool nasc_sp_accept(sp_cur *c, const char *lit) {
    nasc_sp_skip_ws(c);
    size_t n = strlen(lit);
    if (strncmp(c->text + c->pos, lit, n) != 0)
        return false;
    c->pos += n;
    return true;
}

const char *nasc_sp_got(const sp_cur *c, char *buf, size_t n) {
    const char *p = c->text + c->pos;
    if (!*p) {
        snprintf(buf, n, "end of text");
        return buf;
    }
    size_t len = 0;
    while (p[len] && len < 12 && p[len] != '\n')
        len++;
    snprintf(buf, n, "'%.*s%s'", (int)len, p, p[len] && p[len] != '\n' ? "..." : "");
    return buf;
}

nasc_status nasc_sp_expect(sp_cur *c, const char *lit) {
    if (nasc_sp_accept(c, lit))
        return NASC_OK;
    char got[32];
    return nasc_sp_fail(c, c->pos, "expected '%s' (got %s)", lit, nasc_sp_got(c, got, sizeof got));
}

static bool is_word_char(char ch) { return isalnum((unsigned char)ch) || ch == '_'; }

bool nasc_sp_word(sp_cur *c, char *buf, size_t n, size_t *start) {
    nasc_sp_skip_ws(c);
    size_t p = c->pos, len = 0;
    if (start)
        *start = p;
    while (is_word_char(c->text[p + len]))
        len++;
    if (!len)
        return false;
    size_t k = len < n - 1 ? len : n - 1;
    memcpy(buf, c->text + p, k);
    buf[k] = '\0';
    c->pos = p + len;
    return true;
}

bool nasc_sp_uint(sp_cur *c, int *out, size_t *start) {
    nasc_sp_skip_ws(c);
    size_t p = c->pos;
    if (start)
        *start = p;
    if (!isdigit((unsigned char)c->text[p]))
        return false;
    long v = 0;
    int digits = 0;
    while (isdigit((unsigned char)c->text[p])) {
        if (++digits > 9)
            return false;
        v = v * 10 + (c->text[p] - '0');
        p++;
    }
    c->pos = p;
    *out = (int)v;
    return true;
}

nasc_status nasc_sp_end(sp_cur *c) {
    nasc_sp_skip_ws(c);
    if (!c->text[c->pos])
        return NASC_OK;
    char got[32];
    return nasc_sp_fail(c, c->pos, "trailing characters %s after the architecture",
                        nasc_sp_got(c, got, sizeof got));
}

int nasc_sp_lookup(const char *const *names, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], name))
            return i;
    return -1;
}

/* ---- hashing ---- */

uint64_t nasc_sp_hash_bytes(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t nasc_sp_hash_str(uint64_t h, const char *s) {
    return nasc_sp_hash_bytes(h, s, strlen(s) + 1); /* include the NUL: "ab"+"c" != "a"+"bc" */
}

uint64_t nasc_sp_hash_final(uint64_t h) { /* splitmix64's finalizer */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}

/* ---- registry ---- */

static const sp_vt *const spaces[] = {
    &nasc_sp_nb201_vt, &nasc_sp_darts_vt, &nasc_sp_chain_vt, &nasc_sp_mobilenet_vt,
    &nasc_sp_macro_vt, &nasc_sp_morph_vt,
};
enum { N_SPACES = (int)(sizeof spaces / sizeof spaces[0]) };

const char *nasc_space_names(void) { return "nb201, darts, chain, mobilenet, macro, morph"; }

nasc_status nasc_space_new(const char *name, const nasc_space_config *cfg, nasc_space **out,
                           nasc_err *err) {
    *out = NULL;
    const sp_vt *vt = NULL;
    for (int i = 0; i < N_SPACES && name; i++)
        if (!strcmp(spaces[i]->name, name))
            vt = spaces[i];
    if (!vt)
        return nasc_errorf(err, NASC_ERR_ARG, "space: unknown name '%s' (expected one of %s)",
                           name ? name : "(null)", nasc_space_names());
    nasc_space *s = nasc_calloc(1, sizeof *s);
    if (!s)
        return nasc_errorf(err, NASC_ERR_NOMEM, "space %s: out of memory", name);
    s->vt = vt;
    if (cfg)
        s->cfg = *cfg;
    nasc_status st = vt->init(s, err);
    if (st != NASC_OK) {
        nasc_space_free(s);
        return st;
    }
    *out = s;
    return NASC_OK;
}

void nasc_space_free(nasc_space *s) {
    if (!s)
        return;
    if (s->vt->free_priv)
        s->vt->free_priv(s);
    nasc_free(s);
}

const char *nasc_space_name(const nasc_space *s) { return s->vt->name; }
uint64_t nasc_space_size(const nasc_space *s) { return s->size; }
int nasc_space_n_decisions(const nasc_space *s) { return s->n_dec; }

int nasc_space_n_options(const nasc_space *s, int i, const int *prev_choices) {
    if (i < 0 || i >= s->n_dec)
        return 0;
    return s->vt->n_options(s, i, prev_choices);
}

/* ---- architectures ---- */

nasc_arch *nasc_sp_arch_new(const nasc_space *s, const int *d, int n) {
    nasc_arch *a = nasc_malloc(sizeof *a + (size_t)(n > 0 ? n : 1) * sizeof(int));
    if (!a)
        return NULL;
    a->space = s;
    a->n = n;
    if (n > 0)
        memcpy(a->d, d, (size_t)n * sizeof(int));
    return a;
}

nasc_status nasc_sp_validate(const nasc_space *s, const int *d, int n, nasc_err *err) {
    if (n < 0 || n > s->n_dec)
        return nasc_errorf(err, NASC_ERR_ARG, "%s: %d decisions, expected at most %d",
                           s->vt->name, n, s->n_dec);
    for (int i = 0; i < n; i++) {
        int k = s->vt->n_options(s, i, d);
        if (k == 0)
            return nasc_errorf(err, NASC_ERR_ARG,
                               "%s: decision sequence ends after %d decisions (got %d)",
                               s->vt->name, i, n);
        if (d[i] < 0 || d[i] >= k)
            return nasc_errorf(err, NASC_ERR_ARG, "%s: decision %d is %d, expected 0..%d",
                               s->vt->name, i, d[i], k - 1);
    }
    if (n < s->n_dec && s->vt->n_options(s, n, d) != 0)
        return nasc_errorf(err, NASC_ERR_ARG, "%s: decision sequence incomplete (%d decisions)",
                           s->vt->name, n);
    if (s->vt->check)
        return s->vt->check(s, d, n, err);
    return NASC_OK;
}

nasc_status nasc_arch_from_decisions(const nasc_space *s, const int *choices, int n,
                                     nasc_arch **out, nasc_err *err) {
    *out = NULL;
    NASC_TRY(nasc_sp_validate(s, choices, n, err));
    *out = nasc_sp_arch_new(s, choices, n);
    return *out ? NASC_OK : nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", s->vt->name);
}

void nasc_arch_to_decisions(const nasc_arch *a, int *out, int *out_n) {
    memcpy(out, a->d, (size_t)a->n * sizeof(int));
    *out_n = a->n;
}

nasc_status nasc_space_sample(const nasc_space *s, nasc_rng *rng, nasc_arch **out,
                              nasc_err *err) {
    *out = NULL;
    int *d = nasc_calloc((size_t)s->n_dec + 1, sizeof(int));
    if (!d)
        return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", s->vt->name);
    nasc_status st = NASC_OK;
    /* Spaces with a semantic check redraw until it passes (none of the built-in ones needs it;
     * the bound keeps a faulty check from looping forever). */
    for (int attempt = 0; attempt < 1000; attempt++) {
        int n = 0;
        for (; n < s->n_dec; n++) {
            int k = s->vt->n_options(s, n, d);
            if (k == 0)
                break;
            d[n] = (int)nasc_rng_below(rng, (uint32_t)k);
        }
        nasc_err tmp = {0};
        st = s->vt->check ? s->vt->check(s, d, n, &tmp) : NASC_OK;
        if (st == NASC_OK) {
            *out = nasc_sp_arch_new(s, d, n);
            if (!*out)
                st = nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", s->vt->name);
            break;
        }
    }
    if (st != NASC_OK && !*out && err && err->code == NASC_OK)
        nasc_errorf(err, NASC_ERR_INTERNAL, "%s: no valid sample in 1000 draws", s->vt->name);
    nasc_free(d);
    return st;
}

nasc_status nasc_space_get(const nasc_space *s, uint64_t i, nasc_arch **out, nasc_err *err) {
    *out = NULL;
    if (!s->size || !s->fixed_radix)
        return nasc_errorf(err, NASC_ERR_UNSUPPORTED, "%s: the space is not enumerable",
                           s->vt->name);
    if (i >= s->size)
        return nasc_errorf(err, NASC_ERR_ARG, "%s: index %llu out of range [0,%llu)",
                           s->vt->name, (unsigned long long)i, (unsigned long long)s->size);
    int *d = nasc_calloc((size_t)s->n_dec + 1, sizeof(int));
    if (!d)
        return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", s->vt->name);
    /* Mixed radix, the last decision varying fastest (itertools.product order). */
    for (int k = s->n_dec - 1; k >= 0; k--) {
        uint64_t r = (uint64_t)s->vt->n_options(s, k, d);
        d[k] = (int)(i % r);
        i /= r;
    }
    nasc_status st = nasc_sp_validate(s, d, s->n_dec, err);
    if (st == NASC_OK) {
        *out = nasc_sp_arch_new(s, d, s->n_dec);
        if (!*out)
            st = nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", s->vt->name);
    }
    nasc_free(d);
    return st;
}

size_t nasc_space_encoding_len(const nasc_space *s, nasc_encoding kind) {
    if ((unsigned)kind >= (unsigned)NASC_ENC_COUNT || !s->vt->encoding_len)
        return 0;
    return s->vt->encoding_len(s, kind);
}

nasc_status nasc_arch_parse(const nasc_space *s, const char *text, nasc_arch **out,
                            nasc_err *err) {
    *out = NULL;
    sp_cur c = {.space = s->vt->name, .text = text ? text : "", .err = err};
    nasc_sp_skip_ws(&c);
    if (!c.text[c.pos])
        return nasc_sp_fail(&c, c.pos, "empty architecture text");
    int *d = nasc_calloc((size_t)s->n_dec + 1, sizeof(int));
    if (!d)
        return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", s->vt->name);
    int n = 0;
    nasc_status st = s->vt->parse(s, c.text, d, &n, err);
    if (st == NASC_OK)
        st = nasc_sp_validate(s, d, n, err);
    if (st == NASC_OK) {
        *out = nasc_sp_arch_new(s, d, n);
        if (!*out)
            st = nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", s->vt->name);
    }
    nasc_free(d);
    return st;
}

char *nasc_arch_to_string(const nasc_arch *a) {
    sp_sb sb = {0};
    a->space->vt->print(a, &sb);
    return nasc_sp_sb_take(&sb);
}

char *nasc_arch_to_json(const nasc_arch *a) {
    char *text = nasc_arch_to_string(a);
    cJSON *o = cJSON_CreateObject();
    char *r = NULL;
    if (text && o && cJSON_AddStringToObject(o, "space", a->space->vt->name) &&
        cJSON_AddStringToObject(o, "arch", text)) {
        if (a->space->vt->json)
            a->space->vt->json(a, o);
        char *p = cJSON_PrintUnformatted(o);
        if (p) {
            r = nasc_strdup(p);
            cJSON_free(p);
        }
    }
    cJSON_Delete(o);
    nasc_free(text);
    return r;
}

nasc_status nasc_arch_from_json(const nasc_space *s, const char *json, nasc_arch **out,
                                nasc_err *err) {
    *out = NULL;
    const char *name = s->vt->name;
    cJSON *o = cJSON_Parse(json ? json : "");
    if (!o) {
        const char *at = cJSON_GetErrorPtr();
        size_t pos = (json && at && at >= json && at <= json + strlen(json)) ? (size_t)(at - json)
                                                                             : 0;
        return nasc_errorf_at(err, NASC_ERR_FORMAT, NULL, (int64_t)pos,
                              "%s: json: column %zu: not valid JSON", name, pos + 1);
    }
    nasc_status st;
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(o, "space");
    const cJSON *ar = cJSON_GetObjectItemCaseSensitive(o, "arch");
    if (!cJSON_IsObject(o))
        st = nasc_errorf(err, NASC_ERR_FORMAT, "%s: json: expected an object", name);
    else if (sp && (!cJSON_IsString(sp) || strcmp(sp->valuestring, name)))
        st = nasc_errorf(err, NASC_ERR_FORMAT, "%s: json: \"space\" is %s%s%s, expected \"%s\"",
                         name, cJSON_IsString(sp) ? "\"" : "",
                         cJSON_IsString(sp) ? sp->valuestring : "not a string",
                         cJSON_IsString(sp) ? "\"" : "", name);
    else if (!cJSON_IsString(ar))
        st = nasc_errorf(err, NASC_ERR_FORMAT, "%s: json: missing string field \"arch\"", name);
    else
        st = nasc_arch_parse(s, ar->valuestring, out, err);
    cJSON_Delete(o);
    return st;
}

char *nasc_arch_to_dot(const nasc_arch *a) {
    sp_sb sb = {0};
    nasc_sp_sb_printf(&sb, "digraph %s {\n", a->space->vt->name);
    if (a->space->vt->dot)
        a->space->vt->dot(a, &sb);
    nasc_sp_sb_puts(&sb, "}\n");
    return nasc_sp_sb_take(&sb);
}

char *nasc_arch_describe(const nasc_arch *a) {
    sp_sb sb = {0};
    if (a->space->vt->describe)
        a->space->vt->describe(a, &sb);
    else
        a->space->vt->print(a, &sb);
    return nasc_sp_sb_take(&sb);
}

nasc_arch *nasc_arch_clone(const nasc_arch *a) {
    return a ? nasc_sp_arch_new(a->space, a->d, a->n) : NULL;
}

void nasc_arch_free(nasc_arch *a) { nasc_free(a); }
const nasc_space *nasc_arch_space(const nasc_arch *a) { return a->space; }

bool nasc_arch_equal(const nasc_arch *a, const nasc_arch *b) {
    return a->space == b->space && a->n == b->n &&
           (a->n == 0 || !memcmp(a->d, b->d, (size_t)a->n * sizeof(int)));
}

uint64_t nasc_arch_hash(const nasc_arch *a) {
    if (a->space->vt->hash)
        return a->space->vt->hash(a);
    uint64_t h = nasc_sp_hash_str(NASC_SP_HASH_INIT, a->space->vt->name);
    for (int i = 0; i < a->n; i++) {
        uint32_t v = (uint32_t)a->d[i];
        unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8),
                              (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
        h = nasc_sp_hash_bytes(h, b, 4); /* fixed byte order: same value on every machine */
    }
    return nasc_sp_hash_final(h);
}

/* ---- generic mutation / crossover / neighbours (fixed radix) ---- */

static nasc_status need_fixed(const nasc_space *s, const char *what, nasc_err *err) {
    if (s->fixed_radix)
        return NASC_OK;
    return nasc_errorf(err, NASC_ERR_UNSUPPORTED, "%s: %s is not available", s->vt->name, what);
}

static bool passes_check(const nasc_space *s, const int *d, int n) {
    nasc_err tmp = {0};
    return !s->vt->check || s->vt->check(s, d, n, &tmp) == NASC_OK;
}

nasc_status nasc_arch_mutate(const nasc_arch *a, nasc_rng *rng, nasc_arch **out, nasc_err *err) {
    *out = NULL;
    const nasc_space *s = a->space;
    if (s->vt->mutate)
        return s->vt->mutate(a, rng, out, err);
    NASC_TRY(need_fixed(s, "mutation", err));
    nasc_arch *c = nasc_arch_clone(a);
    if (!c)
        return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", s->vt->name);
    for (int attempt = 0; attempt < 1000; attempt++) {
        /* One decision with at least two options, changed to a different value. */
        int movable = 0;
        for (int i = 0; i < a->n; i++)
            movable += s->vt->n_options(s, i, a->d) >= 2;
        if (!movable)
            break;
        int pick = (int)nasc_rng_below(rng, (uint32_t)movable), i = 0;
        for (;; i++)
            if (s->vt->n_options(s, i, a->d) >= 2 && pick-- == 0)
                break;
        int k = s->vt->n_options(s, i, a->d);
        memcpy(c->d, a->d, (size_t)a->n * sizeof(int));
        c->d[i] = (a->d[i] + 1 + (int)nasc_rng_below(rng, (uint32_t)(k - 1))) % k;
        if (passes_check(s, c->d, c->n)) {
            *out = c;
            return NASC_OK;
        }
    }
    nasc_arch_free(c);
    return nasc_errorf(err, NASC_ERR_ARG, "%s: architecture has no valid mutation", s->vt->name);
}

nasc_status nasc_arch_crossover(const nasc_arch *a, const nasc_arch *b, nasc_rng *rng,
                                nasc_arch **out, nasc_err *err) {
    *out = NULL;
    const nasc_space *s = a->space;
    if (b->space != s)
        return nasc_errorf(err, NASC_ERR_ARG, "%s: crossover of architectures from %s and %s",
                           s->vt->name, s->vt->name, b->space->vt->name);
    if (s->vt->crossover)
        return s->vt->crossover(a, b, rng, out, err);
    NASC_TRY(need_fixed(s, "crossover", err));
    nasc_arch *c = nasc_arch_clone(a);
    if (!c)
        return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", s->vt->name);
    for (int attempt = 0; attempt < 100; attempt++) {
        for (int i = 0; i < c->n; i++) /* uniform crossover, one coin per decision */
            c->d[i] = (nasc_rng_u32(rng) & 1u) ? b->d[i] : a->d[i];
        if (passes_check(s, c->d, c->n))
            break;
        memcpy(c->d, a->d, (size_t)a->n * sizeof(int));
    }
    *out = c;
    return NASC_OK;
}

nasc_status nasc_sp_list_push(nasc_arch ***list, size_t *n, size_t *cap, nasc_arch *a) {
    if (!a)
        return NASC_ERR_NOMEM;
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        nasc_arch **p = nasc_realloc(*list, nc * sizeof *p);
        if (!p) {
            nasc_arch_free(a);
            return NASC_ERR_NOMEM;
        }
        *list = p;
        *cap = nc;
    }
    (*list)[(*n)++] = a;
    return NASC_OK;
}

nasc_status nasc_arch_neighbors(const nasc_arch *a, nasc_arch ***out, size_t *out_n,
                                nasc_err *err) {
    *out = NULL;
    *out_n = 0;
    const nasc_space *s = a->space;
    if (s->vt->neighbors)
        return s->vt->neighbors(a, out, out_n, err);
    NASC_TRY(need_fixed(s, "neighbours", err));
    nasc_arch **list = NULL;
    size_t n = 0, cap = 0;
    int *d = nasc_malloc((size_t)(a->n > 0 ? a->n : 1) * sizeof(int));
    if (!d)
        return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", s->vt->name);
    for (int i = 0; i < a->n; i++) {
        int k = s->vt->n_options(s, i, a->d);
        for (int v = 0; v < k; v++) {
            if (v == a->d[i])
                continue;
            memcpy(d, a->d, (size_t)a->n * sizeof(int));
            d[i] = v;
            if (!passes_check(s, d, a->n))
                continue;
            if (nasc_sp_list_push(&list, &n, &cap, nasc_sp_arch_new(s, d, a->n)) != NASC_OK) {
                nasc_free(d);
                nasc_arch_list_free(list, n);
                return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", s->vt->name);
            }
        }
    }
    nasc_free(d);
    *out = list;
    *out_n = n;
    return NASC_OK;
}

void nasc_arch_list_free(nasc_arch **list, size_t n) {
    if (!list)
        return;
    for (size_t i = 0; i < n; i++)
        nasc_arch_free(list[i]);
    nasc_free(list);
}

nasc_status nasc_arch_encode(const nasc_arch *a, nasc_encoding kind, float *out, nasc_err *err) {
    const nasc_space *s = a->space;
    size_t len = nasc_space_encoding_len(s, kind);
    if (!len || !s->vt->encode)
        return nasc_errorf(err, NASC_ERR_UNSUPPORTED, "%s: encoding %d is not available",
                           s->vt->name, (int)kind);
    memset(out, 0, len * sizeof(float));
    s->vt->encode(a, kind, out);
    return NASC_OK;
}

/* ---- networks ---- */

nasc_status nasc_space_build(const nasc_arch *a, const nasc_net_config *cfg, uint64_t seed,
                             nasc_model **out, nasc_err *err) {
    *out = NULL;
    static const nasc_net_config defaults = {0};
    const nasc_net_config *c = cfg ? cfg : &defaults;
    /* 0 means the default; everything else within limits.h, so no size product overflows */
    const char *sn = a->space->vt->name;
    char what[64];
    const struct { const char *name; int v, hi; } sz[] = {
        {"input channels", c->in_c, NASC_MAX_INPUT_CHANNELS},
        {"input height", c->in_h, NASC_MAX_INPUT_SIDE},
        {"input width", c->in_w, NASC_MAX_INPUT_SIDE},
        {"classes", c->n_classes, NASC_MAX_CLASSES},
        {"channels", c->channels, NASC_MAX_CHANNELS},
        {"cells", c->cells, NASC_MAX_CELLS},
    };
    for (size_t i = 0; i < sizeof sz / sizeof sz[0]; i++) {
        snprintf(what, sizeof what, "%s: network config: %s", sn, sz[i].name);
        NASC_TRY(nasc_limit_check_int(err, what, sz[i].v, 0, sz[i].hi));
    }
    if (!(c->drop_path >= 0.0f && c->drop_path < 1.0f))
        return nasc_errorf(err, NASC_ERR_ARG, "%s: network config: drop_path outside [0,1) (%g)",
                           sn, (double)c->drop_path);
    if (c->n_classes == 1)
        return nasc_errorf(err, NASC_ERR_ARG, "%s: network config: need at least 2 classes",
                           a->space->vt->name);
    return a->space->vt->build(a, c, seed, out, err);
}

void nasc_space_net_defaults(const nasc_space *s, nasc_net_config *cfg) {
    nasc_sp_net_defaults(cfg, s->vt->default_channels, s->vt->default_cells);
}

void nasc_sp_net_defaults(nasc_net_config *c, int channels, int cells) {
    if (!c->in_c)
        c->in_c = 1;
    if (!c->in_h)
        c->in_h = 28;
    if (!c->in_w)
        c->in_w = 28;
    if (!c->n_classes)
        c->n_classes = 10;
    if (!c->channels)
        c->channels = channels;
    if (!c->cells)
        c->cells = cells;
}

void nasc_sp_free_impl(void *impl) { nasc_free(impl); }

nasc_status nasc_sp_model_wrap(const nasc_arch *a, const nasc_model_i *iface, nasc_params *ps,
                               void *impl, const nasc_net_config *cfg, uint64_t seed,
                               nasc_model **out, nasc_err *err) {
    nasc_status st = nasc_params_finalize(ps, err);
    if (st != NASC_OK) {
        nasc_params_free(ps);
        if (iface->free_impl)
            iface->free_impl(impl);
        return st;
    }
    nasc_params_init(ps, seed);
    nasc_model *m = nasc_model_new(iface, ps, impl, cfg->in_c, cfg->in_h, cfg->in_w,
                                   cfg->n_classes);
    char *text = m ? nasc_arch_to_string(a) : NULL;
    if (!m || !text || nasc_model_set_arch(m, a->space->vt->name, text) != NASC_OK) {
        nasc_free(text);
        nasc_model_free(m);
        return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory building the network",
                           a->space->vt->name);
    }
    nasc_free(text);
    *out = m;
    return NASC_OK;
}
