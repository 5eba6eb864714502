//! Tidy: plain tests that read the workspace's sources as text and hold them to the layering
//! rules of ARCHITECTURE.md (in the spirit of rust-analyzer's `xtask/src/tidy.rs`).
//!
//! - crates depend only downwards: `harness` links no workspace crate, every `recipe-*` links
//!   `harness` and no other recipe, `xtask` links no recipe;
//! - the modules of `harness` and of `xtask` do not import each other in a cycle;
//! - the harness names no recipe outside its adapters (`providers/<name>.rs`, `testbed/`);
//! - only `harness/src/config.rs` reads the environment (everything else gets a `RunConfig`);
//! - only `harness/src/poll.rs` sleeps (everything else polls against a deadline through it);
//! - every module starts with a `//!` header saying what it is for.
//!
//! Rules that live only in a document drift; these fail `cargo test` instead, with every
//! violation listed once as `file:line: what; how to fix`. The scanning is deliberately small:
//! a lexer blanks comments and literals (keeping line numbers), so `sleep(` in a string or a
//! comment is not a call, and `#[cfg(test)] mod ... { }` blocks are skipped where tests may do
//! what production code may not.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
    process::Command,
};

#[test]
fn crates_depend_only_downwards() {
    let root = workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(&root)
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let packages = meta["packages"].as_array().expect("cargo metadata lists packages");
    let members: BTreeSet<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();

    let mut violations = Vec::new();
    for package in packages {
        let name = package["name"].as_str().unwrap_or_default();
        let manifest_path = Path::new(package["manifest_path"].as_str().unwrap_or_default());
        let manifest = fs::read_to_string(manifest_path).unwrap_or_default();
        let manifest_path = rel(&root, manifest_path);
        // Path dependencies on other workspace members, of every kind (normal, dev, build); a
        // crate's dev-dependency on itself (to turn on a feature for its own tests) is no layer.
        let deps: BTreeSet<&str> = package["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["path"].is_string())
            .filter_map(|d| d["name"].as_str())
            .filter(|d| members.contains(d) && *d != name)
            .collect();
        let at = |dep: &str| format!("{manifest_path}:{}", manifest_line(&manifest, dep));
        if name == "harness" {
            for dep in &deps {
                violations.push(format!(
                    "{}: harness depends on workspace crate `{dep}`; the harness is the bottom layer: \
                     move what it needs into harness and let `{dep}` depend on harness instead",
                    at(dep)
                ));
            }
        } else if name.starts_with("recipe-") {
            if !deps.contains("harness") {
                violations.push(format!(
                    "{}: {name} does not depend on harness; add `harness.workspace = true` under \
                     [dependencies]",
                    at("[dependencies]")
                ));
            }
            for dep in deps.iter().filter(|d| d.starts_with("recipe-")) {
                violations.push(format!(
                    "{}: {name} depends on `{dep}`; recipes are independent: move the shared code into \
                     harness (a provider adapter if it is about one app)",
                    at(dep)
                ));
            }
        } else if name == "xtask" {
            for dep in deps.iter().filter(|d| d.starts_with("recipe-")) {
                violations.push(format!(
                    "{}: xtask depends on `{dep}`; xtask never links a recipe: find recipes through \
                     `cargo metadata` and run them as cargo packages",
                    at(dep)
                ));
            }
        }
    }
    report("workspace crates must depend only downwards (recipe-* -> harness, xtask -> harness)", violations);
}

#[test]
fn no_import_cycles_among_modules() {
    let root = workspace_root();
    let mut violations = Vec::new();
    for krate in ["harness", "xtask"] {
        violations.extend(import_cycles(&root, &root.join(krate).join("src")));
    }
    report("modules must not import each other in a cycle", violations);
}

#[test]
fn the_harness_names_no_recipe_outside_its_adapters() {
    const RECIPES: &str = "custom-html keycloak authentik matrix-synapse synapse n8n ghost bluesky-pds mumble drone \
                           uptime-kuma plausible mattermost discourse mailu immich cryptpad lasuite";
    const EXAMPLE: &[&str] = &["e.g.", "for example", "such as"];
    let root = workspace_root();
    let src = root.join("harness/src");
    // `providers/<adapter>.rs` may name its app; other code may name the adapter *module*.
    let adapters: BTreeSet<String> = rust_files(&src.join("providers"))
        .iter()
        .map(|f| rel(&src.join("providers"), f).trim_end_matches(".rs").to_string())
        .filter(|stem| stem != "mod" && !stem.contains('/'))
        .collect();
    let mut violations = Vec::new();
    for file in rust_files(&src) {
        let inside = rel(&src, &file);
        if inside.starts_with("testbed/") {
            continue; // the offline testbed builds fixtures of named apps
        }
        let own_app = inside.strip_prefix("providers/").and_then(|f| f.strip_suffix(".rs"));
        let text = read(&file);
        let Lexed { code, comments } = lex(&text);
        let lower = text.to_ascii_lowercase();
        let mut reported = BTreeSet::new();
        for hit in recipe_names(&text, RECIPES.split_whitespace()) {
            let word = &text[hit.at..hit.at + hit.name.len()];
            let line = line_at(&text, hit.at);
            let line_text = lower[line_start(&lower, hit.at)..].lines().next().unwrap_or_default();
            let in_comment = comments.as_bytes()[hit.at] != b' ';
            if own_app.is_some_and(|stem| stem == hit.name.replace('-', "_"))
                || (in_comment && EXAMPLE.iter().any(|e| line_text.contains(e)))
                || names_an_adapter_module(&code, hit.at, word, &adapters)
                || !reported.insert((line, hit.name))
            {
                continue;
            }
            violations.push(format!(
                "{}:{line}: names the recipe `{word}`; the harness is recipe-agnostic: take it as a \
                 parameter from the recipe crate, or move it into harness/src/providers/{}.rs (in a \
                 comment, say \"e.g.\" if it is only an example)",
                rel(&root, &file),
                hit.name.replace('-', "_"),
            ));
        }
    }
    report("the harness must not name a recipe outside providers/<name>.rs and testbed/", violations);
}

#[test]
fn only_the_config_module_reads_the_environment() {
    const READS: &[&str] = &["var", "var_os", "vars", "vars_os"];
    let root = workspace_root();
    let mut violations = Vec::new();
    for file in rust_files(&root.join("harness/src")) {
        let path = rel(&root, &file);
        if path == "harness/src/config.rs" {
            continue;
        }
        let code = without_test_modules(&lex(&read(&file)).code);
        let calls = READS.iter().flat_map(|f| calls(&code, &format!("env::{f}")));
        let imports = use_items(&code)
            .into_iter()
            .flat_map(|item| item.paths)
            .filter(|(_, p)| p.len() >= 2 && p[p.len() - 2] == "env" && READS.contains(&p[p.len() - 1].as_str()))
            .map(|(at, p)| (at, p.join("::")));
        let mut found: Vec<(usize, String)> =
            calls.map(|(at, what)| (at, format!("{what}(..)"))).chain(imports).collect();
        found.sort();
        for (at, what) in found {
            violations.push(format!(
                "{path}:{}: reads the environment (`{what}`); read it through RunConfig (harness/src/config.rs)",
                line_at(&code, at)
            ));
        }
    }
    report("only harness/src/config.rs reads the environment", violations);
}

#[test]
fn sleeps_only_in_the_poll_primitives() {
    let root = workspace_root();
    let mut dirs = vec![root.join("harness/src"), root.join("xtask/src")];
    for recipe in subdirs(&root.join("recipes")) {
        dirs.extend([recipe.join("src"), recipe.join("tests")]);
    }
    let mut violations = Vec::new();
    for file in dirs.iter().flat_map(|d| rust_files(d)) {
        let path = rel(&root, &file);
        if path == "harness/src/poll.rs" {
            continue;
        }
        let code = without_test_modules(&lex(&read(&file)).code);
        let mut found = [calls(&code, "sleep"), calls(&code, "sleep_until")].concat();
        found.sort();
        for (at, what) in found {
            violations.push(format!(
                "{path}:{}: calls `{what}(..)`; poll with harness::poll (converge / converge_blocking) \
                 and a deadline instead",
                line_at(&code, at)
            ));
        }
    }
    report("only harness/src/poll.rs sleeps", violations);
}

#[test]
fn every_module_has_a_doc_header() {
    let root = workspace_root();
    let mut dirs = ["harness/src", "harness/tests", "xtask/src", "xtask/tests"].map(|d| root.join(d)).to_vec();
    for recipe in subdirs(&root.join("recipes")) {
        dirs.extend([recipe.join("src"), recipe.join("tests")]);
    }
    let mut violations = Vec::new();
    for file in dirs.iter().flat_map(|d| rust_files(d)) {
        let text = read(&file);
        if !text.lines().find(|l| !l.trim().is_empty()).is_some_and(|l| l.starts_with("//!")) {
            violations.push(format!(
                "{}:1: no `//!` header; start the file with `//!` lines saying what the module is for \
                 and why it exists",
                rel(&root, &file)
            ));
        }
    }
    report("every module starts with a `//!` doc header", violations);
}

// ---------------------------------------------------------------------------------------------
// Helpers.

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace root").to_path_buf()
}

