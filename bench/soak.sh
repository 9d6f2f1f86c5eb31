#!/usr/bin/env bash
# Minutes, not seconds: runs each server under a mixed, checked load for a
# long time, and fails if its memory grows after the warm-up, if its open
# descriptors or threads do not come back to their idle counts once the
# load stops, or if any answer is lost or wrong.
#
#   bash bench/soak.sh                          # every server in src/bin, 300 s each
#   bash bench/soak.sh --seconds 60             # a quicker look
#   bash bench/soak.sh echo_server queue_server # some of them
#   bash bench/soak.sh --seconds 30 target/release/examples/leaky_echo_server
#                                               # any server program, by its path
#   bash bench/soak.sh --samples DIR            # where the samples go (target/soak)
#
# The load is `swarm --soak` (see src/bin/swarm/soak.rs and mixed.rs):
# busy sessions, short connections, idle clients up to the server's
# --max-clients and past it, slow readers, drip-feeders, floods of short
# lines, lines over 1024 bytes, invalid UTF-8, clients that vanish in the
# middle of a line or reset in the middle of a reply, clients that never
# read, connect-and-close churn; every answer checked. It samples the
# server's VmRSS, open descriptors and threads every --sample-every seconds
# (2). Per server this prints one line: memory, descriptors and threads
# after the warm-up -> at the end of the load -> once it had stopped, and
# the answers expected, received and refused. The exit status is 1 if any
# server failed.
#
# Into the samples folder go, per server: NAME.csv (the samples:
# seconds,rss_kib,fds,threads,phase), NAME.txt (swarm's whole report) and
# NAME.stderr (the server's). `bash bench/soak-report.sh DIR` prints,
# from a folder of them, BENCHMARKS.md's soak section.
#
# Every server's console goes through a pipe to /dev/null: logged to a
# file, a server that logs every message writes gigabytes in an hour.
# Release builds. Run it on a quiet machine: the samples are the server's
# own, but a starved server is slow to let go of its clients.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=300
samples=target/soak
sample_every=2
# The servers' limits during the soak, small so that the load reaches them.
max_clients=64
idle_timeout=3
write_timeout=2
servers=()
while [ $# -gt 0 ]; do
    case $1 in
        --seconds) seconds=${2:?--seconds needs a number}; shift 2 ;;
        --samples) samples=${2:?--samples needs a folder}; shift 2 ;;
        --sample-every) sample_every=${2:?--sample-every needs a number}; shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "bench/soak.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
        *) servers+=("$1"); shift ;;
    esac
done
# By default, every server the repository has: each src/bin/NAME_server.rs
# or src/bin/NAME_server/main.rs, so that a new one joins on its own.
if [ ${#servers[@]} -eq 0 ]; then
    for path in src/bin/*_server.rs src/bin/*_server/main.rs; do
        [ -e "$path" ] || continue
        name=${path#src/bin/}
        name=${name%/main.rs}
        servers+=("${name%.rs}")
    done
fi

cargo build --release --quiet --bins --examples
bin=${CARGO_TARGET_DIR:-target}/release
mkdir -p "$samples"

# protocol_of NAME: the swarm subcommand for a server (event_echo_server: echo).
protocol_of() { local name=${1%_server}; echo "${name##*_}"; }

{
    echo "command=bash bench/soak.sh --seconds $seconds --sample-every $sample_every"
    echo "seconds=$seconds"
    echo "sample_every=$sample_every"
    echo "server_flags=--max-clients $max_clients --idle-timeout $idle_timeout --write-timeout $write_timeout"
    echo "machine=$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), Linux $(uname -r), $(rustc --version | cut -d' ' -f1-2)"
    echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "started=$(date -u '+%Y-%m-%d %H:%M UTC')"
} > "$samples/soak-run.txt"

# The server running now: if this script is stopped, it goes too.
server_pid=
trap '[ -n "$server_pid" ] && kill -KILL "$server_pid" 2> /dev/null; true' EXIT

# soak SERVER: one server's soak; prints its line, returns 1 if it failed.
soak() {
    local pid
    local server=$1 program name protocol port= failed=
    if [[ $server == */* ]]; then program=$server; else program=$bin/$server; fi
    name=$(basename "$server")
    protocol=$(protocol_of "$name")
    case $protocol in counter | echo | queue) ;; *)
        echo "bench/soak.sh: $name: which protocol does it speak? (its name should end in counter_server, echo_server or queue_server)" >&2
        return 1 ;;
    esac
    local portfile; portfile=$(mktemp)
    # The listening line's port goes to $portfile; the rest of the console
    # is read and thrown away.
    "$program" --port 0 --max-clients "$max_clients" --idle-timeout "$idle_timeout" \
        --write-timeout "$write_timeout" \
        > >(grep -m1 -o 'listening on port [0-9]*' > "$portfile"; exec cat > /dev/null) \
        2> "$samples/$name.stderr" &
    pid=$!
    server_pid=$pid
    for _ in $(seq 200); do
        port=$(grep -o '[0-9]*$' "$portfile" || true)
        [ -n "$port" ] && break
        sleep 0.05
    done
    rm -f "$portfile"
    if [ -z "$port" ]; then
        echo "$name: did not start (see $samples/$name.stderr)"
        kill -KILL "$pid" 2> /dev/null || true
        return 1
    fi
    "$bin/swarm" "$protocol" --port "$port" --soak "$seconds" --server-pid "$pid" \
        --server-max-clients "$max_clients" --server-idle-timeout "$idle_timeout" \
        --sample-every "$sample_every" --samples "$samples/$name.csv" \
        > "$samples/$name.txt" 2>&1 || failed=yes
    # Ctrl-C, as an operator stops it: it must exit 0, within a few seconds.
    kill -INT "$pid" 2> /dev/null || true
    for _ in $(seq 100); do
        kill -0 "$pid" 2> /dev/null || break
        sleep 0.05
    done
    local status=0
    if kill -0 "$pid" 2> /dev/null; then
        kill -KILL "$pid"
        echo "did not stop within 5 s of Ctrl-C" >> "$samples/$name.txt"
        failed=yes
    fi
    wait "$pid" || status=$?
    server_pid=
    if [ "$status" -ne 0 ]; then
        echo "stopped with exit status $status" >> "$samples/$name.txt"
        failed=yes
    fi
    local line
    line=$(grep '^soak: ' "$samples/$name.txt" | tail -1 || true)
    printf '%-22s %s\n' "$name" "${line#soak: }"
    if [ -n "$failed" ]; then
        grep -E 'FAIL|e\.g\.|^swarm:|did not stop|exit status' "$samples/$name.txt" | sed 's/^/    /' || true
        echo "    (the whole report: $samples/$name.txt)"
        return 1
    fi
}

failures=0
for server in "${servers[@]}"; do
    soak "$server" || failures=$((failures + 1))
done
echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$samples/soak-run.txt"
echo "samples: $samples ($(date -u '+%H:%M UTC'))"
if [ "$failures" -gt 0 ]; then
    echo "$failures of ${#servers[@]} servers failed the soak"
    exit 1
fi
