//! Lesson 5: lesson 3's queue server, as one thread running one event loop.
//!
//! The protocol, port, console lines and flags are `queue_server`'s. The
//! parts are the original's too, and all of them belong to the loop's one
//! thread, so none needs a lock:
//!
//! - `client_connections`, the registry: client id -> the token of its
//!   connection. A plain `HashMap`.
//! - `client_counter`: a plain number.
//! - `message_queue`: a `VecDeque`. Each client's lines go in as they are
//!   read, and the loop takes them out in order, logs them and answers them
//!   (the original's processing thread), before it goes back to waiting.
//! - `print_lock`: the console's printer, as in every server here.
//!
//! A reply goes to its client's socket at once if it has room; if not, it
//! waits in the client's output buffer, up to `REPLY_BACKLOG` bytes. A
//! client that lets more pile up than that, on top of what its socket
//! buffers hold, is not reading: it is disconnected, as the threaded server
//! disconnects a client whose socket buffers are full.
//!
//! Run it in one terminal, and `cargo run --bin client -- queue` in two others:
//!
//! ```text
//! cargo run --bin event_queue_server
//! Server is listening on port 65432...
//! ```

use std::collections::{HashMap, VecDeque};
use std::io;
use std::process::ExitCode;

use clap::Parser;
use mio::Token;
use threaded_servers::cli::{ServerArgs, listen_defaults};
use threaded_servers::console::{Console, escape, exit_code};
use threaded_servers::events::connection::{Clients, Connection, Deadline, Input, Sent};
use threaded_servers::events::server::{Server, Service};
use threaded_servers::protocol::{
    DISCONNECT_MSG, NOT_UTF8, Protocol, SHUTDOWN_NOTICE, TOO_LONG, delivered, direct_message,
    goodbye, no_such_client, not_delivered, parse_direct_message, processed, welcome,
};
use threaded_servers::session::{Dropped, Ending, Next};
use threaded_servers::{announce, say, warn};

/// Where the server listens: this machine only, port 65432 (`--host` and
/// `--port` override it). The tutorial names no port; this is the course's.
const ADDR: (&str, u16) = ("127.0.0.1", Protocol::Queue.default_port());
/// How many events may wait in the queue before the loop answers them and
/// reads on. (A line just read owns up to a kilobyte: the queue's memory
/// stays bounded, as the other queue servers' bounded channels keep it.)
const QUEUE_CAPACITY: usize = 1024;
/// How many bytes of replies may wait for a client whose socket buffers
/// are full. Past this the client is not reading: it is disconnected, and
/// what it had not taken is lost with the connection, as Redis drops a
/// client whose output buffer overflows. (About a megabyte, as the async
/// server's mailbox of 1,024 lines of up to about 1 KiB.)
const REPLY_BACKLOG: usize = 1024 * 1024;

/// Lesson 5: lesson 3's queue server, as one thread running one event loop.
#[derive(Parser)]
#[command(version, mut_args(listen_defaults(ADDR)))]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    exit_code("event_queue_server", serve(&args))
}

/// The server's life: start, serve clients until Ctrl-C, answer what is left, stop.
fn serve(args: &Args) -> io::Result<()> {
    // The original's `print_lock`: one printer thread owns the console, and
    // `say!` hands it lines without waiting, so the loop may log.
    let _console = Console::start(args.server.quiet)?;
    let server = Server::bind(&args.server, ADDR)?;
    server.stop_on_signals()?;
    announce!("Server is listening on port {}...", server.port());

    let mut queue = Queue {
        client_counter: 0,
        client_connections: HashMap::new(),
        message_queue: VecDeque::new(),
    };
    let unfinished = server.run(&mut queue)?;

    if unfinished > 0 {
        warn!("{unfinished} clients did not finish in time; closing them");
    }
    announce!("Server stopped.");
    Ok(())
}

// ANCHOR: queue
/// The original's shared state, owned by the loop's one thread: plain
/// values, no `Arc`, no `Mutex`. Nothing else can touch them.
struct Queue {
    /// The last client id handed out.
    client_counter: u64,
    /// Client id -> the token of its connection in the loop.
    client_connections: HashMap<u64, Token>,
    /// Every client's messages, in the order they were read.
    message_queue: VecDeque<Event>,
}
// ANCHOR_END: queue

