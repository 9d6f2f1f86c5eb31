//! Exercise 1.4, worked solution: a limit on clients, and on `accept()`'s retries.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// The most bytes one message may have: the original's `recv(1024)`.
const SIZE: usize = 1024;
/// How long a finished connection waits for the client to close its side...
const LINGER_TIME: Duration = Duration::from_secs(2);
/// ...and how much of what the client still sends it reads and drops meanwhile.
const LINGER_BYTES: usize = 1024 * 1024;
/// The first pause after a failed `accept()`; each failure in a row doubles it...
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// ...up to this.
const LONGEST_BACKOFF: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let config = Config::from_args();
    let listener = match TcpListener::bind(("127.0.0.1", config.port)) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!(
                "counter_server: cannot listen on 127.0.0.1:{}: {e}",
                config.port
            );
            return ExitCode::FAILURE;
        }
    };
    let Ok(address) = listener.local_addr() else {
        eprintln!("counter_server: cannot tell which port it listens on");
        return ExitCode::FAILURE;
    };
    println!("Server is listening on port {}...", address.port());

    let connections = Arc::new(Connections::default());
    let client_counter = Arc::new(Mutex::new(0));
    let mut backoff = FIRST_BACKOFF;
    loop {
        let accepted = listener.accept();
        // ANCHOR: backoff
        let (stream, address) = match accepted {
            Ok(accepted) => {
                backoff = FIRST_BACKOFF;
                accepted
            }
            Err(e) => {
                // Out of file descriptors, say. Retrying at once would fail
                // at once, again and again, at 100 % of a core; waiting lets
                // clients leave and free theirs.
                eprintln!("accept failed: {e}; trying again in {backoff:?}");
                thread::sleep(backoff);
                backoff = (backoff * 2).min(LONGEST_BACKOFF);
                continue;
            }
        };
        // ANCHOR_END: backoff
        // ANCHOR: admit
        let stream = Arc::new(stream);
        let Some(place) = connections.admit(&stream, config.max_clients) else {
            let max = config.max_clients;
            println!("Refused {address}: too many clients (--max-clients {max})");
            refuse(
                &stream,
                &format!("ERROR: too many clients (limit {max}); try again later\n"),
            );
            continue;
        };
        // ANCHOR_END: admit
        let for_the_thread = Arc::clone(&stream);
        let client_counter = Arc::clone(&client_counter);
        let idle_timeout = config.idle_timeout;
        let spawned = thread::Builder::new().spawn(move || {
            handle_client(&for_the_thread, address, &client_counter, idle_timeout);
            drop(place); // Its place under --max-clients frees after its last line.
        });
        // `thread::spawn` would panic when the system cannot start a thread.
        if spawned.is_err() {
            refuse(
                &stream,
                "ERROR: server is busy (no thread available); try again later\n",
            );
        }
    }
}

/// One client, start to finish, on its own thread: the original's `handle_client`.
fn handle_client(
    mut stream: &TcpStream,
    address: SocketAddr,
    client_counter: &Mutex<u64>,
    idle_timeout: Option<Duration>,
) {
    let client_id = next_id(client_counter);
    println!("Client {client_id} connected from {address}");

    // One read of at most SIZE bytes, as the original's `recv(1024)`, within the idle timeout.
    let _ = stream.set_read_timeout(idle_timeout);
    let mut data = [0u8; SIZE];
    let reply = match stream.read(&mut data) {
        Ok(0) => {
            println!("Client {client_id} closed the connection without a message.");
            None
        }
        Ok(n) => match std::str::from_utf8(without_line_ending(&data[..n])) {
            Ok(message) => {
                println!("Client {client_id} says: {message}");
                Some(format!(
                    "Hello Client {client_id}, server received your message!"
                ))
            }
            Err(_) => {
                println!("Client {client_id} sent {n} bytes that are not UTF-8 text.");
                Some("ERROR: message is not valid UTF-8\n".to_string())
            }
        },
        Err(e) if is_timeout(&e) => {
            println!("Client {client_id} sent nothing in time (--idle-timeout).");
            Some("ERROR: idle timeout, closing the connection\n".to_string())
        }
        Err(e) => {
            println!("Client {client_id} connection failed: {e}");
            None
        }
    };
    if let Some(reply) = reply
        && let Err(e) = stream.write_all(reply.as_bytes())
    {
        println!("Client {client_id} did not take the reply: {e}");
    }
    close_gracefully(stream);
    println!("Client {client_id} disconnected.");
}

/// The original's `with counter_lock: client_counter += 1`.
fn next_id(client_counter: &Mutex<u64>) -> u64 {
    // A thread that panicked while holding the lock poisons it; the number
    // inside is still good, so carry on with it.
    let mut count = client_counter
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    *count += 1;
    *count
}

/// The message without a trailing `\n` or `\r\n`.
fn without_line_ending(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    bytes.strip_suffix(b"\r").unwrap_or(bytes)
}

/// True for the error a read timeout gives: `WouldBlock` on Unix, `TimedOut` on Windows.
fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Closes so that the client receives the reply: say we are done writing,
/// then read and drop what the client still sends until it closes too
/// (bounded in time and bytes). Closing with unread data would send a
/// reset, which can destroy the reply before the client reads it.
fn close_gracefully(mut stream: &TcpStream) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return; // Already gone.
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

/// Sends one line to a connection that is not being served, and closes it,
/// without waiting: the accept loop must not be held up by it. What the
/// client already sent is read and dropped first, so that the close is a
/// normal one, not a reset that could destroy the line.
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

// ANCHOR: connections
/// Who is connected: the tutorial's count of connected clients, done so
/// that it goes down again when a client leaves.
#[derive(Default)]
struct Connections {
    open: Mutex<Open>,
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
}

/// A client's place in [`Connections`]; dropping it frees the place.
struct Place {
    key: u64,
    connections: Arc<Connections>,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.connections.lock().streams.remove(&self.key);
    }
}
// ANCHOR_END: connections

/// What the command line asks for. (Given code: not part of the exercises.)
struct Config {
    /// `--port N`: where to listen; 0 lets the system choose. The original's 65434 by default.
    port: u16,
    /// `--idle-timeout SECONDS`: how long a client may take to send its
    /// message (default 300; 0: no limit).
    idle_timeout: Option<Duration>,
    /// `--max-clients N`: the most clients served at once (default 10000).
    max_clients: usize,
}

impl Config {
    /// The command line's flags; on a mistake, says which and exits with status 2.
    fn from_args() -> Config {
        Config::parse().unwrap_or_else(|why| {
            eprintln!("counter_server: {why}");
            std::process::exit(2)
        })
    }

    fn parse() -> Result<Config, String> {
        let mut config = Config {
            port: 65434,
            idle_timeout: Some(Duration::from_secs(300)),
            max_clients: 10_000,
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
                "--max-clients" => {
                    config.max_clients = value.parse().map_err(|_| wrong("not a count"))?;
                }
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        Ok(config)
    }
}
