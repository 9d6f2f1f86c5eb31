//! The soak, end to end, in seconds: `swarm --soak` against real servers
//! passes them, finds the leak in `examples/leaky_echo_server.rs`, and
//! writes samples that `bench/soak-report.sh` turns into the section of
//! `BENCHMARKS.md` on the soak. (`bench/soak.sh` runs the real thing: minutes per server.)
//!
//! A few seconds are too short to call a server's memory flat on a machine
//! busy with the other tests, so these check what a short soak can tell:
//! every answer, and descriptors and threads back to their idle counts.
//! `cargo test --bin swarm soak` checks the memory verdict on made-up samples.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::*;

/// The servers' limits for a short soak: small, so that the load reaches them.
const SERVER_FLAGS: [&str; 6] = [
    "--max-clients",
    "64",
    "--idle-timeout",
    "1",
    "--write-timeout",
    "1",
];

/// Runs `swarm PROTOCOL --soak 4` against `server`, samples into `csv`;
/// returns swarm's exit code and what it printed.
fn soak(protocol: &str, server: &ServerProcess, csv: &Path) -> (Option<i32>, String) {
    let output = run_to_exit_within(
        Command::new(SWARM).args([
            protocol,
            "--port",
            &server.port.to_string(),
            "--soak",
            "4",
            "--server-pid",
            &server.pid().to_string(),
            "--server-max-clients",
            "64",
            "--server-idle-timeout",
            "1",
            "--sample-every",
            "0.5",
            "--samples",
            csv.to_str().expect("a UTF-8 path"),
        ]),
        Duration::from_secs(120),
    );
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), printed)
}

/// A folder of its own for one test's samples, removed when it ends.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("soak-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn assert_check(printed: &str, verdict: &str, what: &str) {
    assert!(
        printed
            .lines()
            .any(|line| line.starts_with(&format!("  {verdict:<4} {what}"))),
        "expected `{verdict} {what}`:\n{printed}"
    );
}

/// What a short soak can tell of a server that leaks nothing: every answer
/// came, right; descriptors and threads back to idle; samples written.
fn a_short_soak_passes(protocol: Protocol, binary: &str) {
    let scratch = Scratch::new(protocol.name());
    let csv = scratch.0.join("samples.csv");
    let server = <ServerProcess as Of>::start(binary, &SERVER_FLAGS);
    let (_, printed) = soak(protocol.name(), &server, &csv);
    assert_check(&printed, "ok", "every answer came, and right");
    assert_check(&printed, "ok", "descriptors back to idle");
    assert_check(&printed, "ok", "threads back to idle");
    assert_check(&printed, "ok", "every client finished");
    assert_check(&printed, "ok", "the server ran throughout");
    assert!(
        printed.lines().any(|line| line.starts_with("soak: RSS ")),
        "{printed}"
    );
    let samples = std::fs::read_to_string(&csv).expect("the samples");
    let rows: Vec<&str> = samples.lines().collect();
    assert_eq!(rows[0], "seconds,rss_kib,fds,threads,phase");
    assert!(rows.len() >= 8, "{samples}");
    assert!(
        rows[1].ends_with(",idle") && rows[rows.len() - 1].ends_with(",after"),
        "{samples}"
    );
}

#[test]
fn a_short_soak_of_the_echo_server_checks_every_answer_and_its_descriptors() {
    a_short_soak_passes(Protocol::Echo, ECHO_SERVER);
}

#[test]
fn a_short_soak_of_the_queue_server_checks_every_answer_and_its_descriptors() {
    a_short_soak_passes(Protocol::Queue, QUEUE_SERVER);
}

#[test]
fn a_short_soak_finds_the_leaky_echo_server_out() {
    let scratch = Scratch::new("leaky");
    let csv = scratch.0.join("samples.csv");
    let server = <ServerProcess as Of>::start(
        example("leaky_echo_server").to_str().expect("a UTF-8 path"),
        &SERVER_FLAGS,
    );
    let (code, printed) = soak("echo", &server, &csv);
    assert_eq!(code, Some(1), "{printed}");
    assert_check(&printed, "FAIL", "descriptors back to idle");
    assert!(
        printed
            .lines()
            .any(|line| line.starts_with("soak: RSS ") && line.ends_with(": FAILED")),
        "{printed}"
    );
}

