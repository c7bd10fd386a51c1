#!/usr/bin/env bash
# bench/dist/util.sh — worker utilization of a distributed search (docs/DISTRIBUTED.md):
# `mpirun -n R nasc search --benchmark nb201:cifar10 --sim-sleep S` for R ranks (R-1 workers) and
# each strategy, with --ask-ahead R-2 (every worker can be busy; AHEAD=default: nasc's default)
# and model-based strategies in batches of R-1 proposals per model fit.
#
#   bench/dist/util.sh BUILD_DIR [RANKS...]        (default ranks: 4 16 64; S = $SLEEP or 1)
#   WALL=30 bench/dist/util.sh BUILD_DIR [RANKS...] (each search stopped 30 s after it started)
#
# Overrides (environment): STRATEGIES="random bohb" (the list), AHEAD=K (--ask-ahead K instead of
# W-1; AHEAD=default leaves the flag out, so nasc picks its default), PER_WORKER=N (trials per
# worker, default 8; PER_WORKER_<strategy>=N for one strategy, e.g. PER_WORKER_bohb=40: bohb's
# 12-epoch trials are 6 % of a 200-epoch one), OPTS_<strategy>="k=v,..." (strategy options;
# bo-gp/bananas default batch=W,max-fit=$MAX_FIT (128: the model is fitted on at most 128
# results, docs/STRATEGIES.md; MAX_FIT=0: on all); dashes in names become underscores), KEEP=DIR (keep the trial
# databases there, as STRATEGY-RANKS.db).
#
# Two ways to end a run, two definitions (both: busy / (workers x window)):
#  - budget (the default): PER_WORKER trials per worker (at least 60). busy = the workers'
#    measured evaluation time (Σ seconds, which includes the sleep), window = first trial started
#    to last trial ended (rank 0's clock; the ranks' start-up, loading the table, is not counted).
#    It includes the final drain, when fewer trials than workers are left and the last, longest
#    ones end well after the others (a property of a fixed trial budget, not of the scheduler).
#    "steady" counts only the window up to the last trial's start.
#  - WALL=S: the search runs with --wall-budget S (and no trial budget to speak of), as DeepHyper
#    measures it: it stops S seconds after its first trial started and cancels what still runs, so
#    there is no drain. window = [t0, t0 + S], t0 the first trial's start; busy = each worker's
#    finished trials clipped to the window ([end - seconds, end]), plus, for the trial it was
#    running at the deadline, the time from its start (when rank 0 sent it, or the worker's
#    previous trial ended, whichever is later) to the deadline. The ramp-up (rank 0 handing out
#    the first W trials) counts; a trial sent ahead to a busy worker (prefetch) and not begun
#    does not. The "trials" column then counts finished trials.
# rtt: rank 0's start-to-end minus the worker's own time; gap: a worker's end to its next start
# (both meaningless with prefetch, where a trial's start is when it was sent). Ranks are
# oversubscribed (--oversubscribe): sleeping trials use no CPU, but rank 0 shares the cores with
# everything else on the machine: note `uptime` with every figure.
set -u
build="${1:?usage: util.sh BUILD_DIR [RANKS...]}"
shift
ranks=("$@")
[ ${#ranks[@]} -eq 0 ] && ranks=(4 16 64)
sleep_s="${SLEEP:-1}"
read -r -a strategies <<<"${STRATEGIES:-random evolution bo-gp bananas bohb}"
per_worker="${PER_WORKER:-8}"
nasc="$build/nasc"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export OMPI_MCA_btl_vader_single_copy_mechanism=none
printf "%-10s %5s %6s %7s %7s %8s %8s %7s %7s %7s %6s\n" strategy ranks ahead trials wall_s \
    busy_s util steady rtt_ms gap_ms best
for r in "${ranks[@]}"; do
    w=$((r - 1))
    for s in "${strategies[@]}"; do
        opt=""
        case "$s" in
        bo-gp | bananas) opt="--strategy-opt batch=$w,max-fit=${MAX_FIT:-128}" ;;
        esac
        var="OPTS_${s//-/_}"
        [ -n "${!var:-}" ] && opt="--strategy-opt ${!var}"
        ahead=$((w > 1 ? w - 1 : 0))
        [ -n "${AHEAD:-}" ] && ahead="$AHEAD"
        ahead_flag="--ask-ahead $ahead"
        [ "$ahead" = default ] && ahead_flag=""
        pw_var="PER_WORKER_${s//-/_}"
        pw="${!pw_var:-$per_worker}"
        budget=$((pw * w > 60 ? pw * w : 60))
        wall_flag=""
        if [ -n "${WALL:-}" ]; then
            budget=100000000
            wall_flag="--wall-budget $WALL"
        fi
        db="${KEEP:-$tmp}/$s-$r.db"
        rm -f "$db" "$db-wal" "$db-shm"
        if ! mpirun --oversubscribe --allow-run-as-root -n "$r" "$nasc" search --space nb201 \
            --benchmark nb201:cifar10 --strategy "$s" $opt $ahead_flag $wall_flag \
            --budget "$budget" --seed 1 --sim-sleep "$sleep_s" --db "$db" --quiet --json \
            >"$tmp/out.json" 2>"$tmp/err.txt"; then
            echo "$s at $r ranks failed:" >&2
            tail -5 "$tmp/err.txt" >&2
            continue
        fi
        python3 - "$db" "$s" "$r" "$w" "$ahead" "${WALL:-}" <<'PY'
import sqlite3, sys
db, s, r, w, ahead = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
wall = float(sys.argv[6]) if sys.argv[6] else None
con = sqlite3.connect(db)
rows = con.execute(
    "SELECT started_at, ended_at, seconds FROM trials WHERE ended_at IS NOT NULL").fetchall()
if ahead == "default":
    ahead = "d:" + con.execute("SELECT value FROM config WHERE key = 'ask-ahead'").fetchone()[0]
# rtt: rank 0's start-to-end minus the worker's own time (messages, naps, scheduling);
# gap: a worker's previous end to its next start on rank 0's clock (rank 0's own time per trial)
rtt = sum((b - a) - x for a, b, x in rows) / len(rows)
per = {}
for wk, a, b in con.execute("SELECT worker, started_at, ended_at FROM trials "
                            "WHERE ended_at IS NOT NULL ORDER BY started_at"):
    per.setdefault(wk, []).append((a, b))
gaps = [t[i + 1][0] - t[i][1] for t in per.values() for i in range(len(t) - 1)]
gap = sum(gaps) / max(1, len(gaps))
# the search's result: the best by fidelity, then validation score; its test accuracy
best = con.execute("SELECT test_score FROM trials WHERE status = 'ok' "
                   "ORDER BY fidelity DESC, score DESC, id LIMIT 1").fetchone()
t0 = min(a for a, _, _ in rows)
t1 = max(b for _, b, _ in rows)
t_last_start = max(a for a, _, _ in rows)
busy = sum(x for _, _, x in rows)
# steady state: busy time inside [t0, t_last_start], each trial busy over [end - seconds, end]
steady = sum(max(0.0, min(b, t_last_start) - max(b - x, t0)) for _, b, x in rows)
if wall is not None:  # the deadline window [t0, t0 + wall]; t0 over all trials, running ones too
    t0 = min(a for (a,) in con.execute("SELECT started_at FROM trials WHERE started_at IS NOT NULL"))
    d = t0 + wall
    busy = 0.0
    last_end = {}
    for wk, b, x in con.execute("SELECT worker, ended_at, seconds FROM trials "
                                "WHERE ended_at IS NOT NULL ORDER BY ended_at"):
        busy += max(0.0, min(b, d) - max(b - x, t0))
        last_end[wk] = b
    seen = set()
    for wk, a in con.execute("SELECT worker, started_at FROM trials WHERE status = 'running' "
                             "ORDER BY started_at"):
        if wk in seen:  # sent ahead behind the one it runs: not begun
            continue
        seen.add(wk)
        busy += max(0.0, d - max(a, last_end.get(wk, t0)))
    t1, t_last_start, steady = d, d, busy
print("%-10s %5d %6s %7d %7.2f %8.2f %7.1f%% %6.1f%% %7.1f %7.1f %6.2f" % (
    s, r, ahead, len(rows), t1 - t0, busy, 100 * busy / (w * (t1 - t0)),
    100 * steady / (w * (t_last_start - t0)), 1e3 * rtt, 1e3 * gap, best[0] if best else -1))
PY
    done
done
