/* test_space_layerwise.c — the chain, mobilenet and macro spaces: thousands of samples round-trip
 * through text, JSON and decisions; mutations are one edit and never the identity; crossover
 * children and neighbours are valid; malformed text is rejected with the column; encodings have
 * the documented lengths; networks build with the expected parameter counts. */
#include "test.h"

#include "nasc/arena.h"
#include "nasc/space.h"

static nasc_space *space(const char *name, const nasc_space_config *cfg) {
    nasc_err err = {0};
    nasc_space *sp = NULL;
    CHECK_STATUS(nasc_space_new(name, cfg, &sp, &err), NASC_OK);
    return sp;
}

/* Round trips, mutation, crossover, decisions over n samples. */
static void test_random(nasc_space *sp, int n_samples, uint64_t seed) {
    const char *name = nasc_space_name(sp);
    nasc_rng rng;
    nasc_rng_init(&rng, seed, NASC_STREAM_USER);
    int bad = 0, n_same_mut = 0;
    const int nd = nasc_space_n_decisions(sp);
    int *d = calloc((size_t)nd, sizeof(int));
    size_t enc_len[2] = {nasc_space_encoding_len(sp, NASC_ENC_ONEHOT),
                         nasc_space_encoding_len(sp, NASC_ENC_PATH)};
    float *enc = calloc(enc_len[0] + enc_len[1] + 1, sizeof(float));
    for (int it = 0; it < n_samples; it++) {
        nasc_err err = {0};
        nasc_arch *a = NULL, *b = NULL, *m = NULL, *x = NULL, *r = NULL, *j = NULL, *dd = NULL;
        nasc_space_sample(sp, &rng, &a, &err);
        nasc_space_sample(sp, &rng, &b, &err);
        if (!a || !b) {
            bad++;
            fprintf(stderr, "%s: sample failed: %s\n", name, err.msg);
            break;
        }
        char *s = nasc_arch_to_string(a);
        if (nasc_arch_parse(sp, s, &r, &err) != NASC_OK || !nasc_arch_equal(a, r)) {
            if (bad++ < 5)
                fprintf(stderr, "%s: round trip of '%s' failed: %s\n", name, s, err.msg);
        }
        char *s2 = r ? nasc_arch_to_string(r) : NULL;
        if (!s2 || strcmp(s, s2))
            bad++;
        char *js = nasc_arch_to_json(a);
        if (!js || nasc_arch_from_json(sp, js, &j, &err) != NASC_OK || !nasc_arch_equal(a, j))
            bad++;
        int n = 0;
        nasc_arch_to_decisions(a, d, &n);
        if (nasc_arch_from_decisions(sp, d, n, &dd, &err) != NASC_OK || !nasc_arch_equal(a, dd))
            bad++;
        if (nasc_arch_mutate(a, &rng, &m, &err) != NASC_OK) {
            if (bad++ < 5)
                fprintf(stderr, "%s: mutate failed: %s\n", name, err.msg);
        } else if (nasc_arch_equal(a, m)) {
            n_same_mut++;
        } else {
            /* the mutant is itself valid and round-trips */
            char *ms = nasc_arch_to_string(m);
            nasc_arch *mr = NULL;
            if (nasc_arch_parse(sp, ms, &mr, &err) != NASC_OK)
                bad++;
            nasc_arch_free(mr);
            nasc_free(ms);
        }
        if (nasc_arch_crossover(a, b, &rng, &x, &err) != NASC_OK)
            bad++;
        else {
            char *xs = nasc_arch_to_string(x);
            nasc_arch *xr = NULL;
            if (nasc_arch_parse(sp, xs, &xr, &err) != NASC_OK)
                bad++;
            nasc_arch_free(xr);
            nasc_free(xs);
        }
        for (int k = 0; k < 2; k++)
            if (nasc_arch_encode(a, (nasc_encoding)k, enc, &err) != NASC_OK)
                bad++;
        nasc_free(s);
        nasc_free(s2);
        nasc_free(js);
        nasc_arch_free(a);
        nasc_arch_free(b);
        nasc_arch_free(m);
        nasc_arch_free(x);
        nasc_arch_free(r);
        nasc_arch_free(j);
        nasc_arch_free(dd);
    }
    CHECK_MSG(bad == 0, "%s: %d failures over %d samples", name, bad, n_samples);
    CHECK_MSG(n_same_mut == 0, "%s: %d mutations returned the parent", name, n_same_mut);
    free(d);
    free(enc);
}

