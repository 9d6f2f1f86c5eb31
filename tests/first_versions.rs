//! Each lesson's first version (`examples/first_*.rs`), end to end: it
//! works, and it breaks the way its lesson says.
//!
//! The first versions keep the original tutorials' simplifications on
//! purpose. These tests show each weakness a lesson demonstrates, quickly
//! and within a deadline, so the lesson can cite them; the real servers'
//! suites then prove the guard that fixes each one.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::thread;
use std::time::{Duration, Instant};

use support::*;
use threaded_servers::procfs;

const COUNTER: &str = "first_counter_server";
const ECHO: &str = "first_echo_server";
const QUEUE: &str = "first_queue_server";
const EVENT_ECHO: &str = "first_event_echo_server";
const ASYNC_ECHO: &str = "first_async_echo_server";

/// The most one `read()` of the first versions takes: the originals' SIZE.
const SIZE: usize = 1024;

/// How long a test waits to see that something does not happen.
const PATIENCE: Duration = Duration::from_secs(1);

/// True if nothing arrives on `stream` within [`PATIENCE`].
fn silent_for_a_while(stream: &mut std::net::TcpStream) -> bool {
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut byte = [0u8; 1];
    let silent = matches!(stream.read(&mut byte), Err(e) if e.kind() == ErrorKind::WouldBlock);
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    silent
}

