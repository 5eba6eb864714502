//! Bounded polling: the only place in the project that sleeps.
//!
//! Every wait (a stack converging, an app answering, a lock, a slot, a removal) is a probe
//! polled at a fixed interval until it succeeds, fails for good, or a deadline passes; the
//! timeout error carries the last state the probe reported. The tidy test
//! (`xtask/tests/tidy.rs`) fails on a `sleep` anywhere else, so "wait a bit and hope" cannot
//! creep into a suite.

use std::{
    future::Future,
    time::{Duration, Instant},
};

use crate::error::{HarnessError, Result};

/// Seconds since the epoch.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Milliseconds since the epoch.
pub(crate) fn now_unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A suite's own deadline (a page to render, a login to answer) stretched by
/// `CCCI_TIMEOUT_SCALE` as the harness's are: a loaded host (CI building images while suites
/// run) slows the app and the browser, not only deployments.
pub fn scaled(d: Duration) -> Duration {
    d.mul_f64(crate::config::timeout_scale())
}

/// One look at what is being waited for.
#[derive(Debug)]
pub(crate) enum Step<T> {
    /// It is there: stop polling.
    Done(T),
    /// Not yet; the text is what was seen (the timeout error carries the last one).
    Pending(String),
    /// It will never come (a crash loop, a refused request): stop polling now.
    Fail(HarnessError),
}

/// Polls `probe` every `every` until it is done or fails, at most `timeout`.
pub(crate) async fn poll<T, F, Fut>(what: &str, timeout: Duration, every: Duration, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Step<T>>,
{
    let start = Instant::now();
    loop {
        match probe().await {
            Step::Done(value) => return Ok(value),
            Step::Fail(e) => return Err(e),
            Step::Pending(last) if start.elapsed() >= timeout => {
                return Err(HarnessError::Timeout { what: what.to_owned(), waited: start.elapsed(), last });
            }
            Step::Pending(_) => tokio::time::sleep(every).await,
        }
    }
}

/// Polls `probe` until it yields a value, at most `timeout`, noticing within `every`.
/// `probe` returns `Err(state)` to say "not yet, and this is what I saw".
pub async fn converge<T, F, Fut>(what: &str, timeout: Duration, every: Duration, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, String>>,
{
    poll(what, timeout, every, || {
        let fut = probe();
        async move {
            match fut.await {
                Ok(value) => Step::Done(value),
                Err(state) => Step::Pending(state),
            }
        }
    })
    .await
}

/// [`converge`] for code that runs outside an async runtime (process roles before `main`).
pub(crate) fn converge_blocking<T>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut probe: impl FnMut() -> std::result::Result<T, String>,
) -> Result<T> {
    let start = Instant::now();
    loop {
        match probe() {
            Ok(value) => return Ok(value),
            Err(last) if start.elapsed() >= timeout => {
                return Err(HarnessError::Timeout { what: what.to_owned(), waited: start.elapsed(), last });
            }
            Err(_) => std::thread::sleep(every), // poll step, bounded by `timeout` above
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn converge_returns_the_first_success() {
        let calls = AtomicU32::new(0);
        let value = converge("counter", Duration::from_secs(5), Duration::from_millis(1), || async {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            if n >= 3 { Ok(n) } else { Err(format!("n={n}")) }
        })
        .await
        .unwrap();
        assert_eq!(value, 3);
    }

    #[tokio::test]
    async fn converge_timeouts_carry_the_last_state() {
        let err = converge::<(), _, _>("never", Duration::from_millis(30), Duration::from_millis(5), || async {
            Err("still 502".to_owned())
        })
        .await
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("never") && text.contains("last seen: still 502"), "{text}");
    }

    #[tokio::test]
    async fn a_failing_step_stops_the_poll_at_once() {
        let start = Instant::now();
        let err = poll::<(), _, _>("doomed", Duration::from_secs(30), Duration::from_millis(5), || async {
            Step::Fail(HarnessError::Config("crash loop".into()))
        })
        .await
        .unwrap_err();
        assert!(err.to_string().contains("crash loop"));
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn blocking_convergence_gives_up_with_the_last_state() {
        let err = converge_blocking::<()>("lock", Duration::from_millis(20), Duration::from_millis(2), || Err("held".into())).unwrap_err();
        assert!(err.to_string().contains("last seen: held"), "{err}");
    }
}