/// `bench/soak-report.sh` on a folder of made-up samples: the table's line
/// comes from the summary line, the charts from the samples.
#[test]
fn the_soak_report_makes_a_table_and_charts_from_the_samples() {
    if Command::new("bash").arg("--version").output().is_err() {
        eprintln!("skipped: bash is not on the PATH, so bench/soak-report.sh cannot run");
        return;
    }
    let scratch = Scratch::new("report");
    let dir = &scratch.0;
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    write(
        "soak-run.txt",
        "command=bash bench/soak.sh --seconds 6\nseconds=6\nsample_every=2\n\
         server_flags=--max-clients 64\nmachine=a test\nload_before=0.1 0.1 0.1\n\
         started=today\nload_after=0.2 0.2 0.2\n",
    );
    for (name, kib) in [("echo_server", 6000), ("async_echo_server", 4000)] {
        write(
            &format!("{name}.csv"),
            &format!(
                "seconds,rss_kib,fds,threads,phase\n0.0,2000,9,3,idle\n2.0,{kib},50,40,warm-up\n\
                 4.0,{kib},52,41,load\n6.0,{kib},51,40,load\n7.5,3000,9,3,after\n"
            ),
        );
        write(
            &format!("{name}.txt"),
            &format!(
                "soak: RSS {kib} -> {kib} -> 3000 KiB, fds 52 -> 51 -> 9 (idle 9), threads 41 -> 40 -> 3 \
                 (idle 3); answers 1234567 expected, 1234000 received, 567 refused: ok\n"
            ),
        );
    }
    let output = run_to_exit(
        Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/soak-report.sh"))
            .arg(dir),
    );
    let section = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{section}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "| `echo_server` | 6000 -> 6000 -> 3000 | 52 -> 51 -> 9 (9) | 41 -> 40 -> 3 (3) | 1,234,567 | 1,234,000 | 567 | ok |",
        "### A thread per client",
        "### A task per client (tokio)",
        "    title \"A thread per client: VmRSS, MiB\"",
        "    x-axis \"seconds\" 0 --> 8",
    ] {
        assert!(
            section.contains(expected),
            "expected {expected:?} in:\n{section}"
        );
    }
    // The threads come first, tasks next, whatever the files' order.
    let threads = section.find("| `echo_server`").unwrap();
    let tasks = section.find("| `async_echo_server`").unwrap();
    assert!(threads < tasks, "{section}");
    // 41 points a line, the first the idle sample, the last after the load.
    let line = section
        .lines()
        .find(|line| line.trim_start().starts_with("line [2.0"))
        .expect("a chart line");
    assert_eq!(line.matches(", ").count(), 40, "{line}");
    assert!(line.ends_with("2.9]"), "{line}");

    // A later folder, where one server ran again: its row is that run's,
    // and the section says so.
    let again = Scratch::new("report-again");
    let write_again = |name: &str, text: &str| std::fs::write(again.0.join(name), text).unwrap();
    write_again(
        "soak-run.txt",
        "command=bash bench/soak.sh --seconds 6\nstarted=later\nload_before=0.3 0.3 0.3\n",
    );
    write_again(
        "echo_server.csv",
        "seconds,rss_kib,fds,threads,phase\n0.0,2000,9,3,idle\n6.0,7000,50,40,load\n7.5,3000,9,3,after\n",
    );
    write_again(
        "echo_server.txt",
        "soak: RSS 7000 -> 7000 -> 3000 KiB, fds 50 -> 50 -> 9 (idle 9), threads 40 -> 40 -> 3 \
         (idle 3); answers 7654321 expected, 7654321 received, 0 refused: ok\n",
    );
    let output = run_to_exit(
        Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/soak-report.sh"))
            .arg(dir)
            .arg(&again.0),
    );
    let section = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{section}");
    for expected in [
        "| `echo_server` | 7000 -> 7000 -> 3000 | 50 -> 50 -> 9 (9) | 40 -> 40 -> 3 (3) | 7,654,321 | 7,654,321 | 0 | ok |",
        "| `async_echo_server` | 4000 -> 4000 -> 3000 |",
        "Soaked again later, and shown from that run: `echo_server`",
        "started later; load average\nbefore: 0.3 0.3 0.3; after: not recorded.",
    ] {
        assert!(
            section.contains(expected),
            "expected {expected:?} in:\n{section}"
        );
    }
}
