//! Shutdown for tasks: one signal every task can wait on, and Ctrl-C raising it.
//!
//! The threaded servers need a trick to stop: their main thread sits in a
//! blocking `accept()` that no flag can reach, so stopping means connecting
//! to themselves (see [`crate::shutdown`]). A task never blocks its thread;
//! it waits at an `.await`, and [`tokio::select!`] lets it wait for two
//! things at once: "the next client, or shutdown" is one line of code.
//!
//! The signal is a [`tokio::sync::watch`] channel holding one `bool`. Every
//! task keeps a [`Shutdown`] (a receiver): it can look (`is_stopping`) or
//! wait (`begun`). The one [`Stopper`] (the sender) flips it to `true`, once,
//! and every waiting task wakes. tokio-util's `CancellationToken` is the same
//! idea in a crate of its own; `watch` is already in tokio, and its value can
//! be read at any time without waiting, as the threads read their flag.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// What a task holds to know whether the server is shutting down.
#[derive(Clone, Debug)]
pub struct Shutdown {
    began: watch::Receiver<bool>,
}

impl Shutdown {
    /// True once shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        *self.began.borrow()
    }

    /// Waits until shutdown begins (returns at once if it has).
    pub async fn begun(&mut self) {
        if self.began.wait_for(|&began| began).await.is_err() {
            // The stopper is gone without stopping: then nothing will stop
            // this server, and there is nothing to wait for.
            std::future::pending::<()>().await;
        }
    }

    /// Sleeps for `pause`, or less if shutdown begins meanwhile.
    /// True if the server is shutting down.
    pub async fn stops_within(&mut self, pause: Duration) -> bool {
        tokio::select! {
            () = self.begun() => true,
            () = tokio::time::sleep(pause) => false,
        }
    }
}

/// What stops a server: from the signal task, or from a test.
#[derive(Clone, Debug)]
pub struct Stopper {
    begin: Arc<watch::Sender<bool>>,
}

impl Stopper {
    /// A stopper, and the [`Shutdown`] it controls.
    pub fn new() -> (Stopper, Shutdown) {
        let (begin, began) = watch::channel(false);
        let stopper = Stopper {
            begin: Arc::new(begin),
        };
        (stopper, Shutdown { began })
    }

    /// Begins shutdown: every task waiting in [`Shutdown::begun`] wakes.
    /// Safe to call again (a second Ctrl-C).
    pub fn stop(&self) {
        self.begin.send_replace(true);
    }
}

// ANCHOR: stop_on_signals
/// Makes Ctrl-C (SIGINT), SIGTERM and SIGHUP stop the server, as the threaded
/// servers' handler does. Call it once, before printing the listening line.
///
/// The signals are registered here, before the task that waits for them
/// starts: from this call on they no longer kill the process, and a failure
/// to register is an error the server reports at start-up.
#[cfg(unix)]
pub fn stop_on_signals(stopper: Stopper) -> io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};

    let register = |kind: SignalKind| {
        signal(kind).map_err(|e| io::Error::new(e.kind(), format!("cannot handle signals: {e}")))
    };
    let mut interrupt = register(SignalKind::interrupt())?;
    let mut terminate = register(SignalKind::terminate())?;
    let mut hangup = register(SignalKind::hangup())?;
    tokio::spawn(async move {
        // Each `recv` is a future; `select!` waits for the first of the three.
        // The loop makes a second Ctrl-C harmless, as with the threads.
        loop {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
                _ = hangup.recv() => {}
            }
            stopper.stop();
        }
    });
    Ok(())
}
// ANCHOR_END: stop_on_signals

/// Elsewhere, Ctrl-C only.
#[cfg(not(unix))]
pub fn stop_on_signals(stopper: Stopper) -> io::Result<()> {
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            stopper.stop();
        }
    });
    Ok(())
}
