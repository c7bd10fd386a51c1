/* mobilenet.c — a MobileNetV2-like space (Sandler et al. 2018; the per-stage choices of
 * MnasNet / ProxylessNAS): n_stages stages of inverted-residual blocks; each stage chooses the
 * expansion e in {3, 6}, the depthwise kernel k in {3, 5, 7} and its depth d in 1..max_depth
 * (defaults: 5 stages, max_depth 4: (2*3*4)^5 = 7,962,624 networks).
 *
 * Text: one "eEkKdD" per stage, comma-separated: "e6k3d2,e3k5d3,e6k7d1,e3k3d4,e6k5d2".
 * Decisions per stage, in order: e (index in {3, 6}), k (index in {3, 5, 7}), d - 1.
 *
 * Network: stem Conv3x3 (C) + BN + ReLU; stage s has channels C * {1, 1.5, 2, 4, 6, 10, 20}[s]
 * and stride {1, 2, 2, 2, 1, 2, 1}[s] on its first block (MobileNetV2's widths for C = 16, its
 * strides without the stem's); a block is Conv1x1 (expand to e*cin) + BN + ReLU, depthwise
 * ConvKxK (stride) + BN + ReLU, Conv1x1 (project) + BN, plus the input when stride 1 and cin ==
 * cout. Head: Conv1x1 to 4x the last stage's channels + BN + ReLU, global average pool, linear.
 * ReLU replaces MobileNetV2's ReLU6 (the engine has no clipped ReLU); convs have no bias.
 */
#include "space_int.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

enum { MB_MAX_STAGES = 7, MB_LIMIT_DEPTH = 16 };

static const int mb_exp[2] = {3, 6};
static const int mb_ker[3] = {3, 5, 7};
static const int mb_width_x2[MB_MAX_STAGES] = {2, 3, 4, 8, 12, 20, 40}; /* C * w / 2 */
static const int mb_stride[MB_MAX_STAGES] = {1, 2, 2, 2, 1, 2, 1};

static nasc_status mb_init(nasc_space *s, nasc_err *err) {
    if (!s->cfg.n_stages)
        s->cfg.n_stages = 5;
    if (!s->cfg.max_depth)
        s->cfg.max_depth = 4;
    if (s->cfg.n_stages < 1 || s->cfg.n_stages > MB_MAX_STAGES)
        return nasc_errorf(err, NASC_ERR_ARG, "mobilenet: n_stages must be in 1..%d (%d)",
                           MB_MAX_STAGES, s->cfg.n_stages);
    if (s->cfg.max_depth < 1 || s->cfg.max_depth > MB_LIMIT_DEPTH)
        return nasc_errorf(err, NASC_ERR_ARG, "mobilenet: max_depth must be in 1..%d (%d)",
                           MB_LIMIT_DEPTH, s->cfg.max_depth);
    s->n_dec = 3 * s->cfg.n_stages;
    s->fixed_radix = true;
    uint64_t size = 1, per = (uint64_t)(6 * s->cfg.max_depth);
    for (int i = 0; i < s->cfg.n_stages; i++)
        size *= per; /* at most 96^7 < 2^64 */
    s->size = size;
    return NASC_OK;
}

static int mb_n_options(const nasc_space *s, int i, const int *d) {
    (void)d;
    if (i >= s->n_dec)
        return 0;
    return i % 3 == 0 ? 2 : i % 3 == 1 ? 3 : s->cfg.max_depth;
}

