//! Lesson 3's promises, as checks any queue server can be run against:
//! `tests/queue_server.rs` runs them against `queue_server` and its twins,
//! the exercises against the learner's server.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::thread;
use std::time::{Duration, Instant};

use super::DEADLINE;
use super::client::*;
use super::process::{ServerProcess, Signal, Target};
use crate::protocol::Protocol;

/// The protocol these checks speak.
pub const PROTOCOL: Protocol = Protocol::Queue;

/// Connects and reads the greeting; returns the stream and the client's number.
pub fn join(server: &ServerProcess) -> (std::net::TcpStream, u64) {
    let mut stream = server.connect();
    let greeting = read_line(&mut stream);
    let id = greeting
        .strip_prefix("Welcome, Client ")
        .and_then(|rest| rest.split('!').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a greeting: {greeting:?}"));
    (stream, id)
}

/// Sends one line.
pub fn send(stream: &mut std::net::TcpStream, line: &str) {
    stream.write_all(format!("{line}\n").as_bytes()).unwrap();
}

/// Each client is greeted with its own id: Client 1, Client 2, ...
pub fn each_client_is_greeted_with_its_id(target: &Target) {
    let server = target.start(&[]);
    let ids: Vec<u64> = (0..3).map(|_| join(&server).1).collect();
    expect_eq!(ids, [1, 2, 3]);
}

/// A line goes through the queue; the processing thread logs it and answers the sender.
pub fn a_message_is_processed_and_answered_to_its_sender(target: &Target) {
    let mut server = target.start(&[]);
    let (mut stream, id) = join(&server);
    send(&mut stream, "hello, queue");
    expect_line(&mut stream, "Processed: hello, queue\n");
    server.wait_for(&format!("Client {id} says: hello, queue"));
}

/// Replies keep each client's order, and errors take their place in it.
pub fn replies_and_errors_come_back_in_the_order_sent(target: &Target) {
    let server = target.start(&[]);
    let (mut stream, _) = join(&server);
    let mut burst = b"one\n\xff\xfe\ntwo\n".to_vec();
    burst.extend([b'x'; 2000]);
    burst.extend(b"\nthree\n");
    stream.write_all(&burst).unwrap();
    expect_eq!(
        read_lines(&mut stream, 5),
        [
            "Processed: one\n",
            "ERROR: message is not valid UTF-8\n",
            "Processed: two\n",
            "ERROR: message longer than 1024 bytes\n",
            "Processed: three\n"
        ]
    );
}

/// Lines and the goodbye in one write: every reply first, then the goodbye,
/// then end of stream. Leaving goes through the queue, behind the lines.
pub fn a_goodbye_sent_with_other_lines_comes_after_their_replies(target: &Target) {
    let server = target.start(&[]);
    let (mut stream, id) = join(&server);
    let burst: String = (0..100).map(|n| format!("line {n}\n")).collect();
    stream
        .write_all(format!("{burst}!DISCONNECT\n").as_bytes())
        .unwrap();
    for n in 0..100 {
        expect_line(&mut stream, &format!("Processed: line {n}\n"));
    }
    expect_line(&mut stream, &format!("Goodbye, Client {id}.\n"));
    assert_end_of_stream(&mut stream);
}

/// 100,000 short lines in one write, the replies read as they come. The
/// client's thread (or task) reads lines far faster than the processing
/// thread (or task) answers them; the queue holds at most 1024, so the
/// reader waits for room (and stops reading, and TCP slows the sender), and
/// the server stays small. And a client that reads its replies is never
/// dropped for not reading: the replies, 1.3 MB, fit in the socket buffers
/// even if this test reads slowly, and the async server must not take its
/// writer task falling behind for a client that does not read.
pub fn a_flood_of_short_lines_keeps_the_server_small(target: &Target) {
    const LINES: usize = 100_000;
    let server = target.start(&["--quiet"]);
    let (stream, _) = join(&server);
    let before = server.peak_resident_kib();
    let writer = stream.try_clone().unwrap();
    let flood = thread::spawn(move || (&writer).write_all("m\n".repeat(LINES).as_bytes()));
    let mut replies = BufReader::new(stream);
    let mut line = String::new();
    for _ in 0..LINES {
        line.clear();
        replies.read_line(&mut line).unwrap();
        expect_eq!(line, "Processed: m\n");
    }
    flood.join().unwrap().unwrap();
    let grown = server.peak_resident_kib().saturating_sub(before);
    assert!(
        grown < 16 * 1024,
        "expected the server to grow by less than 16 MiB; {LINES} short lines grew it by {grown} KiB"
    );
}

/// 50 clients at once, 50 messages each: every client gets exactly its own replies, in order.
pub fn fifty_clients_by_fifty_messages_each_get_their_own_replies_in_order(target: &Target) {
    let server = target.start(&[]);
    let address = server.address();
    let results = all_at_once(50, move |n| {
        let mut stream = connect(address);
        let greeting = read_line(&mut stream);
        let sent: Vec<String> = (0..50).map(|m| format!("client {n} message {m}")).collect();
        let burst: String = sent.iter().map(|line| format!("{line}\n")).collect();
        stream.write_all(burst.as_bytes()).unwrap();
        let replies = read_lines(&mut stream, 50);
        let expected: Vec<String> = sent
            .iter()
            .map(|line| format!("Processed: {line}\n"))
            .collect();
        send(&mut stream, "!DISCONNECT");
        assert!(read_line(&mut stream).starts_with("Goodbye"));
        assert_end_of_stream(&mut stream);
        (greeting, replies == expected)
    });
    assert!(results.iter().all(|(_, in_order)| *in_order));
    let greetings: BTreeSet<String> = results.into_iter().map(|(greeting, _)| greeting).collect();
    expect_eq!(greetings.len(), 50, "every client has its own id");
}

/// `@{m} text` goes to Client m, and only to it; the sender gets a confirmation.
pub fn a_direct_message_reaches_the_right_client(target: &Target) {
    let server = target.start(&[]);
    let (mut first, _) = join(&server);
    let (mut second, second_id) = join(&server);
    let (mut third, _) = join(&server);
    send(&mut first, &format!("@{second_id} hello, second"));
    expect_line(&mut second, "From Client 1: hello, second\n");
    expect_line(&mut first, "Delivered to Client 2: hello, second\n");
    // The third client got nothing: its next line is the reply to its own message.
    send(&mut third, "anything for me?");
    expect_line(&mut third, "Processed: anything for me?\n");
}

/// A direct message to a client that is not there is an error to the sender.
pub fn a_direct_message_to_an_unknown_client_is_an_error(target: &Target) {
    let server = target.start(&[]);
    let (mut stream, _) = join(&server);
    send(&mut stream, "@42 anyone?");
    expect_line(&mut stream, "ERROR: there is no Client 42\n");
    send(&mut stream, "@99999999999999999999999 overflow");
    assert!(
        read_line(&mut stream).starts_with("ERROR: a direct message is @<client number> <text>")
    );
    send(&mut stream, "@2");
    assert!(read_line(&mut stream).starts_with("ERROR: a direct message is"));
}

/// A client that floods and never reads is disconnected; the others keep getting replies within a second.
pub fn a_client_that_never_reads_does_not_delay_the_others(target: &Target) {
    let mut server = target.start(&[]);
    let (flooder, flooder_id) = join(&server);
    let mut writer = flooder.try_clone().unwrap();
    let flood = thread::spawn(move || {
        let line = format!("{}\n", "x".repeat(1000));
        while writer.write_all(line.as_bytes()).is_ok() {}
    });
    let (mut other, _) = join(&server);
    let mut slowest = Duration::ZERO;
    for n in 0..200 {
        let asked = Instant::now();
        send(&mut other, &format!("ping {n}"));
        expect_line(&mut other, &format!("Processed: ping {n}\n"));
        slowest = slowest.max(asked.elapsed());
    }
    server.wait_for(&format!("Client {flooder_id}: not reading its replies"));
    // Its own thread (task, state) learns why it was let go, and says so.
    server.wait_for(&format!(
        "Client {flooder_id} disconnected (not reading what it is sent)"
    ));
    assert!(slowest < Duration::from_secs(1), "a reply took {slowest:?}");
    drop(flooder);
    flood.join().unwrap();
}

/// Direct messages to a client that never reads: once its buffers are full it
/// is disconnected, and the sender is told the message was not delivered.
pub fn a_direct_message_the_target_cannot_take_is_an_error_to_the_sender(target: &Target) {
    let server = target.start(&[]);
    let (sender, _) = join(&server);
    let (_never_reads, target) = join(&server);
    let mut sender = sender;
    let body = "d".repeat(1000);
    let deadline = Instant::now() + DEADLINE;
    loop {
        send(&mut sender, &format!("@{target} {body}"));
        let answer = read_line(&mut sender);
        if answer.starts_with("ERROR") {
            expect_eq!(
                answer,
                format!("ERROR: Client {target} was disconnected (not reading); not delivered\n")
            );
            break;
        }
        expect_eq!(answer, format!("Delivered to Client {target}: {body}\n"));
        assert!(
            Instant::now() < deadline,
            "the target's buffers never filled"
        );
    }
    // And from then on, there is no such client.
    send(&mut sender, &format!("@{target} still there?"));
    expect_line(
        &mut sender,
        &format!("ERROR: there is no Client {target}\n"),
    );
}

/// A client that leaves before its replies does not stop the processing thread.
pub fn a_client_that_leaves_before_its_reply_does_not_stop_the_processing_thread(target: &Target) {
    let mut server = target.start(&[]);
    for _ in 0..20 {
        let (mut leaver, _) = join(&server);
        leaver
            .write_all("bye before the reply\n".repeat(50).as_bytes())
            .unwrap();
        // A reset, not a polite close: the harshest way to leave.
        socket2::SockRef::from(&leaver)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
    }
    let (mut stayer, _) = join(&server);
    send(&mut stayer, "still working?");
    expect_line(&mut stayer, "Processed: still working?\n");
    server.wait_for("Client 20 disconnected");
}

/// Ctrl-C with messages in flight: every message sent before it is answered,
/// then each client hears that the server is shutting down, then end of stream.
pub fn sigint_answers_every_message_sent_before_it(target: &Target) {
    answers_everything_then_shuts_down_on(target, None);
}

/// SIGTERM does the same.
pub fn sigterm_answers_every_message_sent_before_it(target: &Target) {
    answers_everything_then_shuts_down_on(target, Some(Signal::SIGTERM));
}

pub fn answers_everything_then_shuts_down_on(target: &Target, signal: Option<Signal>) {
    let mut server = target.start(&[]);
    let mut clients: Vec<_> = (0..5).map(|_| join(&server)).collect();
    for (stream, id) in &mut clients {
        let burst: String = (0..100)
            .map(|m| format!("client {id} message {m}\n"))
            .collect();
        stream.write_all(burst.as_bytes()).unwrap();
    }
    server.stop_with(signal);
    for (stream, id) in &mut clients {
        for m in 0..100 {
            expect_eq!(
                read_line(stream),
                format!("Processed: client {id} message {m}\n")
            );
        }
        expect_eq!(read_line(stream), "Server is shutting down. Goodbye!\n");
        assert_end_of_stream(stream);
    }
    server.assert_stops_cleanly_within(Duration::from_secs(2));
    expect_eq!(server.lines.last().unwrap(), "Server stopped.");
    let said = server
        .lines
        .iter()
        .filter(|l| l.contains(" says: client "))
        .count();
    expect_eq!(said, 500, "{}", server.output());
}

/// A client still flooding the server when Ctrl-C arrives does not hold up the
/// exit: its thread stops reading a quarter second after the signal, so every
/// client thread finishes and the others get all their replies and the notice.
pub fn a_client_flooding_through_shutdown_does_not_delay_it(target: &Target) {
    let mut server = target.start(&[]);
    let (flooder, _) = join(&server);
    let writer = flooder.try_clone().unwrap();
    let flood = thread::spawn(move || {
        // Short lines, written as fast as they can go, as `seq | client queue` does.
        let mut n = 0u64;
        while (&writer)
            .write_all(format!("message {n}\n").as_bytes())
            .is_ok()
        {
            n += 1;
        }
    });
    // The flooder's replies are read too, so that only the shutdown can stop it.
    let reader = flooder.try_clone().unwrap();
    let drain = thread::spawn(move || std::io::copy(&mut &reader, &mut std::io::sink()));
    let (mut steady, _) = join(&server);
    let burst: String = (0..100).map(|n| format!("steady {n}\n")).collect();
    steady.write_all(burst.as_bytes()).unwrap();
    for n in 0..100 {
        expect_line(&mut steady, &format!("Processed: steady {n}\n"));
    }
    server.stop();
    expect_line(&mut steady, "Server is shutting down. Goodbye!\n");
    server.assert_stops_cleanly_within(Duration::from_secs(1));
    assert!(
        !server.stderr().contains("did not finish in time"),
        "{}",
        server.output()
    );
    // Wakes the flooding and draining threads at once.
    let _ = flooder.shutdown(std::net::Shutdown::Both);
    flood.join().unwrap();
    let _ = drain.join().unwrap();
}

/// A client that sends nothing for --idle-timeout is told and closed.
pub fn an_idle_client_is_timed_out(target: &Target) {
    let server = target.start(&["--idle-timeout", "0.5"]);
    let (mut idle, _) = join(&server);
    expect_line(&mut idle, "ERROR: idle timeout, closing the connection\n");
    assert_end_of_stream(&mut idle);
}

/// Hundreds of clients come and go: each leaves the registry and frees its socket.
/// The server runs with 64 file descriptors; a leak would exhaust them.
pub fn the_registry_forgets_clients_that_leave(target: &Target) {
    let mut server = target.start_with_open_file_limit(64, &[]);
    for n in 1..=300u64 {
        let (mut stream, id) = join(&server);
        expect_eq!(id, n);
        send(&mut stream, "hello");
        expect_line(&mut stream, "Processed: hello\n");
        if n % 2 == 0 {
            send(&mut stream, "!DISCONNECT");
            expect_line(&mut stream, &format!("Goodbye, Client {n}.\n"));
        }
        // Odd clients just close.
    }
    server.wait_for("Client 300 disconnected");
    let (mut last, _) = join(&server);
    send(&mut last, "@1 are you there?");
    expect_line(&mut last, "ERROR: there is no Client 1\n");
    assert!(
        !server.stderr().contains("accept failed"),
        "{}",
        server.output()
    );
}

/// `@{n} {text}`: `n` written as the server writes a client's number (digits,
/// no sign, no leading zero, no space before it, no larger than a `u64`).
/// Anything else that starts with `@` gets the usage error and is delivered
/// to nobody: `@+2` and `@02` must not reach Client 2.
pub fn a_direct_message_needs_a_plain_client_number(target: &Target) {
    let mut server = target.start(&[]);
    let (mut first, _) = join(&server);
    let (mut second, second_id) = join(&server);
    expect_eq!(second_id, 2);
    // Logged once it is registered (the threaded server welcomes first).
    server.wait_for("Client 2 connected");
    for line in [
        "@+2 hi",
        "@02 hi",
        "@ 2 hi",
        "@-1 hi",
        "@2x hi",
        "@18446744073709551616 hi",
        "@\u{662} hi", // ARABIC-INDIC DIGIT TWO: not an ASCII digit
    ] {
        send(&mut first, line);
        expect_eq!(
            read_line(&mut first),
            "ERROR: a direct message is @<client number> <text>, as in @2 hello\n",
            "after {line:?}"
        );
    }
    // Client 2 received none of them: its next line answers its own message.
    send(&mut second, "anything for me?");
    expect_line(&mut second, "Processed: anything for me?\n");
    // The plain form still reaches it.
    send(&mut first, "@2 hi");
    expect_line(&mut second, "From Client 1: hi\n");
    expect_line(&mut first, "Delivered to Client 2: hi\n");
}

/// A line that is not UTF-8, and one over 1024 bytes: the sender gets its
/// `ERROR` line, and the console says what came, in the echo server's words
/// ("sent a line that is not UTF-8", "sent a line longer than 1024 bytes"),
/// in its place among the client's messages.
pub fn a_line_it_cannot_accept_is_logged_as_the_echo_server_logs_it(target: &Target) {
    let mut server = target.start(&[]);
    let (mut stream, id) = join(&server);
    let mut burst = b"before\n\xff\xfe\n".to_vec();
    burst.extend([b'x'; 2000]);
    burst.extend(b"\nafter\n");
    stream.write_all(&burst).unwrap();
    expect_eq!(read_lines(&mut stream, 4)[3], "Processed: after\n");
    server.wait_for(&format!("Client {id} says: before"));
    let next = server.wait_for_line(|_| true);
    expect_eq!(next, format!("Client {id} sent a line that is not UTF-8"));
    let next = server.wait_for_line(|_| true);
    expect_eq!(
        next,
        format!("Client {id} sent a line longer than 1024 bytes")
    );
    let next = server.wait_for_line(|_| true);
    expect_eq!(next, format!("Client {id} says: after"));
}
