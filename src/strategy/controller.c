/* controller.c — the LSTM policy over a space's decision sequence (predictor.h), as in "Neural
 * Architecture Search with Reinforcement Learning" (Zoph & Le, ICLR 2017) and ENAS (Pham et al.,
 * ICML 2018), written with the engine's ops so that its gradient comes from nasc_backward.
 *
 * Parameters (H = hidden width, T = decisions, M_t = options of step t):
 *   start   (1,H)         input of step 0
 *   emb_t   (1,M_t*H)     embedding of the choice made at step t (input of step t+1); the row of
 *                         choice a is the channel slice [a*H, (a+1)*H)
 *   lstm.w  (4H,2H), lstm.b (1,4H)   one LSTM cell shared by all steps, gates i, f, g, o
 *   out_t.w (M_t,H), out_t.b (1,M_t) logits of step t
 *   value.w (1,H), value.b (1,1)     value head V(h_t) (PPO only)
 *
 * Step t, with x_0 = start, x_t = emb_{t-1}[d_{t-1}], h_{-1} = c_{-1} = 0:
 *   z = [x_t, h] W' + b;  i, f, o = sigmoid(z_i, z_f, z_o);  g = tanh(z_g)
 *   c = f*c + i*g;  h = o*tanh(c)
 *   l = (h W_t' + b_t)[0 : n_t]          n_t = nasc_space_n_options(t, d_<t)  (0 ends the sequence)
 *   l = tanh_c * tanh(l / T)  or  l / T
 *   p(d_t | d_<t) = softmax(l)
 * Recorded per step: -log p(d_t) = cross_entropy(l, d_t), entropy = -sum softmax(l) log_softmax(l),
 * and V(h_t) with the value head.
 *
 * Every step's output layer has M rows, M = the largest option count any step showed over 256
 * samples of the space from a fixed seed (exact for the fixed-radix spaces). A step that offers
 * more than M options (possible only where counts depend on earlier choices and the probe missed
 * the widest case) is sampled uniformly: its -log p and entropy are the constant log n_t, and the
 * next step's input is embedding row d_t mod M. Initialisation: U(-0.1, 0.1) for every weight (as
 * ENAS), zero biases and a zero value head, so the first policy is close to uniform. */
#include "learn_int.h"

#include "nasc/backend.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

struct nasc_controller {
    const nasc_space *space;
    nasc_controller_config cfg;
    int T;  /* decisions (maximum) */
    int *M; /* rows of each step's output layer */
    nasc_params *ps;
    nasc_tensor *start, *lstm_w, *lstm_b, *val_w, *val_b;
    nasc_tensor **emb, **out_w, **out_b;
    nasc_backend *be;
    nasc_graph *g;
    int *prev; /* decisions so far (sampling) */
};

nasc_params *nasc_controller_params(nasc_controller *c) {
    return c->ps;
}
nasc_graph *nasc_controller_graph(nasc_controller *c) {
    return c->g;
}

void nasc_controller_free(nasc_controller *c) {
    if (!c)
        return;
    nasc_graph_free(c->g);
    nasc_backend_free(c->be);
    nasc_params_free(c->ps);
    nasc_free(c->M);
    nasc_free(c->emb);
    nasc_free(c->out_w);
    nasc_free(c->out_b);
    nasc_free(c->prev);
    nasc_free(c);
}