static nasc_status mb_parse(const nasc_space *s, const char *text, int *d, int *n, nasc_err *err) {
    sp_cur c = {.space = s->vt->name, .text = text, .err = err};
    const int S = s->cfg.n_stages;
    int st = 0;
    for (;; st++) {
        char w[40];
        size_t at;
        nasc_sp_skip_ws(&c);
        if (st == S)
            return nasc_sp_fail(&c, c.pos, "more than n_stages=%d stages", S);
        if (!nasc_sp_word(&c, w, sizeof w, &at)) {
            char got[32];
            return nasc_sp_fail(&c, at, "expected a stage 'eEkKdD' (got %s)",
                                nasc_sp_got(&c, got, sizeof got));
        }
        int e, k, dd, used = 0;
        if (sscanf(w, "e%dk%dd%d%n", &e, &k, &dd, &used) != 3 || w[used] != '\0')
            return nasc_sp_fail(&c, at, "stage %d: expected 'eEkKdD', e.g. e6k3d2 (got '%s')", st,
                                w);
        int ei = e == 3 ? 0 : e == 6 ? 1 : -1, ki = k == 3 ? 0 : k == 5 ? 1 : k == 7 ? 2 : -1;
        if (ei < 0)
            return nasc_sp_fail(&c, at, "stage %d: expansion must be 3 or 6 (got %d)", st, e);
        if (ki < 0)
            return nasc_sp_fail(&c, at, "stage %d: kernel must be 3, 5 or 7 (got %d)", st, k);
        if (dd < 1 || dd > s->cfg.max_depth)
            return nasc_sp_fail(&c, at, "stage %d: depth must be in 1..%d (got %d)", st,
                                s->cfg.max_depth, dd);
        d[3 * st] = ei;
        d[3 * st + 1] = ki;
        d[3 * st + 2] = dd - 1;
        if (!nasc_sp_accept(&c, ","))
            break;
    }
    if (st + 1 != S) {
        nasc_sp_skip_ws(&c);
        if (c.text[c.pos])
            return nasc_sp_end(&c);
        return nasc_sp_fail(&c, c.pos, "expected %d stages (got %d)", S, st + 1);
    }
    NASC_TRY(nasc_sp_end(&c));
    *n = 3 * S;
    return NASC_OK;
}

static void mb_print(const nasc_arch *a, nasc_buf *sb) {
    for (int st = 0; 3 * st < a->n; st++)
        nasc_buf_printf(sb, "%se%dk%dd%d", st ? "," : "", mb_exp[a->d[3 * st]],
                          mb_ker[a->d[3 * st + 1]], a->d[3 * st + 2] + 1);
}

/* ---- encodings ----
 * ONEHOT: per stage one-hot e (2) + k (3) + d (max_depth).
 * PATH: the network is one path of blocks, each of type (e, k) (6 types); one bit per path of 1
 * or 2 consecutive blocks that occurs (6 + 36 = 42), BANANAS' truncated form. */
static size_t mb_encoding_len(const nasc_space *s, nasc_encoding kind) {
    return kind == NASC_ENC_ONEHOT ? (size_t)s->cfg.n_stages * (size_t)(5 + s->cfg.max_depth)
                                   : 42;
}

static void mb_encode(const nasc_arch *a, nasc_encoding kind, float *out) {
    const int S = a->n / 3, W = 5 + a->space->cfg.max_depth;
    int prev = -1;
    for (int st = 0; st < S; st++) {
        const int *d = a->d + 3 * st;
        if (kind == NASC_ENC_ONEHOT) {
            out[st * W + d[0]] = 1.0f;
            out[st * W + 2 + d[1]] = 1.0f;
            out[st * W + 5 + d[2]] = 1.0f;
            continue;
        }
        const int type = d[0] * 3 + d[1];
        for (int b = 0; b <= d[2]; b++) {
            out[type] = 1.0f;
            if (prev >= 0)
                out[6 + prev * 6 + type] = 1.0f;
            prev = type;
        }
    }
}

static void mb_json(const nasc_arch *a, cJSON *obj) {
    cJSON *stages = cJSON_AddArrayToObject(obj, "stages");
    for (int st = 0; stages && 3 * st < a->n; st++) {
        cJSON *o = cJSON_CreateObject();
        if (!o)
            return;
        cJSON_AddNumberToObject(o, "expansion", mb_exp[a->d[3 * st]]);
        cJSON_AddNumberToObject(o, "kernel", mb_ker[a->d[3 * st + 1]]);
        cJSON_AddNumberToObject(o, "depth", a->d[3 * st + 2] + 1);
        cJSON_AddItemToArray(stages, o);
    }
}

