//! Scanning git history: the added lines of each commit plus commit
//! messages, from one `git log -p -U0` stream parsed incrementally.
//!
//! One git process produces every selected commit's patch; the parser keeps
//! only the current file's added lines, hands each file to a small pool of
//! scanning threads, and never holds more than a bounded amount of patch
//! text. Git runs with the inherited environment, so a pre-receive hook's
//! quarantine (`GIT_OBJECT_DIRECTORY`, `GIT_ALTERNATE_OBJECT_DIRECTORIES`)
//! applies.
//!
//! Merge commits: by default their diffs are skipped, as gitleaks does (`git
//! log -p` prints no patch for a merge); their messages are still scanned.
//! The content a merge brings is scanned in the commits that introduced it.
//! A merge can also carry changes of its own ("evil merge"); use
//! [`MergeDiffs::FirstParent`] to scan every merge's diff against its first
//! parent as well (which may repeat findings of the merged commits).

use crate::{Finding, Location, Scanner};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Mutex, mpsc};

/// Errors running git.
#[derive(Debug, thiserror::Error)]
#[error("git {args}: {message}")]
pub struct GitScanError {
    /// The git arguments.
    pub args: String,
    /// Why it failed.
    pub message: String,
}

/// How merge commits' diffs are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MergeDiffs {
    /// No diff for merges (gitleaks' behaviour); messages are scanned.
    #[default]
    Skip,
    /// Scan each merge's diff against its first parent too.
    FirstParent,
}

/// Options of a history scan.
#[derive(Debug, Clone, Copy, Default)]
pub struct GitScanOptions {
    /// Merge commits' diffs.
    pub merge_diffs: MergeDiffs,
}

/// Statistics of a history scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GitScanStats {
    /// Commits seen.
    pub commits: usize,
    /// Bytes of added lines scanned.
    pub added_bytes: u64,
}

/// Files larger than this are scanned in pieces (at line boundaries).
const MAX_FRAGMENT: usize = 8 << 20;

/// Scan the commits selected by `revs` (passed to `git log`, e.g.
/// `["<new-sha>", "--not", "--all"]` or `["main..feature"]`) in the repository
/// at `repo` (bare or not): the added lines of every commit and every commit
/// message. Findings carry commit, path and line (message findings have no
/// path, and their line counts within the message).
pub fn scan_revs(
    repo: &Path,
    revs: &[&str],
    scanner: &Scanner,
) -> Result<Vec<Finding>, GitScanError> {
    scan_revs_with(repo, revs, scanner, &GitScanOptions::default()).map(|(f, _)| f)
}

