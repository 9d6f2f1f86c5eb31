//! `--soak`'s clients: every kind of client a server meets over hours,
//! each kind on a thread of its own, run again and again until the soak
//! ends, every answer checked.
//!
//! Some are ordinary (busy sessions, short connections, clients that sit
//! idle up to the server's `--max-clients` and past it); the rest are the
//! hostile clients of the test suite, in a loop: slow readers, drip-feeders,
//! floods of short lines, lines too long, bytes that are not UTF-8, clients
//! that vanish in the middle of a line or reset in the middle of a reply,
//! clients that never read, and connect-and-close churn. A server turned
//! away a client past its limit ("too many clients", or "busy"): that is
//! counted as refused, not as a failure. A lost answer or a wrong one is.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use threaded_servers::framing::SIZE;
use threaded_servers::protocol::{
    BUSY, DISCONNECT_MSG, IDLE_TIMEOUT, INCOMPLETE, NOT_UTF8, Protocol, TOO_LONG, delivered,
    direct_message, goodbye, no_such_client, parse_greeting, parse_welcome, processed,
};

use crate::clients::{Problem, TIMEOUT, open, unanswered};

/// The kinds of client in the mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Busy,
    Short,
    Idle,
    Silent,
    SlowReader,
    DripFeeder,
    Flood,
    Oversized,
    NotUtf8,
    Vanishing,
    ResetMidReply,
    NeverReads,
    Churn,
    Direct,
}

impl Kind {
    /// What the report calls it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Busy => "busy sessions",
            Kind::Short => "short connections",
            Kind::Idle => "idle, up to the limit and past it",
            Kind::Silent => "silent until the idle timeout",
            Kind::SlowReader => "slow readers",
            Kind::DripFeeder => "drip-feeders",
            Kind::Flood => "floods of short lines",
            Kind::Oversized => "lines over 1024 bytes",
            Kind::NotUtf8 => "invalid UTF-8",
            Kind::Vanishing => "vanish mid-line",
            Kind::ResetMidReply => "reset mid-reply",
            Kind::NeverReads => "never read",
            Kind::Churn => "connect and close",
            Kind::Direct => "direct messages (@n)",
        }
    }

    /// The clients of a soak of `protocol`: one thread for each kind in
    /// the list, so busy sessions three times, short connections twice.
    pub fn mix(protocol: Protocol) -> Vec<Kind> {
        use Kind::*;
        let mut kinds = vec![
            Busy,
            Busy,
            Busy,
            Short,
            Short,
            Idle,
            Silent,
            SlowReader,
            DripFeeder,
            Flood,
            Oversized,
            NotUtf8,
            Vanishing,
            ResetMidReply,
            Churn,
        ];
        // A counter client sends one message and reads one reply: it cannot
        // fall behind in reading, and has no one to write to.
        if protocol != Protocol::Counter {
            kinds.push(NeverReads);
        }
        if protocol == Protocol::Queue {
            kinds.push(Direct);
        }
        kinds
    }
}

/// What the clients need to know about the server and the soak.
pub struct Mix {
    pub protocol: Protocol,
    pub address: SocketAddr,
    /// The server's `--max-clients`.
    pub max_clients: usize,
    /// The server's `--idle-timeout`.
    pub idle_timeout: Duration,
    /// When the soak's load ends: no client starts after it.
    pub until: Instant,
}

/// What the clients of one kind saw.
#[derive(Debug, Default)]
pub struct Tally {
    /// Clients run (connections, mostly).
    pub runs: u64,
    /// Answers waited for: every reply, welcome, goodbye or error line.
    pub expected: u64,
    /// Answers that came, and were right.
    pub received: u64,
    /// Clients turned away instead ("too many clients", "busy").
    pub refused: u64,
    /// Answers that never came: a timeout, a reset, a close.
    pub lost: u64,
    /// Answers that came wrong.
    pub wrong: u64,
    /// Times the idle clients filled the server and were told so.
    pub past_the_limit: u64,
    /// The first few problems, for the report.
    pub problems: Vec<Problem>,
}

