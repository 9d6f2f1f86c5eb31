//! Lesson 1, end to end: the real `counter_server` and `client` binaries over real sockets.
//!
//! A test that takes a [`Style`] runs twice, once against `counter_server` and once
//! against its async twin `async_counter_server` (lesson 5): `NAME::threads` and
//! `NAME::tasks`. Both must pass the same tests; only what is about threads
//! (or about the client alone) runs once.

#[macro_use]
mod support;

use std::collections::BTreeSet;
use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin_cmd;
use predicates::prelude::*;
use support::*;

const GREETING_1: &str = "Hello Client 1, server received your message!";

for_threads_and_tasks!(the_original_client_exchange_gets_its_greeting);
/// The original's exchange: `client` with no message sends "Hello, Server!" and prints the reply.
fn the_original_client_exchange_gets_its_greeting(style: Style) {
    let mut server = ServerProcess::of(Protocol::Counter, style, &[]);
    cargo_bin_cmd!("client")
        .args(["--port", &server.port.to_string()])
        .timeout(DEADLINE)
        .assert()
        .success()
        .stdout(format!("Server replied: {GREETING_1}\n"));
    server.wait_for("Client 1 disconnected.");
    assert!(
        server.lines[1].starts_with("Client 1 connected from 127.0.0.1:"),
        "{}",
        server.output()
    );
    assert_eq!(server.lines[2], "Client 1 says: Hello, Server!");
}

for_threads_and_tasks!(the_reply_is_exact);
/// The reply is exactly the original's text: no newline, nothing before or after, then the server closes.
fn the_reply_is_exact(style: Style) {
    let server = ServerProcess::of(Protocol::Counter, style, &[]);
    assert_eq!(
        counter_exchange(server.address(), b"Hello, Server!"),
        GREETING_1
    );
}

for_threads_and_tasks!(a_client_that_sends_no_newline_and_keeps_its_socket_open_gets_its_reply);
/// The original's client (originals/counter_client.py) sends no newline and keeps its socket open while it waits.
fn a_client_that_sends_no_newline_and_keeps_its_socket_open_gets_its_reply(style: Style) {
    let server = ServerProcess::of(Protocol::Counter, style, &[]);
    let mut stream = server.connect();
    stream.write_all(b"Hello, Server!").unwrap();
    // No shutdown, no newline: the server must answer on what one read gave it.
    assert_eq!(read_to_end(&mut stream), GREETING_1);
}

for_threads_and_tasks!(fifty_clients_at_once_get_ids_exactly_1_to_50);
/// Fifty clients at once get the ids 1 to 50, each exactly once: the lock works.
fn fifty_clients_at_once_get_ids_exactly_1_to_50(style: Style) {
    let server = ServerProcess::of(Protocol::Counter, style, &[]);
    let address = server.address();
    let ids: Vec<u64> = all_at_once(50, move |_| greeting_id(&counter_exchange(address, b"hi")));
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(unique, (1..=50).collect(), "ids: {ids:?}");
}

/// The experiment the lesson promises: without the lock, 200 clients at once get duplicate ids.
#[test]
fn demo_race_gives_duplicate_ids_under_200_concurrent_clients() {
    let server = ServerProcess::start(COUNTER_SERVER, &["--demo-race"]);
    let address = server.address();
    let ids: Vec<u64> = all_at_once(200, move |_| greeting_id(&counter_exchange(address, b"hi")));
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(ids.len(), 200, "every client got a reply");
    assert!(
        unique.len() < 200,
        "expected duplicate ids without the lock, got 200 distinct"
    );
}

for_threads_and_tasks!(a_100_kib_message_still_gets_its_greeting_intact);
/// 100 KiB in one message: the server reads 1024 bytes, answers, and the
/// rest of the message does not turn the close into a reset that loses the reply.
fn a_100_kib_message_still_gets_its_greeting_intact(style: Style) {
    let mut server = ServerProcess::of(Protocol::Counter, style, &[]);
    let mut stream = server.connect();
    let writer = stream.try_clone().unwrap();
    let sender = thread::spawn(move || {
        let mut writer = writer;
        writer.write_all(&vec![b'x'; 100 * 1024])
    });
    assert_eq!(read_to_end(&mut stream), GREETING_1);
    sender
        .join()
        .unwrap()
        .expect("the server read the whole message");
    let says = server.wait_for("Client 1 says: ");
    assert_eq!(says, format!("Client 1 says: {}", "x".repeat(1024)));
}

