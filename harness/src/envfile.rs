//! Co-op Cloud `.env` files: `.env.sample` in a recipe, `<domain>.env` per app.
//!
//! The format is Docker `env_file` syntax without `export`, plus two Co-op Cloud habits this
//! parser keeps: a later line may reference an earlier key (`COMPOSE_FILE="$COMPOSE_FILE:x.yml"`),
//! and a trailing comment annotates secrets (`SECRET_DB_PASSWORD_VERSION=v1 # length=32`).
//! `abra.sh` exports (`export NGINX_CONF_VERSION=v2`) are read with the same parser.

use std::{collections::BTreeMap, path::Path};

/// One `KEY=VALUE` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EnvEntry {
    pub key: String,
    pub value: String,
    /// The text after an unquoted `#` on the same line, trimmed.
    pub comment: Option<String>,
}

/// An ordered env file; later assignments of a key win, as in a shell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvFile {
    entries: Vec<EnvEntry>,
}

/// A secret declared in the env file by `SECRET_<NAME>_VERSION=<version>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretDecl {
    /// Lower-case name as used in compose: `db_password`.
    pub name: String,
    pub version: String,
    /// `# length=N`; `None` means abra's default (a passphrase).
    pub length: Option<usize>,
    /// `# generate=false`: must be inserted, not generated.
    pub generate: bool,
}

impl EnvFile {
    pub fn parse(text: &str) -> EnvFile {
        let mut file = EnvFile::default();
        for raw in text.lines() {
            let line = raw.trim();
            let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, rest)) = line.split_once('=') else { continue };
            let key = key.trim();
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                continue;
            }
            let (value, comment, literal) = split_value(rest.trim());
            let value = if literal { value } else { file.expand(&value) };
            file.entries.push(EnvEntry { key: key.to_owned(), value, comment });
        }
        file
    }

    pub fn read(path: &Path) -> std::io::Result<EnvFile> {
        Ok(EnvFile::parse(&std::fs::read_to_string(path)?))
    }

    /// The effective value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.iter().rev().find(|e| e.key == key).map(|e| e.value.as_str())
    }

    /// Sets `key`, replacing every earlier assignment so the file stays readable.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        let comment = self.entries.iter().rev().find(|e| e.key == key).and_then(|e| e.comment.clone());
        if let Some(first) = self.entries.iter().position(|e| e.key == key) {
            self.entries.retain(|e| e.key != key);
            self.entries.insert(first, EnvEntry { key: key.to_owned(), value, comment });
        } else {
            self.entries.push(EnvEntry { key: key.to_owned(), value, comment: None });
        }
    }

    /// Effective values, one per key.
    pub fn vars(&self) -> BTreeMap<String, String> {
        self.entries.iter().map(|e| (e.key.clone(), e.value.clone())).collect()
    }

    /// Secrets the app needs, from `SECRET_*_VERSION` keys and their annotations.
    pub fn secrets(&self) -> Vec<SecretDecl> {
        let mut out: Vec<SecretDecl> = vec![];
        for (key, value) in self.vars() {
            let Some(name) = key.strip_prefix("SECRET_").and_then(|k| k.strip_suffix("_VERSION")) else {
                continue;
            };
            let comment = self.entries.iter().rev().find(|e| e.key == key).and_then(|e| e.comment.clone());
            let mut decl = SecretDecl { name: name.to_ascii_lowercase(), version: value, length: None, generate: true };
            for word in comment.as_deref().unwrap_or_default().split_whitespace() {
                match word.split_once('=') {
                    Some(("length", n)) => decl.length = n.parse().ok(),
                    Some(("generate", v)) => decl.generate = v != "false",
                    _ => {}
                }
            }
            out.push(decl);
        }
        out
    }

    /// `COMPOSE_FILE` split on `:`, defaulting to `compose.yml`.
    pub fn compose_files(&self) -> Vec<String> {
        self.get("COMPOSE_FILE")
            .unwrap_or("compose.yml")
            .split(':')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Renders the file so that parsing it gives the same values: single quotes (no
    /// expansion) where a value holds `$`, double quotes otherwise.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for e in &self.entries {
            out.push_str(&e.key);
            out.push('=');
            if e.value.contains('$') && !e.value.contains('\'') {
                out.push('\'');
                out.push_str(&e.value);
                out.push('\'');
            } else {
                out.push('"');
                out.push_str(&e.value.replace('\\', "\\\\").replace('"', "\\\"").replace('$', "\\$"));
                out.push('"');
            }
            if let Some(c) = &e.comment {
                out.push_str(" # ");
                out.push_str(c);
            }
            out.push('\n');
        }
        out
    }

    /// Expands `$KEY` and `${KEY}` with values defined above; unknown keys expand to "".
    fn expand(&self, value: &str) -> String {
        let mut out = String::new();
        let mut rest = value;
        while let Some(i) = rest.find('$') {
            if rest[..i].ends_with('\u{0}') {
                out.push_str(&rest[..i - 1]);
                out.push('$');
                rest = &rest[i + 1..];
                continue;
            }
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let (name, consumed) = if let Some(inner) = after.strip_prefix('{') {
                match inner.find('}') {
                    Some(end) => (&inner[..end], end + 2),
                    None => ("", 0),
                }
            } else {
                let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
                (&after[..end], end)
            };
            if name.is_empty() {
                out.push('$');
                rest = after;
            } else {
                out.push_str(self.get(name).unwrap_or_default());
                rest = &after[consumed..];
            }
        }
        out.push_str(rest);
        out
    }
}

