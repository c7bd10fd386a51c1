#!/usr/bin/env bash
# bench/dist/util.sh — worker utilization of a distributed search (docs/DISTRIBUTED.md):
# `mpirun -n R nasc search --benchmark nb201:cifar10 --sim-sleep S` for R ranks (R-1 workers) and
# each strategy, with --ask-ahead R-2 (every worker can be busy) and model-based strategies in
# batches of R-1 proposals per model fit.
#
#   bench/dist/util.sh BUILD_DIR [RANKS...]        (default ranks: 4 16 64; S = $SLEEP or 1)
#
# Utilization = busy / (workers x wall), from the trial database: busy = the workers' measured
# evaluation time (Σ seconds, which includes the sleep), wall = first trial started to last
# trial ended (rank 0's clock; the ranks' start-up, loading the table, is not counted).
# "steady" counts only the window up to the last trial's start (the final drain, when fewer trials
# than workers are left, is a property of a fixed budget, not of the scheduler).
# Budget: 8 trials per worker (at least 60). Ranks are oversubscribed (--oversubscribe): sleeping trials use
# no CPU, but rank 0 shares the cores with everything else on the machine.
set -u
build="${1:?usage: util.sh BUILD_DIR [RANKS...]}"
shift
ranks=("$@")
[ ${#ranks[@]} -eq 0 ] && ranks=(4 16 64)
sleep_s="${SLEEP:-1}"
strategies=(random evolution bo-gp bananas bohb)
nasc="$build/nasc"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export OMPI_MCA_btl_vader_single_copy_mechanism=none
printf "%-10s %5s %7s %7s %8s %8s %7s\n" strategy ranks trials wall_s busy_s util steady
for r in "${ranks[@]}"; do
    w=$((r - 1))
    for s in "${strategies[@]}"; do
        opt=""
        case "$s" in
        bo-gp | bananas) opt="--strategy-opt batch=$w" ;;
        esac
        budget=$((8 * w > 60 ? 8 * w : 60))
        db="$tmp/$s-$r.db"
        if ! mpirun --oversubscribe --allow-run-as-root -n "$r" "$nasc" search --space nb201 \
            --benchmark nb201:cifar10 --strategy "$s" $opt --ask-ahead $((w > 1 ? w - 1 : 0)) \
            --budget "$budget" --seed 1 --sim-sleep "$sleep_s" --db "$db" --quiet --json \
            >"$tmp/out.json" 2>"$tmp/err.txt"; then
            echo "$s at $r ranks failed:" >&2
            tail -5 "$tmp/err.txt" >&2
            continue
        fi
        python3 - "$db" "$s" "$r" "$w" <<'PY'
import sqlite3, sys
db, s, r, w = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rows = sqlite3.connect(db).execute(
    "SELECT started_at, ended_at, seconds FROM trials WHERE ended_at IS NOT NULL").fetchall()
t0 = min(a for a, _, _ in rows)
t1 = max(b for _, b, _ in rows)
t_last_start = max(a for a, _, _ in rows)
busy = sum(x for _, _, x in rows)
# steady state: busy time inside [t0, t_last_start], each trial busy over [end - seconds, end]
steady = sum(max(0.0, min(b, t_last_start) - max(b - x, t0)) for _, b, x in rows)
print("%-10s %5d %7d %7.2f %8.2f %7.1f%% %6.1f%%" % (
    s, r, len(rows), t1 - t0, busy, 100 * busy / (w * (t1 - t0)),
    100 * steady / (w * (t_last_start - t0))))
PY
    done
done
