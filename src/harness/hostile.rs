//! Hostile clients: the checks every server must survive.
//!
//! Each check starts its own server from a [`Target`], does something a
//! careless or malicious client does, checks the server's answer, and ends
//! by checking that a normal client is still served correctly by the same
//! server process. `tests/hostile.rs` runs each one against every server in
//! the repository it applies to; the exercises run some against the
//! learner's server.
//!
//! The checks are the promises every server makes (see the lessons' "What
//! can go wrong" tables), and the failures that servers such as Redis,
//! memcached and nginx guard against: too many clients, too few file
//! descriptors, garbage, slow readers, resets, a stalled console.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use super::DEADLINE;
use super::client::*;
use super::process::{ServerProcess, Signal, Target, run_to_exit};
use crate::protocol::Protocol;

/// Bytes that are not UTF-8: one ERROR line, and the session (if any) goes on.
pub fn invalid_utf8(target: &Target) {
    let protocol = target.protocol;
    let server = target.start(&[]);
    if protocol == Protocol::Counter {
        let reply = counter_exchange(server.address(), b"\xff\xfe\xfd");
        expect_eq!(reply, "ERROR: message is not valid UTF-8\n");
    } else {
        let mut stream = session(protocol, server.address());
        stream.write_all(b"\xc3\x28 broken\nafter\n").unwrap();
        expect_line(&mut stream, "ERROR: message is not valid UTF-8\n");
        expect_line(&mut stream, &reply_to(protocol, "after"));
    }
    assert_still_serves(protocol, server.address());
}

/// NUL, control bytes and an ANSI escape: served, and shown escaped on the
/// console, so a client can neither forge a log line nor drive the terminal.
pub fn control_bytes_are_escaped_in_the_log(target: &Target) {
    let protocol = target.protocol;
    let mut server = target.start(&[]);
    let hostile = "nul\0bell\x07 \x1b[2J\x1b]0;owned\x07\rClient 99 connected from 6.6.6.6:666";
    if protocol == Protocol::Counter {
        let reply = counter_exchange(server.address(), format!("hi\n{hostile}").as_bytes());
        assert!(reply.starts_with("Hello Client 1,"), "{reply:?}");
        server.wait_for("Client 1 disconnected.");
    } else {
        let mut stream = session(protocol, server.address());
        stream.write_all(format!("{hostile}\n").as_bytes()).unwrap();
        // The bytes come back as sent: they are the client's own.
        expect_line(&mut stream, &reply_to(protocol, hostile));
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
    assert_still_serves(protocol, server.address());
}

/// Counter: 100 KiB in one message still gets the greeting, intact, then a
/// clean end of stream. Echo and queue: 1 MiB without a newline gets one ERROR
/// line, and the server's memory does not grow with it.
pub fn oversized_messages(target: &Target) {
    let protocol = target.protocol;
    let server = target.start(&[]);
    if protocol == Protocol::Counter {
        let mut stream = server.connect();
        let writer = stream.try_clone().unwrap();
        let sender = thread::spawn(move || (&writer).write_all(&vec![b'x'; 100 * 1024]));
        expect_eq!(
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
        let before = server.peak_resident_kib();
        let mut stream = session(protocol, server.address());
        let writer = stream.try_clone().unwrap();
        let sender = thread::spawn(move || {
            let chunk = vec![b'y'; 64 * 1024];
            for _ in 0..16 {
                (&writer).write_all(&chunk)?;
            }
            (&writer).write_all(b"\nafter\n")
        });
        expect_line(&mut stream, "ERROR: message longer than 1024 bytes\n");
        expect_line(&mut stream, &reply_to(protocol, "after"));
        sender.join().unwrap().unwrap();
        let grown = server.peak_resident_kib().saturating_sub(before);
        assert!(
            grown < 512,
            "1 MiB of one line grew the server by {grown} KiB"
        );
    }
    assert_still_serves(protocol, server.address());
}

/// One line written a byte at a time, with pauses: one message.
pub fn a_line_a_byte_at_a_time(target: &Target) {
    let protocol = target.protocol;
    let server = target.start(&[]);
    let mut stream = session(protocol, server.address());
    stream.set_nodelay(true).unwrap();
    for byte in b"slowly\n" {
        stream.write_all(&[*byte]).unwrap();
        thread::sleep(Duration::from_millis(20));
    }
    expect_line(&mut stream, &reply_to(protocol, "slowly"));
    assert_still_serves(protocol, server.address());
}

/// Many lines in one write: as many answers, in order.
pub fn many_lines_in_one_write(target: &Target) {
    let protocol = target.protocol;
    let server = target.start(&[]);
    let mut stream = session(protocol, server.address());
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
        expect_line(&mut stream, &reply_to(protocol, line));
    }
    assert_still_serves(protocol, server.address());
}

/// `!DISCONNECT` split exactly in two writes is still the goodbye.
pub fn disconnect_split_across_writes(target: &Target) {
    let protocol = target.protocol;
    let mut server = target.start(&[]);
    let mut stream = session(protocol, server.address());
    stream.write_all(b"!DISCON").unwrap();
    // The first half is read on its own before the rest is sent.
    wait_until_server_has_read(&stream);
    stream.write_all(b"NECT\n").unwrap();
    let rest = read_to_end(&mut stream);
    assert!(rest.is_empty() || rest.starts_with("Goodbye"), "{rest:?}");
    drop(stream);
    server.wait_for("sent !DISCONNECT");
    assert_still_serves(protocol, server.address());
}

/// A client that connects and never writes is closed after --idle-timeout;
/// another client is served meanwhile.
pub fn a_silent_client_is_closed_after_the_idle_timeout(target: &Target) {
    let protocol = target.protocol;
    let server = target.start(&["--idle-timeout", "1"]);
    let connected = Instant::now();
    let mut silent = session(protocol, server.address());
    assert_still_serves(protocol, server.address());
    expect_line(&mut silent, "ERROR: idle timeout, closing the connection\n");
    assert_end_of_stream(&mut silent);
    let after = connected.elapsed();
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_secs(4),
        "with --idle-timeout 1, the silent client should be closed after about 1 s; it was \
         closed after {:.1} s",
        after.as_secs_f64()
    );
    assert_still_serves(protocol, server.address());
}

