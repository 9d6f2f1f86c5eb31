//! What the event-loop servers share (lesson 5): one thread, one loop, every
//! client a state machine.
//!
//! `event_counter_server`, `event_echo_server` and `event_queue_server`
//! speak exactly their threaded twins' protocols. Where a thread per client
//! blocks in `read()` and keeps its place in the conversation on its stack,
//! here one thread waits on every socket at once (epoll, through mio), and
//! each client's place is written down in a [`connection::Connection`]:
//!
//! | module | what it is for | the threads' twin |
//! |---|---|---|
//! | [`server`] | the loop: accepting with back-off, waiting, dispatching, shutdown by a waker | `threads::server`, `threads::shutdown` |
//! | [`connection`] | each client: its state, its buffers, reads that never wait, writes that keep what did not fit, the lingering close | `threads::connections`, `threads::socket` |
//! | [`timers`] | every deadline, in the one structure the loop consults for how long it may wait | a socket timeout per thread |
//!
//! What does not wait comes from the core, the same for every style: the
//! [`crate::protocol`] lines, [`crate::cli`] flags, [`crate::listening`],
//! [`crate::limits`], [`crate::timing`], [`crate::console`] (its macros
//! never block, so the loop may log), [`crate::framing::LineBuffer`] and
//! [`crate::session`]'s words for how a session ends. Nothing here uses
//! `threads` or `tasks`.
//!
//! # The one rule
//!
//! Nothing on the loop's thread may block. The loop is every client's
//! thread at once: a call that waits (a sleep, a blocking read or write, a
//! lock another thread holds, a DNS lookup) makes every client wait. So
//! every socket is nonblocking, every step does what can be done now and
//! returns, and every wait is the loop's one wait, in `poll`.

pub mod connection;
pub mod server;
pub mod timers;
