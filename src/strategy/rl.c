/* rl.c — REINFORCE ("reinforce") and PPO ("ppo") over a space's decision sequences, with the LSTM
 * controller of controller.c trained by Adam on the engine.
 *
 * Loop: trials are proposed in batches of `batch`; at every batch boundary (once the results the
 * batch may use are known, learn_int.h) the policy learns from the results told since the last
 * update, then samples the next batch. An architecture proposed before is never proposed again:
 * the policy resamples (up to 100 times; then, with fallback=mutate, the first unseen cell on a
 * walk of random edits from its last sample, else or failing that a uniform unseen sample; its
 * behaviour log-probabilities are those of the policy, so PPO's ratios stay right).
 *
 * Rewards: the score (or a random scalarisation of the objectives, new weights each update); a
 * failed trial gets the worst reward seen so far.
 *   reinforce (Williams 1992; Zoph & Le 2017): baseline b = exponential moving average of the
 *     rewards (decay `decay`), advantage (R - b) divided by a moving average of |R - b| (so the
 *     step size does not depend on the score's units), loss of nasc_rl_reinforce_loss, one Adam
 *     step per sample group, gradients clipped to norm 5. With replay=k the same step also raises
 *     the likelihood of the k best results so far (weight replay-coef; priority-queue training,
 *     Abolafia et al. 2018), so the policy does not forget the best cells while it explores.
 *   ppo (Schulman et al., "Proximal Policy Optimization Algorithms", 2017): rewards standardised
 *     by their running mean and deviation, advantages A = R - V(h_t) from the value head
 *     (normalised over the batch), `epochs` passes of Adam over the batch on nasc_rl_ppo_loss
 *     with clip eps.
 *
 * State for save/load: the shared history, the per-trial samples, the controller's weights, the
 * optimizer's moments and the reward statistics. */
#include "rl_int.h"
#include "mo_int.h"

#include "nasc/optim.h"

#include <math.h>
#include <string.h>

typedef struct rl_sample {
    int n;
    int d[256];
    double old_lp[256];
} rl_sample;

typedef struct rl {
    learn_base b;
    bool ppo;
    int batch, epochs;
    float lr;
    double ent, decay, eps, vcoef;
    double floor_q;  /* nasc_learn_floor of the rewards */
    int replay;      /* reinforce: the `replay` best results so far, learned again each update */
    double replay_c; /* ... with this weight (priority-queue training) */
    bool fallback_mutate; /* a converged policy's repeats: mutate (true) or uniform (false) */
    int screen;           /* two objectives: samples per proposal, the best by model EHVI kept */
    int nbrs;             /* two objectives: front neighbours screened beside them */
    bool mo_hv;           /* two objectives: hypervolume-based rewards (nasc_mo_targets) */
    nasc_controller *ctl;
    nasc_optim *opt;
    rl_sample *samp; /* one per asked trial */
    int n_samp, cap_samp;
    int64_t n_learned; /* told trials already learned from */
    /* reward statistics */
    double baseline, absdev;  /* reinforce */
    double r_n, r_mean, r_m2; /* ppo: Welford over all rewards */
    double r_min;             /* worst reward (for failed trials) */
} rl;

/* ---- losses (also used by the gradient tests) ---- */

nasc_tensor *nasc_rl_reinforce_loss(nasc_controller *c, nasc_graph *g, const int *d, int n,
                                    double adv, double ent) {
    nasc_controller_out o;
    if (nasc_controller_forward(c, g, d, n, &o) != NASC_OK)
        return NULL;
    return nasc_add(g, nasc_scale(g, nasc_sum(g, o.neglogp), (float)adv),
                    nasc_scale(g, nasc_sum(g, o.entropy), (float)-ent));
}

