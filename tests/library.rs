//! The library's guards, tested in-process: no binary, no signal.
//!
//! A [`Server`] binds and nothing else, and a [`Stopper`] stops it the way
//! Ctrl-C does, so each test here builds its own server on port 0, talks to
//! it over real sockets and stops it, all inside this test process. Each
//! test names the guard it proves; remove that guard and the test fails.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use threaded_servers::cli::ServerArgs;
use threaded_servers::console::Console;
use threaded_servers::framing::Received;
use threaded_servers::threads::connections::{Client, close_gracefully};
use threaded_servers::threads::pool::WorkerPool;
use threaded_servers::threads::server::Server;
use threaded_servers::threads::shutdown::Stopper;
use threaded_servers::threads::socket::LineReader;
use threaded_servers::timing::LINGER_TIME;

use support::{DEADLINE, connect, describe, eventually, read_line, read_to_end};

/// Flags, as a server binary would parse them.
#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    server: ServerArgs,
}

/// A server on a free port of this machine, with these flags.
fn server(flags: &[&str]) -> Server {
    // The servers' per-client lines would clutter the test output.
    static QUIET: OnceLock<Console> = OnceLock::new();
    QUIET.get_or_init(|| Console::start(true).expect("a console"));
    let args = ["test", "--port", "0"].iter().chain(flags);
    let flags = Flags::parse_from(args);
    Server::bind(&flags.server, ("127.0.0.1", 0)).expect("bind")
}

fn address(server: &Server) -> std::net::SocketAddr {
    ([127, 0, 0, 1], server.port()).into()
}

/// Accepts clients on a thread of its own and hands each one over, until the server stops.
fn accept_all(server: Arc<Server>) -> (mpsc::Receiver<Client>, thread::JoinHandle<()>) {
    let (clients, accepted) = mpsc::channel();
    let accepting = thread::spawn(move || {
        while let Some(client) = server.next_client() {
            if clients.send(client).is_err() {
                return;
            }
        }
    });
    (accepted, accepting)
}

/// Guard: admission under `--max-clients` (`Connections::admit`).
#[test]
fn a_client_past_max_clients_is_told_and_a_place_frees_when_one_leaves() {
    let server = Arc::new(server(&["--max-clients", "2"]));
    let address = address(&server);
    let (accepted, _accepting) = accept_all(Arc::clone(&server));
    let _first = connect(address);
    let _second = connect(address);
    let held: Vec<Client> = (0..2)
        .map(|_| accepted.recv_timeout(DEADLINE).unwrap())
        .collect();

    let mut third = connect(address);
    assert_eq!(
        read_line(&mut third),
        "ERROR: too many clients (limit 2); try again later\n"
    );
    assert_eq!(read_to_end(&mut third), "");
    assert_eq!(server.client_count(), 2);

    drop(held); // Both leave: their places free at once.
    assert_eq!(server.client_count(), 0);
    let _fourth = connect(address);
    assert!(
        accepted.recv_timeout(DEADLINE).is_ok(),
        "the fourth was not admitted"
    );
}

/// Guard: `Stopper::stop` wakes an `accept()` that is blocked with no client in sight.
#[test]
fn stop_wakes_a_server_blocked_in_accept() {
    let server = Arc::new(server(&[]));
    let stopper = server.stopper().unwrap();
    let (done, finished) = mpsc::channel();
    let waiting = Arc::clone(&server);
    thread::spawn(move || {
        let _ = done.send(waiting.next_client().is_none());
    });
    // Let it block in accept(); if stop() came first, accept returns at once anyway.
    thread::sleep(Duration::from_millis(50));
    stopper.stop();
    stopper.stop(); // A second Ctrl-C is harmless.
    assert_eq!(finished.recv_timeout(DEADLINE), Ok(true));
}

