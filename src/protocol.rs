//! Every line that crosses the wire, defined once.
//!
//! The servers build their replies with the functions here; `client`,
//! `swarm` and the tests read them back with the parsers beside them. A
//! reply changed here is changed for everyone who sends or reads it, and a
//! parser cannot drift from the line it parses.
//!
//! Console lines (what a server prints for its operator) are not here: each
//! binary prints its lesson's own, the way the original tutorial does.

use clap::Subcommand;

use crate::console::escape;
use crate::framing::{SIZE, strip_line_ending};

/// The three lesson servers: how `client` and `swarm` name them, which
/// binary serves each, and the port each listens on unless told otherwise.
#[derive(Subcommand, Clone, Copy, PartialEq, Eq, Debug)]
pub enum Protocol {
    /// Lesson 1's counter_server: one message, one greeting.
    Counter,
    /// Lesson 2's echo_server: a session of lines, each echoed.
    Echo,
    /// Lesson 3's queue_server: a session; the server may push lines at any time.
    Queue,
}

impl Protocol {
    /// Every protocol, in lesson order.
    pub const ALL: [Protocol; 3] = [Protocol::Counter, Protocol::Echo, Protocol::Queue];

    /// The binary that serves this protocol.
    pub const fn server_name(self) -> &'static str {
        match self {
            Protocol::Counter => "counter_server",
            Protocol::Echo => "echo_server",
            Protocol::Queue => "queue_server",
        }
    }

    /// The port the server listens on unless `--port` says otherwise: the
    /// original tutorial's for the counter (65434) and echo (56011) servers.
    /// The queue tutorial names none; 65432 is this course's choice.
    pub const fn default_port(self) -> u16 {
        match self {
            Protocol::Counter => 65434,
            Protocol::Echo => 56011,
            Protocol::Queue => 65432,
        }
    }

    /// How `client` and `swarm` name it on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Protocol::Counter => "counter",
            Protocol::Echo => "echo",
            Protocol::Queue => "queue",
        }
    }

    /// Which lesson's server sent `first`, if it gives itself away.
    ///
    /// `first` is the first line a client received, with its `\n`, or all it
    /// received before the stream ended if no `\n` came; `sent` is the line
    /// the client had sent by then, without its `\n`, if it knows it. Each
    /// server's first words are its own: a counter server sends its greeting
    /// with no newline and closes, a queue server sends its welcome line as
    /// soon as a client connects, and an echo server sends back the line it
    /// was sent. An echo is checked first: a client may send anything,
    /// a welcome's words included.
    pub fn recognize(first: &str, sent: Option<&str>) -> Option<Protocol> {
        if parse_greeting(first).is_some() {
            return Some(Protocol::Counter);
        }
        let line = first.strip_suffix('\n')?;
        if sent == Some(line) {
            Some(Protocol::Echo)
        } else if parse_welcome(line).is_some() {
            Some(Protocol::Queue)
        } else {
            None
        }
    }
}

// ---------------------------------------------------------------------------
// Lesson 1: the counter server.

/// The counter server's whole reply, as the original sends it: no newline.
pub fn greeting(client_id: u64) -> String {
    format!("Hello Client {client_id}, server received your message!")
}

/// The client id in `reply`, if `reply` is exactly a [`greeting`].
pub fn parse_greeting(reply: &str) -> Option<u64> {
    let id = reply
        .strip_prefix("Hello Client ")?
        .split_once(',')?
        .0
        .parse()
        .ok()?;
    (reply == greeting(id)).then_some(id)
}

/// The text of a counter message, the original's `recv(1024)`: what one read
/// of at most [`SIZE`] bytes returned, without a trailing `\n` or `\r\n`;
/// `None` if it is not UTF-8.
///
/// A message cut at SIZE bytes may end in the middle of a character: that
/// incomplete last character is dropped rather than the whole message refused.
pub fn counter_message(data: &[u8]) -> Option<&str> {
    let (text, _ending) = strip_line_ending(data);
    match std::str::from_utf8(text) {
        Ok(text) => Some(text),
        Err(e) if e.error_len().is_none() && data.len() == SIZE => {
            std::str::from_utf8(&text[..e.valid_up_to()]).ok()
        }
        Err(_) => None,
    }
}

// ---------------------------------------------------------------------------
// Lesson 2: the echo server. A reply is the line itself.

/// The line that ends a session: the echo tutorial's `DISCONNECT_MSG`.
pub const DISCONNECT_MSG: &str = "!DISCONNECT";

// ---------------------------------------------------------------------------
// Lesson 3: the queue server.

/// The first line a queue client gets: its id, and how to talk.
pub fn welcome(client_id: u64) -> String {
    format!(
        "Welcome, Client {client_id}! Send a line, @<n> <text> to talk to Client <n>, {DISCONNECT_MSG} to leave."
    )
}

