#!/usr/bin/env bash
# tools/same_outputs.sh NASC_BINARY OUT_DIR — runs a small tabular search with a learned strategy
# (its saved state included), a training run and a tiny one-shot search with every method, and
# writes a fingerprint of everything they produced to OUT_DIR/fingerprint.txt: the SHA-256 of
# the model file and of every database table with its wall-clock columns and keys left out
# (created_at, started_at, ended_at, seconds and the like differ between any two runs).
#
# Two builds produce the same results when their fingerprints are identical:
#   tools/same_outputs.sh old/nasc /tmp/a && tools/same_outputs.sh build/nasc /tmp/b
#   diff /tmp/a/fingerprint.txt /tmp/b/fingerprint.txt
set -euo pipefail
nasc="$(realpath "$1")" out="$2"
rm -rf "$out" && mkdir -p "$out" && cd "$out"
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Haswell}"
"$nasc" search --space nb201 --benchmark nb201:cifar10 --strategy bananas --budget 30 --seed 3 \
    --db tab.db --quiet >/dev/null
"$nasc" search --space nb201 --benchmark nb201:cifar10 --strategy reinforce --budget 30 \
    --seed 3 --db rl.db --quiet >/dev/null
"$nasc" search --space nb201 --data fashion-mnist --data-fraction 0.01 --epochs 1 --channels 4 \
    --cells 1 --batch 32 --threads 1 --strategy evolution --budget 3 --seed 2 --db train.db \
    --quiet >/dev/null
"$nasc" train --space nb201 --arch "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_1x1~0|none~1|skip_connect~2|" \
    --channels 4 --cells 1 --data fashion-mnist --data-fraction 0.01 --epochs 1 --threads 1 \
    --out model.nasc >/dev/null
"$nasc" search --space darts --strategy darts --data fashion-mnist --data-fraction 0.005 \
    --epochs 2 --channels 4 --cells 3 --batch 8 --threads 1 --db os.db \
    --quiet >/dev/null
for m in darts2 gdas spos enas proxyless pc-darts; do
    opt=() # proxyless: fixed op latencies (measured ones differ from run to run)
    [ "$m" = proxyless ] && opt=(--strategy-opt latency=0:0.1:0.1:0.05:0.3:0.5:0.2:0.4)
    "$nasc" search --space darts --strategy $m "${opt[@]}" --data fashion-mnist \
        --data-fraction 0.005 --epochs 2 --channels 8 --cells 3 --batch 8 --threads 1 \
        --db "os-$m.db" --quiet >/dev/null
done
for f in model.nasc; do sha256sum "$f"; done > fingerprint.txt
python3 - tab.db rl.db train.db os.db os-*.db >> fingerprint.txt <<'PY'
import hashlib, sqlite3, sys
CLOCK = ("created_at", "started_at", "ended_at", "seconds", "wall", "time", "updated_at")
for path in sys.argv[1:]:
    db = sqlite3.connect(path)
    for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"):
        cols = [c[1] for c in db.execute(f"PRAGMA table_info({table})")]
        keep = [c for c in cols if not any(k in c for k in CLOCK)]
        h = hashlib.sha256()
        for row in sorted(db.execute(f"SELECT {','.join(keep)} FROM {table}"), key=repr):
            if keep[0] == "key" and any(k in str(row[0]) for k in CLOCK):
                continue  # a clock reading stored as a key/value pair (info.created_at)
            h.update(repr(row).encode())
        print(path, table, ",".join(keep), h.hexdigest())
PY
