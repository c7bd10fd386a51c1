/* morph.c — the network-morphism space (Wei et al. 2016 "Network Morphism"; Chen et al. 2016
 * "Net2Net"; Auto-Keras): plain conv networks with skips that grow by function-preserving edits,
 * so a child starts from its parent's weights.
 *
 * A network is 1..max_layers units (default 8). Unit i is a KxK conv (K in {1, 3, 5}, no bias)
 * to C channels (C in {8, 16, 32, 64, 128, 256}) and a BN, summed with a 1x1 conv (no bias) of
 * each skip source, then a ReLU:
 *     out_i = relu(BN_i(conv_i(in_i)) + sum_{j in skips(i)} conv1x1_{j,i}(out_j))
 * A unit may be followed by a 2x2 stride-2 max or avg pool (at most 3 per network); the next
 * unit reads the pooled map. A skip j -> i needs j < i and no pool after units j..i-1. The head
 * is a global average pool and a linear classifier.
 * Text: items joined by commas: units "convKxK-C" followed by "+j" per skip source (unit index,
 * counting units only, increasing) and pools "maxpool" / "avgpool" after a unit:
 *     "conv3x3-16,conv3x3-16+0,maxpool,conv3x3-32,conv5x5-32+2"
 *
 * Morphisms (the mutations of this space, each function-preserving in inference mode):
 *   deeper(i, K)  insert after unit i a KxK unit of unit i's width whose conv is the identity
 *                 (centre tap 1 on the diagonal) and whose BN is the identity with running mean 0
 *                 and variance 1 - eps; unit i's pool moves after it. Since out_i >= 0 (ReLU),
 *                 relu(out_i) = out_i.
 *   wider(i)      unit i to the next width (Net2Net): new channels copy random old ones (conv
 *                 rows, BN parameters and statistics, incoming skip rows); every consumer (next
 *                 unit's conv, outgoing skip convs, or the classifier) divides the weights of a
 *                 replicated channel by its number of copies.
 *   skip(j, i)    add a skip j -> i with a zero-initialised 1x1 conv.
 * In training mode BN normalises with batch statistics, so an inserted identity unit changes the
 * function until its statistics are learnt: preservation holds in inference mode.
 *
 * Decisions: number of units - 1; then per unit: kernel (3), width (6), one bit per earlier unit
 * j (2 options if j -> i is allowed, else 1), pool after it (3 options while fewer than 3 pools,
 * else 1).
 */
#include "space_int.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

enum { MO_LIMIT = 32, MO_DEFAULT = 8, MO_MAX_POOLS = 3, MO_N_K = 3, MO_N_W = 6 };

static const int mo_kernels[MO_N_K] = {1, 3, 5};
static const int mo_widths[MO_N_W] = {8, 16, 32, 64, 128, 256};
static const char *const mo_pools[3] = {"", "maxpool", "avgpool"};

typedef struct mo_arch {
    int L;
    int k[MO_LIMIT], w[MO_LIMIT], pool[MO_LIMIT]; /* indices; pool 0 none, 1 max, 2 avg */
    uint32_t skip[MO_LIMIT];                      /* bit j: skip from unit j */
} mo_arch;

/* True if a skip j -> i is allowed: no pool after units j..i-1. */
static bool mo_same_stage(const mo_arch *m, int j, int i) {
    for (int u = j; u < i; u++)
        if (m->pool[u])
            return false;
    return true;
}

static int mo_n_pools(const mo_arch *m, int upto) {
    int n = 0;
    for (int u = 0; u < upto; u++)
        n += m->pool[u] != 0;
    return n;
}

/* Walks the decisions d[0..n): fills m as far as decided. If at >= 0, returns the number of
 * options of decision `at` (0 past the end); at < 0: returns the number of decisions of a
 * complete sequence, or -1 if d is out of range / incomplete. */
static int mo_walk(int maxl, const int *d, int n, int at, mo_arch *m) {
    memset(m, 0, sizeof *m);
    int pos = 0;
#define MO_DECIDE(nopt, dst)                                                                       \
    do {                                                                                           \
        const int k_ = (nopt);                                                                     \
        if (pos == at)                                                                             \
            return k_;                                                                             \
        if (pos >= n || d[pos] < 0 || d[pos] >= k_)                                                \
            return at >= 0 ? 0 : -1;                                                               \
        dst = d[pos++];                                                                            \
    } while (0)
    int lm1 = 0;
    MO_DECIDE(maxl, lm1);
    m->L = lm1 + 1;
    for (int i = 0; i < m->L; i++) {
        MO_DECIDE(MO_N_K, m->k[i]);
        MO_DECIDE(MO_N_W, m->w[i]);
        for (int j = 0; j < i; j++) {
            int bit = 0;
            MO_DECIDE(mo_same_stage(m, j, i) ? 2 : 1, bit);
            if (bit)
                m->skip[i] |= 1u << j;
        }
        MO_DECIDE(mo_n_pools(m, i) < MO_MAX_POOLS ? 3 : 1, m->pool[i]);
    }
#undef MO_DECIDE
    if (at >= 0)
        return 0;
    return pos == n ? pos : -1;
}

