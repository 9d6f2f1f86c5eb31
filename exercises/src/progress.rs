//! Which exercises are done: those whose file, exactly as it is now, passed
//! its checks. Kept in `exercises/.progress` (not in git): one line per
//! exercise, its id and a fingerprint of the file that passed. Change the
//! file and the exercise is "not yet" again until it passes again.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use crate::catalogue::{Exercise, package_dir};

fn progress_file() -> PathBuf {
    package_dir().join(".progress")
}

/// A fingerprint of the exercise's file as it is now; `None` if it cannot be read.
fn fingerprint(exercise: &Exercise) -> Option<String> {
    let text = fs::read(exercise.path()).ok()?;
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    Some(format!("{:016x}", hasher.finish()))
}

/// The recorded passes: (id, fingerprint).
fn recorded() -> Vec<(String, String)> {
    fs::read_to_string(progress_file())
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(id, print)| (id.to_string(), print.to_string()))
        .collect()
}

/// True if the exercise's file, as it is now, passed its checks.
pub fn is_done(exercise: &Exercise) -> bool {
    let Some(now) = fingerprint(exercise) else {
        return false;
    };
    recorded()
        .iter()
        .any(|(id, print)| id == exercise.id && *print == now)
}

/// Records that the exercise's file, as it is now, passed. A failure to
/// write is only a warning: the check itself passed.
pub fn record_done(exercise: &Exercise) {
    let Some(now) = fingerprint(exercise) else {
        return;
    };
    let mut lines: Vec<String> = recorded()
        .into_iter()
        .filter(|(id, _)| id != exercise.id)
        .map(|(id, print)| format!("{id} {print}"))
        .collect();
    lines.push(format!("{} {now}", exercise.id));
    lines.sort();
    if let Err(e) = fs::write(progress_file(), lines.join("\n") + "\n") {
        eprintln!(
            "exercises: could not record the pass in {}: {e}",
            progress_file().display()
        );
    }
}
