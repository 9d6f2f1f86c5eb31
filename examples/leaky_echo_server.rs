//! Lesson 4's leak: `echo_server` with one deliberate bug, for the soak to find.
//!
//! It is lesson 2's echo server, line for line, but for one "feature": when a
//! client vanishes in the middle of a line (it closes or resets with a line
//! unfinished), the server keeps that client's connection and a copy of what
//! it was reading, "for the log", in a list that nothing ever empties. Every
//! test of a few seconds passes: each client is served, and the list grows by
//! one entry per odd client. Over an hour, the odd clients add up: a
//! descriptor and 16 KiB each, until `accept()` fails for want of
//! descriptors, or the machine for want of memory.
//!
//! ```text
//! bash bench/soak.sh --seconds 60 target/release/examples/leaky_echo_server
//! ```
//!
//! The soak sees both: its descriptors never come back to their idle count,
//! and its memory keeps rising after the warm-up.

use std::io::{self, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};

use clap::Parser;
use threaded_servers::cli::{ServerArgs, listen_defaults};
use threaded_servers::console::{Console, escape, exit_code};
use threaded_servers::framing::is_timeout;
use threaded_servers::protocol::{DISCONNECT_MSG, NOT_UTF8, Protocol, TOO_LONG};
use threaded_servers::session::{Ending, Next};
use threaded_servers::threads::connections::Client;
use threaded_servers::threads::server::{Server, spawn_client_thread};
use threaded_servers::threads::session::LineSession;
use threaded_servers::threads::shutdown::stop_on_signals;
use threaded_servers::timing::SHUTDOWN_GRACE;
use threaded_servers::{announce, say, warn};

/// The echo server's address: this machine only, port 56011.
const ADDR: (&str, u16) = ("127.0.0.1", Protocol::Echo.default_port());

/// THE BUG: what is kept of every client that vanished in the middle of a
/// line: its connection (so its descriptor stays open) and a 16 KiB buffer.
/// Nothing ever takes an entry out.
static VANISHED: Mutex<Vec<(Arc<TcpStream>, Vec<u8>)>> = Mutex::new(Vec::new());

/// Lesson 4's leak: the echo server, keeping what is left of clients that vanish mid-line.
#[derive(Parser)]
#[command(version, mut_args(listen_defaults(ADDR)))]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    exit_code("leaky_echo_server", serve(&args))
}

/// `echo_server`'s life, unchanged.
fn serve(args: &Args) -> io::Result<()> {
    let _console = Console::start(args.server.quiet)?;
    announce!("[STARTING] Server is starting...");
    let server = Server::bind(&args.server, ADDR)?;
    stop_on_signals(server.stopper()?)?;
    announce!("[LISTENING] Server is listening on port {}", server.port());
    while let Some(client) = server.next_client() {
        spawn_client_thread(client, handle_client);
    }
    announce!("[SHUTTING DOWN] Closing open sessions...");
    let unfinished = server.close_all_clients(SHUTDOWN_GRACE);
    if unfinished > 0 {
        warn!("{unfinished} sessions did not end in time; closing them");
    }
    announce!("[STOPPED] Server stopped.");
    Ok(())
}

/// `echo_server`'s session, with the bug at its end.
fn handle_client(client: Client) {
    let address = client.address;
    say!("[New Connection] Client connected from {address}");
    let mut session = LineSession::new(&client);
    let mut stream = client.stream();
    let ending = loop {
        let reply = match session.receive() {
            Next::Line(line) if line.text == DISCONNECT_MSG => break Ending::Goodbye,
            Next::Line(line) => {
                say!("[{address}] {}", escape(&line.text));
                line.as_sent()
            }
            Next::NotUtf8 => format!("{NOT_UTF8}\n"),
            Next::TooLong => format!("{TOO_LONG}\n"),
            Next::End(ending) => break ending,
        };
        if let Err(e) = stream.write_all(reply.as_bytes()) {
            break if is_timeout(&e) {
                Ending::NotReading
            } else {
                Ending::Broken(e)
            };
        }
    };
    if let Some(error) = ending.error_line() {
        let _ = client.send_line(&error);
    }
    // THE BUG: kept "for the log", and never let go.
    if matches!(ending, Ending::ClosedMidLine | Ending::Broken(_)) {
        VANISHED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((client.shared_stream(), vec![1; 16 * 1024]));
    }
    client.finish();
    say!("[Client disconnected] {address}: {}", ending.reason());
}
