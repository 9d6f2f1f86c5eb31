//! One admitted client, for a task: its two directions, and how it ends.
//!
//! The twin of `threads::connections::Client`. A task must never block its
//! thread, so every wait here is an `.await`, and every wait has its bound:
//! a read waits at most until the idle deadline, a write at most
//! `--write-timeout`, and no read waits at all once the server is stopping.
//!
//! The socket is split in two halves, [`Input`] and [`Output`], so that two
//! tasks can use one client at once: in the queue server, the client's task
//! reads while its writer task writes.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::time::Duration;

use socket2::SockRef;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, timeout, timeout_at};

use crate::cli::Limits;
use crate::framing::SIZE;
use crate::tasks::shutdown::Shutdown;
use crate::timing::{LINGER_BYTES, LINGER_TIME};

/// One admitted client: its address, its socket's two halves, and its place
/// under `--max-clients`.
pub struct Client {
    /// The client's address and port, as the original's `addr`.
    pub address: SocketAddr,
    /// What the client sends.
    pub input: Input,
    /// What the server sends it.
    pub output: Output,
    /// Held only to be dropped with the client, last: that frees its place
    /// under `--max-clients`, which is also what shutdown waits for.
    _place: OwnedSemaphorePermit,
}

impl Client {
    pub(crate) fn new(
        stream: TcpStream,
        address: SocketAddr,
        limits: &Limits,
        shutdown: Shutdown,
        place: OwnedSemaphorePermit,
    ) -> Client {
        let (read, write) = stream.into_split();
        Client {
            address,
            input: Input {
                read,
                idle_timeout: limits.idle_timeout.duration(),
                shutdown,
            },
            output: Output {
                write,
                write_timeout: limits.write_timeout.duration(),
            },
            _place: place,
        }
    }

    /// True once the server is shutting down.
    pub fn server_is_stopping(&self) -> bool {
        self.input.server_is_stopping()
    }

    /// Ends the conversation so that everything sent so far arrives: the
    /// threads' `close_gracefully`, in two steps a task can await. Say we
    /// are done writing (the client reads end of stream), then read and
    /// discard what the client still sends until it closes too.
    pub async fn finish(&mut self) {
        if self.output.finish().await.is_ok() {
            self.input.discard_until_closed().await;
        }
    }
}

/// The reading half of a client's socket.
pub struct Input {
    read: OwnedReadHalf,
    idle_timeout: Option<Duration>,
    shutdown: Shutdown,
}

impl Input {
    /// True once the server is shutting down.
    pub fn server_is_stopping(&self) -> bool {
        self.shutdown.is_stopping()
    }

    /// When a message that starts to be awaited now must be complete:
    /// `None` without an idle timeout (or one too far away to count to).
    pub fn idle_deadline(&self) -> Option<Instant> {
        self.idle_timeout
            .and_then(|timeout| Instant::now().checked_add(timeout))
    }

    // ANCHOR: ready
    /// Waits until there may be something to read (data, end of stream or
    /// an error), failing with `TimedOut` once `deadline` has passed.
    ///
    /// Once the server is stopping it returns at once: then
    /// [`read_now`](Self::read_now) takes only what has already arrived.
    /// That is what `end_all_reads` gives the threads, without touching the
    /// socket: a blocked thread needs its read ended from outside, a task
    /// just stops waiting.
    pub async fn ready(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        if self.shutdown.is_stopping() {
            return Ok(());
        }
        tokio::select! {
            readable = before(deadline, self.read.readable()) => readable,
            () = self.shutdown.begun() => Ok(()),
        }
    }
    // ANCHOR_END: ready

    /// Reads what has already arrived, without waiting. `None` when nothing
    /// has (wait again); once the server is stopping, nothing is the end of
    /// the stream, `Some(0)`.
    pub fn read_now(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        if self.server_is_stopping() {
            return read_what_has_arrived(self.read.as_ref(), buf).map(Some);
        }
        match self.read.try_read(buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One read of at most `SIZE` bytes (none: end of stream), waiting at
    /// most until `deadline`, and not at all once the server is stopping.
    ///
    /// The bytes come back in a `Vec` of their own size. The read itself
    /// goes through a buffer taken after the wait: a buffer that lived
    /// across the `.await` would be stored in the task, and every task
    /// waiting here would hold a kilobyte for nothing.
    pub async fn read_once(&mut self, deadline: Option<Instant>) -> io::Result<Vec<u8>> {
        loop {
            self.ready(deadline).await?;
            let mut buf = [0u8; SIZE];
            if let Some(n) = self.read_now(&mut buf)? {
                return Ok(buf[..n].to_vec());
            }
        }
    }

    /// The second half of the lingering close: reads and throws away what
    /// the client still sends until it closes, for at most `LINGER_TIME`
    /// and `LINGER_BYTES` (see `close_gracefully` for why).
    pub async fn discard_until_closed(&mut self) {
        let deadline = Instant::now() + LINGER_TIME;
        let mut discarded = 0;
        while discarded < LINGER_BYTES {
            if self.ready(Some(deadline)).await.is_err() {
                break;
            }
            // After the wait, as in `read_once`.
            let mut scratch = [0u8; 1024];
            match self.read_now(&mut scratch) {
                Ok(None) => {}
                Ok(Some(n @ 1..)) => discarded += n,
                _ => break,
            }
        }
    }
}

/// The writing half of a client's socket.
pub struct Output {
    write: OwnedWriteHalf,
    write_timeout: Option<Duration>,
}

impl Output {
    /// Sends `bytes`, all of them, or fails: with `TimedOut` when the client
    /// has not taken them within `--write-timeout` (it is not reading).
    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        // Most replies fit in the socket's send buffer at once: then there
        // is nothing to wait for, and no timer to set (each costs the
        // runtime a little bookkeeping, on every message).
        let sent = self.send_now(bytes)?;
        let rest = &bytes[sent..];
        if rest.is_empty() {
            return Ok(());
        }
        match self.write_timeout {
            Some(limit) => timeout(limit, self.write.write_all(rest))
                .await
                .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into())),
            None => self.write.write_all(rest).await,
        }
    }

    /// Sends what the socket's send buffer takes now, without waiting;
    /// returns how many bytes it took (fewer than all of them when the
    /// client has not read what the buffer already holds).
    pub fn send_now(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self.write.try_write(bytes) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Sends one line: `line` and a `\n`, in one write, so the line leaves whole.
    pub async fn send_line(&mut self, line: &str) -> io::Result<()> {
        self.send(format!("{line}\n").as_bytes()).await
    }

    /// The first half of the lingering close: says we are done writing, so
    /// the client reads end of stream after the last reply.
    pub async fn finish(&mut self) -> io::Result<()> {
        self.write.shutdown().await
    }
}

/// One read of what the kernel holds for `stream` now: 0 if nothing.
///
/// tokio's `try_read` trusts the last word from `epoll`, and does not even
/// try when that word is "nothing yet". Data that arrived a moment before
/// shutdown began may not have been reported yet, and would be taken for
/// nothing; so at shutdown, this asks the socket itself. (It is
/// non-blocking, as every socket tokio runs: the read never waits.)
fn read_what_has_arrived(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    let socket = SockRef::from(stream);
    loop {
        match (&*socket).read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
            other => return other,
        }
    }
}

/// Awaits `future`, failing with `TimedOut` once `deadline` has passed (if there is one).
async fn before<T>(
    deadline: Option<Instant>,
    future: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match deadline {
        Some(deadline) => timeout_at(deadline, future)
            .await
            .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into())),
        None => future.await,
    }
}
