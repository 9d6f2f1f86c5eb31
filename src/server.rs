//! Listening and accepting: the part of every server before a client has a thread.
//!
//! A [`Server`] owns the listening socket. Its [`Server::next_client`] is the
//! original's `server_socket.accept()` with the failure cases handled: it
//! turns away the connection that wakes it at shutdown, turns away clients
//! past `--max-clients` with one `ERROR: ...` line, and backs off when
//! `accept()` fails (running out of file descriptors makes it fail at once,
//! again and again: retrying at once would spin a core at 100 %).
//!
//! Binding does one thing to the process besides opening the socket: it
//! raises the soft open-file limit (`ulimit -n`) as far as the hard limit
//! allows, so that `--max-clients` fits ([`fit_max_clients`]). It installs
//! no signal handler: a binary wires Ctrl-C to [`Server::stopper`] itself,
//! and a test can stop a server by calling it.

use std::io::{self, Read};
use std::net::{Shutdown as Direction, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::cli::{Limits, ServerArgs};
use crate::connections::{Client, Connections, LINGER_BYTES};
use crate::framing::send_line;
use crate::limits::{CLIENT_THREAD_STACK, fit_max_clients, room_for_a_client_thread};
use crate::protocol::{BUSY, SHUTTING_DOWN, too_many_clients};
use crate::shutdown::{Shutdown, Stopper};
use crate::{say, warn};

/// How long shutdown waits for client threads to finish before exiting anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(800);
/// The first pause after a failed `accept()`; each failure in a row doubles it.
pub(crate) const FIRST_ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// The longest pause after a failed `accept()`.
pub(crate) const LONGEST_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// A listening server: the socket, the limits, and who is connected.
pub struct Server {
    listener: TcpListener,
    limits: Limits,
    max_clients: usize,
    shutdown: Arc<Shutdown>,
    connections: Arc<Connections>,
    /// The most clients (so, client threads) connected at once so far.
    most_clients: AtomicUsize,
}

impl Server {
    /// Binds `--host`:`--port` (or the lesson's `default` address) with the
    /// `--backlog`, and raises the process's open-file limit to fit
    /// `--max-clients` ([`fit_max_clients`]). The error names the address
    /// and the cause, ready to print.
    pub fn bind(args: &ServerArgs, default: (&str, u16)) -> io::Result<Server> {
        let (host, port) = args.address(default);
        Ok(Server {
            listener: listen(host, port, args.limits.backlog)?,
            limits: args.limits,
            max_clients: fit_max_clients(args.limits.max_clients) as usize,
            shutdown: Arc::default(),
            connections: Arc::default(),
            most_clients: AtomicUsize::new(0),
        })
    }

    /// The port actually bound: with `--port 0`, the one the OS chose.
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map_or(0, |address| address.port())
    }

    /// What stops this server, from another thread: a signal handler, or a test.
    pub fn stopper(&self) -> io::Result<Stopper> {
        Stopper::new(&self.listener, Arc::clone(&self.shutdown))
    }

    /// True once the server is shutting down.
    pub fn is_stopping(&self) -> bool {
        self.shutdown.is_stopping()
    }

    /// How many clients are connected right now.
    pub fn client_count(&self) -> usize {
        self.connections.count()
    }

    // ANCHOR: next_client
    /// Waits for the next client. Returns `None` once the server is shutting down.
    pub fn next_client(&self) -> Option<Client> {
        let mut backoff = FIRST_ACCEPT_BACKOFF;
        loop {
            let accepted = self.listener.accept();
            // First the flag, then the result: at shutdown `accept` returns
            // the wake-up connection (or an error), and neither is a client.
            // A real client that arrived in that same instant is told.
            if self.is_stopping() {
                if let Ok((stream, _)) = accepted {
                    refuse(&stream, SHUTTING_DOWN);
                }
                return None;
            }
            match accepted {
                Ok((stream, address)) => {
                    if let Some(client) = self.admit(stream, address) {
                        return Some(client);
                    }
                }
                Err(e) => {
                    // Out of file descriptors, or a connection that died in
                    // the queue. Waiting lets clients leave and frees their
                    // descriptors; the waiting client stays in the backlog.
                    warn!("accept failed: {e}; trying again in {backoff:?}");
                    if self.shutdown.stops_within(backoff) {
                        return None;
                    }
                    backoff = (backoff * 2).min(LONGEST_ACCEPT_BACKOFF);
                }
            }
        }
    }
    // ANCHOR_END: next_client

    /// Records a new connection, or turns it away if the server is full.
    fn admit(&self, stream: TcpStream, address: SocketAddr) -> Option<Client> {
        if !self.room_for_another_thread() {
            warn!(
                "cannot start a thread for {address}: the address space (ulimit -v) is nearly used up"
            );
            refuse(&stream, BUSY);
            return None;
        }
        // Replies are whole lines written at once: send each one now.
        // Otherwise Nagle's algorithm holds a small write back while an
        // earlier one is unacknowledged, and the client's kernel may delay
        // that acknowledgement (Linux: 40 ms at least, up to 200 ms): a
        // second reply written before the first is acknowledged waits that
        // long. (Measured on loopback: two small writes per reply took
        // 44 ms a round trip without TCP_NODELAY, 0.03 ms with it.)
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(self.limits.write_timeout.duration());
        let stream = Arc::new(stream);
        let max = self.max_clients;
        let idle_timeout = self.limits.idle_timeout;
        let client = self.connections.admit(
            Arc::clone(&stream),
            address,
            max,
            idle_timeout,
            &self.shutdown,
        );
        if client.is_none() {
            turn_away(&stream, address, max);
        }
        client
    }

    /// Under an address-space limit (`ulimit -v`), a new client's thread
    /// could take the last of it, and the next allocation anywhere in the
    /// server would abort the process: so no new thread while less than
    /// [`ADDRESS_SPACE_RESERVE`](crate::limits::ADDRESS_SPACE_RESERVE) is left.
    ///
    /// Only past the most clients ever connected at once: with fewer, a new
    /// thread takes the stack a departed one left (the C library keeps
    /// freed stacks for reuse, still counted as used address space), and
    /// needs none.
    fn room_for_another_thread(&self) -> bool {
        let clients = self.connections.count();
        if clients < self.most_clients.load(Ordering::Relaxed) {
            return true;
        }
        let room = room_for_a_client_thread();
        if room {
            self.most_clients.store(clients + 1, Ordering::Relaxed);
        }
        room
    }

    // ANCHOR: close_all_clients
    /// Shutdown, second half: ends every client's wait for input, waits (at
    /// most `grace`) for the client threads to finish, then tells every
    /// client still waiting in the accept queue that the server is stopping.
    /// Returns how many clients were still connected when it gave up.
    ///
    /// A client thread blocked in a read gets end of stream, as if the client
    /// had closed; data the client sent before this is still read first.
    pub fn close_all_clients(&self, grace: Duration) -> usize {
        self.connections.end_all_reads();
        let unfinished = self.connections.wait_until_empty(grace);
        self.turn_away_waiting_clients();
        unfinished
    }

    /// Every connection already in the accept queue completed its handshake
    /// before the server stopped: answer it rather than let it be reset when
    /// the listening socket closes. (Last, so that the threads that just
    /// ended have freed their file descriptors for these.)
    fn turn_away_waiting_clients(&self) {
        turn_away_waiting_clients(&self.listener);
    }
    // ANCHOR_END: close_all_clients
}

