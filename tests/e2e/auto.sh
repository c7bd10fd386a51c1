#!/usr/bin/env bash
# tests/e2e/auto.sh NASC OUTDIR [resume|mpi|steps] — `nasc train --time-limit` and `nasc auto` end to end on
# 3% of Fashion-MNIST:
#   default: train --time-limit fits its epochs and reproduces with --epochs (same test accuracy,
#            bit-identical weights); auto --time-budget 40s: exit 0, summary.json fields, the
#            outputs exist, the whole run ends within 5 % of the budget; bad flags exit 2.
#   resume:  with the calibrated speeds fixed (NASC_TEST_AUTO_SPEED), a run killed with SIGKILL
#            in each phase (calibration, search, retraining, outputs) and resumed after each kill
#            ends with the model (byte-identical) and the summary accuracies of an uninterrupted
#            run.
#   mpi:     mpirun -n 3 nasc auto gives the model and accuracies of nasc auto --workers 2.
#   steps:   nasc train --steps N (fast).
set -uo pipefail
NASC=$1; OUT=$2; MODE=${3:-plain}
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { echo "no Fashion-MNIST"; exit 77; }
rm -rf "$OUT"; mkdir -p "$OUT"
fail() { echo "FAIL: $*"; exit 1; }
field() { python3 -c "import json,sys; d=json.load(open('$1')); print(eval('d'+sys.argv[1]))" "$2"; }

if [ "$MODE" = steps ]; then
    # nasc train --steps N: exactly N optimizer steps (the last epoch partial), in the log and the
    # JSON; its checkpoint records N and a run of another N refuses it; bad values exit 2
    "$NASC" train --data-fraction 0.03 --steps 20 --threads 1 --quiet --json --log-steps "$OUT/s.log" \
        --checkpoint "$OUT/s.ckpt" --out "$OUT/s.nasc" > "$OUT/s.json" || fail "train --steps"
    [ "$(field "$OUT/s.json" "['steps']")" = 20 ] || fail "--steps 20: $(field "$OUT/s.json" "['steps']") steps"
    [ "$(wc -l < "$OUT/s.log")" = 20 ] || fail "--steps 20: $(wc -l < "$OUT/s.log") logged steps"
    # 1,800 images, batch 128: 14 steps an epoch, so 20 steps are 2 epochs, the second partial
    [ "$(field "$OUT/s.json" "['epochs']")" = 2 ] || fail "--steps 20: $(field "$OUT/s.json" "['epochs']") epochs"
    [ -f "$OUT/s.ckpt" ] || fail "no checkpoint"
    "$NASC" train --data-fraction 0.03 --steps 21 --threads 1 --quiet --checkpoint "$OUT/s.ckpt" 2> "$OUT/s2.err"
    [ $? = 2 ] || fail "a checkpoint of 20 steps resumed by --steps 21"
    grep -q steps "$OUT/s2.err" || fail "the refusal does not name steps"
    for bad in 0 -3 x; do
        "$NASC" train --steps "$bad" 2> /dev/null; [ $? = 2 ] || fail "--steps $bad: not exit 2"
    done
    "$NASC" train --steps 5 --time-limit 10s 2> /dev/null; [ $? = 2 ] || fail "--steps with --time-limit: not exit 2"
    echo ok
    exit 0
fi

if [ "$MODE" = plain ]; then
    # --time-limit: the epochs chosen are recorded; --epochs N reproduces the run bit for bit
    "$NASC" train --data-fraction 0.03 --time-limit 12s --threads 1 --quiet --json \
        --out "$OUT/t1.nasc" > "$OUT/t1.json" || fail "train --time-limit"
    e=$(field "$OUT/t1.json" "['planned_epochs']")
    w=$(field "$OUT/t1.json" "['wall_seconds']")
    echo "train --time-limit 12s: $e epochs, wall ${w}s (timings are not asserted here)"
    python3 - "$OUT/t1.nasc" "$e" <<'PY' || fail "train_epochs not recorded in the model"
