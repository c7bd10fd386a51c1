/* nb201.c — the NAS-Bench-201 cell space (Dong & Yang, ICLR 2020) and its network.
 *
 * A cell is a DAG on 4 nodes; node j > 0 sums one op applied to every earlier node, so there are
 * 6 edges, each one of 5 ops: 5^6 = 15,625 cells. Decision i is the op of edge i, edges in the
 * order of the text form  |op~0|+|op~0|op~1|+|op~0|op~1|op~2|:
 *     e0: 0->1   e1: 0->2   e2: 1->2   e3: 0->3   e4: 1->3   e5: 2->3
 * Op index = position in NB201_OPS (the benchmark's own order).
 *
 * Network (xautodl's TinyNetwork with InferCell): stem Conv3x3(C) + BN; N cells at C; ResNet basic
 * block (stride 2) to 2C; N cells; basic block to 4C; N cells; BN + ReLU; global average pool;
 * linear. Basic block: ReLUConvBN 3x3 s2, ReLUConvBN 3x3 s1, shortcut AvgPool2x2 s2 + Conv1x1
 * (no BN), summed.
 *
 * Hash: two cells hash alike when their output node computes the same expression, built bottom-up
 * (docs/SPACES.md): a 'none' edge, or an edge whose input node is zero, contributes nothing; a
 * skip_connect contributes its input's terms; any other op contributes "op(input)"; a node is the
 * sorted multiset of its terms, zero if empty. Dead edges (that cannot reach the output, or whose
 * input is unreachable from the input through non-none edges) therefore never change the hash.
 */
#include "space_int.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NB_NODES = 4, NB_EDGES = 6, NB_N_OPS = 5 };
enum { NB_NONE = 0, NB_SKIP, NB_CONV1, NB_CONV3, NB_AVG };

/* The candidate ops, in decision order (NAS-Bench-201's search space). */
static const nasc_cell_op nb_ops[NB_N_OPS] = {{"none", NASC_CELL_ZERO, 1},
                                              {"skip_connect", NASC_CELL_IDENTITY, 1},
                                              {"nor_conv_1x1", NASC_CELL_RCB, 1},
                                              {"nor_conv_3x3", NASC_CELL_RCB, 3},
                                              {"avg_pool_3x3", NASC_CELL_AVG3, 3}};
static const int nb_from[NB_EDGES] = {0, 0, 1, 0, 1, 2};
static const int nb_to[NB_EDGES] = {1, 2, 2, 3, 3, 3};

/* Edge index of (from -> to). */
static int nb_edge(int from, int to) { return to * (to - 1) / 2 + from; }

static nasc_status nb_init(nasc_space *s, nasc_err *err) {
    (void)err;
    s->n_dec = NB_EDGES;
    s->fixed_radix = true;
    s->size = 15625;
    return NASC_OK;
}

static int nb_n_options(const nasc_space *s, int i, const int *d) {
    (void)s;
    (void)d;
    return i < NB_EDGES ? NB_N_OPS : 0;
}

/* Text: |op~i|op~j|+|...|+|...|, node j listing each input 0..j-1 once (any order; printed in
 * order). */
