/* pytorch_nets.c — the networks of the search spaces written as a person writes them in PyTorch
 * (pytorch_int.h): one nn.Module class per op, cell or block type, built from the architecture
 * written at the top of the file, after the reference code of each space:
 *
 *   darts      DARTS's operations.py (ReLUConvBN, DilConv, SepConv, Identity, Zero,
 *              FactorizedReduce, OPS), a Cell built from GENOTYPE (normal or reduction) and
 *              NetworkCIFAR without the auxiliary head (cnn/model.py, quark0/darts)
 *   nb201      xautodl's InferCell from the arch string (GENOTYPE lists each node's inputs),
 *              ResNetBasicblock between the stages, TinyNetwork
 *   mobilenet  an InvertedResidual block class; STAGES lists (expansion, kernel, depth)
 *   baseline   one plain class
 *
 * Each writer also names every weighted node of the export graph after its path in these classes.
 * The hyperparameters (C, cells) are read off the graph: the stem's width and the cell names. What
 * the Python builds from them must be what nasc built; the module's load() refuses any weight it
 * has no place for (strict names and shapes), and the export tests compare the logits with
 * nasc's. */
#include "pytorch_int.h"

#include "nasc/space.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "c12.o5.bn0" -> *i = 12, seg = "o5", sub = "bn0" (sub "" when there is no third part). */
static bool split_name(const char *name, char lead, int *i, char *seg, size_t nseg, char *sub,
                       size_t nsub) {
    if (name[0] != lead)
        return false;
    char *end;
    const long v = strtol(name + 1, &end, 10);
    if (end == name + 1 || *end != '.' || v < 0 || v > 100000)
        return false;
    *i = (int)v;
    const char *s = end + 1, *dot = strchr(s, '.');
    const size_t ls = dot ? (size_t)(dot - s) : strlen(s);
    if (ls == 0 || ls >= nseg)
        return false;
    memcpy(seg, s, ls);
    seg[ls] = '\0';
    snprintf(sub, nsub, "%s", dot ? dot + 1 : "");
    return true;
}

/* The largest i of the nodes named "<lead>i.*", or -1. */
static int max_index(const nasc_export_graph *xg, char lead) {
    int best = -1, i;
    char seg[32], sub[32];
    for (int k = 0; k < xg->n_nodes; k++)
        if (split_name(xg->nodes[k].name, lead, &i, seg, sizeof seg, sub, sizeof sub) && i > best)
            best = i;
    return best;
}

static nasc_status not_this_shape(const nasc_export_graph *xg, const char *what, nasc_err *err) {
    return nasc_errorf(err, NASC_ERR_UNSUPPORTED,
                       "pytorch: %s network: %s (the graph is not the network the space builds)",
                       xg->space, what);
}

/* The stem's output channels (the node "stem" is a conv), or 0. */
static int stem_width(const nasc_export_graph *xg) {
    const nasc_export_node *s = nasc_py_find(xg, "stem");
    return s && s->op == NASC_EXPORT_OP_CONV ? s->w_shape[0] : 0;
}

/* Decisions of xg's architecture in its space (*n of them) and the space's op names. */
static nasc_status decisions(const nasc_export_graph *xg, int *d, int max_d, int *n,
                             const nasc_cell_op **ops, int *n_ops, nasc_err *err) {
    nasc_space *sp = NULL;
    nasc_arch *a = NULL;
    nasc_status st = nasc_space_new(xg->space, NULL, &sp, err);
    if (st == NASC_OK)
        st = nasc_arch_parse(sp, xg->arch ? xg->arch : "", &a, err);
    if (st == NASC_OK && nasc_space_n_decisions(sp) > max_d)
        st = nasc_errorf(err, NASC_ERR_INTERNAL, "pytorch: %s: %d decisions", xg->space,
                         nasc_space_n_decisions(sp));
    if (st == NASC_OK) {
        nasc_arch_to_decisions(a, d, n);
        if (ops)
            *ops = nasc_space_cell_ops(sp, n_ops); /* static tables: outlive the space */
    }
    nasc_arch_free(a);
    nasc_space_free(sp);
    return st;
}

/* def build(): return <call> — the network with the hyperparameters read off the graph. */
static void write_build(nasc_buf *b, const char *fmt, ...) NASC_PRINTF(2, 3);
static void write_build(nasc_buf *b, const char *fmt, ...) {
    char call[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(call, sizeof call, fmt, ap);
    va_end(ap);
    nasc_buf_printf(b, "\n\ndef build():\n"
                       "    \"\"\"The network with fresh weights (load() reads the trained"
                       " ones).\"\"\"\n"
                       "    return %s\n",
                    call);
}

/* out = the second column of the row of table whose first column is name; false if none. */
static bool lookup(const char *const (*table)[2], size_t n, const char *name, char *out,
                   size_t len) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(name, table[i][0])) {
            snprintf(out, len, "%s", table[i][1]);
            return true;
        }
    return false;
}
#define LOOKUP(table, name, out, len)                                                              \
    lookup((table), sizeof(table) / sizeof(table)[0], (name), (out), (len))