/// Everything until the connection ends, however it ends (a reset included).
fn whatever_comes(stream: &mut std::net::TcpStream) -> String {
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

fn threads(server: &ServerProcess) -> usize {
    procfs::status(server.pid())
        .expect("/proc/PID/status")
        .threads
}

/// The happy path of an echo server's first version: each message comes
/// back, `!DISCONNECT` ends the session.
fn echoes_until_disconnect(example: &str) {
    let mut server = first_version(example);
    let mut stream = server.connect();
    for line in ["Hello\n", "World\n"] {
        stream.write_all(line.as_bytes()).unwrap();
        assert_eq!(read_line(&mut stream), line);
    }
    stream.write_all(b"!DISCONNECT\n").unwrap();
    assert_end_of_stream(&mut stream);
    server.wait_for("[Client disconnected]");
}

// Lesson 1: the counter server.

/// The happy path: each client gets the next id and the original's reply.
#[test]
fn the_first_counter_server_greets_clients_1_2_3() {
    let mut server = first_version(COUNTER);
    for id in 1..=3 {
        let reply = counter_exchange(server.address(), b"Hello, Server!");
        assert_eq!(
            reply,
            format!("Hello Client {id}, server received your message!")
        );
        server.wait_for(&format!("Client {id} disconnected."));
    }
    assert_eq!(server.lines[2], "Client 1 says: Hello, Server!");
}

/// A client that connects and sends nothing holds its thread for ever (here:
/// for as long as the test looks); the others are served meanwhile.
#[test]
fn the_first_counter_server_waits_for_ever_on_a_silent_client() {
    let mut server = first_version(COUNTER);
    let before = threads(&server);
    let mut silent = server.connect();
    server.wait_for("Client 1 connected");
    assert!(counter_exchange(server.address(), b"hi").starts_with("Hello Client 2,"));
    assert!(
        silent_for_a_while(&mut silent),
        "the silent client got an answer"
    );
    assert_eq!(threads(&server), before + 1, "its thread is still waiting");
}

/// Bytes that are not UTF-8: `unwrap()` panics, the client's thread dies
/// without a reply; the server lives on.
#[test]
fn the_first_counter_server_loses_a_clients_thread_to_invalid_utf8() {
    let server = first_version(COUNTER);
    let mut stream = server.connect();
    stream.write_all(b"\xff\xfe").unwrap();
    assert_eq!(whatever_comes(&mut stream), "", "no reply at all");
    server.wait_for_stderr("panicked");
    assert!(counter_exchange(server.address(), b"hi").starts_with("Hello Client 2,"));
}

/// Ctrl-C kills it on the spot: no shutdown line, and a connected client is
/// cut off without an answer.
#[test]
fn the_first_counter_server_dies_on_ctrl_c() {
    let mut server = first_version(COUNTER);
    let mut waiting = server.connect();
    server.wait_for("Client 1 connected");
    server.signal(Signal::SIGINT);
    let status = server.wait_for_exit(DEADLINE);
    assert_eq!(status.signal(), Some(Signal::SIGINT as i32), "{status}");
    assert_eq!(whatever_comes(&mut waiting), "");
    assert_eq!(server.lines.len(), 2, "{}", server.output());
}

// Lesson 2: the echo server.

/// The happy path: each message comes back, `!DISCONNECT` ends the session.
#[test]
fn the_first_echo_server_echoes_until_disconnect() {
    echoes_until_disconnect(ECHO);
}

/// Two messages in one write arrive in one `read()`: to this server they
/// are one message, so a goodbye sent with another line is missed.
#[test]
fn the_first_echo_server_misses_a_goodbye_sent_with_another_line() {
    let mut server = first_version(ECHO);
    let mut stream = server.connect();
    server.wait_for("[New Connection]");
    stream.write_all(b"bye now\n!DISCONNECT\n").unwrap();
    assert_eq!(read_lines(&mut stream, 2), ["bye now\n", "!DISCONNECT\n"]);
    // The session goes on: the goodbye was never seen as one.
    stream.write_all(b"still here\n").unwrap();
    assert_eq!(read_line(&mut stream), "still here\n");
}

/// One message in two writes arrives in two `read()`s: two messages.
#[test]
fn the_first_echo_server_splits_a_message_that_arrives_in_pieces() {
    let mut server = first_version(ECHO);
    let mut stream = server.connect();
    stream.write_all(b"hel").unwrap();
    wait_until_server_has_read(&stream);
    stream.write_all(b"lo\n").unwrap();
    let address = stream.local_addr().unwrap();
    server.wait_for(&format!("[{address}] lo"));
    let messages: Vec<&String> = server
        .lines
        .iter()
        .filter(|line| line.starts_with(&format!("[{address}]")))
        .collect();
    assert_eq!(
        messages,
        [&format!("[{address}] hel"), &format!("[{address}] lo")]
    );
}

/// Bytes that are not UTF-8 end the session with a panic; no answer.
#[test]
fn the_first_echo_server_loses_a_session_to_invalid_utf8() {
    let server = first_version(ECHO);
    let mut stream = server.connect();
    stream.write_all(b"\xff\xfe\n").unwrap();
    assert_eq!(whatever_comes(&mut stream), "");
    server.wait_for_stderr("panicked");
    let mut next = server.connect();
    next.write_all(b"next\n").unwrap();
    assert_eq!(read_line(&mut next), "next\n");
}

/// A client that connects and sends nothing holds its thread for ever (here:
/// for as long as the test looks); the others are served meanwhile.
#[test]
fn the_first_echo_server_waits_for_ever_on_a_silent_client() {
    let mut server = first_version(ECHO);
    let before = threads(&server);
    let mut silent = server.connect();
    server.wait_for("[New Connection]");
    let mut other = server.connect();
    other.write_all(b"hi\n").unwrap();
    assert_eq!(read_line(&mut other), "hi\n");
    drop(other); // End of stream: that session ends.
    server.wait_for("[Client disconnected]");
    assert!(
        silent_for_a_while(&mut silent),
        "the silent client got an answer"
    );
    assert_eq!(threads(&server), before + 1, "its thread is still waiting");
}

/// A client in the original's style sends a message with no newline and
/// waits for its echo before it sends the next: each message arrives alone,
/// so one read is one message, and it is served. Timing, not framing.
#[test]
fn the_first_echo_server_serves_a_client_that_waits_for_each_echo() {
    let mut server = first_version(ECHO);
    let mut stream = server.connect();
    for message in ["Hello", "World"] {
        stream.write_all(message.as_bytes()).unwrap();
        let mut echo = vec![0u8; message.len()];
        stream.read_exact(&mut echo).unwrap();
        assert_eq!(echo, message.as_bytes());
    }
    stream.write_all(b"!DISCONNECT").unwrap();
    assert_end_of_stream(&mut stream);
    server.wait_for("[Client disconnected]");
}

// Lesson 3: the queue server.

/// The happy path: replies to their senders, and a direct message to Client 2.
#[test]
fn the_first_queue_server_answers_and_passes_messages_on() {
    let server = first_version(QUEUE);
    let (mut first, _) = session_with_id(Protocol::Queue, server.address());
    let (mut second, _) = session_with_id(Protocol::Queue, server.address());
    first.write_all(b"hello\n").unwrap();
    assert_eq!(read_line(&mut first), "Processed: hello\n");
    first.write_all(b"@2 hi there\n").unwrap();
    assert_eq!(read_line(&mut second), "From Client 1: hi there\n");
    assert_eq!(read_line(&mut first), "Delivered to Client 2: hi there\n");
}

/// Two lines in one write arrive in one `read()`: to this server they are one
/// message, with one reply (which the client reads as two lines).
#[test]
fn the_first_queue_server_reads_two_lines_as_one_message() {
    let mut server = first_version(QUEUE);
    let (mut stream, _) = session_with_id(Protocol::Queue, server.address());
    server.wait_for("Client 1 connected");
    stream.write_all(b"hello\nworld\n").unwrap();
    assert_eq!(
        read_lines(&mut stream, 2),
        ["Processed: hello\n", "world\n"]
    );
    // The log shows it the same way: one message, over two lines.
    server.wait_for("Client 1 says: hello");
    assert_eq!(server.wait_for_line(|_| true), "world");
}

/// A client that sends and never reads its replies fills its buffers; the
/// processing thread then waits in `write_all`, holding the registry's lock,
/// and nobody else gets an answer.
#[test]
fn the_first_queue_server_stalls_everyone_when_one_client_stops_reading() {
    let server = first_version(QUEUE);
    let (mut other, _) = session_with_id(Protocol::Queue, server.address());
    let (flooder, _) = session_with_id(Protocol::Queue, server.address());
    let flooding = thread::spawn(move || {
        let line = format!("{}\n", "x".repeat(1000));
        while (&flooder).write_all(line.as_bytes()).is_ok() {}
    });
    // Until the flooder's buffers are full, the other client is answered.
    let deadline = Instant::now() + DEADLINE;
    let mut n = 0;
    loop {
        n += 1;
        other.write_all(format!("ping {n}\n").as_bytes()).unwrap();
        if silent_for_a_while(&mut other) {
            break; // No answer: the processing thread is stuck.
        }
        read_line(&mut other);
        assert!(
            Instant::now() < deadline,
            "the processing thread never stalled"
        );
    }
    drop(server); // Kills it: the only way out.
    flooding.join().unwrap();
}

/// Ctrl-C ends the process with the processing thread: a message the server
/// has already read, still waiting in the queue, is never answered, and its
/// sender is not told.
#[test]
fn the_first_queue_server_loses_messages_it_has_read_at_ctrl_c() {
    let mut server = first_version(QUEUE);
    let (mut sender, _) = session_with_id(Protocol::Queue, server.address());
    // A client that never reads holds up the processing thread (see above),
    // so that the next message waits in the queue.
    let (staller, _) = session_with_id(Protocol::Queue, server.address());
    let stalling = thread::spawn(move || {
        let line = format!("{}\n", "x".repeat(1000));
        while (&staller).write_all(line.as_bytes()).is_ok() {}
    });
    eventually("the processing thread stalls", || {
        sender.write_all(b"are you there?\n").unwrap();
        let stalled = silent_for_a_while(&mut sender);
        if !stalled {
            read_line(&mut sender);
        }
        stalled
    });
    sender.write_all(b"important\n").unwrap();
    wait_until_server_has_read(&sender);
    server.signal(Signal::SIGINT);
    server.wait_for_exit(DEADLINE);
    let rest = whatever_comes(&mut sender);
    assert!(!rest.contains("important"), "{rest:?}");
    assert!(!server.lines.iter().any(|l| l.contains("says: important")));
    stalling.join().unwrap();
}

/// A client that leaves before its reply: the reply's `write_all` fails and
/// `unwrap()` panics the processing thread while it holds the registry's
/// lock. Nobody is answered again, and the next client to connect makes the
/// main thread panic on the poisoned lock: the server is gone.
#[test]
fn the_first_queue_server_dies_when_a_client_leaves_before_its_reply() {
    let mut server = first_version(QUEUE);
    let (mut staying, _) = session_with_id(Protocol::Queue, server.address());
    // As `printf 'hello\n' > /dev/tcp/...` does: send a line, then close
    // with the welcome unread, which resets the connection.
    let mut leaving = server.connect();
    server.wait_for("Client 2 connected");
    leaving.write_all(b"hello\n").unwrap();
    reset(leaving);
    server.wait_for_stderr("panicked");
    staying.write_all(b"anyone there?\n").unwrap();
    assert!(silent_for_a_while(&mut staying), "a reply came after all");
    let mut next = server.connect();
    assert!(read_line(&mut next).starts_with("Welcome, Client 3!"));
    let status = server.wait_for_exit(DEADLINE);
    assert_eq!(status.code(), Some(101), "{}", server.output());
    assert!(
        server.stderr().contains("PoisonError"),
        "{}",
        server.output()
    );
}

// Lesson 5: the event loop.

/// The happy path: each message comes back, `!DISCONNECT` ends the session.
#[test]
fn the_first_event_echo_server_echoes_until_disconnect() {
    echoes_until_disconnect(EVENT_ECHO);
}

/// Three lines of 1,000 bytes in one write are one readiness event, and the
/// loop reads once per event: 1,024 bytes are echoed, and the rest waits in
/// the socket until the client sends something more (a new event).
#[test]
fn the_first_event_echo_server_leaves_bytes_unread_until_the_next_event() {
    let mut server = first_version(EVENT_ECHO);
    let mut stream = server.connect();
    server.wait_for("[New Connection]");
    let line = format!("{}\n", "x".repeat(999));
    stream.write_all(line.repeat(3).as_bytes()).unwrap();
    let mut echoed = vec![0u8; SIZE];
    stream.read_exact(&mut echoed).unwrap();
    assert!(
        silent_for_a_while(&mut stream),
        "more than one read's worth came back for one event"
    );
    let mine = stream.local_addr().unwrap().port();
    assert_eq!(procfs::unread_bytes(server.port, mine), Some(3000 - 1024));
    // One more byte: a new event, and one more read.
    stream.write_all(b"\n").unwrap();
    stream.read_exact(&mut echoed).unwrap();
}

/// A client that sends line after line and never reads its echoes, with a
/// small receive buffer (so that its echoes fill the buffers soon): the
/// write that finds no room is retried at once, for ever.
///
/// It sends in step with the server: the next line only once the server has
/// printed the last one, which it does after its read and before its write.
/// So each read finds one line and takes all of it, and the first version's
/// other flaw, a read not drained, cannot stall the loop first (unread
/// lines piling up, on a busy machine, leave it waiting for an event that
/// never comes, spinning on nothing).
fn stuck_on_a_client_that_does_not_read(server: &mut ServerProcess) -> std::net::TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.set_tcp_nodelay(true).unwrap();
    socket.connect(&server.address().into()).unwrap();
    let mut flooder: std::net::TcpStream = socket.into();
    flooder.set_write_timeout(Some(DEADLINE)).unwrap();
    server.wait_for("[New Connection]");
    let line = format!("{}\n", "x".repeat(499));
    // Megabytes of echoes fill the server's send buffer first: on a busy
    // machine that takes a while, hence twice the usual deadline.
    let deadline = Instant::now() + 2 * DEADLINE;
    loop {
        flooder.write_all(line.as_bytes()).unwrap();
        // Silence for a while: the server has stopped reading this client,
        // stuck on writing to it. (Long enough that a server merely slow
        // to be scheduled is not taken for one stuck.)
        if server.next_line_within(2 * PATIENCE).is_none() {
            return flooder;
        }
        assert!(
            Instant::now() < deadline,
            "the server never stopped reading the client that does not read"
        );
    }
}

