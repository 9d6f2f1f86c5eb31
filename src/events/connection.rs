//! The clients of an event loop: each one's socket, state, buffers and
//! deadlines, and what the loop does with them when its socket is ready.
//!
//! A thread keeps where its conversation stands in its own stack: the line
//! it is reading, the step it is in. A loop serves every client from one
//! stack, so each client's place in its conversation must be written down,
//! in a [`Connection`]: its [`State`] (reading, output pending, closing),
//! the bytes of a line that has not ended yet ([`LineBuffer`]), the bytes
//! it has not taken yet, and its deadlines. [`Clients`] holds them all,
//! each under the [`Token`] its socket is registered with, and does every
//! step that needs a socket: a read that never waits, a write that keeps
//! what did not fit, the lingering close.
//!
//! Two rules come from how mio reports readiness. It is edge-triggered: it
//! says "readable" once, when data arrives, not again while data is left
//! over. So a connection remembers that it was told (`readable`) until a
//! read finds nothing, and a loop that stops reading a client early (its
//! output is pending, or its turn is over) comes back to it without being
//! told again. And it reports what *may* be done, not what was done: a
//! read after "readable" may still find nothing (`WouldBlock`), and that is
//! not an error.

use std::io::{self, IoSlice, Read, Write};
use std::mem;
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use crate::cli::Limits;
use crate::framing::{LineBuffer, SIZE};
use crate::session::{Ending, Next};
use crate::timing::{LINGER_BYTES, LINGER_TIME, SHUTDOWN_READ_TIME};

use super::timers::Timers;

/// How many bytes one client may have read for it in one turn of the loop.
/// A client that sends without pause would otherwise keep the loop reading
/// its socket, and every other client waiting; past this, the loop serves
/// the others and comes back to it on its next turn.
pub const READ_BUDGET: usize = 64 * 1024;
/// The loop's one read buffer, lent to each read in turn: no client owns a
/// buffer while it waits. (A line read takes at most `SIZE` bytes of it,
/// as the threads' reads do; a discarding read takes all of it.)
const READ_BUFFER: usize = 16 * 1024;

// ANCHOR: state
/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Nothing waits to be sent: the server reads the client's next
    /// message, and its idle deadline runs while it waits for one.
    Reading,
    /// Bytes the client has not taken yet wait in the connection's output
    /// buffer: the loop asks for `WRITABLE` and sends them when the socket
    /// has room, and the write deadline runs. `then_close`: the session is
    /// over, and once the output is out, the connection closes.
    OutputPending { then_close: bool },
    /// The lingering close: our side is half-closed (the client reads end
    /// of stream after the last reply), and what the client still sends is
    /// read and dropped until it closes too, for at most `LINGER_TIME`
    /// (`until`) and `LINGER_BYTES`.
    Closing { until: Instant, discarded: usize },
}
// ANCHOR_END: state

/// What [`Clients::next_message`] found.
#[derive(Debug)]
pub enum Input {
    /// What came next: a line, a line to refuse, or the end of the session.
    Next(Next),
    /// Nothing complete yet. The loop comes back when the socket is ready
    /// again, or on the client's next turn.
    Wait,
}

/// What [`Clients::read_once`] found: one read, the counter server's message.
#[derive(Debug)]
pub enum ReadOnce {
    /// This many bytes, in [`Clients::received`].
    Data(usize),
    /// End of stream: the client closed its side (or, once the server is
    /// stopping, nothing had arrived).
    Closed,
    /// Nothing yet.
    Wait,
    /// The connection broke.
    Failed(io::Error),
}

/// What [`Clients::send`] did with the bytes.
#[derive(Debug)]
pub enum Sent {
    /// All of them are in the socket's send buffer.
    All,
    /// Some or all wait in the connection's output buffer (the socket had
    /// no room): the loop sends them when it has.
    Pending,
    /// Not taken: the output buffer already holds more than the limit. The
    /// client is not reading.
    OverLimit,
    /// The connection broke.
    Failed(io::Error),
}

