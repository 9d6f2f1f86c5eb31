//! Hostile clients: one suite that every server must survive.
//!
//! Each case runs against every server it applies to (`cargo test --test
//! hostile idle` runs `idle::counter`, `idle::echo` and `idle::queue`), is
//! bounded in time, and ends by checking that a normal client is still
//! served correctly by the same server process.
//!
//! The cases follow SPEC's "Every server" promises and the checklist in
//! `../shared/notes/reliability.md` (Redis, memcached and nginx guard against
//! the same things).

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::*;

/// The three servers, and how a well-behaved client talks to each.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Counter,
    Echo,
    Queue,
}

impl Kind {
    fn named(name: &str) -> Kind {
        match name {
            "counter" => Kind::Counter,
            "echo" => Kind::Echo,
            _ => Kind::Queue,
        }
    }

    fn binary(self) -> &'static str {
        match self {
            Kind::Counter => COUNTER_SERVER,
            Kind::Echo => ECHO_SERVER,
            Kind::Queue => QUEUE_SERVER,
        }
    }

    fn start(self, args: &[&str]) -> ServerProcess {
        ServerProcess::start(self.binary(), args)
    }

    /// Connects a line client (echo, queue) and reads the greeting if there is one.
    fn session(self, server: &ServerProcess) -> TcpStream {
        self.session_at(server.address())
    }

    fn session_at(self, address: std::net::SocketAddr) -> TcpStream {
        let mut stream = connect(address);
        if self == Kind::Queue {
            let greeting = read_line(&mut stream);
            assert!(greeting.starts_with("Welcome, Client "), "{greeting:?}");
        }
        stream
    }

    /// The part of the server's log line that says a client has left.
    fn disconnect_log(self) -> &'static str {
        match self {
            Kind::Counter => "disconnected.",
            Kind::Echo => "[Client disconnected]",
            Kind::Queue => "disconnected (",
        }
    }

    /// What a line server answers to `line`.
    fn reply_to(self, line: &str) -> String {
        match self {
            Kind::Queue => format!("Processed: {line}\n"),
            _ => format!("{line}\n"),
        }
    }

    /// A normal client, start to finish: the server must still serve it correctly.
    fn assert_still_serves(self, server: &ServerProcess) {
        self.assert_still_serves_at(server.address());
    }

    fn assert_still_serves_at(self, address: std::net::SocketAddr) {
        if self == Kind::Counter {
            let reply = counter_exchange(address, b"still there?");
            assert!(reply.starts_with("Hello Client "), "{reply:?}");
            assert!(
                reply.ends_with(", server received your message!"),
                "{reply:?}"
            );
            return;
        }
        let mut stream = self.session_at(address);
        stream.write_all(b"still there?\n").unwrap();
        assert_eq!(read_line(&mut stream), self.reply_to("still there?"));
        stream.write_all(b"!DISCONNECT\n").unwrap();
    }
}

impl Kind {
    /// A normal client is served as soon as the server has finished with the
    /// clients that just left; until then it may hear "too many clients".
    fn assert_served_once_a_place_frees(self, server: &ServerProcess) {
        let first = once_a_place_frees(|| {
            let mut next = server.connect();
            if self == Kind::Counter {
                next.write_all(b"my turn").unwrap();
                return read_to_end(&mut next);
            }
            if self == Kind::Echo {
                next.write_all(b"my turn\n").unwrap();
            }
            read_line(&mut next)
        });
        let served = first.starts_with("Hello Client ")
            || first.starts_with("Welcome")
            || first == "my turn\n";
        assert!(served, "{first:?}");
    }
}

/// Generates `mod $case { fn counter(); fn echo(); fn queue() }`: one test
/// per server, so `cargo test --test hostile $case` runs the case on each.
macro_rules! for_servers {
    ($case:ident: $($server:ident),+) => {
        mod $case {
            $(
                #[test]
                fn $server() {
                    super::$case(super::Kind::named(stringify!($server)));
                }
            )+
        }
    };
}

