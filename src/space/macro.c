/* macro.c — the ENAS macro (whole-network) space (Pham et al., ICML 2018, "macro search"):
 * L layers (default 12), each one of {conv3x3, conv5x5, sepconv3x3, sepconv5x5, maxpool, avgpool}
 * plus a set of skip connections from earlier nodes.
 *
 * Nodes: node 0 is the stem's output, node k (k >= 1) the output of layer k-1. Layer i reads node
 * i (the previous layer, always connected) and may take skips from nodes 0..i-1, as in ENAS,
 * where layer i samples one bit per earlier entry of its list of previous layers.
 * Text: the layers joined by commas, each its op followed by "+j" per skip node in increasing
 * order: "conv3x3,sepconv5x5+0,maxpool+0+1,avgpool+2".
 * Decisions: per layer i, its op (6 options) then i skip bits (nodes 0..i-1).
 *
 * Network (ENAS general_child.py, fixed-architecture mode): stem Conv3x3 (C) + BN. A conv branch
 * is Conv1x1 + BN + ReLU then ConvKxK (or depthwise KxK + pointwise 1x1) + BN + ReLU; a pool
 * branch is Conv1x1 + BN + ReLU then 3x3 pooling (stride 1, pad 1; avg excludes the padding).
 * Skips follow ENAS's fixed-architecture convention: concat(skip nodes, branch output) -> ReLU ->
 * Conv1x1 ((n+1) C -> C) -> BN. (ENAS's weight-sharing search sums them instead.) After layers
 * L/3 - 1 and 2L/3 - 1 every node is max-pooled 2x2 (ENAS's pool_layers). Then global average
 * pool and a linear classifier. Channels stay C (default 36); convs have no bias.
 */
#include "space_int.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

enum { MA_N_OPS = 6, MA_LIMIT_LAYERS = 64, MA_DEFAULT_LAYERS = 12 };
enum { MA_CONV3 = 0, MA_CONV5, MA_SEP3, MA_SEP5, MA_MAX, MA_AVG };

static const char *const ma_ops[MA_N_OPS] = {"conv3x3",    "conv5x5", "sepconv3x3",
                                             "sepconv5x5", "maxpool", "avgpool"};

/* Position of layer i's op decision; its skip bits follow. */
static int ma_off(int i) { return i * (i + 1) / 2; }
static int ma_layers(const nasc_space *s) { return s->cfg.max_layers; }
static int ma_op(const int *d, int i) { return d[ma_off(i)]; }
static bool ma_skip(const int *d, int i, int j) { return d[ma_off(i) + 1 + j] != 0; }

static nasc_status ma_init(nasc_space *s, nasc_err *err) {
    if (!s->cfg.max_layers)
        s->cfg.max_layers = MA_DEFAULT_LAYERS;
    const int L = s->cfg.max_layers;
    if (L < 1 || L > MA_LIMIT_LAYERS)
        return nasc_errorf(err, NASC_ERR_ARG, "macro: max_layers (L) must be in 1..%d (%d)",
                           MA_LIMIT_LAYERS, L);
    s->n_dec = ma_off(L);
    s->fixed_radix = true;
    /* 6^L * 2^(L(L-1)/2), if it fits in 64 bits */
    const int bits = L * (L - 1) / 2;
    uint64_t size = bits < 64 ? (uint64_t)1 << bits : 0;
    for (int i = 0; i < L && size; i++)
        size = size > UINT64_MAX / 6 ? 0 : size * 6;
    s->size = size;
    return NASC_OK;
}

static int ma_n_options(const nasc_space *s, int pos, const int *d) {
    (void)d;
    if (pos >= s->n_dec)
        return 0;
    int i = 0;
    while (ma_off(i + 1) <= pos)
        i++;
    return pos == ma_off(i) ? MA_N_OPS : 2;
}

