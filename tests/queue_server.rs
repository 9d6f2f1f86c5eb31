//! Lesson 3, end to end: the real `queue_server` and `client` binaries over real sockets.
//!
//! A test that takes a [`Style`] runs twice, once against `queue_server` and once
//! against its async twin `async_queue_server` (lesson 5): `NAME::threads` and
//! `NAME::tasks`. Both must pass the same tests; only what is about threads
//! (or about the client alone) runs once.

#[macro_use]
mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::thread;
use std::time::{Duration, Instant};

use support::*;

/// Connects and reads the greeting; returns the stream and the client's number.
fn join(server: &ServerProcess) -> (std::net::TcpStream, u64) {
    let mut stream = server.connect();
    let greeting = read_line(&mut stream);
    let id = greeting
        .strip_prefix("Welcome, Client ")
        .and_then(|rest| rest.split('!').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a greeting: {greeting:?}"));
    (stream, id)
}

fn send(stream: &mut std::net::TcpStream, line: &str) {
    stream.write_all(format!("{line}\n").as_bytes()).unwrap();
}

for_threads_and_tasks!(each_client_is_greeted_with_its_id);
/// Each client is greeted with its own id: Client 1, Client 2, ...
fn each_client_is_greeted_with_its_id(style: Style) {
    let server = ServerProcess::of(Protocol::Queue, style, &[]);
    let ids: Vec<u64> = (0..3).map(|_| join(&server).1).collect();
    assert_eq!(ids, [1, 2, 3]);
}

for_threads_and_tasks!(a_message_is_processed_and_answered_to_its_sender);
/// A line goes through the queue; the processing thread logs it and answers the sender.
fn a_message_is_processed_and_answered_to_its_sender(style: Style) {
    let mut server = ServerProcess::of(Protocol::Queue, style, &[]);
    let (mut stream, id) = join(&server);
    send(&mut stream, "hello, queue");
    assert_eq!(read_line(&mut stream), "Processed: hello, queue\n");
    server.wait_for(&format!("Client {id} says: hello, queue"));
}

for_threads_and_tasks!(replies_and_errors_come_back_in_the_order_sent);
/// Replies keep each client's order, and errors take their place in it.
fn replies_and_errors_come_back_in_the_order_sent(style: Style) {
    let server = ServerProcess::of(Protocol::Queue, style, &[]);
    let (mut stream, _) = join(&server);
    let mut burst = b"one\n\xff\xfe\ntwo\n".to_vec();
    burst.extend([b'x'; 2000]);
    burst.extend(b"\nthree\n");
    stream.write_all(&burst).unwrap();
    assert_eq!(
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

for_threads_and_tasks!(a_goodbye_sent_with_other_lines_comes_after_their_replies);
/// Lines and the goodbye in one write: every reply first, then the goodbye,
/// then end of stream. Leaving goes through the queue, behind the lines.
fn a_goodbye_sent_with_other_lines_comes_after_their_replies(style: Style) {
    let server = ServerProcess::of(Protocol::Queue, style, &[]);
    let (mut stream, id) = join(&server);
    let burst: String = (0..100).map(|n| format!("line {n}\n")).collect();
    stream
        .write_all(format!("{burst}!DISCONNECT\n").as_bytes())
        .unwrap();
    for n in 0..100 {
        assert_eq!(read_line(&mut stream), format!("Processed: line {n}\n"));
    }
    assert_eq!(read_line(&mut stream), format!("Goodbye, Client {id}.\n"));
    assert_end_of_stream(&mut stream);
}

for_threads_and_tasks!(a_flood_of_short_lines_keeps_the_server_small);
/// 100,000 short lines in one write, the replies read as they come. The
/// client's thread (or task) reads lines far faster than the processing
/// thread (or task) answers them; the queue holds at most 1024, so the
/// reader waits for room (and stops reading, and TCP slows the sender), and
/// the server stays small. And a client that reads its replies is never
/// dropped for not reading: the replies, 1.3 MB, fit in the socket buffers
/// even if this test reads slowly, and the async server must not take its
/// writer task falling behind for a client that does not read.
fn a_flood_of_short_lines_keeps_the_server_small(style: Style) {
    const LINES: usize = 100_000;
    let server = ServerProcess::of(Protocol::Queue, style, &["--quiet"]);
    let (stream, _) = join(&server);
    let before = server.peak_resident_kib();
    let writer = stream.try_clone().unwrap();
    let flood = thread::spawn(move || (&writer).write_all("m\n".repeat(LINES).as_bytes()));
    let mut replies = BufReader::new(stream);
    let mut line = String::new();
    for _ in 0..LINES {
        line.clear();
        replies.read_line(&mut line).unwrap();
        assert_eq!(line, "Processed: m\n");
    }
    flood.join().unwrap().unwrap();
    let grown = server.peak_resident_kib().saturating_sub(before);
    assert!(
        grown < 16 * 1024,
        "{LINES} queued lines grew the server by {grown} KiB"
    );
}

for_threads_and_tasks!(fifty_clients_by_fifty_messages_each_get_their_own_replies_in_order);
/// 50 clients at once, 50 messages each: every client gets exactly its own replies, in order.
fn fifty_clients_by_fifty_messages_each_get_their_own_replies_in_order(style: Style) {
    let server = ServerProcess::of(Protocol::Queue, style, &[]);
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
    assert_eq!(greetings.len(), 50, "every client has its own id");
}

for_threads_and_tasks!(a_direct_message_reaches_the_right_client);
/// `@{m} text` goes to Client m, and only to it; the sender gets a confirmation.
fn a_direct_message_reaches_the_right_client(style: Style) {
    let server = ServerProcess::of(Protocol::Queue, style, &[]);
    let (mut first, _) = join(&server);
    let (mut second, second_id) = join(&server);
    let (mut third, _) = join(&server);
    send(&mut first, &format!("@{second_id} hello, second"));
    assert_eq!(read_line(&mut second), "From Client 1: hello, second\n");
    assert_eq!(
        read_line(&mut first),
        "Delivered to Client 2: hello, second\n"
    );
    // The third client got nothing: its next line is the reply to its own message.
    send(&mut third, "anything for me?");
    assert_eq!(read_line(&mut third), "Processed: anything for me?\n");
}

for_threads_and_tasks!(a_direct_message_to_an_unknown_client_is_an_error);
/// A direct message to a client that is not there is an error to the sender.
fn a_direct_message_to_an_unknown_client_is_an_error(style: Style) {
    let server = ServerProcess::of(Protocol::Queue, style, &[]);
    let (mut stream, _) = join(&server);
    send(&mut stream, "@42 anyone?");
    assert_eq!(read_line(&mut stream), "ERROR: there is no Client 42\n");
    send(&mut stream, "@99999999999999999999999 overflow");
    assert!(
        read_line(&mut stream).starts_with("ERROR: a direct message is @<client number> <text>")
    );
    send(&mut stream, "@2");
    assert!(read_line(&mut stream).starts_with("ERROR: a direct message is"));
}

for_threads_and_tasks!(a_direct_message_needs_a_plain_client_number);
/// `@{n} {text}`: `n` written as the server writes a client's number (digits,
/// no sign, no leading zero, no space before it, no larger than a `u64`).
/// Anything else that starts with `@` gets the usage error and is delivered
/// to nobody: `@+2` and `@02` must not reach Client 2.
fn a_direct_message_needs_a_plain_client_number(style: Style) {
    let mut server = ServerProcess::of(Protocol::Queue, style, &[]);
    let (mut first, _) = join(&server);
    let (mut second, second_id) = join(&server);
    assert_eq!(second_id, 2);
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
        assert_eq!(
            read_line(&mut first),
            "ERROR: a direct message is @<client number> <text>, as in @2 hello\n",
            "{line:?}"
        );
    }
    // Client 2 received none of them: its next line answers its own message.
    send(&mut second, "anything for me?");
    assert_eq!(read_line(&mut second), "Processed: anything for me?\n");
    // The plain form still reaches it.
    send(&mut first, "@2 hi");
    assert_eq!(read_line(&mut second), "From Client 1: hi\n");
    assert_eq!(read_line(&mut first), "Delivered to Client 2: hi\n");
}

for_threads_and_tasks!(a_line_it_cannot_accept_is_logged_as_the_echo_server_logs_it);
/// A line that is not UTF-8, and one over 1024 bytes: the sender gets its
/// `ERROR` line, and the console says what came, in the echo server's words
/// ("sent a line that is not UTF-8", "sent a line longer than 1024 bytes"),
/// in its place among the client's messages.
fn a_line_it_cannot_accept_is_logged_as_the_echo_server_logs_it(style: Style) {
    let mut server = ServerProcess::of(Protocol::Queue, style, &[]);
    let (mut stream, id) = join(&server);
    let mut burst = b"before\n\xff\xfe\n".to_vec();
    burst.extend([b'x'; 2000]);
    burst.extend(b"\nafter\n");
    stream.write_all(&burst).unwrap();
    assert_eq!(read_lines(&mut stream, 4)[3], "Processed: after\n");
    server.wait_for(&format!("Client {id} says: before"));
    let next = server.wait_for_line(|_| true);
    assert_eq!(next, format!("Client {id} sent a line that is not UTF-8"));
    let next = server.wait_for_line(|_| true);
    assert_eq!(
        next,
        format!("Client {id} sent a line longer than 1024 bytes")
    );
    let next = server.wait_for_line(|_| true);
    assert_eq!(next, format!("Client {id} says: after"));
}

for_threads_and_tasks!(a_client_that_never_reads_does_not_delay_the_others);
/// A client that floods and never reads is disconnected; the others keep getting replies within a second.
fn a_client_that_never_reads_does_not_delay_the_others(style: Style) {
    let mut server = ServerProcess::of(Protocol::Queue, style, &[]);
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
        assert_eq!(read_line(&mut other), format!("Processed: ping {n}\n"));
        slowest = slowest.max(asked.elapsed());
    }
    server.wait_for(&format!("Client {flooder_id}: not reading its replies"));
    assert!(slowest < Duration::from_secs(1), "a reply took {slowest:?}");
    drop(flooder);
    flood.join().unwrap();
}

for_threads_and_tasks!(a_direct_message_the_target_cannot_take_is_an_error_to_the_sender);
/// Direct messages to a client that never reads: once its buffers are full it
/// is disconnected, and the sender is told the message was not delivered.
fn a_direct_message_the_target_cannot_take_is_an_error_to_the_sender(style: Style) {
    let server = ServerProcess::of(Protocol::Queue, style, &[]);
    let (sender, _) = join(&server);
    let (_never_reads, target) = join(&server);
    let mut sender = sender;
    let body = "d".repeat(1000);
    let deadline = Instant::now() + DEADLINE;
    loop {
        send(&mut sender, &format!("@{target} {body}"));
        let answer = read_line(&mut sender);
        if answer.starts_with("ERROR") {
            assert_eq!(
                answer,
                format!("ERROR: Client {target} was disconnected (not reading); not delivered\n")
            );
            break;
        }
        assert_eq!(answer, format!("Delivered to Client {target}: {body}\n"));
        assert!(
            Instant::now() < deadline,
            "the target's buffers never filled"
        );
    }
    // And from then on, there is no such client.
    send(&mut sender, &format!("@{target} still there?"));
    assert_eq!(
        read_line(&mut sender),
        format!("ERROR: there is no Client {target}\n")
    );
}

for_threads_and_tasks!(a_client_that_leaves_before_its_reply_does_not_stop_the_processing_thread);
/// A client that leaves before its replies does not stop the processing thread.
fn a_client_that_leaves_before_its_reply_does_not_stop_the_processing_thread(style: Style) {
    let mut server = ServerProcess::of(Protocol::Queue, style, &[]);
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
    assert_eq!(read_line(&mut stayer), "Processed: still working?\n");
    server.wait_for("Client 20 disconnected");
}

for_threads_and_tasks!(the_registry_forgets_clients_that_leave);
/// Hundreds of clients come and go: each leaves the registry and frees its socket.
/// The server runs with 64 file descriptors; a leak would exhaust them.
fn the_registry_forgets_clients_that_leave(style: Style) {
    let mut server = under_open_file_limit(64, server_binary(Protocol::Queue, style), &[]);
    for n in 1..=300u64 {
        let (mut stream, id) = join(&server);
        assert_eq!(id, n);
        send(&mut stream, "hello");
        assert_eq!(read_line(&mut stream), "Processed: hello\n");
        if n % 2 == 0 {
            send(&mut stream, "!DISCONNECT");
            assert_eq!(read_line(&mut stream), format!("Goodbye, Client {n}.\n"));
        }
        // Odd clients just close.
    }
    server.wait_for("Client 300 disconnected");
    let (mut last, _) = join(&server);
    send(&mut last, "@1 are you there?");
    assert_eq!(read_line(&mut last), "ERROR: there is no Client 1\n");
    assert!(
        !server.stderr().contains("accept failed"),
        "{}",
        server.output()
    );
}

for_threads_and_tasks!(sigint_answers_every_message_sent_before_it);
/// Ctrl-C with messages in flight: every message sent before it is answered,
/// then each client hears that the server is shutting down, then end of stream.
fn sigint_answers_every_message_sent_before_it(style: Style) {
    answers_everything_then_shuts_down_on(style, Signal::SIGINT);
}

for_threads_and_tasks!(sigterm_answers_every_message_sent_before_it);
/// SIGTERM does the same.
fn sigterm_answers_every_message_sent_before_it(style: Style) {
    answers_everything_then_shuts_down_on(style, Signal::SIGTERM);
}

fn answers_everything_then_shuts_down_on(style: Style, signal: Signal) {
    let mut server = ServerProcess::of(Protocol::Queue, style, &[]);
    let mut clients: Vec<_> = (0..5).map(|_| join(&server)).collect();
    for (stream, id) in &mut clients {
        let burst: String = (0..100)
            .map(|m| format!("client {id} message {m}\n"))
            .collect();
        stream.write_all(burst.as_bytes()).unwrap();
    }
    server.signal(signal);
    for (stream, id) in &mut clients {
        for m in 0..100 {
            assert_eq!(
                read_line(stream),
                format!("Processed: client {id} message {m}\n")
            );
        }
        assert_eq!(read_line(stream), "Server is shutting down. Goodbye!\n");
        assert_end_of_stream(stream);
    }
    server.assert_stops_cleanly_within(Duration::from_secs(2));
    assert_eq!(server.lines.last().unwrap(), "Server stopped.");
    let said = server
        .lines
        .iter()
        .filter(|l| l.contains(" says: client "))
        .count();
    assert_eq!(said, 500, "{}", server.output());
}

for_threads_and_tasks!(a_client_flooding_through_shutdown_does_not_delay_it);
/// A client still flooding the server when Ctrl-C arrives does not hold up the
/// exit: its thread stops reading a quarter second after the signal, so every
/// client thread finishes and the others get all their replies and the notice.
fn a_client_flooding_through_shutdown_does_not_delay_it(style: Style) {
    let mut server = ServerProcess::of(Protocol::Queue, style, &[]);
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
        assert_eq!(read_line(&mut steady), format!("Processed: steady {n}\n"));
    }
    server.signal(Signal::SIGINT);
    assert_eq!(
        read_line(&mut steady),
        "Server is shutting down. Goodbye!\n"
    );
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

for_threads_and_tasks!(an_idle_client_is_timed_out);
/// A client that sends nothing for --idle-timeout is told and closed.
fn an_idle_client_is_timed_out(style: Style) {
    let server = ServerProcess::of(Protocol::Queue, style, &["--idle-timeout", "0.5"]);
    let (mut idle, _) = join(&server);
    assert_eq!(
        read_line(&mut idle),
        "ERROR: idle timeout, closing the connection\n"
    );
    assert_end_of_stream(&mut idle);
}

/// The interactive client prints what the server pushes while it waits for input.
#[test]
fn the_interactive_client_prints_pushed_messages() {
    let mut server = ServerProcess::start(QUEUE_SERVER, &[]);
    let mut typist = ClientProcess::start(&["queue", "--port", &server.port.to_string()]);
    assert!(typist.next_line().starts_with("Welcome, Client 1!"));
    server.wait_for("Client 1 connected");
    let (mut other, _) = join(&server);
    send(&mut other, "@1 are you there?");
    assert_eq!(typist.next_line(), "From Client 2: are you there?");
    typist.type_line("yes!");
    assert_eq!(typist.next_line(), "Processed: yes!");
    let (rest, status) = typist.finish();
    assert_eq!(rest, ["Goodbye, Client 1."]);
    assert!(status.success());
}

/// A client still typing as fast as it can when the server stops: it prints
/// every reply, in order, with the shutdown line last, and says the server
/// closed the connection, whichever of its threads notices first (a send that
/// fails with `Broken pipe` must not end it before the last replies are shown).
#[test]
fn the_interactive_client_typing_through_shutdown_prints_every_reply() {
    let mut server = ServerProcess::start(QUEUE_SERVER, &[]);
    let mut typist = ClientProcess::start(&["queue", "--port", &server.port.to_string()]);
    assert!(typist.next_line().starts_with("Welcome, Client 1!"));
    let mut stdin = typist.take_stdin();
    // Types until the client exits and its stdin breaks.
    let typing = thread::spawn(move || {
        for n in 0.. {
            if writeln!(stdin, "message {n}").is_err() {
                break;
            }
        }
    });
    let mut replies = Vec::new();
    while replies.len() < 1000 {
        replies.push(typist.next_line());
    }
    server.signal(Signal::SIGINT);
    server.assert_stops_cleanly_within(Duration::from_secs(2));
    let (rest, status, stderr) = typist.wait_with_stderr();
    typing.join().unwrap();
    replies.extend(rest);
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr
            .trim_end()
            .ends_with("the server closed the connection"),
        "{stderr}"
    );
    assert_eq!(
        replies.pop().as_deref(),
        Some("Server is shutting down. Goodbye!")
    );
    for (n, reply) in replies.iter().enumerate() {
        assert_eq!(reply, &format!("Processed: message {n}"));
    }
}

/// When the server shuts down, the interactive client says so and exits, even mid-typing.
#[test]
fn the_interactive_client_exits_when_the_server_stops() {
    let mut server = ServerProcess::start(QUEUE_SERVER, &[]);
    let typist = ClientProcess::start(&["queue", "--port", &server.port.to_string()]);
    assert!(typist.next_line().starts_with("Welcome, Client 1!"));
    server.signal(Signal::SIGINT);
    assert_eq!(typist.next_line(), "Server is shutting down. Goodbye!");
    // Its stdin is still open: it must notice the server left on its own.
    server.assert_stops_cleanly_within(Duration::from_secs(2));
    let (_, client_status) = typist.wait();
    assert_eq!(client_status.code(), Some(1));
}