/// Fails once, listing every violation.
fn report(rule: &str, violations: Vec<String>) {
    if !violations.is_empty() {
        panic!("{rule}: {} violation(s)\n\n{}\n", violations.len(), violations.join("\n"));
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// `path` relative to `base`, with `/` separators.
fn rel(base: &Path, path: &Path) -> String {
    let path = path.strip_prefix(base).unwrap_or(path);
    path.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// Every `.rs` file under `dir` (none if it does not exist), sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in subdirs_and_files(dir) {
        if entry.is_dir() {
            files.extend(rust_files(&entry));
        } else if entry.extension().is_some_and(|e| e == "rs") {
            files.push(entry);
        }
    }
    files.sort();
    files
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    subdirs_and_files(dir).into_iter().filter(|p| p.is_dir()).collect()
}

fn subdirs_and_files(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
    entries.sort();
    entries
}

/// The 1-based line of byte offset `at`.
fn line_at(text: &str, at: usize) -> usize {
    text[..at].matches('\n').count() + 1
}

fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |n| n + 1)
}

/// The line of a manifest that declares `dep` (`dep = ...`, `dep.workspace = true`) or is the
/// table header `dep`, or 1.
fn manifest_line(manifest: &str, dep: &str) -> usize {
    let declares = |l: &str| {
        let l = l.trim();
        l == dep || l.strip_prefix(dep).is_some_and(|r| r.trim_start().starts_with(['=', '.']))
    };
    manifest.lines().position(declares).map_or(1, |n| n + 1)
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// A source file split in two of the same length and lines: `code`, with comments and string
/// and char literals blanked to spaces, and `comments`, with everything but comments blanked.
struct Lexed {
    code: String,
    comments: String,
}

fn lex(src: &str) -> Lexed {
    let b = src.as_bytes();
    let mut code = b.to_vec();
    let mut comments: Vec<u8> = b.iter().map(|&c| if c == b'\n' { b'\n' } else { b' ' }).collect();
    let mut i = 0;
    while i < b.len() {
        let at = |n: usize| b.get(n).copied().unwrap_or(0);
        let starts_token = i == 0 || !is_ident(b[i - 1]);
        let (end, comment) = match b[i] {
            b'/' if at(i + 1) == b'/' => (src[i..].find('\n').map_or(b.len(), |n| i + n), true),
            b'/' if at(i + 1) == b'*' => (block_comment_end(b, i), true),
            b'"' => (string_end(b, i + 1), false),
            // r"..", r#".."#, br"..", cr".." (a raw identifier `r#x` has no quote after the #s)
            b'r' if starts_token || (i >= 1 && matches!(b[i - 1], b'b' | b'c') && (i == 1 || !is_ident(b[i - 2]))) => {
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                if at(i + 1 + hashes) != b'"' {
                    i += 1;
                    continue;
                }
                let close = format!("\"{}", "#".repeat(hashes));
                let from = i + 2 + hashes;
                (src[from..].find(&close).map_or(b.len(), |n| from + n + close.len()), false)
            }
            b'\'' if at(i + 1) == b'\\' => {
                // '\n', '\'', '\u{..}': the closing quote comes after the escaped character
                let from = (i + 3).min(b.len());
                (b[from..].iter().position(|&c| c == b'\'').map_or(b.len(), |n| from + n + 1), false)
            }
            b'\'' => {
                // 'x' is a char; 'a (a lifetime or a label) is code
                let len = src[i + 1..].chars().next().map_or(1, char::len_utf8);
                if at(i + 1 + len) != b'\'' {
                    i += 1;
                    continue;
                }
                (i + 2 + len, false)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        for k in i..end {
            if b[k] != b'\n' {
                code[k] = b' ';
                if comment {
                    comments[k] = b[k];
                }
            }
        }
        i = end;
    }
    let text = |v: Vec<u8>| String::from_utf8(v).expect("blanking keeps UTF-8 boundaries");
    Lexed { code: text(code), comments: text(comments) }
}

/// The end (exclusive) of the string literal whose contents start at `from`.
fn string_end(b: &[u8], mut from: usize) -> usize {
    while from < b.len() {
        match b[from] {
            b'\\' => from += 2,
            b'"' => return from + 1,
            _ => from += 1,
        }
    }
    b.len()
}

/// The end (exclusive) of the block comment at `from`; block comments nest.
fn block_comment_end(b: &[u8], mut from: usize) -> usize {
    let mut depth = 0;
    while from + 1 < b.len() {
        match (b[from], b[from + 1]) {
            (b'/', b'*') => {
                depth += 1;
                from += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                from += 2;
                if depth == 0 {
                    return from;
                }
            }
            _ => from += 1,
        }
    }
    b.len()
}

/// `code` (already lexed) with every `#[cfg(test)] mod name { ... }` blanked, lines kept.
fn without_test_modules(code: &str) -> String {
    let mut out = code.as_bytes().to_vec();
    for (start, _) in code.match_indices("#[cfg(test)]") {
        let mut rest = code[start + "#[cfg(test)]".len()..].trim_start();
        while rest.starts_with("#[") {
            rest = rest[rest.find(']').map_or(rest.len(), |n| n + 1)..].trim_start();
        }
        if let Some(r) = rest.strip_prefix("pub") {
            rest = r.trim_start();
            if rest.starts_with('(') {
                rest = rest[rest.find(')').map_or(rest.len(), |n| n + 1)..].trim_start();
            }
        }
        let Some(r) = rest.strip_prefix("mod ") else { continue };
        let r = r.trim_start().trim_start_matches(|c: char| c.is_alphanumeric() || c == '_').trim_start();
        if !r.starts_with('{') {
            continue; // `mod name;` or not a module
        }
        let open = code.len() - r.len();
        let mut depth = 0;
        let close = code[open..]
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '{' => 1,
                    '}' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .map_or(code.len(), |(n, _)| open + n + 1);
        out[start..close].iter_mut().filter(|c| **c != b'\n').for_each(|c| *c = b' ');
    }
    String::from_utf8(out).expect("blanking keeps UTF-8 boundaries")
}

/// Calls of a function or path ending in `name` (`name(`, `a::name(`): (offset, whole path).
fn calls(code: &str, name: &str) -> Vec<(usize, String)> {
    code.match_indices(name)
        .filter_map(|(at, _)| {
            let b = code.as_bytes();
            if (at > 0 && is_ident(b[at - 1])) || !code[at + name.len()..].trim_start().starts_with('(') {
                return None;
            }
            // widen to the whole path (`tokio::time::sleep`) for the message
            let mut from = at;
            while from >= 2 && &code[from - 2..from] == "::" {
                let seg = code[..from - 2].trim_end_matches(|c: char| c.is_alphanumeric() || c == '_');
                from = seg.len();
            }
            Some((from, code[from..at + name.len()].to_string()))
        })
        .collect()
}

/// A `use` item (`start..end`) and every path it imports, groups expanded
/// (`use a::{b::{C, d}, E as F};` -> `a::b::C`, `a::b::d`, `a::E`), each with the offset of
/// its last segment.
struct UseItem {
    start: usize,
    end: usize,
    paths: Vec<(usize, Vec<String>)>,
}

fn use_items(code: &str) -> Vec<UseItem> {
    let b = code.as_bytes();
    let mut items = Vec::new();
    for (at, _) in code.match_indices("use") {
        let after = b.get(at + 3).copied().unwrap_or(0);
        if (at > 0 && (is_ident(b[at - 1]) || b[at - 1] == b'#')) || !after.is_ascii_whitespace() {
            continue;
        }
        let end = code[at..].find(';').map_or(code.len(), |n| at + n);
        let mut paths = Vec::new();
        expand_use(&[], &code[at + 3..end], &mut paths);
        let leaf = |p: &Vec<String>| at + word_offset(&code[at..end], p.last().map_or("", |s| s.as_str())).unwrap_or(0);
        let paths = paths.into_iter().map(|p| (leaf(&p), p)).collect();
        items.push(UseItem { start: at, end, paths });
    }
    items
}

fn expand_use(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
    let mut depth = 0;
    let mut items = vec![String::new()];
    for c in tree.chars() {
        match c {
            ',' if depth == 0 => items.push(String::new()),
            _ => {
                depth += i32::from(c == '{') - i32::from(c == '}');
                items.last_mut().expect("one item at least").push(c);
            }
        }
    }
    for item in items.iter().map(|i| i.trim()).filter(|i| !i.is_empty()) {
        let (head, group) = match item.find('{') {
            Some(open) => (&item[..open], Some(&item[open + 1..item.rfind('}').unwrap_or(item.len())])),
            None => (item, None),
        };
        // `a :: b as c` -> `a::b`
        let head: String = head.split_whitespace().take_while(|w| *w != "as").collect();
        let mut path = prefix.to_vec();
        path.extend(head.split("::").filter(|s| !s.is_empty()).map(String::from));
        if path.len() > 1 && path.last().is_some_and(|s| s == "self") {
            path.pop(); // `a::{self, B}` imports `a`
        }
        match group {
            Some(group) => expand_use(&path, group, out),
            None if !path.is_empty() => out.push(path),
            None => {}
        }
    }
}

/// Every path in `code` that starts `crate::`, `self::`, `super::` or with a module in
/// `children`, as (offset, segments): those of `use` items, groups expanded, then those
/// written inline in the rest (`crate::run::now()`, `stack::deploy(..)`).
fn module_paths(code: &str, children: &BTreeSet<String>) -> Vec<(usize, Vec<String>)> {
    let mut paths = Vec::new();
    let mut rest = code.as_bytes().to_vec(); // the code, `use` items blanked
    for item in use_items(code) {
        paths.extend(item.paths);
        rest[item.start..item.end].iter_mut().filter(|c| **c != b'\n').for_each(|c| *c = b' ');
    }
    let b = &rest;
    let ident_end = |from: usize| from + b[from..].iter().take_while(|&&c| is_ident(c)).count();
    let mut i = 0;
    while i < b.len() {
        if !(b[i].is_ascii_alphabetic() || b[i] == b'_') || (i > 0 && is_ident(b[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        let mid_path = start >= 2 && &b[start - 2..start] == b"::";
        let mut path = Vec::new();
        loop {
            let end = ident_end(i);
            path.push(String::from_utf8_lossy(&b[i..end]).into_owned());
            i = end;
            if b.get(i..i + 2) == Some(b"::") && b.get(i + 2).is_some_and(|&c| c.is_ascii_alphabetic() || c == b'_') {
                i += 2;
            } else {
                break;
            }
        }
        if !mid_path {
            paths.push((start, path));
        }
    }
    paths.retain(|(_, p)| {
        p.len() >= 2 && (matches!(p[0].as_str(), "crate" | "self" | "super") || children.contains(&p[0]))
    });
    paths
}

/// The offset of the first `word` in `text` that is not part of a longer identifier.
fn word_offset(text: &str, word: &str) -> Option<usize> {
    let b = text.as_bytes();
    text.match_indices(word)
        .map(|(at, _)| at)
        .find(|&at| (at == 0 || !is_ident(b[at - 1])) && !b.get(at + word.len()).is_some_and(|&c| is_ident(c)))
}

/// The module a file defines: `lib.rs` and `main.rs` -> the crate root (`""`), `a.rs` and
/// `a/mod.rs` -> `a`, `a/b.rs` -> `a::b`.
fn module_of(file_in_src: &str) -> String {
    let mut segs: Vec<&str> = file_in_src.trim_end_matches(".rs").split('/').collect();
    if matches!(segs.as_slice(), ["lib"] | ["main"]) || segs.last() == Some(&"mod") {
        segs.pop();
    }
    segs.join("::")
}

/// The import cycles among the modules of the crate in `src`, one violation per cycle.
fn import_cycles(root: &Path, src: &Path) -> Vec<String> {
    // module -> file (relative to src). With a lib.rs, main.rs is another crate (a bin) that
    // imports the library by name, never through `crate::`.
    let has_lib = src.join("lib.rs").exists();
    let mut modules: BTreeMap<String, String> = BTreeMap::new();
    let mut codes = BTreeMap::new();
    for file in rust_files(src) {
        let inside = rel(src, &file);
        if (has_lib && inside == "main.rs") || inside.starts_with("bin/") {
            continue;
        }
        let code = without_test_modules(&lex(&read(&file)).code);
        codes.insert(module_of(&inside), code);
        modules.insert(module_of(&inside), inside);
    }
    let macros: BTreeSet<String> = codes.values().flat_map(|code| exported_macros(code)).collect();

    // (from, to) -> (first line, names that tie them)
    let mut edges: BTreeMap<(String, String), (usize, BTreeSet<String>)> = BTreeMap::new();
    for (module, code) in &codes {
        let prefix = if module.is_empty() { String::new() } else { format!("{module}::") };
        let children = modules
            .keys()
            .filter_map(|m| m.strip_prefix(&prefix))
            .filter(|m| !m.is_empty() && !m.contains("::"))
            .map(String::from)
            .collect();
        for (at, path) in module_paths(code, &children) {
            let Some((target, name)) = resolve(module, &path, &modules) else { continue };
            if target == *module || (target.is_empty() && macros.contains(&name)) {
                continue;
            }
            let line = line_at(code, at);
            let edge = edges.entry((module.clone(), target)).or_insert((line, BTreeSet::new()));
            edge.0 = edge.0.min(line);
            edge.1.insert(name);
        }
    }

    let graph: BTreeMap<&str, Vec<&str>> = modules
        .keys()
        .map(|m| (m.as_str(), edges.keys().filter(|(f, _)| f == m).map(|(_, t)| t.as_str()).collect()))
        .collect();
    let crate_dir = rel(root, src);
    strongly_connected(&graph)
        .into_iter()
        .filter(|scc| scc.len() > 1)
        .map(|scc| {
            let files: Vec<&str> = scc.iter().map(|m| modules[*m].as_str()).collect();
            let mut lines =
                vec![format!("{crate_dir}: {} modules import each other in a cycle: {}", scc.len(), files.join(", "))];
            let shortest = scc.iter().filter_map(|&start| shortest_cycle(&graph, &scc, start)).min_by_key(Vec::len);
            if let Some(cycle) = shortest {
                let cycle: Vec<&str> = cycle.iter().map(|m| modules[*m].as_str()).collect();
                lines.push(format!("    shortest: {}", cycle.join(" -> ")));
            }
            let mut inside: Vec<_> = edges
                .iter()
                .filter(|((from, to), _)| scc.contains(&from.as_str()) && scc.contains(&to.as_str()))
                .map(|((from, to), (line, names))| (&modules[from], *line, &modules[to], to.is_empty(), names))
                .collect();
            inside.sort();
            for (from, line, to, to_root, names) in inside {
                let names = names.iter().cloned().collect::<Vec<_>>().join(", ");
                let root_hint = if to_root {
                    " (a crate-root re-export: import it from its defining module, not from the crate root)"
                } else {
                    ""
                };
                lines.push(format!("    {crate_dir}/{from}:{line} -> {to}: {names}{root_hint}"));
            }
            lines.push(
                "    fix: make the imports point one way: move what both sides need into a lower module \
                 (or pass it in as a parameter), then drop the upward import"
                    .into(),
            );
            lines.join("\n")
        })
        .collect()
}

/// The module a path refers to: the longest prefix of it that is a module file, and the name
/// after it (or the module's own name when the path is the module).
fn resolve(module: &str, path: &[String], modules: &BTreeMap<String, String>) -> Option<(String, String)> {
    let here: Vec<String> = module.split("::").filter(|s| !s.is_empty()).map(String::from).collect();
    let (mut abs, rest) = match path[0].as_str() {
        "crate" => (Vec::new(), &path[1..]),
        "self" => (here, &path[1..]),
        "super" => {
            let ups = path.iter().take_while(|s| *s == "super").count();
            let keep = here.len().checked_sub(ups)?;
            (here[..keep].to_vec(), &path[ups..])
        }
        _ => (here, path), // a child module, named relative to this one
    };
    abs.extend(rest.iter().cloned());
    (0..=abs.len()).rev().find_map(|n| {
        let target = abs[..n].join("::");
        modules.contains_key(&target).then(|| {
            let name = abs.get(n).or(abs.last()).cloned().unwrap_or_else(|| "crate".into());
            (target, name)
        })
    })
}

/// Names of `#[macro_export] macro_rules! name` in `code`; they live at the crate root.
fn exported_macros(code: &str) -> Vec<String> {
    code.match_indices("#[macro_export]")
        .filter_map(|(at, _)| {
            let rest = code[at..].split_once("macro_rules!")?.1.trim_start();
            Some(rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect())
        })
        .collect()
}

/// Tarjan's strongly connected components.
fn strongly_connected<'a>(graph: &BTreeMap<&'a str, Vec<&'a str>>) -> Vec<Vec<&'a str>> {
    struct Tarjan<'a, 'g> {
        graph: &'g BTreeMap<&'a str, Vec<&'a str>>,
        index: BTreeMap<&'a str, (usize, usize)>, // node -> (index, lowlink)
        stack: Vec<&'a str>,
        sccs: Vec<Vec<&'a str>>,
    }
    impl<'a> Tarjan<'a, '_> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, (n, n));
            self.stack.push(v);
            for &w in self.graph.get(v).into_iter().flatten() {
                match self.index.get(w) {
                    None => {
                        self.visit(w);
                        let low = self.index[v].1.min(self.index[w].1);
                        self.index.get_mut(v).expect("visited").1 = low;
                    }
                    Some(&(w_index, _)) if self.stack.contains(&w) => {
                        let low = self.index[v].1.min(w_index);
                        self.index.get_mut(v).expect("visited").1 = low;
                    }
                    Some(_) => {}
                }
            }
            if self.index[v].0 == self.index[v].1 {
                let at = self.stack.iter().rposition(|&s| s == v).expect("on the stack");
                let mut scc = self.stack.split_off(at);
                scc.sort();
                self.sccs.push(scc);
            }
        }
    }
    let mut t = Tarjan { graph, index: BTreeMap::new(), stack: Vec::new(), sccs: Vec::new() };
    for &v in graph.keys() {
        if !t.index.contains_key(v) {
            t.visit(v);
        }
    }
    t.sccs.sort();
    t.sccs
}

/// A shortest cycle through `start` within `scc` (breadth-first), ending where it started.
fn shortest_cycle<'a>(
    graph: &BTreeMap<&'a str, Vec<&'a str>>,
    scc: &[&'a str],
    start: &'a str,
) -> Option<Vec<&'a str>> {
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &w in &graph[v] {
            if w == start {
                let mut cycle = vec![start, v];
                while let Some(&p) = came_from.get(cycle.last()?) {
                    cycle.push(p);
                }
                cycle.pop();
                cycle.push(start);
                cycle.reverse();
                return Some(cycle);
            }
            if scc.contains(&w) && w != start && !came_from.contains_key(w) {
                came_from.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    None
}

/// Whether `word` at `at` in `code` is a path segment naming an adapter module
/// (`mod keycloak;`, `keycloak::KIND`, `providers::keycloak`) or an item inside one
/// (`keycloak::Keycloak`): that names the adapter, not the app.
fn names_an_adapter_module(code: &str, at: usize, word: &str, adapters: &BTreeSet<String>) -> bool {
    if !code[at..].starts_with(word) {
        return false; // in a comment or a literal
    }
    let before = &code[..at];
    let previous_word = before.trim_end().rsplit(|c: char| !(c.is_alphanumeric() || c == '_')).next();
    let is_segment =
        before.ends_with("::") || code[at + word.len()..].starts_with("::") || previous_word == Some("mod");
    (adapters.contains(word) && is_segment) || adapters.iter().any(|a| before.ends_with(&format!("{a}::")))
}

/// An occurrence of a recipe name at byte `at`.
struct Hit {
    at: usize,
    name: &'static str,
}

/// Recipe names in `text`, case-insensitive and not inside a longer word: `_` and a
/// lower-to-upper case change count as word boundaries (`keycloak_url`, `KeycloakAdmin` name
/// keycloak; `ghostly` does not name ghost), and `_` matches a name's `-`. Where names
/// overlap (`matrix-synapse`, `synapse`), the longest wins.
fn recipe_names(text: &str, names: impl Iterator<Item = &'static str>) -> Vec<Hit> {
    let lower = text.to_ascii_lowercase().replace('_', "-");
    let b = text.as_bytes();
    // a word boundary between `b[n - 1]` and `b[n]`
    let boundary = |n: usize| {
        n == 0
            || n == b.len()
            || !b[n - 1].is_ascii_alphanumeric()
            || !b[n].is_ascii_alphanumeric()
            || (b[n - 1].is_ascii_lowercase() && b[n].is_ascii_uppercase())
    };
    let mut hits: Vec<Hit> = Vec::new();
    for name in names {
        for (at, _) in lower.match_indices(name) {
            if boundary(at) && boundary(at + name.len()) {
                hits.push(Hit { at, name });
            }
        }
    }
    hits.sort_by_key(|h| (h.at, std::cmp::Reverse(h.name.len())));
    let mut kept: Vec<Hit> = Vec::new();
    for hit in hits {
        if kept.last().is_none_or(|k| hit.at >= k.at + k.name.len()) {
            kept.push(hit);
        }
    }
    kept
}