static nasc_status nb_parse(const nasc_space *s, const char *text, int *d, int *n, nasc_err *err) {
    sp_cur c = {.space = s->vt->name, .text = text, .err = err};
    for (int i = 0; i < NB_EDGES; i++)
        d[i] = -1;
    for (int node = 1; node < NB_NODES; node++) {
        if (node > 1 && !nasc_sp_accept(&c, "+")) {
            char got[32];
            nasc_sp_skip_ws(&c);
            return nasc_sp_fail(&c, c.pos, "expected '+' before node %d (got %s)%s", node,
                                nasc_sp_got(&c, got, sizeof got),
                                c.text[c.pos] == '|' ? ": wrong number of edges" : "");
        }
        size_t node_start = (nasc_sp_skip_ws(&c), c.pos);
        NASC_TRY(nasc_sp_expect(&c, "|"));
        int count = 0;
        while (count < node) {
            nasc_sp_skip_ws(&c);
            if (!c.text[c.pos] || c.text[c.pos] == '+')
                break;
            char op[40];
            size_t op_at, idx_at;
            if (!nasc_sp_word(&c, op, sizeof op, &op_at)) {
                char got[32];
                return nasc_sp_fail(&c, c.pos, "expected an op name (got %s)",
                                    nasc_sp_got(&c, got, sizeof got));
            }
            int k = nasc_sp_op_lookup(nb_ops, NB_N_OPS, op);
            if (k < 0)
                return nasc_sp_fail(&c, op_at,
                                    "unknown op '%s' (expected none, skip_connect, nor_conv_1x1, "
                                    "nor_conv_3x3 or avg_pool_3x3)",
                                    op);
            NASC_TRY(nasc_sp_expect(&c, "~"));
            int from;
            if (!nasc_sp_uint(&c, &from, &idx_at)) {
                char got[32];
                return nasc_sp_fail(&c, idx_at, "expected an input node index after '~' (got %s)",
                                    nasc_sp_got(&c, got, sizeof got));
            }
            if (from >= node)
                return nasc_sp_fail(&c, idx_at,
                                    "node %d cannot take input from node %d: inputs must come "
                                    "from earlier nodes 0..%d (a cycle or forward edge)",
                                    node, from, node - 1);
            int e = nb_edge(from, node);
            if (d[e] >= 0)
                return nasc_sp_fail(&c, idx_at, "node %d lists input %d twice", node, from);
            d[e] = k;
            count++;
            NASC_TRY(nasc_sp_expect(&c, "|"));
        }
        if (count == node) { /* one more "op~i|" here is an edge too many */
            sp_cur peek = c;
            char w[40];
            size_t at;
            if (nasc_sp_word(&peek, w, sizeof w, &at) && nasc_sp_accept(&peek, "~"))
                return nasc_sp_fail(&c, at, "node %d has more than %d edges (one from each of "
                                            "nodes 0..%d)",
                                    node, node, node - 1);
        }
        if (count != node)
            return nasc_sp_fail(&c, node_start,
                                "node %d needs %d edges, one from each of nodes 0..%d (got %d)",
                                node, node, node - 1, count);
    }
    if (nasc_sp_accept(&c, "+"))
        return nasc_sp_fail(&c, c.pos - 1,
                            "too many nodes: a cell has 3 nodes after its input (wrong edge "
                            "count)");
    NASC_TRY(nasc_sp_end(&c));
    *n = NB_EDGES;
    return NASC_OK;
}

static void nb_print(const nasc_arch *a, nasc_buf *sb) {
    for (int node = 1; node < NB_NODES; node++) {
        if (node > 1)
            nasc_buf_puts(sb, "+");
        nasc_buf_puts(sb, "|");
        for (int from = 0; from < node; from++)
            nasc_buf_printf(sb, "%s~%d|", nb_ops[a->d[nb_edge(from, node)]].name, from);
    }
}

/* ---- canonical expression (hash) ---- */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Writes node expressions bottom-up into expr[j] (empty string = zero). Sizes stay small: the
 * output expression of any cell is under 400 characters. */
