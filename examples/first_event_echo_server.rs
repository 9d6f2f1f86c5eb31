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
    // Port 56011; `--port N` picks another port (see the end of the file).
    let addr = SocketAddr::from(([127, 0, 0, 1], port_from_args(56011)));
    let mut server = TcpListener::bind(addr).unwrap();
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

/// The port to listen on: `--port N` as the real servers take it (`0` lets
/// the OS choose; the listening line shows which), or else `default`.
fn port_from_args(default: u16) -> u16 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => default,
        [flag, port] if flag == "--port" => {
            port.parse().expect("--port takes a number, 0 to 65535")
        }
        _ => {
            println!("takes one option: --port N (default {default}; 0 lets the OS choose)");
            std::process::exit(if args == ["--help"] { 0 } else { 2 })
        }
    }
}
