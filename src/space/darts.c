/* darts.c — the DARTS cell space (Liu et al., ICLR 2019) and its evaluation network.
 *
 * An architecture is a normal and a reduction cell. Each cell has inputs c_{k-2} (node 0) and
 * c_{k-1} (node 1) and 4 intermediate nodes 2..5; node i sums two ops, each applied to any
 * earlier node (0..i-1), and the cell outputs the concatenation of nodes 2..5. Text form is the
 * DARTS code's genotype, exactly as Python prints the namedtuple:
 *   Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...], normal_concat=[2, 3, 4, 5],
 *            reduce=[...], reduce_concat=[2, 3, 4, 5])
 * Parsing also accepts any blanks, either quote, trailing commas and `range(2, 6)` as a concat.
 *
 * Decisions: for the normal then the reduction cell, for pairs k = 0..7 (node 2 + k/2): the op
 * (8 options, PRIMITIVES order) then the input (2 + k/2 options). 32 decisions.
 *
 * Network (quark0/darts cnn/model.py NetworkCIFAR): stem Conv3x3(3C) + BN; L cells, reductions
 * (channels doubled, stride 2 on the ops reading the cell inputs) at cells L/3 and 2L/3; a cell's
 * input c_{k-2} passes through FactorizedReduce when the previous cell reduced, else ReLUConvBN
 * 1x1; c_{k-1} through ReLUConvBN 1x1; drop-path on every non-identity op output in training;
 * optional auxiliary head after cell 2L/3; global average pool; linear.
 */
#include "space_int.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

enum { DA_PAIRS = 8, DA_NODES = 4, DA_N_OPS = 8, DA_DEC_PER_CELL = 2 * DA_PAIRS };
enum { DA_NONE = 0, DA_MAX, DA_AVG, DA_SKIP, DA_SEP3, DA_SEP5, DA_DIL3, DA_DIL5 };

/* The candidate ops, in decision order (quark0/darts genotypes.py PRIMITIVES). */
static const nasc_cell_op da_ops[DA_N_OPS] = {
    {"none", NASC_CELL_ZERO, 1},         {"max_pool_3x3", NASC_CELL_MAX3, 3},
    {"avg_pool_3x3", NASC_CELL_AVG3, 3}, {"skip_connect", NASC_CELL_IDENTITY, 1},
    {"sep_conv_3x3", NASC_CELL_SEP, 3},  {"sep_conv_5x5", NASC_CELL_SEP, 5},
    {"dil_conv_3x3", NASC_CELL_DIL, 3},  {"dil_conv_5x5", NASC_CELL_DIL, 5}};
static const char *const da_cell_names[2] = {"normal", "reduce"};

static nasc_status da_init(nasc_space *s, nasc_err *err) {
    (void)err;
    s->n_dec = 2 * DA_DEC_PER_CELL;
    s->fixed_radix = true;
    s->size = 0; /* ((2*8)(3*8)(4*8)(5*8))^4 ~ 5.8e22 > 2^64 */
    return NASC_OK;
}

static int da_n_options(const nasc_space *s, int i, const int *d) {
    (void)s;
    (void)d;
    if (i >= 2 * DA_DEC_PER_CELL)
        return 0;
    const int pair = (i % DA_DEC_PER_CELL) / 2;
    return (i % 2 == 0) ? DA_N_OPS : 2 + pair / 2;
}

/* Accessors: op and input of pair k of cell t. */
static int da_op(const int *d, int t, int k) { return d[t * DA_DEC_PER_CELL + 2 * k]; }
static int da_in(const int *d, int t, int k) { return d[t * DA_DEC_PER_CELL + 2 * k + 1]; }

/* ---- text ---- */

static nasc_status parse_quoted(sp_cur *c, char *buf, size_t n, size_t *start) {
    nasc_sp_skip_ws(c);
    *start = c->pos;
    const char q = c->text[c->pos];
    if (q != '\'' && q != '"') {
        char got[32];
        return nasc_sp_fail(c, c->pos, "expected a quoted op name (got %s)",
                            nasc_sp_got(c, got, sizeof got));
    }
    size_t p = c->pos + 1, len = 0;
    while (c->text[p + len] && c->text[p + len] != q)
        len++;
    if (!c->text[p + len])
        return nasc_sp_fail(c, c->pos, "unterminated string");
    size_t k = len < n - 1 ? len : n - 1;
    memcpy(buf, c->text + p, k);
    buf[k] = '\0';
    c->pos = p + len + 1;
    return NASC_OK;
}

