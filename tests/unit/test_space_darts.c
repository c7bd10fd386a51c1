/* test_space_darts.c — the DARTS genotype representation: the published DARTS_V2 genotype parses
 * and prints back exactly as Python prints it, the accepted variants of the text, malformed text
 * with positions, round trips of samples, decisions, hash, neighbours and encodings, and the
 * network-size checks of the builder. */
#include "test.h"

#include "nasc/arena.h"
#include "nasc/backend.h"
#include "nasc/space.h"

static const char *DARTS_V2 =
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
    "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";

/* dst = src with the first occurrence of old replaced by new. */
static void replace(char *dst, size_t n, const char *src, const char *old, const char *new_) {
    const char *p = strstr(src, old);
    CHECK_MSG(p != NULL, "'%s' not found", old);
    if (!p) {
        snprintf(dst, n, "%s", src);
        return;
    }
    snprintf(dst, n, "%.*s%s%s", (int)(p - src), src, new_, p + strlen(old));
}

static nasc_arch *parse_ok(const nasc_space *sp, const char *text) {
    nasc_err err = {0};
    nasc_arch *a = NULL;
    nasc_status st = nasc_arch_parse(sp, text, &a, &err);
    CHECK_MSG(st == NASC_OK, "parse failed: %s", err.msg);
    return a;
}

static void test_v2(const nasc_space *sp) {
    nasc_arch *a = parse_ok(sp, DARTS_V2);
    if (!a)
        return;
    char *s = nasc_arch_to_string(a);
    CHECK_MSG(!strcmp(s, DARTS_V2), "printed '%s'", s);
    nasc_free(s);
    /* accepted variants of the same genotype */
    const char *variants[] = {
        "Genotype(normal=[('sep_conv_3x3',0),('sep_conv_3x3',1),('sep_conv_3x3',0),"
        "('sep_conv_3x3',1),('sep_conv_3x3',1),('skip_connect',0),('skip_connect',0),"
        "('dil_conv_3x3',2)],normal_concat=range(2, 6),reduce=[('max_pool_3x3',0),"
        "('max_pool_3x3',1),('skip_connect',2),('max_pool_3x3',1),('max_pool_3x3',0),"
        "('skip_connect',2),('skip_connect',2),('max_pool_3x3',1)],reduce_concat=range(2,6))",
        "Genotype(\n  normal=[\n    (\"sep_conv_3x3\", 0),\n    (\"sep_conv_3x3\", 1),\n"
        "    ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0),\n"
        "    ('skip_connect', 0), ('dil_conv_3x3', 2),\n  ],\n  normal_concat = [2, 3, 4, 5,],\n"
        "  reduce = [('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2),\n"
        "    ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2),\n"
        "    ('max_pool_3x3', 1)],\n  reduce_concat = [2, 3, 4, 5],\n)\n",
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        nasc_arch *b = parse_ok(sp, variants[i]);
        CHECK_MSG(b && nasc_arch_equal(a, b), "variant %zu differs", i);
        nasc_arch_free(b);
    }
    /* the structure in JSON */
    char *j = nasc_arch_to_json(a);
    CHECK_STR_CONTAINS(j, "\"normal\":[[\"sep_conv_3x3\",0],[\"sep_conv_3x3\",1]");
    CHECK_STR_CONTAINS(j, "\"reduce_concat\":[2,3,4,5]");
    nasc_err err = {0};
    nasc_arch *b = NULL;
    CHECK_STATUS(nasc_arch_from_json(sp, j, &b, &err), NASC_OK);
    CHECK(b && nasc_arch_equal(a, b));
    nasc_arch_free(b);
    nasc_free(j);
    char *desc = nasc_arch_describe(a);
    CHECK_STR_CONTAINS(desc, "node 5 = skip_connect(node 0) + dil_conv_3x3(node 2)");
    nasc_free(desc);
    char *dot = nasc_arch_to_dot(a);
    CHECK_STR_CONTAINS(dot, "reduce_2 -> reduce_5 [label=\"skip_connect\"]");
    nasc_free(dot);

    /* swapping the two inputs of a node keeps the hash, changes the text */
    char swapped[2048];
    replace(swapped, sizeof swapped, DARTS_V2,
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0)",
            "('skip_connect', 0), ('sep_conv_3x3', 1), ('skip_connect', 0)");
    nasc_arch *c = parse_ok(sp, swapped);
    if (c) {
        CHECK(!nasc_arch_equal(a, c));
        CHECK(nasc_arch_hash(a) == nasc_arch_hash(c));
    }
    nasc_arch_free(c);

    /* encodings */
    CHECK(nasc_space_encoding_len(sp, NASC_ENC_ONEHOT) == 224);
    CHECK(nasc_space_encoding_len(sp, NASC_ENC_PATH) == 11200);
    float oh[224], *path = calloc(11200, sizeof(float));
    CHECK_STATUS(nasc_arch_encode(a, NASC_ENC_ONEHOT, oh, &err), NASC_OK);
    CHECK_STATUS(nasc_arch_encode(a, NASC_ENC_PATH, path, &err), NASC_OK);
    float s1 = 0, s2 = 0;
    for (int i = 0; i < 224; i++)
        s1 += oh[i];
    for (int i = 0; i < 11200; i++)
        s2 += path[i];
    CHECK(s1 == 32.0f);
    /* normal cell, input 0: length-1 paths sep3 (op 4 -> code 3) and skip (op 3 -> code 2);
     * 0 -sep3-> 2 -dil3-> 5 is a length-2 path: 7 + 3 + 7*5 */
    CHECK(path[3] == 1.0f && path[2] == 1.0f && path[7 + 3 + 7 * 5] == 1.0f);
    CHECK(path[7 + 3 + 7 * 3] == 0.0f); /* node 3 does not read node 2 */
    CHECK(path[0] == 0.0f); /* no max_pool in the normal cell */
    CHECK(s2 > 8.0f);
    free(path);
    nasc_arch_free(a);
}

