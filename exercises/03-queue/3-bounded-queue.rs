//! Exercise 3.3: a bounded queue.
//!
//! A client's thread reads a kilobyte of short lines with one system call
//! and queues them in microseconds; the processing thread makes a system
//! call for every reply. A client that floods the server with short lines
//! fills the queue far faster than it empties, and nothing stops it: the
//! server holds every line until it is answered. Bound the queue:
//!
//! - at most `QUEUE_CAPACITY` (1024) messages wait in it; a client's thread
//!   with a message to add waits while it is full, and reads nothing from
//!   its socket meanwhile, so TCP slows its client down;
//! - a client that reads its replies still gets every one of them.
//!
//! This file starts as exercise 3.2's worked solution.
//!
//! Check it:  cargo run -p exercises -- 3.3
//! Run it:    cargo run -p exercises --bin ex3_3
//! The lesson: lessons/03-queue-server.md, "A bounded queue".

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::mem;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// The longest message in bytes, not counting its line ending.
const SIZE: usize = 1024;
/// The line that ends a client's session.
const DISCONNECT_MSG: &str = "!DISCONNECT";
/// How long the processing thread lets one write wait for room in a
/// client's socket buffers: a millisecond asked, which Linux rounds up to a
/// clock tick (a few milliseconds). It serves every client, so it must not
/// wait for one: a client whose buffers stay full that long is not reading.
const SEND_WAIT: Duration = Duration::from_millis(1);
/// How much of what a refused client sent is read and dropped before the close.
const LINGER_BYTES: usize = 1024 * 1024;
/// The first pause after a failed `accept()`; each failure in a row doubles it...
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// ...up to this.
const LONGEST_BACKOFF: Duration = Duration::from_secs(1);
/// How long shutdown waits for the clients' threads.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(800);

/// `--quiet`: no line per client or message.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Prints a line about a client or a message, unless `--quiet`.
macro_rules! say {
    ($($line:tt)*) => {
        if !QUIET.load(Ordering::Relaxed) {
            println!($($line)*);
        }
    };
}

fn main() -> ExitCode {
    let config = Config::from_args();
    QUIET.store(config.quiet, Ordering::Relaxed);
    let listener = match TcpListener::bind(("127.0.0.1", config.port)) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!(
                "queue_server: cannot listen on 127.0.0.1:{}: {e}",
                config.port
            );
            return ExitCode::FAILURE;
        }
    };
    let Ok(address) = listener.local_addr() else {
        eprintln!("queue_server: cannot tell which port it listens on");
        return ExitCode::FAILURE;
    };
    let server = Arc::new(Server {
        config,
        stopping: AtomicBool::new(false),
        connections: Arc::default(),
    });

    // The original's `client_connections`, and its `message_queue`.
    let client_connections = Arc::new(ClientConnections::default());
    // TODO(3.3): at most QUEUE_CAPACITY (1024) messages may wait in the queue
    // (a constant to add: `const QUEUE_CAPACITY: usize = 1024;`).
    let (message_queue, queued_messages) = mpsc::channel::<Event>();
    // The original's processing thread. Nothing waits for it: when the
    // process ends, it ends too (the original's daemon thread).
    let processing = {
        let client_connections = Arc::clone(&client_connections);
        thread::Builder::new().spawn(move || process_messages(queued_messages, &client_connections))
    };
    if processing.is_err() {
        eprintln!("queue_server: cannot start the processing thread");
        return ExitCode::FAILURE;
    };
    let stopper = Arc::clone(&server);
    stop_on_enter(move || stopper.stop(address));
    println!("Server is listening on port {}...", address.port());

    // The original's `client_counter`: only this thread changes it, so it needs no lock.
    let mut client_counter: u64 = 0;
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
            say!("Refused {address}: too many clients (--max-clients {max})");
            refuse(
                &stream,
                &format!("ERROR: too many clients (limit {max}); try again later\n"),
            );
            continue;
        };
        client_counter += 1;
        let client = Arc::new(Client {
            id: client_counter,
            address,
            stream: Arc::clone(&stream),
            not_reading: AtomicBool::new(false),
        });
        let for_the_thread = (
            client,
            Arc::clone(&server),
            Arc::clone(&client_connections),
            message_queue.clone(),
        );
        let spawned = thread::Builder::new().spawn(move || {
            let (client, server, client_connections, message_queue) = for_the_thread;
            handle_client(&client, &server, &client_connections, &message_queue);
            drop(place);
        });
        if spawned.is_err() {
            refuse(
                &stream,
                "ERROR: server is busy (no thread available); try again later\n",
            );
        }
    }

    println!("Server is shutting down...");
    server.connections.end_all_reads();
    let unfinished = server.connections.wait_until_empty(SHUTDOWN_GRACE);
    if unfinished > 0 {
        eprintln!("{unfinished} clients did not finish in time; closing them");
    }
    println!("Server stopped.");
    ExitCode::SUCCESS
}

