/* sample.c — the one-shot methods that sample paths through the supernet:
 *
 *   GDAS (Dong & Yang, CVPR 2019). Per edge, logits (log_softmax(alpha) + Gumbel noise) / tau,
 *     probs = softmax(logits), h = argmax; the edge computes only op h, and the node sum gets
 *     hardwts[h] * op_h(x) + sum_{k != h} hardwts[k] with hardwts = one_hot(h) - probs.detach()
 *     + probs (value one-hot, gradient that of probs: straight-through). Weight step on the
 *     training batch, then architecture step on the validation batch, each with its own sample.
 *     tau falls linearly from tau_max to tau_min over the epochs. On the darts space `none` is
 *     never sampled (a node must keep an input); on nb201 it is, as in NAS-Bench-201's GDAS.
 *   SPOS (Guo et al., ECCV 2020). Weight steps on a uniformly sampled architecture per batch; no
 *     architecture parameters. After the last epoch, an evolutionary search (population P,
 *     I iterations, the top 10 as parents, half the children by mutation, half by crossover)
 *     scores candidates by their accuracy as paths through the supernet on validation batches
 *     (BN on batch statistics, as SPOS recalibrates BN per candidate).
 *   ENAS (Pham et al., ICML 2018). The LSTM controller of predictor.h (tanh constant 2.5,
 *     temperature 5, as ENAS's micro search) samples one architecture per weight step; after each
 *     epoch's weight steps the controller takes `enas_samples` REINFORCE steps, reward = the
 *     sample's accuracy on a validation batch, advantage = reward - moving-average baseline,
 *     entropy bonus. The epoch's (and final) architecture: the best of 5 (final: 10) controller
 *     samples on validation batches.
 *   ProxylessNAS (Cai et al., ICLR 2019). Weight step: per edge one op sampled from
 *     softmax(alpha). Architecture step: per edge two ops sampled without replacement, one of
 *     them active by the renormalised probabilities p' over the pair; binary gates g (1 active,
 *     0 inactive) weight both ops' outputs, and alpha's gradient is the binary-gate estimator
 *     dalpha_i = sum_j dL/dg_j p'_j (delta_ij - p'_i) over the pair, plus the gradient of
 *     lambda * E[latency] / latency(uniform alpha), E[latency] = sum over cells and edges of
 *     sum_k softmax(alpha)_k * latency_k. Per-op latencies come from the cost model: the
 *     evaluation network with every op of both cells set to op k, measured at batch 1, minus the
 *     one with every op `none`, divided by the number of ops (or given: option latency=...).
 *
 * Everything random draws from os->rng (saved in checkpoints). */
#include "stepper_int.h"

#include "nasc/arena.h"
#include "nasc/cost.h"
#include "nasc/predictor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct os_method_state {
    nasc_arch *best;          /* SPOS / ENAS: the current answer (NULL before the first) */
    double best_score;
    /* ENAS */
    nasc_controller *ctrl;
    nasc_optim *copt;
    double baseline;
    bool have_baseline;
    int val_i;                /* next validation batch for rewards */
    /* ProxylessNAS */
    float lat[NASC_SUPERNET_MAX_OPS]; /* ms per op */
    double lat_ref;           /* expected latency at uniform alpha */
    bool lat_ready;
    const nasc_arch *path;    /* SPOS / ENAS: the architecture of the current weight step */
};

static bool darts_space(const nasc_oneshot *os) { return nasc_os_kind(os->sn) == OS_DARTS; }

/* ---- shared ---- */

static nasc_status need_val(const nasc_oneshot *os, nasc_err *err) {
    if (os->val_fn)
        return NASC_OK;
    return nasc_errorf(err, NASC_ERR_ARG,
                       "%s: scoring candidates needs validation batches (nasc_oneshot_run)",
                       os->mi->name);
}

/* Accuracy (percent) of arch a as a path through the supernet on validation batches
 * first..first+n-1 (cyclic over the available ones). */
