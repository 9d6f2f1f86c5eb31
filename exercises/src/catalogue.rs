//! What an exercise is: what the learner builds, where, and how it is checked.
//!
//! Each lesson's exercises are a ladder, listed in `lessonN.rs`: each one
//! starts from the worked solution of the one before (so a learner who
//! skipped a step can still take the next), and the last of lessons 1-3 is
//! a complete server for that lesson, in one file, on `std` alone (lesson
//! 5's, on `std` and mio).

use std::path::PathBuf;

use threaded_servers::harness::{HowToStop, Target};
use threaded_servers::protocol::Protocol;

/// One exercise.
pub struct Exercise {
    /// `LESSON.N`, such as `1.2`.
    pub id: &'static str,
    pub title: &'static str,
    /// The file the learner edits, under `exercises/`: `01-counter/2-idle-timeout.rs`.
    /// Its worked solution has the same name under `exercises/solutions/`.
    pub stem: &'static str,
    /// What the program is, for the checks: a server and how it stops, or a client.
    pub program: Kind,
    /// The lesson section that teaches the idea: the lesson's file under
    /// `lessons/`, and the heading.
    pub lesson: (&'static str, &'static str),
    /// What to do, in a few sentences, for when a check fails.
    pub hint: &'static str,
    /// The checks, in order; the first that fails is the one reported.
    pub checks: &'static [Check],
}

/// What kind of program an exercise builds.
#[derive(Clone, Copy)]
pub enum Kind {
    /// A server of this protocol, stopped this way.
    Server(Protocol, HowToStop),
    /// A client, run against the repository's own servers.
    Client,
}

/// One check: what it checks (a sentence), and the check itself, which
/// panics with a plain-words message when the program does not do it.
pub struct Check {
    pub checks: &'static str,
    pub run: fn(&Program),
}

/// The learner's program, built, as the checks see it.
pub struct Program {
    /// The executable.
    pub path: PathBuf,
    pub kind: Kind,
}

impl Program {
    /// The server, as a target for the harness's checks.
    pub fn target(&self) -> Target {
        match self.kind {
            Kind::Server(protocol, stop) => Target::new(protocol, &self.path, stop),
            Kind::Client => panic!("this exercise builds a client, not a server"),
        }
    }
}

impl Exercise {
    /// The file the learner edits, from the repository's root.
    pub fn file(&self) -> String {
        format!("exercises/{}", self.stem)
    }

    /// The worked solution, from the repository's root.
    pub fn solution(&self) -> String {
        format!("exercises/solutions/{}", self.stem)
    }

    /// The file the learner edits, as a path.
    pub fn path(&self) -> PathBuf {
        package_dir().join(self.stem)
    }

    /// The cargo binary target that builds the file: `ex1_2` for exercise 1.2.
    pub fn bin(&self) -> String {
        format!("ex{}", self.id.replace('.', "_"))
    }

    /// Where to reread: `lessons/01-counter-server.md, "A deadline"`.
    pub fn reread(&self) -> String {
        format!("lessons/{}, section \"{}\"", self.lesson.0, self.lesson.1)
    }
}

/// The `exercises/` directory.
pub fn package_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every exercise, in the order of the lessons.
pub fn all() -> Vec<Exercise> {
    [
        crate::lesson1::exercises(),
        crate::lesson2::exercises(),
        crate::lesson3::exercises(),
        crate::lesson4::exercises(),
        crate::lesson5::exercises(),
        crate::lesson6::exercises(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn ids_are_unique_and_in_lesson_order() {
        let ids: Vec<(u32, u32)> = all()
            .iter()
            .map(|e| {
                let (lesson, n) = e.id.split_once('.').expect("LESSON.N");
                (lesson.parse().unwrap(), n.parse().unwrap())
            })
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(ids, sorted, "ids out of order or repeated");
    }

    #[test]
    fn every_exercise_has_its_file_its_solution_its_binary_and_checks() {
        let manifest = fs::read_to_string(package_dir().join("Cargo.toml")).unwrap();
        for exercise in all() {
            assert!(exercise.path().exists(), "{} is missing", exercise.file());
            let solution = package_dir().join("solutions").join(exercise.stem);
            assert!(solution.exists(), "{} is missing", exercise.solution());
            let bin = format!(
                "[[bin]]\nname = \"{}\"\npath = \"{}\"",
                exercise.bin(),
                exercise.stem
            );
            assert!(manifest.contains(&bin), "Cargo.toml lacks\n{bin}");
            assert!(!exercise.checks.is_empty(), "{} has no checks", exercise.id);
            assert!(
                fs::read_to_string(exercise.path())
                    .unwrap()
                    .contains(&format!("cargo run -p exercises -- {}", exercise.id)),
                "{} does not say how to check it",
                exercise.file()
            );
        }
    }

    #[test]
    fn every_exercise_names_a_section_its_lesson_has() {
        for exercise in all() {
            let (file, heading) = exercise.lesson;
            let lesson = fs::read_to_string(package_dir().join("../lessons").join(file))
                .unwrap_or_else(|e| panic!("{}: lessons/{file}: {e}", exercise.id));
            assert!(
                lesson
                    .lines()
                    .any(|line| line.starts_with('#')
                        && line.trim_start_matches('#').trim() == heading),
                "{}: lessons/{file} has no heading \"{heading}\"",
                exercise.id
            );
        }
    }
}