nasc_status nasc_controller_new(const nasc_space *s, const nasc_controller_config *cfg,
                                uint64_t seed, nasc_controller **out, nasc_err *err) {
    *out = NULL;
    nasc_controller *c = nasc_calloc(1, sizeof *c);
    if (!c)
        return nasc_errorf(err, NASC_ERR_NOMEM, "controller: out of memory");
    c->space = s;
    if (cfg)
        c->cfg = *cfg;
    if (c->cfg.hidden <= 0)
        c->cfg.hidden = 32;
    if (!(c->cfg.temperature > 0.0f))
        c->cfg.temperature = 1.0f;
    const int H = c->cfg.hidden;
    c->T = nasc_space_n_decisions(s);
    nasc_status st = NASC_OK;
    c->M = nasc_calloc((size_t)c->T, sizeof(int));
    c->emb = nasc_calloc((size_t)c->T, sizeof *c->emb);
    c->out_w = nasc_calloc((size_t)c->T, sizeof *c->out_w);
    c->out_b = nasc_calloc((size_t)c->T, sizeof *c->out_b);
    c->prev = nasc_calloc((size_t)c->T + 1, sizeof(int));
    if (!c->M || !c->emb || !c->out_w || !c->out_b || !c->prev || !(c->ps = nasc_params_new("ctl")))
        st = nasc_errorf(err, NASC_ERR_NOMEM, "controller: out of memory");
    if (st == NASC_OK)
        st = nasc_learn_probe_options(s, c->M, c->prev, err);
    if (st == NASC_OK) { /* every step as wide as the widest seen (spaces with varying counts) */
        int mx = 1;
        for (int t = 0; t < c->T; t++)
            mx = c->M[t] > mx ? c->M[t] : mx;
        for (int t = 0; t < c->T; t++)
            c->M[t] = mx;
    }
    const nasc_init U = NASC_INIT_UNIFORM, Z = NASC_INIT_ZEROS;
    if (st == NASC_OK) {
        c->start = nasc_params_add(c->ps, "start", 1, H, 1, 1, U, 0.1f, err);
        c->lstm_w = nasc_params_add(c->ps, "lstm.w", 4 * H, 2 * H, 1, 1, U, 0.1f, err);
        c->lstm_b = nasc_params_add(c->ps, "lstm.b", 1, 4 * H, 1, 1, Z, 0.0f, err);
        for (int t = 0; t < c->T; t++) {
            char name[32];
            snprintf(name, sizeof name, "emb%d", t);
            c->emb[t] = nasc_params_add(c->ps, name, 1, c->M[t] * H, 1, 1, U, 0.1f, err);
            snprintf(name, sizeof name, "out%d.w", t);
            c->out_w[t] = nasc_params_add(c->ps, name, c->M[t], H, 1, 1, U, 0.1f, err);
            snprintf(name, sizeof name, "out%d.b", t);
            c->out_b[t] = nasc_params_add(c->ps, name, 1, c->M[t], 1, 1, Z, 0.0f, err);
        }
        if (c->cfg.value_head) {
            c->val_w = nasc_params_add(c->ps, "value.w", 1, H, 1, 1, Z, 0.0f, err);
            c->val_b = nasc_params_add(c->ps, "value.b", 1, 1, 1, 1, Z, 0.0f, err);
        }
        if (err->code)
            st = err->code;
    }
    if (st == NASC_OK)
        st = nasc_params_finalize(c->ps, err);
    if (st == NASC_OK) {
        nasc_params_init(c->ps, seed);
        if (!(c->be = nasc_backend_new("cpu", 1, err)) ||
            !(c->g = nasc_graph_new(c->be, 1 << 20, err)))
            st = err->code ? err->code : NASC_ERR_NOMEM;
    }
    if (st != NASC_OK) {
        nasc_controller_free(c);
        return st;
    }
    *out = c;
    return NASC_OK;
}

/* One LSTM step: updates *h and *c from input x. */
static void lstm_step(nasc_controller *c, nasc_graph *g, nasc_tensor *x, nasc_tensor **h,
                      nasc_tensor **cs) {
    const int H = c->cfg.hidden;
    nasc_tensor *xh[2] = {x, *h};
    nasc_tensor *z = nasc_linear(g, nasc_concat(g, 2, xh), c->lstm_w, c->lstm_b);
    nasc_slice_params sp = {.sh = 1, .sw = 1};
    nasc_tensor *gate[4];
    for (int k = 0; k < 4; k++) {
        sp.c0 = k * H;
        sp.c1 = (k + 1) * H;
        gate[k] = nasc_slice(g, z, &sp);
    }
    nasc_tensor *i = nasc_sigmoid(g, gate[0]), *f = nasc_sigmoid(g, gate[1]);
    nasc_tensor *gg = nasc_tanh(g, gate[2]), *o = nasc_sigmoid(g, gate[3]);
    *cs = nasc_add(g, nasc_mul(g, f, *cs), nasc_mul(g, i, gg));
    *h = nasc_mul(g, o, nasc_tanh(g, *cs));
}

/* Logits of step t over its first n options. */
static nasc_tensor *logits(nasc_controller *c, nasc_graph *g, nasc_tensor *h, int t, int n) {
    nasc_tensor *l = nasc_linear(g, h, c->out_w[t], c->out_b[t]);
    if (n < c->M[t])
        l = nasc_slice(g, l, &(nasc_slice_params){.c0 = 0, .c1 = n, .sh = 1, .sw = 1});
    const float T = c->cfg.temperature;
    if (c->cfg.tanh_c > 0.0f)
        return nasc_scale(g, nasc_tanh(g, T != 1.0f ? nasc_scale(g, l, 1.0f / T) : l),
                          c->cfg.tanh_c);
    return T != 1.0f ? nasc_scale(g, l, 1.0f / T) : l;
}

/* Input of step t+1: the embedding row of choice a at step t. */
static nasc_tensor *embed(nasc_controller *c, nasc_graph *g, int t, int a) {
    const int H = c->cfg.hidden;
    return nasc_slice(g, c->emb[t],
                      &(nasc_slice_params){.c0 = a * H, .c1 = (a + 1) * H, .sh = 1, .sw = 1});
}

