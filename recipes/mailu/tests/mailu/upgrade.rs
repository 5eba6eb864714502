//! Upgrade: the previous published release (Mailu 2.0), with a mail in the first mailbox,
//! moves to the PR head (2024.06) in place: the image the server runs moves to the head's
//! Mailu version, the mail is still read back byte for byte, and a new mail goes round.

use harness::{contract::Phase, prelude::*};
use recipe_mailu::{Mail, MailboxMarker, Trust, admin, submit, wait_for};

#[tokio::test(flavor = "multi_thread")]
async fn upgrade_from_the_previous_release_keeps_the_mailbox_and_runs_the_head() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let base = harness::fixture::upstream_version(&suite.upgrade_base()?)?.to_owned();
    let head = harness::fixture::upstream_version(&suite.head_version()?)?.to_owned();
    anyhow::ensure!(base != head, "the head must move Mailu forward ({base} -> {head})");
    contract::upgrade_keeps_checking(&suite, &mut MailboxMarker::new(), async |app, phase| {
        let expected = if phase == Phase::Base { &base } else { &head };
        let image = app.running_image("app").await?;
        anyhow::ensure!(image.split('@').next().is_some_and(|i| i.ends_with(&format!(":{expected}"))), "app runs {image}, not Mailu {expected} ({phase:?})");
        let trust = Trust::of(app).await?;
        let (user, password) = admin(app)?;
        let mail = Mail::random(&user, &user, &format!("on {expected}"));
        submit(app, &trust, &mail).await?;
        anyhow::ensure!(wait_for(app, &trust, &user, &password, &mail.subject).await? == mail.body, "a mail on {expected} came back different");
        Ok(())
    })
    .await
    .map(drop)
}
