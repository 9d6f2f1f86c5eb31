//! A line session for a task: the twin of `threads::session::LineSession`.
//!
//! What a line is, and every bound on it, comes from the same
//! [`LineBuffer`] the threads use; what a message means for the session
//! comes from the same [`Next::after`]. Only the reading is new: it awaits.

use std::io;

use crate::framing::{LineBuffer, Received, SIZE};
use crate::session::{Ending, Next, ReadingTime};
use crate::tasks::client::Input;

/// One client's messages, read one at a time.
pub struct LineSession<'a> {
    input: &'a mut Input,
    /// One buffer for the whole session: it may already hold the start of
    /// the next line, which a fresh one would lose.
    pending: LineBuffer,
    /// How long this session goes on reading once the server is stopping.
    reading: ReadingTime,
}

impl<'a> LineSession<'a> {
    /// A session reading from `input`.
    pub fn new(input: &'a mut Input) -> LineSession<'a> {
        LineSession {
            input,
            pending: LineBuffer::default(),
            reading: ReadingTime::default(),
        }
    }

    /// Reads what comes next: a line, an error to answer, or the end.
    pub async fn receive(&mut self) -> Next {
        if self.reading.is_over(self.input.server_is_stopping()) {
            return Next::End(Ending::ServerStopping);
        }
        let received = self.next_message().await;
        Next::after(received, self.input.server_is_stopping())
    }

    // ANCHOR: next_message
    /// Reads the next message: `framing::LineReader::next_message`, awaiting
    /// where the thread blocks. An `Err` is a broken connection.
    async fn next_message(&mut self) -> io::Result<Received> {
        // The deadline starts now, as the server starts waiting.
        let deadline = self.input.idle_deadline();
        loop {
            if let Some(message) = self.pending.next_message() {
                return Ok(message);
            }
            // Take what has already arrived; wait only if nothing has. The
            // buffer lives inside this block, not across the `.await`
            // below: there it would be stored in the task, and every task
            // waiting for a line would hold a kilobyte for nothing.
            let arrived = {
                let mut chunk = [0u8; SIZE];
                match self.input.read_now(&mut chunk)? {
                    None => false,
                    Some(0) => return Ok(self.pending.end_of_stream()),
                    Some(n) => {
                        self.pending.push(&chunk[..n]);
                        true
                    }
                }
            };
            if arrived {
                continue;
            }
            match self.input.ready(deadline).await {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    return Ok(self.pending.timed_out());
                }
                Err(e) => return Err(e),
            }
        }
    }
    // ANCHOR_END: next_message
}
