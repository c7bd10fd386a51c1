/* test_export_graph.c — the export graph (export.h) computes the same logits as nasc's own
 * inference forward, for every network nasc builds: the baseline CNN and random architectures of
 * every space (DARTS with and without the auxiliary head), with random batch-norm statistics and
 * affine parameters so that folding is exercised. The graph runs in its reference interpreter
 * on raw pixels in [0,1]; nasc runs on the normalised images, as `nasc eval` feeds them.
 * Also: the shape of the graph (no dropout, BN folded, value numbering) and a clear error for an
 * op it cannot express. */
#include "test.h"

#include "nasc/arena.h"
#include "nasc/backend.h"
#include "nasc/export.h"
#include "nasc/space.h"

enum { N_IMG = 3 };

/* Random BN statistics / affine parameters, so folding is not a no-op. */
static void randomise_bn(nasc_model *m, uint64_t seed) {
    nasc_rng r;
    nasc_rng_init(&r, seed, NASC_STREAM_USER);
    nasc_params *ps = m->params;
    for (int i = 0; i < nasc_params_n_buffers(ps); i++) {
        nasc_tensor *t = nasc_params_buffer(ps, i);
        const bool var = strstr(t->name, "rvar") != NULL;
        for (int64_t j = 0; j < nasc_tensor_nelem(t); j++)
            t->data[j] = var ? 0.5f + nasc_rng_uniform(&r) : 0.2f * nasc_rng_normal(&r);
    }
    for (int i = 0; i < nasc_params_n_tensors(ps); i++) {
        nasc_tensor *t = nasc_params_tensor(ps, i);
        const bool gamma = strstr(t->name, "gamma") != NULL, beta = strstr(t->name, "beta") != NULL;
        const bool bias = strlen(t->name) > 2 && !strcmp(t->name + strlen(t->name) - 2, ".b");
        if (gamma || beta || bias)
            for (int64_t j = 0; j < nasc_tensor_nelem(t); j++)
                t->data[j] = (gamma ? 1.0f : 0.0f) + 0.2f * nasc_rng_normal(&r);
    }
}

/* nasc's inference logits for raw NCHW pixels normalised with (mean, std) as the loader does. */
static void nasc_logits(nasc_model *m, const float *pix, const nasc_export_norm *norm,
                        float *out) {
    nasc_err err = {0};
    nasc_backend *be = nasc_backend_new("cpu", 1, &err);
    nasc_graph *g = nasc_graph_new(be, 0, &err);
    nasc_graph_set_training(g, false);
    nasc_graph_set_grad(g, false);
    const int C = m->in_c, H = m->in_h, W = m->in_w;
    float *x = nasc_malloc((size_t)N_IMG * C * H * W * sizeof *x);
    for (int n = 0; n < N_IMG; n++)
        for (int c = 0; c < C; c++)
            for (int h = 0; h < H; h++)
                for (int w = 0; w < W; w++)
                    x[(((size_t)n * H + h) * W + w) * C + c] =
                        (pix[(((size_t)n * C + c) * H + h) * W + w] - norm->mean[c]) /
                        norm->std[c];
    nasc_tensor *y = nasc_model_forward(m, g, nasc_input(g, N_IMG, C, H, W, x), NULL);
    CHECK_MSG(y != NULL, "%s", nasc_graph_errmsg(g));
    if (y)
        memcpy(out, y->data, (size_t)N_IMG * m->n_classes * sizeof *out);
    nasc_free(x);
    nasc_graph_free(g);
    nasc_backend_free(be);
}

static int n_checked;

