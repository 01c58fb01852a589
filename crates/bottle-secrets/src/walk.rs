//! Scanning a directory tree in parallel, respecting `.gitignore`.

use crate::{Finding, Scanner};
use std::io::Read;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Options of a directory scan.
#[derive(Debug, Clone)]
pub struct WalkOptions {
    /// Honour `.gitignore`, `.ignore` and git's exclude files.
    pub respect_gitignore: bool,
    /// Worker threads (0 = number of CPUs).
    pub threads: usize,
    /// Files larger than this are streamed instead of read whole.
    pub stream_above: u64,
}

impl Default for WalkOptions {
    fn default() -> Self {
        Self {
            respect_gitignore: true,
            threads: 0,
            stream_above: 64 << 20,
        }
    }
}

/// What a directory scan did.
#[derive(Debug, Clone, Default)]
pub struct WalkStats {
    /// Files scanned.
    pub files: u64,
    /// Bytes scanned.
    pub bytes: u64,
    /// Files skipped as binary (a NUL byte in the first 8 KiB).
    pub binary_skipped: u64,
    /// Files or directories that could not be read (path: why).
    pub errors: Vec<String>,
}

/// Scan a file or a directory tree. Hidden files are scanned (`.env` is
/// where secrets live); `.git` directories are not.
pub fn scan_path(root: &Path, scanner: &Scanner, opts: &WalkOptions) -> (Vec<Finding>, WalkStats) {
    let findings: Found = Mutex::new(Vec::new());
    let stats = Mutex::new(WalkStats::default());
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    // Big files wait for the walk to end, then each is split between all
    // the threads in turn (a tree of a few dense files would otherwise keep
    // one core busy and the others idle, and one file per thread is as
    // uneven as the file sizes).
    let big: Mutex<Vec<(std::path::PathBuf, String)>> = Mutex::new(Vec::new());
    let defer = if threads > 1 {
        Split::Defer
    } else {
        Split::Threads(1)
    };
    let mut builder = ignore::WalkBuilder::new(root);
    builder
        .hidden(false)
        .git_ignore(opts.respect_gitignore)
        .git_exclude(opts.respect_gitignore)
        .git_global(opts.respect_gitignore)
        .ignore(opts.respect_gitignore)
        .parents(opts.respect_gitignore)
        .threads(opts.threads)
        .filter_entry(|e| e.file_name() != ".git");
    builder.build_parallel().run(|| {
        let findings = &findings;
        let stats = &stats;
        let big = &big;
        Box::new(move |entry| {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    lock(stats).errors.push(e.to_string());
                    return ignore::WalkState::Continue;
                }
            };
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                return ignore::WalkState::Continue;
            }
            let path = entry.path();
            let shown = path.display().to_string();
            if scanner.path_allowed(&shown) {
                return ignore::WalkState::Continue;
            }
            match scan_file(path, &shown, scanner, opts, defer) {
                Ok(FileResult::Deferred) => {
                    lock(big).push((path.to_path_buf(), shown));
                }
                r => record(r, shown, stats, findings),
            }
            ignore::WalkState::Continue
        })
    });
    let mut big = big.into_inner().unwrap_or_else(PoisonError::into_inner);
    big.sort();
    for (path, shown) in big {
        let r = scan_file(&path, &shown, scanner, opts, Split::Threads(threads));
        record(r, shown, &stats, &findings);
    }
    // Findings by (path, line, column, rule id). Each file's findings
    // arrive together and in offset order: sort the files by path (equal
    // paths, should a walk yield one twice, keep their order, as a stable
    // sort of the whole list would), then each file's own list, whose
    // comparisons touch no path (a dense file has 100,000s of findings;
    // comparing their paths was the most of a global sort).
    let mut files: Vec<(String, Vec<Finding>)> = findings
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut found: Vec<Finding> = Vec::with_capacity(files.iter().map(|f| f.1.len()).sum());
    let mut i = 0;
    while i < files.len() {
        let start = found.len();
        let mut j = i;
        while j < files.len() && files[j].0 == files[i].0 {
            found.append(&mut files[j].1);
            j += 1;
        }
        // Usually in order already (one scan, or parts in file order): the
        // check is one pass, while a stable sort first allocates scratch
        // room for half the list (on a dense file, tens of MB).
        let key = |f: &Finding| (f.location.line, f.location.column);
        let by = |a: &Finding, b: &Finding| (key(a), &a.rule_id).cmp(&(key(b), &b.rule_id));
        if !found[start..].is_sorted_by(|a, b| by(a, b).is_le()) {
            found[start..].sort_by(by);
        }
        i = j;
    }
    (
        found,
        stats.into_inner().unwrap_or_else(PoisonError::into_inner),
    )
}

