/* test_shape_errors.c — shape mismatches are reported with the op's name and both shapes, the
 * graph refuses further ops until it is reset, and a reset graph works again. */
#include "test.h"

#include "nasc/autograd.h"
#include "nasc/backend.h"
#include "nasc/ops.h"

static nasc_graph *g;

/* Runs one bad op on a fresh graph and checks the status and the message's pieces. */
static void expect(nasc_tensor *out, const char *op, const char *shape_a, const char *shape_b) {
    CHECK(out == NULL);
    CHECK_STATUS(nasc_graph_status(g), NASC_ERR_SHAPE);
    const char *msg = nasc_graph_errmsg(g);
    CHECK_STR_CONTAINS(msg, op);
    CHECK_STR_CONTAINS(msg, shape_a);
    CHECK_STR_CONTAINS(msg, shape_b);
    nasc_graph_reset(g);
    CHECK_STATUS(nasc_graph_status(g), NASC_OK);
}

int main(void) {
    nasc_err err = {0};
    nasc_backend *be = nasc_backend_new("ref", 1, &err);
    g = nasc_graph_new(be, 1 << 20, &err);
    CHECK(be && g);

    nasc_tensor *a = nasc_input(g, 2, 3, 4, 4, NULL), *b = nasc_input(g, 2, 5, 4, 4, NULL);
    expect(nasc_add(g, a, b), "add", "(2,3,4,4)", "(2,5,4,4)");

    a = nasc_input(g, 2, 3, 4, 4, NULL);
    b = nasc_input(g, 2, 3, 5, 4, NULL);
    expect(nasc_concat(g, 2, (nasc_tensor *[]){a, b}), "concat", "(2,3,4,4)", "(2,3,5,4)");

    nasc_tensor *x = nasc_input(g, 2, 6, 8, 8, NULL), *w = nasc_input(g, 4, 4, 3, 3, NULL);
    expect(nasc_conv2d(g, x, w, NULL,
                       &(nasc_conv2d_params){{1, 1}, {1, 1}, {1, 1}, 1}),
           "conv2d", "(2,6,8,8)", "(4,4,3,3)");

    x = nasc_input(g, 2, 6, 2, 2, NULL);
    w = nasc_input(g, 10, 20, 1, 1, NULL);
    expect(nasc_linear(g, x, w, NULL), "linear", "(2,6,2,2)", "(10,20,1,1)");

    /* the first error sticks: a later op on a failed graph returns NULL and keeps the message */
    a = nasc_input(g, 1, 2, 3, 3, NULL);
    b = nasc_input(g, 1, 4, 3, 3, NULL);
    CHECK(nasc_add(g, a, b) == NULL);
    CHECK(nasc_relu(g, a) == NULL);
    CHECK_STR_CONTAINS(nasc_graph_errmsg(g), "(1,4,3,3)");
    nasc_graph_reset(g);

    /* a reset graph builds again */
    a = nasc_input(g, 1, 2, 3, 3, NULL);
    CHECK(nasc_relu(g, a) != NULL);
    CHECK_STATUS(nasc_graph_status(g), NASC_OK);

    nasc_graph_free(g);
    nasc_backend_free(be);
    return test_done("shape_errors");
}
