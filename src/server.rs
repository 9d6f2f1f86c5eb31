//! The part every server shares: listen, accept, admit, hand over, shut down.
//!
//! A [`Server`] owns the listening socket. Its [`Server::next_client`] is the
//! seed's `server_socket.accept()` with the failure cases handled: it skips
//! the wake-up connection made at shutdown, turns away clients past
//! `--max-clients` with one `ERROR: ...` line, and backs off when `accept()`
//! fails (running out of file descriptors makes it fail at once, again and
//! again: retrying at once would spin a core at 100 %).
//!
//! Every admitted connection is recorded in [`Connections`], which is how the
//! server counts clients against the limit and how, at shutdown, it reaches
//! every client thread blocked in a read.

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{Shutdown as Direction, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::cli::{Limits, ServerArgs};
use crate::console;
use crate::framing::send_line;
use crate::shutdown::{self, Shutdown};
use crate::{say, warn};

/// Stack size for a client thread. Rust's default is 2 MiB of address space;
/// a client thread here needs a small fraction of that, and 10,000 clients
/// times 2 MiB would reserve 20 GiB.
pub const CLIENT_THREAD_STACK: usize = 256 * 1024;

/// How long a finished connection waits for the client to close its side.
const LINGER_TIME: Duration = Duration::from_secs(2);
/// How much a finished connection reads and throws away while it waits.
const LINGER_BYTES: usize = 1024 * 1024;
/// How long shutdown waits for client threads to finish before exiting anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_millis(900);
/// How long the server waits on its way out for the console to catch up.
const CONSOLE_FLUSH: Duration = Duration::from_millis(500);
/// First and longest pause after a failed `accept()`.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(1));

/// What a client that is still waiting is told when the server stops.
pub const SHUTTING_DOWN: &str = "ERROR: server is shutting down";
/// `--max-clients` when it is not given, as Redis's `maxclients`.
pub const DEFAULT_MAX_CLIENTS: u32 = 10_000;
/// File descriptors kept free beyond one per client: stdio, the listener,
/// and room to accept a client past `--max-clients` to tell it so (Redis keeps 32).
const SPARE_FILES: u64 = 32;

/// A listening server: the socket, the limits, and who is connected.
pub struct Server {
    listener: TcpListener,
    limits: Limits,
    max_clients: usize,
    shutdown: Arc<Shutdown>,
    connections: Arc<Connections>,
}

impl Server {
    /// Binds `--host`:`--port` (or the lesson's `default` address) with the
    /// `--backlog`, and installs the Ctrl-C / SIGTERM handler.
    ///
    /// The error names the address and the cause, ready to print.
    pub fn start(args: &ServerArgs, default: (&str, u16)) -> io::Result<Server> {
        let (host, port) = args.address(default);
        let listener = listen(host, port, args.limits.backlog)?;
        let shutdown = shutdown::on_ctrl_c(&listener)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot handle Ctrl-C: {e}")))?;
        // From here on, logging never makes a client wait (see `console`).
        console::start_printer().map_err(|e| {
            io::Error::new(e.kind(), format!("cannot start the console printer: {e}"))
        })?;
        Ok(Server {
            listener,
            limits: args.limits,
            max_clients: fit_to_open_file_limit(args.limits.max_clients) as usize,
            shutdown,
            connections: Arc::default(),
        })
    }

    /// The port actually bound: with `--port 0`, the one the OS chose.
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map_or(0, |address| address.port())
    }

    /// The shutdown flag, for threads that must notice it.
    pub fn shutdown(&self) -> &Arc<Shutdown> {
        &self.shutdown
    }

    /// How many clients are connected right now.
    pub fn client_count(&self) -> usize {
        self.connections.count()
    }

    // ANCHOR: next_client
    /// Waits for the next client. Returns `None` once the server is shutting down.
    pub fn next_client(&self) -> Option<Client> {
        let mut backoff = ACCEPT_BACKOFF.0;
        loop {
            let accepted = self.listener.accept();
            // First the flag, then the result: at shutdown `accept` returns
            // an error (Linux) or the wake-up connection (elsewhere), and
            // neither is a client. A real client that arrived in that same
            // instant is told, not dropped in silence.
            if self.shutdown.is_stopping() {
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
                    if self.shutdown.wait(backoff) {
                        return None;
                    }
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF.1);
                }
            }
        }
    }
    // ANCHOR_END: next_client

    /// Records a new connection, or turns it away if the server is full.
    fn admit(&self, stream: TcpStream, address: SocketAddr) -> Option<Client> {
        let max_clients = self.max_clients;
        let stream = Arc::new(stream);
        let Some(key) = self.connections.open(&stream, max_clients) else {
            say!("Refused {address}: too many clients (--max-clients {max_clients})");
            refuse(
                &stream,
                &format!("ERROR: too many clients (limit {max_clients}); try again later"),
            );
            return None;
        };
        // Replies are whole lines written at once: send each one now rather
        // than waiting to fill a packet (Nagle's algorithm would add up to
        // 40 ms to some replies).
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(self.limits.write_timeout());
        Some(Client {
            stream,
            address,
            idle_timeout: self.limits.idle_timeout(),
            shutdown: Arc::clone(&self.shutdown),
            _slot: ConnectionSlot {
                key,
                connections: Arc::clone(&self.connections),
            },
        })
    }

    /// Shutdown, second half: ends every client's wait for input, then waits
    /// (at most `grace`) for the client threads to finish. Returns how many
    /// clients were still connected when it gave up.
    ///
    /// A client thread blocked in a read gets end of stream, as if the client
    /// had closed; data the client sent before this is still read first.
    pub fn close_all_clients(&self, grace: Duration) -> usize {
        self.connections.end_all_reads();
        self.connections.wait_until_empty(grace)
    }
}