/// A connected client, as the registry and its own thread share it.
struct Client {
    id: u64,
    address: SocketAddr,
    stream: Arc<TcpStream>,
    /// Set by the processing thread when it drops the client for not
    /// reading its replies: the client's thread then knows why its
    /// connection ended.
    not_reading: AtomicBool,
}

/// The original's `client_connections`: client id -> client.
///
/// The processing thread looks clients up to answer them; each client's
/// thread adds its own entry, and the processing thread removes it when the
/// client leaves. The lock is held for one map operation: a client is
/// cloned out and written to after the lock is released, so no thread ever
/// waits for a socket while holding it.
#[derive(Default)]
struct ClientConnections {
    registry: Mutex<HashMap<u64, Arc<Client>>>,
}

impl ClientConnections {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<Client>>> {
        // A thread that panicked while holding the lock poisons it; a map
        // operation cannot be left half done, so carry on with it.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn register(&self, client: &Arc<Client>) {
        self.lock().insert(client.id, Arc::clone(client));
    }

    fn get(&self, client_id: u64) -> Option<Arc<Client>> {
        self.lock().get(&client_id).cloned()
    }

    fn forget(&self, client_id: u64) {
        self.lock().remove(&client_id);
    }
}

/// What goes through the `message_queue`: everything a client's thread has
/// to say, so that the processing thread answers each client in the order
/// it spoke.
enum Event {
    /// A line the client sent.
    Message { from: u64, text: String },
    /// A line that could not be accepted: the sender gets `error`.
    Invalid { from: u64, error: Invalid },
    /// The client is leaving. Everything it sent before is answered when
    /// this comes out of the queue; then its last line, if any, and the close.
    Leaving { from: u64, farewell: Option<String> },
}

/// A line the server cannot accept.
#[derive(Clone, Copy)]
enum Invalid {
    NotUtf8,
    TooLong,
}