/* ---- DARTS ---- */

/* The ops DARTS and NAS-Bench-201 share (both reference codes have these three classes). */
static const char *const cell_ops_py =
    "class ReLUConvBN(nn.Module):\n"
    "    def __init__(self, C_in, C_out, kernel_size, stride, padding):\n"
    "        super().__init__()\n"
    "        self.op = nn.Sequential(\n"
    "            nn.ReLU(),\n"
    "            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, bias=False),\n"
    "            bn(C_out),\n"
    "        )\n"
    "\n"
    "    def forward(self, x):\n"
    "        return self.op(x)\n"
    "\n"
    "\n"
    "class Identity(nn.Module):\n"
    "    def forward(self, x):\n"
    "        return x\n"
    "\n"
    "\n"
    "class Zero(nn.Module):\n"
    "    def __init__(self, stride):\n"
    "        super().__init__()\n"
    "        self.stride = stride\n"
    "\n"
    "    def forward(self, x):\n"
    "        return x[:, :, ::self.stride, ::self.stride] * 0.0\n"
    "\n"
    "\n";


static const char *const darts_ops_py =
    "# ---- the candidate operations (DARTS's operations.py) ----\n"
    "\n"
    "OPS = {\n"
    "    'none': lambda C, stride: Zero(stride),\n"
    "    'avg_pool_3x3': lambda C, stride: nn.AvgPool2d(3, stride=stride, padding=1,\n"
    "                                                   count_include_pad=False),\n"
    "    'max_pool_3x3': lambda C, stride: nn.MaxPool2d(3, stride=stride, padding=1),\n"
    "    'skip_connect': lambda C, stride: Identity() if stride == 1 else FactorizedReduce(C, C),\n"
    "    'sep_conv_3x3': lambda C, stride: SepConv(C, C, 3, stride, 1),\n"
    "    'sep_conv_5x5': lambda C, stride: SepConv(C, C, 5, stride, 2),\n"
    "    'dil_conv_3x3': lambda C, stride: DilConv(C, C, 3, stride, 2, 2),\n"
    "    'dil_conv_5x5': lambda C, stride: DilConv(C, C, 5, stride, 4, 2),\n"
    "}\n"
    "\n"
    "\n";
