#!/usr/bin/env bash
# The side-by-side run behind BENCHMARKS.md's harness tables: every
# scenario against actorhub, philippseith/signalr v0.6.3 and raw, one after
# another in one session, then the plots. Takes about 25 minutes on the
# 2-core machine; run it on a quiet machine (nothing else loading it).
#
#   bench/results/run.sh [out.jsonl] [plots-dir]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-bench/results/$(date -u +%F)-side-by-side.jsonl}
PLOTS=${2:-benchmarks}
BIN=$(mktemp -d)
trap 'rm -rf "$BIN"' EXIT
go build -o "$BIN/bench" ./cmd/bench
B="$BIN/bench -q -bin $BIN/targets -targets actorhub,philippseith,raw -out $OUT"
set -x
$B -scenario idle -conns 19000 -duration 5s -protocol json,messagepack
$B -scenario connect -conns 19000 -protocol json,messagepack
$B -scenario broadcast -conns 19000 -duration 10s -protocol json,messagepack -payload 100,2048 -window 1
for n in 1000 5000 10000; do
  $B -scenario broadcast -conns $n -duration 8s -protocol json -payload 100 -window 1
done
$B -scenario broadcast -conns 19000 -duration 10s -protocol json -payload 100 -window 16
$B -scenario group -conns 19000 -group-size 100 -duration 10s -protocol json,messagepack -payload 100
$B -scenario echo -conns 1000 -duration 10s -protocol json,messagepack -payload 100
set +x
go run ./bench/report -in "$OUT" -out "$PLOTS"
