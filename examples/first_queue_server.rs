//! Lesson 3's first version: the message-queue tutorial's server, translated
//! straight into Rust with `std` only. Client threads only read, and put
//! what they read into `message_queue`; one processing thread takes each
//! message out, in order, and answers through `client_connections`. It keeps
//! the original's simplifications on purpose (one `read()` is one message,
//! `unwrap()` where Python would raise, a processing thread nothing waits
//! for): the lesson breaks it, then builds `queue_server`.
//!
//! ```text
//! cargo run --example first_queue_server          # or: -- --port N
//! cargo run --bin client -- queue                 # in two more terminals (with --port N)
//! ```

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;

const DISCONNECT_MSG: &str = "!DISCONNECT";

// ANCHOR: parts
/// `client_connections`: client id -> its connection, shared by every thread.
type ClientConnections = Arc<Mutex<HashMap<u64, TcpStream>>>;

/// What goes through `message_queue`: who sent it, and what (`None`: it left).
type Message = (u64, Option<String>);
// ANCHOR_END: parts

// ANCHOR: handle_client
/// One client's thread: read messages and queue them; it never replies.
fn handle_client(client_id: u64, mut conn: TcpStream, message_queue: Sender<Message>) {
    let mut data = [0u8; 1024];
    loop {
        let n = conn.read(&mut data).unwrap(); // One read is one message.
        if n == 0 {
            message_queue.send((client_id, None)).unwrap(); // It left.
            return;
        }
        let text = std::str::from_utf8(&data[..n]).unwrap();
        let text = text.trim_end_matches(['\r', '\n']).to_string();
        let leaving = text == DISCONNECT_MSG;
        message_queue.send((client_id, Some(text))).unwrap();
        if leaving {
            return;
        }
    }
}
// ANCHOR_END: handle_client

// ANCHOR: process_messages
/// The processing thread: each message, in order, answered through the registry.
fn process_messages(message_queue: Receiver<Message>, client_connections: ClientConnections) {
    for (client_id, message) in message_queue {
        let mut clients = client_connections.lock().unwrap();
        let Some(text) = message.filter(|text| text != DISCONNECT_MSG) else {
            if let Some(mut conn) = clients.remove(&client_id) {
                let _ = conn.write_all(format!("Goodbye, Client {client_id}.\n").as_bytes());
            }
            println!("Client {client_id} disconnected.");
            continue;
        };
        println!("Client {client_id} says: {text}");
        let mut reply = format!("Processed: {text}");
        if let Some((to, body)) = text.strip_prefix('@').and_then(|rest| rest.split_once(' ')) {
            let to: u64 = to.parse().unwrap_or(0);
            reply = match clients.get_mut(&to) {
                Some(target) => {
                    let line = format!("From Client {client_id}: {body}\n");
                    target.write_all(line.as_bytes()).unwrap();
                    format!("Delivered to Client {to}: {body}")
                }
                None => format!("ERROR: there is no Client {to}"),
            };
        }
        let sender = clients.get_mut(&client_id).unwrap();
        sender.write_all(format!("{reply}\n").as_bytes()).unwrap();
    }
}
// ANCHOR_END: process_messages

// ANCHOR: main
fn main() {
    // Port 65432; `--port N` picks another port (see the end of the file).
    let listener = TcpListener::bind(("127.0.0.1", port_from_args(65432))).unwrap();
    let port = listener.local_addr().unwrap().port();
    println!("Server is listening on port {port}...");

    let client_connections: ClientConnections = Arc::default();
    let (message_queue, queued_messages) = mpsc::channel();
    // Nothing ever waits for this thread: when the process ends, it ends
    // too, with whatever is still in the queue (the original's daemon thread).
    let connections = Arc::clone(&client_connections);
    thread::spawn(move || process_messages(queued_messages, connections));

    let mut client_counter = 0; // Only this thread changes it: no lock.
    loop {
        let (mut conn, address) = listener.accept().unwrap();
        client_counter += 1;
        let client_id = client_counter;
        let welcome = format!(
            "Welcome, Client {client_id}! Send a line, @<n> <text> to talk to Client <n>, {DISCONNECT_MSG} to leave.\n"
        );
        conn.write_all(welcome.as_bytes()).unwrap();
        let registered = conn.try_clone().unwrap();
        client_connections
            .lock()
            .unwrap()
            .insert(client_id, registered);
        println!("Client {client_id} connected from {address}");
        let message_queue = message_queue.clone();
        thread::spawn(move || handle_client(client_id, conn, message_queue));
    }
}
// ANCHOR_END: main

/// The port to listen on: `--port N` as the real servers take it (`0` lets
/// the OS choose; the listening line shows which), or else `default`.
fn port_from_args(default: u16) -> u16 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => default,
        [flag, port] if flag == "--port" => {
            port.parse().expect("--port takes a number, 0 to 65535")
        }
        _ => {
            println!("takes one option: --port N (default {default}; 0 lets the OS choose)");
            std::process::exit(if args == ["--help"] { 0 } else { 2 })
        }
    }
}