static const char *const darts_net_py =
    "class DilConv(nn.Module):\n"
    "    \"\"\"ReLU, dilated depthwise conv, pointwise conv, batch norm.\"\"\"\n"
    "\n"
    "    def __init__(self, C_in, C_out, kernel_size, stride, padding, dilation):\n"
    "        super().__init__()\n"
    "        self.op = nn.Sequential(\n"
    "            nn.ReLU(),\n"
    "            nn.Conv2d(C_in, C_in, kernel_size, stride=stride, padding=padding,\n"
    "                      dilation=dilation, groups=C_in, bias=False),\n"
    "            nn.Conv2d(C_in, C_out, 1, bias=False),\n"
    "            bn(C_out),\n"
    "        )\n"
    "\n"
    "    def forward(self, x):\n"
    "        return self.op(x)\n"
    "\n"
    "\n"
    "class SepConv(nn.Module):\n"
    "    \"\"\"Two depthwise-separable convolutions (the first one"
    " strided), each ReLU first.\"\"\"\n"
    "\n"
    "    def __init__(self, C_in, C_out, kernel_size, stride, padding):\n"
    "        super().__init__()\n"
    "        self.op = nn.Sequential(\n"
    "            nn.ReLU(),\n"
    "            nn.Conv2d(C_in, C_in, kernel_size, stride=stride, padding=padding, groups=C_in,\n"
    "                      bias=False),\n"
    "            nn.Conv2d(C_in, C_in, 1, bias=False),\n"
    "            bn(C_in),\n"
    "            nn.ReLU(),\n"
    "            nn.Conv2d(C_in, C_in, kernel_size, stride=1, padding=padding, groups=C_in,\n"
    "                      bias=False),\n"
    "            nn.Conv2d(C_in, C_out, 1, bias=False),\n"
    "            bn(C_out),\n"
    "        )\n"
    "\n"
    "    def forward(self, x):\n"
    "        return self.op(x)\n"
    "\n"
    "\n"
    "class FactorizedReduce(nn.Module):\n"
    "    \"\"\"Halves H and W: two 1x1 convs of stride 2, the second one a pixel down and right,\n"
    "    concatenated.\"\"\"\n"
    "\n"
    "    def __init__(self, C_in, C_out):\n"
    "        super().__init__()\n"
    "        self.relu = nn.ReLU()\n"
    "        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)\n"
    "        self.conv_2 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)\n"
    "        self.bn = bn(C_out)\n"
    "\n"
    "    def forward(self, x):\n"
    "        x = self.relu(x)\n"
    "        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))\n"
    "\n"
    "\n"
    "def drop_path(x, drop_prob):\n"
    "    \"\"\"Zeroes whole samples with probability drop_prob and rescales the others.\"\"\"\n"
    "    keep = 1.0 - drop_prob\n"
    "    mask = torch.bernoulli(torch.full((x.size(0), 1, 1, 1), keep, dtype=x.dtype,\n"
    "                                      device=x.device))\n"
    "    return x / keep * mask\n"
    "\n"
    "\n"
    "# ---- the network (DARTS's model.py, NetworkCIFAR) ----\n"
    "\n"
    "class Cell(nn.Module):\n"
    "    \"\"\"A normal or reduction cell of the genotype. Inputs: the"
    " outputs of the two previous\n"
    "    cells (nodes 0 and 1); node i = 2..5 sums two ops applied to earlier nodes; the output\n"
    "    concatenates the nodes of the genotype's concat list. In a"
    " reduction cell the ops reading\n"
    "    nodes 0 and 1 have stride 2.\"\"\"\n"
    "\n"
    "    def __init__(self, genotype, C_prev_prev, C_prev, C, reduction, reduction_prev):\n"
    "        super().__init__()\n"
    "        if reduction_prev:\n"
    "            self.preprocess0 = FactorizedReduce(C_prev_prev, C)\n"
    "        else:\n"
    "            self.preprocess0 = ReLUConvBN(C_prev_prev, C, 1, 1, 0)\n"
    "        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0)\n"
    "        pairs = genotype.reduce if reduction else genotype.normal\n"
    "        self.concat = genotype.reduce_concat if reduction else genotype.normal_concat\n"
    "        self.multiplier = len(self.concat)\n"
    "        self.reduction = reduction\n"
    "        self.indices = [index for _, index in pairs]\n"
    "        self.ops = nn.ModuleList()\n"
    "        for name, index in pairs:\n"
    "            stride = 2 if reduction and index < 2 else 1\n"
    "            self.ops.append(OPS[name](C, stride))\n"
    "\n"
    "    def forward(self, s0, s1, drop_prob=0.0):\n"
    "        states = [self.preprocess0(s0), self.preprocess1(s1)]\n"
    "        for node in range(len(self.ops) // 2):\n"
    "            total = 0\n"
    "            for k in (2 * node, 2 * node + 1):\n"
    "                h = self.ops[k](states[self.indices[k]])\n"
    "                if self.training and drop_prob > 0.0 and not"
    " isinstance(self.ops[k], Identity):\n"
    "                    h = drop_path(h, drop_prob)\n"
    "                total = total + h\n"
    "            states.append(total)\n"
    "        return torch.cat([states[i] for i in self.concat], dim=1)\n"
    "\n"
    "\n"
    "class Network(nn.Module):\n"
    "    \"\"\"Stem (3x3 conv to 3C channels, batch norm), `layers` cells with reduction cells\n"
    "    (channels doubled) at layers // 3 and 2 * layers // 3, global average pool, linear.\n"
    "    nasc trained it with an auxiliary head, which is not part of the inference network.\n"
    "    Set drop_path_prob to train with drop-path as DARTS does.\"\"\"\n"
    "\n"
    "    def __init__(self, C, num_classes, layers, genotype, in_channels=3, stem_multiplier=3):\n"
    "        super().__init__()\n"
    "        self.drop_path_prob = 0.0\n"
    "        self.normalize = Normalize(in_channels)\n"
    "        C_curr = stem_multiplier * C\n"
    "        self.stem = nn.Sequential(\n"
    "            nn.Conv2d(in_channels, C_curr, 3, padding=1, bias=False),\n"
    "            bn(C_curr),\n"
    "        )\n"
    "        C_prev_prev, C_prev, C_curr = C_curr, C_curr, C\n"
    "        self.cells = nn.ModuleList()\n"
    "        reduction_prev = False\n"
    "        for i in range(layers):\n"
    "            reduction = i in (layers // 3, 2 * layers // 3)\n"
    "            if reduction:\n"
    "                C_curr *= 2\n"
    "            cell = Cell(genotype, C_prev_prev, C_prev, C_curr, reduction, reduction_prev)\n"
    "            self.cells.append(cell)\n"
    "            reduction_prev = reduction\n"
    "            C_prev_prev, C_prev = C_prev, cell.multiplier * C_curr\n"
    "        self.global_pooling = nn.AdaptiveAvgPool2d(1)\n"
    "        self.classifier = nn.Linear(C_prev, num_classes)\n"
    "\n"
    "    def forward(self, x):\n"
    "        s0 = s1 = self.stem(self.normalize(x))\n"
    "        for cell in self.cells:\n"
    "            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)\n"
    "        return self.classifier(torch.flatten(self.global_pooling(s1), 1))\n";

