//! Scanning a directory tree in parallel, respecting `.gitignore`.

use crate::{Finding, Scanner};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, mpsc};

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
    if threads > 1 {
        // Big files go to a pipeline of their own while the walk goes on
        // (see `BigFiles`): a tree of a few dense files would otherwise
        // keep one core busy and the others idle, and one file per thread
        // is as uneven as the file sizes.
        // Big files read and not yet scanned: up to a streaming-size file's
        // worth (so the next one is read while the last parts of the one
        // before are scanned), or one file.
        let budget = Budget {
            limit: opts.stream_above,
            held: Mutex::new(0),
            freed: Condvar::new(),
        };
        std::thread::scope(|s| {
            let big = BigFiles::start(s, scanner, opts, threads, &budget, &stats, &findings);
            walk(&builder, scanner, opts, Some(&big.queue), &stats, &findings);
            big.finish();
        });
    } else {
        walk(&builder, scanner, opts, None, &stats, &findings);
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

/// The walk itself: each file is scanned on the walker's thread, except a
/// big one when `big` takes those (it is sent there, path and name).
fn walk(
    builder: &ignore::WalkBuilder,
    scanner: &Scanner,
    opts: &WalkOptions,
    big: Option<&mpsc::Sender<BigFile>>,
    stats: &Mutex<WalkStats>,
    findings: &Found,
) {
    let split = if big.is_some() {
        Split::Defer
    } else {
        Split::Threads(1)
    };
    builder.build_parallel().run(|| {
        let big = big.cloned();
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
            match scan_file(path, &shown, scanner, opts, split) {
                Ok(FileResult::Deferred(size)) => {
                    let sent = big
                        .as_ref()
                        .is_some_and(|b| b.send((path.to_path_buf(), shown.clone(), size)).is_ok());
                    if !sent {
                        // The pipeline is gone (a panic there): unscanned,
                        // and said so, never passed.
                        record(Ok(FileResult::Deferred(size)), shown, stats, findings);
                    }
                }
                r => record(r, shown, stats, findings),
            }
            ignore::WalkState::Continue
        })
    });
}

/// The big files of a walk (2 MiB or more, up to the streaming size), each
/// cut into as many parts as threads ([`Scanner::part_ranges`]): one thread
/// reads them as the walk finds them, `threads` workers scan the parts as
/// they come, whatever file they belong to (so no core waits for the last
/// part of a file or for the next file's read), and the caller puts each
/// file's parts back together. Read files held at once are bounded by
/// [`Budget`].
struct BigFiles<'e> {
    /// Where the walk sends a big file.
    queue: mpsc::Sender<BigFile>,
    done: mpsc::Receiver<Done>,
    stats: &'e Mutex<WalkStats>,
    findings: &'e Found,
}

/// A big file the walk found: path, name shown, size.
type BigFile = (PathBuf, String, u64);

/// A big file, read, shared by the tasks of its parts.
struct Loaded<'b> {
    data: Vec<u8>,
    shown: String,
    /// Its place in the order files were read.
    seq: usize,
    parts: usize,
    /// What it took of the budget.
    held: u64,
    budget: &'b Budget,
}

impl Drop for Loaded<'_> {
    fn drop(&mut self) {
        self.budget.give(self.held);
    }
}

/// One part of a big file to scan: `range`, or the whole file when `None`.
struct Task<'b> {
    file: Arc<Loaded<'b>>,
    index: usize,
    range: Option<(usize, usize)>,
}

/// A scanned part.
struct Done {
    seq: usize,
    index: usize,
    parts: usize,
    shown: String,
    bytes: u64,
    found: Vec<Finding>,
}

/// Bytes of read big files not yet scanned: the reader waits while more
/// than `limit` are held, unless none are (a file alone may exceed it).
struct Budget {
    limit: u64,
    held: Mutex<u64>,
    freed: Condvar,
}

impl Budget {
    fn take(&self, n: u64) {
        let mut held = lock(&self.held);
        while *held > 0 && *held + n > self.limit {
            held = self
                .freed
                .wait(held)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *held += n;
    }

    fn give(&self, n: u64) {
        let mut held = lock(&self.held);
        *held = held.saturating_sub(n);
        self.freed.notify_all();
    }
}

impl<'e> BigFiles<'e> {
    fn start<'s>(
        s: &'s std::thread::Scope<'s, 'e>,
        scanner: &'e Scanner,
        opts: &'e WalkOptions,
        threads: usize,
        budget: &'e Budget,
        stats: &'e Mutex<WalkStats>,
        findings: &'e Found,
    ) -> Self {
        let (queue, files) = mpsc::channel::<BigFile>();
        let (task_tx, task_rx) = mpsc::sync_channel::<Task<'e>>(threads);
        let (done_tx, done) = mpsc::channel::<Done>();
        s.spawn(move || {
            for (seq, (path, shown, size)) in files.into_iter().enumerate() {
                // Room is taken before the read (by the walk's size), so the
                // bound holds for what is in memory, not only for what waits.
                budget.take(size);
                let data = match scan_file(&path, &shown, scanner, opts, Split::Load) {
                    Ok(FileResult::Loaded(data)) => data,
                    r => {
                        budget.give(size);
                        record(r, shown, stats, findings);
                        continue;
                    }
                };
                let tasks: Vec<Option<(usize, usize)>> = match scanner.part_ranges(&data, threads) {
                    Some(r) => r.into_iter().map(Some).collect(),
                    None => vec![None],
                };
                let file = Arc::new(Loaded {
                    data,
                    shown,
                    seq,
                    parts: tasks.len(),
                    held: size,
                    budget,
                });
                for (index, range) in tasks.into_iter().enumerate() {
                    let task = Task {
                        file: Arc::clone(&file),
                        index,
                        range,
                    };
                    if task_tx.send(task).is_err() {
                        return;
                    }
                }
            }
        });
        let task_rx = Arc::new(Mutex::new(task_rx));
        for _ in 0..threads {
            let task_rx = Arc::clone(&task_rx);
            let done_tx = done_tx.clone();
            s.spawn(move || {
                loop {
                    let Ok(task) = lock(&task_rx).recv() else {
                        return;
                    };
                    let f = &task.file;
                    let found = match task.range {
                        Some((a, b)) => scanner.scan_part(&f.data, Some(&f.shown), a, b),
                        None => scanner.scan(&f.data, Some(&f.shown)),
                    };
                    let done = Done {
                        seq: f.seq,
                        index: task.index,
                        parts: f.parts,
                        shown: f.shown.clone(),
                        bytes: f.data.len() as u64,
                        found,
                    };
                    drop(task);
                    if done_tx.send(done).is_err() {
                        return;
                    }
                }
            });
        }
        Self {
            queue,
            done,
            stats,
            findings,
        }
    }

