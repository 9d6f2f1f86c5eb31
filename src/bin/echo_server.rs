//! Lesson 2: an echo server, a loop per client, and message framing (seed 002).
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

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use threaded_servers::cli::{Protocol, ServerArgs};
use threaded_servers::console::escape;
use threaded_servers::framing::{
    self, IDLE_TIMEOUT, INCOMPLETE, LineReader, NOT_UTF8, Received, TOO_LONG,
};
use threaded_servers::server::{Client, SHUTDOWN_GRACE, Server, spawn_client_thread};
use threaded_servers::{say, warn};

// ANCHOR: constants
// The seed's module constants.
/// IP: listen on this machine only, unless `--host` says otherwise.
const IP: &str = "127.0.0.1";
/// PORT: the seed's port, 56011, unless `--port` says otherwise.
const PORT: u16 = Protocol::Echo.default_port();
/// ADDR: the address the server listens on when no flag says otherwise.
const ADDR: (&str, u16) = (IP, PORT);
/// SIZE: the longest message in bytes, not counting its line ending.
const SIZE: usize = framing::SIZE;
/// FORMAT: the encoding of every message (a Rust `String` is always UTF-8).
const FORMAT: &str = "UTF-8";
/// DISCONNECT_MSG: the line that ends a client's session, "!DISCONNECT".
const DISCONNECT_MSG: &str = framing::DISCONNECT_MSG;
// ANCHOR_END: constants

/// Lesson 2: an echo server, a loop per client, and message framing (seed 002).
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
}

// ANCHOR: main
fn main() -> ExitCode {
    let args = Args::parse();
    say!("[STARTING] Server is starting...");
    let server = match Server::start(&args.server, ADDR) {
        Ok(server) => server,
        Err(e) => {
            warn!("echo_server: {e}");
            return ExitCode::FAILURE;
        }
    };
    say!("[LISTENING] Server is listening on port {}", server.port());

    while let Some(client) = server.next_client() {
        spawn_client_thread(client, handle_client);
    }

    // Ctrl-C or SIGTERM: every session's next read returns end of stream, so
    // each loop below ends as if its client had closed, and each client sees
    // the connection close.
    say!(
        "[SHUTTING DOWN] Closing {} open sessions...",
        server.client_count()
    );
    let unfinished = server.close_all_clients(SHUTDOWN_GRACE);
    if unfinished > 0 {
        warn!("{unfinished} sessions did not end in time; closing them");
    }
    say!("[STOPPED] Server stopped.");
    ExitCode::SUCCESS
}
// ANCHOR_END: main

// ANCHOR: handle_client
/// One client's session, on its own thread: the seed's `handle_client`.
fn handle_client(client: Client) {
    let address = client.address;
    say!("[New Connection] Client connected from {address}");

    // One line reader for the whole session: its buffer may already hold the
    // start of the next line, which a fresh reader would lose.
    let mut lines = LineReader::new(client.shared_stream(), client.idle_timeout());
    let mut stream = client.stream();
    let why = loop {
        let reply = match lines.next_message() {
            Ok(Received::Line(line)) if line.text == DISCONNECT_MSG => break "sent !DISCONNECT",
            Ok(Received::Line(line)) => {
                say!("[{address}] {}", escape(&line.text));
                line.as_sent()
            }
            Ok(Received::NotUtf8) => {
                say!("[{address}] sent a line that is not {FORMAT}");
                format!("{NOT_UTF8}\n")
            }
            Ok(Received::TooLong) => {
                say!("[{address}] sent a line longer than {SIZE} bytes");
                format!("{TOO_LONG}\n")
            }
            Ok(Received::IdleTimeout) => {
                let _ = client.send_line(IDLE_TIMEOUT);
                break "idle timeout";
            }
            Ok(Received::End | Received::Incomplete) if client.server_is_stopping() => {
                break "server shutting down";
            }
            Ok(Received::End) => break "closed the connection",
            Ok(Received::Incomplete) => {
                let _ = client.send_line(INCOMPLETE);
                break "closed the connection in mid-line";
            }
            Err(e) => {
                say!("[{address}] connection failed: {e}");
                break "connection failed";
            }
        };
        // A client that stops reading fills its buffers; then this write waits
        // at most --write-timeout and fails, and the session ends.
        if stream.write_all(reply.as_bytes()).is_err() {
            break "not reading its echoes";
        }
    };
    client.close();
    say!("[Client disconnected] {address}: {why}");
}
// ANCHOR_END: handle_client