for_threads_and_tasks!(past_max_clients_a_client_gets_one_error_line_until_a_slot_frees);
/// Past --max-clients a new client gets one ERROR line and end of stream; a slot frees when a client leaves.
fn past_max_clients_a_client_gets_one_error_line_until_a_slot_frees(style: Style) {
    let mut server = ServerProcess::of(Protocol::Counter, style, &["--max-clients", "2"]);
    let first = server.connect();
    let _second = server.connect();
    server.wait_for_count(" connected from ", 2);

    let mut third = server.connect();
    let refusal = read_line(&mut third);
    assert!(
        refusal == "ERROR: too many clients (limit 2); try again later\n",
        "{refusal:?}"
    );
    assert_end_of_stream(&mut third);

    drop(first);
    server.wait_for("disconnected.");
    let reply = once_a_place_frees(|| counter_exchange(server.address(), b"hi"));
    assert!(reply.starts_with("Hello Client 3,"), "{reply:?}");
}

for_threads_and_tasks!(a_silent_client_is_timed_out);
/// A client that connects and never writes is told and closed after --idle-timeout,
/// and the server serves another client meanwhile.
fn a_silent_client_is_timed_out(style: Style) {
    let mut server = ServerProcess::of(Protocol::Counter, style, &["--idle-timeout", "0.5"]);
    let mut silent = server.connect();
    server.wait_for("Client 1 connected");
    assert!(counter_exchange(server.address(), b"hi").starts_with("Hello Client 2,"));

    let started = Instant::now();
    assert_eq!(
        read_line(&mut silent),
        "ERROR: idle timeout, closing the connection\n"
    );
    assert_end_of_stream(&mut silent);
    assert!(started.elapsed() < Duration::from_secs(5));
    server.wait_for("Client 1 sent nothing in time");
}

for_threads_and_tasks!(a_client_that_sends_nothing_and_closes_is_not_greeted);
/// A client that connects and closes its side at once sent no message: it is
/// logged as such and gets no greeting; the next client gets id 2.
fn a_client_that_sends_nothing_and_closes_is_not_greeted(style: Style) {
    let mut server = ServerProcess::of(Protocol::Counter, style, &[]);
    let mut stream = server.connect();
    finish_sending(&stream);
    assert_eq!(read_to_end(&mut stream), "");
    server.wait_for("Client 1 closed the connection without a message.");
    assert!(
        !server
            .lines
            .iter()
            .any(|line| line.starts_with("Client 1 says")),
        "{}",
        server.output()
    );
    let reply = counter_exchange(server.address(), b"hi");
    assert_eq!(greeting_id(&reply), 2);
}

for_threads_and_tasks!(invalid_utf8_gets_an_error_line);
/// Invalid UTF-8 gets an ERROR line, not a crash; the next client is served.
fn invalid_utf8_gets_an_error_line(style: Style) {
    let server = ServerProcess::of(Protocol::Counter, style, &[]);
    assert_eq!(
        counter_exchange(server.address(), b"\xff\xfe\n"),
        "ERROR: message is not valid UTF-8\n"
    );
    assert!(counter_exchange(server.address(), b"hi").starts_with("Hello Client 2,"));
}

for_threads_and_tasks!(a_port_in_use_is_a_clear_error);
/// A port that is taken: one clear line on stderr naming the address and the cause, exit 1.
fn a_port_in_use_is_a_clear_error(style: Style) {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    assert_cmd::Command::new(server_binary(Protocol::Counter, style))
        .args(["--port", &port])
        .timeout(DEADLINE)
        .assert()
        .code(1)
        .stdout("")
        .stderr(
            predicate::str::contains(format!("cannot listen on 127.0.0.1:{port}"))
                .and(predicate::str::contains("in use"))
                .and(predicate::str::contains("panicked").not())
                .and(predicate::function(|err: &str| err.lines().count() == 1)),
        );
}

