/* test_parity_oneshot.c — the cpu kernels of the supernet ops against ref (the cpu backend's
 * own table-driven parity test covers weighted_sum and channel_shuffle; this one the in-place
 * batch norm): outputs, running statistics and input gradients at supernet shapes, training and
 * inference, channel counts that are and are not multiples of 16.
 * Tolerance: both accumulate the statistics in double, cpu in float blocks of 64 pixels first;
 * outputs and gradients are O(1), so rtol 1e-4 with an absolute floor of 1e-4. */
#include "test.h"

#include "nasc/backend.h"
#include "nasc/ops.h"
#include "nasc/rng.h"

typedef struct run {
    float *y, *dx, rm[64], rv[64];
} run;

static run once(nasc_backend *be, const int ne[4], const float *x, const float *R, bool training,
                bool stats) {
    const size_t n = (size_t)ne[0] * ne[1] * ne[2] * ne[3];
    run r = {calloc(n, sizeof(float)), calloc(n, sizeof(float)), {0}, {0}};
    nasc_err err = {0};
    nasc_graph *g = nasc_graph_new(be, 0, &err);
    nasc_graph_set_training(g, training);
    nasc_tensor *xt = nasc_input(g, ne[0], ne[1], ne[2], ne[3], x);
    nasc_tensor_set_requires_grad(xt, true);
    /* the op overwrites its input: feed it a copy made by a scale node, as a conv output */
    nasc_tensor *h = nasc_scale(g, xt, 1.0f);
    nasc_tensor *rm = NULL, *rv = NULL;
    if (stats) {
        rm = nasc_input(g, 1, ne[1], 1, 1, NULL);
        rv = nasc_input(g, 1, ne[1], 1, 1, NULL);
        for (int c = 0; c < ne[1]; c++) {
            rm->data[c] = 0.1f * (float)c;
            rv->data[c] = 1.0f + 0.05f * (float)c;
        }
    }
    nasc_tensor *y = nasc_batchnorm_inplace(g, h, rm, rv, &(nasc_bn_params){1e-5f, 0.1f});
    CHECK_MSG(y && y->data == h->data, "[%s] in place: %s", nasc_backend_name(be),
              nasc_graph_errmsg(g));
    if (!y) {
        nasc_graph_free(g);
        return r;
    }
    memcpy(r.y, y->data, n * sizeof(float));
    if (stats)
        for (int c = 0; c < ne[1]; c++) {
            r.rm[c] = rm->data[c];
            r.rv[c] = rv->data[c];
        }
    nasc_tensor *Rt = nasc_input(g, ne[0], ne[1], ne[2], ne[3], R);
    CHECK_STATUS(nasc_backward(g, nasc_sum(g, nasc_mul(g, y, Rt))), NASC_OK);
    if (xt->grad)
        memcpy(r.dx, xt->grad, n * sizeof(float));
    nasc_graph_free(g);
    return r;
}

int main(void) {
    nasc_err err = {0};
    nasc_backend *cpu = nasc_backend_new("cpu", 2, &err);
    static const int shapes[][4] = {{8, 16, 14, 14}, {4, 32, 7, 7}, {3, 3, 5, 5}, {2, 40, 6, 6},
                                    {16, 64, 7, 7}};
    nasc_rng r;
    nasc_rng_init(&r, 11, 3);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int *ne = shapes[s];
        const size_t n = (size_t)ne[0] * ne[1] * ne[2] * ne[3];
        float *x = malloc(n * sizeof(float)), *R = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) {
            x[i] = 3.0f + 2.0f * nasc_rng_normal(&r); /* |mean| > std: the shift matters */
            R[i] = nasc_rng_normal(&r);
        }
        for (int mode = 0; mode < 3; mode++) {
            const bool training = mode < 2, stats = mode != 1;
            run a = once(nasc_backend_ref(), ne, x, R, training, stats);
            run b = once(cpu, ne, x, R, training, stats);
            char label[128];
            snprintf(label, sizeof label, "bn_inplace (%d,%d,%d,%d) %s%s: y", ne[0], ne[1], ne[2],
                     ne[3], training ? "train" : "inference", stats ? " +stats" : "");
            check_tensor(label, b.y, a.y, n, 1e-4, 1e-4);
            label[strlen(label) - 1] = 0;
            strcat(label, "dx");
            check_tensor(label, b.dx, a.dx, n, 1e-4, 1e-4);
            if (stats) {
                check_tensor("running_mean", b.rm, a.rm, (size_t)ne[1], 1e-5, 1e-6);
                check_tensor("running_var", b.rv, a.rv, (size_t)ne[1], 1e-5, 1e-6);
            }
            free(a.y);
            free(a.dx);
            free(b.y);
            free(b.dx);
        }
        free(x);
        free(R);
    }
    nasc_backend_free(cpu);
    return test_done("parity_oneshot");
}
