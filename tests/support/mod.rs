//! What every end-to-end test needs: start a real server binary on port 0,
//! learn its port from its listening line, talk to it, signal it, and make
//! sure it is gone when the test ends, passed or failed.
//!
//! Every wait here has a deadline. A server that hangs fails the test with
//! what it printed so far, rather than hanging `cargo test`.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub use nix::sys::signal::Signal;

pub const COUNTER_SERVER: &str = env!("CARGO_BIN_EXE_counter_server");
pub const ECHO_SERVER: &str = env!("CARGO_BIN_EXE_echo_server");
pub const QUEUE_SERVER: &str = env!("CARGO_BIN_EXE_queue_server");
pub const CLIENT: &str = env!("CARGO_BIN_EXE_client");
pub const SWARM: &str = env!("CARGO_BIN_EXE_swarm");

/// The longest any single wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A server binary running for one test. Dropping it kills the process.
pub struct ServerProcess {
    child: Child,
    pub port: u16,
    stdout: Receiver<String>,
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
        let mut command = Command::new(binary);
        command.args(["--port", "0"]).args(args);
        ServerProcess::spawn(command)
    }

    /// Starts a prepared command (which must make the server listen on port 0).
    pub fn spawn(mut command: Command) -> ServerProcess {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start the server binary");
        let stdout = stdout_lines(&mut child);
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
        let mut server = ServerProcess {
            child,
            port: 0,
            stdout,
            lines: Vec::new(),
            stderr,
            stderr_reader: Some(stderr_reader),
            signalled: None,
        };
        let listening = server.wait_for_line(|line| line.contains("listening on port"));
        server.port = parse_port(&listening)
            .unwrap_or_else(|| panic!("no port in the listening line {listening:?}"));
        server
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
            match self.stdout.recv_timeout(left) {
                Ok(line) => {
                    self.lines.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "timed out waiting for a line; the server said:\n{}",
                        self.output()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "the server closed stdout first; it said:\n{}",
                        self.output()
                    )
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
    /// of the signal.
    pub fn assert_stops_cleanly_within(&mut self, limit: Duration) {
        let signalled = self.signalled.expect("no signal was sent");
        let status = self.wait_for_exit(limit);
        assert!(status.success(), "exit status {status}; {}", self.output());
        let took = signalled.elapsed();
        assert!(took < limit, "took {took:?} to stop; {}", self.output());
    }

    /// Waits for the process to exit, then collects the rest of its stdout.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                while let Ok(line) = self.stdout.recv_timeout(DEADLINE) {
                    self.lines.push(line);
                }
                if let Some(reader) = self.stderr_reader.take() {
                    let _ = reader.join();
                }
                return status;
            }
            if Instant::now() >= deadline {
                panic!(
                    "the server did not exit within {timeout:?}; it said:\n{}",
                    self.output()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until the server has written `text` to stderr.
    pub fn wait_for_stderr(&self, text: &str) {
        let deadline = Instant::now() + DEADLINE;
        while !self.stderr().contains(text) {
            assert!(
                Instant::now() < deadline,
                "no {text:?} on stderr; {}",
                self.output()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Everything on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Stdout lines received so far, and stderr, for failure messages.
    pub fn output(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.lines.join("\n"),
            self.stderr()
        )
    }

    /// How many file descriptors the server has open, from /proc: one more
    /// after it accepts a connection.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .expect("read /proc/PID/fd")
            .count()
    }

    /// Waits until the server has `count` file descriptors open.
    pub fn wait_for_open_fds(&self, count: usize) {
        let deadline = Instant::now() + DEADLINE;
        while self.open_fds() != count {
            assert!(
                Instant::now() < deadline,
                "the server has {} fds, not {count}",
                self.open_fds()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// CPU time (user + system) the server has used, from /proc.
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("read /proc/PID/stat");
        // Fields after the ")" that ends the command name: state is field 3,
        // utime and stime are fields 14 and 15, in clock ticks (100 a second).
        let after_name = &stat[stat.rfind(')').expect("stat format") + 2..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        Duration::from_millis(ticks * 10)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a child's stdout on a thread of its own, a line at a time, until it exits:
/// a full pipe would block the child mid-line.
fn stdout_lines(child: &mut Child) -> Receiver<String> {
    let (line_tx, lines) = mpsc::channel();
    let out = child.stdout.take().expect("piped stdout");
    thread::spawn(move || {
        for line in BufReader::new(out).lines() {
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
        let stdout = stdout_lines(&mut child);
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
        let deadline = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the client did not exit");
            thread::sleep(Duration::from_millis(10));
        };
        // The reader thread ends at end of output, which ends this loop.
        let mut rest = Vec::new();
        while let Ok(line) = self.stdout.recv_timeout(DEADLINE) {
            rest.push(line);
        }
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        (rest, status, stderr)
    }
}

impl Drop for ClientProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the server has read everything `client` sent so far: the
/// server side of the connection has nothing left in its receive queue
/// (Linux's `/proc/net/tcp`, the `rx_queue` column).
pub fn wait_until_server_has_read(client: &TcpStream) {
    let (mine, theirs) = (
        client.local_addr().unwrap().port(),
        client.peer_addr().unwrap().port(),
    );
    let deadline = Instant::now() + DEADLINE;
    loop {
        let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
        // Columns: sl local_address rem_address st tx_queue:rx_queue ..., ports in hex.
        let unread = table.lines().skip(1).find_map(|row| {
            let columns: Vec<&str> = row.split_whitespace().collect();
            let port = |column: &str| u16::from_str_radix(column.rsplit(':').next()?, 16).ok();
            let server_side = port(columns[1])? == theirs && port(columns[2])? == mine;
            let rx_queue = u64::from_str_radix(columns[4].split(':').nth(1)?, 16).ok()?;
            server_side.then_some(rx_queue)
        });
        if unread == Some(0) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the server never read what was sent ({unread:?} bytes left)"
        );
        thread::sleep(Duration::from_millis(2));
    }
}

/// Tries `attempt` until its answer is not the "too many clients" refusal.
/// A place under `--max-clients` frees once the server has finished with
/// the client that left, which may be a moment after it logs the departure.
pub fn once_a_place_frees(mut attempt: impl FnMut() -> String) -> String {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let answer = attempt();
        if !answer.starts_with("ERROR: too many clients") {
            return answer;
        }
        assert!(Instant::now() < deadline, "no place ever freed");
        thread::sleep(Duration::from_millis(10));
    }
}

/// The number after "port " in a listening line.
pub fn parse_port(line: &str) -> Option<u16> {
    let after = &line[line.find("port ")? + "port ".len()..];
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
    stream
        .read_to_end(&mut bytes)
        .expect("read until the server closes");
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
                "reading a line failed after {:?}: {e}",
                String::from_utf8_lossy(&line)
            ),
        }
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
        Err(e) => panic!("expected end of stream, got {e}"),
    }
}

/// The counter protocol: send one message, read the reply until the server closes.
pub fn counter_exchange(address: SocketAddr, message: &[u8]) -> String {
    let mut stream = connect(address);
    stream.write_all(message).unwrap();
    read_to_end(&mut stream)
}

/// Runs `clients` copies of `client` at once, released together by a barrier,
/// and returns their results in no particular order.
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
        .map(|h| h.join().expect("a test client panicked"))
        .collect()
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

/// Half-closes our side: the server reads end of stream.
pub fn finish_sending(stream: &TcpStream) {
    stream.shutdown(Shutdown::Write).unwrap();
}

/// The id in a counter server greeting, `Hello Client {id}, ...`.
pub fn greeting_id(reply: &str) -> u64 {
    let rest = reply
        .strip_prefix("Hello Client ")
        .unwrap_or_else(|| panic!("not a greeting: {reply:?}"));
    rest[..rest.find(',').expect("a comma after the id")]
        .parse()
        .unwrap()
}