enum { DA_PAIRS = 8 };

static nasc_status darts_write(const nasc_export_graph *xg, nasc_buf *top, nasc_buf *body,
                               nasc_err *err) {
    int d[64], n = 0, n_ops = 0;
    const nasc_cell_op *ops = NULL;
    NASC_TRY(decisions(xg, d, 64, &n, &ops, &n_ops, err));
    if (n != 4 * DA_PAIRS)
        return not_this_shape(xg, "not 32 decisions", err);
    const int C3 = stem_width(xg), L = max_index(xg, 'c') + 1;
    if (C3 <= 0 || C3 % 3 || L < 1)
        return not_this_shape(xg, "no 3C-wide stem conv or no cells", err);
    nasc_buf_puts(top, "Genotype = namedtuple('Genotype', 'normal normal_concat reduce "
                       "reduce_concat')\n"
                       "# Each cell: node i = 2..5 sums two (op, input node) pairs; nodes 0 and 1 "
                       "are the outputs\n# of the two previous cells. GENOTYPE is ARCH.\n"
                       "GENOTYPE = Genotype(\n");
    static const char *const cell_names[2] = {"normal", "reduce"};
    for (int t = 0; t < 2; t++) {
        nasc_buf_printf(top, "    %s=[\n", cell_names[t]);
        for (int node = 0; node < DA_PAIRS / 2; node++) {
            nasc_buf_puts(top, "       ");
            for (int j = 0; j < 2; j++) {
                const int k = t * 2 * DA_PAIRS + 2 * (2 * node + j);
                if (d[k] < 0 || d[k] >= n_ops)
                    return not_this_shape(xg, "an op out of range", err);
                nasc_buf_printf(top, " ('%s', %d),", ops[d[k]].name, d[k + 1]);
            }
            nasc_buf_printf(top, "  # node %d\n", node + 2);
        }
        nasc_buf_printf(top, "    ],\n    %s_concat=[2, 3, 4, 5],\n", cell_names[t]);
    }
    nasc_buf_puts(top, ")\n");
    nasc_buf_puts(body, darts_ops_py);
    nasc_buf_puts(body, cell_ops_py);
    nasc_buf_puts(body, darts_net_py);
    write_build(body, "Network(C=%d, num_classes=CLASSES, layers=%d, genotype=GENOTYPE,\n"
                    "                   in_channels=INPUT_SHAPE[0])",
                    C3 / 3, L);
    return NASC_OK;
}

/* Where conv j / batch norm j of a cell op sits in the op's module, by its kind: the kind is
 * read off the graph (4 convs: SepConv; 2 with a depthwise first: DilConv; 2: FactorizedReduce;
 * 1: ReLUConvBN), which is how cellops.c builds them. */
static bool darts_op_part(const nasc_export_graph *xg, const char *prefix, const char *sub,
                          char *out, size_t n) {
    char nm[80];
    snprintf(nm, sizeof nm, "%s.c3", prefix);
    const bool sep = nasc_py_find(xg, nm) != NULL;
    snprintf(nm, sizeof nm, "%s.c1", prefix);
    const bool two = nasc_py_find(xg, nm) != NULL;
    snprintf(nm, sizeof nm, "%s.c0", prefix);
    const nasc_export_node *c0 = nasc_py_find(xg, nm);
    const bool dil = two && !sep && c0 && c0->conv.groups > 1;
    static const char *const sep_parts[][2] = {{"c0", "op.1"}, {"c1", "op.2"}, {"bn0", "op.3"},
                                               {"c2", "op.5"}, {"c3", "op.6"}, {"bn1", "op.7"}};
    static const char *const dil_parts[][2] = {{"c0", "op.1"}, {"c1", "op.2"}, {"bn0", "op.3"}};
    static const char *const fr_parts[][2] = {{"c0", "conv_1"}, {"c1", "conv_2"}, {"bn0", "bn"}};
    static const char *const rcb_parts[][2] = {{"c0", "op.1"}, {"bn0", "op.2"}};
    const char *const(*parts)[2] = sep ? sep_parts : dil ? dil_parts : two ? fr_parts : rcb_parts;
    const int n_parts = sep ? 6 : two ? 3 : 2;
    for (int i = 0; i < n_parts; i++)
        if (!strcmp(sub, parts[i][0])) {
            snprintf(out, n, "%s", parts[i][1]);
            return true;
        }
    return false;
}

