//! Lesson 2's experiment: what one `read()` returns, and what a line reader makes of it.
//!
//! ```text
//! cargo run --example framing
//! ```
//!
//! A client and a server on one machine, in one program. The client writes
//! messages in pieces; the server side reads them twice over, first the
//! original tutorials' way (each `read()` is a message), then with the line reader the
//! lesson's servers use.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use threaded_servers::framing::{Received, SIZE};
use threaded_servers::threads::socket::LineReader;

fn main() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut client = TcpStream::connect(listener.local_addr()?)?;
    let (server_side, _) = listener.accept()?;
    let server_side = Arc::new(server_side);

    println!("The original's way: each read() of up to SIZE bytes is one message.");
    let mut data = [0u8; SIZE];
    write_and_wait(&mut client, &server_side, &[b"one\n", b"two\n"])?;
    let n = (&*server_side).read(&mut data)?;
    println!(
        "  read() -> {:<12} two messages in one read",
        text(&data[..n])
    );
    write_and_wait(&mut client, &server_side, &[b"hel"])?;
    let n = (&*server_side).read(&mut data)?;
    println!("  read() -> {:<12} half a message", text(&data[..n]));
    write_and_wait(&mut client, &server_side, &[b"lo\n"])?;
    let n = (&*server_side).read(&mut data)?;
    println!("  read() -> {:<12} and the other half", text(&data[..n]));

    println!("The line reader: a message is a line, however the bytes arrive.");
    let mut lines = LineReader::new(Arc::clone(&server_side), None);
    write_and_wait(&mut client, &server_side, &[b"one\n", b"two\n"])?;
    print_next(&mut lines)?;
    print_next(&mut lines)?;
    write_and_wait(&mut client, &server_side, &[b"hel"])?;
    // The reader takes "hel" and waits for the rest of the line.
    let reader = thread::spawn(move || print_next(&mut lines));
    // Said before it is done: the reader may print its line the moment the write lands.
    println!("  client wrote {}", text(b"lo\n"));
    client.write_all(b"lo\n")?;
    reader.join().expect("the reader thread")?;
    Ok(())
}

/// Writes each piece with its own `write`, then waits until all of them
/// have arrived on the server side, so the reads above see exactly that.
fn write_and_wait(client: &mut TcpStream, server: &TcpStream, pieces: &[&[u8]]) -> io::Result<()> {
    let total: usize = pieces.iter().map(|piece| piece.len()).sum();
    for piece in pieces {
        client.write_all(piece)?;
        println!("  client wrote {}", text(piece));
    }
    // peek() looks at what has arrived without taking it.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; SIZE];
    while server.peek(&mut buf)? < total {
        if Instant::now() > deadline {
            return Err(io::Error::other("the bytes never arrived"));
        }
        thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

fn print_next(lines: &mut LineReader) -> io::Result<()> {
    match lines.next_message()? {
        Received::Line(line) => println!("  next_message() -> {:?}", line.text),
        other => println!("  next_message() -> {other:?}"),
    }
    Ok(())
}

/// The bytes as a quoted string, `\n` and all.
fn text(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}
