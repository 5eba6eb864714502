//! Per-PR locks: two `!testme` runs on the same PR never overlap.
//!
//! Deployments of one PR share a name tag (`pr<N>-<sha7>`), so two runs of the same recipe on
//! the same PR would deploy over each other; and the PR's one comment is read, changed and
//! written back. Both are guarded by `flock`s under `<state>/testme/<owner>/<repo>/pr<N>/`:
//! `<package>.lock` for the whole run of a recipe, `comment.lock` around each comment update.
//! A second run waits for the first, saying who it waits for; the kernel drops a lock when its
//! holder dies, however it dies, so a killed run never blocks the next.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use harness::ops::{FileLock, Wait};

use crate::pr::PrRef;

/// The directory of a PR's locks.
pub fn pr_dir(state_dir: &Path, pr: &PrRef) -> PathBuf {
    state_dir.join("testme").join(&pr.owner).join(&pr.repo).join(format!("pr{}", pr.number))
}

/// Takes the lock at `path` (harness::lock's wait), waiting up to `timeout` and printing
/// progress every `report_every` while another process holds it. `holder` is written into the
/// file for the next waiter to read.
pub async fn acquire(path: &Path, what: &str, holder: &str, timeout: Duration, report_every: Duration) -> anyhow::Result<FileLock> {
    let wait = Wait { what, timeout, holder: Some(holder), report_every };
    FileLock::wait(path, &wait, |line| println!("testme: {line}"))
        .await
        .map_err(|e| anyhow::format_err!("gave up waiting for {what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness::ops::held_by;

    #[tokio::test]
    async fn a_second_taker_waits_and_names_the_holder() {
        let dir = std::env::temp_dir().join(format!("ccci-prlock-{}", std::process::id()));
        let path = dir.join("recipe-x.lock");
        let first = acquire(&path, "the lock", "run one (pid 1)", Duration::from_secs(5), Duration::from_secs(60)).await.unwrap();
        assert_eq!(held_by(&path), "held by run one (pid 1)");
        let waiting = tokio::spawn({
            let path = path.clone();
            async move { acquire(&path, "the lock", "run two", Duration::from_secs(30), Duration::from_secs(60)).await }
        });
        // The waiter cannot finish while the first lock is held.
        let timed_out = acquire(&path, "the lock", "run three", Duration::from_millis(300), Duration::from_secs(60)).await;
        let e = timed_out.unwrap_err().to_string();
        assert!(e.contains("held by run one (pid 1)"), "{e}");
        assert!(!waiting.is_finished());
        drop(first);
        let second = waiting.await.unwrap().unwrap();
        assert_eq!(held_by(&path), "held by run two");
        drop(second);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
