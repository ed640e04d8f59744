//! Tests of the toolchain pieces the whole workspace stands on: the solc-js wrapper, the bindings
//! pipeline and its staleness check, run against throw-away copies of the workspace.

mod bindings;
mod solc_wrapper;

use std::{
    fs,
    path::{Path, PathBuf},
};

/// A copy of the parts of the workspace the Solidity build reads, with `node_modules` linked in.
pub(crate) struct Scratch {
    _dir: tempfile::TempDir,
    pub(crate) root: PathBuf,
}

impl Scratch {
    pub(crate) fn new() -> Self {
        let real = xtask::workspace_root();
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().to_path_buf();
        for entry in ["contracts", "tools", "crates/bindings/artifacts", "crates/bindings/src"] {
            copy_dir(&real.join(entry), &root.join(entry));
        }
        for file in ["foundry.toml", "remappings.txt"] {
            fs::copy(real.join(file), root.join(file)).expect("copy config");
        }
        std::os::unix::fs::symlink(real.join("node_modules"), root.join("node_modules")).expect("link node_modules");
        Self { _dir: dir, root }
    }

    pub(crate) fn write(&self, relative: &str, text: &str) {
        let path = self.root.join(relative);
        fs::create_dir_all(path.parent().expect("a file has a parent")).expect("mkdir");
        fs::write(path, text).expect("write");
    }

    pub(crate) fn read(&self, relative: &str) -> String {
        fs::read_to_string(self.root.join(relative)).expect("read")
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}
