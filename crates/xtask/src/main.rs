//! `cargo xtask`: developer tasks of the Quittance workspace (see the library docs).

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Developer tasks of the Quittance workspace")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Compile contracts/ and write the artifacts and the sol! module list of the bindings crate.
    Bindings {
        /// Do not write: fail if the committed bindings differ from a fresh build.
        #[arg(long)]
        check: bool,
        /// Also check that forge's build output in this directory (e.g. `out`) holds the same bytecode,
        /// so forge scripts and the Rust bindings deploy identical code.
        #[arg(long, value_name = "DIR")]
        forge_out: Option<PathBuf>,
    },
}

fn main() -> eyre::Result<()> {
    match Cli::parse().task {
        Task::Bindings { check, forge_out } => {
            println!("{}", xtask::bindings(&xtask::workspace_root(), check, forge_out.as_deref())?);
        }
    }
    Ok(())
}