nasc_tensor *nasc_rl_ppo_loss(nasc_controller *c, nasc_graph *g, const int *d, int n,
                              const double *old_lp, const double *adv, double ret, double eps,
                              double vcoef, double ent, double *out_obj) {
    nasc_controller_out o;
    if (nasc_controller_forward(c, g, d, n, &o) != NASC_OK)
        return NULL;
    nasc_tensor *coef = nasc_input(g, 1, n, 1, 1, NULL);
    nasc_tensor *nret = nasc_input(g, 1, n, 1, 1, NULL);
    if (!coef || !nret)
        return NULL;
    double obj = 0.0;
    for (int t = 0; t < n; t++) {
        double lp = -(double)o.neglogp->data[t];
        double r = exp(lp - old_lp[t]), A = adv[t];
        double rc = fmin(fmax(r, 1.0 - eps), 1.0 + eps);
        bool active = A > 0.0 ? r < 1.0 + eps : r > 1.0 - eps;
        coef->data[t] = active ? (float)(A * r) : 0.0f;
        nret->data[t] = (float)-ret;
        obj -= fmin(r * A, rc * A);
        obj -= ent * (double)o.entropy->data[t];
    }
    nasc_tensor *loss = nasc_add(g, nasc_sum(g, nasc_mul(g, o.neglogp, coef)),
                                 nasc_scale(g, nasc_sum(g, o.entropy), (float)-ent));
    if (o.value) {
        nasc_tensor *dv = nasc_add(g, o.value, nret);
        loss = nasc_add(g, loss, nasc_scale(g, nasc_sum(g, nasc_mul(g, dv, dv)), (float)vcoef));
        for (int t = 0; t < n; t++) {
            double e = (double)o.value->data[t] - ret;
            obj += vcoef * e * e;
        }
    }
    if (out_obj)
        *out_obj = obj;
    return loss;
}

/* ---- the strategy ---- */

/* The controller's options, declared by REINFORCE and PPO (in this order, after their own);
 * only the defaults of the reward floor and of neighbours differ. */
// clang-format off
#define RL_CONTROLLER_OPTS(floor_def, fallback_def, nbrs_def)                                     \
    {.name = "hidden", .type = NASC_OPT_INT, .def = "32", .min = 1, .max = 1024,                  \
     .help = "LSTM width"},                                                                       \
    {.name = "tanh-c", .type = NASC_OPT_DOUBLE, .def = "0", .min = 0, .max = 100,                 \
     .help = "> 0: logits = c * tanh(logits / T) (ENAS)"},                                        \
    {.name = "temperature", .type = NASC_OPT_DOUBLE, .def = "1", .min = 0.01, .max = 100,         \
     .help = "softmax temperature T"},                                                            \
    {.name = "floor", .type = NASC_OPT_DOUBLE, .def = floor_def, .min = 0, .max = 0.99,           \
     .help = "rewards below this quantile of the results are raised to it (0: off)"},             \
    {.name = "fallback", .type = NASC_OPT_CHOICE, .def = fallback_def,                            \
     .choices = "uniform|mutate",                                                                 \
     .help = "when the policy only repeats known cells: a uniform sample or a mutation of one"}, \
    {.name = "screen", .type = NASC_OPT_INT, .def = "10", .min = 1, .max = 1000,                  \
     .help = "two objectives: distinct unseen samples drawn per proposal, the one with the "     \
             "highest expected hypervolume improvement under linear models proposed (1: off)"}, \
    {.name = "neighbours", .type = NASC_OPT_INT, .def = nbrs_def, .min = 0, .max = 1000,          \
     .help = "two objectives: single-edit mutations of the front inside the reference box "       \
             "screened beside the policy's samples (0: none)"},                                   \
    {.name = "mo-reward", .type = NASC_OPT_CHOICE, .def = "hv", .choices = "parego|hv",           \
     .help = "two objectives: random ParEGO scalarisations or hypervolume-based rewards "        \
             "(non-dominated rank, reference box, hypervolume contribution)"}
// clang-format on

