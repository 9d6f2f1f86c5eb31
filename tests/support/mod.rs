//! What every end-to-end test needs: start a real server binary on port 0,
//! learn its port from its listening line, talk to it like a client of its
//! lesson, signal it, and make sure it is gone when the test ends, passed or
//! failed.
//!
//! Every wait here has a deadline. A server that hangs fails the test with
//! what it printed so far, rather than hanging `cargo test`.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub use nix::sys::signal::Signal;
use threaded_servers::procfs;
pub use threaded_servers::protocol::Protocol;
use threaded_servers::protocol::{parse_greeting, parse_welcome, processed};

pub const COUNTER_SERVER: &str = env!("CARGO_BIN_EXE_counter_server");
pub const ECHO_SERVER: &str = env!("CARGO_BIN_EXE_echo_server");
pub const QUEUE_SERVER: &str = env!("CARGO_BIN_EXE_queue_server");
pub const ASYNC_COUNTER_SERVER: &str = env!("CARGO_BIN_EXE_async_counter_server");
pub const ASYNC_ECHO_SERVER: &str = env!("CARGO_BIN_EXE_async_echo_server");
pub const ASYNC_QUEUE_SERVER: &str = env!("CARGO_BIN_EXE_async_queue_server");
pub const CLIENT: &str = env!("CARGO_BIN_EXE_client");
pub const SWARM: &str = env!("CARGO_BIN_EXE_swarm");

/// The longest any single wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// How a server serves its clients: each protocol has two servers, which
/// must behave the same from the outside.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Style {
    /// Lessons 1-3: a thread per client (`counter_server`, ...).
    Threads,
    /// Lesson 5: a tokio task per client (`async_counter_server`, ...).
    Tasks,
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
    }
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

/// Starts a lesson's first version (an example that takes its address as
/// its one argument) on port 0.
pub fn first_version(name: &str) -> ServerProcess {
    let mut command = Command::new(example(name));
    command.arg("127.0.0.1:0");
    ServerProcess::spawn(command)
}

/// The name the server for `protocol`, in `style`, gives itself in its errors.
pub fn server_name(protocol: Protocol, style: Style) -> String {
    match style {
        Style::Threads => protocol.server_name().to_string(),
        Style::Tasks => format!("async_{}", protocol.server_name()),
    }
}

/// Turns `fn $name(style: Style)` into one test per style of server:
/// `$name::threads` runs it against the lesson's threaded server,
/// `$name::tasks` against its async twin, and `cargo test $name` runs both.
#[allow(unused_macros)] // Each suite that uses it says `#[macro_use] mod support;`.
macro_rules! for_threads_and_tasks {
    ($name:ident) => {
        mod $name {
            #[test]
            fn threads() {
                super::$name(crate::support::Style::Threads);
            }

            #[test]
            fn tasks() {
                super::$name(crate::support::Style::Tasks);
            }
        }
    };
}

/// Polls `condition` until it holds; fails the test, naming `what`, after [`DEADLINE`].
#[track_caller]
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// A server binary running for one test. Dropping it kills the process.
pub struct ServerProcess {
    child: Child,
    pub port: u16,
    /// The console, line by line, read on a thread of its own (a full pipe
    /// would block the server mid-line). `None` when the test holds the
    /// console itself ([`ServerProcess::spawn_holding_console`]).
    stdout: Option<Receiver<String>>,
    /// Every stdout line received so far, for assertions and failure messages.
    pub lines: Vec<String>,
    stderr: Arc<Mutex<String>>,
    /// Reads stderr until the server exits; joined then, so none is missed.
    stderr_reader: Option<thread::JoinHandle<()>>,
    /// When the last signal was sent: how fast the server stops is measured from it.
    signalled: Option<Instant>,
}

impl ServerProcess {
    /// Starts `binary --port 0 args...` and waits for its listening line.
    pub fn start(binary: &str, args: &[&str]) -> ServerProcess {
        ServerProcess::spawn(port_zero(binary, args))
    }

    /// Starts the server for `protocol`, in `style`.
    pub fn of(protocol: Protocol, style: Style, args: &[&str]) -> ServerProcess {
        ServerProcess::start(server_binary(protocol, style), args)
    }

