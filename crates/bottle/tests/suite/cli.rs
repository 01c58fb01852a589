//! Running the real `bottle` binary in a scratch directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test.
pub fn bottle_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bottle"))
}

/// A scratch project directory with an empty user config directory, so the
/// developer's own manifests never leak into a test.
pub struct Scratch {
    pub dir: tempfile::TempDir,
    pub user: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            user: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bottle_bin());
        c.args(args)
            .current_dir(self.dir.path())
            .env("BOTTLE_CONFIG_DIR", self.user.path())
            .env_remove("BOTTLE_DEFAULT_ALLOWLIST");
        c
    }

    /// Run and return the output, printing it between rulers on failure of
    /// the expected exit code.
    #[track_caller]
    pub fn run(&self, args: &[&str], expect_code: i32) -> Output {
        let out = self.cmd(args).output().unwrap();
        if out.status.code() != Some(expect_code) {
            panic!(
                "bottle {args:?}: expected exit {expect_code}, got {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}\n---",
                out.status.code(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        out
    }

    #[track_caller]
    pub fn stdout(&self, args: &[&str]) -> String {
        String::from_utf8(self.run(args, 0).stdout).unwrap()
    }
}