for_servers!(invalid_utf8: counter, echo, queue);
/// Bytes that are not UTF-8: one ERROR line, and the session (if any) goes on.
fn invalid_utf8(kind: Kind) {
    let server = kind.start(&[]);
    if kind == Kind::Counter {
        let reply = counter_exchange(server.address(), b"\xff\xfe\xfd");
        assert_eq!(reply, "ERROR: message is not valid UTF-8\n");
    } else {
        let mut stream = kind.session(&server);
        stream.write_all(b"\xc3\x28 broken\nafter\n").unwrap();
        assert_eq!(
            read_line(&mut stream),
            "ERROR: message is not valid UTF-8\n"
        );
        assert_eq!(read_line(&mut stream), kind.reply_to("after"));
    }
    kind.assert_still_serves(&server);
}

for_servers!(control_bytes_are_escaped_in_the_log: counter, echo, queue);
/// NUL, control bytes and an ANSI escape: served, and shown escaped on the
/// console, so a client can neither forge a log line nor drive the terminal.
fn control_bytes_are_escaped_in_the_log(kind: Kind) {
    let mut server = kind.start(&[]);
    let hostile = "nul\0bell\x07 \x1b[2J\x1b]0;owned\x07\rClient 99 connected from 6.6.6.6:666";
    if kind == Kind::Counter {
        let reply = counter_exchange(server.address(), format!("hi\n{hostile}").as_bytes());
        assert!(reply.starts_with("Hello Client 1,"), "{reply:?}");
        server.wait_for("Client 1 disconnected.");
    } else {
        let mut stream = kind.session(&server);
        stream.write_all(format!("{hostile}\n").as_bytes()).unwrap();
        // The bytes come back as sent: they are the client's own.
        assert_eq!(read_line(&mut stream), kind.reply_to(hostile));
        stream.write_all(b"!DISCONNECT\n").unwrap();
        server.wait_for("disconnect");
    }
    for line in &server.lines {
        assert!(
            !line.contains(['\0', '\x07', '\x1b', '\r']),
            "raw control bytes on the console: {line:?}"
        );
        assert!(
            !line.starts_with("Client 99"),
            "a forged log line: {line:?}"
        );
    }
    let logged = server
        .lines
        .iter()
        .find(|l| l.contains("bell"))
        .expect("the message was logged");
    assert!(
        logged.contains(r"\u{1b}[2J") && logged.contains(r"\u{0}"),
        "{logged}"
    );
    kind.assert_still_serves(&server);
}

for_servers!(oversized_messages: counter, echo, queue);
/// Counter: 100 KiB in one message still gets the greeting, intact, then a
/// clean end of stream. Echo and queue: 1 MiB without a newline gets one ERROR
/// line, and the server's memory does not grow with it.
fn oversized_messages(kind: Kind) {
    let server = kind.start(&[]);
    let pid = server.pid();
    if kind == Kind::Counter {
        let mut stream = server.connect();
        let writer = stream.try_clone().unwrap();
        let sender = thread::spawn(move || (&writer).write_all(&vec![b'x'; 100 * 1024]));
        assert_eq!(
            read_to_end(&mut stream),
            "Hello Client 1, server received your message!"
        );
        sender
            .join()
            .unwrap()
            .expect("the server read all of it before closing");
    } else {
        // Peak memory (VmHWM), not current: a 1 MiB buffer that was freed
        // again by the time we look would not show in VmRSS.
        let before = peak_resident_kib(pid);
        let mut stream = kind.session(&server);
        let writer = stream.try_clone().unwrap();
        let sender = thread::spawn(move || {
            let chunk = vec![b'y'; 64 * 1024];
            for _ in 0..16 {
                (&writer).write_all(&chunk)?;
            }
            (&writer).write_all(b"\nafter\n")
        });
        assert_eq!(
            read_line(&mut stream),
            "ERROR: message longer than 1024 bytes\n"
        );
        assert_eq!(read_line(&mut stream), kind.reply_to("after"));
        sender.join().unwrap().unwrap();
        let grown = peak_resident_kib(pid).saturating_sub(before);
        assert!(
            grown < 512,
            "1 MiB of one line grew the server by {grown} KiB"
        );
    }
    kind.assert_still_serves(&server);
}

