#!/usr/bin/env bash
# Runs every benchmark lessons 4 to 6 quote, and writes BENCHMARKS.md from
# the numbers (nothing in that file is typed in by hand).
#
#   bash bench/run.sh              # 5 runs of each (BENCHMARKS.md says how long the last took)
#   RUNS=3 bash bench/run.sh       # quicker, noisier
#   OUT=/tmp/b.md bash bench/run.sh   # write somewhere else
#
# It measures only on a quiet machine: after the build, it waits until the
# 1-minute load average is below MAX_LOAD (1.0), for at most QUIET_WAIT
# seconds (600), and then refuses to run. ANY_LOAD=1 runs it anyway, for
# those who know what else is running. BENCHMARKS.md records the load
# average the run started at either way.
#
# Release builds. Every server's console goes to a regular file, as it would
# for an operator who keeps logs (a file deleted at once: the server writes
# to it, nobody keeps it). Within each round, the things compared run one
# after another, so a noisy moment hurts every side of a comparison; the
# tables give the median of the rounds and their spread (min-max).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
OUT=${OUT:-BENCHMARKS.md}
MAX_LOAD=${MAX_LOAD:-1.0}
QUIET_WAIT=${QUIET_WAIT:-600}
ANY_LOAD=${ANY_LOAD:-}
# The examples too: each lesson's first version runs beside its real server
# where that can be measured.
cargo build --release --quiet --bins --examples
bin=${CARGO_TARGET_DIR:-target}/release

# start_server, start_first, stop_server, swarm_numbers_or_failed, stats.
source bench/common.sh

# column KEY: the numbers collected under KEY, one a line.
column() { echo "${!1}" | tr ' ' '\n' | grep .; }
# median KEY: the median alone.
median() { column "$1" | stats | cut -d' ' -f1; }
# ratios A B: per-round ratios A/B, as "median (min-max)".
ratios() { paste <(column "$1") <(column "$2") | awk '{printf "%.2f\n", $1 / $2}' | stats; }
# protocol_of SERVER: the swarm subcommand for a server (async_echo_server,
# event_echo_server, first_event_echo_server: echo).
protocol_of() { local name=${1#first_}; name=${name#event_}; name=${name#async_}; echo "${name%_server}"; }
# start_any NAME ARGS...: a first version (an example) or a server.
start_any() { case $1 in first_*) start_first "$@" ;; *) start_server "$@" ;; esac; }
log() { echo "$*" >&2; }

# Wait for a quiet machine: whatever else runs here would be measured with
# the servers, and on two cores even a little is a lot. (After the build,
# whose own load takes a minute or so to decay.)
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }
waited=0
forced=
while :; do
    load_before=$(cut -d' ' -f1-3 /proc/loadavg)
    load1=${load_before%% *}
    below "$load1" "$MAX_LOAD" && break
    if [ -n "$ANY_LOAD" ]; then
        log "1-minute load average $load1, not below $MAX_LOAD: running anyway (ANY_LOAD is set)"
        forced=yes
        break
    fi
    if [ "$waited" -ge "$QUIET_WAIT" ]; then
        log "bench/run.sh: refusing to measure: the 1-minute load average is $load1 after waiting $waited s; it must be below $MAX_LOAD."
        log "Other work on this machine would be measured with the servers. Stop it and run again,"
        log "or set ANY_LOAD=1 to measure anyway (BENCHMARKS.md then records the load it started at)."
        exit 1
    fi
    log "waiting for a quiet machine: 1-minute load average $load1, wanted below $MAX_LOAD ($waited of $QUIET_WAIT s)"
    sleep 15
    waited=$((waited + 15))
done
if [ -n "$forced" ]; then
    quiet_note="not below $MAX_LOAD: the run was started anyway (ANY_LOAD=1), so other work ran alongside and these figures include its effect"
else
    quiet_note="below $MAX_LOAD, as the script waits for (it waited $waited s)"
fi

workers=(1 2 4 8 16 32 64)
# The busy-session runs: each style's echo and queue servers, and the first
# versions beside them (a first version that fails a check is counted, not
# measured).
busy=(first_echo_server echo_server echo_server-quiet first_event_echo_server event_echo_server
    event_echo_server-quiet first_async_echo_server async_echo_server async_echo_server-quiet
    first_queue_server queue_server event_queue_server async_queue_server)