import sys
b = open(sys.argv[1], 'rb').read()
sys.exit(0 if b'"train_epochs":%s' % sys.argv[2].encode() in b else 1)
PY
    if [ "$(field "$OUT/t1.json" "['stopped_by_time']")" = False ]; then
        "$NASC" train --data-fraction 0.03 --epochs "$e" --threads 1 --quiet --json \
            --out "$OUT/t2.nasc" > "$OUT/t2.json" || fail "train --epochs $e"
        a1=$(field "$OUT/t1.json" "['test_accuracy']"); a2=$(field "$OUT/t2.json" "['test_accuracy']")
        [ "$a1" = "$a2" ] || fail "time-limited run ($a1) != --epochs $e ($a2)"
        # the weights (the file's tail, past the metadata) are identical
        cmp <(tail -c 100000 "$OUT/t1.nasc" | head -c 90000) <(tail -c 100000 "$OUT/t2.nasc" | head -c 90000) || fail "weights differ"
    else
        # a machine too loaded for one epoch in 12 s: the run was cut by the hard stop, which
        # --epochs cannot reproduce (documented); say so rather than compare
        echo "NOTE: the 12 s run was cut by the hard stop (loaded machine); reproduction not compared"
    fi
    # constraints are checked before training: violating trials fail at once with the reason
    "$NASC" search --space nb201 --data fashion-mnist --data-fraction 0.01 --epochs 1 --channels 8 --cells 1 --budget 4 \
        --threads 1 --constraint 'params<=20000' --db "$OUT/c.db" --quiet > /dev/null 2>&1
    "$NASC" trials --db "$OUT/c.db" > "$OUT/c.txt" 2>&1
    [ "$(grep -c 'violated.*(checked before training)' "$OUT/c.txt")" -ge 1 ] || { cat "$OUT/c.txt"; fail "no precheck"; }
    "$NASC" auto --time-budget 40s --constraint 'flash<=lots' --out "$OUT/a1" 2> "$OUT/err.txt"; [ $? = 2 ] || fail "bad flash bound exit"
    "$NASC" train --time-limit 5x 2> "$OUT/err.txt"; [ $? = 2 ] || fail "bad duration exit"
    grep -q "expected a duration" "$OUT/err.txt" || fail "bad duration message"
    "$NASC" auto --out "$OUT/a0" 2> "$OUT/err.txt"; [ $? = 2 ] || fail "missing budget exit"

    t0=$(date +%s.%N)
    # with microcontroller bounds, so that the int8 C export is written and checked too
    "$NASC" auto --time-budget 40s --data-fraction 0.03 --threads 1 --out "$OUT/a" \
        --constraint 'flash<=256KB,ram<=64KB' \
        > "$OUT/auto.txt" 2> "$OUT/auto.err" || { cat "$OUT/auto.err"; fail "auto"; }
    t1=$(date +%s.%N)
    cat "$OUT/auto.err" "$OUT/auto.txt"
    grep -q "PLAN" "$OUT/auto.err" || fail "no plan printed"
    for f in model.nasc model.onnx model.c model.h model_int8.c model_int8.h search.db report.html summary.json phases.json; do
        [ -s "$OUT/a/$f" ] || fail "no $f"
    done
    for k in arch test_accuracy val_accuracy_search params plan seconds; do
        field "$OUT/a/summary.json" "['$k']" > /dev/null || fail "summary.json: no $k"
    done
    # the budget: the plan's predicted phase times (from this run's calibration) sum to it (the
    # step and trial counts round down, so a little under); the 5 % of the issue is measured by
    # bench/auto/compare.sh on a quiet machine, not asserted here. The plumbing: unless the
    # calibration left too little (a loaded machine; the plan warns), the run ends before the
    # deadline plus the safety stops' room and the outputs (a quarter of the budget + 5 s)
    python3 - "$OUT/a/summary.json" 40 "$(python3 -c "print($t1-$t0)")" "$OUT/auto.err" <<'PY' || fail "budget"