for_servers!(a_line_a_byte_at_a_time: echo, queue);
/// One line written a byte at a time, with pauses: one message.
fn a_line_a_byte_at_a_time(kind: Kind) {
    let server = kind.start(&[]);
    let mut stream = kind.session(&server);
    stream.set_nodelay(true).unwrap();
    for byte in b"slowly\n" {
        stream.write_all(&[*byte]).unwrap();
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(read_line(&mut stream), kind.reply_to("slowly"));
    kind.assert_still_serves(&server);
}

for_servers!(many_lines_in_one_write: echo, queue);
/// Many lines in one write: as many answers, in order.
fn many_lines_in_one_write(kind: Kind) {
    let server = kind.start(&[]);
    let mut stream = kind.session(&server);
    let lines: Vec<String> = (0..500).map(|n| format!("line {n}")).collect();
    stream
        .write_all(
            lines
                .iter()
                .map(|l| format!("{l}\n"))
                .collect::<String>()
                .as_bytes(),
        )
        .unwrap();
    for line in &lines {
        assert_eq!(read_line(&mut stream), kind.reply_to(line));
    }
    kind.assert_still_serves(&server);
}

for_servers!(disconnect_split_across_writes: echo, queue);
/// `!DISCONNECT` split exactly in two writes is still the goodbye.
fn disconnect_split_across_writes(kind: Kind) {
    let mut server = kind.start(&[]);
    let mut stream = kind.session(&server);
    stream.write_all(b"!DISCON").unwrap();
    // The first half is read on its own before the rest is sent.
    wait_until_server_has_read(&stream);
    stream.write_all(b"NECT\n").unwrap();
    let rest = read_to_end(&mut stream);
    assert!(rest.is_empty() || rest.starts_with("Goodbye"), "{rest:?}");
    drop(stream);
    server.wait_for("sent !DISCONNECT");
    kind.assert_still_serves(&server);
}

for_servers!(a_silent_client_is_closed_after_the_idle_timeout: counter, echo, queue);
/// A client that connects and never writes is closed after --idle-timeout;
/// another client is served meanwhile.
fn a_silent_client_is_closed_after_the_idle_timeout(kind: Kind) {
    let server = kind.start(&["--idle-timeout", "1"]);
    let connected = Instant::now();
    let mut silent = kind.session(&server);
    kind.assert_still_serves(&server);
    assert_eq!(
        read_line(&mut silent),
        "ERROR: idle timeout, closing the connection\n"
    );
    assert_end_of_stream(&mut silent);
    let after = connected.elapsed();
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_secs(4),
        "closed after {after:?}"
    );
    kind.assert_still_serves(&server);
}

for_servers!(a_drip_feeding_client_is_closed_after_the_idle_timeout: echo, queue);
/// One byte every half second, never a newline: the idle timeout counts from
/// the start of the message, so the drip does not keep it alive.
fn a_drip_feeding_client_is_closed_after_the_idle_timeout(kind: Kind) {
    let server = kind.start(&["--idle-timeout", "1.5"]);
    let mut dripper = kind.session(&server);
    let writer = dripper.try_clone().unwrap();
    let started = Instant::now();
    let drip = thread::spawn(move || {
        while (&writer).write_all(b"x").is_ok() && started.elapsed() < Duration::from_secs(6) {
            thread::sleep(Duration::from_millis(500));
        }
    });
    kind.assert_still_serves(&server);
    assert_eq!(
        read_line(&mut dripper),
        "ERROR: idle timeout, closing the connection\n"
    );
    let after = started.elapsed();
    assert!(
        after < Duration::from_secs(4),
        "the drip kept the client alive for {after:?}"
    );
    drop(dripper);
    drip.join().unwrap();
    kind.assert_still_serves(&server);
}