# The idle-client runs: every server, and the first versions that hold a
# session (the counter's first version answers and closes, as its server does).
idle=(counter_server event_counter_server async_counter_server first_echo_server echo_server
    first_event_echo_server event_echo_server first_async_echo_server async_echo_server queue_server
    event_queue_server async_queue_server)
declare -A rate p99 kib threads total burst_failed first_failed
started=$(date +%s)

for run in $(seq "$RUNS"); do
    # Short connections: 20,000 clients, 32 at a time, one message each.
    for mode in first per-client per-client-quiet event event-quiet async async-quiet "${workers[@]/#/workers-}"; do
        case $mode in
            first) start_first first_counter_server ;;
            per-client) start_server counter_server ;;
            per-client-quiet) start_server counter_server --quiet ;;
            event) start_server event_counter_server ;;
            event-quiet) start_server event_counter_server --quiet ;;
            async) start_server async_counter_server ;;
            async-quiet) start_server async_counter_server --quiet ;;
            workers-*) start_server counter_server --workers "${mode#workers-}" ;;
        esac
        read -r r p < <(swarm_numbers_or_failed counter --clients 20000 --concurrency 32)
        stop_server
        if [ "$r" = failed ]; then
            # A first version may fail a check: counted, not fatal.
            [ "$mode" = first ] || { echo "counter $mode failed a check" >&2; exit 1; }
            first_failed[counter-$mode]=$(( ${first_failed[counter-$mode]:-0} + 1 ))
            log "run $run: counter $mode: a check failed"
            continue
        fi
        rate[counter-$mode]+="$r "; p99[counter-$mode]+="$p "
        log "run $run: counter $mode: $r connections/s, p99 $p ms"
    done
    # Busy sessions: 64 connections, 2,000 round trips each, one at a time.
    for mode in "${busy[@]}"; do
        server=${mode%-quiet}
        if [ "$mode" = "$server" ]; then start_any "$server"; else start_server "$server" --quiet; fi
        read -r r p < <(swarm_numbers_or_failed "$(protocol_of "$server")" --clients 64 --concurrency 64 --messages 2000 --window 1)
        stop_server
        if [ "$r" = failed ]; then
            first_failed[$mode]=$(( ${first_failed[$mode]:-0} + 1 ))
            case $server in first_*) ;; *) echo "$mode failed a check" >&2; exit 1 ;; esac
            log "run $run: $mode: a check failed"
            continue
        fi
        rate[$mode]+="$r "; p99[$mode]+="$p "
        log "run $run: $mode: $r round trips/s, p99 $p ms"
    done
    # The same echo load with the server on one core and swarm on the other
    # (taskset), so that the load generator cannot take the server's core.
    for server in echo_server event_echo_server async_echo_server; do
        start_server_on 0 "$server" --quiet
        read -r r p < <(ON_CORE=1 swarm_numbers_or_failed echo --clients 64 --concurrency 64 --messages 2000 --window 1)
        stop_server
        [ "$r" = failed ] && { echo "$server on core 0 failed a check" >&2; exit 1; }
        rate[$server-pinned]+="$r "; p99[$server-pinned]+="$p "
        log "run $run: $server on core 0, swarm on core 1: $r round trips/s, p99 $p ms"
    done
    # A burst: 2,000 clients connecting at the same instant, default flags,
    # then the same with the backlog TcpListener::bind would have used.
    for backlog in default 128; do
        if [ $backlog = default ]; then start_server counter_server; else start_server counter_server --backlog 128; fi
        # A check failing here is a result, not an error of this script.
        out=$("$bin/swarm" counter --port "$PORT" --clients 2000 --concurrency 2000) \
            || burst_failed[$backlog]=$(( ${burst_failed[$backlog]:-0} + 1 ))
        stop_server
        total[burst-$backlog]+="$(echo "$out" | awk '/throughput/ {print $6}') "
        p99[burst-$backlog]+="$(echo "$out" | awk '/latency/ {print $9}') "
        log "run $run: burst, backlog $backlog: $(echo "$out" | grep -E 'throughput|FAIL')"
    done
    # Idle clients: 5,000 connected, silent; the server's memory and threads.
    for server in "${idle[@]}"; do
        start_any "$server"
        out=$("$bin/swarm" "$(protocol_of "$server")" --port "$PORT" --idle --hold 0 --clients 5000 --server-pid "$PID")
        stop_server
        kib[$server]+="$(echo "$out" | awk '/per idle client/ {print $2}') "
        threads[$server]+="$(echo "$out" | awk '/threads/ {print $NF}') "
        log "run $run: $server: $(echo "$out" | grep -E 'memory|VmRSS' | tr -s ' ' | tr '\n' ' ')"
    done
