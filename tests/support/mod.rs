//! What the end-to-end tests share: the binaries under test, and the
//! harness that drives them ([`threaded_servers::harness`], shared with the
//! exercises' checks): start a server on port 0, learn its port from its
//! listening line, talk to it like a client of its lesson, stop it, and make
//! sure it is gone when the test ends, passed or failed.
//!
//! Every wait has a deadline. A server that hangs fails the test with what
//! it printed so far, rather than hanging `cargo test`.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::Receiver;

pub use threaded_servers::harness::*;
pub use threaded_servers::protocol::Protocol;

pub const COUNTER_SERVER: &str = env!("CARGO_BIN_EXE_counter_server");
pub const ECHO_SERVER: &str = env!("CARGO_BIN_EXE_echo_server");
pub const QUEUE_SERVER: &str = env!("CARGO_BIN_EXE_queue_server");
pub const ASYNC_COUNTER_SERVER: &str = env!("CARGO_BIN_EXE_async_counter_server");
pub const ASYNC_ECHO_SERVER: &str = env!("CARGO_BIN_EXE_async_echo_server");
pub const ASYNC_QUEUE_SERVER: &str = env!("CARGO_BIN_EXE_async_queue_server");
pub const EVENT_COUNTER_SERVER: &str = env!("CARGO_BIN_EXE_event_counter_server");
pub const EVENT_ECHO_SERVER: &str = env!("CARGO_BIN_EXE_event_echo_server");
pub const EVENT_QUEUE_SERVER: &str = env!("CARGO_BIN_EXE_event_queue_server");
pub const CLIENT: &str = env!("CARGO_BIN_EXE_client");
pub const SWARM: &str = env!("CARGO_BIN_EXE_swarm");

/// How a server serves its clients: each protocol has three servers, which
/// must behave the same from the outside.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Style {
    /// Lessons 1-3: a thread per client (`counter_server`, ...).
    Threads,
    /// Lesson 5: one thread, one event loop (`event_counter_server`, ...).
    Events,
    /// Lesson 6: a tokio task per client (`async_counter_server`, ...).
    Tasks,
}

impl Style {
    /// Every style, in lesson order.
    pub const ALL: [Style; 3] = [Style::Threads, Style::Events, Style::Tasks];
}

/// The server binary for `protocol`, in `style`.
pub fn server_binary(protocol: Protocol, style: Style) -> &'static str {
    match (protocol, style) {
        (Protocol::Counter, Style::Threads) => COUNTER_SERVER,
        (Protocol::Echo, Style::Threads) => ECHO_SERVER,
        (Protocol::Queue, Style::Threads) => QUEUE_SERVER,
        (Protocol::Counter, Style::Tasks) => ASYNC_COUNTER_SERVER,
        (Protocol::Echo, Style::Tasks) => ASYNC_ECHO_SERVER,
        (Protocol::Queue, Style::Tasks) => ASYNC_QUEUE_SERVER,
        (Protocol::Counter, Style::Events) => EVENT_COUNTER_SERVER,
        (Protocol::Echo, Style::Events) => EVENT_ECHO_SERVER,
        (Protocol::Queue, Style::Events) => EVENT_QUEUE_SERVER,
    }
}

/// The server for `protocol`, in `style`, as a harness target: stopped with Ctrl-C.
pub fn target(protocol: Protocol, style: Style) -> Target {
    Target::new(protocol, server_binary(protocol, style), HowToStop::CtrlC)
}

/// `ServerProcess::of(protocol, style, args)`: starts the server for
/// `protocol`, in `style`, on port 0.
pub trait Of {
    fn of(protocol: Protocol, style: Style, args: &[&str]) -> ServerProcess;
    fn start(binary: &str, args: &[&str]) -> ServerProcess;
}

impl Of for ServerProcess {
    fn of(protocol: Protocol, style: Style, args: &[&str]) -> ServerProcess {
        target(protocol, style).start(args)
    }

    /// Starts `binary --port 0 args...` and waits for its listening line.
    fn start(binary: &str, args: &[&str]) -> ServerProcess {
        let mut command = Command::new(binary);
        command.args(["--port", "0"]).args(args);
        ServerProcess::spawn(command, HowToStop::CtrlC)
    }
}

/// Starts a server that may open only `files` file descriptors (`ulimit -n`).
pub fn under_open_file_limit(files: u32, binary: &str, args: &[&str]) -> ServerProcess {
    Target::new(Protocol::Counter, binary, HowToStop::CtrlC).start_with_open_file_limit(files, args)
}

/// The path of an example program: `cargo test` builds the examples next
/// to its test binaries.
pub fn example(name: &str) -> std::path::PathBuf {
    let test_binary = std::env::current_exe().expect("the test binary's path");
    let profile_dir = test_binary
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    profile_dir.join("examples").join(name)
}

/// Starts a lesson's first version (an example that takes `--port N`, as
/// the servers do) on port 0.
pub fn first_version(name: &str) -> ServerProcess {
    ServerProcess::spawn(first_version_command(name), HowToStop::CtrlC)
}

/// The command that runs a lesson's first version on port 0.
pub fn first_version_command(name: &str) -> Command {
    let mut command = Command::new(example(name));
    command.args(["--port", "0"]);
    command
}

