//! `bottle scan`: scan files, stdin or git history for secrets.
//!
//! Exit codes: 0 clean, 1 findings, 2 error (including files that could not
//! be read when nothing was found: a partial scan is not a clean one).

use anyhow::Context as _;
use bottle_secrets::report::{Baseline, Format, render};
use bottle_secrets::walk::{WalkOptions, scan_path};
use bottle_secrets::{Finding, Scanner};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Output format of `bottle scan`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum OutputFormat {
    /// One block per finding.
    Text,
    /// Stable JSON (`{"version": 1, "findings": [...]}`).
    Json,
    /// SARIF 2.1.0.
    Sarif,
}

/// Scan files, stdin or git history for secrets.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// File or directory to scan, or `-` for stdin (default: `.`). With
    /// `--git`, the repository.
    pub path: Option<PathBuf>,
    /// Scan git history instead of files: the added lines and messages of
    /// the commits in RANGE (`git log` syntax, e.g. `main..HEAD`; words
    /// separated by spaces are separate arguments). Without RANGE: HEAD.
    #[arg(long, value_name = "RANGE", num_args = 0..=1, default_missing_value = "HEAD")]
    pub git: Option<String>,
    /// A gitleaks-compatible config (`[extend] useDefault = true` to keep
    /// the built-in rules). Default: `.gitleaks.toml` in the scanned
    /// directory if present, else the built-in rules.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
    /// Suppress findings listed in this JSON report (from `--format json`).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Write the report here instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Ignore inline `bottle:allow` / `gitleaks:allow` comments.
    #[arg(long)]
    pub no_inline_allow: bool,
    /// Scan files that .gitignore excludes too.
    #[arg(long)]
    pub no_gitignore: bool,
    /// Also scan merge commits' diffs against their first parent.
    #[arg(long)]
    pub merge_diffs: bool,
    /// Worker threads for directory scans (0 = number of CPUs).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Print a summary (files, bytes, MiB/s) on stderr.
    #[arg(long)]
    pub stats: bool,
}

/// Run `bottle scan`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let target = args.path.clone().unwrap_or_else(|| PathBuf::from("."));
    let mut scanner = load_scanner(&args, &target)?;
    scanner.set_inline_allow(!args.no_inline_allow);
    scanner.set_profile(bottle_secrets::Profile::Code);
    let baseline = match &args.baseline {
        Some(p) => Some(Baseline::load(p)?),
        None => None,
    };

    let mut errors: Vec<String> = Vec::new();
    let bytes;
    let mut findings: Vec<Finding> = if let Some(range) = &args.git {
        let revs: Vec<&str> = range.split_whitespace().collect();
        let opts = bottle_secrets::git::GitScanOptions {
            merge_diffs: if args.merge_diffs {
                bottle_secrets::git::MergeDiffs::FirstParent
            } else {
                bottle_secrets::git::MergeDiffs::Skip
            },
        };
        let (found, st) = bottle_secrets::git::scan_revs_with(&target, &revs, &scanner, &opts)?;
        bytes = st.added_bytes;
        found
    } else if target == Path::new("-") {
        let mut found = Vec::new();
        let st = scanner
            .scan_reader(std::io::stdin().lock(), Some("-"), |f| found.push(f))
            .context("reading stdin")?;
        bytes = st.bytes;
        found
    } else {
        if !target.exists() {
            anyhow::bail!("{}: no such file or directory", target.display());
        }
        let opts = WalkOptions {
            respect_gitignore: !args.no_gitignore,
            threads: args.threads,
            ..WalkOptions::default()
        };
        let (found, st) = scan_path(&target, &scanner, &opts);
        bytes = st.bytes;
        errors = st.errors;
        found
    };
    if let Some(b) = &baseline {
        findings.retain(|f| !b.contains(f));
    }

    let format = match args.format {
        OutputFormat::Text => Format::Text,
        OutputFormat::Json => Format::Json,
        OutputFormat::Sarif => Format::Sarif,
    };
    match &args.output {
        Some(p) => {
            let mut file =
                std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?;
            render(&findings, format, &mut file)?;
            file.flush()?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            render(&findings, format, &mut lock)?;
            lock.flush()?;
        }
    }
    for e in &errors {
        eprintln!("warning: {e}");
    }
    if args.stats {
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "scanned {bytes} bytes in {secs:.2}s ({:.1} MiB/s), {} finding(s)",
            bytes as f64 / (1024.0 * 1024.0) / secs.max(1e-9),
            findings.len()
        );
    } else if matches!(args.format, OutputFormat::Text) {
        eprintln!("{} finding(s)", findings.len());
    }
    let code = if !findings.is_empty() {
        ExitCode::from(1)
    } else if !errors.is_empty() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    };
    // The process ends next: freeing 100,000s of findings one by one (a
    // dense tree) took a tenth of such a run and gives nothing back.
    std::mem::forget(findings);
    Ok(code)
}

fn load_scanner(args: &Args, target: &Path) -> anyhow::Result<Scanner> {
    if let Some(cfg) = &args.config {
        return Ok(Scanner::from_gitleaks_file(cfg)?);
    }
    let dir = if target.is_dir() {
        Some(target.to_path_buf())
    } else {
        None
    };
    if let Some(dir) = dir {
        let local = dir.join(".gitleaks.toml");
        if local.is_file() {
            return Scanner::from_gitleaks_file(&local)
                .with_context(|| format!("loading {}", local.display()));
        }
    }
    Ok(Scanner::builtin())
}
