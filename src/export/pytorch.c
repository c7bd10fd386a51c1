/* pytorch.c — the export graph as a PyTorch module (export.h: nasc_export_pytorch).
 *
 * Two files: PATH (a Python module) and PATH without ".py" plus ".bin" (every tensor of the
 * module's state_dict as float32 little-endian, back to back; the module holds the index:
 * name -> (offset in floats, shape)). The module needs torch and numpy only. The graph is built
 * with keep_bn, so batch norm is a real nn.BatchNorm2d with its running statistics:
 * model.eval() reproduces nasc's logits, model.train() trains.
 *
 * For the spaces pytorch_nets.c knows (darts, nb201, mobilenet, baseline) the module is written
 * as a person would write the network: a class per op, cell or block type built from the
 * architecture (GENOTYPE) at the top of the file. For the others it is one flat Net whose
 * forward is written out op by op, its layers named after nasc's parameters plus the op's
 * index. Either way the weights are the graph's, under the state_dict names of the module. */
#include "pytorch_int.h"

#include "nasc/arena.h"
#include "nasc/weights.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void nasc_py_str(nasc_buf *b, const char *s) {
    nasc_buf_puts(b, "\"");
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            nasc_buf_printf(b, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            nasc_buf_printf(b, "\\x%02x", (unsigned char)*s);
        else
            nasc_buf_printf(b, "%c", *s);
    }
    nasc_buf_puts(b, "\"");
}

void nasc_py_float(nasc_buf *b, float v) {
    char tmp[32];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(tmp, sizeof tmp, "%.*g", digits, (double)v);
        if (strtof(tmp, NULL) == v)
            break;
    }
    nasc_buf_puts(b, tmp);
}

/* Appends n floats to the weights file; their offset (0 on OOM, with o->oom set). */
static size_t weights_add(py_out *o, const float *v, size_t n) {
    if (o->n + n > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->n + n)
            cap *= 2;
        float *nv = nasc_realloc(o->w, cap * sizeof *nv);
        if (!nv) {
            o->oom = true;
            return 0;
        }
        o->w = nv;
        o->cap = cap;
    }
    const size_t off = o->n;
    memcpy(o->w + off, v, n * sizeof *v);
    o->n += n;
    return off;
}

void nasc_py_tensor(py_out *o, const char *name, const float *v, int n_dims, const int *dims) {
    size_t n = 1;
    for (int i = 0; i < n_dims; i++)
        n *= (size_t)dims[i];
    const size_t off = weights_add(o, v, n);
    nasc_buf_printf(&o->index, "    \"%s\": (%zu, (", name, off);
    for (int i = 0; i < n_dims; i++)
        nasc_buf_printf(&o->index, "%s%d", i ? ", " : "", dims[i]);
    if (n_dims == 1)
        nasc_buf_puts(&o->index, ",");
    nasc_buf_puts(&o->index, ")),\n");
}

void nasc_py_node_weights(py_out *o, const char *at, const nasc_export_node *nd) {
    char nm[160];
#define PY_T(what, v, nd_, dims)                                                                   \
    (snprintf(nm, sizeof nm, "%s.%s", at, what), nasc_py_tensor(o, nm, v, nd_, dims))
    switch (nd->op) {
    case NASC_EXPORT_OP_CONV:
    case NASC_EXPORT_OP_LINEAR:
        PY_T("weight", nd->w, nd->op == NASC_EXPORT_OP_CONV ? 4 : 2, nd->w_shape);
        if (nd->has_bias)
            PY_T("bias", nd->b, 1, nd->w_shape);
        break;
    case NASC_EXPORT_OP_BATCHNORM:
        if (nd->w) {
            PY_T("weight", nd->w, 1, nd->w_shape);
            PY_T("bias", nd->b, 1, nd->w_shape);
        }
        PY_T("running_mean", nd->mean, 1, nd->w_shape);
        PY_T("running_var", nd->var, 1, nd->w_shape);
        break;
    case NASC_EXPORT_OP_AFFINE: {
        const int d4[4] = {1, nd->w_shape[0], 1, 1};
        PY_T("scale", nd->w, 4, d4);
        PY_T("shift", nd->b, 4, d4);
        break;
    }
    default:
        break;
    }
#undef PY_T
}

