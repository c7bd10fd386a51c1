#!/usr/bin/env bash
# check_layers.sh SRC_DIR — fails if a source file includes a header of a higher layer or of a
# different module on the same layer (dependencies point down only):
#   core(0) < engine, backend, data(1) < model(2) < space(3) < estimate(4) < strategy(5)
#   < experiment(6) < report, export(7) < cli(8)
# src/oneshot (supernets and the one-shot methods) belongs to the strategy layer and module: the
# one-shot methods are strategies that train a supernet instead of asking for trials, and ENAS
# drives the strategy layer's controller.
set -u
root="${1:-.}"
declare -A header_layer=(
  [status.h]="0 core" [arena.h]="0 core" [limits.h]="0 core" [rng.h]="0 core" [dist.h]="0 core"
  [tensor.h]="1 engine" [autograd.h]="1 engine" [ops.h]="1 engine" [backend.h]="1 engine"
  [data.h]="1 data"
  [nn.h]="2 model" [optim.h]="2 model" [weights.h]="2 model"
  [space.h]="3 space"
  [train.h]="4 estimate" [cost.h]="4 estimate" [estimate.h]="4 estimate"
  [strategy.h]="5 strategy" [predictor.h]="5 strategy" [pareto.h]="5 strategy" [oneshot.h]="5 strategy" [supernet.h]="5 strategy"
  [db.h]="6 experiment" [experiment.h]="6 experiment" [oneshot_search.h]="6 experiment"
  [report.h]="7 report" [draw.h]="7 report"
  [export.h]="7 export" [export_c.h]="7 export"
  [nasc.h]="8 cli"
)
declare -A dir_layer=(
  [core]="0 core" [engine]="1 engine" [backend]="1 engine" [data]="1 data" [model]="2 model"
  [space]="3 space" [estimate]="4 estimate" [strategy]="5 strategy"
  [oneshot]="5 strategy" [experiment]="6 experiment"
  [report]="7 report" [export]="7 export"
)
bad=0 n=0
while IFS= read -r f; do
  rel="${f#"$root"/src/}"
  dir="${rel%%/*}"
  mine="${dir_layer[$dir]:-}"
  if [ -z "$mine" ]; then
    echo "check_layers: $f: module '$dir' has no layer (add it to tools/check_layers.sh)"; bad=1; continue
  fi
  my_rank="${mine% *}" my_mod="${mine#* }"
  while IFS= read -r h; do
    n=$((n + 1))
    theirs="${header_layer[$h]:-}"
    if [ -z "$theirs" ]; then
      echo "check_layers: $f includes nasc/$h, which has no layer (add it to tools/check_layers.sh)"; bad=1; continue
    fi
    t_rank="${theirs% *}" t_mod="${theirs#* }"
    if [ "$t_rank" -gt "$my_rank" ]; then
      echo "check_layers: $f ($my_mod) includes nasc/$h ($t_mod): upward dependency"; bad=1
    elif [ "$t_rank" -eq "$my_rank" ] && [ "$t_mod" != "$my_mod" ]; then
      echo "check_layers: $f ($my_mod) includes nasc/$h ($t_mod): sideways dependency"; bad=1
    fi
  done < <(grep -oE '#include +"nasc/[a-z_]+\.h"' "$f" | sed -E 's/.*nasc\/([a-z_]+\.h)"/\1/')
  # relative includes must stay inside the module
  while IFS= read -r inc; do
    target="$(cd "$(dirname "$f")" && realpath -m "$inc")"
    tdir="${target#"$root"/src/}"; tdir="${tdir%%/*}"
    tl="${dir_layer[$tdir]:-}"
    if [ "$tdir" != "$dir" ] && { [ -z "$tl" ] || [ "${tl#* }" != "$my_mod" ]; }; then
      echo "check_layers: $f includes \"$inc\" from another module ($tdir)"; bad=1
    fi
  done < <(grep -oE '#include +"\.\./[^"]+"' "$f" | sed -E 's/#include +"([^"]+)"/\1/')
done < <(find "$root/src" -name '*.[ch]' | sort)
if [ "$bad" -ne 0 ]; then echo "check_layers: FAILED"; exit 1; fi
echo "check_layers: $n includes checked, all point down"
