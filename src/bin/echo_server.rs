//! Lesson 2: an echo server, a loop per client, and message framing (the echo tutorial, "MultiThreadServer.py").
//!
//! Each client gets a thread that loops: read a line, send it back, until the
//! client sends `!DISCONNECT` or closes the connection.
//!
//! Run it in one terminal:
//!
//! ```text
//! cargo run --bin echo_server
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

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;
use threaded_servers::cli::{ServerArgs, listen_defaults};
use threaded_servers::console::{Console, escape, exit_code};
use threaded_servers::framing::{self, is_timeout};
use threaded_servers::protocol::{self, NOT_UTF8, Protocol, TOO_LONG};
use threaded_servers::session::{Ending, Next};
use threaded_servers::threads::connections::Client;
use threaded_servers::threads::server::{Server, spawn_client_thread};
use threaded_servers::threads::session::LineSession;
use threaded_servers::threads::shutdown::stop_on_signals;
use threaded_servers::timing::SHUTDOWN_GRACE;
use threaded_servers::{announce, say, warn};

// ANCHOR: constants
// The original's module constants.
/// IP: listen on this machine only, unless `--host` says otherwise.
const IP: &str = "127.0.0.1";
/// PORT: the original's port, 56011, unless `--port` says otherwise.
const PORT: u16 = Protocol::Echo.default_port();
/// ADDR: the address the server listens on when no flag says otherwise.
const ADDR: (&str, u16) = (IP, PORT);
/// SIZE: the longest message in bytes, not counting its line ending.
const SIZE: usize = framing::SIZE;
/// FORMAT: the encoding of every message (a Rust `String` is always UTF-8).
const FORMAT: &str = "UTF-8";
/// DISCONNECT_MSG: the line that ends a client's session, "!DISCONNECT".
const DISCONNECT_MSG: &str = protocol::DISCONNECT_MSG;
// ANCHOR_END: constants

/// Lesson 2: an echo server, a loop per client, and message framing (the echo tutorial, "MultiThreadServer.py").
#[derive(Parser)]
#[command(version, mut_args(listen_defaults(ADDR)))]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    exit_code("echo_server", serve(&args))
}

// ANCHOR: serve
/// The server's life: start, serve clients until Ctrl-C, stop.
fn serve(args: &Args) -> io::Result<()> {
    let _console = Console::start(args.server.quiet)?;
    announce!("[STARTING] Server is starting...");
    let server = Server::bind(&args.server, ADDR)?;
    stop_on_signals(server.stopper()?)?;
    announce!("[LISTENING] Server is listening on port {}", server.port());

    while let Some(client) = server.next_client() {
        spawn_client_thread(client, handle_client);
    }

    // Ctrl-C or SIGTERM: every session's next read returns end of stream, so
    // each loop below ends as if its client had closed, and each client sees
    // the connection close.
    let open = server.client_count();
    let sessions = if open == 1 { "session" } else { "sessions" };
    announce!("[SHUTTING DOWN] Closing {open} open {sessions}...");
    let unfinished = server.close_all_clients(SHUTDOWN_GRACE);
    if unfinished > 0 {
        warn!("{unfinished} sessions did not end in time; closing them");
    }
    announce!("[STOPPED] Server stopped.");
    Ok(())
}
// ANCHOR_END: serve

// ANCHOR: handle_client
/// One client's session, on its own thread: the original's `handle_client`.
fn handle_client(client: Client) {
    let address = client.address;
    say!("[New Connection] Client connected from {address}");
    // Formatted once: every message's log line starts with it.
    let from = format!("[{address}]");

    let mut session = LineSession::new(&client);
    let mut stream = client.stream();
    let ending = loop {
        let reply = match session.receive() {
            Next::Line(line) if line.text == DISCONNECT_MSG => break Ending::Goodbye,
            Next::Line(line) => {
                say!("{from} {}", escape(&line.text));
                line.as_sent()
            }
            Next::NotUtf8 => {
                say!("{from} sent a line that is not {FORMAT}");
                format!("{NOT_UTF8}\n")
            }
            Next::TooLong => {
                say!("{from} sent a line longer than {SIZE} bytes");
                format!("{TOO_LONG}\n")
            }
            Next::End(ending) => break ending,
        };
        // A client that stops reading fills its buffers; then this write waits
        // at most --write-timeout and fails, and the session ends.
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
    client.finish();
    say!("[Client disconnected] {address}: {}", ending.reason());
}
// ANCHOR_END: handle_client
