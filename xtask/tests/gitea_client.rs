//! The Gitea client against the Gitea fake: the calls `testme` makes, their errors, and that
//! state changes (an edited comment, a status) are really made.

mod support;

use support::{
    TOKEN,
    gitea_fake::{FakeGitea, FakePull},
};
use xtask::{
    gitea::{Gitea, NewStatus, StatusState},
    pr::PrRef,
};

const HEAD: &str = "1111111111111111111111111111111111111111";

async fn fake() -> FakeGitea {
    let fake = FakeGitea::start().await;
    fake.add_user("ccci-bot", false, Some(TOKEN));
    fake.add_user("reader", false, Some("reader-token"));
    fake.add_user("maintainer", false, None);
    fake.add_repo("coop-cloud", "custom-html", "/nonexistent/custom-html.git");
    fake.add_collaborator("coop-cloud", "custom-html", "ccci-bot", "admin");
    fake.add_collaborator("coop-cloud", "custom-html", "maintainer", "write");
    fake.add_pull("coop-cloud", "custom-html", FakePull::new(7, "contributor", HEAD).with_files(&["compose.yml", "README.md"]));
    fake
}

fn pr(n: u64) -> PrRef {
    PrRef { owner: "coop-cloud".into(), repo: "custom-html".into(), number: n }
}

#[tokio::test]
async fn a_pull_request_reads_with_head_base_and_clone_url() {
    let fake = fake().await;
    let gitea = Gitea::new(&fake.url, TOKEN).unwrap();
    let pull = gitea.pull_request(&pr(7)).await.unwrap();
    assert_eq!(pull.number, 7);
    assert_eq!(pull.head.sha, HEAD);
    assert_eq!(pull.base.ref_name, "main");
    assert_eq!(pull.base.repo.as_ref().unwrap().clone_url, "/nonexistent/custom-html.git");
    assert_eq!(pull.base.repo.as_ref().unwrap().full_name, "coop-cloud/custom-html");
    assert_eq!(gitea.current_user().await.unwrap().login, "ccci-bot");
}

#[tokio::test]
async fn unknown_repositories_and_pull_requests_are_told_apart() {
    let fake = fake().await;
    let gitea = Gitea::new(&fake.url, TOKEN).unwrap();
    let e = gitea.pull_request(&PrRef { owner: "coop-cloud".into(), repo: "nope".into(), number: 1 }).await.unwrap_err().to_string();
    assert!(e.starts_with("unknown repository coop-cloud/nope on http://127.0.0.1:"), "{e}");
    let e = gitea.pull_request(&pr(99)).await.unwrap_err().to_string();
    assert_eq!(e, "PR not found: coop-cloud/custom-html has no pull request #99");
}

#[tokio::test]
async fn a_refused_token_is_named_but_never_shown() {
    let fake = fake().await;
    let gitea = Gitea::new(&fake.url, "wrong-token-abcdef").unwrap();
    let e = gitea.pull_request(&pr(7)).await.unwrap_err().to_string();
    assert!(e.starts_with("GITEA_TOKEN was refused by http://127.0.0.1:"), "{e}");
    assert!(e.contains("HTTP 401"), "{e}");
    assert!(!e.contains("wrong-token-abcdef"), "{e}");
    assert!(!format!("{gitea:?}").contains("wrong-token-abcdef"));
}

#[tokio::test]
async fn all_changed_files_are_read_across_pages() {
    let fake = fake().await;
    let files: Vec<String> = (0..123).map(|i| format!("dir/file{i:03}.rs")).collect();
    let refs: Vec<&str> = files.iter().map(String::as_str).collect();
    fake.add_pull("coop-cloud", "custom-html", FakePull::new(8, "contributor", HEAD).with_files(&refs));
    let gitea = Gitea::new(&fake.url, TOKEN).unwrap();
    let got = gitea.pull_request_files(&pr(8)).await.unwrap();
    assert_eq!(got.iter().map(|f| f.filename.clone()).collect::<Vec<_>>(), files);
    let pages = fake.requests().iter().filter(|r| r.ends_with("/pulls/8/files")).count();
    assert_eq!(pages, 3, "50 + 50 + 23");
}

