/* test_space_morph.c — the network-morphism space: representation (round trips, malformed text,
 * mutations are morphisms) and function preservation: every deeper / wider / skip child of a
 * network with non-trivial weights and BN statistics computes its parent's outputs to 1e-5 in
 * inference mode, also after a chain of 12 random morphisms. */
#include "test.h"

#include "nasc/arena.h"
#include "nasc/backend.h"
#include "nasc/space.h"

enum { N = 4, C_IN = 2, HW = 12, CLASSES = 5 };

static float g_x[N * C_IN * HW * HW];

/* Logits of m on g_x in inference mode, into out[N*CLASSES]. */
static bool forward(nasc_graph *g, nasc_model *m, float *out) {
    nasc_graph_reset(g);
    nasc_tensor *x = nasc_input(g, N, C_IN, HW, HW, g_x);
    nasc_tensor *y = nasc_model_forward(m, g, x, NULL);
    if (nasc_graph_status(g) != NASC_OK || !y) {
        fprintf(stderr, "forward: %s\n", nasc_graph_errmsg(g));
        return false;
    }
    memcpy(out, y->data, sizeof(float) * N * CLASSES);
    return true;
}

/* Random weights, BN affine parameters and running statistics, so that nothing is trivially
 * the identity. */
static void randomize(nasc_model *m, uint64_t seed) {
    nasc_rng r;
    nasc_rng_init(&r, seed, NASC_STREAM_USER + 1);
    for (int i = 0; i < nasc_params_n_tensors(m->params); i++) {
        nasc_tensor *t = nasc_params_tensor(m->params, i);
        const bool gamma = strstr(t->name, "gamma") != NULL;
        for (int64_t k = 0; k < nasc_tensor_nelem(t); k++)
            t->data[k] = gamma ? 0.5f + nasc_rng_uniform(&r) : 0.3f * nasc_rng_normal(&r);
    }
    for (int i = 0; i < nasc_params_n_buffers(m->params); i++) {
        nasc_tensor *t = nasc_params_buffer(m->params, i);
        const bool var = strstr(t->name, "var") != NULL;
        for (int64_t k = 0; k < nasc_tensor_nelem(t); k++)
            t->data[k] = var ? 0.5f + nasc_rng_uniform(&r) : 0.2f * nasc_rng_normal(&r);
    }
}

