//! Accepting: the part of a threaded server before a client has a thread.
//!
//! A [`Server`] owns the listening socket. Its [`Server::next_client`] is the
//! original's `server_socket.accept()` with the failure cases handled: it
//! turns away the connection that wakes it at shutdown, turns away clients
//! past `--max-clients` with one `ERROR: ...` line, and backs off when
//! `accept()` fails (running out of file descriptors makes it fail at once,
//! again and again: retrying at once would spin a core at 100 %).
//!
//! Binding does one thing to the process besides opening the socket: it
//! raises the soft open-file limit (`ulimit -n`) to what `--max-clients`
//! needs, within the hard limit ([`fit_max_clients`]). Listening
//! and refusing are the core's ([`crate::listening`]). It installs
//! no signal handler: a binary wires Ctrl-C to [`Server::stopper`] itself,
//! and a test can stop a server by calling it.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use crate::cli::{Limits, ServerArgs};
use crate::limits::{CLIENT_THREAD_STACK, fit_max_clients, room_for_a_client_thread};
use crate::listening::{listen, refuse, turn_away, turn_away_waiting_clients};
use crate::protocol::{BUSY, SHUTTING_DOWN};
use crate::timing::{FIRST_ACCEPT_BACKOFF, LONGEST_ACCEPT_BACKOFF};
use crate::warn;

use super::connections::{Client, Connections, ServerHandle};
use super::shutdown::{Shutdown, Stopper};

/// A listening server: the socket, the limits, and who is connected.
pub struct Server {
    listener: TcpListener,
    limits: Limits,
    max_clients: usize,
    shutdown: Arc<Shutdown>,
    connections: Arc<Connections>,
    /// What every handler gets with its client.
    handle: ServerHandle,
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
        let shutdown = Arc::<Shutdown>::default();
        Ok(Server {
            listener: listen(host, port, args.limits.backlog)?,
            limits: args.limits,
            max_clients: fit_max_clients(args.limits.max_clients) as usize,
            handle: ServerHandle {
                idle_timeout: args.limits.idle_timeout,
                shutdown: Arc::clone(&shutdown),
            },
            shutdown,
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

    /// The registry of every connected client, under its number. The
    /// queue server routes its replies through it (its `client_connections`).
    pub fn connections(&self) -> Arc<Connections> {
        Arc::clone(&self.connections)
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
        match self
            .connections
            .admit(Arc::clone(&stream), self.max_clients)
        {
            Some(connection) => Some(Client::new(address, connection, self.handle.clone())),
            None => {
                turn_away(&stream, address, self.max_clients);
                None
            }
        }
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
