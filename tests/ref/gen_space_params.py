#!/usr/bin/python3
"""Parameter counts and multiply-adds of the networks nasc builds from NAS-Bench-201 and DARTS
architectures, from PyTorch models written after the reference code (xautodl TinyNetwork /
InferCell / cell_operations.py; quark0/darts cnn/model.py NetworkCIFAR and operations.py).

Run with Debian's python3-torch:
    /usr/bin/python3 tests/ref/gen_space_params.py > tests/ref/space_params.txt
The output is committed, so CI needs no PyTorch. Format: '# ' comment lines, then two lines per
case:
    SPACE NAME IN_C IN_H IN_W CLASSES C CELLS AUX PARAMS MACS
    <architecture text>
PARAMS counts trainable parameters (buffers excluded; for DARTS with AUX=1 the auxiliary head is
included, as torch's model.parameters() does; the DARTS paper's 3.3M excludes it). MACS are the
multiply-adds of Conv2d and Linear layers for one input (batch 1), auxiliary head excluded.
"""
import re

import torch
import torch.nn as nn

torch.manual_seed(0)


# ---------------------------------------------------------------- NAS-Bench-201

class ReLUConvBN(nn.Module):
    def __init__(self, cin, cout, k, stride, pad, dil=1):
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(inplace=False),
                                nn.Conv2d(cin, cout, k, stride=stride, padding=pad,
                                          dilation=dil, bias=False),
                                nn.BatchNorm2d(cout, affine=True))

    def forward(self, x):
        return self.op(x)


class Zero(nn.Module):
    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, ::self.stride, ::self.stride].mul(0.0)