static bool darts_path(const nasc_export_graph *xg, const nasc_export_node *nd, char *out,
                       size_t n) {
    static const char *const fixed[][2] = {
        {"normalize", "normalize"}, {"stem", "stem.0"}, {"stem.bn", "stem.1"},
        {"fc", "classifier"}};
    if (LOOKUP(fixed, nd->name, out, n))
        return true;
    int cell, k;
    char seg[32], sub[32], part[32], prefix[64];
    if (!split_name(nd->name, 'c', &cell, seg, sizeof seg, sub, sizeof sub) ||
        (seg[0] != 'p' && seg[0] != 'o') || sscanf(seg + 1, "%d", &k) != 1)
        return false;
    snprintf(prefix, sizeof prefix, "c%d.%s", cell, seg);
    if (!darts_op_part(xg, prefix, sub, part, sizeof part))
        return false;
    if (seg[0] == 'p')
        snprintf(out, n, "cells.%d.preprocess%d.%s", cell, k, part);
    else
        snprintf(out, n, "cells.%d.ops.%d.%s", cell, k, part);
    return true;
}

/* ---- NAS-Bench-201 ---- */

static const char *const nb201_ops_py =
    "# ---- the candidate operations (NAS-Bench-201, xautodl's cell_operations.py) ----\n"
    "\n"
    "OPS = {\n"
    "    'none': lambda C: Zero(1),\n"
    "    'skip_connect': lambda C: Identity(),\n"
    "    'nor_conv_1x1': lambda C: ReLUConvBN(C, C, 1, 1, 0),\n"
    "    'nor_conv_3x3': lambda C: ReLUConvBN(C, C, 3, 1, 1),\n"
    "    'avg_pool_3x3': lambda C: nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),\n"
    "}\n"
    "\n"
    "\n";
static const char *const nb201_net_py =
    "# ---- the network (xautodl's InferCell, ResNetBasicblock and TinyNetwork) ----\n"
    "\n"
    "class Cell(nn.Module):\n"
    "    \"\"\"The cell of the genotype: node 0 is the input; node j = 1..3 sums one op per\n"
    "    earlier node; the output is node 3.\"\"\"\n"
    "\n"
    "    def __init__(self, genotype, C):\n"
    "        super().__init__()\n"
    "        self.genotype = genotype\n"
    "        # a node that no op carries on to the output (all its outgoing edges 'none') cannot\n"
    "        # change the cell's output: the ops into it are left out (zeros), as in nasc's\n"
    "        # inference graph, which holds no weights for them\n"
    "        live = [False] * len(genotype) + [True]\n"
    "        for j in range(len(genotype), 0, -1):\n"
    "            for name, index in genotype[j - 1]:\n"
    "                live[index] = live[index] or (live[j] and name != 'none')\n"
    "        self.layers = nn.ModuleList()\n"
    "        self.inputs = []\n"
    "        for j, node in enumerate(genotype, start=1):\n"
    "            for name, index in node:\n"
    "                self.layers.append(OPS[name if live[j] else 'none'](C))\n"
    "                self.inputs.append(index)\n"
    "\n"
    "    def forward(self, x):\n"
    "        nodes, k = [x], 0\n"
    "        for node in self.genotype:\n"
    "            total = 0\n"
    "            for _ in node:\n"
    "                total = total + self.layers[k](nodes[self.inputs[k]])\n"
    "                k += 1\n"
    "            nodes.append(total)\n"
    "        return nodes[-1]\n"
    "\n"
    "\n"
    "class ResNetBasicblock(nn.Module):\n"
    "    \"\"\"Between the stages: two ReLUConvBN 3x3 (the first of stride 2) plus a 2x2 average\n"
    "    pool and 1x1 conv shortcut.\"\"\"\n"
    "\n"
    "    def __init__(self, inplanes, planes):\n"
    "        super().__init__()\n"
    "        self.conv_a = ReLUConvBN(inplanes, planes, 3, 2, 1)\n"
    "        self.conv_b = ReLUConvBN(planes, planes, 3, 1, 1)\n"
    "        self.downsample = nn.Sequential(\n"
    "            nn.AvgPool2d(2, stride=2, padding=0),\n"
    "            nn.Conv2d(inplanes, planes, 1, bias=False),\n"
    "        )\n"
    "\n"
    "    def forward(self, x):\n"
    "        return self.downsample(x) + self.conv_b(self.conv_a(x))\n"
    "\n"
    "\n"
    "class Network(nn.Module):\n"
    "    \"\"\"Stem (3x3 conv, batch norm); three stages of N cells at C, 2C, 4C channels with a\n"
    "    ResNetBasicblock between them; batch norm, ReLU, global average pool, linear.\"\"\"\n"
    "\n"
    "    def __init__(self, C, N, genotype, num_classes, in_channels=3):\n"
    "        super().__init__()\n"
    "        self.normalize = Normalize(in_channels)\n"
    "        self.stem = nn.Sequential(\n"
    "            nn.Conv2d(in_channels, C, 3, padding=1, bias=False),\n"
    "            bn(C),\n"
    "        )\n"
    "        self.cells = nn.ModuleList()\n"
    "        C_prev = C\n"
    "        for stage, C_curr in enumerate((C, 2 * C, 4 * C)):\n"
    "            if stage > 0:\n"
    "                self.cells.append(ResNetBasicblock(C_prev, C_curr))\n"
    "            for _ in range(N):\n"
    "                self.cells.append(Cell(genotype, C_curr))\n"
    "            C_prev = C_curr\n"
    "        self.lastact = nn.Sequential(bn(C_prev), nn.ReLU())\n"
    "        self.global_pooling = nn.AdaptiveAvgPool2d(1)\n"
    "        self.classifier = nn.Linear(C_prev, num_classes)\n"
    "\n"
    "    def forward(self, x):\n"
    "        x = self.stem(self.normalize(x))\n"
    "        for cell in self.cells:\n"
    "            x = cell(x)\n"
    "        x = self.lastact(x)\n"
    "        return self.classifier(torch.flatten(self.global_pooling(x), 1))\n";

