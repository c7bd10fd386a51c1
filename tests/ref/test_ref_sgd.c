/* test_ref_sgd.c — 3 SGD steps of a small conv net against PyTorch (llm.c's expected_losses).
 *
 * tests/ref/sgd.bin (written by tests/ref/gen_torch.py) holds the net's initial weights in nasc
 * layouts, a batch x (4,1,12,12) with labels, and PyTorch's results: the loss of each of the 3
 * steps, the gradients of step 0, and the weights and batch-norm running statistics after step 3.
 * The net, in both:
 *   conv3x3(1->4, pad 1) + BN + ReLU -> depthwise 3x3 (pad 1) + 1x1 (4->8) + BN + ReLU
 *   -> maxpool 2x2 s2 -> global avgpool -> linear(8->10) -> cross entropy (mean, no smoothing)
 * in training mode (batch statistics; running stats updated every step). The convs have no bias:
 * a bias before batch norm gets an exactly-zero gradient, which a relative test cannot judge.
 *
 * The optimizer is SGD with PyTorch's semantics (torch.optim.SGD, dampening 0, no Nesterov):
 *   d = g + wd*w;  buf = d at the first step, else m*buf + d;  w -= lr*buf
 * with lr, m, wd read from the file (0.1, 0.9, 1e-4) and applied to every parameter, batch-norm
 * gamma and beta included. Each backend trains twice: once with the weights in a nasc_params store
 * updated by nasc_optim_step (optim.h), once with plain tensors updated by the loop written out
 * below, the definition. If only the first fails, look at the optimizer; if both, the engine.
 *
 * Tolerances: the 3 losses within RTOL = 1e-4 relative (no floor: they are ~2). Gradients of step
 * 0, weights / running stats after step 3 and each weight's change over the 3 steps (the part the
 * optimizer computes: weight decay is ~1e-3 of it, but only ~6e-5 of the weights themselves)
 * within 1e-4 relative plus a floor of 1e-5 times the tensor's max |value|: the backward of batch
 * norm and of the mean over the batch sums with cancellation, so float32 leaves ~1e-6 of the scale
 * on elements near zero (the float64 reference is exact to ~1e-15; float32 PyTorch's own losses
 * differ from it by ~6e-8 relative). Run on the ref backend and on the cpu backend (2 threads).
 *
 * Usage: test_ref_sgd [path/to/sgd.bin]   (default: the committed file in the source tree) */
#include "test.h"

#include <float.h>

#include "refbin.h"

#include "nasc/backend.h"
#include "nasc/ops.h"
#include "nasc/optim.h"

#define RTOL 1e-4
#define FLOOR 1e-5
#define N_PARAMS 9
#define N_BUFFERS 4
#define N_STEPS 3

/* PyTorch state_dict names, in the order gen_torch.py lists them. */
static const char *const param_names[N_PARAMS] = {"conv1.weight", "bn1.weight", "bn1.bias",
                                                  "dw.weight",    "pw.weight",  "bn2.weight",
                                                  "bn2.bias",     "fc.weight",  "fc.bias"};
static const char *const buffer_names[N_BUFFERS] = {"bn1.running_mean", "bn1.running_var",
                                                    "bn2.running_mean", "bn2.running_var"};
enum { CONV1, BN1_W, BN1_B, DW, PW, BN2_W, BN2_B, FC_W, FC_B };
enum { BN1_RM, BN1_RV, BN2_RM, BN2_RV };

/* A tensor living outside the graph (weights, grads and momentum in heap buffers), as a params
 * arena would hold it. */
typedef struct state {
    nasc_tensor t;
    float *grad, *buf; /* buf: momentum (parameters only) */
} state;

static refbin_tensor *need(refbin *rb, const char *prefix, const char *name) {
    char full[96];
    snprintf(full, sizeof full, "sgd/%s%s", prefix, name);
    refbin_tensor *t = refbin_find(rb, full);
    CHECK_MSG(t != NULL, "%s: tensor '%s' missing", rb->path, full);
    return t;
}

