//! Lesson 2's promises, as checks any echo server can be run against:
//! `tests/echo_server.rs` runs them against `echo_server` and its twins,
//! the exercises against the learner's server.

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use super::client::*;
use super::process::{ServerProcess, Signal, Target};
use crate::protocol::Protocol;

/// The protocol these checks speak.
pub const PROTOCOL: Protocol = Protocol::Echo;

/// How many messages the server has logged (`[address] text` lines).
pub fn messages_logged(server: &ServerProcess) -> usize {
    server
        .lines
        .iter()
        .filter(|l| l.starts_with("[127.0.0.1:"))
        .count()
}

/// The original's start-up lines, with the real port.
pub fn the_server_prints_the_originals_start_up_lines(target: &Target) {
    let server = target.start(&[]);
    expect_eq!(server.lines[0], "[STARTING] Server is starting...");
    expect_eq!(
        server.lines[1],
        format!("[LISTENING] Server is listening on port {}", server.port)
    );
}

/// Many lines on one connection come back identical and in order.
pub fn every_line_comes_back_identical_and_in_order(target: &Target) {
    let server = target.start(&[]);
    let mut stream = server.connect();
    let lines: Vec<String> = (0..200)
        .map(|n| format!("line {n}: héllo wörld ✓"))
        .collect();
    for line in &lines {
        stream.write_all(format!("{line}\n").as_bytes()).unwrap();
        expect_line(&mut stream, &format!("{line}\n"));
    }
}

/// Several lines in one write are several messages.
pub fn several_lines_in_one_write_are_several_echoes(target: &Target) {
    let mut server = target.start(&[]);
    let mut stream = server.connect();
    stream.write_all(b"one\ntwo\nthree\n").unwrap();
    expect_eq!(read_lines(&mut stream, 3), ["one\n", "two\n", "three\n"]);
    server.wait_for("] three");
    expect_eq!(messages_logged(&server), 3, "{}", server.output());
}

/// One line written a byte at a time is one message.
pub fn one_line_written_a_byte_at_a_time_is_one_echo(target: &Target) {
    let mut server = target.start(&[]);
    let mut stream = server.connect();
    stream.set_nodelay(true).unwrap();
    for byte in b"hello, byte by byte\n" {
        stream.write_all(&[*byte]).unwrap();
        stream.flush().unwrap();
    }
    expect_line(&mut stream, "hello, byte by byte\n");
    stream.write_all(b"next\n").unwrap();
    expect_line(&mut stream, "next\n");
    server.wait_for("] next");
    expect_eq!(messages_logged(&server), 2, "{}", server.output());
}

/// A `\r\n` line comes back as it came, and `!DISCONNECT\r\n` ends the session.
pub fn crlf_lines_are_echoed_as_they_came_and_crlf_disconnect_works(target: &Target) {
    let server = target.start(&[]);
    let mut stream = server.connect();
    stream.write_all(b"windows\r\n").unwrap();
    expect_line(&mut stream, "windows\r\n");
    stream.write_all(b"!DISCONNECT\r\n").unwrap();
    assert_end_of_stream(&mut stream);
}

/// An empty line is a message too.
pub fn an_empty_line_is_echoed(target: &Target) {
    let server = target.start(&[]);
    let mut stream = server.connect();
    stream.write_all(b"\nafter\n").unwrap();
    expect_eq!(read_lines(&mut stream, 2), ["\n", "after\n"]);
}

/// Invalid UTF-8 gets one ERROR line; the next line on the same connection is echoed.
pub fn invalid_utf8_gets_an_error_and_the_session_goes_on(target: &Target) {
    let server = target.start(&[]);
    let mut stream = server.connect();
    stream.write_all(b"\xff\xfe not text\nafter\n").unwrap();
    expect_eq!(
        read_lines(&mut stream, 2),
        ["ERROR: message is not valid UTF-8\n", "after\n"]
    );
}

/// A line over 1024 bytes gets one ERROR line; exactly 1024 is fine; the session goes on.
pub fn an_over_long_line_gets_an_error_and_the_session_goes_on(target: &Target) {
    let server = target.start(&[]);
    let mut stream = server.connect();
    let longest = "a".repeat(1024);
    let writer = stream.try_clone().unwrap();
    let longest_line = format!("{longest}\n");
    let sender = thread::spawn(move || {
        let mut writer = writer;
        writer.write_all(&[b'b'; 100_000])?;
        writer.write_all(b"\nafter\n")?;
        writer.write_all(longest_line.as_bytes())
    });
    expect_eq!(
        read_lines(&mut stream, 3),
        [
            "ERROR: message longer than 1024 bytes\n".to_string(),
            "after\n".to_string(),
            format!("{longest}\n")
        ]
    );
    sender.join().unwrap().unwrap();
}

