/* layers.c — conv, batch-norm and fully connected layers over a parameter store. */
#include "nasc/nn.h"

#include <math.h>
#include <stdio.h>

static int or_one(int v) { return v > 0 ? v : 1; }

nasc_status nasc_conv_init(nasc_conv *l, nasc_params *ps, const char *name,
                           const nasc_conv_spec *s, nasc_err *err) {
    const int kh = s->kh > 0 ? s->kh : s->k, kw = s->kw > 0 ? s->kw : s->k;
    const int groups = or_one(s->groups);
    if (s->cin < 1 || s->cout < 1 || kh < 1 || kw < 1)
        return nasc_errorf(err, NASC_ERR_ARG, "conv %s: need cin, cout, kernel >= 1 (%d, %d, %dx%d)",
                           name, s->cin, s->cout, kh, kw);
    if (s->cin % groups || s->cout % groups)
        return nasc_errorf(err, NASC_ERR_ARG, "conv %s: groups=%d must divide cin=%d and cout=%d",
                           name, groups, s->cin, s->cout);
    char pname[32];
    snprintf(pname, sizeof pname, "%s.w", name);
    const nasc_init init = s->init != NASC_INIT_ZEROS ? s->init : NASC_INIT_KAIMING_NORMAL_FAN_OUT;
    l->w = nasc_params_add(ps, pname, s->cout, s->cin / groups, kh, kw, init, 0.0f, err);
    if (!l->w)
        return err ? err->code : NASC_ERR_ARG;
    l->b = NULL;
    if (s->bias) {
        snprintf(pname, sizeof pname, "%s.b", name);
        l->b = nasc_params_add(ps, pname, 1, s->cout, 1, 1, NASC_INIT_ZEROS, 0.0f, err);
        if (!l->b)
            return err ? err->code : NASC_ERR_ARG;
    }
    const int ph = s->pad >= 0 ? s->pad : s->pad_h, pw = s->pad >= 0 ? s->pad : s->pad_w;
    l->p = (nasc_conv2d_params){.stride = {or_one(s->stride), or_one(s->stride)},
                                .pad = {ph, pw},
                                .dil = {or_one(s->dil), or_one(s->dil)},
                                .groups = groups};
    return NASC_OK;
}

nasc_status nasc_conv_init_cell(nasc_conv *l, nasc_params *ps, const char *name, int cin, int cout,
                                int k, int stride, int pad, int dil, int groups, nasc_err *err) {
    return nasc_conv_init(l, ps, name,
                          &(nasc_conv_spec){.cin = cin,
                                            .cout = cout,
                                            .k = k,
                                            .stride = stride,
                                            .pad = pad,
                                            .dil = dil,
                                            .groups = groups,
                                            .init = NASC_INIT_TORCH_DEFAULT},
                          err);
}

nasc_tensor *nasc_conv_forward(nasc_graph *g, const nasc_conv *l, nasc_tensor *x) {
    return nasc_conv2d(g, x, l->w, l->b, &l->p);
}

nasc_status nasc_bn_init(nasc_bn *l, nasc_params *ps, const char *name, int channels, bool affine,
                         nasc_err *err) {
    char pname[32];
    l->gamma = l->beta = NULL;
    if (affine) {
        snprintf(pname, sizeof pname, "%s.gamma", name);
        l->gamma = nasc_params_add(ps, pname, 1, channels, 1, 1, NASC_INIT_ONES, 0.0f, err);
        snprintf(pname, sizeof pname, "%s.beta", name);
        l->beta = l->gamma ? nasc_params_add(ps, pname, 1, channels, 1, 1, NASC_INIT_ZEROS, 0.0f,
                                             err)
                           : NULL;
        if (!l->beta)
            return err ? err->code : NASC_ERR_ARG;
    }
    snprintf(pname, sizeof pname, "%s.rmean", name);
    l->running_mean =
        nasc_params_add_buffer(ps, pname, 1, channels, 1, 1, NASC_INIT_ZEROS, 0.0f, err);
    snprintf(pname, sizeof pname, "%s.rvar", name);
    l->running_var = l->running_mean ? nasc_params_add_buffer(ps, pname, 1, channels, 1, 1,
                                                              NASC_INIT_ONES, 0.0f, err)
                                     : NULL;
    if (!l->running_var)
        return err ? err->code : NASC_ERR_ARG;
    l->p = (nasc_bn_params){.eps = 1e-5f, .momentum = 0.1f};
    return NASC_OK;
}

nasc_tensor *nasc_bn_forward(nasc_graph *g, const nasc_bn *l, nasc_tensor *x) {
    return nasc_batchnorm(g, x, l->gamma, l->beta, l->running_mean, l->running_var, &l->p);
}

nasc_tensor *nasc_bn_relu_forward(nasc_graph *g, const nasc_bn *l, nasc_tensor *x) {
    return nasc_batchnorm_relu(g, x, l->gamma, l->beta, l->running_mean, l->running_var, &l->p);
}

nasc_status nasc_fc_init(nasc_fc *l, nasc_params *ps, const char *name, int in, int out, bool bias,
                         nasc_err *err) {
    char pname[32];
    snprintf(pname, sizeof pname, "%s.w", name);
    l->w = nasc_params_add(ps, pname, out, in, 1, 1, NASC_INIT_TORCH_DEFAULT, 0.0f, err);
    if (!l->w)
        return err ? err->code : NASC_ERR_ARG;
    l->b = NULL;
    if (bias) {
        snprintf(pname, sizeof pname, "%s.b", name);
        /* PyTorch's default bias init: U(-1/sqrt(in), 1/sqrt(in)) */
        l->b = nasc_params_add(ps, pname, 1, out, 1, 1, NASC_INIT_UNIFORM,
                               1.0f / sqrtf((float)in), err);
        if (!l->b)
            return err ? err->code : NASC_ERR_ARG;
    }
    return NASC_OK;
}

nasc_tensor *nasc_fc_forward(nasc_graph *g, const nasc_fc *l, nasc_tensor *x) {
    return nasc_linear(g, x, l->w, l->b);
}