/// What goes through the `message_queue`: everything a client has to say,
/// so that its replies come in the order it spoke.
enum Event {
    /// A line the client sent.
    Message { from: u64, text: String },
    /// A line that could not be accepted: the log says `what` came, and
    /// the sender gets the `error` line.
    Invalid {
        from: u64,
        what: &'static str,
        error: &'static str,
    },
    /// The client is leaving, after everything it sent before: its last
    /// line (if any), then the lingering close.
    Leaving {
        from: u64,
        farewell: Option<String>,
        ending: Ending,
    },
}

/// What the server keeps about a client.
#[derive(Default)]
struct Member {
    client_id: u64,
    /// Its session is over: its `Leaving` is in the queue; nothing more is read.
    leaving: bool,
}

impl Service for Queue {
    type Client = Member;

    fn connected(&mut self, clients: &mut Clients<Member>, token: Token) {
        self.client_counter += 1;
        let client_id = self.client_counter;
        if let Some(member) = clients.client_mut(token) {
            member.client_id = client_id;
        }
        // The welcome first: nobody can write to this client before it is
        // registered, and registering is the next step.
        let welcome = welcome(client_id);
        let sent = clients.send(token, &[welcome.as_bytes(), b"\n"], REPLY_BACKLOG);
        self.client_connections.insert(client_id, token);
        if let Some(connection) = clients.get(token) {
            say!("Client {client_id} connected from {}", connection.address());
        }
        if let Sent::Failed(e) = sent {
            self.drop_client(clients, token, client_id, Ending::Broken(e));
        }
    }
    /// The original's client thread, one turn at a time: every line the
    /// client has sent goes into the queue; then the queue is answered.
    fn serve(&mut self, clients: &mut Clients<Member>, token: Token) {
        let Some(&Member {
            client_id: from,
            leaving: false,
        }) = clients.client(token)
        else {
            return;
        };
        loop {
            let event = match clients.next_message(token) {
                Input::Wait => break,
                Input::Next(Next::Line(line)) if line.text == DISCONNECT_MSG => {
                    self.leave(clients, token, from, Ending::Goodbye);
                    break;
                }
                Input::Next(Next::Line(line)) => Event::Message {
                    from,
                    text: line.text,
                },
                Input::Next(Next::NotUtf8) => Event::Invalid {
                    from,
                    what: "a line that is not UTF-8",
                    error: NOT_UTF8,
                },
                Input::Next(Next::TooLong) => Event::Invalid {
                    from,
                    what: "a line longer than 1024 bytes",
                    error: TOO_LONG,
                },
                Input::Next(Next::End(ending)) => {
                    self.leave(clients, token, from, ending);
                    break;
                }
            };
            self.message_queue.push_back(event);
            // Bounded: a client that sends faster than it is answered is
            // answered before more of it is read.
            if self.message_queue.len() >= QUEUE_CAPACITY {
                self.process_messages(clients);
            }
        }
        self.process_messages(clients);
    }

    fn timed_out(&mut self, clients: &mut Clients<Member>, token: Token, which: Deadline) {
        let Some(&Member { client_id, leaving }) = clients.client(token) else {
            return;
        };
        match which {
            Deadline::Idle if !leaving => {
                if let Next::End(ending) = clients.timed_out(token) {
                    self.leave(clients, token, client_id, ending);
                    self.process_messages(clients);
                }
            }
            Deadline::Idle => {}
            Deadline::Write => {
                say!("Client {client_id}: not reading its replies; disconnecting it.");
                self.drop_client(clients, token, client_id, Ending::NotReading);
            }
        }
    }

    fn stopping(&mut self, _clients: &Clients<Member>) {
        // Each client is served once more: what it had already sent is
        // queued, then its leaving, with the notice; the queue is answered.
        announce!("Server is shutting down: answering every message already received...");
    }

