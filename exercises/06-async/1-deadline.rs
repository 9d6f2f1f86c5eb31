//! Exercise 6.1: a deadline, awaited.
//!
//! Lesson 2's echo server as tasks on tokio: a task per client instead of a
//! thread, the same lines with the same bound. It has no idle timeout yet:
//! a client that sends nothing, or a byte now and then and never a newline,
//! holds its task for ever (a task costs little, but its socket and its
//! place do not). Give each line a deadline, as 2.3 did for a thread, with
//! `.await` where the thread blocked:
//!
//! - when the reader starts waiting for a message, note when its time runs
//!   out (`--idle-timeout`, parsed for you into `config.idle_timeout`);
//! - wait for each read only until then: `tokio::time::timeout_at`; a read
//!   that misses the deadline ends the wait;
//! - then tell the client (the line quotes the start of a line it never
//!   finished, as the real server's does: `ERROR: idle timeout: your line
//!   "..." never ended with a newline (\n); closing the connection`, or
//!   `ERROR: idle timeout, closing the connection` if it had sent nothing),
//!   and log `[Client disconnected] {address}: idle timeout`.
//!
//! Check it:  cargo run -p exercises -- 6.1
//! Run it:    cargo run -p exercises --bin ex6_1 -- --idle-timeout 5
//! The lesson: lessons/06-async.md, "The echo server, as a task".

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