import json, sys
d = json.load(open(sys.argv[1])); b = float(sys.argv[2]); wall = float(sys.argv[3])
p = d['plan']['predicted_s']; t = sum(p.values())
starved = 'the minimal plan left will overrun' in open(sys.argv[4]).read()
print('auto: predicted %.1f s, wall %.1f s of a %.0f s budget%s' % (t, wall, b, ' (starved plan)' if starved else ''))
if starved:
    sys.exit(0)
if not 0.95 * b <= t <= b:
    sys.exit('the plan predicts %.1f s for a %.0f s budget' % (t, b))
if wall > 1.25 * b + 5:
    sys.exit('the run took %.1f s of a %.0f s budget' % (wall, b))
PY
    # the model loads and gives the recorded test accuracy (the test split evaluated again)
    acc=$(field "$OUT/a/summary.json" "['test_accuracy']")
    "$NASC" eval --model "$OUT/a/model.nasc" --json > "$OUT/eval.json" || fail "eval of the model"
    python3 -c "import json,sys; e=json.load(open('$OUT/eval.json')); sys.exit(0 if abs(e['accuracy']-$acc) < 1e-3 else 1)" \
        || fail "model.nasc does not give the summary's test accuracy"
    # the int8 C export: the header's sizes are the summary's and within the bounds
    wb=$(sed -n 's/^#define MODEL_INT8_WEIGHT_BYTES \([0-9]*\)$/\1/p' "$OUT/a/model_int8.h")
    ab=$(sed -n 's/^#define MODEL_INT8_ARENA_BYTES \([0-9]*\)$/\1/p' "$OUT/a/model_int8.h")
    [ -n "$wb" ] && [ -n "$ab" ] || fail "model_int8.h: no size macros"
    [ "$wb" = "$(field "$OUT/a/summary.json" "['int8_c']['weight_bytes']")" ] || fail "summary weight_bytes != header"
    [ "$ab" = "$(field "$OUT/a/summary.json" "['int8_c']['arena_bytes']")" ] || fail "summary arena_bytes != header"
    [ "$wb" -le 262144 ] && [ "$ab" -le 65536 ] || fail "int8 export $wb / $ab bytes outside flash<=256KB,ram<=64KB"
    [ "$(field "$OUT/a/summary.json" "['int8_c']['fits']")" = True ] || fail "summary: fits"
    # its accuracy (and the float C's) on 2,000 test images, compiled with cc: reported
    SRC=$(cd "$(dirname "$0")/../.." && pwd)
    "$SRC/bench/export_c/accuracy.sh" "$OUT/a" model_int8 2000 || fail "int8 C accuracy"
    "$SRC/bench/export_c/accuracy.sh" "$OUT/a" model 2000 || fail "float C accuracy"
    echo "int8 C export: $wb weight bytes, $ab arena bytes (bounds 262144, 65536)"
    "$NASC" auto --time-budget 40s --out "$OUT/a" 2> "$OUT/err.txt"; [ $? = 2 ] || fail "reuse of --out"
    echo "ok"
    exit 0
fi

