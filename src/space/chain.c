/* chain.c — the chain-structured (layer-wise) space: a plain sequence of 1..max_layers layers.
 *
 * Layers (21 tokens, in decision-option order):
 *   convKxK-C   K in {3, 5, 7}, C in {16, 32, 64, 128}: conv with bias, stride 1, pad K/2
 *   maxpool     avgpool: 2x2, stride 2 (halves H and W; at most 3 per network)
 *   fc-U        U in {32, 64, 128, 256}: fully connected with bias
 *   relu  sigmoid  tanh
 * Text: the layers joined by commas, e.g. "conv3x3-32,relu,maxpool,conv5x5-64,relu,fc-128,relu".
 *
 * Shapes are valid by construction: convolutions keep H and W; the first fc (or the classifier)
 * reads the global average of the feature map, so the parameter count does not depend on the
 * input size; after an fc only fc and activations may follow; at most 3 pools, so any input of
 * at least 8x8 fits. The network ends with a linear classifier (in -> classes), not part of the
 * architecture.
 *
 * Decisions: d[0] = number of layers - 1, then d[i] (i = 1..L) = index of layer i-1 in the list
 * of tokens allowed after layers 0..i-2 (all 21 before any fc and pool limit; fewer after).
 */
#include "space_int.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

enum { CH_N_TOK = 21, CH_MAX_POOLS = 3, CH_DEFAULT_LAYERS = 8, CH_LIMIT_LAYERS = 64 };
enum { CH_CONV = 0, CH_MAXPOOL, CH_AVGPOOL, CH_FC, CH_RELU, CH_SIGMOID, CH_TANH };

typedef struct ch_tok {
    int kind;
    int k;     /* conv kernel */
    int units; /* conv channels / fc units */
} ch_tok;

static const int ch_kernels[3] = {3, 5, 7};
static const int ch_channels[4] = {16, 32, 64, 128};
static const int ch_units[4] = {32, 64, 128, 256};

static ch_tok ch_token(int id) {
    if (id < 12)
        return (ch_tok){CH_CONV, ch_kernels[id / 4], ch_channels[id % 4]};
    if (id < 14)
        return (ch_tok){id == 12 ? CH_MAXPOOL : CH_AVGPOOL, 0, 0};
    if (id < 18)
        return (ch_tok){CH_FC, 0, ch_units[id - 14]};
    return (ch_tok){CH_RELU + (id - 18), 0, 0};
}

static void ch_token_str(int id, char *buf, size_t n) {
    static const char *const names[] = {"conv", "maxpool", "avgpool", "fc", "relu", "sigmoid",
                                        "tanh"};
    ch_tok t = ch_token(id);
    if (t.kind == CH_CONV)
        snprintf(buf, n, "conv%dx%d-%d", t.k, t.k, t.units);
    else if (t.kind == CH_FC)
        snprintf(buf, n, "fc-%d", t.units);
    else
        snprintf(buf, n, "%s", names[t.kind]);
}

/* State after a prefix: pools used, and whether an fc flattened the features. */
typedef struct ch_state {
    int pools;
    bool flat;
} ch_state;

static bool ch_ok(ch_state s, int id) {
    ch_tok t = ch_token(id);
    if (s.flat && (t.kind == CH_CONV || t.kind == CH_MAXPOOL || t.kind == CH_AVGPOOL))
        return false;
    if ((t.kind == CH_MAXPOOL || t.kind == CH_AVGPOOL) && s.pools >= CH_MAX_POOLS)
        return false;
    return true;
}

static void ch_step(ch_state *s, int id) {
    ch_tok t = ch_token(id);
    if (t.kind == CH_MAXPOOL || t.kind == CH_AVGPOOL)
        s->pools++;
    if (t.kind == CH_FC)
        s->flat = true;
}

/* Allowed token ids after state s, in order; returns their count. */
static int ch_allowed(ch_state s, int *ids) {
    int n = 0;
    for (int id = 0; id < CH_N_TOK; id++)
        if (ch_ok(s, id))
            ids[n++] = id;
    return n;
}

