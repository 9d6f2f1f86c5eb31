//! Lesson 1: a thread per client and a counter behind a lock (the counter tutorial).
//!
//! Every client that connects gets a thread of its own. The thread takes the
//! next client id from `client_counter`, reads one message, answers
//! `Hello Client {id}, server received your message!`, and closes.
//!
//! Run it in one terminal:
//!
//! ```text
//! cargo run --bin counter_server
//! Server is listening on port 65434...
//! ```
//!
//! and the original's client in another, as many times as you like:
//!
//! ```text
//! cargo run --bin client
//! Server replied: Hello Client 1, server received your message!
//! ```
//!
//! `--demo-race` swaps the lock for an unlocked read-then-write, to show the
//! duplicate ids the lock prevents (see `lessons/01-counter-server.md`).

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;

use clap::Parser;
use threaded_servers::cli::{ServerArgs, listen_defaults};
use threaded_servers::console::{Console, escape, exit_code};
use threaded_servers::framing::{SIZE, is_timeout};
use threaded_servers::protocol::{
    IDLE_TIMEOUT, NOT_UTF8, Protocol, SHUTTING_DOWN, counter_message, greeting,
};
use threaded_servers::threads::connections::Client;
use threaded_servers::threads::pool::WorkerPool;
use threaded_servers::threads::server::{Server, spawn_client_thread};
use threaded_servers::threads::shutdown::stop_on_signals;
use threaded_servers::threads::socket::read_uninterrupted;
use threaded_servers::timing::{POOL_STOP_GRACE, SHUTDOWN_GRACE};
use threaded_servers::{announce, say, warn};

/// Where the original listens: this machine only, port 65434 (`--host` and `--port` override it).
const ADDR: (&str, u16) = ("127.0.0.1", Protocol::Counter.default_port());

/// Lesson 1: a thread per client and a counter behind a lock (the counter tutorial).
#[derive(Parser)]
#[command(version, mut_args(listen_defaults(ADDR)))]
struct Args {
    #[command(flatten)]
    server: ServerArgs,

    /// EXPERIMENT: take client ids WITHOUT the lock (a separate read and
    /// write), so that concurrent clients can get the same id.
    #[arg(long)]
    demo_race: bool,

    /// EXPERIMENT (lesson 4): serve clients with N long-lived worker threads
    /// instead of a new thread per client.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    workers: Option<u16>,
}

/// The original's `client_counter`: the last client id handed out.
///
/// Every client thread takes the next id from it, so every thread needs to
/// reach it (`Arc`, shared ownership) and at most one may change it at a
/// time (`Mutex`).
enum ClientCounter {
    /// The original's way, and the default: the increment happens under a lock.
    Locked(Mutex<u64>),
    /// `--demo-race`: an unlocked read, a pause, a write. Safe Rust (each
    /// load and store is atomic), and still wrong: two threads can read the
    /// same value before either writes, and both get the same id.
    Racy(AtomicU64),
}

impl ClientCounter {
    /// Hands out the next client id: 1, 2, 3, ...
    fn next_id(&self) -> u64 {
        match self {
            ClientCounter::Locked(client_counter) => next_id_locked(client_counter),
            ClientCounter::Racy(racy_counter) => next_id_racy(racy_counter),
        }
    }
}

// ANCHOR: locked_increment
/// The original's `with counter_lock: client_counter += 1; client_id = client_counter`.
fn next_id_locked(client_counter: &Mutex<u64>) -> u64 {
    // A poisoned lock means another thread panicked while holding it. The
    // count inside is still a plain number, so carry on rather than let one
    // panic take every later client down with it.
    let mut count = client_counter
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    *count += 1;
    *count
    // `count` is the lock's guard. It is dropped at this brace, so the lock
    // is held for one addition, never while talking to a client.
}
// ANCHOR_END: locked_increment

// ANCHOR: racy_increment
/// `--demo-race`: the same increment as a separate read and write, unlocked.
fn next_id_racy(racy_counter: &AtomicU64) -> u64 {
    let seen = racy_counter.load(Ordering::SeqCst);
    // Let another client thread run between our read and our write, as the
    // OS may at any moment anyway.
    thread::yield_now();
    racy_counter.store(seen + 1, Ordering::SeqCst);
    seen + 1
}
// ANCHOR_END: racy_increment

