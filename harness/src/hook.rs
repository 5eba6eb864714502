//! Code that runs before `main` in every binary that links the harness (each recipe's test
//! binary, the harness's own tests, xtask).
//!
//! libtest owns `main` in test binaries, so process roles are chosen here, from the
//! environment, before libtest starts:
//! - `CCCI_ROLE=watcher`: the run watcher ([`crate::teardown::watch`]), a detached copy of
//!   the test binary that outlives test processes and tears the run down when it ends;
//! - `CCCI_ROLE=fault-child`: a process the fault-injection tests deploy with and then kill
//!   ([`crate::testing::fault_child`]).
//!
//! It also starts the API bridge for testcontainers when the engine is older ([`crate::bridge`]).

use crate::config::{self, BRIDGE_VAR, RunConfig};

// `.init_array` entries run before `main`, single-threaded: the one place where setting an
// environment variable for the whole process is sound.
#[used]
#[unsafe(link_section = ".init_array")]
static INIT: extern "C" fn() = init;

extern "C" fn init() {
    start_bridge_if_needed();
    let Some(role) = config::role() else { return };
    // A panic must not unwind out of this `extern "C"` function (that aborts): report it as
    // the usual panic exit code instead.
    let code = std::panic::catch_unwind(|| run_role(&role)).unwrap_or(101);
    std::process::exit(code);
}

fn run_role(role: &str) -> i32 {
    match role {
        "watcher" => match RunConfig::from_env() {
            Ok(config) => {
                let platform = crate::testbed::platform(&config);
                crate::teardown::watch(config, platform)
            }
            Err(e) => {
                eprintln!("watcher: {e}");
                2
            }
        },
        #[cfg(feature = "fault-injection")]
        "fault-child" => crate::testing::fault_child(),
        other => {
            eprintln!("unknown {}={other}", config::ROLE_VAR);
            2
        }
    }
}

fn start_bridge_if_needed() {
    // A pid-named socket per process; sweep those of processes that are gone.
    if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("ccci-docker-bridge-").and_then(|n| n.strip_suffix(".sock"))
                && pid.parse::<u32>().is_ok_and(|pid| crate::proc::start_time(pid).is_none())
            {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    let Some((path, engine_version)) = crate::bridge::needed() else { return };
    if crate::bridge::start(&path, crate::bridge::ENGINE_SOCKET.into(), engine_version).is_ok() {
        // SAFETY: before `main`, no other thread reads the environment (the bridge thread
        // never touches it).
        unsafe {
            std::env::set_var("DOCKER_HOST", format!("unix://{}", path.display()));
            std::env::set_var(BRIDGE_VAR, "1");
        }
    }
}

/// Keeps the `.init_array` entry linked into every binary that uses the harness.
pub(crate) fn anchor() {
    std::hint::black_box(&INIT);
}
