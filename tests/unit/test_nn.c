/* test_nn.c — parameter store (contiguity, errors, deterministic init, init statistics), layers,
 * the baseline model, and a steady-state training step that allocates nothing. */
#include "test.h"

#include "nasc/arena.h"
#include "nasc/backend.h"
#include "nasc/nn.h"
#include "nasc/optim.h"
#include "nasc/rng.h"

static void test_store(void) {
    nasc_err err = {0};
    nasc_params *ps = nasc_params_new("net");
    nasc_tensor *a = nasc_params_add(ps, "a", 3, 5, 1, 1, NASC_INIT_ONES, 0, &err);
    nasc_tensor *b = nasc_params_add(ps, "b", 1, 7, 1, 1, NASC_INIT_CONSTANT, 2.5f, &err);
    nasc_tensor *rm = nasc_params_add_buffer(ps, "rm", 1, 7, 1, 1, NASC_INIT_ZEROS, 0, &err);
    CHECK(a && b && rm);
    CHECK(a->data == NULL);
    /* duplicate names and bad dims are errors naming the tensor */
    nasc_err e = {0};
    CHECK(nasc_params_add(ps, "a", 1, 1, 1, 1, NASC_INIT_ZEROS, 0, &e) == NULL);
    CHECK_STATUS(e.code, NASC_ERR_ARG);
    CHECK_STR_CONTAINS(e.msg, "duplicate name 'a'");
    nasc_err_clear(&e);
    CHECK(nasc_params_add(ps, "z", 0, 1, 1, 1, NASC_INIT_ZEROS, 0, &e) == NULL);
    CHECK_STATUS(e.code, NASC_ERR_SHAPE);
    CHECK_STATUS(nasc_params_finalize(ps, &err), NASC_OK);
    /* contiguity: a then b in one block, each 64-byte aligned; grads parallel */
    CHECK(a->data == nasc_params_data(ps));
    CHECK(b->data == nasc_params_data(ps) + 16);
    CHECK(((uintptr_t)b->data & 63) == 0);
    CHECK(b->grad - a->grad == b->data - a->data);
    CHECK(nasc_params_count(ps) == 22);
    CHECK(nasc_params_flat_len(ps) == 32);
    CHECK(a->data[14] == 1.0f && b->data[6] == 2.5f && a->data[15] == 0.0f);
    CHECK(rm->grad == NULL && !(rm->flags & NASC_TENSOR_REQUIRES_GRAD));
    CHECK(nasc_params_find(ps, "rm") == rm);
    /* adding after finalize is an error */
    nasc_err_clear(&e);
    CHECK(nasc_params_add(ps, "late", 1, 1, 1, 1, NASC_INIT_ZEROS, 0, &e) == NULL);
    CHECK_STR_CONTAINS(e.msg, "after finalize");
    nasc_params_free(ps);
    nasc_params_free(NULL);
}

static void test_init(void) {
    nasc_err err = {0};
    nasc_params *p1 = nasc_params_new("a"), *p2 = nasc_params_new("b");
    nasc_tensor *w1 = nasc_params_add(p1, "w", 64, 32, 3, 3, NASC_INIT_KAIMING_NORMAL_FAN_OUT, 0, &err);
    nasc_tensor *u1 = nasc_params_add(p1, "u", 100, 200, 1, 1, NASC_INIT_TORCH_DEFAULT, 0, &err);
    nasc_tensor *w2 = nasc_params_add(p2, "w", 64, 32, 3, 3, NASC_INIT_KAIMING_NORMAL_FAN_OUT, 0, &err);
    nasc_params_add(p2, "u", 100, 200, 1, 1, NASC_INIT_TORCH_DEFAULT, 0, &err);
    nasc_params_finalize(p1, &err);
    nasc_params_finalize(p2, &err);
    nasc_params_init(p1, 42);
    nasc_params_init(p2, 42);
    CHECK(memcmp(nasc_params_data(p1), nasc_params_data(p2),
                 nasc_params_flat_len(p1) * sizeof(float)) == 0);
    nasc_params_init(p2, 43);
    CHECK(memcmp(w1->data, w2->data, 64 * sizeof(float)) != 0);
    /* Kaiming normal fan_out: std sqrt(2/(64*9)) = 0.0589; sample of 18432 values */
    double s = 0, ss = 0;
    const int64_t n = nasc_tensor_nelem(w1);
    for (int64_t i = 0; i < n; i++) {
        s += w1->data[i];
        ss += (double)w1->data[i] * w1->data[i];
    }
    double mean = s / n, sd = sqrt(ss / n - mean * mean);
    CHECK_CLOSE(mean, 0.0, 0, 0.002);
    CHECK_CLOSE(sd, sqrt(2.0 / 576.0), 0.02, 0);
    /* torch default: U(-1/sqrt(200), 1/sqrt(200)) */
    float mx = 0;
    for (int64_t i = 0; i < nasc_tensor_nelem(u1); i++)
        mx = fmaxf(mx, fabsf(u1->data[i]));
    CHECK(mx <= 1.0f / sqrtf(200.0f) && mx > 0.95f / sqrtf(200.0f));
    nasc_params_free(p1);
    nasc_params_free(p2);
}

