/* optim.c — SGD / Adam / AdamW over a parameter store's flat block, clipping, schedules.
 * Update rules are PyTorch's (torch/optim/_functional.py), written out in each loop. */
#include "nasc/optim.h"

#include "nasc/arena.h"

#include <math.h>
#include <string.h>

struct nasc_optim {
    nasc_params *ps;
    nasc_optim_config cfg;
    size_t n;      /* flat length */
    float *state;  /* SGD: momentum [n]; Adam: m [n] then v [n] */
    size_t n_state;
    int64_t steps;
};

nasc_status nasc_optim_new(nasc_params *ps, const nasc_optim_config *cfg, nasc_optim **out,
                           nasc_err *err) {
    *out = NULL;
    if (!nasc_params_finalized(ps))
        return nasc_errorf(err, NASC_ERR_ARG, "optimizer: params %s are not finalized",
                           nasc_params_name(ps));
    nasc_optim_config c = *cfg;
    if ((unsigned)c.kind >= (unsigned)NASC_OPTIM_COUNT)
        return nasc_errorf(err, NASC_ERR_ARG, "optimizer: unknown kind %d", (int)c.kind);
    if (!(c.weight_decay >= 0.0f))
        return nasc_errorf(err, NASC_ERR_ARG, "optimizer: weight_decay must be >= 0 (%g)",
                           (double)c.weight_decay);
    if (!(c.momentum >= 0.0f && c.momentum < 1.0f))
        return nasc_errorf(err, NASC_ERR_ARG, "optimizer: momentum must be in [0,1) (%g)",
                           (double)c.momentum);
    if (c.nesterov && c.momentum == 0.0f)
        return nasc_errorf(err, NASC_ERR_ARG, "optimizer: nesterov needs momentum > 0");
    if (c.beta1 == 0.0f)
        c.beta1 = 0.9f;
    if (c.beta2 == 0.0f)
        c.beta2 = 0.999f;
    if (c.eps == 0.0f)
        c.eps = 1e-8f;
    if (!(c.beta1 > 0.0f && c.beta1 < 1.0f && c.beta2 > 0.0f && c.beta2 < 1.0f && c.eps > 0.0f))
        return nasc_errorf(err, NASC_ERR_ARG,
                           "optimizer: betas must be in (0,1) and eps > 0 (%g, %g, %g)",
                           (double)c.beta1, (double)c.beta2, (double)c.eps);
    nasc_optim *o = nasc_calloc(1, sizeof *o);
    if (!o)
        return nasc_errorf(err, NASC_ERR_NOMEM, "optimizer: out of memory");
    o->ps = ps;
    o->cfg = c;
    o->n = nasc_params_flat_len(ps);
    o->n_state = c.kind == NASC_OPTIM_SGD ? (c.momentum > 0.0f ? o->n : 0) : 2 * o->n;
    if (o->n_state) {
        o->state = nasc_malloc_aligned(o->n_state * sizeof(float));
        if (!o->state) {
            nasc_free(o);
            return nasc_errorf(err, NASC_ERR_NOMEM, "optimizer: out of memory for %zu values",
                               o->n_state);
        }
        memset(o->state, 0, o->n_state * sizeof(float));
    }
    *out = o;
    return NASC_OK;
}

void nasc_optim_free(nasc_optim *o) {
    if (!o)
        return;
    nasc_free_aligned(o->state);
    nasc_free(o);
}

int64_t nasc_optim_steps(const nasc_optim *o) { return o->steps; }
void nasc_optim_set_steps(nasc_optim *o, int64_t steps) { o->steps = steps; }

float *nasc_optim_state(nasc_optim *o, size_t *out_len) {
    *out_len = o->n_state;
    return o->state;
}

static void sgd_step(nasc_optim *o, float lr) {
    float *w = nasc_params_data(o->ps), *g = nasc_params_grad(o->ps), *buf = o->state;
    const float wd = o->cfg.weight_decay, m = o->cfg.momentum;
    const size_t n = o->n;
    if (m == 0.0f) {
        for (size_t i = 0; i < n; i++)
            w[i] -= lr * (g[i] + wd * w[i]);
        return;
    }
    if (o->cfg.nesterov) {
        for (size_t i = 0; i < n; i++) {
            const float d = g[i] + wd * w[i];
            buf[i] = m * buf[i] + d;
            w[i] -= lr * (d + m * buf[i]);
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            const float d = g[i] + wd * w[i];
            buf[i] = m * buf[i] + d;
            w[i] -= lr * buf[i];
        }
    }
}

static void adam_step(nasc_optim *o, float lr) {
    float *w = nasc_params_data(o->ps), *g = nasc_params_grad(o->ps);
    float *mo = o->state, *v = o->state + o->n;
    const float b1 = o->cfg.beta1, b2 = o->cfg.beta2, eps = o->cfg.eps, wd = o->cfg.weight_decay;
    const double t = (double)o->steps;
    const float bc1 = (float)(1.0 - pow((double)b1, t));
    const float bc2_sqrt = (float)sqrt(1.0 - pow((double)b2, t));
    const float step_size = lr / bc1;
    const bool decoupled = o->cfg.kind == NASC_OPTIM_ADAMW;
    const size_t n = o->n;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        if (decoupled)
            w[i] *= 1.0f - lr * wd;
        else
            gi += wd * w[i];
        mo[i] = b1 * mo[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        const float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        w[i] -= step_size * mo[i] / denom;
    }
}

void nasc_optim_step(nasc_optim *o, float lr) {
    o->steps++;
    if (o->cfg.kind == NASC_OPTIM_SGD)
        sgd_step(o, lr);
    else
        adam_step(o, lr);
}

float nasc_clip_grad_norm(nasc_params *ps, float max_norm) {
    float *g = nasc_params_grad(ps);
    const size_t n = nasc_params_flat_len(ps);
    double ss = 0.0;
    for (size_t i = 0; i < n; i++)
        ss += (double)g[i] * (double)g[i];
    const double norm = sqrt(ss);
    if (max_norm > 0.0f) {
        const double coef = (double)max_norm / (norm + 1e-6);
        if (coef < 1.0) {
            const float c = (float)coef;
            for (size_t i = 0; i < n; i++)
                g[i] *= c;
        }
    }
    return (float)norm;
}

float nasc_sched_lr(const nasc_sched *s, int64_t step) {
    if (s->kind == NASC_SCHED_CONSTANT)
        return s->lr_max;
    if (step < s->warmup_steps)
        return s->lr_max * (float)(step + 1) / (float)s->warmup_steps;
    const int64_t T = s->total_steps - s->warmup_steps;
    if (T <= 0 || step >= s->total_steps)
        return s->lr_min;
    if (s->single)
        return s->lr_min + 0.5f * (s->lr_max - s->lr_min) *
                               (1.0f + cosf((float)M_PI * (float)(step - s->warmup_steps) /
                                            (float)T));
    const double t = (double)(step - s->warmup_steps) / (double)T;
    const double lo = s->lr_min, hi = s->lr_max;
    return (float)(lo + 0.5 * (hi - lo) * (1.0 + cos(3.14159265358979323846 * t)));
}
