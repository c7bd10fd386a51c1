/* graph.c — the inference graph of a model (export.h): trace, rewrite, fold, prune.
 *
 * The model's forward runs once at batch 1 in inference mode with the input marked as requiring a
 * gradient, so every op is recorded (as cost.c does). The recorded nodes, in creation order, are
 * a topological order; each becomes zero nodes (dropout, drop-path, identity reshapes: the value
 * is aliased) or one node of the export graph. Then dead nodes are pruned, batch-norm affines are
 * folded into their convolution, and the survivors are renumbered so node i writes value i+1. */
#include "nasc/export.h"

#include "nasc/arena.h"
#include "nasc/backend.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const op_names[] = {
    [NASC_EXPORT_OP_CONV] = "conv",       [NASC_EXPORT_OP_AFFINE] = "affine",
    [NASC_EXPORT_OP_RELU] = "relu",       [NASC_EXPORT_OP_SIGMOID] = "sigmoid",
    [NASC_EXPORT_OP_TANH] = "tanh",       [NASC_EXPORT_OP_ADD] = "add",
    [NASC_EXPORT_OP_SCALE] = "scale",     [NASC_EXPORT_OP_MAXPOOL] = "maxpool",
    [NASC_EXPORT_OP_AVGPOOL] = "avgpool", [NASC_EXPORT_OP_GAP] = "global_avgpool",
    [NASC_EXPORT_OP_CONCAT] = "concat",   [NASC_EXPORT_OP_SLICE] = "slice",
    [NASC_EXPORT_OP_LINEAR] = "linear",   [NASC_EXPORT_OP_SHUFFLE] = "channel_shuffle",
};
_Static_assert(sizeof op_names / sizeof op_names[0] == NASC_EXPORT_OP_COUNT,
               "one name per export op");

const char *nasc_export_op_name(nasc_export_op op) {
    return (unsigned)op < NASC_EXPORT_OP_COUNT ? op_names[op] : "?";
}

static void node_deinit(nasc_export_node *nd) {
    nasc_free(nd->in);
    nasc_free(nd->w);
    nasc_free(nd->b);
}

void nasc_export_graph_free(nasc_export_graph *xg) {
    if (!xg)
        return;
    for (int i = 0; i < xg->n_nodes; i++)
        node_deinit(&xg->nodes[i]);
    nasc_free(xg->nodes);
    nasc_free(xg->shape);
    nasc_free(xg->space);
    nasc_free(xg->arch);
    nasc_free(xg);
}

/* ---- builder ---- */

typedef struct builder {
    nasc_export_node *nodes; /* node i writes value i+1; value 0 is the input */
    nasc_export_shape *shape;
    int n, cap;
    int *vmap;   /* traced tensor id -> value, -1 if none */
    int n_ids;
    nasc_err *err;
} builder;

static bool is_param(const nasc_tensor *t) {
    return t && (t->flags & (NASC_TENSOR_PARAM | NASC_TENSOR_BUFFER));
}

/* "conv3.w" or, for unnamed activations, "tensor 17" (its creation index in the trace) */
typedef struct tname_buf {
    char s[32];
} tname_buf;
#define tname(t) tname_((t), &(tname_buf){{0}})
static const char *tname_(const nasc_tensor *t, tname_buf *buf) {
    if (t->name[0])
        return t->name;
    snprintf(buf->s, sizeof buf->s, "tensor %d", t->id);
    return buf->s;
}

