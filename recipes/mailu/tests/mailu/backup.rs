//! Backup integrity: a mail in the first mailbox survives the backup (the `mail` volume's
//! maildirs), the removal of the volumes (the mail is then gone from the INBOX the user logs in
//! to) and the restore (the post-hook makes Dovecot re-read the maildirs), byte for byte.
//!
//! No restore onto a fresh deployment (`contract::restore_on_fresh`): the harness gives the
//! fresh stack a new domain, and a mail server's mailboxes belong to its mail domain (the
//! maildirs are `/var/mail/<domain>/<user>`, Mailu's `/mail/<user>@<domain>`): the restored
//! mailbox is not the fresh server's user's. Restoring a mail server means the same domain.

use harness::prelude::*;
use recipe_mailu::MailboxMarker;

#[tokio::test(flavor = "multi_thread")]
async fn backup_restores_a_wiped_mailbox_byte_for_byte() -> anyhow::Result<()> {
    let suite = Suite::start(env!("CARGO_MANIFEST_DIR")).await?;
    let trip = contract::backup_roundtrip(&suite, &mut MailboxMarker::new()).await?;
    trip.assert_wiped("mail")?;
    anyhow::ensure!(trip.artifact.entries.iter().all(|e| e.starts_with("mail/")), "the backup holds more than the maildirs: {:?}", trip.artifact.entries);
    anyhow::ensure!(trip.artifact.entries.iter().any(|e| e.contains("/Maildir/")), "the backup holds no maildir: {:?}", trip.artifact.entries);
    Ok(())
}
