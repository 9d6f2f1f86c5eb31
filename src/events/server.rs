//! The event loop: one thread, one `Poll`, every socket.
//!
//! [`Server::run`] is the whole of it. It asks the kernel, through mio, to
//! wait until any socket is ready or the earliest deadline passes, whichever
//! comes first; then it does what each ready socket allows (accept, read,
//! write), each step without waiting; then it acts on the deadlines that
//! passed; and round again. What a server *says* (its protocol) is a
//! [`Service`], which the loop calls for each client that is ready: each
//! binary is one.
//!
//! The listening socket is opened as the threaded servers open it
//! ([`crate::listening::listen`]: the backlog, the error messages) and clients
//! past `--max-clients` are turned away with their `turn_away`. Two
//! things change. When `accept()` fails (out of file descriptors), the loop
//! cannot sleep, as a thread does between tries: it stops taking from the
//! listener until a deadline in its timers. And Ctrl-C cannot wake it by
//! connecting to it: ctrlc's handler thread wakes it with a [`Waker`],
//! which makes the loop's `poll` return like a ready socket.

use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use crate::cli::{Limits, ServerArgs};
use crate::limits::fit_max_clients;
use crate::listening::{listen, turn_away, turn_away_waiting_clients};
use crate::timing::{FIRST_ACCEPT_BACKOFF, LONGEST_ACCEPT_BACKOFF, SHUTDOWN_GRACE};
use crate::warn;

use super::connection::{Clients, Connection, Deadline, READ_BUDGET};

/// The listening socket's token. Clients have `Token(0)`, `Token(1)`, ...
const LISTENER: Token = Token(usize::MAX);
/// The waker's token: its "event" means Ctrl-C.
const WAKER: Token = Token(usize::MAX - 1);
/// How many connections one turn of the loop accepts before it serves the
/// clients whose events came with them. Without a bound, clients that are
/// turned away and connect again at once keep the accept loop busy while
/// the events that would free places (clients closing) wait behind it: the
/// server stays full, and refuses, for as long as they keep trying.
const ACCEPTS_PER_TURN: usize = 64;

// ANCHOR: service
/// What a server does with its clients; the loop does the waiting.
///
/// Every method runs on the loop's one thread, between two waits: it must
/// not block (no sleep, no blocking read or write, no lock another thread
/// holds), or every client waits with it.
pub trait Service {
    /// What the server keeps about each client, in its connection.
    type Client: Default;

    /// A client has been admitted, under `token`.
    fn connected(&mut self, clients: &mut Clients<Self::Client>, token: Token);

    /// The client may have sent something, or its pending output has gone
    /// out: read what has come, answer it, until it would have to wait.
    fn serve(&mut self, clients: &mut Clients<Self::Client>, token: Token);

    /// One of the client's deadlines passed.
    fn timed_out(&mut self, clients: &mut Clients<Self::Client>, token: Token, which: Deadline);

    /// Shutdown begins, before every client is served one last time (each
    /// read that then finds nothing ends its session).
    fn stopping(&mut self, clients: &Clients<Self::Client>);

    /// The client's connection has closed (its socket with `connection`).
    fn disconnected(&mut self, connection: Connection<Self::Client>);
}
// ANCHOR_END: service

/// A listening server, and its loop.
pub struct Server {
    poll: Poll,
    listener: TcpListener,
    waker: Arc<Waker>,
    limits: Limits,
    max_clients: usize,
    /// The next pause if `accept()` fails again.
    backoff: Duration,
    /// While accepting is paused: until when.
    paused_until: Option<Instant>,
}

