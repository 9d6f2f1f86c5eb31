#!/usr/bin/env bash
# Prints BENCHMARKS.md's soak section (to put at the end of that file, in
# place of the old one) from a folder of bench/soak.sh's samples: a table
# with a line per server, then, for each style of server (a thread per
# client, tasks, an event loop), Mermaid charts of its memory and open
# descriptors over the soak.
#
#   bash bench/soak.sh --seconds 600 --samples target/soak
#   bash bench/soak-report.sh target/soak > soak-section.md
#
# More folders after the first: servers soaked again later (after a fix,
# say, with `bash bench/soak.sh ... --samples target/soak-again NAME`).
# A server's row and lines come from the last folder that has it, and the
# section says which servers ran again, when.
#
# It reads DIR/soak-run.txt (how the soak was run), and for each server
# DIR/NAME.csv (seconds,rss_kib,fds,threads,phase) and DIR/NAME.txt
# (swarm's report, whose last line is the one bench/soak.sh printed).
# Nothing in the section is typed in by hand.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: bash bench/soak-report.sh SAMPLES_FOLDER [LATER_FOLDER...]" >&2; exit 1; }
for folder in "$@"; do
    [ -f "$folder/soak-run.txt" ] || { echo "bench/soak-report.sh: no $folder/soak-run.txt: not a folder of bench/soak.sh's samples" >&2; exit 1; }
done
first=$1
# One folder to read from: the first run's description, and each server's
# files from the last folder that has them.
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp "$first/soak-run.txt" "$dir/"
for folder in "$@"; do
    for file in "$folder"/*.csv "$folder"/*.txt; do
        if [ -e "$file" ] && [ "$(basename "$file")" != soak-run.txt ]; then cp "$file" "$dir/"; fi
    done
done
# again FOLDER KEY: a value from a later run's soak-run.txt.
again() { sed -n "s/^$2=//p" "$1/soak-run.txt" | tail -1; }
later_runs() {
    local folder names
    for folder in "${@:2}"; do
        names=$(for csv in "$folder"/*.csv; do if [ -e "$csv" ]; then printf '`%s` ' "$(basename "$csv" .csv)"; fi; done)
        echo
        echo "Soaked again later, and shown from that run: ${names% }, with"
        echo "\`$(again "$folder" command)\`, started $(again "$folder" started); load average"
        echo "before: $(again "$folder" load_before); after: $(again "$folder" load_after | grep . || echo 'not recorded')."
    done
}

# run KEY: a value from soak-run.txt.
run() { sed -n "s/^$1=//p" "$dir/soak-run.txt" | tail -1; }
# Points per chart line: xychart-beta spreads a line's values evenly over
# its x axis, so every server's samples are taken at the same moments.
points=41

# The servers, in the order a reader meets them: threads, tasks, loop.
style_of() {
    local name=${1%_server}
    name=${name%_*}
    [ "$name" = "${1%_server}" ] && name=
    echo "$name"
}
style_title() {
    case $1 in
        '') echo "A thread per client" ;;
        async) echo "A task per client (tokio)" ;;
        event) echo "One thread, one event loop" ;;
        *) echo "$1" ;;
    esac
}
styles=()
for csv in "$dir"/*.csv; do
    [ -e "$csv" ] || { echo "bench/soak-report.sh: no samples (*.csv) in $dir" >&2; exit 1; }
    style=$(style_of "$(basename "$csv" .csv)")
    [[ " ${styles[*]-} " == *" [$style] "* ]] || styles+=("[$style]")
done
ordered_styles() {
    local known=('[]' '[async]' '[event]') style
    for style in "${known[@]}"; do [[ " ${styles[*]} " == *" $style "* ]] && echo "$style"; done
    for style in "${styles[@]}"; do [[ " ${known[*]} " == *" $style "* ]] || echo "$style"; done
}
servers_of() {
    local style=$1 csv name protocol
    for protocol in counter echo queue; do
        for csv in "$dir"/*"${protocol}_server.csv"; do
            [ -e "$csv" ] || continue
            name=$(basename "$csv" .csv)
            [ "[$(style_of "$name")]" = "$style" ] && echo "$name"
        done
    done
}

# row NAME: the table's line for one server, from its summary line:
#   soak: RSS A -> B -> C KiB, fds D -> E -> F (idle G), threads H -> I -> J (idle K);
#   answers L expected, M received, N refused[, P lost, Q wrong]: VERDICT
row() {
    local name=$1 line
    line=$(grep '^soak: ' "$dir/$name.txt" | tail -1 || true)
    if [ -z "$line" ]; then
        echo "| \`$name\` | no summary line: see $name.txt | | | | | | |"
        return
    fi
    echo "$line" | awk -v name="$name" '
        function commas(n,   s) {
            s = n ""
            while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]($|,)/, ",&", s)
            return s
        }
        {
            sub(/^soak: RSS /, "")
            rss = $0; sub(/ KiB,.*/, "", rss)
            fds = $0; sub(/.* fds /, "", fds); sub(/\), threads.*/, ")", fds); sub(/ \(idle /, " (", fds)
            threads = $0; sub(/.* threads /, "", threads); sub(/\);.*/, ")", threads); sub(/ \(idle /, " (", threads)
            n = split($0, words, " ")
            for (i = 1; i < n; i++) {
                if (words[i + 1] ~ /^expected/) expected = words[i]
                if (words[i + 1] ~ /^received/) received = words[i]
                if (words[i + 1] ~ /^refused/) refused = words[i]
                if (words[i + 1] ~ /^lost/) lost = words[i]
                if (words[i + 1] ~ /^wrong/) wrong = words[i]
            }
            verdict = words[n]
            if (lost + wrong > 0) verdict = verdict " (" lost " lost, " wrong " wrong)"
            printf "| `%s` | %s | %s | %s | %s | %s | %s | %s |\n", name, rss, fds, threads,
                commas(expected), commas(received), commas(refused), verdict
        }'
}