/// One client's thread: greet, register, read lines and queue them, leave.
/// It never answers; only the processing thread does, so replies keep their order.
fn handle_client(
    client: &Arc<Client>,
    server: &Server,
    client_connections: &ClientConnections,
    message_queue: &Sender<Event>,
) {
    let (from, address) = (client.id, client.address);
    let mut stream = &*client.stream;
    // The welcome comes first, before the processing thread can write to
    // this client: so the client registers only once it is greeted.
    let welcome = format!(
        "Welcome, Client {from}! Send a line, @<n> <text> to talk to Client <n>, {DISCONNECT_MSG} to leave.\n"
    );
    let _ = stream.set_write_timeout(server.config.write_timeout);
    if stream.write_all(welcome.as_bytes()).is_err() {
        say!("Client {from} disconnected (left before its greeting).");
        return;
    }
    // From now on, every write to this client is the processing thread's.
    let _ = stream.set_write_timeout(Some(SEND_WAIT));
    client_connections.register(client);
    say!("Client {from} connected from {address}");

    let mut lines = LineReader::new(stream, server.config.idle_timeout);
    let ending = loop {
        let event = match lines.next_message() {
            Ok(Received::Line(line)) if line.text == DISCONNECT_MSG => break Ending::Goodbye,
            Ok(Received::Line(line)) => Event::Message {
                from,
                text: line.text,
            },
            Ok(Received::NotUtf8) => Event::Invalid {
                from,
                error: Invalid::NotUtf8,
            },
            Ok(Received::TooLong) => Event::Invalid {
                from,
                error: Invalid::TooLong,
            },
            _ if client.not_reading.load(Ordering::SeqCst) => break Ending::NotReading,
            Ok(Received::End | Received::Incomplete) if server.is_stopping() => {
                break Ending::ServerStopping;
            }
            Ok(Received::End) => break Ending::Closed,
            Ok(Received::Incomplete) => break Ending::ClosedMidLine,
            Ok(Received::IdleTimeout { unfinished }) => break Ending::IdleTimeout { unfinished },
            Err(e) => break Ending::Broken(e),
        };
        if message_queue.send(event).is_err() {
            break Ending::ServerStopping;
        }
    };
    let farewell = match &ending {
        Ending::Goodbye => Some(format!("Goodbye, Client {from}.")),
        other => other.error_line(),
    };
    // Leave through the queue, behind our own messages: the processing
    // thread answers them all, then says the farewell and closes.
    let _ = message_queue.send(Event::Leaving { from, farewell });
    say!("Client {from} disconnected ({}).", ending.reason());
}

/// The original's processing thread: takes the messages out of the queue,
/// one at a time, in the order they went in, and answers them.
fn process_messages(queued_messages: Receiver<Event>, client_connections: &ClientConnections) {
    let reply = |client_id: u64, line: &str| {
        send_or_drop(client_connections, client_id, line);
    };
    // Ends when every sender is gone: every client thread's, and main's.
    for event in queued_messages {
        match event {
            Event::Message { from, text } => {
                say!("Client {from} says: {text}");
                match parse_direct_message(&text) {
                    None => reply(from, &format!("Processed: {text}")),
                    Some(None) => reply(
                        from,
                        "ERROR: a direct message is @<client number> <text>, as in @2 hello",
                    ),
                    Some(Some((to, body))) => {
                        let line = format!("From Client {from}: {body}");
                        let outcome = match send_or_drop(client_connections, to, &line) {
                            Delivery::Sent => format!("Delivered to Client {to}: {body}"),
                            Delivery::NotRegistered => format!("ERROR: there is no Client {to}"),
                            Delivery::Dropped => format!(
                                "ERROR: Client {to} was disconnected (not reading); not delivered"
                            ),
                        };
                        reply(from, &outcome);
                    }
                }
            }
            Event::Invalid { from, error } => {
                let (what, answer) = match error {
                    Invalid::NotUtf8 => (
                        "a line that is not UTF-8".to_string(),
                        "ERROR: message is not valid UTF-8".to_string(),
                    ),
                    Invalid::TooLong => (
                        format!("a line longer than {SIZE} bytes"),
                        format!("ERROR: message longer than {SIZE} bytes"),
                    ),
                };
                say!("Client {from} sent {what}");
                reply(from, &answer);
            }
            Event::Leaving { from, farewell } => {
                if let Some(farewell) = farewell {
                    reply(from, &farewell);
                }
                if let Some(client) = client_connections.get(from) {
                    client_connections.forget(from);
                    // The client reads end of stream after its last line.
                    let _ = client.stream.shutdown(Shutdown::Write);
                }
            }
        }
    }
}