static nasc_status ma_parse(const nasc_space *s, const char *text, int *d, int *n, nasc_err *err) {
    sp_cur c = {.space = s->vt->name, .text = text, .err = err};
    const int L = ma_layers(s);
    int i = 0;
    for (;; i++) {
        char w[40];
        size_t at;
        nasc_sp_skip_ws(&c);
        if (i == L)
            return nasc_sp_fail(&c, c.pos, "more than L=%d layers", L);
        if (!nasc_sp_word(&c, w, sizeof w, &at)) {
            char got[32];
            return nasc_sp_fail(&c, at, "expected a layer op (got %s)",
                                nasc_sp_got(&c, got, sizeof got));
        }
        const int op = nasc_sp_lookup(ma_ops, MA_N_OPS, w);
        if (op < 0)
            return nasc_sp_fail(&c, at,
                                "unknown op '%s' (expected conv3x3, conv5x5, sepconv3x3, "
                                "sepconv5x5, maxpool or avgpool)",
                                w);
        d[ma_off(i)] = op;
        for (int j = 0; j < i; j++)
            d[ma_off(i) + 1 + j] = 0;
        int last = -1;
        while (nasc_sp_accept(&c, "+")) {
            int j;
            size_t jat;
            if (!nasc_sp_uint(&c, &j, &jat)) {
                char got[32];
                return nasc_sp_fail(&c, jat, "expected a node index after '+' (got %s)",
                                    nasc_sp_got(&c, got, sizeof got));
            }
            if (j >= i && i == 0)
                return nasc_sp_fail(&c, jat,
                                    "layer 0 cannot take a skip from node %d: it reads the stem "
                                    "(node 0) and has no earlier node (a cycle or forward edge)",
                                    j);
            if (j >= i)
                return nasc_sp_fail(&c, jat,
                                    "layer %d cannot take a skip from node %d: skips come from "
                                    "nodes 0..%d before its input node %d (a cycle or forward "
                                    "edge)",
                                    i, j, i - 1, i);
            if (j <= last)
                return nasc_sp_fail(&c, jat,
                                    "layer %d: skip nodes must be listed once, in increasing "
                                    "order (%d after %d)",
                                    i, j, last);
            d[ma_off(i) + 1 + j] = 1;
            last = j;
        }
        if (!nasc_sp_accept(&c, ","))
            break;
    }
    nasc_sp_skip_ws(&c);
    if (c.text[c.pos])
        return nasc_sp_end(&c);
    if (i + 1 != L)
        return nasc_sp_fail(&c, c.pos, "expected %d layers (got %d)", L, i + 1);
    *n = ma_off(L);
    return NASC_OK;
}

static void ma_print(const nasc_arch *a, nasc_buf *sb) {
    const int L = ma_layers(a->space);
    for (int i = 0; i < L; i++) {
        nasc_buf_printf(sb, "%s%s", i ? "," : "", ma_ops[ma_op(a->d, i)]);
        for (int j = 0; j < i; j++)
            if (ma_skip(a->d, i, j))
                nasc_buf_printf(sb, "+%d", j);
    }
}

/* ---- encodings ----
 * ONEHOT: per layer its op one-hot (L x 6), then the skip adjacency bits, layer by layer
 * (L(L-1)/2), i.e. the upper triangle of the node adjacency that is not fixed.
 * PATH (truncated to paths of 1 and 2 ops): one bit per op that occurs (6), and per connected
 * pair (source, layer) with source the stem (index 6) or a layer's op: 6 + 7 * 6 = 48. */
static size_t ma_encoding_len(const nasc_space *s, nasc_encoding kind) {
    const int L = ma_layers(s);
    return kind == NASC_ENC_ONEHOT ? (size_t)(L * MA_N_OPS + L * (L - 1) / 2) : 48;
}

static void ma_encode(const nasc_arch *a, nasc_encoding kind, float *out) {
    const int L = ma_layers(a->space);
    int bit = L * MA_N_OPS;
    for (int i = 0; i < L; i++) {
        const int op = ma_op(a->d, i);
        if (kind == NASC_ENC_ONEHOT) {
            out[i * MA_N_OPS + op] = 1.0f;
            for (int j = 0; j < i; j++, bit++)
                out[bit] = ma_skip(a->d, i, j) ? 1.0f : 0.0f;
            continue;
        }
        out[op] = 1.0f;
        /* node k's op: stem (6) for k = 0, else layer k-1's */
        const int src = i == 0 ? 6 : ma_op(a->d, i - 1);
        out[MA_N_OPS + src * MA_N_OPS + op] = 1.0f;
        for (int j = 0; j < i; j++)
            if (ma_skip(a->d, i, j))
                out[MA_N_OPS + (j == 0 ? 6 : ma_op(a->d, j - 1)) * MA_N_OPS + op] = 1.0f;
    }
}

static void ma_json(const nasc_arch *a, cJSON *obj) {
    const int L = ma_layers(a->space);
    cJSON *layers = cJSON_AddArrayToObject(obj, "layers");
    for (int i = 0; layers && i < L; i++) {
        cJSON *l = cJSON_CreateObject(), *sk = cJSON_CreateArray();
        if (!l || !sk) {
            cJSON_Delete(l);
            cJSON_Delete(sk);
            return;
        }
        cJSON_AddStringToObject(l, "op", ma_ops[ma_op(a->d, i)]);
        for (int j = 0; j < i; j++)
            if (ma_skip(a->d, i, j))
                cJSON_AddItemToArray(sk, cJSON_CreateNumber(j));
        cJSON_AddItemToObject(l, "skips", sk);
        cJSON_AddItemToArray(layers, l);
    }
}