static const nasc_strategy_opt reinforce_opts[] = {
    {.name = "lr",
     .type = NASC_OPT_DOUBLE,
     .def = "0.02",
     .min = 1e-7,
     .max = 10,
     .help = "Adam learning rate of the controller"},
    {.name = "batch",
     .type = NASC_OPT_INT,
     .def = "1",
     .min = 1,
     .max = 10000,
     .help = "architectures sampled per policy update"},
    {.name = "entropy",
     .type = NASC_OPT_DOUBLE,
     .def = "0.001",
     .min = 0,
     .max = 100,
     .help = "entropy bonus weight"},
    {.name = "decay",
     .type = NASC_OPT_DOUBLE,
     .def = "0.9",
     .min = 0,
     .max = 1,
     .help = "baseline moving-average decay"},
    {.name = "replay",
     .type = NASC_OPT_INT,
     .def = "3",
     .min = 0,
     .max = 100000,
     .help = "best results so far whose likelihood every update raises (0: off)"},
    {.name = "replay-coef",
     .type = NASC_OPT_DOUBLE,
     .def = "3",
     .min = 0,
     .max = 100,
     .help = "weight of that likelihood term"},
    RL_CONTROLLER_OPTS("0", "mutate", "5"),
};

static const nasc_strategy_opt ppo_opts[] = {
    {.name = "lr",
     .type = NASC_OPT_DOUBLE,
     .def = "0.02",
     .min = 1e-7,
     .max = 10,
     .help = "Adam learning rate of the controller"},
    {.name = "batch",
     .type = NASC_OPT_INT,
     .def = "5",
     .min = 1,
     .max = 10000,
     .help = "architectures sampled per policy update"},
    {.name = "epochs",
     .type = NASC_OPT_INT,
     .def = "4",
     .min = 1,
     .max = 1000,
     .help = "passes over each batch"},
    {.name = "clip",
     .type = NASC_OPT_DOUBLE,
     .def = "0.2",
     .min = 0.001,
     .max = 10,
     .help = "clip range eps of the probability ratio"},
    {.name = "value-coef",
     .type = NASC_OPT_DOUBLE,
     .def = "0.5",
     .min = 0,
     .max = 100,
     .help = "weight of the value loss"},
    {.name = "entropy",
     .type = NASC_OPT_DOUBLE,
     .def = "0.001",
     .min = 0,
     .max = 100,
     .help = "entropy bonus weight"},
    RL_CONTROLLER_OPTS("0.5", "uniform", "10"),
};

static nasc_status rl_init(nasc_strategy *s, bool ppo, nasc_err *err) {
    rl *r = nasc_calloc(1, sizeof *r);
    if (!r)
        return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", s->iface->name);
    s->impl = r;
    r->ppo = ppo;
    NASC_TRY(nasc_learn_init(&r->b, s, err));
    if (r->b.n_dec > 256)
        return nasc_errorf(err, NASC_ERR_UNSUPPORTED,
                           "strategy %s: space %s has %d decisions (at most 256)", s->iface->name,
                           nasc_space_name(s->space), r->b.n_dec);
    r->lr = (float)nasc_strategy_opt_double(s, "lr");
    r->batch = nasc_strategy_opt_int(s, "batch");
    r->ent = nasc_strategy_opt_double(s, "entropy");
    r->floor_q = nasc_strategy_opt_double(s, "floor");
    r->epochs = ppo ? nasc_strategy_opt_int(s, "epochs") : 1;
    r->decay = ppo ? 0.0 : nasc_strategy_opt_double(s, "decay");
    r->replay = ppo ? 0 : nasc_strategy_opt_int(s, "replay");
    r->screen = nasc_strategy_opt_int(s, "screen");
    r->nbrs = nasc_strategy_opt_int(s, "neighbours");
    r->mo_hv = nasc_strategy_opt_choice(s, "mo-reward") == 1;
    r->replay_c = ppo ? 0.0 : nasc_strategy_opt_double(s, "replay-coef");
    r->fallback_mutate = nasc_strategy_opt_choice(s, "fallback") == 1;
    r->eps = ppo ? nasc_strategy_opt_double(s, "clip") : 0.0;
    r->vcoef = ppo ? nasc_strategy_opt_double(s, "value-coef") : 0.0;
    r->r_min = INFINITY;
    nasc_controller_config cc = {
        .hidden = nasc_strategy_opt_int(s, "hidden"),
        .tanh_c = (float)nasc_strategy_opt_double(s, "tanh-c"),
        .temperature = (float)nasc_strategy_opt_double(s, "temperature"),
        .value_head = ppo,
    };
    NASC_TRY(nasc_controller_new(s->space, &cc, nasc_rng_u64(&s->rng), &r->ctl, err));
    return nasc_optim_new(nasc_controller_params(r->ctl),
                          &(nasc_optim_config){.kind = NASC_OPTIM_ADAM}, &r->opt, err);
}

