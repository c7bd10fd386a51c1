#!/bin/bash
# quiet_run.sh — issue 18's figures that need a quiet machine, in one command (about 15-20 minutes
# on a quiet 2-core AVX-512 machine): op-level BN + ReLU fusion A/B, whole-step images/s of main vs
# branch vs PyTorch 1.13 channels_last on the three networks, and the roofline after-run.
#
#   bash bench/roofline/quiet_run.sh MAIN_BUILD BRANCH_BUILD [OUT_DIR]
#
# MAIN_BUILD / BRANCH_BUILD: Release build directories of main and of this branch (each with
# bench/bench_kernels, bench/bench_train_step, bench/bench_supernet,
# bench/bench_roofline built). Run it from the branch's source tree (the PyTorch sides
# import tests/ref/gen_space_params.py). Everything goes to OUT_DIR (default /tmp/nasc_quiet_<date>),
# one file per measurement, plus summary.txt. Set THREADS (default 2). QUICK=1: a smoke test of
# the script itself (one shape, one round, batch 8, one step, no PyTorch, no roofline; a minute).
#
# Steps (rough minutes on 2 quiet cores):
#   1. op A/B (1.5): bench_kernels, CPU clock, interleaved main / branch / main / branch:
#      main bn + relu (two ops) vs branch bn_then_relu (the same two nodes) and bn_relu (fused),
#      at the shapes of the three networks (N=64 C=16 28x28; N=96 C=36 32x32, 72 16x16, 144 8x8)
#   2. fixed DARTS C=16 step (2): bench_train_step main, branch; train_step.py (branch + PyTorch)
#   3. C=36 20-cell CIFAR step (5): the same with the evaluation recipe (aux 0.4, drop-path 0.2,
#      clip 5, batch 96, 3x32x32), fewer steps
#   4. supernet step (5): bench_supernet main, branch (nasc only); supernet_step.py (branch +
#      PyTorch; PyTorch takes about a minute per step here, so 1 warm-up + 3 steps)
#   5. roofline after-run (4): bench_roofline on the branch, all three networks, --warmup 2
#      (the CIFAR network's first two steps fault their memory in; see docs/ARCH.md, Third pass)
set -u
MAIN=${1:?usage: quiet_run.sh MAIN_BUILD BRANCH_BUILD [OUT_DIR]}
BR=${2:?usage: quiet_run.sh MAIN_BUILD BRANCH_BUILD [OUT_DIR]}
OUT=${3:-/tmp/nasc_quiet_$(date -u +%Y%m%dT%H%M)}
T=${THREADS:-2}
Q=${QUICK:-0}
mkdir -p "$OUT"
export OPENBLAS_CORETYPE=Haswell OMP_WAIT_POLICY=passive
S="$OUT/summary.txt"
log() { echo "$*" | tee -a "$S"; }
log "# quiet_run $(date -u) threads=$T main=$MAIN branch=$BR"
log "# load at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- 1. op-level A/B ----
kern() { # build tag op N C HW
    "$1/bench/bench_kernels" --threads "$T" --batch "$4" --hw "$6" --channels "$5" --op "$3" \
        --iters 8 --fresh --no-check --clock cpu | grep '^op=' | sed "s/^/$2 N=$4 HW=$6 /"
}
SHAPES=("64 16 28" "96 36 32" "96 72 16" "96 144 8"); ROUNDS="1 2 3"
[ "$Q" = 1 ] && SHAPES=("8 36 32") && ROUNDS=1
for shape in "${SHAPES[@]}"; do
    set -- $shape
    for round in $ROUNDS; do
        kern "$MAIN" main bn "$@"; kern "$MAIN" main relu "$@"
        kern "$BR" branch bn_then_relu "$@"; kern "$BR" branch bn_relu "$@"
    done
done > "$OUT/ops.txt"
log "## op A/B (CPU ms fwd/bwd, min of 3 rounds x 8 iterations):"
/usr/bin/python3 - "$OUT/ops.txt" <<'PY' | tee -a "$S"
import collections, re, sys
best = collections.defaultdict(lambda: [1e9, 1e9])
for line in open(sys.argv[1]):
    m = re.match(r"(\w+) N=(\d+) HW=(\d+) op=(\w+) C=(\d+) K=\d+ fwd_ms=([\d.]+) bwd_ms=([\d.]+)", line)
    if m:
        who, n, hw, op, c, f, b = m.groups()
        k = best[(int(c), n, hw, who, op)]
        k[0], k[1] = min(k[0], float(f)), min(k[1], float(b))