/* A new node writing value n+1 with shape of t; NULL with err set on OOM. */
static nasc_export_node *push(builder *b, nasc_export_op op, int n_in, const nasc_tensor *t,
                              const char *name) {
    if (b->n == b->cap) {
        const int cap = b->cap ? 2 * b->cap : 64;
        nasc_export_node *nn = nasc_realloc(b->nodes, (size_t)cap * sizeof *nn);
        if (!nn)
            return NULL;
        b->nodes = nn;
        nasc_export_shape *ns = nasc_realloc(b->shape, (size_t)(cap + 1) * sizeof *ns);
        if (!ns)
            return NULL;
        b->shape = ns;
        b->cap = cap;
    }
    nasc_export_node *nd = &b->nodes[b->n];
    memset(nd, 0, sizeof *nd);
    nd->op = op;
    nd->n_in = n_in;
    nd->in = nasc_calloc((size_t)(n_in > 0 ? n_in : 1), sizeof *nd->in);
    if (!nd->in)
        return NULL;
    nd->out = b->n + 1;
    snprintf(nd->name, sizeof nd->name, "%s", name ? name : nasc_export_op_name(op));
    b->shape[b->n + 1] = (nasc_export_shape){t->ne[1], t->ne[2], t->ne[3]};
    b->n++;
    return nd;
}

/* Value of an activation source, or -1 with err set naming the problem. */
static int value_of(builder *b, const nasc_tensor *t, const nasc_tensor *user) {
    if (t && t->id >= 0 && t->id < b->n_ids && b->vmap[t->id] >= 0)
        return b->vmap[t->id];
    nasc_errorf(b->err, NASC_ERR_UNSUPPORTED,
                "export: %s (%s): input %s is neither the network input nor an op output "
                "(a constant tensor), which the export graph cannot express",
                tname(user), nasc_op_name(user->op), t ? tname(t) : "(null)");
    return -1;
}

/* Per-channel affine of inference batch norm: scale = gamma/sqrt(var+eps), shift = beta -
 * mean*scale, in double and rounded once. */
static nasc_status bn_affine(builder *b, const nasc_tensor *t, const nasc_tensor *gamma,
                             const nasc_tensor *beta, const nasc_tensor *rm, const nasc_tensor *rv,
                             float eps) {
    const int C = t->ne[1];
    if (!rm || !rv)
        return nasc_errorf(b->err, NASC_ERR_UNSUPPORTED,
                           "export: %s (batchnorm): no running statistics, so inference batch "
                           "norm is undefined",
                           tname(t));
    const int x = value_of(b, t->src[0], t);
    if (x < 0)
        return NASC_ERR_UNSUPPORTED;
    nasc_export_node *nd = push(b, NASC_EXPORT_OP_AFFINE, 1, t, rm->name);
    if (!nd)
        return nasc_errorf(b->err, NASC_ERR_NOMEM, "export: out of memory");
    nd->in[0] = x;
    nd->w = nasc_malloc((size_t)C * sizeof(float));
    nd->b = nasc_malloc((size_t)C * sizeof(float));
    if (!nd->w || !nd->b)
        return nasc_errorf(b->err, NASC_ERR_NOMEM, "export: out of memory");
    for (int c = 0; c < C; c++) {
        const double s = (gamma ? (double)gamma->data[c] : 1.0) / sqrt((double)rv->data[c] + (double)eps);
        nd->w[c] = (float)s;
        nd->b[c] = (float)((beta ? (double)beta->data[c] : 0.0) - (double)rm->data[c] * s);
    }
    nd->w_shape[0] = C;
    nd->w_shape[1] = nd->w_shape[2] = nd->w_shape[3] = 1;
    /* name the node after the BN layer: "bn1.rmean" -> "bn1" */
    char *dot = strrchr(nd->name, '.');
    if (dot)
        *dot = '\0';
    return NASC_OK;
}

static nasc_status unsupported(builder *b, const nasc_tensor *t, const char *why) {
    return nasc_errorf(b->err, NASC_ERR_UNSUPPORTED,
                       "export: %s (op %s): %s; the export graph cannot express it", tname(t),
                       nasc_op_name(t->op), why);
}