static nasc_status reinforce_init(nasc_strategy *s, nasc_err *err) {
    return rl_init(s, false, err);
}
static nasc_status ppo_init(nasc_strategy *s, nasc_err *err) {
    return rl_init(s, true, err);
}

static void rl_free(void *impl) {
    rl *r = impl;
    if (!r)
        return;
    nasc_learn_deinit(&r->b);
    nasc_optim_free(r->opt);
    nasc_controller_free(r->ctl);
    nasc_free(r->samp);
    nasc_free(r);
}

static nasc_status graph_err(nasc_graph *g, const char *who, nasc_err *err) {
    return nasc_errorf(err, nasc_graph_status(g) ? nasc_graph_status(g) : NASC_ERR_INTERNAL,
                       "%s: %s", who, nasc_graph_errmsg(g));
}

/* Per-step log-probabilities of d under the current policy (no gradients). */
static nasc_status step_logp(rl *r, const int *d, int n, double *lp, nasc_err *err) {
    nasc_graph *g = nasc_controller_graph(r->ctl);
    nasc_graph_reset(g);
    nasc_graph_set_grad(g, false);
    nasc_controller_out o;
    nasc_status st = nasc_controller_forward(r->ctl, g, d, n, &o);
    nasc_graph_set_grad(g, true);
    if (st != NASC_OK)
        return graph_err(g, "controller", err);
    for (int t = 0; t < n; t++)
        lp[t] = -(double)o.neglogp->data[t];
    return NASC_OK;
}

/* The rewards of every told trial into y: the score, a ParEGO scalarisation of the objectives
 * (the current weights), or with mo-reward=hv hypervolume-based targets (mo.c). */
static nasc_status targets(const rl *r, double *y, nasc_err *err) {
    bool done = false;
    if (r->mo_hv)
        NASC_TRY(nasc_mo_targets(&r->b, 20, y, &done, err));
    if (!done)
        nasc_learn_targets(&r->b, y);
    return NASC_OK;
}

