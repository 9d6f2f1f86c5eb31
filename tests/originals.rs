//! The Python originals (`originals/`) and the Rust programs, side by side.
//!
//! The original clients against the Rust servers, the Rust `client` against
//! the original servers, and one scripted session run against both servers
//! of each lesson, whose console lines must be the same up to the
//! differences each lesson's "Differences from the original" table names.
//!
//! These need `python3` on the PATH. Without it each test says so plainly
//! and passes: the originals are for reading and comparing, and the rest of
//! the suite does not depend on them.

mod support;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use support::*;

/// `python3`, if this machine has it.
fn python() -> Option<&'static str> {
    let found = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !found {
        eprintln!("skipped: python3 is not on the PATH, so the Python originals cannot run");
    }
    found.then_some("python3")
}

fn original(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("originals")
        .join(file)
}

/// Starts an original server on a free port.
fn original_server(python: &str, file: &str) -> ServerProcess {
    let mut command = Command::new(python);
    // -u: unbuffered, though the originals flush every line anyway.
    command.arg("-u").arg(original(file)).args(["--port", "0"]);
    ServerProcess::spawn(command, HowToStop::CtrlC)
}

/// Runs an original client to completion, within the deadline.
fn run_original_client(python: &str, file: &str, args: &[&str]) -> Output {
    let mut child = Command::new(python)
        .arg(original(file))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start python3");
    let deadline = Instant::now() + DEADLINE;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{file} did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Console lines with what differs between the two by design made equal:
/// the client's address (Python prints a tuple), the port, and the detail
/// the Rust servers add after the original's words.
fn comparable(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|line| {
            let mut line = line.clone();
            // "('127.0.0.1', 52814)" and "127.0.0.1:52814" both become "ADDR".
            for address_start in ["('127.0.0.1', ", "127.0.0.1:"] {
                while let Some(at) = line.find(address_start) {
                    let rest = &line[at + address_start.len()..];
                    let digits = rest.chars().take_while(char::is_ascii_digit).count();
                    let tuple_end = usize::from(address_start.starts_with('('));
                    line.replace_range(at..at + address_start.len() + digits + tuple_end, "ADDR");
                }
            }
            if let Some(at) = line.find("port ") {
                let digits = line[at + 5..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .count();
                line.replace_range(at + 5..at + 5 + digits, "N");
            }
            // The Rust servers say why a client left; the originals do not.
            if line.starts_with("[Client disconnected]") {
                line = "[Client disconnected]".into();
            }
            if let Some(at) = line.find(" disconnected (") {
                line.replace_range(at..line.len(), " disconnected.");
            }
            line
        })
        .collect()
}

// The original clients against the Rust servers.

/// The original counter client works against counter_server unchanged: no
/// newline, one `recv`.
#[test]
fn the_original_counter_client_is_answered_by_counter_server() {
    let Some(python) = python() else { return };
    for style in Style::ALL {
        let server = ServerProcess::of(Protocol::Counter, style, &[]);
        let port = server.port.to_string();
        let output = run_original_client(python, "counter_client.py", &["--port", &port]);
        assert_eq!(
            text(&output.stdout),
            "Server replied: Hello Client 1, server received your message!\n",
            "{}",
            text(&output.stderr)
        );
    }
}

/// The original echo client sends no newline and waits: echo_server waits
/// for the newline, and at the idle timeout tells it why it got no echo.
#[test]
fn the_original_echo_client_is_told_its_line_had_no_newline() {
    let Some(python) = python() else { return };
    let server = ServerProcess::of(Protocol::Echo, Style::Threads, &["--idle-timeout", "1"]);
    let port = server.port.to_string();
    let output = run_original_client(python, "echo_client.py", &["--port", &port, "-m", "Hello"]);
    let stdout = text(&output.stdout);
    assert_eq!(
        stdout,
        "Server replied: ERROR: idle timeout: your line \"Hello\" never ended with a newline (\\n); closing the connection\n\n",
        "{}",
        text(&output.stderr)
    );
}

// The Rust client against the original servers.

/// `client` with no arguments is the original counter client, against the original server.
#[test]
fn the_rust_client_is_answered_by_the_original_counter_server() {
    let Some(python) = python() else { return };
    let server = original_server(python, "counter_server.py");
    let output = Command::new(CLIENT)
        .args(["--port", &server.port.to_string()])
        .output()
        .unwrap();
    assert_eq!(
        text(&output.stdout),
        "Server replied: Hello Client 1, server received your message!\n"
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
}

/// `client echo`, typing one line at a time (so each reaches the original in
/// a read of its own), against the original echo server.
#[test]
fn the_rust_client_holds_a_session_with_the_original_echo_server() {
    let Some(python) = python() else { return };
    let mut server = original_server(python, "echo_server.py");
    let mut client = ClientProcess::start(&["echo", "--port", &server.port.to_string()]);
    for line in ["Hello", "World"] {
        client.type_line(line);
        assert_eq!(client.next_line(), line);
    }
    let (rest, status) = client.finish();
    assert!(rest.is_empty(), "{rest:?}");
    assert!(status.success());
    server.wait_for("[Client disconnected]");
}

/// `client queue` against the original queue server: the same protocol.
#[test]
fn the_rust_client_holds_a_session_with_the_original_queue_server() {
    let Some(python) = python() else { return };
    let server = original_server(python, "queue_server.py");
    let mut client = ClientProcess::start(&["queue", "--port", &server.port.to_string()]);
    assert!(client.next_line().starts_with("Welcome, Client 1!"));
    client.type_line("hello");
    assert_eq!(client.next_line(), "Processed: hello");
    let (rest, status) = client.finish();
    assert_eq!(rest, ["Goodbye, Client 1."]);
    assert!(status.success());
}

// One scripted session, on both servers of each lesson.

/// What the counter server prints for two `client` runs.
fn counter_session(mut server: ServerProcess) -> Vec<String> {
    for n in 1..=2 {
        let output = Command::new(CLIENT)
            .args(["--port", &server.port.to_string()])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
        server.wait_for(&format!("Client {n} disconnected"));
    }
    server.lines.clone()
}

/// What the echo server prints for one session of two lines and a goodbye.
fn echo_session(mut server: ServerProcess) -> Vec<String> {
    let mut client = ClientProcess::start(&["echo", "--port", &server.port.to_string()]);
    for line in ["Hello", "World"] {
        client.type_line(line);
        assert_eq!(client.next_line(), line);
    }
    assert!(client.finish().1.success());
    server.wait_for("[Client disconnected]");
    server.lines.clone()
}

/// What the queue server prints for two clients, a direct message and a reply.
fn queue_session(mut server: ServerProcess) -> Vec<String> {
    let port = server.port.to_string();
    let mut first = ClientProcess::start(&["queue", "--port", &port]);
    assert!(first.next_line().starts_with("Welcome, Client 1!"));
    server.wait_for("Client 1 connected");
    let mut second = ClientProcess::start(&["queue", "--port", &port]);
    assert!(second.next_line().starts_with("Welcome, Client 2!"));
    server.wait_for("Client 2 connected");
    second.type_line("@1 Hi, Client 1!");
    assert_eq!(second.next_line(), "Delivered to Client 1: Hi, Client 1!");
    assert_eq!(first.next_line(), "From Client 2: Hi, Client 1!");
    first.type_line("hello");
    assert_eq!(first.next_line(), "Processed: hello");
    assert_eq!(first.finish().0, ["Goodbye, Client 1."]);
    server.wait_for("Client 1 disconnected");
    assert_eq!(second.finish().0, ["Goodbye, Client 2."]);
    server.wait_for("Client 2 disconnected");
    server.lines.clone()
}

/// The console of one session run on the original server and on the Rust
/// one, each made comparable: (original, Rust).
fn both_consoles(
    python: &str,
    protocol: Protocol,
    session: fn(ServerProcess) -> Vec<String>,
) -> (Vec<String>, Vec<String>) {
    let file = format!("{}.py", protocol.server_name());
    let original = comparable(&session(original_server(python, &file)));
    let rust = comparable(&session(ServerProcess::of(protocol, Style::Threads, &[])));
    (original, rust)
}

#[test]
fn the_counter_servers_print_the_originals_lines() {
    let Some(python) = python() else { return };
    let (original, rust) = both_consoles(python, Protocol::Counter, counter_session);
    assert_eq!(rust, original);
    assert_eq!(original[1], "Client 1 connected from ADDR");
}

#[test]
fn the_echo_servers_print_the_originals_lines() {
    let Some(python) = python() else { return };
    let (original, rust) = both_consoles(python, Protocol::Echo, echo_session);
    assert_eq!(rust, original);
    assert_eq!(original[3], "[ADDR] Hello");
}

#[test]
fn the_queue_servers_print_the_originals_lines() {
    let Some(python) = python() else { return };
    let (original, rust) = both_consoles(python, Protocol::Queue, queue_session);
    assert_eq!(rust, original);
    let direct = "Client 2 says: @1 Hi, Client 1!".to_string();
    assert!(original.contains(&direct), "{original:?}");
}