/* mo_arch -> decisions; returns their count. */
static int mo_to_dec(const mo_arch *m, int *d) {
    int pos = 0;
    d[pos++] = m->L - 1;
    for (int i = 0; i < m->L; i++) {
        d[pos++] = m->k[i];
        d[pos++] = m->w[i];
        for (int j = 0; j < i; j++)
            d[pos++] = (m->skip[i] >> j) & 1u;
        d[pos++] = m->pool[i];
    }
    return pos;
}

static bool mo_valid(const mo_arch *m, int maxl) {
    if (m->L < 1 || m->L > maxl || m->L > MO_LIMIT)
        return false;
    for (int i = 0; i < m->L; i++) {
        if (m->k[i] < 0 || m->k[i] >= MO_N_K || m->w[i] < 0 || m->w[i] >= MO_N_W ||
            m->pool[i] < 0 || m->pool[i] > 2)
            return false;
        if (m->skip[i] >> i)
            return false;
        for (int j = 0; j < i; j++)
            if (((m->skip[i] >> j) & 1u) && !mo_same_stage(m, j, i))
                return false;
    }
    return mo_n_pools(m, m->L) <= MO_MAX_POOLS;
}

static void mo_decode(const nasc_arch *a, mo_arch *m) {
    mo_walk(a->space->cfg.max_layers, a->d, a->n, -1, m);
}

static nasc_arch *mo_make(const nasc_space *s, const mo_arch *m) {
    int d[1 + MO_LIMIT * (3 + MO_LIMIT)];
    if (!mo_valid(m, s->cfg.max_layers))
        return NULL;
    const int n = mo_to_dec(m, d);
    return nasc_sp_arch_new(s, d, n);
}

static nasc_status mo_init(nasc_space *s, nasc_err *err) {
    if (!s->cfg.max_layers)
        s->cfg.max_layers = MO_DEFAULT;
    const int L = s->cfg.max_layers;
    if (L < 1 || L > MO_LIMIT)
        return nasc_errorf(err, NASC_ERR_ARG, "morph: max_layers must be in 1..%d (%d)", MO_LIMIT,
                           L);
    s->n_dec = 1 + 3 * L + L * (L - 1) / 2;
    s->fixed_radix = false;
    s->size = 0;
    return NASC_OK;
}

static int mo_n_options(const nasc_space *s, int i, const int *d) {
    mo_arch m;
    return mo_walk(s->cfg.max_layers, d, i, i, &m);
}

/* ---- text ---- */

