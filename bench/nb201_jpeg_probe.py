#!/usr/bin/env python3
"""bench/nb201_jpeg_probe.py — how much do stronger JPEG artefacts cost each reproduced cell?

A test-time probe for the offset that bench/nb201_reproduce.py measures (docs/DATA.md): the
reproduction trains on the JPEG copy of CIFAR-10 (quality 75), so its accuracies sit below
NAS-Bench-201's (trained on the original pixels). The original pixels are not here to train on,
so this measures the next best thing: each trained cell (RUN/cell_P.ckpt) is evaluated on its
held-out half as trained on, and on the same images re-encoded by PIL at a lower quality
(default 50, 4:2:0 chroma as the copy). A cell that loses more here relies more on the detail
that JPEG removes. Evaluation only: no training, no choice is made from these numbers.

  nb201_jpeg_probe.py --data CIFAR10_JPEG_DIR --run RUN_DIR --work DIR [--nasc build/nasc]
                      [--quality 50] [--threads 2] [--cells 5,25,50,75,90,99]

Needs python3-pil. The held-out half is nasc's own seeded split (`test-fraction=0.5`), which
depends only on the file names, so both folders give the same 25,000 held-out images.
"""
import argparse
import json
import os
import subprocess
import sys

from PIL import Image


def reencode(src, dst, quality):
    n = 0
    for root, _, files in os.walk(src):
        out = os.path.join(dst, os.path.relpath(root, src))
        os.makedirs(out, exist_ok=True)
        for f in sorted(files):
            target = os.path.join(out, f)
            if not os.path.exists(target):
                img = Image.open(os.path.join(root, f)).convert("RGB")
                img.save(target, quality=quality, subsampling=2)
            n += 1
    return n


def evaluate(nasc, model, folder, threads):
    out = subprocess.run([nasc, "eval", "--model", model, "--data",
                          "images:%s?test-fraction=0.5" % folder, "--threads", str(threads),
                          "--json"], check=True, capture_output=True, text=True)
    j = json.loads(out.stdout)
    return j["accuracy"], j["images"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="the CIFAR-10 JPEG folder (with train/)")
    ap.add_argument("--run", required=True, help="nb201_reproduce.py's RUN directory")
    ap.add_argument("--work", required=True, help="where the re-encoded copy goes")
    ap.add_argument("--nasc", default="build/nasc")
    ap.add_argument("--quality", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cells", default="5,25,50,75,90,99")
    a = ap.parse_args()
    src = os.path.abspath(os.path.join(a.data, "train"))
    dst = os.path.abspath(os.path.join(a.work, "q%d" % a.quality, "train"))
    n = reencode(src, dst, a.quality)
    print("re-encoded %d images at quality %d into %s" % (n, a.quality, dst))
    results = json.load(open(os.path.join(a.run, "results.json")))
    print("%-5s %8s %8s %8s %8s" % ("pct", "table", "q75", "q%d" % a.quality, "drop"))
    for p in a.cells.split(","):
        model = os.path.join(a.run, "cell_p%s.ckpt" % p)
        if p not in results or not os.path.exists(model):
            print("p%s: not trained yet (%s)" % (p, model), file=sys.stderr)
            continue
        acc, n1 = evaluate(a.nasc, model, src, a.threads)
        low, n2 = evaluate(a.nasc, model, dst, a.threads)
        assert n1 == n2, "the two folders gave different held-out sets"
        print("p%-4s %8.2f %8.2f %8.2f %+8.2f" % (p, results[p]["table"], acc, low, low - acc),
              flush=True)


if __name__ == "__main__":
    main()