static void ma_dot(const nasc_arch *a, nasc_buf *sb) {
    const int L = ma_layers(a->space);
    nasc_buf_puts(sb, "  rankdir=TB;\n  node [shape=box];\n  n0 [label=\"stem\"];\n"
                        "  out [label=\"pool, linear\"];\n");
    for (int i = 0; i < L; i++) {
        nasc_buf_printf(sb, "  n%d [label=\"%d: %s\"];\n  n%d -> n%d;\n", i + 1, i,
                          ma_ops[ma_op(a->d, i)], i, i + 1);
        for (int j = 0; j < i; j++)
            if (ma_skip(a->d, i, j))
                nasc_buf_printf(sb, "  n%d -> n%d [style=dashed];\n", j, i + 1);
    }
    nasc_buf_printf(sb, "  n%d -> out;\n", L);
}

static void ma_describe(const nasc_arch *a, nasc_buf *sb) {
    const int L = ma_layers(a->space), pd = L / 3;
    nasc_buf_printf(sb, "ENAS macro network, %d layers (node 0 = stem, node k = layer k-1):\n",
                      L);
    for (int i = 0; i < L; i++) {
        nasc_buf_printf(sb, "  layer %2d: %-10s on node %d", i, ma_ops[ma_op(a->d, i)], i);
        bool any = false;
        for (int j = 0; j < i; j++)
            if (ma_skip(a->d, i, j)) {
                nasc_buf_printf(sb, "%s%d", any ? ", " : ", skips from nodes ", j);
                any = true;
            }
        if (pd > 0 && (i == pd - 1 || i == 2 * pd - 1))
            nasc_buf_puts(sb, "; then 2x2 max pool of every node");
        nasc_buf_puts(sb, "\n");
    }
}

/* ---- network ---- */

typedef struct ma_layer {
    int op, n_skips;
    nasc_conv in1x1, conv, pw, skip1x1;
    nasc_bn bn_in, bn_out, bn_skip;
} ma_layer;

typedef struct ma_net {
    int L, pool_a, pool_b;
    int d[MA_LIMIT_LAYERS * (MA_LIMIT_LAYERS + 1) / 2];
    nasc_conv stem;
    nasc_bn stem_bn;
    ma_layer layers[MA_LIMIT_LAYERS];
    nasc_fc fc;
} ma_net;

static nasc_tensor *ma_branch(nasc_graph *g, const ma_layer *l, nasc_tensor *x) {
    nasc_tensor *h = nasc_relu(g, nasc_bn_forward(g, &l->bn_in, nasc_conv_forward(g, &l->in1x1,
                                                                                 x)));
    switch (l->op) {
    case MA_CONV3:
    case MA_CONV5:
        return nasc_relu(g, nasc_bn_forward(g, &l->bn_out, nasc_conv_forward(g, &l->conv, h)));
    case MA_SEP3:
    case MA_SEP5:
        h = nasc_conv_forward(g, &l->pw, nasc_conv_forward(g, &l->conv, h));
        return nasc_relu(g, nasc_bn_forward(g, &l->bn_out, h));
    case MA_MAX:
        return nasc_maxpool2d(g, h, &(nasc_pool2d_params){.k = {3, 3}, .stride = {1, 1},
                                                          .pad = {1, 1}});
    default:
        return nasc_avgpool2d(g, h, &(nasc_pool2d_params){.k = {3, 3}, .stride = {1, 1},
                                                          .pad = {1, 1},
                                                          .count_include_pad = false});
    }
}

static nasc_tensor *ma_forward(nasc_model *m, nasc_graph *g, nasc_tensor *x,
                               const nasc_forward_opts *opts) {
    (void)opts;
    const ma_net *net = m->impl;
    nasc_tensor *node[MA_LIMIT_LAYERS + 1];
    node[0] = nasc_bn_forward(g, &net->stem_bn, nasc_conv_forward(g, &net->stem, x));
    for (int i = 0; i < net->L; i++) {
        const ma_layer *l = &net->layers[i];
        nasc_tensor *y = ma_branch(g, l, node[i]);
        if (l->n_skips) {
            nasc_tensor *parts[MA_LIMIT_LAYERS + 1];
            int n = 0;
            for (int j = 0; j < i; j++)
                if (ma_skip(net->d, i, j))
                    parts[n++] = node[j];
            parts[n++] = y;
            y = nasc_relu(g, nasc_concat(g, n, parts));
            y = nasc_bn_forward(g, &l->bn_skip, nasc_conv_forward(g, &l->skip1x1, y));
        }
        node[i + 1] = y;
        if (i == net->pool_a || i == net->pool_b)
            for (int j = 0; j <= i + 1; j++)
                node[j] = nasc_maxpool2d(g, node[j], &(nasc_pool2d_params){.k = {2, 2},
                                                                           .stride = {2, 2}});
    }
    return nasc_fc_forward(g, &net->fc, nasc_global_avgpool(g, node[net->L]));
}

