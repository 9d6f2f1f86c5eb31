//! Lesson 1's promises, as checks any counter server can be run against:
//! `tests/counter_server.rs` runs them against `counter_server` and its
//! twins, the exercises against the learner's server.

use std::collections::BTreeSet;
use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use super::client::*;
use super::process::{Signal, Target};
use crate::protocol::Protocol;

/// The protocol these checks speak.
pub const PROTOCOL: Protocol = Protocol::Counter;

/// The greeting the first client gets.
const GREETING_1: &str = "Hello Client 1, server received your message!";

/// The reply is exactly the original's text: no newline, nothing before or after, then the server closes.
pub fn the_reply_is_exact(target: &Target) {
    let server = target.start(&[]);
    expect_eq!(
        counter_exchange(server.address(), b"Hello, Server!"),
        GREETING_1
    );
}

/// The original's client (originals/counter_client.py) sends no newline and keeps its socket open while it waits.
pub fn a_client_that_sends_no_newline_and_keeps_its_socket_open_gets_its_reply(target: &Target) {
    let server = target.start(&[]);
    let mut stream = server.connect();
    stream.write_all(b"Hello, Server!").unwrap();
    // No shutdown, no newline: the server must answer on what one read gave it.
    expect_eq!(read_to_end(&mut stream), GREETING_1);
}

/// Fifty clients at once get the ids 1 to 50, each exactly once: the lock works.
pub fn fifty_clients_at_once_get_ids_exactly_1_to_50(target: &Target) {
    let server = target.start(&[]);
    let address = server.address();
    let ids: Vec<u64> = all_at_once(50, move |_| greeting_id(&counter_exchange(address, b"hi")));
    let unique: BTreeSet<u64> = ids.iter().copied().collect();
    expect_eq!(unique, (1..=50).collect(), "ids: {ids:?}");
}

/// 100 KiB in one message: the server reads 1024 bytes, answers, and the
/// rest of the message does not turn the close into a reset that loses the reply.
pub fn a_100_kib_message_still_gets_its_greeting_intact(target: &Target) {
    let mut server = target.start(&[]);
    let mut stream = server.connect();
    let writer = stream.try_clone().unwrap();
    let sender = thread::spawn(move || {
        let mut writer = writer;
        writer.write_all(&vec![b'x'; 100 * 1024])
    });
    expect_eq!(read_to_end(&mut stream), GREETING_1);
    sender
        .join()
        .unwrap()
        .expect("the server read the whole message");
    let says = server.wait_for("Client 1 says: ");
    expect_eq!(says, format!("Client 1 says: {}", "x".repeat(1024)));
}

