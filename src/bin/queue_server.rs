//! Lesson 3: a client registry, a message queue and a processing thread (the
//! message-queue tutorial).
//!
//! Client threads do not answer their clients. They put every line they read
//! into one `message_queue`; a single processing thread takes the messages
//! out in order, logs them, and answers through `client_connections`, the
//! server's registry of who is connected (`threads::connections`). Because it can reach any client, it can also
//! pass a message from one client to another: `@2 hello` sends `hello` to
//! Client 2.
//!
//! Run it in one terminal, and `cargo run --bin client -- queue` in two others:
//!
//! ```text
//! cargo run --bin queue_server
//! Server is listening on port 65432...
//! ```

use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread;
use std::time::Instant;

use clap::Parser;
use threaded_servers::cli::{ServerArgs, listen_defaults};
use threaded_servers::console::{Console, escape, exit_code};
use threaded_servers::protocol::{
    DISCONNECT_MSG, NOT_UTF8, Protocol, SHUTDOWN_NOTICE, TOO_LONG, delivered, direct_message,
    goodbye, no_such_client, not_delivered, parse_direct_message, processed, welcome,
};
use threaded_servers::session::{Dropped, Ending, Next};
use threaded_servers::threads::connections::{Client, Connections};
use threaded_servers::threads::server::{Server, spawn_client_thread};
use threaded_servers::threads::session::LineSession;
use threaded_servers::threads::shutdown::stop_on_signals;
use threaded_servers::threads::socket::send_now;
use threaded_servers::timing::{LEAVE_TIMEOUT, SHUTDOWN_GRACE};
use threaded_servers::{announce, say, warn};

/// Where the server listens: this machine only, port 65432 (`--host` and
/// `--port` override it). The tutorial names no port; this is the course's.
const ADDR: (&str, u16) = ("127.0.0.1", Protocol::Queue.default_port());
/// How many messages may wait in the queue. When it is full, every client
/// thread that has a message to add waits, and stops reading its socket
/// meanwhile: the queue's memory stays bounded, and TCP slows the senders.
const QUEUE_CAPACITY: usize = 1024;

/// Lesson 3: a client registry, a message queue and a processing thread.
#[derive(Parser)]
#[command(version, mut_args(listen_defaults(ADDR)))]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
}

// ANCHOR: event
/// What goes through the original's `message_queue`: everything a client
/// thread has to say, so that the processing thread answers each client in
/// the order it spoke.
enum Event {
    /// A new client, its thread started: the processing thread welcomes it,
    /// and from then on it may be sent messages.
    Joined { from: u64, address: SocketAddr },
    /// A line the client sent.
    Message { from: u64, text: String },
    /// A line that could not be accepted: the log says `what` came (in the
    /// echo server's words), and the sender gets the `error` line.
    Invalid {
        from: u64,
        what: &'static str,
        error: &'static str,
    },
    /// The client is leaving. Everything it sent before is already answered
    /// when this comes out of the queue; `done` tells its thread so.
    Leaving {
        from: u64,
        farewell: Option<String>,
        done: mpsc::Sender<()>,
    },
}
// ANCHOR_END: event

fn main() -> ExitCode {
    let args = Args::parse();
    exit_code("queue_server", serve(&args))
}

/// The server's life: start, serve clients until Ctrl-C, answer what is left, stop.
fn serve(args: &Args) -> io::Result<()> {
    // The original's `print_lock`: here the console belongs to one printer
    // thread; `say!` hands it lines and never waits (see src/console.rs).
    let _console = Console::start(args.server.quiet)?;
    let server = Server::bind(&args.server, ADDR)?;
    stop_on_signals(server.stopper()?)?;

    // The original's `client_connections`: the server's registry, which
    // admits every client under its number (see `threads::connections`).
    let client_connections = server.connections();
    // The original's `message_queue`. Bounded: see QUEUE_CAPACITY.
    let (message_queue, queued_messages) = mpsc::sync_channel::<Event>(QUEUE_CAPACITY);
    // The original's processing thread. At shutdown, this thread waits for
    // it to answer every message already queued (the original's daemon
    // thread dies with them).
    let (processing_done, processing_finished) = mpsc::channel::<()>();
    let processing_thread = thread::Builder::new()
        .name("processing".into())
        .spawn(move || {
            process_messages(queued_messages, &client_connections);
            let _ = processing_done.send(());
        })
        .map_err(|e| io::Error::other(format!("cannot start the processing thread: {e}")))?;
    announce!("Server is listening on port {}...", server.port());

    // ANCHOR: accept_loop
    // Each client comes numbered: the registry counts them as it admits
    // them, under the lock it takes anyway (the original's `client_counter`).
    // Its thread first, then its welcome: a client the server cannot give a
    // thread is told it is busy, and never welcomed.
    while let Some(client) = server.next_client() {
        let message_queue = message_queue.clone();
        spawn_client_thread(client, move |client| {
            handle_client(client, &message_queue);
        });
    }
    // ANCHOR_END: accept_loop

    // ANCHOR: shutdown
    // Ctrl-C or SIGTERM. Each client thread reads what its client had already
    // sent, queues it and leaves; the processing thread answers all of it and
    // tells each client the server is shutting down; then the queue closes.
    announce!("Server is shutting down: answering every message already received...");
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
    announce!("Server stopped.");
    Ok(())
    // ANCHOR_END: shutdown
}

