/* cost.c — parameters, multiply-adds, activation memory and latency of a network (cost.h).
 *
 * MACs and memory come from one recorded forward pass at batch 1 in inference mode: the input is
 * marked as requiring a gradient so that every op is recorded, then the node list (creation
 * order) is walked. Latency is timed separately with gradients off. */
#include "nasc/limits.h"
#include "nasc/cost.h"

#include "nasc/arena.h"
#include "nasc/backend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static bool is_activation(const nasc_tensor *t) {
    return t && !(t->flags & (NASC_TENSOR_PARAM | NASC_TENSOR_BUFFER)) && t->id >= 0;
}

static size_t act_bytes(const nasc_tensor *t) {
    return (t->flags & NASC_TENSOR_VIEW) ? 0 : (size_t)nasc_tensor_nelem(t) * sizeof(float);
}

/* Fills macs, other_ops, memory and n_nodes from the nodes recorded on g; x is the input. */
static nasc_status walk_nodes(nasc_graph *g, const nasc_tensor *x, const nasc_tensor *y,
                              nasc_model_cost *c, nasc_err *err) {
    const int n = nasc_graph_n_nodes(g);
    c->n_nodes = n;
    nasc_tensor **nodes = nasc_malloc((size_t)(n > 0 ? n : 1) * sizeof *nodes);
    int max_id = x->id;
    int k = n;
    for (nasc_tensor *t = nasc_graph_last_node(g); t && k > 0; t = t->prev) {
        nodes[--k] = t;
        if (t->id > max_id)
            max_id = t->id;
    }
    int *last = nodes ? nasc_malloc((size_t)(max_id + 1) * sizeof *last) : NULL;
    if (!nodes || !last || k != 0) {
        nasc_free(nodes);
        nasc_free(last);
        return nasc_errorf(err, k ? NASC_ERR_INTERNAL : NASC_ERR_NOMEM,
                           "cost: cannot walk the forward graph");
    }
    for (int i = 0; i <= max_id; i++)
        last[i] = -1;
    double macs = 0.0, other = 0.0;
    for (int i = 0; i < n; i++) {
        const nasc_tensor *t = nodes[i];
        for (int s = 0; s < t->n_src; s++)
            if (is_activation(t->src[s]) && t->src[s]->id <= max_id)
                last[t->src[s]->id] = i;
        const double out = (double)nasc_tensor_nelem(t);
        if (t->op == NASC_OP_CONV2D) {
            const nasc_tensor *w = t->src[1]; /* (K, C/G, KH, KW) */
            macs += out * w->ne[1] * w->ne[2] * w->ne[3];
        } else if (t->op == NASC_OP_LINEAR) {
            macs += out * t->src[1]->ne[1]; /* (N, K) outputs x F */
        } else if (t->op != NASC_OP_RESHAPE) {
            other += out;
        }
    }
    if (y && y->id >= 0 && y->id <= max_id)
        last[y->id] = n; /* the output lives to the end */
    /* views keep their source alive as long as they are used */
    for (int i = n - 1; i >= 0; i--) {
        const nasc_tensor *t = nodes[i];
        if ((t->flags & NASC_TENSOR_VIEW) && t->n_src > 0 && is_activation(t->src[0]) &&
            last[t->id] > last[t->src[0]->id])
            last[t->src[0]->id] = last[t->id];
    }
    size_t live = act_bytes(x), peak = live, total = live;
    if (last[x->id] < 0)
        live -= act_bytes(x);
    for (int i = 0; i < n; i++) {
        const nasc_tensor *t = nodes[i];
        live += act_bytes(t);
        total += act_bytes(t);
        if (live > peak)
            peak = live;
        if (last[t->id] < 0) /* never read: dead at once */
            live -= act_bytes(t);
        for (int s = 0; s < t->n_src; s++) {
            const nasc_tensor *src = t->src[s];
            if (!is_activation(src) || last[src->id] != i)
                continue;
            bool dup = false; /* the same tensor twice among the sources */
            for (int q = 0; q < s; q++)
                dup = dup || t->src[q] == src;
            if (!dup)
                live -= act_bytes(src);
        }
    }
    c->macs = macs;
    c->other_ops = other;
    c->memory_bytes = peak;
    c->train_activation_bytes = total;
    nasc_free(nodes);
    nasc_free(last);
    return NASC_OK;
}

