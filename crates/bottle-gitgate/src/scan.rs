//! What a push brings, scanned byte for byte.
//!
//! The hook reads the pushed objects the way the upstream will store them,
//! not as `git log` renders them:
//!
//! - every new **commit and tag object, raw**: every header (author and
//!   committer names and emails, `encoding`, `gpgsig`, `mergetag`, any extra
//!   header, a tag's `tag` and `tagger` lines) and the message; a message
//!   behind an `encoding` header that is not ASCII-compatible (UTF-16,
//!   UTF-32) is also scanned as decoded from that encoding, and an encoding
//!   the gate cannot decode refuses the push;
//! - the **names of the refs** pushed, and the **paths of new files** (every
//!   path a new commit adds, directories included);
//! - every **new file version whole** (not only its added lines), so a
//!   multi-line secret whose middle is added between kept lines is seen
//!   whole; a secret the upstream's previous version of that path already
//!   holds as often does not block (the upstream has it);
//! - **decoded views** of every new file version: gzip, zip members
//!   (stored or deflate), and the egress DLP's text decoders
//!   ([`bottle_secrets::for_each_view`]: base64, hex, escapes, ...), plus
//!   UTF-16 text. Bounded: a file whose content cannot be scanned within the
//!   bounds (too large, nested too deep, corrupt, an archive method the gate
//!   does not decode) refuses the push, naming the file and why.

use crate::hook::HookGit;
use bottle_policy::audit::{AuditFinding, RefUpdate};
use bottle_secrets::{DecodeError, DecodeLimits, Finding, Scanner};
use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::ops::ControlFlow;
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::sync::{Mutex, mpsc};

/// Largest file version the gate scans; a larger one is unscannable.
pub(crate) const MAX_FILE: u64 = 64 << 20;
/// Largest commit or tag object the gate scans.
const MAX_OBJECT: u64 = 16 << 20;
/// Decompressed content of one file (every layer together), at most.
const MAX_DECOMPRESSED: usize = 64 << 20;
/// Decompressed : compressed, at most (deflate itself cannot exceed ~1032).
const MAX_RATIO: usize = 1100;
/// Compression layers (gzip in a zip member, ...) undone at most.
const MAX_ARCHIVE_DEPTH: usize = 3;
/// The text decoders run over pieces of this size...
const VIEW_CHUNK: usize = 8 << 20;
/// ...which overlap by this much (an encoded run across a piece boundary is
/// seen whole in the next piece when shorter than this).
const VIEW_OVERLAP: usize = 256 << 10;

/// One finding as the pusher and the audit log see it.
pub(crate) struct ReportedFinding {
    pub audit: AuditFinding,
    pub display: String,
}

/// Everything the scan found out about a push.
#[derive(Default)]
pub(crate) struct ScanReport {
    /// New commits, in `rev-list` order.
    pub commits: Vec<String>,
    /// New tag objects scanned.
    pub tags_scanned: usize,
    /// New file versions scanned.
    pub files_scanned: usize,
    pub findings: Vec<ReportedFinding>,
    /// Pushed ref names that hold a possible secret (withheld from the
    /// audit line).
    pub secret_refs: BTreeSet<String>,
}

fn short(oid: &str) -> &str {
    oid.get(..12).unwrap_or(oid)
}

fn is_zero(oid: &str) -> bool {
    oid.bytes().all(|b| b == b'0')
}

/// A name fit to print: itself, or a placeholder when it holds a possible
/// secret (a path or tag name can carry one too).
fn safe_name(scanner: &Scanner, name: &str) -> String {
    if scanner.scan(name.as_bytes(), None).is_empty() {
        name.to_string()
    } else {
        "<name withheld: it holds a possible secret>".into()
    }
}

/// Where in a push a finding is.
#[derive(Clone, Default)]
struct Place {
    commit: Option<String>,
    merge: bool,
    tag: Option<(String, String)>,
    /// `file P`, `commit message`, `header`, ... (already safe to print).
    what: String,
    path: Option<String>,
    line: Option<usize>,
}

fn reported(f: &Finding, place: &Place) -> ReportedFinding {
    let mut display = String::new();
    if let Some(c) = &place.commit {
        display.push_str(if place.merge {
            "merge commit "
        } else {
            "commit "
        });
        display.push_str(short(c));
    }
    if let Some((name, oid)) = &place.tag {
        display.push_str(&format!("tag {name} ({})", short(oid)));
    }
    if !place.what.is_empty() {
        if !display.is_empty() {
            display.push_str(if place.tag.is_some() { " " } else { "  " });
        }
        display.push_str(&place.what);
    }
    if let Some(l) = place.line {
        display.push_str(&format!("  line {l}"));
    }
    display.push_str(&format!("  rule {}  secret {}", f.rule_id, f.redacted));
    ReportedFinding {
        audit: AuditFinding {
            commit: place.commit.clone(),
            tag: place.tag.as_ref().map(|(_, oid)| oid.clone()),
            path: place.path.clone(),
            line: place.line,
            rule: f.rule_id.clone(),
            redacted: f.redacted.clone(),
            fingerprint: f.fingerprint.clone(),
        },
        display,
    }
}

/// `git cat-file --batch`, one object at a time.
struct Batch {
    child: Child,
    stdin: Option<ChildStdin>,
    out: BufReader<ChildStdout>,
}

struct Object {
    size: u64,
    /// `None` when larger than the limit the caller gave.
    data: Option<Vec<u8>>,
}

