//! Blocking reads and writes on a client's socket, for a thread that may wait.
//!
//! A thread per client can afford to wait in `read` and `write`: waiting is
//! all it does. What it must not do is wait for ever, or be cut short by a
//! signal. So every read here has a deadline (the socket's read timeout,
//! recomputed so that a client dripping a byte at a time cannot stretch
//! it), every read is retried when a signal interrupts it, and the one
//! write that must never wait, the queue server's processing thread writing
//! to a client, asks the kernel not to ([`send_now`]).
//!
//! What a message is, and its bound, is decided by the core's
//! [`LineBuffer`]; a [`LineReader`] only feeds it.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::framing::{LineBuffer, Received, SIZE, is_timeout};

/// One `read`, retried if a signal interrupts it.
///
/// A read with a timeout set is not restarted after a signal handler runs,
/// even though `ctrlc` asks for restarts (see signal(7)). Ctrl-C may be
/// delivered to any thread; without the retry, a client thread it lands on
/// would see `Interrupted` and drop its client without a word.
pub fn read_uninterrupted(mut stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match stream.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Sends one line: `line` and a `\n`, in one write, so the line leaves whole.
pub fn send_line(mut stream: &TcpStream, line: impl AsRef<[u8]>) -> io::Result<()> {
    let line = line.as_ref();
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line);
    bytes.push(b'\n');
    stream.write_all(&bytes)
}

/// Sends what the kernel will take right now, without waiting, and returns
/// how many bytes it took: 0 when the socket's send buffer is full.
///
/// A normal `write` waits while the buffer is full, and a client that never
/// reads keeps it full for ever. `MSG_DONTWAIT` asks for this one call not
/// to wait, without making the socket non-blocking for the other threads
/// that use it. (The tasks' `Output::send_now` means the same.)
#[cfg(unix)]
pub fn send_now(stream: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
    use nix::sys::socket::{MsgFlags, send};
    use std::os::fd::AsRawFd;
    match send(stream.as_raw_fd(), bytes, MsgFlags::MSG_DONTWAIT) {
        Ok(n) => Ok(n),
        Err(nix::errno::Errno::EAGAIN) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// Elsewhere, a plain `write`: it waits at most the socket's write timeout.
#[cfg(not(unix))]
pub fn send_now(mut stream: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
    match stream.write(bytes) {
        Err(e) if is_timeout(&e) => Ok(0),
        other => other,
    }
}

/// Reads one client's lines, bounded in size and in time.
///
/// Keep one `LineReader` for the whole connection: it may already hold the
/// start of the next line, and a fresh reader would lose it.
pub struct LineReader {
    stream: Arc<TcpStream>,
    idle_timeout: Option<Duration>,
    /// Bytes received and not yet returned: the start of a line still
    /// arriving, or lines that came in the same read as an earlier one.
    pending: LineBuffer,
    /// The read timeout the socket has now, to skip the system call that
    /// sets it when it is already right.
    read_timeout: Option<Duration>,
}

impl LineReader {
    /// A reader for `stream`. With an `idle_timeout`, each line must be
    /// complete within that time of the server starting to wait for it,
    /// however the bytes trickle in.
    pub fn new(stream: Arc<TcpStream>, idle_timeout: Option<Duration>) -> LineReader {
        LineReader {
            stream,
            idle_timeout,
            pending: LineBuffer::default(),
            read_timeout: None,
        }
    }

    // ANCHOR: next_message
    /// Reads the next message. An `Err` is a broken connection (such as a reset).
    pub fn next_message(&mut self) -> io::Result<Received> {
        // The deadline starts now, as the server starts waiting. None if it
        // is too far away to count to (--idle-timeout 1e19).
        let deadline = self
            .idle_timeout
            .and_then(|timeout| Instant::now().checked_add(timeout));
        // Reads go through a buffer on the stack: between messages the
        // `LineBuffer` is empty and owns no memory.
        let mut chunk = [0u8; SIZE];
        loop {
            if let Some(message) = self.pending.next_message() {
                return Ok(message);
            }
            let n = match self.read_before(deadline, &mut chunk) {
                Ok(n) => n,
                Err(e) if is_timeout(&e) => return Ok(self.pending.timed_out()),
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Ok(self.pending.end_of_stream());
            }
            self.pending.push(&chunk[..n]);
        }
    }
    // ANCHOR_END: next_message

    // ANCHOR: read_before
    /// One read into `buf`, failing with `TimedOut` once `deadline` has passed.
    ///
    /// A read timeout alone restarts with every read, so a client that sends
    /// one byte every few seconds would never time out; a deadline does not
    /// move. Each read gets the time that is left, except the first of a
    /// message, which gets the whole timeout: then the socket's timeout is
    /// usually already right, and no system call is needed to set it.
    fn read_before(&mut self, deadline: Option<Instant>, buf: &mut [u8]) -> io::Result<usize> {
        let timeout = match (deadline, self.pending.is_empty()) {
            (None, _) => None,
            (Some(_), true) => self.idle_timeout,
            (Some(deadline), false) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                Some(left)
            }
        };
        if timeout != self.read_timeout {
            self.stream.set_read_timeout(timeout)?;
            self.read_timeout = timeout;
        }
        read_uninterrupted(&self.stream, buf)
    }
    // ANCHOR_END: read_before
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::Line;
    use std::net::{Shutdown, TcpListener};

    /// A connected pair: the server's side, and the client's.
    fn connected() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server_side, _) = listener.accept().unwrap();
        (server_side, client)
    }

    fn line(text: &str, ending: &'static str) -> Received {
        Received::Line(Line {
            text: text.to_string(),
            ending,
        })
    }

    #[test]
    fn lines_are_read_across_reads_and_the_end_is_seen() {
        let (server_side, mut client) = connected();
        client.write_all(b"one\ntwo\r\n\nlast").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut reader = LineReader::new(Arc::new(server_side), Some(Duration::from_secs(5)));
        assert_eq!(reader.next_message().unwrap(), line("one", "\n"));
        assert_eq!(reader.next_message().unwrap(), line("two", "\r\n"));
        assert_eq!(reader.next_message().unwrap(), line("", "\n"));
        assert_eq!(reader.next_message().unwrap(), Received::Incomplete);
        assert_eq!(reader.next_message().unwrap(), Received::End);
    }

    #[test]
    fn an_idle_timeout_returns_the_unfinished_line() {
        let (server_side, mut client) = connected();
        client.write_all(b"done\nHello, Ser").unwrap();
        let timeout = Some(Duration::from_millis(200));
        let mut reader = LineReader::new(Arc::new(server_side), timeout);
        assert_eq!(reader.next_message().unwrap(), line("done", "\n"));
        let unfinished = b"Hello, Ser".to_vec();
        assert_eq!(
            reader.next_message().unwrap(),
            Received::IdleTimeout { unfinished }
        );
    }

    #[test]
    fn send_now_takes_what_fits_and_says_zero_when_nothing_does() {
        let (server_side, _client) = connected();
        let chunk = vec![b'x'; 64 * 1024];
        // The client never reads: the buffers fill, and then nothing fits.
        let mut total = 0;
        loop {
            let n = send_now(&server_side, &chunk).unwrap();
            if n == 0 {
                break;
            }
            total += n;
            assert!(total < 1 << 30, "the buffers never filled");
        }
        assert!(total > 0);
    }
}