/// One byte every half second, never a newline: the idle timeout counts from
/// when the server started waiting for the line, so the drip does not keep
/// it alive, and the error quotes the line that never ended.
pub fn a_drip_feeding_client_is_closed_after_the_idle_timeout(target: &Target) {
    let protocol = target.protocol;
    let server = target.start(&["--idle-timeout", "1.5"]);
    let mut dripper = session(protocol, server.address());
    let writer = dripper.try_clone().unwrap();
    let started = Instant::now();
    let drip = thread::spawn(move || {
        while (&writer).write_all(b"x").is_ok() && started.elapsed() < Duration::from_secs(6) {
            thread::sleep(Duration::from_millis(500));
        }
    });
    assert_still_serves(protocol, server.address());
    // The error says why: the line it started never got its newline.
    let error = read_line(&mut dripper);
    assert!(
        error.starts_with("ERROR: idle timeout: your line \"xx")
            && error.ends_with("never ended with a newline (\\n); closing the connection\n"),
        "{error:?}"
    );
    let after = started.elapsed();
    assert!(
        after < Duration::from_secs(4),
        "with --idle-timeout 1.5, the dripping client should be closed about 1.5 s after it \
         connected; the drip kept it connected for {:.1} s: the timeout was counted again \
         from each byte",
        after.as_secs_f64()
    );
    drop(dripper);
    drip.join().unwrap();
    assert_still_serves(protocol, server.address());
}

