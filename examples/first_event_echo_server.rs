//! Lesson 5's first version: lesson 2's echo server as one thread running a
//! plain mio poll loop, the way a first try at an event loop looks. One
//! `Poll` waits on every socket; each ready socket gets one read, and its
//! bytes are written back. It keeps a first version's simplifications on
//! purpose (one read per event, a write retried until it is taken, one
//! `read()` is one message, `unwrap()` where a failure "cannot happen"):
//! the lesson breaks it, then builds `event_echo_server`.
//!
//! ```text
//! cargo run --example first_event_echo_server
//! cargo run --bin client -- echo -m Hello -m World     # in a second terminal
//! ```

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const SIZE: usize = 1024;
const DISCONNECT_MSG: &str = "!DISCONNECT";
const SERVER: Token = Token(0);

fn main() {
    println!("[STARTING] Server is starting...");
    // The original's ADDR, unless one is given (the tests pass port 0).
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:56011".into());
    let mut server = TcpListener::bind(addr.parse().unwrap()).unwrap();
    let mut poll = Poll::new().unwrap();
    poll.registry()
        .register(&mut server, SERVER, Interest::READABLE)
        .unwrap();
    let port = server.local_addr().unwrap().port();
    println!("[LISTENING] Server is listening on port {port}");

    // ANCHOR: loop
    let mut clients: HashMap<Token, (TcpStream, SocketAddr)> = HashMap::new();
    let mut next_token = 1;
    let mut events = Events::with_capacity(128);
    loop {
        // Wait until one or more sockets are ready.
        poll.poll(&mut events, None).unwrap();
        for event in events.iter() {
            if event.token() == SERVER {
                // New clients: accept every one that is waiting.
                while let Ok((mut conn, addr)) = server.accept() {
                    let token = Token(next_token);
                    next_token += 1;
                    poll.registry()
                        .register(&mut conn, token, Interest::READABLE)
                        .unwrap();
                    println!("[New Connection] Client connected from {addr}");
                    clients.insert(token, (conn, addr));
                }
                continue;
            }
            // A client's socket is readable: one read, one message.
            let Some((conn, addr)) = clients.get_mut(&event.token()) else {
                continue;
            };
            let mut data = [0u8; SIZE];
            let n = match conn.read(&mut data) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                Err(_) => 0, // Reset: as good as closed.
            };
            let msg = String::from_utf8_lossy(&data[..n]);
            if n == 0 || msg.trim_end() == DISCONNECT_MSG {
                clients.remove(&event.token());
                println!("[Client disconnected]");
                continue;
            }
            println!("[{addr}] {}", msg.trim_end());
            // Send it all back, however long the socket takes to have room.
            let mut sent = 0;
            while sent < n {
                match conn.write(&data[sent..n]) {
                    Ok(k) => sent += k,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                    Err(_) => break,
                }
            }
        }
    }
    // ANCHOR_END: loop
}
