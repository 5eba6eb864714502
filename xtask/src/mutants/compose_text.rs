//! Line-level edits of a block-style compose file, so a mutant changes exactly what it says
//! and nothing else: comments, quoting, key order and YAML 1.1 scalars such as `mode: 0555`
//! survive (a serde round trip would rewrite them, and `0555` would change meaning).
//!
//! Nodes are found by indentation, as in every Co-op Cloud recipe. Flow-style collections
//! (`labels: [a, b]`) are seen as a key with an inline value and have no items; a mutant that
//! needs items there finds none and reports that it does not apply. Callers re-parse the
//! result ([`super::catalogue`]) to prove the edit did what it claims.

use std::ops::Range;

/// A compose file as lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeText {
    lines: Vec<String>,
    trailing_newline: bool,
}

/// A mapping key and the lines of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub key: String,
    /// The line holding `key:`.
    pub line: usize,
    pub indent: usize,
    /// The lines of the value below the key line (empty for an inline value).
    pub body: Range<usize>,
}

impl Node {
    /// The key line and its body.
    pub fn whole(&self) -> Range<usize> {
        self.line..self.body.end.max(self.line + 1)
    }
}

/// A replacement of a line range by new lines.
#[derive(Debug, Clone)]
struct Edit {
    range: Range<usize>,
    with: Vec<String>,
}

/// Edits collected against one [`ComposeText`], applied together (bottom up, so the ranges
/// found before stay right).
#[derive(Debug, Default)]
pub struct Edits {
    edits: Vec<Edit>,
}

impl Edits {
    pub fn is_empty(&self) -> bool {
        self.edits.is_empty()
    }

    pub fn remove(&mut self, range: Range<usize>) {
        self.edits.push(Edit { range, with: vec![] });
    }

    pub fn replace(&mut self, range: Range<usize>, with: Vec<String>) {
        self.edits.push(Edit { range, with });
    }

    pub fn insert(&mut self, at: usize, lines: Vec<String>) {
        self.edits.push(Edit { range: at..at, with: lines });
    }
}

/// Indentation of a content line; `None` for blank lines and comments.
fn indent_of(line: &str) -> Option<usize> {
    let trimmed = line.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') { None } else { Some(line.len() - trimmed.len()) }
}

/// `key` of a `key:` or `key: value` line (quotes removed), unless it is a list item.
fn key_of(line: &str) -> Option<String> {
    let t = line.trim_start();
    if t.starts_with("- ") || t == "-" {
        return None;
    }
    let (key, rest) = if let Some(q) = t.strip_prefix('"') {
        let end = q.find('"')?;
        (&q[..end], &q[end + 1..])
    } else if let Some(q) = t.strip_prefix('\'') {
        let end = q.find('\'')?;
        (&q[..end], &q[end + 1..])
    } else {
        let end = t.find(':')?;
        (&t[..end], &t[end..])
    };
    let rest = rest.strip_prefix(':')?;
    (rest.is_empty() || rest.starts_with(' ')).then(|| key.trim().to_owned())
}

/// A scalar with its quotes removed and a trailing ` # comment` cut (unquoted only).
pub fn unquote(text: &str) -> String {
    let t = text.trim();
    if let Some(q) = t.strip_prefix('"') {
        return q.rsplit_once('"').map_or(q, |(v, _)| v).replace("\\\"", "\"");
    }
    if let Some(q) = t.strip_prefix('\'') {
        return q.rsplit_once('\'').map_or(q, |(v, _)| v).to_owned();
    }
    t.find(" #").map_or(t, |at| &t[..at]).trim().to_owned()
}

impl ComposeText {
    pub fn parse(text: &str) -> ComposeText {
        ComposeText { lines: text.lines().map(str::to_owned).collect(), trailing_newline: text.ends_with('\n') }
    }

    pub fn render(&self) -> String {
        let mut out = self.lines.join("\n");
        if self.trailing_newline {
            out.push('\n');
        }
        out
    }

    pub fn line(&self, at: usize) -> &str {
        &self.lines[at]
    }

    /// The text after `key:` on the node's line.
    pub fn inline_value(&self, node: &Node) -> String {
        let line = &self.lines[node.line];
        let after = line.split_once(':').map(|x| x.1).unwrap_or_default();
        unquote(after)
    }