    /// After the walk: wait for every big file and keep its findings, its
    /// parts in order. A file whose parts did not all come back (a worker
    /// panicked; the scope passes the panic on) is reported unscanned.
    fn finish(self) {
        let Self {
            queue,
            done,
            stats,
            findings,
        } = self;
        drop(queue);
        let mut pending: std::collections::HashMap<usize, Vec<Option<Done>>> = Default::default();
        for d in done {
            let slots = pending
                .entry(d.seq)
                .or_insert_with(|| (0..d.parts).map(|_| None).collect());
            let (seq, index) = (d.seq, d.index);
            slots[index] = Some(d);
            if slots.iter().all(Option::is_some) {
                let Some(slots) = pending.remove(&seq) else {
                    continue;
                };
                let parts: Vec<Done> = slots.into_iter().flatten().collect();
                let bytes = parts[0].bytes;
                {
                    let mut s = lock(stats);
                    s.files += 1;
                    s.bytes += bytes;
                }
                let mut f = lock(findings);
                for p in parts {
                    if !p.found.is_empty() {
                        f.push((p.shown, p.found));
                    }
                }
            }
        }
        for slots in pending.into_values() {
            if let Some(d) = slots.into_iter().flatten().next() {
                lock(stats).errors.push(format!("{}: not scanned", d.shown));
            }
        }
    }
}

enum FileResult {
    Scanned(Vec<Finding>, u64),
    Binary,
    /// Big enough to split (this many bytes): for the big files' pipeline
    /// ([`Split::Defer`]).
    Deferred(u64),
    /// Big enough to split, and read ([`Split::Load`]).
    Loaded(Vec<u8>),
}

/// How [`scan_file`] treats a file big enough to split between threads.
#[derive(Clone, Copy)]
enum Split {
    /// Leave it for the big files' pipeline.
    Defer,
    /// Read it, for the big files' pipeline to scan.
    Load,
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
        // A big file the pipeline did not take (only after a panic there),
        // reported unscanned rather than passed.
        Ok(FileResult::Deferred(_) | FileResult::Loaded(_)) => {
            lock(stats).errors.push(format!("{shown}: not scanned"))
        }
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
        return Ok(FileResult::Deferred(size));
    }
    // Room for the whole file when it is read whole (no regrowth and copy
    // of a big one on the way).
    let whole = size <= opts.stream_above;
    let mut data = Vec::with_capacity(if whole { size as usize + 1 } else { 8192 });
    (&mut file).take(8192).read_to_end(&mut data)?;
    if memchr::memchr(0, &data).is_some() {
        return Ok(FileResult::Binary);
    }
    if !whole {
        let mut found = Vec::new();
        let chained = std::io::Cursor::new(data).chain(file);
        let st = scanner.scan_reader(chained, Some(shown), |f| found.push(f))?;
        return Ok(FileResult::Scanned(found, st.bytes));
    }
    file.read_to_end(&mut data)?;
    let threads = match split {
        Split::Threads(n) => n,
        Split::Load if splits => return Ok(FileResult::Loaded(data)),
        Split::Defer | Split::Load => 1,
    };
    let found = scanner.scan_threaded(&data, Some(shown), threads);
    Ok(FileResult::Scanned(found, data.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_files_scanned_by_the_pipeline_give_the_findings_of_one_thread() {
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
        // A big binary file: skipped by the big files' pipeline too.
        let mut big_bin = vec![b'a'; 3 * crate::split::MIN_PART];
        big_bin[100] = 0;
        std::fs::write(dir.path().join("big-bin.dat"), big_bin).unwrap();
        let scanner = Scanner::builtin();
        let run = |threads, stream_above| {
            let opts = WalkOptions {
                threads,
                stream_above,
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
        let one = run(1, 64 << 20);
        assert_eq!(one.0.len(), 70_003);
        assert_eq!((one.1, one.3), (3, 2));
        assert!(one.2 > 4 * crate::split::MIN_PART as u64);
        for threads in [2, 3] {
            assert!(run(threads, 64 << 20) == one, "{threads} threads");
            // A budget of less than the two big files: one read at a time.
            let big_a = std::fs::metadata(dir.path().join("big-a.txt"))
                .unwrap()
                .len();
            assert!(
                run(threads, big_a) == one,
                "{threads} threads, small budget"
            );
        }
    }
}