/// How many problems a tally keeps as examples; the rest are only counted.
const KEPT_PROBLEMS: usize = 20;
/// Clients the idle kind leaves room for under `--max-clients`: the other
/// kinds' connections, and the server's side of connections just closed.
const ROOM_FOR_THE_OTHERS: usize = 32;

impl Tally {
    fn problem(&mut self, problem: Problem) {
        match problem {
            Problem::Wrong(_) => self.wrong += 1,
            Problem::NoConnection(_) | Problem::Unanswered(_) => self.lost += 1,
        }
        if self.problems.len() < KEPT_PROBLEMS {
            self.problems.push(problem);
        }
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Tally) {
        self.runs += other.runs;
        self.expected += other.expected;
        self.received += other.received;
        self.refused += other.refused;
        self.lost += other.lost;
        self.wrong += other.wrong;
        self.past_the_limit += other.past_the_limit;
        for problem in &other.problems {
            if self.problems.len() < KEPT_PROBLEMS {
                self.problems.push(problem.clone());
            }
        }
    }
}

/// Runs clients of `kind`, one after another, until the soak's load ends.
pub fn run(kind: Kind, mix: &Mix, seed: u64) -> Tally {
    let mut tally = Tally::default();
    let mut rng = Rng::new(seed);
    if kind == Kind::Idle {
        hold_idle_clients(mix, &mut rng, &mut tally);
        return tally;
    }
    while Instant::now() < mix.until {
        tally.runs += 1;
        if let Err(problem) = run_one(kind, mix, &mut rng, &mut tally) {
            tally.problem(problem);
        }
    }
    tally
}

/// Whether a client goes on, or the server turned it away (not a failure).
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Go,
    Refused,
}

/// Goes on with the client, or ends it there if the server turned it away.
macro_rules! go {
    ($flow:expr) => {
        if $flow? == Flow::Refused {
            return Ok(());
        }
    };
}