/* Decisions -> token ids (returns the layer count, or -1 if a decision is out of range). */
static int ch_decode(const int *d, int n_dec, int *tok) {
    const int L = d[0] + 1;
    if (d[0] < 0 || 1 + L > n_dec)
        return -1;
    ch_state s = {0};
    for (int i = 0; i < L; i++) {
        int ids[CH_N_TOK], k = ch_allowed(s, ids);
        if (1 + i >= n_dec || d[1 + i] < 0 || d[1 + i] >= k)
            return -1;
        tok[i] = ids[d[1 + i]];
        ch_step(&s, tok[i]);
    }
    return L;
}

/* Token ids -> decisions; false if the sequence is not valid. */
static bool ch_encode_dec(const int *tok, int L, int *d) {
    d[0] = L - 1;
    ch_state s = {0};
    for (int i = 0; i < L; i++) {
        if (!ch_ok(s, tok[i]))
            return false;
        int ids[CH_N_TOK], k = ch_allowed(s, ids), j = 0;
        while (j < k && ids[j] != tok[i])
            j++;
        d[1 + i] = j;
        ch_step(&s, tok[i]);
    }
    return true;
}

static int ch_max_layers(const nasc_space *s) { return s->cfg.max_layers; }

static nasc_status ch_init(nasc_space *s, nasc_err *err) {
    if (!s->cfg.max_layers)
        s->cfg.max_layers = CH_DEFAULT_LAYERS;
    if (s->cfg.max_layers < 1 || s->cfg.max_layers > CH_LIMIT_LAYERS)
        return nasc_errorf(err, NASC_ERR_ARG, "chain: max_layers must be in 1..%d (%d)",
                           CH_LIMIT_LAYERS, s->cfg.max_layers);
    s->n_dec = 1 + s->cfg.max_layers;
    s->fixed_radix = false;
    s->size = 0;
    return NASC_OK;
}

static int ch_n_options(const nasc_space *s, int i, const int *d) {
    const int maxl = ch_max_layers(s);
    if (i == 0)
        return maxl;
    if (!d || d[0] < 0 || d[0] >= maxl || i > d[0] + 1)
        return 0;
    ch_state st = {0};
    for (int j = 1; j < i; j++) {
        int ids[CH_N_TOK], k = ch_allowed(st, ids);
        if (d[j] < 0 || d[j] >= k)
            return 0;
        ch_step(&st, ids[d[j]]);
    }
    int ids[CH_N_TOK];
    return ch_allowed(st, ids);
}

/* ---- text ---- */

/* Reads one layer token at the cursor into *id; errors name the column. */
static nasc_status ch_read_token(sp_cur *c, int *id, size_t *at) {
    char w[40];
    if (!nasc_sp_word(c, w, sizeof w, at)) {
        char got[32];
        return nasc_sp_fail(c, *at, "expected a layer (got %s)", nasc_sp_got(c, got, sizeof got));
    }
    int k1, k2, n = 0;
    if (sscanf(w, "conv%dx%d%n", &k1, &k2, &n) == 2 && w[n] == '\0') {
        if (k1 != k2 || (k1 != 3 && k1 != 5 && k1 != 7))
            return nasc_sp_fail(c, *at, "conv kernel must be 3x3, 5x5 or 7x7 (got '%s')", w);
        size_t p;
        int ch;
        if (!nasc_sp_accept(c, "-") || !nasc_sp_uint(c, &ch, &p))
            return nasc_sp_fail(c, c->pos, "expected '-C' (output channels) after '%s'", w);
        int ci = ch == 16 ? 0 : ch == 32 ? 1 : ch == 64 ? 2 : ch == 128 ? 3 : -1;
        if (ci < 0)
            return nasc_sp_fail(c, p, "conv channels must be 16, 32, 64 or 128 (got %d)", ch);
        *id = (k1 / 2 - 1) * 4 + ci;
        return NASC_OK;
    }
    if (!strcmp(w, "fc")) {
        size_t p;
        int u;
        if (!nasc_sp_accept(c, "-") || !nasc_sp_uint(c, &u, &p))
            return nasc_sp_fail(c, c->pos, "expected '-U' (units) after 'fc'");
        int ui = u == 32 ? 0 : u == 64 ? 1 : u == 128 ? 2 : u == 256 ? 3 : -1;
        if (ui < 0)
            return nasc_sp_fail(c, p, "fc units must be 32, 64, 128 or 256 (got %d)", u);
        *id = 14 + ui;
        return NASC_OK;
    }
    static const char *const simple[] = {"maxpool", "avgpool", "relu", "sigmoid", "tanh"};
    static const int simple_id[] = {12, 13, 18, 19, 20};
    for (int i = 0; i < 5; i++)
        if (!strcmp(w, simple[i])) {
            *id = simple_id[i];
            return NASC_OK;
        }
    return nasc_sp_fail(c, *at,
                        "unknown layer '%s' (expected convKxK-C, maxpool, avgpool, fc-U, relu, "
                        "sigmoid or tanh)",
                        w);
}