impl Drop for Server {
    /// The server's last act: give the console printer a moment to write
    /// the last lines, which would otherwise die with the process.
    fn drop(&mut self) {
        console::flush(CONSOLE_FLUSH);
    }
}

/// One admitted client: its socket, its address, and its place in the count.
///
/// Dropping a `Client` closes the connection and frees its place under
/// `--max-clients`, whichever way the thread ends, a panic included.
pub struct Client {
    stream: Arc<TcpStream>,
    /// The client's address and port, as the seed's `addr`.
    pub address: SocketAddr,
    idle_timeout: Option<Duration>,
    shutdown: Arc<Shutdown>,
    /// Held only to be dropped: that frees the place under `--max-clients`.
    _slot: ConnectionSlot,
}

impl Client {
    /// The socket. `&TcpStream` implements `Read` and `Write`.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// A second handle on the socket, for a thread that writes to this client.
    pub fn shared_stream(&self) -> Arc<TcpStream> {
        Arc::clone(&self.stream)
    }

    /// The `--idle-timeout`, or `None` if it is off.
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }

    /// True once the server is shutting down.
    pub fn server_is_stopping(&self) -> bool {
        self.shutdown.is_stopping()
    }

    /// Sends one line, adding the `\n`.
    pub fn send_line(&self, line: &str) -> io::Result<()> {
        send_line(&self.stream, line)
    }

    /// Ends the conversation so that everything sent so far arrives (see
    /// [`close_gracefully`]). The socket itself, and the client's place under
    /// `--max-clients`, are let go when the `Client` is dropped: at the end of
    /// its thread, after its last log line, which is what shutdown waits for.
    pub fn close(&self) {
        close_gracefully(&self.stream);
    }
}

// ANCHOR: spawn_client_thread
/// Runs `handler` for `client` on a new thread of its own: the seed's
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
        refuse(
            &stream,
            "ERROR: server is busy (no thread available); try again later",
        );
    }
}
// ANCHOR_END: spawn_client_thread

/// The most clients this process can hold, and makes room for them.
///
/// Every client is an open file (its socket), and a process may open only
/// `ulimit -n` files: often 1024. Past that, `accept()` fails and new clients
/// wait in the backlog unanswered, the silent stall a limit is meant to
/// prevent. So the soft limit is raised as far as the hard limit allows, and
/// the default `--max-clients` is lowered to what fits, with a warning. An
/// explicit `--max-clients` is kept, with a warning if it cannot fit.
fn fit_to_open_file_limit(requested: Option<u32>) -> u32 {
    let wanted = requested.unwrap_or(DEFAULT_MAX_CLIENTS);
    let Some(limit) = raise_open_file_limit(u64::from(wanted) + SPARE_FILES) else {
        return wanted; // Unknown here: nothing to fit to.
    };
    let room = u32::try_from(limit.saturating_sub(SPARE_FILES))
        .unwrap_or(u32::MAX)
        .max(1);
    if room >= wanted {
        return wanted;
    }
    match requested {
        None => {
            warn!(
                "note: at most {room} clients at once, not {wanted}: the open-file limit (ulimit -n) is {limit}"
            );
            room
        }
        Some(_) => {
            warn!(
                "warning: --max-clients {wanted} does not fit the open-file limit (ulimit -n) of {limit}; past about {room} clients, new ones will wait unanswered"
            );
            wanted
        }
    }
}

