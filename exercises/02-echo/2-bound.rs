//! Exercise 2.2: a bound on every line.
//!
//! A reader that keeps every byte until a newline comes lets one client that
//! never sends a newline make the server allocate until it dies. Accept lines
//! of at most SIZE bytes (1024, not counting the line ending):
//!
//! - a longer line gets `ERROR: message longer than 1024 bytes` (log
//!   `[{address}] sent a line longer than 1024 bytes`), and the session goes
//!   on with the line after it;
//! - while an over-long line goes on arriving, keep almost none of it (its
//!   first bytes, to quote it if it never ends): the server's memory must not
//!   grow with it;
//! - a line of exactly 1024 bytes is fine.
//!
//! This file starts as exercise 2.1's worked solution.
//!
//! Check it:  cargo run -p exercises -- 2.2
//! Run it:    cargo run -p exercises --bin ex2_2
//! The lesson: lessons/02-echo-server.md, "A bound on every line".

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::mem;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

// The original's constants.
/// SIZE: the longest message in bytes, not counting its line ending.
const SIZE: usize = 1024;
/// DISCONNECT_MSG: the line that ends a client's session.
const DISCONNECT_MSG: &str = "!DISCONNECT";

/// How long a finished connection waits for the client to close its side...
const LINGER_TIME: Duration = Duration::from_secs(2);
/// ...and how much of what the client still sends it reads and drops meanwhile.
const LINGER_BYTES: usize = 1024 * 1024;
/// The first pause after a failed `accept()`; each failure in a row doubles it...
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// ...up to this.
const LONGEST_BACKOFF: Duration = Duration::from_secs(1);
/// How long shutdown waits for the sessions to end.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(800);

fn main() -> ExitCode {
    let config = Config::from_args();
    println!("[STARTING] Server is starting...");
    let listener = match TcpListener::bind(("127.0.0.1", config.port)) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!(
                "echo_server: cannot listen on 127.0.0.1:{}: {e}",
                config.port
            );
            return ExitCode::FAILURE;
        }
    };
    let Ok(address) = listener.local_addr() else {
        eprintln!("echo_server: cannot tell which port it listens on");
        return ExitCode::FAILURE;
    };
    let server = Arc::new(Server {
        config,
        stopping: AtomicBool::new(false),
        connections: Arc::default(),
    });
    let stopper = Arc::clone(&server);
    stop_on_enter(move || stopper.stop(address));
    println!("[LISTENING] Server is listening on port {}", address.port());

    let mut backoff = FIRST_BACKOFF;
    loop {
        let accepted = listener.accept();
        if server.is_stopping() {
            if let Ok((stream, _)) = accepted {
                refuse(&stream, "ERROR: server is shutting down\n");
            }
            break;
        }
        let (stream, address) = match accepted {
            Ok(accepted) => {
                backoff = FIRST_BACKOFF;
                accepted
            }
            Err(e) => {
                eprintln!("accept failed: {e}; trying again in {backoff:?}");
                thread::sleep(backoff);
                backoff = (backoff * 2).min(LONGEST_BACKOFF);
                continue;
            }
        };
        let stream = Arc::new(stream);
        let Some(place) = server.connections.admit(&stream, server.config.max_clients) else {
            let max = server.config.max_clients;
            println!("Refused {address}: too many clients (--max-clients {max})");
            refuse(
                &stream,
                &format!("ERROR: too many clients (limit {max}); try again later\n"),
            );
            continue;
        };
        let for_the_thread = (Arc::clone(&stream), Arc::clone(&server));
        let spawned = thread::Builder::new().spawn(move || {
            let (stream, server) = for_the_thread;
            handle_client(&stream, address, &server);
            drop(place);
        });
        if spawned.is_err() {
            refuse(
                &stream,
                "ERROR: server is busy (no thread available); try again later\n",
            );
        }
    }

    let open = server.connections.count();
    let sessions = if open == 1 { "session" } else { "sessions" };
    println!("[SHUTTING DOWN] Closing {open} open {sessions}...");
    server.connections.end_all_reads();
    let unfinished = server.connections.wait_until_empty(SHUTDOWN_GRACE);
    if unfinished > 0 {
        eprintln!("{unfinished} sessions did not end in time; closing them");
    }
    println!("[STOPPED] Server stopped.");
    ExitCode::SUCCESS
}