/// The client id in a [`welcome`] line.
pub fn parse_welcome(line: &str) -> Option<u64> {
    let id = line
        .strip_prefix("Welcome, Client ")?
        .split_once('!')?
        .0
        .parse()
        .ok()?;
    (line == welcome(id)).then_some(id)
}

/// The answer to an ordinary message.
pub fn processed(text: &str) -> String {
    format!("Processed: {text}")
}

/// The last line a client that sent [`DISCONNECT_MSG`] gets.
pub fn goodbye(client_id: u64) -> String {
    format!("Goodbye, Client {client_id}.")
}

/// The last line every queue client gets when the server stops.
pub const SHUTDOWN_NOTICE: &str = "Server is shutting down. Goodbye!";

/// What Client `to` receives when Client `from` sends it `@to text`.
pub fn direct_message(from: u64, text: &str) -> String {
    format!("From Client {from}: {text}")
}

/// The sender's confirmation of a direct message.
pub fn delivered(to: u64, text: &str) -> String {
    format!("Delivered to Client {to}: {text}")
}

/// A direct message to a client that is not connected.
pub fn no_such_client(to: u64) -> String {
    format!("ERROR: there is no Client {to}")
}

/// A direct message whose target was disconnected by the server, `why` in a
/// few words ("not reading", "connection lost").
pub fn not_delivered(to: u64, why: &str) -> String {
    format!("ERROR: Client {to} was disconnected ({why}); not delivered")
}

/// The answer to a line that starts with `@` but is not `@<n> <text>`.
pub const DIRECT_MESSAGE_USAGE: &str =
    "ERROR: a direct message is @<client number> <text>, as in @2 hello";

/// `@{to} {text}`: `Some(Ok((to, text)))`; a line that starts with `@` but
/// is not of that form: `Some(Err(usage))`; any other line: `None`.
///
/// `to` is written as a client's number is: ASCII digits, with no sign and
/// no leading zero, that fit a `u64`. `str::parse` alone would also take
/// `+2` and `02` for Client 2.
pub fn parse_direct_message(line: &str) -> Option<Result<(u64, &str), &'static str>> {
    let rest = line.strip_prefix('@')?;
    let Some((to, text)) = rest.split_once(' ') else {
        return Some(Err(DIRECT_MESSAGE_USAGE));
    };
    let plain = to.bytes().all(|b| b.is_ascii_digit()) && (to == "0" || !to.starts_with('0'));
    match to.parse() {
        Ok(to) if plain => Some(Ok((to, text))),
        _ => Some(Err(DIRECT_MESSAGE_USAGE)),
    }
}

// ---------------------------------------------------------------------------
// Errors: one line each, from every server, always starting with `ERROR:`.

/// A message that is not UTF-8 text.
pub const NOT_UTF8: &str = "ERROR: message is not valid UTF-8";
/// A message over [`SIZE`] bytes.
pub const TOO_LONG: &str = "ERROR: message longer than 1024 bytes";
/// The stream ended in the middle of a line.
pub const INCOMPLETE: &str = "ERROR: the last line had no newline; it was dropped";
/// Nothing arrived within `--idle-timeout`; the server closes the connection.
pub const IDLE_TIMEOUT: &str = "ERROR: idle timeout, closing the connection";

/// The idle timeout, when the client had started a line and never ended it.
///
/// The counter tutorial's client (and the Python clients in `originals/`,
/// written in its style) sends a message with no newline and waits for the
/// answer. A line server waits for the newline, so such a client
/// waits in silence until the idle timeout; this error tells it why, and
/// quotes (escaped, and cut short) the line it sent.
pub fn idle_timeout_in_line(start: &[u8]) -> String {
    const SHOWN: usize = 40;
    let text = String::from_utf8_lossy(start);
    let shown: String = text.chars().take(SHOWN).collect();
    let cut = if shown.len() < text.len() { "..." } else { "" };
    format!(
        "ERROR: idle timeout: your line \"{}{cut}\" never ended with a newline (\\n); closing the connection",
        escape(&shown)
    )
}

/// What a client still waiting is told when the server stops.
pub const SHUTTING_DOWN: &str = "ERROR: server is shutting down";
/// No thread could be started for the client.
pub const BUSY: &str = "ERROR: server is busy (no thread available); try again later";

/// A client past `--max-clients`.
pub fn too_many_clients(limit: usize) -> String {
    format!("ERROR: too many clients (limit {limit}); try again later")
}

