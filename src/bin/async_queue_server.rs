//! Lesson 6: lesson 3's queue server, as tasks and channels.
//!
//! The protocol, port, console lines and flags are `queue_server`'s. The
//! parts are the original's too, each now a task or a channel:
//!
//! - each client's task reads its lines and puts every one into the
//!   `message_queue`, a bounded channel;
//! - the processing task takes them out in order, logs them and answers.
//!   It alone owns `client_connections`, the registry, so the registry needs
//!   no lock at all: whoever wants it changed sends the processing task an
//!   event, in the same queue;
//! - each client's writer task writes what the processing task addresses to
//!   that client, from a bounded channel of its own, its mailbox. The
//!   processing task never waits for a client that does not read: a client
//!   whose mailbox and socket buffers are both full is disconnected.
//!
//! State owned by one task and reached through a channel is the "manager"
//! task of the tokio tutorial's chapter on channels; a channel per client,
//! its mailbox, is what tokio's chat example keeps for each peer (that
//! example shares its map of peers behind an `Arc<Mutex<_>>`, though).
//!
//! Run it in one terminal, and `cargo run --bin client -- queue` in two others:
//!
//! ```text
//! cargo run --bin async_queue_server
//! Server is listening on port 65432...
//! ```

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Parser;
use threaded_servers::cli::{ServerArgs, listen_defaults};
use threaded_servers::console::{Console, escape, exit_code};
use threaded_servers::framing::is_timeout;
use threaded_servers::protocol::{
    DISCONNECT_MSG, NOT_UTF8, Protocol, SHUTDOWN_NOTICE, TOO_LONG, delivered, direct_message,
    goodbye, no_such_client, not_delivered, parse_direct_message, processed, welcome,
};
use threaded_servers::session::{Dropped, Ending, Next};
use threaded_servers::tasks::client::{Client, Output};
use threaded_servers::tasks::server::Server;
use threaded_servers::tasks::session::LineSession;
use threaded_servers::tasks::shutdown::stop_on_signals;
use threaded_servers::timing::{LEAVE_TIMEOUT, SHUTDOWN_GRACE};
use threaded_servers::{announce, say, warn};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{self, Receiver, Sender};
use tokio::task::{AbortHandle, JoinError};
use tokio::time::{Instant, timeout, timeout_at};

/// Where the server listens: this machine only, port 65432 (`--host` and
/// `--port` override it). The tutorial names no port; this is the course's.
const ADDR: (&str, u16) = ("127.0.0.1", Protocol::Queue.default_port());
/// How many events may wait in the queue. When it is full, every client
/// task that has a message to add waits, and stops reading its socket
/// meanwhile: the queue's memory stays bounded, and TCP slows the senders.
const QUEUE_CAPACITY: usize = 1024;
/// How many lines may wait in a client's mailbox for its writer task. A
/// client that lets this many pile up on top of what its socket buffers
/// hold (full) is not reading. (At most about a megabyte per client: a line is at
/// most about 1 KiB.)
const MAILBOX_CAPACITY: usize = 1024;
/// How long the processing task waits for room in a full mailbox whose
/// client's socket still has room. The client is reading; its writer task
/// has only fallen behind for a moment (woken by the processing task, it
/// may have to wait for the processing task to step aside).
const MAILBOX_GRACE: Duration = Duration::from_millis(100);
/// How many waiting lines a writer task sends in one write (at most about
/// 64 KiB: a line is at most about 1 KiB).
const WRITE_BATCH: usize = 64;

/// Lesson 6: lesson 3's queue server, as tasks and channels.
#[derive(Parser)]
#[command(version, mut_args(listen_defaults(ADDR)))]
struct Args {
    #[command(flatten)]
    server: ServerArgs,
}

/// The way to one client: lines for its writer task, and a way to stop that
/// task at once if the client stops reading.
struct Mailbox {
    lines: Sender<String>,
    writer: AbortHandle,
    /// Set by the writer task while the client's socket buffers are full
    /// and it waits for the client to read: then, and only then, a full
    /// mailbox means the client is not reading.
    socket_full: Arc<AtomicBool>,
}

/// What goes through the original's `message_queue`: everything a client
/// task has to tell the processing task, in the order it happened.
enum Event {
    /// A new client: the processing task welcomes it, and from then on its
    /// lines go to `mailbox`.
    Joined {
        from: u64,
        address: SocketAddr,
        mailbox: Mailbox,
    },
    /// A line the client sent.
    Message { from: u64, text: String },
    /// A line that could not be accepted: the log says `what` came (in the
    /// echo server's words), and the sender gets the `error` line.
    Invalid {
        from: u64,
        what: &'static str,
        error: &'static str,
    },
    /// The client is leaving: everything it sent before is answered by the
    /// time this comes out of the queue. The processing task adds the
    /// farewell and forgets the client, which closes its mailbox.
    Leaving { from: u64, farewell: Option<String> },
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    exit_code("async_queue_server", serve(&args).await)
}