for_servers!(a_client_that_never_reads: echo, queue);
/// A client that writes without end and never reads: the others still get
/// their replies within a second, and the server lets the reader-less client go.
fn a_client_that_never_reads(kind: Kind) {
    let mut server = kind.start(&["--write-timeout", "1"]);
    let flooder = kind.session(&server);
    let writer = flooder.try_clone().unwrap();
    let flood = thread::spawn(move || {
        let line = format!("{}\n", "z".repeat(1000));
        while (&writer).write_all(line.as_bytes()).is_ok() {}
    });
    let mut other = kind.session(&server);
    for n in 0..100 {
        let asked = Instant::now();
        other.write_all(format!("ping {n}\n").as_bytes()).unwrap();
        assert_eq!(read_line(&mut other), kind.reply_to(&format!("ping {n}")));
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "a reply took {:?}",
            asked.elapsed()
        );
    }
    server.wait_for_line(|line| line.contains("not reading its"));
    drop(flooder);
    flood.join().unwrap();
    kind.assert_still_serves(&server);
}

for_servers!(two_hundred_resets_at_once: counter, echo, queue);
/// 200 clients connect and reset at once (SO_LINGER 0, so close sends RST).
fn two_hundred_resets_at_once(kind: Kind) {
    let mut server = kind.start(&[]);
    let address = server.address();
    all_at_once(200, move |_| {
        let stream = connect(address);
        reset(stream);
    });
    server.wait_for_count(kind.disconnect_log(), 200);
    kind.assert_still_serves(&server);
    assert!(!server.stderr().contains("panicked"), "{}", server.output());
}

for_servers!(a_reset_in_the_middle_of_a_message: counter, echo, queue);
/// Half a message, then a reset.
fn a_reset_in_the_middle_of_a_message(kind: Kind) {
    let mut server = kind.start(&[]);
    for _ in 0..20 {
        let mut stream = if kind == Kind::Counter {
            server.connect()
        } else {
            kind.session(&server)
        };
        stream.write_all(b"half a mess").unwrap();
        reset(stream);
    }
    server.wait_for_count(kind.disconnect_log(), 20);
    kind.assert_still_serves(&server);
}

for_servers!(two_thousand_clients_at_the_same_instant: counter, echo, queue);
/// 2,000 clients connect at the same instant: every one is served.
fn two_thousand_clients_at_the_same_instant(kind: Kind) {
    let server = kind.start(&["--backlog", "4096"]);
    let address = server.address();
    let served = all_at_once(2000, move |n| {
        let Ok(stream) = TcpStream::connect(address) else {
            return false;
        };
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut lines = BufReader::new(&stream);
        let mut reply = String::new();
        if kind == Kind::Counter {
            (&stream).write_all(b"burst").unwrap();
            return lines.read_to_string(&mut reply).is_ok() && reply.starts_with("Hello Client ");
        }
        if kind == Kind::Queue && lines.read_line(&mut reply).is_err() {
            return false; // No greeting.
        }
        reply.clear();
        let message = format!("burst {n}");
        (&stream)
            .write_all(format!("{message}\n").as_bytes())
            .unwrap();
        lines.read_line(&mut reply).is_ok() && reply == kind.reply_to(&message)
    });
    let count = served.iter().filter(|served| **served).count();
    assert_eq!(count, 2000, "only {count} of 2000 were served");
    kind.assert_still_serves(&server);
}

