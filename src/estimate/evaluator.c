/* evaluator.c — the evaluator wrapper, trial results and the median stopping rule. */
#include "nasc/arena.h"
#include "nasc/cost.h"
#include "nasc/estimate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const trial_status_names[] = {"pending", "running", "ok", "failed"};
_Static_assert(sizeof trial_status_names / sizeof trial_status_names[0] == NASC_TRIAL_STATUS_COUNT,
               "one name per trial status");

const char *nasc_trial_status_str(nasc_trial_status st) {
    if ((unsigned)st >= (unsigned)NASC_TRIAL_STATUS_COUNT)
        return "unknown";
    return trial_status_names[st];
}

bool nasc_trial_status_parse(const char *s, nasc_trial_status *out) {
    for (int i = 0; i < NASC_TRIAL_STATUS_COUNT; i++)
        if (s && !strcmp(s, trial_status_names[i])) {
            *out = (nasc_trial_status)i;
            return true;
        }
    return false;
}

void nasc_cost_unknown(nasc_cost *c) {
    c->params = c->flops = c->latency_ms = c->memory_bytes = (double)NAN;
}

void nasc_trial_result_init(nasc_trial_result *r) {
    memset(r, 0, sizeof *r);
    r->status = NASC_TRIAL_FAILED;
    r->score = (double)NAN;
    for (int i = 0; i < NASC_MAX_OBJECTIVES; i++)
        r->objectives[i] = (double)NAN;
    nasc_cost_unknown(&r->cost);
    r->fidelity = (double)NAN;
    r->train_loss = (double)NAN;
    r->seconds = (double)NAN;
    r->test_score = (double)NAN;
    r->sim_seconds = (double)NAN;
}

void nasc_trial_result_fail(nasc_trial_result *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->reason, sizeof r->reason, fmt, ap);
    va_end(ap);
    r->status = NASC_TRIAL_FAILED;
    r->score = (double)NAN;
}

/* The median stopping rule compares a trial's best value so far with the running averages of the
 * finished trials at the same epoch (Vizier's definition). */
bool nasc_median_should_stop(const nasc_curve_history *h, const float *curve, int n_curve,
                             int grace, int min_trials) {
    if (!h || n_curve <= 0 || n_curve - 1 < grace)
        return false;
    int e = n_curve - 1;
    float best = curve[0];
    for (int i = 1; i < n_curve; i++)
        if (curve[i] > best || isnan(best))
            best = curve[i];
    double *avg = nasc_malloc(sizeof(double) * (size_t)(h->n_trials > 0 ? h->n_trials : 1));
    if (!avg)
        return false;
    int m = 0;
    for (int t = 0; t < h->n_trials; t++) {
        if (h->n[t] <= e)
            continue;
        double s = 0.0;
        for (int i = 0; i <= e; i++)
            s += (double)h->curves[t][i];
        if (isfinite(s))
            avg[m++] = s / (e + 1);
    }
    bool stop = false;
    if (m >= min_trials && m > 0) {
        /* insertion sort: histories are short */
        for (int i = 1; i < m; i++) {
            double v = avg[i];
            int j = i - 1;
            while (j >= 0 && avg[j] > v) {
                avg[j + 1] = avg[j];
                j--;
            }
            avg[j + 1] = v;
        }
        double med = (m & 1) ? avg[m / 2] : 0.5 * (avg[m / 2 - 1] + avg[m / 2]);
        stop = !((double)best >= med); /* NaN best stops too */
    }
    nasc_free(avg);
    return stop;
}

nasc_evaluator *nasc_evaluator_new(const nasc_evaluator_i *iface, void *impl,
                                   const nasc_space *space) {
    nasc_evaluator *ev = nasc_calloc(1, sizeof *ev);
    if (!ev) {
        if (iface->free_impl)
            iface->free_impl(impl);
        return NULL;
    }
    ev->iface = iface;
    ev->impl = impl;
    ev->space = space;
    ev->max_fidelity = 1.0;
    snprintf(ev->desc, sizeof ev->desc, "%s", iface->kind);
    return ev;
}

void nasc_evaluator_free(nasc_evaluator *ev) {
    if (!ev)
        return;
    if (ev->iface->free_impl)
        ev->iface->free_impl(ev->impl);
    nasc_free(ev);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Params, multiply-adds and activation memory of req->arch's network (and latency if asked). */
static void measure_cost(nasc_evaluator *ev, const nasc_eval_request *req, nasc_trial_result *out) {
    nasc_model *m = NULL;
    nasc_err err = {0};
    if (nasc_space_build(req->arch, &ev->cost_net, req->seed, &m, &err) != NASC_OK)
        return;
    const nasc_cost_config cc = {
        .repeats = ev->cost_latency_repeats > 0 ? ev->cost_latency_repeats : -1, .threads = 1};
    nasc_model_cost c;
    if (nasc_model_cost_measure(m, &cc, &c, &err) == NASC_OK) {
        out->cost.params = (double)c.params;
        out->cost.flops = c.macs;
        out->cost.memory_bytes = (double)c.memory_bytes;
        if (ev->cost_latency_repeats > 0)
            out->cost.latency_ms = c.latency_ms;
    }
    nasc_model_free(m);
}

nasc_status nasc_evaluator_evaluate(nasc_evaluator *ev, const nasc_eval_request *req,
                                    nasc_trial_result *out, nasc_err *err) {
    nasc_trial_result_init(out);
    double t0 = now_s();
    /* constraints on the cost are checked before anything is trained */
    const bool pre = ev->want_cost && ev->precheck;
    if (pre) {
        measure_cost(ev, req, out);
        char why[sizeof out->reason];
        why[0] = '\0';
        if (!ev->precheck(out, ev->precheck_user, why, sizeof why)) {
            nasc_trial_result_fail(out, "%s (checked before training)", why);
            out->seconds = now_s() - t0;
            if (isnan(out->fidelity))
                out->fidelity = req->fidelity > 0 ? req->fidelity : ev->max_fidelity;
            return NASC_OK;
        }
    }
    const nasc_cost pre_cost = out->cost;
    nasc_err local = {0};
    nasc_status st = ev->iface->evaluate(ev, req, out, &local);
    out->seconds = now_s() - t0;
    if (st != NASC_OK) {
        nasc_trial_result_fail(out, "%s", local.msg[0] ? local.msg : nasc_status_str(st));
        if (err)
            *err = local;
        return st;
    }
    if (out->status == NASC_TRIAL_OK && !isfinite(out->score))
        nasc_trial_result_fail(out, "score is %s", isnan(out->score) ? "nan" : "inf");
    if (out->status == NASC_TRIAL_OK && out->n_objectives > 0)
        out->objectives[0] = out->score;
    if (isnan(out->fidelity))
        out->fidelity = req->fidelity > 0 ? req->fidelity : ev->max_fidelity;
    if (pre)
        out->cost = pre_cost;
    else if (ev->want_cost && out->status == NASC_TRIAL_OK)
        measure_cost(ev, req, out);
    return NASC_OK;
}

void nasc_evaluator_set_precheck(nasc_evaluator *ev,
                                 bool (*fn)(const nasc_trial_result *r, void *user, char *why,
                                            size_t why_n),
                                 void *user) {
    ev->precheck = fn;
    ev->precheck_user = user;
}

void nasc_evaluator_set_cost(nasc_evaluator *ev, const nasc_net_config *net, int latency_repeats) {
    ev->want_cost = true;
    ev->cost_net = *net;
    ev->cost_latency_repeats = latency_repeats;
}
