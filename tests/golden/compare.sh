#!/bin/bash
# compare.sh A B: the golden outputs, normalised for what is not deterministic
# (timings, which of several parallel skips is "first", index identity hashes).
S=$(dirname "$0")/norm.sed
rc=0
for f in "$1"/*; do
  b="$2/$(basename "$f")"
  if ! diff -q <(sed -E -f $S "$f") <(sed -E -f $S "$b") >/dev/null 2>&1; then echo "DIFF $(basename "$f")"; diff <(sed -E -f $S "$f") <(sed -E -f $S "$b") 2>&1 | head -5; rc=1; fi
done
[ "$(ls "$1" | wc -l)" = "$(ls "$2" | wc -l)" ] || { echo "file counts differ"; rc=1; }
exit $rc
