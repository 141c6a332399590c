#!/usr/bin/env bash
# Benchmarks `updraft bundle` against `zip -qrX` on a real node_modules
# tree (~5,000 files, ~60 MB) installed with npm. See README.md.
#
#   bench/bundle.sh            # tree and binaries under $BENCH_DIR (default /tmp/updraft-bench)
#   RUNS=5 bench/bundle.sh     # best of 5 instead of 3
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/updraft-bench}
RUNS=${RUNS:-3}
# Pinned so the tree is the same everywhere: 4,8xx files, ~62 MB.
PACKAGES=(typescript@5.6.3 @babel/core@7.26.0 lodash@4.17.21 express@4.21.1 three@0.169.0)

need() { command -v "$1" >/dev/null 2>&1; }
if ! need zip || [ ! -x /usr/bin/time ]; then
  if [ "$(id -u)" = 0 ] && need apt-get; then
    apt-get update -qq && apt-get install -y -qq zip time >/dev/null
  else
    echo "bench: need zip and /usr/bin/time (apt-get install zip time)" >&2; exit 1
  fi
fi
need npm || { echo "bench: need npm" >&2; exit 1; }
need go || { echo "bench: need go" >&2; exit 1; }

mkdir -p "$BENCH_DIR"
TREE=$BENCH_DIR/tree
if [ ! -f "$TREE/.installed" ]; then
  rm -rf "$TREE" && mkdir -p "$TREE"
  echo '{"name":"updraft-bench","version":"1.0.0","private":true}' > "$TREE/package.json"
  (cd "$TREE" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error "${PACKAGES[@]}" >/dev/null)
  touch "$TREE/.installed"
fi
# .installed would be in both archives; keep it out of the measurement.
mv "$TREE/.installed" "$BENCH_DIR/.installed-tree" && trap 'mv "$BENCH_DIR/.installed-tree" "$TREE/.installed"' EXIT

(cd "$ROOT" && go build -o "$BENCH_DIR/updraft" ./cmd/updraft)
UPDRAFT=$BENCH_DIR/updraft

files=$(find "$TREE" -type f | wc -l)
bytes=$(find "$TREE" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
echo "$(date -u +%FT%TZ) load: $(cut -d" " -f1-3 /proc/loadavg)"
echo "tree: $files files, $(awk -v b="$bytes" 'BEGIN{printf "%.1f", b/1048576}') MB ($(nproc) CPUs)"

# measure CMD...: sets secs (wall) and rss (KB) of one run.
measure() {
  local t0 t1 out=$BENCH_DIR/time.out
  t0=$(date +%s%N)
  /usr/bin/time -v -o "$out" "$@" >/dev/null
  t1=$(date +%s%N)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b-a)/1e9}')
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out")
  cpu=$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {printf "%.3f", u+s}' "$out")
}

# best NAME CMD...: best-of-$RUNS wall time, the CPU time of that run, and
# the largest RSS seen. Wall time is what the bars are about; CPU time
# (user+sys) is shown too because it is steadier on a shared machine.
# A command containing @I@ gets the run number there (fresh dirs per run).
best() {
  local name=$1; shift
  local b="" bcpu="" maxrss=0 i args
  for i in $(seq 1 "$RUNS"); do
    args=("${@//@I@/$i}")
    measure "${args[@]}"
    if [ -z "$b" ] || awk -v s="$secs" -v b="$b" 'BEGIN{exit !(s<b)}'; then b=$secs; bcpu=$cpu; fi
    [ "$rss" -gt "$maxrss" ] && maxrss=$rss
  done
  printf '%-38s %7.3f s wall  %7.3f s cpu  %6.1f MB RSS\n' "$name" "$b" "$bcpu" "$(awk -v r="$maxrss" 'BEGIN{print r/1024}')"
  eval "${name%% *}_secs=$b; ${name%% *}_cpu=$bcpu; ${name%% *}_rss=$maxrss"
}

# Warm the page cache so both tools read from memory.
tar cf - -C "$TREE" . >/dev/null

rm -f "$BENCH_DIR"/zip-*.zip
best "zip (zip -qrX, level 6)" bash -c "cd '$TREE' && rm -f '$BENCH_DIR/zip-@I@.zip' && zip -qrX '$BENCH_DIR/zip-@I@.zip' ."
zip_size=$(stat -c %s "$BENCH_DIR/zip-1.zip")

rm -rf "$BENCH_DIR"/cache-*
best "updraft (cold cache)" "$UPDRAFT" bundle --cache-dir "$BENCH_DIR/cache-@I@" -o "$BENCH_DIR/updraft-@I@.zip" "$TREE"
best "nocache (--no-cache)" "$UPDRAFT" bundle --no-cache "$TREE"
best "cached (unchanged tree)" "$UPDRAFT" bundle --cache-dir "$BENCH_DIR/cache-1" "$TREE"
up_size=$(stat -c %s "$BENCH_DIR/updraft-1.zip")

# Reproducibility: every run gave the same bytes; touching every file and
# bundling a copy elsewhere gives them too.
for i in $(seq 2 "$RUNS"); do cmp -s "$BENCH_DIR/updraft-1.zip" "$BENCH_DIR/updraft-$i.zip" || { echo "bench: runs differ" >&2; exit 1; }; done
digest=$("$UPDRAFT" bundle --no-cache --output json "$TREE" | awk -F'"' '/"digest"/ {print $4}')
find "$TREE" -exec touch -d "2001-02-03 04:05:06" {} +
rm -rf "$BENCH_DIR/copy" && cp -rL "$TREE" "$BENCH_DIR/copy"
d2=$("$UPDRAFT" bundle --no-cache --output json "$TREE" | awk -F'"' '/"digest"/ {print $4}')
d3=$("$UPDRAFT" bundle --no-cache --output json "$BENCH_DIR/copy" | awk -F'"' '/"digest"/ {print $4}')
[ "$digest" = "$d2" ] && [ "$digest" = "$d3" ] || { echo "bench: digest changed: $digest $d2 $d3" >&2; exit 1; }
measure "$UPDRAFT" bundle --cache-dir "$BENCH_DIR/cache-1" "$BENCH_DIR/copy"; copy_secs=$secs

unzip -tq "$BENCH_DIR/updraft-1.zip" >/dev/null

echo
awk -v zc="$zip_cpu" -v uc="$updraft_cpu" -v zs="$zip_secs" -v us="$updraft_secs" -v cs="$cached_secs" -v zb="$zip_size" -v ub="$up_size" \
    -v ur="$updraft_rss" -v nr="$nocache_rss" -v ps="$copy_secs" 'BEGIN {
  printf "time ratio   zip / updraft          %.2fx   (target >= 3x; CPU time ratio %.2fx)\n", zs/us, zc/uc
  printf "size ratio   updraft / zip          %.4f  (%d / %d bytes; target <= 1.06)\n", ub/zb, ub, zb
  printf "peak RSS     updraft                %.1f MB (--no-cache %.1f MB; target < 100 MB)\n", ur/1024, nr/1024
  printf "cached       unchanged tree         %.3f s = %.1fx faster than cold (target >= 10x)\n", cs, us/cs
  printf "copy         same tree elsewhere    %.3f s (new path, no stat record: full build, same digest)\n", ps
}'
echo "digest       $digest (same after touch and copy)"