static nasc_status ch_parse(const nasc_space *s, const char *text, int *d, int *n, nasc_err *err) {
    sp_cur c = {.space = s->vt->name, .text = text, .err = err};
    const int maxl = ch_max_layers(s);
    int tok[CH_LIMIT_LAYERS], L = 0;
    ch_state st = {0};
    for (;;) {
        size_t at = c.pos;
        int id = 0;
        nasc_sp_skip_ws(&c);
        if (L == maxl)
            return nasc_sp_fail(&c, c.pos, "more than max_layers=%d layers", maxl);
        NASC_TRY(ch_read_token(&c, &id, &at));
        if (!ch_ok(st, id)) {
            char name[32];
            ch_token_str(id, name, sizeof name);
            if (st.flat)
                return nasc_sp_fail(&c, at,
                                    "%s after a fully connected layer: conv and pooling layers "
                                    "must come before the first fc",
                                    name);
            return nasc_sp_fail(&c, at, "%s: at most %d pooling layers (each halves H and W)",
                                name, CH_MAX_POOLS);
        }
        ch_step(&st, id);
        tok[L++] = id;
        if (!nasc_sp_accept(&c, ","))
            break;
    }
    NASC_TRY(nasc_sp_end(&c));
    ch_encode_dec(tok, L, d);
    *n = 1 + L;
    return NASC_OK;
}

static void ch_print(const nasc_arch *a, nasc_buf *sb) {
    int tok[CH_LIMIT_LAYERS];
    int L = ch_decode(a->d, a->n, tok);
    for (int i = 0; i < L; i++) {
        char name[32];
        ch_token_str(tok[i], name, sizeof name);
        nasc_buf_printf(sb, "%s%s", i ? "," : "", name);
    }
}

/* ---- mutation, crossover, neighbours (on token lists) ---- */

static bool ch_valid_tokens(const int *tok, int L, int maxl) {
    if (L < 1 || L > maxl)
        return false;
    ch_state s = {0};
    for (int i = 0; i < L; i++) {
        if (!ch_ok(s, tok[i]))
            return false;
        ch_step(&s, tok[i]);
    }
    return true;
}

static nasc_arch *ch_from_tokens(const nasc_space *s, const int *tok, int L) {
    int d[1 + CH_LIMIT_LAYERS];
    if (!ch_valid_tokens(tok, L, ch_max_layers(s)))
        return NULL;
    ch_encode_dec(tok, L, d);
    return nasc_sp_arch_new(s, d, 1 + L);
}

/* Edit e of a token list: kind 0 replace position p with id, 1 insert id at p, 2 remove p. */
static int ch_edit(const int *tok, int L, int kind, int p, int id, int *out) {
    int n = 0;
    for (int i = 0; i <= L; i++) {
        if (kind == 1 && i == p)
            out[n++] = id;
        if (i == L)
            break;
        if (kind == 2 && i == p)
            continue;
        out[n++] = (kind == 0 && i == p) ? id : tok[i];
    }
    return n;
}