/// One client of `kind`, start to finish.
fn run_one(kind: Kind, mix: &Mix, rng: &mut Rng, tally: &mut Tally) -> Result<(), Problem> {
    let protocol = mix.protocol;
    let n = tally.runs;
    match (kind, protocol) {
        (Kind::Busy | Kind::Short, Protocol::Counter) => {
            let mut conn = Conn::open(mix)?;
            go!(conn.send(tally, b"Hello, Server!"));
            go!(conn.counter_answer(tally, Answer::Greeting));
        }
        (Kind::Busy | Kind::Short, _) => {
            let Some((mut conn, id)) = Conn::session(mix, tally)? else {
                return Ok(());
            };
            let lines = if kind == Kind::Busy {
                rng.below(450) + 50
            } else {
                1
            };
            let sent: Vec<String> = (0..lines).map(|m| format!("client {n} line {m}")).collect();
            for window in sent.chunks(8) {
                let bytes: String = window.iter().map(|line| format!("{line}\n")).collect();
                go!(conn.send(tally, bytes.as_bytes()));
                for line in window {
                    go!(conn.expect(tally, &reply(protocol, line)));
                }
            }
            conn.leave(tally, id)?;
        }
        (Kind::Silent, Protocol::Counter) => {
            let mut conn = Conn::open(mix)?;
            conn.wait_longer(mix)?;
            go!(conn.counter_answer(tally, Answer::Line(IDLE_TIMEOUT)));
        }
        (Kind::Silent, _) => {
            let Some((mut conn, _)) = Conn::session(mix, tally)? else {
                return Ok(());
            };
            conn.wait_longer(mix)?;
            go!(conn.expect(tally, IDLE_TIMEOUT));
            conn.expect_end()?;
        }
        (Kind::SlowReader, Protocol::Counter) => {
            let mut conn = Conn::open_reading_little(mix)?;
            go!(conn.send(tally, b"a slow reader"));
            thread::sleep(Duration::from_millis(rng.below(50)));
            go!(conn.counter_answer(tally, Answer::Greeting));
        }
        (Kind::SlowReader, _) => {
            let Some((mut conn, id)) = Conn::session_reading_little(mix, tally)? else {
                return Ok(());
            };
            let sent: Vec<String> = (0..200).map(|m| format!("slow {n} {m}")).collect();
            let bytes: String = sent.iter().map(|line| format!("{line}\n")).collect();
            go!(conn.send(tally, bytes.as_bytes()));
            for line in &sent {
                thread::sleep(Duration::from_micros(rng.below(2000)));
                go!(conn.expect(tally, &reply(protocol, line)));
            }
            conn.leave(tally, id)?;
        }
        (Kind::DripFeeder, Protocol::Counter) => {
            let mut conn = Conn::open(mix)?;
            go!(conn.send(tally, b"d"));
            thread::sleep(Duration::from_millis(5));
            // One read is one message: the rest may find the reply sent.
            let _ = conn.stream().write_all(b"rip-feeder");
            go!(conn.counter_answer(tally, Answer::Greeting));
        }
        (Kind::DripFeeder, _) if rng.below(4) == 0 => drip_without_end(mix, tally)?,
        (Kind::DripFeeder, _) => {
            let Some((mut conn, id)) = Conn::session(mix, tally)? else {
                return Ok(());
            };
            let line = format!("drip {n}");
            for byte in format!("{line}\n").bytes() {
                go!(conn.send(tally, &[byte]));
                thread::sleep(Duration::from_millis(5));
            }
            go!(conn.expect(tally, &reply(protocol, &line)));
            conn.leave(tally, id)?;
        }
        (Kind::Flood, Protocol::Counter) => {
            let mut conn = Conn::open(mix)?;
            let flood: String = (0..50).map(|m| format!("flood {m}\n")).collect();
            go!(conn.send(tally, flood.as_bytes()));
            go!(conn.counter_answer(tally, Answer::Greeting));
        }
        (Kind::Flood, _) => {
            let Some((mut conn, id)) = Conn::session(mix, tally)? else {
                return Ok(());
            };
            let sent: Vec<String> = (0..1000).map(|m| format!("f{n}.{m}")).collect();
            let bytes: String = sent.iter().map(|line| format!("{line}\n")).collect();
            go!(conn.send(tally, bytes.as_bytes()));
            for line in &sent {
                go!(conn.expect(tally, &reply(protocol, line)));
            }
            conn.leave(tally, id)?;
        }
        (Kind::Oversized, Protocol::Counter) => {
            let mut conn = Conn::open(mix)?;
            go!(conn.send(tally, &vec![b'o'; 100 * 1024]));
            go!(conn.counter_answer(tally, Answer::Greeting));
        }
        (Kind::Oversized, _) => {
            let Some((mut conn, id)) = Conn::session(mix, tally)? else {
                return Ok(());
            };
            let size = [SIZE + 1, 4096, 70_000][rng.below(3) as usize];
            let mut bytes = vec![b'o'; size];
            bytes.extend(b"\nafter the long line\n");
            go!(conn.send(tally, &bytes));
            go!(conn.expect(tally, TOO_LONG));
            go!(conn.expect(tally, &reply(protocol, "after the long line")));
            conn.leave(tally, id)?;
        }
        (Kind::NotUtf8, Protocol::Counter) => {
            let mut conn = Conn::open(mix)?;
            go!(conn.send(tally, b"\xff\xfe\xfd"));
            go!(conn.counter_answer(tally, Answer::Line(NOT_UTF8)));
        }
        (Kind::NotUtf8, _) => {
            let Some((mut conn, id)) = Conn::session(mix, tally)? else {
                return Ok(());
            };
            go!(conn.send(tally, b"\xc3\x28 broken\nafter the bad bytes\n"));
            go!(conn.expect(tally, NOT_UTF8));
            go!(conn.expect(tally, &reply(protocol, "after the bad bytes")));
            conn.leave(tally, id)?;
        }
        (Kind::Vanishing, _) if rng.below(2) == 0 => {
            // Half a line, then a reset: nothing to answer, nobody to answer.
            let mut conn = Conn::open(mix)?;
            go!(conn.send(tally, b"half a li"));
            reset(conn);
        }
        (Kind::Vanishing, Protocol::Counter) => {
            // The end of the stream ends the counter's one message.
            let mut conn = Conn::open(mix)?;
            go!(conn.send(tally, b"half a li"));
            go!(conn.finish_sending(tally));
            go!(conn.counter_answer(tally, Answer::Greeting));
        }
        (Kind::Vanishing, _) => {
            let Some((mut conn, _)) = Conn::session(mix, tally)? else {
                return Ok(());
            };
            go!(conn.send(tally, b"half a li"));
            go!(conn.finish_sending(tally));
            go!(conn.expect(tally, INCOMPLETE));
            conn.expect_end()?;
        }
        (Kind::ResetMidReply, Protocol::Counter) => {
            let mut conn = Conn::open(mix)?;
            go!(conn.send(tally, b"reset me"));
            tally.expected += 1;
            let mut begun = [0u8; 10];
            conn.lines
                .read_exact(&mut begun)
                .map_err(|e| unanswered("reply", e))?;
            match &begun {
                b"Hello Clie" => tally.received += 1,
                b"ERROR: too" | b"ERROR: ser" => tally.refused += 1,
                other => {
                    let other = String::from_utf8_lossy(other).into_owned();
                    return Err(Problem::Wrong(format!("a greeting began {other:?}")));
                }
            }
            reset(conn);
        }
        (Kind::ResetMidReply, _) => {
            let Some((mut conn, _)) = Conn::session(mix, tally)? else {
                return Ok(());
            };
            let sent: Vec<String> = (0..32)
                .map(|m| format!("{m:02} {}", "r".repeat(90)))
                .collect();
            let bytes: String = sent.iter().map(|line| format!("{line}\n")).collect();
            go!(conn.send(tally, bytes.as_bytes()));
            go!(conn.expect(tally, &reply(protocol, &sent[0])));
            reset(conn);
        }
        (Kind::NeverReads, _) => never_read(mix, tally)?,
        (Kind::Churn, _) => {
            let conn = Conn::open(mix)?;
            if rng.below(2) == 0 {
                reset(conn);
            } else {
                drop(conn);
            }
            // Thousands a second would be a benchmark of the kernel's
            // connection table, not of the server.
            thread::sleep(Duration::from_millis(2));
        }
        (Kind::Direct, _) => direct_messages(mix, tally, n)?,
        (Kind::Idle, _) => {} // Runs on its own: hold_idle_clients.
    }
    Ok(())
}