/// Tells every connection waiting in `listener`'s accept queue that the
/// server is stopping, then closes the queue.
pub(crate) fn turn_away_waiting_clients(listener: &TcpListener) {
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    while let Ok((stream, _)) = listener.accept() {
        let _ = stream.set_nonblocking(false);
        refuse(&stream, SHUTTING_DOWN);
    }
    // From now on a client that tries to connect is refused at once (on
    // Linux) instead of waiting in a queue nobody will read.
    let _ = SockRef::from(listener).shutdown(Direction::Read);
}

/// Turns away a client past `--max-clients`: one log line, one `ERROR: ...` line, closed.
pub(crate) fn turn_away(stream: &TcpStream, address: SocketAddr, max: usize) {
    say!("Refused {address}: too many clients (--max-clients {max})");
    refuse(stream, &too_many_clients(max));
}

// ANCHOR: spawn_client_thread
/// Runs `handler` for `client` on a new thread of its own: the original's
/// `threading.Thread(target=handle_client, ...).start()`.
///
/// `thread::spawn` panics when the OS cannot create another thread; this
/// uses `thread::Builder`, which returns the error, and tells the client.
pub fn spawn_client_thread<F>(client: Client, handler: F)
where
    F: FnOnce(Client) + Send + 'static,
{
    let stream = client.shared_stream();
    let address = client.address;
    let spawned = thread::Builder::new()
        .name(format!("client {address}"))
        .stack_size(CLIENT_THREAD_STACK)
        .spawn(move || handler(client));
    if let Err(e) = spawned {
        warn!("cannot start a thread for {address}: {e}");
        refuse(&stream, BUSY);
    }
}
// ANCHOR_END: spawn_client_thread

// ANCHOR: listen_on
/// Opens a listening socket on `host`:`port` with room for `backlog` waiting connections.
///
/// `TcpListener::bind` always asks for a backlog of 128. When that queue is
/// full, Linux silently drops new connection attempts and the clients retry
/// a second later, then two, then four: a burst of clients looks like a
/// server that hangs. socket2 lets us choose.
pub fn listen(host: &str, port: u16, backlog: i32) -> io::Result<TcpListener> {
    let context = |e: io::Error| {
        let hint = match e.kind() {
            // A server that stopped less than a minute ago can hold the
            // port too: its closed connections wait out TIME_WAIT.
            io::ErrorKind::AddrInUse => {
                " (is another server running there, or did one stop in the last minute? \
                 try another --port, or --port 0)"
            }
            io::ErrorKind::AddrNotAvailable => " (is that address one of this machine's?)",
            _ => "",
        };
        io::Error::new(
            e.kind(),
            format!("cannot listen on {host}:{port}: {e}{hint}"),
        )
    };
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, "no address found");
    for address in (host, port).to_socket_addrs().map_err(context)? {
        match listen_on(address, backlog) {
            Ok(listener) => return Ok(listener),
            Err(e) => last_error = e,
        }
    }
    Err(context(last_error))
}

fn listen_on(address: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    // As std does on Unix: a restarted server may bind its port again while
    // connections from its last run are still in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}
// ANCHOR_END: listen_on

/// Sends one `ERROR: ...` line and closes, without waiting for the client.
///
/// Used on the accept thread, which must not linger: what the client already
/// sent is discarded so the close is a normal one, anything later is not.
fn refuse(stream: &TcpStream, line: &str) {
    // A fresh socket's send buffer is empty, so this does not block; the
    // timeout is there in case it somehow would.
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let _ = send_line(stream, line);
    let _ = stream.shutdown(Direction::Write);
    if stream.set_nonblocking(true).is_ok() {
        let mut scratch = [0u8; 1024];
        let mut discarded = 0;
        while let Ok(n @ 1..) = (&*stream).read(&mut scratch) {
            discarded += n;
            if discarded >= LINGER_BYTES {
                break;
            }
        }
    }
}