static nasc_status ch_mutate(const nasc_arch *a, nasc_rng *rng, nasc_arch **out, nasc_err *err) {
    const nasc_space *s = a->space;
    const int maxl = ch_max_layers(s);
    int tok[CH_LIMIT_LAYERS], t2[CH_LIMIT_LAYERS + 1];
    const int L = ch_decode(a->d, a->n, tok);
    for (int attempt = 0; attempt < 10000; attempt++) {
        const int kind = (int)nasc_rng_below(rng, 3);
        const int p = (int)nasc_rng_below(rng, (uint32_t)(kind == 1 ? L + 1 : L));
        const int id = (int)nasc_rng_below(rng, CH_N_TOK);
        if (kind == 0 && id == tok[p])
            continue;
        const int n = ch_edit(tok, L, kind, p, id, t2);
        if (!ch_valid_tokens(t2, n, maxl))
            continue;
        *out = ch_from_tokens(s, t2, n);
        return *out ? NASC_OK : nasc_errorf(err, NASC_ERR_NOMEM, "chain: out of memory");
    }
    return nasc_errorf(err, NASC_ERR_INTERNAL, "chain: no valid mutation found");
}

static nasc_status ch_neighbors(const nasc_arch *a, nasc_arch ***out, size_t *out_n,
                                nasc_err *err) {
    const nasc_space *s = a->space;
    const int maxl = ch_max_layers(s);
    int tok[CH_LIMIT_LAYERS], t2[CH_LIMIT_LAYERS + 1];
    const int L = ch_decode(a->d, a->n, tok);
    nasc_arch **list = NULL;
    size_t n = 0, cap = 0;
    for (int kind = 0; kind < 3; kind++)
        for (int p = 0; p < (kind == 1 ? L + 1 : L); p++)
            for (int id = 0; id < (kind == 2 ? 1 : CH_N_TOK); id++) {
                if (kind == 0 && id == tok[p])
                    continue;
                const int m = ch_edit(tok, L, kind, p, id, t2);
                if (!ch_valid_tokens(t2, m, maxl))
                    continue;
                nasc_arch *b = ch_from_tokens(s, t2, m);
                bool dup = false; /* removing either of two equal neighbours gives one list */
                for (size_t q = 0; b && q < n && !dup; q++)
                    dup = nasc_arch_equal(list[q], b);
                if (dup) {
                    nasc_arch_free(b);
                    continue;
                }
                if (nasc_sp_list_push(&list, &n, &cap, b) != NASC_OK) {
                    nasc_arch_list_free(list, n);
                    return nasc_errorf(err, NASC_ERR_NOMEM, "chain: out of memory");
                }
            }
    *out = list;
    *out_n = n;
    return NASC_OK;
}

/* One-point crossover: a's layers before a cut, b's from another cut on; retried until valid. */
static nasc_status ch_crossover(const nasc_arch *a, const nasc_arch *b, nasc_rng *rng,
                                nasc_arch **out, nasc_err *err) {
    const nasc_space *s = a->space;
    const int maxl = ch_max_layers(s);
    int ta[CH_LIMIT_LAYERS], tb[CH_LIMIT_LAYERS], tc[2 * CH_LIMIT_LAYERS];
    const int la = ch_decode(a->d, a->n, ta), lb = ch_decode(b->d, b->n, tb);
    for (int attempt = 0; attempt < 200; attempt++) {
        const int ca = (int)nasc_rng_below(rng, (uint32_t)la + 1);
        const int cb = (int)nasc_rng_below(rng, (uint32_t)lb + 1);
        int n = 0;
        for (int i = 0; i < ca; i++)
            tc[n++] = ta[i];
        for (int i = cb; i < lb; i++)
            tc[n++] = tb[i];
        if (ch_valid_tokens(tc, n, maxl)) {
            *out = ch_from_tokens(s, tc, n);
            return *out ? NASC_OK : nasc_errorf(err, NASC_ERR_NOMEM, "chain: out of memory");
        }
    }
    *out = nasc_arch_clone(a);
    return *out ? NASC_OK : nasc_errorf(err, NASC_ERR_NOMEM, "chain: out of memory");
}

/* ---- encodings ----
 * ONEHOT: max_layers x 21: row i is the one-hot of layer i (zeros past the end); the adjacency of
 * a chain is implied by the order.
 * PATH: a chain has one input->output path, so this is BANANAS' truncated form: one bit per path
 * of 1 or 2 consecutive layers that occurs (21 + 21*21 = 462 bits). */