static nasc_status mo_parse(const nasc_space *s, const char *text, int *d, int *n, nasc_err *err) {
    sp_cur c = {.space = s->vt->name, .text = text, .err = err};
    const int maxl = s->cfg.max_layers;
    mo_arch m;
    memset(&m, 0, sizeof m);
    bool last_was_unit = false;
    for (;;) {
        char w[40];
        size_t at;
        nasc_sp_skip_ws(&c);
        if (!nasc_sp_word(&c, w, sizeof w, &at)) {
            char got[32];
            return nasc_sp_fail(&c, at, "expected a unit 'convKxK-C' or a pool (got %s)",
                                nasc_sp_got(&c, got, sizeof got));
        }
        if (!strcmp(w, "maxpool") || !strcmp(w, "avgpool")) {
            if (!last_was_unit)
                return nasc_sp_fail(&c, at, "a pool must follow a conv unit%s",
                                    m.L ? " (two pools in a row)" : " (the first item is a unit)");
            if (mo_n_pools(&m, m.L) == MO_MAX_POOLS)
                return nasc_sp_fail(&c, at, "at most %d pools (each halves H and W)",
                                    MO_MAX_POOLS);
            m.pool[m.L - 1] = w[0] == 'm' ? 1 : 2;
            last_was_unit = false;
        } else {
            int k1, k2, used = 0;
            if (sscanf(w, "conv%dx%d%n", &k1, &k2, &used) != 2 || w[used])
                return nasc_sp_fail(&c, at,
                                    "unknown item '%s' (expected convKxK-C, maxpool or avgpool)",
                                    w);
            const int ki = k1 != k2 ? -1 : k1 == 1 ? 0 : k1 == 3 ? 1 : k1 == 5 ? 2 : -1;
            if (ki < 0)
                return nasc_sp_fail(&c, at, "unit kernel must be 1x1, 3x3 or 5x5 (got '%s')", w);
            if (m.L == maxl)
                return nasc_sp_fail(&c, at, "more than max_layers=%d units", maxl);
            int ch;
            size_t p;
            if (!nasc_sp_accept(&c, "-") || !nasc_sp_uint(&c, &ch, &p))
                return nasc_sp_fail(&c, c.pos, "expected '-C' (channels) after '%s'", w);
            int wi = -1;
            for (int q = 0; q < MO_N_W; q++)
                if (mo_widths[q] == ch)
                    wi = q;
            if (wi < 0)
                return nasc_sp_fail(&c, p, "unit width must be 8, 16, 32, 64, 128 or 256 (got %d)",
                                    ch);
            const int i = m.L++;
            m.k[i] = ki;
            m.w[i] = wi;
            int lastj = -1;
            while (nasc_sp_accept(&c, "+")) {
                int j;
                size_t jat;
                if (!nasc_sp_uint(&c, &j, &jat))
                    return nasc_sp_fail(&c, jat, "expected a unit index after '+'");
                if (j >= i && i == 0)
                    return nasc_sp_fail(&c, jat,
                                        "unit 0 cannot take a skip from unit %d: it has no earlier "
                                        "unit (a cycle or forward edge)",
                                        j);
                if (j >= i)
                    return nasc_sp_fail(&c, jat,
                                        "unit %d cannot take a skip from unit %d: skips come from "
                                        "earlier units 0..%d (a cycle or forward edge)",
                                        i, j, i - 1);
                if (j <= lastj)
                    return nasc_sp_fail(&c, jat,
                                        "unit %d: skip sources must be listed once, in increasing "
                                        "order",
                                        i);
                if (!mo_same_stage(&m, j, i))
                    return nasc_sp_fail(&c, jat,
                                        "skip from unit %d to unit %d crosses a pool (shapes "
                                        "differ)",
                                        j, i);
                m.skip[i] |= 1u << j;
                lastj = j;
            }
            last_was_unit = true;
        }
        if (!nasc_sp_accept(&c, ","))
            break;
    }
    NASC_TRY(nasc_sp_end(&c));
    *n = mo_to_dec(&m, d);
    return NASC_OK;
}

static void mo_print_m(const mo_arch *m, nasc_buf *sb) {
    for (int i = 0; i < m->L; i++) {
        const int k = mo_kernels[m->k[i]];
        nasc_buf_printf(sb, "%sconv%dx%d-%d", i ? "," : "", k, k, mo_widths[m->w[i]]);
        for (int j = 0; j < i; j++)
            if ((m->skip[i] >> j) & 1u)
                nasc_buf_printf(sb, "+%d", j);
        if (m->pool[i])
            nasc_buf_printf(sb, ",%s", mo_pools[m->pool[i]]);
    }
}

static void mo_print(const nasc_arch *a, nasc_buf *sb) {
    mo_arch m;
    mo_decode(a, &m);
    mo_print_m(&m, sb);
}

/* ---- morphisms on the representation ---- */

/* Applies op to m (into out); false if the op does not apply. */
static bool mo_morph(const mo_arch *m, const nasc_morph_op *op, mo_arch *out) {
    *out = *m;
    const int i = op->unit;
    if (i < 0 || i >= m->L)
        return false;
    switch (op->kind) {
    case NASC_MORPH_DEEPER: {
        int ki = -1;
        for (int q = 0; q < MO_N_K; q++)
            if (mo_kernels[q] == op->kernel)
                ki = q;
        if (ki < 0 || m->L >= MO_LIMIT)
            return false;
        /* units after i shift by one; skip masks re-indexed (bits > i move up one) */
        for (int u = m->L; u > i + 1; u--) {
            out->k[u] = m->k[u - 1];
            out->w[u] = m->w[u - 1];
            out->pool[u] = m->pool[u - 1];
            const uint32_t s = m->skip[u - 1], lo = s & ((2u << i) - 1u), hi = s & ~((2u << i) - 1u);
            out->skip[u] = lo | (hi << 1);
        }
        out->k[i + 1] = ki;
        out->w[i + 1] = m->w[i];
        out->pool[i + 1] = m->pool[i];
        out->pool[i] = 0;
        out->skip[i + 1] = 0;
        out->L = m->L + 1;
        return true;
    }
    case NASC_MORPH_WIDER:
        if (m->w[i] + 1 >= MO_N_W)
            return false;
        out->w[i] = m->w[i] + 1;
        return true;
    case NASC_MORPH_SKIP: {
        const int j = op->from;
        if (j < 0 || j >= i || ((m->skip[i] >> j) & 1u) || !mo_same_stage(m, j, i))
            return false;
        out->skip[i] |= 1u << j;
        return true;
    }
    default:
        return false;
    }
}

