//! One client for all three servers.
//!
//! With no arguments it is seed 001's `client.py`: connect to the counter
//! server, send `Hello, Server!`, print the reply.
//!
//! ```text
//! cargo run --bin client
//! Server replied: Hello Client 1, server received your message!
//! ```
//!
//! `client echo` and `client queue` hold a session with the echo and queue
//! servers: they send each `--message`, or else each line typed on stdin,
//! print every line the server sends the moment it arrives, and leave with
//! `!DISCONNECT` at the end.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use clap::Parser;
use threaded_servers::console::escape;
use threaded_servers::framing::{SIZE, is_timeout, send_line};
use threaded_servers::protocol::{DISCONNECT_MSG, Protocol};
use threaded_servers::{say, warn};

/// How long to wait for the counter server's reply, or for the end of a session.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// A client for the lesson servers. With no arguments: seed 001's client.py.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Which server to talk to [default: counter].
    #[command(subcommand)]
    server: Option<Protocol>,

    /// Server address.
    #[arg(long, global = true, default_value = "127.0.0.1")]
    host: String,

    /// Server port [default: the lesson's port for that server].
    #[arg(long, global = true)]
    port: Option<u16>,

    /// A message to send; repeat for several. Counter: one message
    /// [default: "Hello, Server!"]. Echo and queue: without any, lines are read from stdin.
    #[arg(short, long, global = true)]
    message: Vec<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let protocol = args.server.unwrap_or(Protocol::Counter);
    let port = args.port.unwrap_or(protocol.default_port());
    let address = format!("{}:{port}", args.host);
    let stream = match connect(&args.host, port) {
        Ok(stream) => stream,
        Err(e) => {
            let server = protocol.server_name();
            warn!(
                "client: cannot connect to {address}: {e}. Is {server} running? Start it with: cargo run --bin {server}"
            );
            return ExitCode::FAILURE;
        }
    };
    let outcome = match protocol {
        Protocol::Counter => {
            let message = args
                .message
                .first()
                .map_or("Hello, Server!", String::as_str);
            send_one_message(&stream, message)
        }
        Protocol::Echo | Protocol::Queue => hold_session(stream, args.message),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_timeout(&e) => {
            warn!(
                "client: {address}: no answer within {} s",
                REPLY_TIMEOUT.as_secs()
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            warn!("client: {address}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Connects to the first address `host` resolves to that answers.
fn connect(host: &str, port: u16) -> io::Result<TcpStream> {
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, "no such address");
    for address in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&address, REPLY_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

// ANCHOR: send_one_message
/// Seed 001's client: send one message, print the reply.
fn send_one_message(mut stream: &TcpStream, message: &str) -> io::Result<()> {
    stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
    stream.write_all(message.as_bytes())?;
    // The server closes the connection after its reply, so read to the end
    // of the stream rather than trusting one read to hold it all. If the
    // connection then fails, what did arrive is still shown.
    let mut reply = Vec::new();
    let read = stream.take(SIZE as u64 * 4).read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply);
    if !reply.is_empty() {
        say!("Server replied: {}", reply.trim_end());
    }
    read?;
    if reply.is_empty() {
        return Err(io::Error::other(
            "the server closed the connection without a reply",
        ));
    }
    if reply.starts_with("ERROR") {
        return Err(io::Error::other("the server refused the message"));
    }
    Ok(())
}
// ANCHOR_END: send_one_message

/// What the session loop waits for.
enum Event {
    /// A line typed on stdin (or given with --message), to send as it is.
    Typed(Vec<u8>),
    /// Nothing more to send.
    EndOfInput,
    /// The server closed the connection (or it broke).
    ServerClosed(io::Result<()>),
}

// ANCHOR: hold_session
/// Echo and queue servers: send lines, print what comes back as it comes, say goodbye.
///
/// Three threads, each doing one blocking thing: this one sends, a reader
/// prints what the server sends, and (without --message) a typist reads stdin. They
/// report to this one over a channel, so it never waits on the wrong thing:
/// if the server closes the connection while you are still typing, the
/// session ends at once.
fn hold_session(stream: TcpStream, messages: Vec<String>) -> io::Result<()> {
    let (events, next_event) = mpsc::channel();

    let server_side = stream.try_clone()?;
    let reader_events = events.clone();
    thread::Builder::new()
        .name("reader".into())
        .spawn(move || {
            let _ = reader_events.send(Event::ServerClosed(print_lines(server_side)));
        })?;

    if messages.is_empty() {
        thread::Builder::new()
            .name("typist".into())
            .spawn(move || {
                // Bytes, not `String`s: a line that is not UTF-8 goes to the
                // server as it is, and the server answers it.
                for line in io::stdin().lock().split(b'\n').map_while(Result::ok) {
                    if events.send(Event::Typed(line)).is_err() {
                        return;
                    }
                }
                let _ = events.send(Event::EndOfInput);
            })?;
    } else {
        for message in messages {
            let _ = events.send(Event::Typed(message.into_bytes()));
        }
        let _ = events.send(Event::EndOfInput);
    }

    let mut said_goodbye = false;
    // Set when a send finds the connection closed: the server has gone, but
    // the reader may not have printed all it sent before going.
    let mut server_gone = false;
    loop {
        // Once we have said goodbye, the server has REPLY_TIMEOUT to close.
        let event = if said_goodbye || server_gone {
            next_event.recv_timeout(REPLY_TIMEOUT).map_err(|_| {
                io::Error::other("the server did not close the session after !DISCONNECT")
            })?
        } else {
            next_event.recv().map_err(io::Error::other)?
        };
        match event {
            // Nowhere to send it; wait for the reader to finish instead.
            Event::Typed(_) | Event::EndOfInput if server_gone => {}
            Event::Typed(line) => {
                // Typing the goodbye yourself counts as saying it.
                said_goodbye |=
                    line.strip_suffix(b"\r").unwrap_or(&line) == DISCONNECT_MSG.as_bytes();
                server_gone = !send_unless_closed(&stream, line)?;
            }
            Event::EndOfInput => {
                said_goodbye = true;
                server_gone = !send_unless_closed(&stream, DISCONNECT_MSG)?;
            }
            Event::ServerClosed(Ok(())) if said_goodbye && !server_gone => return Ok(()),
            Event::ServerClosed(Ok(())) => {
                return Err(io::Error::other("the server closed the connection"));
            }
            Event::ServerClosed(Err(e)) => return Err(e),
        }
    }
}
// ANCHOR_END: hold_session

/// Sends one line; `Ok(false)` if the server has already closed the connection.
///
/// Returning the error at once would end the program while the reader may
/// still hold the server's last replies (its shutdown line, say) unprinted.
fn send_unless_closed(stream: &TcpStream, line: impl AsRef<[u8]>) -> io::Result<bool> {
    match send_line(stream, line) {
        Ok(()) => Ok(true),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Prints every line from the server until it closes the connection.
fn print_lines(stream: TcpStream) -> io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        // Bounded, like the servers' reads: a line of 64 KiB is shown in pieces.
        if (&mut reader).take(64 * 1024).read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        // Escaped: on the queue server, other people's messages arrive here,
        // and they must not be able to send escape codes to your terminal.
        say!("{}", escape(text.trim_end_matches(['\r', '\n'])));
    }
}
