//! Reads the JUnit XML that `cargo nextest run --profile ci` writes (Jenkins flavour: one
//! `<testsuite>` per test binary, named `<package>::<binary>`, one `<testcase>` per test).
//!
//! Only what reporting needs is kept: the suite, the test's name and time, how it ended, and
//! the text nextest stored for it (failure message, captured stdout/stderr) so a failure can
//! be told from an infrastructure failure ([`harness::UNVERIFIED_MARKER`]).

use anyhow::Context as _;
use quick_xml::{Reader, events::Event};

/// How a test case ended, as JUnit records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// `<failure>`, `<error>` or a `<rerunFailure>` without a later success.
    Failed,
    Skipped,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// `<testsuite name>`: `recipe-custom-html::custom-html`.
    pub suite: String,
    /// `install::serves_the_seeded_index_as_html`.
    pub name: String,
    pub time_secs: f64,
    pub outcome: Outcome,
    /// The failure element's `message` attribute (first line of the panic, usually).
    pub message: Option<String>,
    /// Every text node inside the test case: failure body, system-out, system-err.
    pub text: String,
}

impl Case {
    /// The Cargo package of the suite (`recipe-custom-html`).
    pub fn package(&self) -> &str {
        self.suite.split("::").next().unwrap_or(&self.suite)
    }
}

fn attr(e: &quick_xml::events::BytesStart<'_>, name: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
}

/// Parses a nextest JUnit report.
pub fn parse(xml: &str) -> anyhow::Result<Vec<Case>> {
    let mut reader = Reader::from_str(xml);
    let mut cases = vec![];
    let mut suite = String::new();
    let mut current: Option<Case> = None;
    loop {
        let event = reader.read_event().with_context(|| format!("JUnit XML at byte {}", reader.buffer_position()))?;
        match event {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"testsuite" => {
                suite = attr(&e, b"name").unwrap_or_default();
            }
            Event::Start(ref e) | Event::Empty(ref e) if e.name().as_ref() == b"testcase" => {
                let case = Case {
                    suite: suite.clone(),
                    name: attr(e, b"name").unwrap_or_default(),
                    time_secs: attr(e, b"time").and_then(|t| t.parse().ok()).unwrap_or(0.0),
                    outcome: Outcome::Passed,
                    message: None,
                    text: String::new(),
                };
                if matches!(event, Event::Empty(_)) {
                    cases.push(case);
                } else {
                    current = Some(case);
                }
            }
            Event::Start(ref e) | Event::Empty(ref e) => {
                if let Some(case) = current.as_mut() {
                    match e.name().as_ref() {
                        b"failure" | b"error" | b"rerunFailure" | b"rerunError" => {
                            case.outcome = Outcome::Failed;
                            if case.message.is_none() {
                                case.message = attr(e, b"message");
                            }
                        }
                        b"skipped" => {
                            case.outcome = Outcome::Skipped;
                            case.message = attr(e, b"message");
                        }
                        _ => {}
                    }
                }
            }
            Event::Text(t) => {
                if let Some(case) = current.as_mut() {
                    case.text.push_str(&t.decode().unwrap_or_default());
                }
            }
            Event::CData(t) => {
                if let Some(case) = current.as_mut() {
                    case.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            // quick-xml reports `&lt;` and `&#10;` apart from the text around them.
            Event::GeneralRef(r) => {
                if let Some(case) = current.as_mut() {
                    if let Ok(Some(c)) = r.resolve_char_ref() {
                        case.text.push(c);
                    } else {
                        let name = r.decode().unwrap_or_default();
                        match quick_xml::escape::resolve_predefined_entity(&name) {
                            Some(text) => case.text.push_str(text),
                            None => case.text.push_str(&format!("&{name};")),
                        }
                    }
                }
            }
            Event::End(e) if e.name().as_ref() == b"testcase" => {
                if let Some(case) = current.take() {
                    cases.push(case);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from a real `cargo nextest run --profile ci` report of this workspace.
    const REPORT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nextest-run" tests="4" failures="2" errors="0" uuid="0" timestamp="2026-01-01T00:00:00+00:00" time="20.1">
    <testsuite name="recipe-custom-html::custom-html" tests="4" disabled="0" errors="0" failures="2">
        <testcase name="install::serves_the_seeded_index_as_html" classname="recipe-custom-html::custom-html" timestamp="2026-01-01T00:00:00+00:00" time="7.5">
        </testcase>
        <testcase name="upgrade::upgrade_from_the_previous_release_keeps_content" classname="recipe-custom-html::custom-html" time="12.25">
            <failure message="thread &apos;upgrade&apos; panicked at upgrade.rs:30:9" type="test failure with exit code 101">thread 'upgrade' panicked at upgrade.rs:30:9:
assertion `left == right` failed: seeded content lost</failure>
            <system-out>running 1 test</system-out>
            <system-err>Error: &lt;b&gt; marker</system-err>
        </testcase>
        <testcase name="backup::backup_restores_a_wiped_marker_byte_for_byte" classname="recipe-custom-html::custom-html" time="3">
            <failure type="test failure with exit code 101"/>
            <system-err><![CDATA[Error: [unverified] infrastructure: docker ping: connection refused]]></system-err>
        </testcase>
        <testcase name="functional::skipped_one" classname="recipe-custom-html::custom-html" time="0">
            <skipped message="ignored"/>
        </testcase>
    </testsuite>
</testsuites>"#;

    #[test]
    fn a_nextest_report_becomes_cases_with_outcomes_and_text() {
        let cases = parse(REPORT).unwrap();
        assert_eq!(cases.len(), 4);
        assert_eq!(cases[0].name, "install::serves_the_seeded_index_as_html");
        assert_eq!(cases[0].package(), "recipe-custom-html");
        assert_eq!(cases[0].outcome, Outcome::Passed);
        assert_eq!(cases[0].time_secs, 7.5);
        assert_eq!(cases[1].outcome, Outcome::Failed);
        assert_eq!(cases[1].message.as_deref(), Some("thread 'upgrade' panicked at upgrade.rs:30:9"));
        assert!(cases[1].text.contains("seeded content lost"), "{}", cases[1].text);
        assert!(cases[1].text.contains("Error: <b> marker"), "entities are decoded: {}", cases[1].text);
        assert_eq!(cases[2].outcome, Outcome::Failed);
        assert!(cases[2].text.contains(harness::UNVERIFIED_MARKER), "CDATA is kept: {}", cases[2].text);
        assert_eq!(cases[3].outcome, Outcome::Skipped);
    }

    #[test]
    fn broken_xml_is_an_error_not_an_empty_report() {
        assert!(parse("<testsuites><testsuite name=\"x\"><testcase name=\"a\"></testsuite>").is_err());
    }
}