static nasc_status score_arch(nasc_oneshot *os, const nasc_arch *a, int first, int n,
                              double *out, nasc_err *err) {
    NASC_TRY(need_val(os, err));
    int64_t correct = 0, seen = 0;
    int avail = -1;
    for (int i = 0; i < n; i++) {
        nasc_oneshot_batch b;
        int idx = first + i;
        if (avail > 0)
            idx %= avail;
        /* the source restarts at batch 0 whenever it is asked for batch 0 */
        bool ok = false;
        for (int j = 0; j <= idx; j++)
            if (!(ok = os->val_fn(os->val_user, j, &b)))
                break;
        if (!ok) {
            /* fewer batches than idx: count them and wrap */
            int k = 0;
            while (os->val_fn(os->val_user, k, &b))
                k++;
            if (k == 0)
                return nasc_errorf(err, NASC_ERR_ARG, "%s: no validation batches",
                                   os->mi->name);
            avail = k;
            idx %= k;
            for (int j = 0; j <= idx; j++)
                os->val_fn(os->val_user, j, &b);
        }
        float loss;
        int c = 0;
        if (b.n > 0) /* data parallel: a rank's share of a short last batch may be empty */
            NASC_TRY(nasc_os_eval_arch(os, a, &b, &loss, &c, err));
        correct += c;
        seen += b.n;
    }
    /* data parallel: the counts of every rank's share, so every rank takes the same decisions
     * (exact in float up to 2^24 images) */
    float sums[2] = {(float)correct, (float)seen};
    NASC_TRY(nasc_os_dp_sum(os, sums, 2, err));
    correct = (int64_t)sums[0];
    seen = (int64_t)sums[1];
    *out = seen ? 100.0 * (double)correct / (double)seen : 0.0;
    return NASC_OK;
}

static void set_best(os_method_state *ms, nasc_arch *a, double score) {
    nasc_arch_free(ms->best);
    ms->best = a;
    ms->best_score = score;
}

/* ---- GDAS ---- */

/* Gumbel(0,1) = -log(-log U), U in (0,1) */
static float gumbel(nasc_rng *r) {
    double u;
    do
        u = nasc_rng_uniform_double(r);
    while (u <= 0.0);
    return (float)-log(-log(u));
}

static nasc_status plan_gdas(nasc_oneshot *os, nasc_supernet_plan *plan, nasc_err *err) {
    nasc_graph *g = os->g;
    nasc_supernet *sn = os->sn;
    const int E = nasc_supernet_n_edges(sn), K = nasc_supernet_n_ops(sn);
    const int k0 = darts_space(os) ? 1 : 0; /* first sampled op: darts skips none */
    const int Kc = K - k0;
    memset(plan, 0, sizeof *plan);
    for (int t = 0; t < nasc_supernet_n_types(sn); t++) {
        nasc_tensor *al = nasc_supernet_alpha(sn, t);
        nasc_tensor *logits =
            k0 ? nasc_slice(g, al, &(nasc_slice_params){k0, K, 0, 0, 1, 1}) : al;
        nasc_tensor *noise = nasc_input(g, E, Kc, 1, 1, NULL);
        if (!noise)
            break;
        for (int i = 0; i < E * Kc; i++)
            noise->data[i] = gumbel(&os->rng);
        nasc_tensor *probs = nasc_softmax(
            g, nasc_scale(g, nasc_add(g, nasc_log_softmax(g, logits), noise), 1.0f / os->tau));
        nasc_tensor *fix = nasc_input(g, E, Kc, 1, 1, NULL);
        if (!probs || !fix)
            break;
        for (int e = 0; e < E; e++) {
            const float *p = probs->data + e * Kc;
            int h = 0;
            for (int k = 1; k < Kc; k++)
                if (p[k] > p[h])
                    h = k;
            for (int k = 0; k < Kc; k++)
                fix->data[e * Kc + k] = (k == h ? 1.0f : 0.0f) - p[k];
            plan->active[t][e] = (uint16_t)(1u << (h + k0));
            plan->straight[t][e] = (uint16_t)((((1u << K) - 1u) & ~1u) & ~(1u << (h + k0)));
        }
        nasc_tensor *hard = nasc_add(g, probs, fix); /* value one-hot, gradient of probs */
        if (k0) {
            nasc_tensor *z = nasc_input(g, E, 1, 1, 1, NULL);
            if (!z)
                break;
            memset(z->data, 0, (size_t)E * sizeof(float));
            nasc_tensor *parts[2] = {z, hard};
            hard = nasc_concat(g, 2, parts);
        }
        plan->weights[t] = hard;
    }
    if (nasc_graph_status(g) != NASC_OK)
        return nasc_os_graph_error(os, err);
    return NASC_OK;
}

static nasc_status gdas_step(nasc_oneshot *os, const nasc_oneshot_batch *train,
                             const nasc_oneshot_batch *val, float lr,
                             nasc_oneshot_step_stats *stats, nasc_err *err) {
    NASC_TRY(nasc_os_weight_step(os, train, lr, plan_gdas, stats, err));
    if (!os->arch_on || !val)
        return NASC_OK;
    nasc_params *ap = nasc_supernet_arch_params(os->sn);
    nasc_params_zero_grad(ap);
    nasc_os_store_train(nasc_supernet_weights(os->sn), os->wgrads, false);
    nasc_tensor *x = nasc_os_begin(os, val, true);
    nasc_supernet_plan plan;
    nasc_status st = plan_gdas(os, &plan, err);
    if (st == NASC_OK) {
        plan.bn_batch_stats_only = true;
        st = nasc_os_finish(os, nasc_supernet_forward(os->sn, os->g, x, &plan), val, true,
                            &stats->arch_loss, NULL, err);
    }
    nasc_os_store_train(nasc_supernet_weights(os->sn), os->wgrads, true);
    if (st == NASC_OK)
        st = nasc_os_dp_arch(os, val, &stats->arch_loss, err);
    if (st == NASC_OK)
        nasc_os_arch_update(os);
    return st;
}