/// Which of a connection's deadlines passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// No complete message within `--idle-timeout` of the server starting
    /// to wait for it.
    Idle,
    /// Output pending for `--write-timeout` without the client taking any of it.
    Write,
}
/// One client: its socket, where it stands, its buffers and its deadlines.
/// `T` is what the server itself keeps about it (its id, say).
pub struct Connection<T> {
    /// What the server keeps about this client.
    pub client: T,
    address: SocketAddr,
    stream: TcpStream,
    state: State,
    /// The start of a line still arriving (or lines read and not yet
    /// handled). Empty between messages, and then it owns no memory.
    lines: LineBuffer,
    /// Bytes for the client that the socket had no room for; `output[sent..]`
    /// is still to go. Empty, and owning no memory, when nothing is pending.
    output: Vec<u8>,
    sent: usize,
    /// mio said "readable" and no read has found the socket empty since.
    readable: bool,
    /// mio said the client's side is closed, or the connection failed: the
    /// end is already there, behind any data, and no new event will say
    /// so. Reading goes on until a read finds it.
    hung_up: bool,
    /// When the message being waited for must be complete, if the server
    /// is waiting for one.
    idle: Option<Instant>,
    /// When the client must have taken some of its pending output.
    write: Option<Instant>,
    /// The deadline armed for this connection in the loop's timers, which
    /// is never later than the earliest of its deadlines.
    armed: Option<Instant>,
    /// How its session ended, once it has.
    ending: Option<Ending>,
}

impl<T> Connection<T> {
    /// The client's address and port.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Where it stands.
    pub fn state(&self) -> State {
        self.state
    }

    /// How its session ended (`None` if it was closed without one, at exit).
    pub fn ending(&self) -> Option<&Ending> {
        self.ending.as_ref()
    }

    /// The earliest of its deadlines.
    fn next_deadline(&self) -> Option<Instant> {
        match self.state {
            State::Closing { until, .. } => Some(until),
            _ => match (self.idle, self.write) {
                (Some(idle), Some(write)) => Some(idle.min(write)),
                (idle, write) => idle.or(write),
            },
        }
    }

    fn pending_output(&self) -> usize {
        self.output.len() - self.sent
    }
}

/// Every client of the loop, each under its token, and what the loop owns
/// for all of them: the deadlines, one read buffer, the shutdown's clock.
pub struct Clients<T> {
    /// Connection `n` has `Token(n)`; a closed one leaves its slot free for the next.
    slots: Vec<Option<Connection<T>>>,
    free: Vec<usize>,
    open: usize,
    registry: Registry,
    /// Every deadline of every client, and the accept back-off's.
    pub(super) timers: Timers,
    buffer: Box<[u8]>,
    idle_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    /// When shutdown began.
    stopping_since: Option<Instant>,
    /// What the client being served may still read in this turn.
    pub(super) budget: usize,
    /// Clients whose turn ended with data left to read: served again next turn.
    pub(super) owed: Vec<Token>,
    /// Connections closed since the loop last looked: it hands them to the
    /// server for its log line, and drops them.
    pub(super) finished: Vec<Connection<T>>,
}

impl<T> Clients<T> {
    /// No clients yet; `registry` is the loop's, `limits` the command line's.
    pub fn new(registry: Registry, limits: &Limits) -> Clients<T> {
        Clients {
            slots: Vec::new(),
            free: Vec::new(),
            open: 0,
            registry,
            timers: Timers::default(),
            buffer: vec![0; READ_BUFFER].into_boxed_slice(),
            idle_timeout: limits.idle_timeout.duration(),
            write_timeout: limits.write_timeout.duration(),
            stopping_since: None,
            budget: READ_BUDGET,
            owed: Vec::new(),
            finished: Vec::new(),
        }
    }

    /// How many clients are connected.
    pub fn len(&self) -> usize {
        self.open
    }

    /// True when no client is connected.
    pub fn is_empty(&self) -> bool {
        self.open == 0
    }

    /// True once the server is shutting down.
    pub fn is_stopping(&self) -> bool {
        self.stopping_since.is_some()
    }

