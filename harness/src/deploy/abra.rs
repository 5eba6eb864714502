//! The abra driver: the exact `abra` command lines a cc-ci host runs, and running them.
//!
//! Flags follow reference/coopcloud.md (sources in brackets there): `app new <recipe>
//! --server --domain -C -n`, `app secret generate <domain> --all -m`, `app deploy <domain>
//! [version] -C -n -D -c`, `app upgrade <domain> <version> -n`, `app undeploy <domain> -n`,
//! `app remove <domain> -n`, `app backup create <domain>`, `app restore <domain>`,
//! `app run <domain> <service> -- <cmd>`. backup/restore need a terminal, so they run under
//! `script -qefc` (a PTY). Every call runs with a per-run `ABRA_DIR`, so concurrent runs never
//! share a recipe checkout (abra moves checkouts to release tags).
//!
//! **Experimental.** abra could not be built here (the Go module proxy refuses
//! `coopcloud.tech/abra` with 403), so only the command lines are tested, and only deploy is
//! dispatched through abra: upgrade, undeploy, wipe, backup and restore go through the same
//! Swarm operations as the stack driver. The supported driver, on the testbed and on a cc-ci
//! host, is the stack driver (ARCHITECTURE.md, "Drivers").

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use crate::{
    checkout::Rev,
    config::RunConfig,
    envfile::EnvFile,
    error::{HarnessError, Result},
    progress,
    run::Run,
    secret::Secret,
};

/// One app as abra sees it, for [`Abra::deploy_app`].
pub(super) struct AbraApp<'a> {
    pub run: &'a Run,
    pub domain: &'a str,
    pub recipe: &'a str,
    pub repo: &'a Path,
    pub env: &'a EnvFile,
    pub secrets: &'a BTreeMap<String, Secret>,
}

/// The abra CLI with a per-run `ABRA_DIR`.
#[derive(Debug, Clone)]
pub struct Abra {
    pub bin: PathBuf,
    pub server: String,
    pub abra_dir: PathBuf,
}

/// One abra invocation: program, arguments, and whether it needs a PTY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbraCmd {
    pub args: Vec<String>,
    pub tty: bool,
}

impl AbraCmd {
    fn new(args: &[&str]) -> AbraCmd {
        AbraCmd { args: args.iter().map(|s| s.to_string()).collect(), tty: false }
    }

    fn tty(mut self) -> AbraCmd {
        self.tty = true;
        self
    }

    /// The argv to exec: `abra ...`, or `script -qefc '<abra ...>' /dev/null` for a PTY.
    pub fn argv(&self, bin: &Path) -> Vec<String> {
        let mut plain = vec![bin.display().to_string()];
        plain.extend(self.args.iter().cloned());
        if !self.tty {
            return plain;
        }
        let line = plain.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" ");
        vec!["script".into(), "-qefc".into(), line, "/dev/null".into()]
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.,:/+=@".contains(&b)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

impl Abra {
    pub fn new(config: &RunConfig, run_dir: &Path) -> Abra {
        Abra { bin: config.abra_bin.clone(), server: config.abra_server.clone(), abra_dir: run_dir.join("abra") }
    }

    pub fn app_new(&self, recipe: &str, domain: &str, chaos: bool) -> AbraCmd {
        let mut cmd = AbraCmd::new(&["app", "new", recipe, "--server", &self.server, "--domain", domain, "-n"]);
        if chaos {
            cmd.args.push("-C".into());
        }
        cmd
    }

    /// `-m` prints machine-readable output so generated values are not shown as a table.
    pub fn secret_generate_all(&self, domain: &str) -> AbraCmd {
        AbraCmd::new(&["app", "secret", "generate", domain, "--all", "-m", "-n"])
    }

    /// Inserts a value from a file (`-f`), so it never appears in a process list.
    pub fn secret_insert_file(&self, domain: &str, name: &str, version: &str, file: &Path) -> AbraCmd {
        AbraCmd::new(&["app", "secret", "insert", domain, name, version, &file.display().to_string(), "-f", "-n"])
    }