static nasc_status parse_cell(sp_cur *c, int t, int *d) {
    const char *cell = da_cell_names[t];
    NASC_TRY(nasc_sp_expect(c, cell));
    NASC_TRY(nasc_sp_expect(c, "="));
    NASC_TRY(nasc_sp_expect(c, "["));
    int k = 0;
    for (;;) {
        if (nasc_sp_accept(c, "]"))
            break;
        nasc_sp_skip_ws(c);
        const size_t pair_at = c->pos;
        if (k == DA_PAIRS)
            return nasc_sp_fail(c, pair_at,
                                "%s: too many (op, input) pairs: a cell has 4 nodes x 2 inputs = "
                                "8 pairs",
                                cell);
        NASC_TRY(nasc_sp_expect(c, "("));
        char op[40];
        size_t op_at, idx_at;
        NASC_TRY(parse_quoted(c, op, sizeof op, &op_at));
        int o = nasc_sp_op_lookup(da_ops, DA_N_OPS, op);
        if (o < 0)
            return nasc_sp_fail(c, op_at + 1,
                                "unknown op '%s' (expected none, max_pool_3x3, avg_pool_3x3, "
                                "skip_connect, sep_conv_3x3, sep_conv_5x5, dil_conv_3x3 or "
                                "dil_conv_5x5)",
                                op);
        NASC_TRY(nasc_sp_expect(c, ","));
        int in;
        if (!nasc_sp_uint(c, &in, &idx_at)) {
            char got[32];
            return nasc_sp_fail(c, idx_at, "expected an input node index (got %s)",
                                nasc_sp_got(c, got, sizeof got));
        }
        const int node = 2 + k / 2;
        if (in >= node)
            return nasc_sp_fail(c, idx_at,
                                "%s: node %d (pair %d) takes input %d, but inputs must come from "
                                "earlier nodes 0..%d (a cycle or forward edge)",
                                cell, node, k, in, node - 1);
        NASC_TRY(nasc_sp_expect(c, ")"));
        d[t * DA_DEC_PER_CELL + 2 * k] = o;
        d[t * DA_DEC_PER_CELL + 2 * k + 1] = in;
        k++;
        if (!nasc_sp_accept(c, ",")) {
            if (nasc_sp_accept(c, "]"))
                break;
            char got[32];
            nasc_sp_skip_ws(c);
            return nasc_sp_fail(c, c->pos, "expected ',' or ']' (got %s)",
                                nasc_sp_got(c, got, sizeof got));
        }
    }
    if (k != DA_PAIRS)
        return nasc_sp_fail(c, c->pos - 1,
                            "%s has %d (op, input) pairs, expected 8 (4 nodes x 2 inputs)", cell,
                            k);
    return NASC_OK;
}

static nasc_status parse_concat(sp_cur *c, const char *cell) {
    char key[32];
    snprintf(key, sizeof key, "%s_concat", cell);
    NASC_TRY(nasc_sp_expect(c, key));
    NASC_TRY(nasc_sp_expect(c, "="));
    nasc_sp_skip_ws(c);
    const size_t at = c->pos;
    int v[16], n = 0;
    size_t p;
    if (nasc_sp_accept(c, "range")) {
        int lo, hi;
        NASC_TRY(nasc_sp_expect(c, "("));
        if (!nasc_sp_uint(c, &lo, &p))
            return nasc_sp_fail(c, p, "expected an integer in range(...)");
        NASC_TRY(nasc_sp_expect(c, ","));
        if (!nasc_sp_uint(c, &hi, &p))
            return nasc_sp_fail(c, p, "expected an integer in range(...)");
        NASC_TRY(nasc_sp_expect(c, ")"));
        for (int i = lo; i < hi && n < 16; i++)
            v[n++] = i;
    } else {
        NASC_TRY(nasc_sp_expect(c, "["));
        while (!nasc_sp_accept(c, "]")) {
            int x;
            if (!nasc_sp_uint(c, &x, &p)) {
                char got[32];
                return nasc_sp_fail(c, p, "expected a node index or ']' (got %s)",
                                    nasc_sp_got(c, got, sizeof got));
            }
            if (n < 16)
                v[n++] = x;
            if (!nasc_sp_accept(c, ",")) {
                NASC_TRY(nasc_sp_expect(c, "]"));
                break;
            }
        }
    }
    bool ok = n == DA_NODES;
    for (int i = 0; ok && i < n; i++)
        ok = v[i] == 2 + i;
    if (!ok)
        return nasc_sp_fail(c, at,
                            "%s must be [2, 3, 4, 5]: cells in this space output all 4 "
                            "intermediate nodes",
                            key);
    return NASC_OK;
}