enum { NB_EDGES = 6 };

static nasc_status nb201_write(const nasc_export_graph *xg, nasc_buf *top, nasc_buf *body,
                               nasc_err *err) {
    int d[64], n = 0, n_ops = 0;
    const nasc_cell_op *ops = NULL;
    NASC_TRY(decisions(xg, d, 64, &n, &ops, &n_ops, err));
    const int C = stem_width(xg), n_cells = max_index(xg, 'c') + 1;
    if (n != NB_EDGES || C <= 0 || n_cells < 5 || (n_cells - 2) % 3)
        return not_this_shape(xg, "not 6 edges, a stem conv and 3N + 2 cells", err);
    nasc_buf_puts(top, "# The cell (NAS-Bench-201's arch string ARCH): node j = 1..3 sums one "
                       "(op, input node) per\n# earlier node; node 0 is the cell's input.\n"
                       "GENOTYPE = [\n");
    for (int j = 1, e = 0; j < 4; j++) {
        nasc_buf_puts(top, "    [");
        for (int i = 0; i < j; i++, e++) {
            if (d[e] < 0 || d[e] >= n_ops)
                return not_this_shape(xg, "an op out of range", err);
            nasc_buf_printf(top, "%s('%s', %d)", i ? ", " : "", ops[d[e]].name, i);
        }
        nasc_buf_printf(top, "],  # node %d\n", j);
    }
    nasc_buf_puts(top, "]\n");
    nasc_buf_puts(body, nb201_ops_py);
    nasc_buf_puts(body, cell_ops_py);
    nasc_buf_puts(body, nb201_net_py);
    write_build(body, "Network(C=%d, N=%d, genotype=GENOTYPE, num_classes=CLASSES,\n"
                    "                   in_channels=INPUT_SHAPE[0])",
                    C, (n_cells - 2) / 3);
    return NASC_OK;
}

static bool nb201_path(const nasc_export_graph *xg, const nasc_export_node *nd, char *out,
                       size_t n) {
    (void)xg;
    static const char *const fixed[][2] = {{"normalize", "normalize"}, {"stem", "stem.0"},
                                           {"stem.bn", "stem.1"},      {"last.bn", "lastact.0"},
                                           {"fc", "classifier"}};
    if (LOOKUP(fixed, nd->name, out, n))
        return true;
    int cell, e;
    char seg[32], sub[32];
    if (!split_name(nd->name, 'c', &cell, seg, sizeof seg, sub, sizeof sub))
        return false;
    /* every op with weights here is a ReLUConvBN: conv c0, batch norm bn0 */
    const char *part = !strcmp(sub, "c0") ? "op.1" : !strcmp(sub, "bn0") ? "op.2" : NULL;
    if (!strcmp(seg, "down") && !sub[0])
        snprintf(out, n, "cells.%d.downsample.1", cell);
    else if (part && (!strcmp(seg, "a") || !strcmp(seg, "b")))
        snprintf(out, n, "cells.%d.conv_%s.%s", cell, seg, part);
    else if (part && seg[0] == 'e' && sscanf(seg + 1, "%d", &e) == 1)
        snprintf(out, n, "cells.%d.layers.%d.%s", cell, e, part);
    else
        return false;
    return true;
}