// ANCHOR: handle_client
/// One client's thread: read lines, queue them, leave. It never writes to
/// the client; only the processing thread does, so replies keep their order.
fn handle_client(client: Client, message_queue: &SyncSender<Event>) {
    let from = client.id();
    // The processing thread welcomes the client, in its turn: a message to
    // it from another client, queued before, would otherwise come first.
    let joined = Event::Joined {
        from,
        address: client.address,
    };
    if message_queue.send(joined).is_err() {
        return; // Only if the processing thread is gone: nobody would answer.
    }
    let mut session = LineSession::new(&client);
    let ending = loop {
        let event = match session.receive() {
            Next::Line(line) if line.text == DISCONNECT_MSG => break Ending::Goodbye,
            Next::Line(line) => Event::Message {
                from,
                text: line.text,
            },
            Next::NotUtf8 => Event::Invalid {
                from,
                what: "a line that is not UTF-8",
                error: NOT_UTF8,
            },
            Next::TooLong => Event::Invalid {
                from,
                what: "a line longer than 1024 bytes",
                error: TOO_LONG,
            },
            // The processing thread let this client go for not reading its
            // replies, and ended its connection: its entry says so.
            Next::End(_) if client.dropped() == Some(Dropped::NotReading) => {
                break Ending::NotReading;
            }
            Next::End(ending) => break ending,
        };
        // Waits here while the queue is full (see QUEUE_CAPACITY).
        if message_queue.send(event).is_err() {
            break Ending::ServerStopping;
        }
    };
    let farewell = match &ending {
        Ending::Goodbye => Some(goodbye(from)),
        Ending::ServerStopping => Some(SHUTDOWN_NOTICE.to_string()),
        other => other.error_line(),
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
    client.finish();
    say!("Client {from} disconnected ({}).", ending.reason());
}
// ANCHOR_END: handle_client

// ANCHOR: process_messages
/// The original's processing thread: takes messages out of the queue, one
/// at a time, in the order they went in, and answers them.
fn process_messages(queued_messages: Receiver<Event>, client_connections: &Connections) {
    // A client that left, or was dropped, before its reply is simply not there.
    let reply = |client_id: u64, line: &str| {
        send_or_drop(client_connections, client_id, line);
    };
    // Ends when every sender is gone: every client thread's, and main's.
    for event in queued_messages {
        match event {
            Event::Joined { from, address } => {
                client_connections.join(from);
                reply(from, &welcome(from));
                say!("Client {from} connected from {address}");
            }
            Event::Message { from, text } => {
                say!("Client {from} says: {}", escape(&text));
                match parse_direct_message(&text) {
                    None => reply(from, &processed(&text)),
                    Some(Err(usage)) => reply(from, usage),
                    Some(Ok((to, body))) => {
                        let outcome =
                            match send_or_drop(client_connections, to, &direct_message(from, body))
                            {
                                Delivery::Sent => delivered(to, body),
                                Delivery::NotRegistered => no_such_client(to),
                                Delivery::Dropped(why) => not_delivered(to, why.words()),
                            };
                        reply(from, &outcome);
                    }
                }
            }
            Event::Invalid { from, what, error } => {
                say!("Client {from} sent {what}");
                reply(from, error);
            }
            Event::Leaving {
                from,
                farewell,
                done,
            } => {
                if let Some(farewell) = farewell {
                    reply(from, &farewell);
                }
                client_connections.part(from);
                let _ = done.send(());
            }
        }
    }
}
// ANCHOR_END: process_messages

/// What became of a line for a client.
enum Delivery {
    Sent,
    /// No such client (never was, or it has left).
    NotRegistered,
    /// The client could not take the line, for this reason; it has been disconnected.
    Dropped(Dropped),
}

// ANCHOR: send_or_drop
/// Sends one line to a registered client, without waiting.
///
/// The processing thread serves every client, so it must never wait for
/// one. `send_now` asks the kernel to take the whole line now or fail. It
/// fails when the client's socket buffers are full (a few hundred kilobytes
/// to a few megabytes): the client has fallen that far behind in reading.
/// It is disconnected, and what it had not yet received is lost with the
/// connection, as Redis drops a client whose output buffer overflows. A line
/// half sent could not be finished anyway.
fn send_or_drop(client_connections: &Connections, client_id: u64, line: &str) -> Delivery {
    let Some(stream) = client_connections.writer(client_id) else {
        return Delivery::NotRegistered;
    };
    // The registry's lock is already released: `writer` returned a clone.
    let bytes = format!("{line}\n");
    let (why, detail) = match send_now(&stream, bytes.as_bytes()) {
        Ok(n) if n == bytes.len() => return Delivery::Sent,
        Ok(0) => (Dropped::NotReading, "not reading its replies".to_string()),
        Ok(n) => (
            Dropped::NotReading,
            format!("not reading its replies: only {n} bytes of a line fitted"),
        ),
        Err(e) => (Dropped::ConnectionLost, format!("connection lost: {e}")),
    };
    say!("Client {client_id}: {detail}; disconnecting it.");
    // Its entry records why, and both directions of its socket are shut
    // down: that wakes the client's thread, which leaves and closes the
    // connection; what the client had not read is lost with it.
    client_connections.drop_client(client_id, why);
    Delivery::Dropped(why)
}
// ANCHOR_END: send_or_drop