/// Guard: `close_all_clients` ends the reads of client threads blocked waiting for input.
#[test]
fn close_all_clients_ends_every_blocked_read() {
    let server = Arc::new(server(&[]));
    let address = address(&server);
    let stopper = server.stopper().unwrap();
    let (accepted, accepting) = accept_all(Arc::clone(&server));
    let silent: Vec<TcpStream> = (0..3).map(|_| connect(address)).collect();
    let reads_ended = Arc::new(AtomicUsize::new(0));
    for _ in 0..3 {
        let client = accepted.recv_timeout(DEADLINE).unwrap();
        let reads_ended = Arc::clone(&reads_ended);
        thread::spawn(move || {
            let mut byte = [0u8; 1];
            // Blocks: the client sends nothing.
            if client.stream().read(&mut byte).is_ok_and(|n| n == 0) {
                reads_ended.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
    stopper.stop();
    accepting.join().unwrap();
    let unfinished = server.close_all_clients(DEADLINE);
    assert_eq!(unfinished, 0);
    assert_eq!(reads_ended.load(Ordering::SeqCst), 3);
    drop(silent);
}

/// Guard: connections still waiting in the kernel's accept queue when the
/// server stops are told, not reset (`turn_away_waiting_clients`).
#[test]
fn clients_still_in_the_accept_queue_at_stop_are_told() {
    let server = server(&[]);
    let address = address(&server);
    // Nobody accepts: these three wait in the kernel's accept queue.
    let mut waiting: Vec<TcpStream> = (0..3).map(|_| connect(address)).collect();
    server.stopper().unwrap().stop();
    assert!(server.next_client().is_none());
    server.close_all_clients(DEADLINE);
    drop(server); // Closes the listening socket.
    for (n, stream) in waiting.iter_mut().enumerate() {
        let mut answer = Vec::new();
        let read = stream.read_to_end(&mut answer).map_err(|e| describe(&e));
        let answer = read.map(|_| String::from_utf8_lossy(&answer).into_owned());
        assert_eq!(
            answer.as_deref(),
            Ok("ERROR: server is shutting down\n"),
            "client {n}"
        );
    }
}

/// Guard: `close_gracefully`. A server that closes a socket holding data
/// it never read makes the kernel send a reset, and the reset can destroy
/// the last reply before the client reads it. Closing gracefully delivers it.
#[test]
fn a_graceful_close_delivers_the_last_reply_despite_unread_data() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = connect(listener.local_addr().unwrap());
    let (server_side, _) = listener.accept().unwrap();
    // The client sends more than the server will read, then is done sending.
    client.write_all(&[b'x'; 64 * 1024]).unwrap();
    client.shutdown(std::net::Shutdown::Write).unwrap();
    let mut start = [0u8; 10];
    (&server_side).read_exact(&mut start).unwrap();
    // The server answers and closes with the rest unread.
    (&server_side).write_all(b"the last reply\n").unwrap();
    close_gracefully(&server_side);
    drop(server_side);
    assert_eq!(read_to_end(&mut client), "the last reply\n");
}

/// Guard: `close_gracefully` puts the socket's read timeout back. It sets
/// its own while it lingers; a `LineReader`, which remembers the timeout it
/// set to save a system call per read, would otherwise read the same socket
/// afterwards with the close's last one, a few milliseconds, and give up on
/// a line at once. (Here the reader has no timeout at all: it must wait.)
#[test]
fn a_line_reader_after_a_lingering_close_waits_as_long_as_it_should() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = connect(listener.local_addr().unwrap());
    let server_side = Arc::new(listener.accept().unwrap().0);
    let mut reader = LineReader::new(Arc::clone(&server_side), None);
    client.write_all(b"first\n").unwrap();
    assert!(matches!(reader.next_message().unwrap(), Received::Line(_)));
    // While the server lingers, the client drips a byte every 100 ms: the
    // close reads them, each with the time it has left, to the last few ms.
    let dripper = thread::spawn(move || {
        let started = Instant::now();
        while started.elapsed() < LINGER_TIME + Duration::from_millis(100) {
            client.write_all(b"x").unwrap();
            thread::sleep(Duration::from_millis(100));
        }
        // Then a pause far longer than that, and the end of the line.
        thread::sleep(Duration::from_millis(500));
        client.write_all(b"late\n").unwrap();
        client
    });
    close_gracefully(&server_side);
    match reader.next_message().unwrap() {
        Received::Line(line) => assert!(line.text.ends_with("late"), "{line:?}"),
        other => panic!("expected the late line; the reader gave up with {other:?}"),
    }
    drop(dripper.join().unwrap());
}

/// Answers `ok` to a client, or panics if it sent `p`.
fn answer_or_panic(client: Client) {
    let mut byte = [0u8; 1];
    let _ = client.stream().read(&mut byte);
    assert_ne!(&byte, b"p", "told to panic");
    let _ = client.stream().write_all(b"ok");
}

/// Guard: a worker survives a handler that panics (`catch_unwind` in `work`).
#[test]
fn a_pool_worker_carries_on_after_a_handler_panics() {
    let server = server(&[]);
    let address = address(&server);
    let pool = WorkerPool::new(1, answer_or_panic).unwrap();
    let mut panicking = connect(address);
    panicking.write_all(b"p").unwrap();
    pool.serve(server.next_client().unwrap());
    let _ = panicking.read_to_end(&mut Vec::new());
    eventually("the panic is counted", || pool.panics() == 1);
    // The pool's only worker serves the next client.
    let mut next = connect(address);
    next.write_all(b"x").unwrap();
    pool.serve(server.next_client().unwrap());
    assert_eq!(read_to_end(&mut next), "ok");
}

/// Guard: dropping a pool waits for the clients already handed to it.
#[test]
fn dropping_a_pool_waits_for_the_clients_it_was_given() {
    let server = server(&[]);
    let address = address(&server);
    let served = Arc::new(AtomicUsize::new(0));
    let counting = Arc::clone(&served);
    let pool = WorkerPool::new(2, move |_client| {
        thread::sleep(Duration::from_millis(50));
        counting.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    let _clients: Vec<TcpStream> = (0..4).map(|_| connect(address)).collect();
    for _ in 0..4 {
        pool.serve(server.next_client().unwrap());
    }
    drop(pool);
    assert_eq!(served.load(Ordering::SeqCst), 4);
}

/// Guard: a worker stuck with a silent client cannot keep a pool (and so the
/// server) from shutting down: `shut_down` gives up after its grace.
#[test]
fn a_pool_stuck_with_a_client_still_shuts_down_in_time() {
    let server = server(&[]);
    let address = address(&server);
    let pool = WorkerPool::new(1, |client: Client| {
        let mut byte = [0u8; 1];
        let _ = client.stream().read(&mut byte); // Blocks: the client is silent.
    })
    .unwrap();
    let _silent = connect(address);
    pool.serve(server.next_client().unwrap());
    let asked = Instant::now();
    let busy = pool.shut_down(Duration::from_millis(100));
    assert_eq!(busy, 1);
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "took {:?}",
        asked.elapsed()
    );
}

/// The stopper is independent of the server's own handle on the socket.
#[test]
fn a_stopper_outlives_nothing_it_needs() {
    let server = server(&[]);
    let stopper: Stopper = server.stopper().unwrap();
    drop(server);
    stopper.stop(); // Nothing to wake; must not panic.
}