/* ---- MobileNetV2-like ---- */

static const char *const mobilenet_py =
    "# Stage s has C * WIDTHS[s] channels; its first block has stride STRIDES[s].\n"
    "WIDTHS = (1, 1.5, 2, 4, 6, 10, 20)\n"
    "STRIDES = (1, 2, 2, 2, 1, 2, 1)\n"
    "\n"
    "\n"
    "class InvertedResidual(nn.Module):\n"
    "    \"\"\"MobileNetV2's block (ReLU for ReLU6): 1x1 expansion,"
    " depthwise kxk, 1x1 projection,\n"
    "    plus the input when the shape is kept.\"\"\"\n"
    "\n"
    "    def __init__(self, C_in, C_out, expansion, kernel, stride):\n"
    "        super().__init__()\n"
    "        mid = C_in * expansion\n"
    "        self.residual = stride == 1 and C_in == C_out\n"
    "        self.conv = nn.Sequential(\n"
    "            nn.Conv2d(C_in, mid, 1, bias=False),\n"
    "            bn(mid),\n"
    "            nn.ReLU(),\n"
    "            nn.Conv2d(mid, mid, kernel, stride=stride, padding=kernel // 2, groups=mid,\n"
    "                      bias=False),\n"
    "            bn(mid),\n"
    "            nn.ReLU(),\n"
    "            nn.Conv2d(mid, C_out, 1, bias=False),\n"
    "            bn(C_out),\n"
    "        )\n"
    "\n"
    "    def forward(self, x):\n"
    "        y = self.conv(x)\n"
    "        return y + x if self.residual else y\n"
    "\n"
    "\n"
    "class Network(nn.Module):\n"
    "    \"\"\"Stem (3x3 conv, batch norm, ReLU), the stages of blocks, head (1x1 conv to 4x the\n"
    "    last width, batch norm, ReLU), global average pool, linear.\"\"\"\n"
    "\n"
    "    def __init__(self, C, stages, num_classes, in_channels=3):\n"
    "        super().__init__()\n"
    "        self.normalize = Normalize(in_channels)\n"
    "        self.stem = nn.Sequential(\n"
    "            nn.Conv2d(in_channels, C, 3, padding=1, bias=False),\n"
    "            bn(C),\n"
    "            nn.ReLU(),\n"
    "        )\n"
    "        blocks, C_in = [], C\n"
    "        for s, (expansion, kernel, depth) in enumerate(stages):\n"
    "            C_out = int(C * WIDTHS[s])\n"
    "            for j in range(depth):\n"
    "                stride = STRIDES[s] if j == 0 else 1\n"
    "                blocks.append(InvertedResidual(C_in, C_out, expansion, kernel, stride))\n"
    "                C_in = C_out\n"
    "        self.blocks = nn.Sequential(*blocks)\n"
    "        self.head = nn.Sequential(\n"
    "            nn.Conv2d(C_in, 4 * C_in, 1, bias=False),\n"
    "            bn(4 * C_in),\n"
    "            nn.ReLU(),\n"
    "        )\n"
    "        self.global_pooling = nn.AdaptiveAvgPool2d(1)\n"
    "        self.classifier = nn.Linear(4 * C_in, num_classes)\n"
    "\n"
    "    def forward(self, x):\n"
    "        x = self.head(self.blocks(self.stem(self.normalize(x))))\n"
    "        return self.classifier(torch.flatten(self.global_pooling(x), 1))\n";

static nasc_status mobilenet_write(const nasc_export_graph *xg, nasc_buf *top, nasc_buf *body,
                                   nasc_err *err) {
    const int C = stem_width(xg);
    if (C <= 0)
        return not_this_shape(xg, "no stem conv", err);
    nasc_buf_puts(top, "# (expansion, kernel, depth) of each stage: ARCH's eEkKdD.\nSTAGES = [\n");
    const char *p = xg->arch ? xg->arch : "";
    do {
        int e, k, depth, used = 0;
        if (sscanf(p, " e%dk%dd%d%n", &e, &k, &depth, &used) != 3 || e < 1 || k < 1 || depth < 1)
            return not_this_shape(xg, "the architecture is not eEkKdD per stage", err);
        nasc_buf_printf(top, "    (%d, %d, %d),\n", e, k, depth);
        p += used;
    } while (*p == ',' && *++p);
    if (*p)
        return not_this_shape(xg, "the architecture is not eEkKdD per stage", err);
    nasc_buf_puts(top, "]\n");
    nasc_buf_puts(body, mobilenet_py);
    write_build(body, "Network(C=%d, stages=STAGES, num_classes=CLASSES,\n"
                    "                   in_channels=INPUT_SHAPE[0])",
                    C);
    return NASC_OK;
}