/* ---- path plans (SPOS, ENAS) ---- */

static nasc_status plan_path(nasc_oneshot *os, nasc_supernet_plan *plan, nasc_err *err) {
    return nasc_supernet_plan_arch(os->sn, os->g, os->ms->path, plan, err);
}

static nasc_status path_step(nasc_oneshot *os, const nasc_arch *a, const nasc_oneshot_batch *train,
                             float lr, nasc_oneshot_step_stats *stats, nasc_err *err) {
    os->ms->path = a;
    const nasc_status st = nasc_os_weight_step(os, train, lr, plan_path, stats, err);
    os->ms->path = NULL;
    return st;
}

/* ---- SPOS ---- */

static nasc_status spos_step(nasc_oneshot *os, const nasc_oneshot_batch *train,
                             const nasc_oneshot_batch *val, float lr,
                             nasc_oneshot_step_stats *stats, nasc_err *err) {
    (void)val;
    nasc_arch *a = NULL;
    NASC_TRY(nasc_space_sample(nasc_supernet_space(os->sn), &os->rng, &a, err));
    const nasc_status st = path_step(os, a, train, lr, stats, err);
    nasc_arch_free(a);
    return st;
}

typedef struct cand {
    nasc_arch *a;
    double score;
} cand;

static int cand_cmp(const void *x, const void *y) {
    const cand *a = x, *b = y;
    if (a->score != b->score)
        return a->score < b->score ? 1 : -1;
    const uint64_t ha = nasc_arch_hash(a->a), hb = nasc_arch_hash(b->a);
    return ha < hb ? -1 : ha > hb;
}

static bool in_pop(const cand *pop, int n, const nasc_arch *a) {
    for (int i = 0; i < n; i++)
        if (nasc_arch_equal(pop[i].a, a))
            return true;
    return false;
}

/* Reports the evolution's progress; false: stop. */
static bool evolve_progress(nasc_oneshot *os, int64_t done, int64_t total, double best) {
    return !os->phase_fn || os->phase_fn(os->phase_user, "evolution", done, total, best);
}

/* SPOS's evolutionary search on the trained supernet. */
static nasc_status spos_evolve(nasc_oneshot *os, nasc_err *err) {
    const int P = os->o.evo_population, I = os->o.evo_iterations, nb = os->o.evo_val_batches;
    const int top = P < 10 ? (P + 1) / 2 : 10;
    const nasc_space *sp = nasc_supernet_space(os->sn);
    cand *pop = nasc_calloc((size_t)(3 * P + 1), sizeof *pop);
    if (!pop)
        return nasc_errorf(err, NASC_ERR_NOMEM, "spos: out of memory");
    nasc_status st = NASC_OK;
    int n = 0;
    /* candidates to score: the population, then P children per iteration */
    const int64_t total = (int64_t)P + (int64_t)I * P;
    int64_t scored = 0;
    double best = -INFINITY;
    for (int tries = 0; n < P && tries < 50 * P && st == NASC_OK; tries++) {
        nasc_arch *a = NULL;
        if ((st = nasc_space_sample(sp, &os->rng, &a, err)) != NASC_OK)
            break;
        if (in_pop(pop, n, a)) {
            nasc_arch_free(a);
            continue;
        }
        pop[n].a = a;
        st = score_arch(os, a, 0, nb, &pop[n].score, err);
        n++;
        if (st == NASC_OK) {
            if (pop[n - 1].score > best)
                best = pop[n - 1].score;
            if (!evolve_progress(os, ++scored, total, best))
                st = nasc_errorf(err, NASC_ERR_ABORTED, "spos: evolution stopped after %lld of "
                                 "%lld candidates", (long long)scored, (long long)total);
        }
    }
    for (int it = 0; it < I && st == NASC_OK; it++) {
        qsort(pop, (size_t)n, sizeof *pop, cand_cmp);
        const int parents = n < top ? n : top;
        int m = n;
        for (int c = 0, tries = 0; c < P && tries < 50 * P && st == NASC_OK; tries++) {
            nasc_arch *child = NULL;
            const nasc_arch *p1 = pop[nasc_rng_below(&os->rng, (uint32_t)parents)].a;
            if (c < P / 2) {
                st = nasc_arch_mutate(p1, &os->rng, &child, err);
            } else {
                const nasc_arch *p2 = pop[nasc_rng_below(&os->rng, (uint32_t)parents)].a;
                st = nasc_arch_crossover(p1, p2, &os->rng, &child, err);
            }
            if (st != NASC_OK)
                break;
            if (in_pop(pop, m, child)) {
                nasc_arch_free(child);
                continue;
            }
            pop[m].a = child;
            st = score_arch(os, child, 0, nb, &pop[m].score, err);
            if (st == NASC_OK && pop[m].score > best)
                best = pop[m].score;
            m++;
            c++;
            if (st == NASC_OK && !evolve_progress(os, ++scored, total, best))
                st = nasc_errorf(err, NASC_ERR_ABORTED, "spos: evolution stopped after %lld of "
                                 "%lld candidates", (long long)scored, (long long)total);
        }
        qsort(pop, (size_t)m, sizeof *pop, cand_cmp);
        for (int i = P; i < m; i++) {
            nasc_arch_free(pop[i].a);
            pop[i].a = NULL;
        }
        n = m < P ? m : P;
    }
    if (st == NASC_OK && n > 0) {
        qsort(pop, (size_t)n, sizeof *pop, cand_cmp);
        set_best(os->ms, nasc_arch_clone(pop[0].a), pop[0].score);
        if (!os->ms->best)
            st = nasc_errorf(err, NASC_ERR_NOMEM, "spos: out of memory");
    }
    for (int i = 0; i < 3 * P + 1; i++)
        nasc_arch_free(pop[i].a);
    nasc_free(pop);
    return st;
}

