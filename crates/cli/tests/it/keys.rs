use quittance_cli::keys::{KeyError, KeySource};

const KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const ADDRESS: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

#[test]
fn keys_load_from_files_with_surrounding_whitespace() -> eyre::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("key");
    std::fs::write(&path, format!("  {KEY}\n"))?;
    assert_eq!(KeySource::File(path).load()?.address().to_checksum(None), ADDRESS);
    Ok(())
}

#[test]
fn errors_name_the_source_and_never_the_key() -> eyre::Result<()> {
    let missing = KeySource::Env("QUITTANCE_TEST_KEY_THAT_IS_NOT_SET".into()).load().expect_err("not set");
    assert!(matches!(missing, KeyError::MissingEnv(_)));
    assert!(missing.to_string().contains("QUITTANCE_TEST_KEY_THAT_IS_NOT_SET"));

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("key");
    let almost = &KEY[..KEY.len() - 2];
    std::fs::write(&path, almost)?;
    let invalid = KeySource::File(path.clone()).load().expect_err("too short");
    assert!(matches!(invalid, KeyError::Invalid(_)));
    assert!(!invalid.to_string().contains(&almost[2..]), "{invalid}");
    assert!(invalid.to_string().contains(&path.display().to_string()));

    let absent = KeySource::File(dir.path().join("absent")).load().expect_err("no file");
    assert!(matches!(absent, KeyError::File { .. }));
    Ok(())
}
