//! The documents stand alone and stay readable.
//!
//! 1. Every relative link in a Markdown file resolves to a file in the
//!    repository (and a `#heading` in a Markdown file to a heading there).
//! 2. No file refers to anything outside the repository.
//! 3. Each lesson's main path (without "Under the hood", the exercises and
//!    their answers) reads in 25 minutes or less, at 200 words and 15 lines
//!    of code a minute.
//! 4. Each term of `lessons/glossary.md` is linked to its entry where a
//!    lesson first uses it.
//! 5. A lesson's figures from the benchmarks are BENCHMARKS.md's: every
//!    number in the lines after a `<!-- numbers: BENCHMARKS.md -->` marker
//!    (up to the next blank line) appears in BENCHMARKS.md.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file of the repository's own (not build output, not git's), as a path relative to the root.
fn repository_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![PathBuf::new()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(root().join(&dir)).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            // Not the repository's own: git's, cargo's, the two scripts
            // `mdbook-mermaid install` writes for the book (not committed),
            // and book/'s links to the repository's own files.
            let generated = [".git", "target", "mermaid.min.js", "mermaid-init.js"];
            if generated.iter().any(|skip| name == *skip) || entry.file_type().unwrap().is_symlink()
            {
                continue;
            }
            let path = dir.join(&name);
            if entry.file_type().unwrap().is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn markdown_files() -> Vec<PathBuf> {
    repository_files()
        .into_iter()
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect()
}

/// The text of a Markdown file without its fenced code blocks (their lines are left empty).
fn prose(text: &str) -> String {
    let mut fenced = false;
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            out.push('\n');
            continue;
        }
        if !fenced {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// The targets of the inline links `[text](target)` in `text`.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        if let Some(end) = rest.find(')') {
            targets.push(rest[..end].trim().to_string());
        }
    }
    targets
}

/// The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as dashes.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn headings(text: &str) -> BTreeSet<String> {
    prose(text)
        .lines()
        .filter_map(|line| line.strip_prefix('#'))
        .map(|heading| slug(heading.trim_start_matches('#')))
        .collect()
}

/// `path` with `.` and `..` resolved, or `None` if it climbs out of the repository.
fn inside_repository(path: &Path) -> Option<PathBuf> {
    let mut resolved = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir if !resolved.pop() => return None,
            Component::ParentDir => {}
            Component::Normal(part) => resolved.push(part),
            _ => {}
        }
    }
    Some(resolved)
}