static nasc_status da_parse(const nasc_space *s, const char *text, int *d, int *n, nasc_err *err) {
    sp_cur c = {.space = s->vt->name, .text = text, .err = err};
    NASC_TRY(nasc_sp_expect(&c, "Genotype"));
    NASC_TRY(nasc_sp_expect(&c, "("));
    for (int t = 0; t < 2; t++) {
        NASC_TRY(parse_cell(&c, t, d));
        NASC_TRY(nasc_sp_expect(&c, ","));
        NASC_TRY(parse_concat(&c, da_cell_names[t]));
        if (t == 0)
            NASC_TRY(nasc_sp_expect(&c, ","));
    }
    nasc_sp_accept(&c, ",");
    NASC_TRY(nasc_sp_expect(&c, ")"));
    NASC_TRY(nasc_sp_end(&c));
    *n = 2 * DA_DEC_PER_CELL;
    return NASC_OK;
}

static void da_print(const nasc_arch *a, nasc_buf *sb) {
    nasc_buf_puts(sb, "Genotype(");
    for (int t = 0; t < 2; t++) {
        nasc_buf_printf(sb, "%s%s=[", t ? ", " : "", da_cell_names[t]);
        for (int k = 0; k < DA_PAIRS; k++)
            nasc_buf_printf(sb, "%s('%s', %d)", k ? ", " : "", da_ops[da_op(a->d, t, k)].name,
                              da_in(a->d, t, k));
        nasc_buf_printf(sb, "], %s_concat=[2, 3, 4, 5]", da_cell_names[t]);
    }
    nasc_buf_puts(sb, ")");
}

/* Hash: the two (op, input) pairs of a node are summed, so their order does not matter. */
static uint64_t da_hash(const nasc_arch *a) {
    uint64_t h = nasc_sp_hash_str(NASC_SP_HASH_INIT, "darts");
    for (int t = 0; t < 2; t++)
        for (int node = 0; node < DA_NODES; node++) {
            int p0 = da_op(a->d, t, 2 * node) * 16 + da_in(a->d, t, 2 * node);
            int p1 = da_op(a->d, t, 2 * node + 1) * 16 + da_in(a->d, t, 2 * node + 1);
            unsigned char b[2] = {(unsigned char)(p0 < p1 ? p0 : p1),
                                  (unsigned char)(p0 < p1 ? p1 : p0)};
            h = nasc_sp_hash_bytes(h, b, 2);
        }
    return nasc_sp_hash_final(h);
}

/* ---- encodings ----
 * ONEHOT, per cell: the 8 pairs, each a one-hot of its input over nodes 0..5 (6 floats) and of
 * its op (8 floats): 2 x 8 x 14 = 224 floats.
 * PATH, per cell and per cell input (c_{k-2}, c_{k-1}): every path from that input to the cell
 * output through intermediate nodes (length 1..4 ops) sets bit offset(len) + sum_j op_j * 7^j
 * over the 7 ops other than 'none' (paths through 'none' carry nothing and are skipped):
 * 2 cells x 2 inputs x (7 + 49 + 343 + 2401) = 11,200 floats. */
enum { DA_PATH_PER_INPUT = 7 + 49 + 343 + 2401 };