impl Batch {
    fn new(git: &HookGit) -> Result<Self, String> {
        let mut c = git.command();
        c.args(["cat-file", "--batch"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = c.spawn().map_err(|e| format!("cannot run git: {e}"))?;
        let stdin = child.stdin.take();
        let out = child
            .stdout
            .take()
            .ok_or_else(|| "git cat-file: no stdout".to_string())?;
        Ok(Self {
            child,
            stdin,
            out: BufReader::with_capacity(1 << 20, out),
        })
    }

    fn read(&mut self, oid: &str, limit: u64) -> Result<Object, String> {
        let err = |e: std::io::Error| format!("git cat-file {oid}: {e}");
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| "git cat-file: closed".to_string())?;
        writeln!(stdin, "{oid}").map_err(err)?;
        stdin.flush().map_err(err)?;
        self.answer(oid, limit)
    }

    /// Read `oids` in order, handing each to `each` (which may stop the
    /// walk with `Break`). The ids are written from another thread while
    /// the answers are read, so git looks up and inflates the next object
    /// while this one is being taken, instead of one round trip each.
    fn read_each(
        &mut self,
        oids: &[&str],
        limit: u64,
        each: &mut dyn FnMut(usize, Object) -> ControlFlow<()>,
    ) -> Result<(), String> {
        let mut stdin = self
            .stdin
            .take()
            .ok_or_else(|| "git cat-file: closed".to_string())?;
        let (stdin, result) = std::thread::scope(|s| {
            let writer = s.spawn(move || {
                let mut w = std::io::BufWriter::new(&mut stdin);
                let ok = oids.iter().all(|o| writeln!(w, "{o}").is_ok()) && w.flush().is_ok();
                drop(w);
                (stdin, ok)
            });
            let mut result = Ok(());
            let mut complete = true;
            for (i, oid) in oids.iter().enumerate() {
                match self.answer(oid, limit) {
                    Ok(obj) => {
                        if each(i, obj).is_break() {
                            complete = false;
                            break;
                        }
                    }
                    Err(e) => {
                        result = Err(e);
                        complete = false;
                        break;
                    }
                }
            }
            if !complete {
                // Answers are left unread: git would block writing them
                // and the writer with it. This batch is done.
                let _ = self.child.kill();
            }
            let (stdin, ok) = match writer.join() {
                Ok(v) => v,
                Err(_) => return (None, Err("git cat-file: writer failed".to_string())),
            };
            if result.is_ok() && !ok {
                result = Err("git cat-file: cannot write the object ids".to_string());
            }
            (complete.then_some(stdin), result)
        });
        self.stdin = stdin;
        result
    }

    /// One object's answer: header, content (or skipped), newline.
    fn answer(&mut self, oid: &str, limit: u64) -> Result<Object, String> {
        let err = |e: std::io::Error| format!("git cat-file {oid}: {e}");
        let mut header = String::new();
        self.out.read_line(&mut header).map_err(err)?;
        let mut parts = header.split_whitespace();
        let (Some(_), Some(_kind), Some(size)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("git cat-file {oid}: {}", header.trim()));
        };
        let size: u64 = size
            .parse()
            .map_err(|_| format!("git cat-file {oid}: bad header {:?}", header.trim()))?;
        let data = if size <= limit {
            let mut v = Vec::with_capacity(size as usize);
            (&mut self.out)
                .take(size)
                .read_to_end(&mut v)
                .map_err(err)?;
            Some(v)
        } else {
            std::io::copy(&mut (&mut self.out).take(size), &mut std::io::sink()).map_err(err)?;
            None
        };
        let mut nl = [0u8; 1];
        self.out.read_exact(&mut nl).map_err(err)?;
        Ok(Object { size, data })
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// The objects `rev-list --objects` lists, with the path it gives them.
fn new_objects(git: &HookGit, tips: &[&str]) -> Result<Vec<(String, String)>, String> {
    if tips.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = vec!["rev-list", "--objects"];
    args.extend(tips);
    args.extend(["--not", "--all"]);
    let out = git.output(&args, None)?;
    let mut listed: Vec<(String, String)> = Vec::new();
    for line in String::from_utf8_lossy(&out).split('\n') {
        let is_id = line.len() >= 40
            && line.as_bytes()[..40].iter().all(u8::is_ascii_hexdigit)
            && (line.len() == 40 || line.as_bytes()[40] == b' ');
        if is_id {
            let path = line.get(41..).unwrap_or("").to_string();
            listed.push((line[..40].to_string(), path));
        } else if let Some(last) = listed.last_mut() {
            // A path with a newline in it.
            last.1.push('\n');
            last.1.push_str(line);
        }
    }
    // A trailing newline made the last path end in '\n'.
    if let Some(last) = listed.last_mut()
        && last.1.ends_with('\n')
    {
        last.1.pop();
    }
    Ok(listed)
}

/// Scan everything the push brings that the mirror (= the upstream, as of
/// the refresh before this push) does not have.
pub(crate) fn scan_push(
    git: &HookGit,
    updates: &[RefUpdate],
    scanner: &Scanner,
) -> Result<ScanReport, String> {
    let mut report = ScanReport::default();

    // Ref names.
    for u in updates.iter().filter(|u| !is_zero(&u.new)) {
        for f in scanner.scan(u.name.as_bytes(), None) {
            report.secret_refs.insert(u.name.clone());
            let place = Place {
                what: "the name of a pushed ref".into(),
                ..Place::default()
            };
            report.findings.push(reported(&f, &place));
        }
    }

    let mut tips: Vec<&str> = updates
        .iter()
        .filter(|u| !is_zero(&u.new))
        .map(|u| u.new.as_str())
        .collect();
    tips.sort();
    tips.dedup();
    let listed = new_objects(git, &tips)?;
    if listed.is_empty() {
        return Ok(report);
    }
    let ids: String = listed.iter().map(|(o, _)| format!("{o}\n")).collect();
    let types = git.output(
        &["cat-file", "--batch-check=%(objectname) %(objecttype)"],
        Some(ids.as_bytes()),
    )?;
    let types: HashMap<String, String> = String::from_utf8_lossy(&types)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let kind_of = |oid: &str| types.get(oid).map(String::as_str).unwrap_or("");
    let new_blobs: HashMap<&str, &str> = listed
        .iter()
        .filter(|(o, _)| kind_of(o) == "blob")
        .map(|(o, p)| (o.as_str(), p.as_str()))
        .collect();

    // The commit tips: what the pushed values peel to.
    let peel_in: String = tips.iter().map(|t| format!("{t}^{{}}\n")).collect();
    let peeled = git.output(
        &["cat-file", "--batch-check=%(objectname) %(objecttype)"],
        Some(peel_in.as_bytes()),
    )?;
    let mut commit_tips: Vec<String> = String::from_utf8_lossy(&peeled)
        .lines()
        .filter_map(|l| l.strip_suffix(" commit"))
        .map(str::to_string)
        .collect();
    commit_tips.sort();
    commit_tips.dedup();
    // The new commits, in rev-list order: `rev-list --objects` walked them
    // first (the same walk `rev-list` makes), before trees and blobs.
    let commits: Vec<String> = listed
        .iter()
        .filter(|(o, _)| kind_of(o) == "commit")
        .map(|(o, _)| o.clone())
        .collect();

    let tags: Vec<&str> = listed
        .iter()
        .filter(|(o, _)| kind_of(o) == "tag")
        .map(|(o, _)| o.as_str())
        .collect();

    let mut batch = Batch::new(git)?;
    let changes = std::thread::scope(|s| -> Result<Vec<Change>, String> {
        // What each new commit changes (`git log --raw`: tree diffs, git's
        // work) runs alongside the scan of the raw tags and commits.
        let diffs = (!commits.is_empty() && !commit_tips.is_empty()).then(|| {
            s.spawn(|| {
                let ct: Vec<&str> = commit_tips.iter().map(String::as_str).collect();
                commit_changes(git, &ct)
            })
        });
        let scanned = scan_tags_and_commits(scanner, &mut batch, &tags, &commits, &mut report);
        let changes = match diffs {
            Some(h) => h
                .join()
                .map_err(|_| "the scan of what commits change failed".to_string())?,
            None => Ok(Vec::new()),
        };
        scanned?;
        changes
    })?;
    report.commits = commits;

    let mut covered: BTreeSet<&str> = BTreeSet::new();
    let mut jobs: Vec<FileJob> = Vec::new();
    let mut new_paths: Vec<(String, bool, String)> = Vec::new();
    let mut seen_paths: BTreeSet<(&str, &str)> = BTreeSet::new();
    for ch in &changes {
        if ch.added {
            new_paths.push((ch.commit.clone(), ch.merge, ch.path.clone()));
        }
        if ch.gitlink {
            continue;
        }
        if new_blobs.contains_key(ch.new.as_str()) {
            covered.insert(ch.new.as_str());
            if seen_paths.insert((ch.new.as_str(), ch.path.as_str())) {
                jobs.push(FileJob {
                    blob: ch.new.clone(),
                    path: ch.path.clone(),
                    olds: ch.olds.clone(),
                    place: Place {
                        commit: Some(ch.commit.clone()),
                        merge: ch.merge,
                        ..Place::default()
                    },
                });
            }
        }
    }
    // New objects no new commit reaches (a ref straight at a tree or a
    // blob), with the path rev-list gives them.
    for u in updates.iter().filter(|u| !is_zero(&u.new)) {
        let tip_kind = match kind_of(&u.new) {
            "" => continue,
            k => k,
        };
        if tip_kind == "commit" || tip_kind == "tag" {
            continue;
        }
        for (oid, path) in new_objects(git, &[u.new.as_str()])? {
            if !new_blobs.contains_key(oid.as_str()) || covered.contains(oid.as_str()) {
                continue;
            }
            if !path.is_empty() {
                new_paths.push((String::new(), false, path.clone()));
            }
            jobs.push(FileJob {
                blob: oid.clone(),
                path: path.clone(),
                olds: Vec::new(),
                place: Place {
                    what: format!("object {} ({tip_kind})", short(&u.new)),
                    ..Place::default()
                },
            });
        }
    }
    // Tags pointing straight at blobs are caught above only when the blob
    // is a ref's own value; a tag object's target blob is listed too.
    for (oid, path) in &listed {
        if kind_of(oid) == "blob"
            && !covered.contains(oid.as_str())
            && !jobs.iter().any(|j| &j.blob == oid)
        {
            jobs.push(FileJob {
                blob: oid.clone(),
                path: path.clone(),
                olds: Vec::new(),
                place: Place {
                    what: format!("object {} (blob)", short(oid)),
                    ..Place::default()
                },
            });
        }
    }

    // New paths, one per line.
    if !new_paths.is_empty() {
        let text: Vec<u8> = new_paths
            .iter()
            .flat_map(|(_, _, p)| p.bytes().chain(std::iter::once(b'\n')))
            .collect();
        for f in scanner.scan(&text, None) {
            let idx = f.location.line.unwrap_or(1).saturating_sub(1);
            let Some((commit, merge, _)) = new_paths.get(idx) else {
                continue;
            };
            let place = Place {
                commit: (!commit.is_empty()).then(|| commit.clone()),
                merge: *merge,
                what: "the name of a new file or directory".into(),
                ..Place::default()
            };
            report.findings.push(reported(&f, &place));
        }
    }

    report.files_scanned = jobs.len();
    scan_files(git, &mut batch, scanner, jobs, &mut report.findings)?;
    Ok(report)
}

/// Tag and commit objects, raw (see [`scan_raw_object`]).
fn scan_tags_and_commits(
    scanner: &Scanner,
    batch: &mut Batch,
    tags: &[&str],
    commits: &[String],
    report: &mut ScanReport,
) -> Result<(), String> {
    for &oid in tags {
        let obj = batch.read(oid, MAX_OBJECT)?;
        let raw = obj.data.ok_or_else(|| {
            format!(
                "tag object {} is {} bytes, more than the gate scans",
                short(oid),
                obj.size
            )
        })?;
        report.tags_scanned += 1;
        let name = header_value(&raw, b"tag").unwrap_or_else(|| "?".into());
        let place = Place {
            tag: Some((safe_name(scanner, &name), oid.to_string())),
            ..Place::default()
        };
        scan_raw_object(scanner, &raw, &place, &mut report.findings)
            .map_err(|e| format!("tag {}: {e}", short(oid)))?;
    }
    let ids: Vec<&str> = commits.iter().map(String::as_str).collect();
    let mut failed: Option<String> = None;
    batch.read_each(&ids, MAX_OBJECT, &mut |i, obj| {
        let oid = ids[i];
        let Some(raw) = obj.data else {
            failed = Some(format!(
                "commit {} is {} bytes, more than the gate scans",
                short(oid),
                obj.size
            ));
            return ControlFlow::Break(());
        };
        let place = Place {
            commit: Some(oid.to_string()),
            ..Place::default()
        };
        match scan_raw_object(scanner, &raw, &place, &mut report.findings) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                failed = Some(format!("commit {}: {e}", short(oid)));
                ControlFlow::Break(())
            }
        }
    })?;
    failed.map_or(Ok(()), Err)
}