/* Translates one recorded node. */
static nasc_status translate(builder *b, const nasc_tensor *t) {
    nasc_export_node *nd = NULL;
    const nasc_tensor *x = t->n_src > 0 ? t->src[0] : NULL;
    int xv = -1;
    switch (t->op) {
    case NASC_OP_DROPOUT:
    case NASC_OP_DROP_PATH:
        xv = value_of(b, x, t);
        if (xv < 0)
            return NASC_ERR_UNSUPPORTED;
        b->vmap[t->id] = xv; /* identity at inference */
        return NASC_OK;
    case NASC_OP_RESHAPE:
        /* a reshape keeps nasc's NHWC storage order; it is the same NCHW tensor only when the
         * spatial size is 1 on both sides (e.g. (N,C,1,1) <-> (N,C,1,1)) */
        if (!((x->ne[2] == 1 && x->ne[3] == 1 && t->ne[2] == 1 && t->ne[3] == 1) ||
              nasc_tensor_same_shape(x, t)))
            return unsupported(b, t, "a reshape of a spatial tensor (storage-order dependent)");
        xv = value_of(b, x, t);
        if (xv < 0)
            return NASC_ERR_UNSUPPORTED;
        b->vmap[t->id] = xv;
        return NASC_OK;
    case NASC_OP_SCALE:
        xv = value_of(b, x, t);
        if (xv < 0)
            return NASC_ERR_UNSUPPORTED;
        if (t->params.scalar == 1.0f) {
            b->vmap[t->id] = xv;
            return NASC_OK;
        }
        nd = push(b, NASC_EXPORT_OP_SCALE, 1, t, t->params.scalar == 0.0f ? "zero" : "scale");
        if (!nd)
            break;
        nd->in[0] = xv;
        nd->scalar = t->params.scalar;
        b->vmap[t->id] = nd->out;
        return NASC_OK;
    case NASC_OP_CONV2D: {
        const nasc_tensor *w = t->src[1], *bias = t->n_src > 2 ? t->src[2] : NULL;
        if (!is_param(w) || (bias && !is_param(bias)))
            return unsupported(b, t, "a convolution whose weight is computed, not a parameter");
        xv = value_of(b, x, t);
        if (xv < 0)
            return NASC_ERR_UNSUPPORTED;
        nd = push(b, NASC_EXPORT_OP_CONV, 1, t, w->name);
        if (!nd)
            break;
        char *dot = strrchr(nd->name, '.');
        if (dot && !strcmp(dot, ".w"))
            *dot = '\0';
        nd->in[0] = xv;
        nd->conv = t->params.conv;
        const int K = w->ne[0], Cg = w->ne[1], KH = w->ne[2], KW = w->ne[3];
        nd->w_shape[0] = K;
        nd->w_shape[1] = Cg;
        nd->w_shape[2] = KH;
        nd->w_shape[3] = KW;
        nd->w = nasc_malloc((size_t)K * Cg * KH * KW * sizeof(float));
        nd->b = nasc_calloc((size_t)K, sizeof(float));
        if (!nd->w || !nd->b)
            break;
        /* nasc stores (K, C/G, KH, KW) as [K][KH][KW][C/G]; the graph wants [K][C/G][KH][KW] */
        for (int k = 0; k < K; k++)
            for (int i = 0; i < KH; i++)
                for (int j = 0; j < KW; j++)
                    for (int c = 0; c < Cg; c++)
                        nd->w[((k * Cg + c) * KH + i) * KW + j] =
                            w->data[((k * KH + i) * KW + j) * Cg + c];
        if (bias)
            memcpy(nd->b, bias->data, (size_t)K * sizeof(float));
        b->vmap[t->id] = nd->out;
        return NASC_OK;
    }
    case NASC_OP_BATCHNORM: {
        if (t->params.bn.training)
            return unsupported(b, t, "batch norm in training mode");
        const nasc_tensor *gamma = t->src[1], *beta = t->src[2];
        const nasc_tensor *rm = t->n_src > 3 ? t->src[3] : NULL, *rv = t->n_src > 4 ? t->src[4] : NULL;
        NASC_TRY(bn_affine(b, t, gamma, beta, rm, rv, t->params.bn.eps));
        b->vmap[t->id] = b->n;
        return NASC_OK;
    }
    case NASC_OP_BN_INPLACE: {
        if (t->params.bn.training)
            return unsupported(b, t, "batch norm in training mode");
        const nasc_tensor *rm = t->n_src > 1 ? t->src[1] : NULL, *rv = t->n_src > 2 ? t->src[2] : NULL;
        NASC_TRY(bn_affine(b, t, NULL, NULL, rm, rv, t->params.bn.eps));
        b->vmap[t->id] = b->n;
        return NASC_OK;
    }
    case NASC_OP_RELU:
    case NASC_OP_SIGMOID:
    case NASC_OP_TANH:
    case NASC_OP_MAXPOOL2D:
    case NASC_OP_AVGPOOL2D:
    case NASC_OP_GLOBAL_AVGPOOL:
    case NASC_OP_SLICE:
    case NASC_OP_CHANNEL_SHUFFLE: {
        static const nasc_export_op map[NASC_OP_COUNT] = {
            [NASC_OP_RELU] = NASC_EXPORT_OP_RELU,       [NASC_OP_SIGMOID] = NASC_EXPORT_OP_SIGMOID,
            [NASC_OP_TANH] = NASC_EXPORT_OP_TANH,       [NASC_OP_MAXPOOL2D] = NASC_EXPORT_OP_MAXPOOL,
            [NASC_OP_AVGPOOL2D] = NASC_EXPORT_OP_AVGPOOL, [NASC_OP_GLOBAL_AVGPOOL] = NASC_EXPORT_OP_GAP,
            [NASC_OP_SLICE] = NASC_EXPORT_OP_SLICE, [NASC_OP_CHANNEL_SHUFFLE] = NASC_EXPORT_OP_SHUFFLE,
        };
        xv = value_of(b, x, t);
        if (xv < 0)
            return NASC_ERR_UNSUPPORTED;
        nd = push(b, map[t->op], 1, t, NULL);
        if (!nd)
            break;
        nd->in[0] = xv;
        if (t->op == NASC_OP_MAXPOOL2D || t->op == NASC_OP_AVGPOOL2D)
            nd->pool = t->params.pool;
        if (t->op == NASC_OP_SLICE)
            nd->slice = t->params.slice;
        if (t->op == NASC_OP_CHANNEL_SHUFFLE)
            nd->groups = t->params.shuffle.groups;
        b->vmap[t->id] = nd->out;
        return NASC_OK;
    }
    case NASC_OP_ADD: {
        const nasc_tensor *y = t->src[1];
        if (!nasc_tensor_same_shape(x, y))
            return unsupported(b, t, "an add with broadcasting");
        const int av = value_of(b, x, t), bv = av < 0 ? -1 : value_of(b, y, t);
        if (bv < 0)
            return NASC_ERR_UNSUPPORTED;
        nd = push(b, NASC_EXPORT_OP_ADD, 2, t, NULL);
        if (!nd)
            break;
        nd->in[0] = av;
        nd->in[1] = bv;
        b->vmap[t->id] = nd->out;
        return NASC_OK;
    }
    case NASC_OP_CONCAT: {
        nd = push(b, NASC_EXPORT_OP_CONCAT, t->n_src, t, NULL);
        if (!nd)
            break;
        for (int i = 0; i < t->n_src; i++)
            if ((nd->in[i] = value_of(b, t->src[i], t)) < 0)
                return NASC_ERR_UNSUPPORTED;
        b->vmap[t->id] = nd->out;
        return NASC_OK;
    }
    case NASC_OP_LINEAR: {
        const nasc_tensor *w = t->src[1], *bias = t->n_src > 2 ? t->src[2] : NULL;
        if (!is_param(w) || (bias && !is_param(bias)))
            return unsupported(b, t, "a linear layer whose weight is computed, not a parameter");
        xv = value_of(b, x, t);
        if (xv < 0)
            return NASC_ERR_UNSUPPORTED;
        nd = push(b, NASC_EXPORT_OP_LINEAR, 1, t, w->name);
        if (!nd)
            break;
        char *dot = strrchr(nd->name, '.');
        if (dot && !strcmp(dot, ".w"))
            *dot = '\0';
        nd->in[0] = xv;
        const int K = w->ne[0], C = x->ne[1], H = x->ne[2], W = x->ne[3], F = C * H * W;
        nd->w_shape[0] = K;
        nd->w_shape[1] = F;
        nd->w_shape[2] = nd->w_shape[3] = 1;
        nd->w = nasc_malloc((size_t)K * F * sizeof(float));
        nd->b = nasc_calloc((size_t)K, sizeof(float));
        if (!nd->w || !nd->b)
            break;
        /* nasc reads x in storage (H,W,C) order; the graph flattens in (C,H,W) order */
        for (int k = 0; k < K; k++)
            for (int c = 0; c < C; c++)
                for (int h = 0; h < H; h++)
                    for (int ww = 0; ww < W; ww++)
                        nd->w[(size_t)k * F + (size_t)(c * H + h) * W + ww] =
                            w->data[(size_t)k * F + (size_t)(h * W + ww) * C + c];
        if (bias)
            memcpy(nd->b, bias->data, (size_t)K * sizeof(float));
        b->vmap[t->id] = nd->out;
        return NASC_OK;
    }
    default:
        return unsupported(b, t, "no inference equivalent in the export graph");
    }
    return nasc_errorf(b->err, NASC_ERR_NOMEM, "export: out of memory");
}

