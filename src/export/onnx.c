/* onnx.c — the export graph as an ONNX model (export.h: nasc_export_onnx).
 *
 * The protobuf is built with libprotobuf-c from the C bindings that protoc-c generates at build
 * time from Debian libonnx-dev's onnx/onnx.proto (CMakeLists.txt), never by hand. Each export op
 * maps onto standard opset-13 operators with the same semantics:
 *   conv    Conv (pads h,w,h,w; dilations; group)      affine  Mul, Add by (1,C,1,1) initializers
 *   relu/sigmoid/tanh  Relu/Sigmoid/Tanh                add     Add
 *   scale   Mul by a scalar                            maxpool MaxPool (padding never wins)
 *   avgpool AveragePool (count_include_pad 0/1)        gap     GlobalAveragePool
 *   concat  Concat axis 1                              slice   Slice (int64 starts/ends/axes/steps)
 *   linear  Flatten axis 1, Gemm transB=1              shuffle Reshape, Transpose, Reshape
 * Input "input" (N,C,H,W) float32 with a symbolic N, output "logits" (N,K).
 *
 * All messages live in a pool of nasc_malloc'd blocks freed together after packing. */
#include "nasc/export.h"

#include "nasc/arena.h"
#include "nasc/weights.h"

#include "onnx.pb-c.h"

#include <stdio.h>
#include <string.h>

enum { ONNX_OPSET = 13, ONNX_IR_VERSION = 7 }; /* IR 7 is the version of opset 13 (ONNX 1.8) */

typedef struct pool {
    void **blocks;
    size_t n, cap;
    bool oom;
} pool;

static void *pool_alloc(pool *p, size_t bytes) {
    if (p->oom)
        return NULL;
    if (p->n == p->cap) {
        const size_t cap = p->cap ? 2 * p->cap : 256;
        void **nb = nasc_realloc(p->blocks, cap * sizeof *nb);
        if (!nb) {
            p->oom = true;
            return NULL;
        }
        p->blocks = nb;
        p->cap = cap;
    }
    void *b = nasc_calloc(1, bytes ? bytes : 1);
    if (!b) {
        p->oom = true;
        return NULL;
    }
    p->blocks[p->n++] = b;
    return b;
}

static void pool_free(pool *p) {
    for (size_t i = 0; i < p->n; i++)
        nasc_free(p->blocks[i]);
    nasc_free(p->blocks);
}

static char *pool_printf(pool *p, const char *fmt, ...) NASC_PRINTF(2, 3);
static char *pool_printf(pool *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char tmp[160];
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    char *s = pool_alloc(p, strlen(tmp) + 1);
    if (s)
        memcpy(s, tmp, strlen(tmp) + 1);
    return s;
}

/* The graph under construction: nodes and initializers appended to growing arrays. */
typedef struct onnx_b {
    pool *p;
    Onnx__NodeProto **nodes;
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits;
    size_t n_inits, cap_inits;
    int n_tmp; /* counter for intermediate names */
} onnx_b;

static bool grow(pool *p, void ***arr, size_t n, size_t *cap) {
    if (n < *cap)
        return true;
    const size_t nc = *cap ? 2 * *cap : 64;
    void **na = pool_alloc(p, nc * sizeof *na);
    if (!na)
        return false;
    if (n)
        memcpy(na, *arr, n * sizeof *na);
    *arr = na;
    *cap = nc;
    return true;
}

/* A float32 or int64 initializer named name with dims; data copied. */
static const char *add_init(onnx_b *b, const char *name, int n_dims, const int64_t *dims,
                            const void *data, bool is_int64) {
    Onnx__TensorProto *t = pool_alloc(b->p, sizeof *t);
    int64_t *d = pool_alloc(b->p, (size_t)(n_dims > 0 ? n_dims : 1) * sizeof *d);
    size_t count = 1;
    for (int i = 0; i < n_dims; i++)
        count *= (size_t)dims[i];
    const size_t bytes = count * (is_int64 ? sizeof(int64_t) : sizeof(float));
    uint8_t *raw = pool_alloc(b->p, bytes);
    char *nm = pool_printf(b->p, "%s", name);
    if (!t || !d || !raw || !nm || !grow(b->p, (void ***)&b->inits, b->n_inits, &b->cap_inits))
        return NULL;
    *t = (Onnx__TensorProto)ONNX__TENSOR_PROTO__INIT;
    memcpy(d, dims, (size_t)n_dims * sizeof *d);
    memcpy(raw, data, bytes); /* raw_data is little-endian, as this host (static_assert below) */
    t->n_dims = (size_t)n_dims;
    t->dims = d;
    t->has_data_type = 1;
    t->data_type = is_int64 ? ONNX__TENSOR_PROTO__DATA_TYPE__INT64
                            : ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->has_raw_data = 1;
    t->raw_data.len = bytes;
    t->raw_data.data = raw;
    t->name = nm;
    b->inits[b->n_inits++] = t;
    return nm;
}
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "ONNX raw_data is little-endian");