/// The name the server for `protocol`, in `style`, gives itself in its errors.
pub fn server_name(protocol: Protocol, style: Style) -> String {
    match style {
        Style::Threads => protocol.server_name().to_string(),
        Style::Events => format!("event_{}", protocol.server_name()),
        Style::Tasks => format!("async_{}", protocol.server_name()),
    }
}

/// One test per server for a check that every server must pass:
/// `server_tests!(hostile, case: counter, echo, event_queue, ...)`
/// generates `mod case { fn counter(); fn echo(); fn event_queue(); ... }`,
/// each running `threaded_servers::harness::hostile::case` against that
/// server, so `cargo test case` runs it on each. A server is named as its
/// test is: `counter`, `event_counter`, `async_counter`, and so on.
#[allow(unused_macros)] // Each suite that uses it says `#[macro_use] mod support;`.
macro_rules! server_tests {
    ($suite:ident, $case:ident: $($server:ident),+) => {
        mod $case {
            $(
                #[test]
                fn $server() {
                    let (protocol, style) = crate::support::named_server(stringify!($server));
                    threaded_servers::harness::$suite::$case(&crate::support::target(protocol, style));
                }
            )+
        }
    };
}

/// The server a test of [`server_tests!`] is named after: `counter`,
/// `event_echo`, `async_queue`...: its protocol, and its style.
#[allow(dead_code)] // Not every suite that includes this module uses it.
pub fn named_server(name: &str) -> (Protocol, Style) {
    let (style, protocol) = match name.split_once('_') {
        Some(("event", protocol)) => (Style::Events, protocol),
        Some(("async", protocol)) => (Style::Tasks, protocol),
        _ => (Style::Threads, name),
    };
    let protocol = Protocol::ALL
        .into_iter()
        .find(|p| p.name() == protocol)
        .unwrap_or_else(|| panic!("no server named {name}"));
    (protocol, style)
}

/// One test per style of server. `for_every_style!(counter::name)` runs
/// the check `threaded_servers::harness::counter::name` against the
/// lesson's threaded server (`name::threads`), its event-loop twin
/// (`name::events`) and its async twin (`name::tasks`);
/// `for_every_style!(name)` does the same for a `fn name(style: Style)` in
/// the test file itself. `cargo test name` runs all three.
#[allow(unused_macros)] // Each suite that uses it says `#[macro_use] mod support;`.
macro_rules! for_every_style {
    ($lesson:ident :: $name:ident) => {
        mod $name {
            #[test]
            fn threads() {
                crate::support::check(
                    threaded_servers::harness::$lesson::$name,
                    threaded_servers::harness::$lesson::PROTOCOL,
                    crate::support::Style::Threads,
                );
            }

            #[test]
            fn events() {
                crate::support::check(
                    threaded_servers::harness::$lesson::$name,
                    threaded_servers::harness::$lesson::PROTOCOL,
                    crate::support::Style::Events,
                );
            }

            #[test]
            fn tasks() {
                crate::support::check(
                    threaded_servers::harness::$lesson::$name,
                    threaded_servers::harness::$lesson::PROTOCOL,
                    crate::support::Style::Tasks,
                );
            }
        }
    };
    ($name:ident) => {
        mod $name {
            #[test]
            fn threads() {
                super::$name(crate::support::Style::Threads);
            }

            #[test]
            fn events() {
                super::$name(crate::support::Style::Events);
            }

            #[test]
            fn tasks() {
                super::$name(crate::support::Style::Tasks);
            }
        }
    };
}

/// Runs a harness check against the server for `protocol`, in `style`.
pub fn check(check: fn(&Target), protocol: Protocol, style: Style) {
    check(&target(protocol, style));
}

/// An interactive `client` process: type lines into its stdin, read what it prints.
pub struct ClientProcess {
    child: Child,
    stdout: Receiver<String>,
}

impl ClientProcess {
    /// Starts `client args...` with stdin and stdout piped.
    pub fn start(args: &[&str]) -> ClientProcess {
        let mut child = Command::new(CLIENT)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the client");
        let stdout = stdout_lines(child.stdout.take().expect("piped stdout"));
        ClientProcess { child, stdout }
    }

    /// Types one line.
    pub fn type_line(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// The next line the client prints (fails the test after DEADLINE).
    pub fn next_line(&self) -> String {
        self.stdout
            .recv_timeout(DEADLINE)
            .expect("the client printed nothing in time")
    }

    /// Ends input (Ctrl-D), then waits for the client to exit; returns the rest of
    /// its stdout and its exit status.
    pub fn finish(mut self) -> (Vec<String>, ExitStatus) {
        drop(self.child.stdin.take());
        self.wait()
    }

    /// Its stdin, for a test that types from a thread of its own.
    pub fn take_stdin(&mut self) -> ChildStdin {
        self.child.stdin.take().expect("stdin still open")
    }

    /// Waits for the client to exit with its input still open.
    pub fn wait(self) -> (Vec<String>, ExitStatus) {
        let (rest, status, _) = self.wait_with_stderr();
        (rest, status)
    }

    /// Like [`wait`](Self::wait), and also returns what the client said on stderr.
    pub fn wait_with_stderr(mut self) -> (Vec<String>, ExitStatus, String) {
        let mut status = None;
        eventually("the client exits", || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        // The reader thread ends at end of output, which ends this loop.
        let mut rest = Vec::new();
        while let Ok(line) = self.stdout.recv_timeout(DEADLINE) {
            rest.push(line);
        }
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        (rest, status.expect("exited"), stderr)
    }
}

impl Drop for ClientProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