/* All morphisms of m that stay within maxl units, in a fixed order. */
static int mo_all_ops(const mo_arch *m, int maxl, nasc_morph_op *ops) {
    int n = 0;
    for (int i = 0; i < m->L; i++) {
        if (m->L < maxl)
            for (int q = 0; q < MO_N_K; q++)
                ops[n++] = (nasc_morph_op){NASC_MORPH_DEEPER, i, mo_kernels[q], 0};
        if (m->w[i] + 1 < MO_N_W)
            ops[n++] = (nasc_morph_op){NASC_MORPH_WIDER, i, 0, 0};
        for (int j = 0; j < i; j++)
            if (!((m->skip[i] >> j) & 1u) && mo_same_stage(m, j, i))
                ops[n++] = (nasc_morph_op){NASC_MORPH_SKIP, i, 0, j};
    }
    return n;
}

enum { MO_MAX_OPS = MO_LIMIT * (MO_N_K + 1 + MO_LIMIT) };

static nasc_status mo_mutate(const nasc_arch *a, nasc_rng *rng, nasc_arch **out, nasc_err *err) {
    mo_arch m, c;
    mo_decode(a, &m);
    nasc_morph_op ops[MO_MAX_OPS];
    const int n = mo_all_ops(&m, a->space->cfg.max_layers, ops);
    if (!n)
        return nasc_errorf(err, NASC_ERR_ARG,
                           "morph: no morphism applies (max_layers reached, widths at the "
                           "maximum, all skips present)");
    mo_morph(&m, &ops[nasc_rng_below(rng, (uint32_t)n)], &c);
    *out = mo_make(a->space, &c);
    return *out ? NASC_OK : nasc_errorf(err, NASC_ERR_NOMEM, "morph: out of memory");
}

static nasc_status mo_neighbors(const nasc_arch *a, nasc_arch ***out, size_t *out_n,
                                nasc_err *err) {
    mo_arch m, c;
    mo_decode(a, &m);
    nasc_morph_op ops[MO_MAX_OPS];
    const int n_ops = mo_all_ops(&m, a->space->cfg.max_layers, ops);
    nasc_arch **list = NULL;
    size_t n = 0, cap = 0;
    for (int q = 0; q < n_ops; q++) {
        mo_morph(&m, &ops[q], &c);
        nasc_arch *b = mo_make(a->space, &c);
        bool dup = false; /* deeper with the same kernel after twin units coincide */
        for (size_t r = 0; b && r < n && !dup; r++)
            dup = nasc_arch_equal(list[r], b);
        if (dup) {
            nasc_arch_free(b);
            continue;
        }
        if (nasc_sp_list_push(&list, &n, &cap, b) != NASC_OK) {
            nasc_arch_list_free(list, n);
            return nasc_errorf(err, NASC_ERR_NOMEM, "morph: out of memory");
        }
    }
    *out = list;
    *out_n = n;
    return NASC_OK;
}

/* Crossover: a's structure (units, pools, skips) with each common unit's kernel and width taken
 * from a or b at random. Always valid. */
static nasc_status mo_crossover(const nasc_arch *a, const nasc_arch *b, nasc_rng *rng,
                                nasc_arch **out, nasc_err *err) {
    mo_arch ma, mb;
    mo_decode(a, &ma);
    mo_decode(b, &mb);
    for (int i = 0; i < ma.L && i < mb.L; i++) {
        if (nasc_rng_u32(rng) & 1u)
            ma.k[i] = mb.k[i];
        if (nasc_rng_u32(rng) & 1u)
            ma.w[i] = mb.w[i];
    }
    *out = mo_make(a->space, &ma);
    return *out ? NASC_OK : nasc_errorf(err, NASC_ERR_NOMEM, "morph: out of memory");
}

/* ---- encodings ----
 * ONEHOT: per unit kernel (3) + width (6) + pool after (3), zeros past the last unit, then the
 * skip adjacency (pairs j < i, row by row): 12 L + L(L-1)/2.
 * PATH (truncated to 1 and 2 units): a bit per unit type (kernel x width = 18) that occurs and per
 * connected pair of types (through the chain or a skip): 18 + 18 * 18 = 342. */
static size_t mo_encoding_len(const nasc_space *s, nasc_encoding kind) {
    const int L = s->cfg.max_layers;
    return kind == NASC_ENC_ONEHOT ? (size_t)(12 * L + L * (L - 1) / 2) : 342;
}