static void state_init(state *s, const refbin_tensor *init, bool param) {
    float *w = malloc(init->n * sizeof(float));
    memcpy(w, init->data, init->n * sizeof(float));
    nasc_tensor_init(&s->t, w, init->ne[0], init->ne[1], init->ne[2], init->ne[3]);
    if (param) {
        s->grad = calloc(init->n, sizeof(float));
        s->buf = calloc(init->n, sizeof(float));
        s->t.grad = s->grad;
        s->t.flags = NASC_TENSOR_PARAM | NASC_TENSOR_REQUIRES_GRAD;
    } else {
        s->t.flags = NASC_TENSOR_BUFFER;
    }
}

static void state_free(state *s) {
    free(s->t.data);
    free(s->grad);
    free(s->buf);
}

/* got vs want with RTOL and a floor of FLOOR * max|want| + extra_atol. */
static void compare(const char *be, const char *what, const nasc_tensor *t, const float *got,
                    const refbin_tensor *want, double extra_atol) {
    char label[128];
    snprintf(label, sizeof label, "[%s] %s", be, what);
    if (!want)
        return;
    if (t->ne[0] != want->ne[0] || t->ne[1] != want->ne[1] || t->ne[2] != want->ne[2] ||
        t->ne[3] != want->ne[3]) {
        CHECK_MSG(0, "%s: shape (%d,%d,%d,%d) vs PyTorch (%d,%d,%d,%d)", label, t->ne[0], t->ne[1],
                  t->ne[2], t->ne[3], want->ne[0], want->ne[1], want->ne[2], want->ne[3]);
        return;
    }
    double scale = 0.0;
    for (size_t i = 0; i < want->n; i++)
        scale = fmax(scale, fabs((double)want->data[i]));
    check_tensor(label, got, want->data, want->n, RTOL, FLOOR * scale + extra_atol);
}

/* The net's forward; returns the loss node (NULL with the graph error set on failure). */
static nasc_tensor *forward(nasc_graph *g, nasc_tensor **p, nasc_tensor **b, nasc_tensor *x,
                            const int32_t *labels) {
    const nasc_conv2d_params pad1 = {{1, 1}, {1, 1}, {1, 1}, 1};
    const nasc_conv2d_params dw = {{1, 1}, {1, 1}, {1, 1}, p[DW]->ne[0]};
    const nasc_conv2d_params pw = {{1, 1}, {0, 0}, {1, 1}, 1};
    const nasc_bn_params bn = {.eps = 1e-5f, .momentum = 0.1f};
    const nasc_pool2d_params mp = {.k = {2, 2}, .stride = {2, 2}, .pad = {0, 0}};
    nasc_tensor *h = nasc_conv2d(g, x, p[CONV1], NULL, &pad1);
    h = nasc_relu(g, nasc_batchnorm(g, h, p[BN1_W], p[BN1_B], b[BN1_RM], b[BN1_RV], &bn));
    h = nasc_conv2d(g, h, p[DW], NULL, &dw);
    h = nasc_conv2d(g, h, p[PW], NULL, &pw);
    h = nasc_relu(g, nasc_batchnorm(g, h, p[BN2_W], p[BN2_B], b[BN2_RM], b[BN2_RV], &bn));
    h = nasc_global_avgpool(g, nasc_maxpool2d(g, h, &mp));
    nasc_tensor *logits = nasc_linear(g, h, p[FC_W], p[FC_B]);
    return nasc_cross_entropy(g, logits, labels, 0.0f);
}

/* Trains 3 steps on backend be from the file's initial weights and compares with PyTorch.
 * use_optim: weights in a nasc_params store updated by nasc_optim (SGD); otherwise weights in
 * plain heap tensors updated by the hand-written loop (the definition). */
