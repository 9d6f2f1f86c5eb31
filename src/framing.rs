//! Line framing: turning a byte stream into messages, with a bound.
//!
//! TCP delivers bytes, not messages. One `read()` may return half a message,
//! or three of them run together; the originals' `recv(1024)` (the counter
//! tutorial's, and the Python versions of the other two in `originals/`)
//! treats whatever one call returns as one message and so depends on luck.
//! Here a message is one line of UTF-8 text ending in `\n` (`\r\n` is
//! accepted too), of at most [`SIZE`] bytes, read through one
//! [`LineReader`] per connection.
//!
//! The bound matters: a reader that "reads until newline" into a growing
//! `String` lets one client that never sends a newline make the server
//! allocate until it dies. A `LineReader` keeps at most `SIZE` bytes of a
//! line; the rest of an over-long line is read and dropped.
//!
//! What a message is, and those bounds, live in [`LineBuffer`], which does
//! no I/O: the threaded `LineReader` feeds it from blocking reads, and the
//! async servers' session (`tasks::session`) from reads it awaits.

use std::io::{self, Read, Write};
use std::mem;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most bytes in one message, not counting its line ending: the originals' `SIZE = 1024`.
pub const SIZE: usize = 1024;

/// How much of an over-long line is kept, to quote it if the line never ends.
const KEPT_OF_LONG_LINE: usize = 64;

/// What [`LineReader::next_message`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// A complete line.
    Line(Line),
    /// A line that was not valid UTF-8. It has been skipped; the next line is unaffected.
    NotUtf8,
    /// A line of more than [`SIZE`] bytes. It has been skipped, up to and including its `\n`.
    TooLong,
    /// End of stream in the middle of a line. The bytes after the last `\n`
    /// are not a message (perhaps the rest was never sent), so they are dropped.
    Incomplete,
    /// No complete line arrived within the idle timeout. `unfinished` is the
    /// start of a line that had begun to arrive (empty if none had).
    IdleTimeout { unfinished: Vec<u8> },
    /// End of stream: the client closed its side (or the server ended all reads at shutdown).
    End,
}

/// One line as received: its text and the line ending it came with.
#[derive(Debug, PartialEq, Eq)]
pub struct Line {
    /// The text, without the line ending.
    pub text: String,
    /// `"\n"` or `"\r\n"`.
    pub ending: &'static str,
}

impl Line {
    /// The line exactly as it came, ending included.
    pub fn as_sent(&self) -> String {
        format!("{}{}", self.text, self.ending)
    }
}

/// Strips one trailing `\n` or `\r\n`.
pub fn strip_line_ending(bytes: &[u8]) -> (&[u8], &'static str) {
    if let Some(text) = bytes.strip_suffix(b"\r\n") {
        (text, "\r\n")
    } else if let Some(text) = bytes.strip_suffix(b"\n") {
        (text, "\n")
    } else {
        (bytes, "")
    }
}

/// One `read`, retried if a signal interrupts it.
///
/// A read with a timeout set is not restarted after a signal handler runs,
/// even though `ctrlc` asks for restarts (see signal(7)). Ctrl-C may be
/// delivered to any thread; without the retry, a client thread it lands on
/// would see `Interrupted` and drop its client without a word.
pub fn read_once(mut stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
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

/// Sends what the kernel will take right now, without waiting: how much it
/// took, or `WouldBlock` if the socket's send buffer is full.
///
/// A normal `write` waits while the buffer is full, and a client that never
/// reads keeps it full for ever. `MSG_DONTWAIT` asks for this one call not
/// to wait, without making the socket non-blocking for the other threads
/// that use it.
#[cfg(unix)]
pub fn send_now(stream: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
    use nix::sys::socket::{MsgFlags, send};
    use std::os::fd::AsRawFd;
    Ok(send(stream.as_raw_fd(), bytes, MsgFlags::MSG_DONTWAIT)?)
}

/// Elsewhere, a plain `write`: it waits at most the socket's write timeout.
#[cfg(not(unix))]
pub fn send_now(mut stream: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
    stream.write(bytes)
}

/// True for the error a read timeout gives: `WouldBlock` on Unix, `TimedOut` on Windows.
pub fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
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
        read_once(&self.stream, buf)
    }
    // ANCHOR_END: read_before
}

/// The bytes of one connection between reads, cut into messages: the part
/// of line framing that does no I/O.
///
/// Whoever reads the socket (a thread in [`LineReader`], a task in the async
/// servers) hands each read to [`push`](Self::push) and asks
/// [`next_message`](Self::next_message) for what is complete. What a message
/// is, and every bound on it, is decided here once for both.
#[derive(Debug, Default)]
pub struct LineBuffer {
    /// The start of a line still arriving, and any lines received after it.
    /// Between messages it is empty and owns no memory, so a client that
    /// sits idle costs no buffer.
    pending: Vec<u8>,
    /// Set once the line at the front is known to be too long: only its
    /// first bytes are kept (to quote it if it never ends), the rest is
    /// dropped as it arrives, up to its newline.
    too_long: bool,
}

