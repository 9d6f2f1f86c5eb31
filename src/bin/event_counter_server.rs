//! Lesson 5: lesson 1's counter server, as one thread running one event loop.
//!
//! The protocol, the port, the console lines and the flags are
//! `counter_server`'s: every client takes the next id, sends one message,
//! gets `Hello Client {id}, server received your message!`, and is closed.
//! What changes is underneath: no thread per client, and no lock. One loop
//! serves every client, a step at a time, and `client_counter` is a plain
//! number that only the loop's thread ever touches.
//!
//! Run it in one terminal:
//!
//! ```text
//! cargo run --bin event_counter_server
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

use clap::Parser;
use mio::Token;
use threaded_servers::cli::{ServerArgs, listen_defaults};
use threaded_servers::console::{Console, escape, exit_code};
use threaded_servers::events::connection::{Clients, Connection, Deadline, ReadOnce};
use threaded_servers::events::server::{Server, Service};
use threaded_servers::protocol::{
    IDLE_TIMEOUT, NOT_UTF8, Protocol, SHUTTING_DOWN, counter_message, greeting,
};
use threaded_servers::session::Ending;
use threaded_servers::{announce, say, warn};

/// Where the original listens: this machine only, port 65434 (`--host` and `--port` override it).
const ADDR: (&str, u16) = ("127.0.0.1", Protocol::Counter.default_port());

/// Lesson 5: lesson 1's counter server, as one thread running one event loop.
#[derive(Parser)]
#[command(version, mut_args(listen_defaults(ADDR)))]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    exit_code("event_counter_server", serve(&args))
}

/// The server's life: start, serve clients until Ctrl-C, stop.
fn serve(args: &Args) -> io::Result<()> {
    // First, so that it is dropped last: it writes the last lines on the way out.
    let _console = Console::start(args.server.quiet)?;
    let server = Server::bind(&args.server, ADDR)?;
    server.stop_on_signals()?;
    announce!("Server is listening on port {}...", server.port());

    let unfinished = server.run(&mut Counter { client_counter: 0 })?;

    if unfinished > 0 {
        warn!("{unfinished} clients did not finish in time; closing them");
    }
    announce!("Server stopped.");
    Ok(())
}

// ANCHOR: counter
/// The counter server's part of the loop.
struct Counter {
    /// The original's `client_counter`: the last client id handed out.
    /// No `Arc`, no `Mutex`: one thread runs every client, one step at a
    /// time, so no two steps can ever read it at once.
    client_counter: u64,
}

/// What the server keeps about a client.
#[derive(Default)]
struct Visit {
    client_id: u64,
    /// Its one message has been answered (or it has been told why not).
    answered: bool,
}
// ANCHOR_END: counter

impl Service for Counter {
    type Client = Visit;

    fn connected(&mut self, clients: &mut Clients<Visit>, token: Token) {
        // The original's `with counter_lock: client_counter += 1`, without the lock.
        self.client_counter += 1;
        let client_id = self.client_counter;
        if let Some(visit) = clients.client_mut(token) {
            visit.client_id = client_id;
        }
        if let Some(connection) = clients.get(token) {
            say!("Client {client_id} connected from {}", connection.address());
        }
    }
    /// The original's `handle_client`, as the steps of a state machine: this
    /// runs each time the client's socket is ready, until it has answered.
    fn serve(&mut self, clients: &mut Clients<Visit>, token: Token) {
        let Some(&Visit {
            client_id,
            answered: false,
        }) = clients.client(token)
        else {
            return; // Answered already: the connection is closing.
        };
        // One read of at most SIZE bytes, like the original's `recv(1024)`.
        let (reply, ending) = match clients.read_once(token) {
            ReadOnce::Wait => return, // Nothing yet: back to the loop.
            ReadOnce::Closed if clients.is_stopping() => {
                say!("Client {client_id} sent nothing before shutdown.");
                (format!("{SHUTTING_DOWN}\n"), Ending::ServerStopping)
            }
            ReadOnce::Closed => {
                say!("Client {client_id} closed the connection without a message.");
                (String::new(), Ending::Closed)
            }
            ReadOnce::Data(n) => match counter_message(clients.received(n)) {
                Some(message) => {
                    say!("Client {client_id} says: {}", escape(message));
                    (greeting(client_id), Ending::Goodbye)
                }
                None => {
                    say!("Client {client_id} sent {n} bytes that are not UTF-8 text.");
                    (format!("{NOT_UTF8}\n"), Ending::Goodbye)
                }
            },
            ReadOnce::Failed(e) => {
                say!("Client {client_id} connection failed: {e}");
                (String::new(), Ending::Broken(e))
            }
        };
        answer(clients, token, &reply, ending);
    }

    fn timed_out(&mut self, clients: &mut Clients<Visit>, token: Token, which: Deadline) {
        let Some(&Visit {
            client_id,
            answered,
        }) = clients.client(token)
        else {
            return;
        };
        match which {
            Deadline::Idle if !answered => {
                say!("Client {client_id} sent nothing in time (--idle-timeout).");
                let reply = format!("{IDLE_TIMEOUT}\n");
                answer(
                    clients,
                    token,
                    &reply,
                    Ending::IdleTimeout {
                        unfinished: Vec::new(),
                    },
                );
            }
            Deadline::Idle => {}
            Deadline::Write => {
                say!("Client {client_id} did not take the reply in time (--write-timeout).");
                clients.finish_discarding(token, Ending::NotReading);
            }
        }
    }

    fn stopping(&mut self, _clients: &Clients<Visit>) {
        // Clients waiting for their message are told and closed; a client
        // whose message has arrived gets its reply.
        announce!("Server is shutting down...");
    }

    fn disconnected(&mut self, connection: Connection<Visit>) {
        say!("Client {} disconnected.", connection.client.client_id);
    }
}

/// Sends the one reply (nothing if `reply` is empty), then closes.
fn answer(clients: &mut Clients<Visit>, token: Token, reply: &str, ending: Ending) {
    if let Some(visit) = clients.client_mut(token) {
        visit.answered = true;
    }
    clients.finish(token, &[reply.as_bytes()], ending);
}
