//! Exercise 5.2: deadlines, in one timer structure.
//!
//! A client that connects and says nothing, or sends a byte now and then
//! and never a newline, holds its connection for ever: nothing in the loop
//! ever looks at the clock. A thread had its socket's read timeout; the
//! loop waits for every socket at once, in one `poll`, which takes one
//! timeout. So give each client a deadline, and keep every deadline in one
//! ordered set, `BTreeSet<(Instant, Token)>`:
//!
//! - a client's deadline is `--idle-timeout` (parsed for you into
//!   `config.idle_timeout`) after the server starts waiting for its next
//!   line: when it connects, and each time a message is complete. A byte of
//!   a line that has not ended does not move it;
//! - the loop waits in `poll` at most until the earliest deadline
//!   (`first()`), not for ever;
//! - after each wait, every client whose deadline has passed is told why
//!   (`Ending::IdleTimeout`, given, quotes the line that never ended) and
//!   closed; its log line's reason is `idle timeout`.
//!
//! When a client's deadline changes, take its old entry out of the set
//! and put the new one in: an entry left behind would close it too soon.
//!
//! This file starts as exercise 5.1's worked solution.
//!
//! Check it:  cargo run -p exercises -- 5.2
//! Run it:    cargo run -p exercises --bin ex5_2 -- --idle-timeout 5
//! The lesson: lessons/05-event-loop.md, "Deadlines, in one timer structure".

use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token, Waker};

// The original's constants.
/// SIZE: the longest message in bytes, not counting its line ending.
const SIZE: usize = 1024;
/// DISCONNECT_MSG: the line that ends a client's session.
const DISCONNECT_MSG: &str = "!DISCONNECT";

/// The listening socket's token; clients get 2, 3, ...
const LISTENER: Token = Token(0);
/// The waker's token: Enter was pressed.
const WAKER: Token = Token(1);

