//! Lesson 3: a client registry, a message queue and a processing thread (seed 000).
//!
//! Client threads do not answer their clients. They put every line they read
//! into one `message_queue`; a single processing thread takes the messages
//! out in order, logs them, and answers through `client_connections`, the
//! registry of who is connected. Because it can reach any client, it can also
//! pass a message from one client to another: `@2 hello` sends `hello` to
//! Client 2.
//!
//! Run it in one terminal, and `cargo run --bin client -- queue` in two others:
//!
//! ```text
//! cargo run --bin queue_server
//! Server is listening on port 65432...
//! ```

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, TcpStream};
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use socket2::SockRef;
use threaded_servers::cli::{Protocol, ServerArgs};
use threaded_servers::console::escape;
use threaded_servers::framing::{
    DISCONNECT_MSG, IDLE_TIMEOUT, INCOMPLETE, LineReader, NOT_UTF8, Received, TOO_LONG,
};
use threaded_servers::server::{Client, SHUTDOWN_GRACE, Server, spawn_client_thread};
use threaded_servers::{say, warn};

/// Where the seed listens: this machine only, port 65432 (`--host` and `--port` override it).
const ADDR: (&str, u16) = ("127.0.0.1", Protocol::Queue.default_port());
/// The last line every client gets when the server stops.
const SHUTDOWN_NOTICE: &str = "Server is shutting down. Goodbye!";
/// How many messages may wait in the queue. When it is full, client threads
/// wait before adding more, so they stop reading their sockets, and TCP makes
/// the senders wait in turn: a flood slows down; nothing is dropped.
const QUEUE_CAPACITY: usize = 1024;
/// How long a leaving client's thread waits for its last replies to go out.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(5);
/// After Ctrl-C, how long a client thread goes on reading what its client sent
/// before the signal. That is already in the kernel's buffer, so this is
/// plenty; it only cuts off a client that is still flooding.
const SHUTDOWN_READ_TIME: Duration = Duration::from_millis(250);

/// Lesson 3: a client registry, a message queue and a processing thread (seed 000).
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
}

// ANCHOR: client_connections
/// The seed's `client_connections`: client id -> a way to write to that client.
///
/// Shared by the main thread (it registers each new client), the processing
/// thread (it looks clients up to answer them) and every client thread (an
/// entry is removed when its client leaves), so: `Arc` to share it, `Mutex`
/// because all of them change or read it. Each lock is held for one map
/// operation; the `Arc<TcpStream>` is cloned out and written to after the
/// lock is released, so no thread ever waits on a socket while holding it.
type ClientConnections = Mutex<HashMap<u64, Arc<TcpStream>>>;

/// The client's connection, if it is still registered.
fn connection(client_connections: &ClientConnections, client_id: u64) -> Option<Arc<TcpStream>> {
    let registry = client_connections
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    registry.get(&client_id).cloned()
}

/// Removes a client from the registry; true if it was there.
fn forget(client_connections: &ClientConnections, client_id: u64) -> bool {
    let mut registry = client_connections
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    registry.remove(&client_id).is_some()
}
// ANCHOR_END: client_connections

// ANCHOR: event
/// What goes through the seed's `message_queue`: everything a client thread
/// has to say, so that the processing thread answers each client in the order
/// it spoke.
enum Event {
    /// A line the client sent.
    Message { from: u64, text: String },
    /// A line that could not be accepted: the sender gets this error line.
    Invalid { from: u64, error: String },
    /// The client is leaving. Everything it sent before is already answered
    /// when this comes out of the queue; `done` tells its thread so.
    Leaving {
        from: u64,
        farewell: Option<String>,
        done: mpsc::Sender<()>,
    },
}
// ANCHOR_END: event

