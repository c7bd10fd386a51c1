/* pytorch.c — the export graph as a PyTorch module (export.h: nasc_export_pytorch).
 *
 * Two files: PATH (a Python module: one nn.Module whose layers are torch.nn layers named after
 * nasc's parameters, the architecture text as data, and a forward written out op by op) and
 * PATH without ".py" plus ".bin" (every tensor of the module's state_dict as float32 little-endian,
 * back to back; the module holds the index: name -> (offset in floats, shape)). The module needs
 * torch and numpy only. The graph is built with keep_bn, so batch norm is a real nn.BatchNorm2d
 * with its running statistics: model.eval() reproduces nasc's logits, model.train() trains. */
#include "nasc/export.h"

#include "nasc/arena.h"
#include "nasc/weights.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sbuf {
    char *s;
    size_t n, cap;
    bool oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) NASC_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        const size_t room = b->cap - b->n;
        const int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? room : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = true;
            return;
        }
        if (b->s && (size_t)k < room) {
            b->n += (size_t)k;
            return;
        }
        const size_t cap = (b->cap + (size_t)k + 1) * 2;
        char *ns = nasc_realloc(b->s, cap);
        if (!ns) {
            b->oom = true;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
}

/* Python string literal of s (double quotes, escapes). */
static void sb_pystr(sbuf *b, const char *s) {
    sb_printf(b, "\"");
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\')
            sb_printf(b, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            sb_printf(b, "\\x%02x", (unsigned char)*s);
        else
            sb_printf(b, "%c", *s);
    }
    sb_printf(b, "\"");
}

/* A float in its shortest decimal form that reads back as the same float32. */
static void sb_float(sbuf *b, float v) {
    char tmp[32];
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(tmp, sizeof tmp, "%.*g", digits, (double)v);
        if (strtof(tmp, NULL) == v)
            break;
    }
    sb_printf(b, "%s", tmp);
}

/* The weights file under construction. */
typedef struct wbuf {
    float *v;
    size_t n, cap;
    bool oom;
} wbuf;

static size_t wb_add(wbuf *w, const float *v, size_t n) {
    if (w->n + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->n + n)
            cap *= 2;
        float *nv = nasc_realloc(w->v, cap * sizeof *nv);
        if (!nv) {
            w->oom = true;
            return 0;
        }
        w->v = nv;
        w->cap = cap;
    }
    const size_t off = w->n;
    memcpy(w->v + off, v, n * sizeof *v);
    w->n += n;
    return off;
}

/* Index entry: "name": (offset, (d0, d1, ...)), */
static void index_add(sbuf *ix, wbuf *w, const char *layer, const char *what, const float *v,
                      int n_dims, const int *dims) {
    size_t n = 1;
    for (int i = 0; i < n_dims; i++)
        n *= (size_t)dims[i];
    const size_t off = wb_add(w, v, n);
    sb_printf(ix, "    \"%s.%s\": (%zu, (", layer, what, off);
    for (int i = 0; i < n_dims; i++)
        sb_printf(ix, "%d,%s", dims[i], i + 1 < n_dims ? " " : "");
    sb_printf(ix, ")),\n");
}

