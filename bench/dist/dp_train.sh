#!/usr/bin/env bash
# bench/dist/dp_train.sh — data-parallel training step throughput (docs/DISTRIBUTED.md):
# `mpirun -n 2 nasc train --threads 1` (each rank half of every batch) against one process with
# `--threads 2` and with `--threads 1`, the same model, data, global batch and seed.
#
#   bench/dist/dp_train.sh BUILD_DIR [EXTRA nasc train FLAGS...]
#
# Throughput = training images per second as nasc train reports it (images_per_second: steps,
# loader waits and the per-step gradient exchange; the start-up, data loading and the final
# evaluation are not counted). Default workload: the baseline CNN at width 1 on 10 % of
# Fashion-MNIST (6,000 images), 2 epochs of batch 64; EXTRA flags are appended (a later flag wins).
# One run of each: on a shared machine, say how loaded it was.
set -u
build="${1:?usage: dp_train.sh BUILD_DIR [EXTRA FLAGS...]}"
shift
nasc="$build/nasc"
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Haswell}"
args=(train --data-fraction 0.1 --epochs 2 --batch 64 --width 1 --seed 1 --quiet --json "$@")
ips() { python3 -c 'import json,sys; print("%.1f" % json.loads(sys.stdin.read().strip().splitlines()[-1])["images_per_second"])'; }
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
one2=$("$nasc" "${args[@]}" --threads 2 | ips) || exit 1
two1=$(mpirun --oversubscribe --allow-run-as-root -n 2 "$nasc" "${args[@]}" --threads 1 | ips) || exit 1
one1=$("$nasc" "${args[@]}" --threads 1 | ips) || exit 1
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-22s %10s\n" configuration "images/s"
printf "%-22s %10s\n" "1 rank x 1 thread" "$one1"
printf "%-22s %10s\n" "1 rank x 2 threads" "$one2"
printf "%-22s %10s\n" "2 ranks x 1 thread" "$two1"
python3 -c "print('ratio (2 ranks x 1 thread) / (1 rank x 2 threads): %.2f' % ($two1 / $one2))"
python3 -c "print('speed-up of 2 ranks over 1 rank x 1 thread: %.2f' % ($two1 / $one1))"