/* The best of n architectures drawn by draw(), each scored on `batches` validation batches. */
typedef nasc_status (*draw_fn)(nasc_oneshot *os, nasc_arch **out, nasc_err *err);

static nasc_status best_of(nasc_oneshot *os, draw_fn draw, int n, int batches, nasc_err *err) {
    for (int i = 0; i < n; i++) {
        nasc_arch *a = NULL;
        NASC_TRY(draw(os, &a, err));
        double s = 0.0;
        const nasc_status st = score_arch(os, a, 0, batches, &s, err);
        if (st != NASC_OK) {
            nasc_arch_free(a);
            return st;
        }
        if (i == 0 || s > os->ms->best_score)
            set_best(os->ms, a, s);
        else
            nasc_arch_free(a);
    }
    return NASC_OK;
}

static nasc_status draw_uniform(nasc_oneshot *os, nasc_arch **out, nasc_err *err) {
    return nasc_space_sample(nasc_supernet_space(os->sn), &os->rng, out, err);
}

/* ---- ENAS ---- */

static nasc_status draw_controller(nasc_oneshot *os, nasc_arch **out, nasc_err *err) {
    int d[64], n = 0;
    NASC_TRY(nasc_controller_sample(os->ms->ctrl, &os->rng, d, &n, NULL, NULL, err));
    return nasc_arch_from_decisions(nasc_supernet_space(os->sn), d, n, out, err);
}

static nasc_status enas_step(nasc_oneshot *os, const nasc_oneshot_batch *train,
                             const nasc_oneshot_batch *val, float lr,
                             nasc_oneshot_step_stats *stats, nasc_err *err) {
    (void)val;
    nasc_arch *a = NULL;
    NASC_TRY(draw_controller(os, &a, err));
    const nasc_status st = path_step(os, a, train, lr, stats, err);
    nasc_arch_free(a);
    return st;
}

/* One REINFORCE step of the controller: loss = sum_t neglogp_t * (R - b) - beta * sum_t H_t. */
static nasc_status enas_controller_step(nasc_oneshot *os, nasc_err *err) {
    os_method_state *ms = os->ms;
    int d[64], n = 0;
    NASC_TRY(nasc_controller_sample(ms->ctrl, &os->rng, d, &n, NULL, NULL, err));
    nasc_arch *a = NULL;
    NASC_TRY(nasc_arch_from_decisions(nasc_supernet_space(os->sn), d, n, &a, err));
    double reward = 0.0;
    nasc_status st = score_arch(os, a, ms->val_i++, 1, &reward, err);
    nasc_arch_free(a);
    if (st != NASC_OK)
        return st;
    reward /= 100.0;
    const double dec = os->o.enas_baseline;
    ms->baseline = ms->have_baseline ? ms->baseline - (1.0 - dec) * (ms->baseline - reward)
                                     : reward;
    ms->have_baseline = true;
    const float adv = (float)(reward - ms->baseline);
    nasc_graph *g = nasc_controller_graph(ms->ctrl);
    nasc_graph_reset(g);
    nasc_params *cp = nasc_controller_params(ms->ctrl);
    nasc_params_zero_grad(cp);
    nasc_controller_out co;
    if (nasc_controller_forward(ms->ctrl, g, d, n, &co) != NASC_OK)
        return nasc_errorf(err, nasc_graph_status(g), "enas: %s", nasc_graph_errmsg(g));
    nasc_tensor *loss = nasc_add(g, nasc_scale(g, nasc_sum(g, co.neglogp), adv),
                                 nasc_scale(g, nasc_sum(g, co.entropy), -os->o.enas_entropy));
    if (!loss || nasc_backward(g, loss) != NASC_OK)
        return nasc_errorf(err, nasc_graph_status(g), "enas: %s", nasc_graph_errmsg(g));
    nasc_optim_step(ms->copt, os->o.arch_lr);
    return NASC_OK;
}

