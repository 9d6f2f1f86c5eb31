//! The exercises' runner: lists the exercises, and checks one.
//!
//! ```text
//! cargo run -p exercises              # every exercise: done or not yet
//! cargo run -p exercises -- 1.2       # check exercise 1.2
//! cargo run -p exercises -- 1.2 --watch   # check it again each time its file changes, until it passes
//! ```
//!
//! Checking an exercise builds the learner's program (`cargo build -p
//! exercises --bin ex1_2`), then runs its checks one by one: each starts
//! the program on port 0 and talks to it over real sockets, with the very
//! clients the repository's own tests use against the real servers
//! (`threaded_servers::harness`). The first check that fails is reported
//! in plain words (what was expected, what happened), with a hint and the
//! lesson section to reread.

mod catalogue;
mod check;
mod lesson1;
mod lesson2;
mod lesson3;
mod lesson4;
mod lesson5;
mod lesson6;
mod progress;

use std::process::ExitCode;
use std::thread;
use std::time::{Duration, SystemTime};

use clap::Parser;

use catalogue::Exercise;
use check::Outcome;

/// Build the servers yourself: exercises checked over real sockets.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The exercise to check, such as 1.2 (`all`: every exercise, in order).
    /// Without it, the list of exercises.
    id: Option<String>,

    /// Check again each time the exercise's file changes (Ctrl-C to stop).
    #[arg(long)]
    watch: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    check::quiet_panics();
    let exercises = catalogue::all();
    match args.id.as_deref() {
        None => {
            list(&exercises);
            ExitCode::SUCCESS
        }
        Some("all") => check_all(&exercises),
        Some(id) => match exercises.iter().find(|exercise| exercise.id == id) {
            Some(exercise) if args.watch => watch(exercise),
            Some(exercise) => exit_code(check_and_record(exercise)),
            None => {
                eprintln!(
                    "exercises: there is no exercise {id}; `cargo run -p exercises` lists them"
                );
                ExitCode::from(2)
            }
        },
    }
}

/// One line per exercise: id, done or not yet, title, the file to edit, the worked solution.
fn list(exercises: &[Exercise]) {
    let done = |exercise: &Exercise| progress::is_done(exercise);
    let count = exercises.iter().filter(|e| done(e)).count();
    println!(
        "{count} of {} exercises done. Check one with `cargo run -p exercises -- ID`.",
        exercises.len()
    );
    println!();
    let title_width = exercises.iter().map(|e| e.title.len()).max().unwrap_or(0);
    let file_width = exercises.iter().map(|e| e.file().len()).max().unwrap_or(0);
    println!(
        "{:<4}  {:<7}  {:<title_width$}  {:<file_width$}  a worked solution, for after",
        "id", "status", "title", "the file you edit"
    );
    for exercise in exercises {
        println!(
            "{:<4}  {:<7}  {:<title_width$}  {:<file_width$}  {}",
            exercise.id,
            if done(exercise) { "done" } else { "not yet" },
            exercise.title,
            exercise.file(),
            exercise.solution(),
        );
    }
}

/// Checks `exercise`, reports, and remembers a pass.
fn check_and_record(exercise: &Exercise) -> Outcome {
    let outcome = check::run(exercise);
    if outcome == Outcome::Passed {
        progress::record_done(exercise);
    }
    outcome
}

fn check_all(exercises: &[Exercise]) -> ExitCode {
    let passed = exercises
        .iter()
        .filter(|exercise| check_and_record(exercise) == Outcome::Passed)
        .count();
    println!("{passed} of {} exercises pass.", exercises.len());
    if passed == exercises.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Checks `exercise` now, then again whenever its file changes.
fn watch(exercise: &Exercise) -> ExitCode {
    let modified = || {
        std::fs::metadata(exercise.path())
            .and_then(|metadata| metadata.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH)
    };
    loop {
        let seen = modified();
        if check_and_record(exercise) == Outcome::Passed {
            return ExitCode::SUCCESS;
        }
        println!(
            "\nWatching {} (Ctrl-C to stop): save it to check again.",
            exercise.file()
        );
        while modified() == seen {
            thread::sleep(Duration::from_millis(300));
        }
        println!();
    }
}

/// 0: done; 1: a check failed; 3: the program does not compile (2 is a
/// mistake on the command line).
fn exit_code(outcome: Outcome) -> ExitCode {
    match outcome {
        Outcome::Passed => ExitCode::SUCCESS,
        Outcome::Failed => ExitCode::FAILURE,
        Outcome::DoesNotBuild => ExitCode::from(3),
    }
}