static Onnx__AttributeProto *attr_ints(onnx_b *b, const char *name, int n, const int64_t *v) {
    Onnx__AttributeProto *a = pool_alloc(b->p, sizeof *a);
    int64_t *vals = pool_alloc(b->p, (size_t)n * sizeof *vals);
    if (!a || !vals)
        return NULL;
    *a = (Onnx__AttributeProto)ONNX__ATTRIBUTE_PROTO__INIT;
    a->name = (char *)name;
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    memcpy(vals, v, (size_t)n * sizeof *vals);
    a->n_ints = (size_t)n;
    a->ints = vals;
    return a;
}

static Onnx__AttributeProto *attr_int(onnx_b *b, const char *name, int64_t v) {
    Onnx__AttributeProto *a = pool_alloc(b->p, sizeof *a);
    if (!a)
        return NULL;
    *a = (Onnx__AttributeProto)ONNX__ATTRIBUTE_PROTO__INIT;
    a->name = (char *)name;
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
    return a;
}

/* Appends an op node; inputs/outputs are copied pointer arrays of pool strings. */
static Onnx__NodeProto *add_node(onnx_b *b, const char *op, const char *name, int n_in,
                                 const char *const *in, const char *out, int n_attr,
                                 Onnx__AttributeProto *const *attr) {
    Onnx__NodeProto *nd = pool_alloc(b->p, sizeof *nd);
    char **ins = pool_alloc(b->p, (size_t)n_in * sizeof *ins);
    char **outs = pool_alloc(b->p, sizeof *outs);
    Onnx__AttributeProto **at = pool_alloc(b->p, (size_t)(n_attr ? n_attr : 1) * sizeof *at);
    char *nm = pool_printf(b->p, "%s", name);
    if (!nd || !ins || !outs || !at || !nm || !out ||
        !grow(b->p, (void ***)&b->nodes, b->n_nodes, &b->cap_nodes))
        return NULL;
    for (int i = 0; i < n_in; i++) {
        if (!in[i])
            return NULL;
        ins[i] = (char *)in[i];
    }
    for (int i = 0; i < n_attr; i++) {
        if (!attr[i])
            return NULL;
        at[i] = attr[i];
    }
    *nd = (Onnx__NodeProto)ONNX__NODE_PROTO__INIT;
    nd->op_type = (char *)op;
    nd->name = nm;
    nd->n_input = (size_t)n_in;
    nd->input = ins;
    nd->n_output = 1;
    outs[0] = (char *)out;
    nd->output = outs;
    nd->n_attribute = (size_t)n_attr;
    nd->attribute = at;
    b->nodes[b->n_nodes++] = nd;
    return nd;
}