#[test]
fn every_markdown_link_resolves_inside_the_repository() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in markdown_files() {
        let text = fs::read_to_string(root().join(&file)).unwrap();
        for target in link_targets(&prose(&text)) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, fragment) = target.split_once('#').unwrap_or((&target, ""));
            let linked = if path.is_empty() {
                file.clone()
            } else {
                match inside_repository(&file.parent().unwrap().join(path)) {
                    Some(linked) => linked,
                    None => {
                        problems.push(format!(
                            "{}: {target} is outside the repository",
                            file.display()
                        ));
                        continue;
                    }
                }
            };
            let full = root().join(&linked);
            if !full.exists() {
                problems.push(format!("{}: {target} does not exist", file.display()));
                continue;
            }
            if !fragment.is_empty() && linked.extension().is_some_and(|ext| ext == "md") {
                let there = fs::read_to_string(&full).unwrap();
                if !headings(&there).contains(fragment) {
                    problems.push(format!(
                        "{}: no heading #{fragment} in {}",
                        file.display(),
                        linked.display()
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "broken links:\n{}",
        problems.join("\n")
    );
    assert!(checked > 20, "only {checked} links found");
}

#[test]
fn nothing_refers_to_what_lies_outside_the_repository() {
    // Names a learner's clone does not have: the course's own materials
    // (written backwards here, so that this file does not name them either)
    // and its issue tracker.
    let course_materials = [
        "derahs/..",
        "sdees/derahs",
        "seton/derahs",
        "0 dees",
        "sdees",
        "dees eht",
        "dm.CEPS",
        "CEPS eht",
        "s'CEPS",
    ];
    let outside: Vec<String> = course_materials
        .iter()
        .map(|name| name.chars().rev().collect())
        .chain(["issue 1", "issue 5", "issue #"].map(String::from))
        .collect();
    let mut problems = Vec::new();
    for file in repository_files() {
        let Ok(text) = fs::read_to_string(root().join(&file)) else {
            continue; // Not text.
        };
        if file == Path::new("tests/docs.rs") {
            continue; // This list.
        }
        for (n, line) in text.lines().enumerate() {
            let lower = line.to_lowercase();
            for name in &outside {
                if lower.contains(&name.to_lowercase()) {
                    problems.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
            let hashed = line.split(|c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '.');
            if hashed
                .filter(|word| word.ends_with(".txt"))
                .any(|word| word.len() > 20 && word.contains('_'))
            {
                problems.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "references to what is not in the repository:\n{}",
        problems.join("\n")
    );
}

/// The lessons, in reading order.
fn lessons() -> Vec<(PathBuf, String)> {
    let mut lessons: Vec<(PathBuf, String)> = markdown_files()
        .into_iter()
        .filter(|path| {
            path.starts_with("lessons")
                && path
                    .file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.starts_with(|c: char| c.is_ascii_digit()))
        })
        .map(|path| {
            let text = fs::read_to_string(root().join(&path)).unwrap();
            (path, text)
        })
        .collect();
    lessons.sort();
    lessons
}

/// The parts of a lesson, for reading time.
#[derive(Clone, Copy, PartialEq)]
enum Part {
    Main,
    UnderTheHood,
    /// Exercises, and every answer folded in a `<details>` block.
    Exercises,
}

/// The lines of `text` in part `wanted`.
fn part(text: &str, wanted: Part) -> String {
    let mut kept = String::new();
    let mut section = Part::Main;
    let mut in_details = false;
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            let heading = heading.to_lowercase();
            section = if heading.contains("under the hood") {
                Part::UnderTheHood
            } else if heading.starts_with("exercises") {
                Part::Exercises
            } else {
                Part::Main
            };
        }
        if line.trim_start().starts_with("<details") {
            in_details = true;
        }
        let here = if in_details { Part::Exercises } else { section };
        if here == wanted {
            kept.push_str(line);
            kept.push('\n');
        }
        if line.trim_start().starts_with("</details>") {
            in_details = false;
        }
    }
    kept
}

/// The minutes a lesson's header promises: "about N minutes for the main
/// path" and, for "Under the hood", "about M more."
fn promised_minutes(text: &str) -> (Option<f64>, Option<f64>) {
    let number_before = |marker: &str| -> Option<f64> {
        let before = text[..text.find(marker)?].trim_end();
        let start = before
            .rfind(|c: char| !c.is_ascii_digit())
            .map_or(0, |at| at + 1);
        before[start..].parse().ok()
    };
    (
        number_before(" minutes for the main path"),
        number_before(" more."),
    )
}

/// Minutes to read `text`: prose at 200 words a minute, fenced lines at 15 a minute.
fn reading_minutes(text: &str) -> (usize, usize, f64) {
    let mut fenced = false;
    let (mut words, mut code_lines) = (0, 0);
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            if !line.trim().is_empty() {
                code_lines += 1;
            }
        } else if !line.trim_start().starts_with("<!--") {
            words += line
                .split_whitespace()
                .filter(|w| w.chars().any(char::is_alphanumeric))
                .count();
        }
    }
    (
        words,
        code_lines,
        words as f64 / 200.0 + code_lines as f64 / 15.0,
    )
}

#[test]
fn each_lessons_main_path_reads_in_25_minutes() {
    let mut report = Vec::new();
    let mut too_long = Vec::new();
    for (path, text) in lessons() {
        let (words, code_lines, minutes) = reading_minutes(&part(&text, Part::Main));
        let (_, _, hood) = reading_minutes(&part(&text, Part::UnderTheHood));
        let (_, _, exercises) = reading_minutes(&part(&text, Part::Exercises));
        let line = format!(
            "{}: main path {words} words + {code_lines} lines of code = {minutes:.1} min; under the hood {hood:.1} min; exercises and answers {exercises:.1} min",
            path.display()
        );
        if minutes > 25.0 {
            too_long.push(line.clone());
        }
        // The header's promise, within three minutes either way.
        let (main_promise, hood_promise) = promised_minutes(&text);
        for (promised, actual, what) in [
            (main_promise, minutes, "main path"),
            (hood_promise, hood, "under the hood"),
        ] {
            match promised {
                Some(promised) if (promised - actual).abs() <= 3.0 => {}
                Some(promised) => too_long.push(format!("{}: the header says {promised} minutes for the {what}, it reads in {actual:.1}", path.display())),
                None => too_long.push(format!("{}: the header gives no reading time for the {what} (\"about N minutes for the main path\", \"... about M more.\")", path.display())),
            }
        }
        report.push(line);
    }
    // `cargo test --test docs -- --nocapture` prints the table.
    println!("{}", report.join("\n"));
    assert!(report.len() >= 4, "lessons not found");
    assert!(
        too_long.is_empty(),
        "over 25 minutes:\n{}",
        too_long.join("\n")
    );
}

/// The glossary's terms: each `### Term` heading (under `## Networking` and
/// the other topics), with the anchor it links to. A term in backquotes is
/// a Rust name, matched as written, backquotes included (`Send`, not "send").
fn glossary_terms() -> Vec<(String, String)> {
    let glossary =
        fs::read_to_string(root().join("lessons/glossary.md")).expect("lessons/glossary.md");
    prose(&glossary)
        .lines()
        .filter_map(|line| line.strip_prefix("### "))
        .map(|heading| {
            // "RST (reset)": the term is what comes before the parenthesis.
            let term = heading.split(" (").next().unwrap().trim().to_string();
            (term, slug(heading))
        })
        .collect()
}

/// The byte offset of the first use of `term` in `text`: a Rust name in
/// backquotes exactly as written, any other term as a whole word in any case.
fn first_use(text: &str, term: &str) -> Option<usize> {
    if term.starts_with('`') {
        return text.find(term);
    }
    let lower = text.to_lowercase();
    let term = term.to_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..].find(&term) {
        let start = from + at;
        let end = start + term.len();
        let before = lower[..start].chars().next_back();
        let after = lower[end..].chars().next();
        let word_edge = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric() && c != '_');
        if word_edge(before) && word_edge(after) {
            return Some(start);
        }
        from = end;
    }
    None
}