def nb201_op(name, c):
    if name == "none":
        return Zero(1)
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(c, c, 1, 1, 0)
    if name == "nor_conv_3x3":
        return ReLUConvBN(c, c, 3, 1, 1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(name)


def parse_nb201(text):
    nodes = []
    for part in text.split("+"):
        edges = [e for e in part.strip("|").split("|") if e]
        nodes.append([(e.split("~")[0], int(e.split("~")[1])) for e in edges])
    return nodes


class NB201Cell(nn.Module):
    def __init__(self, nodes, c):
        super().__init__()
        self.nodes = nodes
        self.ops = nn.ModuleList()
        for node in nodes:
            for name, _ in node:
                self.ops.append(nb201_op(name, c))

    def forward(self, x):
        states = [x]
        k = 0
        for node in self.nodes:
            s = 0
            for _, j in node:
                s = s + self.ops[k](states[j])
                k += 1
            states.append(s)
        return states[-1]


class BasicBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv_a = ReLUConvBN(cin, cout, 3, 2, 1)
        self.conv_b = ReLUConvBN(cout, cout, 3, 1, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
                                        nn.Conv2d(cin, cout, 1, bias=False))

    def forward(self, x):
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class NB201Net(nn.Module):
    def __init__(self, text, C, N, num_classes, cin):
        super().__init__()
        nodes = parse_nb201(text)
        self.stem = nn.Sequential(nn.Conv2d(cin, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        chans = [C] * N + [2 * C] + [2 * C] * N + [4 * C] + [4 * C] * N
        reds = [False] * N + [True] + [False] * N + [True] + [False] * N
        cells, cprev = [], C
        for c, r in zip(chans, reds):
            cells.append(BasicBlock(cprev, c) if r else NB201Cell(nodes, c))
            cprev = c
        self.cells = nn.ModuleList(cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(cprev), nn.ReLU(inplace=True))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(cprev, num_classes)

    def forward(self, x):
        h = self.stem(x)
        for cell in self.cells:
            h = cell(h)
        h = self.pool(self.lastact(h))
        return self.classifier(h.flatten(1))


# ---------------------------------------------------------------- DARTS

class SepConv(nn.Module):
    def __init__(self, c, k, stride, pad):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, k, stride=stride, padding=pad, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
            nn.BatchNorm2d(c),
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, k, stride=1, padding=pad, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
            nn.BatchNorm2d(c))

    def forward(self, x):
        return self.op(x)


class DilConv(nn.Module):
    def __init__(self, c, k, stride, pad, dil):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, k, stride=stride, padding=pad, dilation=dil, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
            nn.BatchNorm2d(c))

    def forward(self, x):
        return self.op(x)


class FactorizedReduce(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        assert cout % 2 == 0
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(cin, cout // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(cin, cout // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


def darts_op(name, c, stride):
    if name == "none":
        return Zero(stride)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride=stride, padding=1)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c)
    if name == "sep_conv_3x3":
        return SepConv(c, 3, stride, 1)
    if name == "sep_conv_5x5":
        return SepConv(c, 5, stride, 2)
    if name == "dil_conv_3x3":
        return DilConv(c, 3, stride, 2, 2)
    if name == "dil_conv_5x5":
        return DilConv(c, 5, stride, 4, 2)
    raise ValueError(name)


def parse_genotype(text):
    cells = {}
    for key in ("normal", "reduce"):
        m = re.search(key + r"\s*=\s*\[(.*?)\]\s*,\s*" + key + "_concat", text, re.S)
        cells[key] = [(op, int(i)) for op, i in re.findall(r"'(\w+)'\s*,\s*(\d+)", m.group(1))]
    return cells


class DartsCell(nn.Module):
    def __init__(self, pairs, cpp, cp, c, reduction, reduction_prev):
        super().__init__()
        self.pre0 = FactorizedReduce(cpp, c) if reduction_prev else ReLUConvBN(cpp, c, 1, 1, 0)
        self.pre1 = ReLUConvBN(cp, c, 1, 1, 0)
        self.idx = [i for _, i in pairs]
        self.ops = nn.ModuleList(darts_op(op, c, 2 if reduction and i < 2 else 1)
                                 for op, i in pairs)

    def forward(self, s0, s1):
        st = [self.pre0(s0), self.pre1(s1)]
        for n in range(4):
            st.append(self.ops[2 * n](st[self.idx[2 * n]]) +
                      self.ops[2 * n + 1](st[self.idx[2 * n + 1]]))
        return torch.cat(st[2:], dim=1)


class AuxHead(nn.Module):
    def __init__(self, c, num_classes, stride):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.AvgPool2d(5, stride=stride, padding=0, count_include_pad=False),
            nn.Conv2d(c, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


class DartsNet(nn.Module):
    def __init__(self, text, C, layers, num_classes, cin, auxiliary, aux_stride):
        super().__init__()
        g = parse_genotype(text)
        self.stem = nn.Sequential(nn.Conv2d(cin, 3 * C, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(3 * C))
        cpp, cp, c = 3 * C, 3 * C, C
        cells, red_prev = [], False
        for i in range(layers):
            red = i in [layers // 3, 2 * layers // 3]
            if red:
                c *= 2
            cells.append(DartsCell(g["reduce" if red else "normal"], cpp, cp, c, red, red_prev))
            red_prev = red
            cpp, cp = cp, 4 * c
            if i == 2 * layers // 3:
                c_aux = cp
        self.cells = nn.ModuleList(cells)
        self.aux = AuxHead(c_aux, num_classes, aux_stride) if auxiliary else None
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(cp, num_classes)

    def forward(self, x):
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(self.pool(s1).flatten(1))


# ---------------------------------------------------------------- counting

def macs(model, shape):
    total = [0]

    def hook(mod, inp, out):
        if isinstance(mod, nn.Conv2d):
            kh, kw = mod.kernel_size
            total[0] += out.numel() * (mod.in_channels // mod.groups) * kh * kw
        elif isinstance(mod, nn.Linear):
            total[0] += out.numel() * mod.in_features

    hs = [m.register_forward_hook(hook) for m in model.modules()
          if isinstance(m, (nn.Conv2d, nn.Linear)) and not name_in_aux(model, m)]
    model.eval()
    with torch.no_grad():
        model(torch.randn(1, *shape))
    for h in hs:
        h.remove()
    return total[0]


def name_in_aux(model, m):
    aux = getattr(model, "aux", None)
    return aux is not None and any(m is x for x in aux.modules())


def params(model):
    return sum(p.numel() for p in model.parameters())


DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
            "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
            "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
            "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
            "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], "
            "reduce_concat=[2, 3, 4, 5])")
# every op at least once, 'none' included, inputs from every node
DARTS_MIX = ("Genotype(normal=[('sep_conv_5x5', 1), ('dil_conv_5x5', 0), ('none', 2), "
             "('avg_pool_3x3', 0), ('max_pool_3x3', 3), ('dil_conv_3x3', 1), ('skip_connect', 4), "
             "('sep_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('dil_conv_5x5', 0), "
             "('sep_conv_5x5', 1), ('none', 0), ('dil_conv_3x3', 2), ('avg_pool_3x3', 1), "
             "('skip_connect', 3), ('sep_conv_3x3', 0), ('max_pool_3x3', 4)], "
             "reduce_concat=[2, 3, 4, 5])")

NB201_CELLS = [
    ("example", "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
                "skip_connect~2|"),
    ("best_c10", "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|"
                 "nor_conv_3x3~1|nor_conv_3x3~2|"),
    ("all_none", "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"),
    ("all_conv3", "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|"
                  "nor_conv_3x3~1|nor_conv_3x3~2|"),
    ("all_conv1", "|nor_conv_1x1~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+|nor_conv_1x1~0|"
                  "nor_conv_1x1~1|nor_conv_1x1~2|"),
    ("pool_skip", "|avg_pool_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|skip_connect~1|"
                  "avg_pool_3x3~2|"),
]


def line(space, name, shape, classes, C, cells, aux, p, m, text):
    print("%s %s %d %d %d %d %d %d %d %d %d" % (space, name, shape[0], shape[1], shape[2], classes,
                                                C, cells, aux, p, m))
    print(text)


def main():
    print("# torch %s; counts of the nb201 / darts networks nasc builds (see the docstring)"
          % torch.__version__)
    for name, text in NB201_CELLS:
        for shape, tag in (((3, 32, 32), "c10"), ((1, 28, 28), "fmnist")):
            net = NB201Net(text, 16, 5, 10, shape[0])
            line("nb201", name + "_" + tag, shape, 10, 16, 5, 0, params(net), macs(net, shape),
                 text)

    for gname, text in (("darts_v2", DARTS_V2), ("mix", DARTS_MIX)):
        for shape, C, L, tag in (((3, 32, 32), 36, 20, "c36_l20_c10"),
                                 ((1, 28, 28), 16, 8, "c16_l8_fmnist")):
            for aux in (0, 1):
                if gname == "mix" and C == 36 and aux:
                    continue
                # auxiliary pool stride: 3 on the 8x8 maps of 32x32 inputs (as the DARTS code),
                # H-5 in general (7x7 maps of 28x28 inputs: 2); the parameter count does not
                # depend on it.
                h_aux = shape[1] // 4
                net = DartsNet(text, C, L, 10, shape[0], bool(aux), h_aux - 5)
                line("darts", "%s_%s%s" % (gname, tag, "_aux" if aux else ""), shape, 10, C, L, aux,
                     params(net), macs(net, shape), text)


if __name__ == "__main__":
    main()