for_threads_and_tasks!(a_bad_host_is_a_clear_error);
/// A host that does not resolve: the same kind of one-line error.
fn a_bad_host_is_a_clear_error(style: Style) {
    let name = server_name(Protocol::Counter, style);
    assert_cmd::Command::new(server_binary(Protocol::Counter, style))
        .args(["--host", "no-such-host.invalid", "--port", "0"])
        .timeout(DEADLINE)
        .assert()
        .code(1)
        .stderr(
            predicate::str::starts_with(format!(
                "{name}: cannot listen on no-such-host.invalid:0: "
            ))
            .and(predicate::function(|err: &str| err.lines().count() == 1)),
        );
}

/// `client` with no server there: one line with the address, the cause and the command to start one.
#[test]
fn the_client_without_a_server_says_what_to_start() {
    let refusing = refusing_port();
    let port = refusing.port.to_string();
    cargo_bin_cmd!("client")
        .args(["--port", &port])
        .timeout(DEADLINE)
        .assert()
        .code(1)
        .stdout("")
        .stderr(
            predicate::str::contains(format!("cannot connect to 127.0.0.1:{port}"))
                .and(predicate::str::contains("refused"))
                .and(predicate::str::contains("cargo run --bin counter_server"))
                .and(predicate::function(|err: &str| err.lines().count() == 1)),
        );
}

for_threads_and_tasks!(sigint_with_an_idle_client_exits_0_promptly);
/// Ctrl-C (SIGINT) with an idle client connected: the client is told, the server exits 0 within 2 s.
fn sigint_with_an_idle_client_exits_0_promptly(style: Style) {
    shuts_down_cleanly_on(style, Signal::SIGINT);
}

for_threads_and_tasks!(sigterm_with_an_idle_client_exits_0_promptly);
/// SIGTERM (what `kill` and service managers send) does the same as Ctrl-C.
fn sigterm_with_an_idle_client_exits_0_promptly(style: Style) {
    shuts_down_cleanly_on(style, Signal::SIGTERM);
}

fn shuts_down_cleanly_on(style: Style, signal: Signal) {
    let mut server = ServerProcess::of(Protocol::Counter, style, &[]);
    let mut idle = server.connect();
    server.wait_for("Client 1 connected");

    server.signal(signal);
    assert_eq!(read_line(&mut idle), "ERROR: server is shutting down\n");
    assert_end_of_stream(&mut idle);
    server.assert_stops_cleanly_within(Duration::from_secs(2));
    assert!(
        server
            .lines
            .iter()
            .any(|l| l == "Server is shutting down..."),
        "{}",
        server.output()
    );
    assert_eq!(
        server.lines.last().map(String::as_str),
        Some("Server stopped.")
    );
    assert!(server.stderr().is_empty(), "{}", server.output());
}

for_threads_and_tasks!(clients_in_flight_at_shutdown_get_a_whole_answer);
/// Fifty clients mid-exchange when Ctrl-C arrives: each one gets either its
/// greeting or the shutdown line, whole, then end of stream; never a reset, never nothing.
fn clients_in_flight_at_shutdown_get_a_whole_answer(style: Style) {
    let mut server = ServerProcess::of(Protocol::Counter, style, &[]);
    let clients: Vec<_> = (0..50).map(|_| server.connect()).collect();
    server.wait_for_count(" connected from ", 50);
    let start = std::sync::Arc::new(std::sync::Barrier::new(51));
    let exchanges: Vec<_> = clients
        .into_iter()
        .map(|mut stream| {
            let start = std::sync::Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                stream.write_all(b"hello at the last moment").unwrap();
                read_to_end(&mut stream)
            })
        })
        .collect();
    start.wait();
    server.signal(Signal::SIGINT);
    let answers: Vec<String> = exchanges.into_iter().map(|t| t.join().unwrap()).collect();
    for answer in &answers {
        let greeted = answer.starts_with("Hello Client ")
            && answer.ends_with(", server received your message!");
        assert!(
            greeted || answer == "ERROR: server is shutting down\n",
            "{answer:?}"
        );
    }
    server.assert_stops_cleanly_within(Duration::from_secs(2));
}
