//! The console: how every thread logs without ever waiting for it.
//!
//! Seed 000 guards `print()` with a `print_lock` so that two threads never
//! write into the middle of each other's line. Rust's standard output has
//! that lock built in. But a lock around the console has a second problem:
//! the console can stop. When nobody reads the other end of the pipe (the
//! server piped into `less` and not scrolled, a terminal paused with Ctrl-S,
//! a stalled log collector), a write blocks once the pipe's 64 KiB buffer is
//! full. The thread holding the lock blocks with it, every other thread
//! waits for the lock, and a server that logs every client stops serving
//! every client. It is lesson 3's rule again: never hold a lock across I/O
//! that can block.
//!
//! So in a server one thread, the printer, owns stdout (see [`Console`]).
//! Every other thread hands it finished lines through a bounded channel and
//! carries on. One writer means lines never interleave, which was the print
//! lock's whole job, and the channel keeps them in the order they were sent.
//! If the printer falls [`CONSOLE_BACKLOG`] lines (or [`CONSOLE_BACKLOG_BYTES`])
//! behind, new lines are dropped and counted, and the printer says how many
//! once it catches up.
//!
//! Why not `println!`? It panics when stdout is gone (a closed pipe: the
//! operator piped the server into `head`, or a test stopped reading). A log
//! line is not worth a client: these functions drop write errors instead.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread;
use std::time::{Duration, Instant};

/// How many lines may wait for the printer before new ones are dropped.
pub const CONSOLE_BACKLOG: usize = 10_000;
/// How many bytes of lines may wait for the printer: escaped client text can
/// make a line of several kilobytes, and memory is what the limit protects.
pub const CONSOLE_BACKLOG_BYTES: usize = 4 * 1024 * 1024;

/// What the printer thread is asked to do.
enum ToPrinter {
    Line(String),
    /// Say so on the channel once every line sent before this is written.
    Flush(mpsc::Sender<()>),
}

/// The way to the printer thread, once [`Console::start`] has started it.
static PRINTER: OnceLock<SyncSender<ToPrinter>> = OnceLock::new();
/// `--quiet`: leave out the lines [`say!`] prints.
static QUIET: AtomicBool = AtomicBool::new(false);
/// Lines dropped because the printer was too far behind.
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Bytes of lines waiting for the printer.
static WAITING_BYTES: AtomicUsize = AtomicUsize::new(0);

// ANCHOR: printer
/// Prints one line to stdout. Never panics, and in a server never waits:
/// the line goes to the printer thread, or is dropped if it is far behind.
/// (Without a [`Console`], as in `client` and `swarm`, it writes directly.)
pub fn print_line(line: fmt::Arguments<'_>) {
    match PRINTER.get() {
        Some(printer) => {
            let line = line.to_string();
            let size = line.len();
            let waiting = WAITING_BYTES.fetch_add(size, Ordering::Relaxed);
            if waiting + size > CONSOLE_BACKLOG_BYTES
                || printer.try_send(ToPrinter::Line(line)).is_err()
            {
                WAITING_BYTES.fetch_sub(size, Ordering::Relaxed);
                DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        }
        None => write_line(&line.to_string()),
    }
}

/// The printer thread: the only one that writes to stdout.
fn print_lines(lines: Receiver<ToPrinter>) {
    for message in lines {
        match message {
            ToPrinter::Line(line) => {
                report_dropped_lines();
                write_line(&line);
                WAITING_BYTES.fetch_sub(line.len(), Ordering::Relaxed);
            }
            ToPrinter::Flush(done) => {
                report_dropped_lines();
                let _ = done.send(());
            }
        }
    }
}

/// Says how many lines were dropped since the last time, if any.
fn report_dropped_lines() {
    let dropped = DROPPED.swap(0, Ordering::Relaxed);
    if dropped > 0 {
        write_line(&format!(
            "({dropped} log lines dropped: the console was not keeping up)"
        ));
    }
}

/// Writes one line and flushes it, so a reader at the other end of a pipe
/// sees it at once. Errors are dropped: if the console is gone, the server
/// carries on without it.
fn write_line(line: &str) {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}
// ANCHOR_END: printer

/// How long a server waits on its way out for the console to catch up.
const CONSOLE_FLUSH: Duration = Duration::from_millis(200);

/// The console of a server: while it lives, [`say!`] and [`announce!`] hand
/// their lines to the printer thread and never wait. Dropping it gives the
/// printer a moment to write the last lines, which would otherwise die with
/// the process. Start it first thing in `main`, so it is dropped last.
pub struct Console {
    _private: (),
}

impl Console {
    /// Starts the printer thread. With `quiet`, [`say!`] lines (one per
    /// client or message) are left out; [`announce!`] lines and errors stay.
    pub fn start(quiet: bool) -> io::Result<Console> {
        QUIET.store(quiet, Ordering::Relaxed);
        if PRINTER.get().is_none() {
            let (printer, lines) = mpsc::sync_channel(CONSOLE_BACKLOG);
            thread::Builder::new()
                .name("printer".into())
                .spawn(move || print_lines(lines))
                .map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot start the console printer: {e}"))
                })?;
            let _ = PRINTER.set(printer);
        }
        Ok(Console { _private: () })
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        flush(CONSOLE_FLUSH);
    }
}

