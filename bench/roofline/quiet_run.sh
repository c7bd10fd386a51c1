#!/bin/bash
# quiet_run.sh — issue 18's figures that need a quiet machine, in one command (about 15-20 minutes
# on a quiet 2-core AVX-512 machine): op-level BN + ReLU fusion A/B, whole-step images/s of main vs
# branch vs PyTorch 1.13 channels_last on the three networks, and the roofline after-run.
#
#   bash bench/roofline/quiet_run.sh MAIN_BUILD BRANCH_BUILD [OUT_DIR]
#
# MAIN_BUILD / BRANCH_BUILD: Release build directories of main and of this branch (each with
# bench/bench_kernels, bench/bench_train_step, bench/supernet/bench_supernet,
# bench/roofline/bench_roofline built). Run it from the branch's source tree (the PyTorch sides
# import tests/ref/gen_space_params.py). Everything goes to OUT_DIR (default /tmp/nasc_quiet_<date>),
# one file per measurement, plus summary.txt. Set THREADS (default 2).
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
mkdir -p "$OUT"
export OPENBLAS_CORETYPE=Haswell OMP_WAIT_POLICY=passive
S="$OUT/summary.txt"
log() { echo "$*" | tee -a "$S"; }
log "# quiet_run $(date -u) threads=$T main=$MAIN branch=$BR"
log "# load at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- 1. op-level A/B ----
kern() { # build tag op N C HW
    "$1/bench/bench_kernels" --threads "$T" --batch "$4" --hw "$6" --channels "$5" --op "$3" \
        --iters 8 --fresh --no-check --clock cpu | grep '^op=' | sed "s/^/$2 /"
}
for shape in "64 16 28" "96 36 32" "96 72 16" "96 144 8"; do
    set -- $shape
    for round in 1 2; do
        kern "$MAIN" main bn "$@"; kern "$MAIN" main relu "$@"
        kern "$BR" branch bn_then_relu "$@"; kern "$BR" branch bn_relu "$@"
    done
done | tee "$OUT/ops.txt"
log "## op A/B (CPU ms, min of 8; main bn + relu vs branch bn_then_relu vs bn_relu):"
awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
       k = v["C"] "/" $1 "/" v["op"]; f[k] = (k in f && f[k] < v["fwd_ms"]) ? f[k] : v["fwd_ms"];
       b[k] = (k in b && b[k] < v["bwd_ms"]) ? b[k] : v["bwd_ms"] }
     END { for (k in f) printf "  %-24s fwd %8.3f  bwd %8.3f\n", k, f[k], b[k] }' \
    "$OUT/ops.txt" | sort -t/ -k1,1n -k2 | tee -a "$S"

# ---- 2./3. fixed networks: main, branch, branch + PyTorch ----
DARTS16="--model darts --channels 16 --cells 8 --batch 64 --input 1x28x28"
CIFAR36="--model darts --channels 36 --cells 20 --batch 96 --input 3x32x32 --auxiliary 0.4 --drop-path 0.2 --clip 5"
step() { # name args steps warmup
    local name=$1 args=$2 steps=$3 warm=$4
    for b in main:"$MAIN" branch:"$BR"; do
        "${b#*:}/bench/bench_train_step" $args --threads "$T" --steps "$steps" --warmup "$warm" \
            > "$OUT/${name}_${b%%:*}.txt" 2>&1
        log "## $name ${b%%:*}: $(grep -iE 'images/s|img/s' "$OUT/${name}_${b%%:*}.txt" | tail -2 | tr '\n' ' ')"
    done
    /usr/bin/python3 bench/train_step.py $args --threads "$T" --steps "$steps" --warmup "$warm" \
        --nasc "$BR/bench/bench_train_step" > "$OUT/${name}_torch.txt" 2>&1
    log "## $name branch vs PyTorch:"; tail -6 "$OUT/${name}_torch.txt" | sed 's/^/  /' | tee -a "$S" > /dev/null
}
step darts16 "$DARTS16" 20 3
step cifar36 "$CIFAR36" 5 2

# ---- 4. supernet ----
for b in main:"$MAIN" branch:"$BR"; do
    "${b#*:}/bench/supernet/bench_supernet" --threads "$T" --steps 5 --warmup 1 \
        > "$OUT/supernet_${b%%:*}.txt" 2>&1
    log "## supernet ${b%%:*}: $(tail -3 "$OUT/supernet_${b%%:*}.txt" | tr '\n' ' ')"
done
/usr/bin/python3 bench/supernet/supernet_step.py --threads "$T" --steps 3 --warmup 1 \
    --nasc "$BR/bench/supernet/bench_supernet" > "$OUT/supernet_torch.txt" 2>&1
log "## supernet branch vs PyTorch:"; tail -8 "$OUT/supernet_torch.txt" | sed 's/^/  /' | tee -a "$S" > /dev/null

# ---- 5. roofline after-run ----
"$BR/bench/roofline/bench_roofline" --threads "$T" --reps 3 --warmup 2 > "$OUT/roofline_branch.txt" 2>&1
log "## roofline (branch): $OUT/roofline_branch.txt"
grep -iE 'whole|step|share' "$OUT/roofline_branch.txt" | head -20 | sed 's/^/  /' | tee -a "$S" > /dev/null
log "# done $(date -u); load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
