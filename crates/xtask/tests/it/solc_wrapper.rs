use std::{
    io::Write,
    process::{Command, Output, Stdio},
};

fn solc(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(xtask::workspace_root().join("tools/solc"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the wrapper runs (node on PATH)");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn standard_json(source: &str) -> String {
    serde_json::json!({
        "language": "Solidity",
        "sources": { "A.sol": { "content": source } },
        "settings": { "outputSelection": { "*": { "*": ["abi", "evm.bytecode.object"] } } }
    })
    .to_string()
}

#[test]
fn version_ends_with_the_line_foundry_parses() {
    let output = solc(&["--version"], "");
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let last = stdout.lines().last().expect("a line");
    assert!(last.starts_with("Version: 0.8.37+commit."), "{stdout}");
}

#[test]
fn compiles_standard_json() {
    let input = standard_json(
        "// SPDX-License-Identifier: MIT\npragma solidity 0.8.37;\ncontract A { function f() external pure returns (uint256) { return 1; } }",
    );
    let output = solc(&["--standard-json"], &input);
    assert!(output.status.success());
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON out");
    let bytecode = json["contracts"]["A.sol"]["A"]["evm"]["bytecode"]["object"].as_str().expect("bytecode");
    assert!(!bytecode.is_empty());
}

#[test]
fn passes_compiler_errors_through_as_solc_error_objects() {
    let input = standard_json("pragma solidity 0.8.37;\ncontract A { function f() public { undeclared = 1; } }");
    let output = solc(&["--standard-json"], &input);
    assert!(output.status.success(), "compile errors are data, as with native solc");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON out");
    let errors = json["errors"].as_array().expect("errors");
    let error = errors.iter().find(|e| e["severity"] == "error").expect("an error object");
    assert_eq!(error["type"], "DeclarationError");
    assert_eq!(error["sourceLocation"]["file"], "A.sol");
    assert!(error["formattedMessage"].as_str().expect("message").contains("Undeclared identifier"));
}

#[test]
fn invalid_json_exits_non_zero_with_the_message() {
    let output = solc(&["--standard-json"], "{ not json");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not valid JSON"), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("an error object on stdout too");
    assert_eq!(json["errors"][0]["severity"], "error");
}

#[test]
fn imports_resolve_under_the_base_path_and_never_outside_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("lib")).expect("mkdir");
    std::fs::write(dir.path().join("lib/B.sol"), "pragma solidity 0.8.37;\ncontract B {}\n").expect("write");
    let base = dir.path().to_str().expect("utf-8 path");

    let input = standard_json("pragma solidity 0.8.37;\nimport \"lib/B.sol\";\ncontract A is B {}");
    let output = solc(&["--standard-json", "--base-path", base], &input);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON out");
    assert!(json["contracts"]["lib/B.sol"]["B"].is_object(), "{json}");

    let input = standard_json("pragma solidity 0.8.37;\nimport \"../../../../etc/passwd\";\ncontract A {}");
    let output = solc(&["--standard-json", "--base-path", base], &input);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON out");
    assert!(json["errors"].as_array().expect("errors").iter().any(|e| e["severity"] == "error"), "{json}");
}

#[test]
fn unknown_options_are_refused() {
    let output = solc(&["--bin", "A.sol"], "");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unsupported option --bin"));
}
