//! Talking to a server as each lesson's client does, with a deadline on
//! every wait, and failing in plain words when the answer is not the one
//! the protocol promises.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use super::DEADLINE;
use super::process::ServerProcess;
use crate::framing::is_timeout;
use crate::procfs;
use crate::protocol::{Protocol, parse_greeting, parse_welcome, processed};

/// Polls `condition` until it holds; fails, naming `what`, after [`DEADLINE`].
#[track_caller]
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "expected, within {DEADLINE:?}, that {what}; it did not happen"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// Connects with read and write timeouts of [`DEADLINE`].
#[track_caller]
pub fn connect(address: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&address, DEADLINE)
        .unwrap_or_else(|e| panic!("expected to connect to the server at {address}; {e}"));
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.set_write_timeout(Some(DEADLINE)).unwrap();
    stream
}

/// An I/O error, with a read timeout named as one (on Linux it says only
/// "Resource temporarily unavailable").
pub fn describe(error: &io::Error) -> String {
    if is_timeout(error) {
        format!("no answer within {DEADLINE:?} (a read timeout)")
    } else {
        error.to_string()
    }
}

/// Connects with a small receive buffer (a few KiB, where the kernel would
/// let it grow to megabytes): a client that does not read soon fills it,
/// and then the server's writes to it find no room, which is what a check
/// of that case needs to happen quickly.
#[track_caller]
pub fn connect_with_small_receive_buffer(address: SocketAddr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket
        .connect_timeout(&address.into(), DEADLINE)
        .unwrap_or_else(|e| panic!("expected to connect to the server at {address}; {e}"));
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.set_write_timeout(Some(DEADLINE)).unwrap();
    stream
}

/// Reads until the server closes the connection (bounded by the read timeout).
#[track_caller]
pub fn read_to_end(stream: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    if let Err(e) = stream.read_to_end(&mut bytes) {
        panic!(
            "expected the server to answer and close the connection; after {} came {}",
            super::shown(&String::from_utf8_lossy(&bytes)),
            describe(&e)
        );
    }
    String::from_utf8(bytes).expect("the server sent UTF-8")
}

/// Reads one `\n`-terminated line, byte by byte so nothing after it is consumed.
#[track_caller]
pub fn read_line(stream: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match stream.read(&mut byte) {
            Ok(0) => panic!(
                "expected a line ending in \\n; the server closed the connection after {}",
                super::shown(&String::from_utf8_lossy(&line))
            ),
            Ok(_) => {
                line.push(byte[0]);
                if byte[0] == b'\n' {
                    return String::from_utf8(line).expect("the server sent UTF-8");
                }
            }
            Err(e) => panic!(
                "expected a line ending in \\n; after {} came {}",
                super::shown(&String::from_utf8_lossy(&line)),
                describe(&e)
            ),
        }
    }
}

/// Reads `count` lines.
#[track_caller]
pub fn read_lines(stream: &mut TcpStream, count: usize) -> Vec<String> {
    (0..count).map(|_| read_line(stream)).collect()
}

/// Reads one line and fails, saying both, unless it is `expected` (with its `\n`).
#[track_caller]
pub fn expect_line(stream: &mut TcpStream, expected: &str) {
    let got = read_line(stream);
    assert!(
        got == expected,
        "expected the line {expected:?}\n     got the line {got:?}"
    );
}

/// Asserts that the server closes the connection next (after nothing else).
#[track_caller]
pub fn assert_end_of_stream(stream: &mut TcpStream) {
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => assert!(
            rest.is_empty(),
            "expected the server to close the connection; it sent {:?}",
            String::from_utf8_lossy(&rest)
        ),
        Err(e) => panic!(
            "expected the server to close the connection; instead: {}",
            describe(&e)
        ),
    }
}

/// Half-closes our side: the server reads end of stream.
pub fn finish_sending(stream: &TcpStream) {
    stream.shutdown(Shutdown::Write).unwrap();
}

/// Closes with SO_LINGER 0: the kernel sends a reset instead of a normal close.
pub fn reset(stream: TcpStream) {
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);
}

/// Waits until the server has read everything `client` sent so far: the
/// server side of the connection has nothing left in its receive queue.
#[track_caller]
pub fn wait_until_server_has_read(client: &TcpStream) {
    let mine = client.local_addr().unwrap().port();
    let theirs = client.peer_addr().unwrap().port();
    eventually("the server reads what was sent", || {
        procfs::unread_bytes(theirs, mine) == Some(0)
    });
}

/// The counter protocol: send one message, read the reply until the server closes.
#[track_caller]
pub fn counter_exchange(address: SocketAddr, message: &[u8]) -> String {
    let mut stream = connect(address);
    stream.write_all(message).unwrap();
    read_to_end(&mut stream)
}

/// The id in a counter server greeting; fails if `reply` is not one.
#[track_caller]
pub fn greeting_id(reply: &str) -> u64 {
    parse_greeting(reply).unwrap_or_else(|| {
        panic!(
            "expected the greeting \"Hello Client N, server received your message!\"\n     got {reply:?}"
        )
    })
}