/* ---- pruning, folding, renumbering ---- */

static nasc_status finish(builder *b, int out_value, nasc_export_graph *xg, nasc_err *err) {
    const int n = b->n;
    bool *live = nasc_calloc((size_t)n + 1, sizeof *live);
    int *uses = nasc_calloc((size_t)n + 1, sizeof *uses);
    int *remap = nasc_malloc(((size_t)n + 1) * sizeof *remap);
    nasc_status st = NASC_OK;
    if (!live || !uses || !remap) {
        st = nasc_errorf(err, NASC_ERR_NOMEM, "export: out of memory");
        goto done;
    }
    /* 1. liveness, from the logits backwards */
    if (out_value > 0)
        live[out_value - 1] = true;
    for (int i = n - 1; i >= 0; i--)
        if (live[i])
            for (int k = 0; k < b->nodes[i].n_in; k++)
                if (b->nodes[i].in[k] > 0)
                    live[b->nodes[i].in[k] - 1] = true;
    for (int i = 0; i < n; i++)
        if (live[i])
            for (int k = 0; k < b->nodes[i].n_in; k++)
                uses[b->nodes[i].in[k]]++;
    uses[out_value]++;
    /* 2. fold an affine into the convolution it follows when nothing else reads the conv */
    for (int v = 0; v <= n; v++)
        remap[v] = v;
    for (int i = 0; i < n; i++) {
        nasc_export_node *a = &b->nodes[i];
        if (!live[i] || a->op != NASC_EXPORT_OP_AFFINE || a->in[0] == 0)
            continue;
        nasc_export_node *c = &b->nodes[a->in[0] - 1];
        if (c->op != NASC_EXPORT_OP_CONV || uses[c->out] != 1)
            continue;
        const int K = c->w_shape[0];
        const size_t per_k = (size_t)c->w_shape[1] * c->w_shape[2] * c->w_shape[3];
        for (int k = 0; k < K; k++) {
            for (size_t j = 0; j < per_k; j++)
                c->w[k * per_k + j] *= a->w[k];
            c->b[k] = c->b[k] * a->w[k] + a->b[k];
        }
        live[i] = false;
        remap[a->out] = c->out;
        if (out_value == a->out)
            out_value = c->out;
    }
    /* 3. renumber the survivors: node j writes value j+1 */
    int m = 0;
    int *newv = nasc_malloc(((size_t)n + 1) * sizeof *newv);
    xg->nodes = nasc_calloc((size_t)(n > 0 ? n : 1), sizeof *xg->nodes);
    xg->shape = nasc_calloc((size_t)n + 1, sizeof *xg->shape);
    if (!newv || !xg->nodes || !xg->shape) {
        nasc_free(newv);
        st = nasc_errorf(err, NASC_ERR_NOMEM, "export: out of memory");
        goto done;
    }
    newv[0] = 0;
    xg->shape[0] = b->shape[0];
    for (int i = 0; i < n; i++) {
        nasc_export_node *nd = &b->nodes[i];
        if (!live[i]) {
            newv[nd->out] = -1;
            continue;
        }
        for (int k = 0; k < nd->n_in; k++)
            nd->in[k] = newv[remap[nd->in[k]]];
        newv[nd->out] = m + 1;
        xg->shape[m + 1] = b->shape[nd->out];
        nd->out = m + 1;
        xg->nodes[m++] = *nd;
        memset(nd, 0, sizeof *nd); /* moved */
    }
    xg->n_nodes = m;
    xg->n_values = m + 1;
    NASC_ASSERT(m > 0 && newv[out_value] == m);
    for (int i = 0; i < m; i++) {
        const nasc_export_node *nd = &xg->nodes[i];
        size_t nw = 0;
        if (nd->op == NASC_EXPORT_OP_CONV || nd->op == NASC_EXPORT_OP_LINEAR ||
            nd->op == NASC_EXPORT_OP_AFFINE)
            nw = (size_t)nd->w_shape[0] * nd->w_shape[1] * nd->w_shape[2] * nd->w_shape[3] +
                 (size_t)nd->w_shape[0];
        xg->n_weights += nw;
    }
    nasc_free(newv);
done:
    nasc_free(live);
    nasc_free(uses);
    nasc_free(remap);
    return st;
}