/// Raises the soft open-file limit towards `wanted` (not past the hard limit)
/// and returns the limit in force; `None` if it cannot be read.
#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // `rlim_t` is `u64` here, but not on every Unix.
pub fn raise_open_file_limit(wanted: u64) -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into the struct we own and pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    let wanted = wanted as libc::rlim_t;
    if limit.rlim_cur < wanted && limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: wanted.min(limit.rlim_max),
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    Some(limit.rlim_cur as u64)
}

#[cfg(not(unix))]
pub fn raise_open_file_limit(_wanted: u64) -> Option<u64> {
    None
}

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
            io::ErrorKind::AddrInUse => {
                " (is another server running there? try another --port, or --port 0)"
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

// ANCHOR: close_gracefully
/// Closes a connection so that the client receives everything sent before.
///
/// Closing a socket that still holds unread data from the client makes the
/// kernel send a reset (RST) instead of a normal end of stream, and a reset
/// can make the client's side discard our last reply before the client
/// reads it. So: say we are done writing (the client reads end of stream),
/// then read and discard what the client still sends until it closes too,
/// for at most [`LINGER_TIME`] and [`LINGER_BYTES`].
pub fn close_gracefully(stream: &TcpStream) {
    if stream.shutdown(Direction::Write).is_err() {
        return; // Already gone.
    }
    let deadline = Instant::now() + LINGER_TIME;
    let mut discarded = 0;
    let mut scratch = [0u8; 1024];
    while discarded < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match (&*stream).read(&mut scratch) {
            Ok(0) => break,
            Ok(n) => discarded += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}
// ANCHOR_END: close_gracefully

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

/// Every open connection, so the server can count them and reach them all at shutdown.
#[derive(Default)]
struct Connections {
    /// Locked briefly, to add, remove, count or shut down; never during I/O
    /// that can block (`shutdown()` on a socket returns at once).
    open: Mutex<OpenConnections>,
    /// Signalled whenever a connection closes, for [`Connections::wait_until_empty`].
    closed: Condvar,
}

#[derive(Default)]
struct OpenConnections {
    next_key: u64,
    streams: HashMap<u64, Arc<TcpStream>>,
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, OpenConnections> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records `stream` unless `max` connections are already open.
    fn open(&self, stream: &Arc<TcpStream>, max: usize) -> Option<u64> {
        let mut open = self.lock();
        if open.streams.len() >= max {
            return None;
        }
        open.next_key += 1;
        let key = open.next_key;
        open.streams.insert(key, Arc::clone(stream));
        Some(key)
    }

    fn forget(&self, key: u64) {
        self.lock().streams.remove(&key);
        self.closed.notify_all();
    }

    fn count(&self) -> usize {
        self.lock().streams.len()
    }

    /// Shuts down the reading side of every connection: each blocked read returns end of stream.
    fn end_all_reads(&self) {
        for stream in self.lock().streams.values() {
            let _ = stream.shutdown(Direction::Read);
        }
    }

    /// Waits until no connection is open, or `timeout` passes. Returns how many are left.
    fn wait_until_empty(&self, timeout: Duration) -> usize {
        let open = self.lock();
        let (open, _) = self
            .closed
            .wait_timeout_while(open, timeout, |open| !open.streams.is_empty())
            .unwrap_or_else(PoisonError::into_inner);
        open.streams.len()
    }
}

/// A client's place in [`Connections`] (and under `--max-clients`); dropping it frees the place.
struct ConnectionSlot {
    key: u64,
    connections: Arc<Connections>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.connections.forget(self.key);
    }
}