/// Past --max-clients a new client gets one ERROR line and end of stream; a slot frees when a client leaves.
pub fn past_max_clients_a_client_gets_one_error_line_until_a_slot_frees(target: &Target) {
    let mut server = target.start(&["--max-clients", "2"]);
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

/// A client that connects and never writes is told and closed after --idle-timeout,
/// and the server serves another client meanwhile.
pub fn a_silent_client_is_timed_out(target: &Target) {
    let mut server = target.start(&["--idle-timeout", "0.5"]);
    let mut silent = server.connect();
    server.wait_for("Client 1 connected");
    assert!(counter_exchange(server.address(), b"hi").starts_with("Hello Client 2,"));

    let started = Instant::now();
    expect_line(&mut silent, "ERROR: idle timeout, closing the connection\n");
    assert_end_of_stream(&mut silent);
    assert!(started.elapsed() < Duration::from_secs(5));
    server.wait_for("Client 1 sent nothing in time");
}

/// A client that connects and closes its side at once sent no message: it is
/// logged as such and gets no greeting; the next client gets id 2.
pub fn a_client_that_sends_nothing_and_closes_is_not_greeted(target: &Target) {
    let mut server = target.start(&[]);
    let mut stream = server.connect();
    finish_sending(&stream);
    expect_eq!(read_to_end(&mut stream), "");
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
    expect_eq!(greeting_id(&reply), 2);
}

/// Invalid UTF-8 gets an ERROR line, not a crash; the next client is served.
pub fn invalid_utf8_gets_an_error_line(target: &Target) {
    let server = target.start(&[]);
    expect_eq!(
        counter_exchange(server.address(), b"\xff\xfe\n"),
        "ERROR: message is not valid UTF-8\n"
    );
    assert!(counter_exchange(server.address(), b"hi").starts_with("Hello Client 2,"));
}

/// Ctrl-C (SIGINT) with an idle client connected: the client is told, the server exits 0 within 2 s.
pub fn sigint_with_an_idle_client_exits_0_promptly(target: &Target) {
    shuts_down_cleanly_on(target, None);
}

/// SIGTERM (what `kill` and service managers send) does the same as Ctrl-C.
pub fn sigterm_with_an_idle_client_exits_0_promptly(target: &Target) {
    shuts_down_cleanly_on(target, Some(Signal::SIGTERM));
}

pub fn shuts_down_cleanly_on(target: &Target, signal: Option<Signal>) {
    let mut server = target.start(&[]);
    let mut idle = server.connect();
    server.wait_for("Client 1 connected");

    server.stop_with(signal);
    expect_line(&mut idle, "ERROR: server is shutting down\n");
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
    expect_eq!(
        server.lines.last().map(String::as_str),
        Some("Server stopped.")
    );
    assert!(server.stderr().is_empty(), "{}", server.output());
}

/// Fifty clients mid-exchange when Ctrl-C arrives: each one gets either its
/// greeting or the shutdown line, whole, then end of stream; never a reset, never nothing.
pub fn clients_in_flight_at_shutdown_get_a_whole_answer(target: &Target) {
    let mut server = target.start(&[]);
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
    server.stop();
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

// Lesson 4: a pool of worker threads (`--workers N`).

/// While one worker waits on a silent client, another serves the next one:
/// the workers do not hold the queue's lock while they serve.
pub fn a_pool_serves_others_while_one_worker_waits(target: &Target) {
    let mut server = target.start(&["--workers", "2", "--idle-timeout", "5"]);
    let _silent = server.connect();
    server.wait_for("Client 1 connected");
    let asked = Instant::now();
    let reply = counter_exchange(server.address(), b"anyone free?");
    assert!(reply.starts_with("Hello Client 2,"), "{reply}");
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "the second worker was blocked"
    );
}

/// A pool of 2 cannot serve a third client while two hold their workers:
/// the third is answered only when one of them leaves.
pub fn a_pool_of_two_cannot_serve_a_third_long_session(target: &Target) {
    let mut server = target.start(&["--workers", "2", "--idle-timeout", "1"]);
    let _silent: Vec<_> = (0..2).map(|_| server.connect()).collect();
    server.wait_for_count(" connected from ", 2);
    let asked = Instant::now();
    let reply = counter_exchange(server.address(), b"am I served?");
    let waited = asked.elapsed();
    assert!(reply.starts_with("Hello Client 3,"), "{reply}");
    assert!(
        waited >= Duration::from_millis(500),
        "answered after {waited:?}: no worker should have been free"
    );
}

/// With a pool, Ctrl-C still ends within two seconds: the idle client is told,
/// and a client waiting in the queue for a worker is served.
pub fn the_worker_pool_shuts_down_cleanly(target: &Target) {
    let mut server = target.start(&["--workers", "1"]);
    let mut idle = server.connect();
    server.wait_for("Client 1 connected");
    let fds = server.open_fds();
    // Accepted (one more descriptor), then queued behind the idle client for the only worker.
    let mut waiting = server.connect();
    waiting.write_all(b"hi").unwrap();
    eventually("the server has accepted it", || {
        server.open_fds() == fds + 1
    });
    server.stop();
    expect_line(&mut idle, "ERROR: server is shutting down\n");
    expect_eq!(
        read_to_end(&mut waiting),
        "Hello Client 2, server received your message!"
    );
    server.assert_stops_cleanly_within(Duration::from_secs(2));
}