static size_t da_encoding_len(const nasc_space *s, nasc_encoding kind) {
    (void)s;
    return kind == NASC_ENC_ONEHOT ? 2 * DA_PAIRS * 14 : 4 * DA_PATH_PER_INPUT;
}

static void da_paths(const int *d, int t, int node, int len, int code, int pow7, float *out) {
    /* path arrived at `node` (>= 2) after len ops encoded as code; record it and extend. */
    static const int offset[5] = {0, 0, 7, 56, 399};
    if (node >= 2 && len >= 1)
        out[offset[len] + code] = 1.0f;
    for (int k = 0; k < DA_PAIRS; k++) {
        const int op = da_op(d, t, k), to = 2 + k / 2;
        if (da_in(d, t, k) != node || op == DA_NONE)
            continue;
        da_paths(d, t, to, len + 1, code + (op - 1) * pow7, pow7 * 7, out);
    }
}

static void da_encode(const nasc_arch *a, nasc_encoding kind, float *out) {
    if (kind == NASC_ENC_ONEHOT) {
        for (int t = 0; t < 2; t++)
            for (int k = 0; k < DA_PAIRS; k++) {
                float *p = out + (t * DA_PAIRS + k) * 14;
                p[da_in(a->d, t, k)] = 1.0f;
                p[6 + da_op(a->d, t, k)] = 1.0f;
            }
        return;
    }
    for (int t = 0; t < 2; t++)
        for (int in = 0; in < 2; in++)
            da_paths(a->d, t, in, 0, 0, 1, out + (t * 2 + in) * DA_PATH_PER_INPUT);
}

/* ---- JSON, DOT, description ---- */

static void da_json(const nasc_arch *a, cJSON *obj) {
    for (int t = 0; t < 2; t++) {
        cJSON *cell = cJSON_AddArrayToObject(obj, da_cell_names[t]);
        for (int k = 0; cell && k < DA_PAIRS; k++) {
            cJSON *pair = cJSON_CreateArray();
            if (!pair)
                return;
            cJSON_AddItemToArray(pair, cJSON_CreateString(da_ops[da_op(a->d, t, k)].name));
            cJSON_AddItemToArray(pair, cJSON_CreateNumber(da_in(a->d, t, k)));
            cJSON_AddItemToArray(cell, pair);
        }
        char key[32];
        snprintf(key, sizeof key, "%s_concat", da_cell_names[t]);
        const int concat[4] = {2, 3, 4, 5};
        cJSON_AddItemToObject(obj, key, cJSON_CreateIntArray(concat, 4));
    }
}

static void da_dot(const nasc_arch *a, nasc_buf *sb) {
    nasc_buf_puts(sb, "  rankdir=LR;\n");
    for (int t = 0; t < 2; t++) {
        const char *cn = da_cell_names[t];
        nasc_buf_printf(sb, "  subgraph cluster_%s {\n    label=\"%s cell\";\n", cn, cn);
        nasc_buf_printf(sb, "    %s_0 [label=\"c_{k-2}\", shape=box];\n"
                              "    %s_1 [label=\"c_{k-1}\", shape=box];\n",
                          cn, cn);
        for (int node = 2; node < 6; node++)
            nasc_buf_printf(sb, "    %s_%d [label=\"%d\", shape=circle];\n", cn, node, node);
        nasc_buf_printf(sb, "    %s_out [label=\"c_{k}\", shape=box];\n", cn);
        for (int k = 0; k < DA_PAIRS; k++)
            nasc_buf_printf(sb, "    %s_%d -> %s_%d [label=\"%s\"];\n", cn, da_in(a->d, t, k), cn,
                              2 + k / 2, da_ops[da_op(a->d, t, k)].name);
        for (int node = 2; node < 6; node++)
            nasc_buf_printf(sb, "    %s_%d -> %s_out [style=dashed];\n", cn, node, cn);
        nasc_buf_puts(sb, "  }\n");
    }
}