/* ---- ProxylessNAS ---- */

/* Per-op latency from the cost model (see the top of the file). */
static nasc_status measure_latency(nasc_oneshot *os, nasc_err *err) {
    os_method_state *ms = os->ms;
    const int K = nasc_supernet_n_ops(os->sn);
    const nasc_supernet_config *sc = nasc_supernet_get_config(os->sn);
    const nasc_space *sp = nasc_supernet_space(os->sn);
    bool given = false;
    for (int k = 0; k < K; k++)
        given |= os->o.op_latency[k] > 0.0f;
    /* data parallel: timings differ between processes; rank 0's are every rank's */
    const bool measure = !given && nasc_os_dp_rank(os) == 0;
    const int n_dec = nasc_space_n_decisions(sp);
    int n_ops_total; /* ops of the network the decisions describe */
    const int L = sc->cells;
    n_ops_total = darts_space(os) ? 8 * L : 6 * 3 * L;
    double base = 0.0;
    for (int k = 0; k < K && measure; k++) {
        int d[64];
        for (int i = 0; i < n_dec; i++)
            d[i] = darts_space(os) ? (i % 2 == 0 ? k : (i / 2) % 2) : k;
        nasc_arch *a = NULL;
        nasc_model *m = NULL;
        NASC_TRY(nasc_arch_from_decisions(sp, d, n_dec, &a, err));
        nasc_status st = nasc_space_build(a,
                                          &(nasc_net_config){.in_c = sc->in_c, .in_h = sc->in_h,
                                                             .in_w = sc->in_w,
                                                             .n_classes = sc->n_classes,
                                                             .channels = sc->channels,
                                                             .cells = sc->cells},
                                          1, &m, err);
        nasc_arch_free(a);
        nasc_model_cost c;
        if (st == NASC_OK)
            st = nasc_model_cost_measure(m, &(nasc_cost_config){.batch = 1, .repeats = 5,
                                                                .warmup = 1, .threads = 1},
                                         &c, err);
        nasc_model_free(m);
        if (st != NASC_OK)
            return st;
        if (k == 0)
            base = c.latency_ms;
        ms->lat[k] = k == 0 ? 0.0f : (float)fmax(0.0, (c.latency_ms - base) / n_ops_total);
    }
    if (given)
        for (int k = 0; k < K; k++)
            ms->lat[k] = os->o.op_latency[k];
    else
        NASC_TRY(nasc_os_dp_agree(os, ms->lat, sizeof ms->lat, err));
    double mean = 0.0;
    for (int k = 1; k < K; k++)
        mean += (double)ms->lat[k];
    mean /= K - 1;
    ms->lat_ref = mean > 0.0 ? mean : 1.0;
    ms->lat_ready = true;
    return NASC_OK;
}

/* k ~ p over the ops allowed by mask (p need not sum to 1 over them). */
static int sample_op(nasc_rng *r, const float *p, int K, uint32_t mask) {
    double tot = 0.0;
    for (int k = 0; k < K; k++)
        if (mask & (1u << k))
            tot += (double)p[k];
    double u = nasc_rng_uniform_double(r) * tot;
    int last = -1;
    for (int k = 0; k < K; k++) {
        if (!(mask & (1u << k)))
            continue;
        last = k;
        if (u < (double)p[k])
            return k;
        u -= (double)p[k];
    }
    return last;
}

