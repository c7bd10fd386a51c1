/* test_space_train.c — every space: networks of sampled architectures train one SGD step on a
 * small Fashion-MNIST batch and the loss on that batch goes down. The images are read straight
 * from the gzip'd idx files with zlib (independent of the data module). Skips (77) if the
 * dataset is not installed. */
#include "test.h"

#include "nasc/arena.h"
#include "nasc/backend.h"
#include "nasc/optim.h"
#include "nasc/space.h"

#include <zlib.h>

enum { B = 8, HW = 28 };

static bool read_gz(const char *path, unsigned char *buf, unsigned n) {
    gzFile f = gzopen(path, "rb");
    if (!f)
        return false;
    int got = gzread(f, buf, n);
    gzclose(f);
    return got == (int)n;
}

/* Loss of the batch in training mode; with step, also one SGD update. */
static double loss_of(nasc_model *m, nasc_graph *g, nasc_optim *o, const float *x,
                      const int32_t *y, bool step, uint64_t it) {
    nasc_graph_reset(g);
    nasc_graph_set_rng(g, 5, it);
    nasc_tensor *in = nasc_input(g, B, 1, HW, HW, x);
    nasc_forward_opts opts = {.drop_path = 0.0f, .want_aux = true};
    nasc_tensor *logits = nasc_model_forward(m, g, in, &opts);
    nasc_tensor *loss = nasc_cross_entropy(g, logits, y, 0.0f);
    if (m->aux_logits) /* DARTS: loss + 0.4 * auxiliary loss, as the DARTS training script */
        loss = nasc_add(g, loss, nasc_scale(g, nasc_cross_entropy(g, m->aux_logits, y, 0.0f),
                                            0.4f));
    if (nasc_graph_status(g) != NASC_OK) {
        fprintf(stderr, "forward: %s\n", nasc_graph_errmsg(g));
        return NAN;
    }
    double v = loss->data[0];
    if (step) {
        nasc_params_zero_grad(m->params);
        if (nasc_backward(g, loss) != NASC_OK) {
            fprintf(stderr, "backward: %s\n", nasc_graph_errmsg(g));
            return NAN;
        }
        nasc_optim_step(o, 0.05f);
    }
    return v;
}

int main(void) {
    static unsigned char img[16 + B * HW * HW], lab[8 + B];
    if (!read_gz("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", img, sizeof img) ||
        !read_gz("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz", lab, sizeof lab)) {
        printf("test_space_train: Fashion-MNIST not found, skipped\n");
        return 77;
    }
    float x[B * HW * HW];
    int32_t y[B];
    for (int i = 0; i < B * HW * HW; i++) /* Fashion-MNIST mean / std */
        x[i] = ((float)img[16 + i] / 255.0f - 0.2860f) / 0.3530f;
    for (int i = 0; i < B; i++)
        y[i] = lab[8 + i];

    struct {
        const char *space;
        nasc_net_config cfg;
    } cases[] = {
        {"nb201", {.channels = 8, .cells = 1}},
        {"darts", {.channels = 8, .cells = 3, .auxiliary = true}},
        {"chain", {0}},
        {"mobilenet", {.channels = 8}},
        {"macro", {.channels = 8}},
        {"morph", {0}},
    };
    nasc_err err = {0};
    nasc_backend *be = nasc_backend_new("cpu", 2, &err);
    CHECK_MSG(be != NULL, "%s", err.msg);
    nasc_graph *g = be ? nasc_graph_new(be, 1 << 20, &err) : NULL;
    for (size_t c = 0; g && c < sizeof cases / sizeof cases[0]; c++) {
        nasc_space *sp = NULL;
        nasc_err_clear(&err);
        CHECK_STATUS(nasc_space_new(cases[c].space, NULL, &sp, &err), NASC_OK);
        nasc_rng rng;
        nasc_rng_init(&rng, 100 + c, NASC_STREAM_USER);
        for (int k = 0; sp && k < 3; k++) {
            nasc_arch *a = NULL;
            nasc_model *m = NULL;
            nasc_optim *o = NULL;
            CHECK_STATUS(nasc_space_sample(sp, &rng, &a, &err), NASC_OK);
            nasc_net_config cfg = cases[c].cfg;
            cfg.in_c = 1, cfg.in_h = HW, cfg.in_w = HW, cfg.n_classes = 10;
            CHECK_STATUS(nasc_space_build(a, &cfg, 42 + (uint64_t)k, &m, &err), NASC_OK);
            if (m)
                CHECK_STATUS(nasc_optim_new(m->params,
                                            &(nasc_optim_config){.kind = NASC_OPTIM_SGD,
                                                                 .momentum = 0.9f},
                                            &o, &err),
                             NASC_OK);
            if (o) {
                double l0 = loss_of(m, g, o, x, y, true, 0);
                double l1 = loss_of(m, g, o, x, y, false, 1);
                printf("%-10s %s\n  params %zu, loss %.4f -> %.4f\n", cases[c].space, m->arch,
                       nasc_params_count(m->params), l0, l1);
                CHECK_MSG(l1 < l0, "%s: loss did not decrease (%.5f -> %.5f) for %s",
                          cases[c].space, l0, l1, m->arch);
            }
            if (err.code)
                fprintf(stderr, "%s\n", err.msg);
            nasc_optim_free(o);
            nasc_model_free(m);
            nasc_arch_free(a);
        }
        nasc_space_free(sp);
    }
    nasc_graph_free(g);
    nasc_backend_free(be);
    return test_done("test_space_train");
}