/// Waits, at most `timeout`, until the printer has written every line sent
/// so far. The timeout keeps a stalled console from holding the server.
fn flush(timeout: Duration) {
    let Some(printer) = PRINTER.get() else {
        return;
    };
    let deadline = Instant::now() + timeout;
    let (done, flushed) = mpsc::channel();
    let mut request = ToPrinter::Flush(done);
    loop {
        match printer.try_send(request) {
            Ok(()) => break,
            Err(TrySendError::Full(again)) if Instant::now() < deadline => {
                request = again;
                thread::sleep(Duration::from_millis(1));
            }
            Err(_) => return,
        }
    }
    let _ = flushed.recv_timeout(deadline.saturating_duration_since(Instant::now()));
}

/// Prints one line to stderr, for the operator: something went wrong that
/// the server is working around (or, at start-up, cannot). Never panics.
/// The line is written with one call, so lines from several processes
/// sharing a terminal do not run into each other.
pub fn print_error_line(line: fmt::Arguments<'_>) {
    let line = format!("{line}\n");
    let _ = io::stderr().lock().write_all(line.as_bytes());
}

/// A line about one client or one message: `println!` without the panic,
/// and without waiting in a server (see [`print_line`]). `--quiet` leaves it out.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        if !$crate::console::is_quiet() {
            $crate::console::print_line(format_args!($($arg)*))
        }
    };
}

/// A line about the server itself (listening, shutting down, stopped): like
/// [`say!`], but printed even with `--quiet`. Scripts and tests read the port
/// from the listening line.
#[macro_export]
macro_rules! announce {
    ($($arg:tt)*) => {
        $crate::console::print_line(format_args!($($arg)*))
    };
}

/// True with `--quiet`.
pub fn is_quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// `eprintln!` without the panic, for the operator. See [`print_error_line`].
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => {
        $crate::console::print_error_line(format_args!($($arg)*))
    };
}

/// The exit status of a program whose work ended with `outcome`: success,
/// or failure after one line on stderr naming the program and the cause.
pub fn exit_code(program: &str, outcome: io::Result<()>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            print_error_line(format_args!("{program}: {e}"));
            ExitCode::FAILURE
        }
    }
}

/// Makes text a client sent safe to print on the operator's console.
///
/// Without this, a client could send `"hi\nClient 99 connected from ..."`
/// and forge a log line, or send terminal control codes (`"\x1b[2J"` clears
/// the screen) to whoever watches the log. Control characters are shown as
/// Rust escapes (`\n`, `\u{1b}`), and so are the invisible Unicode characters
/// that reorder or hide text (bidirectional overrides, zero-width spaces).
/// Everything else, accents and emoji included, is printed as it came.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}'   // zero-width spaces and direction marks
            | '\u{202A}'..='\u{202E}' // bidirectional embeddings and overrides
            | '\u{2066}'..='\u{2069}' // bidirectional isolates
            | '\u{FEFF}'              // zero-width no-break space
        )
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn plain_text_is_printed_as_it_came() {
        assert_eq!(escape("Hello, Server! é ✓"), "Hello, Server! é ✓");
    }

    #[test]
    fn a_client_cannot_forge_a_log_line_or_drive_the_terminal() {
        assert_eq!(
            escape("hi\nClient 99 connected\r\x1b[2J\0"),
            r"hi\nClient 99 connected\r\u{1b}[2J\u{0}"
        );
        assert_eq!(escape("abc\u{202E}cba"), r"abc\u{202e}cba");
    }
}
