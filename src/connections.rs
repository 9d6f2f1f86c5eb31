//! Who is connected: every admitted client, and how a connection ends.
//!
//! A [`Client`] is one admitted connection. While it lives it holds a place
//! in `Connections`, the server's registry, which is how the server counts
//! clients against `--max-clients` and how, at shutdown, it reaches every
//! client thread blocked in a read. Dropping the `Client` frees the place,
//! whatever ends its thread, a panic included.
//!
//! How a connection ends matters as much: [`close_gracefully`] makes sure
//! the client receives the last reply before the socket closes.

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{Shutdown as Direction, SocketAddr, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::cli::Timeout;
use crate::framing::send_line;
use crate::shutdown::Shutdown;

/// How long a finished connection waits for the client to close its side.
pub(crate) const LINGER_TIME: Duration = Duration::from_secs(2);
/// How much a finished connection reads and throws away while it waits.
pub(crate) const LINGER_BYTES: usize = 1024 * 1024;

/// One admitted client: its socket, its address, and its place in the count.
pub struct Client {
    stream: Arc<TcpStream>,
    /// The client's address and port, as the original's `addr`.
    pub address: SocketAddr,
    idle_timeout: Timeout,
    shutdown: Arc<Shutdown>,
    /// Held only to be dropped: that frees the place under `--max-clients`.
    _place: Place,
}

impl Client {
    /// The socket. `&TcpStream` implements `Read` and `Write`.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// A second handle on the socket, for a thread that writes to this client.
    pub fn shared_stream(&self) -> Arc<TcpStream> {
        Arc::clone(&self.stream)
    }

    /// The `--idle-timeout`, or `None` if there is none.
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout.duration()
    }

    /// True once the server is shutting down.
    pub fn server_is_stopping(&self) -> bool {
        self.shutdown.is_stopping()
    }

    /// Sends one line, adding the `\n`.
    pub fn send_line(&self, line: &str) -> io::Result<()> {
        send_line(&self.stream, line)
    }

    /// Ends the conversation so that everything sent so far arrives (see
    /// [`close_gracefully`]). The socket itself, and the client's place under
    /// `--max-clients`, are let go when the `Client` is dropped: at the end of
    /// its thread, after its last log line, which is what shutdown waits for.
    pub fn finish(&self) {
        close_gracefully(&self.stream);
    }
}

// ANCHOR: close_gracefully
/// Closes a connection so that the client receives everything sent before.
///
/// Closing a socket that still holds unread data from the client makes the
/// kernel send a reset (RST) instead of a normal end of stream, and a reset
/// can make the client's side discard our last reply before the client
/// reads it. So: say we are done writing (the client reads end of stream),
/// then read and discard what the client still sends until it closes too,
/// for at most `LINGER_TIME` (2 s) and `LINGER_BYTES` (1 MiB).
pub fn close_gracefully(stream: &TcpStream) {
    if stream.shutdown(Direction::Write).is_err() {
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
        match (&*stream).read(&mut scratch) {
            Ok(0) => break,
            Ok(n) => discarded += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}
// ANCHOR_END: close_gracefully

/// Every open connection, so the server can count them and reach them all at shutdown.
#[derive(Default)]
pub(crate) struct Connections {
    /// Locked briefly, to add, remove, count or shut down; never during I/O
    /// that can block (`shutdown()` on a socket returns at once).
    open: Mutex<OpenConnections>,
    /// Signalled whenever a connection closes, for [`Connections::wait_until_empty`].
    closed: Condvar,
}

#[derive(Default)]
struct OpenConnections {
    next_key: u64,
    streams: HashMap<u64, Arc<TcpStream>>,
}

impl Connections {
    fn lock(&self) -> MutexGuard<'_, OpenConnections> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits `stream` as a [`Client`], unless `max` connections are open already.
    pub(crate) fn admit(
        self: &Arc<Self>,
        stream: Arc<TcpStream>,
        address: SocketAddr,
        max: usize,
        idle_timeout: Timeout,
        shutdown: &Arc<Shutdown>,
    ) -> Option<Client> {
        let key = {
            let mut open = self.lock();
            if open.streams.len() >= max {
                return None;
            }
            open.next_key += 1;
            let key = open.next_key;
            open.streams.insert(key, Arc::clone(&stream));
            key
        };
        Some(Client {
            stream,
            address,
            idle_timeout,
            shutdown: Arc::clone(shutdown),
            _place: Place {
                key,
                connections: Arc::clone(self),
            },
        })
    }

    pub(crate) fn count(&self) -> usize {
        self.lock().streams.len()
    }

    /// Shuts down the reading side of every connection: each blocked read
    /// returns end of stream, after any data the client had already sent.
    pub(crate) fn end_all_reads(&self) {
        for stream in self.lock().streams.values() {
            let _ = stream.shutdown(Direction::Read);
        }
    }

    /// Waits until no connection is open, or `timeout` passes. Returns how many are left.
    pub(crate) fn wait_until_empty(&self, timeout: Duration) -> usize {
        let open = self.lock();
        let (open, _) = self
            .closed
            .wait_timeout_while(open, timeout, |open| !open.streams.is_empty())
            .unwrap_or_else(PoisonError::into_inner);
        open.streams.len()
    }
}

/// A client's place in [`Connections`] (and under `--max-clients`); dropping it frees the place.
struct Place {
    key: u64,
    connections: Arc<Connections>,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.connections.lock().streams.remove(&self.key);
        self.connections.closed.notify_all();
    }
}
