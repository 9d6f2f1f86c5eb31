//! The console: how every thread logs without ever waiting for it.
//!
//! The message-queue tutorial guards `print()` with a `print_lock` so that
//! two threads never write into the middle of each other's line. Rust's
//! standard output has that lock built in. But a lock around the console has
//! a second problem: the console can stop. When nobody reads the other end
//! of the pipe (the server piped into `less` and not scrolled, a terminal
//! paused with Ctrl-S, a stalled log collector), a write blocks once the
//! pipe's 64 KiB buffer is full. The thread holding the lock blocks with it,
//! every other thread waits for the lock, and a server that logs every
//! client stops serving every client. It is lesson 3's rule again: never
//! hold a lock across I/O that can block.
//!
//! So in a server one thread, the printer, owns stdout (see [`Console`]).
//! Every other thread appends its finished line to a shared batch and
//! carries on: the lock it takes is held for one `Vec::push`, never while
//! anything is written. The printer takes the whole batch at once and writes
//! it with one `write`. One writer means lines never interleave, which was
//! the print lock's whole job, and the batch keeps them in the order they
//! were sent. If the printer falls [`CONSOLE_BACKLOG`] lines (or
//! [`CONSOLE_BACKLOG_BYTES`]) behind, new lines are dropped and counted, and
//! the printer says how many once it catches up.
//!
//! Why a batch, and not a channel with one message per line? Cost. Handing
//! lines over one by one wakes the printer for every line (a system call and
//! a switch between threads) and costs a `write` per line; on a busy server
//! the printer could not keep up, and most lines were dropped. With a batch,
//! only the thread whose line finds the printer idle wakes it (a "group
//! commit"); while the printer writes, later lines pile up, and its next
//! `write` takes them all. Batches grow exactly when the server is busy;
//! when it is quiet each line is a batch of one, written at once: no timer
//! ever holds a line back from a reader at the other end of a pipe.
//!
//! Warnings for the operator (`warn!`: a thread refused, `accept` failing)
//! go the same way, to stderr: a stderr nobody reads (a pipe whose reader
//! went away, a terminal paused) must not stop a server either, and the
//! accept loop is the thread that warns most. Only errors that end the
//! program ([`exit_code`]) are written at once: there is nothing left to
//! serve, and the operator must see them. (One printer serves both
//! streams: while it waits on a stderr nobody reads, stdout's lines wait
//! behind it, and past the backlog they are dropped, counted. The server
//! goes on serving either way.)
//!
//! Why not `println!`? It panics when stdout is gone (a closed pipe: the
//! operator piped the server into `head`, or a test stopped reading). A log
//! line is not worth a client: these functions drop write errors instead.
//! But a console that fails in silence hides the failure from the one
//! person who could fix it (a full disk fills the log's file system, a log
//! collector went away): so the printer says so once, on stderr, the first
//! time a write fails, and then goes on dropping lines without a word.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Write};
use std::mem;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::timing::CONSOLE_FLUSH;

/// How many lines may wait for the printer before new ones are dropped.
pub const CONSOLE_BACKLOG: usize = 10_000;
/// How many bytes of lines may wait for the printer: escaped client text can
/// make a line of several kilobytes, and memory is what the limit protects.
pub const CONSOLE_BACKLOG_BYTES: usize = 4 * 1024 * 1024;
/// After writing a batch of several lines (the server is busy), how long the
/// printer lets the next batch gather before taking it. A lone line, on a
/// quiet server, is never held back.
const GATHER: Duration = Duration::from_millis(1);

/// The lines waiting for the printer, shared by every logging thread and it.
static BATCH: Mutex<Batch> = Mutex::new(Batch::EMPTY);
/// The printer sleeps on this while there is nothing to write.
static WAKE: Condvar = Condvar::new();
/// Set once a [`Console`] has started the printer. Before that (and always
/// in `client` and `swarm`) lines are written directly.
static PRINTER_RUNS: AtomicBool = AtomicBool::new(false);
/// `--quiet`: leave out the lines [`say!`](crate::say) prints.
static QUIET: AtomicBool = AtomicBool::new(false);
/// Set once the printer has told the operator that stdout cannot be written.
static FAILURE_REPORTED: AtomicBool = AtomicBool::new(false);

/// The lines waiting for the printer, and what it has done so far.
struct Batch {
    /// Lines not yet taken by the printer, in the order they were sent.
    lines: Vec<String>,
    /// Warnings for stderr not yet taken by the printer, in order.
    warnings: Vec<String>,
    /// Lines dropped since the printer last took the batch.
    dropped: u64,
    /// Lines, and their bytes, not written yet: those in `lines` and those
    /// the printer is writing. What the backlog limits count.
    unwritten_lines: usize,
    unwritten_bytes: usize,
    /// How many batches the printer has taken, and how many of those it has
    /// written: what [`flush`] watches.
    taken: u64,
    written: u64,
}