if [ "$MODE" = mpi ]; then
    # mpirun -n 3 nasc auto: the search's trials run on ranks 1 and 2; the same plan (speeds fixed),
    # the same trials and the same model as one process with --workers 2
    MPIRUN=$(command -v mpirun) || { echo "skipped: mpirun not found (Debian: openmpi-bin)"; exit 77; }
    export NASC_TEST_AUTO_SPEED='step_ms=1000,epoch_s=5,val_eval_s=1,retrain_light_epoch_s=2,retrain_heavy_epoch_s=3,test_eval_s=2,elapsed_s=160,first_step_s=1.2,retrain_first_step_s=0.5,data_s=0.5'
    ARGS=(auto --time-budget 200s --data-fraction 0.01 --threads 1)
    "$MPIRUN" --oversubscribe --allow-run-as-root -x NASC_TEST_AUTO_SPEED -x ASAN_OPTIONS=detect_leaks=0 \
        -n 3 "$NASC" "${ARGS[@]}" --out "$OUT/m" > "$OUT/m.txt" 2> "$OUT/m.err"
    rc=$?
    grep -q "built without MPI" "$OUT/m.err" && { echo "skipped: nasc built without MPI"; exit 77; }
    [ $rc = 0 ] || { cat "$OUT/m.err"; fail "mpirun -n 3 nasc auto: exit $rc"; }
    grep -q "speeds fixed by NASC_TEST_AUTO_SPEED" "$OUT/m.err" || { echo "skipped: a build without test hooks"; exit 77; }
    grep -q "on 2 workers" "$OUT/m.err" || { cat "$OUT/m.err"; fail "the plan does not count the 2 worker ranks"; }
    "$NASC" "${ARGS[@]}" --workers 2 --out "$OUT/w" > "$OUT/w.txt" 2> "$OUT/w.err" || { cat "$OUT/w.err"; fail "--workers 2"; }
    # the trials were spread over both worker ranks (the database records the worker slot)
    python3 - "$OUT/m/search.db" <<'PY' || fail "trials not spread over the 2 worker ranks"
import sqlite3, sys
w = [r[0] for r in sqlite3.connect(sys.argv[1]).execute("select worker from trials")]
sys.exit(0 if w and all(x in (1, 2) for x in w) and len(set(w)) == 2 else 1)
PY
    for k in "['arch']" "['epochs']" "['val_accuracy_search']" "['test_accuracy']" "['plan']"; do
        a=$(field "$OUT/m/summary.json" "$k"); b=$(field "$OUT/w/summary.json" "$k")
        [ "$a" = "$b" ] || fail "summary.json$k: mpirun -n 3 $a, --workers 2 $b"
    done
    cmp "$OUT/m/model.nasc" "$OUT/w/model.nasc" || fail "model.nasc: mpirun -n 3 and --workers 2 differ"
    echo "mpirun -n 3 nasc auto = nasc auto --workers 2: test accuracy $(field "$OUT/m/summary.json" "['test_accuracy']")"
    echo ok
    exit 0
fi

# resume: the result is a function of the recorded plan. With the calibrated speeds fixed (a test
# hook, so that the plan does not depend on this machine's load), an uninterrupted run and a run
# killed with SIGKILL in each phase (a test hook: NASC_TEST_AUTO_KILL_AT=PHASE raises SIGKILL in
# the middle of it) and resumed after each kill end with a byte-identical model and the same
# accuracies. The budget (300 s) is only the safety stops' (the declared speeds make a plan of a
# few trials and epochs; elapsed_s is the time the plan believes is spent before it).
# The declared step time (1 ms) makes proxy pruning pay, so that its pool is covered too.
export NASC_TEST_AUTO_SPEED='step_ms=1,epoch_s=5,val_eval_s=1,retrain_light_epoch_s=7,retrain_heavy_epoch_s=10,test_eval_s=2,elapsed_s=170,first_step_s=0.3,retrain_first_step_s=0.5,data_s=0.1'
# The retraining's step count is refitted once by a test hook (NASC_TEST_AUTO_REFIT=N: N more steps
# after the first step of its second epoch, between the first epoch's checkpoint and the retrain
# kill), so that a resume has to replay a refit recorded in phases.json but not in the checkpoint.
export NASC_TEST_AUTO_REFIT=5
ARGS=(auto --time-budget 300s --data-fraction 0.01 --threads 1)
"$NASC" "${ARGS[@]}" --out "$OUT/u" > "$OUT/u.txt" 2> "$OUT/u.err" || { cat "$OUT/u.err"; fail "uninterrupted run"; }
cat "$OUT/u.err"
grep -q "speeds fixed by NASC_TEST_AUTO_SPEED" "$OUT/u.err" || { echo "skipped: a build without test hooks (NASC_TEST_HOOKS=OFF)"; exit 77; }
grep -q "pruning: synflow scores" "$OUT/u.err" || fail "the plan did not choose proxy pruning"
[ -s "$OUT/u/proxy.db" ] || fail "no proxy.db"
[ "$(field "$OUT/u/summary.json" "['as_planned']")" = True ] || fail "the uninterrupted run hit a safety stop"
python3 -c "import sys; sys.exit(0 if $(field "$OUT/u/summary.json" "['epochs']") >= 2 else 1)" || fail "the plan retrains for fewer than 2 epochs"
[ "$(field "$OUT/u/summary.json" "['retrain_refits']")" = 1 ] || fail "the hook's refit is not in the summary"
python3 -c "import json,sys; j=json.load(open('$OUT/u/summary.json')); sys.exit(0 if j['steps'] == j['planned_steps'] + 5 else 1)" \
    || fail "the refit did not add the hook's 5 steps"
