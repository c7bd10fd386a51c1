#!/usr/bin/env bash
# bench/auto/compare.sh [BUDGET] [THREADS] [OUTDIR] — issue 20's comparison on Fashion-MNIST, on this
# machine, each contender given the same wall time BUDGET (default 1h):
#   1. nasc auto --time-budget BUDGET (its plan, test accuracy, wall time);
#   2. the built-in baseline CNN: nasc train --time-limit BUDGET;
#   3. a random NB201 cell (seeded, drawn here, never looked at) put through the same retraining
#      as auto's: nasc auto --arch CELL --time-budget BUDGET (no search: the cell is retrained
#      with auto's step-planned recipe for the whole budget, so it gets the time auto spends
#      searching as well).
# Prints one table and checks that auto ended within 5 % of BUDGET. The three runs are sequential;
# run it on a quiet machine (on a loaded one the timings, not the code, are what is measured).
# Nothing is selected on the test set: auto selects on its validation split, the random cell is
# drawn before anything is trained.
set -euo pipefail
BUDGET=${1:-1h}; T=${2:-2}; OUT=${3:-bench-auto-out}
NASC=${NASC:-build/nasc}
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell}
rm -rf "$OUT"; mkdir -p "$OUT"
secs() { python3 -c "
s='$1'; m={'s':1,'m':60,'h':3600}
print(float(s[:-1])*m[s[-1]] if s[-1] in m else float(s))"; }
B=$(secs "$BUDGET")
j() { python3 -c "import json,sys; d=json.load(open('$1')); print(eval('d'+sys.argv[1]))" "$2"; }

LOAD0=$(cut -d" " -f1-3 /proc/loadavg)
t0=$(date +%s.%N)
"$NASC" auto --time-budget "$BUDGET" --threads "$T" --out "$OUT/auto" 2> "$OUT/auto.log"
t1=$(date +%s.%N)
wall=$(python3 -c "print($t1-$t0)")
S="$OUT/auto/summary.json"

"$NASC" train --time-limit "$BUDGET" --threads "$T" --json --quiet > "$OUT/baseline.json"

# a random cell: 6 edges, 5 ops each, from a fixed seed (drawn in one process: bash reseeds
# $RANDOM in every $(...) subshell, so the earlier per-edge $(e) draws were not reproducible)
arch=$(python3 -c "
import random; r = random.Random(20)
o = ['none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3', 'avg_pool_3x3']
e = lambda i: '%s~%d' % (r.choice(o), i)
print('|%s|+|%s|%s|+|%s|%s|%s|' % (e(0), e(0), e(1), e(0), e(1), e(2)))")
"$NASC" auto --arch "$arch" --time-budget "$BUDGET" --threads "$T" --out "$OUT/random" 2> "$OUT/random.log"
R="$OUT/random/summary.json"

echo "load at the start: $LOAD0"
echo "Fashion-MNIST, budget $BUDGET, $T threads, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-28s %10s %10s %12s\n' contender test_acc params wall_s
printf '%-28s %10.2f %10.0f %12.1f\n' "nasc auto" "$(j "$S" "['test_accuracy']")" "$(j "$S" "['params']")" "$wall"
printf '%-28s %10.2f %10.0f %12.1f\n' "baseline CNN, whole budget" "$(j "$OUT/baseline.json" "['test_accuracy']")" \
    "$(j "$OUT/baseline.json" "['params']")" "$(j "$OUT/baseline.json" "['wall_seconds']")"
printf '%-28s %10.2f %10.0f %12.1f\n' "random cell, auto --arch" "$(j "$R" "['test_accuracy']")" \
    "$(j "$R" "['params']")" "$(j "$R" "['seconds']['total']")"
echo "auto's cell: $(j "$S" "['arch']") ($(j "$S" "['epochs']") epochs); random cell: $arch ($(j "$R" "['epochs']") epochs)"
echo "auto's plan: $(j "$S" "['plan']")"
echo "auto: $(j "$S" "['steps']") steps (planned $(j "$S" "['planned_steps']"), $(j "$S" "['retrain_refits']") refits); random cell: $(j "$R" "['steps']") steps (planned $(j "$R" "['planned_steps']"), $(j "$R" "['retrain_refits']") refits)"
python3 -c "print('wall / budget: auto %.3f, baseline CNN %.3f, random cell %.3f' % ($wall/$B, $(j "$OUT/baseline.json" "['wall_seconds']")/$B, $(j "$R" "['seconds']['total']")/$B))"
python3 -c "import sys; r=$wall/$B; print('auto wall / budget = %.3f' % r); sys.exit(0 if abs(r-1) <= 0.05 else 1)"