static void mo_encode(const nasc_arch *a, nasc_encoding kind, float *out) {
    mo_arch m;
    mo_decode(a, &m);
    const int L = a->space->cfg.max_layers;
    int bit = 12 * L;
    for (int i = 0; i < L; i++) {
        if (kind == NASC_ENC_ONEHOT) {
            if (i < m.L) {
                out[12 * i + m.k[i]] = 1.0f;
                out[12 * i + 3 + m.w[i]] = 1.0f;
                out[12 * i + 9 + m.pool[i]] = 1.0f;
            }
            for (int j = 0; j < i; j++, bit++)
                out[bit] = (i < m.L && ((m.skip[i] >> j) & 1u)) ? 1.0f : 0.0f;
            continue;
        }
        if (i >= m.L)
            break;
        const int t = m.k[i] * MO_N_W + m.w[i];
        out[t] = 1.0f;
        if (i > 0)
            out[18 + (m.k[i - 1] * MO_N_W + m.w[i - 1]) * 18 + t] = 1.0f;
        for (int j = 0; j < i; j++)
            if ((m.skip[i] >> j) & 1u)
                out[18 + (m.k[j] * MO_N_W + m.w[j]) * 18 + t] = 1.0f;
    }
}

static void mo_json(const nasc_arch *a, cJSON *obj) {
    mo_arch m;
    mo_decode(a, &m);
    cJSON *units = cJSON_AddArrayToObject(obj, "units");
    for (int i = 0; units && i < m.L; i++) {
        cJSON *u = cJSON_CreateObject(), *sk = cJSON_CreateArray();
        if (!u || !sk) {
            cJSON_Delete(u);
            cJSON_Delete(sk);
            return;
        }
        cJSON_AddNumberToObject(u, "kernel", mo_kernels[m.k[i]]);
        cJSON_AddNumberToObject(u, "channels", mo_widths[m.w[i]]);
        for (int j = 0; j < i; j++)
            if ((m.skip[i] >> j) & 1u)
                cJSON_AddItemToArray(sk, cJSON_CreateNumber(j));
        cJSON_AddItemToObject(u, "skips", sk);
        cJSON_AddStringToObject(u, "pool", m.pool[i] ? mo_pools[m.pool[i]] : "none");
        cJSON_AddItemToArray(units, u);
    }
}

static void mo_dot(const nasc_arch *a, nasc_buf *sb) {
    mo_arch m;
    mo_decode(a, &m);
    nasc_buf_puts(sb, "  rankdir=TB;\n  node [shape=box];\n  in [label=\"input\"];\n"
                        "  out [label=\"pool, linear\"];\n");
    for (int i = 0; i < m.L; i++) {
        const int k = mo_kernels[m.k[i]];
        nasc_buf_printf(sb, "  u%d [label=\"%d: conv%dx%d-%d%s%s\"];\n", i, i, k, k,
                          mo_widths[m.w[i]], m.pool[i] ? ", " : "", mo_pools[m.pool[i]]);
        if (i)
            nasc_buf_printf(sb, "  u%d -> u%d;\n", i - 1, i);
        else
            nasc_buf_puts(sb, "  in -> u0;\n");
        for (int j = 0; j < i; j++)
            if ((m.skip[i] >> j) & 1u)
                nasc_buf_printf(sb, "  u%d -> u%d [style=dashed, label=\"1x1\"];\n", j, i);
    }
    nasc_buf_printf(sb, "  u%d -> out;\n", m.L - 1);
}

static void mo_describe(const nasc_arch *a, nasc_buf *sb) {
    mo_arch m;
    mo_decode(a, &m);
    nasc_buf_printf(sb, "morphable conv network, %d units (relu(BN(conv) + 1x1 skips)):\n", m.L);
    for (int i = 0; i < m.L; i++) {
        const int k = mo_kernels[m.k[i]];
        nasc_buf_printf(sb, "  unit %d: conv %dx%d to %d channels", i, k, k, mo_widths[m.w[i]]);
        bool any = false;
        for (int j = 0; j < i; j++)
            if ((m.skip[i] >> j) & 1u) {
                nasc_buf_printf(sb, "%s%d", any ? ", " : ", skips from units ", j);
                any = true;
            }
        if (m.pool[i])
            nasc_buf_printf(sb, "; then %s 2x2", mo_pools[m.pool[i]]);
        nasc_buf_puts(sb, "\n");
    }
}

/* ---- network ---- */

typedef struct mo_unit {
    int cin, cout, k, pool;
    uint32_t skip;
    nasc_conv conv;
    nasc_bn bn;
    nasc_conv skipconv[MO_LIMIT]; /* [j] for each skip source j */
} mo_unit;

typedef struct mo_net {
    int L;
    mo_unit units[MO_LIMIT];
    nasc_fc fc;
} mo_net;

