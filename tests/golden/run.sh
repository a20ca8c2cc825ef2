#!/bin/bash
# run.sh BIN OUT: every read command x format over the fixed data of data.sh ($GOLDEN_DATA,
# default target/golden/data),
# one file per case: stdout, stderr, exit code. Commands that write get a fresh copy.
BIN=$(realpath "$1"); OUT=$2; D=$(realpath "${GOLDEN_DATA:-target/golden/data}")
rm -rf "$OUT"; mkdir -p "$OUT"
NOW="--now 2026-11-27T00:00:00Z"
n=0
run() { # name, args...
  local name=$1; shift
  n=$((n+1))
  local f="$OUT/$(printf %03d $n)-$name"
  "$@" > "$f.out" 2> "$f.err" < /dev/null; echo "exit $?" > "$f.rc"
}
for P in "$D/store/audit.jsonl" "$D/store-noidx/audit.jsonl" "sqlite:$D/copy.db"; do
  tag=$(echo "$P" | md5sum | cut -c1-6)
  for fmt in "" "--format jsonl" "--format csv" "--format table" "--format json"; do
    f=$(echo "$fmt" | tr ' ' _)
    run "q-$tag$f" $BIN --path "$P" $NOW query --since 3d $fmt
    run "qe-$tag$f" $BIN --path "$P" $NOW query --event nav --event validation_fail --limit 200 $fmt
    run "qc-$tag$f" $BIN --path "$P" $NOW query --count --since 10d $fmt
    run "qm-$tag$f" $BIN --path "$P" $NOW query --model gpt-4o --until 20d $fmt
    run "t-$tag$f" $BIN --path "$P" $NOW tail -n 25 $fmt
    run "te-$tag$f" $BIN --path "$P" $NOW tail -n 7 --event nav $fmt
    run "s-$tag$f" $BIN --path "$P" $NOW spend $fmt
    run "s30-$tag$f" $BIN --path "$P" $NOW spend --since 30d $fmt
    for by in hour day model session; do
      run "sb$by-$tag$f" $BIN --path "$P" $NOW spend --since 5d --by $by $fmt
    done
    run "a-$tag$f" $BIN --path "$P" $NOW accuracy $fmt
    run "a7-$tag$f" $BIN --path "$P" $NOW accuracy --since 7d $fmt
    run "st-$tag$f" $BIN --path "$P" $NOW stats $fmt
    run "stt-$tag$f" $BIN --path "$P" $NOW stats --top-files 5 $fmt
  done
  run "qs-$tag" $BIN --path "$P" $NOW query --strict --since 30d
  run "v-$tag" $BIN --path "$P" $NOW verify
  run "t1-$tag" $BIN --threads 1 --path "$P" $NOW query --since 2d --count
  run "np-$tag" $BIN --no-prune --path "$P" $NOW spend --since 2d --by day
done
# session filter (a session from the data)
S=$(head -c 2000000 $D/store/audit.jsonl | grep -o '"session_id":"[^"]*"' | head -1 | cut -d'"' -f4)
run q-session $BIN --path $D/store/audit.jsonl $NOW query --session "$S" --format csv
# inputs given as files, dirs, globs; python-style plain file
run in-plain $BIN $NOW query --since 5d $D/plain.jsonl
run in-py $BIN $NOW spend --since 30d --by model $D/py.jsonl
run in-pyst $BIN $NOW stats $D/py.jsonl
run in-dir $BIN $NOW stats --top-files 3 $D/store
run in-glob $BIN $NOW query --count "$D/store/*.gz"
run in-mixed $BIN $NOW accuracy $D/plain.jsonl $D/py.jsonl
run in-verify-plain $BIN $NOW --path $D/plain.jsonl verify
# errors
run e-threads $BIN --threads 0 query
run e-since $BIN --path $D/store/audit.jsonl query --since yesterdayish
run e-missing $BIN --path $D/nope/audit.jsonl query
run e-missing-in $BIN query $D/nope.jsonl
run e-sqlite-missing $BIN --path sqlite:$D/nope.db stats
run e-strict-plain $BIN query --strict $D/plain.jsonl
# writers on copies: index, index --rebuild, export
rm -rf /tmp/golden-w; cp -a $D/store /tmp/golden-w
rm -f /tmp/golden-w/*.idx
run w-index $BIN $NOW --path /tmp/golden-w/audit.jsonl index
run w-index2 $BIN $NOW --path /tmp/golden-w/audit.jsonl index
run w-rebuild $BIN $NOW --path /tmp/golden-w/audit.jsonl index --rebuild
(cd /tmp/golden-w && ls -l --time-style=+ | awk '{print $1, $5, $NF}' | grep idx && sha256sum *.idx) > "$OUT/w-index-files.txt" 2>&1
rm -rf /tmp/golden-x
run w-export $BIN $NOW --path $D/store/audit.jsonl export --out /tmp/golden-x
run w-export2 $BIN $NOW --path $D/store/audit.jsonl export --out /tmp/golden-x
(cd /tmp/golden-x && find . -type f | sort | while read f; do echo "$f $(stat -c %a "$f") $(stat -c %s "$f") $(sha256sum < "$f" | cut -c1-16)"; done) > "$OUT/w-export-files.txt"
echo "cases: $n"