static nasc_tensor *zeros(nasc_graph *g, int H) {
    nasc_tensor *z = nasc_input(g, 1, H, 1, 1, NULL);
    if (z)
        memset(z->data, 0, sizeof(float) * (size_t)H);
    return z;
}

nasc_status nasc_controller_sample(nasc_controller *c, nasc_rng *rng, int *out, int *out_n,
                                   double *out_logp, double *out_step_logp, nasc_err *err) {
    nasc_graph *g = c->g;
    nasc_graph_reset(g);
    nasc_graph_set_grad(g, false);
    const int H = c->cfg.hidden;
    nasc_tensor *h = zeros(g, H), *cs = zeros(g, H), *x = c->start;
    double lp = 0.0;
    int n = 0;
    nasc_status st = NASC_OK;
    for (int t = 0; t < c->T; t++) {
        int no = nasc_space_n_options(c->space, t, out);
        if (no <= 0)
            break;
        lstm_step(c, g, x, &h, &cs);
        if (no > c->M[t]) { /* wider than the output layer: uniform, see the header */
            int a = (int)nasc_rng_below(rng, (uint32_t)no);
            if (out_step_logp)
                out_step_logp[t] = -log((double)no);
            lp -= log((double)no);
            out[t] = a;
            n = t + 1;
            x = embed(c, g, t, a % c->M[t]);
            continue;
        }
        nasc_tensor *p = nasc_softmax(g, logits(c, g, h, t, no));
        if ((st = nasc_graph_status(g)) != NASC_OK) {
            nasc_errorf(err, st, "controller: %s", nasc_graph_errmsg(g));
            break;
        }
        double u = nasc_rng_uniform_double(rng), acc = 0.0;
        int a = no - 1;
        for (int k = 0; k < no; k++) {
            acc += (double)p->data[k];
            if (u < acc) {
                a = k;
                break;
            }
        }
        double lpa = log(fmax((double)p->data[a], 1e-30));
        if (out_step_logp)
            out_step_logp[t] = lpa;
        lp += lpa;
        out[t] = a;
        n = t + 1;
        x = embed(c, g, t, a);
    }
    nasc_graph_set_grad(g, true);
    *out_n = n;
    if (out_logp)
        *out_logp = lp;
    return st;
}

nasc_status nasc_controller_forward(nasc_controller *c, nasc_graph *g, const int *d, int n,
                                    nasc_controller_out *out) {
    memset(out, 0, sizeof *out);
    if (n < 1 || n > c->T)
        return nasc_graph_errorf(g, NASC_ERR_ARG, "controller: %d decisions (space has %d)", n,
                                 c->T);
    const int H = c->cfg.hidden;
    nasc_tensor **nl = nasc_graph_alloc(g, sizeof(nasc_tensor *) * (size_t)n * 3);
    if (!nl)
        return nasc_graph_status(g);
    nasc_tensor **en = nl + n, **va = nl + 2 * n;
    nasc_tensor *h = zeros(g, H), *cs = zeros(g, H), *x = c->start;
    for (int t = 0; t < n; t++) {
        int no = nasc_space_n_options(c->space, t, d);
        if (no <= 0 || d[t] < 0 || d[t] >= no)
            return nasc_graph_errorf(
                g, NASC_ERR_ARG, "controller: decision %d = %d out of range [0,%d)", t, d[t], no);
        lstm_step(c, g, x, &h, &cs);
        if (no > c->M[t]) { /* uniform, constant: no gradient */
            nasc_tensor *k = nasc_input(g, 1, 1, 1, 1, NULL);
            if (!k)
                return nasc_graph_status(g);
            k->data[0] = (float)log((double)no);
            nl[t] = en[t] = k;
            if (c->cfg.value_head)
                va[t] = nasc_linear(g, h, c->val_w, c->val_b);
            x = embed(c, g, t, d[t] % c->M[t]);
            continue;
        }
        nasc_tensor *l = logits(c, g, h, t, no);
        int32_t lab = d[t];
        nl[t] = nasc_cross_entropy(g, l, &lab, 0.0f);
        en[t] = nasc_scale(g, nasc_sum(g, nasc_mul(g, nasc_softmax(g, l), nasc_log_softmax(g, l))),
                           -1.0f);
        if (c->cfg.value_head)
            va[t] = nasc_linear(g, h, c->val_w, c->val_b);
        x = embed(c, g, t, d[t]);
    }
    out->n = n;
    out->neglogp = nasc_concat(g, n, nl); /* (1,1,1,1) pieces along C: (1,n,1,1) */
    out->entropy = nasc_concat(g, n, en);
    if (c->cfg.value_head)
        out->value = nasc_concat(g, n, va);
    return nasc_graph_status(g);
}