/// The server's life: start, serve clients until Ctrl-C, answer what is left, stop.
async fn serve(args: &Args) -> io::Result<()> {
    // The original's `print_lock`: one printer thread owns the console, and
    // `say!` hands it lines without waiting, so a task may log.
    let _console = Console::start(args.server.quiet)?;
    let server = Server::bind(&args.server, ADDR)?;
    stop_on_signals(server.stopper())?;

    // The original's `message_queue`. Bounded: see QUEUE_CAPACITY.
    let (message_queue, queued_messages) = mpsc::channel::<Event>(QUEUE_CAPACITY);
    // The original's processing thread, as a task. At shutdown, this task
    // waits for it to answer every message already queued.
    let processing = tokio::spawn(process_messages(queued_messages));
    announce!("Server is listening on port {}...", server.port());

    // The original's `client_counter`. Only this task changes it, so it
    // needs no lock.
    let mut client_counter: u64 = 0;
    while let Some(client) = server.next_client().await {
        client_counter += 1;
        tokio::spawn(handle_client(client, client_counter, message_queue.clone()));
    }

    // Ctrl-C or SIGTERM. Each client task reads what its client had already
    // sent, queues it and leaves; the processing task answers all of it and
    // tells each client the server is shutting down; then the queue closes.
    announce!("Server is shutting down: answering every message already received...");
    drop(message_queue);
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    let unfinished = server.close_all_clients(SHUTDOWN_GRACE).await;
    if unfinished > 0 {
        warn!("{unfinished} clients did not finish in time; closing them");
    }
    // The queue closes when the last client task is gone; the processing
    // task ends when it has answered what is left. Not past the deadline:
    // a client task that never finished would keep the queue open for ever.
    if let Ok(Err(e)) = timeout_at(deadline, processing).await {
        warn!("the processing task failed: {e}");
    }
    announce!("Server stopped.");
    Ok(())
}

// ANCHOR: handle_client
/// One client's task: join (the processing task welcomes it), read lines and
/// queue them, leave. It never writes to the client itself; its writer task
/// does, so replies keep their order.
async fn handle_client(client: Client, from: u64, message_queue: Sender<Event>) {
    // Taken apart: the writing half goes to a writer task of its own. (The
    // client's place under --max-clients stays behind in `client`, and frees
    // when this task ends.)
    let Client {
        address,
        mut input,
        output,
        ..
    } = client;
    let (lines, mailbox_lines) = mpsc::channel(MAILBOX_CAPACITY);
    let socket_full = Arc::new(AtomicBool::new(false));
    let mut writer = tokio::spawn(write_lines(output, mailbox_lines, socket_full.clone()));
    let mailbox = Mailbox {
        lines,
        writer: writer.abort_handle(),
        socket_full,
    };
    // The processing task welcomes the client, in its turn: a message to it
    // from another client, queued before, would otherwise come first.
    let joined = Event::Joined {
        from,
        address,
        mailbox,
    };
    if message_queue.send(joined).await.is_err() {
        return; // Only if the processing task is gone: nobody would answer.
    }

    let mut session = LineSession::new(&mut input);
    let mut writer_ended = false;
    let ending = loop {
        let next = tokio::select! {
            next = session.receive() => next,
            // The writer ended first: the client stopped reading (and the
            // processing task stopped its writer), or the connection failed.
            ended = &mut writer => {
                writer_ended = true;
                break writer_ending(ended);
            }
        };
        let event = match next {
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
            Next::End(ending) => break ending,
        };
        // Waits here while the queue is full (see QUEUE_CAPACITY).
        if message_queue.send(event).await.is_err() {
            break Ending::ServerStopping;
        }
    };
    let farewell = match &ending {
        _ if writer_ended => None, // Nobody left to write it.
        Ending::Goodbye => Some(goodbye(from)),
        Ending::ServerStopping => Some(SHUTDOWN_NOTICE.to_string()),
        other => other.error_line(),
    };

    // Leave through the queue, behind our own messages. Once the processing
    // task has answered them all and added the farewell, it forgets us: our
    // mailbox closes, and the writer task ends when it has written it all.
    let leaving = Event::Leaving { from, farewell };
    if message_queue.send(leaving).await.is_ok()
        && !writer_ended
        && timeout(LEAVE_TIMEOUT, &mut writer).await.is_err()
    {
        writer.abort();
    }
    drop(message_queue);
    // The writer has said we are done writing; discard what the client still
    // sends until it closes (the lingering close).
    input.discard_until_closed().await;
    say!("Client {from} disconnected ({}).", ending.reason());
}
// ANCHOR_END: handle_client

/// How a session ends when its writer task ended first.
fn writer_ending(ended: Result<io::Result<()>, JoinError>) -> Ending {
    match ended {
        // Its last write took longer than --write-timeout.
        Ok(Err(e)) if is_timeout(&e) => Ending::NotReading,
        Ok(Err(e)) => Ending::Broken(e),
        // Stopped by the processing task (its mailbox was full), or its mailbox closed.
        _ => Ending::NotReading,
    }
}

