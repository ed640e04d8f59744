use crate::Scratch;
use std::{path::Path, process::Command};

const TOKEN: &str = "contracts/tokens/TestStablecoin.sol";
const TOKEN_ARTIFACT: &str = "crates/bindings/artifacts/TestStablecoin.json";

fn added_function(source: &str) -> String {
    let end = source.rfind('}').expect("the contract ends with a brace");
    format!(
        "{}\n    function addedLater() external pure returns (uint256) {{\n        return 42;\n    }}\n}}\n",
        &source[..end]
    )
}

#[test]
fn changed_contract_makes_check_fail_until_regenerated() {
    let scratch = Scratch::new();
    xtask::bindings(&scratch.root, true, None).expect("the committed bindings are fresh");

    scratch.write(TOKEN, &added_function(&scratch.read(TOKEN)));
    let err = xtask::bindings(&scratch.root, true, None).expect_err("a changed contract makes the bindings stale");
    let message = format!("{err:#}");
    assert!(message.contains(TOKEN_ARTIFACT), "names the stale file: {message}");
    assert!(message.contains(xtask::REGENERATE), "names the command that regenerates: {message}");

    xtask::bindings(&scratch.root, false, None).expect("regenerating succeeds");
    assert!(scratch.read(TOKEN_ARTIFACT).contains("addedLater"));
    xtask::bindings(&scratch.root, true, None).expect("fresh after regenerating");
}

#[test]
fn removed_contract_leaves_a_stale_artifact_that_check_reports_and_regeneration_deletes() {
    let scratch = Scratch::new();
    scratch.write(
        "contracts/Extra.sol",
        "// SPDX-License-Identifier: MIT\npragma solidity 0.8.37;\ncontract Extra { function f() external {} }\n",
    );
    xtask::bindings(&scratch.root, false, None).expect("regenerating succeeds");
    assert!(scratch.read("crates/bindings/src/generated.rs").contains("Extra,"));

    std::fs::remove_file(scratch.root.join("contracts/Extra.sol")).expect("remove");
    let message = format!("{:#}", xtask::bindings(&scratch.root, true, None).expect_err("stale"));
    assert!(message.contains("Extra.json belongs to no contract"), "{message}");

    xtask::bindings(&scratch.root, false, None).expect("regenerating succeeds");
    assert!(!scratch.root.join("crates/bindings/artifacts/Extra.json").exists());
    xtask::bindings(&scratch.root, true, None).expect("fresh after regenerating");
}

#[test]
fn broken_solidity_fails_the_bindings_build_with_the_compiler_message() {
    let scratch = Scratch::new();
    scratch.write(
        "contracts/Broken.sol",
        "// SPDX-License-Identifier: MIT\npragma solidity 0.8.37;\ncontract Broken { function f( }\n",
    );
    let message = format!("{:#}", xtask::bindings(&scratch.root, false, None).expect_err("must not compile"));
    assert!(message.contains("Expected type name"), "{message}");
    assert!(message.contains("contracts/Broken.sol:3"), "{message}");
}

#[test]
fn broken_solidity_fails_forge_build() {
    let scratch = Scratch::new();
    scratch.write(
        "contracts/Broken.sol",
        "// SPDX-License-Identifier: MIT\npragma solidity 0.8.37;\ncontract Broken { uint256 x = ; }\n",
    );
    let forge = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/bin/forge");
    let output = Command::new(forge).arg("build").current_dir(&scratch.root).output().expect("forge runs");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(!output.status.success(), "forge build must fail on broken Solidity:\n{text}");
    assert!(text.contains("contracts/Broken.sol:3"), "forge shows the compiler's message:\n{text}");
}