# series NAME COLUMN SCALE END: the NAME's column (2: rss_kib, 3: fds) at
# $points moments from 0 to END seconds, each the last sample taken by
# then, divided by SCALE.
series() {
    awk -F, -v column="$2" -v scale="$3" -v end="$4" -v points="$points" '
        NR > 1 { t[NR - 1] = $1; v[NR - 1] = $column; n = NR - 1 }
        END {
            j = 1
            for (i = 0; i < points; i++) {
                at = end * i / (points - 1)
                while (j < n && t[j + 1] <= at) j++
                value = v[j] / scale
                out = out (i ? ", " : "") (scale == 1 ? sprintf("%d", value) : sprintf("%.1f", value))
            }
            print out
        }' "$dir/$1.csv"
}
# Seconds from the start of the load to the last sample.
last_second() { tail -1 "$dir/$1.csv" | cut -d, -f1; }
# top VALUES...: a round number above the largest.
top() {
    printf '%s\n' "$@" | tr ',' '\n' | sort -g | tail -1 | awk '{
        v = $1 * 1.2; step = 1
        while (step * 10 <= v) step *= 10
        printf "%d", (int(v / step) + 1) * step }'
}

chart() {
    local style=$1 title=$2 column=$3 scale=$4 unit=$5
    local names end=0 name lines=() values=()
    mapfile -t names < <(servers_of "$style")
    for name in "${names[@]}"; do
        end=$(awk -v a="$end" -v b="$(last_second "$name")" 'BEGIN { print (b > a) ? b : a }')
    done
    end=$(awk -v e="$end" 'BEGIN { printf "%d", e + 0.999 }')
    for name in "${names[@]}"; do
        values+=("$(series "$name" "$column" "$scale" "$end")")
    done
    echo '```mermaid'
    echo 'xychart-beta'
    echo "    title \"$title\""
    echo "    x-axis \"seconds\" 0 --> $end"
    echo "    y-axis \"$unit\" 0 --> $(top "${values[@]}")"
    for line in "${values[@]}"; do echo "    line [$line]"; done
    echo '```'
}

cat <<EOF
## The soak: minutes, not seconds

A test of a few seconds cannot see a slow leak: a buffer, a descriptor or a
thread kept for one odd client in a thousand. The soak runs each server for
$(run seconds) s under a mixed load, every answer checked, and samples its
memory (\`VmRSS\`), open descriptors and threads every $(run sample_every) s:

\`\`\`text
$(run command)
\`\`\`

The load is \`swarm PROTOCOL --soak SECONDS\`, on the threads of one
process: busy sessions, short connections, idle clients up to the server's
\`--max-clients\` and past it, slow readers, drip-feeders, floods of short
lines, lines over 1024 bytes, invalid UTF-8, clients that vanish in the
middle of a line or reset in the middle of a reply, clients that never
read, and connect-and-close churn. Each server ran with
\`$(run server_flags)\`, its console through a pipe to \`/dev/null\`. A
server passes if every answer came and was right (a client turned away
past \`--max-clients\` is counted as refused, not as a failure), if its
memory after the warm-up (the first quarter of the run) did not rise
quarter after quarter (the most it held in each, by more than 256 KiB each
time) nor by more than 16 MiB in all (or a quarter of the first quarter's
peak, if that is more), and if, once the load stopped, its
descriptors and threads came back to exactly their idle counts.

**The machine:** $(run machine). Started $(run started); load average
before: $(run load_before); after: $(run load_after | grep . || echo 'not recorded').
$(later_runs "$@")

| server | \`VmRSS\`, KiB: after the warm-up -> at the end -> after | open descriptors (idle) | threads (idle) | answers expected | received | refused | verdict |
|---|---|---|---|---|---|---|---|
EOF
while IFS= read -r style; do
    for name in $(servers_of "$style"); do row "$name"; done
done < <(ordered_styles)

while IFS= read -r style; do
    bare=${style#[}
    bare=${bare%]}
    title=$(style_title "$bare")
    mapfile -t names < <(servers_of "$style")
    order=$(printf '`%s`, ' "${names[@]}" | sed 's/, $//')
    echo
    echo "### $title"
    echo
    echo "Memory and open descriptors over the soak, one line per server, in this"
    echo "order: $order. The last points are after the load stopped."
    echo
    chart "$style" "$title: VmRSS, MiB" 2 1024 "MiB"
    echo
    chart "$style" "$title: open descriptors" 3 1 "descriptors"
done < <(ordered_styles)