static void test_preservation(nasc_graph *g) {
    nasc_err err = {0};
    nasc_space *sp = NULL;
    CHECK_STATUS(nasc_space_new("morph", NULL, &sp, &err), NASC_OK);
    nasc_arch *a = NULL;
    const char *parent_text = "conv3x3-8,conv3x3-8,conv3x3-8+0,maxpool,conv5x5-16,conv1x1-16,"
                              "avgpool,conv3x3-32";
    CHECK_STATUS(nasc_arch_parse(sp, parent_text, &a, &err), NASC_OK);
    nasc_model *parent = NULL;
    nasc_net_config cfg = {.in_c = C_IN, .in_h = HW, .in_w = HW, .n_classes = CLASSES};
    if (a)
        CHECK_STATUS(nasc_space_build(a, &cfg, 3, &parent, &err), NASC_OK);
    if (!parent) {
        nasc_space_free(sp);
        return;
    }
    randomize(parent, 9);
    float want[N * CLASSES], got[N * CLASSES];
    CHECK(forward(g, parent, want));

    /* every single morphism: deeper after each unit (3 kernels), wider each unit, each skip */
    nasc_rng rng;
    nasc_rng_init(&rng, 5, NASC_STREAM_USER);
    int n_ops = 0;
    for (int kind = 0; kind < NASC_MORPH_KIND_COUNT; kind++)
        for (int u = 0; u < 6; u++)
            for (int v = 0; v < 6; v++) {
                nasc_morph_op op = {.kind = (nasc_morph_kind)kind, .unit = u};
                if (kind == NASC_MORPH_DEEPER) {
                    if (v >= 3)
                        continue;
                    op.kernel = 1 + 2 * v;
                } else if (kind == NASC_MORPH_WIDER) {
                    if (v)
                        continue;
                } else {
                    op.from = v;
                }
                nasc_model *child = NULL;
                nasc_err e2 = {0};
                nasc_status st = nasc_morph_apply(parent, &op, &rng, &child, &e2);
                const bool skip_ok = (u == 1 && v == 0) || (u == 2 && v == 1) || (u == 4 && v == 3);
                if (kind == NASC_MORPH_SKIP && !skip_ok) {
                    /* later units, sources before a pool, or present already (0 -> 2) */
                    CHECK_MSG(st == NASC_ERR_ARG, "skip %d -> %d should not apply", v, u);
                    nasc_model_free(child);
                    continue;
                }
                CHECK_MSG(st == NASC_OK, "op %d unit %d v %d: %s", kind, u, v, e2.msg);
                if (!child)
                    continue;
                n_ops++;
                CHECK(forward(g, child, got));
                char name[96];
                snprintf(name, sizeof name, "%s", child->arch);
                CHECK_MSG(check_tensor(name, got, want, N * CLASSES, 1e-5, 1e-5) == 0,
                          "child %s of %s", child->arch, parent_text);
                if (kind == NASC_MORPH_WIDER)
                    CHECK(nasc_params_count(child->params) > nasc_params_count(parent->params));
                if (kind == NASC_MORPH_DEEPER)
                    CHECK(strlen(child->arch) > strlen(parent_text));
                nasc_model_free(child);
            }
    CHECK_MSG(n_ops == 18 + 6 + 3, "%d morphisms applied", n_ops);

    /* a chain of random morphisms through the space's mutation and nasc_morph_inherit */
    nasc_model *cur = parent;
    nasc_arch *cur_a = nasc_arch_clone(a);
    nasc_space *big = NULL;
    nasc_space_new("morph", &(nasc_space_config){.max_layers = 20}, &big, &err);
    nasc_arch_free(cur_a);
    cur_a = NULL;
    nasc_arch_parse(big, parent_text, &cur_a, &err);
    for (int step = 0; step < 12 && cur_a; step++) {
        nasc_arch *next_a = NULL;
        nasc_model *next = NULL;
        CHECK_STATUS(nasc_arch_mutate(cur_a, &rng, &next_a, &err), NASC_OK);
        if (!next_a)
            break;
        CHECK_STATUS(nasc_morph_inherit(cur, next_a, &rng, &next, &err), NASC_OK);
        if (!next) {
            fprintf(stderr, "%s\n", err.msg);
            nasc_arch_free(next_a);
            break;
        }
        char *t = nasc_arch_to_string(next_a);
        CHECK(!strcmp(t, next->arch));
        nasc_free(t);
        CHECK(forward(g, next, got));
        CHECK_MSG(check_tensor("chain", got, want, N * CLASSES, 1e-5, 1e-5) == 0,
                  "after %d morphisms: %s", step + 1, next->arch);
        if (cur != parent)
            nasc_model_free(cur);
        nasc_arch_free(cur_a);
        cur = next;
        cur_a = next_a;
    }
    printf("after 12 morphisms: %s (%zu parameters, parent %zu)\n", cur->arch,
           nasc_params_count(cur->params), nasc_params_count(parent->params));
    /* not one morphism apart */
    nasc_arch *far = NULL;
    nasc_arch_parse(big, "conv3x3-8", &far, &err);
    nasc_model *bad = NULL;
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_morph_inherit(cur, far, &rng, &bad, &err), NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "is not one morphism from");
    /* parent from another space */
    nasc_err_clear(&err);
    nasc_model *base = NULL;
    nasc_baseline_new(1, 28, 28, 10, 0.25f, 1, &base, &err);
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_morph_apply(base, &(nasc_morph_op){.kind = NASC_MORPH_WIDER}, &rng, &bad,
                                  &err),
                 NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "not a morph network");
    nasc_model_free(base);
    nasc_arch_free(far);
    if (cur != parent)
        nasc_model_free(cur);
    nasc_arch_free(cur_a);
    nasc_space_free(big);
    nasc_model_free(parent);
    nasc_arch_free(a);
    nasc_space_free(sp);
}