const nasc_export_node *nasc_py_find(const nasc_export_graph *xg, const char *name) {
    for (int i = 0; i < xg->n_nodes; i++)
        if (!strcmp(xg->nodes[i].name, name))
            return &xg->nodes[i];
    return NULL;
}

static bool has_weights(const nasc_export_node *nd) {
    return nd->op == NASC_EXPORT_OP_CONV || nd->op == NASC_EXPORT_OP_LINEAR ||
           nd->op == NASC_EXPORT_OP_BATCHNORM || nd->op == NASC_EXPORT_OP_AFFINE;
}

/* Attribute name for node i of the flat module: its nasc name made an identifier, made unique
 * with the index. */
static void layer_name(const nasc_export_node *nd, int i, char *out, size_t n) {
    char base[48];
    size_t k = 0;
    for (const char *p = nd->name; *p && k + 1 < sizeof base; p++)
        base[k++] = isalnum((unsigned char)*p) ? *p : '_';
    base[k] = '\0';
    snprintf(out, n, "%s%s_%d", isdigit((unsigned char)base[0]) ? "l" : "", base, i);
}

/* The flat module for spaces without a writer of their own: class Net, a layer per weighted
 * node, a forward written out op by op. */
static nasc_status write_flat(const nasc_export_graph *xg, py_out *o, nasc_buf *body,
                              nasc_err *err) {
    nasc_buf init = {0}, fwd = {0};
    char ln[96];
    nasc_status st = NASC_OK;
    for (int i = 0; i < xg->n_nodes && st == NASC_OK; i++) {
        const nasc_export_node *nd = &xg->nodes[i];
        const nasc_export_shape xs = xg->shape[nd->in[0]], ys = xg->shape[nd->out];
        layer_name(nd, i, ln, sizeof ln);
        const int y = nd->out, x = nd->in[0];
        if (has_weights(nd))
            nasc_py_node_weights(o, ln, nd);
        switch (nd->op) {
        case NASC_EXPORT_OP_CONV: {
            const nasc_conv2d_params *c = &nd->conv;
            nasc_buf_printf(&init,
                            "        self.%s = nn.Conv2d(%d, %d, (%d, %d), stride=(%d, %d), "
                            "padding=(%d, %d), dilation=(%d, %d), groups=%d%s)\n",
                            ln, xs.c, ys.c, nd->w_shape[2], nd->w_shape[3], c->stride[0],
                            c->stride[1], c->pad[0], c->pad[1], c->dil[0], c->dil[1], c->groups,
                            nd->has_bias ? "" : ", bias=False");
            nasc_buf_printf(&fwd, "        v%d = self.%s(v%d)\n", y, ln, x);
            break;
        }
        case NASC_EXPORT_OP_BATCHNORM:
            nasc_buf_printf(&init, "        self.%s = nn.BatchNorm2d(%d, eps=", ln, ys.c);
            nasc_py_float(&init, nd->eps);
            nasc_buf_puts(&init, ", momentum=");
            nasc_py_float(&init, nd->momentum);
            nasc_buf_printf(&init, ", affine=%s)\n", nd->w ? "True" : "False");
            nasc_buf_printf(&fwd, "        v%d = self.%s(v%d)\n", y, ln, x);
            break;
        case NASC_EXPORT_OP_AFFINE: /* the input normalisation (fixed: buffers, not parameters) */
            nasc_buf_printf(&init, "        self.%s = Normalize(%d)\n", ln, xs.c);
            nasc_buf_printf(&fwd, "        v%d = self.%s(v%d)\n", y, ln, x);
            break;
        case NASC_EXPORT_OP_RELU:
            nasc_buf_printf(&fwd, "        v%d = F.relu(v%d)\n", y, x);
            break;
        case NASC_EXPORT_OP_SIGMOID:
            nasc_buf_printf(&fwd, "        v%d = torch.sigmoid(v%d)\n", y, x);
            break;
        case NASC_EXPORT_OP_TANH:
            nasc_buf_printf(&fwd, "        v%d = torch.tanh(v%d)\n", y, x);
            break;
        case NASC_EXPORT_OP_ADD:
            nasc_buf_printf(&fwd, "        v%d = v%d + v%d\n", y, x, nd->in[1]);
            break;
        case NASC_EXPORT_OP_SCALE:
            nasc_buf_printf(&fwd, "        v%d = v%d * ", y, x);
            nasc_py_float(&fwd, nd->scalar);
            nasc_buf_puts(&fwd, nd->scalar == 0.0f ? "  # the 'none' op: zeros\n" : "\n");
            break;
        case NASC_EXPORT_OP_MAXPOOL:
        case NASC_EXPORT_OP_AVGPOOL: {
            const nasc_pool2d_params *p = &nd->pool;
            if (nd->op == NASC_EXPORT_OP_MAXPOOL)
                nasc_buf_printf(&fwd,
                                "        v%d = F.max_pool2d(v%d, (%d, %d), (%d, %d), (%d, %d))\n",
                                y, x, p->k[0], p->k[1], p->stride[0], p->stride[1], p->pad[0],
                                p->pad[1]);
            else
                nasc_buf_printf(&fwd,
                                "        v%d = F.avg_pool2d(v%d, (%d, %d), (%d, %d), (%d, %d), "
                                "count_include_pad=%s)\n",
                                y, x, p->k[0], p->k[1], p->stride[0], p->stride[1], p->pad[0],
                                p->pad[1], p->count_include_pad ? "True" : "False");
            break;
        }
        case NASC_EXPORT_OP_GAP:
            nasc_buf_printf(&fwd, "        v%d = v%d.mean((2, 3), keepdim=True)\n", y, x);
            break;
        case NASC_EXPORT_OP_CONCAT:
            nasc_buf_printf(&fwd, "        v%d = torch.cat([", y);
            for (int k = 0; k < nd->n_in; k++)
                nasc_buf_printf(&fwd, "%sv%d", k ? ", " : "", nd->in[k]);
            nasc_buf_puts(&fwd, "], 1)\n");
            break;
        case NASC_EXPORT_OP_SLICE: {
            const nasc_slice_params *s = &nd->slice;
            nasc_buf_printf(&fwd, "        v%d = v%d[:, %d:%d, %d::%d, %d::%d]\n", y, x, s->c0,
                            s->c1, s->h0, s->sh, s->w0, s->sw);
            break;
        }
        case NASC_EXPORT_OP_LINEAR:
            nasc_buf_printf(&init, "        self.%s = nn.Linear(%d, %d%s)\n", ln, nd->w_shape[1],
                            nd->w_shape[0], nd->has_bias ? "" : ", bias=False");
            nasc_buf_printf(&fwd,
                            "        v%d = self.%s(torch.flatten(v%d, 1))[:, :, None, None]\n", y,
                            ln, x);
            break;
        case NASC_EXPORT_OP_SHUFFLE:
            nasc_buf_printf(&fwd,
                            "        v%d = v%d.view(-1, %d, %d, %d, %d).transpose(1, 2)"
                            ".reshape(-1, %d, %d, %d)  # channel shuffle\n",
                            y, x, nd->groups, xs.c / nd->groups, xs.h, xs.w, xs.c, xs.h, xs.w);
            break;
        default:
            st = nasc_errorf(err, NASC_ERR_UNSUPPORTED, "pytorch: node %d (%s): no PyTorch form",
                             i, nasc_export_op_name(nd->op));
        }
    }
    nasc_buf_puts(body, "class Net(nn.Module):\n"
                        "    \"\"\"The network op by op (layers named after nasc's parameters plus "
                        "the op's index).\"\"\"\n\n"
                        "    def __init__(self):\n        super().__init__()\n");
    nasc_buf_puts(body, init.data ? (const char *)init.data : "        pass\n");
    nasc_buf_puts(body, "\n    def forward(self, v0):\n");
    nasc_buf_puts(body, fwd.data ? (const char *)fwd.data : "");
    nasc_buf_printf(body, "        return torch.flatten(v%d, 1)\n\n\n", xg->n_nodes);
    nasc_buf_puts(body, "def build():\n"
                        "    \"\"\"The network with fresh weights (load() reads the trained "
                        "ones).\"\"\"\n    return Net()\n");
    if (init.oom || fwd.oom)
        o->oom = true;
    nasc_buf_free(&init);
    nasc_buf_free(&fwd);
    return st;
}