/// One client's session, on its own thread: the original's `handle_client`.
fn handle_client(mut stream: &TcpStream, address: SocketAddr, server: &Server) {
    println!("[New Connection] Client connected from {address}");
    // Every read waits at most --idle-timeout.
    let _ = stream.set_read_timeout(server.config.idle_timeout);
    // One reader for the whole session: it may already hold the start of
    // the next line, which a fresh reader would lose.
    let mut lines = LineReader::new(stream);
    let ending = loop {
        let reply = match lines.next_message() {
            Ok(Received::Line(line)) if line.text == DISCONNECT_MSG => break Ending::Goodbye,
            Ok(Received::Line(line)) => {
                println!("[{address}] {}", line.text);
                format!("{}{}", line.text, line.ending)
            }
            // TODO(2.2): a line longer than SIZE bytes gets an ERROR line too.
            Ok(Received::NotUtf8) => {
                println!("[{address}] sent a line that is not UTF-8");
                "ERROR: message is not valid UTF-8\n".to_string()
            }
            Ok(Received::End | Received::Incomplete) if server.is_stopping() => {
                break Ending::ServerStopping;
            }
            Ok(Received::End) => break Ending::Closed,
            Ok(Received::Incomplete) => break Ending::ClosedMidLine,
            Ok(Received::IdleTimeout { unfinished }) => break Ending::IdleTimeout { unfinished },
            Err(e) => break Ending::Broken(e),
        };
        if let Err(e) = stream.write_all(reply.as_bytes()) {
            break Ending::Broken(e);
        }
    };
    if let Some(error) = ending.error_line() {
        let _ = stream.write_all(error.as_bytes());
    }
    close_gracefully(stream);
    println!("[Client disconnected] {address}: {}", ending.reason());
}

/// How a session ended.
enum Ending {
    /// The client sent `!DISCONNECT`.
    Goodbye,
    /// The client closed the connection.
    Closed,
    /// The client closed the connection in the middle of a line.
    ClosedMidLine,
    /// Nothing complete within `--idle-timeout`; the start of a line that had begun, if any.
    IdleTimeout { unfinished: Vec<u8> },
    /// The server is stopping.
    ServerStopping,
    /// The connection broke (a reset, say).
    Broken(io::Error),
}

impl Ending {
    /// The line a client still listening is told as its session ends, if any.
    fn error_line(&self) -> Option<String> {
        match self {
            Ending::IdleTimeout { unfinished } if unfinished.is_empty() => {
                Some("ERROR: idle timeout, closing the connection\n".to_string())
            }
            Ending::IdleTimeout { unfinished } => {
                let start = String::from_utf8_lossy(unfinished);
                let shown: String = start.chars().take(40).collect();
                let cut = if shown.len() < start.len() { "..." } else { "" };
                Some(format!(
                    "ERROR: idle timeout: your line \"{}{cut}\" never ended with a newline (\\n); closing the connection\n",
                    shown.escape_debug()
                ))
            }
            Ending::ClosedMidLine => {
                Some("ERROR: the last line had no newline; it was dropped\n".to_string())
            }
            _ => None,
        }
    }

    /// Why the session ended, for the log.
    fn reason(&self) -> String {
        match self {
            Ending::Goodbye => format!("sent {DISCONNECT_MSG}"),
            Ending::Closed => "closed the connection".into(),
            Ending::ClosedMidLine => "closed the connection in mid-line".into(),
            Ending::IdleTimeout { unfinished } if unfinished.is_empty() => "idle timeout".into(),
            Ending::IdleTimeout { .. } => "idle timeout in mid-line".into(),
            Ending::ServerStopping => "server shutting down".into(),
            Ending::Broken(e) => format!("connection failed: {e}"),
        }
    }
}

