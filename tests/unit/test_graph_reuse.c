/* test_graph_reuse.c — activation reuse in no-grad passes (nasc_graph_set_reuse, src/engine/
 * reuse.c): for networks of several spaces, the logits of a pass that follows the plan learnt
 * from a batch-1 pass are bit-identical to those of a graph without reuse, and the pass uses far
 * less of the step arena; a pass of another network on the same plan either computes the same
 * logits or fails with NASC_ERR_INTERNAL, never a different value (and a pass that reads a
 * released tensor fails so); a pass with gradients is untouched. */
#include "test.h"

#include "nasc/arena.h"
#include "nasc/backend.h"
#include "nasc/space.h"

enum { N = 8 };

static nasc_model *build(const char *space, const char *arch, int channels, int cells) {
    nasc_err err = {0};
    nasc_space *sp = NULL;
    nasc_arch *a = NULL;
    nasc_model *m = NULL;
    CHECK_STATUS(nasc_space_new(space, NULL, &sp, &err), NASC_OK);
    if (sp)
        CHECK_STATUS(nasc_arch_parse(sp, arch, &a, &err), NASC_OK);
    const nasc_net_config nc = {.in_c = 1, .in_h = 28, .in_w = 28, .n_classes = 10,
                                .channels = channels, .cells = cells};
    if (a)
        CHECK_STATUS(nasc_space_build(a, &nc, 3, &m, &err), NASC_OK);
    nasc_arch_free(a);
    nasc_space_free(sp);
    return m;
}

/* One no-grad pass of n images: logits into out (may be NULL); the status; *used the arena bytes
 * it took. */
static nasc_status pass(nasc_graph *g, nasc_model *m, const float *x, int n, float *out,
                        size_t *used) {
    nasc_graph_reset(g);
    int32_t labels[N] = {0};
    nasc_tensor *y = nasc_model_forward(m, g, nasc_input(g, n, 1, 28, 28, x), NULL);
    nasc_tensor *loss = nasc_cross_entropy(g, y, labels, 0.0f);
    if (used)
        *used = nasc_arena_used(nasc_graph_arena(g));
    if (!loss)
        return nasc_graph_status(g);
    if (out)
        memcpy(out, y->data, (size_t)n * 10 * sizeof *out);
    return NASC_OK;
}

static void check_net(const char *what, nasc_model *m, nasc_model *other, const float *x) {
    nasc_err err = {0};
    nasc_backend *be = nasc_backend_new("cpu", 2, &err);
    nasc_graph *ref = nasc_graph_new(be, 0, &err), *g = nasc_graph_new(be, 0, &err);
    nasc_graph_set_training(ref, false), nasc_graph_set_grad(ref, false);
    nasc_graph_set_training(g, false), nasc_graph_set_grad(g, false);
    float want[N * 10], got[N * 10];
    size_t used_ref = 0, used = 0;
    /* the second pass: the arena has merged its chunks, so `used` counts no chunk's tail */
    CHECK_STATUS(pass(ref, m, x, N, want, &used_ref), NASC_OK);
    CHECK_STATUS(pass(ref, m, x, N, want, &used_ref), NASC_OK);

    nasc_graph_set_reuse(g, true);
    CHECK_STATUS(pass(g, m, x, 1, NULL, NULL), NASC_OK); /* learns the plan */
    for (int rep = 0; rep < 2; rep++) {
        memset(got, 0, sizeof got);
        CHECK_STATUS(pass(g, m, x, N, got, &used), NASC_OK);
        CHECK_MSG(!memcmp(got, want, sizeof got), "%s: logits differ with reuse (pass %d)", what,
                  rep);
    }
    printf("%-8s arena bytes of a batch-%d pass: %zu without reuse, %zu with (%.1f%%)\n", what, N,
           used_ref, used, 100.0 * (double)used / (double)used_ref);
    CHECK_MSG(used < used_ref / 2, "%s: reuse saved too little (%zu of %zu)", what, used,
              used_ref);

    /* another network on this plan: the same logits as without reuse, or an internal error */
    if (other) {
        float o_want[N * 10], o_got[N * 10];
        CHECK_STATUS(pass(ref, other, x, N, o_want, NULL), NASC_OK);
        const nasc_status st = pass(g, other, x, N, o_got, NULL);
        printf("%-8s then another network on its plan: %s\n", what,
               st == NASC_OK ? "same logits" : nasc_graph_errmsg(g));
        CHECK_MSG(st == NASC_OK || st == NASC_ERR_INTERNAL, "%s: other network: status %d", what,
                  (int)st);
        if (st == NASC_OK)
            CHECK_MSG(!memcmp(o_got, o_want, sizeof o_got), "%s: other network's logits differ",
                      what);
        /* after it (a failed pass teaches no plan, the next one does), its own logits again */
        CHECK_STATUS(pass(g, other, x, N, o_got, NULL), NASC_OK);
        CHECK_STATUS(pass(g, other, x, N, o_got, NULL), NASC_OK);
        CHECK_MSG(!memcmp(o_got, o_want, sizeof o_got), "%s: other network (relearnt) differs",
                  what);
    }

    /* with gradients on, reuse does nothing: the graph keeps every activation */
    nasc_graph_set_grad(g, true);
    size_t used_grad = 0;
    CHECK_STATUS(pass(g, m, x, N, got, &used_grad), NASC_OK);
    CHECK_STATUS(pass(g, m, x, N, got, &used_grad), NASC_OK);
    CHECK_MSG(!memcmp(got, want, sizeof got), "%s: logits differ in a grad pass", what);
    CHECK_MSG(used_grad >= used_ref, "%s: a grad pass released buffers", what);
    nasc_graph_free(g);
    nasc_graph_free(ref);
    nasc_backend_free(be);
}

