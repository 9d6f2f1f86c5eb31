//! A line session's vocabulary: what came next from a client, and how its
//! session ended.
//!
//! The echo and queue servers hold sessions: a client sends line after line
//! until it leaves. Every one of them, in every style, must tell the same
//! things apart: a line, a line that cannot be accepted (the client gets an
//! `ERROR` line and the session goes on) and the many ways a session ends.
//! They are named here, once, with no I/O: [`Next`], [`Ending`],
//! [`Next::after`] (what a read means) and [`ReadingTime`] (how long to go
//! on reading at shutdown). Each style's session reads its own way (the
//! threads' `LineSession`, the event loop's `Clients::next_message`, the
//! tasks' `LineSession`) and says what it found in these words; each
//! server decides what to answer.

use std::io;
use std::time::Instant;

use crate::framing::{Line, Received};
use crate::protocol::{DISCONNECT_MSG, IDLE_TIMEOUT, INCOMPLETE, idle_timeout_in_line};
#[cfg(doc)]
use crate::protocol::{NOT_UTF8, TOO_LONG};
use crate::timing::SHUTDOWN_READ_TIME;

/// What came next in a session.
#[derive(Debug)]
pub enum Next {
    /// A line of text. (Whether it is the goodbye, `!DISCONNECT`, is for
    /// the server to see: that test is the heart of its loop.)
    Line(Line),
    /// A line that is not UTF-8 text: the client is to get [`NOT_UTF8`].
    NotUtf8,
    /// A line over `SIZE` bytes: the client is to get [`TOO_LONG`].
    TooLong,
    /// The session is over.
    End(Ending),
}

// ANCHOR: ending
/// How a session ended.
#[derive(Debug)]
pub enum Ending {
    /// The client sent `!DISCONNECT` (the server saw it in a [`Next::Line`]).
    Goodbye,
    /// The client closed the connection.
    Closed,
    /// The client closed the connection in the middle of a line.
    ClosedMidLine,
    /// The client sent nothing complete within `--idle-timeout`; `unfinished`
    /// is the start of a line it had begun (empty if none).
    IdleTimeout { unfinished: Vec<u8> },
    /// The server is shutting down.
    ServerStopping,
    /// The client does not read what it is sent: a write timed out.
    NotReading,
    /// The connection broke (a reset, say), on a read or a write.
    Broken(io::Error),
}
// ANCHOR_END: ending

impl Ending {
    /// The line a client still listening is told as its session ends, if any.
    /// (What to say on `Goodbye` and `ServerStopping` is each server's own.)
    pub fn error_line(&self) -> Option<String> {
        match self {
            Ending::IdleTimeout { unfinished } if unfinished.is_empty() => {
                Some(IDLE_TIMEOUT.to_string())
            }
            Ending::IdleTimeout { unfinished } => Some(idle_timeout_in_line(unfinished)),
            Ending::ClosedMidLine => Some(INCOMPLETE.to_string()),
            _ => None,
        }
    }

    /// Why the session ended, for the log.
    pub fn reason(&self) -> String {
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

/// Why a server let go of a client it was writing to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dropped {
    /// Its replies piled up unread: it does not read them.
    NotReading,
    /// The connection broke under a write (a reset, say).
    ConnectionLost,
}

impl Dropped {
    /// The reason in a few words, for the log and for the sender of a
    /// message that was not delivered.
    pub fn words(self) -> &'static str {
        match self {
            Dropped::NotReading => "not reading",
            Dropped::ConnectionLost => "connection lost",
        }
    }
}

impl Next {
    /// What a message read from a client means for its session.
    ///
    /// At shutdown the server ends every read (the threads' `end_all_reads`,
    /// the tasks' reads that stop waiting): the end of stream that follows is
    /// the server leaving, not the client.
    pub fn after(received: io::Result<Received>, server_is_stopping: bool) -> Next {
        match received {
            Ok(Received::Line(line)) => Next::Line(line),
            Ok(Received::NotUtf8) => Next::NotUtf8,
            Ok(Received::TooLong) => Next::TooLong,
            Ok(Received::End | Received::Incomplete) if server_is_stopping => {
                Next::End(Ending::ServerStopping)
            }
            Ok(Received::End) => Next::End(Ending::Closed),
            Ok(Received::Incomplete) => Next::End(Ending::ClosedMidLine),
            Ok(Received::IdleTimeout { unfinished }) => {
                Next::End(Ending::IdleTimeout { unfinished })
            }
            Err(e) => Next::End(Ending::Broken(e)),
        }
    }
}

/// Once the server is stopping, how long a session goes on reading what its
/// client sent before the signal (see [`SHUTDOWN_READ_TIME`]).
#[derive(Debug, Default)]
pub struct ReadingTime {
    /// When reading stops: set the first time the server is seen stopping.
    until: Option<Instant>,
}

impl ReadingTime {
    /// True once the server has been stopping for longer than [`SHUTDOWN_READ_TIME`].
    pub fn is_over(&mut self, server_is_stopping: bool) -> bool {
        if !server_is_stopping {
            return false;
        }
        let until = *self
            .until
            .get_or_insert_with(|| Instant::now() + SHUTDOWN_READ_TIME);
        Instant::now() > until
    }
}