/// `!DISCONNECT` ends the session: nothing sent after it is echoed.
pub fn disconnect_ends_the_session_and_nothing_after_it_is_echoed(target: &Target) {
    let mut server = target.start(&[]);
    let mut stream = server.connect();
    stream.write_all(b"a\n!DISCONNECT\nafter\n").unwrap();
    expect_eq!(read_to_end(&mut stream), "a\n");
    drop(stream);
    server.wait_for("[Client disconnected]");
    assert!(
        !server.lines.iter().any(|l| l.ends_with("] after")),
        "{}",
        server.output()
    );
}

/// A line split around `!DISCONNECT` is still the disconnect message.
pub fn a_disconnect_split_across_writes_still_disconnects(target: &Target) {
    let mut server = target.start(&[]);
    let mut stream = server.connect();
    stream.write_all(b"!DISCON").unwrap();
    // The first half is read on its own before the rest is sent.
    wait_until_server_has_read(&stream);
    stream.write_all(b"NECT\n").unwrap();
    expect_eq!(read_to_end(&mut stream), "");
    drop(stream);
    server.wait_for("sent !DISCONNECT");
}

/// End of stream ends the session.
pub fn end_of_stream_ends_the_session(target: &Target) {
    let mut server = target.start(&[]);
    let mut stream = server.connect();
    stream.write_all(b"a\n").unwrap();
    finish_sending(&stream);
    expect_eq!(read_to_end(&mut stream), "a\n");
    let left = server.wait_for("[Client disconnected]");
    assert!(left.ends_with("closed the connection"), "{left}");
}

/// Bytes after the last newline when the stream ends are not a message: the
/// client (still reading, after a half-close) is told they were dropped.
pub fn a_last_line_without_a_newline_is_dropped_with_an_error(target: &Target) {
    let mut server = target.start(&[]);
    let mut stream = server.connect();
    stream.write_all(b"a\nno newline").unwrap();
    finish_sending(&stream);
    expect_eq!(
        read_to_end(&mut stream),
        "a\nERROR: the last line had no newline; it was dropped\n"
    );
    server.wait_for("closed the connection in mid-line");
    assert!(
        !server.lines.iter().any(|l| l.ends_with("] no newline")),
        "{}",
        server.output()
    );
}

/// 100 sessions at once, 50 distinct lines each: every client gets exactly
/// its own lines, in order; and the console, flooded with 5,000 log lines
/// from 100 threads at once, shows every one, whole and in each client's order.
/// (Not 10,000: past that many lines waiting, the printer drops lines by
/// design, and a test process slow to read the console could see it.)
pub fn a_hundred_concurrent_sessions_each_get_their_own_lines_in_order(target: &Target) {
    const LINES: usize = 50;
    let mut server = target.start(&[]);
    let address = server.address();
    let results = all_at_once(100, move |client| {
        let mut stream = connect(address);
        let sent: Vec<String> = (0..LINES)
            .map(|n| format!("client {client} line {n}\n"))
            .collect();
        stream.write_all(sent.concat().as_bytes()).unwrap();
        let echoed = read_lines(&mut stream, LINES);
        stream.write_all(b"!DISCONNECT\n").unwrap();
        assert_end_of_stream(&mut stream);
        if sent != echoed {
            return Err(format!("sent {sent:?}, got back {echoed:?}"));
        }
        Ok(stream.local_addr().unwrap())
    });
    let addresses: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let checks: Vec<Result<(), String>> = results.iter().map(|r| r.clone().map(|_| ())).collect();
    assert_every_client(&checks);

    server.wait_for_count("[Client disconnected]", 100);
    assert!(
        !server
            .lines
            .iter()
            .any(|line| line.contains("log lines dropped")),
        "{}",
        server.output()
    );
    for (client, address) in addresses.iter().enumerate() {
        let prefix = format!("[{address}] ");
        let logged: Vec<&str> = server
            .lines
            .iter()
            .filter_map(|line| line.strip_prefix(&prefix))
            .collect();
        let expected: Vec<String> = (0..LINES)
            .map(|n| format!("client {client} line {n}"))
            .collect();
        expect_eq!(logged, expected, "client {client}'s log lines");
    }
}