/* Every neighbour of the arch parsed from text is valid, distinct from it and from the others. */
static void test_neighbors(nasc_space *sp, const char *text, size_t want) {
    nasc_err err = {0};
    nasc_arch *a = NULL, **nb = NULL;
    size_t n = 0;
    CHECK_STATUS(nasc_arch_parse(sp, text, &a, &err), NASC_OK);
    if (!a)
        return;
    CHECK_STATUS(nasc_arch_neighbors(a, &nb, &n, &err), NASC_OK);
    CHECK_MSG(want == 0 || n == want, "%s: %zu neighbours of '%s', expected %zu",
              nasc_space_name(sp), n, text, want);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        bad += nasc_arch_equal(a, nb[i]);
        for (size_t j = 0; j < i; j++)
            bad += nasc_arch_equal(nb[i], nb[j]);
    }
    CHECK_MSG(bad == 0, "%s: %d duplicate neighbours", nasc_space_name(sp), bad);
    nasc_arch_list_free(nb, n);
    nasc_arch_free(a);
}

static void check_bad(nasc_space *sp, const char *text, const char *want) {
    nasc_err err = {0};
    nasc_arch *a = NULL;
    nasc_status st = nasc_arch_parse(sp, text, &a, &err);
    CHECK_MSG(st == NASC_ERR_FORMAT && a == NULL, "%s: '%s' accepted", nasc_space_name(sp), text);
    CHECK_STR_CONTAINS(err.msg, want);
    nasc_arch_free(a);
}

static size_t n_params(nasc_space *sp, const char *text, const nasc_net_config *cfg) {
    nasc_err err = {0};
    nasc_arch *a = NULL;
    nasc_model *m = NULL;
    CHECK_STATUS(nasc_arch_parse(sp, text, &a, &err), NASC_OK);
    if (a)
        CHECK_STATUS(nasc_space_build(a, cfg, 1, &m, &err), NASC_OK);
    if (err.code)
        fprintf(stderr, "%s\n", err.msg);
    size_t n = m ? nasc_params_count(m->params) : 0;
    nasc_model_free(m);
    nasc_arch_free(a);
    return n;
}

static void test_chain(void) {
    nasc_space *sp = space("chain", NULL);
    if (!sp)
        return;
    CHECK(nasc_space_n_decisions(sp) == 9);
    CHECK(nasc_space_size(sp) == 0);
    test_random(sp, 3000, 1);
    const char *ex = "conv3x3-32,relu,maxpool,conv5x5-64,relu,fc-128,relu";
    test_neighbors(sp, ex, 0);
    test_neighbors(sp, "relu", 0);
    /* by hand: conv 1->32 (3x3: 288+32), conv 32->64 (5x5: 51200+64), fc 64->128 (8192+128),
     * head 128->10 (1280+10) */
    CHECK(n_params(sp, ex, NULL) == 320 + 51264 + 8320 + 1290);
    CHECK(n_params(sp, "tanh", &(nasc_net_config){.in_c = 3, .n_classes = 5}) == 3 * 5 + 5);
    check_bad(sp, "conv3x3-32,fc-64,conv3x3-32", "column 18: conv3x3-32 after a fully connected");
    check_bad(sp, "maxpool,maxpool,avgpool,maxpool", "column 25: maxpool: at most 3 pooling");
    check_bad(sp, "conv4x4-32", "column 1: conv kernel must be 3x3, 5x5 or 7x7");
    check_bad(sp, "conv3x3-48", "column 9: conv channels must be 16, 32, 64 or 128 (got 48)");
    check_bad(sp, "conv3x3", "expected '-C'");
    check_bad(sp, "fc-100", "fc units must be 32, 64, 128 or 256");
    check_bad(sp, "relu,softmax", "column 6: unknown layer 'softmax'");
    check_bad(sp, "relu,", "column 6: expected a layer");
    check_bad(sp, "relu relu", "column 6: trailing");
    check_bad(sp, "", "chain: column 1: empty");
    check_bad(sp, "relu,relu,relu,relu,relu,relu,relu,relu,relu", "more than max_layers=8");
    nasc_space_free(sp);

    nasc_space *big = space("chain", &(nasc_space_config){.max_layers = 20});
    if (big) {
        CHECK(nasc_space_n_decisions(big) == 21);
        test_random(big, 500, 2);
        nasc_space_free(big);
    }
    nasc_err err = {0};
    nasc_space *bad = NULL;
    CHECK_STATUS(nasc_space_new("chain", &(nasc_space_config){.max_layers = 1000}, &bad, &err),
                 NASC_ERR_ARG);
}