/// `@{to} {text}`, with `to` written as a client's number is (digits, no
/// sign, no leading zero): `Some(Some((to, text)))`; a line that starts with
/// `@` but is not of that form: `Some(None)`; any other line: `None`.
fn parse_direct_message(line: &str) -> Option<Option<(u64, &str)>> {
    let rest = line.strip_prefix('@')?;
    let Some((to, text)) = rest.split_once(' ') else {
        return Some(None);
    };
    let plain = to.bytes().all(|b| b.is_ascii_digit()) && (to == "0" || !to.starts_with('0'));
    Some(to.parse().ok().filter(|_| plain).map(|to| (to, text)))
}

/// What became of a line for a client.
enum Delivery {
    Sent,
    /// No such client (never was, or it has left).
    NotRegistered,
    /// The client could not take the line, and has been disconnected.
    Dropped,
}

/// Sends one line to a registered client, without waiting for it.
///
/// The write waits at most `SEND_WAIT` for room in the client's socket
/// buffers. They are full only when the client has fallen far behind in
/// reading (a few hundred kilobytes to a few megabytes): then it is
/// disconnected, and what it had not received is lost with the connection,
/// as Redis drops a client whose output buffer overflows. A line half sent
/// could not be finished anyway.
fn send_or_drop(client_connections: &ClientConnections, client_id: u64, line: &str) -> Delivery {
    // The registry's lock is released on return: `get` hands out a clone.
    let Some(client) = client_connections.get(client_id) else {
        return Delivery::NotRegistered;
    };
    let why = match (&*client.stream).write_all(format!("{line}\n").as_bytes()) {
        Ok(()) => return Delivery::Sent,
        Err(e) if is_timeout(&e) => {
            // Its buffers stayed full: the one way to be "not reading".
            client.not_reading.store(true, Ordering::SeqCst);
            "not reading its replies".to_string()
        }
        Err(e) => format!("connection lost: {e}"),
    };
    say!("Client {client_id}: {why}; disconnecting it.");
    client_connections.forget(client_id);
    // Ending both directions wakes the client's thread, which leaves.
    let _ = client.stream.shutdown(Shutdown::Both);
    Delivery::Dropped
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
    /// The processing thread dropped the client: it was not reading its replies.
    NotReading,
    /// The connection broke (a reset, say).
    Broken(io::Error),
}