static size_t ch_encoding_len(const nasc_space *s, nasc_encoding kind) {
    return kind == NASC_ENC_ONEHOT ? (size_t)ch_max_layers(s) * CH_N_TOK
                                   : (size_t)(CH_N_TOK + CH_N_TOK * CH_N_TOK);
}

static void ch_encode(const nasc_arch *a, nasc_encoding kind, float *out) {
    int tok[CH_LIMIT_LAYERS];
    const int L = ch_decode(a->d, a->n, tok);
    for (int i = 0; i < L; i++) {
        if (kind == NASC_ENC_ONEHOT) {
            out[i * CH_N_TOK + tok[i]] = 1.0f;
        } else {
            out[tok[i]] = 1.0f;
            if (i + 1 < L)
                out[CH_N_TOK + tok[i] * CH_N_TOK + tok[i + 1]] = 1.0f;
        }
    }
}

static void ch_json(const nasc_arch *a, cJSON *obj) {
    static const char *const kinds[] = {"conv", "maxpool", "avgpool", "fc", "relu", "sigmoid",
                                        "tanh"};
    int tok[CH_LIMIT_LAYERS];
    const int L = ch_decode(a->d, a->n, tok);
    cJSON *layers = cJSON_AddArrayToObject(obj, "layers");
    for (int i = 0; layers && i < L; i++) {
        ch_tok t = ch_token(tok[i]);
        cJSON *l = cJSON_CreateObject();
        if (!l)
            return;
        cJSON_AddStringToObject(l, "type", kinds[t.kind]);
        if (t.kind == CH_CONV) {
            cJSON_AddNumberToObject(l, "kernel", t.k);
            cJSON_AddNumberToObject(l, "channels", t.units);
        } else if (t.kind == CH_FC) {
            cJSON_AddNumberToObject(l, "units", t.units);
        }
        cJSON_AddItemToArray(layers, l);
    }
}

static void ch_dot(const nasc_arch *a, nasc_buf *sb) {
    int tok[CH_LIMIT_LAYERS];
    const int L = ch_decode(a->d, a->n, tok);
    nasc_buf_puts(sb, "  rankdir=TB;\n  node [shape=box];\n  in [label=\"input\"];\n"
                        "  out [label=\"linear classifier\"];\n");
    for (int i = 0; i < L; i++) {
        char name[32];
        ch_token_str(tok[i], name, sizeof name);
        nasc_buf_printf(sb, "  l%d [label=\"%s\"];\n", i, name);
    }
    nasc_buf_puts(sb, "  in");
    for (int i = 0; i < L; i++)
        nasc_buf_printf(sb, " -> l%d", i);
    nasc_buf_puts(sb, " -> out;\n");
}

static void ch_describe(const nasc_arch *a, nasc_buf *sb) {
    int tok[CH_LIMIT_LAYERS];
    const int L = ch_decode(a->d, a->n, tok);
    nasc_buf_printf(sb, "chain of %d layers (then global average pool if needed and a linear "
                          "classifier):\n",
                      L);
    for (int i = 0; i < L; i++) {
        char name[32];
        ch_token_str(tok[i], name, sizeof name);
        nasc_buf_printf(sb, "  %2d  %s\n", i, name);
    }
}

/* ---- network ---- */

typedef struct ch_layer {
    int kind;
    bool gap; /* global average pool before this layer (first fc) */
    nasc_conv conv;
    nasc_fc fc;
} ch_layer;

typedef struct ch_net {
    int n_layers;
    ch_layer layers[CH_LIMIT_LAYERS];
    bool head_gap;
    nasc_fc head;
} ch_net;

