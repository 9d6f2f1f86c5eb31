//! Shutdown wiring: Ctrl-C and SIGTERM stop the accept loop at once.
//!
//! The hard part is not the flag, it is the main thread: it sits in a
//! blocking `accept()` and will not look at any flag until the next client
//! arrives, which may be never. Neither closing the listener from another
//! thread nor the signal itself wakes it (std retries `accept` on `EINTR`).
//! So the signal handler does two things: it raises the flag, then it wakes
//! `accept()`:
//!
//! * on Linux, by shutting down the listening socket's read side, which
//!   makes a blocked `accept()` return an error at once;
//! * elsewhere (macOS and Windows refuse that call), by connecting to the
//!   server itself. The accept loop checks the flag before it looks at what
//!   `accept()` returned, so this wake-up connection is dropped and never
//!   counts as a client.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use socket2::SockRef;

/// Whether the server is shutting down, shared by every thread that needs to know.
#[derive(Debug, Default)]
pub struct Shutdown {
    /// `true` once a shutdown signal arrived. A `Mutex` rather than an atomic
    /// so that [`Shutdown::wait`] can sleep on the `Condvar` beside it.
    stopping: Mutex<bool>,
    /// Wakes every thread sleeping in [`Shutdown::wait`] when shutdown begins.
    began: Condvar,
}

impl Shutdown {
    /// True once shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        *self.stopping.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Begins shutdown and wakes every thread in [`Shutdown::wait`]. Returns
    /// false if shutdown had already begun (a second Ctrl-C).
    pub fn begin(&self) -> bool {
        let mut stopping = self.stopping.lock().unwrap_or_else(PoisonError::into_inner);
        let first = !*stopping;
        *stopping = true;
        self.began.notify_all();
        first
    }

    /// Sleeps for `pause`, or less if shutdown begins meanwhile.
    /// Returns true if the server is shutting down.
    pub fn wait(&self, pause: Duration) -> bool {
        let stopping = self.stopping.lock().unwrap_or_else(PoisonError::into_inner);
        let (stopping, _) = self
            .began
            .wait_timeout_while(stopping, pause, |stopping| !*stopping)
            .unwrap_or_else(PoisonError::into_inner);
        *stopping
    }
}

/// Installs the Ctrl-C / SIGTERM handler for a server listening on `listener`.
///
/// Call it once, before printing the listening line: a signal that arrives
/// earlier would otherwise kill the process the default way.
pub fn on_ctrl_c(listener: &TcpListener) -> std::io::Result<Arc<Shutdown>> {
    let shutdown = Arc::new(Shutdown::default());
    // The handler owns its own handle on the listening socket (a duplicate
    // file descriptor), so the socket is still valid whenever a signal comes.
    let wake_handle = listener.try_clone()?;
    let for_handler = Arc::clone(&shutdown);
    // ANCHOR: ctrl_c_handler
    // ctrlc runs this on its own thread, not inside the signal handler, so it
    // may lock and make system calls. It must not panic: that would end the
    // handler thread and a second Ctrl-C would do nothing.
    ctrlc::set_handler(move || {
        // A second signal needs nothing more: accept() is already awake.
        if for_handler.begin() {
            wake_accept(&wake_handle);
        }
    })
    .map_err(std::io::Error::other)?;
    // ANCHOR_END: ctrl_c_handler
    Ok(shutdown)
}

// ANCHOR: wake_accept
/// Makes a blocked `accept()` on this listener return now. Never panics.
pub fn wake_accept(listener: &TcpListener) {
    // Linux: a listening socket shut down for reading fails every accept(),
    // the one already waiting included.
    if SockRef::from(listener)
        .shutdown(std::net::Shutdown::Read)
        .is_ok()
    {
        return;
    }
    connect_to_self(listener);
}

/// The way to wake `accept()` where shutting down a listener does not work
/// (macOS, Windows): be the next client. Never panics.
pub fn connect_to_self(listener: &TcpListener) {
    // The address may be 0.0.0.0 or [::] ("any address"), which is not
    // something to connect to: use loopback.
    let Ok(mut address) = listener.local_addr() else {
        return;
    };
    if address.ip().is_unspecified() {
        address.set_ip(match address {
            SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    // With a timeout: if the accept queue is full, a plain connect could hang.
    let _ = TcpStream::connect_timeout(&address, Duration::from_secs(1));
}
// ANCHOR_END: wake_accept

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    /// Both ways of waking a blocked `accept()` work. Linux uses the first,
    /// so the second is tested here, where a test can reach it.
    #[test]
    fn both_wake_ups_end_a_blocked_accept() {
        for wake in [wake_accept, connect_to_self] {
            let listener = TcpListener::bind("0.0.0.0:0").unwrap();
            let handle = listener.try_clone().unwrap();
            let accepting = thread::spawn(move || {
                let _ = handle.accept();
            });
            // Give accept() time to block; if the wake-up came first, the
            // connection waits in the backlog and accept() returns anyway.
            thread::sleep(Duration::from_millis(50));
            wake(&listener);
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while !accepting.is_finished() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "accept() was not woken"
                );
                thread::sleep(Duration::from_millis(5));
            }
        }
    }
}