static int mb_channels(int C, int st) { return C * mb_width_x2[st] / 2; }

static void mb_dot(const nasc_arch *a, nasc_buf *sb) {
    const int S = a->n / 3;
    nasc_buf_puts(sb, "  rankdir=TB;\n  node [shape=box];\n  stem [label=\"stem conv3x3\"];\n"
                        "  head [label=\"head conv1x1, pool, linear\"];\n");
    for (int st = 0; st < S; st++)
        nasc_buf_printf(sb, "  s%d [label=\"stage %d: %d x MBConv e%d k%d, stride %d, width "
                              "x%g\"];\n",
                          st, st, a->d[3 * st + 2] + 1, mb_exp[a->d[3 * st]],
                          mb_ker[a->d[3 * st + 1]], mb_stride[st], mb_width_x2[st] / 2.0);
    nasc_buf_puts(sb, "  stem");
    for (int st = 0; st < S; st++)
        nasc_buf_printf(sb, " -> s%d", st);
    nasc_buf_puts(sb, " -> head;\n");
}

static void mb_describe(const nasc_arch *a, nasc_buf *sb) {
    const int S = a->n / 3;
    nasc_buf_printf(sb, "MobileNetV2-like network, %d stages of inverted-residual blocks:\n", S);
    for (int st = 0; st < S; st++)
        nasc_buf_printf(sb, "  stage %d: %d block%s, expansion %d, kernel %dx%d, stride %d, "
                              "width %g C\n",
                          st, a->d[3 * st + 2] + 1, a->d[3 * st + 2] ? "s" : "",
                          mb_exp[a->d[3 * st]], mb_ker[a->d[3 * st + 1]], mb_ker[a->d[3 * st + 1]],
                          mb_stride[st], mb_width_x2[st] / 2.0);
}

/* ---- network ---- */

typedef struct mb_block {
    bool residual;
    nasc_conv expand, dw, project;
    nasc_bn bn[3];
} mb_block;

typedef struct mb_net {
    nasc_conv stem, head;
    nasc_bn stem_bn, head_bn;
    int n_blocks;
    mb_block *blocks;
    nasc_fc fc;
} mb_net;

static void mb_net_free(void *impl) {
    mb_net *net = impl;
    if (net)
        nasc_free(net->blocks);
    nasc_free(net);
}

static nasc_tensor *mb_forward(nasc_model *m, nasc_graph *g, nasc_tensor *x,
                               const nasc_forward_opts *opts) {
    (void)opts;
    const mb_net *net = m->impl;
    nasc_tensor *h = nasc_relu(g, nasc_bn_forward(g, &net->stem_bn,
                                                  nasc_conv_forward(g, &net->stem, x)));
    for (int i = 0; i < net->n_blocks; i++) {
        const mb_block *b = &net->blocks[i];
        nasc_tensor *y = nasc_relu(g, nasc_bn_forward(g, &b->bn[0],
                                                      nasc_conv_forward(g, &b->expand, h)));
        y = nasc_relu(g, nasc_bn_forward(g, &b->bn[1], nasc_conv_forward(g, &b->dw, y)));
        y = nasc_bn_forward(g, &b->bn[2], nasc_conv_forward(g, &b->project, y));
        h = b->residual ? nasc_add(g, y, h) : y;
    }
    h = nasc_relu(g, nasc_bn_forward(g, &net->head_bn, nasc_conv_forward(g, &net->head, h)));
    return nasc_fc_forward(g, &net->fc, nasc_global_avgpool(g, h));
}

static const nasc_model_i mb_model_iface = {
    .kind = "mobilenet",
    .forward = mb_forward,
    .free_impl = mb_net_free,
};