/* Learns from the told trials [n_learned, n_told). */
static nasc_status learn(nasc_strategy *s, rl *r, nasc_err *err) {
    learn_base *b = &r->b;
    const int64_t k0 = r->n_learned, k1 = s->n_told;
    if (k1 <= k0)
        return NASC_OK;
    nasc_learn_draw_weights(s, b);
    double *y = nasc_malloc(sizeof(double) * (size_t)b->n_hist);
    double *R = nasc_malloc(sizeof(double) * (size_t)(k1 - k0));
    if (!y || !R) {
        nasc_free(y);
        nasc_free(R);
        return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", s->iface->name);
    }
    nasc_status st = targets(r, y, err);
    if (st != NASC_OK) {
        nasc_free(y);
        nasc_free(R);
        return st;
    }
    nasc_learn_floor(y, b->n_hist, r->floor_q);
    for (int64_t k = k0; k < k1; k++)
        if (isfinite(y[k]))
            r->r_min = fmin(r->r_min, y[k]);
    for (int64_t k = k0; k < k1; k++)
        R[k - k0] = isfinite(y[k]) ? y[k] : (isfinite(r->r_min) ? r->r_min : 0.0);
    nasc_free(y);
    nasc_params *ps = nasc_controller_params(r->ctl);
    nasc_graph *g = nasc_controller_graph(r->ctl);
    const int m = (int)(k1 - k0);
    if (!r->ppo) {
        nasc_params_zero_grad(ps);
        for (int i = 0; i < m && st == NASC_OK; i++) {
            if (r->n_learned == 0 && i == 0) { /* the first reward sets the statistics */
                r->baseline = R[0];
                r->absdev = 0.0;
            }
            double adv = R[i] - r->baseline;
            r->absdev =
                r->absdev > 0.0 ? r->decay * r->absdev + (1.0 - r->decay) * fabs(adv) : fabs(adv);
            r->baseline = r->decay * r->baseline + (1.0 - r->decay) * R[i];
            double a = r->absdev > 0.0 ? adv / r->absdev : 0.0;
            const rl_sample *sp = &r->samp[k0 + i];
            nasc_graph_reset(g);
            nasc_tensor *loss = nasc_rl_reinforce_loss(r->ctl, g, sp->d, sp->n, a / m, r->ent / m);
            if (!loss || nasc_backward(g, loss) != NASC_OK)
                st = graph_err(g, "reinforce", err);
        }
        /* priority-queue training (Abolafia et al. 2018): the likelihood of the `replay` best
         * results so far (by floored reward), weight replay_c / count, no entropy term */
        if (st == NASC_OK && r->replay > 0 && r->replay_c > 0.0) {
            int *order = nasc_malloc(sizeof(int) * (size_t)b->n_hist);
            double *yr = nasc_malloc(sizeof(double) * (size_t)b->n_hist);
            if (!order || !yr) {
                nasc_free(order);
                nasc_free(yr);
                nasc_free(R);
                return nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", s->iface->name);
            }
            st = targets(r, yr, err);
            if (st == NASC_OK)
                nasc_learn_rank(b, yr, order);
            int nk = 0;
            while (st == NASC_OK && nk < r->replay && nk < b->n_hist && nk < r->n_samp &&
                   isfinite(yr[order[nk]]))
                nk++;
            for (int j = 0; j < nk && st == NASC_OK; j++) {
                const rl_sample *sp = &r->samp[order[j]];
                nasc_graph_reset(g);
                nasc_tensor *loss =
                    nasc_rl_reinforce_loss(r->ctl, g, sp->d, sp->n, r->replay_c / nk, 0.0);
                if (!loss || nasc_backward(g, loss) != NASC_OK)
                    st = graph_err(g, "reinforce", err);
            }
            nasc_free(order);
            nasc_free(yr);
        }
        if (st == NASC_OK) {
            nasc_clip_grad_norm(ps, 5.0f);
            nasc_optim_step(r->opt, r->lr);
        }
    } else {
        /* standardised returns, then advantages from the value head before the update */
        for (int i = 0; i < m; i++) {
            r->r_n += 1.0;
            double dlt = R[i] - r->r_mean;
            r->r_mean += dlt / r->r_n;
            r->r_m2 += dlt * (R[i] - r->r_mean);
        }
        double sd = r->r_n > 1.0 ? sqrt(r->r_m2 / (r->r_n - 1.0)) : 0.0;
        double *A = nasc_malloc(sizeof(double) * (size_t)m * 256);
        if (!A) {
            nasc_free(R);
            return nasc_errorf(err, NASC_ERR_NOMEM, "ppo: out of memory");
        }
        double am = 0.0, a2 = 0.0, na = 0.0;
        for (int i = 0; i < m && st == NASC_OK; i++) {
            R[i] = sd > 0.0 ? (R[i] - r->r_mean) / sd : 0.0;
            const rl_sample *sp = &r->samp[k0 + i];
            nasc_graph_reset(g);
            nasc_graph_set_grad(g, false);
            nasc_controller_out o;
            if (nasc_controller_forward(r->ctl, g, sp->d, sp->n, &o) != NASC_OK)
                st = graph_err(g, "ppo", err);
            nasc_graph_set_grad(g, true);
            for (int t = 0; st == NASC_OK && t < sp->n; t++) {
                double a = R[i] - (double)o.value->data[t];
                A[i * 256 + t] = a;
                am += a;
                a2 += a * a;
                na += 1.0;
            }
        }
        if (st == NASC_OK && na > 1.0) { /* advantage normalisation over the batch */
            am /= na;
            double asd = sqrt(fmax(a2 / na - am * am, 0.0));
            for (int i = 0; i < m; i++)
                for (int t = 0; t < r->samp[k0 + i].n; t++)
                    A[i * 256 + t] = asd > 1e-8 ? (A[i * 256 + t] - am) / asd : 0.0;
        }
        for (int ep = 0; ep < r->epochs && st == NASC_OK; ep++) {
            nasc_params_zero_grad(ps);
            for (int i = 0; i < m && st == NASC_OK; i++) {
                const rl_sample *sp = &r->samp[k0 + i];
                double am_i[256]; /* the batch mean: every term weighted 1/m */
                for (int t = 0; t < sp->n; t++)
                    am_i[t] = A[i * 256 + t] / m;
                nasc_graph_reset(g);
                nasc_tensor *loss = nasc_rl_ppo_loss(r->ctl, g, sp->d, sp->n, sp->old_lp, am_i,
                                                     R[i], r->eps, r->vcoef / m, r->ent / m, NULL);
                if (!loss || nasc_backward(g, loss) != NASC_OK)
                    st = graph_err(g, "ppo", err);
            }
            if (st == NASC_OK) {
                nasc_clip_grad_norm(ps, 5.0f);
                nasc_optim_step(r->opt, r->lr);
            }
        }
        nasc_free(A);
    }
    nasc_free(R);
    r->n_learned = k1;
    return st;
}