static void test_malformed(const nasc_space *sp) {
    char wrong_count[2048], bad_index[2048], unknown[2048], concat[2048], self_loop[2048],
        extra[2048];
    replace(wrong_count, sizeof wrong_count, DARTS_V2, ", ('dil_conv_3x3', 2)]", "]");
    replace(bad_index, sizeof bad_index, DARTS_V2, "('dil_conv_3x3', 2)", "('dil_conv_3x3', 7)");
    replace(unknown, sizeof unknown, DARTS_V2, "dil_conv_3x3", "dil_conv_4x4");
    replace(concat, sizeof concat, DARTS_V2, "normal_concat=[2, 3, 4, 5]",
            "normal_concat=[2, 3, 4, 6]");
    replace(self_loop, sizeof self_loop, DARTS_V2, "('sep_conv_3x3', 0)", "('sep_conv_3x3', 2)");
    replace(extra, sizeof extra, DARTS_V2, "('dil_conv_3x3', 2)]",
            "('dil_conv_3x3', 2), ('none', 0)]");
    struct {
        const char *text, *want;
    } cases[] = {
        {"", "darts: column 1: empty"},
        {wrong_count, "normal has 7 (op, input) pairs, expected 8"},
        {bad_index, "node 5 (pair 7) takes input 7, but inputs must come from earlier nodes 0..4"},
        {self_loop, "node 2 (pair 0) takes input 2"},
        {unknown, "column 167: unknown op 'dil_conv_4x4'"},
        {concat, "normal_concat must be [2, 3, 4, 5]"},
        {extra, "too many (op, input) pairs"},
        {"Genotype(normal=[])", "normal has 0 (op, input) pairs"},
        {"Genotype(normal=[('sep_conv_3x3' 0)", "column 34: expected ','"},
        {"Genotype(normal=[('sep_conv_3x3', 0)", "expected ',' or ']'"},
        {"Genotype(normal=[(sep_conv_3x3, 0)", "column 19: expected a quoted op name"},
        {"Genotype(normal=[('sep_conv_3x3, 0)", "unterminated string"},
        {"Genotype(normal=[('sep_conv_3x3', -1)", "expected an input node index"},
        {"Genotype(reduce=[])", "column 10: expected 'normal'"},
        {"genotype()", "column 1: expected 'Genotype'"},
        {"|nor_conv_3x3~0|", "expected 'Genotype'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nasc_err err = {0};
        nasc_arch *a = NULL;
        nasc_status st = nasc_arch_parse(sp, cases[i].text, &a, &err);
        CHECK_MSG(st == NASC_ERR_FORMAT, "case %zu: status %s", i, nasc_status_str(st));
        CHECK(a == NULL);
        CHECK_STR_CONTAINS(err.msg, cases[i].want);
        CHECK_STR_CONTAINS(err.msg, "darts: column");
        nasc_arch_free(a);
    }
    char trailing[2048];
    snprintf(trailing, sizeof trailing, "%s )", DARTS_V2);
    nasc_err err = {0};
    nasc_arch *a = NULL;
    CHECK_STATUS(nasc_arch_parse(sp, trailing, &a, &err), NASC_ERR_FORMAT);
    CHECK_STR_CONTAINS(err.msg, "trailing characters");
}

static void test_random(const nasc_space *sp) {
    nasc_rng rng;
    nasc_rng_init(&rng, 11, NASC_STREAM_USER);
    int bad = 0, n_dec = nasc_space_n_decisions(sp);
    CHECK(n_dec == 32);
    CHECK(nasc_space_size(sp) == 0);
    for (int it = 0; it < 3000; it++) {
        nasc_err err = {0};
        nasc_arch *a = NULL, *b = NULL, *m = NULL, *x = NULL, *r = NULL;
        nasc_space_sample(sp, &rng, &a, &err);
        nasc_space_sample(sp, &rng, &b, &err);
        nasc_arch_mutate(a, &rng, &m, &err);
        nasc_arch_crossover(a, b, &rng, &x, &err);
        char *s = nasc_arch_to_string(a);
        nasc_arch_parse(sp, s, &r, &err);
        if (!r || !nasc_arch_equal(a, r)) {
            if (bad++ < 3)
                fprintf(stderr, "round trip failed: %s (%s)\n", s, err.msg);
        }
        int da[32], dm[32], dx[32], db[32], n;
        nasc_arch_to_decisions(a, da, &n);
        nasc_arch_to_decisions(b, db, &n);
        nasc_arch_to_decisions(m, dm, &n);
        nasc_arch_to_decisions(x, dx, &n);
        int diff = 0;
        for (int i = 0; i < n; i++) {
            diff += da[i] != dm[i];
            bad += dx[i] != da[i] && dx[i] != db[i];
            /* input decisions stay in range for their node */
            if (i % 2 == 1 && da[i] >= 2 + ((i % 16) / 2) / 2)
                bad++;
        }
        bad += diff != 1;
        nasc_free(s);
        nasc_arch_free(a);
        nasc_arch_free(b);
        nasc_arch_free(m);
        nasc_arch_free(x);
        nasc_arch_free(r);
    }
    CHECK_MSG(bad == 0, "%d bad samples / mutations / round trips", bad);
    nasc_err err = {0};
    nasc_arch *a = parse_ok(sp, DARTS_V2);
    nasc_arch **nb = NULL;
    size_t n_nb = 0;
    CHECK_STATUS(nasc_arch_neighbors(a, &nb, &n_nb, &err), NASC_OK);
    /* per cell: 8 ops x 7 other ops + inputs (2-1)*2 + (3-1)*2 + (4-1)*2 + (5-1)*2 = 56 + 20 */
    CHECK(n_nb == 2 * (56 + 20));
    nasc_arch_list_free(nb, n_nb);
    nasc_arch_free(a);
}

static void test_build_checks(const nasc_space *sp) {
    nasc_arch *a = parse_ok(sp, DARTS_V2);
    nasc_err err = {0};
    nasc_model *m = NULL;
    CHECK_STATUS(nasc_space_build(a, &(nasc_net_config){.in_c = 1, .in_h = 30, .in_w = 30,
                                                        .channels = 8, .cells = 5},
                                  1, &m, &err),
                 NASC_ERR_SHAPE);
    CHECK_STR_CONTAINS(err.msg, "reduction cell 3 gets a 15x15 feature map");
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_space_build(a, &(nasc_net_config){.channels = 7}, 1, &m, &err),
                 NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "C=7 must be even");
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_space_build(a, &(nasc_net_config){.in_h = 16, .in_w = 16, .channels = 4,
                                                        .cells = 3, .auxiliary = true},
                                  1, &m, &err),
                 NASC_ERR_SHAPE);
    CHECK_STR_CONTAINS(err.msg, "the head needs at least 6x6");
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_space_build(a, &(nasc_net_config){.in_h = 28, .in_w = 28, .channels = 4,
                                                        .cells = 3, .auxiliary = true},
                                  1, &m, &err),
                 NASC_OK);
    if (m) {
        CHECK(!strcmp(m->space, "darts"));
        CHECK(!strcmp(m->arch, DARTS_V2));
        CHECK(m->in_c == 1 && m->in_h == 28 && m->n_classes == 10);
    }
    nasc_model_free(m);
    nasc_arch_free(a);
}

