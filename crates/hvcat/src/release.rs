//! What a release ships besides the binaries, made from the clap definitions themselves:
//! the `--version` text (version and commit) and, through the hidden first argument
//! [`GENERATE_DOCS`], the man page and the bash, zsh and fish completions of a tool.
//!
//! ```text
//! hvcat --generate-docs DIR   # DIR/hvcat.1, DIR/hvcat.bash, DIR/_hvcat, DIR/hvcat.fish
//! ```
//!
//! `cargo xtask dist` runs this for each tool and puts the files in the archives.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

/// The hidden first argument that writes the man page and completions to a directory.
/// It is not a clap option, so it appears in no help, man page or completion.
pub const GENERATE_DOCS: &str = "--generate-docs";

/// `--version`: the package version and the commit it was built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("HVTOOLS_COMMIT"), ")");

/// The tool's command as clap builds it, with [`VERSION`].
pub fn command<C: CommandFactory>() -> clap::Command {
    C::command().version(VERSION).long_version(VERSION)
}

/// The files [`generate`] writes for `tool`: the man page, then the bash, zsh and fish
/// completions, each under the name its shell looks for.
pub fn file_names(tool: &str) -> [String; 4] {
    [format!("{tool}.1"), format!("{tool}.bash"), format!("_{tool}"), format!("{tool}.fish")]
}

/// Writes the man page and the completions of `C` to `dir` (created if need be) and
/// returns their paths, in the order of [`file_names`].
pub fn generate<C: CommandFactory>(dir: &Path) -> io::Result<Vec<PathBuf>> {
    fs::create_dir_all(dir)?;
    let mut command = command::<C>();
    command.build();
    let tool = command.get_name().to_string();
    let [man, bash, zsh, fish] = file_names(&tool).map(|name| dir.join(name));
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone()).render(&mut page)?;
    write(&man, &page)?;
    for (shell, path) in [(Shell::Bash, &bash), (Shell::Zsh, &zsh), (Shell::Fish, &fish)] {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut command, &tool, &mut script);
        write(path, &script)?;
    }
    Ok(vec![man, bash, zsh, fish])
}

fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file =
        File::create(path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    file.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    #[command(name = "demo")]
    struct Demo {
        /// Say more
        #[arg(short, long)]
        verbose: bool,
    }

    #[test]
    fn writes_a_man_page_and_three_completions() {
        let dir = tempfile::tempdir().unwrap();
        let paths = generate::<Demo>(dir.path()).unwrap();
        let names: Vec<_> = paths.iter().map(|p| p.file_name().unwrap().to_str().unwrap()).collect();
        assert_eq!(names, ["demo.1", "demo.bash", "_demo", "demo.fish"]);
        let man = fs::read_to_string(&paths[0]).unwrap();
        assert!(man.contains(".TH demo 1") && man.contains("Say more"), "{man}");
        assert!(man.contains(VERSION), "the man page names the version: {man}");
        assert!(fs::read_to_string(&paths[1]).unwrap().contains("--verbose"));
        assert!(fs::read_to_string(&paths[2]).unwrap().starts_with("#compdef demo"));
        assert!(fs::read_to_string(&paths[3]).unwrap().contains("complete -c demo"));
    }

    #[test]
    fn version_names_the_commit() {
        assert!(VERSION.starts_with(env!("CARGO_PKG_VERSION")));
        let commit = VERSION.split("(commit ").nth(1).unwrap().trim_end_matches(')');
        assert!(commit == "unknown" || (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())));
    }
}
