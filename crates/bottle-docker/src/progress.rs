//! Progress reports for long work (bootstrap, image builds, launches). The
//! library reports; the binary decides how to show it.

/// One progress report.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// A phase starts (`building bottle/egress:1a2b3c`).
    Phase(&'a str),
    /// A line of a tool's output (a build step, an mmdebstrap line).
    Line(&'a str),
    /// Bytes of a transfer so far.
    Bytes {
        /// What is being transferred.
        what: &'a str,
        /// Bytes done.
        done: u64,
        /// Bytes in all.
        total: u64,
    },
}

/// Where progress goes.
pub type ProgressFn<'a> = &'a (dyn Fn(Progress<'_>) + Send + Sync);

/// A sink that drops everything.
pub fn quiet(_: Progress<'_>) {}
