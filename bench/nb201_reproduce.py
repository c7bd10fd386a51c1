#!/usr/bin/env python3
"""bench/nb201_reproduce.py — nasc's training checked against NAS-Bench-201's own numbers.

Picks 6 cells of the NB201 table (data/nb201.csv) by a fixed rule: the cells at the 5th, 25th,
50th, 75th, 90th and 99th percentiles of `cifar10_valid_12ep` (nearest rank over the 15,625 cells
sorted by that column, ties broken by the arch string). Trains each with `nasc train --recipe
nb201-12` on a random half of the CIFAR-10 training images and evaluates on the other half (the
benchmark's cifar10-valid protocol: 25,000 / 25,000), then prints each cell's accuracy against
the table, the mean offset, the residuals after removing it, and the Spearman rank correlation.

The half split is nasc's own held-out split of the train folder (`--test-fraction 0.5`):
stratified (2,500 images per class on each side), seeded (seed 0), the same for every cell.
NB201's split was also a fixed random half, though not the same images.

The data is the JPEG copy of CIFAR-10 (quality 75, shared/data/cifar10-jpeg.tar.gz): every
accuracy this prints is measured on JPEG-compressed images, not on CIFAR-10's original pixels.

Resumable: each cell trains with --checkpoint RUN/cell_P.ckpt (resumes inside a cell, epoch by
epoch) and its result is kept in RUN/results.json (a finished cell is not trained again). Only
the training-step configuration given here is compared; a run with --epochs, --train-fraction or
--test-fraction changed is a smoke test of the driver and says so, never a reproduction.

  nb201_reproduce.py --data CIFAR10_JPEG_DIR --run RUN_DIR [--nasc build/nasc] [--threads 2]
                     [--seed 1] [--cells 5,25,50,75,90,99]
                     [--epochs N --train-fraction F --test-fraction F]   (smoke tests only)
  nb201_reproduce.py --pick                                  (print the cells and exit)
"""
import argparse
import csv
import json
import math
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TABLE = os.path.join(HERE, "..", "data", "nb201.csv")
COLUMN = "cifar10_valid_12ep"
PERCENTILES = (5, 25, 50, 75, 90, 99)


def pick_cells(table, percentiles):
    """(percentile, arch, table accuracy) at each percentile: nearest rank round(p/100*(n-1))."""
    with open(table) as f:
        rows = [(float(r[COLUMN]), r["arch"]) for r in csv.DictReader(f)]
    rows.sort()
    n = len(rows)
    return [(p, rows[round(p / 100 * (n - 1))][1], rows[round(p / 100 * (n - 1))][0])
            for p in percentiles]


def ranks(xs):
    """Ranks 1..n, ties get their average rank."""
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    r = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return r


def spearman(a, b):
    """Pearson correlation of the ranks (handles ties)."""
    ra, rb = ranks(a), ranks(b)
    n = len(a)
    ma, mb = sum(ra) / n, sum(rb) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = math.sqrt(sum((x - ma) ** 2 for x in ra))
    vb = math.sqrt(sum((y - mb) ** 2 for y in rb))
    return cov / (va * vb) if va > 0 and vb > 0 else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", help="the CIFAR-10 JPEG folder (holding train/)")
    ap.add_argument("--run", help="folder for checkpoints, logs and results.json")
    ap.add_argument("--nasc", default=os.path.join(HERE, "..", "build", "nasc"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cells", default=",".join(str(p) for p in PERCENTILES),
                    help="percentiles to train (default all six)")
    ap.add_argument("--epochs", type=int, help="smoke test: epochs instead of the recipe's 12")
    ap.add_argument("--train-fraction", type=float, help="smoke test: share of the training half")
    ap.add_argument("--test-fraction", type=float, default=0.5,
                    help="held-out share of the train folder (0.5: the benchmark's protocol)")
    ap.add_argument("--pick", action="store_true", help="print the chosen cells and exit")
    a = ap.parse_args()
    want = [int(x) for x in a.cells.split(",")]
    cells = pick_cells(TABLE, PERCENTILES)
    if a.pick:
        for p, arch, acc in cells:
            print("p%-3d %7.3f  %s" % (p, acc, arch))
        return 0
    if not a.data or not a.run:
        ap.error("--data and --run are required")
    smoke = a.epochs is not None or a.train_fraction is not None or a.test_fraction != 0.5
    os.makedirs(a.run, exist_ok=True)
    res_path = os.path.join(a.run, "results.json")
    results = json.load(open(res_path)) if os.path.exists(res_path) else {}
    data = "images:%s/train" % os.path.abspath(a.data)
    for p, arch, table_acc in cells:
        if p not in want or str(p) in results:
            continue
        cmd = [a.nasc, "train", "--recipe", "nb201-12", "--space", "nb201", "--arch", arch,
               "--data", data, "--test-fraction", repr(a.test_fraction),
               "--threads", str(a.threads), "--seed", str(a.seed), "--quiet", "--json",
               "--checkpoint", os.path.join(a.run, "cell_p%d.ckpt" % p)]
        if a.epochs is not None:
            cmd += ["--epochs", str(a.epochs)]
        if a.train_fraction is not None:
            cmd += ["--data-fraction", repr(a.train_fraction)]
        print("p%d: %s" % (p, " ".join(cmd)), file=sys.stderr, flush=True)
        t0 = time.time()
        with open(os.path.join(a.run, "cell_p%d.log" % p), "w") as log:
            out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
        if out.returncode != 0:
            print("p%d: nasc train failed (exit %d), see %s" %
                  (p, out.returncode, os.path.join(a.run, "cell_p%d.log" % p)), file=sys.stderr)
            return 1
        j = json.loads(out.stdout)
        results[str(p)] = {"arch": arch, "table": table_acc, "nasc": j["test_accuracy"],
                           "train_images": j["train_images"], "epochs": j["epochs"],
                           "images_per_second": j["images_per_second"],
                           "seconds": time.time() - t0, "smoke": smoke}
        tmp = res_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(results, f, indent=1)
        os.replace(tmp, res_path)
    done = [(p, arch, acc) for p, arch, acc in cells if str(p) in results]
    if smoke or any(results[str(p)].get("smoke") for p, _, _ in done):
        print("SMOKE TEST of the driver (epochs/fractions changed): not a reproduction of NB201")
    print("CIFAR-10 from the JPEG copy (quality 75); cifar10-valid protocol, %s" %
          ("all six cells" if len(done) == len(cells) else
           "ONLY %d of 6 cells done: partial" % len(done)))
    print("%-5s %8s %8s %8s %9s  %s" % ("pct", "table", "nasc", "diff", "residual", "arch"))
    if not done:
        return 0
    diffs = [results[str(p)]["nasc"] - acc for p, _, acc in done]
    offset = sum(diffs) / len(diffs)
    for (p, arch, acc), d in zip(done, diffs):
        print("p%-4d %8.2f %8.2f %+8.2f %+9.2f  %s" %
              (p, acc, results[str(p)]["nasc"], d, d - offset, arch))
    print("mean offset (nasc - table): %+.2f points" % offset)
    print("max |residual| after removing it: %.2f points" % max(abs(d - offset) for d in diffs))
    if len(done) >= 2:
        rho = spearman([acc for _, _, acc in done], [results[str(p)]["nasc"] for p, _, _ in done])
        print("Spearman rank correlation over %d cells: %.3f" % (len(done), rho))
    return 0


if __name__ == "__main__":
    sys.exit(main())
