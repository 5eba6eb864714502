//! Progress output: one line per step on stderr, and the same line in the run's `run.log`.
//!
//! Long work (deploys, image builds, convergence) reports as it goes so an operator watching
//! CI sees where time goes. Never pass a secret here: values go through [`crate::Secret`].

use std::{
    fs::File,
    io::Write,
    path::Path,
    sync::{Mutex, OnceLock},
    time::Instant,
};

static START: OnceLock<Instant> = OnceLock::new();
static RUN_LOG: OnceLock<Mutex<File>> = OnceLock::new();

/// Sends the process's progress lines to `path` as well as stderr (first call wins).
pub fn attach_run_log(path: &Path) {
    if let Ok(file) = File::options().create(true).append(true).open(path) {
        let _ = RUN_LOG.set(Mutex::new(file));
    }
}

/// Writes one progress line.
pub fn progress(line: impl AsRef<str>) {
    let elapsed = START.get_or_init(Instant::now).elapsed().as_secs_f64();
    let line = format!("[ccci {elapsed:7.2}s pid {}] {}", std::process::id(), line.as_ref());
    eprintln!("{line}");
    if let Some(log) = RUN_LOG.get()
        && let Ok(mut file) = log.lock()
    {
        let _ = writeln!(file, "{line}");
    }
}

/// `progress!("deploying {stack}")`.
#[macro_export]
macro_rules! progress {
    ($($arg:tt)*) => { $crate::log::progress(format!($($arg)*)) };
}