    /// The lines below `line` that belong to its value: deeper content lines, and list items
    /// at the same indentation (`labels:` followed by `- x` at the key's column).
    fn body_after(&self, line: usize, indent: usize, limit: usize) -> Range<usize> {
        let mut end = line + 1;
        for (at, l) in self.lines.iter().enumerate().take(limit).skip(line + 1) {
            match indent_of(l) {
                None => continue,
                Some(i) if i > indent || (i == indent && l.trim_start().starts_with('-')) => end = at + 1,
                Some(_) => break,
            }
        }
        line + 1..end
    }

    /// The mapping keys directly inside `range` (at the indentation of its first content line).
    pub fn children(&self, range: Range<usize>) -> Vec<Node> {
        let Some(indent) = self.lines[range.clone()].iter().find_map(|l| indent_of(l)) else { return vec![] };
        let mut out = vec![];
        for at in range.clone() {
            let l = &self.lines[at];
            if indent_of(l) != Some(indent) {
                continue;
            }
            if let Some(key) = key_of(l) {
                out.push(Node { key, line: at, indent, body: self.body_after(at, indent, range.end) });
            }
        }
        out
    }

    pub fn child(&self, range: Range<usize>, key: &str) -> Option<Node> {
        self.children(range).into_iter().find(|n| n.key == key)
    }

    pub fn top(&self) -> Range<usize> {
        0..self.lines.len()
    }

    /// `services.<name>` nodes.
    pub fn services(&self) -> Vec<Node> {
        self.child(self.top(), "services").map(|s| self.children(s.body)).unwrap_or_default()
    }

    pub fn service(&self, name: &str) -> Option<Node> {
        self.services().into_iter().find(|s| s.key == name)
    }

    /// The `- ` items of a sequence body, each with its continuation lines.
    pub fn items(&self, body: Range<usize>) -> Vec<Range<usize>> {
        let Some(indent) = self.lines[body.clone()].iter().find_map(|l| indent_of(l)) else { return vec![] };
        let starts: Vec<usize> = body.clone().filter(|&at| indent_of(&self.lines[at]) == Some(indent) && self.lines[at].trim_start().starts_with('-')).collect();
        starts
            .iter()
            .enumerate()
            .map(|(i, &start)| {
                let next = starts.get(i + 1).copied().unwrap_or(body.end);
                let end = (start + 1..next).rev().find(|&at| indent_of(&self.lines[at]).is_some()).map_or(start + 1, |at| at + 1);
                start..end
            })
            .collect()
    }

    /// An item's scalar (`- "a=b"` gives `a=b`); `None` for a mapping item.
    pub fn item_scalar(&self, item: &Range<usize>) -> Option<String> {
        let t = self.lines[item.start].trim_start().strip_prefix('-')?.trim();
        (item.len() == 1 && key_of(t).is_none()).then(|| unquote(t))
    }

    /// Labels (or environment entries) in list or map form: `(lines, key, value)`.
    pub fn entries(&self, node: &Node) -> Vec<(Range<usize>, String, String)> {
        let items = self.items(node.body.clone());
        if !items.is_empty() {
            return items
                .into_iter()
                .filter_map(|r| {
                    let s = self.item_scalar(&r)?;
                    let (k, v) = s.split_once('=').map_or((s.clone(), String::new()), |(k, v)| (k.to_owned(), v.to_owned()));
                    Some((r, k.trim().to_owned(), v.trim().to_owned()))
                })
                .collect();
        }
        self.children(node.body.clone()).into_iter().map(|n| (n.whole(), n.key.clone(), self.inline_value(&n))).collect()
    }

    /// Removes the entries (or items) at `ranges` of `node`. Removing all of them leaves an
    /// empty collection (`volumes: []`), since a key without a value is null, which compose
    /// rejects where it wants a list or a map.
    pub fn remove_entries(&self, node: &Node, ranges: Vec<Range<usize>>, edits: &mut Edits) {
        if ranges.is_empty() {
            return;
        }
        let items = self.items(node.body.clone()).len();
        let total = items.max(self.children(node.body.clone()).len());
        if ranges.len() >= total {
            let empty = if items > 0 { "[]" } else { "{}" };
            let line = &self.lines[node.line];
            let key_end = line.find(':').map_or(line.len(), |at| at + 1);
            edits.replace(node.whole(), vec![format!("{} {empty}", &line[..key_end])]);
        } else {
            ranges.into_iter().for_each(|r| edits.remove(r));
        }
    }

