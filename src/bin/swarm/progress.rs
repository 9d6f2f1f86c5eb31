//! A progress line on stderr while a long run goes, only when a person is watching.

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::{self, Scope, ScopedJoinHandle};
use std::time::Duration;

/// How often the line is redrawn.
const EVERY: Duration = Duration::from_millis(200);

/// The thread that draws the line; stopping it clears the line.
pub struct Progress<'scope> {
    running: Option<(Sender<()>, ScopedJoinHandle<'scope, ()>)>,
}

impl<'scope> Progress<'scope> {
    /// Shows how many of `total` clients have `finished`, when stdout and
    /// stderr are a terminal: quiet when the output goes to a file or a program.
    pub fn start(
        scope: &'scope Scope<'scope, '_>,
        total: usize,
        finished: &'scope AtomicUsize,
    ) -> Progress<'scope> {
        if !io::stdout().is_terminal() || !io::stderr().is_terminal() {
            return Progress { running: None };
        }
        let (stop, stopped) = mpsc::channel::<()>();
        let drawing =
            thread::Builder::new()
                .name("progress".into())
                .spawn_scoped(scope, move || {
                    // Redraws until `stop` is dropped.
                    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
                        let done = finished.load(Ordering::Relaxed);
                        draw(&format!("\r  {done} / {total} clients done "));
                    }
                    draw(&format!("\r{:40}\r", ""));
                });
        // No thread, no progress line: the run itself is unaffected.
        Progress {
            running: drawing.ok().map(|handle| (stop, handle)),
        }
    }

    /// Stops the thread and clears the line.
    pub fn stop(self) {
        if let Some((stop, handle)) = self.running {
            drop(stop);
            let _ = handle.join();
        }
    }
}

/// Writes to stderr without a panic if stderr is gone (as `eprint!` would).
fn draw(text: &str) {
    let _ = io::stderr().lock().write_all(text.as_bytes());
}