impl Ending {
    /// The line a client still listening is told as its session ends, if any.
    fn error_line(&self) -> Option<String> {
        match self {
            Ending::IdleTimeout { unfinished } if unfinished.is_empty() => {
                Some("ERROR: idle timeout, closing the connection".to_string())
            }
            Ending::IdleTimeout { unfinished } => {
                let start = String::from_utf8_lossy(unfinished);
                let shown: String = start.chars().take(40).collect();
                let cut = if shown.len() < start.len() { "..." } else { "" };
                Some(format!(
                    "ERROR: idle timeout: your line \"{}{cut}\" never ended with a newline (\\n); closing the connection",
                    shown.escape_debug()
                ))
            }
            Ending::ClosedMidLine => {
                Some("ERROR: the last line had no newline; it was dropped".to_string())
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
            Ending::NotReading => "not reading what it is sent".into(),
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
    /// A line of more than SIZE bytes; skipped, up to its newline.
    TooLong,
    /// End of stream in the middle of a line.
    Incomplete,
    /// No complete line within the idle timeout; the start of one, if it had begun.
    IdleTimeout { unfinished: Vec<u8> },
    /// End of stream: the client closed its side.
    End,
}

/// One line: its text, without its line ending.
struct Line {
    text: String,
}

/// Reads one client's lines, bounded in size and in time (lesson 2's reader).
struct LineReader<'a> {
    stream: &'a TcpStream,
    idle_timeout: Option<Duration>,
    /// Bytes received and not yet returned.
    pending: Vec<u8>,
    /// Set once the line at the front is known to be too long.
    too_long: bool,
}

impl<'a> LineReader<'a> {
    fn new(stream: &'a TcpStream, idle_timeout: Option<Duration>) -> LineReader<'a> {
        LineReader {
            stream,
            idle_timeout,
            pending: Vec::new(),
            too_long: false,
        }
    }

    /// Reads the next message. An `Err` is a broken connection.
    fn next_message(&mut self) -> io::Result<Received> {
        // (None if it is too far away to count to: --idle-timeout 1e19.)
        let deadline = self
            .idle_timeout
            .and_then(|timeout| Instant::now().checked_add(timeout));
        let mut chunk = [0u8; SIZE];
        loop {
            if let Some(message) = self.complete_message() {
                return Ok(message);
            }
            if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(self.timed_out());
                }
                self.stream.set_read_timeout(Some(left))?;
            }
            let n = match (&mut self.stream).read(&mut chunk) {
                Ok(n) => n,
                Err(e) if is_timeout(&e) => return Ok(self.timed_out()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                let had_a_start = !mem::take(&mut self.pending).is_empty();
                return Ok(match (mem::take(&mut self.too_long), had_a_start) {
                    (true, _) => Received::TooLong,
                    (false, true) => Received::Incomplete,
                    (false, false) => Received::End,
                });
            }
            self.push(&chunk[..n]);
        }
    }

    fn complete_message(&mut self) -> Option<Received> {
        if let Some(newline) = self.pending.iter().position(|&byte| byte == b'\n') {
            let rest = self.pending.split_off(newline + 1);
            let line = mem::replace(&mut self.pending, rest);
            if mem::take(&mut self.too_long) {
                return Some(Received::TooLong);
            }
            return Some(decode(line));
        }
        if !self.too_long && self.pending.len() > SIZE + 1 {
            self.too_long = true;
            self.pending.truncate(64);
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

    fn timed_out(&mut self) -> Received {
        self.too_long = false;
        Received::IdleTimeout {
            unfinished: mem::take(&mut self.pending),
        }
    }
}

/// A whole line, its `\n` included, as a message.
fn decode(mut line: Vec<u8>) -> Received {
    let ending = if line.ends_with(b"\r\n") { 2 } else { 1 };
    line.truncate(line.len() - ending);
    if line.len() > SIZE {
        return Received::TooLong;
    }
    match String::from_utf8(line) {
        Ok(text) => Received::Line(Line { text }),
        Err(_) => Received::NotUtf8,
    }
}

/// True for the error a read or write timeout gives: `WouldBlock` on Unix, `TimedOut` on Windows.
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

    /// Ends every session's wait for input: a blocked read returns end of
    /// stream, after what the client had already sent.
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
    /// `--port N`: where to listen; 0 lets the system choose. 65432 by default.
    port: u16,
    /// `--idle-timeout SECONDS`: how long a client may take to send a
    /// complete line (default 300; 0: no limit).
    idle_timeout: Option<Duration>,
    /// `--write-timeout SECONDS`: how long a client may take to take its
    /// welcome (default 10; 0: no limit).
    write_timeout: Option<Duration>,
    /// `--max-clients N`: the most clients served at once (default 10000).
    max_clients: usize,
    /// `--quiet`: no line per client or message.
    quiet: bool,
}

impl Config {
    /// The command line's flags; on a mistake, says which and exits with status 2.
    fn from_args() -> Config {
        Config::parse().unwrap_or_else(|why| {
            eprintln!("queue_server: {why}");
            std::process::exit(2)
        })
    }

    fn parse() -> Result<Config, String> {
        let mut config = Config {
            port: 65432,
            idle_timeout: Some(Duration::from_secs(300)),
            write_timeout: Some(Duration::from_secs(10)),
            max_clients: 10_000,
            quiet: false,
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            if flag == "--quiet" {
                config.quiet = true;
                continue;
            }
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
                "--write-timeout" => config.write_timeout = seconds()?,
                "--max-clients" => {
                    config.max_clients = value.parse().map_err(|_| wrong("not a count"))?;
                }
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        Ok(config)
    }
}
