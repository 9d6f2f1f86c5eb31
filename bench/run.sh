#!/usr/bin/env bash
# Runs every benchmark in BENCHMARKS.md, RUNS times each, and prints the medians.
#
#   bash bench/run.sh            # 5 runs of each
#   RUNS=3 bash bench/run.sh
#
# Release builds; the servers' console goes to /dev/null (logging is not what
# is measured); runs of the things compared are interleaved, so a noisy moment
# hurts both sides.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
cargo build --release --quiet --bin counter_server --bin echo_server --bin queue_server --bin swarm
bin=${CARGO_TARGET_DIR:-target}/release

# start_server, stop_server, swarm_numbers, stats.
source bench/common.sh

echo "machine: $(nproc) cores, $(uname -r); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A rate p99
for run in $(seq "$RUNS"); do
    for mode in per-client workers; do
        if [ $mode = workers ]; then start_server counter_server --workers 4; else start_server counter_server; fi
        read -r r p < <(swarm_numbers counter --clients 20000 --concurrency 50)
        stop_server
        rate[$mode]+="$r "; p99[$mode]+="$p "
    done
    for server in echo queue; do
        start_server "${server}_server"
        read -r r p < <(swarm_numbers "$server" --clients 64 --concurrency 64 --messages 2000 --window 1)
        stop_server
        rate[$server]+="$r "; p99[$server]+="$p "
    done
    echo "run $run of $RUNS done" >&2
done

echo
echo "| benchmark | throughput, median (min-max) | p99 ms, median (min-max) |"
echo "|---|---|---|"
row() { echo "| $1 | $(echo "${rate[$2]}" | tr ' ' '\n' | grep . | stats) | $(echo "${p99[$2]}" | tr ' ' '\n' | grep . | stats) |"; }
row "counter_server, a thread per client: connections/s (20,000 clients, 50 at a time)" per-client
row "counter_server --workers 4: connections/s (same)" workers
row "echo_server: round trips/s (64 connections x 2,000)" echo
row "queue_server: round trips/s (64 connections x 2,000)" queue
ratio=$(paste <(echo "${rate[workers]}" | tr ' ' '\n' | grep .) <(echo "${rate[per-client]}" | tr ' ' '\n' | grep .) \
    | awk '{print $1 / $2}' | stats)
echo
echo "workers / per-client connections/s, per run pair: median (min-max) $ratio"

echo
echo "| server | memory per idle client at 5,000 idle clients, KiB: median (min-max) |"
echo "|---|---|"
for server in counter echo queue; do
    values=""
    for run in $(seq "$RUNS"); do
        start_server "${server}_server"
        values+="$("$bin/swarm" "$server" --port "$PORT" --idle --clients 5000 --server-pid "$PID" \
            | awk '/per idle client/ {print $2}') "
        stop_server
    done
    echo "| ${server}_server | $(echo "$values" | tr ' ' '\n' | grep . | stats) |"
done

echo
echo "| --backlog | 2,000 clients at once: all answered in, s | p99 ms | runs with a failed check |"
echo "|---|---|---|---|"
for backlog in 128 1024 4096; do
    seconds=""; tails=""; failed=0
    for run in $(seq "$RUNS"); do
        start_server counter_server --backlog "$backlog"
        # A burst can overflow a small backlog badly enough that a client is
        # never answered: that is a result here, not an error of the script.
        out=$("$bin/swarm" counter --port "$PORT" --clients 2000 --concurrency 2000) || failed=$((failed + 1))
        stop_server
        seconds+="$(echo "$out" | awk '/throughput/ {print $6}') "
        tails+="$(echo "$out" | awk '/latency/ {print $9}') "
    done
    echo "| $backlog | $(echo "$seconds" | tr ' ' '\n' | grep . | stats) | $(echo "$tails" | tr ' ' '\n' | grep . | stats) | $failed of $RUNS |"
done

start_server echo_server --max-clients 10000
held=$("$bin/swarm" echo --port "$PORT" --idle --clients 10000 --server-pid "$PID" | awk '/connected/ {print $2}')
stop_server
echo
echo "echo_server with 10,000 idle clients: $held connected"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