// ANCHOR: write_lines
/// A client's writer task: writes every line from its mailbox, in order,
/// each write within --write-timeout; when the mailbox closes, says it is
/// done writing (the first half of the lingering close).
async fn write_lines(
    mut output: Output,
    mut mailbox: Receiver<String>,
    socket_full: Arc<AtomicBool>,
) -> io::Result<()> {
    loop {
        // Up to WRITE_BATCH waiting lines in one write: one write per line
        // falls behind the processing task under a flood. (New vectors each
        // time: between bursts the task holds no buffer.)
        let mut lines = Vec::new();
        if mailbox.recv_many(&mut lines, WRITE_BATCH).await == 0 {
            break; // The mailbox is closed and empty.
        }
        let mut bytes = Vec::with_capacity(lines.iter().map(|line| line.len() + 1).sum());
        for line in lines {
            bytes.extend_from_slice(line.as_bytes());
            bytes.push(b'\n');
        }
        let sent = output.send_now(&bytes)?;
        if sent < bytes.len() {
            // The socket buffers are full: the client is not reading, for
            // now. Say so while waiting for it (see send_or_drop).
            socket_full.store(true, Ordering::Relaxed);
            output.send(&bytes[sent..]).await?;
            socket_full.store(false, Ordering::Relaxed);
        }
    }
    output.finish().await
}
// ANCHOR_END: write_lines

// ANCHOR: process_messages
/// The original's processing thread, as a task: takes events out of the
/// queue, one at a time, in the order they went in, and answers them.
///
/// `client_connections` is a local variable: only this task ever touches
/// it, so it needs neither an `Arc` nor a lock.
async fn process_messages(mut queued_messages: Receiver<Event>) {
    let mut client_connections: HashMap<u64, Mailbox> = HashMap::new();
    // Ends when every sender is gone: every client task's, and serve's.
    while let Some(event) = queued_messages.recv().await {
        match event {
            Event::Joined {
                from,
                address,
                mailbox,
            } => {
                client_connections.insert(from, mailbox);
                send_or_drop(&mut client_connections, from, welcome(from)).await;
                say!("Client {from} connected from {address}");
            }
            Event::Message { from, text } => {
                say!("Client {from} says: {}", escape(&text));
                let answer = match parse_direct_message(&text) {
                    None => processed(&text),
                    Some(Err(usage)) => usage.to_string(),
                    Some(Ok((to, body))) => {
                        let line = direct_message(from, body);
                        match send_or_drop(&mut client_connections, to, line).await {
                            Delivery::Sent => delivered(to, body),
                            Delivery::NotRegistered => no_such_client(to),
                            Delivery::Dropped(why) => not_delivered(to, why.words()),
                        }
                    }
                };
                send_or_drop(&mut client_connections, from, answer).await;
            }
            Event::Invalid { from, what, error } => {
                say!("Client {from} sent {what}");
                send_or_drop(&mut client_connections, from, error.to_string()).await;
            }
            Event::Leaving { from, farewell } => {
                if let Some(farewell) = farewell {
                    send_or_drop(&mut client_connections, from, farewell).await;
                }
                client_connections.remove(&from);
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

/// Puts one line in a registered client's mailbox.
///
/// The processing task serves every client, so it must not wait for one
/// that does not read: `try_send` puts the line in at once if there is
/// room. A full mailbox whose client's socket buffers are full too belongs
/// to a client that has fallen far behind in reading: it is disconnected at
/// once, and what it had not yet received is lost with the connection, as
/// in the threaded server. A full mailbox whose socket still has room only
/// means the writer task is behind: that is worth a moment's wait.
async fn send_or_drop(
    client_connections: &mut HashMap<u64, Mailbox>,
    client_id: u64,
    line: String,
) -> Delivery {
    let Some(mailbox) = client_connections.get(&client_id) else {
        return Delivery::NotRegistered;
    };
    // ANCHOR: try_send
    let why = match mailbox.lines.try_send(line) {
        Ok(()) => return Delivery::Sent,
        // The socket has room: the writer task has not caught up yet.
        Err(TrySendError::Full(line)) if !mailbox.socket_full.load(Ordering::Relaxed) => {
            match timeout(MAILBOX_GRACE, mailbox.lines.send(line)).await {
                Ok(Ok(())) => return Delivery::Sent,
                Ok(Err(_)) => Dropped::ConnectionLost,
                Err(_) => Dropped::NotReading,
            }
        }
        Err(TrySendError::Full(_)) => Dropped::NotReading,
        Err(TrySendError::Closed(_)) => Dropped::ConnectionLost,
    };
    // ANCHOR_END: try_send
    let detail = match why {
        Dropped::NotReading => "not reading its replies",
        Dropped::ConnectionLost => "connection lost",
    };
    say!("Client {client_id}: {detail}; disconnecting it.");
    // Stopping the writer task closes the writing side; the client's own
    // task sees its writer end, and leaves.
    mailbox.writer.abort();
    client_connections.remove(&client_id);
    Delivery::Dropped(why)
}