static nasc_status samp_push(rl *r, nasc_err *err, rl_sample **out) {
    if (r->n_samp == r->cap_samp) {
        int cap = r->cap_samp ? 2 * r->cap_samp : 64;
        rl_sample *ns = nasc_realloc(r->samp, sizeof *ns * (size_t)cap);
        if (!ns)
            return nasc_errorf(err, NASC_ERR_NOMEM, "controller strategy: out of memory");
        r->samp = ns;
        r->cap_samp = cap;
    }
    *out = &r->samp[r->n_samp++];
    memset(*out, 0, sizeof **out);
    return NASC_OK;
}

/* screen=K > 1 or neighbours=N > 0 with two objectives: up to K distinct unseen policy samples
 * (100 draws at most) and N unseen single-edit neighbours of the front
 * (nasc_mo_pool_add_neighbours), the one with the highest model EHVI (nasc_mo_screen; the first
 * sample while there is too little to fit) marked and handed to *out with its sample in sp (for
 * a neighbour: its decisions and their log-probabilities under the policy, as the mutation
 * fallback's); *out NULL if every one was known. */
static nasc_status screened_sample(nasc_strategy *s, rl *r, rl_sample *sp, nasc_arch **out,
                                   nasc_err *err) {
    mo_pool pool;
    int pick;
    rl_sample *cs = nasc_calloc((size_t)r->screen, sizeof *cs);
    *out = NULL;
    nasc_status st = nasc_mo_pool_init(&pool, r->screen + r->nbrs, s, err);
    if (st == NASC_OK && !cs)
        st = nasc_errorf(err, NASC_ERR_NOMEM, "%s: out of memory", s->iface->name);
    for (int tries = 0; tries < 100 && pool.n < r->screen && st == NASC_OK; tries++) {
        nasc_arch *a = NULL;
        rl_sample *x = &cs[pool.n]; /* kept with its architecture, overwritten if a duplicate */
        if ((st = nasc_controller_sample(r->ctl, &s->rng, x->d, &x->n, NULL, x->old_lp, err)) ==
                NASC_OK &&
            (st = nasc_arch_from_decisions(s->space, x->d, x->n, &a, err)) == NASC_OK)
            nasc_mo_pool_add(&pool, &r->b, a);
    }
    int n_pol = pool.n;
    if (st == NASC_OK)
        st = nasc_mo_pool_add_neighbours(s, &r->b, &pool, 20, r->nbrs, err);
    if (st == NASC_OK && pool.n &&
        (st = nasc_mo_pool_take(s, &r->b, &pool, 20, 10, out, &pick, err)) == NASC_OK) {
        if (pick < n_pol) {
            *sp = cs[pick];
        } else { /* a neighbour: its behaviour log-probabilities are the policy's */
            nasc_arch_to_decisions(*out, sp->d, &sp->n);
            if ((st = step_logp(r, sp->d, sp->n, sp->old_lp, err)) != NASC_OK) {
                nasc_arch_free(*out);
                *out = NULL;
            }
        }
    }
    nasc_mo_pool_free(&pool);
    nasc_free(cs);
    return st;
}