/// The value of the first `name` header of a raw commit or tag object.
fn header_value(raw: &[u8], name: &[u8]) -> Option<String> {
    for line in raw.split(|b| *b == b'\n') {
        if line.is_empty() {
            return None;
        }
        if let Some(rest) = line.strip_prefix(name)
            && let Some(v) = rest.strip_prefix(b" ")
        {
            return Some(String::from_utf8_lossy(v).into_owned());
        }
    }
    None
}

/// Encodings whose ASCII bytes are ASCII: a token in them is the same bytes
/// as in UTF-8, so the raw scan sees it.
fn ascii_compatible(enc: &str) -> bool {
    let e: String = enc
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    matches!(
        e.as_str(),
        "utf8"
            | "ascii"
            | "usascii"
            | "ansix341968"
            | "eucjp"
            | "euckr"
            | "euccn"
            | "euctw"
            | "shiftjis"
            | "sjis"
            | "gbk"
            | "gb2312"
            | "gb18030"
            | "big5"
            | "big5hkscs"
            | "tis620"
            | "macroman"
            | "macintosh"
            | "iso2022jp"
    ) || [
        "iso8859",
        "latin",
        "windows125",
        "cp125",
        "cp9",
        "koi8",
        "cp4",
        "cp8",
    ]
    .iter()
    .any(|p| e.starts_with(p))
}

