/* test_space_nb201.c — the NAS-Bench-201 representation: text round trips over the whole space,
 * enumeration, the isomorphism hash (dead edges, and the class counts), malformed text, JSON,
 * decisions, mutation / crossover / neighbours and the encodings. */
#include "test.h"

#include "nasc/arena.h"
#include "nasc/space.h"

#include <stdint.h>

static const char *const OPS[5] = {"none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3",
                                   "avg_pool_3x3"};
static const int FROM[6] = {0, 0, 1, 0, 1, 2};
static const int TO[6] = {1, 2, 2, 3, 3, 3};

/* Independent of the library: the text of decisions d (edges in text order). */
static void text_of(const int *d, char *buf, size_t n) {
    snprintf(buf, n, "|%s~0|+|%s~0|%s~1|+|%s~0|%s~1|%s~2|", OPS[d[0]], OPS[d[1]], OPS[d[2]],
             OPS[d[3]], OPS[d[4]], OPS[d[5]]);
}

/* Dead edges replaced by none (the definition in docs/SPACES.md). */
static void kill_dead(const int *d, int *out) {
    bool fwd[4] = {true, false, false, false}, bwd[4] = {false, false, false, true};
    for (int e = 0; e < 6; e++)
        if (d[e] && fwd[FROM[e]])
            fwd[TO[e]] = true;
    for (int e = 5; e >= 0; e--)
        if (d[e] && bwd[TO[e]])
            bwd[FROM[e]] = true;
    for (int e = 0; e < 6; e++)
        out[e] = (d[e] && fwd[FROM[e]] && bwd[TO[e]]) ? d[e] : 0;
}

/* xautodl's Structure.to_unique_str(consider_zero=True), the procedure behind the NB201 paper's
 * "6,466 unique architectures" — reimplemented here to cross-check that figure. */
static int cmp_s(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}
static void xautodl_unique(const int *d, char *out, size_t n) {
    char nodes[4][600];
    strcpy(nodes[0], "0");
    for (int j = 1; j < 4; j++) {
        char terms[3][600];
        char *ptr[3];
        int nt = 0;
        for (int e = 0; e < 6; e++) {
            if (TO[e] != j)
                continue;
            const char *in = nodes[FROM[e]];
            if (d[e] == 0 || !strcmp(in, "#"))
                strcpy(terms[nt], "#");
            else if (d[e] == 1)
                snprintf(terms[nt], 600, "%s", in);
            else
                snprintf(terms[nt], 600, "(%.500s)@%s", in, OPS[d[e]]);
            ptr[nt] = terms[nt];
            nt++;
        }
        qsort(ptr, (size_t)nt, sizeof ptr[0], cmp_s);
        nodes[j][0] = '\0';
        for (int t = 0; t < nt; t++) {
            if (t)
                strcat(nodes[j], "+");
            strncat(nodes[j], ptr[t], 599 - strlen(nodes[j]));
        }
    }
    snprintf(out, n, "%s", nodes[3]);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}