/// A client that sends nothing for --idle-timeout is told and closed; another is served meanwhile.
pub fn an_idle_client_is_timed_out(target: &Target) {
    let mut server = target.start(&["--idle-timeout", "0.5"]);
    let mut idle = server.connect();
    let mut busy = server.connect();
    busy.write_all(b"still here\n").unwrap();
    expect_line(&mut busy, "still here\n");
    let started = Instant::now();
    expect_line(&mut idle, "ERROR: idle timeout, closing the connection\n");
    assert_end_of_stream(&mut idle);
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(idle);
    server.wait_for(": idle timeout");
}

/// Past --max-clients a client gets one ERROR line; when a session ends its place is free again.
pub fn past_max_clients_a_client_gets_one_error_line(target: &Target) {
    let mut server = target.start(&["--max-clients", "1"]);
    let mut first = server.connect();
    first.write_all(b"first\n").unwrap();
    expect_line(&mut first, "first\n");
    let mut second = server.connect();
    expect_line(
        &mut second,
        "ERROR: too many clients (limit 1); try again later\n",
    );
    assert_end_of_stream(&mut second);
    first.write_all(b"!DISCONNECT\n").unwrap();
    assert_end_of_stream(&mut first);
    drop(first);
    server.wait_for("[Client disconnected]");
    let echoed = once_a_place_frees(|| {
        let mut third = server.connect();
        third.write_all(b"third\n").unwrap();
        read_line(&mut third)
    });
    expect_eq!(echoed, "third\n");
}

/// A client that never reads its echoes is dropped after --write-timeout; others are not delayed.
pub fn a_client_that_never_reads_is_dropped_after_the_write_timeout(target: &Target) {
    let mut server = target.start(&["--write-timeout", "0.5"]);
    let flooder = server.connect();
    let mut writer = flooder.try_clone().unwrap();
    let flood = thread::spawn(move || {
        let line = [b'x'; 1000];
        // Until the server gives up on us and the writes fail.
        while writer
            .write_all(&line)
            .and_then(|()| writer.write_all(b"\n"))
            .is_ok()
        {}
    });
    let mut other = server.connect();
    other.write_all(b"not delayed\n").unwrap();
    expect_line(&mut other, "not delayed\n");
    let dropped = server.wait_for("not reading what it is sent");
    assert!(dropped.starts_with("[Client disconnected]"), "{dropped}");
    drop(flooder);
    flood.join().unwrap();
}

/// Ctrl-C with sessions open: every client sees end of stream, exit 0 within 2 s.
pub fn sigint_closes_every_session_and_exits_0(target: &Target) {
    closes_every_session_on(target, None);
}

/// SIGTERM does the same.
pub fn sigterm_closes_every_session_and_exits_0(target: &Target) {
    closes_every_session_on(target, Some(Signal::SIGTERM));
}

pub fn closes_every_session_on(target: &Target, signal: Option<Signal>) {
    let mut server = target.start(&[]);
    let mut sessions: Vec<_> = (0..3).map(|_| server.connect()).collect();
    for (n, stream) in sessions.iter_mut().enumerate() {
        stream
            .write_all(format!("session {n}\n").as_bytes())
            .unwrap();
        expect_eq!(read_line(stream), format!("session {n}\n"));
    }
    server.stop_with(signal);
    for stream in &mut sessions {
        assert_end_of_stream(stream);
    }
    server.assert_stops_cleanly_within(Duration::from_secs(2));
    assert!(
        server
            .lines
            .iter()
            .any(|l| l.starts_with("[SHUTTING DOWN]"))
    );
    expect_eq!(server.lines.last().unwrap(), "[STOPPED] Server stopped.");
    expect_eq!(
        server
            .lines
            .iter()
            .filter(|l| l.ends_with(": server shutting down"))
            .count(),
        3,
        "{}",
        server.output()
    );
}

/// A line that is not UTF-8, and one over 1024 bytes, are logged as such
/// (the queue servers log them in the same words).
pub fn a_line_it_cannot_accept_is_logged(target: &Target) {
    let mut server = target.start(&[]);
    let mut stream = server.connect();
    let mut burst = b"\xff\xfe\n".to_vec();
    burst.extend([b'x'; 2000]);
    burst.extend(b"\nafter\n");
    stream.write_all(&burst).unwrap();
    expect_eq!(read_lines(&mut stream, 3)[2], "after\n");
    server.wait_for("] sent a line that is not UTF-8");
    server.wait_for("] sent a line longer than 1024 bytes");
}
