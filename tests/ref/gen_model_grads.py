#!/usr/bin/python3
"""Loss, logits, parameter and input gradients and BN running statistics of whole NAS-Bench-201
and DARTS networks after one training-mode forward and backward pass, from the PyTorch models of
tests/ref/gen_space_params.py (written after xautodl and quark0/darts).

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
then records 'KIND NAME NUMEL NVALUES [sample]' followed by NVALUES numbers on one line: KIND is loss,
logits, grad (parameter gradient, in registration order), xgrad (input gradient), rmean / rvar
(BN running statistics, registration order). A tensor of at most 128 elements is written whole;
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


if __name__ == "__main__":
    main()
