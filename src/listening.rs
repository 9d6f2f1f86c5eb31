//! Listening and refusing: what every server does before a client is its
//! own, whatever serves it (a thread, an event loop, a task).
//!
//! [`listen`] opens the listening socket with a real backlog; std's
//! `TcpListener::bind` would ask for 128. [`turn_away`] and [`refuse`]
//! answer a connection the server will not serve (too many clients, no
//! thread for it, shutting down) with one `ERROR: ...` line and a close
//! that does not wait; [`turn_away_waiting_clients`] does it for every
//! connection still in the accept queue when the server stops.
//!
//! Everything here works on `std`'s sockets and never waits on a client:
//! the async and event-loop servers hand their sockets here as `std`'s.

use std::io::{self, Read, Write};
use std::net::{Shutdown as Direction, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::protocol::{SHUTTING_DOWN, too_many_clients};
use crate::say;
use crate::timing::{LINGER_BYTES, REFUSAL_WRITE_TIMEOUT};

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
pub fn refuse(stream: &TcpStream, line: &str) {
    // A fresh socket's send buffer is empty, so this does not block; the
    // timeout is there in case it somehow would.
    let _ = stream.set_write_timeout(Some(REFUSAL_WRITE_TIMEOUT));
    let _ = (&*stream).write_all(format!("{line}\n").as_bytes());
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

/// Tells every connection waiting in `listener`'s accept queue that the
/// server is stopping, then closes the queue.
pub fn turn_away_waiting_clients(listener: &TcpListener) {
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
pub fn turn_away(stream: &TcpStream, address: SocketAddr, max: usize) {
    say!("Refused {address}: too many clients (--max-clients {max})");
    refuse(stream, &too_many_clients(max));
}
