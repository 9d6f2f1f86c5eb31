# Helpers for bench/run.sh: source it from the repository's root after
# setting `bin` to the release binaries' folder.

# start_server NAME ARGS...: starts a server on a free port; sets PID and PORT.
start_server() { start_server_on "" "$@"; }

# start_server_on CORE NAME ARGS...: the same, with the server pinned to
# one core (no pinning if CORE is empty).
start_server_on() {
    local core=$1 name=$2; shift 2
    local pin=()
    [ -n "$core" ] && pin=(taskset -c "$core")
    start_program "$name" "${pin[@]}" "$bin/$name" --port 0 "$@"
}

# start_first NAME: starts a lesson's first version (an example, which takes
# `--port N` as its one option) on a free port; sets PID and PORT.
start_first() { start_program "$1" "$bin/examples/$1" --port 0; }

# start_program NAME COMMAND...: runs COMMAND, which prints a listening line;
# sets PID and PORT.
start_program() {
    local name=$1; shift
    local log; log=$(mktemp)
    # The console goes to a regular file, removed at once: the server
    # writes it as an operator's would be, and nobody keeps it.
    "$@" > "$log" 2>&1 &
    PID=$!
    for _ in $(seq 100); do
        PORT=$(grep -o 'listening on port [0-9]*' "$log" | grep -o '[0-9]*$' || true)
        [ -n "$PORT" ] && break
        sleep 0.05
    done
    rm -f "$log"
    [ -n "$PORT" ] || { echo "$name did not start" >&2; exit 1; }
}
# stop_server: SIGTERM, which every server treats as Ctrl-C. (Not SIGINT: a
# script's background jobs start with SIGINT ignored, and a first version,
# which installs no handler of its own, would never stop.)
stop_server() { kill -TERM "$PID"; wait "$PID" || true; }

# swarm_numbers_or_failed PROTOCOL ARGS...: prints "rate p99_ms" from one
# swarm run, or "failed failed" when a check fails: the caller decides
# whether that ends the benchmark (a first version may fail: counted). With
# ON_CORE=N, swarm runs on core N only (taskset). It prints rather than
# exits because callers read it through a process substitution, a subshell
# whose exit would not end the script.
swarm_numbers_or_failed() {
    local protocol=$1; shift
    local out pin=()
    [ -n "${ON_CORE:-}" ] && pin=(taskset -c "$ON_CORE")
    if ! out=$("${pin[@]}" "$bin/swarm" "$protocol" --port "$PORT" "$@" 2>&1); then
        echo "failed failed"
        return
    fi
    local rate p99
    rate=$(echo "$out" | awk '/throughput/ {gsub(",", "", $2); print $2}')
    p99=$(echo "$out" | awk '/latency/ {print $9}')
    echo "$rate $p99"
}

# stats: reads numbers, prints "median (min-max)".
stats() {
    sort -g | awk '{v[NR]=$1} END {m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2;
        printf "%s (%s-%s)", m, v[1], v[NR]}'
}