for_servers!(more_clients_than_max_clients: counter, echo, queue);
/// Past --max-clients a client gets one ERROR line and end of stream; a slot
/// frees when a client leaves.
fn more_clients_than_max_clients(kind: Kind) {
    let server = kind.start(&["--max-clients", "3"]);
    // Connections are accepted in the order they arrive: these three first.
    let mut held: Vec<TcpStream> = (0..3).map(|_| kind.session(&server)).collect();
    for _ in 0..5 {
        let mut extra = server.connect();
        assert_eq!(
            read_line(&mut extra),
            "ERROR: too many clients (limit 3); try again later\n"
        );
        assert_end_of_stream(&mut extra);
    }
    let mut leaving = held.pop().unwrap();
    if kind == Kind::Counter {
        leaving.write_all(b"bye").unwrap();
        read_to_end(&mut leaving);
    } else {
        leaving.write_all(b"!DISCONNECT\n").unwrap();
        read_to_end(&mut leaving);
    }
    drop(leaving);
    // The place is free once the server has finished with the leaving client.
    kind.assert_served_once_a_place_frees(&server);
}

for_servers!(out_of_file_descriptors: counter, echo, queue);
/// The server runs out of file descriptors: it must not spin, must log the
/// error only a few times a second, and must serve again when clients leave.
fn out_of_file_descriptors(kind: Kind) {
    // An explicit --max-clients above what 64 descriptors allow (the default
    // would fit itself to the limit, and the wall would never be reached).
    let server = under_open_file_limit(64, kind, &["--max-clients", "1000"]);
    // More connections than the server has descriptors; the kernel queues the
    // ones it cannot accept.
    let crowd: Vec<TcpStream> = (0..100).map(|_| server.connect()).collect();
    // Wait until the server has hit the wall.
    server.wait_for_stderr("accept failed");
    let errors_before = server.stderr().matches("accept failed").count();
    let cpu_before = server.cpu_time();
    thread::sleep(Duration::from_secs(1));
    let cpu = server.cpu_time().saturating_sub(cpu_before);
    let errors = server.stderr().matches("accept failed").count() - errors_before;
    assert!(
        cpu < Duration::from_millis(300),
        "the server used {cpu:?} of CPU in a second: spinning"
    );
    assert!(errors <= 5, "{errors} accept errors logged in a second");
    assert!(
        server.stderr().contains("Too many open files"),
        "{}",
        server.stderr()
    );
    drop(crowd);
    kind.assert_still_serves(&server);
}

for_servers!(max_clients_fits_the_open_file_limit: counter, echo, queue);
/// With only 64 file descriptors, the default --max-clients shrinks to fit
/// (with a note on stderr), so clients past it get an answer, not a silent wait.
fn max_clients_fits_the_open_file_limit(kind: Kind) {
    let server = under_open_file_limit(64, kind, &[]);
    server.wait_for_stderr("at most 32 clients at once");
    let held: Vec<TcpStream> = (0..32).map(|_| kind.session(&server)).collect();
    let mut extra = server.connect();
    assert_eq!(
        read_line(&mut extra),
        "ERROR: too many clients (limit 32); try again later\n"
    );
    drop(held);
    kind.assert_served_once_a_place_frees(&server);
    assert!(
        !server.stderr().contains("accept failed"),
        "{}",
        server.output()
    );
}

/// Starts a server that may open only `files` file descriptors (`ulimit -n`).
fn under_open_file_limit(files: u32, kind: Kind, args: &[&str]) -> ServerProcess {
    let mut command = Command::new("sh");
    let script = format!("ulimit -n {files} && exec \"$0\" \"$@\"");
    command
        .args(["-c", &script, kind.binary(), "--port", "0"])
        .args(args);
    ServerProcess::spawn(command)
}

/// A server whose console (stdout) the test holds directly, so it can stop
/// reading it or close it. Killed when dropped, if the test fails first.
struct RawConsoleServer {
    child: Child,
    port: u16,
}

impl RawConsoleServer {
    /// Starts `kind` and reads its console up to the listening line; the rest is up to the test.
    fn start(kind: Kind) -> (RawConsoleServer, BufReader<ChildStdout>) {
        let mut child = Command::new(kind.binary())
            .args(["--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut server = RawConsoleServer { child, port: 0 };
        // Read on a thread, so a server that never prints cannot hang the test.
        let (found, listening) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let mut console = BufReader::new(stdout);
            let mut line = String::new();
            while console.read_line(&mut line).is_ok_and(|n| n > 0) {
                if let Some(port) = parse_port(&line) {
                    let _ = found.send((port, console));
                    return;
                }
                line.clear();
            }
        });
        let (port, console) = listening
            .recv_timeout(DEADLINE)
            .expect("no listening line in time");
        server.port = port;
        (server, console)
    }