/// A client that writes without end and never reads: the others still get
/// their replies within a second, and the server lets the reader-less client go.
pub fn a_client_that_never_reads(target: &Target) {
    let protocol = target.protocol;
    let mut server = target.start(&["--write-timeout", "1"]);
    let flooder = session(protocol, server.address());
    let writer = flooder.try_clone().unwrap();
    let flood = thread::spawn(move || {
        let line = format!("{}\n", "z".repeat(1000));
        while (&writer).write_all(line.as_bytes()).is_ok() {}
    });
    let mut other = session(protocol, server.address());
    for n in 0..100 {
        let asked = Instant::now();
        other.write_all(format!("ping {n}\n").as_bytes()).unwrap();
        expect_line(&mut other, &reply_to(protocol, &format!("ping {n}")));
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "a reply took {:?}",
            asked.elapsed()
        );
    }
    server.wait_for_line(|line| line.contains("not reading"));
    drop(flooder);
    flood.join().unwrap();
    assert_still_serves(protocol, server.address());
}

/// A client writes 6 MB of lines at once and reads the echoes slowly,
/// through a small receive buffer: the server's writes find the socket full
/// again and again, and must keep what did not fit and send it later. Every
/// echo arrives, whole and in order.
pub fn a_slow_reader_gets_every_echo_of_a_large_burst(target: &Target) {
    const LINES: usize = 60_000;
    let protocol = target.protocol;
    let server = target.start(&["--quiet"]);
    let line = |n: usize| format!("line {n:06} {}\n", "e".repeat(87));
    let mut stream = connect_with_small_receive_buffer(server.address());
    let writer = stream.try_clone().unwrap();
    let sender = thread::spawn(move || {
        let burst: String = (0..LINES).map(line).collect();
        (&writer).write_all(burst.as_bytes())
    });
    let mut echoes = BufReader::new(&mut stream);
    let mut echo = String::new();
    for n in 0..LINES {
        if n % 40 == 0 {
            // A slow reader: about 4 KiB, then a pause.
            thread::sleep(Duration::from_millis(1));
        }
        echo.clear();
        if let Err(e) = echoes.read_line(&mut echo) {
            panic!(
                "expected all {LINES} echoes; after {n} came {}",
                describe(&e)
            );
        }
        if echo != line(n) {
            panic!(
                "expected echo {n} to be {:?}\n     got {echo:?} (an echo lost or cut short)",
                line(n)
            );
        }
    }
    sender
        .join()
        .unwrap()
        .expect("the server read the whole burst");
    assert_still_serves(protocol, server.address());
}

/// A client floods the server and never reads: once its buffers are full,
/// its writes stop going through. Then the server, which has nothing it can
/// do for it, uses no CPU (no write retried in a loop), and serves others.
pub fn a_client_that_stops_reading_costs_no_cpu(target: &Target) {
    let protocol = target.protocol;
    let server = target.start(&["--quiet"]);
    let mut flooder = connect_with_small_receive_buffer(server.address());
    if protocol == Protocol::Queue {
        let welcome = read_line(&mut flooder);
        assert!(welcome.starts_with("Welcome, Client"), "{welcome:?}");
    }
    // Until a write waits half a second: the server stopped reading (or
    // dropped the client).
    flooder
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let line = format!("{}\n", "w".repeat(999));
    let started = Instant::now();
    while (&flooder).write_all(line.as_bytes()).is_ok() {
        assert!(
            started.elapsed() < DEADLINE,
            "the server went on reading a client that does not read for {DEADLINE:?}"
        );
    }
    let before = server.cpu_time();
    thread::sleep(Duration::from_secs(1));
    let cpu = server.cpu_time().saturating_sub(before);
    assert!(
        cpu < Duration::from_millis(200),
        "the server used {cpu:?} of CPU in a second with nothing to do but wait: spinning"
    );
    assert_still_serves(protocol, server.address());
    reset(flooder);
}

/// 200 clients connect and reset at once (SO_LINGER 0, so close sends RST).
pub fn two_hundred_resets_at_once(target: &Target) {
    let protocol = target.protocol;
    let mut server = target.start(&[]);
    let address = server.address();
    all_at_once(200, move |_| {
        let stream = connect(address);
        reset(stream);
    });
    server.wait_for_count(disconnect_log(protocol), 200);
    assert_still_serves(protocol, server.address());
    assert!(!server.stderr().contains("panicked"), "{}", server.output());
}

