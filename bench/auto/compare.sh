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
# ARMS (unset: "auto baseline random"; empty: none, only the table) picks the contenders this invocation runs; the others'
# outputs, if OUT already holds them, are kept and tabled. So the three hours of the 1-hour
# comparison can be run as separate invocations (each on a quiet machine, same binary for auto
# and random: they share the retraining), e.g. ARMS="auto random" then ARMS=baseline. Each arm
# records its wall time and the load before and after it in OUT/ARM.meta.
set -euo pipefail
BUDGET=${1:-1h}; T=${2:-2}; OUT=${3:-bench-auto-out}
ARMS=${ARMS-auto baseline random}
NASC=${NASC:-build/nasc}
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell}
mkdir -p "$OUT"
secs() { python3 -c "
s='$1'; m={'s':1,'m':60,'h':3600}
print(float(s[:-1])*m[s[-1]] if s[-1] in m else float(s))"; }
B=$(secs "$BUDGET")
j() { python3 -c "import json,sys; d=json.load(open('$1')); print(eval('d'+sys.argv[1]))" "$2"; }
load() { cut -d" " -f1-3 /proc/loadavg; }
# arm NAME COMMAND...: runs it, records OUT/NAME.meta ("wall_s load_before load_after")
arm() {
    local name=$1; shift
    local l0; l0=$(load)
    local t0; t0=$(date +%s.%N)
    "$@"
    local t1; t1=$(date +%s.%N)
    echo "$(python3 -c "print($t1-$t0)") | $l0 | $(load)" > "$OUT/$name.meta"
}
has() { case " $ARMS " in *" $1 "*) return 0;; esac; return 1; }
# an hour's result is not overwritten by accident: a finished arm in OUT is rerun only with FORCE=1
for a in $ARMS; do
    if [ -f "$OUT/$a.meta" ] && [ "${FORCE:-0}" != 1 ]; then
        echo "compare.sh: $OUT already holds the $a arm ($OUT/$a.meta); FORCE=1 reruns it" >&2
        exit 2
    fi
done

# a random cell: 6 edges, 5 ops each, from a fixed seed (drawn in one process: bash reseeds
# $RANDOM in every $(...) subshell, so the earlier per-edge $(e) draws were not reproducible)
arch=$(python3 -c "
import random; r = random.Random(20)
o = ['none', 'skip_connect', 'nor_conv_1x1', 'nor_conv_3x3', 'avg_pool_3x3']
e = lambda i: '%s~%d' % (r.choice(o), i)
print('|%s|+|%s|%s|+|%s|%s|%s|' % (e(0), e(0), e(1), e(0), e(1), e(2)))")

if has auto; then
    rm -rf "$OUT/auto"
    arm auto "$NASC" auto --time-budget "$BUDGET" --threads "$T" --out "$OUT/auto" 2> "$OUT/auto.log"
fi
if has baseline; then
    arm baseline sh -c '"$1" train --time-limit "$2" --threads "$3" --json --quiet > "$4"' _ \
        "$NASC" "$BUDGET" "$T" "$OUT/baseline.json"
fi
if has random; then
    rm -rf "$OUT/random"
    arm random "$NASC" auto --arch "$arch" --time-budget "$BUDGET" --threads "$T" --out "$OUT/random" \
        2> "$OUT/random.log"
fi

S="$OUT/auto/summary.json"; R="$OUT/random/summary.json"; BL="$OUT/baseline.json"
meta() { [ -f "$OUT/$1.meta" ] && cut -d"|" -f"$2" "$OUT/$1.meta" | xargs || echo "?"; }
echo "Fashion-MNIST, budget $BUDGET, $T threads, $(nproc) cores"
printf '%-28s %10s %10s %12s  %s\n' contender test_acc params wall_s "load before -> after"
[ -f "$S" ] && printf '%-28s %10.2f %10.0f %12.1f  %s -> %s\n' "nasc auto" "$(j "$S" "['test_accuracy']")" \
    "$(j "$S" "['params']")" "$(meta auto 1)" "$(meta auto 2)" "$(meta auto 3)"
[ -f "$BL" ] && printf '%-28s %10.2f %10.0f %12.1f  %s -> %s\n' "baseline CNN, whole budget" \
    "$(j "$BL" "['test_accuracy']")" "$(j "$BL" "['params']")" "$(j "$BL" "['wall_seconds']")" \
    "$(meta baseline 2)" "$(meta baseline 3)"
[ -f "$R" ] && printf '%-28s %10.2f %10.0f %12.1f  %s -> %s\n' "random cell, auto --arch" \
    "$(j "$R" "['test_accuracy']")" "$(j "$R" "['params']")" "$(j "$R" "['seconds']['total']")" \
    "$(meta random 2)" "$(meta random 3)"
[ -f "$S" ] && echo "auto's cell: $(j "$S" "['arch']") ($(j "$S" "['epochs']") epochs)" && \
    echo "auto's plan: $(j "$S" "['plan']")" && \
    echo "auto: $(j "$S" "['steps']") steps (planned $(j "$S" "['planned_steps']"), $(j "$S" "['retrain_refits']") refits)"
[ -f "$R" ] && echo "random cell: $arch ($(j "$R" "['epochs']") epochs, $(j "$R" "['steps']") steps, planned $(j "$R" "['planned_steps']"), $(j "$R" "['retrain_refits']") refits)"
[ -f "$BL" ] && python3 -c "print('baseline CNN wall / budget: %.3f' % ($(j "$BL" "['wall_seconds']")/$B))"
[ -f "$R" ] && python3 -c "print('random cell wall / budget: %.3f' % ($(j "$R" "['seconds']['total']")/$B))"
if [ -f "$S" ]; then
    w=$(meta auto 1)
    python3 -c "import sys; r=$w/$B; print('auto wall / budget = %.3f' % r); sys.exit(0 if abs(r-1) <= 0.05 else 1)"
fi