static nasc_status plan_proxyless_one(nasc_oneshot *os, nasc_supernet_plan *plan, nasc_err *err) {
    nasc_supernet *sn = os->sn;
    const int E = nasc_supernet_n_edges(sn), K = nasc_supernet_n_ops(sn);
    const uint32_t allowed = (uint32_t)((1u << K) - 1u) & (darts_space(os) ? ~1u : ~0u);
    memset(plan, 0, sizeof *plan);
    for (int t = 0; t < nasc_supernet_n_types(sn); t++) {
        nasc_tensor *w = nasc_input(os->g, E, K, 1, 1, NULL);
        if (!w)
            return nasc_os_graph_error(os, err);
        memset(w->data, 0, (size_t)E * (size_t)K * sizeof(float));
        float p[NASC_SUPERNET_MAX_EDGES * NASC_SUPERNET_MAX_OPS];
        nasc_supernet_probs(sn, t, p, NULL);
        for (int e = 0; e < E; e++) {
            const int k = sample_op(&os->rng, p + e * K, K, allowed);
            w->data[e * K + k] = 1.0f;
            plan->active[t][e] = (uint16_t)(1u << k);
        }
        plan->weights[t] = w;
    }
    return NASC_OK;
}

static nasc_status proxyless_step(nasc_oneshot *os, const nasc_oneshot_batch *train,
                                  const nasc_oneshot_batch *val, float lr,
                                  nasc_oneshot_step_stats *stats, nasc_err *err) {
    os_method_state *ms = os->ms;
    nasc_supernet *sn = os->sn;
    const int E = nasc_supernet_n_edges(sn), K = nasc_supernet_n_ops(sn);
    const int T = nasc_supernet_n_types(sn);
    if (os->arch_on && val) {
        if (!ms->lat_ready)
            NASC_TRY(measure_latency(os, err));
        /* two paths per edge, binary gates */
        const uint32_t allowed = (uint32_t)((1u << K) - 1u) & (darts_space(os) ? ~1u : ~0u);
        int pair[2][NASC_SUPERNET_MAX_EDGES][2];
        float pp[2][NASC_SUPERNET_MAX_EDGES][2];
        nasc_params *ap = nasc_supernet_arch_params(sn);
        nasc_os_store_train(nasc_supernet_weights(sn), os->wgrads, false);
        nasc_os_store_train(ap, os->agrads, false);
        nasc_tensor *x = nasc_os_begin(os, val, true);
        nasc_supernet_plan plan;
        memset(&plan, 0, sizeof plan);
        nasc_tensor *gates[2] = {NULL, NULL};
        for (int t = 0; t < T; t++) {
            float p[NASC_SUPERNET_MAX_EDGES * NASC_SUPERNET_MAX_OPS];
            nasc_supernet_probs(sn, t, p, NULL);
            const float *al = nasc_supernet_alpha(sn, t)->data;
            gates[t] = nasc_input(os->g, E, K, 1, 1, NULL);
            if (!gates[t])
                break;
            memset(gates[t]->data, 0, (size_t)E * (size_t)K * sizeof(float));
            for (int e = 0; e < E; e++) {
                const int a = sample_op(&os->rng, p + e * K, K, allowed);
                const int b = sample_op(&os->rng, p + e * K, K, allowed & ~(1u << a));
                const float two[2] = {al[e * K + a], al[e * K + b]};
                float q[2];
                nasc_os_softmax(two, 2, q);
                const int on = nasc_rng_uniform(&os->rng) < q[0] ? 0 : 1;
                pair[t][e][0] = a;
                pair[t][e][1] = b;
                pp[t][e][0] = q[0];
                pp[t][e][1] = q[1];
                gates[t]->data[e * K + (on ? b : a)] = 1.0f;
                plan.active[t][e] = (uint16_t)((1u << a) | (1u << b));
            }
            nasc_tensor_set_requires_grad(gates[t], true);
            plan.weights[t] = gates[t];
        }
        plan.bn_batch_stats_only = true;
        nasc_status st = nasc_os_finish(os, nasc_supernet_forward(sn, os->g, x, &plan), val, true,
                                        &stats->arch_loss, NULL, err);
        nasc_os_store_train(nasc_supernet_weights(sn), os->wgrads, true);
        nasc_os_store_train(ap, os->agrads, true);
        if (st != NASC_OK)
            return st;
        nasc_params_zero_grad(ap);
        /* the binary-gate estimator from this rank's share, averaged over the ranks; then the
         * latency term, which is the same on every rank */
        for (int t = 0; t < T; t++) {
            nasc_tensor *al = nasc_supernet_alpha(sn, t);
            const float *dg = gates[t]->grad;
            for (int e = 0; e < E; e++)
                for (int i = 0; i < 2 && dg; i++) {
                    double s = 0.0;
                    for (int j = 0; j < 2; j++)
                        s += (double)dg[e * K + pair[t][e][j]] * (double)pp[t][e][j] *
                             ((i == j ? 1.0 : 0.0) - (double)pp[t][e][i]);
                    al->grad[e * K + pair[t][e][i]] += (float)s;
                }
        }
        NASC_TRY(nasc_os_dp_arch(os, val, &stats->arch_loss, err));
        for (int t = 0; t < T; t++) {
            nasc_tensor *al = nasc_supernet_alpha(sn, t);
            float p[NASC_SUPERNET_MAX_EDGES * NASC_SUPERNET_MAX_OPS];
            nasc_supernet_probs(sn, t, p, NULL);
            /* cells of this type, for the latency term */
            int n_cells = 0;
            const int L = nasc_supernet_get_config(sn)->cells;
            if (darts_space(os))
                n_cells = t == 1 ? 2 : L - 2;
            else
                n_cells = 3 * L;
            for (int e = 0; e < E; e++) {
                double expect = 0.0;
                for (int k = 0; k < K; k++)
                    expect += (double)p[e * K + k] * (double)ms->lat[k];
                const double scale =
                    (double)os->o.latency_weight * n_cells / (ms->lat_ref * E);
                for (int k = 0; k < K; k++)
                    al->grad[e * K + k] +=
                        (float)(scale * (double)p[e * K + k] * ((double)ms->lat[k] - expect));
            }
        }
        nasc_os_arch_update(os);
    }
    return nasc_os_weight_step(os, train, lr, plan_proxyless_one, stats, err);
}

