//! Who is connected: every admitted client, and how a connection ends.
//!
//! A [`Client`] is what a handler gets: its [`Connection`] (the socket, the
//! address, its place in the registry) and a [`ServerHandle`] (what the
//! server tells every handler: its limits, and whether it is stopping).
//!
//! [`Connections`] is the server's registry. Every admitted connection has
//! an entry, under its client's number (1, 2, 3, in the order they were
//! admitted), for as long as its `Connection` lives: that is how the server
//! counts clients against `--max-clients`, and how, at shutdown, it reaches
//! every client thread blocked in a read. Dropping the `Connection` removes
//! the entry, whatever ends its thread, a panic included. The queue server
//! also routes its replies through it: an entry says whether its client
//! has been welcomed, and, when the server let it go, why.
//!
//! How a connection ends matters as much: [`close_gracefully`] makes sure
//! the client receives the last reply before the socket closes.

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{Shutdown as Direction, SocketAddr, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::cli::Timeout;
use crate::session::Dropped;
use crate::timing::{LINGER_BYTES, LINGER_TIME};

use super::shutdown::Shutdown;
use super::socket::send_line;

/// One admitted client, as its handler gets it.
pub struct Client {
    /// The client's address and port, as the original's `addr`.
    pub address: SocketAddr,
    connection: Connection,
    server: ServerHandle,
}

/// One admitted connection: its socket and its entry in the registry.
/// Dropping it removes the entry, and frees its place under `--max-clients`.
pub struct Connection {
    stream: Arc<TcpStream>,
    /// The client's number, and the key of its entry.
    id: u64,
    connections: Arc<Connections>,
}

/// What a server hands every handler with its client: the limits that
/// apply to each client, and whether the server is stopping.
#[derive(Clone, Debug)]
pub struct ServerHandle {
    pub(super) idle_timeout: Timeout,
    pub(super) shutdown: Arc<Shutdown>,
}

impl Client {
    pub(super) fn new(address: SocketAddr, connection: Connection, server: ServerHandle) -> Client {
        Client {
            address,
            connection,
            server,
        }
    }

    /// The client's number: 1, 2, 3, in the order the server admitted them.
    pub fn id(&self) -> u64 {
        self.connection.id
    }

    /// The socket. `&TcpStream` implements `Read` and `Write`.
    pub fn stream(&self) -> &TcpStream {
        &self.connection.stream
    }

    /// A second handle on the socket, for a reader that outlives a borrow.
    pub fn shared_stream(&self) -> Arc<TcpStream> {
        Arc::clone(&self.connection.stream)
    }

    /// The `--idle-timeout`, or `None` if there is none.
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.server.idle_timeout.duration()
    }

    /// True once the server is shutting down.
    pub fn server_is_stopping(&self) -> bool {
        self.server.shutdown.is_stopping()
    }

    /// Why the server let this client go, if it did (the queue server drops
    /// a client that does not read its replies).
    pub fn dropped(&self) -> Option<Dropped> {
        self.connection.connections.dropped(self.connection.id)
    }

    /// Sends one line, adding the `\n`.
    pub fn send_line(&self, line: &str) -> io::Result<()> {
        send_line(&self.connection.stream, line)
    }

    /// Ends the conversation so that everything sent so far arrives (see
    /// [`close_gracefully`]). The socket itself, and the client's place under
    /// `--max-clients`, are let go when the `Client` is dropped: at the end of
    /// its thread, after its last log line, which is what shutdown waits for.
    pub fn finish(&self) {
        close_gracefully(&self.connection.stream);
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
    // The socket's read timeout is changed below; put it back after, for
    // whoever reads it next (a `LineReader` remembers what it set).
    let read_timeout = stream.read_timeout().ok().flatten();
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
    let _ = stream.set_read_timeout(read_timeout);
}
// ANCHOR_END: close_gracefully

// ANCHOR: connections
/// Every open connection, under its client's number: the server's registry.
///
/// Shared by the accept thread (it admits each new client), every client
/// thread (its entry goes when its connection is dropped) and, in the queue
/// server, the processing thread (it looks clients up to write to them),
/// so: an `Arc` to share it, a `Mutex` because all of them change or read
/// it. The lock is held for one map operation; a stream is cloned out and
/// written to after the lock is released, so no thread ever waits on a
/// socket while holding it.
#[derive(Default)]
pub struct Connections {
    open: Mutex<OpenConnections>,
    /// Signalled whenever a connection closes, for [`Connections::wait_until_empty`].
    closed: Condvar,
}

#[derive(Default)]
struct OpenConnections {
    /// How many clients have been admitted: the last client's number.
    admitted: u64,
    entries: HashMap<u64, Entry>,
}

/// One client's entry.
struct Entry {
    stream: Arc<TcpStream>,
    /// Set once the queue server has welcomed the client, and cleared when
    /// the client leaves: only in between may it be sent messages.
    joined: bool,
    /// Why the server let the client go, if it did.
    dropped: Option<Dropped>,
}
// ANCHOR_END: connections

impl Connections {
    fn lock(&self) -> MutexGuard<'_, OpenConnections> {
        // A poisoned lock means a thread panicked while holding it. Each
        // change is one map operation, which cannot be left half done.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits `stream` as the next client's [`Connection`], unless `max`
    /// connections are open already.
    pub(super) fn admit(
        self: &Arc<Self>,
        stream: Arc<TcpStream>,
        max: usize,
    ) -> Option<Connection> {
        let mut open = self.lock();
        if open.entries.len() >= max {
            return None;
        }
        open.admitted += 1;
        let id = open.admitted;
        let entry = Entry {
            stream: Arc::clone(&stream),
            joined: false,
            dropped: None,
        };
        open.entries.insert(id, entry);
        Some(Connection {
            stream,
            id,
            connections: Arc::clone(self),
        })
    }

    /// How many clients are connected.
    pub fn count(&self) -> usize {
        self.lock().entries.len()
    }

    /// Client `id` is welcomed: from now on it may be sent messages.
    pub fn join(&self, id: u64) {
        if let Some(entry) = self.lock().entries.get_mut(&id) {
            entry.joined = entry.dropped.is_none();
        }
    }

    /// The socket of client `id`, if it is there to be written to: welcomed,
    /// not left, not dropped.
    pub fn writer(&self, id: u64) -> Option<Arc<TcpStream>> {
        let open = self.lock();
        let entry = open.entries.get(&id)?;
        (entry.joined && entry.dropped.is_none()).then(|| Arc::clone(&entry.stream))
    }

    /// Client `id` is leaving: no more messages for it. (Its entry stays
    /// until its thread has closed the connection.)
    pub fn part(&self, id: u64) {
        if let Some(entry) = self.lock().entries.get_mut(&id) {
            entry.joined = false;
        }
    }

    /// Lets client `id` go, for `why`: its entry says so, and both
    /// directions of its socket are shut down, which wakes its thread (a
    /// read ends) to leave and close the connection.
    pub fn drop_client(&self, id: u64, why: Dropped) {
        let stream = {
            let mut open = self.lock();
            let Some(entry) = open.entries.get_mut(&id) else {
                return;
            };
            entry.joined = false;
            entry.dropped = Some(why);
            Arc::clone(&entry.stream)
        };
        let _ = stream.shutdown(Direction::Both);
    }

    /// Why client `id` was let go, if it was.
    fn dropped(&self, id: u64) -> Option<Dropped> {
        self.lock().entries.get(&id).and_then(|entry| entry.dropped)
    }

    /// Shuts down the reading side of every connection: each blocked read
    /// returns end of stream, after any data the client had already sent.
    pub(super) fn end_all_reads(&self) {
        for entry in self.lock().entries.values() {
            let _ = entry.stream.shutdown(Direction::Read);
        }
    }

    /// Waits until no connection is open, or `timeout` passes. Returns how many are left.
    pub(super) fn wait_until_empty(&self, timeout: Duration) -> usize {
        let open = self.lock();
        let (open, _) = self
            .closed
            .wait_timeout_while(open, timeout, |open| !open.entries.is_empty())
            .unwrap_or_else(PoisonError::into_inner);
        open.entries.len()
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.connections.lock().entries.remove(&self.id);
        self.connections.closed.notify_all();
    }
}