/// What a line server sends back for `line`.
fn reply(protocol: Protocol, line: &str) -> String {
    match protocol {
        Protocol::Queue => processed(line),
        _ => line.to_string(),
    }
}

/// A drip of one byte every 300 ms that never ends its line: the server
/// closes it at the idle timeout, quoting the line it never finished.
fn drip_without_end(mix: &Mix, tally: &mut Tally) -> Result<(), Problem> {
    let Some((mut conn, _)) = Conn::session(mix, tally)? else {
        return Ok(());
    };
    let give_up = Instant::now() + mix.idle_timeout + TIMEOUT;
    tally.expected += 1;
    while !conn.has_data_waiting() {
        if Instant::now() > give_up {
            return Err(Problem::Unanswered(
                "a line that never ended: no idle timeout".into(),
            ));
        }
        // The server may close first; its line says why.
        let _ = conn.stream().write_all(b"x");
        thread::sleep(Duration::from_millis(300));
    }
    let line = conn.read_line()?;
    if conn.fresh && is_refusal(&line) {
        tally.refused += 1;
        return Ok(());
    }
    let quoted = line.starts_with("ERROR: idle timeout: your line \"x")
        && line.ends_with("never ended with a newline (\\n); closing the connection\n");
    if !quoted {
        return Err(Problem::Wrong(format!("after a drip, {line:?}")));
    }
    tally.received += 1;
    Ok(())
}