/// Half a message, then a reset.
pub fn a_reset_in_the_middle_of_a_message(target: &Target) {
    let protocol = target.protocol;
    let mut server = target.start(&[]);
    for _ in 0..20 {
        let mut stream = if protocol == Protocol::Counter {
            server.connect()
        } else {
            session(protocol, server.address())
        };
        stream.write_all(b"half a mess").unwrap();
        reset(stream);
    }
    server.wait_for_count(disconnect_log(protocol), 20);
    assert_still_serves(protocol, server.address());
}

/// 2,000 clients connect at the same instant, with the default backlog:
/// every one is served.
pub fn two_thousand_clients_at_the_same_instant(target: &Target) {
    let protocol = target.protocol;
    let server = target.start(&[]);
    let address = server.address();
    let results = all_at_once(2000, move |n| -> Result<(), String> {
        let stream = TcpStream::connect(address).map_err(|e| format!("connect: {e}"))?;
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut lines = BufReader::new(&stream);
        let mut reply = String::new();
        let read_failed = |e: std::io::Error| format!("reply: {}", describe(&e));
        if protocol == Protocol::Counter {
            (&stream).write_all(b"burst").unwrap();
            lines.read_to_string(&mut reply).map_err(read_failed)?;
            greeting_id(&reply);
            return Ok(());
        }
        if protocol == Protocol::Queue {
            lines.read_line(&mut reply).map_err(read_failed)?; // The welcome.
            reply.clear();
        }
        let message = format!("burst {n}");
        (&stream)
            .write_all(format!("{message}\n").as_bytes())
            .unwrap();
        lines.read_line(&mut reply).map_err(read_failed)?;
        if reply != reply_to(protocol, &message) {
            return Err(format!("sent {message:?}, got {reply:?}"));
        }
        Ok(())
    });
    assert_every_client(&results);
    assert_still_serves(protocol, server.address());
}

/// Past --max-clients a client gets one ERROR line and end of stream; a slot
/// frees when a client leaves.
pub fn more_clients_than_max_clients(target: &Target) {
    let protocol = target.protocol;
    let server = target.start(&["--max-clients", "3"]);
    // Connections are accepted in the order they arrive: these three first.
    let mut held: Vec<TcpStream> = (0..3)
        .map(|_| session(protocol, server.address()))
        .collect();
    for _ in 0..5 {
        let mut extra = server.connect();
        expect_line(
            &mut extra,
            "ERROR: too many clients (limit 3); try again later\n",
        );
        assert_end_of_stream(&mut extra);
    }
    let mut leaving = held.pop().unwrap();
    if protocol == Protocol::Counter {
        leaving.write_all(b"bye").unwrap();
        read_to_end(&mut leaving);
    } else {
        leaving.write_all(b"!DISCONNECT\n").unwrap();
        read_to_end(&mut leaving);
    }
    drop(leaving);
    // The place is free once the server has finished with the leaving client.
    assert_served_once_a_place_frees(protocol, &server);
}

/// The server runs out of file descriptors: it must not spin, must log the
/// error only a few times a second, and must serve again when clients leave.
pub fn out_of_file_descriptors(target: &Target) {
    let protocol = target.protocol;
    let (server, crowd) = hit_the_descriptor_wall(target);
    assert_backs_off_at_the_wall(&server);
    drop(crowd);
    assert_still_serves(protocol, server.address());
}

/// Starts `target` with 64 file descriptors and an explicit --max-clients
/// above what they allow (the default would fit itself to the limit, and the
/// wall would never be reached), and connects more clients than it can
/// accept: the kernel queues the ones it cannot. Returns once the server
/// has said that `accept()` failed, with the crowd still connected.
pub fn hit_the_descriptor_wall(target: &Target) -> (ServerProcess, Vec<TcpStream>) {
    let server = target.start_with_open_file_limit(64, &["--max-clients", "1000"]);
    let crowd: Vec<TcpStream> = (0..100).map(|_| server.connect()).collect();
    server.wait_for_stderr("accept failed");
    (server, crowd)
}

