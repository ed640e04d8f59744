#![doc = include_str!("../README.md")]

use alloy::{primitives::B256, signers::local::PrivateKeySigner};
use serde_json::Value;
use std::{path::PathBuf, process::Stdio, time::Duration};
use tokio::{
    io::{AsyncBufReadExt, BufReader, Lines},
    process::{Child, ChildStdout, Command},
};

/// How long a node script may take to report a line, or to finish.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(90);

/// The repository's root, where `interop/` and `node_modules/` are.
pub fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A private key as the scripts read it (0x-prefixed hex).
pub fn key_hex(key: &PrivateKeySigner) -> String {
    B256::from(key.to_bytes()).to_string()
}

/// A node script of `interop/`, killed when dropped. It reports lines of JSON on stdout; its stderr goes to
/// a file, shown when it fails or does not report.
#[derive(Debug)]
pub struct Script {
    name: String,
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl Script {
    /// Starts `interop/<name>` with `env`.
    pub fn start(name: &str, env: &[(&str, String)]) -> eyre::Result<Self> {
        let dir = tempfile::tempdir()?;
        let stderr = dir.path().join("stderr");
        let mut command = Command::new("node");
        command
            .arg(repository().join("interop").join(name))
            .current_dir(repository())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr)?)
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().map_err(|e| eyre::eyre!("cannot run node: {e}"))?;
        let stdout = BufReader::new(child.stdout.take().ok_or_else(|| eyre::eyre!("no stdout"))?).lines();
        Ok(Self { name: name.into(), child, stdout, stderr, _dir: dir })
    }

    /// The next line of JSON the script reports.
    pub async fn report(&mut self) -> eyre::Result<Value> {
        match tokio::time::timeout(SCRIPT_TIMEOUT, self.stdout.next_line()).await {
            Ok(Ok(Some(line))) => Ok(serde_json::from_str(&line)?),
            outcome => {
                let _ = self.child.start_kill();
                Err(eyre::eyre!("{} did not report ({outcome:?}); its stderr:\n{}", self.name, self.stderr()))
            }
        }
    }

    /// Waits for the script to end successfully and returns every line of JSON it reported (after those
    /// already read with [`Script::report`]).
    pub async fn finish(mut self) -> eyre::Result<Vec<Value>> {
        let mut reports = Vec::new();
        let lines = async {
            while let Some(line) = self.stdout.next_line().await? {
                reports.push(serde_json::from_str(&line)?);
            }
            eyre::Ok(self.child.wait().await?)
        };
        match tokio::time::timeout(SCRIPT_TIMEOUT, lines).await {
            Ok(Ok(status)) if status.success() => Ok(reports),
            outcome => Err(eyre::eyre!("{} failed ({outcome:?}); its stderr:\n{}", self.name, self.stderr())),
        }
    }

    /// Runs a script that reports one line of JSON and returns it (the script is stopped after).
    pub async fn run(name: &str, env: &[(&str, String)]) -> eyre::Result<Value> {
        Self::start(name, env)?.report().await
    }

    /// Runs a script to its end and returns every line of JSON it reported.
    pub async fn run_all(name: &str, env: &[(&str, String)]) -> eyre::Result<Vec<Value>> {
        Self::start(name, env)?.finish().await
    }

    /// Starts a service script and returns it with the port it reports first (`{"port": …}`).
    pub async fn serve(name: &str, env: &[(&str, String)]) -> eyre::Result<(Self, u16)> {
        let mut script = Self::start(name, env)?;
        let ready = script.report().await?;
        let port = ready["port"].as_u64().ok_or_else(|| eyre::eyre!("{name} reported {ready}"))?;
        Ok((script, u16::try_from(port)?))
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}
