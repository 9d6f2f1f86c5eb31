//! Line framing: turning a byte stream into messages, with a bound.
//!
//! TCP delivers bytes, not messages. One `read()` may return half a message,
//! or three of them run together; the seeds' `recv(SIZE)` treats whatever
//! one call returns as one message and so depends on luck. Here a message is
//! one line of UTF-8 text ending in `\n` (`\r\n` is accepted too), of at most
//! [`SIZE`] bytes, read through one buffered reader per connection.
//!
//! The bound matters: a reader that "reads until newline" into a growing
//! `String` lets one client that never sends a newline make the server
//! allocate until it dies. [`LineReader`] keeps at most `SIZE` bytes of a
//! line; the rest of an over-long line is read and dropped.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most bytes in one message, not counting its line ending: the seeds' `SIZE = 1024`.
pub const SIZE: usize = 1024;

/// The line that ends a session: seed 002's `DISCONNECT_MSG`.
pub const DISCONNECT_MSG: &str = "!DISCONNECT";

// What a client is told, in one line, when what it sent cannot be accepted.
/// A message that is not UTF-8 text.
pub const NOT_UTF8: &str = "ERROR: message is not valid UTF-8";
/// A message over [`SIZE`] bytes.
pub const TOO_LONG: &str = "ERROR: message longer than 1024 bytes";
/// The stream ended in the middle of a line.
pub const INCOMPLETE: &str = "ERROR: the last line had no newline; it was dropped";
/// Nothing complete arrived within `--idle-timeout`; the server closes the connection.
pub const IDLE_TIMEOUT: &str = "ERROR: idle timeout, closing the connection";

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
    /// No complete line arrived within the idle timeout.
    IdleTimeout,
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

/// Reads one client's lines, bounded in size and in time.
///
/// Keep one `LineReader` for the whole connection: its buffer may already
/// hold the start of the next line, and a fresh reader would lose it.
pub struct LineReader {
    reader: BufReader<DeadlineReader>,
    idle_timeout: Option<Duration>,
}

impl LineReader {
    /// A reader for `stream`. With an `idle_timeout`, each line must be complete
    /// within that time of the previous one, however the bytes trickle in.
    pub fn new(stream: Arc<TcpStream>, idle_timeout: Option<Duration>) -> LineReader {
        let deadline_reader = DeadlineReader {
            stream,
            deadline: None,
        };
        LineReader {
            // SIZE bytes of buffer: a line the size of the largest message
            // fits in one read, and 10,000 idle clients cost 10 MB, not 80.
            reader: BufReader::with_capacity(SIZE, deadline_reader),
            idle_timeout,
        }
    }

    // ANCHOR: next_message
    /// Reads the next message. An `Err` is a broken connection (such as a reset).
    pub fn next_message(&mut self) -> io::Result<Received> {
        // No deadline if the timeout is too far away to count to (--idle-timeout 1e19).
        self.reader.get_mut().deadline = self
            .idle_timeout
            .and_then(|timeout| Instant::now().checked_add(timeout));
        match self.read_bounded_line() {
            Err(e) if is_timeout(&e) => Ok(Received::IdleTimeout),
            other => other,
        }
    }

    fn read_bounded_line(&mut self) -> io::Result<Received> {
        // Room for SIZE bytes of text and a "\r\n"; never more.
        let limit = SIZE + 2;
        let mut bytes = Vec::new();
        (&mut self.reader)
            .take(limit as u64)
            .read_until(b'\n', &mut bytes)?;
        if bytes.is_empty() {
            return Ok(Received::End);
        }
        if !bytes.ends_with(b"\n") {
            if bytes.len() < limit {
                return Ok(Received::Incomplete); // The stream ended first.
            }
            self.skip_rest_of_line()?;
            return Ok(Received::TooLong);
        }
        let (text, ending) = strip_line_ending(&bytes);
        if text.len() > SIZE {
            return Ok(Received::TooLong);
        }
        let text_len = text.len();
        bytes.truncate(text_len);
        match String::from_utf8(bytes) {
            Ok(text) => Ok(Received::Line(Line { text, ending })),
            Err(_) => Ok(Received::NotUtf8),
        }
    }
    // ANCHOR_END: next_message

    /// Reads and drops bytes up to and including the next `\n` (or end of stream).
    fn skip_rest_of_line(&mut self) -> io::Result<()> {
        loop {
            let available = self.reader.fill_buf()?;
            if available.is_empty() {
                return Ok(());
            }
            match available.iter().position(|&byte| byte == b'\n') {
                Some(newline) => {
                    self.reader.consume(newline + 1);
                    return Ok(());
                }
                None => {
                    let all = available.len();
                    self.reader.consume(all);
                }
            }
        }
    }
}

/// True for the error a read timeout gives: `WouldBlock` on Unix, `TimedOut` on Windows.
pub fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

// ANCHOR: deadline_reader
/// A socket reader that fails with `TimedOut` once its deadline has passed.
///
/// A read timeout alone restarts with every read, so a client that sends one
/// byte every few seconds would never time out; a deadline does not move.
struct DeadlineReader {
    stream: Arc<TcpStream>,
    deadline: Option<Instant>,
}

impl Read for DeadlineReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            self.stream.set_read_timeout(Some(left))?;
        }
        read_once(&self.stream, buf)
    }
}
// ANCHOR_END: deadline_reader

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
        let mut reader = reader_for(&input);
        assert_eq!(
            reader.next_message().unwrap(),
            line(&"a".repeat(SIZE), "\r\n")
        );
        assert_eq!(reader.next_message().unwrap(), Received::TooLong);
        assert_eq!(reader.next_message().unwrap(), Received::TooLong);
        assert_eq!(reader.next_message().unwrap(), line("after", "\n"));
    }

    #[test]
    fn invalid_utf8_skips_one_line_only() {
        let mut reader = reader_for(b"ok\n\xff\xfe bad\nafter\n");
        assert_eq!(reader.next_message().unwrap(), line("ok", "\n"));
        assert_eq!(reader.next_message().unwrap(), Received::NotUtf8);
        assert_eq!(reader.next_message().unwrap(), line("after", "\n"));
    }

    #[test]
    fn the_too_long_error_names_the_real_limit() {
        assert!(TOO_LONG.ends_with(&format!(" {SIZE} bytes")));
    }

    #[test]
    fn strip_line_ending_takes_one_ending_only() {
        assert_eq!(strip_line_ending(b"a\r\n"), (&b"a"[..], "\r\n"));
        assert_eq!(strip_line_ending(b"a\n\n"), (&b"a\n"[..], "\n"));
        assert_eq!(strip_line_ending(b"a"), (&b"a"[..], ""));
    }
}