/* ---- the methods' rows ---- */

static nasc_status sample_init(nasc_oneshot *os, nasc_err *err) {
    os->ms = nasc_calloc(1, sizeof *os->ms);
    if (!os->ms)
        return nasc_errorf(err, NASC_ERR_NOMEM, "oneshot: out of memory");
    return NASC_OK;
}

static nasc_status enas_init(nasc_oneshot *os, nasc_err *err) {
    NASC_TRY(sample_init(os, err));
    NASC_TRY(nasc_controller_new(nasc_supernet_space(os->sn),
                                 &(nasc_controller_config){.hidden = 64, .temperature = 5.0f,
                                                           .tanh_c = 2.5f},
                                 os->seed ^ 0xe4a5, &os->ms->ctrl, err));
    return nasc_optim_new(nasc_controller_params(os->ms->ctrl),
                          &(nasc_optim_config){.kind = NASC_OPTIM_ADAM, .beta1 = 0.9f},
                          &os->ms->copt, err);
}

void nasc_os_method_free(nasc_oneshot *os) {
    if (!os->ms)
        return;
    nasc_arch_free(os->ms->best);
    nasc_optim_free(os->ms->copt);
    nasc_controller_free(os->ms->ctrl);
    nasc_free(os->ms);
    os->ms = NULL;
}

/* SPOS scores a few uniform paths after each epoch; after the last, runs its evolution. */
static nasc_status spos_epoch_end(nasc_oneshot *os, bool last, nasc_err *err) {
    return last ? spos_evolve(os, err) : best_of(os, draw_uniform, 5, 1, err);
}

/* ENAS trains its controller, then picks the epoch's architecture among its samples. */
static nasc_status enas_epoch_end(nasc_oneshot *os, bool last, nasc_err *err) {
    for (int i = 0; i < os->o.enas_samples; i++)
        NASC_TRY(enas_controller_step(os, err));
    return best_of(os, draw_controller, last ? 10 : 5, last ? os->o.evo_val_batches : 1, err);
}

/* The best architecture scored so far (SPOS, ENAS). */
static nasc_status derive_best(nasc_oneshot *os, nasc_arch **out, nasc_err *err) {
    if (os->ms && os->ms->best) {
        *out = nasc_arch_clone(os->ms->best);
        return *out ? NASC_OK : nasc_errorf(err, NASC_ERR_NOMEM, "oneshot: out of memory");
    }
    /* before the first epoch's end: a fixed, valid stand-in */
    if (os->ms && os->ms->ctrl) {
        nasc_rng r;
        nasc_rng_init(&r, os->seed, NASC_STREAM_STRATEGY + 8);
        int d[64], n = 0;
        NASC_TRY(nasc_controller_sample(os->ms->ctrl, &r, d, &n, NULL, NULL, err));
        return nasc_arch_from_decisions(nasc_supernet_space(os->sn), d, n, out, err);
    }
    return nasc_supernet_derive(os->sn, NULL, NULL, out, err);
}

const nasc_os_method nasc_os_gdas_m = {.name = "gdas",
                                       .has_alpha = true,
                                       .partial = -1,
                                       .step = gdas_step,
                                       .derive = nasc_os_derive_alpha,
                                       .init = sample_init};
const nasc_os_method nasc_os_spos_m = {.name = "spos",
                                       .partial = -1,
                                       .step = spos_step,
                                       .epoch_end = spos_epoch_end,
                                       .derive = derive_best,
                                       .init = sample_init};
