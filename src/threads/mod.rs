//! The threaded servers' machinery (lessons 1 to 4): a thread per client,
//! or a pool of them, each free to block while it waits for its client.
//!
//! `counter_server`, `echo_server` and `queue_server` are built from these:
//!
//! | module | what it is for | its twin in `events` / `tasks` |
//! |---|---|---|
//! | [`server`] | accepting, admitting under `--max-clients`, a thread per client, closing every client at shutdown | `events::server` / `tasks::server` |
//! | [`connections`] | one client as its handler gets it, the registry of every client, the lingering close | `events::connection` / `tasks::client` |
//! | [`socket`] | blocking reads with a deadline, retried after a signal; writes, and one that never waits | `events::connection` / `tasks::client` |
//! | [`session`] | a line session: the next message, or how the session ended | `Clients::next_message` / `tasks::session` |
//! | [`shutdown`] | the shutdown flag, waking a blocked `accept()`, Ctrl-C and SIGTERM | the loop's waker / `tasks::shutdown` |
//! | [`pool`] | a fixed pool of worker threads (lesson 4's experiment) | (none: a loop or a runtime is its own pool) |
//!
//! Everything that does not wait comes from the core and is the same in
//! every style: the [`crate::protocol`] lines, [`crate::framing`]'s
//! `LineBuffer`, [`crate::session`]'s words for how a session ends,
//! [`crate::listening`], [`crate::limits`], [`crate::timing`] and
//! [`crate::console`].
//!
//! # The one rule
//!
//! A thread may block, but never while it holds a lock another thread
//! needs, and never for ever: every lock is held for one map or queue
//! operation, and every wait (a read, a write, a join) has a deadline.

pub mod connections;
pub mod pool;
pub mod server;
pub mod session;
pub mod shutdown;
pub mod socket;
