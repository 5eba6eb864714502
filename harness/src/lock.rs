//! File locks (`flock`) as cross-process leases: held while a process lives, released by the
//! kernel when it dies, however it dies. That makes them the liveness oracle for runs, shared
//! deployments and MAX_TESTS slots.

use std::{
    fs::{File, TryLockError},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use crate::error::{HarnessError, Result};

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

    /// Waits for the lock, polling, until `timeout`; says who it waited for on timeout.
    pub async fn exclusive(path: &Path, timeout: Duration, what: &str) -> Result<FileLock> {
        let start = Instant::now();
        loop {
            let attempt = Self::try_exclusive(path)
                .map_err(|e| HarnessError::infra(format!("locking {}", path.display()), e))?;
            if let Some(lock) = attempt {
                return Ok(lock);
            }
            if start.elapsed() >= timeout {
                return Err(HarnessError::Timeout {
                    what: what.to_owned(),
                    waited: timeout,
                    last: format!("{} still locked by another process", path.display()),
                });
            }
            // A bounded poll: flock has no async wait, and blocking a runtime thread is worse.
            tokio::time::sleep(Duration::from_millis(100)).await; // poll step; bounded by `timeout` above
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
}