/* Builds the graph of m, runs both, compares; returns the graph for further checks (or NULL). */
static nasc_export_graph *check_model(nasc_model *m, const char *what, uint64_t seed) {
    randomise_bn(m, seed);
    const nasc_export_norm norm = {.c = m->in_c, .mean = {0.29f, 0.45f, 0.41f},
                                   .std = {0.35f, 0.25f, 0.27f}};
    nasc_err err = {0};
    nasc_export_graph *xg = NULL;
    nasc_status st = nasc_export_graph_new(m, &norm, &xg, &err);
    CHECK_MSG(st == NASC_OK, "%s: %s", what, err.msg);
    if (st != NASC_OK)
        return NULL;
    const size_t in_n = (size_t)m->in_c * m->in_h * m->in_w;
    float *pix = nasc_malloc(N_IMG * in_n * sizeof *pix);
    float *want = nasc_malloc((size_t)N_IMG * m->n_classes * sizeof *want);
    float *got = nasc_malloc((size_t)N_IMG * m->n_classes * sizeof *got);
    nasc_rng r;
    nasc_rng_init(&r, seed + 7, NASC_STREAM_USER);
    for (size_t i = 0; i < N_IMG * in_n; i++)
        pix[i] = nasc_rng_uniform(&r);
    nasc_logits(m, pix, &norm, want);
    CHECK_STATUS(nasc_export_graph_run(xg, N_IMG, pix, got, &err), NASC_OK);
    /* float rounding differs (folded weights, other summation order): 1e-4 relative to the
     * largest logit, as the exported formats are held to */
    double max_abs = 0.0;
    for (int i = 0; i < N_IMG * m->n_classes; i++)
        max_abs = fmax(max_abs, fabs((double)want[i]));
    char name[160];
    snprintf(name, sizeof name, "%s logits", what);
    check_tensor(name, got, want, (size_t)N_IMG * m->n_classes, 0.0, 1e-4 * fmax(1.0, max_abs));
    /* every node writes node index + 1, reads earlier values only; no dropout survives */
    for (int i = 0; i < xg->n_nodes; i++) {
        CHECK(xg->nodes[i].out == i + 1);
        for (int k = 0; k < xg->nodes[i].n_in; k++)
            CHECK(xg->nodes[i].in[k] >= 0 && xg->nodes[i].in[k] <= i);
    }
    CHECK(xg->shape[xg->n_nodes].c == m->n_classes);
    n_checked++;
    nasc_free(pix);
    nasc_free(want);
    nasc_free(got);
    return xg;
}

static int count_op(const nasc_export_graph *xg, nasc_export_op op) {
    int n = 0;
    for (int i = 0; i < xg->n_nodes; i++)
        n += xg->nodes[i].op == op;
    return n;
}

static void test_baseline(void) {
    nasc_err err = {0};
    nasc_model *m = NULL;
    CHECK_STATUS(nasc_baseline_new(1, 28, 28, 10, 0.5f, 3, &m, &err), NASC_OK);
    nasc_export_graph *xg = check_model(m, "baseline", 11);
    if (xg) {
        /* normalize, 5 x (conv+BN folded, relu), 2 maxpool, gap, linear; dropout removed */
        CHECK(xg->n_nodes == 1 + 10 + 2 + 1 + 1);
        CHECK(count_op(xg, NASC_EXPORT_OP_AFFINE) == 1);
        CHECK(count_op(xg, NASC_EXPORT_OP_CONV) == 5);
        CHECK(xg->nodes[0].op == NASC_EXPORT_OP_AFFINE && xg->nodes[0].in[0] == 0);
        CHECK(xg->nodes[xg->n_nodes - 1].op == NASC_EXPORT_OP_LINEAR);
        CHECK(!strcmp(xg->nodes[1].name, "conv1"));
        size_t peak = 0, maxv = 0;
        nasc_export_graph_memory(xg, &peak, &maxv);
        CHECK(maxv == 16u * 28 * 28); /* conv1 output at width 0.5 */
        CHECK(peak >= 2 * maxv * sizeof(float));
    }
    nasc_export_graph_free(xg);
    nasc_model_free(m);
}