impl Batch {
    const EMPTY: Batch = Batch {
        lines: Vec::new(),
        warnings: Vec::new(),
        dropped: 0,
        unwritten_lines: 0,
        unwritten_bytes: 0,
        taken: 0,
        written: 0,
    };

    /// True when the printer has nothing to do: no line, nothing to report.
    fn is_idle(&self) -> bool {
        self.lines.is_empty() && self.warnings.is_empty() && self.dropped == 0
    }
}

/// Locks the batch. Every change under the lock is a push or a counter, so
/// a panic elsewhere cannot leave it half done: a poisoned lock is used as
/// it is, and the console is never the reason a thread panics.
fn lock_batch() -> MutexGuard<'static, Batch> {
    BATCH.lock().unwrap_or_else(PoisonError::into_inner)
}

// ANCHOR: print_line
/// Prints one line to stdout. Never panics, and in a server never waits:
/// the line joins the printer's next batch, or is dropped if it is far behind.
/// (Without a [`Console`], as in `client` and `swarm`, it writes directly.)
pub fn print_line(line: fmt::Arguments<'_>) {
    if !PRINTER_RUNS.load(Ordering::Acquire) {
        write_now(format!("{line}\n").as_bytes());
        return;
    }
    hand_to_printer(line, |batch| &mut batch.lines);
}

/// Adds `line` to the printer's next batch, to the list `list` picks
/// (stdout's or stderr's), or drops it if the printer is far behind.
fn hand_to_printer(line: fmt::Arguments<'_>, list: fn(&mut Batch) -> &mut Vec<String>) {
    // Formatted before taking the lock: the lock is held only to append.
    let line = line.to_string();
    let size = line.len() + 1; // and its newline
    let mut batch = lock_batch();
    let printer_was_idle = batch.is_idle();
    if batch.unwritten_lines < CONSOLE_BACKLOG
        && batch.unwritten_bytes + size <= CONSOLE_BACKLOG_BYTES
    {
        list(&mut batch).push(line);
        batch.unwritten_lines += 1;
        batch.unwritten_bytes += size;
    } else {
        batch.dropped += 1;
    }
    drop(batch);
    // Group commit: only the line that found the printer with nothing to do
    // wakes it. While it is awake, later lines wait in the batch for its
    // next `write`, so a busy server pays one wake-up per batch, not per line.
    if printer_was_idle {
        WAKE.notify_one();
    }
}
// ANCHOR_END: print_line

/// Prints one warning line to stderr, for the operator: something went
/// wrong that the server is working around. Never panics, and in a server
/// never waits, as [`print_line`]. (Without a [`Console`], it writes directly.)
pub fn print_warning(line: fmt::Arguments<'_>) {
    if !PRINTER_RUNS.load(Ordering::Acquire) {
        print_error_line(line);
        return;
    }
    hand_to_printer(line, |batch| &mut batch.warnings);
}

/// The printer thread: once it runs, the only thread that writes to stdout.
fn print_batches() {
    // Two vectors take turns for each stream: the printer empties one while
    // the other fills, so neither is reallocated once it has grown to a
    // busy batch.
    let mut lines = Vec::new();
    let mut warnings = Vec::new();
    // A whole batch as bytes, for one `write`; reused the same way.
    let mut text = Vec::new();
    loop {
        let dropped = take_batch(&mut lines, &mut warnings);
        let count = lines.len() + warnings.len();
        let mut bytes = 0;
        if !lines.is_empty() || dropped > 0 {
            for line in lines.drain(..) {
                text.extend_from_slice(line.as_bytes());
                text.push(b'\n');
            }
            bytes += text.len();
            if dropped > 0 {
                let _ = writeln!(
                    text,
                    "({dropped} log lines dropped: the console was not keeping up)"
                );
            }
            if let Err(e) = try_write(&text) {
                report_console_failure(&e);
            }
            text.clear();
        }
        if !warnings.is_empty() {
            for warning in warnings.drain(..) {
                text.extend_from_slice(warning.as_bytes());
                text.push(b'\n');
            }
            bytes += text.len();
            // Only this thread waits if nobody reads stderr.
            let _ = io::stderr().lock().write_all(&text);
            text.clear();
        }
        {
            let mut batch = lock_batch();
            batch.written += 1;
            batch.unwritten_lines -= count;
            batch.unwritten_bytes -= bytes;
        }
        // Busy: give the next lines a moment to join one batch rather than
        // wake this thread one by one (measured: a sixth of the wake-ups on
        // a server logging every connection).
        if count > 1 {
            thread::sleep(GATHER);
        }
    }
}

