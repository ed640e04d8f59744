//! `quittance simulate` as a user runs it: a scenario file, overrides, a JSON report, a refused scenario.

use std::process::Command;

#[test]
fn simulate_runs_a_scenario_file_and_reports_a_reconciled_run() -> eyre::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("scenario.toml");
    std::fs::write(&file, "seed = 5\nagents = 3\nendpoints = 2\njob_permille = 200\n")?;
    let output = Command::new(env!("CARGO_BIN_EXE_quittance"))
        .args(["simulate", "--scenario"])
        .arg(&file)
        .args(["--steps", "30", "--json"])
        .output()?;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(report["scenario"]["seed"], 5, "from the file");
    assert_eq!(report["scenario"]["steps"], 30, "from the command line");
    assert_eq!(report["outcome"]["mismatches"], serde_json::json!([]));
    assert_eq!(report["outcome"]["parties"].as_array().map(Vec::len), Some(3 + 2 + 4));
    let requests = report["outcome"]["requests"].as_u64().unwrap_or_default();
    let jobs = report["outcome"]["jobs"]["authorized"].as_u64().unwrap_or_default();
    assert!(requests > 0 && jobs > 0, "{report:#}");
    Ok(())
}

#[test]
fn simulate_refuses_a_scenario_it_cannot_run() -> eyre::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("scenario.toml");
    std::fs::write(&file, "agents = 2\nmax_price = 0\n")?;
    let output = Command::new(env!("CARGO_BIN_EXE_quittance")).args(["simulate", "--scenario"]).arg(&file).output()?;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("0 < min_price <= max_price"));
    std::fs::write(&file, "agnets = 2\n")?;
    let output = Command::new(env!("CARGO_BIN_EXE_quittance")).args(["simulate", "--scenario"]).arg(&file).output()?;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown field `agnets`"));
    Ok(())
}
