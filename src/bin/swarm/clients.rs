//! One client of each protocol, and what it saw.
//!
//! Each client checks what its lesson promises and times its answers. Every
//! read has a timeout, so a server that stops answering fails the client
//! instead of hanging the run.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use threaded_servers::cli::ServerAddress;
use threaded_servers::framing::is_timeout;
use threaded_servers::protocol::{
    DISCONNECT_MSG, Protocol, goodbye, parse_greeting, parse_welcome, processed,
};
use threaded_servers::threads::socket::send_line;

use crate::Args;

/// How long any one read or connect may take before the client counts as failed.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// What one client saw.
#[derive(Default)]
pub struct Outcome {
    /// Time from sending to the answer: per connection (counter) or per line.
    pub latencies: Vec<Duration>,
    /// The id the server gave this client (counter greeting, queue welcome).
    pub id: Option<u64>,
    /// What went wrong, if anything.
    pub problem: Option<Problem>,
}

/// The ways a client can fail, counted apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Could not connect at all: most often, no server there.
    NoConnection(String),
    /// No answer, or not all of it: reset, closed, timed out.
    Unanswered(String),
    /// An answer, and a wrong one.
    Wrong(String),
}

/// Runs client number `n` of the load, start to finish.
pub fn run_client(args: &Args, address: SocketAddr, n: usize) -> Outcome {
    let mut outcome = Outcome::default();
    let result = match args.protocol {
        Protocol::Counter => counter_client(address, &mut outcome),
        Protocol::Echo | Protocol::Queue => session_client(args, address, n, &mut outcome),
    };
    outcome.problem = result.err();
    outcome
}

/// Connects, with timeouts on everything that could wait.
pub fn open(address: SocketAddr) -> Result<TcpStream, Problem> {
    let stream = TcpStream::connect_timeout(&address, TIMEOUT)
        .map_err(|e| Problem::NoConnection(e.to_string()))?;
    let setup = |e| unanswered("connect", e);
    stream.set_read_timeout(Some(TIMEOUT)).map_err(setup)?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(setup)?;
    // Each line is a whole request: send it now rather than wait to fill a packet.
    stream.set_nodelay(true).map_err(setup)?;
    Ok(stream)
}

/// The one line for a run that could not connect a single client.
pub fn no_server(protocol: Protocol, address: &ServerAddress, why: &str) -> String {
    format!(
        "swarm: cannot connect to {}:{}: {why}. Is {} running? Start it with: {}",
        address.host,
        address.port_for(protocol),
        protocol.server_name(),
        address.start_command(protocol, true)
    )
}

/// A client left without its answer: what it was doing, and why.
pub fn unanswered(what: &str, error: io::Error) -> Problem {
    if is_timeout(&error) {
        // A timed-out read says only "Resource temporarily unavailable".
        let seconds = TIMEOUT.as_secs();
        Problem::Unanswered(format!(
            "{what}: nothing from the server within {seconds} s"
        ))
    } else {
        Problem::Unanswered(format!("{what}: {error}"))
    }
}

/// Lesson 1: connect, send, read the greeting until the server closes.
fn counter_client(address: SocketAddr, outcome: &mut Outcome) -> Result<(), Problem> {
    let started = Instant::now();
    let mut stream = open(address)?;
    stream
        .write_all(b"Hello, Server!")
        .map_err(|e| unanswered("send", e))?;
    let mut reply = String::new();
    stream
        .take(4096)
        .read_to_string(&mut reply)
        .map_err(|e| unanswered("reply", e))?;
    outcome.latencies.push(started.elapsed());
    let id = parse_greeting(&reply).ok_or_else(|| Problem::Wrong(format!("greeting {reply:?}")))?;
    outcome.id = Some(id);
    Ok(())
}

/// Lessons 2 and 3: a session of `--messages` lines, sent `--window` at a
/// time before reading their answers. Each answer must be this client's
/// own, in order: the line itself (echo), or `Processed: ` and the line (queue).
fn session_client(
    args: &Args,
    address: SocketAddr,
    n: usize,
    outcome: &mut Outcome,
) -> Result<(), Problem> {
    let stream = open(address)?;
    // A buffered reader over a borrowed stream: no second file descriptor.
    let mut lines = BufReader::new(&stream);
    let farewell = if args.protocol == Protocol::Queue {
        let welcome = read_reply(&mut lines)?;
        let id = parse_welcome(&welcome)
            .ok_or_else(|| Problem::Wrong(format!("welcome {welcome:?}")))?;
        outcome.id = Some(id);
        Some(goodbye(id))
    } else {
        None
    };
    let sent: Vec<String> = (0..args.messages)
        .map(|m| format!("swarm client {n} message {m}"))
        .collect();
    // ANCHOR: window
    for batch in sent.chunks(args.window) {
        let mut bytes = Vec::new();
        for line in batch {
            bytes.extend(line.as_bytes());
            bytes.push(b'\n');
        }
        let asked = Instant::now();
        (&stream)
            .write_all(&bytes)
            .map_err(|e| unanswered("send", e))?;
        for line in batch {
            let reply = read_reply(&mut lines)?;
            outcome.latencies.push(asked.elapsed());
            let expected = match args.protocol {
                Protocol::Queue => processed(line),
                _ => line.clone(),
            };
            if reply != expected {
                return Err(Problem::Wrong(format!("sent {line:?}, got {reply:?}")));
            }
        }
    }
    // ANCHOR_END: window
    say_goodbye(&stream, &mut lines, farewell.as_deref())
}

/// Reads one line from the server, without its line ending.
pub fn read_reply(lines: &mut BufReader<&TcpStream>) -> Result<String, Problem> {
    let mut reply = String::new();
    match lines.take(64 * 1024).read_line(&mut reply) {
        Ok(0) => Err(Problem::Unanswered(
            "the server closed the connection".into(),
        )),
        Ok(_) => Ok(reply.trim_end_matches(['\r', '\n']).to_string()),
        Err(e) => Err(unanswered("reply", e)),
    }
}

/// Sends !DISCONNECT, expects `farewell` (if any) and then the end of the stream.
fn say_goodbye(
    stream: &TcpStream,
    lines: &mut BufReader<&TcpStream>,
    farewell: Option<&str>,
) -> Result<(), Problem> {
    send_line(stream, DISCONNECT_MSG).map_err(|e| unanswered("send", e))?;
    if let Some(farewell) = farewell {
        let line = read_reply(lines)?;
        if line != farewell {
            return Err(Problem::Wrong(format!(
                "expected {farewell:?}, got {line:?}"
            )));
        }
    }
    let mut rest = Vec::new();
    match lines.read_to_end(&mut rest) {
        Ok(_) if rest.is_empty() => Ok(()),
        Ok(_) => Err(Problem::Wrong(format!(
            "after {DISCONNECT_MSG}: {:?}",
            String::from_utf8_lossy(&rest)
        ))),
        Err(e) => Err(unanswered(&format!("after {DISCONNECT_MSG}"), e)),
    }
}