static void test_representation(void) {
    nasc_err err = {0};
    nasc_space *sp = NULL;
    CHECK_STATUS(nasc_space_new("morph", NULL, &sp, &err), NASC_OK);
    if (!sp)
        return;
    nasc_rng rng;
    nasc_rng_init(&rng, 21, NASC_STREAM_USER);
    int bad = 0;
    for (int it = 0; it < 3000; it++) {
        nasc_arch *a = NULL, *r = NULL, *m = NULL, *x = NULL, *b = NULL, *j = NULL;
        nasc_space_sample(sp, &rng, &a, &err);
        nasc_space_sample(sp, &rng, &b, &err);
        char *s = nasc_arch_to_string(a);
        if (nasc_arch_parse(sp, s, &r, &err) != NASC_OK || !nasc_arch_equal(a, r)) {
            if (bad++ < 3)
                fprintf(stderr, "round trip '%s': %s\n", s, err.msg);
        }
        char *js = nasc_arch_to_json(a);
        if (nasc_arch_from_json(sp, js, &j, &err) != NASC_OK || !nasc_arch_equal(a, j))
            bad++;
        /* a mutation is a morphism unless the network cannot grow any more */
        if (nasc_arch_mutate(a, &rng, &m, &err) == NASC_OK) {
            bad += nasc_arch_equal(a, m);
        }
        if (nasc_arch_crossover(a, b, &rng, &x, &err) != NASC_OK)
            bad++;
        nasc_free(s);
        nasc_free(js);
        nasc_arch_free(a);
        nasc_arch_free(b);
        nasc_arch_free(r);
        nasc_arch_free(m);
        nasc_arch_free(x);
        nasc_arch_free(j);
    }
    CHECK_MSG(bad == 0, "%d failures", bad);
    nasc_arch *a = NULL, **nb = NULL;
    size_t n = 0;
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_arch_parse(sp, "conv3x3-8,conv3x3-16,maxpool,conv5x5-16", &a, &err),
                 NASC_OK);
    CHECK_STATUS(nasc_arch_neighbors(a, &nb, &n, &err), NASC_OK);
    /* deeper: 3 units x 3 kernels; wider: 3; skips: 0 -> 1 only */
    CHECK_MSG(n == 9 + 3 + 1, "%zu neighbours", n);
    nasc_arch_list_free(nb, n);
    CHECK(nasc_space_encoding_len(sp, NASC_ENC_ONEHOT) == 12 * 8 + 28);
    nasc_arch_free(a);

    struct {
        const char *text, *want;
    } cases[] = {
        {"maxpool,conv3x3-8", "column 1: a pool must follow a conv unit"},
        {"conv3x3-8,maxpool,avgpool", "column 19: a pool must follow a conv unit (two pools"},
        {"conv3x3-8,conv3x3-8+1", "column 21: unit 1 cannot take a skip from unit 1"},
        {"conv3x3-8,maxpool,conv3x3-8+0", "column 29: skip from unit 0 to unit 1 crosses a pool"},
        {"conv3x3-12", "column 9: unit width must be 8, 16, 32, 64, 128 or 256 (got 12)"},
        {"conv7x7-8", "unit kernel must be 1x1, 3x3 or 5x5"},
        {"conv3x3-8,fc-8", "column 11: unknown item 'fc'"},
        {"conv3x3-8,maxpool,conv3x3-8,maxpool,conv3x3-8,maxpool,conv3x3-8,maxpool",
         "at most 3 pools"},
        {"conv3x3-8,conv3x3-8,conv3x3-8+0+0", "listed once, in increasing order"},
        {"conv3x3-8,,", "column 11: expected a unit"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nasc_arch *b = NULL;
        nasc_err e = {0};
        CHECK_STATUS(nasc_arch_parse(sp, cases[i].text, &b, &e), NASC_ERR_FORMAT);
        CHECK_STR_CONTAINS(e.msg, cases[i].want);
        nasc_arch_free(b);
    }
    nasc_space_free(sp);
}

int main(void) {
    nasc_rng r;
    nasc_rng_init(&r, 77, NASC_STREAM_USER);
    for (size_t i = 0; i < sizeof g_x / sizeof g_x[0]; i++)
        g_x[i] = nasc_rng_normal(&r);
    nasc_err err = {0};
    nasc_backend *be = nasc_backend_new("cpu", 2, &err);
    nasc_graph *g = be ? nasc_graph_new(be, 1 << 20, &err) : NULL;
    CHECK_MSG(g != NULL, "%s", err.msg);
    if (g) {
        nasc_graph_set_training(g, false); /* inference: BN uses running statistics */
        nasc_graph_set_grad(g, false);
        test_preservation(g);
    }
    test_representation();
    nasc_graph_free(g);
    nasc_backend_free(be);
    return test_done("test_space_morph");
}