impl LineBuffer {
    /// The next complete message, if one has arrived.
    pub fn next_message(&mut self) -> Option<Received> {
        if let Some(newline) = find_newline(&self.pending) {
            let rest = self.pending.split_off(newline + 1);
            let line = mem::replace(&mut self.pending, rest);
            if mem::take(&mut self.too_long) {
                return Some(Received::TooLong);
            }
            return Some(decode(line));
        }
        // Room for SIZE bytes of text and a "\r\n"; no newline yet in more
        // than that, and the line is too long whatever comes next.
        if !self.too_long && self.pending.len() > SIZE + 1 {
            self.too_long = true;
            self.pending.truncate(KEPT_OF_LONG_LINE);
        }
        None
    }

    /// Adds what one read returned.
    pub fn push(&mut self, received: &[u8]) {
        if !self.too_long {
            self.pending.extend_from_slice(received);
        } else if let Some(newline) = find_newline(received) {
            // The end of the long line at last: keep its newline, to end
            // it, and everything after.
            self.pending.extend_from_slice(&received[newline..]);
        }
    }

    /// The stream ended: what that means for the bytes still here.
    pub fn end_of_stream(&mut self) -> Received {
        let dropped = mem::take(&mut self.pending);
        match (mem::take(&mut self.too_long), dropped.is_empty()) {
            (true, _) => Received::TooLong,
            (false, true) => Received::End,
            (false, false) => Received::Incomplete, // The stream ended first.
        }
    }

    /// The idle timeout passed: the line that had begun, if any, is given up.
    pub fn timed_out(&mut self) -> Received {
        self.too_long = false;
        let unfinished = mem::take(&mut self.pending);
        Received::IdleTimeout { unfinished }
    }

    /// True when nothing of a next message has arrived yet.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

fn find_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&byte| byte == b'\n')
}

/// A whole line, ending included, as a message.
fn decode(mut line: Vec<u8>) -> Received {
    let (text, ending) = strip_line_ending(&line);
    if text.len() > SIZE {
        return Received::TooLong;
    }
    line.truncate(text.len());
    match String::from_utf8(line) {
        Ok(text) => Received::Line(Line { text, ending }),
        Err(_) => Received::NotUtf8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Shutdown, TcpListener};

    /// A connected pair: what the "client" writes, the reader reads.
    fn reader_for(bytes: &[u8]) -> LineReader {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server_side, _) = listener.accept().unwrap();
        client.write_all(bytes).unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        LineReader::new(Arc::new(server_side), Some(Duration::from_secs(5)))
    }

    fn line(text: &str, ending: &'static str) -> Received {
        Received::Line(Line {
            text: text.to_string(),
            ending,
        })
    }

    #[test]
    fn lines_come_out_one_at_a_time_with_their_endings() {
        let mut reader = reader_for(b"one\ntwo\r\n\nlast");
        assert_eq!(reader.next_message().unwrap(), line("one", "\n"));
        assert_eq!(reader.next_message().unwrap(), line("two", "\r\n"));
        assert_eq!(reader.next_message().unwrap(), line("", "\n"));
        assert_eq!(reader.next_message().unwrap(), Received::Incomplete);
        assert_eq!(reader.next_message().unwrap(), Received::End);
    }

    #[test]
    fn size_bytes_fit_and_one_more_does_not() {
        let mut input = Vec::new();
        input.extend(vec![b'a'; SIZE]);
        input.extend(b"\r\n");
        input.extend(vec![b'b'; SIZE + 1]);
        input.extend(b"\n");
        input.extend(vec![b'c'; 100_000]);
        input.extend(b"\r\nafter\n");
        input.extend(vec![b'd'; SIZE + 1]);
        input.extend(b"\r\n");
        let mut reader = reader_for(&input);
        assert_eq!(
            reader.next_message().unwrap(),
            line(&"a".repeat(SIZE), "\r\n")
        );
        assert_eq!(reader.next_message().unwrap(), Received::TooLong);
        assert_eq!(reader.next_message().unwrap(), Received::TooLong);
        assert_eq!(reader.next_message().unwrap(), line("after", "\n"));
        assert_eq!(reader.next_message().unwrap(), Received::TooLong);
        assert_eq!(reader.next_message().unwrap(), Received::End);
    }

    #[test]
    fn invalid_utf8_skips_one_line_only() {
        let mut reader = reader_for(b"ok\n\xff\xfe bad\nafter\n");
        assert_eq!(reader.next_message().unwrap(), line("ok", "\n"));
        assert_eq!(reader.next_message().unwrap(), Received::NotUtf8);
        assert_eq!(reader.next_message().unwrap(), line("after", "\n"));
    }

    #[test]
    fn an_idle_timeout_returns_the_unfinished_line() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server_side, _) = listener.accept().unwrap();
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
    fn strip_line_ending_takes_one_ending_only() {
        assert_eq!(strip_line_ending(b"a\r\n"), (&b"a"[..], "\r\n"));
        assert_eq!(strip_line_ending(b"a\n\n"), (&b"a\n"[..], "\n"));
        assert_eq!(strip_line_ending(b"a"), (&b"a"[..], ""));
    }
}