/// Decode UTF-16 / UTF-32 text (lossily: unpaired surrogates become U+FFFD).
fn decode_wide(enc: &str, data: &[u8]) -> Option<Vec<u8>> {
    let e: String = enc
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    let (width, mut le) = match e.as_str() {
        "utf16le" | "ucs2le" => (2, true),
        "utf16be" | "ucs2be" => (2, false),
        "utf16" | "ucs2" => (2, false),
        "utf32le" | "ucs4le" => (4, true),
        "utf32be" | "ucs4be" => (4, false),
        "utf32" | "ucs4" => (4, false),
        _ => return None,
    };
    let mut d = data;
    // A byte order mark decides for the unsuffixed names (and is dropped).
    if width == 2 && d.len() >= 2 {
        if d[..2] == [0xFF, 0xFE] {
            le = true;
            d = &d[2..];
        } else if d[..2] == [0xFE, 0xFF] {
            le = false;
            d = &d[2..];
        }
    }
    if width == 2 {
        let units: Vec<u16> = d
            .chunks(2)
            .map(|c| {
                let b = [c[0], *c.get(1).unwrap_or(&0)];
                if le {
                    u16::from_le_bytes(b)
                } else {
                    u16::from_be_bytes(b)
                }
            })
            .collect();
        Some(String::from_utf16_lossy(&units).into_bytes())
    } else {
        let s: String = d
            .chunks(4)
            .map(|c| {
                let mut b = [0u8; 4];
                b[..c.len()].copy_from_slice(c);
                let v = if le {
                    u32::from_le_bytes(b)
                } else {
                    u32::from_be_bytes(b)
                };
                char::from_u32(v).unwrap_or('\u{FFFD}')
            })
            .collect();
        Some(s.into_bytes())
    }
}