/// True for an error line.
pub fn is_error(line: &str) -> bool {
    line.starts_with("ERROR:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parser_reads_what_its_formatter_writes() {
        assert_eq!(parse_greeting(&greeting(42)), Some(42));
        assert_eq!(parse_welcome(&welcome(7)), Some(7));
        assert_eq!(
            parse_direct_message("@2 hi there"),
            Some(Ok((2, "hi there")))
        );
    }

    #[test]
    fn parsers_refuse_near_misses() {
        assert_eq!(parse_greeting("Hello Client 1, nope"), None);
        assert_eq!(
            parse_greeting("Hello Client x, server received your message!"),
            None
        );
        assert_eq!(
            parse_welcome("Welcome, Client 1! (everyone is Client 1)"),
            None
        );
        assert_eq!(parse_direct_message("no at sign"), None);
        assert_eq!(parse_direct_message("@2"), Some(Err(DIRECT_MESSAGE_USAGE)));
        let huge = "@99999999999999999999999 overflow";
        assert_eq!(parse_direct_message(huge), Some(Err(DIRECT_MESSAGE_USAGE)));
        // The number as a client's number is written, and nothing else.
        for near_miss in ["@+2 hi", "@02 hi", "@ 2 hi", "@-1 hi", "@2x hi", "@ hi"] {
            assert_eq!(
                parse_direct_message(near_miss),
                Some(Err(DIRECT_MESSAGE_USAGE)),
                "{near_miss}"
            );
        }
        assert_eq!(parse_direct_message("@0 hi"), Some(Ok((0, "hi"))));
        let largest = format!("@{} hi", u64::MAX);
        assert_eq!(parse_direct_message(&largest), Some(Ok((u64::MAX, "hi"))));
    }

    #[test]
    fn each_server_is_recognized_by_its_first_line() {
        let message = "Hello, Server!";
        assert_eq!(
            Protocol::recognize(&greeting(3), Some(message)),
            Some(Protocol::Counter)
        );
        assert_eq!(
            Protocol::recognize(&format!("{}\n", welcome(3)), None),
            Some(Protocol::Queue)
        );
        assert_eq!(
            Protocol::recognize("Hello, Server!\n", Some(message)),
            Some(Protocol::Echo)
        );
        assert_eq!(Protocol::recognize("\n", Some("")), Some(Protocol::Echo));
    }

    #[test]
    fn recognition_needs_the_exact_line_and_ending() {
        // A greeting is never followed by a newline: with one, it is an echo
        // of a line that said the same, or nothing known.
        let echoed_greeting = format!("{}\n", greeting(1));
        assert_eq!(
            Protocol::recognize(&echoed_greeting, Some(&greeting(1))),
            Some(Protocol::Echo)
        );
        assert_eq!(Protocol::recognize(&echoed_greeting, None), None);
        // A welcome is a whole line; an echo of one is an echo.
        assert_eq!(Protocol::recognize(&welcome(1), None), None);
        let echoed_welcome = format!("{}\n", welcome(1));
        assert_eq!(
            Protocol::recognize(&echoed_welcome, Some(&welcome(1))),
            Some(Protocol::Echo)
        );
        assert_eq!(Protocol::recognize("Processed: hi\n", Some("hi")), None);
        assert_eq!(Protocol::recognize(TOO_LONG, None), None);
        assert_eq!(Protocol::recognize("", Some("")), None);
    }

    #[test]
    fn a_counter_message_is_one_read_without_its_line_ending() {
        assert_eq!(counter_message(b"Hello, Server!"), Some("Hello, Server!"));
        assert_eq!(counter_message(b"hi\r\n"), Some("hi"));
        assert_eq!(counter_message(b"\xff\xfe"), None);
        // A read cut at SIZE bytes in the middle of "é": the half is dropped.
        let mut cut = vec![b'a'; SIZE - 1];
        cut.push(0xc3);
        assert_eq!(counter_message(&cut), Some(&*"a".repeat(SIZE - 1)));
    }

    #[test]
    fn the_too_long_error_names_the_real_limit() {
        assert!(TOO_LONG.ends_with(&format!(" {SIZE} bytes")));
    }

    #[test]
    fn an_unfinished_line_is_quoted_escaped_and_cut_short() {
        assert_eq!(
            idle_timeout_in_line(b"Hello, Server!"),
            r#"ERROR: idle timeout: your line "Hello, Server!" never ended with a newline (\n); closing the connection"#
        );
        let long = idle_timeout_in_line(&[b'x'; 100]);
        assert!(
            long.contains(&format!("\"{}...\"", "x".repeat(40))),
            "{long}"
        );
        assert!(idle_timeout_in_line(b"a\x1b[2J").contains(r"a\u{1b}[2J"));
    }

    #[test]
    fn every_error_line_is_recognised_as_one() {
        for line in [
            NOT_UTF8,
            TOO_LONG,
            INCOMPLETE,
            IDLE_TIMEOUT,
            SHUTTING_DOWN,
            BUSY,
        ] {
            assert!(is_error(line), "{line}");
        }
        assert!(is_error(&too_many_clients(3)));
        assert!(is_error(&no_such_client(3)));
        assert!(!is_error(&processed("ERROR: not mine")));
    }
}
