//! File locks (`flock`) as cross-process leases: held while a process lives, released by the
//! kernel when it dies, however it dies. That makes them the liveness oracle for runs, shared
//! deployments and MAX_TESTS slots.

use std::{
    fs::{File, TryLockError},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use crate::{
    error::{HarnessError, Result},
    poll::{Step, poll},
};

/// An exclusive `flock` on a file, released on drop.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    fn open(path: &Path) -> std::io::Result<File> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        File::options().create(true).truncate(false).read(true).write(true).open(path)
    }

    /// Takes the lock if nobody holds it.
    pub fn try_exclusive(path: &Path) -> std::io::Result<Option<FileLock>> {
        let file = Self::open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(FileLock { file, path: path.to_path_buf() })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }

    /// Waits for the lock in the kernel, without a deadline: for blocking threads whose holder
    /// is bound to finish (an image build), never on a runtime thread.
    pub fn blocking_exclusive(path: &Path) -> std::io::Result<FileLock> {
        let file = Self::open(path)?;
        file.lock()?;
        Ok(FileLock { file, path: path.to_path_buf() })
    }

    /// Waits for the lock, polling, until `timeout`; reports every 30 s through the run's
    /// progress log who it is waiting for, and says so on timeout.
    pub async fn exclusive(path: &Path, timeout: Duration, what: &str) -> Result<FileLock> {
        let wait = Wait { what, timeout, holder: None, report_every: Duration::from_secs(30) };
        Self::wait(path, &wait, crate::log::progress).await
    }

    /// The one waiting loop for file locks. Once taken, `wait.holder` (if any) is written into
    /// the file so the next waiter can say whom it waits for; `report` gets a line when the
    /// wait starts, every `report_every` after, and when the lock is finally taken.
    pub async fn wait(path: &Path, wait: &Wait<'_>, mut report: impl FnMut(String)) -> Result<FileLock> {
        let start = Instant::now();
        let mut last_report: Option<Instant> = None;
        let report = std::sync::Mutex::new(&mut report);
        let last_report = std::sync::Mutex::new(&mut last_report);
        // flock has no async wait, and blocking a runtime thread is worse: poll it.
        poll(wait.what, wait.timeout, Duration::from_millis(100), || async {
            let attempt = match Self::try_exclusive(path) {
                Ok(attempt) => attempt,
                Err(e) => return Step::Fail(HarnessError::infra(format!("locking {}", path.display()), e)),
            };
            let mut last = last_report.lock().expect("not poisoned");
            let mut report = report.lock().expect("not poisoned");
            if let Some(lock) = attempt {
                if last.is_some() {
                    report(format!("got {} after {:.0}s", wait.what, start.elapsed().as_secs_f64()));
                }
                if let Some(holder) = wait.holder {
                    use std::os::unix::fs::FileExt as _;
                    // Write, then cut to length: a reader never sees an empty record in between.
                    if let Err(e) = lock.file.write_all_at(holder.as_bytes(), 0).and_then(|()| lock.file.set_len(holder.len() as u64)) {
                        return Step::Fail(HarnessError::infra(format!("recording the holder of {}", path.display()), e));
                    }
                }
                return Step::Done(lock);
            }
            let holder = held_by(path);
            // A holder takes the lock before it writes its record: give the record a moment to
            // appear so the first line can say whom we wait for.
            let record_due = !holder.ends_with(UNKNOWN_HOLDER) || start.elapsed() >= HOLDER_RECORD_GRACE;
            if record_due && last.is_none_or(|at| at.elapsed() >= wait.report_every) {
                report(format!("waiting for {} ({:.0}s so far): {holder}", wait.what, start.elapsed().as_secs_f64()));
                **last = Some(Instant::now());
            }
            Step::Pending(holder)
        })
        .await
    }

    /// Takes a shared lock (many holders, no exclusive one), if no exclusive holder has it.
    pub fn try_shared(path: &Path) -> std::io::Result<Option<FileLock>> {
        let file = Self::open(path)?;
        match file.try_lock_shared() {
            Ok(()) => Ok(Some(FileLock { file, path: path.to_path_buf() })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open file, e.g. to keep it across `exec` or to write a holder record into.
    pub fn file(&self) -> &File {
        &self.file
    }
}

/// How to wait for a lock.
#[derive(Debug, Clone)]
pub struct Wait<'a> {
    /// What the lock guards, for messages ("the PR comment lock").
    pub what: &'a str,
    pub timeout: Duration,
    /// Written into the lock file once taken, e.g. `run pr7-abc (pid 42)`.
    pub holder: Option<&'a str>,
    pub report_every: Duration,
}

const UNKNOWN_HOLDER: &str = "is held by another process";

/// How long a waiter gives a new holder to write its record before it reports an unknown one.
const HOLDER_RECORD_GRACE: Duration = Duration::from_secs(2);

/// "held by <holder>" from the lock file, or a plain "held by another process".
pub fn held_by(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => format!("held by {}", text.trim()),
        _ => format!("{} {UNKNOWN_HOLDER}", path.display()),
    }
}

/// Whether some process holds the lock on `path` right now (false if the file is missing).
pub fn is_held(path: &Path) -> bool {
    if !path.exists() {
        return false;
    }
    matches!(FileLock::try_exclusive(path), Ok(None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_seen_as_held_until_dropped() {
        let dir = std::env::temp_dir().join(format!("ccci-lock-test-{}", std::process::id()));
        let path = dir.join("a.lock");
        let lock = FileLock::try_exclusive(&path).unwrap().expect("free lock");
        assert!(is_held(&path));
        assert!(FileLock::try_exclusive(&path).unwrap().is_none());
        drop(lock);
        assert!(!is_held(&path));
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A holder takes the lock a moment before it writes its record; the waiter's first line
    /// must still name it (a waiter that read the empty file once said "another process").
    #[tokio::test]
    async fn the_first_waiting_line_names_a_holder_that_writes_its_record_late() {
        let dir = std::env::temp_dir().join(format!("ccci-lock-late-{}", std::process::id()));
        let path = dir.join("b.lock");
        let held = FileLock::try_exclusive(&path).unwrap().expect("free lock");
        let (said, mut first_line) = tokio::sync::mpsc::unbounded_channel::<String>();
        let writer = {
            let path = path.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await; // the holder's delay under test
                std::fs::write(&path, "run pr7-late (pid 1)").unwrap();
                // Held until the waiter has reported, then released.
                tokio::time::timeout(Duration::from_secs(10), first_line.recv()).await.expect("the waiter reports within its grace");
                drop(held);
            })
        };
        let mut lines = Vec::new();
        let wait = Wait { what: "the test lock", timeout: Duration::from_secs(10), holder: Some("run pr7-next (pid 2)"), report_every: Duration::from_secs(30) };
        let lock = FileLock::wait(&path, &wait, |line| {
            let _ = said.send(line.clone());
            lines.push(line);
        })
        .await
        .expect("the lock is released");
        writer.await.unwrap();
        assert!(lines[0].starts_with("waiting for the test lock") && lines[0].ends_with("held by run pr7-late (pid 1)"), "{lines:#?}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "run pr7-next (pid 2)", "the new holder's record replaces the old one whole");
        drop(lock);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