done

# The most idle clients: a thread each, and a task each.
held() {
    local server=$1 clients=$2
    start_server "$server" --max-clients "$clients"
    out=$("$bin/swarm" "$(protocol_of "$server")" --port "$PORT" --idle --hold 0 --clients "$clients" --server-pid "$PID" || true)
    stop_server
    echo "$out" | sed 's/^/    /'
}
held_threads=$(held echo_server 10000)
held_events=$(held event_echo_server 15000)
held_tasks=$(held async_echo_server 15000)
minutes=$(( ($(date +%s) - started + 59) / 60 ))

# The pool's curve, for the chart.
sweep=$(for w in "${workers[@]}"; do median "rate[counter-workers-$w]"; done | paste -sd, | sed 's/,/, /g')
per_client=$(median "rate[counter-per-client]")
async_rate=$(median "rate[counter-async]")
event_rate=$(median "rate[counter-event]")
top=$(printf '%s\n' $(echo "$sweep" | tr -d ,) "$per_client" "$async_rate" "$event_rate" | sort -g | tail -1 | awk '{printf "%d", ($1 * 1.15 + 999) / 1000 * 1000}')
flat() { local v=$1; printf '%s, ' $(for _ in "${workers[@]}"; do echo "$v"; done) | sed 's/, $//'; }