/// Waits until there is something to write, then swaps the waiting lines
/// into `lines` and `warnings` (empty) and returns how many lines were
/// dropped meanwhile.
/// The lock is released before anything is written: a client thread never
/// waits for the console, only, at most, for this swap.
fn take_batch(lines: &mut Vec<String>, warnings: &mut Vec<String>) -> u64 {
    let mut batch = lock_batch();
    while batch.is_idle() {
        batch = WAKE.wait(batch).unwrap_or_else(PoisonError::into_inner);
    }
    mem::swap(&mut batch.lines, lines);
    mem::swap(&mut batch.warnings, warnings);
    batch.taken += 1;
    mem::take(&mut batch.dropped)
}

/// Writes whole lines and flushes them, so a reader at the other end of a
/// pipe sees them at once. Errors are dropped: if the console is gone, the
/// server carries on without it. (`text` ends with a newline, so Rust's
/// line-buffered stdout hands it to one `write` system call.)
fn write_now(text: &[u8]) {
    let _ = try_write(text);
}

/// [`write_now`], with the error for the printer, which reports the first
/// one ([`report_console_failure`]). `client` and `swarm` drop them: piped
/// into `head`, they have nothing to report and nobody to tell.
fn try_write(text: &[u8]) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    stdout.write_all(text).and_then(|()| stdout.flush())
}

/// Tells the operator, once per process, that the console cannot be
/// written: stdout is a full disk, a closed pipe, a device that refuses.
///
/// Once, because the printer fails again with every batch: a line per
/// failure would flood stderr, which may be the same broken place. The
/// server carries on either way; a log line is not worth a client. Only
/// the printer calls this, so no client thread ever waits for stderr.
fn report_console_failure(error: &io::Error) {
    if !FAILURE_REPORTED.swap(true, Ordering::Relaxed) {
        print_error_line(format_args!(
            "console: cannot write to stdout: {error}; log lines that cannot be written are lost (said once), and the server goes on serving"
        ));
    }
}

/// The console of a server: while it lives, [`say!`](crate::say) and [`announce!`](crate::announce) hand
/// their lines to the printer thread and never wait. Dropping it gives the
/// printer a moment to write the last lines, which would otherwise die with
/// the process. Start it first thing in `main`, so it is dropped last.
pub struct Console {
    _private: (),
}

impl Console {
    /// Starts the printer thread. With `quiet`, [`say!`](crate::say) lines (one per
    /// client or message) are left out; [`announce!`](crate::announce) lines and errors stay.
    pub fn start(quiet: bool) -> io::Result<Console> {
        QUIET.store(quiet, Ordering::Relaxed);
        // Only the first call starts a printer: two printers could write
        // two batches out of order.
        if !PRINTER_RUNS.swap(true, Ordering::AcqRel) {
            let started = thread::Builder::new()
                .name("printer".into())
                .spawn(print_batches);
            if let Err(e) = started {
                PRINTER_RUNS.store(false, Ordering::Release);
                let why = format!("cannot start the console printer: {e}");
                return Err(io::Error::new(e.kind(), why));
            }
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
/// so far; the timeout keeps a stalled console from holding the server.
///
/// Every line sent so far is in a batch the printer has taken, or in the
/// one it will take next; so this waits until that many batches are
/// written. It looks every millisecond rather than being woken: it runs
/// once, at exit, and the printer's loop stays free of a second wake-up.
fn flush(timeout: Duration) {
    if !PRINTER_RUNS.load(Ordering::Acquire) {
        return;
    }
    let deadline = Instant::now() + timeout;
    let goal = {
        let batch = lock_batch();
        batch.taken + u64::from(!batch.is_idle())
    };
    while lock_batch().written < goal && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
}

/// Prints one line to stderr now, for the operator: an error that ends the
/// program, or one from the printer itself. Never panics. The line is
/// written with one call, so lines from several processes sharing a
/// terminal do not run into each other. (A server's other warnings go
/// through the printer: [`print_warning`].)
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
/// [`say!`](crate::say), but printed even with `--quiet`. Scripts and tests read the port
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

/// `eprintln!` without the panic, and without waiting in a server: a
/// warning for the operator. See [`print_warning`].
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => {
        $crate::console::print_warning(format_args!($($arg)*))
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