static void da_describe(const nasc_arch *a, nasc_buf *sb) {
    for (int t = 0; t < 2; t++) {
        nasc_buf_printf(sb, "DARTS %s cell (inputs 0 = c_{k-2}, 1 = c_{k-1}; output = "
                              "concat(2, 3, 4, 5)):\n",
                          da_cell_names[t]);
        for (int node = 0; node < DA_NODES; node++)
            nasc_buf_printf(sb, "  node %d = %s(node %d) + %s(node %d)\n", node + 2,
                              da_ops[da_op(a->d, t, 2 * node)].name, da_in(a->d, t, 2 * node),
                              da_ops[da_op(a->d, t, 2 * node + 1)].name, da_in(a->d, t, 2 * node + 1));
    }
}

/* ---- network ---- */

typedef struct da_cell {
    bool reduction;
    sp_op pre0, pre1;
    sp_op ops[DA_PAIRS];
} da_cell;

typedef struct da_aux {
    int pool_stride[2];
    nasc_conv c0, c1;
    nasc_bn bn0, bn1;
    nasc_fc fc;
} da_aux;

typedef struct da_net {
    int d[2 * DA_DEC_PER_CELL];
    nasc_conv stem;
    nasc_bn stem_bn;
    int n_cells, aux_at;
    bool has_aux;
    da_cell *cells;
    da_aux aux;
    nasc_fc fc;
} da_net;

static void da_net_free(void *impl) {
    da_net *net = impl;
    if (net)
        nasc_free(net->cells);
    nasc_free(net);
}

/* One cell. r0 and r1 hold relu(s0) and relu(s1) once computed (a cell's output is s1 of the next
 * cell and s0 of the one after: both preprocess it with a ReLU first); within the cell, every
 * state's ReLU, max pool and avg pool are computed once for all the ops that read them. */
static nasc_tensor *da_cell_forward(nasc_graph *g, const da_net *net, const da_cell *cell,
                                    nasc_tensor *s0, nasc_tensor *s1, nasc_tensor **r0,
                                    nasc_tensor **r1, float drop) {
    const int t = cell->reduction ? 1 : 0;
    nasc_tensor *st[6] = {nasc_sp_op_forward_shared(g, &cell->pre0, s0, r0),
                          nasc_sp_op_forward_shared(g, &cell->pre1, s1, r1)};
    nasc_tensor *rst[6] = {NULL};
    nasc_tensor *pooled[6][2] = {{NULL}}; /* max / avg 3x3 pool of each state */
    int pooled_stride[6][2] = {{0}};
    for (int node = 0; node < DA_NODES; node++) {
        nasc_tensor *h[2];
        for (int j = 0; j < 2; j++) {
            const int k = 2 * node + j;
            const sp_op *op = &cell->ops[k];
            const int in = da_in(net->d, t, k);
            /* a parameter-free pool of a state is computed once for all the ops that pool it
             * (DARTS_V2's reduction cells max-pool s0 twice and s1 three times); the stride is
             * the state's, so one slot per state and pool kind */
            const int pk = op->kind == NASC_CELL_MAX3 ? 0 : op->kind == NASC_CELL_AVG3 ? 1 : -1;
            if (pk >= 0 && pooled[in][pk] && pooled_stride[in][pk] == op->stride) {
                h[j] = pooled[in][pk];
            } else {
                h[j] = nasc_sp_op_forward_shared(g, op, st[in], &rst[in]);
                if (pk >= 0) {
                    pooled[in][pk] = h[j];
                    pooled_stride[in][pk] = op->stride;
                }
            }
            if (drop > 0.0f && op->kind != NASC_CELL_IDENTITY)
                h[j] = nasc_drop_path(g, h[j], drop);
        }
        st[2 + node] = nasc_add(g, h[0], h[1]);
    }
    return nasc_concat(g, DA_NODES, st + 2);
}

static nasc_tensor *da_aux_forward(nasc_graph *g, const da_aux *aux, nasc_tensor *relu_x) {
    nasc_tensor *h = nasc_avgpool2d(g, relu_x,
                                    &(nasc_pool2d_params){.k = {5, 5},
                                                          .stride = {aux->pool_stride[0],
                                                                     aux->pool_stride[1]},
                                                          .count_include_pad = false});
    h = nasc_bn_relu_forward(g, &aux->bn0, nasc_conv_forward(g, &aux->c0, h));
    h = nasc_bn_relu_forward(g, &aux->bn1, nasc_conv_forward(g, &aux->c1, h));
    return nasc_fc_forward(g, &aux->fc, h);
}