static nasc_tensor *ch_forward(nasc_model *m, nasc_graph *g, nasc_tensor *x,
                               const nasc_forward_opts *opts) {
    (void)opts;
    const ch_net *net = m->impl;
    const nasc_pool2d_params pool = {.k = {2, 2}, .stride = {2, 2}};
    nasc_tensor *h = x;
    for (int i = 0; i < net->n_layers; i++) {
        const ch_layer *l = &net->layers[i];
        switch (l->kind) {
        case CH_CONV: h = nasc_conv_forward(g, &l->conv, h); break;
        case CH_MAXPOOL: h = nasc_maxpool2d(g, h, &pool); break;
        case CH_AVGPOOL: h = nasc_avgpool2d(g, h, &pool); break;
        case CH_FC: h = nasc_fc_forward(g, &l->fc, l->gap ? nasc_global_avgpool(g, h) : h); break;
        case CH_RELU: h = nasc_relu(g, h); break;
        case CH_SIGMOID: h = nasc_sigmoid(g, h); break;
        default: h = nasc_tanh(g, h); break;
        }
    }
    return nasc_fc_forward(g, &net->head, net->head_gap ? nasc_global_avgpool(g, h) : h);
}

static const nasc_model_i ch_model_iface = {
    .kind = "chain",
    .forward = ch_forward,
    .free_impl = nasc_sp_free_impl,
};

static nasc_status ch_build(const nasc_arch *a, const nasc_net_config *in, uint64_t seed,
                            nasc_model **out, nasc_err *err) {
    nasc_net_config cfg = *in;
    nasc_sp_net_defaults(&cfg, a->space->vt->default_channels, a->space->vt->default_cells);
    int tok[CH_LIMIT_LAYERS];
    const int L = ch_decode(a->d, a->n, tok);
    int pools = 0;
    for (int i = 0; i < L; i++)
        pools += ch_token(tok[i]).kind == CH_MAXPOOL || ch_token(tok[i]).kind == CH_AVGPOOL;
    if ((cfg.in_h >> pools) < 1 || (cfg.in_w >> pools) < 1)
        return nasc_errorf(err, NASC_ERR_SHAPE,
                           "chain: input %dx%d is too small for %d pooling layers (needs %dx%d)",
                           cfg.in_h, cfg.in_w, pools, 1 << pools, 1 << pools);
    ch_net *net = nasc_calloc(1, sizeof *net);
    nasc_params *ps = nasc_params_new("chain");
    if (!net || !ps) {
        nasc_free(net);
        nasc_params_free(ps);
        return nasc_errorf(err, NASC_ERR_NOMEM, "chain: out of memory");
    }
    net->n_layers = L;
    int c = cfg.in_c;
    bool flat = false;
    nasc_status st = NASC_OK;
    for (int i = 0; i < L && st == NASC_OK; i++) {
        ch_tok t = ch_token(tok[i]);
        ch_layer *l = &net->layers[i];
        char name[32];
        l->kind = t.kind;
        if (t.kind == CH_CONV) {
            snprintf(name, sizeof name, "l%d.conv", i);
            st = nasc_conv_init(&l->conv, ps, name,
                                &(nasc_conv_spec){.cin = c, .cout = t.units, .k = t.k,
                                                  .pad = t.k / 2, .bias = true,
                                                  .init = NASC_INIT_TORCH_DEFAULT},
                                err);
            c = t.units;
        } else if (t.kind == CH_FC) {
            snprintf(name, sizeof name, "l%d.fc", i);
            l->gap = !flat;
            flat = true;
            st = nasc_fc_init(&l->fc, ps, name, c, t.units, true, err);
            c = t.units;
        }
    }
    net->head_gap = !flat;
    if (st == NASC_OK)
        st = nasc_fc_init(&net->head, ps, "head", c, cfg.n_classes, true, err);
    if (st != NASC_OK) {
        nasc_free(net);
        nasc_params_free(ps);
        return st;
    }
    return nasc_sp_model_wrap(a, &ch_model_iface, ps, net, &cfg, seed, out, err);
}

const sp_vt nasc_sp_chain_vt = {
    .name = "chain",
    .default_channels = 0,
    .default_cells = 0,
    .init = ch_init,
    .n_options = ch_n_options,
    .parse = ch_parse,
    .print = ch_print,
    .mutate = ch_mutate,
    .crossover = ch_crossover,
    .neighbors = ch_neighbors,
    .encoding_len = ch_encoding_len,
    .encode = ch_encode,
    .build = ch_build,
    .json = ch_json,
    .dot = ch_dot,
    .describe = ch_describe,
};