/// Writes lines and never reads the replies: the server must let the
/// client go (its write times out, or the queue server drops it) within the
/// time its buffers take to fill and its `--write-timeout`.
fn never_read(mix: &Mix, tally: &mut Tally) -> Result<(), Problem> {
    let Some((conn, _)) = Conn::session(mix, tally)? else {
        return Ok(());
    };
    let line = format!("{}\n", "n".repeat(1000));
    let give_up = Instant::now() + 3 * TIMEOUT;
    tally.expected += 1;
    // Stops as soon as the server has let go: the write fails.
    while conn.stream().write_all(line.as_bytes()).is_ok() {
        if Instant::now() > give_up {
            return Err(Problem::Unanswered(format!(
                "a client that never reads was kept for {} s",
                (3 * TIMEOUT).as_secs()
            )));
        }
    }
    tally.received += 1;
    drop(conn);
    // One such client at a time, now and then: each fills megabytes of buffers.
    thread::sleep(Duration::from_secs(1));
    Ok(())
}

/// Queue: client A sends `@B` a line, which B receives and A has confirmed;
/// then `@0`, a client that never exists (ids start at 1).
fn direct_messages(mix: &Mix, tally: &mut Tally, n: u64) -> Result<(), Problem> {
    let Some((mut a, Some(a_id))) = Conn::session(mix, tally)? else {
        return Ok(());
    };
    let Some((mut b, Some(b_id))) = Conn::session(mix, tally)? else {
        return Ok(());
    };
    // B is in the server's registry once it has had a reply through it.
    // (A welcome comes first, a moment before that: a message to B in that
    // moment finds no Client B. The servers greet before they register, so
    // that the welcome is always a client's first line.)
    go!(b.send(tally, b"ready\n"));
    go!(b.expect(tally, &processed("ready")));
    let text = format!("hello {n}");
    go!(a.send(tally, format!("@{b_id} {text}\n").as_bytes()));
    go!(a.expect(tally, &delivered(b_id, &text)));
    go!(b.expect(tally, &direct_message(a_id, &text)));
    go!(a.send(tally, b"@0 anyone there?\n"));
    go!(a.expect(tally, &no_such_client(0)));
    a.leave(tally, Some(a_id))?;
    b.leave(tally, Some(b_id))
}

// ---------------------------------------------------------------------------
// Idle clients, up to the limit and past it.

/// An idle client, and when it leaves.
struct Holder {
    conn: Conn,
    id: Option<u64>,
    /// When it last heard from the server, or connected.
    since: Instant,
    leaves: Instant,
}

/// Keeps the server near its `--max-clients` with clients that say
/// nothing, each for part of the idle timeout, then leaves properly (a
/// message and its answer, then goodbye). Every few seconds, pushes past
/// the limit: connects more until the server says it is full.
fn hold_idle_clients(mix: &Mix, rng: &mut Rng, tally: &mut Tally) {
    let near = mix.max_clients.saturating_sub(ROOM_FOR_THE_OTHERS).max(1);
    let mut holders: Vec<Holder> = Vec::new();
    let mut next_push = Instant::now() + Duration::from_secs(3);
    while Instant::now() < mix.until {
        while holders.len() < near && Instant::now() < mix.until {
            tally.runs += 1;
            match Conn::session(mix, tally) {
                Ok(Some((conn, id))) => holders.push(Holder {
                    conn,
                    id,
                    since: Instant::now(),
                    leaves: Instant::now() + mix.idle_timeout.mul_f64(0.2 + rng.fraction() / 2.0),
                }),
                Ok(None) => break, // Turned away: the others have the places now.
                Err(problem) => tally.problem(problem),
            }
        }
        let now = Instant::now();
        let (leaving, staying) = holders.into_iter().partition(|h| h.leaves <= now);
        holders = staying;
        for holder in leaving {
            if let Err(problem) = leave_idle(mix, holder, tally) {
                tally.problem(problem);
            }
        }
        if now >= next_push {
            push_past_the_limit(mix, holders.len(), tally);
            next_push = Instant::now() + Duration::from_secs(5);
        }
        thread::sleep(Duration::from_millis(20));
    }
    // However many are left, they have one timeout between them: a server
    // that stopped answering must not hold the soak up for one each.
    let give_up = Instant::now() + TIMEOUT;
    for holder in holders {
        holder.conn.wait_at_most_until(give_up);
        if let Err(problem) = leave_idle(mix, holder, tally) {
            tally.problem(problem);
        }
    }
}

