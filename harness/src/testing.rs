//! Support for the harness's own fault-injection tests (feature `fault-injection`, enabled
//! only by the harness's own dev-dependency on itself) (`harness/tests/`): the
//! `fault-child` process role, which deploys a fixture and then misbehaves on cue.
//!
//! `CCCI_FAULT_FIXTURE_DIR` is the fixture directory to deploy (its head). `CCCI_FAULT_STAGE` says
//! what happens after the deploy converges: `hold` prints `CCCI-FAULT ready <stack>` and
//! waits on stdin until killed; `panic` panics. The parent kills it with SIGKILL mid-deploy
//! (as soon as a labelled service exists) or mid-test (after `ready`).

use std::io::{BufRead as _, Write as _};

use crate::{
    checkout::{RecipeSource, Rev},
    config::RunConfig,
    deploy::{Deployment, spec::AppSpec},
    run::Run,
};

/// The fault-child role's body; returns the exit code (a panic exits 101 as usual).
pub(crate) fn fault_child() -> i32 {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let (stage, dir) = crate::config::fault_child_env();
    let Some(dir) = dir else {
        eprintln!("fault-child: CCCI_FAULT_FIXTURE_DIR is not set");
        return 2;
    };
    let fixture = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "fixture".into());
    let result: anyhow::Result<()> = runtime.block_on(async {
        let config = RunConfig::from_env()?;
        let source = RecipeSource::fixture_dir(&config, &dir, &fixture).await?;
        let platform = crate::testbed::platform(&config);
        let run = Run::start(config, platform).await?;
        println!("CCCI-FAULT deploying");
        let d = Deployment::deploy(&run, AppSpec::new(&fixture, source, Rev::Head, "fault")).await?;
        println!("CCCI-FAULT ready {}", d.stack());
        std::io::stdout().flush()?;
        match stage.as_str() {
            "panic" => panic!("fault-child: panicking with {} deployed", d.stack()),
            _ => {
                // Blocks until the parent kills us (or closes stdin).
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                d.teardown().await?;
            }
        }
        Ok(())
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("fault-child: {e:#}");
            1
        }
    }
}
