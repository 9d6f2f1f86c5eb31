//! Lesson 6: lesson 1's counter server, with a task per client instead of a thread.
//!
//! The protocol, the port, the console lines and the flags are
//! `counter_server`'s: every client takes the next id, sends one message,
//! gets `Hello Client {id}, server received your message!`, and is closed.
//! What changes is underneath: a tokio runtime runs every client's task on
//! a few threads (one per core), and a task that waits for its client costs
//! a few hundred bytes instead of a thread.
//!
//! Run it in one terminal:
//!
//! ```text
//! cargo run --bin async_counter_server
//! Server is listening on port 65434...
//! ```
//!
//! and the original's client in another, as many times as you like:
//!
//! ```text
//! cargo run --bin client
//! Server replied: Hello Client 1, server received your message!
//! ```

use std::io;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};

use clap::Parser;
use threaded_servers::cli::{ServerArgs, listen_defaults};
use threaded_servers::console::{Console, escape, exit_code};
use threaded_servers::framing::is_timeout;
use threaded_servers::protocol::{
    IDLE_TIMEOUT, NOT_UTF8, Protocol, SHUTTING_DOWN, counter_message, greeting,
};
use threaded_servers::tasks::client::Client;
use threaded_servers::tasks::server::Server;
use threaded_servers::tasks::shutdown::stop_on_signals;
use threaded_servers::timing::SHUTDOWN_GRACE;
use threaded_servers::{announce, say, warn};

/// Where the original listens: this machine only, port 65434 (`--host` and `--port` override it).
const ADDR: (&str, u16) = ("127.0.0.1", Protocol::Counter.default_port());

/// Lesson 6: lesson 1's counter server, with a task per client instead of a thread.
#[derive(Parser)]
#[command(version, mut_args(listen_defaults(ADDR)))]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
}

// ANCHOR: next_id
/// The original's `with counter_lock: client_counter += 1`, in a task.
///
/// The same std `Mutex` as lesson 1. A std lock is fine in a task as long as
/// it is never held across an `.await`: held for one addition, it is never
/// held long enough to block another task. (Held across an `.await`, it
/// would not even compile: a std `MutexGuard` cannot move between threads,
/// and `tokio::spawn` needs a task that can.)
fn next_id(client_counter: &Mutex<u64>) -> u64 {
    let mut count = client_counter
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    *count += 1;
    *count
}
// ANCHOR_END: next_id

// ANCHOR: main
/// `#[tokio::main]` starts the runtime (a thread per core) and runs `main`'s
/// future on it until it finishes.
#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    exit_code("async_counter_server", serve(&args).await)
}
// ANCHOR_END: main

/// The server's life: start, serve clients until Ctrl-C, stop.
async fn serve(args: &Args) -> io::Result<()> {
    // First, so that it is dropped last: it writes the last lines on the way out.
    let _console = Console::start(args.server.quiet)?;
    let server = Server::bind(&args.server, ADDR)?;
    stop_on_signals(server.stopper())?;
    let client_counter = Arc::new(Mutex::new(0));

    announce!("Server is listening on port {}...", server.port());

    while let Some(client) = server.next_client().await {
        let client_counter = Arc::clone(&client_counter);
        tokio::spawn(handle_client(client, client_counter));
    }

    // Ctrl-C or SIGTERM: no new clients. Clients waiting for their message
    // are told and closed; a client whose message was read gets its reply.
    announce!("Server is shutting down...");
    let unfinished = server.close_all_clients(SHUTDOWN_GRACE).await;
    if unfinished > 0 {
        warn!("{unfinished} clients did not finish in time; closing them");
    }
    announce!("Server stopped.");
    Ok(())
}

/// One client, start to finish, as a task: the original's `handle_client`.
async fn handle_client(mut client: Client, client_counter: Arc<Mutex<u64>>) {
    let client_id = next_id(&client_counter);
    say!("Client {client_id} connected from {}", client.address);

    // One read of at most SIZE bytes, like the original's `recv(1024)`.
    let deadline = client.input.idle_deadline();
    let reply = match client.input.read_once(deadline).await {
        Ok(data) if data.is_empty() && client.server_is_stopping() => {
            say!("Client {client_id} sent nothing before shutdown.");
            Some(format!("{SHUTTING_DOWN}\n"))
        }
        Ok(data) if data.is_empty() => {
            say!("Client {client_id} closed the connection without a message.");
            None
        }
        Ok(data) => match counter_message(&data) {
            Some(message) => {
                say!("Client {client_id} says: {}", escape(message));
                Some(greeting(client_id))
            }
            None => {
                let n = data.len();
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
        && let Err(e) = client.output.send(reply.as_bytes()).await
    {
        say!("Client {client_id} did not take the reply: {e}");
    }
    client.finish().await;
    say!("Client {client_id} disconnected.");
}