/* Drop-path acts in training mode only, and only when asked for; the auxiliary head answers
 * want_aux. */
static void test_forward_modes(const nasc_space *sp) {
    nasc_arch *a = parse_ok(sp, DARTS_V2);
    nasc_err err = {0};
    nasc_model *m = NULL;
    nasc_net_config cfg = {.channels = 4, .cells = 3, .auxiliary = true}; /* 1x28x28 */
    CHECK_STATUS(nasc_space_build(a, &cfg, 1, &m, &err), NASC_OK);
    nasc_backend *be = nasc_backend_new("cpu", 1, &err);
    nasc_graph *g = be ? nasc_graph_new(be, 0, &err) : NULL;
    if (!m || !g) {
        nasc_graph_free(g);
        nasc_backend_free(be);
        nasc_model_free(m);
        nasc_arch_free(a);
        return;
    }
    static float x[2 * 28 * 28];
    float out[4][20];
    for (int i = 0; i < 2 * 28 * 28; i++)
        x[i] = (float)((i * 37) % 17) / 8.0f - 1.0f;
    const struct {
        bool training;
        float drop;
    } modes[4] = {{true, 0.0f}, {true, 0.4f}, {false, 0.0f}, {false, 0.4f}};
    for (int k = 0; k < 4; k++) {
        nasc_graph_reset(g);
        nasc_graph_set_training(g, modes[k].training);
        nasc_graph_set_rng(g, 3, 0);
        nasc_tensor *xi = nasc_input(g, 2, 1, 28, 28, x);
        nasc_forward_opts opts = {.drop_path = modes[k].drop, .want_aux = k == 0};
        nasc_tensor *y = nasc_model_forward(m, g, xi, &opts);
        CHECK_MSG(y != NULL, "%s", nasc_graph_errmsg(g));
        if (y)
            memcpy(out[k], y->data, sizeof out[k]);
        CHECK((m->aux_logits != NULL) == (k == 0));
        if (m->aux_logits)
            CHECK(m->aux_logits->ne[0] == 2 && m->aux_logits->ne[1] == 10);
    }
    CHECK(memcmp(out[0], out[1], sizeof out[0]) != 0); /* drop-path changed the training pass */
    CHECK(memcmp(out[2], out[3], sizeof out[2]) == 0); /* and not inference */
    nasc_graph_free(g);
    nasc_backend_free(be);
    nasc_model_free(m);
    nasc_arch_free(a);
}

int main(void) {
    nasc_err err = {0};
    nasc_space *sp = NULL;
    CHECK_STATUS(nasc_space_new("darts", NULL, &sp, &err), NASC_OK);
    if (!sp)
        return test_done("test_space_darts");
    test_v2(sp);
    test_malformed(sp);
    test_random(sp);
    test_build_checks(sp);
    test_forward_modes(sp);
    nasc_space_free(sp);
    return test_done("test_space_darts");
}