// ANCHOR: main
fn main() -> ExitCode {
    let args = Args::parse();
    let server = match Server::start(&args.server, ADDR) {
        Ok(server) => server,
        Err(e) => {
            warn!("queue_server: {e}");
            return ExitCode::FAILURE;
        }
    };

    let client_connections: Arc<ClientConnections> = Arc::default();
    // The seed's `message_queue`. Bounded: see QUEUE_CAPACITY.
    let (message_queue, queued_messages) = mpsc::sync_channel::<Event>(QUEUE_CAPACITY);
    // The seed's processing thread. At shutdown, main waits for it to answer
    // every message already queued (the seed's daemon thread dies with them).
    let (processing_done, processing_finished) = mpsc::channel::<()>();
    let processing_thread = {
        let client_connections = Arc::clone(&client_connections);
        thread::Builder::new()
            .name("processing".into())
            .spawn(move || {
                process_messages(queued_messages, &client_connections);
                let _ = processing_done.send(());
            })
    };
    let processing_thread = match processing_thread {
        Ok(handle) => handle,
        Err(e) => {
            warn!("queue_server: cannot start the processing thread: {e}");
            return ExitCode::FAILURE;
        }
    };
    say!("Server is listening on port {}...", server.port());

    // The seed's `print_lock`: here the console belongs to one printer thread,
    // started by `Server::start`; `say!` hands it lines and never waits for
    // the console (see src/console.rs and lesson 3).
    //
    // The seed's `client_counter`. Only this thread changes it, so it needs
    // no lock (compare lesson 1, where every client thread changed it).
    let mut client_counter: u64 = 0;
    while let Some(client) = server.next_client() {
        client_counter += 1;
        let client_id = client_counter;
        // Greet before registering: once registered, the processing thread
        // may write to this client, and the greeting must come first.
        let greeting = format!(
            "Welcome, Client {client_id}! Send a line, @<n> <text> to talk to Client <n>, {DISCONNECT_MSG} to leave."
        );
        if client.send_line(&greeting).is_err() {
            say!("Client {client_id} disconnected (left before its greeting).");
            continue;
        }
        let registration =
            Registration::new(client_id, client.shared_stream(), &client_connections);
        say!("Client {client_id} connected from {}", client.address);
        let message_queue = message_queue.clone();
        spawn_client_thread(client, move |client| {
            handle_client(client, registration, &message_queue);
        });
    }

    // Ctrl-C or SIGTERM. Each client thread reads what its client had already
    // sent, queues it and leaves; the processing thread answers all of it and
    // tells each client the server is shutting down; then the queue closes.
    say!("Server is shutting down: answering every message already received...");
    drop(message_queue);
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    let unfinished = server.close_all_clients(SHUTDOWN_GRACE);
    if unfinished > 0 {
        warn!("{unfinished} clients did not finish in time; closing them");
    }
    // The queue closes when the last client thread is gone. Wait for the
    // processing thread to answer what is left, but not past the deadline:
    // a client thread that never finished would keep the queue open for ever.
    let left = deadline.saturating_duration_since(Instant::now());
    let timed_out = processing_finished.recv_timeout(left) == Err(RecvTimeoutError::Timeout);
    if !timed_out && processing_thread.join().is_err() {
        warn!("the processing thread panicked");
    }
    say!("Server stopped.");
    ExitCode::SUCCESS
}
// ANCHOR_END: main

// ANCHOR: handle_client
/// One client's thread: read lines, queue them, leave. It never writes to
/// the client; only the processing thread does, so replies keep their order.
fn handle_client(client: Client, registration: Registration, message_queue: &SyncSender<Event>) {
    let from = registration.client_id;
    let mut lines = LineReader::new(client.shared_stream(), client.idle_timeout());
    let mut reading_until = None;
    let (farewell, why) = loop {
        if client.server_is_stopping() {
            let until = *reading_until.get_or_insert_with(|| Instant::now() + SHUTDOWN_READ_TIME);
            if Instant::now() > until {
                break (Some(SHUTDOWN_NOTICE.to_string()), "server shutting down");
            }
        }
        let event = match lines.next_message() {
            Ok(Received::Line(line)) if line.text == DISCONNECT_MSG => {
                break (Some(format!("Goodbye, Client {from}.")), "sent !DISCONNECT");
            }
            Ok(Received::Line(line)) => Event::Message {
                from,
                text: line.text,
            },
            Ok(Received::NotUtf8) => Event::Invalid {
                from,
                error: NOT_UTF8.to_string(),
            },
            Ok(Received::TooLong) => Event::Invalid {
                from,
                error: TOO_LONG.to_string(),
            },
            Ok(Received::IdleTimeout) => {
                let notice = IDLE_TIMEOUT.to_string();
                break (Some(notice), "idle timeout");
            }
            Ok(Received::End | Received::Incomplete) if client.server_is_stopping() => {
                break (Some(SHUTDOWN_NOTICE.to_string()), "server shutting down");
            }
            Ok(Received::End) => break (None, "closed the connection"),
            Ok(Received::Incomplete) => {
                let notice = INCOMPLETE.to_string();
                break (Some(notice), "closed the connection in mid-line");
            }
            Err(_) => break (None, "connection failed"),
        };
        // Waits here while the queue is full (see QUEUE_CAPACITY).
        if message_queue.send(event).is_err() {
            break (None, "server stopped");
        }
    };

    // Leave through the queue, behind our own messages, and wait until the
    // processing thread has answered them all before closing the connection.
    let (done, all_answered) = mpsc::channel();
    let leaving = Event::Leaving {
        from,
        farewell,
        done,
    };
    if message_queue.send(leaving).is_ok() {
        let _ = all_answered.recv_timeout(LEAVE_TIMEOUT);
    }
    client.close();
    drop(registration);
    say!("Client {from} disconnected ({why}).");
}
// ANCHOR_END: handle_client