static void nb_expr(const int *ops, char expr[NB_NODES][512]) {
    snprintf(expr[0], 512, "x");
    for (int j = 1; j < NB_NODES; j++) {
        char terms[16][512];
        int nt = 0;
        for (int i = 0; i < j; i++) {
            int op = ops[nb_edge(i, j)];
            if (op == NB_NONE || !expr[i][0])
                continue;
            if (op == NB_SKIP) {
                /* pass the input's terms through: split expr[i] on top-level '+' */
                const char *p = expr[i];
                int depth = 0;
                size_t st = 0, k = 0;
                for (;; k++) {
                    char ch = p[k];
                    if (ch == '(')
                        depth++;
                    if (ch == ')')
                        depth--;
                    if ((ch == '+' && depth == 0) || ch == '\0') {
                        snprintf(terms[nt++], 512, "%.*s", (int)(k - st), p + st);
                        st = k + 1;
                    }
                    if (!ch)
                        break;
                }
            } else {
                snprintf(terms[nt++], 512, "%s(%.490s)", nb_ops[op].name, expr[i]);
            }
        }
        const char *ptr[16];
        for (int t = 0; t < nt; t++)
            ptr[t] = terms[t];
        qsort(ptr, (size_t)nt, sizeof ptr[0], cmp_str);
        expr[j][0] = '\0';
        size_t len = 0;
        for (int t = 0; t < nt; t++)
            len += (size_t)snprintf(expr[j] + len, 512 - len, "%s%s", t ? "+" : "", ptr[t]);
    }
}

static uint64_t nb_hash(const nasc_arch *a) {
    char expr[NB_NODES][512];
    nb_expr(a->d, expr);
    uint64_t h = nasc_sp_hash_str(NASC_SP_HASH_INIT, "nb201");
    return nasc_sp_hash_final(nasc_sp_hash_str(h, expr[NB_NODES - 1]));
}

/* ---- encodings ---- */

/* ONEHOT: the adjacency is fixed, so the encoding is the op one-hot of each edge, edges in text
 * order: 6 x 5 = 30 floats.
 * PATH (BANANAS, White et al. 2021; NASLib's layout): the 4 input->output paths
 *   e3 (0->3), e0 e4 (0->1->3), e1 e5 (0->2->3), e0 e2 e5 (0->1->2->3)
 * each set bit  offset(len) + sum_j op_j * 5^j  (op_j = j-th edge from the input side,
 * offset 0 / 5 / 30 for lengths 1 / 2 / 3): 5 + 25 + 125 = 155 floats. Paths through 'none' are
 * encoded like any other (as NASLib does). */
static size_t nb_encoding_len(const nasc_space *s, nasc_encoding kind) {
    (void)s;
    return kind == NASC_ENC_ONEHOT ? NB_EDGES * NB_N_OPS : 155;
}

static void nb_encode(const nasc_arch *a, nasc_encoding kind, float *out) {
    const int *o = a->d;
    if (kind == NASC_ENC_ONEHOT) {
        for (int e = 0; e < NB_EDGES; e++)
            out[e * NB_N_OPS + o[e]] = 1.0f;
        return;
    }
    out[o[3]] = 1.0f;
    out[5 + o[0] + 5 * o[4]] = 1.0f;
    out[5 + o[1] + 5 * o[5]] = 1.0f;
    out[30 + o[0] + 5 * o[2] + 25 * o[5]] = 1.0f;
}

/* ---- JSON, DOT, description ---- */

static void nb_json(const nasc_arch *a, cJSON *obj) {
    cJSON *edges = cJSON_AddArrayToObject(obj, "edges");
    for (int e = 0; edges && e < NB_EDGES; e++) {
        cJSON *ed = cJSON_CreateObject();
        if (!ed)
            return;
        cJSON_AddNumberToObject(ed, "from", nb_from[e]);
        cJSON_AddNumberToObject(ed, "to", nb_to[e]);
        cJSON_AddStringToObject(ed, "op", nb_ops[a->d[e]].name);
        cJSON_AddItemToArray(edges, ed);
    }
}

static void nb_dot(const nasc_arch *a, nasc_buf *sb) {
    nasc_buf_puts(sb, "  rankdir=LR;\n  node [shape=circle];\n"
                        "  n0 [label=\"in\"]; n1 [label=\"1\"]; n2 [label=\"2\"]; "
                        "n3 [label=\"out\"];\n");
    for (int e = 0; e < NB_EDGES; e++) {
        const int op = a->d[e];
        nasc_buf_printf(sb, "  n%d -> n%d [label=\"%s\"%s];\n", nb_from[e], nb_to[e], nb_ops[op].name,
                          op == NB_NONE ? ", style=dotted" : "");
    }
}