    /// Starts a prepared command (which must make the server listen on port 0).
    pub fn spawn(command: Command) -> ServerProcess {
        let (mut server, stdout) = ServerProcess::launch(command);
        let lines = stdout_lines(stdout);
        server.stdout = Some(lines);
        let listening = server.wait_for_line(|line| parse_port(line).is_some());
        server.port = parse_port(&listening).expect("a port");
        server
    }

    /// Starts `binary --port 0`, reads its console up to the listening line,
    /// and hands the console to the test, which may stop reading it (a full
    /// pipe) or close it.
    pub fn spawn_holding_console(binary: &str) -> (ServerProcess, BufReader<ChildStdout>) {
        let (mut server, stdout) = ServerProcess::launch(port_zero(binary, &[]));
        // Read on a thread, so a server that never prints cannot hang the test.
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
        let (port, console) = listening
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|_| panic!("no listening line in time; {}", server.output()));
        server.port = port;
        (server, console)
    }

    fn launch(mut command: Command) -> (ServerProcess, ChildStdout) {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start the server binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = Arc::new(Mutex::new(String::new()));
        let err = child.stderr.take().expect("piped stderr");
        let stderr_sink = Arc::clone(&stderr);
        let stderr_reader = thread::spawn(move || {
            let mut reader = BufReader::new(err);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                stderr_sink.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        let server = ServerProcess {
            child,
            port: 0,
            stdout: None,
            lines: Vec::new(),
            stderr,
            stderr_reader: Some(stderr_reader),
            signalled: None,
        };
        (server, stdout)
    }

    pub fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Connects a test client, with read and write timeouts so no read can hang.
    pub fn connect(&self) -> TcpStream {
        connect(self.address())
    }

    /// Waits for the next stdout line that satisfies `wanted`, and returns it.
    pub fn wait_for_line(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let stdout = self
                .stdout
                .as_ref()
                .expect("the console is held by the test");
            match stdout.recv_timeout(left) {
                Ok(line) => {
                    self.lines.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("timed out waiting for a line; {}", self.output())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the server closed stdout first; {}", self.output())
                }
            }
        }
    }

    /// Waits for a stdout line containing `text`.
    pub fn wait_for(&mut self, text: &str) -> String {
        self.wait_for_line(|line| line.contains(text))
    }

    /// Waits for `count` more stdout lines containing `text`.
    pub fn wait_for_count(&mut self, text: &str, count: usize) {
        for _ in 0..count {
            self.wait_for(text);
        }
    }

    /// Sends a signal (SIGINT is what Ctrl-C sends).
    pub fn signal(&mut self, signal: Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, signal).expect("cannot signal the server");
        self.signalled = Some(Instant::now());
    }

    /// Waits for the exit the last signal asked for: status 0, within `limit`
    /// of the signal. Returns how long it took.
    pub fn assert_stops_cleanly_within(&mut self, limit: Duration) -> Duration {
        let signalled = self.signalled.expect("no signal was sent");
        let status = self.wait_for_exit(limit);
        let took = signalled.elapsed();
        assert!(status.success(), "exit status {status}; {}", self.output());
        assert!(took < limit, "took {took:?} to stop; {}", self.output());
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
                    "the server did not exit within {timeout:?}; {}",
                    self.output()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until the server has written `text` to stderr.
    pub fn wait_for_stderr(&self, text: &str) {
        eventually(&format!("{text:?} is on stderr; {}", self.output()), || {
            self.stderr().contains(text)
        });
    }

    /// Everything on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Stdout lines received so far, and stderr, for failure messages.
    pub fn output(&self) -> String {
        format!(
            "the server said:\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.lines.join("\n"),
            self.stderr()
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
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `binary --port 0 args...`
fn port_zero(binary: &str, args: &[&str]) -> Command {
    let mut command = Command::new(binary);
    command.args(["--port", "0"]).args(args);
    command
}

/// Starts a server that may open only `files` file descriptors (`ulimit -n`).
pub fn under_open_file_limit(files: u32, binary: &str, args: &[&str]) -> ServerProcess {
    let mut command = Command::new("sh");
    let script = format!("ulimit -n {files} && exec \"$0\" \"$@\"");
    command
        .args(["-c", &script, binary, "--port", "0"])
        .args(args);
    ServerProcess::spawn(command)
}

/// Reads a child's stdout on a thread of its own, a line at a time, until it exits.
fn stdout_lines(stdout: ChildStdout) -> Receiver<String> {
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

/// Waits until the server has read everything `client` sent so far: the
/// server side of the connection has nothing left in its receive queue.
pub fn wait_until_server_has_read(client: &TcpStream) {
    let mine = client.local_addr().unwrap().port();
    let theirs = client.peer_addr().unwrap().port();
    eventually("the server has read what was sent", || {
        procfs::unread_bytes(theirs, mine) == Some(0)
    });
}

/// Tries `attempt` until its answer is not the "too many clients" refusal.
/// A place under `--max-clients` frees once the server has finished with
/// the client that left, which may be a moment after it logs the departure.
pub fn once_a_place_frees(mut attempt: impl FnMut() -> String) -> String {
    let mut answer = String::new();
    eventually("a place under --max-clients frees", || {
        answer = attempt();
        !answer.starts_with("ERROR: too many clients")
    });
    answer
}

/// The number after "port " in a listening line.
pub fn parse_port(line: &str) -> Option<u16> {
    let after = &line[line.find("listening on port ")? + "listening on port ".len()..];
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Connects with read and write timeouts of [`DEADLINE`].
pub fn connect(address: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&address, DEADLINE).expect("connect to the server");
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.set_write_timeout(Some(DEADLINE)).unwrap();
    stream
}

/// Reads until the server closes the connection (bounded by the read timeout).
pub fn read_to_end(stream: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    if let Err(e) = stream.read_to_end(&mut bytes) {
        panic!(
            "reading until the server closes failed after {:?}: {}",
            String::from_utf8_lossy(&bytes),
            describe(&e)
        );
    }
    String::from_utf8(bytes).expect("the server sent UTF-8")
}

/// Reads one `\n`-terminated line, byte by byte so nothing after it is consumed.
pub fn read_line(stream: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match stream.read(&mut byte) {
            Ok(0) => panic!("end of stream after {:?}", String::from_utf8_lossy(&line)),
            Ok(_) => {
                line.push(byte[0]);
                if byte[0] == b'\n' {
                    return String::from_utf8(line).expect("the server sent UTF-8");
                }
            }
            Err(e) => panic!(
                "reading a line failed after {:?}: {}",
                String::from_utf8_lossy(&line),
                describe(&e)
            ),
        }
    }
}

/// An I/O error, with a read timeout named as one (on Linux it says only
/// "Resource temporarily unavailable").
pub fn describe(error: &std::io::Error) -> String {
    if threaded_servers::framing::is_timeout(error) {
        format!("no answer within {DEADLINE:?} (a read timeout)")
    } else {
        error.to_string()
    }
}

/// Reads `count` lines.
pub fn read_lines(stream: &mut TcpStream, count: usize) -> Vec<String> {
    (0..count).map(|_| read_line(stream)).collect()
}

/// Asserts that the server closes the connection next (after nothing else).
pub fn assert_end_of_stream(stream: &mut TcpStream) {
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => assert!(
            rest.is_empty(),
            "expected end of stream, got {:?}",
            String::from_utf8_lossy(&rest)
        ),
        Err(e) => panic!("expected end of stream, got {}", describe(&e)),
    }
}

/// Half-closes our side: the server reads end of stream.
pub fn finish_sending(stream: &TcpStream) {
    stream.shutdown(Shutdown::Write).unwrap();
}

/// The counter protocol: send one message, read the reply until the server closes.
pub fn counter_exchange(address: SocketAddr, message: &[u8]) -> String {
    let mut stream = connect(address);
    stream.write_all(message).unwrap();
    read_to_end(&mut stream)
}

/// The id in a counter server greeting; fails the test if `reply` is not one.
pub fn greeting_id(reply: &str) -> u64 {
    parse_greeting(reply).unwrap_or_else(|| panic!("not a greeting: {reply:?}"))
}

/// Connects a line client (echo, queue) and reads the welcome if there is one.
pub fn session(protocol: Protocol, address: SocketAddr) -> TcpStream {
    session_with_id(protocol, address).0
}

/// Like [`session`], and returns the queue client's id.
pub fn session_with_id(protocol: Protocol, address: SocketAddr) -> (TcpStream, Option<u64>) {
    let mut stream = connect(address);
    let mut id = None;
    if protocol == Protocol::Queue {
        let welcome = read_line(&mut stream);
        id = parse_welcome(welcome.trim_end());
        assert!(id.is_some(), "not a welcome: {welcome:?}");
    }
    (stream, id)
}

/// What a line server answers to `line`, newline included.
pub fn reply_to(protocol: Protocol, line: &str) -> String {
    match protocol {
        Protocol::Queue => format!("{}\n", processed(line)),
        _ => format!("{line}\n"),
    }
}

/// The part of the server's log line that says a client has left.
pub fn disconnect_log(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Counter => "disconnected.",
        Protocol::Echo => "[Client disconnected]",
        Protocol::Queue => "disconnected (",
    }
}

/// A normal client, start to finish: the server must still serve it correctly.
pub fn assert_still_serves(protocol: Protocol, address: SocketAddr) {
    if protocol == Protocol::Counter {
        greeting_id(&counter_exchange(address, b"still there?"));
        return;
    }
    let mut stream = session(protocol, address);
    stream.write_all(b"still there?\n").unwrap();
    assert_eq!(read_line(&mut stream), reply_to(protocol, "still there?"));
    stream.write_all(b"!DISCONNECT\n").unwrap();
}

/// A normal client is served as soon as the server has finished with the
/// clients that just left; until then it may hear "too many clients".
pub fn assert_served_once_a_place_frees(protocol: Protocol, server: &ServerProcess) {
    let first = once_a_place_frees(|| {
        let mut next = server.connect();
        match protocol {
            Protocol::Counter => {
                next.write_all(b"my turn").unwrap();
                read_to_end(&mut next)
            }
            Protocol::Echo => {
                next.write_all(b"my turn\n").unwrap();
                read_line(&mut next)
            }
            Protocol::Queue => read_line(&mut next),
        }
    });
    let served = parse_greeting(&first).is_some()
        || parse_welcome(first.trim_end()).is_some()
        || first == "my turn\n";
    assert!(served, "{first:?}");
}

/// Runs `clients` copies of `client` at once, released together by a
/// barrier, and returns their results in the order of their numbers.
pub fn all_at_once<T: Send + 'static>(
    clients: usize,
    client: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(clients));
    let client = Arc::new(client);
    let handles: Vec<_> = (0..clients)
        .map(|n| {
            let barrier = Arc::clone(&barrier);
            let client = Arc::clone(&client);
            thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    barrier.wait();
                    client(n)
                })
                .expect("spawn a test client")
        })
        .collect();
    handles
        .into_iter()
        .enumerate()
        .map(|(n, h)| {
            h.join()
                .unwrap_or_else(|_| panic!("test client {n} panicked"))
        })
        .collect()
}

/// Fails the test unless every client's check passed, naming each one that did not.
#[track_caller]
pub fn assert_every_client(results: &[Result<(), String>]) {
    let failed: Vec<String> = results
        .iter()
        .enumerate()
        .filter_map(|(n, result)| {
            result
                .as_ref()
                .err()
                .map(|why| format!("client {n}: {why}"))
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} clients failed:\n{}",
        failed.len(),
        results.len(),
        failed.join("\n")
    );
}

/// A port that refuses connections for as long as this value lives: bound,
/// never listening. (A port merely released could be taken by another test's
/// server in the meantime.) Without SO_REUSEADDR, so the kernel cannot hand
/// it out to anyone else either.
pub struct RefusingPort {
    _socket: socket2::Socket,
    pub port: u16,
}

pub fn refusing_port() -> RefusingPort {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let port = socket.local_addr().unwrap().as_socket().unwrap().port();
    RefusingPort {
        _socket: socket,
        port,
    }
}

/// Closes with SO_LINGER 0: the kernel sends a reset instead of a normal close.
pub fn reset(stream: TcpStream) {
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);
}
