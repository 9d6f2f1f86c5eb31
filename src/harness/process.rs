//! A server program running for one check: started on port 0, its port read
//! from its listening line, its console watched, stopped the way it is
//! stopped, and killed when the check ends, passed or failed.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{
    Child, ChildStderr, ChildStdin, ChildStdout, Command, ExitStatus, Output, Stdio,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

pub use nix::sys::signal::Signal;

use super::DEADLINE;
use super::client::{connect, eventually};
use crate::procfs;
use crate::protocol::Protocol;

/// The server a check runs against: which program, the protocol it speaks,
/// and how to ask it to stop.
#[derive(Clone, Debug)]
pub struct Target {
    /// The protocol its clients speak: lesson 1's, 2's or 3's.
    pub protocol: Protocol,
    program: PathBuf,
    stop: HowToStop,
    /// Arguments it always gets, before each check's own.
    args: Vec<String>,
}

/// How an operator asks a server to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HowToStop {
    /// Ctrl-C: SIGINT. Every server in `src/bin/` stops this way (and on SIGTERM).
    CtrlC,
    /// Enter, pressed in the server's terminal: a line on its standard input.
    /// The exercises' servers stop this way, because catching Ctrl-C takes a
    /// signal handler, which `std` does not offer.
    Enter,
}

impl Target {
    /// `program`, a server of `protocol`, stopped with `stop`.
    pub fn new(protocol: Protocol, program: impl Into<PathBuf>, stop: HowToStop) -> Target {
        Target {
            protocol,
            program: program.into(),
            stop,
            args: Vec::new(),
        }
    }

    /// The same server, always started with `args` too (`--workers 4`, say).
    pub fn with_args(mut self, args: &[&str]) -> Target {
        self.args.extend(args.iter().map(|arg| arg.to_string()));
        self
    }

    /// The program's path.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// How it is asked to stop.
    pub fn how_to_stop(&self) -> HowToStop {
        self.stop
    }

    /// Starts it: `program --port 0 args...`, and waits for its listening line.
    pub fn start(&self, args: &[&str]) -> ServerProcess {
        ServerProcess::spawn(self.command(args), self.stop)
    }

    /// `program --port 0 args...`, not started yet.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.program);
        command.args(["--port", "0"]).args(&self.args).args(args);
        command
    }

    /// Starts it with its stderr a pipe that nobody reads: once the pipe is
    /// full (64 KiB on Linux), a write to it waits for ever.
    pub fn start_with_stderr_unread(&self, args: &[&str]) -> ServerProcess {
        let (mut server, stdout) =
            ServerProcess::launch_with(self.command(args), self.stop, Stdio::piped(), false);
        server.read_listening_line(stdout.expect("piped stdout"));
        server
    }

    /// Starts it with `ulimit -n files`: it may open only that many file descriptors.
    pub fn start_with_open_file_limit(&self, files: u32, args: &[&str]) -> ServerProcess {
        ServerProcess::spawn(
            self.command_under_ulimit("-n", files.into(), args),
            self.stop,
        )
    }

    /// Starts it with `ulimit -v kib`: it may reserve only that much address
    /// space, every thread's stack included.
    pub fn start_with_address_space_limit(&self, kib: u64, args: &[&str]) -> ServerProcess {
        ServerProcess::spawn(self.command_under_ulimit("-v", kib, args), self.stop)
    }

    /// `program --port 0 args...` run by `sh` after `ulimit option value`:
    /// the limit is set on the server alone, not on the check.
    fn command_under_ulimit(&self, option: &str, value: u64, args: &[&str]) -> Command {
        let mut command = Command::new("sh");
        let script = format!("ulimit {option} {value} && exec \"$0\" \"$@\"");
        command
            .args(["-c", &script])
            .arg(&self.program)
            .args(["--port", "0"])
            .args(&self.args)
            .args(args);
        command
    }
}

/// A server program running for one check. Dropping it kills the process.
pub struct ServerProcess {
    child: Child,
    /// The port it listens on, read from its listening line.
    pub port: u16,
    stop: HowToStop,
    /// Where Enter is pressed, for a server stopped that way.
    stdin: Option<ChildStdin>,
    /// The console, line by line, read on a thread of its own (a full pipe
    /// would block the server mid-line). `None` when the check holds the
    /// console itself ([`ServerProcess::spawn_holding_console`]).
    stdout: Option<Receiver<String>>,
    /// Every stdout line received so far, for assertions and failure messages.
    pub lines: Vec<String>,
    stderr: Arc<Mutex<String>>,
    /// Reads stderr until the server exits; joined then, so none is missed.
    stderr_reader: Option<thread::JoinHandle<()>>,
    /// Stderr, when nobody is to read it: kept open, so that it fills.
    _unread_stderr: Option<ChildStderr>,
    /// When it was last asked to stop: how fast it stops is measured from then.
    asked_to_stop: Option<Instant>,
}

