//! The git gate's pre-receive hook as a standalone program: the same code
//! `bottle git-gate hook` runs. The gate's own tests use it through the
//! config's `hook_command`, so they need no `bottle` binary.

fn main() -> std::process::ExitCode {
    bottle_gitgate::hook_main()
}