/// At the wall, the server waits between failed `accept()`s: under 0.3 s of
/// CPU and at most five "accept failed" lines in a second, and the cause named.
pub fn assert_backs_off_at_the_wall(server: &ServerProcess) {
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
}

/// Ctrl-C while the server is out of file descriptors, with clients waiting
/// in the kernel's accept queue: their connections completed before the
/// signal, so each is answered or told the server is stopping, none reset.
pub fn clients_waiting_in_the_accept_queue_are_told_at_shutdown(target: &Target) {
    let protocol = target.protocol;
    let mut server = target.start_with_open_file_limit(64, &["--max-clients", "1000"]);
    let crowd: Vec<TcpStream> = (0..100).map(|_| server.connect()).collect();
    server.wait_for_stderr("accept failed");
    server.stop();
    // Read every connection at once: each one closes when it has its answer,
    // which lets the server's thread for it finish and free its descriptor.
    let answers = thread::scope(|scope| {
        let readers: Vec<_> = crowd
            .into_iter()
            .map(|mut stream| {
                scope.spawn(move || {
                    let mut bytes = Vec::new();
                    stream
                        .read_to_end(&mut bytes)
                        .map(|_| String::from_utf8_lossy(&bytes).into_owned())
                        .map_err(|e| describe(&e))
                })
            })
            .collect();
        let answers: Vec<_> = readers.into_iter().map(|r| r.join().unwrap()).collect();
        answers
    });
    server.assert_stops_cleanly_within(Duration::from_secs(3));
    let told = "ERROR: server is shutting down\n";
    let results: Vec<Result<(), String>> = answers
        .iter()
        .map(|answer| match answer {
            Err(e) => Err(format!("no answer, the connection failed: {e}")),
            // Still waiting in the queue at the signal: told, then closed.
            Ok(answer) if answer == told => Ok(()),
            // Accepted before the signal: each server's own goodbye.
            Ok(answer) => match protocol {
                Protocol::Counter => Err(format!("{answer:?}")),
                Protocol::Echo if answer.is_empty() => Ok(()),
                Protocol::Queue if answer.ends_with("Server is shutting down. Goodbye!\n") => {
                    Ok(())
                }
                _ => Err(format!("{answer:?}")),
            },
        })
        .collect();
    assert_every_client(&results);
    let queued = answers.iter().filter(|a| a.as_deref() == Ok(told)).count();
    assert!(
        queued > 0,
        "no client was waiting in the queue; {}",
        server.output()
    );
}

/// With only 64 file descriptors, the default --max-clients shrinks to fit
/// (with a note on stderr), so clients past it get an answer, not a silent wait.
pub fn max_clients_fits_the_open_file_limit(target: &Target) {
    let protocol = target.protocol;
    let server = target.start_with_open_file_limit(64, &[]);
    server.wait_for_stderr("at most 32 clients at once");
    let held: Vec<TcpStream> = (0..32)
        .map(|_| session(protocol, server.address()))
        .collect();
    let mut extra = server.connect();
    expect_line(
        &mut extra,
        "ERROR: too many clients (limit 32); try again later\n",
    );
    drop(held);
    assert_served_once_a_place_frees(protocol, &server);
    assert!(
        !server.stderr().contains("accept failed"),
        "{}",
        server.output()
    );
}

/// Whoever reads the server's console goes away (a closed pipe): the server
/// goes on serving, nothing panics, and the operator is told once, on
/// stderr, that the console cannot be written.
pub fn stdout_closed_by_its_reader(target: &Target) {
    let protocol = target.protocol;
    let (mut server, console) = ServerProcess::spawn_holding_console(target);
    drop(console); // Nobody reads the console any more.
    for _ in 0..3 {
        assert_still_serves(protocol, server.address());
    }
    server.wait_for_stderr(CONSOLE_FAILING);
    for _ in 0..20 {
        assert_still_serves(protocol, server.address());
    }
    server.stop();
    server.assert_stops_cleanly_within(DEADLINE);
    assert!(!server.stderr().contains("panicked"), "{}", server.output());
    assert_told_once_that_the_console_fails(&server);
}