/* Counting allocator: the steady-state training step must not allocate. */
static size_t n_mallocs;
static void *count_malloc(size_t n, void *u) { (void)u; n_mallocs++; return malloc(n); }
static void *count_realloc(void *p, size_t n, void *u) { (void)u; n_mallocs++; return realloc(p, n); }
static void count_free(void *p, void *u) { (void)u; free(p); }

static double train_step(nasc_model *m, nasc_graph *g, nasc_optim *o, const float *x,
                         const int32_t *y, int B, uint64_t step) {
    nasc_graph_reset(g);
    nasc_graph_set_rng(g, 7, step);
    nasc_params_zero_grad(m->params);
    nasc_tensor *in = nasc_input(g, B, 1, 16, 16, x);
    nasc_tensor *loss = nasc_cross_entropy(g, nasc_model_forward(m, g, in, NULL), y, 0.1f);
    if (!loss || nasc_backward(g, loss) != NASC_OK) {
        fprintf(stderr, "step %llu: %s\n", (unsigned long long)step, nasc_graph_errmsg(g));
        return NAN;
    }
    nasc_clip_grad_norm(m->params, 5.0f);
    nasc_optim_step(o, 0.05f);
    return loss->data[0];
}

static void test_steady_state(const char *backend) {
    nasc_err err = {0};
    nasc_backend *be = nasc_backend_new(backend, 2, &err);
    nasc_model *m = NULL;
    CHECK_STATUS(nasc_baseline_new(1, 16, 16, 10, 0.25f, 1, &m, &err), NASC_OK);
    nasc_graph *g = nasc_graph_new(be, 1 << 16, &err); /* small on purpose: it must grow first */
    nasc_optim *o = NULL;
    nasc_optim_new(m->params, &(nasc_optim_config){.kind = NASC_OPTIM_SGD, .momentum = 0.9f}, &o,
                   &err);
    enum { B = 8 };
    float x[B * 16 * 16];
    int32_t y[B];
    nasc_rng r;
    nasc_rng_init(&r, 5, 1);
    for (int i = 0; i < B * 256; i++)
        x[i] = nasc_rng_normal(&r);
    for (int i = 0; i < B; i++)
        y[i] = i % 10;
    double l0 = train_step(m, g, o, x, y, B, 0);
    train_step(m, g, o, x, y, B, 1);
    nasc_graph_reset(g); /* merges the arena's chunks */
    nasc_arena_freeze(nasc_graph_arena(g), true);
    be->scratch_frozen = true;
    const size_t grows = nasc_arena_n_grows(nasc_graph_arena(g));
    nasc_alloc_set_hooks(&(nasc_alloc_hooks){count_malloc, count_realloc, count_free, NULL});
    n_mallocs = 0;
    double l = 0;
    for (uint64_t s = 2; s < 6; s++)
        l = train_step(m, g, o, x, y, B, s);
    nasc_alloc_set_hooks(NULL);
    CHECK_MSG(n_mallocs == 0, "[%s] %zu allocations in steady-state steps", backend, n_mallocs);
    CHECK(nasc_arena_n_grows(nasc_graph_arena(g)) == grows);
    CHECK_MSG(isfinite(l) && l < l0, "[%s] loss %g -> %g should fall on a fixed batch", backend,
              l0, l);
    /* a frozen arena that is too small fails with a clear error instead of growing */
    nasc_graph_reset(g);
    nasc_tensor *big = nasc_input(g, 1024, 1024, 64, 1, NULL);
    CHECK(big == NULL);
    CHECK_STATUS(nasc_graph_status(g), NASC_ERR_NOMEM);
    CHECK_STR_CONTAINS(nasc_graph_errmsg(g), "frozen");
    nasc_optim_free(o);
    nasc_graph_free(g);
    nasc_model_free(m);
    nasc_backend_free(be);
}

int main(void) {
    test_store();
    test_init();
    test_steady_state("ref");
    test_steady_state("cpu");
    return test_done("nn");
}