enum FileResult {
    Scanned(Vec<Finding>, u64),
    Binary,
    /// Big enough to split: scan it after the walk ([`Split::Defer`]).
    Deferred,
}

/// How [`scan_file`] treats a file big enough to split between threads.
#[derive(Clone, Copy)]
enum Split {
    /// Leave it for later.
    Defer,
    /// Scan it on this many threads.
    Threads(usize),
}

type Found = Mutex<Vec<(String, Vec<Finding>)>>;

/// A lock that a panic elsewhere does not poison for us: the walk's lists
/// (findings, files still to scan) are never dropped, which would pass
/// what was not scanned.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Count a file's scan in the stats and keep its findings.
fn record(
    r: std::io::Result<FileResult>,
    shown: String,
    stats: &Mutex<WalkStats>,
    findings: &Found,
) {
    match r {
        Ok(FileResult::Scanned(found, bytes)) => {
            {
                let mut s = lock(stats);
                s.files += 1;
                s.bytes += bytes;
            }
            if !found.is_empty() {
                lock(findings).push((shown, found));
            }
        }
        Ok(FileResult::Binary) => lock(stats).binary_skipped += 1,
        // Not reached (a deferred file is scanned with `Split::Threads`);
        // were it, the file is reported unscanned rather than passed.
        Ok(FileResult::Deferred) => lock(stats).errors.push(format!("{shown}: not scanned")),
        Err(e) => lock(stats).errors.push(format!("{shown}: {e}")),
    }
}

fn scan_file(
    path: &Path,
    shown: &str,
    scanner: &Scanner,
    opts: &WalkOptions,
    split: Split,
) -> std::io::Result<FileResult> {
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    let splits = size <= opts.stream_above && size >= 2 * crate::split::MIN_PART as u64;
    if splits && matches!(split, Split::Defer) {
        return Ok(FileResult::Deferred);
    }
    let mut head = vec![0u8; 8192];
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    head.truncate(n);
    if memchr::memchr(0, &head).is_some() {
        return Ok(FileResult::Binary);
    }
    if size > opts.stream_above {
        let mut found = Vec::new();
        let chained = std::io::Cursor::new(head).chain(file);
        let st = scanner.scan_reader(chained, Some(shown), |f| found.push(f))?;
        return Ok(FileResult::Scanned(found, st.bytes));
    }
    let mut data = head;
    file.read_to_end(&mut data)?;
    let threads = match split {
        Split::Threads(n) => n,
        Split::Defer => 1,
    };
    let found = scanner.scan_threaded(&data, Some(shown), threads);
    Ok(FileResult::Scanned(found, data.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_files_scanned_after_the_walk_give_the_findings_of_one_thread() {
        let dir = tempfile::tempdir().unwrap();
        let token = |i: usize| format!("ghp_{:0>36}", format!("Zq3RmT8wLk2VxN5pHy7cJb{i}"));
        // Two big files (split between threads) and small ones (walked).
        for (name, lines) in [
            ("big-a.txt", 40_000),
            ("sub/big-b.txt", 30_000),
            ("small.txt", 3),
        ] {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let body: String = (0..lines)
                .map(|i| format!("line {i} of filler text, token = {}\n", token(i % 997)))
                .collect();
            std::fs::write(path, body).unwrap();
        }
        std::fs::write(dir.path().join("bin.dat"), b"\0\x01binary").unwrap();
        let scanner = Scanner::builtin();
        let run = |threads| {
            let opts = WalkOptions {
                threads,
                ..WalkOptions::default()
            };
            let (found, st) = scan_path(dir.path(), &scanner, &opts);
            let keys: Vec<_> = found
                .iter()
                .map(|f| {
                    (
                        f.location.path.clone(),
                        f.location.line,
                        f.location.column,
                        f.fingerprint.clone(),
                    )
                })
                .collect();
            (keys, st.files, st.bytes, st.binary_skipped)
        };
        let one = run(1);
        assert_eq!(one.0.len(), 70_003);
        assert_eq!((one.1, one.3), (3, 1));
        assert!(one.2 > 4 * crate::split::MIN_PART as u64);
        for threads in [2, 3] {
            assert!(run(threads) == one, "{threads} threads");
        }
    }
}
