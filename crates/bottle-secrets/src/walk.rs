//! Scanning a directory tree in parallel, respecting `.gitignore`.

use crate::{Finding, Scanner};
use std::io::Read;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

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
    let findings = Mutex::new(Vec::new());
    let stats = Mutex::new(WalkStats::default());
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    // Threads a big file may add to the walk's own (see `scan_file`).
    let spare = Spare(AtomicUsize::new(threads.saturating_sub(1)));
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
        let spare = &spare;
        Box::new(move |entry| {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    if let Ok(mut s) = stats.lock() {
                        s.errors.push(e.to_string());
                    }
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
            match scan_file(path, &shown, scanner, opts, spare) {
                Ok(FileResult::Scanned(found, bytes)) => {
                    if let Ok(mut s) = stats.lock() {
                        s.files += 1;
                        s.bytes += bytes;
                    }
                    if !found.is_empty()
                        && let Ok(mut f) = findings.lock()
                    {
                        f.push((shown, found));
                    }
                }
                Ok(FileResult::Binary) => {
                    if let Ok(mut s) = stats.lock() {
                        s.binary_skipped += 1;
                    }
                }
                Err(e) => {
                    if let Ok(mut s) = stats.lock() {
                        s.errors.push(format!("{shown}: {e}"));
                    }
                }
            }
            ignore::WalkState::Continue
        })
    });
    // Findings by (path, line, column, rule id). Each file's findings
    // arrive together and in offset order: sort the files by path (equal
    // paths, should a walk yield one twice, keep their order, as a stable
    // sort of the whole list would), then each file's own list, whose
    // comparisons touch no path (a dense file has 100,000s of findings;
    // comparing their paths was the most of a global sort).
    let mut files: Vec<(String, Vec<Finding>)> = findings.into_inner().unwrap_or_default();
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
        found[start..].sort_by(|a, b| {
            (a.location.line, a.location.column, &a.rule_id).cmp(&(
                b.location.line,
                b.location.column,
                &b.rule_id,
            ))
        });
        i = j;
    }
    (found, stats.into_inner().unwrap_or_default())
}

enum FileResult {
    Scanned(Vec<Finding>, u64),
    Binary,
}

fn scan_file(
    path: &Path,
    shown: &str,
    scanner: &Scanner,
    opts: &WalkOptions,
    spare: &Spare,
) -> std::io::Result<FileResult> {
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
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
    // A big file is split between threads (a tree of a few dense files
    // would otherwise keep one core busy and the others idle), as many as
    // are spare: the walk's threads plus the extra ones stay within twice
    // the thread count however many big files are scanned at once.
    let extra = spare.take(data.len() / crate::split::MIN_PART);
    let found = scanner.scan_threaded(&data, Some(shown), 1 + extra);
    spare.give(extra);
    Ok(FileResult::Scanned(found, data.len() as u64))
}

/// Threads that big files may borrow, shared by the walk's workers.
struct Spare(AtomicUsize);

impl Spare {
    /// Extra threads for a file of `parts` parts: up to `parts - 1`, fewer
    /// (or none) when other files hold them.
    fn take(&self, parts: usize) -> usize {
        let mut have = self.0.load(Ordering::Relaxed);
        loop {
            let n = have.min(parts.saturating_sub(1));
            if n == 0 {
                return 0;
            }
            match self
                .0
                .compare_exchange_weak(have, have - n, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return n,
                Err(now) => have = now,
            }
        }
    }

    fn give(&self, n: usize) {
        self.0.fetch_add(n, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_files_borrow_at_most_the_spare_threads() {
        let spare = Spare(AtomicUsize::new(3));
        // A file of 10 parts wants 9 extra threads and gets the 3 spare.
        assert_eq!(spare.take(10), 3);
        // Meanwhile another big file gets none and is scanned by its walker.
        assert_eq!(spare.take(10), 0);
        spare.give(3);
        // A file of one part (or none) borrows nothing.
        assert_eq!(spare.take(1), 0);
        assert_eq!(spare.take(0), 0);
        assert_eq!(spare.take(2), 1);
        assert_eq!(spare.0.load(Ordering::Relaxed), 2);
    }
}
