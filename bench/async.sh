#!/usr/bin/env bash
# Lesson 5's measurements: each threaded server against its async twin.
#
#   bash bench/async.sh            # 5 runs of each
#   RUNS=3 bash bench/async.sh
#
# Release builds; runs of the servers compared are interleaved, so a noisy
# moment hurts every side. Prints each run's numbers, then the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
cargo build --release --quiet --bins
bin=${CARGO_TARGET_DIR:-target}/release

# start_server, stop_server, swarm_numbers, stats.
source bench/common.sh

# column KEY: the numbers collected under KEY, one a line.
column() { echo "${!1}" | tr ' ' '\n' | grep .; }
# protocol_of SERVER: the swarm subcommand for a server (async_echo_server: echo).
protocol_of() { local name=${1#async_}; echo "${name%_server}"; }

echo "machine: $(nproc) cores, $(uname -r); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A rate p99 kib
for run in $(seq "$RUNS"); do
    # Short connections: 20,000 clients, 32 at a time, one message each.
    for mode in counter_server counter_server-workers async_counter_server; do
        case $mode in
            counter_server-workers) start_server counter_server --workers 4 ;;
            *) start_server "$mode" ;;
        esac
        read -r r p < <(swarm_numbers counter --clients 20000 --concurrency 32)
        stop_server
        rate[$mode]+="$r "; p99[$mode]+="$p "
        echo "run $run: $mode: $r connections/s, p99 $p ms"
    done
    # Busy sessions: 64 connections, 2,000 round trips each, one at a time.
    for server in echo_server async_echo_server queue_server async_queue_server; do
        start_server "$server"
        read -r r p < <(swarm_numbers "$(protocol_of "$server")" --clients 64 --concurrency 64 --messages 2000 --window 1)
        stop_server
        rate[$server]+="$r "; p99[$server]+="$p "
        echo "run $run: $server: $r round trips/s, p99 $p ms"
    done
    # Idle clients: 5,000 connected, doing nothing.
    for server in counter_server async_counter_server echo_server async_echo_server queue_server async_queue_server; do
        start_server "$server"
        out=$("$bin/swarm" "$(protocol_of "$server")" --port "$PORT" --idle --hold 0 --clients 5000 --server-pid "$PID")
        stop_server
        k=$(echo "$out" | awk '/per idle client/ {print $2}')
        threads=$(echo "$out" | awk '/threads/ {print $10}')
        kib[$server]+="$k "
        echo "run $run: $server: $k KiB per idle client, $threads threads at 5,000 idle clients"
    done
done

echo
echo "| server | throughput, median (min-max) | p99 latency, ms, median (min-max) |"
echo "|---|---|---|"
for mode in counter_server counter_server-workers async_counter_server; do
    echo "| $mode: connections/s (20,000 clients, 32 at a time) | $(column "rate[$mode]" | stats) | $(column "p99[$mode]" | stats) |"
done
for server in echo_server async_echo_server queue_server async_queue_server; do
    echo "| $server: round trips/s (64 connections x 2,000) | $(column "rate[$server]" | stats) | $(column "p99[$server]" | stats) |"
done
ratio=$(paste <(column "rate[async_counter_server]") <(column "rate[counter_server]") | awk '{print $1 / $2}' | stats)
echo
echo "async_counter_server / counter_server connections/s, per run: median (min-max) $ratio"

echo
echo "| server | KiB per idle client at 5,000 idle clients, median (min-max) |"
echo "|---|---|"
for server in counter_server async_counter_server echo_server async_echo_server queue_server async_queue_server; do
    echo "| $server | $(column "kib[$server]" | stats) |"
done

start_server async_echo_server --max-clients 15000
out=$("$bin/swarm" echo --port "$PORT" --idle --hold 0 --clients 15000 --server-pid "$PID")
stop_server
echo
echo "async_echo_server with 15,000 idle clients:"
echo "$out"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