/// An idle client leaves: one message and its answer, then goodbye.
///
/// It means to leave well before the idle timeout; but a client kept
/// waiting on a busy machine may reach it, and then the server is right
/// to have closed it instead. So from 90 % of the idle timeout on, that
/// answer is right too.
fn leave_idle(mix: &Mix, holder: Holder, tally: &mut Tally) -> Result<(), Problem> {
    let Holder {
        mut conn,
        id,
        since,
        ..
    } = holder;
    let late = since.elapsed() >= mix.idle_timeout.mul_f64(0.9);
    if mix.protocol == Protocol::Counter {
        // Sent to a server that closed already, it may fail: the answer says.
        let _ = conn.stream().write_all(b"idle client");
        let answer = if late {
            Answer::GreetingOr(IDLE_TIMEOUT)
        } else {
            Answer::Greeting
        };
        go!(conn.counter_answer(tally, answer));
        return Ok(());
    }
    let _ = conn.stream().write_all(b"idle client\n");
    let expected = reply(mix.protocol, "idle client");
    if late {
        tally.expected += 1;
        let line = conn.read_line()?;
        conn.fresh = false;
        if line.strip_suffix('\n') == Some(IDLE_TIMEOUT) {
            tally.received += 1;
            return conn.expect_end();
        }
        if line.strip_suffix('\n') != Some(&expected) {
            return Err(Problem::Wrong(format!(
                "expected {expected:?}, got {line:?}"
            )));
        }
        tally.received += 1;
    } else {
        go!(conn.expect(tally, &expected));
    }
    conn.leave(tally, id)
}

/// Connects more clients than the server has places left, waits a moment,
/// and sorts them: those told "too many clients" (counted as refused), and
/// those admitted, which leave at once.
fn push_past_the_limit(mix: &Mix, holding: usize, tally: &mut Tally) {
    let extra = mix.max_clients.saturating_sub(holding) + 4;
    let since = Instant::now();
    let mut pushed = Vec::new();
    for _ in 0..extra {
        if Instant::now() > mix.until {
            break;
        }
        tally.runs += 1;
        match Conn::open(mix) {
            Ok(conn) => pushed.push(conn),
            Err(problem) => tally.problem(problem),
        }
    }
    // Long enough for the server to have answered each: a welcome, or a refusal.
    thread::sleep(Duration::from_millis(300));
    let mut told = false;
    let give_up = Instant::now() + TIMEOUT;
    for mut conn in pushed {
        conn.wait_at_most_until(give_up);
        let outcome = if conn.has_data_waiting() || mix.protocol == Protocol::Queue {
            conn.first_line(mix, tally).and_then(|first| match first {
                First::Refused => {
                    told = true;
                    conn.expect_end()
                }
                First::Welcome(id) => leave_idle(
                    mix,
                    Holder {
                        conn,
                        id,
                        since,
                        leaves: Instant::now(),
                    },
                    tally,
                ),
            })
        } else {
            leave_idle(
                mix,
                Holder {
                    conn,
                    id: None,
                    since,
                    leaves: Instant::now(),
                },
                tally,
            )
        };
        if let Err(problem) = outcome {
            tally.problem(problem);
        }
    }
    if told {
        tally.past_the_limit += 1;
    }
}

// ---------------------------------------------------------------------------
// One connection, and its checked answers.