    /// One entry written in the form of `node`'s existing entries, at `indent`.
    pub fn entry_line(&self, node: &Node, key: &str, value: &str) -> String {
        let items = self.items(node.body.clone());
        match items.first() {
            Some(first) => {
                let indent = indent_of(&self.lines[first.start]).unwrap_or(node.indent + 2);
                format!("{}- \"{key}={}\"", " ".repeat(indent), value.replace('"', "\\\""))
            }
            None => {
                let indent = self.lines[node.body.clone()].iter().find_map(|l| indent_of(l)).unwrap_or(node.indent + 2);
                format!("{}\"{key}\": \"{}\"", " ".repeat(indent), value.replace('"', "\\\""))
            }
        }
    }

    /// The indentation of a node's children (or two more than the node's).
    pub fn child_indent(&self, node: &Node) -> usize {
        self.lines[node.body.clone()].iter().find_map(|l| indent_of(l)).unwrap_or(node.indent + 2)
    }

    pub fn apply(&self, edits: Edits) -> ComposeText {
        let mut edits = edits.edits;
        edits.sort_by_key(|e| std::cmp::Reverse((e.range.start, e.range.end)));
        let mut lines = self.lines.clone();
        for e in edits {
            lines.splice(e.range, e.with);
        }
        ComposeText { lines, trailing_newline: self.trailing_newline }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPOSE: &str = r#"---
version: "3.8"

services:
  app:
    image: nginx:1.22.1  # the app
    volumes:
      - content:/usr/share/nginx/html
      - type: volume
        source: cache
        target: /cache
    deploy:
      labels:
        - "traefik.enable=true"
        - "backupbot.backup=${ENABLE_BACKUPS:-true}"
  db:
    image: postgres:15
    configs:
      - source: pg_backup
        target: /pg_backup.sh
        mode: 0555
    deploy:
      labels:
        backupbot.backup: "true"
        backupbot.backup.pre-hook: "/pg_backup.sh backup"

volumes:
  content:
"#;

    #[test]
    fn services_items_and_entries_are_found_by_indentation() {
        let c = ComposeText::parse(COMPOSE);
        let names: Vec<String> = c.services().into_iter().map(|s| s.key).collect();
        assert_eq!(names, ["app", "db"]);
        let app = c.service("app").unwrap();
        assert_eq!(c.inline_value(&c.child(app.body.clone(), "image").unwrap()), "nginx:1.22.1");
        let volumes = c.child(app.body.clone(), "volumes").unwrap();
        let items = c.items(volumes.body.clone());
        assert_eq!(items.len(), 2);
        assert_eq!(c.item_scalar(&items[0]).as_deref(), Some("content:/usr/share/nginx/html"));
        assert_eq!(items[1].len(), 3, "a mapping item keeps its continuation lines");
        let labels = c.child(c.child(app.body, "deploy").unwrap().body, "labels").unwrap();
        let keys: Vec<String> = c.entries(&labels).into_iter().map(|(_, k, _)| k).collect();
        assert_eq!(keys, ["traefik.enable", "backupbot.backup"]);
        let db = c.service("db").unwrap();
        let map_labels = c.child(c.child(db.body, "deploy").unwrap().body, "labels").unwrap();
        let entries = c.entries(&map_labels);
        assert_eq!(entries[1].1, "backupbot.backup.pre-hook");
        assert_eq!(entries[1].2, "/pg_backup.sh backup");
    }

    #[test]
    fn edits_change_only_their_lines_and_keep_yaml_1_1_scalars() {
        let c = ComposeText::parse(COMPOSE);
        let db = c.service("db").unwrap();
        let labels = c.child(c.child(db.body, "deploy").unwrap().body, "labels").unwrap();
        let (range, key, _) = c.entries(&labels).remove(1);
        let mut edits = Edits::default();
        edits.replace(range, vec![c.entry_line(&labels, &key, "true")]);
        let out = c.apply(edits).render();
        assert!(out.contains("        \"backupbot.backup.pre-hook\": \"true\"\n"), "{out}");
        assert!(out.contains("mode: 0555"), "untouched lines stay as written");
        assert!(out.contains("# the app"));
        assert_eq!(out.lines().count(), COMPOSE.lines().count());
    }
}
