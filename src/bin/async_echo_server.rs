//! Lesson 6: lesson 2's echo server, with a task per client instead of a thread.
//!
//! Each client gets a task that loops: read a line, send it back, until the
//! client sends `!DISCONNECT` or closes the connection. The protocol, port,
//! console lines and flags are `echo_server`'s, line for line.
//!
//! Run it in one terminal:
//!
//! ```text
//! cargo run --bin async_echo_server
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

use clap::Parser;
use threaded_servers::cli::{ServerArgs, listen_defaults};
use threaded_servers::console::{Console, escape, exit_code};
use threaded_servers::framing::{self, is_timeout};
use threaded_servers::protocol::{self, NOT_UTF8, Protocol, TOO_LONG};
use threaded_servers::session::{Ending, Next};
use threaded_servers::tasks::client::Client;
use threaded_servers::tasks::server::Server;
use threaded_servers::tasks::session::LineSession;
use threaded_servers::tasks::shutdown::stop_on_signals;
use threaded_servers::timing::SHUTDOWN_GRACE;
use threaded_servers::{announce, say, warn};

/// Where the server listens: this machine only, port 56011 (`--host` and `--port` override it).
const ADDR: (&str, u16) = ("127.0.0.1", Protocol::Echo.default_port());
/// SIZE: the longest message in bytes, not counting its line ending.
const SIZE: usize = framing::SIZE;
/// FORMAT: the encoding of every message (a Rust `String` is always UTF-8).
const FORMAT: &str = "UTF-8";
/// DISCONNECT_MSG: the line that ends a client's session, "!DISCONNECT".
const DISCONNECT_MSG: &str = protocol::DISCONNECT_MSG;

/// Lesson 6: lesson 2's echo server, with a task per client instead of a thread.
#[derive(Parser)]
#[command(version, mut_args(listen_defaults(ADDR)))]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    exit_code("async_echo_server", serve(&args).await)
}

/// The server's life: start, serve clients until Ctrl-C, stop.
async fn serve(args: &Args) -> io::Result<()> {
    let _console = Console::start(args.server.quiet)?;
    announce!("[STARTING] Server is starting...");
    let server = Server::bind(&args.server, ADDR)?;
    stop_on_signals(server.stopper())?;
    announce!("[LISTENING] Server is listening on port {}", server.port());

    // ANCHOR: accept_loop
    while let Some(client) = server.next_client().await {
        tokio::spawn(handle_client(client));
    }
    // ANCHOR_END: accept_loop

    // Ctrl-C or SIGTERM: every session saw it in its own wait, read what its
    // client had already sent, and ended.
    let open = server.client_count();
    let sessions = if open == 1 { "session" } else { "sessions" };
    announce!("[SHUTTING DOWN] Closing {open} open {sessions}...");
    let unfinished = server.close_all_clients(SHUTDOWN_GRACE).await;
    if unfinished > 0 {
        warn!("{unfinished} sessions did not end in time; closing them");
    }
    announce!("[STOPPED] Server stopped.");
    Ok(())
}

// ANCHOR: handle_client
/// One client's session, as a task: the original's `handle_client`.
async fn handle_client(mut client: Client) {
    let address = client.address;
    say!("[New Connection] Client connected from {address}");
    // Formatted once: every message's log line starts with it.
    let from = format!("[{address}]");

    let mut session = LineSession::new(&mut client.input);
    let output = &mut client.output;
    let ending = loop {
        let reply = match session.receive().await {
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
        if let Err(e) = output.send(reply.as_bytes()).await {
            break if is_timeout(&e) {
                Ending::NotReading
            } else {
                Ending::Broken(e)
            };
        }
    };
    if let Some(error) = ending.error_line() {
        let _ = output.send_line(&error).await;
    }
    client.finish().await;
    say!("[Client disconnected] {address}: {}", ending.reason());
}
// ANCHOR_END: handle_client
