//! A line session on a thread: one client's messages, read one at a time.
//!
//! [`LineSession`] reads with lesson 2's [`LineReader`], and says what came
//! in the core's words ([`Next`], [`Ending`]); each server decides what to
//! answer. It also keeps the shutdown's rule for reading: once the server
//! is stopping, a session reads what its client had already sent, for at
//! most `SHUTDOWN_READ_TIME`, then ends.

use crate::session::{Ending, Next, ReadingTime};

use super::connections::Client;
use super::socket::LineReader;

/// One client's messages, read one at a time.
pub struct LineSession<'a> {
    client: &'a Client,
    /// One reader for the whole session: it may already hold the start of
    /// the next line, which a fresh reader would lose.
    lines: LineReader,
    /// How long this session goes on reading once the server is stopping.
    reading: ReadingTime,
}

impl<'a> LineSession<'a> {
    /// A session with `client`.
    pub fn new(client: &'a Client) -> LineSession<'a> {
        LineSession {
            client,
            lines: LineReader::new(client.shared_stream(), client.idle_timeout()),
            reading: ReadingTime::default(),
        }
    }

    /// Reads what comes next: a line, an error to answer, or the end.
    pub fn receive(&mut self) -> Next {
        if self.reading.is_over(self.client.server_is_stopping()) {
            return Next::End(Ending::ServerStopping);
        }
        let received = self.lines.next_message();
        Next::after(received, self.client.server_is_stopping())
    }
}