static nasc_status rl_ask(nasc_strategy *s, nasc_proposal *out, nasc_err *err) {
    rl *r = s->impl;
    if (s->n_asked > 0 && s->n_asked % r->batch == 0) {
        if (!nasc_learn_ready(s))
            return NASC_OK; /* wait */
        NASC_TRY(learn(s, r, err));
    }
    rl_sample *sp = NULL;
    NASC_TRY(samp_push(r, err, &sp));
    nasc_arch *a = NULL, *last = NULL;
    if ((r->screen > 1 || r->nbrs > 0) && r->b.n_obj == 2)
        NASC_TRY(screened_sample(s, r, sp, &a, err));
    for (int tries = 0; tries < 100 && !a; tries++) {
        NASC_TRY(nasc_controller_sample(r->ctl, &s->rng, sp->d, &sp->n, NULL, sp->old_lp, err));
        NASC_TRY(nasc_arch_from_decisions(s->space, sp->d, sp->n, &a, err));
        if (!nasc_learn_mark(&r->b, a)) {
            nasc_arch_free(last);
            last = a;
            a = NULL;
        }
    }
    if (!a) {
        /* the policy keeps proposing known architectures (it has converged): with
         * fallback=mutate a walk of up to 20 random edits from its last sample, the first unseen
         * cell on it (it stays where the policy is); else, or if the walk finds nothing new, a
         * uniform unseen one. Its behaviour log-probabilities are the policy's. */
        for (int k = 0; k < 20 && !a && last && r->fallback_mutate; k++) {
            nasc_arch *c = NULL;
            nasc_status st = nasc_arch_mutate(last, &s->rng, &c, err);
            nasc_arch_free(last);
            last = c;
            if (st != NASC_OK)
                return st;
            if (nasc_learn_mark(&r->b, c)) {
                a = c;
                last = NULL;
            }
        }
        nasc_arch_free(last);
        if (!a)
            NASC_TRY(nasc_learn_random_unseen(s, &r->b, &a, err));
        nasc_arch_to_decisions(a, sp->d, &sp->n);
        nasc_status st = step_logp(r, sp->d, sp->n, sp->old_lp, err);
        if (st != NASC_OK) {
            nasc_arch_free(a);
            return st;
        }
    } else {
        nasc_arch_free(last);
    }
    out->arch = a;
    return NASC_OK;
}

static nasc_status rl_tell(nasc_strategy *s, int64_t trial, const nasc_arch *arch, double fidelity,
                           const nasc_trial_result *res, nasc_err *err) {
    (void)trial;
    rl *r = s->impl;
    return nasc_learn_record(&r->b, arch, fidelity, res, err);
}

/* ---- save / load ---- */

/* float arrays as a count and their values */
static void put_floats(nasc_buf *b, const float *x, size_t n) {
    nasc_buf_put_u64(b, n);
    nasc_buf_put_f32s(b, x, n);
}

static bool get_floats(nasc_reader *r, float *x, size_t n) {
    if (nasc_read_u64(r) != n)
        r->bad = true;
    return nasc_read_f32s(r, x, n);
}