/// Splits `"value" # comment`, `'value'` or `value # comment`; the flag says the value is
/// literal (single-quoted, or escaped) and must not be expanded.
fn split_value(rest: &str) -> (String, Option<String>, bool) {
    let comment_after = |tail: &str| {
        tail.trim().strip_prefix('#').map(|c| c.trim().to_owned()).filter(|c| !c.is_empty())
    };
    for quote in ['"', '\''] {
        if let Some(inner) = rest.strip_prefix(quote) {
            let mut value = String::new();
            let mut chars = inner.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' if quote == '"' => {
                        if let Some((_, next)) = chars.next() {
                            // An escaped `$` stays literal: mark it for `expand` to skip.
                            if next == '$' {
                                value.push('\u{0}');
                            }
                            value.push(next);
                        }
                    }
                    c if c == quote => return (value, comment_after(&inner[i + 1..]), quote == '\''),
                    c => value.push(c),
                }
            }
            return (value, None, quote == '\'');
        }
    }
    match rest.find(" #") {
        Some(i) => (rest[..i].trim().to_owned(), comment_after(&rest[i..]), false),
        None => (rest.to_owned(), None, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
TYPE=web-site
DOMAIN=web-site.example.com
## Comments and blank lines are skipped
LETS_ENCRYPT_ENV=production
COMPOSE_FILE="compose.yml"
#COMPOSE_FILE="$COMPOSE_FILE:compose.disabled.yml"
COMPOSE_FILE="$COMPOSE_FILE:compose.extra.yml"
SECRET_DB_PASSWORD_VERSION=v1 # length=32
SECRET_API_KEY_VERSION=v2 # generate=false
export NGINX_CONF_VERSION=v3
QUOTED='a b # not a comment'
"#;

    #[test]
    fn sample_files_parse_with_self_references_and_annotations() {
        let env = EnvFile::parse(SAMPLE);
        assert_eq!(env.get("TYPE"), Some("web-site"));
        assert_eq!(env.compose_files(), ["compose.yml", "compose.extra.yml"]);
        assert_eq!(env.get("NGINX_CONF_VERSION"), Some("v3"));
        assert_eq!(env.get("QUOTED"), Some("a b # not a comment"));
        let secrets = env.secrets();
        assert_eq!(
            secrets,
            [
                SecretDecl { name: "api_key".into(), version: "v2".into(), length: None, generate: false },
                SecretDecl { name: "db_password".into(), version: "v1".into(), length: Some(32), generate: true },
            ]
        );
    }

    #[test]
    fn rendering_round_trips_and_set_replaces_in_place() {
        let mut env = EnvFile::parse(SAMPLE);
        env.set("DOMAIN", "a.ccci.test");
        env.set("NEW_KEY", "has \"quotes\" and $dollar");
        let again = EnvFile::parse(&env.render());
        assert_eq!(again.get("DOMAIN"), Some("a.ccci.test"));
        assert_eq!(again.get("NEW_KEY"), Some("has \"quotes\" and $dollar"));
        env.set("BOTH", "it's $5");
        assert_eq!(EnvFile::parse(&env.render()).get("BOTH"), Some("it's $5"));
        assert_eq!(again.compose_files(), env.compose_files());
        assert_eq!(again.secrets(), env.secrets());
    }
}
