//! Lesson 4, end to end: `swarm` against the real servers, bursts, and the worker pool.

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin_cmd;
use support::*;

/// Runs swarm against `server` with `args`; returns its exit code and what it
/// printed, for the test to assert.
fn swarm(protocol: &str, server: &ServerProcess, args: &[&str]) -> (Option<i32>, String) {
    swarm_at(protocol, server.port, args)
}

/// Runs swarm against whatever listens on `port`.
fn swarm_at(protocol: &str, port: u16, args: &[&str]) -> (Option<i32>, String) {
    let output = cargo_bin_cmd!("swarm")
        .args([protocol, "--port", &port.to_string()])
        .args(args)
        .timeout(Duration::from_secs(60))
        .output()
        .expect("run swarm");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.code(), text)
}

/// Asserts that swarm printed the check `what` with this verdict and detail.
fn assert_check(text: &str, verdict: &str, what: &str, detail: &str) {
    let line = text
        .lines()
        .find(|line| line.contains(what))
        .unwrap_or_else(|| panic!("no check {what:?} in:\n{text}"));
    assert!(line.trim_start().starts_with(verdict), "{line}");
    assert!(line.ends_with(detail), "{line}");
}

/// On a fresh counter_server, swarm sees ids exactly 1..N and says so.
#[test]
fn swarm_checks_counter_ids_on_a_fresh_server() {
    let server = ServerProcess::start(COUNTER_SERVER, &[]);
    let (code, text) = swarm(
        "counter",
        &server,
        &["--clients", "500", "--concurrency", "25"],
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("ids 1..=500: 0 duplicates, 0 gaps"), "{text}");
    assert!(text.contains("result: all checks passed"), "{text}");
    assert!(
        text.contains("connections/s") && text.contains("p99"),
        "{text}"
    );
}

/// Against --demo-race, swarm shows the duplicates and fails.
#[test]
fn swarm_fails_against_the_racy_counter() {
    let server = ServerProcess::start(COUNTER_SERVER, &["--demo-race"]);
    let (code, text) = swarm(
        "counter",
        &server,
        &["--clients", "300", "--concurrency", "100"],
    );
    assert_eq!(code, Some(1), "{text}");
    assert_check(&text, "FAIL", "ids exactly 1..N", "gaps");
    assert!(!text.contains(" 0 duplicates"), "{text}");
    assert!(text.contains("result: FAILED"), "{text}");
}

/// Every echo identical and in order.
#[test]
fn swarm_checks_every_echo() {
    let server = ServerProcess::start(ECHO_SERVER, &[]);
    let (code, text) = swarm(
        "echo",
        &server,
        &["--clients", "20", "--concurrency", "20", "--messages", "50"],
    );
    assert_eq!(code, Some(0), "{text}");
    assert_check(
        &text,
        "ok",
        "every echo identical, in order",
        "20 of 20 clients",
    );
}

/// Every queue reply goes to its own sender, in order.
#[test]
fn swarm_checks_every_queue_reply() {
    let server = ServerProcess::start(QUEUE_SERVER, &[]);
    let (code, text) = swarm(
        "queue",
        &server,
        &["--clients", "20", "--concurrency", "20", "--messages", "50"],
    );
    assert_eq!(code, Some(0), "{text}");
    assert_check(
        &text,
        "ok",
        "every reply to its sender, in order",
        "20 of 20 clients",
    );
    assert_check(&text, "ok", "every client its own id", "0 duplicates");
}

/// Pointed at a server that answers differently, swarm's checks fail: they can fail.
#[test]
fn swarm_fails_against_a_server_that_answers_wrongly() {
    let counter = ServerProcess::start(COUNTER_SERVER, &[]);
    let (code, text) = swarm(
        "echo",
        &counter,
        &["--clients", "5", "--concurrency", "5", "--messages", "3"],
    );
    assert_eq!(code, Some(1), "{text}");
    assert_check(
        &text,
        "FAIL",
        "every echo identical, in order",
        "0 of 5 clients",
    );

    let queue = ServerProcess::start(QUEUE_SERVER, &[]);
    let (code, text) = swarm(
        "echo",
        &queue,
        &["--clients", "5", "--concurrency", "5", "--messages", "3"],
    );
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("got \"Welcome, Client"), "{text}");
}

/// 2,000 clients connecting at the same instant: every server serves them all.
/// The listen backlog (lesson 1) is what holds the burst until accept() gets to it.
#[test]
fn every_server_serves_a_burst_of_2000_clients() {
    for (binary, protocol) in [
        (COUNTER_SERVER, "counter"),
        (ECHO_SERVER, "echo"),
        (QUEUE_SERVER, "queue"),
    ] {
        let server = ServerProcess::start(binary, &["--backlog", "4096"]);
        let (code, text) = swarm(
            protocol,
            &server,
            &[
                "--clients",
                "2000",
                "--concurrency",
                "2000",
                "--messages",
                "1",
            ],
        );
        assert_check(&text, "ok", "every client answered", "2000 of 2000");
        // A burst this size may make the kernel hand the server a connection
        // its client has already given up on (SYN cookies under a flood, we
        // think; not proved): it would cost a counter id, so on the counter
        // server only the answers are checked here, not that the ids have no gap.
        if protocol != "counter" {
            assert_eq!(code, Some(0), "{protocol}: {text}");
        } else {
            assert_check(&text, "ok", "every greeting exact", "2000 of 2000 clients");
        }
    }
}

