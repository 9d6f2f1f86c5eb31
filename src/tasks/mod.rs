//! What the async servers share (lesson 6): the threaded servers' machinery,
//! for tokio tasks.
//!
//! `async_counter_server`, `async_echo_server` and `async_queue_server` speak
//! exactly their threaded twins' protocols. A task per client replaces a
//! thread per client; everything that must wait for a socket or a signal
//! is redone here, with `.await`:
//!
//! | module | what it is for | the threads' twin |
//! |---|---|---|
//! | [`server`] | accepting, admitting under `--max-clients`, closing at shutdown | `threads::server` |
//! | [`client`] | one client: reads with a deadline, writes with a timeout, the lingering close | `threads::connections`, `threads::socket` |
//! | [`session`] | a line session: the next message, or how the session ended | `threads::session` |
//! | [`shutdown`] | the signal every task can wait on; Ctrl-C and SIGTERM via `tokio::signal` | `threads::shutdown` |
//!
//! Everything that does not wait comes from the core, the same for every
//! style: the [`crate::protocol`] lines, [`crate::cli`] flags,
//! [`crate::listening`], [`crate::limits`], [`crate::timing`],
//! [`crate::console`] (its macros never block, so a task may log),
//! [`crate::framing::LineBuffer`] and [`crate::session`]'s words for how a
//! session ends. Nothing here uses `threads` or `events`.
//!
//! # The one rule
//!
//! A task must not block its thread. A runtime runs thousands of tasks on a
//! few threads (one per core here): a task that calls a blocking function
//! (`std::thread::sleep`, a std socket read, a lock held while another task
//! holds it across an `.await`) stops every other task on its thread until
//! it returns. So nothing here blocks, and no lock is held across an `.await`.

pub mod client;
pub mod server;
pub mod session;
pub mod shutdown;