static void run(nasc_backend *be, refbin *rb, bool use_optim) {
    char bn[32];
    snprintf(bn, sizeof bn, "%s, %s", nasc_backend_name(be), use_optim ? "nasc_optim" : "by hand");
    refbin_tensor *hyper = need(rb, "", "hyper"), *xr = need(rb, "", "x");
    refbin_tensor *lr_ = need(rb, "", "labels"), *losses = need(rb, "", "losses");
    if (!hyper || !xr || !lr_ || !losses || hyper->n != 4 || losses->n != N_STEPS ||
        lr_->n != (size_t)xr->ne[0] || lr_->n > 16 || lrintf(hyper->data[3]) != N_STEPS) {
        CHECK_MSG(0, "%s: hyper (lr, momentum, wd, steps=%d), x, labels, losses[%d] expected",
                  rb->path, N_STEPS, N_STEPS);
        return;
    }
    const float lr = hyper->data[0], mom = hyper->data[1], wd = hyper->data[2];
    int32_t labels[16];
    for (size_t i = 0; i < lr_->n; i++)
        labels[i] = (int32_t)lrintf(lr_->data[i]);

    refbin_tensor *init[N_PARAMS + N_BUFFERS];
    for (int i = 0; i < N_PARAMS + N_BUFFERS; i++) {
        init[i] = need(rb, "init/", i < N_PARAMS ? param_names[i] : buffer_names[i - N_PARAMS]);
        if (!init[i])
            return;
    }
    /* P[i], B[i]: the parameters and running stats, in a store or in plain heap tensors. */
    nasc_tensor *P[N_PARAMS], *B[N_BUFFERS];
    state st[N_PARAMS + N_BUFFERS];
    memset(st, 0, sizeof st);
    nasc_params *ps = NULL;
    nasc_optim *opt = NULL;
    nasc_graph *g = NULL;
    nasc_err err = {0};
    nasc_err_clear(&err);
    if (use_optim) {
        ps = nasc_params_new("sgd");
        for (int i = 0; i < N_PARAMS + N_BUFFERS && ps; i++) {
            const int *ne = init[i]->ne;
            nasc_tensor *t =
                i < N_PARAMS ? nasc_params_add(ps, param_names[i], ne[0], ne[1], ne[2], ne[3],
                                               NASC_INIT_ZEROS, 0.0f, &err)
                             : nasc_params_add_buffer(ps, buffer_names[i - N_PARAMS], ne[0], ne[1],
                                                      ne[2], ne[3], NASC_INIT_ZEROS, 0.0f, &err);
            if (i < N_PARAMS)
                P[i] = t;
            else
                B[i - N_PARAMS] = t;
        }
        if (!ps || err.code != NASC_OK || nasc_params_finalize(ps, &err) != NASC_OK ||
            nasc_optim_new(
                ps,
                &(nasc_optim_config){.kind = NASC_OPTIM_SGD, .momentum = mom, .weight_decay = wd},
                &opt, &err) != NASC_OK) {
            CHECK_MSG(0, "[%s] params / optimizer: %s", bn, err.msg);
            goto done;
        }
        for (int i = 0; i < N_PARAMS + N_BUFFERS; i++) {
            nasc_tensor *t = i < N_PARAMS ? P[i] : B[i - N_PARAMS];
            memcpy(t->data, init[i]->data, init[i]->n * sizeof(float));
        }
    } else {
        for (int i = 0; i < N_PARAMS + N_BUFFERS; i++) {
            state_init(&st[i], init[i], i < N_PARAMS);
            if (i < N_PARAMS)
                P[i] = &st[i].t;
            else
                B[i - N_PARAMS] = &st[i].t;
        }
    }

    g = nasc_graph_new(be, 1 << 20, &err);
    for (int step = 0; step < N_STEPS && g; step++) {
        nasc_graph_reset(g);
        if (use_optim)
            nasc_params_zero_grad(ps);
        else
            for (int i = 0; i < N_PARAMS; i++)
                memset(P[i]->grad, 0, (size_t)nasc_tensor_nelem(P[i]) * sizeof(float));
        nasc_tensor *x = nasc_input(g, xr->ne[0], xr->ne[1], xr->ne[2], xr->ne[3], xr->data);
        nasc_tensor *loss = forward(g, P, B, x, labels);
        if (!loss || nasc_backward(g, loss) != NASC_OK) {
            CHECK_MSG(0, "[%s] sgd step %d: %s", bn, step, nasc_graph_errmsg(g));
            break;
        }
        const double got = loss->data[0], want = losses->data[step];
        CHECK_MSG(fabs(got - want) <= RTOL * fabs(want),
                  "[%s] sgd loss of step %d: %.9g, PyTorch %.9g (rtol %g)", bn, step, got, want,
                  RTOL);
        printf("[%s] step %d: loss %.7f (PyTorch %.7f)\n", bn, step, got, want);
        char what[64];
        if (step == 0)
            for (int i = 0; i < N_PARAMS; i++) {
                snprintf(what, sizeof what, "sgd grad of step 0 / %s", param_names[i]);
                compare(bn, what, P[i], P[i]->grad, need(rb, "grad0/", param_names[i]), 0.0);
            }
        if (use_optim) {
            nasc_optim_step(opt, lr);
            continue;
        }
        /* torch.optim.SGD: d = g + wd*w; buf = d (first step) or m*buf + d; w -= lr*buf */
        for (int i = 0; i < N_PARAMS; i++) {
            float *w = P[i]->data, *gr = P[i]->grad, *buf = st[i].buf;
            for (int64_t j = 0; j < nasc_tensor_nelem(P[i]); j++) {
                const float d = gr[j] + wd * w[j];
                buf[j] = step == 0 ? d : mom * buf[j] + d;
                w[j] -= lr * buf[j];
            }
        }
    }
    for (int i = 0; i < N_PARAMS + N_BUFFERS && g; i++) {
        const char *name = i < N_PARAMS ? param_names[i] : buffer_names[i - N_PARAMS];
        const nasc_tensor *t = i < N_PARAMS ? P[i] : B[i - N_PARAMS];
        char what[64];
        snprintf(what, sizeof what, "sgd after %d steps / %s", N_STEPS, name);
        compare(bn, what, t, t->data, need(rb, "final/", name), 0.0);
        if (i >= N_PARAMS)
            continue;
        /* The change over the 3 steps: the final weights alone cannot see weight decay (it moves
         * them by ~6e-5 relative), but it is ~1e-3 of the change. Each float32 update of w rounds
         * by up to half an ulp of |w|, which is not small next to the change of a batch-norm gamma
         * (|w| ~ 1, change ~ 1e-3): N_STEPS + 1 half-ulps of max|w| are added to the floor. */
        float *delta = malloc(init[i]->n * sizeof(float));
        double wmax = 0.0;
        for (size_t j = 0; j < init[i]->n; j++) {
            delta[j] = (float)((double)t->data[j] - (double)init[i]->data[j]);
            wmax = fmax(wmax, fabs((double)t->data[j]));
        }
        snprintf(what, sizeof what, "sgd change over %d steps / %s", N_STEPS, name);
        compare(bn, what, t, delta, need(rb, "delta/", name),
                (N_STEPS + 1) * 0.5 * FLT_EPSILON * wmax);
        free(delta);
    }
done:
    nasc_graph_free(g);
    nasc_optim_free(opt);
    nasc_params_free(ps);
    for (int i = 0; i < N_PARAMS + N_BUFFERS; i++)
        state_free(&st[i]);
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : NASC_SOURCE_DIR "/tests/ref/sgd.bin";
    refbin rb;
    nasc_err err = {0};
    nasc_err_clear(&err);
    nasc_status st = refbin_load(&rb, path, &err);
    CHECK_MSG(st == NASC_OK,
              "cannot use the PyTorch references: %s (regenerate with "
              "/usr/bin/python3 tests/ref/gen_torch.py)",
              err.msg);
    if (st != NASC_OK)
        return test_done("ref_sgd");
    printf("%s: %d tensors; %s\n", path, rb.n, rb.info);
    nasc_backend *cpu = nasc_backend_new("cpu", 2, &err);
    CHECK_MSG(cpu != NULL, "cpu backend: %s", err.msg);
    for (int mode = 0; mode < 2; mode++) {
        run(nasc_backend_ref(), &rb, mode == 1);
        if (cpu)
            run(cpu, &rb, mode == 1);
    }
    CHECK_MSG(refbin_report_unused(&rb) == 0, "%s holds tensors this test does not check", path);
    refbin_free(&rb);
    nasc_backend_free(cpu);
    return test_done("ref_sgd");
}
