//! One client for all three servers.
//!
//! With no arguments it is the counter tutorial's `client.py`: connect to the
//! counter server, send `Hello, Server!`, print the reply.
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
//!
//! # Which server is there
//!
//! Each lesson's server gives itself away in the first thing it sends (see
//! [`Protocol::recognize`]): the counter server its greeting, after which it
//! closes; the queue server a welcome line, the moment you connect; the echo
//! server the line you sent. If that is another lesson's server, the client
//! says so in one line and stops, rather than print something that looks like
//! an answer:
//!
//! ```text
//! cargo run --bin client -- queue --port 56011
//! client: 127.0.0.1:56011: this looks like echo_server; use `client echo`
//! ```
//!
//! The check costs a right server nothing. The counter and echo servers both
//! wait for the client to speak first, and the counter client sends its
//! message with no newline, as the original does: an echo server waits for
//! the newline for ever. So a server that has said nothing after
//! [`PROBE_AFTER`] gets one bare newline. An echo server then echoes the
//! message; a counter server has its message already (a newline at its end
//! is not part of it) and answers as it would have. `client queue` waits for
//! its welcome before it sends anything, and probes the same way.
//!
//! # Exit status
//!
//! 0 when the exchange or the session went as it should. 1 when it did not,
//! with one line on stderr saying why: no server, another lesson's server,
//! a refusal, no answer in time. 2 for a command line it cannot use.

use std::error::Error;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use threaded_servers::cli::ServerAddress;
use threaded_servers::console::escape;
use threaded_servers::framing::{SIZE, is_timeout};
use threaded_servers::protocol::{DISCONNECT_MSG, Protocol, is_error};
use threaded_servers::threads::socket::send_line;
use threaded_servers::{say, warn};

/// How long to wait for the counter server's reply, or for the end of a session.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a server that should have spoken may stay silent before the
/// client sends it a bare newline, to find out which server it is.
const PROBE_AFTER: Duration = Duration::from_secs(1);

/// A client for the lesson servers. With no arguments: the counter tutorial's client.py.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Which server to talk to [default: counter].
    #[command(subcommand)]
    server: Option<Protocol>,

    #[command(flatten)]
    address: ServerAddress,

    /// A message to send; repeat for several. Counter: one message
    /// [default: "Hello, Server!"]. Echo and queue: without any, lines are read from stdin.
    #[arg(short, long, global = true)]
    message: Vec<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let protocol = args.server.unwrap_or(Protocol::Counter);
    let stream = match connect(&args.address, protocol) {
        Ok(stream) => stream,
        Err(why) => {
            warn!("client: {why}");
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
        Protocol::Echo => hold_session(stream, args.message),
        Protocol::Queue => await_welcome(&stream).and_then(|()| hold_session(stream, args.message)),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let port = args.address.port_for(protocol);
            warn!("client: {}:{port}: {}", args.address.host, describe(&e));
            ExitCode::FAILURE
        }
    }
}

/// An I/O error in a sentence; a timeout named as one (a timed-out read on
/// Linux says only "Resource temporarily unavailable").
fn describe(error: &io::Error) -> String {
    if is_timeout(error) {
        format!("no answer within {} s", REPLY_TIMEOUT.as_secs())
    } else {
        error.to_string()
    }
}

/// Connects to the first of the server's addresses that answers; on
/// failure, the one line to print, with what to check: the host name, or
/// whether `protocol`'s server is running.
fn connect(address: &ServerAddress, protocol: Protocol) -> Result<TcpStream, String> {
    let mut last_error = None;
    for socket_address in address.resolve(protocol)? {
        match TcpStream::connect_timeout(&socket_address, REPLY_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) => last_error = Some(e),
        }
    }
    let why = last_error.map_or_else(|| "no address".into(), |e| describe(&e));
    Err(format!(
        "cannot connect to {}:{}: {why}. Is {} running? Start it with: {}",
        address.host,
        address.port_for(protocol),
        protocol.server_name(),
        address.start_command(protocol, false)
    ))
}

/// The original tutorial's client: send one message, print the reply.
fn send_one_message(mut stream: &TcpStream, message: &str) -> io::Result<()> {
    stream.write_all(message.as_bytes())?;
    // The server closes the connection after its reply, so read to the end
    // of the stream rather than trusting one read to hold it all.
    let reply = read_reply(stream, message)?;
    say!("Server replied: {reply}");
    if is_error(&reply) {
        return Err(io::Error::other("the server refused the message"));
    }
    Ok(())
}