static nasc_tensor *mo_forward(nasc_model *m, nasc_graph *g, nasc_tensor *x,
                               const nasc_forward_opts *opts) {
    (void)opts;
    const mo_net *net = m->impl;
    nasc_tensor *out[MO_LIMIT], *h = x;
    const nasc_pool2d_params pool = {.k = {2, 2}, .stride = {2, 2}};
    for (int i = 0; i < net->L; i++) {
        const mo_unit *u = &net->units[i];
        nasc_tensor *pre = nasc_bn_forward(g, &u->bn, nasc_conv_forward(g, &u->conv, h));
        for (int j = 0; j < i; j++)
            if ((u->skip >> j) & 1u)
                pre = nasc_add(g, pre, nasc_conv_forward(g, &u->skipconv[j], out[j]));
        out[i] = nasc_relu(g, pre);
        h = u->pool == 1   ? nasc_maxpool2d(g, out[i], &pool)
            : u->pool == 2 ? nasc_avgpool2d(g, out[i], &pool)
                           : out[i];
    }
    return nasc_fc_forward(g, &net->fc, nasc_global_avgpool(g, h));
}

static const nasc_model_i mo_model_iface = {
    .kind = "morph",
    .forward = mo_forward,
    .free_impl = nasc_sp_free_impl,
};

static nasc_status mo_build_m(const nasc_arch *a, const mo_arch *m, const nasc_net_config *in,
                              uint64_t seed, nasc_model **out, nasc_err *err) {
    nasc_net_config cfg = *in;
    nasc_sp_net_defaults(&cfg, a->space->vt->default_channels, a->space->vt->default_cells);
    const int pools = mo_n_pools(m, m->L);
    if ((cfg.in_h >> pools) < 1 || (cfg.in_w >> pools) < 1)
        return nasc_errorf(err, NASC_ERR_SHAPE,
                           "morph: input %dx%d is too small for %d pooling layers", cfg.in_h,
                           cfg.in_w, pools);
    mo_net *net = nasc_calloc(1, sizeof *net);
    nasc_params *ps = nasc_params_new("morph");
    if (!net || !ps) {
        nasc_free(net);
        nasc_params_free(ps);
        return nasc_errorf(err, NASC_ERR_NOMEM, "morph: out of memory");
    }
    net->L = m->L;
    nasc_status st = NASC_OK;
    int cin = cfg.in_c;
    for (int i = 0; i < m->L && st == NASC_OK; i++) {
        mo_unit *u = &net->units[i];
        char name[32];
        u->cin = cin;
        u->cout = mo_widths[m->w[i]];
        u->k = mo_kernels[m->k[i]];
        u->pool = m->pool[i];
        u->skip = m->skip[i];
        snprintf(name, sizeof name, "u%d", i);
        st = nasc_conv_init_cell(&u->conv, ps, name, cin, u->cout, u->k, 1, u->k / 2, 1, 1, err);
        snprintf(name, sizeof name, "u%d.bn", i);
        if (st == NASC_OK)
            st = nasc_bn_init(&u->bn, ps, name, u->cout, true, err);
        for (int j = 0; j < i && st == NASC_OK; j++)
            if ((u->skip >> j) & 1u) {
                snprintf(name, sizeof name, "u%d.s%d", i, j);
                st = nasc_conv_init_cell(&u->skipconv[j], ps, name, net->units[j].cout, u->cout, 1,
                                         1, 0, 1, 1, err);
            }
        cin = u->cout;
    }
    if (st == NASC_OK)
        st = nasc_fc_init(&net->fc, ps, "fc", cin, cfg.n_classes, true, err);
    if (st != NASC_OK) {
        nasc_free(net);
        nasc_params_free(ps);
        return st;
    }
    return nasc_sp_model_wrap(a, &mo_model_iface, ps, net, &cfg, seed, out, err);
}

static nasc_status mo_build(const nasc_arch *a, const nasc_net_config *in, uint64_t seed,
                            nasc_model **out, nasc_err *err) {
    mo_arch m;
    mo_decode(a, &m);
    return mo_build_m(a, &m, in, seed, out, err);
}

const sp_vt nasc_sp_morph_vt = {
    .name = "morph",
    .default_channels = 0,
    .default_cells = 0,
    .init = mo_init,
    .n_options = mo_n_options,
    .parse = mo_parse,
    .print = mo_print,
    .mutate = mo_mutate,
    .crossover = mo_crossover,
    .neighbors = mo_neighbors,
    .encoding_len = mo_encoding_len,
    .encode = mo_encode,
    .build = mo_build,
    .json = mo_json,
    .dot = mo_dot,
    .describe = mo_describe,
};

/* ---- weight inheritance ---- */