    /// `-c` (no converge checks): the harness waits for convergence itself, with diagnostics.
    pub fn deploy(&self, domain: &str, rev: &Rev) -> AbraCmd {
        let mut cmd = AbraCmd::new(&["app", "deploy", domain]);
        match rev {
            Rev::Release(version) => cmd.args.push(version.clone()),
            Rev::Head => cmd.args.push("-C".into()),
        }
        cmd.args.extend(["-n", "-D", "-c"].map(String::from));
        cmd
    }

    pub fn upgrade(&self, domain: &str, version: &str) -> AbraCmd {
        AbraCmd::new(&["app", "upgrade", domain, version, "-n", "-D", "-c"])
    }

    pub fn undeploy(&self, domain: &str) -> AbraCmd {
        AbraCmd::new(&["app", "undeploy", domain, "-n"])
    }

    pub fn remove(&self, domain: &str) -> AbraCmd {
        AbraCmd::new(&["app", "remove", domain, "-n"])
    }

    pub fn backup_create(&self, domain: &str) -> AbraCmd {
        AbraCmd::new(&["app", "backup", "create", domain, "-n"]).tty()
    }

    pub fn restore(&self, domain: &str) -> AbraCmd {
        AbraCmd::new(&["app", "restore", domain, "-n"]).tty()
    }

    pub fn run(&self, domain: &str, service: &str, cmd: &[&str]) -> AbraCmd {
        let mut argv = vec!["app", "run", domain, service, "-t", "--"];
        argv.extend_from_slice(cmd);
        AbraCmd::new(&argv)
    }

    /// `~/.abra/servers/<server>/<domain>.env` inside this run's ABRA_DIR.
    pub fn env_path(&self, domain: &str) -> PathBuf {
        self.abra_dir.join("servers").join(&self.server).join(format!("{domain}.env"))
    }