/* Random architectures of each space on a small network. */
static void test_spaces(void) {
    static const struct {
        const char *space;
        int in_c, hw, channels, cells, n_arch;
        bool aux;
    } cases[] = {
        {"nb201", 1, 28, 8, 1, 6, false},   {"darts", 1, 28, 8, 5, 3, false},
        {"darts", 3, 32, 8, 5, 2, true},    {"mobilenet", 1, 28, 8, 0, 3, false},
        {"chain", 1, 28, 0, 0, 6, false},   {"macro", 1, 28, 8, 0, 3, false},
        {"morph", 1, 28, 0, 0, 4, false},   {"nb201", 3, 16, 8, 2, 2, false},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        nasc_err err = {0};
        nasc_space *sp = NULL;
        CHECK_STATUS(nasc_space_new(cases[ci].space, NULL, &sp, &err), NASC_OK);
        nasc_rng r;
        nasc_rng_init(&r, 100 + ci, NASC_STREAM_USER);
        for (int k = 0; k < cases[ci].n_arch; k++) {
            nasc_arch *a = NULL;
            nasc_model *m = NULL;
            CHECK_STATUS(nasc_space_sample(sp, &r, &a, &err), NASC_OK);
            const nasc_net_config cfg = {.in_c = cases[ci].in_c, .in_h = cases[ci].hw,
                                         .in_w = cases[ci].hw, .n_classes = 10,
                                         .channels = cases[ci].channels,
                                         .cells = cases[ci].cells, .auxiliary = cases[ci].aux,
                                         .drop_path = 0.2f};
            nasc_status st = nasc_space_build(a, &cfg, 5, &m, &err);
            CHECK_MSG(st == NASC_OK, "%s: %s", cases[ci].space, err.msg);
            if (st == NASC_OK) {
                char *text = nasc_arch_to_string(a);
                char what[512];
                snprintf(what, sizeof what, "%s%s %s", cases[ci].space,
                         cases[ci].aux ? "+aux" : "", text);
                nasc_export_graph_free(check_model(m, what, 20 + (uint64_t)k));
                nasc_free(text);
            }
            nasc_model_free(m);
            nasc_arch_free(a);
        }
        nasc_space_free(sp);
    }
}

/* An op without an inference form: a model whose forward ends in a softmax. */
static nasc_tensor *softmax_forward(nasc_model *m, nasc_graph *g, nasc_tensor *x,
                                    const nasc_forward_opts *o) {
    (void)o;
    nasc_tensor *w = nasc_params_find(m->params, "fc.w");
    return nasc_softmax(g, nasc_linear(g, nasc_global_avgpool(g, x), w, NULL));
}
static const nasc_model_i softmax_iface = {.kind = "softmax-net", .forward = softmax_forward};

static void test_unsupported(void) {
    nasc_err err = {0};
    nasc_params *ps = nasc_params_new("softmax-net");
    nasc_fc fc;
    CHECK_STATUS(nasc_fc_init(&fc, ps, "fc", 1, 10, false, &err), NASC_OK);
    CHECK_STATUS(nasc_params_finalize(ps, &err), NASC_OK);
    nasc_model *m = nasc_model_new(&softmax_iface, ps, NULL, 1, 8, 8, 10);
    nasc_export_graph *xg = (nasc_export_graph *)1;
    CHECK_STATUS(nasc_export_graph_new(m, NULL, &xg, &err), NASC_ERR_UNSUPPORTED);
    CHECK(xg == NULL);
    CHECK_STR_CONTAINS(err.msg, "softmax");
    CHECK_STR_CONTAINS(err.msg, "cannot express");
    /* a normalisation that does not fit the input */
    const nasc_export_norm bad = {.c = 3, .mean = {0, 0, 0}, .std = {1, 1, 1}};
    err = (nasc_err){0};
    CHECK_STATUS(nasc_export_graph_new(m, &bad, &xg, &err), NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "3 channels");
    nasc_model_free(m);
}

int main(void) {
    test_baseline();
    test_spaces();
    test_unsupported();
    printf("%d networks checked\n", n_checked);
    return test_done("test_export_graph");
}