    /// Every connected client's token.
    pub fn tokens(&self) -> Vec<Token> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.is_some())
            .map(|(n, _)| Token(n))
            .collect()
    }

    /// The client under `token`, if it is still connected.
    pub fn get(&self, token: Token) -> Option<&Connection<T>> {
        self.slots.get(token.0)?.as_ref()
    }

    /// What the server keeps about the client under `token`.
    pub fn client(&self, token: Token) -> Option<&T> {
        self.get(token).map(|connection| &connection.client)
    }

    /// What the server keeps about the client under `token`, to change it.
    pub fn client_mut(&mut self, token: Token) -> Option<&mut T> {
        self.slot(token).map(|connection| &mut connection.client)
    }

    fn slot(&mut self, token: Token) -> Option<&mut Connection<T>> {
        self.slots.get_mut(token.0)?.as_mut()
    }

    /// Takes in a new connection: registers its socket for reading, and
    /// starts its idle deadline (the server waits for its first message).
    pub fn insert(
        &mut self,
        mut stream: TcpStream,
        address: SocketAddr,
        client: T,
    ) -> io::Result<Token> {
        let n = self.free.pop().unwrap_or(self.slots.len());
        let token = Token(n);
        if let Err(e) = self
            .registry
            .register(&mut stream, token, Interest::READABLE)
        {
            if n < self.slots.len() {
                self.free.push(n);
            }
            return Err(e);
        }
        let connection = Connection {
            client,
            address,
            stream,
            state: State::Reading,
            lines: LineBuffer::default(),
            output: Vec::new(),
            sent: 0,
            // Data may have come with the connection: look at once.
            readable: true,
            hung_up: false,
            idle: self.idle_deadline(),
            write: None,
            armed: None,
            ending: None,
        };
        if n == self.slots.len() {
            self.slots.push(Some(connection));
        } else {
            self.slots[n] = Some(connection);
        }
        self.open += 1;
        self.arm_timer(token);
        Ok(token)
    }

    fn idle_deadline(&self) -> Option<Instant> {
        self.idle_timeout
            .and_then(|timeout| Instant::now().checked_add(timeout))
    }

    fn write_deadline(&self) -> Option<Instant> {
        self.write_timeout
            .and_then(|timeout| Instant::now().checked_add(timeout))
    }

    // ANCHOR: next_message
    /// The client's next message, if it is complete: the threads'
    /// `LineReader::next_message`, except that where a thread would block,
    /// this returns [`Input::Wait`].
    ///
    /// It reads only while mio's last word was "readable", and until a read
    /// finds the socket empty (`WouldBlock`, or fewer bytes than asked
    /// for): mio will not say it again for data already there. Each read
    /// takes at most `SIZE` bytes, as the threads' do, into the loop's one
    /// buffer, and only what arrived is kept, in the client's `LineBuffer`.
    pub fn next_message(&mut self, token: Token) -> Input {
        let stopping = self.stopping_since;
        let Some(connection) = self.slots.get_mut(token.0).and_then(Option::as_mut) else {
            return Input::Wait;
        };
        if stopping.is_some_and(|since| since.elapsed() > SHUTDOWN_READ_TIME) {
            // A client still flooding the server does not hold up its exit.
            return Input::Next(Next::End(Ending::ServerStopping));
        }
        let received = loop {
            if let Some(message) = connection.lines.next_message() {
                break Ok(message);
            }
            // Once the server is stopping, ask the socket itself: what
            // arrived a moment ago may not have been reported yet.
            if !connection.readable && stopping.is_none() {
                break Err(());
            }
            if self.budget == 0 {
                // This client's turn is over; it stays `readable`.
                self.owed.push(token);
                break Err(());
            }
            let buffer = &mut self.buffer[..SIZE];
            match (&connection.stream).read(buffer) {
                Ok(0) => break Ok(connection.lines.end_of_stream()),
                Ok(n) => {
                    connection.lines.push(&buffer[..n]);
                    self.budget = self.budget.saturating_sub(n);
                    // A short read emptied the socket: more data will
                    // come with a new event. (Not the end of stream, if
                    // mio has announced it already: read on to find it.)
                    connection.readable = n == buffer.len() || connection.hung_up;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    connection.readable = false;
                    if stopping.is_some() {
                        // All that had arrived is read: the session ends.
                        break Ok(connection.lines.end_of_stream());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Input::Next(Next::End(Ending::Broken(e))),
            }
        };
        match received {
            Ok(message) => {
                // The wait for this message is over.
                connection.idle = None;
                Input::Next(Next::after(Ok(message), stopping.is_some()))
            }
            Err(()) => {
                // Nothing complete: the server waits for the next message.
                // Its deadline starts now, unless the wait had begun already
                // (a drip of bytes does not push it back).
                if connection.idle.is_none() {
                    connection.idle = self
                        .idle_timeout
                        .and_then(|timeout| Instant::now().checked_add(timeout));
                    self.arm_timer(token);
                }
                Input::Wait
            }
        }
    }
    // ANCHOR_END: next_message

    /// The idle deadline passed: what that means for the line that had
    /// begun to arrive, if any (an `Ending::IdleTimeout`, quoting it).
    pub fn timed_out(&mut self, token: Token) -> Next {
        let stopping = self.is_stopping();
        match self.slot(token) {
            Some(connection) => Next::after(Ok(connection.lines.timed_out()), stopping),
            None => Next::End(Ending::Closed),
        }
    }

    /// One read of at most `SIZE` bytes, the original counter server's
    /// `recv(1024)`; the bytes are in [`received`](Self::received). Once the
    /// server is stopping, finding nothing is the end of the stream.
    pub fn read_once(&mut self, token: Token) -> ReadOnce {
        let stopping = self.is_stopping();
        let Some(connection) = self.slots.get_mut(token.0).and_then(Option::as_mut) else {
            return ReadOnce::Closed;
        };
        loop {
            if !connection.readable && !stopping {
                return ReadOnce::Wait;
            }
            match (&connection.stream).read(&mut self.buffer[..SIZE]) {
                Ok(0) => return ReadOnce::Closed,
                Ok(n) => {
                    connection.idle = None;
                    return ReadOnce::Data(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    connection.readable = false;
                    if stopping {
                        return ReadOnce::Closed;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return ReadOnce::Failed(e),
            }
        }
    }

    /// The bytes the last [`read_once`](Self::read_once) returned.
    pub fn received(&self, n: usize) -> &[u8] {
        &self.buffer[..n]
    }
    /// Sends `parts`, one after the other, to the client under `token`.
    ///
    /// With nothing pending, they go straight to the socket, in one
    /// `writev`. Whatever the socket has no room for is kept in the
    /// connection's output buffer, and the loop asks mio for `WRITABLE`:
    /// the rest goes when the client has read some. With output pending
    /// already, they join it, unless it holds more than `limit` bytes.
    pub fn send(&mut self, token: Token, parts: &[&[u8]], limit: usize) -> Sent {
        let write_deadline = self.write_deadline();
        let Some(connection) = self.slots.get_mut(token.0).and_then(Option::as_mut) else {
            return Sent::Failed(io::ErrorKind::NotConnected.into());
        };
        if matches!(connection.state, State::Closing { .. }) {
            return Sent::Failed(io::ErrorKind::NotConnected.into());
        }
        let total: usize = parts.iter().map(|part| part.len()).sum();
        let pending = connection.pending_output();
        if total == 0 {
            return if pending > 0 {
                Sent::Pending
            } else {
                Sent::All
            };
        }
        if pending > 0 {
            if pending + total > limit {
                return Sent::OverLimit;
            }
            for part in parts {
                connection.output.extend_from_slice(part);
            }
            return Sent::Pending;
        }
        let slices: Vec<IoSlice<'_>> = parts.iter().map(|part| IoSlice::new(part)).collect();
        let written = match (&connection.stream).write_vectored(&slices) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => return Sent::Failed(e),
        };
        if written == total {
            return Sent::All;
        }
        // Keep what did not fit, and say when it may go.
        let mut skip = written;
        for part in parts {
            let from = skip.min(part.len());
            connection.output.extend_from_slice(&part[from..]);
            skip -= from;
        }
        connection.state = State::OutputPending { then_close: false };
        connection.write = write_deadline;
        if let Err(e) = self.registry.reregister(
            &mut connection.stream,
            token,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            return Sent::Failed(e);
        }
        self.arm_timer(token);
        Sent::Pending
    }
    /// Sends what waits in the output buffer, as far as the socket takes
    /// it. When all of it is out, `WRITABLE` is no longer asked for (the
    /// socket is nearly always writable: asking would wake the loop for
    /// nothing), and the connection reads again, or closes.
    fn flush(&mut self, token: Token) {
        let write_deadline = self.write_deadline();
        let Some(connection) = self.slots.get_mut(token.0).and_then(Option::as_mut) else {
            return;
        };
        let State::OutputPending { then_close } = connection.state else {
            return;
        };
        let mut progress = false;
        while connection.pending_output() > 0 {
            match (&connection.stream).write(&connection.output[connection.sent..]) {
                Ok(n) => {
                    connection.sent += n;
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    connection.ending.get_or_insert(Ending::Broken(e));
                    self.close(token);
                    return;
                }
            }
        }
        if connection.pending_output() > 0 {
            if progress {
                // The client is reading: it gets the whole timeout again, as
                // a thread's socket write timeout restarts with each write.
                connection.write = write_deadline;
                if connection.sent > connection.output.len() / 2 {
                    connection.output.drain(..connection.sent);
                    connection.sent = 0;
                }
            }
            return;
        }
        // All out: give the buffer back, stop asking for WRITABLE.
        connection.output = Vec::new();
        connection.sent = 0;
        connection.write = None;
        if then_close {
            self.start_closing(token);
            return;
        }
        connection.state = State::Reading;
        if let Err(e) = self
            .registry
            .reregister(&mut connection.stream, token, Interest::READABLE)
        {
            connection.ending.get_or_insert(Ending::Broken(e));
            self.close(token);
        }
    }
    /// Ends the client's session as `ending`, after sending `last` (an
    /// error line, a greeting): the connection closes once every byte for
    /// the client is out, with the lingering close.
    pub fn finish(&mut self, token: Token, last: &[&[u8]], ending: Ending) {
        let Some(connection) = self.slot(token) else {
            return;
        };
        if matches!(connection.state, State::Closing { .. }) {
            return; // Finished already.
        }
        connection.ending.get_or_insert(ending);
        match self.send(token, last, usize::MAX) {
            Sent::All => self.start_closing(token),
            Sent::Pending | Sent::OverLimit => {
                if let Some(connection) = self.slot(token) {
                    connection.state = State::OutputPending { then_close: true };
                }
            }
            Sent::Failed(_) => self.close(token),
        }
    }

    /// Ends the session of a client that does not take what it is sent:
    /// what waits for it is dropped, and the connection closes with the
    /// lingering close.
    pub fn finish_discarding(&mut self, token: Token, ending: Ending) {
        if let Some(connection) = self.slot(token) {
            connection.ending.get_or_insert(ending);
            connection.output = Vec::new();
            connection.sent = 0;
            connection.write = None;
        }
        self.start_closing(token);
    }

    /// Closes the connection at once, without the lingering close: for a
    /// client disconnected for not reading (what it had not read is lost
    /// with the connection, as in the threaded server).
    pub fn abort(&mut self, token: Token, ending: Ending) {
        if let Some(connection) = self.slot(token) {
            connection.ending.get_or_insert(ending);
        }
        self.close(token);
    }
    /// The lingering close, first half: we are done writing (the client
    /// reads end of stream after the last reply). Then `linger` reads and
    /// drops what the client still sends until it closes too: closing a
    /// socket with unread data in it would send a reset, which can destroy
    /// the last reply before the client reads it.
    fn start_closing(&mut self, token: Token) {
        let Some(connection) = self.slots.get_mut(token.0).and_then(Option::as_mut) else {
            return;
        };
        if connection.stream.shutdown(Shutdown::Write).is_err() {
            self.close(token); // Already gone.
            return;
        }
        connection.state = State::Closing {
            until: Instant::now() + LINGER_TIME,
            discarded: 0,
        };
        connection.idle = None;
        connection.write = None;
        if let Err(e) = self
            .registry
            .reregister(&mut connection.stream, token, Interest::READABLE)
        {
            connection.ending.get_or_insert(Ending::Broken(e));
            self.close(token);
            return;
        }
        self.arm_timer(token);
        // The client may have closed already: its end of stream does not
        // come again as an event.
        self.linger(token);
    }

    /// The lingering close, second half: reads and drops what the client
    /// sends, until it closes (end of stream), or `LINGER_BYTES` have been
    /// dropped. (`LINGER_TIME` is its deadline.) Once the server is
    /// stopping, until nothing more has arrived.
    fn linger(&mut self, token: Token) {
        let stopping = self.is_stopping();
        let Some(connection) = self.slots.get_mut(token.0).and_then(Option::as_mut) else {
            return;
        };
        let State::Closing {
            until,
            mut discarded,
        } = connection.state
        else {
            return;
        };
        let done = loop {
            if discarded >= LINGER_BYTES {
                break true;
            }
            match (&connection.stream).read(&mut self.buffer) {
                Ok(0) => break true,
                Ok(n) => discarded += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break stopping,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break true,
            }
        };
        connection.state = State::Closing { until, discarded };
        if done {
            self.close(token);
        }
    }

    /// Closes the connection now: its socket leaves the loop, its deadline
    /// the timers, and it goes to `finished`, for the server's log line.
    fn close(&mut self, token: Token) {
        let Some(mut connection) = self.slots.get_mut(token.0).and_then(Option::take) else {
            return;
        };
        self.free.push(token.0);
        self.open -= 1;
        if let Some(armed) = connection.armed {
            self.timers.disarm(armed, token);
        }
        let _ = self.registry.deregister(&mut connection.stream);
        self.finished.push(connection);
    }
    /// The loop's part when mio reports the client's socket ready: note
    /// "readable", send pending output if there is room, go on with a
    /// lingering close. Returns true if the server should now serve the
    /// client (read what it sent): the connection is still open and not
    /// closing.
    pub(super) fn ready(&mut self, token: Token, event: &Event) -> bool {
        let Some(connection) = self.slot(token) else {
            return false; // Closed earlier in this turn.
        };
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            connection.readable = true;
        }
        if event.is_read_closed() || event.is_error() {
            connection.hung_up = true;
        }
        match connection.state {
            State::Closing { .. } => {
                self.linger(token);
                false
            }
            State::OutputPending { .. } => {
                if event.is_writable() || event.is_write_closed() || event.is_error() {
                    self.flush(token);
                }
                self.is_serving(token)
            }
            State::Reading => true,
        }
    }

    /// True while the client's session goes on (it is not closing).
    pub fn is_serving(&self, token: Token) -> bool {
        self.get(token).is_some_and(|connection| {
            matches!(
                connection.state,
                State::Reading | State::OutputPending { then_close: false }
            )
        })
    }

    /// Arms the connection's timer if its earliest deadline is sooner than
    /// the one armed. A later deadline is armed lazily: when the earlier
    /// entry passes, [`expire`](Self::expire) finds the deadline moved, and
    /// arms it then. So a client that sends a message every second moves
    /// its idle deadline without touching the timers at all.
    fn arm_timer(&mut self, token: Token) {
        let Some(connection) = self.slots.get_mut(token.0).and_then(Option::as_mut) else {
            return;
        };
        let Some(wanted) = connection.next_deadline() else {
            return;
        };
        match connection.armed {
            Some(armed) if armed <= wanted => {}
            Some(armed) => {
                self.timers.disarm(armed, token);
                self.timers.arm(wanted, token);
                connection.armed = Some(wanted);
            }
            None => {
                self.timers.arm(wanted, token);
                connection.armed = Some(wanted);
            }
        }
    }

    // ANCHOR: expire
    /// The timer armed for `token` passed at `now`: which deadline, if any,
    /// has really passed. A lingering close that ran out of time closes
    /// here; a deadline that moved is armed again.
    pub(super) fn expire(&mut self, token: Token, now: Instant) -> Option<Deadline> {
        let connection = self.slot(token)?;
        connection.armed = None;
        if let State::Closing { until, .. } = connection.state {
            if until <= now {
                self.close(token);
            } else {
                self.arm_timer(token);
            }
            return None;
        }
        if connection.write.is_some_and(|write| write <= now) {
            connection.write = None;
            self.arm_timer(token);
            return Some(Deadline::Write);
        }
        if connection.idle.is_some_and(|idle| idle <= now) {
            connection.idle = None;
            self.arm_timer(token);
            return Some(Deadline::Idle);
        }
        self.arm_timer(token);
        None
    }
    // ANCHOR_END: expire

    /// Shutdown begins: from now on a read that finds nothing is the end of
    /// the client's input.
    pub(super) fn begin_stopping(&mut self) {
        self.stopping_since.get_or_insert_with(Instant::now);
    }

    /// At shutdown: each closing connection reads what has arrived, and
    /// closes. Returns the clients still in session, for the server to
    /// serve one last time.
    pub(super) fn wind_down(&mut self) -> Vec<Token> {
        let tokens = self.tokens();
        for &token in &tokens {
            if let Some(connection) = self.slot(token) {
                // A read is due whatever mio said last (see next_message).
                connection.readable = true;
            }
            self.linger(token);
        }
        tokens
            .into_iter()
            .filter(|&token| self.is_serving(token))
            .collect()
    }

    /// The connections closed since the last call, for their log lines.
    pub(super) fn take_finished(&mut self) -> Vec<Connection<T>> {
        mem::take(&mut self.finished)
    }
}