/// The spin: while a client does not read, the loop retries its write as
/// fast as it can, a core at 100 %, and nothing else.
#[test]
fn the_first_event_echo_server_spins_on_a_write_that_does_not_fit() {
    let mut server = first_version(EVENT_ECHO);
    let flooder = stuck_on_a_client_that_does_not_read(&mut server);
    let before = server.cpu_time();
    thread::sleep(PATIENCE);
    let used = server.cpu_time().saturating_sub(before);
    // A quiet machine gives it a whole core. Here a fiftieth is enough: an
    // idle loop uses none at all, and a spinning one, on a machine busy
    // with other tests (eight busy processes on two cores, tried), gets at
    // least 50 ms of each second.
    assert!(
        used >= PATIENCE / 50,
        "the server used only {used:?} of CPU in {PATIENCE:?}"
    );
    reset(flooder);
}

/// One slow step stalls every client: while the loop is stuck on the client
/// that does not read, another client's line is not echoed. When that
/// client goes (a reset), the write fails, and the loop goes on.
#[test]
fn the_first_event_echo_server_stalls_everyone_while_one_client_does_not_read() {
    let mut server = first_version(EVENT_ECHO);
    let flooder = stuck_on_a_client_that_does_not_read(&mut server);
    let mut other = server.connect();
    other.write_all(b"anyone there?\n").unwrap();
    assert!(
        silent_for_a_while(&mut other),
        "the other client was answered"
    );
    reset(flooder);
    assert_eq!(read_line(&mut other), "anyone there?\n");
}

// Lesson 6: the echo server as tasks.

/// The happy path: each message comes back, `!DISCONNECT` ends the session.
#[test]
fn the_first_async_echo_server_echoes_until_disconnect() {
    echoes_until_disconnect(ASYNC_ECHO);
}

/// A task per client changes nothing of lesson 2's flaws: two messages in
/// one write are one `read()`, so a goodbye sent with another line is
/// missed; and a silent client is waited for for ever (by a task now).
#[test]
fn the_first_async_echo_server_keeps_lesson_2s_flaws() {
    let mut server = first_version(ASYNC_ECHO);
    let mut stream = server.connect();
    server.wait_for("[New Connection]");
    stream.write_all(b"bye now\n!DISCONNECT\n").unwrap();
    assert_eq!(read_lines(&mut stream, 2), ["bye now\n", "!DISCONNECT\n"]);
    stream.write_all(b"still here\n").unwrap();
    assert_eq!(read_line(&mut stream), "still here\n");
    let mut silent = server.connect();
    assert!(
        silent_for_a_while(&mut silent),
        "the silent client got an answer"
    );
}
