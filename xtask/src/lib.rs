//! The library behind `cargo xtask`: everything the tasks do, so the CLI (`main.rs`) stays a
//! thin argument parser and the integration tests (`xtask/tests/`) can drive the same code.
//!
//! - [`testme`]: `cargo xtask testme <pr>`: a `!testme` from trigger check to PR report;
//! - [`select`] and [`affected`]: which recipe crates a change needs, and why;
//! - [`report`] and [`junit`]: per-test statuses, levels, results.json, the markdown summary;
//! - [`lint`]: `cargo xtask lint <recipe dir | recipe crate>`, the L5 rung;
//! - [`new_recipe`]: `cargo xtask new-recipe <name>`, a recipe suite scaffolded;
//! - [`coverage`] and [`results`]: where each recipe of the set stands on this machine, from
//!   the results `cargo xtask test` records;
//! - [`matrix`]: `.drone.yml`, generated and checked;
//! - [`gitea`], [`pr`], [`pr_checkout`], [`pr_lock`]: the pieces `testme` is made of;
//! - [`run_tests`]: `cargo xtask test <recipe>...`, the local main job;
//! - [`mutants`]: `cargo xtask mutants <recipe>`, the recipe's suite against broken copies of it.
//!
//! xtask links the harness but never a recipe crate: recipes are found through
//! `cargo metadata` ([`workspace`]) and run as cargo packages.

pub mod affected;
pub mod bench;
pub mod coverage;
pub mod gitea;
pub mod junit;
pub mod lint;
pub mod matrix;
pub mod mutants;
pub mod new_recipe;
pub mod pr;
pub mod pr_checkout;
pub mod pr_lock;
pub mod report;
pub mod results;
pub mod run_tests;
pub mod select;
pub mod testme;
pub mod workspace;

/// `cargo`, as the environment names it (cargo sets `CARGO` for everything it runs).
pub fn cargo_bin() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// A `cargo` command for a nested build or test run, without what `cargo run` set for the
/// xtask itself: build scripts that watch those variables (ring's watches `CARGO_PKG_NAME`
/// and `CARGO_MANIFEST_DIR`) would otherwise see them change between `cargo xtask` and the
/// suites it runs, and each would rebuild what the other built (about 30 s per run).
pub fn cargo() -> std::process::Command {
    let mut cmd = std::process::Command::new(cargo_bin());
    for key in run_only_vars(std::env::vars_os().map(|(k, _)| k.to_string_lossy().into_owned())) {
        cmd.env_remove(key);
    }
    cmd
}

/// Of the variable names given, those `cargo run` (or `cargo test`) sets for the program it
/// runs and that describe that program, not the build: `CARGO` and `CARGO_HOME`,
/// `CARGO_TARGET_DIR` and the like stay.
pub fn run_only_vars(keys: impl Iterator<Item = String>) -> Vec<String> {
    const EXACT: [&str; 7] =
        ["CARGO_MANIFEST_DIR", "CARGO_MANIFEST_PATH", "CARGO_CRATE_NAME", "CARGO_BIN_NAME", "CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "OUT_DIR"];
    keys.filter(|k| EXACT.contains(&k.as_str()) || k.starts_with("CARGO_PKG_") || k.starts_with("CARGO_BIN_EXE_")).collect()
}

/// Seconds since the epoch as an RFC 3339 UTC timestamp (`2024-05-01T12:00:00Z`).
pub fn rfc3339(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn nested_cargo_runs_without_what_cargo_set_for_the_xtask() {
        // `cargo test` sets these for this test binary, as `cargo run` does for the xtask.
        assert!(std::env::var_os("CARGO_PKG_NAME").is_some() && std::env::var_os("CARGO_MANIFEST_DIR").is_some());
        let cmd = super::cargo();
        let removed: Vec<String> = cmd.get_envs().filter(|(_, v)| v.is_none()).map(|(k, _)| k.to_string_lossy().into_owned()).collect();
        for key in ["CARGO_PKG_NAME", "CARGO_PKG_VERSION", "CARGO_MANIFEST_DIR", "CARGO_MANIFEST_PATH"] {
            assert!(removed.iter().any(|k| k == key), "{key} reaches the nested cargo: {removed:?}");
        }
        let kept = super::run_only_vars(["CARGO", "CARGO_HOME", "CARGO_TARGET_DIR", "CARGO_PKG_NAME", "PATH"].into_iter().map(String::from));
        assert_eq!(kept, ["CARGO_PKG_NAME"], "only what describes the running program goes");
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(1_714_564_800 + 3661), "2024-05-01T13:01:01Z");
    }
}
