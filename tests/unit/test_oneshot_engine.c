/* test_oneshot_engine.c — the engine features the supernets rely on:
 *   - the gradient pool (nasc_graph_set_release_grads): identical parameter and input gradients
 *     with release on and off, node gradients handed back (NULL after backward, nothing live),
 *     a peak far below the sum of all gradients, and a steady state that needs no new block
 *     (a frozen step arena also freezes the pool, and the second step still runs);
 *   - in-place ReLU / batch norm: the output aliases the input, and a small conv net built with
 *     them has the same loss and gradients as the one built with the ordinary ops. */
#include "test.h"

#include "nasc/arena.h"
#include "nasc/backend.h"
#include "nasc/nn.h"
#include "nasc/rng.h"

typedef struct net {
    nasc_params *ps;
    nasc_conv c1, c2, c3;
    nasc_bn b1, b2;
    nasc_fc fc;
} net;

static void net_init(net *n) {
    nasc_err err = {0};
    n->ps = nasc_params_new("t");
    nasc_conv_init(&n->c1, n->ps, "c1", &(nasc_conv_spec){.cin = 2, .cout = 8, .k = 3, .pad = 1},
                   &err);
    nasc_conv_init(&n->c2, n->ps, "c2",
                   &(nasc_conv_spec){.cin = 8, .cout = 8, .k = 3, .pad = 1, .groups = 8}, &err);
    nasc_conv_init(&n->c3, n->ps, "c3", &(nasc_conv_spec){.cin = 8, .cout = 8, .k = 1}, &err);
    nasc_bn_init(&n->b1, n->ps, "b1", 8, false, &err);
    nasc_bn_init(&n->b2, n->ps, "b2", 8, false, &err);
    nasc_fc_init(&n->fc, n->ps, "fc", 8, 5, true, &err);
    CHECK_STATUS(nasc_params_finalize(n->ps, &err), NASC_OK);
    nasc_params_init(n->ps, 3);
}

/* conv -> BN -> ReLU -> dw conv -> pw conv -> BN -> + skip -> GAP -> fc. With `inplace`, the ReLU
 * runs in place on the first BN's output (that BN's backward reads its input) and the second BN
 * in place on the pw conv's output (the conv's backward reads its input). Not both on the first
 * pair: an in-place BN's backward reads its output, which an in-place ReLU would overwrite. */
static nasc_tensor *net_forward(nasc_graph *g, net *n, nasc_tensor *x, bool inplace) {
    nasc_tensor *h = nasc_conv_forward(g, &n->c1, x);
    h = nasc_bn_forward(g, &n->b1, h);
    h = inplace ? nasc_relu_inplace(g, h) : nasc_relu(g, h);
    nasc_tensor *skip = h;
    h = nasc_conv_forward(g, &n->c3, nasc_conv_forward(g, &n->c2, h));
    h = inplace ? nasc_batchnorm_inplace(g, h, n->b2.running_mean, n->b2.running_var, &n->b2.p)
                : nasc_bn_forward(g, &n->b2, h);
    h = nasc_add(g, h, skip);
    return nasc_fc_forward(g, &n->fc, nasc_global_avgpool(g, h));
}

typedef struct result {
    float loss;
    float *pgrad, *xgrad;
    size_t peak, live, node_grads_left;
    nasc_status second;
} result;