static bool mobilenet_path(const nasc_export_graph *xg, const nasc_export_node *nd, char *out,
                           size_t n) {
    (void)xg;
    static const char *const fixed[][2] = {
        {"normalize", "normalize"}, {"stem", "stem.0"},  {"stem.bn", "stem.1"},
        {"head", "head.0"},         {"head.bn", "head.1"}, {"fc", "classifier"}};
    if (LOOKUP(fixed, nd->name, out, n))
        return true;
    static const char *const parts[][2] = {{"exp", "0"}, {"bn0", "1"}, {"dw", "3"},
                                           {"bn1", "4"}, {"proj", "6"}, {"bn2", "7"}};
    int blk;
    char seg[32], sub[32];
    if (!split_name(nd->name, 'b', &blk, seg, sizeof seg, sub, sizeof sub) || sub[0])
        return false;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (!strcmp(seg, parts[i][0])) {
            snprintf(out, n, "blocks.%d.conv.%s", blk, parts[i][1]);
            return true;
        }
    return false;
}

/* ---- the baseline CNN ---- */

static const char *const baseline_py =
    "class Network(nn.Module):\n"
    "    \"\"\"nasc's baseline CNN: conv3x3-BN-ReLU x2, max pool, conv3x3-BN-ReLU x2, max pool,\n"
    "    conv3x3-BN-ReLU, global average pool, dropout 0.25, linear.\"\"\"\n"
    "\n"
    "    def __init__(self, channels, num_classes, in_channels=1):\n"
    "        super().__init__()\n"
    "        self.normalize = Normalize(in_channels)\n"
    "        c1, c2, c3, c4, c5 = channels\n"
    "        self.conv1 = nn.Conv2d(in_channels, c1, 3, padding=1, bias=False)\n"
    "        self.bn1 = bn(c1)\n"
    "        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1, bias=False)\n"
    "        self.bn2 = bn(c2)\n"
    "        self.conv3 = nn.Conv2d(c2, c3, 3, padding=1, bias=False)\n"
    "        self.bn3 = bn(c3)\n"
    "        self.conv4 = nn.Conv2d(c3, c4, 3, padding=1, bias=False)\n"
    "        self.bn4 = bn(c4)\n"
    "        self.conv5 = nn.Conv2d(c4, c5, 3, padding=1, bias=False)\n"
    "        self.bn5 = bn(c5)\n"
    "        self.dropout = nn.Dropout(0.25)\n"
    "        self.fc = nn.Linear(c5, num_classes)\n"
    "\n"
    "    def forward(self, x):\n"
    "        x = self.normalize(x)\n"
    "        x = F.relu(self.bn1(self.conv1(x)))\n"
    "        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)\n"
    "        x = F.relu(self.bn3(self.conv3(x)))\n"
    "        x = F.max_pool2d(F.relu(self.bn4(self.conv4(x))), 2)\n"
    "        x = F.relu(self.bn5(self.conv5(x)))\n"
    "        x = self.dropout(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))\n"
    "        return self.fc(x)\n";

static nasc_status baseline_write(const nasc_export_graph *xg, nasc_buf *top, nasc_buf *body,
                                  nasc_err *err) {
    (void)top;
    int ch[5];
    for (int i = 0; i < 5; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "conv%d", i + 1);
        const nasc_export_node *c = nasc_py_find(xg, nm);
        if (!c || c->op != NASC_EXPORT_OP_CONV)
            return not_this_shape(xg, "not five convs conv1..conv5", err);
        ch[i] = c->w_shape[0];
    }
    nasc_buf_puts(body, baseline_py);
    write_build(body, "Network(channels=(%d, %d, %d, %d, %d), num_classes=CLASSES,\n"
                    "                   in_channels=INPUT_SHAPE[0])",
                    ch[0], ch[1], ch[2], ch[3], ch[4]);
    return NASC_OK;
}

static bool baseline_path(const nasc_export_graph *xg, const nasc_export_node *nd, char *out,
                          size_t n) {
    (void)xg;
    snprintf(out, n, "%s", nd->name); /* conv1..5, bn1..5, fc, normalize: the same names */
    return true;
}

static const py_net nets[] = {
    {"darts", "from collections import namedtuple\n", darts_write, darts_path},
    {"nb201", "", nb201_write, nb201_path},
    {"mobilenet", "", mobilenet_write, mobilenet_path},
    {"baseline", "", baseline_write, baseline_path},
};

const py_net *nasc_py_net_find(const char *space) {
    for (size_t i = 0; space && i < sizeof nets / sizeof nets[0]; i++)
        if (!strcmp(nets[i].space, space))
            return &nets[i];
    return NULL;
}