const nasc_os_method nasc_os_enas_m = {.name = "enas",
                                       .partial = -1,
                                       .step = enas_step,
                                       .epoch_end = enas_epoch_end,
                                       .derive = derive_best,
                                       .init = enas_init};
const nasc_os_method nasc_os_proxyless_m = {.name = "proxyless",
                                            .has_alpha = true,
                                            .partial = -1,
                                            .step = proxyless_step,
                                            .derive = nasc_os_derive_alpha,
                                            .init = sample_init};

/* ---- checkpoint state ---- */

void nasc_os_method_save(const nasc_oneshot *os, nasc_buf *b) {
    const os_method_state *ms = os->ms;
    nasc_buf_put_u64(b, ms ? 1 : 0);
    if (!ms)
        return;
    int d[64], n = 0;
    if (ms->best)
        nasc_arch_to_decisions(ms->best, d, &n);
    nasc_buf_put_u64(b, (uint64_t)n);
    nasc_buf_put(b, d, (size_t)n * sizeof(int));
    nasc_buf_put_f64(b, ms->best_score);
    nasc_buf_put_f64(b, ms->baseline);
    nasc_buf_put_u64(b, ms->have_baseline);
    nasc_buf_put_u64(b, (uint64_t)ms->val_i);
    nasc_buf_put_u64(b, ms->lat_ready);
    nasc_buf_put_f32s(b, ms->lat, NASC_SUPERNET_MAX_OPS);
    nasc_buf_put_f64(b, ms->lat_ref);
    if (ms->ctrl) {
        nasc_params *cp = nasc_controller_params(ms->ctrl);
        const size_t nc = nasc_params_flat_len(cp);
        nasc_buf_put_u64(b, nc);
        nasc_buf_put_f32s(b, nasc_params_data(cp), nc);
        size_t ns = 0;
        const float *st = nasc_optim_state(ms->copt, &ns);
        nasc_buf_put_u64(b, (uint64_t)nasc_optim_steps(ms->copt));
        nasc_buf_put_u64(b, ns);
        nasc_buf_put_f32s(b, st, ns);
    }
}

nasc_status nasc_os_method_load(nasc_oneshot *os, nasc_reader *b, const char *path, nasc_err *err) {
    os_method_state *ms = os->ms;
    if (nasc_read_u64(b) != (ms ? 1u : 0u) || b->bad)
        return nasc_errorf(err, NASC_ERR_FORMAT, "%s: bad method state", path);
    if (!ms)
        return NASC_OK;
    const uint64_t n = nasc_read_u64(b);
    int d[64];
    if (n > 64)
        return nasc_errorf(err, NASC_ERR_FORMAT, "%s: bad method state", path);
    nasc_read(b, d, (size_t)n * sizeof(int));
    nasc_arch_free(ms->best);
    ms->best = NULL;
    if (n && !b->bad)
        NASC_TRY(nasc_arch_from_decisions(nasc_supernet_space(os->sn), d, (int)n, &ms->best, err));
    ms->best_score = nasc_read_f64(b);
    ms->baseline = nasc_read_f64(b);
    ms->have_baseline = nasc_read_u64(b) != 0;
    ms->val_i = (int)nasc_read_u64(b);
    ms->lat_ready = nasc_read_u64(b) != 0;
    nasc_read_f32s(b, ms->lat, NASC_SUPERNET_MAX_OPS);
    ms->lat_ref = nasc_read_f64(b);
    if (ms->ctrl) {
        nasc_params *cp = nasc_controller_params(ms->ctrl);
        const size_t nc = nasc_params_flat_len(cp);
        if (nasc_read_u64(b) != nc)
            return nasc_errorf(err, NASC_ERR_FORMAT, "%s: controller state does not match", path);
        nasc_read_f32s(b, nasc_params_data(cp), nc);
        const int64_t steps = (int64_t)nasc_read_u64(b);
        size_t ns = 0;
        float *st = nasc_optim_state(ms->copt, &ns);
        if (nasc_read_u64(b) != ns)
            return nasc_errorf(err, NASC_ERR_FORMAT, "%s: controller state does not match", path);
        nasc_read_f32s(b, st, ns);
        nasc_optim_set_steps(ms->copt, steps);
    }
    if (b->bad)
        return nasc_errorf(err, NASC_ERR_FORMAT, "%s: truncated method state", path);
    return NASC_OK;
}

void nasc_os_set_phase_progress(nasc_oneshot *os, nasc_os_phase_fn fn, void *user) {
    os->phase_fn = fn;
    os->phase_user = user;
}

void nasc_os_set_val_source(nasc_oneshot *os, nasc_os_val_fn fn, void *user) {
    os->val_fn = fn;
    os->val_user = user;
}
