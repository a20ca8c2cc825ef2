s/ in [0-9.]+ m?s/ in T s/g
s/\(first: .*\); `scout-audit verify`/(first: X); `scout-audit verify`/
s/^[0-9a-f]{64}  /HASH  /