static const nasc_model_i ma_model_iface = {
    .kind = "macro",
    .forward = ma_forward,
    .free_impl = nasc_sp_free_impl,
};

static nasc_status ma_build(const nasc_arch *a, const nasc_net_config *in, uint64_t seed,
                            nasc_model **out, nasc_err *err) {
    nasc_net_config cfg = *in;
    nasc_sp_net_defaults(&cfg, a->space->vt->default_channels, a->space->vt->default_cells);
    const int L = ma_layers(a->space), C = cfg.channels, pd = L / 3;
    const int n_pools = pd > 0 ? 2 : 0;
    if ((cfg.in_h >> n_pools) < 1 || (cfg.in_w >> n_pools) < 1)
        return nasc_errorf(err, NASC_ERR_SHAPE, "macro: input %dx%d is too small for %d 2x2 pools",
                           cfg.in_h, cfg.in_w, n_pools);
    ma_net *net = nasc_calloc(1, sizeof *net);
    nasc_params *ps = nasc_params_new("macro");
    if (!net || !ps) {
        nasc_free(net);
        nasc_params_free(ps);
        return nasc_errorf(err, NASC_ERR_NOMEM, "macro: out of memory");
    }
    net->L = L;
    net->pool_a = pd > 0 ? pd - 1 : -1;
    net->pool_b = pd > 0 ? 2 * pd - 1 : -1;
    memcpy(net->d, a->d, (size_t)a->n * sizeof(int));
    nasc_status st = nasc_conv_init_cell(&net->stem, ps, "stem", cfg.in_c, C, 3, 1, 1, 1, 1, err);
    if (st == NASC_OK)
        st = nasc_bn_init(&net->stem_bn, ps, "stem.bn", C, true, err);
    for (int i = 0; i < L && st == NASC_OK; i++) {
        ma_layer *l = &net->layers[i];
        const int op = ma_op(a->d, i), k = (op == MA_CONV5 || op == MA_SEP5) ? 5 : 3;
        char name[32];
        l->op = op;
        snprintf(name, sizeof name, "l%d.in", i);
        st = nasc_conv_init_cell(&l->in1x1, ps, name, C, C, 1, 1, 0, 1, 1, err);
        snprintf(name, sizeof name, "l%d.in.bn", i);
        if (st == NASC_OK)
            st = nasc_bn_init(&l->bn_in, ps, name, C, true, err);
        if (st == NASC_OK && op <= MA_SEP5) {
            const bool sep = op == MA_SEP3 || op == MA_SEP5;
            snprintf(name, sizeof name, "l%d.conv", i);
            st = nasc_conv_init_cell(&l->conv, ps, name, C, C, k, 1, k / 2, 1, sep ? C : 1, err);
            snprintf(name, sizeof name, "l%d.pw", i);
            if (st == NASC_OK && sep)
                st = nasc_conv_init_cell(&l->pw, ps, name, C, C, 1, 1, 0, 1, 1, err);
            snprintf(name, sizeof name, "l%d.out.bn", i);
            if (st == NASC_OK)
                st = nasc_bn_init(&l->bn_out, ps, name, C, true, err);
        }
        for (int j = 0; j < i; j++)
            l->n_skips += ma_skip(a->d, i, j);
        if (st == NASC_OK && l->n_skips) {
            snprintf(name, sizeof name, "l%d.skip", i);
            st = nasc_conv_init_cell(&l->skip1x1, ps, name, (l->n_skips + 1) * C, C, 1, 1, 0, 1, 1,
                                     err);
            snprintf(name, sizeof name, "l%d.skip.bn", i);
            if (st == NASC_OK)
                st = nasc_bn_init(&l->bn_skip, ps, name, C, true, err);
        }
    }
    if (st == NASC_OK)
        st = nasc_fc_init(&net->fc, ps, "fc", C, cfg.n_classes, true, err);
    if (st != NASC_OK) {
        nasc_free(net);
        nasc_params_free(ps);
        return st;
    }
    return nasc_sp_model_wrap(a, &ma_model_iface, ps, net, &cfg, seed, out, err);
}

const sp_vt nasc_sp_macro_vt = {
    .name = "macro",
    .default_channels = 36,
    .default_cells = 0,
    .init = ma_init,
    .n_options = ma_n_options,
    .parse = ma_parse,
    .print = ma_print,
    .encoding_len = ma_encoding_len,
    .encode = ma_encode,
    .build = ma_build,
    .json = ma_json,
    .dot = ma_dot,
    .describe = ma_describe,
};