grep -q "(test hook)" "$OUT/u.err" || fail "the refit was not announced"
# the plan fills the budget: its predicted phase times (the declared speeds) sum to within 1 % of it
python3 - "$OUT/u/summary.json" 300 <<'PY' || fail "the plan's predicted times do not fill the budget"
import json, sys
p = json.load(open(sys.argv[1]))['plan']['predicted_s']; b = float(sys.argv[2]); t = sum(p.values())
print('plan: predicted %.1f s of a %.0f s budget %s' % (t, b, p))
sys.exit(0 if 0.99 * b <= t <= b else 1)
PY
# a budget too small for a search to pay: no search, the prior cell retrained for the whole budget
# (the baseline CNN declared at 2 s an epoch: it gets more epochs than any cell, and the plan says
# it may beat the result)
NASC_TEST_AUTO_SPEED='step_ms=1,epoch_s=5,val_eval_s=1,retrain_light_epoch_s=7,retrain_heavy_epoch_s=10,test_eval_s=2,elapsed_s=30,first_step_s=0.3,retrain_first_step_s=0.5,data_s=0.1,baseline_cnn_epoch_s=2' \
    "$NASC" auto --time-budget 60s --data-fraction 0.01 --threads 1 --out "$OUT/n" > "$OUT/n.txt" 2> "$OUT/n.err" || { cat "$OUT/n.err"; fail "no-search run"; }
grep -q "no search: a search would leave the retraining fewer than 5 epochs" "$OUT/n.err" || { cat "$OUT/n.err"; fail "the small plan searched"; }
grep -q "WARNING: no cell gets 4 epochs" "$OUT/n.err" || fail "the plan does not say the baseline CNN may win"
[ "$(field "$OUT/n/summary.json" "['plan']['baseline_cnn_may_win']")" = True ] || fail "plan.baseline_cnn_may_win"
# without a search the cell is chosen by the epochs it gets: with the dearest cell at 40 s an epoch
# and the lightest at 5 s, the prior gets fewer than 4 epochs and a cheaper cell of the ladder is
# retrained, the first (best by NB201's 12-epoch accuracy) that gets 4
NASC_TEST_AUTO_SPEED='step_ms=1,epoch_s=5,val_eval_s=1,retrain_light_epoch_s=5,retrain_heavy_epoch_s=40,test_eval_s=2,elapsed_s=30,first_step_s=0.3,retrain_first_step_s=0.5,data_s=0.1,baseline_cnn_epoch_s=20' \
    "$NASC" auto --time-budget 150s --data-fraction 0.01 --threads 1 --out "$OUT/c" > "$OUT/c.txt" 2> "$OUT/c.err" || { cat "$OUT/c.err"; fail "ladder run"; }
python3 - "$OUT/c/summary.json" <<'PY' || fail "the no-search plan did not choose its cell by the epochs it gets"
import json, sys
d = json.load(open(sys.argv[1])); p = d['plan']; cells = p['cells_considered']
first = next(c for c in cells if c['epochs'] >= 4)
print('ladder:', [(round(c['epochs'], 2), c['macs']) for c in cells], '->', p['arch'], p['cell_epochs'])
ok = (not p['with_search'] and cells[0]['epochs'] < 4 and p['arch'] == first['arch'] == d['arch']
      and p['arch'] != cells[0]['arch'] and p['baseline_cnn_may_win'] is False)