/// [`scan_revs`] with options, also returning statistics.
pub fn scan_revs_with(
    repo: &Path,
    revs: &[&str],
    scanner: &Scanner,
    opts: &GitScanOptions,
) -> Result<(Vec<Finding>, GitScanStats), GitScanError> {
    // Refuse revision arguments that git would read as options we did not
    // choose (`--output=...`); `--not`, `--all`, `--branches` and friends
    // are selection options and fine.
    for r in revs {
        if r.starts_with("--")
            && !matches!(
                *r,
                "--not"
                    | "--all"
                    | "--branches"
                    | "--tags"
                    | "--remotes"
                    | "--first-parent"
                    | "--no-merges"
            )
        {
            return Err(GitScanError {
                args: revs.join(" "),
                message: format!("revision argument {r:?} is not allowed"),
            });
        }
    }
    let shown = revs.join(" ");
    let err = |message: String| GitScanError {
        args: format!("log {shown}"),
        message,
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Git computes the diffs, and that is the bottleneck: on a large range
    // split the commits (in rev-list order) between several `git log
    // --no-walk --stdin` processes.
    let chunks: Vec<Vec<String>> = if cpus > 1 {
        let commits = rev_list(repo, revs).map_err(&err)?;
        if commits.len() >= PARALLEL_MIN_COMMITS {
            let parts = cpus.min(4);
            let per = commits.len().div_ceil(parts);
            commits.chunks(per).map(<[String]>::to_vec).collect()
        } else {
            Vec::new()
        }
    } else {
        Vec::new()
    };
    let mut procs = Vec::new();
    if chunks.is_empty() {
        procs.push((
            spawn_log(repo, revs, false, opts).map_err(&err)?,
            None,
            0usize,
        ));
    } else {
        let mut base = 0;
        for chunk in chunks {
            let child = spawn_log(repo, &[], true, opts).map_err(&err)?;
            let n = chunk.len();
            procs.push((child, Some(chunk), base));
            base += n;
        }
    }

    let workers = cpus.clamp(1, 4);
    let results: Mutex<Vec<(usize, Finding)>> = Mutex::new(Vec::new());
    let (tx, rx) = mpsc::sync_channel::<Job>(workers * 4);
    let rx = Mutex::new(rx);
    let mut outcomes = Vec::new();
    std::thread::scope(|s| {
        for _ in 0..workers {
            let rx = &rx;
            let results = &results;
            s.spawn(move || {
                loop {
                    let job = match rx.lock() {
                        Ok(guard) => guard.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    let found = scan_job(scanner, &job);
                    if !found.is_empty()
                        && let Ok(mut r) = results.lock()
                    {
                        r.extend(found.into_iter().map(|f| (job.order, f)));
                    }
                }
            });
        }
        let mut handles = Vec::new();
        for (mut child, input, base) in procs {
            let tx = tx.clone();
            handles.push(s.spawn(move || -> Result<GitScanStats, String> {
                let stdout = child.stdout.take().ok_or("no stdout")?;
                let mut stderr = child.stderr.take().ok_or("no stderr")?;
                let err_reader = std::thread::spawn(move || {
                    let mut t = String::new();
                    let _ = stderr.read_to_string(&mut t);
                    t
                });
                let writer = input.and_then(|ids| {
                    child.stdin.take().map(|mut stdin| {
                        std::thread::spawn(move || {
                            use std::io::Write as _;
                            for id in ids {
                                if writeln!(stdin, "{id}").is_err() {
                                    break;
                                }
                            }
                        })
                    })
                });
                let parsed = parse_log(stdout, &tx, base);
                drop(tx);
                if let Some(w) = writer {
                    let _ = w.join();
                }
                let status = child.wait().map_err(|e| e.to_string())?;
                let stderr_text = err_reader.join().unwrap_or_default();
                let stats = parsed.map_err(|e| format!("reading git output: {e}"))?;
                if !status.success() {
                    return Err(format!("{status}: {}", stderr_text.trim()));
                }
                Ok(stats)
            }));
        }
        drop(tx);
        for h in handles {
            outcomes.push(
                h.join()
                    .unwrap_or_else(|_| Err("parser thread panicked".into())),
            );
        }
    });
    let mut stats = GitScanStats::default();
    for o in outcomes {
        let st = o.map_err(err)?;
        stats.commits += st.commits;
        stats.added_bytes += st.added_bytes;
    }
    let mut found = results.into_inner().unwrap_or_default();
    found.sort_by(|(oa, a), (ob, b)| {
        (
            oa,
            &a.location.path,
            a.location.line,
            a.location.column,
            &a.rule_id,
        )
            .cmp(&(
                ob,
                &b.location.path,
                b.location.line,
                b.location.column,
                &b.rule_id,
            ))
    });
    Ok((found.into_iter().map(|(_, f)| f).collect(), stats))
}

/// Ranges at least this long are split between parallel git processes.
const PARALLEL_MIN_COMMITS: usize = 200;

fn git_base(repo: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("-C").arg(repo).args(["-c", "core.quotePath=true"]);
    c
}

/// The commits `revs` selects, newest first (as `git log` shows them).
fn rev_list(repo: &Path, revs: &[&str]) -> Result<Vec<String>, String> {
    let out = git_base(repo)
        .arg("rev-list")
        .args(revs)
        .arg("--")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect())
}

fn spawn_log(
    repo: &Path,
    revs: &[&str],
    stdin: bool,
    opts: &GitScanOptions,
) -> Result<std::process::Child, String> {
    let mut cmd = git_base(repo);
    cmd.args([
        "log",
        "-p",
        "-U0",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--full-history",
        "--format=%x00%x00%H %P%n%B%x00",
    ]);
    if opts.merge_diffs == MergeDiffs::FirstParent {
        cmd.arg("--diff-merges=first-parent");
    }
    if stdin {
        cmd.args(["--no-walk=unsorted", "--stdin"])
            .stdin(Stdio::piped());
    } else {
        cmd.args(revs).stdin(Stdio::null());
    }
    cmd.arg("--")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run git: {e}"))
}

/// Scan an annotated tag's message (`tag_sha` is the tag object).
pub fn scan_tag(
    repo: &Path,
    tag_sha: &str,
    scanner: &Scanner,
) -> Result<Vec<Finding>, GitScanError> {
    let err = |message: String| GitScanError {
        args: format!("cat-file tag {tag_sha}"),
        message,
    };
    if tag_sha.starts_with('-') {
        return Err(err("not an object name".into()));
    }
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["cat-file", "tag", tag_sha])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| err(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(err(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    let text = out.stdout;
    // The message starts after the first blank line of the tag object.
    let msg_start = memchr::memmem::find(&text, b"\n\n").map_or(0, |i| i + 2);
    let header_lines = memchr::memchr_iter(b'\n', &text[..msg_start]).count();
    let msg = &text[msg_start..];
    let hits = scanner.hits(msg, None, Some(tag_sha), 0..msg.len());
    Ok(scanner.findings(
        hits,
        msg,
        None,
        Some(tag_sha),
        msg_start,
        0,
        |lines, off| {
            let (l, c) = lines.locate(off);
            (Some(header_lines + l + 1), Some(c))
        },
    ))
}

/// One unit of scanning work: a file's added lines in one commit, or a
/// commit message.
struct Job {
    order: usize,
    commit: String,
    path: Option<String>,
    data: Vec<u8>,
    /// (offset in `data`, new-file line number of that offset).
    segments: Vec<(usize, usize)>,
}

fn scan_job(scanner: &Scanner, job: &Job) -> Vec<Finding> {
    let path = job.path.as_deref();
    let hits = scanner.hits(&job.data, path, Some(&job.commit), 0..job.data.len());
    if hits.is_empty() {
        return Vec::new();
    }
    let segs = &job.segments;
    // Offsets stay relative to the added-lines text; lines are the new
    // file's line numbers.
    scanner.findings(
        hits,
        &job.data,
        path,
        Some(&job.commit),
        0,
        0,
        |lines, off| {
            let (l_off, c) = lines.locate(off);
            if segs.is_empty() {
                return (Some(l_off + 1), Some(c));
            }
            let si = segs.partition_point(|&(o, _)| o <= off).saturating_sub(1);
            let (seg_off, seg_line) = segs[si];
            let (l_seg, _) = lines.locate(seg_off);
            (Some(seg_line + (l_off - l_seg)), Some(c))
        },
    )
}

/// Undo git's C-style path quoting (`"a\"b\303\251"`).
fn unquote(p: &[u8]) -> String {
    let p = p.strip_suffix(b"\t").unwrap_or(p);
    if p.len() < 2 || p[0] != b'"' || p[p.len() - 1] != b'"' {
        return String::from_utf8_lossy(p).into_owned();
    }
    let inner = &p[1..p.len() - 1];
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        if inner[i] != b'\\' || i + 1 >= inner.len() {
            out.push(inner[i]);
            i += 1;
            continue;
        }
        let c = inner[i + 1];
        match c {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let oct = &inner[i + 1..(i + 4).min(inner.len())];
                let v = oct
                    .iter()
                    .take_while(|b| (b'0'..=b'7').contains(b))
                    .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                out.push(v as u8);
                i += 4;
                continue;
            }
            other => out.push(other),
        }
        i += 2;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse `@@ -a,b +c,d @@` → c.
fn hunk_new_start(line: &[u8]) -> Option<usize> {
    let plus = memchr::memchr(b'+', line)?;
    let rest = &line[plus + 1..];
    let end = rest.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

#[derive(PartialEq)]
enum State {
    Start,
    Message,
    Between,
    FileHeader,
    Hunk,
    Binary,
}

struct Parser<'a> {
    tx: &'a mpsc::SyncSender<Job>,
    order: usize,
    commit: String,
    message: Vec<u8>,
    path: Option<String>,
    data: Vec<u8>,
    segments: Vec<(usize, usize)>,
    line: usize,
    stats: GitScanStats,
}

impl Parser<'_> {
    fn send(&mut self, job: Job) -> std::io::Result<()> {
        self.tx
            .send(job)
            .map_err(|_| std::io::Error::other("scanner threads stopped"))
    }

    fn flush_file(&mut self) -> std::io::Result<()> {
        if !self.data.is_empty() {
            let job = Job {
                order: self.order,
                commit: self.commit.clone(),
                path: Some(self.path.clone().unwrap_or_default()),
                data: std::mem::take(&mut self.data),
                segments: std::mem::take(&mut self.segments),
            };
            self.send(job)?;
        }
        self.segments.clear();
        Ok(())
    }

    fn flush_message(&mut self) -> std::io::Result<()> {
        if !self.message.is_empty() {
            let job = Job {
                order: self.order,
                commit: self.commit.clone(),
                path: None,
                data: std::mem::take(&mut self.message),
                segments: Vec::new(),
            };
            self.send(job)?;
        }
        Ok(())
    }
}

fn parse_log<R: Read>(
    stdout: R,
    tx: &mpsc::SyncSender<Job>,
    base: usize,
) -> std::io::Result<GitScanStats> {
    let mut reader = BufReader::with_capacity(1 << 20, stdout);
    let mut p = Parser {
        tx,
        order: 0,
        commit: String::new(),
        message: Vec::new(),
        path: None,
        data: Vec::new(),
        segments: Vec::new(),
        line: 0,
        stats: GitScanStats::default(),
    };
    let mut state = State::Start;
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        let line = buf.as_slice();
        if line.starts_with(b"\0\0") {
            p.flush_file()?;
            p.flush_message()?;
            let header = line[2..].strip_suffix(b"\n").unwrap_or(&line[2..]);
            let sha = header.split(|b| *b == b' ').next().unwrap_or_default();
            p.commit = String::from_utf8_lossy(sha).into_owned();
            p.order = base + p.stats.commits;
            p.stats.commits += 1;
            state = State::Message;
            continue;
        }
        match state {
            State::Start => {}
            State::Message => {
                if let Some(z) = memchr::memchr(0, line) {
                    p.message.extend_from_slice(&line[..z]);
                    p.flush_message()?;
                    state = State::Between;
                } else {
                    p.message.extend_from_slice(line);
                }
            }
            _ if line.starts_with(b"diff --git ") || line.starts_with(b"diff --cc ") => {
                p.flush_file()?;
                p.path = None;
                state = State::FileHeader;
            }
            State::Between => {}
            State::FileHeader => {
                if let Some(rest) = line.strip_prefix(b"+++ ") {
                    let rest = rest.strip_suffix(b"\n").unwrap_or(rest);
                    let name = unquote(rest);
                    p.path = Some(name.strip_prefix("b/").map(str::to_string).unwrap_or(name));
                } else if line.starts_with(b"Binary files ") {
                    state = State::Binary;
                } else if line.starts_with(b"@@") {
                    p.line = hunk_new_start(line).unwrap_or(1);
                    p.segments.push((p.data.len(), p.line));
                    state = State::Hunk;
                }
            }
            State::Binary => {}
            State::Hunk => {
                if let Some(added) = line.strip_prefix(b"+") {
                    if p.segments.is_empty() {
                        p.segments.push((p.data.len(), p.line));
                    }
                    p.data.extend_from_slice(added);
                    if !added.ends_with(b"\n") {
                        p.data.push(b'\n');
                    }
                    p.stats.added_bytes += added.len() as u64;
                    p.line += 1;
                    if p.data.len() >= MAX_FRAGMENT {
                        let line_now = p.line;
                        p.flush_file()?;
                        p.segments.push((0, line_now));
                    }
                } else if line.starts_with(b"@@") {
                    p.line = hunk_new_start(line).unwrap_or(1);
                    p.segments.push((p.data.len(), p.line));
                }
            }
        }
    }
    p.flush_file()?;
    p.flush_message()?;
    Ok(p.stats)
}

/// Location helper for callers formatting git findings.
pub fn describe(loc: &Location) -> String {
    let commit = loc
        .commit
        .as_deref()
        .map(|c| &c[..c.len().min(12)])
        .unwrap_or("-");
    match (&loc.path, loc.line) {
        (Some(p), Some(l)) => format!("{commit} {p}:{l}"),
        (Some(p), None) => format!("{commit} {p}"),
        (None, Some(l)) => format!("{commit} (commit message, line {l})"),
        (None, None) => commit.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquotes_paths() {
        assert_eq!(unquote(br#""b/sp ace\"q""#), "b/sp ace\"q");
        assert_eq!(unquote(b"\"b/\\303\\251\"\t"), "b/é");
        assert_eq!(unquote(b"b/plain"), "b/plain");
    }

    #[test]
    fn hunk_header() {
        assert_eq!(hunk_new_start(b"@@ -2 +2,2 @@ a\n"), Some(2));
        assert_eq!(hunk_new_start(b"@@ -0,0 +1 @@\n"), Some(1));
    }
}
