//! Naming a pull request: `owner/repo#N`, a PR URL on the configured Gitea, or a bare number
//! (`N` or `#N`) with a default repository.

use std::fmt;

/// A pull request on the Gitea instance: repository and index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PrRef {
    pub owner: String,
    pub repo: String,
    pub number: u64,
}

impl fmt::Display for PrRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}#{}", self.owner, self.repo, self.number)
    }
}

impl PrRef {
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.repo)
    }

    /// Parses `input`; `default_repo` (`owner/repo`) serves bare numbers, `gitea_url` checks
    /// that a URL points at the Gitea we talk to.
    pub fn parse(input: &str, default_repo: Option<&str>, gitea_url: &str) -> anyhow::Result<PrRef> {
        let input = input.trim();
        let usage = "expected `owner/repo#N`, a pull request URL, or a number with --repo/CCCI_DEFAULT_REPO";
        if input.is_empty() {
            anyhow::bail!("no pull request given: {usage}");
        }
        if input.starts_with("http://") || input.starts_with("https://") {
            return Self::parse_url(input, gitea_url);
        }
        if let Some((repo, number)) = input.split_once('#')
            && !repo.is_empty()
        {
            let (owner, repo) = split_repo(repo).ok_or_else(|| anyhow::format_err!("{input:?}: {usage}"))?;
            return Ok(PrRef { owner, repo, number: parse_number(number, input)? });
        }
        let number = input.strip_prefix('#').unwrap_or(input);
        if number.bytes().all(|b| b.is_ascii_digit()) {
            let Some(default_repo) = default_repo else {
                anyhow::bail!("{input:?} is a bare PR number but no default repository is configured: pass --repo owner/repo or set CCCI_DEFAULT_REPO");
            };
            let (owner, repo) = split_repo(default_repo)
                .ok_or_else(|| anyhow::format_err!("default repository {default_repo:?} is not `owner/repo`"))?;
            return Ok(PrRef { owner, repo, number: parse_number(number, input)? });
        }
        anyhow::bail!("{input:?}: {usage}")
    }

    fn parse_url(input: &str, gitea_url: &str) -> anyhow::Result<PrRef> {
        let base = gitea_url.trim_end_matches('/');
        let rest = input.strip_prefix(base).filter(|r| r.starts_with('/')).ok_or_else(|| {
            anyhow::format_err!("{input:?} is not a pull request on {base} (GITEA_URL); give `owner/repo#N` instead")
        })?;
        let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
        match parts.as_slice() {
            [owner, repo, "pulls" | "pull", number, ..] => {
                let (owner, repo) = split_repo(&format!("{owner}/{repo}"))
                    .ok_or_else(|| anyhow::format_err!("{input:?}: `{owner}/{repo}` is not a repository name"))?;
                Ok(PrRef { owner, repo, number: parse_number(number, input)? })
            }
            _ => anyhow::bail!("{input:?} is not a pull request URL (expected {base}/<owner>/<repo>/pulls/<N>)"),
        }
    }
}

fn parse_number(number: &str, input: &str) -> anyhow::Result<u64> {
    match number.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => anyhow::bail!("{input:?}: {number:?} is not a pull request number"),
    }
}

/// `owner/repo` with Gitea's name alphabet; `None` when it is not that.
fn split_repo(text: &str) -> Option<(String, String)> {
    let (owner, repo) = text.split_once('/')?;
    let ok = |s: &str| {
        !s.is_empty() && s != "." && s != ".." && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    (ok(owner) && ok(repo)).then(|| (owner.to_owned(), repo.trim_end_matches(".git").to_owned()))
}

/// Whether a comment body is the `!testme` command: exactly that, surrounding whitespace aside.
pub fn is_testme_command(body: &str) -> bool {
    body.trim() == "!testme"
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    const GITEA: &str = "https://git.coopcloud.tech";

    #[rstest]
    #[case::short("coop-cloud/custom-html#12", "coop-cloud", "custom-html", 12)]
    #[case::url(concat!("https://git.coopcloud.tech", "/coop-cloud/keycloak/pulls/3"), "coop-cloud", "keycloak", 3)]
    #[case::url_files_tab("https://git.coopcloud.tech/coop-cloud/keycloak/pulls/3/files", "coop-cloud", "keycloak", 3)]
    #[case::url_singular("https://git.coopcloud.tech/coop-cloud/keycloak/pull/3", "coop-cloud", "keycloak", 3)]
    #[case::number("7", "toolshed", "ccci", 7)]
    #[case::hash_number("#7", "toolshed", "ccci", 7)]
    #[case::spaces("  coop-cloud/n8n#1 ", "coop-cloud", "n8n", 1)]
    fn pull_requests_are_named_three_ways(#[case] input: &str, #[case] owner: &str, #[case] repo: &str, #[case] number: u64) {
        let pr = PrRef::parse(input, Some("toolshed/ccci"), GITEA).unwrap();
        assert_eq!(pr, PrRef { owner: owner.into(), repo: repo.into(), number });
    }

    #[rstest]
    #[case::empty("", "no pull request given")]
    #[case::no_default_repo("12", "no default repository is configured")]
    #[case::zero("coop-cloud/custom-html#0", "is not a pull request number")]
    #[case::not_a_number("coop-cloud/custom-html#abc", "is not a pull request number")]
    #[case::other_host("https://github.com/coop-cloud/x/pulls/1", "is not a pull request on https://git.coopcloud.tech")]
    #[case::issue_url("https://git.coopcloud.tech/coop-cloud/x/issues/1", "is not a pull request URL")]
    #[case::bad_repo("coop cloud/x#1", "expected `owner/repo#N`")]
    #[case::traversal("../x#1", "expected `owner/repo#N`")]
    #[case::words("please test", "expected `owner/repo#N`")]
    fn bad_pull_request_names_say_what_is_expected(#[case] input: &str, #[case] message: &str) {
        let e = PrRef::parse(input, None, GITEA).unwrap_err().to_string();
        assert!(e.contains(message), "{input:?}: {e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }

    #[rstest]
    #[case::exact("!testme", true)]
    #[case::surrounding_whitespace("  !testme\r\n", true)]
    #[case::suffix("!testmexyz", false)]
    #[case::argument("!testme please", false)]
    #[case::prose("could someone !testme", false)]
    #[case::case("!TESTME", false)]
    #[case::code_span("`!testme`", false)]
    #[case::quoted("> !testme", false)]
    #[case::empty("", false)]
    fn only_an_exact_testme_is_a_command(#[case] body: &str, #[case] command: bool) {
        assert_eq!(is_testme_command(body), command, "{body:?}");
    }
}