/// `--workers N`: the pool serves every client exactly once, ids 1..N.
#[test]
fn the_worker_pool_gives_ids_exactly_1_to_n() {
    let server = ServerProcess::start(COUNTER_SERVER, &["--workers", "4"]);
    let (code, text) = swarm(
        "counter",
        &server,
        &["--clients", "500", "--concurrency", "50"],
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("ids 1..=500: 0 duplicates, 0 gaps"), "{text}");
}

/// A thread per client serves the same third client at once.
#[test]
fn a_thread_per_client_serves_the_third_client_at_once() {
    let mut server = ServerProcess::start(COUNTER_SERVER, &["--idle-timeout", "5"]);
    let _silent: Vec<_> = (0..2).map(|_| server.connect()).collect();
    server.wait_for_count(" connected from ", 2);
    let asked = Instant::now();
    let reply = counter_exchange(server.address(), b"am I served?");
    assert!(reply.starts_with("Hello Client 3,"), "{reply}");
    assert!(
        asked.elapsed() < Duration::from_secs(4),
        "the third client waited for the idle ones"
    );
}

/// The pool's checks, against `counter_server --workers`.
#[test]
fn a_pool_serves_others_while_one_worker_waits() {
    counter::a_pool_serves_others_while_one_worker_waits(&pool());
}

#[test]
fn a_pool_of_two_cannot_serve_a_third_long_session() {
    counter::a_pool_of_two_cannot_serve_a_third_long_session(&pool());
}

#[test]
fn the_worker_pool_shuts_down_cleanly() {
    counter::the_worker_pool_shuts_down_cleanly(&pool());
}

/// `counter_server`, as a target for the pool's checks (which pass `--workers`).
fn pool() -> Target {
    target(Protocol::Counter, Style::Threads)
}

/// `--idle` holds clients and, given the server's pid, reports its memory per idle client.
#[test]
fn swarm_idle_reports_memory_per_client() {
    let server = ServerProcess::start(ECHO_SERVER, &[]);
    let (code, text) = swarm(
        "echo",
        &server,
        &[
            "--idle",
            "--hold",
            "0",
            "--clients",
            "200",
            "--server-pid",
            &server.pid().to_string(),
        ],
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("connected   200 clients"), "{text}");
    assert!(text.contains("KiB per idle client"), "{text}");
}

/// A stand-in server, for showing that swarm notices a subtly wrong one:
/// `serve` runs on a thread for each connection, with its number (1, 2, ...).
/// The listener lives as long as the test process.
fn fake_server(serve: fn(std::net::TcpStream, u64)) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(stream) = stream else { continue };
            std::thread::spawn(move || serve(stream, n as u64 + 1));
        }
    });
    port
}

/// Reads one message (what one read gives), as the counter protocol does.
fn read_message(stream: &mut std::net::TcpStream) {
    use std::io::Read;
    let mut message = [0u8; 1024];
    let _ = stream.read(&mut message);
}

/// A counter server whose ids start at 0, not 1: every id unique, and still wrong.
#[test]
fn swarm_fails_a_counter_that_counts_from_zero() {
    let port = fake_server(|mut stream, n| {
        read_message(&mut stream);
        let _ = write!(
            stream,
            "Hello Client {}, server received your message!",
            n - 1
        );
    });
    let (code, text) = swarm_at("counter", port, &["--clients", "50", "--concurrency", "1"]);
    assert_eq!(code, Some(1), "{text}");
    assert_check(
        &text,
        "FAIL",
        "ids exactly 1..N",
        "ids 0..=49: 0 duplicates, 0 gaps",
    );
}

/// A counter server whose greeting is not the original's.
#[test]
fn swarm_fails_a_counter_with_the_wrong_greeting() {
    let port = fake_server(|mut stream, n| {
        read_message(&mut stream);
        let _ = write!(stream, "Hello Client {n}, nope");
    });
    let (code, text) = swarm_at("counter", port, &["--clients", "20", "--concurrency", "1"]);
    assert_eq!(code, Some(1), "{text}");
    assert_check(&text, "FAIL", "every greeting exact", "0 of 20 clients");
}

/// An echo server that answers every line, but swaps each pair: only a
/// client that sends before it reads can tell.
#[test]
fn swarm_fails_an_echo_server_that_reorders() {
    let port = fake_server(|stream, _| {
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(&stream));
        while let (Some(Ok(first)), Some(Ok(second))) = (lines.next(), lines.next()) {
            let _ = write!(&stream, "{second}\n{first}\n");
        }
    });
    let (code, text) = swarm_at(
        "echo",
        port,
        &["--clients", "4", "--concurrency", "4", "--messages", "10"],
    );
    assert_eq!(code, Some(1), "{text}");
    assert_check(
        &text,
        "FAIL",
        "every echo identical, in order",
        "0 of 4 clients",
    );
}

/// A queue server that gives every client the same id.
#[test]
fn swarm_fails_a_queue_server_that_reuses_ids() {
    let port = fake_server(|stream, _| {
        // The real welcome, word for word: only the id is wrong (everyone is Client 1).
        let _ = writeln!(&stream, "{}", threaded_servers::protocol::welcome(1));
        for line in std::io::BufRead::lines(std::io::BufReader::new(&stream)) {
            let Ok(line) = line else { break };
            if line == "!DISCONNECT" {
                let _ = writeln!(&stream, "Goodbye, Client 1.");
                break;
            }
            let _ = writeln!(&stream, "Processed: {line}");
        }
    });
    let (code, text) = swarm_at(
        "queue",
        port,
        &["--clients", "5", "--concurrency", "5", "--messages", "3"],
    );
    assert_eq!(code, Some(1), "{text}");
    assert_check(&text, "FAIL", "every client its own id", "4 duplicates");
}