// ANCHOR: process_messages
/// The seed's processing thread: takes messages out of the queue, one at a
/// time, in the order they went in, and answers them.
fn process_messages(queued_messages: Receiver<Event>, client_connections: &ClientConnections) {
    let reply = |client_id: u64, line: &str| {
        // A client that left, or was dropped, before its reply is simply not there.
        send_or_drop(client_connections, client_id, line);
    };
    // Ends when every sender is gone: every client thread, and main's.
    for event in queued_messages {
        match event {
            Event::Message { from, text } => {
                say!("Client {from} says: {}", escape(&text));
                match direct_message(&text) {
                    None => reply(from, &format!("Processed: {text}")),
                    Some(Err(usage)) => reply(from, usage),
                    Some(Ok((to, body))) => {
                        let message = format!("From Client {from}: {body}");
                        let outcome = match send_or_drop(client_connections, to, &message) {
                            Delivery::Sent => format!("Delivered to Client {to}: {body}"),
                            Delivery::NotRegistered => format!("ERROR: there is no Client {to}"),
                            Delivery::Dropped => {
                                format!(
                                    "ERROR: Client {to} was disconnected (not reading); not delivered"
                                )
                            }
                        };
                        reply(from, &outcome);
                    }
                }
            }
            Event::Invalid { from, error } => reply(from, &error),
            Event::Leaving {
                from,
                farewell,
                done,
            } => {
                if let Some(farewell) = farewell {
                    reply(from, &farewell);
                }
                forget(client_connections, from);
                let _ = done.send(());
            }
        }
    }
}
// ANCHOR_END: process_messages

/// `@{m} {text}`: `Some(Ok((m, text)))`; a line that starts with `@` but is
/// not of that form: `Some(Err(usage))`; any other line: `None`.
fn direct_message(text: &str) -> Option<Result<(u64, &str), &'static str>> {
    let rest = text.strip_prefix('@')?;
    let usage = "ERROR: a direct message is @<client number> <text>, as in @2 hello";
    let Some((target, body)) = rest.split_once(' ') else {
        return Some(Err(usage));
    };
    Some(target.parse().map(|to| (to, body)).map_err(|_| usage))
}

// ANCHOR: send_or_drop
/// What became of a line for a client.
enum Delivery {
    Sent,
    /// No such client (never was, or it has left).
    NotRegistered,
    /// The client could not take the line; it has been disconnected.
    Dropped,
}

/// Sends one line to a registered client, without waiting.
///
/// The processing thread serves every client, so it must never wait for
/// one. `MSG_DONTWAIT` asks the kernel to take the whole line now or fail.
/// It fails with `WouldBlock` when the client's socket buffers are full
/// (a few hundred kilobytes to a few megabytes): the client has fallen that
/// far behind in reading. It is disconnected, and what it had not yet
/// received is lost with the connection, as Redis drops a client whose
/// output buffer overflows. A line half sent could not be finished anyway.
fn send_or_drop(client_connections: &ClientConnections, client_id: u64, line: &str) -> Delivery {
    let Some(stream) = connection(client_connections, client_id) else {
        return Delivery::NotRegistered;
    };
    // The registry's lock is already released: `connection` returned a clone.
    let bytes = format!("{line}\n");
    let sent = SockRef::from(&*stream).send_with_flags(bytes.as_bytes(), libc::MSG_DONTWAIT);
    let why = match sent {
        Ok(n) if n == bytes.len() => return Delivery::Sent,
        Ok(n) => format!("not reading its replies: only {n} bytes of a line fitted"),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => "not reading its replies".to_string(),
        Err(e) => format!("connection lost: {e}"),
    };
    say!("Client {client_id}: {why}; disconnecting it.");
    forget(client_connections, client_id);
    // The write side ends after what is already queued; ending the read side
    // wakes the client's thread, which leaves and closes the connection.
    let _ = stream.shutdown(Shutdown::Both);
    Delivery::Dropped
}
// ANCHOR_END: send_or_drop

// ANCHOR: registration
/// A client's entry in `client_connections`, owned by its thread.
///
/// The processing thread removes the entry when the client leaves in the
/// normal way. Dropping this removes it too, whatever ends the thread (a
/// panic, or a thread that could not be started): a stale entry would keep
/// the socket open and the client waiting.
struct Registration {
    client_id: u64,
    client_connections: Arc<ClientConnections>,
}

impl Registration {
    fn new(
        client_id: u64,
        stream: Arc<TcpStream>,
        client_connections: &Arc<ClientConnections>,
    ) -> Self {
        let mut registry = client_connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        registry.insert(client_id, stream);
        Registration {
            client_id,
            client_connections: Arc::clone(client_connections),
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        forget(&self.client_connections, self.client_id);
    }
}
// ANCHOR_END: registration