static nasc_status mb_build(const nasc_arch *a, const nasc_net_config *in, uint64_t seed,
                            nasc_model **out, nasc_err *err) {
    nasc_net_config cfg = *in;
    nasc_sp_net_defaults(&cfg, a->space->vt->default_channels, a->space->vt->default_cells);
    const int S = a->n / 3, C = cfg.channels;
    if (C < 2)
        return nasc_errorf(err, NASC_ERR_ARG, "mobilenet: channels must be at least 2 (%d)", C);
    int n_blocks = 0;
    for (int st = 0; st < S; st++)
        n_blocks += a->d[3 * st + 2] + 1;
    mb_net *net = nasc_calloc(1, sizeof *net);
    mb_block *blocks = nasc_calloc((size_t)n_blocks, sizeof *blocks);
    nasc_params *ps = nasc_params_new("mobilenet");
    if (!net || !blocks || !ps) {
        nasc_free(net);
        nasc_free(blocks);
        nasc_params_free(ps);
        return nasc_errorf(err, NASC_ERR_NOMEM, "mobilenet: out of memory");
    }
    net->blocks = blocks;
    net->n_blocks = n_blocks;
    nasc_status st = nasc_conv_init_cell(&net->stem, ps, "stem", cfg.in_c, C, 3, 1, 1, 1, 1, err);
    if (st == NASC_OK)
        st = nasc_bn_init(&net->stem_bn, ps, "stem.bn", C, true, err);
    int cin = C, bi = 0;
    for (int s = 0; s < S && st == NASC_OK; s++) {
        const int e = mb_exp[a->d[3 * s]], k = mb_ker[a->d[3 * s + 1]];
        const int depth = a->d[3 * s + 2] + 1, cout = mb_channels(C, s);
        for (int j = 0; j < depth && st == NASC_OK; j++, bi++) {
            mb_block *b = &blocks[bi];
            const int stride = j == 0 ? mb_stride[s] : 1, mid = cin * e;
            b->residual = stride == 1 && cin == cout;
            char name[32];
            snprintf(name, sizeof name, "b%d.exp", bi);
            st = nasc_conv_init_cell(&b->expand, ps, name, cin, mid, 1, 1, 0, 1, 1, err);
            snprintf(name, sizeof name, "b%d.dw", bi);
            if (st == NASC_OK)
                st = nasc_conv_init_cell(&b->dw, ps, name, mid, mid, k, stride, k / 2, 1, mid, err);
            snprintf(name, sizeof name, "b%d.proj", bi);
            if (st == NASC_OK)
                st = nasc_conv_init_cell(&b->project, ps, name, mid, cout, 1, 1, 0, 1, 1, err);
            for (int q = 0; q < 3 && st == NASC_OK; q++) {
                snprintf(name, sizeof name, "b%d.bn%d", bi, q);
                st = nasc_bn_init(&b->bn[q], ps, name, q < 2 ? mid : cout, true, err);
            }
            cin = cout;
        }
    }
    if (st == NASC_OK)
        st = nasc_conv_init_cell(&net->head, ps, "head", cin, 4 * cin, 1, 1, 0, 1, 1, err);
    if (st == NASC_OK)
        st = nasc_bn_init(&net->head_bn, ps, "head.bn", 4 * cin, true, err);
    if (st == NASC_OK)
        st = nasc_fc_init(&net->fc, ps, "fc", 4 * cin, cfg.n_classes, true, err);
    if (st != NASC_OK) {
        mb_net_free(net);
        nasc_params_free(ps);
        return st;
    }
    return nasc_sp_model_wrap(a, &mb_model_iface, ps, net, &cfg, seed, out, err);
}

const sp_vt nasc_sp_mobilenet_vt = {
    .name = "mobilenet",
    .default_channels = 16,
    .default_cells = 0,
    .init = mb_init,
    .n_options = mb_n_options,
    .parse = mb_parse,
    .print = mb_print,
    .encoding_len = mb_encoding_len,
    .encode = mb_encode,
    .build = mb_build,
    .json = mb_json,
    .dot = mb_dot,
    .describe = mb_describe,
};