/// The start of the line a server writes on stderr when its console fails.
pub const CONSOLE_FAILING: &str = "console: cannot write to stdout";

/// The server said that its console fails, in exactly one line on stderr,
/// however many lines it could not write.
#[track_caller]
pub fn assert_told_once_that_the_console_fails(server: &ServerProcess) {
    let stderr = server.stderr();
    let told = stderr
        .lines()
        .filter(|line| line.starts_with(CONSOLE_FAILING))
        .count();
    assert!(
        told == 1,
        "expected one line on stderr starting {CONSOLE_FAILING:?}; got {told}\n{}",
        server.output()
    );
}

/// The console stops: stdout is a pipe that nobody reads any more (a paused
/// terminal, `| less`), so it fills up. Clients are still served, and Ctrl-C
/// still ends the server within about a second.
pub fn a_console_nobody_reads(target: &Target) {
    let protocol = target.protocol;
    // From here on nobody reads `console`, but it stays open: a full pipe, not a closed one.
    let (mut server, console) = ServerProcess::spawn_holding_console(target);
    // Each client logs about 100 bytes; 64 KiB of pipe is full after a thousand or so.
    for _ in 0..1500 {
        assert_still_serves(protocol, server.address());
    }
    server.stop();
    server.assert_stops_cleanly_within(Duration::from_millis(1500));
    drop(console);
}

/// Ctrl-C while clients are mid-session.
pub fn sigint_mid_session(target: &Target) {
    stop_mid_session(target, None);
}

/// SIGTERM while clients are mid-session.
pub fn sigterm_mid_session(target: &Target) {
    stop_mid_session(target, Some(Signal::SIGTERM));
}

/// Clients in every state when the signal comes: exit 0 within a second, and
/// on the queue server every message sent before the signal gets its reply.
pub fn stop_mid_session(target: &Target, signal: Option<Signal>) {
    let protocol = target.protocol;
    let mut server = target.start(&[]);
    let mut idle = session(protocol, server.address());
    let mut half = session(protocol, server.address());
    half.write_all(b"half a li").unwrap();
    let mut busy = session(protocol, server.address());
    if protocol != Protocol::Counter {
        let burst: String = (0..200).map(|n| format!("in flight {n}\n")).collect();
        busy.write_all(burst.as_bytes()).unwrap();
    }
    server.stop_with(signal);
    server.assert_stops_cleanly_within(Duration::from_secs(1));
    if protocol == Protocol::Queue {
        for n in 0..200 {
            expect_line(&mut busy, &format!("Processed: in flight {n}\n"));
        }
        expect_line(&mut busy, "Server is shutting down. Goodbye!\n");
    }
    for stream in [&mut idle, &mut half, &mut busy] {
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest); // Ends: the server closed every connection.
    }
    assert!(!server.stderr().contains("panicked"), "{}", server.output());
}

/// A port another program holds: the server says so in one line on stderr,
/// naming the address and the cause, and exits with status 1; it prints no
/// listening line and does not panic.
pub fn a_port_in_use_is_a_clear_error(target: &Target) {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = taken.local_addr().expect("its address").port().to_string();
    let output = run_to_exit(std::process::Command::new(target.program()).args(["--port", &port]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.code() == Some(1),
        "expected exit status 1 when port {port} is taken; got {}\nstderr: {stderr}",
        output.status
    );
    assert!(
        !stdout.contains("listening on port"),
        "expected no listening line when port {port} is taken; stdout: {stdout}"
    );
    let address = format!("127.0.0.1:{port}");
    assert!(
        stderr.lines().count() == 1
            && stderr.contains(&address)
            && stderr.contains("in use")
            && !stderr.contains("panicked"),
        "expected one line on stderr naming {address} and saying it is in use; got:\n{stderr}"
    );
}