impl ServerProcess {
    /// Starts a prepared command (which must make the server listen on port
    /// 0) and waits for its listening line.
    pub fn spawn(command: Command, stop: HowToStop) -> ServerProcess {
        let (mut server, stdout) = ServerProcess::launch(command, stop);
        server.read_listening_line(stdout);
        server
    }

    /// Watches `stdout` from now on, and waits for the listening line.
    fn read_listening_line(&mut self, stdout: ChildStdout) {
        self.stdout = Some(stdout_lines(stdout));
        let listening = self.wait_for_line_or(
            |line| parse_port(line).is_some(),
            "a line that says `listening on port N` (the port it listens on)",
        );
        self.port = parse_port(&listening).expect("a port");
    }

    /// Starts `target`, reads its console up to the listening line, and
    /// hands the console to the check, which may stop reading it (a full
    /// pipe) or close it.
    pub fn spawn_holding_console(target: &Target) -> (ServerProcess, BufReader<ChildStdout>) {
        let (mut server, stdout) = ServerProcess::launch(target.command(&[]), target.stop);
        // Read on a thread, so a server that never prints cannot hang the check.
        let (found, listening) = mpsc::channel();
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
        let (port, console) = listening.recv_timeout(DEADLINE).unwrap_or_else(|_| {
            panic!(
                "expected a line that says `listening on port N` within {DEADLINE:?}\n{}",
                server.output()
            )
        });
        server.port = port;
        (server, console)
    }