/// Connects a line client (echo, queue) and reads the welcome if there is one.
#[track_caller]
pub fn session(protocol: Protocol, address: SocketAddr) -> TcpStream {
    session_with_id(protocol, address).0
}

/// Like [`session`], and returns the queue client's id.
#[track_caller]
pub fn session_with_id(protocol: Protocol, address: SocketAddr) -> (TcpStream, Option<u64>) {
    let mut stream = connect(address);
    let mut id = None;
    if protocol == Protocol::Queue {
        let welcome = read_line(&mut stream);
        id = parse_welcome(welcome.trim_end());
        assert!(
            id.is_some(),
            "expected the welcome \"Welcome, Client N! ...\"\n     got {welcome:?}"
        );
    }
    (stream, id)
}

/// What a line server answers to `line`, newline included.
pub fn reply_to(protocol: Protocol, line: &str) -> String {
    match protocol {
        Protocol::Queue => format!("{}\n", processed(line)),
        _ => format!("{line}\n"),
    }
}

/// The part of the server's log line that says a client has left.
pub fn disconnect_log(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Counter => "disconnected.",
        Protocol::Echo => "[Client disconnected]",
        Protocol::Queue => "disconnected (",
    }
}

/// A normal client, start to finish: the server must still serve it correctly.
#[track_caller]
pub fn assert_still_serves(protocol: Protocol, address: SocketAddr) {
    if protocol == Protocol::Counter {
        greeting_id(&counter_exchange(address, b"still there?"));
        return;
    }
    let mut stream = session(protocol, address);
    stream.write_all(b"still there?\n").unwrap();
    expect_line(&mut stream, &reply_to(protocol, "still there?"));
    stream.write_all(b"!DISCONNECT\n").unwrap();
}

/// Tries `attempt` until its answer is not the "too many clients" refusal.
/// A place under `--max-clients` frees once the server has finished with
/// the client that left, which may be a moment after it logs the departure.
#[track_caller]
pub fn once_a_place_frees(mut attempt: impl FnMut() -> String) -> String {
    let mut answer = String::new();
    eventually(
        "a client that left frees its place under --max-clients",
        || {
            answer = attempt();
            !answer.starts_with("ERROR: too many clients")
        },
    );
    answer
}

/// A normal client is served as soon as the server has finished with the
/// clients that just left; until then it may hear "too many clients".
#[track_caller]
pub fn assert_served_once_a_place_frees(protocol: Protocol, server: &ServerProcess) {
    let first = once_a_place_frees(|| {
        let mut next = server.connect();
        match protocol {
            Protocol::Counter => {
                next.write_all(b"my turn").unwrap();
                read_to_end(&mut next)
            }
            Protocol::Echo => {
                next.write_all(b"my turn\n").unwrap();
                read_line(&mut next)
            }
            Protocol::Queue => read_line(&mut next),
        }
    });
    let served = parse_greeting(&first).is_some()
        || parse_welcome(first.trim_end()).is_some()
        || first == "my turn\n";
    assert!(
        served,
        "expected a client to be served once a place was free; it got {first:?}"
    );
}

/// Runs `clients` copies of `client` at once, released together by a
/// barrier, and returns their results in the order of their numbers.
pub fn all_at_once<T: Send + 'static>(
    clients: usize,
    client: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(clients));
    let client = Arc::new(client);
    let handles: Vec<_> = (0..clients)
        .map(|n| {
            let barrier = Arc::clone(&barrier);
            let client = Arc::clone(&client);
            thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    barrier.wait();
                    client(n)
                })
                .expect("spawn a test client")
        })
        .collect();
    handles
        .into_iter()
        .enumerate()
        .map(|(n, h)| {
            h.join()
                .unwrap_or_else(|_| panic!("test client {n} panicked"))
        })
        .collect()
}

/// Fails unless every client's check passed, naming each one that did not.
#[track_caller]
pub fn assert_every_client(results: &[Result<(), String>]) {
    let failed: Vec<String> = results
        .iter()
        .enumerate()
        .filter_map(|(n, result)| {
            result
                .as_ref()
                .err()
                .map(|why| format!("client {n}: {why}"))
        })
        .collect();
    let shown = failed.iter().take(10).cloned().collect::<Vec<_>>();
    assert!(
        failed.is_empty(),
        "expected every client to be served; {} of {} were not:\n{}{}",
        failed.len(),
        results.len(),
        shown.join("\n"),
        if failed.len() > shown.len() {
            "\n..."
        } else {
            ""
        }
    );
}

/// A port that refuses connections for as long as this value lives: bound,
/// never listening. (A port merely released could be taken by another
/// check's server in the meantime.) Without SO_REUSEADDR, so the kernel
/// cannot hand it out to anyone else either.
pub struct RefusingPort {
    _socket: socket2::Socket,
    /// The port.
    pub port: u16,
}

/// A port where nothing listens, for as long as the value lives.
pub fn refusing_port() -> RefusingPort {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let port = socket.local_addr().unwrap().as_socket().unwrap().port();
    RefusingPort {
        _socket: socket,
        port,
    }
}