    fn disconnected(&mut self, connection: Connection<Member>) {
        let client_id = connection.client.client_id;
        // However the connection ended, the client is not in the registry any more.
        self.client_connections.remove(&client_id);
        let reason = connection.ending().map_or("closed".into(), Ending::reason);
        say!("Client {client_id} disconnected ({reason}).");
    }
}

impl Queue {
    /// The client's session is over: it leaves through the queue, behind
    /// its own messages, with its last line.
    fn leave(&mut self, clients: &mut Clients<Member>, token: Token, from: u64, ending: Ending) {
        if let Some(member) = clients.client_mut(token) {
            member.leaving = true;
        }
        let farewell = match &ending {
            Ending::Goodbye => Some(goodbye(from)),
            Ending::ServerStopping => Some(SHUTDOWN_NOTICE.to_string()),
            other => other.error_line(),
        };
        self.message_queue.push_back(Event::Leaving {
            from,
            farewell,
            ending,
        });
    }

    // ANCHOR: process_messages
    /// The original's processing thread, as a step of the loop: takes the
    /// events out of the queue, one at a time, in the order they went in,
    /// and answers them. Nothing here waits: a reply a client cannot take
    /// now waits in its output buffer.
    fn process_messages(&mut self, clients: &mut Clients<Member>) {
        while let Some(event) = self.message_queue.pop_front() {
            match event {
                Event::Message { from, text } => {
                    say!("Client {from} says: {}", escape(&text));
                    let answer = match parse_direct_message(&text) {
                        None => processed(&text),
                        Some(Err(usage)) => usage.to_string(),
                        Some(Ok((to, body))) => {
                            let line = direct_message(from, body);
                            match self.send_or_drop(clients, to, &line) {
                                Delivery::Sent => delivered(to, body),
                                Delivery::NotRegistered => no_such_client(to),
                                Delivery::Dropped(why) => not_delivered(to, why.words()),
                            }
                        }
                    };
                    self.send_or_drop(clients, from, &answer);
                }
                Event::Invalid { from, what, error } => {
                    say!("Client {from} sent {what}");
                    self.send_or_drop(clients, from, error);
                }
                Event::Leaving {
                    from,
                    farewell,
                    ending,
                } => {
                    if let Some(farewell) = farewell {
                        self.send_or_drop(clients, from, &farewell);
                    }
                    // Every message it sent has been answered: forget it,
                    // and close once its last replies are out.
                    if let Some(token) = self.client_connections.remove(&from) {
                        clients.finish(token, &[], ending);
                    }
                }
            }
        }
    }
    // ANCHOR_END: process_messages
    /// Sends one line to a registered client, without waiting: into its
    /// socket if there is room, or its output buffer if that holds less
    /// than `REPLY_BACKLOG`. A client whose buffer is that full is not
    /// reading: it is disconnected.
    fn send_or_drop(
        &mut self,
        clients: &mut Clients<Member>,
        client_id: u64,
        line: &str,
    ) -> Delivery {
        let Some(&token) = self.client_connections.get(&client_id) else {
            return Delivery::NotRegistered;
        };
        let (why, ending) = match clients.send(token, &[line.as_bytes(), b"\n"], REPLY_BACKLOG) {
            Sent::All | Sent::Pending => return Delivery::Sent,
            Sent::OverLimit => {
                say!("Client {client_id}: not reading its replies; disconnecting it.");
                (Dropped::NotReading, Ending::NotReading)
            }
            Sent::Failed(e) => {
                say!("Client {client_id}: connection lost: {e}; disconnecting it.");
                (Dropped::ConnectionLost, Ending::Broken(e))
            }
        };
        self.drop_client(clients, token, client_id, ending);
        Delivery::Dropped(why)
    }

    /// Forgets a client and closes its connection at once.
    fn drop_client(
        &mut self,
        clients: &mut Clients<Member>,
        token: Token,
        client_id: u64,
        ending: Ending,
    ) {
        self.client_connections.remove(&client_id);
        clients.abort(token, ending);
    }
}

/// What became of a line for a client.
enum Delivery {
    Sent,
    /// No such client (never was, or it has left).
    NotRegistered,
    /// The client could not take the line, for this reason; it has been disconnected.
    Dropped(Dropped),
}
