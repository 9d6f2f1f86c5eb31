//! Shutdown: the flag every thread checks, and how Ctrl-C raises it.
//!
//! The hard part is not the flag, it is the main thread: it sits in a
//! blocking `accept()` and will not look at any flag until the next client
//! arrives, which may be never. Neither closing the listener from another
//! thread nor the signal itself wakes it (std retries `accept` on `EINTR`).
//! So stopping a server is two steps ([`Stopper::stop`]): raise the flag,
//! then wake `accept()` by connecting to the server, as its next client.
//! The accept loop checks the flag before it looks at what `accept()`
//! returned, so that connection is turned away and never counts as a client.
//!
//! Nothing here touches the process until a binary asks: a test can build a
//! server, stop it with [`Stopper::stop`] and build another. Only
//! [`stop_on_signals`], which a binary calls once, installs a signal handler.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown as Direction, SocketAddr, TcpListener};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use socket2::{Domain, SockRef, Socket, Type};

use crate::timing::WAKE_TIMEOUT;

/// Whether the server is shutting down, shared by every thread that needs to know.
#[derive(Debug, Default)]
pub struct Shutdown {
    /// `true` once shutdown began. A `Mutex` rather than an atomic so that
    /// [`Shutdown::stops_within`] can sleep on the `Condvar` beside it.
    stopping: Mutex<bool>,
    /// Wakes every thread sleeping in [`Shutdown::stops_within`] when shutdown begins.
    began: Condvar,
}

impl Shutdown {
    /// True once shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        *self.stopping.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Begins shutdown and wakes every thread in [`Shutdown::stops_within`].
    /// Returns false if shutdown had already begun (a second Ctrl-C).
    pub fn begin(&self) -> bool {
        let mut stopping = self.stopping.lock().unwrap_or_else(PoisonError::into_inner);
        let first = !*stopping;
        *stopping = true;
        self.began.notify_all();
        first
    }

    /// Sleeps for `pause`, or less if shutdown begins meanwhile.
    /// True if the server is shutting down.
    pub fn stops_within(&self, pause: Duration) -> bool {
        let stopping = self.stopping.lock().unwrap_or_else(PoisonError::into_inner);
        let (stopping, _) = self
            .began
            .wait_timeout_while(stopping, pause, |stopping| !*stopping)
            .unwrap_or_else(PoisonError::into_inner);
        *stopping
    }
}

/// What stops one server: its shutdown flag, and a way to wake its `accept()`.
pub struct Stopper {
    shutdown: Arc<Shutdown>,
    /// A second handle on the listening socket (a duplicate file
    /// descriptor), valid for as long as the stopper lives.
    listener: TcpListener,
    /// The socket to connect with, made in advance: at shutdown the process
    /// may have no file descriptor left to make one (a server under
    /// `ulimit -n` pressure is exactly the one being stopped).
    wake_socket: Mutex<Option<Socket>>,
}

impl Stopper {
    /// A stopper for the server listening on `listener`, with flag `shutdown`.
    pub fn new(listener: &TcpListener, shutdown: Arc<Shutdown>) -> io::Result<Stopper> {
        let domain = Domain::for_address(listener.local_addr()?);
        Ok(Stopper {
            shutdown,
            listener: listener.try_clone()?,
            wake_socket: Mutex::new(Some(Socket::new(domain, Type::STREAM, None)?)),
        })
    }

    // ANCHOR: stop
    /// Stops the server: raises the flag, then wakes the accept loop so that
    /// it sees it. Safe to call again (a second Ctrl-C); never panics.
    pub fn stop(&self) {
        if self.shutdown.begin() {
            self.wake_accept();
        }
    }

    /// Makes a blocked `accept()` on the listener return now.
    fn wake_accept(&self) {
        // Be the next client. Unlike shutting the listening socket down, this
        // leaves any client still waiting in the accept queue in it, to be
        // told that the server is stopping rather than reset.
        if self.connect_to_self().is_ok() {
            return;
        }
        // Last resort, on Linux: a listening socket shut down for reading
        // fails every accept(), the one already waiting included.
        let _ = SockRef::from(&self.listener).shutdown(Direction::Read);
    }

    fn connect_to_self(&self) -> io::Result<()> {
        let mut address = self.listener.local_addr()?;
        // Listening on 0.0.0.0 or [::] means "every address", which is not
        // something to connect to: use loopback.
        if address.ip().is_unspecified() {
            address.set_ip(match address {
                SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            });
        }
        let socket = self
            .wake_socket
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or_else(|| io::Error::other("already used"))?;
        // With a timeout: if the accept queue is full, a plain connect could hang.
        socket.connect_timeout(&address.into(), WAKE_TIMEOUT)
    }
    // ANCHOR_END: stop
}

// ANCHOR: stop_on_signals
/// Makes Ctrl-C (SIGINT), SIGTERM and SIGHUP stop the server. Call it once,
/// before printing the listening line: a signal that arrives earlier would
/// kill the process the default way.
pub fn stop_on_signals(stopper: Stopper) -> io::Result<()> {
    // ctrlc runs this on a thread of its own, not inside the signal handler,
    // so it may lock and make system calls. It must not panic: that would
    // end the handler thread, and a second Ctrl-C would do nothing.
    ctrlc::set_handler(move || stopper.stop())
        .map_err(|e| io::Error::other(format!("cannot handle Ctrl-C: {e}")))
}
// ANCHOR_END: stop_on_signals
