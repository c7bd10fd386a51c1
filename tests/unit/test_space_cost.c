/* test_space_cost.c — the cost model on networks small enough to count by hand (parameters,
 * MACs, peak activation memory), latency fields, and the three renderings of `nasc show`.
 * (MACs of nb201 / darts networks against PyTorch: tests/ref/test_space_params.c.) */
#include "test.h"

#include "nasc/arena.h"
#include "nasc/cost.h"

#include <cjson/cJSON.h>

static nasc_model *build(nasc_space *sp, const char *text, const nasc_net_config *cfg) {
    nasc_err err = {0};
    nasc_arch *a = NULL;
    nasc_model *m = NULL;
    CHECK_STATUS(nasc_arch_parse(sp, text, &a, &err), NASC_OK);
    if (a)
        CHECK_STATUS(nasc_space_build(a, cfg, 1, &m, &err), NASC_OK);
    nasc_arch_free(a);
    return m;
}

static void test_by_hand(void) {
    nasc_err err = {0};
    nasc_space *sp = NULL;
    nasc_space_new("chain", NULL, &sp, &err);
    nasc_model_cost c;

    /* relu on 1x28x28: input 784 and relu 784 live together (peak 1568 floats); then the global
     * average (1) and the classifier (10, weights 10 + bias 10). */
    nasc_model *m = build(sp, "relu", NULL);
    CHECK_STATUS(nasc_model_cost_measure(m, &(nasc_cost_config){.batch = 4, .repeats = 3}, &c,
                                         &err),
                 NASC_OK);
    CHECK(c.params == 20);
    CHECK(c.param_bytes == 80);
    CHECK(c.macs == 10.0);
    CHECK(c.memory_bytes == 1568 * 4);
    CHECK(c.train_activation_bytes == (784 + 784 + 1 + 10) * 4);
    CHECK(c.n_nodes == 3);
    CHECK(c.batch == 4);
    CHECK(c.latency_ms > 0.0 && c.latency_batch_ms > 0.0); /* measured, not asserted on */
    nasc_model_free(m);

    /* conv3x3-16 (MACs 16*28*28*9), maxpool, fc-32 on the 16 averages (32*16), head (10*32).
     * Peak: conv output (12544) + maxpool output (3136) while the conv output is still read. */
    m = build(sp, "conv3x3-16,maxpool,fc-32", NULL);
    CHECK_STATUS(nasc_model_cost_measure(m, &(nasc_cost_config){.repeats = -1}, &c, &err),
                 NASC_OK);
    CHECK(c.macs == 16.0 * 784 * 9 + 512 + 320);
    CHECK(c.memory_bytes == (12544 + 3136) * 4);
    CHECK(c.params == 160 + 16 * 32 + 32 + 330);
    CHECK(isnan(c.latency_ms) && isnan(c.latency_batch_ms));
    nasc_model_free(m);
    nasc_space_free(sp);

    /* bad backend */
    nasc_space_new("chain", NULL, &sp, &err);
    m = build(sp, "relu", NULL);
    nasc_err_clear(&err);
    CHECK(nasc_model_cost_measure(m, &(nasc_cost_config){.backend = "tpu"}, &c, &err) !=
          NASC_OK);
    CHECK_STR_CONTAINS(err.msg, "tpu");
    nasc_model_free(m);
    nasc_space_free(sp);
}

static void test_show(void) {
    nasc_err err = {0};
    nasc_space *sp = NULL;
    nasc_space_new("nb201", NULL, &sp, &err);
    nasc_arch *a = NULL;
    nasc_arch_parse(sp, "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|"
                        "nor_conv_3x3~1|skip_connect~2|",
                    &a, &err);
    const nasc_net_config net = {.channels = 4, .cells = 1};
    const nasc_cost_config cc = {.batch = 2, .repeats = 2, .warmup = 1};
    char *out = NULL;
    CHECK_STATUS(nasc_show(a, &net, &cc, NASC_SHOW_JSON, &out, &err), NASC_OK);
    cJSON *o = out ? cJSON_Parse(out) : NULL;
    CHECK_MSG(o != NULL, "not JSON: %s", out ? out : "(null)");
    if (o) {
        const char *num[] = {"params", "flops", "memory_bytes", "latency_ms", "latency_batch_ms"};
        for (size_t i = 0; i < sizeof num / sizeof num[0]; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, num[i]);
            CHECK_MSG(cJSON_IsNumber(v) && v->valuedouble > 0, "field %s", num[i]);
        }
        const cJSON *sp_name = cJSON_GetObjectItemCaseSensitive(o, "space");
        CHECK(cJSON_IsString(sp_name) && !strcmp(sp_name->valuestring, "nb201"));
        const cJSON *dot = cJSON_GetObjectItemCaseSensitive(o, "dot");
        CHECK(cJSON_IsString(dot) && strstr(dot->valuestring, "digraph nb201"));
        CHECK(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(o, "edges")));
        const cJSON *nw = cJSON_GetObjectItemCaseSensitive(o, "network");
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(nw, "input");
        CHECK(cJSON_GetArraySize(in) == 3 && cJSON_GetArrayItem(in, 1)->valueint == 28);
        cJSON_Delete(o);
    }
    nasc_free(out);
    CHECK_STATUS(nasc_show(a, &net, &cc, NASC_SHOW_TEXT, &out, &err), NASC_OK);
    if (out) {
        CHECK_STR_CONTAINS(out, "space:   nb201");
        CHECK_STR_CONTAINS(out, "node 3 = skip_connect(node 0)");
        CHECK_STR_CONTAINS(out, "params ");
        CHECK_STR_CONTAINS(out, "latency_ms");
        CHECK_STR_CONTAINS(out, "graphviz:\ndigraph nb201 {");
    }
    nasc_free(out);
    CHECK_STATUS(nasc_show(a, &net, &cc, NASC_SHOW_DOT, &out, &err), NASC_OK);
    CHECK(out && !strncmp(out, "digraph nb201 {", 15) && out[strlen(out) - 1] == '\n');
    nasc_free(out);
    /* a network that does not fit its input: the build's shape error (CLI exit 2) */
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_show(a, &(nasc_net_config){.in_h = 30, .in_w = 30}, &cc, NASC_SHOW_JSON,
                           &out, &err),
                 NASC_ERR_SHAPE);
    CHECK(out == NULL);
    CHECK_STR_CONTAINS(err.msg, "nb201: input 30x30");
    nasc_arch_free(a);
    nasc_space_free(sp);
}

int main(void) {
    test_by_hand();
    test_show();
    return test_done("test_space_cost");
}