static size_t n_distinct(uint64_t *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_u64);
    size_t k = n ? 1 : 0;
    for (size_t i = 1; i < n; i++)
        k += v[i] != v[i - 1];
    return k;
}
static uint64_t fnv(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static void test_enumeration(const nasc_space *sp) {
    CHECK(nasc_space_size(sp) == 15625);
    CHECK(nasc_space_n_decisions(sp) == 6);
    enum { N = 15625 };
    uint64_t *text_h = malloc(N * sizeof *text_h), *iso = malloc(N * sizeof *iso);
    uint64_t *dead_h = malloc(N * sizeof *dead_h), *xa = malloc(N * sizeof *xa);
    int bad_round = 0, bad_dead = 0;
    for (uint64_t i = 0; i < N; i++) {
        nasc_err err = {0};
        nasc_arch *a = NULL;
        CHECK_STATUS(nasc_space_get(sp, i, &a, &err), NASC_OK);
        if (!a)
            break;
        int d[6], n = 0;
        nasc_arch_to_decisions(a, d, &n);
        /* enumeration order: itertools.product, last edge fastest */
        uint64_t r = i;
        for (int e = 5; e >= 0; e--, r /= 5)
            if (d[e] != (int)(r % 5))
                bad_round++;
        char want[200], u[2000];
        text_of(d, want, sizeof want);
        char *s = nasc_arch_to_string(a);
        nasc_arch *b = NULL;
        if (!s || strcmp(s, want) || nasc_arch_parse(sp, s, &b, &err) != NASC_OK ||
            !nasc_arch_equal(a, b)) {
            if (bad_round++ < 3)
                fprintf(stderr, "round trip %llu: '%s' vs '%s'\n", (unsigned long long)i,
                        s ? s : "(null)", want);
        }
        text_h[i] = fnv(s ? s : "");
        iso[i] = nasc_arch_hash(a);
        int dd[6];
        kill_dead(d, dd);
        char dt[200];
        text_of(dd, dt, sizeof dt);
        dead_h[i] = fnv(dt);
        /* the cell with its dead edges set to none must hash alike */
        nasc_arch *c = NULL;
        nasc_arch_from_decisions(sp, dd, 6, &c, &err);
        if (!c || nasc_arch_hash(c) != iso[i])
            bad_dead++;
        xautodl_unique(d, u, sizeof u);
        xa[i] = fnv(u);
        nasc_arch_free(a);
        nasc_arch_free(b);
        nasc_arch_free(c);
        nasc_free(s);
    }
    CHECK_MSG(bad_round == 0, "%d enumeration / round-trip mismatches", bad_round);
    CHECK_MSG(bad_dead == 0, "%d cells hash differently from their dead-edge-free form", bad_dead);
    size_t n_text = n_distinct(text_h, N), n_iso = n_distinct(iso, N);
    size_t n_dead = n_distinct(dead_h, N), n_xa = n_distinct(xa, N);
    printf("nb201: %zu distinct cells, %zu after removing dead edges, %zu isomorphism classes "
           "(nasc hash), %zu by xautodl's to_unique_str\n",
           n_text, n_dead, n_iso, n_xa);
    CHECK(n_text == 15625);
    CHECK(n_dead == 9445);
    CHECK(n_xa == 6466); /* the NB201 paper's figure, from its own procedure */
    CHECK(n_iso == 4930);
    free(text_h);
    free(iso);
    free(dead_h);
    free(xa);
}

static void test_hash_examples(const nasc_space *sp) {
    struct {
        const char *a, *b;
        bool same;
    } cases[] = {
        /* edge 0->1 is dead (node 1 feeds nothing) */
        {"|nor_conv_3x3~0|+|none~0|none~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|",
         "|skip_connect~0|+|none~0|none~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|", true},
        /* node 2 unreachable from the input, so edge 2->3 is dead */
        {"|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|nor_conv_3x3~2|",
         "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|avg_pool_3x3~2|", true},
        /* skip chains collapse: conv(skip(x)) == conv(x) */
        {"|skip_connect~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|",
         "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|", true},
        /* commutativity of the sum at a node */
        {"|nor_conv_1x1~0|+|nor_conv_3x3~0|skip_connect~1|+|none~0|none~1|skip_connect~2|",
         "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|none~0|none~1|skip_connect~2|", true},
        /* different live ops differ */
        {"|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
         "skip_connect~2|",
         "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|"
         "skip_connect~2|",
         false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nasc_err err = {0};
        nasc_arch *a = NULL, *b = NULL;
        CHECK_STATUS(nasc_arch_parse(sp, cases[i].a, &a, &err), NASC_OK);
        CHECK_STATUS(nasc_arch_parse(sp, cases[i].b, &b, &err), NASC_OK);
        if (a && b)
            CHECK_MSG((nasc_arch_hash(a) == nasc_arch_hash(b)) == cases[i].same,
                      "hash case %zu: expected %s", i, cases[i].same ? "equal" : "different");
        nasc_arch_free(a);
        nasc_arch_free(b);
    }
}

static void test_malformed(const nasc_space *sp) {
    struct {
        const char *text, *want; /* substring the message must contain */
    } cases[] = {
        {"", "column 1: empty"},
        {"   ", "empty"},
        {"|conv9~0|+|none~0|none~1|+|none~0|none~1|none~2|", "column 2: unknown op 'conv9'"},
        {"|none~0|+|none~0|none~3|+|none~0|none~1|none~2|", "column 23: node 2 cannot take input "
                                                            "from node 3"},
        {"|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "node 1 cannot take input from node "
                                                            "1"},
        {"|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 needs 2 edges"},
        {"|none~0|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "column 9: node 1 has more than 1 "
                                                                    "edges"},
        {"|none~0|+|none~1|none~1|+|none~0|none~1|none~2|", "lists input 1 twice"},
        {"|none~0|+|none~0|none~1|+|none~0|none~1|none~2| junk", "column 49: trailing"},
        {"|none~0|+|none~0|none~1|", "expected '+' before node 3"},
        {"|none~0|+|none~0|none~1|+|none~0|none~1|none~2", "expected '|'"},
        {"|none~x|+|none~0|none~1|+|none~0|none~1|none~2|", "column 7: expected an input node"},
        {"|none 0|", "column 7: expected '~'"},
        {"none~0", "column 1: expected '|'"},
        {"|~0|", "expected an op name"},
        {"|none~99999999999|", "expected an input node index"},
        {"|none~0|+|none~0|none~1|+|none~0|none~1|none~2|+|none~0|", "column 48: too many nodes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nasc_err err = {0};
        nasc_arch *a = (nasc_arch *)1;
        nasc_status st = nasc_arch_parse(sp, cases[i].text, &a, &err);
        CHECK_MSG(st == NASC_ERR_FORMAT, "case %zu '%s': status %s", i, cases[i].text,
                  nasc_status_str(st));
        CHECK(a == NULL);
        CHECK_STR_CONTAINS(err.msg, cases[i].want);
        CHECK_STR_CONTAINS(err.msg, "nb201: column");
    }
    nasc_err err = {0};
    nasc_arch *a = NULL;
    CHECK_STATUS(nasc_arch_parse(sp, NULL, &a, &err), NASC_ERR_FORMAT);
    /* blanks and any edge order are accepted; printing is canonical */
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_arch_parse(sp, " |nor_conv_3x3~0| + |avg_pool_3x3~1|nor_conv_3x3~0| + "
                                     "|skip_connect~2|nor_conv_3x3~1|skip_connect~0| ",
                                 &a, &err),
                 NASC_OK);
    if (a) {
        char *s = nasc_arch_to_string(a);
        CHECK(!strcmp(s, "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|"
                         "nor_conv_3x3~1|skip_connect~2|"));
        nasc_free(s);
    }
    nasc_arch_free(a);
}

static void test_ops(const nasc_space *sp) {
    nasc_rng rng;
    nasc_rng_init(&rng, 7, NASC_STREAM_USER);
    int bad = 0;
    for (int it = 0; it < 2000; it++) {
        nasc_err err = {0};
        nasc_arch *a = NULL, *b = NULL, *m = NULL, *x = NULL, *r = NULL;
        nasc_space_sample(sp, &rng, &a, &err);
        nasc_space_sample(sp, &rng, &b, &err);
        nasc_arch_mutate(a, &rng, &m, &err);
        nasc_arch_crossover(a, b, &rng, &x, &err);
        int da[6], dm[6], dx[6], db[6], n;
        nasc_arch_to_decisions(a, da, &n);
        nasc_arch_to_decisions(b, db, &n);
        nasc_arch_to_decisions(m, dm, &n);
        nasc_arch_to_decisions(x, dx, &n);
        int diff = 0;
        for (int e = 0; e < 6; e++) {
            diff += da[e] != dm[e];
            if (dx[e] != da[e] && dx[e] != db[e])
                bad++;
        }
        if (diff != 1)
            bad++;
        char *s = nasc_arch_to_string(a);
        nasc_arch_parse(sp, s, &r, &err);
        if (!r || !nasc_arch_equal(a, r))
            bad++;
        /* JSON round trip */
        char *j = nasc_arch_to_json(a);
        nasc_arch *jj = NULL;
        if (!j || nasc_arch_from_json(sp, j, &jj, &err) != NASC_OK || !nasc_arch_equal(a, jj))
            bad++;
        nasc_free(j);
        nasc_arch_free(jj);
        nasc_free(s);
        nasc_arch_free(a);
        nasc_arch_free(b);
        nasc_arch_free(m);
        nasc_arch_free(x);
        nasc_arch_free(r);
    }
    CHECK_MSG(bad == 0, "%d bad samples / mutations / crossovers / round trips", bad);

    nasc_err err = {0};
    nasc_arch *a = NULL;
    nasc_arch_parse(sp, "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|"
                        "nor_conv_3x3~1|skip_connect~2|",
                    &a, &err);
    nasc_arch **nb = NULL;
    size_t n_nb = 0;
    CHECK_STATUS(nasc_arch_neighbors(a, &nb, &n_nb, &err), NASC_OK);
    CHECK(n_nb == 24);
    for (size_t i = 0; i < n_nb; i++)
        CHECK(!nasc_arch_equal(nb[i], a));
    nasc_arch_list_free(nb, n_nb);

    /* JSON: structure fields and errors */
    char *j = nasc_arch_to_json(a);
    CHECK_STR_CONTAINS(j, "\"space\":\"nb201\"");
    CHECK_STR_CONTAINS(j, "\"from\":2,\"to\":3,\"op\":\"skip_connect\"");
    nasc_free(j);
    nasc_arch *b = NULL;
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_arch_from_json(sp, "{\"space\":\"darts\",\"arch\":\"x\"}", &b, &err),
                 NASC_ERR_FORMAT);
    CHECK_STR_CONTAINS(err.msg, "expected \"nb201\"");
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_arch_from_json(sp, "{\"arch\": 3", &b, &err), NASC_ERR_FORMAT);
    CHECK_STR_CONTAINS(err.msg, "not valid JSON");
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_arch_from_json(sp, "{\"arch\":\"|bogus~0|\"}", &b, &err), NASC_ERR_FORMAT);
    CHECK_STR_CONTAINS(err.msg, "unknown op 'bogus'");

    /* encodings */
    CHECK(nasc_space_encoding_len(sp, NASC_ENC_ONEHOT) == 30);
    CHECK(nasc_space_encoding_len(sp, NASC_ENC_PATH) == 155);
    float oh[30], path[155];
    CHECK_STATUS(nasc_arch_encode(a, NASC_ENC_ONEHOT, oh, &err), NASC_OK);
    CHECK_STATUS(nasc_arch_encode(a, NASC_ENC_PATH, path, &err), NASC_OK);
    float s1 = 0, s2 = 0;
    for (int i = 0; i < 30; i++)
        s1 += oh[i];
    for (int i = 0; i < 155; i++)
        s2 += path[i];
    CHECK(s1 == 6.0f);
    CHECK(s2 == 4.0f); /* four distinct paths here */
    /* ops: e0 conv3(3) e1 conv3(3) e2 avg(4) e3 skip(1) e4 conv3(3) e5 skip(1) */
    CHECK(oh[0 * 5 + 3] == 1.0f && oh[2 * 5 + 4] == 1.0f && oh[5 * 5 + 1] == 1.0f);
    CHECK(path[1] == 1.0f);                        /* 0->3 skip */
    CHECK(path[5 + 3 + 5 * 3] == 1.0f);            /* 0->1->3: conv3, conv3 */
    CHECK(path[5 + 3 + 5 * 1] == 1.0f);            /* 0->2->3: conv3, skip */
    CHECK(path[30 + 3 + 5 * 4 + 25 * 1] == 1.0f);  /* 0->1->2->3: conv3, avg, skip */

    /* decisions */
    int d[6] = {3, 3, 4, 1, 3, 1}, n = 6;
    nasc_arch *c = NULL;
    CHECK_STATUS(nasc_arch_from_decisions(sp, d, n, &c, &err), NASC_OK);
    CHECK(c && nasc_arch_equal(a, c));
    nasc_arch_free(c);
    d[2] = 5;
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_arch_from_decisions(sp, d, n, &c, &err), NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "decision 2 is 5");
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_arch_from_decisions(sp, d, 5, &c, &err), NASC_ERR_ARG);
    CHECK(nasc_space_n_options(sp, 0, NULL) == 5 && nasc_space_n_options(sp, 6, d) == 0);

    char *dot = nasc_arch_to_dot(a);
    CHECK_STR_CONTAINS(dot, "digraph nb201 {");
    CHECK_STR_CONTAINS(dot, "n2 -> n3 [label=\"skip_connect\"]");
    nasc_free(dot);
    char *desc = nasc_arch_describe(a);
    CHECK_STR_CONTAINS(desc, "node 3 = skip_connect(node 0) + nor_conv_3x3(node 1) + "
                             "skip_connect(node 2)");
    nasc_free(desc);
    nasc_arch_free(a);
}

int main(void) {
    nasc_err err = {0};
    nasc_space *sp = NULL;
    CHECK_STATUS(nasc_space_new("nb201", NULL, &sp, &err), NASC_OK);
    if (!sp)
        return test_done("test_space_nb201");
    CHECK(!strcmp(nasc_space_name(sp), "nb201"));
    nasc_space *bad = NULL;
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_space_new("nb301", NULL, &bad, &err), NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "unknown name 'nb301'");
    test_enumeration(sp);
    test_hash_examples(sp);
    test_malformed(sp);
    test_ops(sp);
    nasc_space_free(sp);
    return test_done("test_space_nb201");
}