sys.exit(0 if ok else 1)
PY
[ "$(field "$OUT/n/summary.json" "['plan']['with_search']")" = False ] || fail "plan.with_search"
[ "$(field "$OUT/n/summary.json" "['arch']")" = "$(field "$OUT/n/summary.json" "['plan']['arch']")" ] || fail "not the plan's cell"
[ -e "$OUT/n/search.db" ] && fail "a search.db without a search"
# --arch: that cell, no search; a cell that does not parse is refused at once
"$NASC" auto --time-budget 60s --arch '|conv~0|' --out "$OUT/x" 2> "$OUT/x.err"; [ $? = 2 ] || fail "bad --arch exit"
grep -q "\-\-arch" "$OUT/x.err" || fail "bad --arch message"

ARGS+=(--out "$OUT/r")
# a real SIGKILL from outside, 1 s in (data loading or the calibration; the calibration's child
# process dies with it)
"$NASC" "${ARGS[@]}" >> "$OUT/r.txt" 2>> "$OUT/r.err" & pid=$!
sleep 1; kill -9 $pid; wait $pid 2>/dev/null
grep -q '"calibrate"' "$OUT/r/phases.json" 2>/dev/null && fail "killed too late (calibration already done)"
# then in each phase by the hook; each --resume continues from the recorded phases
for phase in calibrate search retrain outputs; do
    NASC_TEST_AUTO_KILL_AT=$phase "$NASC" "${ARGS[@]}" --resume >> "$OUT/r.txt" 2>> "$OUT/r.err"
    rc=$?
    [ $rc = 137 ] || { cat "$OUT/r.err"; fail "kill in the $phase phase: exit $rc, not SIGKILL"; }
    grep -q "\"$phase\"" "$OUT/r/phases.json" && fail "$phase recorded although killed in it"
done
# the run killed in the outputs had continued the retraining from its first epoch's checkpoint
grep -q "resumed from the checkpoint" "$OUT/r.err" || fail "the retraining did not resume from its checkpoint"
"$NASC" "${ARGS[@]}" --resume >> "$OUT/r.txt" 2>> "$OUT/r.err" || { cat "$OUT/r.err"; fail "last resume"; }
[ -f "$OUT/r/retrain.ckpt" ] && fail "checkpoint left behind"
for f in model.nasc model.onnx model.c model.h search.db report.html summary.json; do
    [ -s "$OUT/r/$f" ] || fail "no $f"
done
grep -q '"outputs"' "$OUT/r/phases.json" || fail "outputs phase not recorded"
# the same plan, the same result
for k in "['plan']" "['arch']" "['epochs']" "['steps']" "['retrain_refits']" "['val_accuracy_search']" "['test_accuracy']" "['as_planned']"; do
    a=$(field "$OUT/u/summary.json" "$k"); b=$(field "$OUT/r/summary.json" "$k")
    [ "$a" = "$b" ] || fail "summary.json$k: uninterrupted $a, killed and resumed $b"
done
cmp "$OUT/u/model.nasc" "$OUT/r/model.nasc" || fail "model.nasc differs from the uninterrupted run's"
cmp "$OUT/u/model.onnx" "$OUT/r/model.onnx" || fail "model.onnx differs from the uninterrupted run's"
# and the summary's test accuracy is the model's
acc=$(field "$OUT/r/summary.json" "['test_accuracy']")
"$NASC" eval --model "$OUT/r/model.nasc" --json > "$OUT/reval.json" || fail "eval of the resumed model"
python3 -c "import json,sys; e=json.load(open('$OUT/reval.json')); sys.exit(0 if abs(e['accuracy']-$acc) < 1e-3 else 1)" \
    || fail "summary.json's test accuracy is not the model's"
echo "killed in every phase and resumed: model.nasc byte-identical, test accuracy $acc as uninterrupted"
echo ok