    /// Runs one abra command; output goes to the run log, never values (`-m` on secrets).
    pub async fn exec(&self, cmd: &AbraCmd) -> Result<String> {
        let argv = cmd.argv(&self.bin);
        progress!("abra: {}", cmd.args.join(" "));
        let out = tokio::process::Command::new(&argv[0])
            .args(&argv[1..])
            .env("ABRA_DIR", &self.abra_dir)
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| HarnessError::infra(format!("running {}", argv[0]), e))?;
        if !out.status.success() {
            return Err(HarnessError::deploy(
                format!("abra {}", cmd.args.iter().take(3).cloned().collect::<Vec<_>>().join(" ")),
                anyhow::format_err!("exit {}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()),
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// New app (first deploy only), env written, secrets generated, deploy.
    pub(super) async fn deploy_app(&self, app: AbraApp<'_>, rev: &Rev) -> Result<()> {
        let domain = app.domain.to_owned();
        let recipe = app.recipe.to_owned();
        let recipes = self.abra_dir.join("recipes").join(&recipe);
        if !recipes.exists() {
            std::fs::create_dir_all(self.abra_dir.join("recipes")).map_err(|e| HarnessError::infra("creating ABRA_DIR", e))?;
            // abra wants a git checkout of the recipe under $ABRA_DIR/recipes/<name>.
            let status = std::process::Command::new("git")
                .args(["clone", "-q"])
                .arg(app.repo)
                .arg(&recipes)
                .status()
                .map_err(|e| HarnessError::infra("cloning the recipe into ABRA_DIR", e))?;
            if !status.success() {
                return Err(HarnessError::infra("cloning the recipe into ABRA_DIR", anyhow::format_err!("git clone exited {status}")));
            }
        }
        let env_path = self.env_path(&domain);
        if !env_path.exists() {
            app.run.record("abra-env", &env_path.display().to_string())?;
            self.exec(&self.app_new(&recipe, &domain, *rev == Rev::Head)).await?;
            for decl in app.env.secrets() {
                let Some(value) = app.secrets.get(&decl.name) else { continue };
                let file = self.abra_dir.join(format!(".insert-{}", decl.name));
                write_private(&file, value.expose())?;
                let inserted = self.exec(&self.secret_insert_file(&domain, &decl.name, &decl.version, &file)).await;
                let _ = std::fs::remove_file(&file);
                inserted?;
            }
            self.exec(&self.secret_generate_all(&domain)).await?;
        }
        std::fs::write(&env_path, app.env.render()).map_err(|e| HarnessError::infra("writing the app .env", e))?;
        self.exec(&self.deploy(&domain, rev)).await?;
        Ok(())
    }

    /// Drops the app's env file after teardown (the stack and volumes are gone by then).
    pub fn forget(&self, domain: &str) {
        let _ = std::fs::remove_file(self.env_path(domain));
    }
}

fn write_private(path: &Path, value: &str) -> Result<()> {
    use std::{io::Write as _, os::unix::fs::OpenOptionsExt as _};
    let mut file = std::fs::File::options()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| HarnessError::infra("writing a secret for abra", e))?;
    file.write_all(value.as_bytes()).map_err(|e| HarnessError::infra("writing a secret for abra", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn abra() -> Abra {
        Abra { bin: "/usr/local/bin/abra".into(), server: "default".into(), abra_dir: "/tmp/run/abra".into() }
    }

    #[test]
    fn lifecycle_commands_are_non_interactive_and_skip_abra_convergence() {
        let a = abra();
        let d = "web-site-sha-a1b2c3.ccci.test";
        assert_eq!(a.app_new("web-site", d, true).args, ["app", "new", "web-site", "--server", "default", "--domain", d, "-n", "-C"]);
        assert_eq!(a.secret_generate_all(d).args, ["app", "secret", "generate", d, "--all", "-m", "-n"]);
        assert_eq!(a.deploy(d, &Rev::Head).args, ["app", "deploy", d, "-C", "-n", "-D", "-c"]);
        assert_eq!(a.deploy(d, &Rev::Release("1.0.0+1.22.1".into())).args, ["app", "deploy", d, "1.0.0+1.22.1", "-n", "-D", "-c"]);
        assert_eq!(a.upgrade(d, "1.1.0+1.22.1").args, ["app", "upgrade", d, "1.1.0+1.22.1", "-n", "-D", "-c"]);
        assert_eq!(a.undeploy(d).args, ["app", "undeploy", d, "-n"]);
        assert_eq!(a.remove(d).args, ["app", "remove", d, "-n"]);
        assert_eq!(a.run(d, "app", &["cat", "/etc/os-release"]).args, ["app", "run", d, "app", "-t", "--", "cat", "/etc/os-release"]);
        assert_eq!(
            a.secret_insert_file(d, "oidc_client_secret", "v1", Path::new("/tmp/run/abra/.insert")).args,
            ["app", "secret", "insert", d, "oidc_client_secret", "v1", "/tmp/run/abra/.insert", "-f", "-n"]
        );
        assert_eq!(a.env_path(d), PathBuf::from(format!("/tmp/run/abra/servers/default/{d}.env")));
    }

    #[test]
    fn backup_and_restore_run_under_a_pty() {
        let a = abra();
        let argv = a.backup_create("x.ccci.test").argv(&a.bin);
        assert_eq!(argv, ["script", "-qefc", "/usr/local/bin/abra app backup create x.ccci.test -n", "/dev/null"]);
        let argv = a.restore("x.ccci.test").argv(&a.bin);
        assert_eq!(argv[..2], ["script", "-qefc"]);
        assert!(argv[2].ends_with("app restore x.ccci.test -n"));
        assert!(!a.deploy("x", &Rev::Head).tty, "deploy does not need a terminal");
    }

    #[test]
    fn pty_command_lines_quote_what_the_shell_would_split() {
        let cmd = AbraCmd { args: vec!["app".into(), "run".into(), "it's here".into()], tty: true };
        assert_eq!(cmd.argv(Path::new("abra"))[2], "abra app run 'it'\\''s here'");
    }
}