#[tokio::test]
async fn a_comment_is_created_then_edited_in_place() {
    let fake = fake().await;
    let gitea = Gitea::new(&fake.url, TOKEN).unwrap();
    let created = gitea.create_comment(&pr(7), "first").await.unwrap();
    let edited = gitea.edit_comment(&pr(7), created.id, "second").await.unwrap();
    assert_eq!(edited.id, created.id);
    assert_eq!(edited.body, "second");
    assert!(edited.updated_at > created.updated_at, "{} vs {}", edited.updated_at, created.updated_at);
    let listed = gitea.comments(&pr(7)).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].body, "second");
    let stored = fake.comments_on("coop-cloud", "custom-html", 7);
    assert_eq!((stored.len(), stored[0].edits, stored[0].body.as_str()), (1, 1, "second"));
    let read = gitea.comment("coop-cloud", "custom-html", created.id).await.unwrap();
    assert!(read.pull_request_url.ends_with("/coop-cloud/custom-html/pulls/7"), "{}", read.pull_request_url);
}

#[tokio::test]
async fn someone_elses_comment_cannot_be_edited() {
    let fake = fake().await;
    let id = fake.add_comment("coop-cloud", "custom-html", 7, "maintainer", "!testme");
    let gitea = Gitea::new(&fake.url, "reader-token").unwrap();
    let e = gitea.edit_comment(&pr(7), id, "hijacked").await.unwrap_err().to_string();
    assert!(e.contains("HTTP 403"), "{e}");
    assert_eq!(fake.comments_on("coop-cloud", "custom-html", 7)[0].body, "!testme");
}

#[tokio::test]
async fn permissions_are_read_for_the_commenter() {
    let fake = fake().await;
    let gitea = Gitea::new(&fake.url, TOKEN).unwrap();
    assert_eq!(gitea.permission("coop-cloud", "custom-html", "maintainer").await.unwrap(), "write");
    assert_eq!(gitea.permission("coop-cloud", "custom-html", "reader").await.unwrap(), "read");
    assert_eq!(gitea.permission("coop-cloud", "custom-html", "coop-cloud").await.unwrap(), "owner");
    // A token without admin rights may not ask about others: Gitea's 403, worded for the operator.
    let reader = Gitea::new(&fake.url, "reader-token").unwrap();
    let e = reader.permission("coop-cloud", "custom-html", "maintainer").await.unwrap_err().to_string();
    assert!(e.starts_with("the bot's token may not read permissions on coop-cloud/custom-html (HTTP 403"), "{e}");
}

#[tokio::test]
async fn a_commit_status_is_recorded_on_the_sha() {
    let fake = fake().await;
    let gitea = Gitea::new(&fake.url, TOKEN).unwrap();
    let status = NewStatus { state: StatusState::Error, target_url: String::new(), description: "L0 not healthy: 1 unverified".into(), context: "ccci/custom-html".into() };
    let made = gitea.create_status("coop-cloud", "custom-html", HEAD, &status).await.unwrap();
    assert_eq!((made.status.as_str(), made.context.as_str()), ("error", "ccci/custom-html"));
    let stored = fake.statuses_on(HEAD);
    assert_eq!(stored.len(), 1);
    assert_eq!((stored[0].state.as_str(), stored[0].description.as_str(), stored[0].creator.as_str()), ("error", "L0 not healthy: 1 unverified", "ccci-bot"));
    // Reading is not writing: a reader's token cannot set statuses.
    let reader = Gitea::new(&fake.url, "reader-token").unwrap();
    assert!(reader.create_status("coop-cloud", "custom-html", HEAD, &status).await.unwrap_err().to_string().contains("HTTP 403"));
}
