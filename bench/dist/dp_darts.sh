#!/usr/bin/env bash
# bench/dist/dp_darts.sh — data-parallel one-shot search step throughput (docs/DISTRIBUTED.md):
# `mpirun -n 2 nasc search --strategy darts --threads 1` (each rank half of every training and
# validation batch) against one process with `--threads 2` and with `--threads 1`: the same
# supernet, data, global batch and seed.
#
#   bench/dist/dp_darts.sh BUILD_DIR [ROUNDS] [EXTRA nasc search FLAGS...]
#
# Throughput = training images per second of the last epoch as the search logs it (its steps:
# architecture step on a validation batch + weight step on a training batch, the per-pass
# gradient exchanges and loader waits; not the set-up, the end-of-epoch evaluation or the
# checkpoints). Default workload: first-order DARTS on the darts space, C=8, 5 cells, Fashion-MNIST
# 2 % (600 training + 600 validation images), batch 32, 2 epochs (18 steps each; epoch 1 warms up).
# ROUNDS (default 1) repeats the three runs in turn, so that a load change hits all of them.
set -u
build="${1:?usage: dp_darts.sh BUILD_DIR [ROUNDS] [EXTRA FLAGS...]}"
shift
rounds="${1:-1}"
[ $# -gt 0 ] && shift
nasc="$build/nasc"
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Haswell}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
args=(search --space darts --strategy darts --data fashion-mnist --data-fraction 0.02 --epochs 2
      --batch 32 --channels 8 --cells 5 --seed 1 --json "$@")
# img/s of the last "epoch E/E ..." line of a search's stderr
ips() { grep '^epoch ' "$1" | tail -1 | sed 's/.*, \([0-9.]*\) img\/s.*/\1/'; }
run() { # run NAME RANKS THREADS
    rm -f "$tmp/$1.db" "$tmp/$1.db.ckpt"
    if [ "$2" -gt 1 ]; then
        mpirun --oversubscribe --allow-run-as-root -n "$2" "$nasc" "${args[@]}" --threads "$3" \
            --db "$tmp/$1.db" > /dev/null 2> "$tmp/$1.err" || { cat "$tmp/$1.err"; exit 1; }
    else
        "$nasc" "${args[@]}" --threads "$3" --db "$tmp/$1.db" > /dev/null 2> "$tmp/$1.err" ||
            { cat "$tmp/$1.err"; exit 1; }
    fi
    ips "$tmp/$1.err"
}
printf "%-6s %-14s %10s %10s %10s %8s\n" round "load before" "1r x 1t" "1r x 2t" "2r x 1t" ratio
for r in $(seq 1 "$rounds"); do
    load=$(cut -d' ' -f1 /proc/loadavg)
    one2=$(run one2 1 2)
    two1=$(run two1 2 1)
    one1=$(run one1 1 1)
    printf "%-6s %-14s %10s %10s %10s %8s\n" "$r" "$load" "$one1" "$one2" "$two1" \
        "$(python3 -c "print('%.2f' % ($two1 / $one2))")"
done
echo "img/s: training images per second of epoch 2; ratio: (2 ranks x 1 thread) / (1 rank x 2 threads)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