static void nb_describe(const nasc_arch *a, nasc_buf *sb) {
    nasc_buf_puts(sb, "NAS-Bench-201 cell (4 nodes, 6 edges):\n");
    for (int node = 1; node < NB_NODES; node++) {
        nasc_buf_printf(sb, "  node %d =", node);
        for (int from = 0; from < node; from++)
            nasc_buf_printf(sb, "%s %s(node %d)", from ? " +" : "",
                              nb_ops[a->d[nb_edge(from, node)]].name, from);
        nasc_buf_puts(sb, "\n");
    }
}

/* ---- network ---- */

typedef struct nb_cell {
    bool resblock;
    sp_op edge[NB_EDGES]; /* cell edges; for a basic block: edge[0] conv_a, edge[1] conv_b */
    nasc_conv down;       /* basic block shortcut conv (after a 2x2 average pool) */
} nb_cell;

typedef struct nb_net {
    int ops[NB_EDGES];
    nasc_conv stem;
    nasc_bn stem_bn;
    int n_cells;
    nb_cell *cells;
    nasc_bn last_bn;
    nasc_fc fc;
} nb_net;

static void nb_net_free(void *impl) {
    nb_net *net = impl;
    if (net)
        nasc_free(net->cells);
    nasc_free(net);
}

static nasc_tensor *nb_cell_forward(nasc_graph *g, const nb_net *net, const nb_cell *cell,
                                    nasc_tensor *x) {
    if (cell->resblock) {
        nasc_tensor *b = nasc_sp_op_forward(g, &cell->edge[1], nasc_sp_op_forward(g, &cell->edge[0],
                                                                               x));
        nasc_tensor *r = nasc_avgpool2d(g, x, &(nasc_pool2d_params){.k = {2, 2},
                                                                    .stride = {2, 2}});
        return nasc_add(g, nasc_conv_forward(g, &cell->down, r), b);
    }
    nasc_tensor *node[NB_NODES] = {x};
    nasc_tensor *relu_node[NB_NODES] = {NULL}; /* each node's ReLU, shared by its convs */
    for (int j = 1; j < NB_NODES; j++) {
        nasc_tensor *sum = NULL;
        for (int i = 0; i < j; i++) {
            const int e = nb_edge(i, j);
            if (net->ops[e] == NB_NONE)
                continue; /* x * 0 adds nothing, to values or gradients */
            nasc_tensor *t = nasc_sp_op_forward_shared(g, &cell->edge[e], node[i], &relu_node[i]);
            sum = sum ? nasc_add(g, sum, t) : t;
        }
        node[j] = sum ? sum : nasc_scale(g, node[0], 0.0f); /* all inputs 'none': zeros */
    }
    return node[NB_NODES - 1];
}

static nasc_tensor *nb_forward(nasc_model *m, nasc_graph *g, nasc_tensor *x,
                               const nasc_forward_opts *opts) {
    (void)opts;
    const nb_net *net = m->impl;
    nasc_tensor *h = nasc_bn_forward(g, &net->stem_bn, nasc_conv_forward(g, &net->stem, x));
    for (int i = 0; i < net->n_cells; i++)
        h = nb_cell_forward(g, net, &net->cells[i], h);
    h = nasc_relu(g, nasc_bn_forward(g, &net->last_bn, h));
    return nasc_fc_forward(g, &net->fc, nasc_global_avgpool(g, h));
}

static const nasc_model_i nb_model_iface = {
    .kind = "nb201",
    .forward = nb_forward,
    .free_impl = nb_net_free,
};