/* The batch norms of a structured module share BN_EPS and BN_MOMENTUM (nasc's layers all use the
 * same); *have is false when there is none. */
static nasc_status bn_constants(const nasc_export_graph *xg, bool *have, float *eps, float *mom,
                                nasc_err *err) {
    *have = false;
    for (int i = 0; i < xg->n_nodes; i++) {
        const nasc_export_node *nd = &xg->nodes[i];
        if (nd->op != NASC_EXPORT_OP_BATCHNORM)
            continue;
        if (*have && (nd->eps != *eps || nd->momentum != *mom))
            return nasc_errorf(err, NASC_ERR_UNSUPPORTED,
                               "pytorch: %s: batch norms with different eps or momentum (%s)",
                               xg->space, nd->name);
        *have = true;
        *eps = nd->eps;
        *mom = nd->momentum;
    }
    return NASC_OK;
}

static const char *const normalize_py =
    "class Normalize(nn.Module):\n"
    "    \"\"\"The dataset normalisation (x - mean) / std as x * scale + shift (scale = 1 / std,\n"
    "    shift = -mean / std), so that the network's input is raw pixels in [0, 1].\"\"\"\n"
    "\n"
    "    def __init__(self, channels):\n"
    "        super().__init__()\n"
    "        self.register_buffer('scale', torch.ones(1, channels, 1, 1))\n"
    "        self.register_buffer('shift', torch.zeros(1, channels, 1, 1))\n"
    "\n"
    "    def forward(self, x):\n"
    "        return x * self.scale + self.shift\n"
    "\n"
    "\n";