/// Scan a raw commit or tag object: every header and the message as stored,
/// the message as decoded from a declared `encoding`, and the message's
/// decoded views.
fn scan_raw_object(
    scanner: &Scanner,
    raw: &[u8],
    place: &Place,
    out: &mut Vec<ReportedFinding>,
) -> Result<(), String> {
    let msg_start = memchr_find(raw, b"\n\n").map_or(raw.len(), |i| i + 2);
    let header_lines = raw[..msg_start.min(raw.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count();
    let message = &raw[msg_start.min(raw.len())..];
    let msg_word = if place.tag.is_some() {
        "message"
    } else {
        "commit message"
    };
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for f in scanner.scan(raw, None) {
        let l = f.location.line.unwrap_or(1);
        let mut p = place.clone();
        if f.location.offset >= msg_start {
            p.what = msg_word.into();
            p.line = Some(l - header_lines);
        } else {
            p.what = "header".into();
            p.line = Some(l);
        }
        seen.insert(f.fingerprint.clone());
        out.push(reported(&f, &p));
    }
    let mut views: Vec<(String, Vec<u8>)> = Vec::new();
    if let Some(enc) = header_value(raw, b"encoding")
        && !ascii_compatible(&enc)
    {
        match decode_wide(&enc, message) {
            Some(decoded) => views.push((format!("{msg_word} decoded from {enc}"), decoded)),
            None => {
                return Err(format!(
                    "its message declares the encoding {enc:?}, which the gate cannot decode \
                     to scan it; write the message in UTF-8"
                ));
            }
        }
    }
    views.push((format!("{msg_word}, decoded content"), message.to_vec()));
    for (what, text) in views {
        let mut p = place.clone();
        p.what = what;
        let mut found = Vec::new();
        if p.what.ends_with("decoded content") {
            decoded_views(scanner, &text, None, &mut found).map_err(|e| e.to_string())?;
        } else {
            found = scanner.scan(&text, None);
            decoded_views(scanner, &text, None, &mut found).map_err(|e| e.to_string())?;
        }
        for f in found {
            if seen.insert(f.fingerprint.clone()) {
                out.push(reported(&f, &p));
            }
        }
    }
    Ok(())
}

fn memchr_find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// The text decoders' views of `data` (not the raw bytes themselves),
/// piecewise for large inputs.
fn decoded_views(
    scanner: &Scanner,
    data: &[u8],
    path: Option<&str>,
    out: &mut Vec<Finding>,
) -> Result<(), DecodeError> {
    let limits = DecodeLimits {
        max_bytes: VIEW_CHUNK + VIEW_OVERLAP,
        max_depth: DecodeLimits::default().max_depth,
    };
    let mut start = 0;
    loop {
        let mut end = (start + VIEW_CHUNK + VIEW_OVERLAP).min(data.len());
        if end < data.len()
            && let Some(nl) = data[start..end].iter().rposition(|b| *b == b'\n')
            && nl > 0
        {
            end = start + nl + 1;
        }
        let piece = &data[start..end];
        let mut first = true;
        let _ = bottle_secrets::for_each_view(piece, &limits, &mut |view| {
            if first {
                first = false; // the raw bytes: scanned by the caller
            } else {
                out.extend(scanner.scan(view, path));
            }
            ControlFlow::Continue(())
        })?;
        if end >= data.len() {
            return Ok(());
        }
        start = (start + VIEW_CHUNK).min(end);
        if let Some(nl) = data[start..end].iter().position(|b| *b == b'\n') {
            start += nl + 1;
        }
    }
}

/// One path a new commit changes.
struct Change {
    commit: String,
    merge: bool,
    path: String,
    /// Added in every parent's view: a new name.
    added: bool,
    gitlink: bool,
    /// The versions in the parents (non-zero ids).
    olds: Vec<String>,
    new: String,
}

/// What every new commit changes (`git log --raw`; for merges the combined
/// form: only paths that differ from every parent).
fn commit_changes(git: &HookGit, tips: &[&str]) -> Result<Vec<Change>, String> {
    let mut args: Vec<&str> = vec![
        "-c",
        "core.quotePath=true",
        "log",
        "--raw",
        "-r",
        "-c",
        "--no-renames",
        "--no-abbrev",
        "--reverse",
        "--format=%x00%H %P",
    ];
    args.extend(tips);
    args.extend(["--not", "--all", "--"]);
    let out = git.output(&args, None)?;
    let mut changes = Vec::new();
    let mut commit = String::new();
    let mut merge = false;
    for line in out.split(|b| *b == b'\n') {
        if let Some(rest) = line.strip_prefix(b"\0") {
            let text = String::from_utf8_lossy(rest);
            let mut words = text.split_whitespace();
            commit = words.next().unwrap_or("").to_string();
            merge = words.count() > 1;
            continue;
        }
        if !line.starts_with(b":") {
            continue;
        }
        let Some(tab) = line.iter().position(|b| *b == b'\t') else {
            continue;
        };
        let colons = line.iter().take_while(|b| **b == b':').count();
        let meta = String::from_utf8_lossy(&line[colons..tab]).into_owned();
        let path = crate::hook::unquote_path(&line[tab + 1..]);
        let words: Vec<&str> = meta.split_whitespace().collect();
        // colons parents: modes (parents + 1), ids (parents + 1), status.
        let n = colons;
        if words.len() < 2 * (n + 1) + 1 {
            continue;
        }
        let new_mode = words[n];
        let olds: Vec<String> = words[n + 1..2 * n + 1]
            .iter()
            .filter(|o| !is_zero(o))
            .map(|o| o.to_string())
            .collect();
        let new = words[2 * n + 1].to_string();
        let status = words[2 * n + 2];
        if is_zero(&new) {
            continue; // deleted
        }
        changes.push(Change {
            commit: commit.clone(),
            merge,
            path,
            added: status.chars().all(|c| c == 'A'),
            gitlink: new_mode == "160000",
            olds,
            new,
        });
    }
    Ok(changes)
}

/// One new file version to scan.
struct FileJob {
    blob: String,
    path: String,
    /// The versions it replaces (a finding they hold as often is not new).
    olds: Vec<String>,
    place: Place,
}

/// Findings of one file version: the raw bytes (with lines) and every
/// decoded view (without).
struct FileFindings {
    raw: Vec<Finding>,
    decoded: Vec<(String, Finding)>,
}

impl FileFindings {
    fn counts(&self) -> HashMap<&str, usize> {
        let mut m: HashMap<&str, usize> = HashMap::new();
        for f in &self.raw {
            *m.entry(f.fingerprint.as_str()).or_default() += 1;
        }
        for (_, f) in &self.decoded {
            m.entry(f.fingerprint.as_str()).or_insert(1);
        }
        m
    }
}

/// Scan one file version: raw, decompressed (gzip, zip members), the text
/// decoders' views, UTF-16 text.
fn scan_file(scanner: &Scanner, data: &[u8], path: &str) -> Result<FileFindings, String> {
    let p = (!path.is_empty()).then_some(path);
    let raw = scanner.scan(data, p);
    let mut decoded: Vec<(String, Finding)> = Vec::new();
    let mut budget = MAX_DECOMPRESSED;
    decode_layers(scanner, data, p, 0, &mut budget, "", &mut decoded)?;
    let mut seen: BTreeSet<String> = raw.iter().map(|f| f.fingerprint.clone()).collect();
    decoded.retain(|(_, f)| seen.insert(f.fingerprint.clone()));
    Ok(FileFindings { raw, decoded })
}

/// Decompressed parts of a file: (zip member name or empty, content).
type Members = Vec<(String, Vec<u8>)>;

fn decode_layers(
    scanner: &Scanner,
    data: &[u8],
    path: Option<&str>,
    depth: usize,
    budget: &mut usize,
    via: &str,
    out: &mut Vec<(String, Finding)>,
) -> Result<(), String> {
    let mut push = |what: &str, fs: Vec<Finding>| {
        for f in fs {
            out.push((what.to_string(), f));
        }
    };
    // `via`: the layers undone so far ("zip member a.txt, gzip content").
    let join = |more: &str| {
        if via.is_empty() {
            more.to_string()
        } else {
            format!("{via}, {more}")
        }
    };
    if depth > 0 {
        push(via, scanner.scan(data, path));
    }
    // Compressed content.
    let compressed: Option<(&str, Members)> = if data.starts_with(&[0x1f, 0x8b]) {
        let limit = (*budget).min(data.len().saturating_mul(MAX_RATIO));
        let d = bottle_secrets::decompress("gzip", data, limit).map_err(|e| match e {
            DecodeError::TooLarge { .. } => format!(
                "its gzip content decompresses to more than {} bytes (the gate scans at most {} MiB \
                 per file and {MAX_RATIO} times the compressed size)",
                limit,
                MAX_DECOMPRESSED >> 20
            ),
            other => format!("its gzip content cannot be decompressed: {other}"),
        })?;
        Some(("gzip", vec![(String::new(), d)]))
    } else if data.starts_with(b"PK\x03\x04") || data.starts_with(b"PK\x05\x06") {
        Some(("zip", unzip(data, budget)?))
    } else {
        None
    };
    if let Some((kind, parts)) = compressed {
        if depth >= MAX_ARCHIVE_DEPTH {
            return Err(format!(
                "it is compressed more than {MAX_ARCHIVE_DEPTH} layers deep"
            ));
        }
        for (member, d) in parts {
            *budget = budget.checked_sub(d.len()).ok_or_else(|| {
                format!(
                    "its compressed content is larger than the {} MiB the gate scans per file",
                    MAX_DECOMPRESSED >> 20
                )
            })?;
            let what = if member.is_empty() {
                join(&format!("{kind} content"))
            } else {
                join(&format!("zip member {}", safe_name(scanner, &member)))
            };
            decode_layers(scanner, &d, path, depth + 1, budget, &what, out)?;
        }
        return Ok(());
    }
    // Text decoders.
    let mut found = Vec::new();
    decoded_views(scanner, data, path, &mut found).map_err(|e| match e {
        DecodeError::TooDeep { depth } => format!(
            "it holds content still encoded after {depth} decoding layers, more than the gate undoes"
        ),
        other => format!("its content cannot be decoded for the scan: {other}"),
    })?;
    push(&join("decoded content"), found);
    // UTF-16 text (ASCII characters with a zero byte each).
    let zeros = data.iter().filter(|b| **b == 0).count();
    if zeros >= 8 && zeros * 8 >= data.len() {
        for (name, start) in [("UTF-16LE", 0usize), ("UTF-16BE", 1usize)] {
            let proj: Vec<u8> = data
                .chunks(2)
                .map(|c| {
                    let (ch, z) = if start == 0 {
                        (c[0], c.get(1).copied().unwrap_or(0))
                    } else {
                        (c.get(1).copied().unwrap_or(0), c[0])
                    };
                    if z == 0 && (ch.is_ascii_graphic() || ch == b' ' || ch == b'\n') {
                        ch
                    } else {
                        b'\n'
                    }
                })
                .collect();
            push(&join(&format!("{name} text")), scanner.scan(&proj, path));
        }
    }
    Ok(())
}

/// The members of a zip archive (stored or deflate), by its central
/// directory. Anything else (encryption, other methods, zip64, a damaged
/// directory) is unscannable.
fn unzip(data: &[u8], budget: &mut usize) -> Result<Members, String> {
    let bad = |why: &str| format!("it looks like a zip archive but {why}");
    let u16_at = |i: usize| -> Result<usize, String> {
        data.get(i..i + 2)
            .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
            .ok_or_else(|| bad("its directory is cut short"))
    };
    let u32_at = |i: usize| -> Result<usize, String> {
        data.get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| bad("its directory is cut short"))
    };
    // End of central directory: the last "PK\x05\x06" within 64 KiB + 22
    // bytes of the end.
    let from = data.len().saturating_sub(65_557);
    let eocd = (from..data.len().saturating_sub(21))
        .rev()
        .find(|&i| data[i..].starts_with(b"PK\x05\x06"))
        .ok_or_else(|| bad("it has no central directory"))?;
    let entries = u16_at(eocd + 10)?;
    let mut at = u32_at(eocd + 16)?;
    if entries == 0xFFFF || at == 0xFFFF_FFFF {
        return Err(bad("it is a zip64 archive, which the gate does not decode"));
    }
    let mut out = Vec::new();
    for _ in 0..entries {
        if data.get(at..at + 4) != Some(b"PK\x01\x02") {
            return Err(bad("its central directory is damaged"));
        }
        let flags = u16_at(at + 8)?;
        let method = u16_at(at + 10)?;
        let csize = u32_at(at + 20)?;
        let usize_ = u32_at(at + 24)?;
        let name_len = u16_at(at + 28)?;
        let extra_len = u16_at(at + 30)?;
        let comment_len = u16_at(at + 32)?;
        let local = u32_at(at + 42)?;
        let name = data
            .get(at + 46..at + 46 + name_len)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .ok_or_else(|| bad("its directory is cut short"))?;
        at += 46 + name_len + extra_len + comment_len;
        if name.ends_with('/') && csize == 0 {
            continue; // a directory
        }
        if csize == 0xFFFF_FFFF || usize_ == 0xFFFF_FFFF || local == 0xFFFF_FFFF {
            return Err(bad("it is a zip64 archive, which the gate does not decode"));
        }
        if flags & 1 != 0 {
            return Err(format!(
                "its zip member {name:?} is encrypted, so the gate cannot scan it"
            ));
        }
        if data.get(local..local + 4) != Some(b"PK\x03\x04") {
            return Err(bad("a member's local header is missing"));
        }
        let start = local + 30 + u16_at(local + 26)? + u16_at(local + 28)?;
        let raw = data
            .get(start..start + csize)
            .ok_or_else(|| bad("a member is cut short"))?;
        let limit = (*budget).min(csize.saturating_mul(MAX_RATIO).max(1 << 16));
        let content = match method {
            0 => raw.to_vec(),
            8 => {
                let mut d = flate2::read::DeflateDecoder::new(raw).take(limit as u64 + 1);
                let mut v = Vec::new();
                d.read_to_end(&mut v)
                    .map_err(|e| format!("its zip member {name:?} cannot be decompressed: {e}"))?;
                if v.len() > limit {
                    return Err(format!(
                        "its zip member {name:?} decompresses to more than {limit} bytes (the gate \
                         scans at most {} MiB per file and {MAX_RATIO} times the compressed size)",
                        MAX_DECOMPRESSED >> 20
                    ));
                }
                v
            }
            m => {
                return Err(format!(
                    "its zip member {name:?} uses compression method {m}, which the gate does not \
                     decode (only stored and deflate)"
                ));
            }
        };
        out.push((name, content));
    }
    Ok(out)
}

/// Scan the file versions (in a few threads), compare findings with the
/// versions they replace, and report what is new.
fn scan_files(
    _git: &HookGit,
    batch: &mut Batch,
    scanner: &Scanner,
    jobs: Vec<FileJob>,
    out: &mut Vec<ReportedFinding>,
) -> Result<(), String> {
    if jobs.is_empty() {
        return Ok(());
    }
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    type Done = (usize, Result<FileFindings, String>);
    let results: Mutex<Vec<Done>> = Mutex::new(Vec::new());
    let (tx, rx) = mpsc::sync_channel::<(usize, Vec<u8>)>(workers);
    let rx = Mutex::new(rx);
    let mut read_err: Option<String> = None;
    std::thread::scope(|s| {
        for _ in 0..workers {
            let rx = &rx;
            let results = &results;
            let jobs = &jobs;
            s.spawn(move || {
                loop {
                    let next = match rx.lock() {
                        Ok(g) => g.recv(),
                        Err(_) => return,
                    };
                    let Ok((i, data)) = next else { return };
                    let r = scan_file(scanner, &data, &jobs[i].path);
                    if let Ok(mut v) = results.lock() {
                        v.push((i, r));
                    }
                }
            });
        }
        let ids: Vec<&str> = jobs.iter().map(|j| j.blob.as_str()).collect();
        let read = batch.read_each(&ids, MAX_FILE, &mut |i, obj| match obj {
            Object { data: Some(d), .. } => match tx.send((i, d)) {
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => ControlFlow::Break(()),
            },
            Object { size, .. } => {
                if let Ok(mut v) = results.lock() {
                    v.push((
                        i,
                        Err(format!(
                            "it is {size} bytes, larger than the {} MiB the gate scans per file",
                            MAX_FILE >> 20
                        )),
                    ));
                }
                ControlFlow::Continue(())
            }
        });
        if let Err(e) = read {
            read_err = Some(e);
        }
        drop(tx);
    });
    if let Some(e) = read_err {
        return Err(e);
    }
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(i, _)| *i);
    // Fail closed on the first file that could not be scanned.
    for (i, r) in &results {
        if let Err(why) = r {
            let job = &jobs[*i];
            let mut at = String::new();
            if let Some(c) = &job.place.commit {
                at = format!(" in commit {}", short(c));
            } else if !job.place.what.is_empty() {
                at = format!(" in {}", job.place.what);
            }
            return Err(format!(
                "file {}{at} cannot be scanned: {why}",
                safe_name(scanner, &job.path)
            ));
        }
    }
    let mut old_cache: HashMap<String, HashMap<String, usize>> = HashMap::new();
    for (i, r) in results {
        let Ok(found) = r else { continue };
        if found.raw.is_empty() && found.decoded.is_empty() {
            continue;
        }
        let job = &jobs[i];
        // What the replaced versions already hold (the upstream or an
        // earlier commit of this push has it): the most any parent has.
        let mut before: HashMap<String, usize> = HashMap::new();
        for old in &job.olds {
            if !old_cache.contains_key(old) {
                let counts = match batch.read(old, MAX_FILE) {
                    Ok(Object { data: Some(d), .. }) => scan_file(scanner, &d, &job.path)
                        .map(|ff| {
                            ff.counts()
                                .into_iter()
                                .map(|(k, v)| (k.to_string(), v))
                                .collect()
                        })
                        .unwrap_or_default(),
                    _ => HashMap::new(),
                };
                old_cache.insert(old.clone(), counts);
            }
            for (k, v) in &old_cache[old] {
                let e = before.entry(k.clone()).or_default();
                *e = (*e).max(*v);
            }
        }
        let shown_path = safe_name(scanner, &job.path);
        let path_ok = shown_path == job.path;
        let mut used: HashMap<&str, usize> = HashMap::new();
        let raw_iter = found.raw.iter().map(|f| (None, f));
        let dec_iter = found.decoded.iter().map(|(w, f)| (Some(w.as_str()), f));
        for (via, f) in raw_iter.chain(dec_iter) {
            let n = used.entry(f.fingerprint.as_str()).or_default();
            *n += 1;
            if *n <= before.get(&f.fingerprint).copied().unwrap_or(0) {
                continue;
            }
            let mut place = job.place.clone();
            let file = if job.path.is_empty() {
                String::new()
            } else {
                format!("file {shown_path}")
            };
            place.what = [place.what.as_str(), file.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("  ");
            if let Some(v) = via {
                place.what.push_str(&format!(" ({v})"));
            } else {
                place.line = f.location.line;
            }
            place.path = (path_ok && !job.path.is_empty()).then(|| job.path.clone());
            out.push(reported(f, &place));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        assert!(ascii_compatible("ISO-8859-1"));
        assert!(ascii_compatible("utf-8"));
        assert!(!ascii_compatible("UTF-16LE"));
        assert!(!ascii_compatible("UTF-7"));
        assert_eq!(decode_wide("UTF-16LE", b"a\0b\0").unwrap(), b"ab".to_vec());
        assert_eq!(
            decode_wide("utf16", b"\xff\xfea\0b\0").unwrap(),
            b"ab".to_vec()
        );
        assert_eq!(decode_wide("UTF-32BE", b"\0\0\0a").unwrap(), b"a".to_vec());
        assert!(decode_wide("UTF-7", b"+AGE-").is_none());
    }

    fn token() -> String {
        // Made at run time, never a literal in the repository.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let body: String = (0..36)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"[(x % 62) as usize]
                    as char
            })
            .collect();
        format!("ghp{}{body}", '_')
    }

    #[test]
    fn utf16_messages_are_scanned_decoded() {
        let scanner = Scanner::builtin();
        let msg: Vec<u8> = format!("deploy {}\n", token())
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let mut raw = b"tree 1\nauthor A <a@b> 1 +0000\nencoding UTF-16LE\n\n".to_vec();
        raw.extend_from_slice(&msg);
        let place = Place {
            commit: Some("c".repeat(40)),
            ..Place::default()
        };
        let mut out = Vec::new();
        scan_raw_object(&scanner, &raw, &place, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert!(
            out[0]
                .display
                .contains("commit message decoded from UTF-16LE"),
            "{}",
            out[0].display
        );
        // Undecodable: refused.
        let raw = b"tree 1\nencoding UTF-7\n\n+AGE-\n";
        let err = scan_raw_object(&scanner, raw, &place, &mut Vec::new()).unwrap_err();
        assert!(err.contains("UTF-7"), "{err}");
    }

    #[test]
    fn zip_members_are_read_and_bad_archives_refused() {
        let mut budget = MAX_DECOMPRESSED;
        let err = unzip(b"PK\x03\x04garbage", &mut budget).unwrap_err();
        assert!(err.contains("zip"), "{err}");
    }

    #[test]
    fn headers() {
        let raw = b"tree 1\nauthor A <a@b> 1 +0000\nencoding UTF-16LE\n\nmsg\n";
        assert_eq!(header_value(raw, b"encoding").as_deref(), Some("UTF-16LE"));
        assert_eq!(header_value(raw, b"msg"), None);
    }
}