fn main() -> ExitCode {
    let config = Config::from_args();
    println!("[STARTING] Server is starting...");
    match serve(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo_server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The loop: wait until sockets are ready, do what each allows, repeat.
fn serve(config: &Config) -> io::Result<()> {
    let address = SocketAddr::from(([127, 0, 0, 1], config.port));
    let mut listener = TcpListener::bind(address)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {address}: {e}")))?;
    let mut poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    stop_on_enter(Waker::new(poll.registry(), WAKER)?);
    let port = listener.local_addr()?.port();
    println!("[LISTENING] Server is listening on port {port}");

    let mut clients: HashMap<Token, Client> = HashMap::new();
    let mut next_token = 2;
    let mut events = Events::with_capacity(1024);
    loop {
        // TODO(5.2): wait at most until the earliest deadline.
        match poll.poll(&mut events, None) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            result => result?,
        }
        for event in events.iter() {
            match event.token() {
                LISTENER => loop {
                    // Every client waiting: the listener is edge-triggered too.
                    let (stream, address) = match listener.accept() {
                        Ok(accepted) => accepted,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => {
                            eprintln!("accept failed: {e}");
                            break;
                        }
                    };
                    let token = Token(next_token);
                    next_token += 1;
                    let mut client = Client::new(stream, address, token, config.quiet);
                    if let Err(e) =
                        poll.registry()
                            .register(&mut client.stream, token, Interest::READABLE)
                    {
                        eprintln!("cannot watch {address}: {e}");
                        continue;
                    }
                    println!("[New Connection] Client connected from {address}");
                    // Data may have come with the connection: serve it at once.
                    if !client.serve(poll.registry()) {
                        client.close();
                        continue;
                    }
                    clients.insert(token, client);
                },
                WAKER => {
                    let open = clients.len();
                    println!("[SHUTTING DOWN] Closing {open} open sessions...");
                    for (_, mut client) in clients.drain() {
                        client.ending = Some(Ending::ServerStopping);
                        client.close();
                    }
                    println!("[STOPPED] Server stopped.");
                    return Ok(());
                }
                token => {
                    let Some(client) = clients.get_mut(&token) else {
                        continue;
                    };
                    if event.is_readable() || event.is_read_closed() || event.is_error() {
                        client.readable = true;
                    }
                    if event.is_writable() || event.is_error() {
                        client.flush(poll.registry());
                    }
                    if !client.serve(poll.registry())
                        && let Some(client) = clients.remove(&token)
                    {
                        client.close();
                    }
                }
            }
        }
        // TODO(5.2): tell and close every client whose deadline has passed.
    }
}

/// One client: its socket, and where its conversation stands.
struct Client {
    stream: TcpStream,
    address: SocketAddr,
    token: Token,
    quiet: bool,
    /// Bytes read and not yet handed out as lines.
    pending: Vec<u8>,
    /// Set once the line at the front is known to be too long: the rest of
    /// it is dropped as it arrives, up to its newline.
    too_long: bool,
    /// mio said "readable", and no read has found the socket empty since.
    readable: bool,
    /// Echoes the socket had no room for yet: they go before anything else.
    output: Vec<u8>,
    /// How the session ended, once it has.
    ending: Option<Ending>,
}

impl Client {
    fn new(stream: TcpStream, address: SocketAddr, token: Token, quiet: bool) -> Client {
        Client {
            stream,
            address,
            token,
            quiet,
            pending: Vec::new(),
            too_long: false,
            // Data may have come with the connection.
            readable: true,
            output: Vec::new(),
            ending: None,
        }
    }

    /// Echoes every line that has arrived, until one would have to wait.
    /// Returns false when the session is over.
    fn serve(&mut self, registry: &Registry) -> bool {
        loop {
            if self.ending.is_some() {
                return false;
            }
            // An echo still waits for room: the next lines wait behind it.
            if !self.output.is_empty() {
                return true;
            }
            let reply = match self.next_message() {
                Received::Wait => return true,
                Received::Line(line) if line.text == DISCONNECT_MSG => {
                    self.ending = Some(Ending::Goodbye);
                    return false;
                }
                Received::Line(line) => {
                    if !self.quiet {
                        println!("[{}] {}", self.address, line.text.escape_debug());
                    }
                    format!("{}{}", line.text, line.ending)
                }
                Received::NotUtf8 => "ERROR: message is not valid UTF-8\n".to_string(),
                Received::TooLong => format!("ERROR: message longer than {SIZE} bytes\n"),
                Received::End(ending) => {
                    self.ending = Some(ending);
                    return false;
                }
            };
            // TODO(5.2): a message is complete: the wait for the next starts now.
            if let Err(e) = self.send(reply.as_bytes(), registry) {
                self.ending = Some(Ending::Broken(e));
                return false;
            }
        }
    }

    /// The next complete message; reads (without ever waiting) only while
    /// mio's last word was "readable", until the socket is empty.
    fn next_message(&mut self) -> Received {
        let mut chunk = [0u8; SIZE];
        loop {
            if let Some(message) = self.complete_message() {
                return message;
            }
            if !self.readable {
                return Received::Wait;
            }
            match (&self.stream).read(&mut chunk) {
                Ok(0) => {
                    let had_a_start = !std::mem::take(&mut self.pending).is_empty();
                    return Received::End(match (self.too_long, had_a_start) {
                        (false, true) => Ending::ClosedMidLine,
                        _ => Ending::Closed,
                    });
                }
                Ok(n) => self.push(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.readable = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Received::End(Ending::Broken(e)),
            }
        }
    }

    /// The next complete message among the bytes received, if there is one.
    fn complete_message(&mut self) -> Option<Received> {
        if let Some(newline) = self.pending.iter().position(|&byte| byte == b'\n') {
            let rest = self.pending.split_off(newline + 1);
            let line = std::mem::replace(&mut self.pending, rest);
            if std::mem::take(&mut self.too_long) {
                return Some(Received::TooLong);
            }
            return Some(decode(line));
        }
        // No newline in more than SIZE bytes and a "\r\n": too long,
        // whatever comes next. Keep only its start, to quote it.
        if !self.too_long && self.pending.len() > SIZE + 1 {
            self.too_long = true;
            self.pending.truncate(64);
        }
        None
    }

    /// Adds what one read returned; of an over-long line, only its end is kept.
    fn push(&mut self, received: &[u8]) {
        if !self.too_long {
            self.pending.extend_from_slice(received);
        } else if let Some(newline) = received.iter().position(|&byte| byte == b'\n') {
            self.pending.extend_from_slice(&received[newline..]);
        }
    }

    /// Sends `bytes` to the client, without waiting: what the socket has no
    /// room for waits in `output`, and mio is asked to say when it has.
    fn send(&mut self, bytes: &[u8], registry: &Registry) -> io::Result<()> {
        let written = if self.output.is_empty() {
            match (&self.stream).write(bytes) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => 0,
                Err(e) => return Err(e),
            }
        } else {
            0 // Behind what already waits, to keep the order.
        };
        if written < bytes.len() {
            if self.output.is_empty() {
                registry.reregister(
                    &mut self.stream,
                    self.token,
                    Interest::READABLE | Interest::WRITABLE,
                )?;
            }
            self.output.extend_from_slice(&bytes[written..]);
        }
        Ok(())
    }

    /// The socket has room: sends what waits in `output`, as far as it
    /// goes. Once all of it is out, `WRITABLE` is not asked for any more
    /// (the socket is nearly always writable: the loop would wake for
    /// nothing).
    fn flush(&mut self, registry: &Registry) {
        while !self.output.is_empty() {
            match (&self.stream).write(&self.output) {
                Ok(n) => {
                    self.output.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.ending = Some(Ending::Broken(e));
                    return;
                }
            }
        }
        if let Err(e) = registry.reregister(&mut self.stream, self.token, Interest::READABLE) {
            self.ending = Some(Ending::Broken(e));
        }
    }

    /// Ends the session: its error line if it has one, then closes (our
    /// side first, so the client reads end of stream after the last line).
    fn close(mut self) {
        let ending = self.ending.take().unwrap_or(Ending::Closed);
        if let Some(error) = ending.error_line() {
            let _ = (&self.stream).write(error.as_bytes());
        }
        let _ = self.stream.shutdown(Shutdown::Write);
        println!(
            "[Client disconnected] {}: {}",
            self.address,
            ending.reason()
        );
    }
}

/// What [`Client::next_message`] found.
enum Received {
    /// A complete line.
    Line(Line),
    /// A line that is not UTF-8; skipped.
    NotUtf8,
    /// A line of more than SIZE bytes; skipped, up to its newline.
    TooLong,
    /// Nothing complete yet: wait for the socket.
    Wait,
    /// The session is over.
    End(Ending),
}

/// One line: its text, and the line ending it came with.
struct Line {
    text: String,
    /// `"\n"` or `"\r\n"`.
    ending: &'static str,
}

/// A whole line, its `\n` included, as a message.
fn decode(mut line: Vec<u8>) -> Received {
    let ending = if line.ends_with(b"\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    line.truncate(line.len() - ending.len());
    if line.len() > SIZE {
        return Received::TooLong;
    }
    match String::from_utf8(line) {
        Ok(text) => Received::Line(Line { text, ending }),
        Err(_) => Received::NotUtf8,
    }
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
    #[allow(dead_code)] // Until 5.2 is done: your timers end sessions with it.
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

/// Wakes the loop when Enter is pressed in the server's terminal. (Given
/// code: the real server stops on Ctrl-C, which takes a signal handler;
/// `std` has none.) The loop's thread waits in `poll`; the waker is one
/// more thing it waits on.
fn stop_on_enter(waker: Waker) {
    let waker = Arc::new(waker);
    thread::spawn(move || {
        let mut line = String::new();
        if matches!(io::stdin().read_line(&mut line), Ok(1..)) {
            let _ = waker.wake();
        }
    });
}

/// What the command line asks for. (Given code: not part of the exercises.)
struct Config {
    /// `--port N`: where to listen; 0 lets the system choose. The original's 56011 by default.
    port: u16,
    /// `--quiet`: no line per message.
    quiet: bool,
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
            quiet: false,
            idle_timeout: Some(Duration::from_secs(300)),
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            if flag == "--quiet" {
                config.quiet = true;
                continue;
            }
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