/// `text` with what lies between each `open` and the next `close` replaced
/// by spaces, so that byte offsets stay the same.
fn blank_out(text: &str, open: &str, close: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(open) {
        let inside = &rest[at + open.len()..];
        let Some(end) = inside.find(close) else { break };
        out.push_str(&rest[..at + open.len()]);
        for c in inside[..end].chars() {
            match c {
                '\n' => out.push('\n'),
                c => out.extend(std::iter::repeat_n(' ', c.len_utf8())),
            }
        }
        out.push_str(close);
        rest = &inside[end + close.len()..];
    }
    out.push_str(rest);
    out
}

#[test]
fn glossary_terms_are_linked_where_a_lesson_first_uses_them() {
    let terms = glossary_terms();
    assert!(terms.len() >= 20, "only {} glossary terms", terms.len());
    let mut problems = Vec::new();
    for (path, text) in lessons() {
        // Headings and the lesson's header table are not where a term is used.
        let body: String = prose(&text)
            .lines()
            .map(|line| if line.starts_with('#') { "" } else { line })
            .collect::<Vec<_>>()
            .join("\n");
        // Where a term can be "used": not inside a link's target, and (for
        // a plain word) not inside `code`, which is a name, not prose.
        let outside_targets = blank_out(&body, "](", ")");
        let outside_code = blank_out(&outside_targets, "`", "`");
        for (term, anchor) in &terms {
            let searched = if term.starts_with('`') {
                &outside_targets
            } else {
                &outside_code
            };
            let Some(at) = first_use(searched, term) else {
                continue;
            };
            // The use must sit inside `[...](glossary.md#anchor)`.
            let opened = body[..at].rfind('[');
            let closed = body[..at].rfind(']');
            let in_link_text = opened.is_some_and(|open| closed.is_none_or(|close| close < open));
            let link = format!("](glossary.md#{anchor})");
            let linked = in_link_text
                && body[at..]
                    .find(']')
                    .is_some_and(|close| body[at + close..].starts_with(&link));
            if !linked {
                let line = body[..at].lines().count();
                problems.push(format!(
                    "{}:{line}: first use of \"{term}\" is not linked to glossary.md#{anchor}",
                    path.display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The numbers in `text`: digits, with the thousands commas and decimal
/// point they are written with ("12,583", "3.12").
fn numbers_in(text: &str) -> Vec<String> {
    let mut numbers = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let inside = c.is_ascii_digit()
            || ((c == ',' || c == '.')
                && !current.is_empty()
                && chars.get(i + 1).is_some_and(char::is_ascii_digit));
        if inside {
            current.push(c);
        } else if !current.is_empty() {
            numbers.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        numbers.push(current);
    }
    numbers
}

#[test]
fn figures_quoted_from_the_benchmarks_are_in_benchmarks_md() {
    let benchmarks = fs::read_to_string(root().join("BENCHMARKS.md")).expect("BENCHMARKS.md");
    // Written either way: "12583" in the generated tables, "12,583" in prose.
    let known: BTreeSet<String> = numbers_in(&benchmarks)
        .into_iter()
        .flat_map(|n| [n.replace(',', ""), n])
        .collect();
    let mut problems = Vec::new();
    let mut checked = 0;
    for (path, text) in lessons() {
        let mut quoting = false;
        for (n, line) in text.lines().enumerate() {
            if line.trim() == "<!-- numbers: BENCHMARKS.md -->" {
                quoting = true;
                continue;
            }
            if line.trim().is_empty() {
                quoting = false;
            }
            if !quoting {
                continue;
            }
            for number in numbers_in(line) {
                checked += 1;
                if !known.contains(&number) && !known.contains(&number.replace(',', "")) {
                    problems.push(format!(
                        "{}:{}: {number} is not in BENCHMARKS.md",
                        path.display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let _ = checked;
}

/// The pages a Markdown file links to, in the order of their first link:
/// relative links to `.md` files, without their `#fragment`.
fn pages_linked_from(text: &str) -> Vec<String> {
    let mut pages: Vec<String> = Vec::new();
    for target in link_targets(&prose(text)) {
        if target.contains("://") {
            continue;
        }
        let page = target.split('#').next().unwrap_or("").to_string();
        if page.ends_with(".md") && !pages.contains(&page) {
            pages.push(page);
        }
    }
    pages
}

#[test]
fn the_books_summary_lists_every_page_the_readme_lists_in_the_same_order() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let summary = fs::read_to_string(root().join("book/SUMMARY.md")).expect("book/SUMMARY.md");
    let listed = pages_linked_from(&readme);
    let in_the_book = pages_linked_from(&summary);
    assert_eq!(
        in_the_book.first().map(String::as_str),
        Some("README.md"),
        "the book opens with README.md"
    );
    let mut from = 0;
    for page in &listed {
        let Some(at) = in_the_book[from..].iter().position(|p| p == page) else {
            panic!(
                "book/SUMMARY.md does not list {page} after the pages README lists before it\nREADME: {listed:?}\nSUMMARY: {in_the_book:?}"
            );
        };
        from += at + 1;
    }
    // Every page of the book exists, through book/'s links to the repository.
    for page in &in_the_book {
        assert!(
            root().join("book").join(page).exists(),
            "book/SUMMARY.md lists {page}, which book/ does not reach"
        );
    }
}

/// The book as `.ci/check-book` builds it (`BOOK_DIR=target/book`): every
/// link in every page leads to a file of the book, and every `#fragment`
/// to an element of that page. Without `BOOK_DIR` (mdBook not installed,
/// or a plain `cargo test`), it says so and checks nothing.
#[test]
fn the_built_book_has_no_broken_internal_links() {
    let Some(book) = std::env::var_os("BOOK_DIR").map(PathBuf::from) else {
        println!("skipped: BOOK_DIR is not set (.ci/check-book sets it after building the book)");
        return;
    };
    let book = root().join(book);
    let mut pages = Vec::new();
    let mut dirs = vec![book.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).expect("the built book") {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|ext| ext == "html") {
                pages.push(path);
            }
        }
    }
    assert!(
        pages.len() > 10,
        "only {} pages in {}",
        pages.len(),
        book.display()
    );
    let ids_of = |page: &Path| -> BTreeSet<String> {
        let text = fs::read_to_string(page).unwrap_or_default();
        text.split("id=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .map(String::from)
            .collect()
    };
    let mut problems = Vec::new();
    let mut checked = 0;
    for page in &pages {
        let text = fs::read_to_string(page).unwrap();
        for attribute in ["href=\"", "src=\""] {
            for rest in text.split(attribute).skip(1) {
                let link = rest.split('"').next().unwrap_or("").replace("&amp;", "&");
                let external = link.contains(':') || link.starts_with("//") || link == "/";
                if link.is_empty() || external {
                    continue;
                }
                checked += 1;
                let (path, fragment) = link.split_once('#').unwrap_or((&link, ""));
                let path = path.split('?').next().unwrap_or("");
                let target = if path.is_empty() {
                    page.clone()
                } else {
                    page.parent().unwrap().join(path)
                };
                let shown = page.strip_prefix(&book).unwrap_or(page).display();
                if !target.is_file() {
                    problems.push(format!("{shown}: {link} leads to no file of the book"));
                } else if !fragment.is_empty()
                    && target.extension().is_some_and(|ext| ext == "html")
                    && !ids_of(&target).contains(fragment)
                {
                    problems.push(format!(
                        "{shown}: {link} leads to no such place in the page"
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {checked} links are broken:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
