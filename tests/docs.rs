//! The README stays true to the code on two lists a user looks things up in: every status code
//! the header defines, and every tag a log line can carry.

use std::collections::BTreeSet;

fn read(path: &str) -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    std::fs::read_to_string(format!("{root}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn the_readme_names_every_status_code() {
    let header = read("include/pekonode.h");
    let readme = read("README.md");
    let codes: Vec<&str> = header
        .lines()
        .filter_map(|l| l.strip_prefix("#define "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name == "PEKO_OK" || name.starts_with("PEKO_ERR_"))
        .collect();
    assert!(codes.len() >= 9, "found only {codes:?} in the header");
    let missing: Vec<&&str> = codes
        .iter()
        .filter(|c| !readme.contains(&format!("`{c}`")))
        .collect();
    assert!(missing.is_empty(), "README.md does not name {missing:?}");
}

/// The tags are the first argument of `log.info(..)` / `log.event(..)` anywhere in src/, and
/// the fixed ones `log.rs` writes itself; each must appear in the README as `[Tag]`.
#[test]
fn the_readme_lists_every_log_tag() {
    let mut tags: BTreeSet<String> = ["Error", "Warning", "Log", "List"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut stack = vec![format!("{}/src", env!("CARGO_MANIFEST_DIR"))];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path.to_string_lossy().into_owned());
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Calls may wrap: `.info(` or `.event(` followed, after whitespace, by a literal.
            for call in [".info(", ".event("] {
                for (at, _) in text.match_indices(call) {
                    let rest = text[at + call.len()..].trim_start();
                    if let Some(lit) = rest.strip_prefix('"') {
                        let tag: String = lit.chars().take_while(|c| *c != '"').collect();
                        if !tag.is_empty() && tag.chars().all(|c| c.is_ascii_alphabetic()) {
                            tags.insert(tag);
                        }
                    }
                }
            }
        }
    }
    assert!(tags.len() >= 12, "found only {tags:?}");
    let readme = read("README.md");
    let missing: Vec<&String> = tags
        .iter()
        .filter(|t| !readme.contains(&format!("`[{t}]`")))
        .collect();
    assert!(
        missing.is_empty(),
        "README.md does not list {missing:?} (found {tags:?})"
    );
}