/* Attribute name for node i: its nasc name made an identifier, made unique with the index. */
static void layer_name(const nasc_export_node *nd, int i, char *out, size_t n) {
    char base[48];
    size_t k = 0;
    for (const char *p = nd->name; *p && k + 1 < sizeof base; p++)
        base[k++] = isalnum((unsigned char)*p) ? *p : '_';
    base[k] = '\0';
    snprintf(out, n, "%s%s_%d", isdigit((unsigned char)base[0]) ? "l" : "", base, i);
}

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

    sbuf init = {0}, fwd = {0}, ix = {0}, out = {0};
    wbuf w = {0};
    char ln[96];
    for (int i = 0; i < xg->n_nodes; i++) {
        const nasc_export_node *nd = &xg->nodes[i];
        const nasc_export_shape xs = xg->shape[nd->in[0]], ys = xg->shape[nd->out];
        layer_name(nd, i, ln, sizeof ln);
        const int y = nd->out, x = nd->in[0];
        switch (nd->op) {
        case NASC_EXPORT_OP_CONV: {
            const nasc_conv2d_params *c = &nd->conv;
            sb_printf(&init,
                      "        self.%s = nn.Conv2d(%d, %d, (%d, %d), stride=(%d, %d), "
                      "padding=(%d, %d), dilation=(%d, %d), groups=%d%s)\n",
                      ln, xs.c, ys.c, nd->w_shape[2], nd->w_shape[3], c->stride[0], c->stride[1],
                      c->pad[0], c->pad[1], c->dil[0], c->dil[1], c->groups,
                      nd->has_bias ? "" : ", bias=False");
            index_add(&ix, &w, ln, "weight", nd->w, 4, nd->w_shape);
            if (nd->has_bias)
                index_add(&ix, &w, ln, "bias", nd->b, 1, nd->w_shape);
            sb_printf(&fwd, "        v%d = self.%s(v%d)\n", y, ln, x);
            break;
        }
        case NASC_EXPORT_OP_BATCHNORM:
            sb_printf(&init, "        self.%s = nn.BatchNorm2d(%d, eps=", ln, ys.c);
            sb_float(&init, nd->eps);
            sb_printf(&init, ", momentum=");
            sb_float(&init, nd->momentum);
            sb_printf(&init, ", affine=%s)\n", nd->w ? "True" : "False");
            if (nd->w) {
                index_add(&ix, &w, ln, "weight", nd->w, 1, nd->w_shape);
                index_add(&ix, &w, ln, "bias", nd->b, 1, nd->w_shape);
            }
            index_add(&ix, &w, ln, "running_mean", nd->mean, 1, nd->w_shape);
            index_add(&ix, &w, ln, "running_var", nd->var, 1, nd->w_shape);
            sb_printf(&fwd, "        v%d = self.%s(v%d)\n", y, ln, x);
            break;
        case NASC_EXPORT_OP_AFFINE: {
            /* a fixed per-channel affine (the input normalisation): buffers, not parameters */
            const int d4[4] = {1, xs.c, 1, 1};
            sb_printf(&init,
                      "        self.register_buffer(\"%s_scale\", torch.empty(1, %d, 1, 1))\n"
                      "        self.register_buffer(\"%s_shift\", torch.empty(1, %d, 1, 1))\n",
                      ln, xs.c, ln, xs.c);
            const size_t o1 = wb_add(&w, nd->w, (size_t)xs.c), o2 = wb_add(&w, nd->b, (size_t)xs.c);
            sb_printf(&ix, "    \"%s_scale\": (%zu, (%d, %d, %d, %d)),\n", ln, o1, d4[0], d4[1],
                      d4[2], d4[3]);
            sb_printf(&ix, "    \"%s_shift\": (%zu, (%d, %d, %d, %d)),\n", ln, o2, d4[0], d4[1],
                      d4[2], d4[3]);
            sb_printf(&fwd, "        v%d = v%d * self.%s_scale + self.%s_shift\n", y, x, ln, ln);
            break;
        }
        case NASC_EXPORT_OP_RELU:
            sb_printf(&fwd, "        v%d = F.relu(v%d)\n", y, x);
            break;
        case NASC_EXPORT_OP_SIGMOID:
            sb_printf(&fwd, "        v%d = torch.sigmoid(v%d)\n", y, x);
            break;
        case NASC_EXPORT_OP_TANH:
            sb_printf(&fwd, "        v%d = torch.tanh(v%d)\n", y, x);
            break;
        case NASC_EXPORT_OP_ADD:
            sb_printf(&fwd, "        v%d = v%d + v%d\n", y, x, nd->in[1]);
            break;
        case NASC_EXPORT_OP_SCALE:
            sb_printf(&fwd, "        v%d = v%d * ", y, x);
            sb_float(&fwd, nd->scalar);
            sb_printf(&fwd, "%s\n", nd->scalar == 0.0f ? "  # the 'none' op: zeros" : "");
            break;
        case NASC_EXPORT_OP_MAXPOOL:
        case NASC_EXPORT_OP_AVGPOOL: {
            const nasc_pool2d_params *p = &nd->pool;
            if (nd->op == NASC_EXPORT_OP_MAXPOOL)
                sb_printf(&fwd, "        v%d = F.max_pool2d(v%d, (%d, %d), (%d, %d), (%d, %d))\n",
                          y, x, p->k[0], p->k[1], p->stride[0], p->stride[1], p->pad[0],
                          p->pad[1]);
            else
                sb_printf(&fwd,
                          "        v%d = F.avg_pool2d(v%d, (%d, %d), (%d, %d), (%d, %d), "
                          "count_include_pad=%s)\n",
                          y, x, p->k[0], p->k[1], p->stride[0], p->stride[1], p->pad[0],
                          p->pad[1], p->count_include_pad ? "True" : "False");
            break;
        }
        case NASC_EXPORT_OP_GAP:
            sb_printf(&fwd, "        v%d = v%d.mean((2, 3), keepdim=True)\n", y, x);
            break;
        case NASC_EXPORT_OP_CONCAT:
            sb_printf(&fwd, "        v%d = torch.cat([", y);
            for (int k = 0; k < nd->n_in; k++)
                sb_printf(&fwd, "%sv%d", k ? ", " : "", nd->in[k]);
            sb_printf(&fwd, "], 1)\n");
            break;
        case NASC_EXPORT_OP_SLICE: {
            const nasc_slice_params *s = &nd->slice;
            sb_printf(&fwd, "        v%d = v%d[:, %d:%d, %d::%d, %d::%d]\n", y, x, s->c0, s->c1,
                      s->h0, s->sh, s->w0, s->sw);
            break;
        }
        case NASC_EXPORT_OP_LINEAR:
            sb_printf(&init, "        self.%s = nn.Linear(%d, %d%s)\n", ln, nd->w_shape[1],
                      nd->w_shape[0], nd->has_bias ? "" : ", bias=False");
            index_add(&ix, &w, ln, "weight", nd->w, 2, nd->w_shape);
            if (nd->has_bias)
                index_add(&ix, &w, ln, "bias", nd->b, 1, nd->w_shape);
            sb_printf(&fwd, "        v%d = self.%s(torch.flatten(v%d, 1))[:, :, None, None]\n", y,
                      ln, x);
            break;
        case NASC_EXPORT_OP_SHUFFLE:
            sb_printf(&fwd,
                      "        v%d = v%d.view(-1, %d, %d, %d, %d).transpose(1, 2)"
                      ".reshape(-1, %d, %d, %d)  # channel shuffle\n",
                      y, x, nd->groups, xs.c / nd->groups, xs.h, xs.w, xs.c, xs.h, xs.w);
            break;
        default:
            nasc_free(init.s);
            nasc_free(fwd.s);
            nasc_free(ix.s);
            nasc_free(w.v);
            nasc_free(bin_path);
            return nasc_errorf(err, NASC_ERR_UNSUPPORTED, "pytorch: node %d (%s): no PyTorch form",
                               i, nasc_export_op_name(nd->op));
        }
    }

    const nasc_export_shape is = xg->shape[0];
    sb_printf(&out,
              "\"\"\"A network found and trained by nasc, exported for PyTorch (nasc export "
              "--format pytorch).\n\n"
              "    import %.*s as netmod\n"
              "    model = netmod.load()          # Net with the trained weights (%s)\n"
              "    model.eval()\n"
              "    logits = model(pixels)         # pixels: (N, %d, %d, %d) float32 in [0, 1]\n\n"
              "The dataset normalisation is the first layer, so the input is raw pixels in "
              "[0, 1].\nmodel.eval() gives nasc's logits; model.train() trains further (batch "
              "norm uses batch\nstatistics and updates its running ones). Dropout and drop-path "
              "of nasc's training are not\npart of the module. Layers are named after nasc's "
              "parameters, plus the op's index.\n\"\"\"\n",
              (int)(strrchr(path, '/') ? strlen(strrchr(path, '/') + 1) - 3 : plen - 3),
              strrchr(path, '/') ? strrchr(path, '/') + 1 : path, bin_base, is.c, is.h, is.w);
    sb_printf(&out, "import os\n\nimport numpy as np\nimport torch\nimport torch.nn.functional as "
                    "F\nfrom torch import nn\n\n");
    sb_printf(&out, "SPACE = ");
    sb_pystr(&out, xg->space ? xg->space : "");
    sb_printf(&out, "\n# the architecture in nasc's text form (the genotype)\nARCH = ");
    sb_pystr(&out, xg->arch ? xg->arch : "");
    sb_printf(&out, "\nINPUT_SHAPE = (%d, %d, %d)  # C, H, W\nCLASSES = %d\n\n\n", is.c, is.h,
              is.w, xg->n_classes);
    sb_printf(&out, "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n");
    if (init.s)
        sb_printf(&out, "%s", init.s);
    sb_printf(&out, "\n    def forward(self, v0):\n");
    if (fwd.s)
        sb_printf(&out, "%s", fwd.s);
    sb_printf(&out, "        return torch.flatten(v%d, 1)\n\n\n", xg->n_nodes);
    sb_printf(&out,
              "# state_dict name -> (offset in floats, shape) in the weights file (float32 "
              "little-endian)\nWEIGHTS = {\n%s}\nWEIGHTS_FILE = ",
              ix.s ? ix.s : "");
    sb_pystr(&out, bin_base);
    sb_printf(&out,
              "\n\n\ndef load(path=None):\n"
              "    \"\"\"A Net with the trained weights (path: the .bin file; default: next to "
              "this module).\"\"\"\n"
              "    path = path or os.path.join(os.path.dirname(os.path.abspath(__file__)), "
              "WEIGHTS_FILE)\n"
              "    flat = np.fromfile(path, dtype=\"<f4\")\n"
              "    if flat.size != %zu:\n"
              "        raise ValueError(f\"{path}: {flat.size} floats, expected %zu\")\n"
              "    net = Net()\n"
              "    state = {k: torch.from_numpy(flat[o:o + int(np.prod(s))].reshape(s).copy())\n"
              "             for k, (o, s) in WEIGHTS.items()}\n"
              "    missing, unexpected = net.load_state_dict(state, strict=False)\n"
              "    missing = [k for k in missing if not k.endswith(\"num_batches_tracked\")]\n"
              "    if missing or unexpected:\n"
              "        raise ValueError(f\"weights do not fit: missing {missing}, unexpected "
              "{unexpected}\")\n"
              "    return net\n",
              w.n, w.n);

    nasc_status st = NASC_OK;
    if (init.oom || fwd.oom || ix.oom || out.oom || w.oom)
        st = nasc_errorf(err, NASC_ERR_NOMEM, "pytorch: out of memory");
    _Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "weights file is little-endian");
    if (st == NASC_OK)
        st = nasc_write_file_atomic(bin_path, w.v ? (const void *)w.v : "", w.n * sizeof(float),
                                    err);
    if (st == NASC_OK) {
        st = nasc_write_file_atomic(path, out.s, out.n, err);
        if (st != NASC_OK)
            remove(bin_path); /* no half export: the module without weights is useless */
    }
    nasc_free(init.s);
    nasc_free(fwd.s);
    nasc_free(ix.s);
    nasc_free(out.s);
    nasc_free(w.v);
    nasc_free(bin_path);
    return st;
}