/// The counter server's reply: all it sends before it closes the connection.
///
/// Its first line tells another lesson's server apart, before anything is
/// printed (see the module's doc). A counter server's reply has no newline,
/// unless it is an `ERROR: ...` line.
fn read_reply(stream: &TcpStream, message: &str) -> io::Result<String> {
    let first = first_line(stream)?;
    if first.ends_with('\n') {
        check_first_line(Protocol::Counter, &first, message)?;
    }
    let mut reply = first.into_bytes();
    stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
    stream
        .take(SIZE as u64 * 4)
        .read_to_end(&mut reply)
        .map_err(|e| partly_answered(&reply, e))?;
    if reply.is_empty() {
        return Err(io::Error::other(
            "the server closed the connection without a reply",
        ));
    }
    Ok(String::from_utf8_lossy(&reply).trim_end().to_string())
}

/// Queue: the welcome comes first, before the session sends anything, and
/// is the session's first line on screen.
fn await_welcome(stream: &TcpStream) -> io::Result<()> {
    let first = first_line(stream)?;
    if first.is_empty() {
        return Err(io::Error::other(
            "the server closed the connection without a welcome",
        ));
    }
    // The probe, if there was one, was an empty line.
    check_first_line(Protocol::Queue, &first, "")?;
    say!("{}", escape(first.trim_end()));
    if is_error(&first) {
        // Turned away (too many clients): the server closes the connection.
        return Err(io::Error::other("the server refused the session"));
    }
    // From here the session waits on the person typing, for as long as they like.
    stream.set_read_timeout(None)
}

/// The first line the server sends, with its `\n`, or what it sent before
/// closing the connection if no `\n` came; read a byte at a time, so that
/// nothing after it is taken from the session.
///
/// A server that has sent nothing after [`PROBE_AFTER`] is sent a bare
/// newline, once (see the module's doc).
fn first_line(mut stream: &TcpStream) -> io::Result<String> {
    let started = Instant::now();
    let mut probed = false;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        let waited = started.elapsed();
        let wait = if probed || !line.is_empty() {
            REPLY_TIMEOUT.saturating_sub(waited)
        } else {
            PROBE_AFTER.saturating_sub(waited)
        };
        if wait.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        stream.set_read_timeout(Some(wait))?;
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => {
                line.push(byte[0]);
                if byte[0] == b'\n' || line.len() >= SIZE * 4 {
                    break;
                }
            }
            Err(e) if is_timeout(&e) && !probed && line.is_empty() => {
                // If the server has just closed, the send fails, and the
                // next read finds out why; so its error can wait.
                let _ = send_line(stream, "");
                probed = true;
            }
            Err(e) => return Err(partly_answered(&line, e)),
        }
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// The error for a read that failed after `received` had arrived: says what
/// did arrive, so that it is not lost.
fn partly_answered(received: &[u8], error: io::Error) -> io::Error {
    if received.is_empty() {
        return error;
    }
    let received = String::from_utf8_lossy(received);
    io::Error::other(format!(
        "the reply stopped after {:?}: {}",
        received.trim_end(),
        describe(&error)
    ))
}

/// Fails unless `first` (the server's first line, see [`first_line`]) could
/// come from `expected`'s server, `sent` being the line the server has had.
fn check_first_line(expected: Protocol, first: &str, sent: &str) -> io::Result<()> {
    match Protocol::recognize(first, Some(sent)) {
        Some(server) if server == expected => Ok(()),
        Some(server) => Err(WrongServer(server).into()),
        // The lesson's own refusals, such as "too many clients".
        None if is_error(first) => Ok(()),
        None => Err(io::Error::other(format!(
            "this is not {}: its first line was {:?}",
            expected.server_name(),
            shortened(first.trim_end())
        ))),
    }
}

/// At most 60 characters of `text`, for quoting it in an error.
fn shortened(text: &str) -> String {
    const SHOWN: usize = 60;
    match text.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

/// Another lesson's server is on the other end.
#[derive(Debug)]
struct WrongServer(Protocol);

impl fmt::Display for WrongServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self(server) = self;
        write!(
            f,
            "this looks like {}; use `client {}`",
            server.server_name(),
            server.name()
        )
    }
}

impl Error for WrongServer {}

impl From<WrongServer> for io::Error {
    fn from(wrong: WrongServer) -> io::Error {
        io::Error::other(wrong)
    }
}

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
///
/// A first line that gives away another lesson's server (a counter server's
/// greeting, a queue server's welcome) is not printed: the session ends with
/// [`WrongServer`]. Only `client echo` can meet one here; `client queue` has
/// read its welcome before the session starts.
fn print_lines(stream: TcpStream) -> io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    let mut first = true;
    loop {
        line.clear();
        // Bounded, like the servers' reads: a line of 64 KiB is shown in pieces.
        if (&mut reader).take(64 * 1024).read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        if first && let Some(server) = Protocol::recognize(&text, None) {
            return Err(WrongServer(server).into());
        }
        first = false;
        // Escaped: on the queue server, other people's messages arrive here,
        // and they must not be able to send escape codes to your terminal.
        say!("{}", escape(text.trim_end_matches(['\r', '\n'])));
    }
}
