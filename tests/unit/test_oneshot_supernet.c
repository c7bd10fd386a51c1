/* test_oneshot_supernet.c — the supernets themselves:
 *   - parameter counts equal the reference code's: the DARTS search model (quark0/darts
 *     model_search.py) at C=16, 8 cells, 10 classes, 1x28x28 input has 1,929,754 weights
 *     (bench/supernet/supernet_step.py builds it in PyTorch and prints the same count);
 *   - the DARTS derivation rule on hand-made weights: top-2 incoming edges by their best non-none
 *     weight, strongest first, ties to the lower index, none never chosen; nb201: arg-max per edge;
 *   - a path plan of a genotype activates exactly its (edge, op) pairs, with weight 1;
 *   - the memory prediction at batch 8 (from batch 1 and 2) is within 5% of the step arena and
 *     gradient peak actually used by a training step at batch 8;
 *   - the supernet's ops are the space's table, in its order: for every op k, weights that favour
 *     k on every edge derive an architecture whose decisions hold k and whose text names the
 *     table's op k (the indices travel back through nasc_arch_from_decisions);
 *   - bad configurations are refused with a message. */
#include "test.h"

#include "nasc/arena.h"
#include "nasc/backend.h"
#include "nasc/oneshot.h"

int main(void) {
    nasc_err err = {0};
    nasc_space *darts = NULL, *nb = NULL;
    CHECK_STATUS(nasc_space_new("darts", NULL, &darts, &err), NASC_OK);
    CHECK_STATUS(nasc_space_new("nb201", NULL, &nb, &err), NASC_OK);

    /* parameter count of the DARTS search network */
    nasc_supernet *sn = NULL;
    CHECK_STATUS(nasc_supernet_new(darts, NULL, 1, &sn, &err), NASC_OK);
    if (sn) {
        CHECK_MSG(nasc_params_count(nasc_supernet_weights(sn)) == 1929754,
                  "darts supernet has %zu weights, the DARTS code's 1929754",
                  nasc_params_count(nasc_supernet_weights(sn)));
        CHECK(nasc_params_count(nasc_supernet_arch_params(sn)) == 2 * 14 * 8);
    }

    /* derivation: normal cell weights chosen so that node 2 prefers edge 1 (sep3 0.5) over
     * edge 0 (avg 0.4), node 3 has a tie between edges 0 and 2 (0.3 each) and a large none
     * weight on edge 1 (ignored); the rest uniform */
    float w[2][14 * 8];
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 14 * 8; i++)
            w[t][i] = 0.125f;
    float *n0 = w[0];
    n0[0 * 8 + 2] = 0.4f; /* edge 0 (0->2): avg */
    n0[1 * 8 + 4] = 0.5f; /* edge 1 (1->2): sep3 */
    n0[2 * 8 + 6] = 0.3f; /* edge 2 (0->3): dil3 */
    n0[3 * 8 + 0] = 0.9f; /* edge 3 (1->3): none, must not count */
    n0[4 * 8 + 3] = 0.3f; /* edge 4 (2->3): skip, ties with edge 2 */
    const float *wp[2] = {w[0], w[1]};
    nasc_arch *a = NULL;
    if (sn && nasc_supernet_derive(sn, wp, NULL, &a, &err) == NASC_OK) {
        char *txt = nasc_arch_to_string(a);
        static const char want[] = "Genotype(normal=[('sep_conv_3x3', 1), ('avg_pool_3x3', 0), "
                                   "('dil_conv_3x3', 0), ('skip_connect', 2), ";
        CHECK_MSG(txt && !strncmp(txt, want, strlen(want)), "derived %s", txt ? txt : "(null)");
        nasc_free(txt);
        /* a path plan of that genotype activates exactly its pairs */
        nasc_backend *be = nasc_backend_ref();
        nasc_graph *g = nasc_graph_new(be, 0, &err);
        nasc_supernet_plan plan;
        CHECK_STATUS(nasc_supernet_plan_arch(sn, g, a, &plan, &err), NASC_OK);
        CHECK(plan.active[0][1] == (1u << 4) && plan.active[0][0] == (1u << 2));
        CHECK(plan.active[0][3] == 0 && plan.active[0][2] == (1u << 6));
        CHECK(plan.weights[0] && plan.weights[0]->data[1 * 8 + 4] == 1.0f);
        nasc_graph_free(g);
        int skips;
        const double pf = nasc_oneshot_param_free_share(a, &skips);
        CHECK_MSG(skips >= 1 && pf > 0.0 && pf < 1.0, "param-free share %g, skips %d", pf, skips);
    } else {
        CHECK_MSG(0, "derive: %s", err.msg);
    }
    nasc_arch_free(a);
    nasc_supernet_free(sn);

    /* nb201: arg-max per edge, none allowed */
    nasc_supernet *s2 = NULL;
    CHECK_STATUS(nasc_supernet_new(nb, &(nasc_supernet_config){.channels = 4, .cells = 1}, 1, &s2,
                                   &err),
                 NASC_OK);
    if (s2) {
        float nw[6 * 5];
        for (int e = 0; e < 6; e++)
            for (int k = 0; k < 5; k++)
                nw[e * 5 + k] = (k == e % 5) ? 0.6f : 0.1f;
        const float *np[1] = {nw};
        a = NULL;
        CHECK_STATUS(nasc_supernet_derive(s2, np, NULL, &a, &err), NASC_OK);
        char *txt = a ? nasc_arch_to_string(a) : NULL;
        CHECK_MSG(txt && !strcmp(txt, "|none~0|+|skip_connect~0|nor_conv_1x1~1|+"
                                      "|nor_conv_3x3~0|avg_pool_3x3~1|none~2|"),
                  "nb201 derived %s", txt ? txt : "(null)");
        nasc_free(txt);
        nasc_arch_free(a);
    }
    nasc_supernet_free(s2);

    /* one op table: the supernet's op k is the space's op k, and a derived architecture that
     * picks k on every edge says so in its decisions and its text */
    nasc_space *cell_spaces[2] = {darts, nb};
    for (int si = 0; si < 2; si++) {
        nasc_space *sp = cell_spaces[si];
        nasc_supernet *s3 = NULL;
        CHECK_STATUS(nasc_supernet_new(sp, &(nasc_supernet_config){.channels = 4, .cells = 3}, 1,
                                       &s3, &err),
                     NASC_OK);
        if (!s3)
            continue;
        int K = 0;
        const nasc_cell_op *ops = nasc_space_cell_ops(sp, &K);
        const int E = nasc_supernet_n_edges(s3), T = nasc_supernet_n_types(s3);
        CHECK(ops && K == nasc_supernet_n_ops(s3) && ops[nasc_supernet_none_op(s3)].kind ==
                                                         NASC_CELL_ZERO);
        for (int k = 1; k < K; k++) {
            CHECK(!strcmp(nasc_supernet_op_name(s3, k), ops[k].name));
            const bool free_op = ops[k].kind == NASC_CELL_IDENTITY ||
                                 ops[k].kind == NASC_CELL_AVG3 || ops[k].kind == NASC_CELL_MAX3;
            CHECK(nasc_supernet_op_param_free(s3, k) == free_op);
            float ow[2][14 * 8];
            for (int t = 0; t < T; t++)
                for (int i = 0; i < E * K; i++)
                    ow[t][i] = (i % K == k) ? 0.9f : 0.01f;
            const float *op_w[2] = {ow[0], ow[1]};
            nasc_arch *d = NULL;
            CHECK_STATUS(nasc_supernet_derive(s3, op_w, NULL, &d, &err), NASC_OK);
            if (!d)
                continue;
            int dec[64], nd = 0;
            nasc_arch_to_decisions(d, dec, &nd);
            int n_op = 0, n_bad = 0;
            for (int i = 0; i < nd; i++) {
                const bool is_op = si == 1 || i % 2 == 0; /* darts: (op, input) pairs */
                if (is_op)
                    n_op++, n_bad += dec[i] != k;
            }
            char *txt = nasc_arch_to_string(d);
            CHECK_MSG(n_op > 0 && n_bad == 0 && txt && strstr(txt, ops[k].name),
                      "%s op %d (%s): derived %s", nasc_space_name(sp), k, ops[k].name,
                      txt ? txt : "(null)");
            nasc_free(txt);
            nasc_arch_free(d);
        }
        nasc_supernet_free(s3);
    }

    /* memory prediction vs a real step at batch 8 (small supernet, cpu backend) */
    nasc_backend *cpu = nasc_backend_new("cpu", 1, &err);
    sn = NULL;
    CHECK_STATUS(nasc_supernet_new(darts, &(nasc_supernet_config){.channels = 8, .cells = 3}, 1,
                                   &sn, &err),
                 NASC_OK);
    if (sn && cpu) {
        nasc_supernet_memory m;
        CHECK_STATUS(nasc_supernet_memory_predict(sn, cpu, 8, 1, &m, &err), NASC_OK);
        nasc_oneshot *os = NULL;
        CHECK_STATUS(nasc_oneshot_new(NASC_ONESHOT_DARTS, sn, cpu, NULL, 1, &os, &err), NASC_OK);
        float x[8 * 28 * 28];
        int32_t y[8];
        for (int i = 0; i < 8 * 28 * 28; i++)
            x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
        for (int i = 0; i < 8; i++)
            y[i] = i;
        nasc_oneshot_batch b = {x, y, 8};
        CHECK_STATUS(nasc_oneshot_step(os, &b, &b, 0.025f, NULL, &err), NASC_OK);
        size_t arena = 0, grads = 0;
        nasc_oneshot_memory(os, &arena, &grads);
        const double used = (double)(arena + grads), pred = (double)(m.activation_bytes +
                                                                     m.grad_bytes);
        CHECK_MSG(fabs(pred - used) <= 0.05 * used,
                  "predicted %.0f bytes of activations + gradients, a step used %.0f", pred, used);
        CHECK(m.total_bytes > m.activation_bytes && m.per_image_bytes > 0);
        nasc_oneshot_free(os);
    }
    nasc_supernet_free(sn);
    nasc_backend_free(cpu);

    /* refusals */
    sn = NULL;
    CHECK_STATUS(nasc_supernet_new(darts, &(nasc_supernet_config){.channels = 6, .partial = 4}, 1,
                                   &sn, &err),
                 NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "divisible by 8");
    nasc_err_clear(&err);
    CHECK_STATUS(nasc_supernet_new(darts, &(nasc_supernet_config){.in_h = 14, .in_w = 14}, 1, &sn,
                                   &err),
                 NASC_ERR_SHAPE);
    CHECK_STR_CONTAINS(err.msg, "even sides");
    nasc_err_clear(&err);
    nasc_space *chain = NULL;
    nasc_space_new("chain", NULL, &chain, &err);
    CHECK_STATUS(nasc_supernet_new(chain, NULL, 1, &sn, &err), NASC_ERR_ARG);
    CHECK_STR_CONTAINS(err.msg, "has no supernet");
    nasc_space_free(chain);
    nasc_space_free(darts);
    nasc_space_free(nb);
    return test_done("oneshot_supernet");
}
