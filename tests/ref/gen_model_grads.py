#!/usr/bin/python3
"""Loss, logits, parameter and input gradients and BN running statistics of whole networks of
every space after one training-mode forward and backward pass: NAS-Bench-201 and DARTS from the
PyTorch models of tests/ref/gen_space_params.py (written after xautodl and quark0/darts), chain,
mobilenet, macro and morph from the models below (written after docs/SPACES.md).

Run with Debian's python3-torch:
    /usr/bin/python3 tests/ref/gen_model_grads.py > tests/ref/model_grads.txt
The output is committed, so CI needs no PyTorch (tests/ref/test_model_grads.c reads it).

Every value is a formula of its position, so nasc can build the same network without reading
PyTorch's weights: parameter tensor p (in registration order, which nasc shares), element i of its
flat PyTorch (OIHW / row-major) order:
    conv / linear weight  0.6 * sin(0.37 i + 1.1 p + 0.5) / sqrt(fan_in)
    linear bias           0.05 * sin(0.37 i + 1.1 p + 0.5)
    BN gamma              1 + 0.2 * sin(0.37 i + 1.1 p + 0.5)
    BN beta               0.1 * sin(0.37 i + 1.1 p + 0.5)
input element i (NCHW order): sin(0.61 i) + 0.3 cos(0.23 i); label of sample n: (3 n + 1) mod K.
Parameters and inputs are rounded to float32 (what nasc holds), then everything is computed in
float64: the reference is the exact result for nasc's float32 inputs, not another float32
computation with its own rounding (a BN over 4 values amplifies rounding: PyTorch's float32
gradient of some BN biases here is off by 1e-4 of their scale).
Loss = CE(logits) [+ 0.4 CE(aux logits)]; BN in training mode (batch statistics, running
averages updated with momentum 0.1); no drop-path. The auxiliary head's first ReLU is not in
place (the DARTS code's in-place ReLU would also rectify the cell output it reads).

Format: '# ' comments, then per case a header line
    case SPACE NAME IN_C IN_H IN_W CLASSES C CELLS AUX BATCH
    <architecture text>
then records 'KIND NAME NUMEL NVALUES [sample]' followed by NVALUES numbers on one line: KIND is
loss, logits, grad (parameter gradient, in registration order), xgrad (input gradient), rmean /
rvar (BN running statistics, registration order). A tensor of at most 128 elements is written whole;
a larger one as a "sample" record: 32 elements at flat positions (j * 7919) mod NUMEL, then its
sum and sum of squares.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

import gen_space_params as ref

torch.set_num_threads(1)
FULL_MAX = 128
N_SAMPLE = 32


def wave(n, p):
    i = torch.arange(n, dtype=torch.float64)
    return torch.sin(0.37 * i + 1.1 * p + 0.5)


def fill(net):
    """Deterministic parameters (see the docstring), in named_parameters order."""
    mods = {}
    for mname, mod in net.named_modules():
        for pname, _ in mod.named_parameters(recurse=False):
            mods[(mname + "." if mname else "") + pname] = mod
    with torch.no_grad():
        for p_idx, (name, prm) in enumerate(net.named_parameters()):
            mod = mods[name]
            w = wave(prm.numel(), p_idx)
            if isinstance(mod, nn.BatchNorm2d):
                v = 1 + 0.2 * w if name.endswith("weight") else 0.1 * w
            elif name.endswith("bias"):
                v = 0.05 * w
            else:
                fan_in = prm[0].numel()
                v = 0.6 * w / math.sqrt(fan_in)
            prm.copy_(v.reshape(prm.shape).to(torch.float32).to(torch.float64))


def emit(kind, name, t):
    flat = t.detach().reshape(-1).to(torch.float64)
    n = flat.numel()
    if n <= FULL_MAX:
        vals = flat.tolist()
        print("%s %s %d %d" % (kind, name, n, n))
    else:
        pos = [(j * 7919) % n for j in range(N_SAMPLE)]
        vals = [flat[q].item() for q in pos] + [flat.sum().item(), (flat * flat).sum().item()]
        print("%s %s %d %d sample" % (kind, name, n, len(vals)))
    print(" ".join("%.9g" % v for v in vals))


def run_case(space, name, net, text, in_c, hw, classes, C, cells, aux, batch):
    net.double()
    fill(net)
    net.train()
    i = torch.arange(batch * in_c * hw * hw, dtype=torch.float64)
    x = (torch.sin(0.61 * i) + 0.3 * torch.cos(0.23 * i)).to(torch.float32).to(torch.float64)
    x = x.reshape(batch, in_c, hw, hw).requires_grad_(True)
    y = torch.tensor([(3 * n + 1) % classes for n in range(batch)])
    if aux:
        logits, aux_logits = net.forward_aux(x)
        loss = F.cross_entropy(logits, y) + 0.4 * F.cross_entropy(aux_logits, y)
    else:
        logits = net(x)
        loss = F.cross_entropy(logits, y)
    loss.backward()
    print("case %s %s %d %d %d %d %d %d %d %d" % (space, name, in_c, hw, hw, classes, C, cells,
                                                  aux, batch))
    print(text)
    emit("loss", "loss", loss.reshape(1))
    emit("logits", "logits", logits)
    for pname, prm in net.named_parameters():
        emit("grad", pname, prm.grad)
    emit("xgrad", "input", x.grad)
    for mname, mod in net.named_modules():
        if isinstance(mod, nn.BatchNorm2d) and mod.running_mean is not None:
            emit("rmean", mname, mod.running_mean)
            emit("rvar", mname, mod.running_var)


class DartsAuxNet(ref.DartsNet):
    """DartsNet whose forward also returns the auxiliary logits (head after cell 2L/3)."""

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.aux.features[0] = nn.ReLU(inplace=False)
        self.aux_at = 2 * len(self.cells) // 3

    def forward_aux(self, x):
        s0 = s1 = self.stem(x)
        aux_logits = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1)
            if i == self.aux_at:
                aux_logits = self.aux(s1)
        return self.classifier(self.pool(s1).flatten(1)), aux_logits


# ---------------------------------------------------------------- chain, mobilenet, macro, morph
# Written after docs/SPACES.md; modules are registered in the order nasc registers parameters.

class ChainNet(nn.Module):
    """convKxK-C (bias, pad K/2), max/avg pool 2x2, fc-U (the first reads the global average),
    relu / sigmoid / tanh; a linear head (on the global average when no fc came before)."""

    def __init__(self, text, cin, classes):
        super().__init__()
        self.layers = nn.ModuleList()
        self.gap = []
        c, flat = cin, False
        for tok in text.split(","):
            gap = False
            if tok.startswith("conv"):
                k, u = int(tok[4]), int(tok.split("-")[1])
                m = nn.Conv2d(c, u, k, padding=k // 2, bias=True)
                c = u
            elif tok == "maxpool":
                m = nn.MaxPool2d(2, 2)
            elif tok == "avgpool":
                m = nn.AvgPool2d(2, 2)
            elif tok.startswith("fc"):
                u = int(tok.split("-")[1])
                m, gap, flat, c = nn.Linear(c, u), not flat, True, u
            else:
                m = {"relu": nn.ReLU(), "sigmoid": nn.Sigmoid(), "tanh": nn.Tanh()}[tok]
            self.layers.append(m)
            self.gap.append(gap)
        self.head_gap = not flat
        self.head = nn.Linear(c, classes)

    def forward(self, x):
        for m, gap in zip(self.layers, self.gap):
            x = m(x.mean((2, 3)) if gap else x)
        return self.head(x.mean((2, 3)) if self.head_gap else x)


class MBBlock(nn.Module):
    def __init__(self, cin, cout, e, k, stride):
        super().__init__()
        mid = cin * e
        self.exp = nn.Conv2d(cin, mid, 1, bias=False)
        self.dw = nn.Conv2d(mid, mid, k, stride, k // 2, groups=mid, bias=False)
        self.proj = nn.Conv2d(mid, cout, 1, bias=False)
        self.bn0, self.bn1 = nn.BatchNorm2d(mid), nn.BatchNorm2d(mid)
        self.bn2 = nn.BatchNorm2d(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = F.relu(self.bn0(self.exp(x)))
        y = F.relu(self.bn1(self.dw(y)))
        y = self.bn2(self.proj(y))
        return y + x if self.residual else y


class MobileNet(nn.Module):
    """stem conv3x3(C)+BN+ReLU; stage s: width C*{1,1.5,2,4,6,10,20}[s], stride
    {1,2,2,2,1,2,1}[s] on its first block; head conv1x1 to 4x + BN + ReLU, pool, linear."""

    def __init__(self, text, C, cin, classes):
        super().__init__()
        widths_x2, strides = [2, 3, 4, 8, 12, 20, 40], [1, 2, 2, 2, 1, 2, 1]
        self.stem = nn.Conv2d(cin, C, 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(C)
        blocks, c = [], C
        for s, st in enumerate(text.split(",")):
            e, k, d = int(st[1]), int(st[3]), int(st[5])
            cout = C * widths_x2[s] // 2
            for j in range(d):
                blocks.append(MBBlock(c, cout, e, k, strides[s] if j == 0 else 1))
                c = cout
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Conv2d(c, 4 * c, 1, bias=False)
        self.head_bn = nn.BatchNorm2d(4 * c)
        self.fc = nn.Linear(4 * c, classes)

    def forward(self, x):
        h = F.relu(self.stem_bn(self.stem(x)))
        for b in self.blocks:
            h = b(h)
        h = F.relu(self.head_bn(self.head(h)))
        return self.fc(h.mean((2, 3)))


class MacroLayer(nn.Module):
    def __init__(self, op, C, n_skips):
        super().__init__()
        self.op = op
        self.inp = nn.Conv2d(C, C, 1, bias=False)
        self.in_bn = nn.BatchNorm2d(C)
        if op.startswith("conv") or op.startswith("sepconv"):
            k = int(op[-3])
            sep = op.startswith("sep")
            self.conv = nn.Conv2d(C, C, k, padding=k // 2, groups=C if sep else 1, bias=False)
            if sep:
                self.pw = nn.Conv2d(C, C, 1, bias=False)
            self.out_bn = nn.BatchNorm2d(C)
        if n_skips:
            self.skip = nn.Conv2d((n_skips + 1) * C, C, 1, bias=False)
            self.skip_bn = nn.BatchNorm2d(C)

    def branch(self, x):
        h = F.relu(self.in_bn(self.inp(x)))
        if self.op.startswith("conv"):
            return F.relu(self.out_bn(self.conv(h)))
        if self.op.startswith("sepconv"):
            return F.relu(self.out_bn(self.pw(self.conv(h))))
        if self.op == "maxpool":
            return F.max_pool2d(h, 3, 1, 1)
        return F.avg_pool2d(h, 3, 1, 1, count_include_pad=False)


class MacroNet(nn.Module):
    """ENAS macro: stem conv3x3+BN; layer i reads node i, skips "+j" are concatenated with the
    branch output, then ReLU, conv1x1, BN; after layers L/3-1 and 2L/3-1 every node is
    max-pooled 2x2; global average pool, linear."""

    def __init__(self, text, C, cin, classes):
        super().__init__()
        self.stem = nn.Conv2d(cin, C, 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(C)
        toks = text.split(",")
        self.skips = [[int(j) for j in t.split("+")[1:]] for t in toks]
        self.layers = nn.ModuleList(MacroLayer(t.split("+")[0], C, len(sk))
                                    for t, sk in zip(toks, self.skips))
        L = len(toks)
        self.pools = (L // 3 - 1, 2 * (L // 3) - 1)
        self.fc = nn.Linear(C, classes)

    def forward(self, x):
        node = [self.stem_bn(self.stem(x))]
        for i, layer in enumerate(self.layers):
            y = layer.branch(node[i])
            if self.skips[i]:
                y = F.relu(torch.cat([node[j] for j in sorted(self.skips[i])] + [y], 1))
                y = layer.skip_bn(layer.skip(y))
            node.append(y)
            if i in self.pools:
                node = [F.max_pool2d(n, 2, 2) for n in node]
        return self.fc(node[-1].mean((2, 3)))


class MorphNet(nn.Module):
    """unit i = relu(BN(convKxK(in)) + sum_j conv1x1_j(out_j)), optional 2x2 max/avg pool after
    it; global average pool, linear."""

    def __init__(self, text, cin, classes):
        super().__init__()
        self.units, self.skip_of, self.pool_after = nn.ModuleList(), [], []
        outs, c = [], cin
        for tok in text.split(","):
            if tok in ("maxpool", "avgpool"):
                self.pool_after[-1] = tok
                continue
            parts = tok.split("+")
            k, u = int(parts[0][4]), int(parts[0].split("-")[1])
            skips = [int(j) for j in parts[1:]]
            unit = nn.Module()
            unit.conv = nn.Conv2d(c, u, k, padding=k // 2, bias=False)
            unit.bn = nn.BatchNorm2d(u)
            unit.skips = nn.ModuleList(nn.Conv2d(outs[j], u, 1, bias=False) for j in skips)
            self.units.append(unit)
            self.skip_of.append(skips)
            self.pool_after.append(None)
            outs.append(u)
            c = u
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        out, h = [], x
        for unit, skips, pool in zip(self.units, self.skip_of, self.pool_after):
            pre = unit.bn(unit.conv(h))
            for conv, j in zip(unit.skips, skips):
                pre = pre + conv(out[j])
            out.append(F.relu(pre))
            h = out[-1]
            if pool == "maxpool":
                h = F.max_pool2d(h, 2, 2)
            elif pool == "avgpool":
                h = F.avg_pool2d(h, 2, 2)
        return self.fc(h.mean((2, 3)))


def main():
    print("# torch %s; see gen_model_grads.py for the formulas and the format" % torch.__version__)
    torch.manual_seed(0)
    # NAS-Bench-201: two cells, every op and 'none' between them; N=1 cell per stage
    for cname, text in (("example", ref.NB201_CELLS[0][1]), ("pool_skip", ref.NB201_CELLS[5][1]),
                        ("all_conv3", ref.NB201_CELLS[3][1])):
        net = ref.NB201Net(text, 4, 1, 3, 2)
        run_case("nb201", cname, net, text, 2, 16, 3, 4, 1, 0, 4)
    # DARTS: every op, normal and reduction cells, factorized reduce after a reduction, the
    # auxiliary head (24x24 inputs: cell 2 = 2L/3 outputs 6x6), states read by several ops
    for gname, text, aux in (("mix", ref.DARTS_MIX, 1), ("darts_v2", ref.DARTS_V2, 0)):
        if aux:
            net = DartsAuxNet(text, 4, 4, 3, 2, True, 1)
        else:
            net = ref.DartsNet(text, 4, 4, 3, 2, False, 0)
        run_case("darts", gname, net, text, 2, 24, 3, 4, 4, aux, 8)
    # the other spaces' networks
    text = "conv3x3-16,relu,maxpool,conv5x5-32,tanh,avgpool,fc-32,sigmoid"
    run_case("chain", "every_layer", ChainNet(text, 2, 3), text, 2, 16, 3, 0, 0, 0, 4)
    text = "conv7x7-16,tanh,maxpool,fc-64,relu,fc-32"
    run_case("chain", "two_fc", ChainNet(text, 2, 3), text, 2, 16, 3, 0, 0, 0, 4)
    text = "conv3x3-16,maxpool,relu"
    run_case("chain", "no_fc", ChainNet(text, 2, 3), text, 2, 16, 3, 0, 0, 0, 4)
    text = "e6k3d2,e3k5d1,e6k7d2,e3k3d1,e6k5d2"
    run_case("mobilenet", "mixed", MobileNet(text, 4, 2, 3), text, 2, 16, 3, 4, 0, 0, 4)
    text = ("conv3x3,sepconv5x5+0,maxpool+0+1,avgpool+2,conv5x5,sepconv3x3+1+4,conv3x3+5,"
            "maxpool,avgpool+0+3+7,sepconv5x5+8,conv5x5+2+9,sepconv3x3+10")
    run_case("macro", "every_op", MacroNet(text, 4, 2, 3), text, 2, 8, 3, 4, 0, 0, 4)
    text = "conv3x3-8,conv5x5-8+0,maxpool,conv1x1-16,conv3x3-16+2,avgpool,conv3x3-8"
    run_case("morph", "skips_pools", MorphNet(text, 2, 3), text, 2, 16, 3, 0, 0, 0, 4)


if __name__ == "__main__":
    main()