nasc_status nasc_export_pytorch(const nasc_export_graph *xg, const char *path, nasc_err *err) {
    const size_t plen = strlen(path);
    if (plen < 4 || strcmp(path + plen - 3, ".py"))
        return nasc_errorf(err, NASC_ERR_ARG,
                           "pytorch: %s: the module's path must end in .py (the weights go next to "
                           "it as .bin)",
                           path);
    char *bin_path = nasc_malloc(plen + 2);
    if (!bin_path)
        return nasc_errorf(err, NASC_ERR_NOMEM, "pytorch: out of memory");
    memcpy(bin_path, path, plen - 3);
    strcpy(bin_path + plen - 3, ".bin");
    const char *bin_base = strrchr(bin_path, '/') ? strrchr(bin_path, '/') + 1 : bin_path;
    const char *py_base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;

    py_out o = {0};
    nasc_buf top = {0}, body = {0}, out = {0};
    const py_net *net = nasc_py_net_find(xg->space);
    bool have_bn = false;
    float bn_eps = 0.0f, bn_mom = 0.0f;
    nasc_status st = NASC_OK;
    if (net) {
        st = bn_constants(xg, &have_bn, &bn_eps, &bn_mom, err);
        if (st == NASC_OK)
            st = net->write(xg, &top, &body, err);
        if (st == NASC_OK && !nasc_py_find(xg, "normalize")) { /* a graph without norm */
            const float one[3] = {1, 1, 1}, zero[3] = {0, 0, 0};
            const int d4[4] = {1, xg->shape[0].c, 1, 1};
            nasc_py_tensor(&o, "normalize.scale", one, 4, d4);
            nasc_py_tensor(&o, "normalize.shift", zero, 4, d4);
        }
        char at[160];
        for (int i = 0; i < xg->n_nodes && st == NASC_OK; i++) {
            const nasc_export_node *nd = &xg->nodes[i];
            if (!has_weights(nd))
                continue;
            if (!net->path(xg, nd, at, sizeof at))
                st = nasc_errorf(err, NASC_ERR_UNSUPPORTED,
                                 "pytorch: %s network: node %d (%s %s) has no place in the "
                                 "module's classes",
                                 xg->space, i, nasc_export_op_name(nd->op), nd->name);
            else
                nasc_py_node_weights(&o, at, nd);
        }
    } else {
        st = write_flat(xg, &o, &body, err);
    }

    const nasc_export_shape is = xg->shape[0];
    nasc_buf_printf(&out,
                    "\"\"\"A network found and trained by nasc, exported for PyTorch (nasc export "
                    "--format pytorch).\n\n"
                    "    import %.*s as netmod\n"
                    "    model = netmod.load()          # the network with the trained weights "
                    "(%s)\n"
                    "    model.eval()\n"
                    "    logits = model(pixels)         # pixels: (N, %d, %d, %d) float32 in "
                    "[0, 1]\n\n"
                    "The dataset normalisation is the first layer, so the input is raw pixels in "
                    "[0, 1].\nmodel.eval() gives nasc's logits; model.train() trains further "
                    "(batch norm uses batch\nstatistics and updates its running ones). Dropout "
                    "and drop-path of nasc's training are\nnot applied unless the module says "
                    "so; build() gives the network with fresh weights.\n\"\"\"\n",
                    (int)strlen(py_base) - 3, py_base, bin_base, is.c, is.h, is.w);
    nasc_buf_printf(&out, "import os\n%s\nimport numpy as np\nimport torch\n"
                          "import torch.nn.functional as F\nfrom torch import nn\n\n",
                    net ? net->imports : "");
    nasc_buf_puts(&out, "SPACE = ");
    nasc_py_str(&out, xg->space ? xg->space : "");
    nasc_buf_puts(&out, "\n# the architecture in nasc's text form\nARCH = ");
    nasc_py_str(&out, xg->arch ? xg->arch : "");
    nasc_buf_printf(&out, "\n%s", top.data ? (const char *)top.data : "");
    nasc_buf_printf(&out, "INPUT_SHAPE = (%d, %d, %d)  # C, H, W\nCLASSES = %d\n", is.c, is.h,
                    is.w, xg->n_classes);
    if (have_bn) {
        nasc_buf_puts(&out, "BN_EPS = ");
        nasc_py_float(&out, bn_eps);
        nasc_buf_puts(&out, "\nBN_MOMENTUM = ");
        nasc_py_float(&out, bn_mom);
        nasc_buf_puts(&out, "\n");
    }
    nasc_buf_printf(&out, "\n\n%s", normalize_py);
    if (have_bn)
        nasc_buf_puts(&out, "def bn(C):\n"
                            "    return nn.BatchNorm2d(C, eps=BN_EPS, momentum=BN_MOMENTUM)\n\n\n");
    nasc_buf_printf(&out, "%s", body.data ? (const char *)body.data : "");
    nasc_buf_printf(&out,
                    "\n\n# state_dict name -> (offset in floats, shape) in the weights file "
                    "(float32 little-endian)\nWEIGHTS = {\n%s}\nWEIGHTS_FILE = ",
                    o.index.data ? (const char *)o.index.data : "");
    nasc_py_str(&out, bin_base);
    nasc_buf_printf(
        &out,
        "\n\n\ndef load(path=None):\n"
        "    \"\"\"The network with the trained weights (path: the .bin file; default: next to "
        "this module).\"\"\"\n"
        "    path = path or os.path.join(os.path.dirname(os.path.abspath(__file__)), "
        "WEIGHTS_FILE)\n"
        "    flat = np.fromfile(path, dtype=\"<f4\")\n"
        "    if flat.size != %zu:\n"
        "        raise ValueError(f\"{path}: {flat.size} floats, expected %zu\")\n"
        "    net = build()\n"
        "    state = {k: torch.from_numpy(flat[o:o + int(np.prod(s))].reshape(s).copy())\n"
        "             for k, (o, s) in WEIGHTS.items()}\n"
        "    missing, unexpected = net.load_state_dict(state, strict=False)\n"
        "    missing = [k for k in missing if not k.endswith(\"num_batches_tracked\")]\n"
        "    if missing or unexpected:\n"
        "        raise ValueError(f\"weights do not fit: missing {missing}, unexpected "
        "{unexpected}\")\n"
        "    return net\n",
        o.n, o.n);

    if (st == NASC_OK && (o.oom || o.index.oom || top.oom || body.oom || out.oom))
        st = nasc_errorf(err, NASC_ERR_NOMEM, "pytorch: out of memory");
    _Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "weights file is little-endian");
    if (st == NASC_OK)
        st = nasc_write_file_atomic(bin_path, o.w ? (const void *)o.w : "", o.n * sizeof(float),
                                    err);
    if (st == NASC_OK) {
        st = nasc_write_file_atomic(path, out.data, out.len, err);
        if (st != NASC_OK)
            remove(bin_path); /* no half export: the module without weights is useless */
    }
    nasc_buf_free(&top);
    nasc_buf_free(&body);
    nasc_buf_free(&out);
    nasc_buf_free(&o.index);
    nasc_free(o.w);
    nasc_free(bin_path);
    return st;
}