impl Server {
    /// Binds `--host`:`--port` (or the lesson's `default` address) with the
    /// `--backlog`, raises the process's open-file limit to fit
    /// `--max-clients`, as the other styles' binds do, and makes the loop's
    /// `Poll`. The error names the address and the cause, ready to print.
    pub fn bind(args: &ServerArgs, default: (&str, u16)) -> io::Result<Server> {
        let (host, port) = args.address(default);
        // Looking the host up blocks, once, before there is any client to
        // keep waiting: the threaded servers' `listen`, as it is.
        let listener = listen(host, port, args.limits.backlog)?;
        // mio wants its sockets nonblocking: no call on them ever waits.
        listener.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(listener);
        let context =
            |e: io::Error| io::Error::new(e.kind(), format!("cannot start the event loop: {e}"));
        let poll = Poll::new().map_err(context)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(context)?;
        let waker = Waker::new(poll.registry(), WAKER).map_err(context)?;
        Ok(Server {
            poll,
            listener,
            waker: Arc::new(waker),
            limits: args.limits,
            max_clients: fit_max_clients(args.limits.max_clients) as usize,
            backoff: FIRST_ACCEPT_BACKOFF,
            paused_until: None,
        })
    }

    /// The port actually bound: with `--port 0`, the one the OS chose.
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map_or(0, |address| address.port())
    }

    // ANCHOR: stop_on_signals
    /// Makes Ctrl-C (SIGINT), SIGTERM and SIGHUP stop the server. Call it
    /// once, before printing the listening line.
    ///
    /// ctrlc runs the handler on a thread of its own. The loop's thread is
    /// inside `poll`, waiting on its sockets; the waker is one more thing
    /// it waits on (an `eventfd`), and `wake` makes it ready. The loop sees
    /// an event with the waker's token, and begins shutdown itself: no
    /// other thread ever touches a client.
    pub fn stop_on_signals(&self) -> io::Result<()> {
        let waker = Arc::clone(&self.waker);
        ctrlc::set_handler(move || {
            let _ = waker.wake();
        })
        .map_err(|e| io::Error::other(format!("cannot handle Ctrl-C: {e}")))
    }
    // ANCHOR_END: stop_on_signals

    /// Serves clients until Ctrl-C, then until every client is done (at
    /// most `SHUTDOWN_GRACE`). Returns how many clients were still
    /// connected when it gave up on them.
    // ANCHOR: run
    pub fn run<S: Service>(mut self, service: &mut S) -> io::Result<usize> {
        let mut clients = Clients::new(self.poll.registry().try_clone()?, &self.limits);
        let mut events = Events::with_capacity(1024);
        let mut stop_by: Option<Instant> = None;
        while !stop_by.is_some_and(|by| clients.is_empty() || Instant::now() >= by) {
            // The one wait: until a socket is ready, or the earliest
            // deadline passes.
            let timeout = wait_at_most(&clients, stop_by);
            match self.poll.poll(&mut events, timeout) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                result => result?,
            }
            // Whatever each ready socket allows, without waiting.
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_clients(&mut clients, service),
                    WAKER if stop_by.is_none() => {
                        stop_by = Some(Instant::now() + SHUTDOWN_GRACE);
                        self.begin_stopping(&mut clients, service);
                    }
                    WAKER => {}
                    token => {
                        if clients.ready(token, event) {
                            serve(&mut clients, service, token);
                        }
                    }
                }
            }
            self.serve_the_owed(&mut clients, service);
            self.act_on_deadlines(&mut clients, service);
            for connection in clients.take_finished() {
                service.disconnected(connection);
            }
        }
        let unfinished = clients.len();
        drop(clients); // Closes every socket still open.
        self.turn_away_waiting_clients();
        Ok(unfinished)
    }
    // ANCHOR_END: run

    /// The clients whose turn ended with data still to read: their next turn.
    fn serve_the_owed<S: Service>(&mut self, clients: &mut Clients<S::Client>, service: &mut S) {
        for token in std::mem::take(&mut clients.owed) {
            if clients.is_serving(token) {
                serve(clients, service, token);
            }
        }
    }

    // ANCHOR: act_on_deadlines
    /// Every deadline that has passed: the accept back-off's end, or a
    /// client's (its lingering close's end, or its idle or write deadline).
    fn act_on_deadlines<S: Service>(&mut self, clients: &mut Clients<S::Client>, service: &mut S) {
        let now = Instant::now();
        while let Some((_, token)) = clients.timers.pop_passed(now) {
            if token == LISTENER {
                self.paused_until = None;
                self.accept_clients(clients, service);
            } else if let Some(which) = clients.expire(token, now) {
                service.timed_out(clients, token, which);
            }
        }
    }
    // ANCHOR_END: act_on_deadlines

    /// Every connection still in the accept queue completed its handshake
    /// before the server stopped: tell it, rather than let it be reset when
    /// the listening socket closes.
    fn turn_away_waiting_clients(mut self) {
        let _ = self.poll.registry().deregister(&mut self.listener);
        let listener = std::net::TcpListener::from(OwnedFd::from(self.listener));
        turn_away_waiting_clients(&listener);
    }
    /// Accepts the clients waiting until the queue is empty (the listener is
    /// edge-triggered too), or `ACCEPTS_PER_TURN` of them. When `accept()`
    /// fails, stops taking from the listener until a deadline, which the
    /// timers keep; after `ACCEPTS_PER_TURN`, until the end of this turn,
    /// the same way.
    fn accept_clients<S: Service>(&mut self, clients: &mut Clients<S::Client>, service: &mut S) {
        if self.paused_until.is_some() || clients.is_stopping() {
            return;
        }
        for _ in 0..ACCEPTS_PER_TURN {
            match self.listener.accept() {
                Ok((stream, address)) => {
                    self.backoff = FIRST_ACCEPT_BACKOFF;
                    self.admit(stream, address, clients, service);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Out of file descriptors, say. Trying again at once
                    // would fail at once, again and again: a core at 100 %.
                    // The waiting clients stay in the kernel's queue.
                    let pause = self.backoff;
                    warn!("accept failed: {e}; trying again in {pause:?}");
                    let until = Instant::now() + pause;
                    clients.timers.arm(until, LISTENER);
                    self.paused_until = Some(until);
                    self.backoff = (pause * 2).min(LONGEST_ACCEPT_BACKOFF);
                    return;
                }
            }
        }
        // More may be waiting: take them once this turn's other events are
        // served (a deadline that has passed already).
        let now = Instant::now();
        clients.timers.arm(now, LISTENER);
        self.paused_until = Some(now);
    }

    /// Makes a client of a new connection, or turns it away if the server is full.
    fn admit<S: Service>(
        &mut self,
        stream: TcpStream,
        address: SocketAddr,
        clients: &mut Clients<S::Client>,
        service: &mut S,
    ) {
        // Replies are whole lines written at once: send each one now.
        let _ = stream.set_nodelay(true);
        if clients.len() >= self.max_clients {
            // The threads' refusal, as it is: every call in it returns at
            // once on a new socket, so it does not hold up the loop.
            turn_away(
                &std::net::TcpStream::from(stream),
                address,
                self.max_clients,
            );
            return;
        }
        match clients.insert(stream, address, S::Client::default()) {
            Ok(token) => {
                service.connected(clients, token);
                serve(clients, service, token);
            }
            Err(e) => warn!("cannot watch the connection from {address}: {e}"),
        }
    }

    // ANCHOR: begin_stopping
    /// Ctrl-C: no new clients, and every client is served one last time,
    /// with what it had sent before the signal. A read that then finds
    /// nothing is the end of its input, so each session ends as if its
    /// client had closed (with the server's own last words).
    fn begin_stopping<S: Service>(&mut self, clients: &mut Clients<S::Client>, service: &mut S) {
        let _ = self.poll.registry().deregister(&mut self.listener);
        clients.begin_stopping();
        service.stopping(clients);
        for token in clients.wind_down() {
            serve(clients, service, token);
        }
    }
    // ANCHOR_END: begin_stopping
}

/// Serves one client, with a fresh read budget.
fn serve<S: Service>(clients: &mut Clients<S::Client>, service: &mut S, token: Token) {
    clients.budget = READ_BUDGET;
    service.serve(clients, token);
}

/// How long the loop may wait: until the earliest deadline, or the end of
/// the shutdown's grace; not at all if a client still has data to read.
fn wait_at_most<T>(clients: &Clients<T>, stop_by: Option<Instant>) -> Option<Duration> {
    if !clients.owed.is_empty() {
        return Some(Duration::ZERO);
    }
    let now = Instant::now();
    let grace_left = stop_by.map(|by| by.saturating_duration_since(now));
    earliest(clients.timers.timeout(now), grace_left)
}

/// The earlier of two timeouts, where `None` is for ever.
fn earliest(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