static void test_mobilenet(void) {
    nasc_space *sp = space("mobilenet", NULL);
    if (!sp)
        return;
    CHECK(nasc_space_n_decisions(sp) == 15);
    CHECK(nasc_space_size(sp) == 7962624);
    test_random(sp, 3000, 3);
    const char *ex = "e6k3d2,e3k5d3,e6k7d1,e3k3d4,e6k5d2";
    test_neighbors(sp, ex, 5 * (1 + 2 + 3));
    check_bad(sp, "e6k3d2,e3k5d3", "expected 5 stages (got 2)");
    check_bad(sp, "e4k3d2,e3k5d3,e6k7d1,e3k3d4,e6k5d2", "column 1: stage 0: expansion must be 3 "
                                                       "or 6");
    check_bad(sp, "e6k3d2,e3k9d3,e6k7d1,e3k3d4,e6k5d2", "column 8: stage 1: kernel");
    check_bad(sp, "e6k3d2,e3k5d3,e6k7d5,e3k3d4,e6k5d2", "stage 2: depth must be in 1..4");
    check_bad(sp, "e6k3d2,e3k5d3,e6k7d1,e3k3d4,e6k5d2,e6k5d2", "more than n_stages=5");
    check_bad(sp, "e6k3,e3k5d3", "column 1: stage 0: expected 'eEkKdD'");
    check_bad(sp, "e6k3d2,e3k5d3,e6k7d1,e3k3d4,e6k5d2 x", "trailing");
    /* enumeration covers distinct networks and matches sampling's text format */
    nasc_err err = {0};
    nasc_arch *a = NULL;
    CHECK_STATUS(nasc_space_get(sp, 7962623, &a, &err), NASC_OK);
    if (a) {
        char *s = nasc_arch_to_string(a);
        CHECK(!strcmp(s, "e6k7d4,e6k7d4,e6k7d4,e6k7d4,e6k7d4"));
        nasc_free(s);
        nasc_arch_free(a);
    }
    CHECK_STATUS(nasc_space_get(sp, 7962624, &a, &err), NASC_ERR_ARG);
    /* one stage by hand: e3k3d1, C=16, stride 1, cin 16 -> cout 16 (residual):
     * stem 1*16*9 + BN 32; expand 16*48 + BN 96; dw 48*9 + BN 96; project 48*16 + BN 32;
     * head 16*64 + BN 128; fc 64*10 + 10 */
    nasc_space *one = space("mobilenet", &(nasc_space_config){.n_stages = 1, .max_depth = 2});
    if (one) {
        CHECK(nasc_space_size(one) == 12);
        size_t want = 144 + 32 + 768 + 96 + 432 + 96 + 768 + 32 + 1024 + 128 + 650;
        CHECK(n_params(one, "e3k3d1", NULL) == want);
        nasc_space_free(one);
    }
    nasc_space_free(sp);
}

static void test_macro(void) {
    nasc_space *sp = space("macro", NULL);
    if (!sp)
        return;
    CHECK(nasc_space_n_decisions(sp) == 12 + 66);
    CHECK(nasc_space_size(sp) == 0);
    CHECK(nasc_space_encoding_len(sp, NASC_ENC_ONEHOT) == 72 + 66);
    test_random(sp, 3000, 4);
    const char *ex = "conv3x3,sepconv5x5+0,maxpool+0+1,avgpool+2,conv5x5,sepconv3x3+1+3+4,"
                     "conv3x3,conv3x3,maxpool+7,avgpool,conv5x5+0+9,sepconv3x3";
    test_neighbors(sp, ex, 12 * 5 + 66);
    check_bad(sp, "conv3x3,conv3x3+1", "column 17: layer 1 cannot take a skip from node 1");
    check_bad(sp, "conv3x3,conv3x3,conv3x3+1+0", "column 27: layer 2: skip nodes must be listed "
                                                 "once, in increasing order");
    check_bad(sp, "conv3x3,conv7x7", "column 9: unknown op 'conv7x7'");
    check_bad(sp, "conv3x3,conv3x3", "expected 12 layers (got 2)");
    check_bad(sp, "conv3x3+", "expected a node index after '+'");
    nasc_space_free(sp);

    /* small L: enumerable, and parameter counts by hand */
    nasc_space *s3 = space("macro", &(nasc_space_config){.max_layers = 3});
    if (s3) {
        CHECK(nasc_space_size(s3) == 216 * 8);
        test_random(s3, 500, 5);
        /* C=4, 1 input channel: stem 36 + 8; per layer in1x1 16 + 8;
         * conv3x3 144 + 8; maxpool 0; sepconv5x5 100 + 16 + 8; skip of layer 2 from nodes 0, 1:
         * 1x1 12*4 + 8; fc 4*10 + 10 */
        size_t want = 44 + 3 * 24 + 152 + 0 + 124 + 56 + 50;
        CHECK(n_params(s3, "conv3x3,maxpool,sepconv5x5+0+1",
                       &(nasc_net_config){.channels = 4}) == want);
        nasc_space_free(s3);
    }
}

int main(void) {
    test_chain();
    test_mobilenet();
    test_macro();
    return test_done("test_space_layerwise");
}