nasc_status nasc_export_graph_new(nasc_model *m, const nasc_export_norm *norm,
                                  nasc_export_graph **out, nasc_err *err) {
    *out = NULL;
    if (norm) {
        if (norm->c != m->in_c || norm->c < 1 || norm->c > 3)
            return nasc_errorf(err, NASC_ERR_ARG,
                               "export: normalisation for %d channels, model input has %d",
                               norm->c, m->in_c);
        for (int c = 0; c < norm->c; c++)
            if (!(norm->std[c] > 0.0f) || !isfinite(norm->mean[c]))
                return nasc_errorf(err, NASC_ERR_ARG,
                                   "export: normalisation channel %d: need finite mean and std > 0 "
                                   "(mean %g, std %g)",
                                   c, (double)norm->mean[c], (double)norm->std[c]);
    }
    nasc_export_graph *xg = nasc_calloc(1, sizeof *xg);
    nasc_backend *be = nasc_backend_new("cpu", 1, err);
    nasc_graph *g = be ? nasc_graph_new(be, 0, err) : NULL;
    builder b = {.err = err};
    float *x_data = nasc_calloc((size_t)m->in_c * m->in_h * m->in_w, sizeof(float));
    nasc_status st = NASC_OK;
    if (!be || !g) {
        st = err && err->code ? err->code : NASC_ERR_NOMEM;
        goto done;
    }
    if (!xg || !x_data) {
        st = nasc_errorf(err, NASC_ERR_NOMEM, "export: out of memory");
        goto done;
    }
    xg->n_classes = m->n_classes;
    if ((m->space && !(xg->space = nasc_strdup(m->space))) ||
        (m->arch && !(xg->arch = nasc_strdup(m->arch)))) {
        st = nasc_errorf(err, NASC_ERR_NOMEM, "export: out of memory");
        goto done;
    }

    /* the trace: inference mode, every op recorded */
    nasc_graph_set_training(g, false);
    nasc_graph_set_grad(g, true);
    nasc_graph_reset(g);
    nasc_tensor *x = nasc_input(g, 1, m->in_c, m->in_h, m->in_w, x_data);
    if (x)
        nasc_tensor_set_requires_grad(x, true);
    nasc_tensor *y = nasc_model_forward(m, g, x, NULL);
    if (nasc_graph_status(g) != NASC_OK || !y) {
        st = nasc_errorf(err, nasc_graph_status(g) ? nasc_graph_status(g) : NASC_ERR_INTERNAL,
                         "export: tracing the forward pass: %s", nasc_graph_errmsg(g));
        goto done;
    }
    if (y->ne[1] != m->n_classes || y->ne[2] != 1 || y->ne[3] != 1) {
        st = nasc_errorf(err, NASC_ERR_UNSUPPORTED, "export: logits of shape (%d,%d,%d), expected (%d,1,1)",
                         y->ne[1], y->ne[2], y->ne[3], m->n_classes);
        goto done;
    }
    const int n_rec = nasc_graph_n_nodes(g);
    nasc_tensor **rec = nasc_malloc((size_t)(n_rec > 0 ? n_rec : 1) * sizeof *rec);
    if (!rec) {
        st = nasc_errorf(err, NASC_ERR_NOMEM, "export: out of memory");
        goto done;
    }
    int k = n_rec, max_id = x->id;
    for (nasc_tensor *t = nasc_graph_last_node(g); t && k > 0; t = t->prev) {
        rec[--k] = t;
        if (t->id > max_id)
            max_id = t->id;
    }
    NASC_ASSERT(k == 0);
    b.n_ids = max_id + 1;
    b.vmap = nasc_malloc((size_t)b.n_ids * sizeof *b.vmap);
    b.shape = nasc_malloc(sizeof *b.shape);
    if (!b.vmap || !b.shape) {
        nasc_free(rec);
        st = nasc_errorf(err, NASC_ERR_NOMEM, "export: out of memory");
        goto done;
    }
    for (int i = 0; i < b.n_ids; i++)
        b.vmap[i] = -1;
    b.shape[0] = (nasc_export_shape){m->in_c, m->in_h, m->in_w};
    b.vmap[x->id] = 0;
    if (norm) {
        nasc_export_node *nd = push(&b, NASC_EXPORT_OP_AFFINE, 1, x, "normalize");
        if (!nd || !(nd->w = nasc_malloc((size_t)norm->c * sizeof(float))) ||
            !(nd->b = nasc_malloc((size_t)norm->c * sizeof(float)))) {
            nasc_free(rec);
            st = nasc_errorf(err, NASC_ERR_NOMEM, "export: out of memory");
            goto done;
        }
        for (int c = 0; c < norm->c; c++) {
            nd->w[c] = (float)(1.0 / (double)norm->std[c]);
            nd->b[c] = (float)(-(double)norm->mean[c] / (double)norm->std[c]);
        }
        nd->w_shape[0] = norm->c;
        nd->w_shape[1] = nd->w_shape[2] = nd->w_shape[3] = 1;
        b.vmap[x->id] = nd->out;
    }
    for (int i = 0; i < n_rec && st == NASC_OK; i++)
        st = translate(&b, rec[i]);
    nasc_free(rec);
    if (st != NASC_OK)
        goto done;
    const int yv = y->id >= 0 && y->id < b.n_ids ? b.vmap[y->id] : -1;
    if (yv <= 0) {
        st = nasc_errorf(err, NASC_ERR_UNSUPPORTED,
                         "export: the logits do not depend on the input through recorded ops");
        goto done;
    }
    st = finish(&b, yv, xg, err);

done:
    for (int i = 0; i < b.n; i++)
        node_deinit(&b.nodes[i]);
    nasc_free(b.nodes);
    nasc_free(b.shape);
    nasc_free(b.vmap);
    nasc_free(x_data);
    nasc_graph_free(g);
    nasc_backend_free(be);
    if (st != NASC_OK) {
        nasc_export_graph_free(xg);
        return st;
    }
    *out = xg;
    return NASC_OK;
}