/// What a counter client expects: a greeting, this line, or either.
enum Answer {
    Greeting,
    Line(&'static str),
    GreetingOr(&'static str),
}

/// What a new connection hears first.
enum First {
    Refused,
    /// Admitted: a queue client's welcome gives its id.
    Welcome(Option<u64>),
}

/// One client's connection.
struct Conn {
    lines: BufReader<TcpStream>,
    /// Nothing received yet: a refusal may come instead of the first answer.
    fresh: bool,
}

impl Conn {
    fn open(mix: &Mix) -> Result<Conn, Problem> {
        Ok(Conn {
            lines: BufReader::new(open(mix.address)?),
            fresh: true,
        })
    }

    /// A connection whose reads take 64 bytes at a time: a slow reader
    /// leaves the rest of the answers waiting in the kernel's buffers.
    fn open_reading_little(mix: &Mix) -> Result<Conn, Problem> {
        Ok(Conn {
            lines: BufReader::with_capacity(64, open(mix.address)?),
            fresh: true,
        })
    }

    /// A line session: connected and, for the queue, welcomed with an id.
    /// `None` if the server turned the client away.
    fn session(mix: &Mix, tally: &mut Tally) -> Result<Option<(Conn, Option<u64>)>, Problem> {
        Conn::open(mix)?.welcomed(mix, tally)
    }

    fn session_reading_little(
        mix: &Mix,
        tally: &mut Tally,
    ) -> Result<Option<(Conn, Option<u64>)>, Problem> {
        Conn::open_reading_little(mix)?.welcomed(mix, tally)
    }

    fn welcomed(
        mut self,
        mix: &Mix,
        tally: &mut Tally,
    ) -> Result<Option<(Conn, Option<u64>)>, Problem> {
        if mix.protocol != Protocol::Queue {
            return Ok(Some((self, None)));
        }
        match self.first_line(mix, tally)? {
            First::Refused => Ok(None),
            First::Welcome(id) => Ok(Some((self, id))),
        }
    }

    /// Reads what a new connection is told first: a queue client's welcome,
    /// or a refusal; any other line is wrong.
    fn first_line(&mut self, mix: &Mix, tally: &mut Tally) -> Result<First, Problem> {
        tally.expected += 1;
        let line = self.read_line()?;
        self.fresh = false;
        if is_refusal(&line) {
            tally.refused += 1;
            return Ok(First::Refused);
        }
        match parse_welcome(line.trim_end()) {
            Some(id) if mix.protocol == Protocol::Queue => {
                tally.received += 1;
                Ok(First::Welcome(Some(id)))
            }
            _ => Err(Problem::Wrong(format!("first line {line:?}"))),
        }
    }

    fn stream(&self) -> &TcpStream {
        self.lines.get_ref()
    }

    /// Sends `bytes`. If that fails before anything came back, the server
    /// may have turned the client away and closed: its line says so.
    fn send(&mut self, tally: &mut Tally, bytes: &[u8]) -> Result<Flow, Problem> {
        match self.stream().write_all(bytes) {
            Ok(()) => Ok(Flow::Go),
            Err(e) => self.refused_instead(tally, "send", e),
        }
    }

    /// Half-closes: the server reads the end of the stream. (Fails if the
    /// server has closed already, as when it turns the client away.)
    fn finish_sending(&mut self, tally: &mut Tally) -> Result<Flow, Problem> {
        match self.stream().shutdown(Shutdown::Write) {
            Ok(()) => Ok(Flow::Go),
            Err(e) => self.refused_instead(tally, "shutdown", e),
        }
    }

    /// After `what` failed with `error`: a refusal, if the server turned
    /// this client away before it heard anything else; a lost answer if not.
    fn refused_instead(
        &mut self,
        tally: &mut Tally,
        what: &str,
        error: std::io::Error,
    ) -> Result<Flow, Problem> {
        if self.fresh
            && let Ok(line) = self.read_line()
            && is_refusal(&line)
        {
            tally.expected += 1;
            tally.refused += 1;
            return Ok(Flow::Refused);
        }
        Err(unanswered(what, error))
    }

    /// Reads one line, `\n` included; the end of the stream is an error.
    fn read_line(&mut self) -> Result<String, Problem> {
        let mut line = String::new();
        match (&mut self.lines).take(128 * 1024).read_line(&mut line) {
            Ok(0) => Err(Problem::Unanswered(
                "the server closed the connection".into(),
            )),
            Ok(_) => Ok(line),
            Err(e) => Err(unanswered("reply", e)),
        }
    }

    /// Reads one line and checks it is `expected` (or, as the first answer
    /// of the connection, a refusal).
    fn expect(&mut self, tally: &mut Tally, expected: &str) -> Result<Flow, Problem> {
        tally.expected += 1;
        let line = self.read_line()?;
        let first = std::mem::replace(&mut self.fresh, false);
        if first && is_refusal(&line) {
            tally.refused += 1;
            return Ok(Flow::Refused);
        }
        if line.strip_suffix('\n') != Some(expected) {
            return Err(Problem::Wrong(format!(
                "expected {expected:?}, got {line:?}"
            )));
        }
        tally.received += 1;
        Ok(Flow::Go)
    }

    /// Reads a counter server's whole reply, to the end of the stream.
    fn counter_answer(&mut self, tally: &mut Tally, answer: Answer) -> Result<Flow, Problem> {
        tally.expected += 1;
        let mut reply = String::new();
        (&mut self.lines)
            .take(4096)
            .read_to_string(&mut reply)
            .map_err(|e| unanswered("reply", e))?;
        let right = match answer {
            Answer::Greeting => parse_greeting(&reply).is_some(),
            Answer::Line(line) => reply.strip_suffix('\n') == Some(line),
            Answer::GreetingOr(line) => {
                parse_greeting(&reply).is_some() || reply.strip_suffix('\n') == Some(line)
            }
        };
        if right {
            tally.received += 1;
            Ok(Flow::Go)
        } else if is_refusal(&reply) {
            tally.refused += 1;
            Ok(Flow::Refused)
        } else if reply.is_empty() {
            Err(Problem::Unanswered(
                "the server closed the connection without a reply".into(),
            ))
        } else {
            Err(Problem::Wrong(format!("reply {reply:?}")))
        }
    }

    /// Sends `!DISCONNECT`, expects the queue's goodbye, then the end of the stream.
    fn leave(mut self, tally: &mut Tally, id: Option<u64>) -> Result<(), Problem> {
        go!(self.send(tally, format!("{DISCONNECT_MSG}\n").as_bytes()));
        if let Some(id) = id {
            go!(self.expect(tally, &goodbye(id)));
        }
        self.expect_end()
    }

    /// Expects the server to close the connection, with nothing more said.
    fn expect_end(&mut self) -> Result<(), Problem> {
        let mut rest = Vec::new();
        match (&mut self.lines).take(1024 * 1024).read_to_end(&mut rest) {
            Ok(_) if rest.is_empty() => Ok(()),
            Ok(_) => Err(Problem::Wrong(format!(
                "before the end of the stream: {:?}",
                String::from_utf8_lossy(&rest)
            ))),
            Err(e) => Err(unanswered("the end of the stream", e)),
        }
    }

    /// Reads wait for the server's idle timeout, and the usual time after it.
    fn wait_longer(&self, mix: &Mix) -> Result<(), Problem> {
        self.stream()
            .set_read_timeout(Some(mix.idle_timeout + TIMEOUT))
            .map_err(|e| unanswered("set a read timeout", e))
    }

    /// Reads and writes wait no later than `give_up` (a moment, if that has passed).
    fn wait_at_most_until(&self, give_up: Instant) {
        let left = give_up
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(50));
        let _ = self.stream().set_read_timeout(Some(left));
        let _ = self.stream().set_write_timeout(Some(left));
    }

    /// True if the server has sent something not read yet.
    fn has_data_waiting(&self) -> bool {
        if !self.lines.buffer().is_empty() {
            return true;
        }
        let stream = self.stream();
        let mut byte = [0u8; 1];
        let waiting =
            stream.set_nonblocking(true).is_ok() && matches!(stream.peek(&mut byte), Ok(1..));
        let _ = stream.set_nonblocking(false);
        waiting
    }
}

/// Closes with SO_LINGER 0: the kernel sends a reset, not a normal close.
fn reset(conn: Conn) {
    let _ = socket2::SockRef::from(conn.stream()).set_linger(Some(Duration::ZERO));
}

/// True for the line a server sends a client it turns away.
fn is_refusal(line: &str) -> bool {
    line.starts_with("ERROR: too many clients (limit ") || line.strip_suffix('\n') == Some(BUSY)
}

// ---------------------------------------------------------------------------

/// A small random number generator (xorshift64*): the mix needs variety,
/// not quality, and no dependency for it.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number from 0 to `n - 1`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// A number from 0 to 1.
    fn fraction(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}