/* A pass that reads, after the point where it leaves the plan, a tensor the plan had released:
 * the op fails with NASC_ERR_INTERNAL (never reads a reused buffer). */
static void test_changed_pass(void) {
    nasc_err err = {0};
    nasc_backend *be = nasc_backend_new("cpu", 1, &err);
    nasc_graph *g = nasc_graph_new(be, 0, &err);
    nasc_graph_set_grad(g, false);
    nasc_graph_set_reuse(g, true);
    float x[64];
    for (int i = 0; i < 64; i++)
        x[i] = (float)i - 20.0f;
    for (int rep = 0; rep < 2; rep++) { /* learn, then follow: relu(relu(x)) * 2 */
        nasc_graph_reset(g);
        nasc_tensor *y = nasc_scale(g, nasc_relu(g, nasc_relu(g, nasc_input(g, 1, 4, 4, 4, x))), 2);
        CHECK(y && y->data[63] == 86.0f && y->data[0] == 0.0f);
    }
    /* the same start, then x read again after its last reader in the plan */
    nasc_graph_reset(g);
    nasc_tensor *in = nasc_input(g, 1, 4, 4, 4, x);
    nasc_tensor *y = nasc_add(g, nasc_relu(g, nasc_relu(g, in)), in);
    CHECK(y == NULL);
    CHECK_STATUS(nasc_graph_status(g), NASC_ERR_INTERNAL);
    /* the next pass runs without a plan and computes it */
    nasc_graph_reset(g);
    in = nasc_input(g, 1, 4, 4, 4, x);
    y = nasc_add(g, nasc_relu(g, nasc_relu(g, in)), in);
    CHECK(y && y->data[63] == 86.0f && y->data[0] == -20.0f);
    nasc_graph_free(g);
    nasc_backend_free(be);
}

int main(void) {
    test_changed_pass();
    float x[N * 28 * 28];
    nasc_rng r;
    nasc_rng_init(&r, 5, NASC_STREAM_USER);
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
        x[i] = nasc_rng_normal(&r);
    nasc_model *darts = build(
        "darts",
        "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
        "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
        "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
        "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
        "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])",
        8, 5);
    nasc_model *nb201 = build(
        "nb201", "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|",
        8, 2);
    nasc_model *morph = build("morph", "conv3x3-8,conv1x1-16+0,maxpool,conv3x3-16,conv5x5-32+2", 0, 0);
    if (darts && nb201 && morph) {
        check_net("darts", darts, nb201, x);
        check_net("nb201", nb201, morph, x);
        check_net("morph", morph, darts, x);
    }
    nasc_model_free(darts);
    nasc_model_free(nb201);
    nasc_model_free(morph);
    return test_done("test_graph_reuse");
}