static Onnx__ValueInfoProto *value_info(pool *p, const char *name, int n_dims, const int64_t *dims,
                                        const char *batch_param) {
    Onnx__ValueInfoProto *vi = pool_alloc(p, sizeof *vi);
    Onnx__TypeProto *tp = pool_alloc(p, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = pool_alloc(p, sizeof *tt);
    Onnx__TensorShapeProto *sh = pool_alloc(p, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **dv = pool_alloc(p, (size_t)(n_dims + 1) * sizeof *dv);
    if (!vi || !tp || !tt || !sh || !dv)
        return NULL;
    for (int i = 0; i <= n_dims; i++) {
        Onnx__TensorShapeProto__Dimension *d = pool_alloc(p, sizeof *d);
        if (!d)
            return NULL;
        *d = (Onnx__TensorShapeProto__Dimension)ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
        if (i == 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = (char *)batch_param;
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i - 1];
        }
        dv[i] = d;
    }
    *sh = (Onnx__TensorShapeProto)ONNX__TENSOR_SHAPE_PROTO__INIT;
    sh->n_dim = (size_t)n_dims + 1;
    sh->dim = dv;
    *tt = (Onnx__TypeProto__Tensor)ONNX__TYPE_PROTO__TENSOR__INIT;
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sh;
    *tp = (Onnx__TypeProto)ONNX__TYPE_PROTO__INIT;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    *vi = (Onnx__ValueInfoProto)ONNX__VALUE_INFO_PROTO__INIT;
    vi->name = (char *)name;
    vi->type = tp;
    return vi;
}

/* Translates export node i (writing value name vout) into ONNX nodes. false on OOM. */
static bool emit(onnx_b *b, const nasc_export_graph *xg, int i, char *const *vname) {
    const nasc_export_node *nd = &xg->nodes[i];
    const nasc_export_shape xs = xg->shape[nd->in[0]];
    const char *x = vname[nd->in[0]], *y = vname[nd->out];
    char nm[96];
    snprintf(nm, sizeof nm, "n%d_%s", i, nd->name);
    switch (nd->op) {
    case NASC_EXPORT_OP_CONV: {
        const int64_t wd[4] = {nd->w_shape[0], nd->w_shape[1], nd->w_shape[2], nd->w_shape[3]};
        const int64_t bd[1] = {nd->w_shape[0]};
        char wn[112], bn[112];
        snprintf(wn, sizeof wn, "%s.weight", nm);
        snprintf(bn, sizeof bn, "%s.bias", nm);
        const char *in[3] = {x, add_init(b, wn, 4, wd, nd->w, false),
                             add_init(b, bn, 1, bd, nd->b, false)};
        const nasc_conv2d_params *c = &nd->conv;
        const int64_t ks[2] = {wd[2], wd[3]}, st[2] = {c->stride[0], c->stride[1]};
        const int64_t pd[4] = {c->pad[0], c->pad[1], c->pad[0], c->pad[1]};
        const int64_t dl[2] = {c->dil[0], c->dil[1]};
        Onnx__AttributeProto *at[5] = {attr_ints(b, "kernel_shape", 2, ks),
                                       attr_ints(b, "strides", 2, st), attr_ints(b, "pads", 4, pd),
                                       attr_ints(b, "dilations", 2, dl),
                                       attr_int(b, "group", c->groups)};
        return add_node(b, "Conv", nm, 3, in, y, 5, at);
    }
    case NASC_EXPORT_OP_AFFINE: {
        const int64_t d[4] = {1, xs.c, 1, 1};
        char sn[112], tn[112];
        snprintf(sn, sizeof sn, "%s.scale", nm);
        snprintf(tn, sizeof tn, "%s.shift", nm);
        const char *mid = pool_printf(b->p, "%s.scaled", nm);
        const char *in1[2] = {x, add_init(b, sn, 4, d, nd->w, false)};
        const char *in2[2] = {mid, add_init(b, tn, 4, d, nd->b, false)};
        return add_node(b, "Mul", sn, 2, in1, mid, 0, NULL) &&
               add_node(b, "Add", tn, 2, in2, y, 0, NULL);
    }
    case NASC_EXPORT_OP_RELU:
    case NASC_EXPORT_OP_SIGMOID:
    case NASC_EXPORT_OP_TANH:
    case NASC_EXPORT_OP_GAP: {
        const char *op = nd->op == NASC_EXPORT_OP_RELU      ? "Relu"
                         : nd->op == NASC_EXPORT_OP_SIGMOID ? "Sigmoid"
                         : nd->op == NASC_EXPORT_OP_TANH    ? "Tanh"
                                                            : "GlobalAveragePool";
        return add_node(b, op, nm, 1, &x, y, 0, NULL);
    }
    case NASC_EXPORT_OP_ADD: {
        const char *in[2] = {x, vname[nd->in[1]]};
        return add_node(b, "Add", nm, 2, in, y, 0, NULL);
    }
    case NASC_EXPORT_OP_SCALE: {
        char sn[112];
        snprintf(sn, sizeof sn, "%s.s", nm);
        const char *in[2] = {x, add_init(b, sn, 0, NULL, &nd->scalar, false)};
        return add_node(b, "Mul", nm, 2, in, y, 0, NULL);
    }
    case NASC_EXPORT_OP_MAXPOOL:
    case NASC_EXPORT_OP_AVGPOOL: {
        const nasc_pool2d_params *p = &nd->pool;
        const int64_t ks[2] = {p->k[0], p->k[1]}, st[2] = {p->stride[0], p->stride[1]};
        const int64_t pd[4] = {p->pad[0], p->pad[1], p->pad[0], p->pad[1]};
        Onnx__AttributeProto *at[4] = {attr_ints(b, "kernel_shape", 2, ks),
                                       attr_ints(b, "strides", 2, st), attr_ints(b, "pads", 4, pd),
                                       attr_int(b, "count_include_pad", p->count_include_pad)};
        const bool avg = nd->op == NASC_EXPORT_OP_AVGPOOL;
        return add_node(b, avg ? "AveragePool" : "MaxPool", nm, 1, &x, y, avg ? 4 : 3, at);
    }
    case NASC_EXPORT_OP_CONCAT: {
        const char **in = pool_alloc(b->p, (size_t)nd->n_in * sizeof *in);
        if (!in)
            return false;
        for (int k = 0; k < nd->n_in; k++)
            in[k] = vname[nd->in[k]];
        Onnx__AttributeProto *at[1] = {attr_int(b, "axis", 1)};
        return add_node(b, "Concat", nm, nd->n_in, in, y, 1, at);
    }
    case NASC_EXPORT_OP_SLICE: {
        const nasc_slice_params *s = &nd->slice;
        const int64_t d[1] = {3};
        const int64_t starts[3] = {s->c0, s->h0, s->w0};
        const int64_t ends[3] = {s->c1, xs.h, xs.w};
        const int64_t axes[3] = {1, 2, 3}, steps[3] = {1, s->sh, s->sw};
        char n1[112], n2[112], n3[112], n4[112];
        snprintf(n1, sizeof n1, "%s.starts", nm);
        snprintf(n2, sizeof n2, "%s.ends", nm);
        snprintf(n3, sizeof n3, "%s.axes", nm);
        snprintf(n4, sizeof n4, "%s.steps", nm);
        const char *in[5] = {x, add_init(b, n1, 1, d, starts, true),
                             add_init(b, n2, 1, d, ends, true), add_init(b, n3, 1, d, axes, true),
                             add_init(b, n4, 1, d, steps, true)};
        return add_node(b, "Slice", nm, 5, in, y, 0, NULL);
    }
    case NASC_EXPORT_OP_LINEAR: {
        const int64_t wd[2] = {nd->w_shape[0], nd->w_shape[1]}, bd[1] = {nd->w_shape[0]};
        char wn[112], bn[112], fn[112];
        snprintf(wn, sizeof wn, "%s.weight", nm);
        snprintf(bn, sizeof bn, "%s.bias", nm);
        snprintf(fn, sizeof fn, "%s.flatten", nm);
        const char *flat = pool_printf(b->p, "%s.flat", nm);
        Onnx__AttributeProto *fa[1] = {attr_int(b, "axis", 1)};
        Onnx__AttributeProto *ga[1] = {attr_int(b, "transB", 1)};
        const char *in[3] = {flat, add_init(b, wn, 2, wd, nd->w, false),
                             add_init(b, bn, 1, bd, nd->b, false)};
        return add_node(b, "Flatten", fn, 1, &x, flat, 1, fa) &&
               add_node(b, "Gemm", nm, 3, in, y, 1, ga);
    }
    case NASC_EXPORT_OP_SHUFFLE: {
        const int G = nd->groups;
        const int64_t d5[1] = {5}, d4[1] = {4};
        const int64_t s5[5] = {0, G, xs.c / G, xs.h, xs.w}, s4[4] = {0, xs.c, xs.h, xs.w};
        const int64_t perm[5] = {0, 2, 1, 3, 4};
        char n1[112], n2[112];
        snprintf(n1, sizeof n1, "%s.shape5", nm);
        snprintf(n2, sizeof n2, "%s.shape4", nm);
        const char *a = pool_printf(b->p, "%s.grouped", nm);
        const char *t = pool_printf(b->p, "%s.transposed", nm);
        const char *in1[2] = {x, add_init(b, n1, 1, d5, s5, true)};
        const char *in3[2] = {t, add_init(b, n2, 1, d4, s4, true)};
        Onnx__AttributeProto *pa[1] = {attr_ints(b, "perm", 5, perm)};
        return add_node(b, "Reshape", n1, 2, in1, a, 0, NULL) &&
               add_node(b, "Transpose", nm, 1, &a, t, 1, pa) &&
               add_node(b, "Reshape", n2, 2, in3, y, 0, NULL);
    }
    default:
        return false;
    }
}

nasc_status nasc_export_onnx_bytes(const nasc_export_graph *xg, uint8_t **out, size_t *out_len,
                                   nasc_err *err) {
    *out = NULL;
    *out_len = 0;
    pool p = {0};
    onnx_b b = {.p = &p};
    nasc_status st = NASC_OK;
    char **vname = pool_alloc(&p, (size_t)xg->n_values * sizeof *vname);
    const int last = xg->n_nodes - 1;
    /* the logits are 2-D (N,K): a graph that does not end in a linear layer gets a Flatten */
    const bool need_flatten = xg->nodes[last].op != NASC_EXPORT_OP_LINEAR;
    for (int v = 0; vname && v < xg->n_values; v++)
        vname[v] = v == 0                          ? pool_printf(&p, "input")
                   : v == xg->n_nodes && !need_flatten ? pool_printf(&p, "logits")
                                                   : pool_printf(&p, "v%d", v);
    for (int i = 0; vname && i < xg->n_nodes && !p.oom; i++)
        if (!emit(&b, xg, i, vname) && !p.oom)
            st = nasc_errorf(err, NASC_ERR_UNSUPPORTED, "onnx: node %d (%s): no ONNX form here (a graph built with keep_bn?)", i,
                             nasc_export_op_name(xg->nodes[i].op));
    if (st == NASC_OK && !p.oom && need_flatten) {
        Onnx__AttributeProto *fa[1] = {attr_int(&b, "axis", 1)};
        const char *x = vname[xg->n_nodes];
        add_node(&b, "Flatten", "logits_flatten", 1, &x, pool_printf(&p, "logits"), 1, fa);
    }
    const nasc_export_shape is = xg->shape[0];
    const int64_t in_dims[3] = {is.c, is.h, is.w}, out_dims[1] = {xg->n_classes};
    Onnx__ValueInfoProto *vin = value_info(&p, "input", 3, in_dims, "N");
    Onnx__ValueInfoProto *vout = value_info(&p, "logits", 1, out_dims, "N");
    Onnx__GraphProto *g = pool_alloc(&p, sizeof *g);
    Onnx__ValueInfoProto **gin = pool_alloc(&p, sizeof *gin), **gout = pool_alloc(&p, sizeof *gout);
    Onnx__OperatorSetIdProto *opset = pool_alloc(&p, sizeof *opset);
    Onnx__OperatorSetIdProto **opsets = pool_alloc(&p, sizeof *opsets);
    char *doc = pool_printf(&p, "nasc %s network%s%.100s", xg->space ? xg->space : "",
                            xg->arch ? ": " : "", xg->arch ? xg->arch : "");
    if (st == NASC_OK && (p.oom || !vin || !vout || !g || !gin || !gout || !opset || !opsets))
        st = nasc_errorf(err, NASC_ERR_NOMEM, "onnx: out of memory");
    if (st != NASC_OK) {
        pool_free(&p);
        return st;
    }
    *g = (Onnx__GraphProto)ONNX__GRAPH_PROTO__INIT;
    g->name = (char *)"nasc";
    g->doc_string = doc;
    g->n_node = b.n_nodes;
    g->node = b.nodes;
    g->n_initializer = b.n_inits;
    g->initializer = b.inits;
    gin[0] = vin;
    gout[0] = vout;
    g->n_input = 1;
    g->input = gin;
    g->n_output = 1;
    g->output = gout;
    *opset = (Onnx__OperatorSetIdProto)ONNX__OPERATOR_SET_ID_PROTO__INIT;
    opset->domain = (char *)"";
    opset->has_version = 1;
    opset->version = ONNX_OPSET;
    opsets[0] = opset;
    Onnx__ModelProto model = ONNX__MODEL_PROTO__INIT;
    model.has_ir_version = 1;
    model.ir_version = ONNX_IR_VERSION;
    model.n_opset_import = 1;
    model.opset_import = opsets;
    model.producer_name = (char *)"nasc";
    model.producer_version = (char *)NASC_VERSION_STRING;
    model.graph = g;
    const size_t len = onnx__model_proto__get_packed_size(&model);
    uint8_t *buf = nasc_malloc(len ? len : 1);
    if (!buf) {
        pool_free(&p);
        return nasc_errorf(err, NASC_ERR_NOMEM, "onnx: out of memory for %zu bytes", len);
    }
    const size_t packed = onnx__model_proto__pack(&model, buf);
    pool_free(&p);
    NASC_ASSERT(packed == len);
    *out = buf;
    *out_len = len;
    return NASC_OK;
}

nasc_status nasc_export_onnx(const nasc_export_graph *xg, const char *path, nasc_err *err) {
    uint8_t *buf = NULL;
    size_t len = 0;
    NASC_TRY(nasc_export_onnx_bytes(xg, &buf, &len, err));
    nasc_status st = nasc_write_file_atomic(path, buf, len, err);
    nasc_free(buf);
    return st;
}