verdict() { awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN { ok = (op == ">=") ? (a >= b) : (a <= b); print ok ? "yes" : "no" }'; }
echo_ratio=$(ratios "rate[echo_server]" "rate[echo_server-quiet]")
echo_p99_ratio=$(ratios "p99[echo_server]" "p99[echo_server-quiet]")
counter_ratio=$(ratios "rate[counter-per-client]" "rate[counter-per-client-quiet]")
async_ratio=$(ratios "rate[counter-async]" "rate[counter-per-client]")
event_counter_ratio=$(ratios "rate[counter-event]" "rate[counter-async]")
event_echo_ratio=$(ratios "rate[event_echo_server]" "rate[async_echo_server]")
event_echo_p99_ratio=$(ratios "p99[event_echo_server]" "p99[async_echo_server]")
# row LABEL KEY: a table row of rates and p99s, or, for a first version
# whose checks failed in every run, how often they failed.
row() {
    local label=$1 key=$2
    if [ -n "${rate[$key]:-}" ]; then
        echo "| $label | $(column "rate[$key]" | stats) | $(column "p99[$key]" | stats) |"
    else
        echo "| $label | a check failed in ${first_failed[$key]:-0} of $RUNS runs | - |"
    fi
}
pool4_ratio=$(ratios "rate[counter-workers-4]" "rate[counter-per-client]")
worst_kib() { for s in "$@"; do median "kib[$s]"; done | sort -g | tail -1; }
most_threads() { for s in "$@"; do median "threads[$s]"; done | sort -g | tail -1; }

# The soak section is bench/soak-report.sh's, from a run of its own that
# takes an hour and more: kept as it is.
soak_section=$( [ -f "$OUT" ] && sed -n '/^## The soak: minutes, not seconds/,$p' "$OUT" || true )

cat > "$OUT" <<EOF
# Benchmarks

What lessons 4 to 6 measure, measured. This file is written by
\`bench/run.sh\` from one run of it; no figure here is typed in by hand.
Rerun it to get your own: the ratios should hold, the absolute numbers will
not.

## How they were taken

\`\`\`text
RUNS=$RUNS bash bench/run.sh
\`\`\`

Release builds. The script runs $RUNS rounds; in each round every
configuration runs once, one after another, so a noisy moment hurts every
side of a comparison. Tables give the median of the rounds and their spread
(min-max); ratios are taken per round, then their median. Every run is a
\`swarm\` run whose checks must pass, except in the burst table and for the
first versions, where a failed check is counted (and said), and in the
most idle clients held, which show how many connected. Each server's console goes to a regular file, as
for an operator who keeps logs; \`--quiet\` turns the per-client lines off.
By hand, each step is:

\`\`\`text
cargo build --release
./target/release/counter_server --port 0 > server.log &           # or --quiet, --workers N, event_ or async_counter_server
./target/release/examples/first_counter_server --port 0 > server.log &   # a first version
./target/release/swarm counter --port PORT --clients 20000 --concurrency 32
./target/release/echo_server --port 0 > server.log &              # or --quiet, event_ or async_, the queue servers, the first versions
./target/release/swarm echo --port PORT --clients 64 --concurrency 64 --messages 2000 --window 1
./target/release/counter_server --port 0 > server.log &           # default backlog, then --backlog 128
./target/release/swarm counter --port PORT --clients 2000 --concurrency 2000
./target/release/swarm echo --port PORT --idle --hold 0 --clients 5000 --server-pid PID   # each server
\`\`\`

**The machine:** $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), Linux $(uname -r),
$(rustc --version | cut -d' ' -f1-2); \`ulimit -n\` $(ulimit -n), \`net.core.somaxconn\`
$(cat /proc/sys/net/core/somaxconn). \`swarm\` runs on the same cores as the server,
so every figure includes the cost of the clients too. **Load average when
the run began** (1, 5 and 15 minutes): $load_before; the 1-minute figure was
$quiet_note. After: $(cut -d' ' -f1-3 /proc/loadavg) (the benchmark's own
thousands of threads count in it). The whole run took about $minutes minutes.

## Short connections: a thread per client, a pool, an event loop, tasks

\`swarm counter --clients 20000 --concurrency 32\`: each client connects,
sends one message, reads its greeting, closes.

| server | connections/s, median (min-max) | p99 latency, ms |
|---|---|---|
$(row "\`first_counter_server\` (lesson 1's first version)" counter-first)
| \`counter_server\` (a thread per client) | $(column "rate[counter-per-client]" | stats) | $(column "p99[counter-per-client]" | stats) |
| \`counter_server --quiet\` | $(column "rate[counter-per-client-quiet]" | stats) | $(column "p99[counter-per-client-quiet]" | stats) |
$(for w in "${workers[@]}"; do echo "| \`counter_server --workers $w\` | $(column "rate[counter-workers-$w]" | stats) | $(column "p99[counter-workers-$w]" | stats) |"; done)
| \`event_counter_server\` (one event loop) | $(column "rate[counter-event]" | stats) | $(column "p99[counter-event]" | stats) |
| \`event_counter_server --quiet\` | $(column "rate[counter-event-quiet]" | stats) | $(column "p99[counter-event-quiet]" | stats) |
| \`async_counter_server\` (a task per client) | $(column "rate[counter-async]" | stats) | $(column "p99[counter-async]" | stats) |
| \`async_counter_server --quiet\` | $(column "rate[counter-async-quiet]" | stats) | $(column "p99[counter-async-quiet]" | stats) |

The pool's size against its throughput (bars: \`--workers N\`; the three
flat lines: a thread per client, the async server and the event loop, for
comparison):

\`\`\`mermaid
xychart-beta
    title "counter_server: connections/s by pool size (medians)"
    x-axis "workers" [$(printf '%s, ' "${workers[@]}" | sed 's/, $//')]
    y-axis "connections/s" 0 --> $top
    bar [$sweep]
    line [$(flat "$per_client")]
    line [$(flat "$async_rate")]
    line [$(flat "$event_rate")]
\`\`\`

Per round: the pool of 4 makes $pool4_ratio times the connections/s of a
thread per client; the async server $async_ratio times. The event loop
makes $event_counter_ratio times the async server's.

## Busy sessions: round trips

\`swarm echo --clients 64 --concurrency 64 --messages 2000 --window 1\` (and
\`queue\`): 64 connections, each sending a line and waiting for its answer,
2,000 times.

| server | round trips/s, median (min-max) | p99 latency, ms |
|---|---|---|
$(row "\`first_echo_server\` (lesson 2's first version)" first_echo_server)
$(row "\`echo_server\`" echo_server)
$(row "\`echo_server --quiet\`" echo_server-quiet)
$(row "\`first_event_echo_server\` (lesson 5's first version)" first_event_echo_server)
$(row "\`event_echo_server\`" event_echo_server)
$(row "\`event_echo_server --quiet\`" event_echo_server-quiet)
$(row "\`first_async_echo_server\` (lesson 6's first version)" first_async_echo_server)
$(row "\`async_echo_server\`" async_echo_server)
$(row "\`async_echo_server --quiet\`" async_echo_server-quiet)
$(row "\`first_queue_server\` (lesson 3's first version)" first_queue_server)
$(row "\`queue_server\`" queue_server)
$(row "\`event_queue_server\`" event_queue_server)
$(row "\`async_queue_server\`" async_queue_server)
$(row "\`echo_server --quiet\` on core 0, \`swarm\` on core 1" echo_server-pinned)
$(row "\`event_echo_server --quiet\` on core 0, \`swarm\` on core 1" event_echo_server-pinned)
$(row "\`async_echo_server --quiet\` on core 0, \`swarm\` on core 1" async_echo_server-pinned)

The last three rows pin the server to one core and \`swarm\` to the other
(\`taskset -c 0\`, \`taskset -c 1\`). On shared cores, a runtime's few busy
worker threads and \`swarm\`'s 64 client threads compete for the same two
cores; that may be what lengthens a runtime's tail there, but the plain
tokio echo server (lesson 6's first version) shares them too and keeps a
short one: why is not settled (lesson 6, under the hood).

What logging every message costs, per round (console to a file against
\`--quiet\`): echo throughput $echo_ratio, echo p99 $echo_p99_ratio; counter
throughput $counter_ratio.

## A burst of 2,000 clients at once

\`swarm counter --clients 2000 --concurrency 2000\`: every client connects at
the same instant.

| listen backlog | all answered in, s, median (min-max) | p99 latency, ms | runs with a failed check |
|---|---|---|---|
| default: \`net.core.somaxconn\`, $(cat /proc/sys/net/core/somaxconn) here | $(column "total[burst-default]" | stats) | $(column "p99[burst-default]" | stats) | ${burst_failed[default]:-0} of $RUNS |
| \`--backlog 128\` (what \`TcpListener::bind\` asks for) | $(column "total[burst-128]" | stats) | $(column "p99[burst-128]" | stats) | ${burst_failed[128]:-0} of $RUNS |

## Idle clients

\`swarm PROTOCOL --idle --hold 0 --clients 5000 --server-pid PID\`: 5,000
clients connect, see their session start (the welcome, or a first echo),
then stay silent; the server's resident memory (\`VmRSS\`)
grows by this much per client. It leaves out what the kernel keeps for each
socket and thread (16 KiB of kernel stack per thread), which \`VmRSS\` does
not show.

| server | KiB per idle client, median (min-max) | threads at 5,000 idle clients |
|---|---|---|
$(for s in "${idle[@]}"; do echo "| \`$s\` | $(column "kib[$s]" | stats) | $(median "threads[$s]") |"; done)

The most idle clients, once each:

\`\`\`text
swarm echo --idle --clients 10000 against echo_server --max-clients 10000:
$held_threads
swarm echo --idle --clients 15000 against event_echo_server --max-clients 15000:
$held_events
swarm echo --idle --clients 15000 against async_echo_server --max-clients 15000:
$held_tasks
\`\`\`

## Against the targets

| target | measured | met |
|---|---|---|
| echo, console to a file: throughput at least 0.95 times \`--quiet\`'s | $echo_ratio | $(verdict "${echo_ratio%% *}" ">=" 0.95) |
| echo, console to a file: p99 at most 1.1 times \`--quiet\`'s | $echo_p99_ratio | $(verdict "${echo_p99_ratio%% *}" "<=" 1.1) |
| echo, p99 at most 2.0 ms at 64 x 2,000 round trips | $(median "p99[echo_server]") ms | $(verdict "$(median "p99[echo_server]")" "<=" 2.0) |
| counter, console to a file: at least 0.95 times \`--quiet\`'s connections/s | $counter_ratio | $(verdict "${counter_ratio%% *}" ">=" 0.95) |
| 2,000 clients at once, default flags: all answered, p99 under 0.5 s, every run | p99 $(column "p99[burst-default]" | stats) ms; failed checks: ${burst_failed[default]:-0} of $RUNS | $(awk -v max="$(column "p99[burst-default]" | sort -g | tail -1)" -v failed="${burst_failed[default]:-0}" 'BEGIN { print (max < 500 && failed == 0) ? "yes" : "no" }') |
| at most 10 KiB per idle client at 5,000, every threaded server | worst $(worst_kib counter_server echo_server queue_server) KiB | $(verdict "$(worst_kib counter_server echo_server queue_server)" "<=" 10) |
| \`async_counter_server\` at least 1.5 times \`counter_server\`'s connections/s | $async_ratio | $(verdict "${async_ratio%% *}" ">=" 1.5) |
| \`async_echo_server\` p99 at most 1.0 ms at 64 x 2,000 | $(median "p99[async_echo_server]") ms with shared cores; $(median "p99[async_echo_server-pinned]") ms with the server and \`swarm\` on a core each | $(verdict "$(median "p99[async_echo_server]")" "<=" 1.0) |
| at most 6 KiB per idle client at 5,000, every async server | worst $(worst_kib async_counter_server async_echo_server async_queue_server) KiB | $(verdict "$(worst_kib async_counter_server async_echo_server async_queue_server)" "<=" 6) |
| \`event_echo_server\` at least 0.9 times \`async_echo_server\`'s round trips/s | $event_echo_ratio | $(verdict "${event_echo_ratio%% *}" ">=" 0.9) |
| \`event_echo_server\` p99 at most 1.2 times \`async_echo_server\`'s | $event_echo_p99_ratio | $(verdict "${event_echo_p99_ratio%% *}" "<=" 1.2) |
| \`event_counter_server\` at least 0.9 times \`async_counter_server\`'s connections/s | $event_counter_ratio | $(verdict "${event_counter_ratio%% *}" ">=" 0.9) |
| at most 2 KiB per idle client at 5,000, in at most 2 threads, every event-loop server | worst $(worst_kib event_counter_server event_echo_server event_queue_server) KiB; $(most_threads event_counter_server event_echo_server event_queue_server) threads | $(verdict "$(worst_kib event_counter_server event_echo_server event_queue_server)" "<=" 2) (KiB); $(verdict "$(most_threads event_counter_server event_echo_server event_queue_server)" "<=" 2) (threads) |
| each real server at least 0.85 times its first version's round trips/s: \`echo_server\` | $(ratios "rate[echo_server]" "rate[first_echo_server]") | $(verdict "$(ratios "rate[echo_server]" "rate[first_echo_server]" | cut -d' ' -f1)" ">=" 0.85) |
| ... \`queue_server\` | $(ratios "rate[queue_server]" "rate[first_queue_server]") | $(verdict "$(ratios "rate[queue_server]" "rate[first_queue_server]" | cut -d' ' -f1)" ">=" 0.85) |
| ... \`event_echo_server\` | $(ratios "rate[event_echo_server]" "rate[first_event_echo_server]") | $(verdict "$(ratios "rate[event_echo_server]" "rate[first_event_echo_server]" | cut -d' ' -f1)" ">=" 0.85) |
| ... \`async_echo_server\` | $(ratios "rate[async_echo_server]" "rate[first_async_echo_server]") | $(verdict "$(ratios "rate[async_echo_server]" "rate[first_async_echo_server]" | cut -d' ' -f1)" ">=" 0.85) |
| \`async_echo_server\` p99 at most 1.2 times its first version's | $(ratios "p99[async_echo_server]" "p99[first_async_echo_server]") | $(verdict "$(ratios "p99[async_echo_server]" "p99[first_async_echo_server]" | cut -d' ' -f1)" "<=" 1.2) |
| \`event_echo_server\` holds 15,000 idle clients | $(echo "$held_events" | awk '/connected/ {print $2, $3}') | $(echo "$held_events" | awk '/connected/ {print ($2 >= 15000) ? "yes" : "no"; found = 1} END {if (!found) print "no"}') |
EOF
if [ -n "$soak_section" ]; then
    printf '\n%s\n' "$soak_section" >> "$OUT"
fi
log "wrote $OUT"