    /// Starts a prepared command (which must make the server listen on port
    /// 0) with its console going to `stdout` (`/dev/full`, say), which the
    /// check does not read: the port comes from the process's open sockets
    /// ([`procfs::listening_ports`]), and the console's lines are not kept.
    pub fn spawn_with_stdout(command: Command, stop: HowToStop, stdout: Stdio) -> ServerProcess {
        let (mut server, _) = ServerProcess::launch_with(command, stop, stdout, true);
        let mut ports = Vec::new();
        let deadline = Instant::now() + DEADLINE;
        while ports.is_empty() && server.is_running() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
            ports = procfs::listening_ports(server.pid());
        }
        server.port = *ports.first().unwrap_or_else(|| {
            panic!(
                "expected the server to listen on a port within {DEADLINE:?}; it did not\n{}",
                server.output()
            )
        });
        server
    }

    fn launch(command: Command, stop: HowToStop) -> (ServerProcess, ChildStdout) {
        let (server, stdout) = ServerProcess::launch_with(command, stop, Stdio::piped(), true);
        (server, stdout.expect("piped stdout"))
    }

    fn launch_with(
        mut command: Command,
        stop: HowToStop,
        stdout: Stdio,
        read_stderr: bool,
    ) -> (ServerProcess, Option<ChildStdout>) {
        let stdin = match stop {
            HowToStop::Enter => Stdio::piped(),
            HowToStop::CtrlC => Stdio::null(),
        };
        let mut child = command
            // A panic's one line says where; a backtrace of each would push
            // the rest of the console out of a failure message.
            .env("RUST_BACKTRACE", "0")
            .stdin(stdin)
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        let stdout = child.stdout.take();
        let stderr = Arc::new(Mutex::new(String::new()));
        let err = child.stderr.take().expect("piped stderr");
        // Read on a thread of its own, unless nobody is to read it: then it
        // is kept open, and fills.
        let (stderr_reader, unread_stderr) = if read_stderr {
            let stderr_sink = Arc::clone(&stderr);
            let reader = thread::spawn(move || {
                let mut reader = BufReader::new(err);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                    stderr_sink
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push_str(&line);
                    line.clear();
                }
            });
            (Some(reader), None)
        } else {
            (None, Some(err))
        };
        let server = ServerProcess {
            stdin: child.stdin.take(),
            child,
            port: 0,
            stop,
            stdout: None,
            lines: Vec::new(),
            stderr,
            stderr_reader,
            _unread_stderr: unread_stderr,
            asked_to_stop: None,
        };
        (server, stdout)
    }

    /// Where it listens: loopback, on its port.
    pub fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Connects a client, with read and write timeouts so no read can hang.
    pub fn connect(&self) -> TcpStream {
        connect(self.address())
    }

    /// Waits for the next stdout line that satisfies `wanted`, and returns it.
    pub fn wait_for_line(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        self.wait_for_line_or(wanted, "a line it did not print")
    }

    /// Like [`wait_for_line`](Self::wait_for_line); `what` describes the line
    /// for the failure message.
    pub fn wait_for_line_or(&mut self, wanted: impl Fn(&str) -> bool, what: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let stdout = self
                .stdout
                .as_ref()
                .expect("the console is held by the check");
            match stdout.recv_timeout(left) {
                Ok(line) => {
                    self.lines.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "expected the server to print {what} within {DEADLINE:?}; it did not\n{}",
                    self.output()
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "expected the server to print {what}; it closed its output (or exited) first\n{}",
                    self.output()
                ),
            }
        }
    }

    /// The next stdout line, if the server prints one within `limit`: for a
    /// check that expects a pause (most wait with [`wait_for`](Self::wait_for)).
    pub fn next_line_within(&mut self, limit: Duration) -> Option<String> {
        let stdout = self
            .stdout
            .as_ref()
            .expect("the console is held by the check");
        let line = stdout.recv_timeout(limit).ok()?;
        self.lines.push(line.clone());
        Some(line)
    }

    /// Waits for a stdout line containing `text`.
    pub fn wait_for(&mut self, text: &str) -> String {
        self.wait_for_line_or(
            |line| line.contains(text),
            &format!("a line containing {text:?}"),
        )
    }

    /// Waits for `count` more stdout lines containing `text`.
    pub fn wait_for_count(&mut self, text: &str, count: usize) {
        for _ in 0..count {
            self.wait_for(text);
        }
    }

    /// Asks it to stop, the way its operator would: Ctrl-C, or Enter.
    pub fn stop(&mut self) {
        match self.stop {
            HowToStop::CtrlC => self.signal(Signal::SIGINT),
            HowToStop::Enter => {
                let pressed = self
                    .stdin
                    .as_mut()
                    .map(|stdin| stdin.write_all(b"\n").and_then(|()| stdin.flush()));
                if let Some(Err(e)) = pressed {
                    panic!(
                        "cannot press Enter in the server's terminal: {e}\n{}",
                        self.output()
                    );
                }
                self.asked_to_stop = Some(Instant::now());
            }
        }
    }

    /// Sends `signal`, or, without one, asks it to stop the usual way ([`stop`](Self::stop)).
    pub fn stop_with(&mut self, signal: Option<Signal>) {
        match signal {
            Some(signal) => self.signal(signal),
            None => self.stop(),
        }
    }

    /// Sends a signal (SIGINT is what Ctrl-C sends).
    pub fn signal(&mut self, signal: Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, signal).expect("cannot signal the server");
        self.asked_to_stop = Some(Instant::now());
    }

    /// Waits for the exit the last [`stop`](Self::stop) or signal asked for:
    /// status 0, within `limit` of asking. Returns how long it took.
    pub fn assert_stops_cleanly_within(&mut self, limit: Duration) -> Duration {
        let asked = self
            .asked_to_stop
            .expect("the server was not asked to stop");
        let status = self.wait_for_exit(limit);
        let took = asked.elapsed();
        assert!(
            status.success(),
            "expected the server to stop with exit status 0; it stopped with {status}\n{}",
            self.output()
        );
        assert!(
            took < limit,
            "expected the server to stop within {limit:?}; it took {took:?}\n{}",
            self.output()
        );
        took
    }

    /// Waits for the process to exit, then collects the rest of its output.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                if let Some(stdout) = &self.stdout {
                    while let Ok(line) = stdout.recv_timeout(DEADLINE) {
                        self.lines.push(line);
                    }
                }
                if let Some(reader) = self.stderr_reader.take() {
                    let _ = reader.join();
                }
                return status;
            }
            if Instant::now() >= deadline {
                panic!(
                    "expected the server to exit within {timeout:?}; it was still running\n{}",
                    self.output()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits until the server has written `text` to stderr.
    pub fn wait_for_stderr(&self, text: &str) {
        eventually(
            &format!("the server writes {text:?} on stderr\n{}", self.output()),
            || self.stderr().contains(text),
        );
    }

    /// Everything on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stdout lines received so far, and stderr, for failure messages.
    pub fn output(&self) -> String {
        let tail = |text: &str| {
            // The first lines say what went wrong first (the panic that
            // started it), the last ones how it ended; a flooded console
            // would bury both, and a client's kilobyte of text is no
            // clearer than its first bytes.
            let lines: Vec<String> = text
                .lines()
                .map(|line| match line.char_indices().nth(160) {
                    Some((cut, _)) => format!("{}...", &line[..cut]),
                    None => line.to_string(),
                })
                .collect();
            if lines.len() <= 40 {
                return lines.join("\n");
            }
            let skipped = lines.len() - 40;
            format!(
                "{}\n({skipped} lines left out)\n{}",
                lines[..10].join("\n"),
                lines[10 + skipped..].join("\n")
            )
        };
        format!(
            "the server printed:\n--- stdout ---\n{}\n--- stderr ---\n{}",
            tail(&self.lines.join("\n")),
            tail(&self.stderr())
        )
    }

    /// How many file descriptors the server has open: one more after it accepts a connection.
    pub fn open_fds(&self) -> usize {
        procfs::open_files(self.pid()).expect("read /proc/PID/fd")
    }

    /// CPU time (user + system) the server has used.
    pub fn cpu_time(&self) -> Duration {
        procfs::cpu_time(self.pid()).expect("read /proc/PID/stat")
    }

    /// The most memory the server has ever had in RAM, in KiB.
    pub fn peak_resident_kib(&self) -> u64 {
        procfs::status(self.pid())
            .expect("read /proc/PID/status")
            .peak_resident_kib
    }

    /// How many threads the server has now.
    pub fn threads(&self) -> usize {
        procfs::status(self.pid())
            .expect("read /proc/PID/status")
            .threads
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // A check that fails on the client's side ("the connection was
        // reset") says nothing of why; the server's console often does (a
        // panic, an exit). So a failing check keeps it for the report.
        if thread::panicking() {
            let exited = match self.child.try_wait() {
                Ok(Some(status)) => format!("the server had exited: {status}\n"),
                _ => String::new(),
            };
            if let Some(stdout) = &self.stdout {
                self.lines.extend(stdout.try_iter());
            }
            let console = format!("{exited}{}", self.output());
            if KEEP_CONSOLE_FOR_THE_REPORT.load(Ordering::Relaxed) {
                *CONSOLE_AT_FAILURE
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(console);
            } else {
                // `cargo test` shows a test's stderr when it fails.
                eprintln!("{console}");
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Set by [`keep_console_for_the_report`].
static KEEP_CONSOLE_FOR_THE_REPORT: AtomicBool = AtomicBool::new(false);

/// The console of the last server a failing check stopped, when kept.
static CONSOLE_AT_FAILURE: Mutex<Option<String>> = Mutex::new(None);

/// From now on, the console of a server whose check fails is kept for
/// [`console_at_failure`] instead of printed on stderr: for a runner that
/// prints its own report.
pub fn keep_console_for_the_report() {
    KEEP_CONSOLE_FOR_THE_REPORT.store(true, Ordering::Relaxed);
}

/// The console of the server of the last failing check (since the last call).
pub fn console_at_failure() -> Option<String> {
    CONSOLE_AT_FAILURE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
}

/// Runs a program to completion and returns what it printed; fails if it
/// takes longer than [`DEADLINE`].
pub fn run_to_exit(command: &mut Command) -> Output {
    run_to_exit_within(command, DEADLINE)
}

/// Like [`run_to_exit`], with `limit` instead of [`DEADLINE`].
pub fn run_to_exit_within(command: &mut Command, limit: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let deadline = Instant::now() + limit;
    while matches!(child.try_wait(), Ok(None)) {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("expected {command:?} to finish within {limit:?}; it was still running");
        }
        thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("the program's output")
}

/// Reads a child's stdout on a thread of its own, a line at a time, until it exits.
pub fn stdout_lines(stdout: ChildStdout) -> Receiver<String> {
    let (line_tx, lines) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// The number after "listening on port " in a listening line.
pub fn parse_port(line: &str) -> Option<u16> {
    let after = &line[line.find("listening on port ")? + "listening on port ".len()..];
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}