static nasc_status rl_save(const nasc_strategy *s, void **out_buf, size_t *out_len, nasc_err *err) {
    const rl *r = s->impl;
    nasc_buf b = {0};
    nasc_learn_save(&r->b, &b);
    nasc_buf_put_u64(&b, (uint64_t)r->n_samp);
    for (int i = 0; i < r->n_samp; i++) {
        nasc_buf_put_u64(&b, (uint64_t)r->samp[i].n);
        for (int t = 0; t < r->samp[i].n; t++) {
            nasc_buf_put_u64(&b, (uint64_t)r->samp[i].d[t]);
            nasc_buf_put_f64(&b, r->samp[i].old_lp[t]);
        }
    }
    nasc_buf_put_u64(&b, (uint64_t)r->n_learned);
    const double stats[7] = {r->baseline, r->absdev, r->r_n, r->r_mean, r->r_m2, r->r_min, 0.0};
    for (int j = 0; j < 7; j++)
        nasc_buf_put_f64(&b, stats[j]);
    nasc_params *ps = nasc_controller_params(r->ctl);
    put_floats(&b, nasc_params_data(ps), nasc_params_flat_len(ps));
    size_t ol;
    float *os = nasc_optim_state(r->opt, &ol);
    put_floats(&b, os, ol);
    nasc_buf_put_u64(&b, (uint64_t)nasc_optim_steps(r->opt));
    return nasc_buf_take(&b, out_buf, out_len, "strategy state", err);
}

static nasc_status rl_load(nasc_strategy *s, const void *buf, size_t len, nasc_err *err) {
    rl *r = s->impl;
    nasc_reader rd = {buf, len, false};
    NASC_TRY(nasc_learn_load(&r->b, &rd, err));
    uint64_t ns = nasc_read_u64(&rd);
    if (rd.bad || ns > (1u << 24))
        return nasc_errorf(err, NASC_ERR_FORMAT, "%s: bad snapshot (samples)", s->iface->name);
    for (uint64_t i = 0; i < ns; i++) {
        rl_sample *sp = NULL;
        NASC_TRY(samp_push(r, err, &sp));
        uint64_t n = nasc_read_u64(&rd);
        if (rd.bad || n > 256)
            return nasc_errorf(err, NASC_ERR_FORMAT, "%s: bad snapshot (sample %llu)",
                               s->iface->name, (unsigned long long)i);
        sp->n = (int)n;
        for (int t = 0; t < sp->n; t++) {
            sp->d[t] = (int)nasc_read_u64(&rd);
            sp->old_lp[t] = nasc_read_f64(&rd);
        }
    }
    r->n_learned = (int64_t)nasc_read_u64(&rd);
    double stats[7];
    for (int j = 0; j < 7; j++)
        stats[j] = nasc_read_f64(&rd);
    r->baseline = stats[0];
    r->absdev = stats[1];
    r->r_n = stats[2];
    r->r_mean = stats[3];
    r->r_m2 = stats[4];
    r->r_min = stats[5];
    nasc_params *ps = nasc_controller_params(r->ctl);
    size_t ol;
    float *os = nasc_optim_state(r->opt, &ol);
    if (!get_floats(&rd, nasc_params_data(ps), nasc_params_flat_len(ps)) ||
        !get_floats(&rd, os, ol))
        return nasc_errorf(err, NASC_ERR_FORMAT, "%s: bad snapshot (weights)", s->iface->name);
    nasc_optim_set_steps(r->opt, (int64_t)nasc_read_u64(&rd));
    if (rd.bad || rd.left)
        return nasc_errorf(err, NASC_ERR_FORMAT, "%s: bad snapshot", s->iface->name);
    return NASC_OK;
}

const nasc_strategy_i nasc_strategy_reinforce_i = {
    .name = "reinforce",
    .help = "REINFORCE: LSTM controller, moving-average baseline, entropy bonus (Zoph & Le 2017)",
    .opts = reinforce_opts,
    .n_opts = (int)(sizeof reinforce_opts / sizeof reinforce_opts[0]),
    .init = reinforce_init,
    .ask = rl_ask,
    .tell = rl_tell,
    .save = rl_save,
    .load = rl_load,
    .free_impl = rl_free,
};

const nasc_strategy_i nasc_strategy_ppo_i = {
    .name = "ppo",
    .help = "PPO: LSTM controller with a value head, clipped surrogate, epochs per batch",
    .opts = ppo_opts,
    .n_opts = (int)(sizeof ppo_opts / sizeof ppo_opts[0]),
    .init = ppo_init,
    .ask = rl_ask,
    .tell = rl_tell,
    .save = rl_save,
    .load = rl_load,
    .free_impl = rl_free,
};
