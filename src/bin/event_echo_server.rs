//! Lesson 5: lesson 2's echo server, as one thread running one event loop.
//!
//! No thread per client: one loop waits on every socket at once and serves
//! whichever is ready. Each client is a small state machine (reading,
//! output pending, closing) that the loop moves along one step at a time,
//! and no step ever waits. The protocol, port, console lines and flags are
//! `echo_server`'s, line for line.
//!
//! Run it in one terminal:
//!
//! ```text
//! cargo run --bin event_echo_server
//! [STARTING] Server is starting...
//! [LISTENING] Server is listening on port 56011
//! ```
//!
//! and a client in another:
//!
//! ```text
//! cargo run --bin client -- echo -m "Hello" -m "World"
//! Hello
//! World
//! ```

use std::io;
use std::process::ExitCode;
use std::rc::Rc;

use clap::Parser;
use threaded_servers::cli::{ServerArgs, listen_defaults};
use threaded_servers::console::{Console, escape, exit_code};
use threaded_servers::events::connection::{Clients, Connection, Deadline, Input, Sent, State};
use threaded_servers::events::server::{Server, Service};
use threaded_servers::framing;
use threaded_servers::protocol::{self, NOT_UTF8, Protocol, TOO_LONG};
use threaded_servers::session::{Ending, Next};
use threaded_servers::{announce, say, warn};

use mio::Token;

/// Where the server listens: this machine only, port 56011 (`--host` and `--port` override it).
const ADDR: (&str, u16) = ("127.0.0.1", Protocol::Echo.default_port());
/// SIZE: the longest message in bytes, not counting its line ending.
const SIZE: usize = framing::SIZE;
/// FORMAT: the encoding of every message (a Rust `String` is always UTF-8).
const FORMAT: &str = "UTF-8";
/// DISCONNECT_MSG: the line that ends a client's session, "!DISCONNECT".
const DISCONNECT_MSG: &str = protocol::DISCONNECT_MSG;

/// Lesson 5: lesson 2's echo server, as one thread running one event loop.
#[derive(Parser)]
#[command(version, mut_args(listen_defaults(ADDR)))]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    exit_code("event_echo_server", serve(&args))
}

// ANCHOR: serve
/// The server's life: start, serve clients until Ctrl-C, stop.
fn serve(args: &Args) -> io::Result<()> {
    let _console = Console::start(args.server.quiet)?;
    announce!("[STARTING] Server is starting...");
    let server = Server::bind(&args.server, ADDR)?;
    server.stop_on_signals()?;
    announce!("[LISTENING] Server is listening on port {}", server.port());

    // The loop, on this thread, until Ctrl-C and a little after.
    let unfinished = server.run(&mut Echo)?;

    if unfinished > 0 {
        warn!("{unfinished} sessions did not end in time; closing them");
    }
    announce!("[STOPPED] Server stopped.");
    Ok(())
}
// ANCHOR_END: serve

/// The echo server's part of the loop: what to do with each client.
struct Echo;

/// What the echo server keeps about a client: how its log lines start.
#[derive(Default)]
struct Visitor {
    /// `[127.0.0.1:41246]`, formatted once: every message's log line starts
    /// with it. (An `Rc`: the loop takes a copy of the handle, not of the text.)
    from: Rc<str>,
}

impl Service for Echo {
    type Client = Visitor;

    fn connected(&mut self, clients: &mut Clients<Visitor>, token: Token) {
        let Some(connection) = clients.get(token) else {
            return;
        };
        let address = connection.address();
        say!("[New Connection] Client connected from {address}");
        if let Some(visitor) = clients.client_mut(token) {
            visitor.from = format!("[{address}]").into();
        }
    }

    // ANCHOR: echo
    /// The original's `handle_client` loop, one turn at a time: echo every
    /// line that has arrived, until one would have to wait.
    fn serve(&mut self, clients: &mut Clients<Visitor>, token: Token) {
        loop {
            // While an echo is still going out, the next line waits: a
            // client that does not read its echoes is not read either.
            if clients.get(token).map(Connection::state) != Some(State::Reading) {
                return;
            }
            let from = match clients.get(token) {
                Some(connection) => Rc::clone(&connection.client.from),
                None => return,
            };
            let next = match clients.next_message(token) {
                Input::Next(next) => next,
                Input::Wait => return, // Back to the loop, until the socket is ready.
            };
            let sent = match next {
                Next::Line(line) if line.text == DISCONNECT_MSG => {
                    clients.finish(token, &[], Ending::Goodbye);
                    return;
                }
                Next::Line(line) => {
                    say!("{from} {}", escape(&line.text));
                    clients.send(
                        token,
                        &[line.text.as_bytes(), line.ending.as_bytes()],
                        usize::MAX,
                    )
                }
                Next::NotUtf8 => {
                    say!("{from} sent a line that is not {FORMAT}");
                    clients.send(token, &[NOT_UTF8.as_bytes(), b"\n"], usize::MAX)
                }
                Next::TooLong => {
                    say!("{from} sent a line longer than {SIZE} bytes");
                    clients.send(token, &[TOO_LONG.as_bytes(), b"\n"], usize::MAX)
                }
                Next::End(ending) => return end(clients, token, ending),
            };
            match sent {
                // All of it, or the rest waits for WRITABLE: the check at the top.
                Sent::All | Sent::Pending | Sent::OverLimit => {}
                Sent::Failed(e) => return end(clients, token, Ending::Broken(e)),
            }
        }
    }
    // ANCHOR_END: echo

    fn timed_out(&mut self, clients: &mut Clients<Visitor>, token: Token, which: Deadline) {
        match which {
            // Nothing complete within --idle-timeout: say so, quoting the
            // line that never ended, if one had begun.
            Deadline::Idle => {
                if let Next::End(ending) = clients.timed_out(token) {
                    end(clients, token, ending);
                }
            }
            // An echo not taken within --write-timeout: the client is not
            // reading, and what waits for it is dropped.
            Deadline::Write => clients.finish_discarding(token, Ending::NotReading),
        }
    }

    fn stopping(&mut self, clients: &Clients<Visitor>) {
        // Every session now reads what its client had already sent, echoes
        // it, and ends as if its client had closed.
        let open = clients.len();
        let sessions = if open == 1 { "session" } else { "sessions" };
        announce!("[SHUTTING DOWN] Closing {open} open {sessions}...");
    }

    fn disconnected(&mut self, connection: Connection<Visitor>) {
        let reason = connection.ending().map_or("closed".into(), Ending::reason);
        say!("[Client disconnected] {}: {reason}", connection.address());
    }
}

/// Ends a session: its error line if it has one, then the lingering close.
fn end(clients: &mut Clients<Visitor>, token: Token, ending: Ending) {
    match ending.error_line() {
        Some(error) => clients.finish(token, &[error.as_bytes(), b"\n"], ending),
        None => clients.finish(token, &[], ending),
    }
}