static void copy_t(nasc_tensor *dst, const nasc_tensor *src) {
    memcpy(dst->data, src->data, (size_t)nasc_tensor_nelem(src) * sizeof(float));
}

/* Copies a (K, C, KH, KW) weight with output rows mapped by rows[] (NULL: identity, K equal) and
 * input channels by cols[] with divisors div[] (NULL: identity). */
static void copy_w(nasc_tensor *dst, const nasc_tensor *src, const int *rows, const int *cols,
                   const int *div) {
    for (int o = 0; o < dst->ne[0]; o++)
        for (int c = 0; c < dst->ne[1]; c++)
            for (int kh = 0; kh < dst->ne[2]; kh++)
                for (int kw = 0; kw < dst->ne[3]; kw++) {
                    const int so = rows ? rows[o] : o, sc = cols ? cols[c] : c;
                    float v = src->data[nasc_tensor_offset(src, so, sc, kh, kw)];
                    if (div)
                        v /= (float)div[sc];
                    dst->data[nasc_tensor_offset(dst, o, c, kh, kw)] = v;
                }
}

static void copy_vec(nasc_tensor *dst, const nasc_tensor *src, const int *map) {
    for (int c = 0; c < dst->ne[1]; c++)
        dst->data[c] = src->data[map ? map[c] : c];
}

static void copy_bn(nasc_bn *dst, const nasc_bn *src, const int *map) {
    copy_vec(dst->gamma, src->gamma, map);
    copy_vec(dst->beta, src->beta, map);
    copy_vec(dst->running_mean, src->running_mean, map);
    copy_vec(dst->running_var, src->running_var, map);
}

static nasc_status morph_space(nasc_space **out, nasc_err *err) {
    return nasc_space_new("morph", &(nasc_space_config){.max_layers = MO_LIMIT}, out, err);
}

nasc_status nasc_morph_apply(const nasc_model *parent, const nasc_morph_op *op, nasc_rng *rng,
                             nasc_model **out_child, nasc_err *err) {
    *out_child = NULL;
    if (!parent || !parent->space || strcmp(parent->space, "morph") || !parent->arch)
        return nasc_errorf(err, NASC_ERR_ARG, "morph: the parent is not a morph network (%s)",
                           parent && parent->space ? parent->space : "no space");
    nasc_space *sp = NULL;
    NASC_TRY(morph_space(&sp, err));
    nasc_arch *pa = NULL, *ca = NULL;
    nasc_model *child = NULL;
    nasc_status st = nasc_arch_parse(sp, parent->arch, &pa, err);
    mo_arch pm, cm;
    if (st == NASC_OK) {
        mo_decode(pa, &pm);
        if (!mo_morph(&pm, op, &cm))
            st = nasc_errorf(err, NASC_ERR_ARG,
                             "morph: %s of unit %d does not apply to a %d-unit network",
                             op->kind == NASC_MORPH_DEEPER  ? "deeper"
                             : op->kind == NASC_MORPH_WIDER ? "wider"
                                                            : "skip",
                             op->unit, pm.L);
    }
    if (st == NASC_OK) {
        ca = mo_make(sp, &cm);
        if (!ca)
            st = nasc_errorf(err, NASC_ERR_NOMEM, "morph: out of memory");
    }
    if (st == NASC_OK)
        st = mo_build_m(ca, &cm,
                        &(nasc_net_config){.in_c = parent->in_c, .in_h = parent->in_h,
                                           .in_w = parent->in_w, .n_classes = parent->n_classes},
                        0, &child, err);
    if (st == NASC_OK) {
        const mo_net *P = parent->impl;
        mo_net *Cn = child->impl;
        const int i = op->unit;
        /* unit map: child unit u comes from parent unit pu[u] (-1: new) */
        int pu[MO_LIMIT];
        for (int u = 0; u < cm.L; u++)
            pu[u] = op->kind != NASC_MORPH_DEEPER ? u : u <= i ? u : u == i + 1 ? -1 : u - 1;
        /* wider: channel map of the widened unit, and copy counts */
        int map[256], cnt[256];
        if (op->kind == NASC_MORPH_WIDER) {
            const int w0 = P->units[i].cout, w1 = Cn->units[i].cout;
            for (int c = 0; c < w0; c++)
                cnt[c] = 1;
            for (int c = 0; c < w1; c++) {
                map[c] = c < w0 ? c : (int)nasc_rng_below(rng, (uint32_t)w0);
                if (c >= w0)
                    cnt[map[c]]++;
            }
        }
        const bool wide = op->kind == NASC_MORPH_WIDER;
        for (int u = 0; u < cm.L; u++) {
            mo_unit *cu = &Cn->units[u];
            if (pu[u] < 0) { /* identity unit: conv centre tap 1, BN identity */
                nasc_tensor *w = cu->conv.w;
                memset(w->data, 0, (size_t)nasc_tensor_nelem(w) * sizeof(float));
                for (int c = 0; c < cu->cout; c++)
                    w->data[nasc_tensor_offset(w, c, c, cu->k / 2, cu->k / 2)] = 1.0f;
                for (int c = 0; c < cu->cout; c++) {
                    cu->bn.gamma->data[c] = 1.0f;
                    cu->bn.beta->data[c] = 0.0f;
                    cu->bn.running_mean->data[c] = 0.0f;
                    cu->bn.running_var->data[c] = 1.0f - cu->bn.p.eps;
                }
                continue;
            }
            const mo_unit *pu_ = &P->units[pu[u]];
            const bool out_wide = wide && u == i, in_wide = wide && u == i + 1;
            copy_w(cu->conv.w, pu_->conv.w, out_wide ? map : NULL, in_wide ? map : NULL,
                   in_wide ? cnt : NULL);
            copy_bn(&cu->bn, &pu_->bn, out_wide ? map : NULL);
            for (int j = 0; j < u; j++) {
                if (!((cu->skip >> j) & 1u))
                    continue;
                const int pj = op->kind != NASC_MORPH_DEEPER ? j : j <= i ? j : j - 1;
                const bool is_new = op->kind == NASC_MORPH_SKIP && u == i && j == op->from;
                if (is_new || !((pu_->skip >> pj) & 1u)) {
                    memset(cu->skipconv[j].w->data, 0,
                           (size_t)nasc_tensor_nelem(cu->skipconv[j].w) * sizeof(float));
                    continue;
                }
                const bool src_wide = wide && j == i;
                copy_w(cu->skipconv[j].w, pu_->skipconv[pj].w, out_wide ? map : NULL,
                       src_wide ? map : NULL, src_wide ? cnt : NULL);
            }
        }
        const bool fc_wide = wide && i == cm.L - 1;
        copy_w(Cn->fc.w, P->fc.w, NULL, fc_wide ? map : NULL, fc_wide ? cnt : NULL);
        copy_t(Cn->fc.b, P->fc.b);
        *out_child = child;
        child = NULL;
    }
    nasc_model_free(child);
    nasc_arch_free(pa);
    nasc_arch_free(ca);
    nasc_space_free(sp);
    return st;
}

