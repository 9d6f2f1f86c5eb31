//! Checking one exercise: build the learner's program, run the checks in
//! order, and report the first failure in plain words.
//!
//! A check is written like a test: it panics, with a message that says what
//! was expected and what happened, when the program does not do what it
//! should. Here every panic is caught and its message kept (the hook below
//! stops Rust from printing it), so that the report can show it once,
//! with the hint.

use std::env;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, PoisonError};

use threaded_servers::harness;

use crate::catalogue::{Exercise, Program};

/// How a check of an exercise went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    DoesNotBuild,
}

/// The messages of panics since the last [`take_panics`], from any thread:
/// a check's client threads may panic too.
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// From now on, a panic's message is kept for the report instead of printed.
pub fn quiet_panics() {
    harness::keep_console_for_the_report();
    panic::set_hook(Box::new(|info| {
        let message = if let Some(text) = info.payload().downcast_ref::<&str>() {
            text.to_string()
        } else if let Some(text) = info.payload().downcast_ref::<String>() {
            text.clone()
        } else {
            "a check panicked".to_string()
        };
        PANICS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(message);
    }));
}

fn take_panics() -> Vec<String> {
    std::mem::take(&mut *PANICS.lock().unwrap_or_else(PoisonError::into_inner))
}

/// Builds and checks `exercise`, and prints how it went.
pub fn run(exercise: &Exercise) -> Outcome {
    println!(
        "Checking exercise {}: {} ({})",
        exercise.id,
        exercise.title,
        exercise.file()
    );
    let Some(path) = build(&exercise.bin()) else {
        println!(
            "\n✗ {} does not compile yet: the compiler's messages are above.",
            exercise.file()
        );
        println!("  reread: {}", exercise.reread());
        return Outcome::DoesNotBuild;
    };
    let program = Program {
        path,
        kind: exercise.program,
    };
    let total = exercise.checks.len();
    for (n, check) in exercise.checks.iter().enumerate() {
        take_panics();
        harness::console_at_failure();
        let result = panic::catch_unwind(AssertUnwindSafe(|| (check.run)(&program)));
        let panics = take_panics();
        let console = harness::console_at_failure();
        match result {
            Ok(()) => println!("  ✓ {}", check.checks),
            Err(_) => {
                println!("  ✗ {}", check.checks);
                println!();
                println!(
                    "✗ Exercise {} is not done yet: check {} of {total} failed.",
                    exercise.id,
                    n + 1
                );
                println!();
                report(&panics, console);
                println!();
                println!("  hint: {}", wrap(exercise.hint, 70, "        "));
                println!("  reread: {}", exercise.reread());
                return Outcome::Failed;
            }
        }
    }
    let all_pass = match total {
        1 => "its check passes".to_string(),
        _ => format!("all {total} checks pass"),
    };
    println!("\n✓ Exercise {} is done: {all_pass}.", exercise.id);
    Outcome::Passed
}

/// What went wrong: the message of the panic that ended the check (the
/// last one), and the first other one if a client thread panicked before.
/// Then the server's console, unless the message already quoted it.
fn report(panics: &[String], console: Option<String>) {
    let Some(last) = panics.last() else {
        println!("  (the check failed without a message)");
        return;
    };
    println!("  {}", indent(last, "  "));
    if let Some(first) = panics.first().filter(|first| *first != last) {
        println!();
        println!("  Before that, a client of the check reported:");
        println!("  {}", indent(first, "  "));
    }
    if let Some(console) =
        console.filter(|_| !panics.iter().any(|p| p.contains("the server printed:")))
    {
        println!();
        println!("  {}", indent(&console, "  "));
    }
}

/// `text` as lines of at most `width` characters, each after the first indented by `prefix`.
fn wrap(text: &str, width: usize, prefix: &str) -> String {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("one line at least");
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines.join(&format!("\n{prefix}"))
}

fn indent(text: &str, prefix: &str) -> String {
    text.trim_end().replace('\n', &format!("\n{prefix}"))
}

/// Builds binary `bin` of this workspace with cargo, in the profile this
/// runner was built in, and returns its path; `None` if it does not
/// compile (cargo has printed why).
pub fn build(bin: &str) -> Option<PathBuf> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(["build", "--quiet", "--workspace", "--bin", bin]);
    if !cfg!(debug_assertions) {
        command.arg("--release");
    }
    // `--workspace`: the bin may be an exercise's or one of the servers'.
    command.current_dir(crate::catalogue::package_dir());
    let built = command.status().ok()?.success();
    // Built beside this runner: the same target directory and profile.
    let path = env::current_exe().ok()?.with_file_name(bin);
    (built && path.exists()).then_some(path)
}