/// What [`LineReader::next_message`] found.
enum Received {
    /// A complete line.
    Line(Line),
    /// A line that is not UTF-8; skipped.
    NotUtf8,
    /// End of stream in the middle of a line.
    Incomplete,
    /// No complete line within the idle timeout; the start of one, if it had begun.
    IdleTimeout { unfinished: Vec<u8> },
    /// End of stream: the client closed its side.
    End,
}

/// One line: its text, and the line ending it came with.
struct Line {
    text: String,
    /// `"\n"` or `"\r\n"`.
    ending: &'static str,
}

/// Reads one client's lines. One per
/// connection: it may hold the start of the next line already.
struct LineReader<'a> {
    stream: &'a TcpStream,
    /// Bytes received and not yet returned: the start of a line still
    /// arriving, or lines that came in the same read as an earlier one.
    pending: Vec<u8>,
}

impl<'a> LineReader<'a> {
    fn new(stream: &'a TcpStream) -> LineReader<'a> {
        LineReader {
            stream,
            pending: Vec::new(),
        }
    }

    /// Reads the next message. An `Err` is a broken connection.
    fn next_message(&mut self) -> io::Result<Received> {
        let mut chunk = [0u8; SIZE];
        loop {
            if let Some(message) = self.complete_message() {
                return Ok(message);
            }
            let n = match (&mut self.stream).read(&mut chunk) {
                Ok(n) => n,
                Err(e) if is_timeout(&e) => return Ok(self.timed_out()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            // TODO(2.2): keep at most SIZE bytes of a line (and its "\r\n"); drop
            // the rest of an over-long line as it arrives, up to its newline.
            if n == 0 {
                let had_a_start = !mem::take(&mut self.pending).is_empty();
                return Ok(if had_a_start {
                    Received::Incomplete
                } else {
                    Received::End
                });
            }
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next complete message among the bytes received, if there is one.
    fn complete_message(&mut self) -> Option<Received> {
        if let Some(newline) = self.pending.iter().position(|&byte| byte == b'\n') {
            let rest = self.pending.split_off(newline + 1);
            let line = mem::replace(&mut self.pending, rest);
            return Some(decode(line));
        }
        None
    }

    /// A read waited --idle-timeout: the line that had begun, if any, is given up.
    fn timed_out(&mut self) -> Received {
        Received::IdleTimeout {
            unfinished: mem::take(&mut self.pending),
        }
    }
}

/// A whole line, its `\n` included, as a message.
fn decode(mut line: Vec<u8>) -> Received {
    let ending = if line.ends_with(b"\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    line.truncate(line.len() - ending.len());
    match String::from_utf8(line) {
        Ok(text) => Received::Line(Line { text, ending }),
        Err(_) => Received::NotUtf8,
    }
}

/// True for the error a read timeout gives: `WouldBlock` on Unix, `TimedOut` on Windows.
fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// What every client thread shares: the settings, the stop flag, and who is connected.
struct Server {
    config: Config,
    stopping: AtomicBool,
    connections: Arc<Connections>,
}

impl Server {
    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Raises the flag, then wakes the accept loop by being its next client.
    fn stop(&self, address: SocketAddr) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&address, Duration::from_millis(200));
    }
}

/// Stops the server when Enter is pressed in its terminal. (Given code: the
/// real server stops on Ctrl-C, which takes a signal handler; `std` has none.)
fn stop_on_enter(stop: impl FnOnce() + Send + 'static) {
    thread::spawn(move || {
        let mut line = String::new();
        if matches!(io::stdin().read_line(&mut line), Ok(1..)) {
            stop();
        }
    });
}

/// Closes so that the client receives the last reply: say we are done
/// writing, then read and drop what the client still sends until it closes
/// too (bounded in time and bytes).
fn close_gracefully(mut stream: &TcpStream) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER_TIME;
    let mut discarded = 0;
    let mut scratch = [0u8; 1024];
    while discarded < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut scratch) {
            Ok(0) | Err(_) => break,
            Ok(n) => discarded += n,
        }
    }
}

/// Sends one line to a connection that is not being served, and closes it
/// without waiting (what the client already sent is read and dropped first).
fn refuse(mut stream: &TcpStream, line: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let _ = stream.write_all(line.as_bytes());
    let _ = stream.shutdown(Shutdown::Write);
    if stream.set_nonblocking(true).is_ok() {
        let mut scratch = [0u8; 1024];
        let mut discarded = 0;
        while let Ok(n @ 1..) = stream.read(&mut scratch) {
            discarded += n;
            if discarded >= LINGER_BYTES {
                break;
            }
        }
    }
}

/// Who is connected: counted against `--max-clients`, and reachable at shutdown.
#[derive(Default)]
struct Connections {
    open: Mutex<Open>,
    /// Signalled each time a client leaves.
    left: Condvar,
}

#[derive(Default)]
struct Open {
    next_key: u64,
    streams: HashMap<u64, Arc<TcpStream>>,
}

impl Connections {
    fn lock(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts `stream` in, unless `max` clients are connected already.
    fn admit(self: &Arc<Self>, stream: &Arc<TcpStream>, max: usize) -> Option<Place> {
        let mut open = self.lock();
        if open.streams.len() >= max {
            return None;
        }
        open.next_key += 1;
        let key = open.next_key;
        open.streams.insert(key, Arc::clone(stream));
        Some(Place {
            key,
            connections: Arc::clone(self),
        })
    }

    fn count(&self) -> usize {
        self.lock().streams.len()
    }

    /// Ends every session's wait for input: a blocked read returns end of stream.
    fn end_all_reads(&self) {
        for stream in self.lock().streams.values() {
            let _ = stream.shutdown(Shutdown::Read);
        }
    }

    /// Waits until every client has left, or `timeout` passes; returns how many are left.
    fn wait_until_empty(&self, timeout: Duration) -> usize {
        let open = self.lock();
        let (open, _) = self
            .left
            .wait_timeout_while(open, timeout, |open| !open.streams.is_empty())
            .unwrap_or_else(PoisonError::into_inner);
        open.streams.len()
    }
}

/// A client's place in [`Connections`]; dropping it frees the place.
struct Place {
    key: u64,
    connections: Arc<Connections>,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.connections.lock().streams.remove(&self.key);
        self.connections.left.notify_all();
    }
}

/// What the command line asks for. (Given code: not part of the exercises.)
struct Config {
    /// `--port N`: where to listen; 0 lets the system choose. The original's 56011 by default.
    port: u16,
    /// `--idle-timeout SECONDS`: how long a client may take to send a
    /// complete line (default 300; 0: no limit).
    idle_timeout: Option<Duration>,
    /// `--max-clients N`: the most clients served at once (default 10000).
    max_clients: usize,
}

impl Config {
    /// The command line's flags; on a mistake, says which and exits with status 2.
    fn from_args() -> Config {
        Config::parse().unwrap_or_else(|why| {
            eprintln!("echo_server: {why}");
            std::process::exit(2)
        })
    }

    fn parse() -> Result<Config, String> {
        let mut config = Config {
            port: 56011,
            idle_timeout: Some(Duration::from_secs(300)),
            max_clients: 10_000,
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let value = args.next().ok_or(format!("{flag} needs a value"))?;
            let wrong = |what: &str| format!("{flag} {value}: {what}");
            let seconds = || -> Result<Option<Duration>, String> {
                let seconds: f64 = value.parse().map_err(|_| wrong("not a number"))?;
                let timeout = Duration::try_from_secs_f64(seconds)
                    .map_err(|_| wrong("not a number of seconds"))?;
                Ok(Some(timeout).filter(|t| !t.is_zero()))
            };
            match flag.as_str() {
                "--port" => config.port = value.parse().map_err(|_| wrong("not a port"))?,
                "--idle-timeout" => config.idle_timeout = seconds()?,
                "--max-clients" => {
                    config.max_clients = value.parse().map_err(|_| wrong("not a count"))?;
                }
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        Ok(config)
    }
}
