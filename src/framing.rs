//! Line framing: turning a byte stream into messages, with a bound.
//!
//! TCP delivers bytes, not messages. One `read()` may return half a message,
//! or three of them run together; the originals' `recv(1024)` (the counter
//! tutorial's, and the Python versions of the other two in `originals/`)
//! treats whatever one call returns as one message and so depends on luck.
//! Here a message is one line of UTF-8 text ending in `\n` (`\r\n` is
//! accepted too), of at most [`SIZE`] bytes.
//!
//! The bound matters: a reader that "reads until newline" into a growing
//! `String` lets one client that never sends a newline make the server
//! allocate until it dies. A [`LineBuffer`] keeps at most `SIZE` bytes of a
//! line; the rest of an over-long line is dropped as it arrives.
//!
//! Nothing here does I/O, so every style reads through the same buffer:
//! a thread feeds it from blocking reads (`threads::socket::LineReader`),
//! an event loop from reads that never wait (`events::connection`), a task
//! from reads it awaits (`tasks::session`).

use std::io;
use std::mem;

/// The most bytes in one message, not counting its line ending: the originals' `SIZE = 1024`.
pub const SIZE: usize = 1024;

/// How much of an over-long line is kept, to quote it if the line never ends.
const KEPT_OF_LONG_LINE: usize = 64;

/// What came next in a connection's bytes: what [`LineBuffer::next_message`]
/// finds, and what a reader makes of the end of the stream or a timeout.
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

/// True for the error a read timeout gives: `WouldBlock` on Unix, `TimedOut` on Windows.
pub fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The bytes of one connection between reads, cut into messages: the part
/// of line framing that does no I/O.
///
/// Whoever reads the socket (a thread, an event loop, a task) hands each
/// read to [`push`](Self::push) and asks [`next_message`](Self::next_message)
/// for what is complete. What a message is, and every bound on it, is
/// decided here once for every style.
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

    /// Everything `bytes` holds, as messages, as a reader would see them:
    /// the bytes arrive in reads of `chunk` bytes, then the stream ends.
    fn messages(bytes: &[u8], chunk: usize) -> Vec<Received> {
        let mut buffer = LineBuffer::default();
        let mut found = Vec::new();
        for read in bytes.chunks(chunk) {
            buffer.push(read);
            while let Some(message) = buffer.next_message() {
                found.push(message);
            }
        }
        found.push(buffer.end_of_stream());
        found
    }

    fn line(text: &str, ending: &'static str) -> Received {
        Received::Line(Line {
            text: text.to_string(),
            ending,
        })
    }

    #[test]
    fn lines_come_out_one_at_a_time_with_their_endings() {
        for chunk in [1, 3, 1024] {
            assert_eq!(
                messages(b"one\ntwo\r\n\nlast", chunk),
                [
                    line("one", "\n"),
                    line("two", "\r\n"),
                    line("", "\n"),
                    Received::Incomplete
                ]
            );
        }
        assert_eq!(messages(b"", 1), [Received::End]);
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
        for chunk in [7, SIZE, 64 * 1024] {
            assert_eq!(
                messages(&input, chunk),
                [
                    line(&"a".repeat(SIZE), "\r\n"),
                    Received::TooLong,
                    Received::TooLong,
                    line("after", "\n"),
                    Received::TooLong,
                    Received::End
                ]
            );
        }
    }

    #[test]
    fn a_long_line_costs_a_bounded_buffer() {
        let mut buffer = LineBuffer::default();
        for _ in 0..1000 {
            buffer.push(&[b'x'; 1024]);
            assert_eq!(buffer.next_message(), None);
            assert!(buffer.pending.len() <= 2 * SIZE + 2);
        }
        buffer.push(b"\nnext\n");
        assert_eq!(buffer.next_message(), Some(Received::TooLong));
        assert_eq!(buffer.next_message(), Some(line("next", "\n")));
    }

    #[test]
    fn invalid_utf8_skips_one_line_only() {
        assert_eq!(
            messages(b"ok\n\xff\xfe bad\nafter\n", 4),
            [
                line("ok", "\n"),
                Received::NotUtf8,
                line("after", "\n"),
                Received::End
            ]
        );
    }

    #[test]
    fn a_timeout_gives_up_the_unfinished_line() {
        let mut buffer = LineBuffer::default();
        buffer.push(b"done\nHello, Ser");
        assert_eq!(buffer.next_message(), Some(line("done", "\n")));
        assert_eq!(buffer.next_message(), None);
        let unfinished = b"Hello, Ser".to_vec();
        assert_eq!(buffer.timed_out(), Received::IdleTimeout { unfinished });
        assert!(buffer.is_empty());
    }

    #[test]
    fn strip_line_ending_takes_one_ending_only() {
        assert_eq!(strip_line_ending(b"a\r\n"), (&b"a"[..], "\r\n"));
        assert_eq!(strip_line_ending(b"a\n\n"), (&b"a\n"[..], "\n"));
        assert_eq!(strip_line_ending(b"a"), (&b"a"[..], ""));
    }
}