static result run(nasc_backend *be, bool release, bool inplace, const float *xd,
                  const int32_t *labels) {
    result r = {0};
    net n;
    net_init(&n);
    nasc_err err = {0};
    nasc_graph *g = nasc_graph_new(be, 0, &err);
    nasc_graph_set_release_grads(g, release);
    for (int step = 0; step < 2; step++) {
        nasc_graph_reset(g);
        nasc_params_zero_grad(n.ps);
        nasc_tensor *x = nasc_input(g, 4, 2, 6, 6, xd);
        nasc_tensor_set_requires_grad(x, true);
        nasc_tensor *loss = nasc_cross_entropy(g, net_forward(g, &n, x, inplace), labels, 0.0f);
        nasc_status st = nasc_backward(g, loss);
        if (step == 0) {
            CHECK_STATUS(st, NASC_OK);
            r.loss = loss ? loss->data[0] : NAN;
            const size_t len = nasc_params_flat_len(n.ps);
            r.pgrad = malloc(len * sizeof(float));
            memcpy(r.pgrad, nasc_params_grad(n.ps), len * sizeof(float));
            r.xgrad = malloc(4 * 2 * 36 * sizeof(float));
            if (x->grad)
                memcpy(r.xgrad, x->grad, 4 * 2 * 36 * sizeof(float));
            nasc_graph_grad_bytes(g, &r.live, &r.peak, false);
            for (nasc_tensor *t = nasc_graph_last_node(g); t; t = t->prev)
                r.node_grads_left += t != loss && t->grad != NULL; /* the loss's is the arena's */
            /* from now on nothing may allocate: arena and gradient pool frozen */
            nasc_arena_freeze(nasc_graph_arena(g), true);
        } else {
            r.second = st;
        }
    }
    nasc_graph_free(g);
    nasc_params_free(n.ps);
    return r;
}

int main(void) {
    nasc_err err = {0};
    nasc_backend *backends[2] = {nasc_backend_ref(), nasc_backend_new("cpu", 2, &err)};
    float xd[4 * 2 * 36];
    nasc_rng r;
    nasc_rng_init(&r, 9, 1);
    for (size_t i = 0; i < sizeof xd / sizeof xd[0]; i++)
        xd[i] = nasc_rng_normal(&r);
    const int32_t labels[4] = {0, 3, 1, 4};
    for (int b = 0; b < 2; b++) {
        nasc_backend *be = backends[b];
        const char *bn = nasc_backend_name(be);
        result base = run(be, false, false, xd, labels);
        result rel = run(be, true, false, xd, labels);
        result inpl = run(be, true, true, xd, labels);
        net n;
        net_init(&n);
        const size_t len = nasc_params_flat_len(n.ps);
        nasc_params_free(n.ps);
        char label[96];
        /* release: bit-identical (same kernels, same order; only the buffers differ) */
        CHECK_MSG(base.loss == rel.loss, "[%s] release changes the loss", bn);
        snprintf(label, sizeof label, "[%s] release: param grads", bn);
        check_tensor(label, rel.pgrad, base.pgrad, len, 0.0, 0.0);
        snprintf(label, sizeof label, "[%s] release: input grad", bn);
        check_tensor(label, rel.xgrad, base.xgrad, 4 * 2 * 36, 0.0, 0.0);
        CHECK_MSG(rel.live == 0 && rel.node_grads_left == 0,
                  "[%s] release: %zu bytes still handed out, %zu node grads left", bn, rel.live,
                  rel.node_grads_left);
        CHECK_MSG(base.node_grads_left > 0, "[%s] without release node grads stay", bn);
        /* the net has 13 nodes of 4*8*36 floats; at most a few are live at once */
        CHECK_MSG(rel.peak > 0 && rel.peak <= 5 * 4 * 8 * 36 * sizeof(float),
                  "[%s] release: peak %zu bytes", bn, rel.peak);
        CHECK_STATUS(rel.second, NASC_OK); /* frozen after step 1: the pool had every block */
        /* in place: same function, gradients equal up to rounding (backward from y) */
        CHECK_CLOSE(inpl.loss, base.loss, 1e-5, 1e-6);
        snprintf(label, sizeof label, "[%s] in-place: param grads", bn);
        check_tensor(label, inpl.pgrad, base.pgrad, len, 1e-3, 1e-5);
        snprintf(label, sizeof label, "[%s] in-place: input grad", bn);
        check_tensor(label, inpl.xgrad, base.xgrad, 4 * 2 * 36, 1e-3, 1e-5);
        CHECK_STATUS(inpl.second, NASC_OK);
        free(base.pgrad);
        free(base.xgrad);
        free(rel.pgrad);
        free(rel.xgrad);
        free(inpl.pgrad);
        free(inpl.xgrad);
    }
    nasc_backend_free(backends[1]);
    return test_done("oneshot_engine");
}