/* The op that turns parent into child, if they are one morphism apart. */
static bool mo_diff(const mo_arch *p, const mo_arch *c, nasc_morph_op *op) {
    nasc_morph_op ops[MO_MAX_OPS];
    const int n = mo_all_ops(p, MO_LIMIT, ops);
    for (int q = 0; q < n; q++) {
        mo_arch t;
        if (mo_morph(p, &ops[q], &t) && t.L == c->L &&
            !memcmp(t.k, c->k, sizeof(int) * (size_t)t.L) &&
            !memcmp(t.w, c->w, sizeof(int) * (size_t)t.L) &&
            !memcmp(t.pool, c->pool, sizeof(int) * (size_t)t.L) &&
            !memcmp(t.skip, c->skip, sizeof(uint32_t) * (size_t)t.L)) {
            *op = ops[q];
            return true;
        }
    }
    return false;
}

nasc_status nasc_morph_inherit(const nasc_model *parent, const nasc_arch *child_arch,
                               nasc_rng *rng, nasc_model **out_child, nasc_err *err) {
    *out_child = NULL;
    if (strcmp(nasc_space_name(nasc_arch_space(child_arch)), "morph"))
        return nasc_errorf(err, NASC_ERR_ARG, "morph: the child is not a morph architecture");
    if (!parent || !parent->space || strcmp(parent->space, "morph") || !parent->arch)
        return nasc_errorf(err, NASC_ERR_ARG, "morph: the parent is not a morph network");
    nasc_space *sp = NULL;
    NASC_TRY(morph_space(&sp, err));
    nasc_arch *pa = NULL;
    nasc_status st = nasc_arch_parse(sp, parent->arch, &pa, err);
    if (st == NASC_OK) {
        mo_arch pm, cm;
        nasc_morph_op op;
        mo_decode(pa, &pm);
        mo_decode(child_arch, &cm);
        if (!mo_diff(&pm, &cm, &op)) {
            char *ct = nasc_arch_to_string(child_arch);
            st = nasc_errorf(err, NASC_ERR_ARG, "morph: '%s' is not one morphism from '%s'",
                             ct ? ct : "?", parent->arch);
            nasc_free(ct);
        } else {
            st = nasc_morph_apply(parent, &op, rng, out_child, err);
        }
    }
    nasc_arch_free(pa);
    nasc_space_free(sp);
    return st;
}
