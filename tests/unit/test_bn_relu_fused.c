/* test_bn_relu_fused.c — nasc_batchnorm_relu (one NASC_OP_BN_RELU node) against nasc_relu of
 * nasc_batchnorm (two nodes), on the same inputs: output, every input gradient and the running
 * statistics after the step must be EQUAL, element by element (==, so +0 and -0 agree), on ref
 * and on cpu with 1, 2 and 3 threads, AVX-512 kernels on and off.
 *
 * Why equality holds: the fused forward stores max(0, y) of the very y the unfused BN writes;
 * the fused backward masks dy by y > 0 (cpu AVX-512: y recomputed from x with the forward's FMA
 * and coefficients; portable cpu and ref: read from the output) before the same sums and the same
 * dx formula that BN's backward runs on ReLU's masked gradient. So swapping the two nodes for one
 * in a model changes no float result: losses of the DARTS networks stay bit-identical.
 *
 * Also: the fused op in inference mode builds a plain BN and a ReLU node (graph walkers such as
 * the exporter see the two ops there); shape errors name the op. */
#include "test.h"

#include "backend/cpu/cpu_int.h"
#include "nasc/nasc.h"

typedef struct bcase {
    const char *name;
    int n, c, h, w;
    bool affine, running;
    float offset; /* added to x: BN statistics with a mean far from 0 */
} bcase;

static const bcase cases[] = {
    {"C16 28x28 no affine (supernet sep_conv)", 2, 16, 28, 28, false, false, 0.0f},
    {"C36 16x16 affine + running (CIFAR net)", 3, 36, 16, 16, true, true, 0.0f},
    {"C20 odd 5x7 affine (mask tail lanes)", 2, 20, 5, 7, true, false, 0.0f},
    {"C72 8x8 running, offset 30", 4, 72, 8, 8, false, true, 30.0f},
    {"C5 tiny batch 1 affine", 1, 5, 3, 3, true, true, 0.0f},
};

typedef struct res {
    float *out, *dx, *dg, *db, *rm, *rv;
} res;

static void res_free(res *r) {
    free(r->out), free(r->dx), free(r->dg), free(r->db), free(r->rm), free(r->rv);
}

static float *copy(const float *p, size_t n) {
    float *d = malloc(n * sizeof(float) + 1);
    if (p)
        memcpy(d, p, n * sizeof(float));
    else
        memset(d, 0, n * sizeof(float));
    return d;
}

/* One training step of relu(bn(x)) (fused or not) on be; loss = sum(out * R). */
static bool run(nasc_backend *be, const bcase *c, bool fused, const float *x0, const float *R,
                res *out) {
    nasc_err err = {0};
    nasc_graph *g = nasc_graph_new(be, 1 << 20, &err);
    nasc_graph_set_training(g, true);
    const size_t n = (size_t)c->n * c->c * c->h * c->w, C = (size_t)c->c;
    float *xd = copy(x0, n), *gd = malloc(C * sizeof(float)), *bd = malloc(C * sizeof(float));
    float *rmd = malloc(C * sizeof(float)), *rvd = malloc(C * sizeof(float));
    for (size_t k = 0; k < C; k++) {
        gd[k] = 0.5f + 0.1f * (float)k;
        bd[k] = 0.3f - 0.05f * (float)k;
        rmd[k] = 0.1f * (float)k;
        rvd[k] = 1.0f + 0.01f * (float)k;
    }
    nasc_tensor *x = nasc_input(g, c->n, c->c, c->h, c->w, xd);
    nasc_tensor_set_requires_grad(x, true);
    nasc_tensor *ga = NULL, *be_ = NULL, *rm = NULL, *rv = NULL;
    if (c->affine) {
        ga = nasc_input(g, 1, c->c, 1, 1, gd);
        be_ = nasc_input(g, 1, c->c, 1, 1, bd);
        nasc_tensor_set_requires_grad(ga, true);
        nasc_tensor_set_requires_grad(be_, true);
    }
    if (c->running) {
        rm = nasc_input(g, 1, c->c, 1, 1, rmd);
        rv = nasc_input(g, 1, c->c, 1, 1, rvd);
    }
    const nasc_bn_params p = {.eps = 1e-5f, .momentum = 0.1f};
    nasc_tensor *y = fused ? nasc_batchnorm_relu(g, x, ga, be_, rm, rv, &p)
                           : nasc_relu(g, nasc_batchnorm(g, x, ga, be_, rm, rv, &p));
    bool ok = y != NULL;
    if (ok)
        CHECK(y->op == (fused ? NASC_OP_BN_RELU : NASC_OP_RELU));
    nasc_tensor *r = ok ? nasc_input(g, c->n, c->c, c->h, c->w, (float *)R) : NULL;
    ok = ok && nasc_backward(g, nasc_sum(g, nasc_mul(g, y, r))) == NASC_OK;
    if (ok) {
        out->out = copy(y->data, n);
        out->dx = copy(x->grad, n);
        out->dg = copy(ga ? ga->grad : NULL, C);
        out->db = copy(be_ ? be_->grad : NULL, C);
        out->rm = copy(rmd, C);
        out->rv = copy(rvd, C);
    } else {
        fprintf(stderr, "%s: %s\n", c->name, nasc_graph_errmsg(g));
    }
    nasc_graph_free(g);
    free(xd), free(gd), free(bd), free(rmd), free(rvd);
    return ok;
}

