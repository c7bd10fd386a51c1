/* show.c — the logic of `nasc show`: build the network of an architecture, measure its cost and
 * render structure, cost and the Graphviz drawing as text, JSON or DOT (cost.h). */
#include "nasc/cost.h"

#include "core/buf.h"
#include "nasc/arena.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *human(double v, char *out, size_t n) {
    if (v >= 1e9)
        snprintf(out, n, "%.2f G", v / 1e9);
    else if (v >= 1e6)
        snprintf(out, n, "%.2f M", v / 1e6);
    else if (v >= 1e3)
        snprintf(out, n, "%.2f K", v / 1e3);
    else
        snprintf(out, n, "%.0f ", v); /* "<number> <prefix>" or "<number> " */
    return out;
}

static char *render_text(const nasc_arch *a, const nasc_model *m, const nasc_net_config *net,
                         const nasc_model_cost *c, const nasc_cost_config *cc) {
    nasc_buf b = {0};
    char *desc = nasc_arch_describe(a), *dot = nasc_arch_to_dot(a);
    char h1[32], h3[32], h4[32];
    nasc_buf_printf(&b, "space:   %s\narch:    %s\n\n%s\n", m->space, m->arch, desc ? desc : "");
    nasc_buf_printf(&b, "network: input %dx%dx%d, %d classes", m->in_c, m->in_h, m->in_w, m->n_classes);
    if (net && net->channels)
        nasc_buf_printf(&b, ", channels %d", net->channels);
    if (net && net->cells)
        nasc_buf_printf(&b, ", cells %d", net->cells);
    if (net && net->auxiliary)
        nasc_buf_printf(&b, ", auxiliary head");
    nasc_buf_printf(&b, "\n\ncost:\n");
    nasc_buf_printf(&b, "  params        %zu (%sB of float32)\n", c->params,
            human((double)c->param_bytes, h1, sizeof h1));
    nasc_buf_printf(&b, "  flops         %.0f (%.3f M multiply-adds of conv and linear layers, batch 1)\n",
            c->macs, c->macs / 1e6);
    nasc_buf_printf(&b, "  memory_bytes  %zu (%sB peak activations, inference, batch 1; training keeps "
                "%sB)\n",
            c->memory_bytes, human((double)c->memory_bytes, h3, sizeof h3),
            human((double)c->train_activation_bytes, h4, sizeof h4));
    if (isnan(c->latency_ms))
        nasc_buf_printf(&b, "  latency_ms    not measured\n");
    else
        nasc_buf_printf(&b, "  latency_ms    %.3f (batch 1), %.3f (batch %d); median of %d passes, "
                    "backend %s, %d thread%s\n",
                c->latency_ms, c->latency_batch_ms, c->batch, cc->repeats, cc->backend,
                cc->threads, cc->threads == 1 ? "" : "s");
    nasc_buf_printf(&b, "\ngraphviz:\n%s", dot ? dot : "");
    nasc_free(desc);
    nasc_free(dot);
    if (!desc || !dot)
        b.oom = true;
    return nasc_buf_take_str(&b);
}

static char *render_json(const nasc_arch *a, const nasc_model *m, const nasc_net_config *net,
                         const nasc_model_cost *c, const nasc_cost_config *cc) {
    char *aj = nasc_arch_to_json(a), *dot = nasc_arch_to_dot(a), *r = NULL;
    cJSON *o = aj ? cJSON_Parse(aj) : NULL;
    cJSON *nw = cJSON_CreateObject();
    if (o && nw && dot) {
        const int shape[3] = {m->in_c, m->in_h, m->in_w};
        cJSON_AddItemToObject(nw, "input", cJSON_CreateIntArray(shape, 3));
        cJSON_AddNumberToObject(nw, "classes", m->n_classes);
        cJSON_AddNumberToObject(nw, "channels", net ? net->channels : 0);
        cJSON_AddNumberToObject(nw, "cells", net ? net->cells : 0);
        cJSON_AddBoolToObject(nw, "auxiliary", net && net->auxiliary);
        cJSON_AddItemToObject(o, "network", nw);
        nw = NULL;
        cJSON_AddNumberToObject(o, "params", (double)c->params);
        cJSON_AddNumberToObject(o, "flops", c->macs);
        cJSON_AddNumberToObject(o, "macs", c->macs);
        cJSON_AddNumberToObject(o, "other_ops", c->other_ops);
        cJSON_AddNumberToObject(o, "memory_bytes", (double)c->memory_bytes);
        cJSON_AddNumberToObject(o, "train_activation_bytes", (double)c->train_activation_bytes);
        if (isnan(c->latency_ms)) {
            cJSON_AddNullToObject(o, "latency_ms");
            cJSON_AddNullToObject(o, "latency_batch_ms");
        } else {
            cJSON_AddNumberToObject(o, "latency_ms", c->latency_ms);
            cJSON_AddNumberToObject(o, "latency_batch_ms", c->latency_batch_ms);
        }
        cJSON_AddNumberToObject(o, "batch", c->batch);
        cJSON_AddStringToObject(o, "backend", cc->backend);
        cJSON_AddNumberToObject(o, "threads", cc->threads);
        cJSON_AddStringToObject(o, "dot", dot);
        char *p = cJSON_PrintUnformatted(o);
        if (p) {
            size_t n = strlen(p);
            r = nasc_malloc(n + 2);
            if (r) {
                memcpy(r, p, n);
                r[n] = '\n';
                r[n + 1] = '\0';
            }
            cJSON_free(p);
        }
    }
    cJSON_Delete(nw);
    cJSON_Delete(o);
    nasc_free(aj);
    nasc_free(dot);
    return r;
}

nasc_status nasc_show(const nasc_arch *a, const nasc_net_config *net, const nasc_cost_config *cc,
                      nasc_show_format fmt, char **out, nasc_err *err) {
    *out = NULL;
    if ((unsigned)fmt >= (unsigned)NASC_SHOW_COUNT)
        return nasc_errorf(err, NASC_ERR_ARG, "show: unknown format %d", (int)fmt);
    /* Report the network actually built: the space's defaults fill what the caller left 0. */
    nasc_net_config eff = net ? *net : (nasc_net_config){0};
    nasc_space_net_defaults(nasc_arch_space(a), &eff);
    net = &eff;
    nasc_model *m = NULL;
    NASC_TRY(nasc_space_build(a, net, 0, &m, err));
    if (fmt == NASC_SHOW_DOT) {
        *out = nasc_arch_to_dot(a);
        nasc_model_free(m);
        return *out ? NASC_OK : nasc_errorf(err, NASC_ERR_NOMEM, "show: out of memory");
    }
    nasc_cost_config c = cc ? *cc : (nasc_cost_config){0};
    if (!c.batch)
        c.batch = 32;
    if (!c.repeats)
        c.repeats = 10;
    if (!c.warmup)
        c.warmup = 2;
    if (!c.backend)
        c.backend = "cpu";
    if (!c.threads)
        c.threads = 1;
    nasc_model_cost cost;
    nasc_status st = nasc_model_cost_measure(m, &c, &cost, err);
    if (st == NASC_OK) {
        *out = fmt == NASC_SHOW_JSON ? render_json(a, m, net, &cost, &c)
                                     : render_text(a, m, net, &cost, &c);
        if (!*out)
            st = nasc_errorf(err, NASC_ERR_NOMEM, "show: out of memory");
    }
    nasc_model_free(m);
    return st;
}