fn main() -> ExitCode {
    let args = Args::parse();
    exit_code("counter_server", serve(&args))
}

/// The server's life: start, serve clients until Ctrl-C, stop.
fn serve(args: &Args) -> io::Result<()> {
    // First, so that it is dropped last: it writes the last lines on the way out.
    let _console = Console::start(args.server.quiet)?;
    let server = Server::bind(&args.server, ADDR)?;
    stop_on_signals(server.stopper()?)?;
    let client_counter = Arc::new(if args.demo_race {
        ClientCounter::Racy(AtomicU64::new(0))
    } else {
        ClientCounter::Locked(Mutex::new(0))
    });
    let pool = match args.workers {
        None => None,
        Some(size) => {
            let client_counter = Arc::clone(&client_counter);
            let pool = WorkerPool::new(size.into(), move |client| {
                handle_client(client, &client_counter);
            });
            let context = |e: io::Error| {
                io::Error::new(e.kind(), format!("cannot start {size} workers: {e}"))
            };
            Some(pool.map_err(context)?)
        }
    };

    announce!("Server is listening on port {}...", server.port());
    if args.demo_race {
        announce!(
            "EXPERIMENT --demo-race: client ids are taken without the lock; expect duplicates."
        );
    }

    // ANCHOR: accept_loop
    while let Some(client) = server.next_client() {
        if let Some(pool) = &pool {
            pool.serve(client); // --workers: lesson 4's experiment.
            continue;
        }
        let client_counter = Arc::clone(&client_counter);
        spawn_client_thread(client, move |client| handle_client(client, &client_counter));
    }
    // ANCHOR_END: accept_loop

    // ANCHOR: shutdown
    // Ctrl-C or SIGTERM: no new clients. Clients waiting for their message
    // are told and closed; a client whose message was read gets its reply.
    announce!("Server is shutting down...");
    let unfinished = server.close_all_clients(SHUTDOWN_GRACE);
    if unfinished > 0 {
        warn!("{unfinished} clients did not finish in time; closing them");
    }
    if let Some(pool) = pool {
        // Its clients are served or given up on: each worker is idle, and
        // ends, or still stuck with one of those.
        let busy = pool.shut_down(POOL_STOP_GRACE);
        if busy > 0 {
            warn!("{busy} workers were still serving a client; leaving them");
        }
    }
    announce!("Server stopped.");
    Ok(())
    // ANCHOR_END: shutdown
}

// ANCHOR: handle_client
/// One client, start to finish, on its own thread: the original's `handle_client`.
fn handle_client(client: Client, client_counter: &ClientCounter) {
    let client_id = client_counter.next_id();
    say!("Client {client_id} connected from {}", client.address);

    // One read of at most SIZE bytes, like the original's `recv(1024)`. The
    // client need not send a newline; it only has to send something before
    // the idle timeout.
    let mut stream = client.stream();
    let mut data = [0u8; SIZE];
    let _ = stream.set_read_timeout(client.idle_timeout());
    let reply = match read_uninterrupted(stream, &mut data) {
        Ok(0) if client.server_is_stopping() => {
            say!("Client {client_id} sent nothing before shutdown.");
            Some(format!("{SHUTTING_DOWN}\n"))
        }
        Ok(0) => {
            say!("Client {client_id} closed the connection without a message.");
            None
        }
        Ok(n) => match counter_message(&data[..n]) {
            Some(message) => {
                say!("Client {client_id} says: {}", escape(message));
                Some(greeting(client_id))
            }
            None => {
                say!("Client {client_id} sent {n} bytes that are not UTF-8 text.");
                Some(format!("{NOT_UTF8}\n"))
            }
        },
        Err(e) if is_timeout(&e) => {
            say!("Client {client_id} sent nothing in time (--idle-timeout).");
            Some(format!("{IDLE_TIMEOUT}\n"))
        }
        Err(e) => {
            say!("Client {client_id} connection failed: {e}");
            None
        }
    };
    if let Some(reply) = reply
        && let Err(e) = stream.write_all(reply.as_bytes())
    {
        say!("Client {client_id} did not take the reply: {e}");
    }
    client.finish();
    say!("Client {client_id} disconnected.");
}
// ANCHOR_END: handle_client
