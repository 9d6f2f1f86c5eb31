//! Shutdown for tasks: one signal every task can wait on, and Ctrl-C raising it.
//!
//! The threaded servers need a trick to stop: their main thread sits in a
//! blocking `accept()` that no flag can reach, so stopping means connecting
//! to themselves (see `threads::shutdown`). A task never blocks its thread;
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
    let interrupt = register(SignalKind::interrupt())?;
    let terminate = register(SignalKind::terminate())?;
    let hangup = register(SignalKind::hangup())?;
    tokio::spawn(stop_on_each([interrupt, terminate, hangup], stopper));
    Ok(())
}
// ANCHOR_END: stop_on_signals

/// A stream of signals of one kind: tokio's `Signal`, or a test's stand-in.
trait Signals {
    /// The next signal; `None` once no more can come.
    fn recv(&mut self) -> impl Future<Output = Option<()>> + Send;
}

#[cfg(unix)]
impl Signals for tokio::signal::unix::Signal {
    fn recv(&mut self) -> impl Future<Output = Option<()>> + Send {
        tokio::signal::unix::Signal::recv(self)
    }
}

// ANCHOR: stop_on_each
/// Stops the server at each signal any of `streams` delivers (a second
/// Ctrl-C is harmless: `stop` may be called again). A stream that says no
/// more will come is no longer waited on; once none is left, this returns.
/// (Waiting on an ended stream again would return at once, for ever: a
/// loop that spins.)
async fn stop_on_each<S: Signals>(mut streams: [S; 3], stopper: Stopper) {
    let mut open = [true; 3];
    loop {
        let [a, b, c] = &mut streams;
        // `select!` polls only the branches whose stream is still open, and
        // takes its `else` when none is.
        let (which, signal) = tokio::select! {
            signal = a.recv(), if open[0] => (0, signal),
            signal = b.recv(), if open[1] => (1, signal),
            signal = c.recv(), if open[2] => (2, signal),
            else => return,
        };
        match signal {
            Some(()) => stopper.stop(),
            None => open[which] = false,
        }
    }
}
// ANCHOR_END: stop_on_each

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

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that delivers `signals` signals, then ends.
    struct Delivers {
        signals: usize,
    }

    impl Signals for Delivers {
        // An `async fn`, as tokio's: nothing happens until it is polled.
        async fn recv(&mut self) -> Option<()> {
            self.signals = self.signals.checked_sub(1)?;
            Some(())
        }
    }

    #[test]
    fn streams_that_end_are_left_alone_not_waited_on_again_and_again() {
        let (stopper, shutdown) = Stopper::new();
        let streams = [
            Delivers { signals: 0 },
            Delivers { signals: 2 },
            Delivers { signals: 0 },
        ];
        // On a thread of its own: a loop that waits on an ended stream again
        // never yields, and would hang the test rather than fail it.
        let (returned, forwarding) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a runtime");
            runtime.block_on(stop_on_each(streams, stopper));
            let _ = returned.send(());
        });
        forwarding
            .recv_timeout(Duration::from_secs(5))
            .expect("stop_on_each returns once every stream has ended");
        assert!(shutdown.is_stopping(), "the two signals stopped the server");
    }
}