for c, n, hw in sorted({k[:3] for k in best}):
    g = lambda who, op: best[(c, n, hw, who, op)]
    mb, mr, bt, bf = g("main", "bn"), g("main", "relu"), g("branch", "bn_then_relu"), g("branch", "bn_relu")
    ms = (mb[0] + mr[0], mb[1] + mr[1])
    print(f"  C={c} N={n} {hw}x{hw}: main bn+relu {ms[0]:.3f}/{ms[1]:.3f}  branch bn_then_relu "
          f"{bt[0]:.3f}/{bt[1]:.3f}  bn_relu {bf[0]:.3f}/{bf[1]:.3f}  main/fused "
          f"{ms[0]/bf[0]:.2f}/{ms[1]/bf[1]:.2f}")
PY

# ---- 2./3. fixed networks: main, branch, branch + PyTorch ----
DARTS16="--model darts --channels 16 --cells 8 --batch 64 --input 1x28x28"
CIFAR36="--model darts --channels 36 --cells 20 --batch 96 --input 3x32x32 --auxiliary 0.4 --drop-path 0.2 --clip 5"
step() { # name args steps warmup
    local name=$1 args=$2 steps=$3 warm=$4
    for b in main:"$MAIN" branch:"$BR"; do
        "${b#*:}/bench/bench_train_step" $args --threads "$T" --steps "$steps" --warmup "$warm" \
            > "$OUT/${name}_${b%%:*}.txt" 2>&1
        log "## $name ${b%%:*}: $(tail -1 "$OUT/${name}_${b%%:*}.txt")"
    done
    /usr/bin/python3 bench/train_step.py $args --threads "$T" --steps "$steps" --warmup "$warm" \
        --nasc "$BR/bench/bench_train_step" > "$OUT/${name}_torch.txt" 2>&1 || [ "$Q" = 1 ]
    log "## $name branch vs PyTorch:"; tail -6 "$OUT/${name}_torch.txt" | sed 's/^/  /' | tee -a "$S" > /dev/null
}
if [ "$Q" = 1 ]; then
    step() { # nasc sides only, one step
        for b in main:"$MAIN" branch:"$BR"; do
            "${b#*:}/bench/bench_train_step" $2 --batch 8 --threads "$T" --steps 1 --warmup 0 \
                > "$OUT/${1}_${b%%:*}.txt" 2>&1
            log "## $1 ${b%%:*}: $(tail -1 "$OUT/${1}_${b%%:*}.txt")"
        done
    }
fi
step darts16 "$DARTS16" 20 3
step cifar36 "$CIFAR36" 5 2
if [ "$Q" = 1 ]; then log "# QUICK: stop before the supernet and the roofline"; exit 0; fi

# ---- 4. supernet ----
for b in main:"$MAIN" branch:"$BR"; do
    "${b#*:}/bench/bench_supernet" --threads "$T" --steps 5 --warmup 1 \
        > "$OUT/supernet_${b%%:*}.txt" 2>&1
    log "## supernet ${b%%:*}: $(tail -1 "$OUT/supernet_${b%%:*}.txt")"
done
/usr/bin/python3 bench/supernet/supernet_step.py --threads "$T" --steps 3 --warmup 1 \
    --nasc "$BR/bench/bench_supernet" > "$OUT/supernet_torch.txt" 2>&1
log "## supernet branch vs PyTorch:"; tail -8 "$OUT/supernet_torch.txt" | sed 's/^/  /' | tee -a "$S" > /dev/null

# ---- 5. roofline after-run ----
"$BR/bench/bench_roofline" --threads "$T" --reps 3 --warmup 2 > "$OUT/roofline_branch.txt" 2>&1
log "## roofline (branch): $OUT/roofline_branch.txt"
grep -E '^== |^step:|^  threads' "$OUT/roofline_branch.txt" | sed 's/^/  /' | tee -a "$S" > /dev/null
log "# done $(date -u); load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