static void same(const char *label, const char *what, const float *a, const float *b, size_t n) {
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (!(a[i] == b[i]) && bad++ == 0)
            first = i;
    CHECK_MSG(bad == 0, "%s: %s: %zu of %zu differ (first [%zu]: fused %.9g, unfused %.9g)",
              label, what, bad, n, first, bad ? a[first] : 0.0, bad ? b[first] : 0.0);
}

static void check_case(nasc_backend *be, const char *be_name, const bcase *c) {
    const size_t n = (size_t)c->n * c->c * c->h * c->w, C = (size_t)c->c;
    float *x = malloc(n * sizeof(float)), *R = malloc(n * sizeof(float));
    nasc_rng rng;
    nasc_rng_init(&rng, 42, (uint64_t)c->c);
    for (size_t i = 0; i < n; i++) {
        x[i] = c->offset + 2.0f * nasc_rng_uniform(&rng) - 1.0f;
        R[i] = 2.0f * nasc_rng_uniform(&rng) - 1.0f;
    }
    res a = {0}, b = {0};
    char label[200];
    snprintf(label, sizeof label, "[%s] %s", be_name, c->name);
    if (run(be, c, true, x, R, &a) && run(be, c, false, x, R, &b)) {
        same(label, "output", a.out, b.out, n);
        same(label, "dx", a.dx, b.dx, n);
        same(label, "dgamma", a.dg, b.dg, C);
        same(label, "dbeta", a.db, b.db, C);
        same(label, "running mean", a.rm, b.rm, C);
        same(label, "running var", a.rv, b.rv, C);
        size_t zeros = 0;
        for (size_t i = 0; i < n; i++)
            zeros += a.out[i] == 0.0f;
        CHECK_MSG(zeros > n / 5 && zeros < n - n / 5, "%s: %zu of %zu outputs are 0: the mask "
                  "is not exercised", label, zeros, n);
    } else {
        CHECK_MSG(false, "%s: run failed", label);
    }
    res_free(&a), res_free(&b);
    free(x), free(R);
}

/* inference: two nodes; a bad shape: an error naming the op */
static void check_build(nasc_backend *be) {
    nasc_err err = {0};
    nasc_graph *g = nasc_graph_new(be, 1 << 16, &err);
    float xd[2 * 3 * 2 * 2] = {0}, rm[3] = {0}, rv[3] = {1, 1, 1}, gd[4] = {1, 1, 1, 1};
    nasc_tensor *x = nasc_input(g, 2, 3, 2, 2, xd);
    nasc_tensor *m = nasc_input(g, 1, 3, 1, 1, rm), *v = nasc_input(g, 1, 3, 1, 1, rv);
    const nasc_bn_params p = {.eps = 1e-5f, .momentum = 0.1f};
    nasc_graph_set_training(g, false);
    nasc_tensor *y = nasc_batchnorm_relu(g, x, NULL, NULL, m, v, &p);
    CHECK(y && y->op == NASC_OP_RELU && y->src[0]->op == NASC_OP_BATCHNORM);
    nasc_graph_set_training(g, true);
    nasc_tensor *bad = nasc_input(g, 1, 4, 1, 1, gd);
    CHECK(nasc_batchnorm_relu(g, x, bad, bad, NULL, NULL, &p) == NULL);
    CHECK_STATUS(nasc_graph_status(g), NASC_ERR_SHAPE);
    CHECK_STR_CONTAINS(nasc_graph_errmsg(g), "batchnorm_relu");
    nasc_graph_free(g);
}

int main(void) {
    nasc_err err = {0};
    nasc_backend *ref = nasc_backend_new("ref", 1, &err);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(ref, "ref", &cases[i]);
    check_build(ref);
    for (int t = 1; t <= 3; t++) {
        nasc_backend *cpu = nasc_backend_new("cpu", t, &err);
        if (!cpu) {
            fprintf(stderr, "cpu backend: %s\n", err.msg);
            return 1;
        }
        const bool avx = nasc_cpu_ctx_of(cpu)->avx512;
        for (int v = 0; v < (avx ? 2 : 1); v++) {
            nasc_cpu_set_avx512(cpu, v == 0 ? avx : false);
            char name[48];
            snprintf(name, sizeof name, "cpu %d thread(s)%s", t, v ? " portable" : "");
            for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
                check_case(cpu, name, &cases[i]);
        }
        if (t == 1)
            check_build(cpu);
        nasc_backend_free(cpu);
    }
    nasc_backend_free(ref);
    return test_done("bn_relu_fused");
}