/// The longest message in bytes, not counting its line ending.
const SIZE: usize = 1024;
/// The line that ends a client's session.
const DISCONNECT_MSG: &str = "!DISCONNECT";
/// How long a write may wait for a client to take it.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::from_args();
    println!("[STARTING] Server is starting...");
    let listener = match TcpListener::bind(("127.0.0.1", config.port)).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!(
                "echo_server: cannot listen on 127.0.0.1:{}: {e}",
                config.port
            );
            return ExitCode::FAILURE;
        }
    };
    let Ok(port) = listener.local_addr().map(|address| address.port()) else {
        eprintln!("echo_server: cannot tell which port it listens on");
        return ExitCode::FAILURE;
    };
    println!("[LISTENING] Server is listening on port {port}");

    loop {
        match listener.accept().await {
            Ok((stream, address)) => {
                tokio::spawn(handle_client(stream, address, config.idle_timeout));
            }
            Err(e) => {
                // Out of file descriptors, say: wait, rather than spin.
                eprintln!("accept failed: {e}; trying again in 100 ms");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One client's session, as a task: read a line, send it back, until the
/// client leaves or the deadline passes.
async fn handle_client(stream: TcpStream, address: SocketAddr, idle_timeout: Option<Duration>) {
    println!("[New Connection] Client connected from {address}");
    let (read, mut write) = stream.into_split();
    let mut lines = LineReader::new(read, idle_timeout);
    let ending = loop {
        let reply = match lines.next_message().await {
            Ok(Received::Line(line)) if line == DISCONNECT_MSG => break "sent !DISCONNECT",
            Ok(Received::Line(line)) => {
                println!("[{address}] {line}");
                format!("{line}\n")
            }
            Ok(Received::NotUtf8) => "ERROR: message is not valid UTF-8\n".to_string(),
            Ok(Received::TooLong) => format!("ERROR: message longer than {SIZE} bytes\n"),
            Ok(Received::End) => break "closed the connection",
            Err(_) => break "connection failed",
        };
        if send(&mut write, reply.as_bytes()).await.is_err() {
            break "not reading what it is sent";
        }
    };
    // Done writing: the client reads end of stream after the last line.
    let _ = write.shutdown().await;
    println!("[Client disconnected] {address}: {ending}");
}

/// Writes all of `bytes`, or fails: with `TimedOut` if the client has not
/// taken them within `WRITE_TIMEOUT`.
async fn send(write: &mut tokio::net::tcp::OwnedWriteHalf, bytes: &[u8]) -> io::Result<()> {
    match timeout(WRITE_TIMEOUT, write.write_all(bytes)).await {
        Ok(written) => written,
        Err(_) => Err(io::ErrorKind::TimedOut.into()),
    }
}

/// What [`LineReader::next_message`] found.
enum Received {
    /// A complete line, without its line ending.
    Line(String),
    /// A line that is not UTF-8; skipped.
    NotUtf8,
    /// A line of more than SIZE bytes; skipped, up to its newline.
    TooLong,
    /// End of stream: the client closed its side.
    End,
}

/// Reads one client's lines, bounded in size and in time.
struct LineReader {
    read: OwnedReadHalf,
    #[allow(dead_code)] // Until 6.1 is done: your deadline reads it.
    idle_timeout: Option<Duration>,
    /// Bytes received and not yet returned.
    pending: Vec<u8>,
    /// Set once the line at the front is known to be too long.
    too_long: bool,
}

impl LineReader {
    fn new(read: OwnedReadHalf, idle_timeout: Option<Duration>) -> LineReader {
        LineReader {
            read,
            idle_timeout,
            pending: Vec::new(),
            too_long: false,
        }
    }

    /// Reads the next message. An `Err` is a broken connection.
    async fn next_message(&mut self) -> io::Result<Received> {
        // TODO(6.1): the line must be complete within --idle-timeout of now
        // (`self.idle_timeout`), however the bytes trickle in.
        let mut chunk = [0u8; SIZE];
        loop {
            if let Some(message) = self.complete_message() {
                return Ok(message);
            }
            let n = self.read.read(&mut chunk).await?;
            if n == 0 {
                self.pending.clear();
                return Ok(Received::End);
            }
            self.push(&chunk[..n]);
        }
    }

    fn complete_message(&mut self) -> Option<Received> {
        if let Some(newline) = self.pending.iter().position(|&byte| byte == b'\n') {
            let rest = self.pending.split_off(newline + 1);
            let mut line = std::mem::replace(&mut self.pending, rest);
            if std::mem::take(&mut self.too_long) {
                return Some(Received::TooLong);
            }
            let ending = if line.ends_with(b"\r\n") { 2 } else { 1 };
            line.truncate(line.len() - ending);
            if line.len() > SIZE {
                return Some(Received::TooLong);
            }
            return Some(match String::from_utf8(line) {
                Ok(text) => Received::Line(text),
                Err(_) => Received::NotUtf8,
            });
        }
        if !self.too_long && self.pending.len() > SIZE + 1 {
            self.too_long = true;
            self.pending.truncate(64); // kept to quote, if the line never ends
        }
        None
    }

    fn push(&mut self, received: &[u8]) {
        if !self.too_long {
            self.pending.extend_from_slice(received);
        } else if let Some(newline) = received.iter().position(|&byte| byte == b'\n') {
            self.pending.extend_from_slice(&received[newline..]);
        }
    }
}

/// What the command line asks for. (Given code: not part of the exercises.)
struct Config {
    /// `--port N`: where to listen; 0 lets the system choose. 56011 by default.
    port: u16,
    /// `--idle-timeout SECONDS`: how long a client may take to send a
    /// complete line (default 300; 0: no limit).
    idle_timeout: Option<Duration>,
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
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let value = args.next().ok_or(format!("{flag} needs a value"))?;
            let wrong = |what: &str| format!("{flag} {value}: {what}");
            match flag.as_str() {
                "--port" => config.port = value.parse().map_err(|_| wrong("not a port"))?,
                "--idle-timeout" => {
                    let seconds: f64 = value.parse().map_err(|_| wrong("not a number"))?;
                    let timeout = Duration::try_from_secs_f64(seconds)
                        .map_err(|_| wrong("not a number of seconds"))?;
                    config.idle_timeout = Some(timeout).filter(|t| !t.is_zero());
                }
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        Ok(config)
    }
}