    fn address(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Ctrl-C; returns the exit status, stderr, and how long the exit took.
    fn interrupt(&mut self) -> (std::process::ExitStatus, String, Duration) {
        let signalled = Instant::now();
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, Signal::SIGINT).unwrap();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(signalled.elapsed() < DEADLINE, "the server did not stop");
            thread::sleep(Duration::from_millis(10));
        };
        let took = signalled.elapsed();
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (status, stderr, took)
    }
}

impl Drop for RawConsoleServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

for_servers!(stdout_closed_by_its_reader: counter, echo, queue);
/// Whoever reads the server's console goes away (a closed pipe): the server
/// goes on serving, and nothing panics.
fn stdout_closed_by_its_reader(kind: Kind) {
    let (mut server, console) = RawConsoleServer::start(kind);
    drop(console); // Nobody reads the console any more.
    for _ in 0..3 {
        kind.assert_still_serves_at(server.address());
    }
    let (status, stderr, _) = server.interrupt();
    assert!(status.success(), "{status}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

for_servers!(a_console_nobody_reads: counter, echo, queue);
/// The console stops: stdout is a pipe that nobody reads any more (a paused
/// terminal, `| less`), so it fills up. Clients are still served, and Ctrl-C
/// still ends the server within about a second.
fn a_console_nobody_reads(kind: Kind) {
    // From here on nobody reads `console`, but it stays open: a full pipe, not a closed one.
    let (mut server, console) = RawConsoleServer::start(kind);
    // Each client logs about 100 bytes; 64 KiB of pipe is full after a thousand or so.
    for _ in 0..1500 {
        kind.assert_still_serves_at(server.address());
    }
    let (status, stderr, took) = server.interrupt();
    assert!(status.success(), "{status}: {stderr}");
    assert!(took < Duration::from_millis(1500), "took {took:?}");
    drop(console);
}

for_servers!(sigint_mid_session: counter, echo, queue);
/// Ctrl-C while clients are mid-session.
fn sigint_mid_session(kind: Kind) {
    signal_mid_session(kind, Signal::SIGINT);
}

for_servers!(sigterm_mid_session: counter, echo, queue);
/// SIGTERM while clients are mid-session.
fn sigterm_mid_session(kind: Kind) {
    signal_mid_session(kind, Signal::SIGTERM);
}

/// Clients in every state when the signal comes: exit 0 within a second, and
/// on the queue server every message sent before the signal gets its reply.
fn signal_mid_session(kind: Kind, signal: Signal) {
    let mut server = kind.start(&[]);
    let mut idle = kind.session(&server);
    let mut half = kind.session(&server);
    half.write_all(b"half a li").unwrap();
    let mut busy = kind.session(&server);
    if kind != Kind::Counter {
        let burst: String = (0..200).map(|n| format!("in flight {n}\n")).collect();
        busy.write_all(burst.as_bytes()).unwrap();
    }
    server.signal(signal);
    server.assert_stops_cleanly_within(Duration::from_secs(1));
    if kind == Kind::Queue {
        for n in 0..200 {
            assert_eq!(read_line(&mut busy), format!("Processed: in flight {n}\n"));
        }
        assert_eq!(read_line(&mut busy), "Server is shutting down. Goodbye!\n");
    }
    for stream in [&mut idle, &mut half, &mut busy] {
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest); // Ends: the server closed every connection.
    }
    assert!(!server.stderr().contains("panicked"), "{}", server.output());
}

/// The most resident memory the server has ever had, from /proc/PID/status.
fn peak_resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Closes with SO_LINGER 0: the kernel sends a reset instead of a normal close.
fn reset(stream: TcpStream) {
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);
}