static nasc_status nb_build(const nasc_arch *a, const nasc_net_config *in, uint64_t seed,
                            nasc_model **out, nasc_err *err) {
    nasc_net_config cfg = *in;
    nasc_sp_net_defaults(&cfg, a->space->vt->default_channels, a->space->vt->default_cells);
    const int C = cfg.channels, N = cfg.cells;
    if (cfg.in_h % 4 || cfg.in_w % 4 || cfg.in_h < 4 || cfg.in_w < 4)
        return nasc_errorf(err, NASC_ERR_SHAPE,
                           "nb201: input %dx%d: the two stride-2 basic blocks need H and W "
                           "divisible by 4",
                           cfg.in_h, cfg.in_w);

    nb_net *net = nasc_calloc(1, sizeof *net);
    nasc_params *ps = nasc_params_new("nb201");
    const int n_cells = 3 * N + 2;
    nb_cell *cells = nasc_calloc((size_t)n_cells, sizeof *cells);
    if (!net || !ps || !cells) {
        nasc_free(net);
        nasc_free(cells);
        nasc_params_free(ps);
        return nasc_errorf(err, NASC_ERR_NOMEM, "nb201: out of memory");
    }
    net->cells = cells;
    net->n_cells = n_cells;
    memcpy(net->ops, a->d, sizeof net->ops);
    nasc_status st = nasc_conv_init_cell(&net->stem, ps, "stem", cfg.in_c, C, 3, 1, 1, 1, 1, err);
    if (st == NASC_OK)
        st = nasc_bn_init(&net->stem_bn, ps, "stem.bn", C, true, err);
    int cprev = C;
    for (int i = 0; i < n_cells && st == NASC_OK; i++) {
        nb_cell *cell = &cells[i];
        const int stage = i < N ? 0 : i <= 2 * N ? 1 : 2;
        const int ccur = C << stage;
        char name[32];
        cell->resblock = (i == N || i == 2 * N + 1);
        if (cell->resblock) {
            snprintf(name, sizeof name, "c%d.a", i);
            st = nasc_sp_op_init(&cell->edge[0], ps, name, NASC_CELL_RCB, cprev, ccur, 3, 2, err);
            snprintf(name, sizeof name, "c%d.b", i);
            if (st == NASC_OK)
                st = nasc_sp_op_init(&cell->edge[1], ps, name, NASC_CELL_RCB, ccur, ccur, 3, 1, err);
            snprintf(name, sizeof name, "c%d.down", i);
            if (st == NASC_OK)
                st = nasc_conv_init_cell(&cell->down, ps, name, cprev, ccur, 1, 1, 0, 1, 1, err);
        } else {
            for (int e = 0; e < NB_EDGES && st == NASC_OK; e++) {
                const int op = a->d[e];
                snprintf(name, sizeof name, "c%d.e%d", i, e);
                st = nasc_sp_op_init(&cell->edge[e], ps, name, nb_ops[op].kind, ccur, ccur,
                                     nb_ops[op].k, 1, err);
            }
        }
        cprev = ccur;
    }
    if (st == NASC_OK)
        st = nasc_bn_init(&net->last_bn, ps, "last.bn", cprev, true, err);
    if (st == NASC_OK)
        st = nasc_fc_init(&net->fc, ps, "fc", cprev, cfg.n_classes, true, err);
    if (st != NASC_OK) {
        nb_net_free(net);
        nasc_params_free(ps);
        return st;
    }
    return nasc_sp_model_wrap(a, &nb_model_iface, ps, net, &cfg, seed, out, err);
}

const sp_vt nasc_sp_nb201_vt = {
    .name = "nb201",
    .cell_ops = nb_ops,
    .n_cell_ops = NB_N_OPS,
    .default_channels = 16,
    .default_cells = 5,
    .init = nb_init,
    .n_options = nb_n_options,
    .parse = nb_parse,
    .print = nb_print,
    .hash = nb_hash,
    .encoding_len = nb_encoding_len,
    .encode = nb_encode,
    .build = nb_build,
    .json = nb_json,
    .dot = nb_dot,
    .describe = nb_describe,
};
