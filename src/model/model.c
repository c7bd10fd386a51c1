/* model.c — nasc_model (params + forward) and the built-in baseline CNN. */
#include "nasc/limits.h"
#include "nasc/nn.h"

#include "nasc/arena.h"

#include <stdio.h>
#include <string.h>

nasc_model *nasc_model_new(const nasc_model_i *iface, nasc_params *params, void *impl, int in_c,
                           int in_h, int in_w, int n_classes) {
    nasc_model *m = nasc_calloc(1, sizeof *m);
    if (!m) {
        nasc_params_free(params);
        if (iface && iface->free_impl)
            iface->free_impl(impl);
        return NULL;
    }
    m->iface = iface;
    m->params = params;
    m->impl = impl;
    m->in_c = in_c;
    m->in_h = in_h;
    m->in_w = in_w;
    m->n_classes = n_classes;
    return m;
}

void nasc_model_free(nasc_model *m) {
    if (!m)
        return;
    if (m->iface && m->iface->free_impl)
        m->iface->free_impl(m->impl);
    nasc_params_free(m->params);
    nasc_free(m->arch);
    nasc_free(m->space);
    nasc_free(m);
}

nasc_status nasc_model_set_arch(nasc_model *m, const char *space, const char *arch) {
    char *s = space ? nasc_strdup(space) : NULL, *a = arch ? nasc_strdup(arch) : NULL;
    if ((space && !s) || (arch && !a)) {
        nasc_free(s);
        nasc_free(a);
        return NASC_ERR_NOMEM;
    }
    nasc_free(m->space);
    nasc_free(m->arch);
    m->space = s;
    m->arch = a;
    return NASC_OK;
}

nasc_tensor *nasc_model_forward(nasc_model *m, nasc_graph *g, nasc_tensor *x,
                                const nasc_forward_opts *opts) {
    if (!x || nasc_graph_status(g) != NASC_OK)
        return NULL;
    if (x->ne[1] != m->in_c || x->ne[2] != m->in_h || x->ne[3] != m->in_w) {
        char xs[48];
        nasc_graph_errorf(g, NASC_ERR_SHAPE, "model %s: input %s: expected (N,%d,%d,%d)",
                          m->iface->kind, nasc_tensor_shape_str(x, xs, sizeof xs), m->in_c,
                          m->in_h, m->in_w);
        return NULL;
    }
    static const nasc_forward_opts none = {0};
    m->aux_logits = NULL;
    return m->iface->forward(m, g, x, opts ? opts : &none);
}

/* ---- baseline CNN ---- */

enum { BASE_N_CONV = 5 };

typedef struct baseline {
    nasc_conv conv[BASE_N_CONV];
    nasc_bn bn[BASE_N_CONV];
    nasc_fc fc;
} baseline;

static nasc_tensor *baseline_forward(nasc_model *m, nasc_graph *g, nasc_tensor *x,
                                     const nasc_forward_opts *opts) {
    (void)opts;
    const baseline *b = m->impl;
    const nasc_pool2d_params pool = {.k = {2, 2}, .stride = {2, 2}};
    nasc_tensor *h = x;
    for (int i = 0; i < BASE_N_CONV; i++) {
        h = nasc_bn_relu_forward(g, &b->bn[i], nasc_conv_forward(g, &b->conv[i], h));
        if (i == 1 || i == 3)
            h = nasc_maxpool2d(g, h, &pool);
    }
    h = nasc_global_avgpool(g, h);
    h = nasc_dropout(g, h, 0.25f);
    return nasc_fc_forward(g, &b->fc, h);
}

static void baseline_free(void *impl) { nasc_free(impl); }

static const nasc_model_i baseline_iface = {
    .kind = "baseline",
    .forward = baseline_forward,
    .free_impl = baseline_free,
};

nasc_status nasc_baseline_new(int in_c, int in_h, int in_w, int n_classes, float width,
                              uint64_t seed, nasc_model **out, nasc_err *err) {
    *out = NULL;
    if (in_c < 1 || in_h < 4 || in_w < 4 || n_classes < 2 || !(width > 0.0f) ||
        in_c > NASC_MAX_INPUT_CHANNELS || in_h > NASC_MAX_INPUT_SIDE ||
        in_w > NASC_MAX_INPUT_SIDE || n_classes > NASC_MAX_CLASSES || (double)width > NASC_MAX_WIDTH)
        return nasc_errorf(err, NASC_ERR_ARG,
                           "baseline: input (%d,%d,%d) needs C in [1, %d], H,W in [4, %d], "
                           "classes in [2, %d] (%d), width in (0, %g] (%g)",
                           in_c, in_h, in_w, NASC_MAX_INPUT_CHANNELS, NASC_MAX_INPUT_SIDE,
                           NASC_MAX_CLASSES, n_classes, NASC_MAX_WIDTH, (double)width);
    baseline *b = nasc_calloc(1, sizeof *b);
    nasc_params *ps = nasc_params_new("baseline");
    if (!b || !ps) {
        nasc_free(b);
        nasc_params_free(ps);
        return nasc_errorf(err, NASC_ERR_NOMEM, "baseline: out of memory");
    }
    static const int base_ch[BASE_N_CONV] = {32, 32, 64, 64, 128};
    int cin = in_c;
    nasc_status st = NASC_OK;
    for (int i = 0; i < BASE_N_CONV && st == NASC_OK; i++) {
        int c = (int)(base_ch[i] * width + 0.5f);
        if (c < 1)
            c = 1;
        char name[16];
        snprintf(name, sizeof name, "conv%d", i + 1);
        st = nasc_conv_init(&b->conv[i], ps, name,
                            &(nasc_conv_spec){.cin = cin, .cout = c, .k = 3, .pad = 1}, err);
        snprintf(name, sizeof name, "bn%d", i + 1);
        if (st == NASC_OK)
            st = nasc_bn_init(&b->bn[i], ps, name, c, true, err);
        cin = c;
    }
    if (st == NASC_OK)
        st = nasc_fc_init(&b->fc, ps, "fc", cin, n_classes, true, err);
    if (st == NASC_OK)
        st = nasc_params_finalize(ps, err);
    if (st != NASC_OK) {
        nasc_free(b);
        nasc_params_free(ps);
        return st;
    }
    nasc_params_init(ps, seed);
    nasc_model *m = nasc_model_new(&baseline_iface, ps, b, in_c, in_h, in_w, n_classes);
    if (!m || nasc_model_set_arch(m, "baseline", "baseline") != NASC_OK) {
        nasc_model_free(m);
        return nasc_errorf(err, NASC_ERR_NOMEM, "baseline: out of memory");
    }
    *out = m;
    return NASC_OK;
}