nasc_status nasc_model_cost_measure(nasc_model *m, const nasc_cost_config *cfg,
                                    nasc_model_cost *out, nasc_err *err) {
    nasc_cost_config cc = cfg ? *cfg : (nasc_cost_config){0};
    if (!cc.batch)
        cc.batch = 32;
    if (!cc.repeats)
        cc.repeats = 10;
    if (!cc.warmup)
        cc.warmup = 2;
    if (!cc.backend)
        cc.backend = "cpu";
    if (!cc.threads)
        cc.threads = 1;
    if (cc.batch < 1 || cc.warmup < 0 || cc.threads < 1 || cc.batch > NASC_MAX_BATCH ||
        cc.threads > NASC_MAX_THREADS)
        return nasc_errorf(err, NASC_ERR_ARG,
                           "cost: batch must be in [1, %d] (%d), threads in [1, %d] (%d)",
                           NASC_MAX_BATCH, cc.batch, NASC_MAX_THREADS, cc.threads);
    memset(out, 0, sizeof *out);
    out->params = nasc_params_count(m->params);
    out->param_bytes = out->params * sizeof(float);
    out->batch = cc.batch;
    out->latency_ms = out->latency_batch_ms = NAN;

    nasc_backend *be = nasc_backend_new(cc.backend, cc.threads, err);
    if (!be)
        return err ? err->code : NASC_ERR_ARG;
    nasc_graph *g = nasc_graph_new(be, 0, err);
    const size_t in_n = (size_t)m->in_c * (size_t)m->in_h * (size_t)m->in_w;
    /* the batch-B input only when latency is measured (repeats >= 0) */
    const size_t x_batch = cc.repeats < 0 ? 1 : (size_t)cc.batch;
    float *x_data = nasc_malloc(x_batch * in_n * sizeof(float));
    double *times = nasc_malloc((size_t)(cc.repeats > 0 ? cc.repeats : 1) * sizeof(double));
    nasc_status st = NASC_OK;
    if (!g || !x_data || !times) {
        st = g ? nasc_errorf(err, NASC_ERR_NOMEM, "cost: out of memory") : err->code;
        goto done;
    }
    nasc_rng rng;
    nasc_rng_init(&rng, 1, NASC_STREAM_USER);
    for (size_t i = 0; i < x_batch * in_n; i++)
        x_data[i] = nasc_rng_normal(&rng);

    /* 1. one recorded pass at batch 1: MACs and memory */
    nasc_graph_set_training(g, false);
    nasc_graph_set_grad(g, true);
    nasc_graph_reset(g);
    nasc_tensor *x = nasc_input(g, 1, m->in_c, m->in_h, m->in_w, x_data);
    if (x)
        nasc_tensor_set_requires_grad(x, true);
    nasc_tensor *y = nasc_model_forward(m, g, x, NULL);
    if (nasc_graph_status(g) != NASC_OK || !y) {
        st = nasc_errorf(err, nasc_graph_status(g) ? nasc_graph_status(g) : NASC_ERR_INTERNAL,
                         "cost: %s", nasc_graph_errmsg(g));
        goto done;
    }
    st = walk_nodes(g, x, y, out, err);
    if (st != NASC_OK || cc.repeats < 0)
        goto done;
    /* the batch-B pass holds B times the batch-1 peak: refuse it if the machine cannot */
    if ((st = nasc_limit_check_bytes(err, "cost: the latency pass at this batch",
                                     (uint64_t)cc.batch * (uint64_t)out->memory_bytes)) != NASC_OK)
        goto done;

    /* 2. latency at batch 1 and batch B, gradients off */
    nasc_graph_set_grad(g, false);
    for (int b = 0; b < 2; b++) {
        const int n = b ? cc.batch : 1;
        for (int r = 0; r < cc.warmup + cc.repeats; r++) {
            nasc_graph_reset(g);
            const double t0 = now_ms();
            nasc_tensor *xi = nasc_input(g, n, m->in_c, m->in_h, m->in_w, x_data);
            nasc_model_forward(m, g, xi, NULL);
            if (be->iface->sync)
                be->iface->sync(be);
            const double t1 = now_ms();
            if (nasc_graph_status(g) != NASC_OK) {
                st = nasc_errorf(err, nasc_graph_status(g), "cost: %s", nasc_graph_errmsg(g));
                goto done;
            }
            if (r >= cc.warmup)
                times[r - cc.warmup] = t1 - t0;
        }
        qsort(times, (size_t)cc.repeats, sizeof *times, cmp_double);
        const double med = cc.repeats % 2 ? times[cc.repeats / 2]
                                          : 0.5 * (times[cc.repeats / 2 - 1] +
                                                   times[cc.repeats / 2]);
        if (b)
            out->latency_batch_ms = med;
        else
            out->latency_ms = med;
    }
done:
    nasc_free(times);
    nasc_free(x_data);
    nasc_graph_free(g);
    nasc_backend_free(be);
    return st;
}