static nasc_tensor *da_forward(nasc_model *m, nasc_graph *g, nasc_tensor *x,
                               const nasc_forward_opts *opts) {
    const da_net *net = m->impl;
    const float drop = nasc_graph_training(g) ? opts->drop_path : 0.0f;
    nasc_tensor *s0 = nasc_bn_forward(g, &net->stem_bn, nasc_conv_forward(g, &net->stem, x));
    nasc_tensor *s1 = s0;
    nasc_tensor *r0 = NULL, *r1 = NULL; /* relu(s0), relu(s1) once computed */
    for (int i = 0; i < net->n_cells; i++) {
        /* the first cell reads the stem output as both s0 and s1 */
        nasc_tensor *s2 = da_cell_forward(g, net, &net->cells[i], s0, s1, &r0, i ? &r1 : &r0,
                                          drop);
        s0 = s1;
        r0 = i ? r1 : r0;
        s1 = s2;
        r1 = NULL;
        if (i == net->aux_at && net->has_aux && opts->want_aux) {
            r1 = nasc_relu(g, s1); /* also the next cells' preprocessing ReLU */
            m->aux_logits = da_aux_forward(g, &net->aux, r1);
        }
    }
    return nasc_fc_forward(g, &net->fc, nasc_global_avgpool(g, s1));
}

static const nasc_model_i da_model_iface = {
    .kind = "darts",
    .forward = da_forward,
    .free_impl = da_net_free,
};


