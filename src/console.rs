//! The print lock: how every thread writes to the console.
//!
//! Seed 000 guards `print()` with a `print_lock` so that two threads never
//! write into the middle of each other's line. In Rust, standard output
//! already comes with that lock: `io::stdout().lock()` hands out a guard, and
//! while one thread holds it every other thread that wants to print waits.
//! [`say!`] holds it for exactly one line, so lines from different client
//! threads never interleave.
//!
//! Why not `println!`? It panics when stdout is gone (a closed pipe: the
//! operator piped the server into `head`, or a test stopped reading), and a
//! panic in a client thread would end that client's session, or, under a
//! lock, poison it. A log line is not worth a client: these functions
//! drop write errors instead.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Write};

// ANCHOR: print_lock
/// Prints one line to stdout under the print lock, then flushes it, so a
/// reader at the other end of a pipe sees it at once. Never panics.
pub fn print_line(line: fmt::Arguments<'_>) {
    let mut print_lock = io::stdout().lock();
    // Nobody to tell if the console is gone: the server carries on.
    let _ = writeln!(print_lock, "{line}").and_then(|()| print_lock.flush());
}
// ANCHOR_END: print_lock

/// Prints one line to stderr, for the operator: something went wrong that
/// the server is working around (or, at start-up, cannot). Never panics.
pub fn print_error_line(line: fmt::Arguments<'_>) {
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
}

/// `println!` under the print lock, without the panic. See [`print_line`].
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::console::print_line(format_args!($($arg)*))
    };
}

/// `eprintln!` without the panic, for the operator. See [`print_error_line`].
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => {
        $crate::console::print_error_line(format_args!($($arg)*))
    };
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