static nasc_status da_build(const nasc_arch *a, const nasc_net_config *in, uint64_t seed,
                            nasc_model **out, nasc_err *err) {
    nasc_net_config cfg = *in;
    nasc_sp_net_defaults(&cfg, a->space->vt->default_channels, a->space->vt->default_cells);
    const int C = cfg.channels, L = cfg.cells;
    if (C % 2)
        return nasc_errorf(err, NASC_ERR_ARG,
                           "darts: channels C=%d must be even (factorized reduce halves it)", C);
    /* Shape walk: every reduction cell needs an even input size (stride-2 ops and factorized
     * reduce must agree), and the auxiliary head needs at least 6x6 (see below). */
    int h = cfg.in_h, w = cfg.in_w, aux_h = 0, aux_w = 0;
    for (int i = 0; i < L; i++) {
        if (i == L / 3 || i == 2 * L / 3) {
            if (h % 2 || w % 2)
                return nasc_errorf(err, NASC_ERR_SHAPE,
                                   "darts: input %dx%d: reduction cell %d gets a %dx%d feature "
                                   "map; it needs even sizes (input sizes divisible by 4)",
                                   cfg.in_h, cfg.in_w, i, h, w);
            h /= 2;
            w /= 2;
        }
        if (i == 2 * L / 3)
            aux_h = h, aux_w = w;
    }
    if (cfg.auxiliary && (aux_h < 6 || aux_w < 6))
        return nasc_errorf(err, NASC_ERR_SHAPE,
                           "darts: auxiliary head: cell %d outputs %dx%d, the head needs at least "
                           "6x6",
                           2 * L / 3, aux_h, aux_w);

    da_net *net = nasc_calloc(1, sizeof *net);
    da_cell *cells = nasc_calloc((size_t)L, sizeof *cells);
    nasc_params *ps = nasc_params_new("darts");
    if (!net || !ps || !cells) {
        nasc_free(net);
        nasc_free(cells);
        nasc_params_free(ps);
        return nasc_errorf(err, NASC_ERR_NOMEM, "darts: out of memory");
    }
    memcpy(net->d, a->d, sizeof net->d);
    net->cells = cells;
    net->n_cells = L;
    net->aux_at = 2 * L / 3;
    net->has_aux = cfg.auxiliary;

    nasc_status st =
        nasc_conv_init_cell(&net->stem, ps, "stem", cfg.in_c, 3 * C, 3, 1, 1, 1, 1, err);
    if (st == NASC_OK)
        st = nasc_bn_init(&net->stem_bn, ps, "stem.bn", 3 * C, true, err);
    int cpp = 3 * C, cp = 3 * C, ccur = C, c_aux = 0;
    bool red_prev = false;
    for (int i = 0; i < L && st == NASC_OK; i++) {
        da_cell *cell = &cells[i];
        cell->reduction = (i == L / 3 || i == 2 * L / 3);
        if (cell->reduction)
            ccur *= 2;
        const int t = cell->reduction ? 1 : 0;
        char name[32];
        snprintf(name, sizeof name, "c%d.p0", i);
        st = red_prev ? nasc_sp_op_init(&cell->pre0, ps, name, NASC_CELL_FR, cpp, ccur, 1, 2, err)
                      : nasc_sp_op_init(&cell->pre0, ps, name, NASC_CELL_RCB, cpp, ccur, 1, 1, err);
        snprintf(name, sizeof name, "c%d.p1", i);
        if (st == NASC_OK)
            st = nasc_sp_op_init(&cell->pre1, ps, name, NASC_CELL_RCB, cp, ccur, 1, 1, err);
        for (int k = 0; k < DA_PAIRS && st == NASC_OK; k++) {
            const int op = da_op(a->d, t, k);
            const int stride = (cell->reduction && da_in(a->d, t, k) < 2) ? 2 : 1;
            nasc_cell_op_kind kind = da_ops[op].kind;
            if (op == DA_SKIP && stride == 2)
                kind = NASC_CELL_FR;
            snprintf(name, sizeof name, "c%d.o%d", i, k);
            st = nasc_sp_op_init(&cell->ops[k], ps, name, kind, ccur, ccur, da_ops[op].k, stride, err);
        }
        red_prev = cell->reduction;
        cpp = cp;
        cp = DA_NODES * ccur;
        if (i == 2 * L / 3)
            c_aux = cp;
    }
    if (st == NASC_OK && cfg.auxiliary) {
        /* AuxiliaryHeadCIFAR: ReLU, AvgPool 5x5 (stride 3 on the 8x8 maps of 32x32 inputs, giving
         * 2x2), Conv1x1 128, BN, ReLU, Conv2x2 768, BN, ReLU, Linear. For other sizes the stride
         * is s = H - 5, the one that still gives 2x2 (7x7 maps of 28x28 inputs: s = 2); s = 3 at
         * 8x8, so CIFAR is unchanged. Parameters do not depend on s. */
        net->aux.pool_stride[0] = aux_h - 5;
        net->aux.pool_stride[1] = aux_w - 5;
        st = nasc_conv_init_cell(&net->aux.c0, ps, "aux.c0", c_aux, 128, 1, 1, 0, 1, 1, err);
        if (st == NASC_OK)
            st = nasc_bn_init(&net->aux.bn0, ps, "aux.bn0", 128, true, err);
        if (st == NASC_OK)
            st = nasc_conv_init_cell(&net->aux.c1, ps, "aux.c1", 128, 768, 2, 1, 0, 1, 1, err);
        if (st == NASC_OK)
            st = nasc_bn_init(&net->aux.bn1, ps, "aux.bn1", 768, true, err);
        if (st == NASC_OK)
            st = nasc_fc_init(&net->aux.fc, ps, "aux.fc", 768, cfg.n_classes, true, err);
    }
    if (st == NASC_OK)
        st = nasc_fc_init(&net->fc, ps, "fc", cp, cfg.n_classes, true, err);
    if (st != NASC_OK) {
        da_net_free(net);
        nasc_params_free(ps);
        return st;
    }
    return nasc_sp_model_wrap(a, &da_model_iface, ps, net, &cfg, seed, out, err);
}

const sp_vt nasc_sp_darts_vt = {
    .name = "darts",
    .cell_ops = da_ops,
    .n_cell_ops = DA_N_OPS,
    .default_channels = 36,
    .default_cells = 20,
    .init = da_init,
    .n_options = da_n_options,
    .parse = da_parse,
    .print = da_print,
    .hash = da_hash,
    .encoding_len = da_encoding_len,
    .encode = da_encode,
    .build = da_build,
    .json = da_json,
    .dot = da_dot,
    .describe = da_describe,
};
