//! One large input scanned by several threads (issue 11: a dense file is
//! one unit of work for the directory walk, so a tree of a few big files
//! used one core).
//!
//! The input is cut into parts at line ends (or, on a long line, at a byte
//! that cannot be inside a token). Each part is scanned as a *view* that
//! reaches [`CONTEXT`] bytes before and after it, so a match starting in
//! the part is seen whole and with what precedes it, and each part reports
//! only the hits that start inside it. Dedup (a generic rule's hit under a
//! specific one) runs on the whole view, before that filter, so it sees the
//! neighbours across the cut. Lines and columns are those of the whole
//! input. The result equals [`Scanner::scan`]'s (tests below compare them).

use crate::engine::{ALLOW_MARKERS, Hit, token_char};
use crate::{Finding, Scanner};

/// Bytes of context on each side of a part: more than any built-in rule's
/// match (the longest, a PEM key, is a few KiB) and more than the engine's
/// keyword windows on a long line.
const CONTEXT: usize = 64 << 10;
/// A cut looks this far past its target for a line end...
const FIND_LINE_END: usize = 64 << 10;
/// ...and then this far for a byte that is not a token character.
const FIND_NON_TOKEN: usize = 4 << 10;
/// Parts are at least this large (smaller inputs are not worth a thread).
pub(crate) const MIN_PART: usize = 1 << 20;

impl Scanner {
    /// Like [`Scanner::scan`], with the work split between up to `threads`
    /// threads when `data` is large enough (at least two parts of
    /// 1 MiB). Same findings, same order as `scan`'s.
    ///
    /// Only the built-in rules are split (their matches are short and
    /// line-local or bounded); a gitleaks config's rules run on the whole
    /// input, as gitleaks does, and so does a file holding an inline allow
    /// marker (it allows its whole line, which a part may not see).
    pub fn scan_threaded(&self, data: &[u8], path: Option<&str>, threads: usize) -> Vec<Finding> {
        let Some(ranges) = self.part_ranges(data, threads) else {
            return self.scan(data, path);
        };
        let mut found: Vec<Vec<Finding>> = std::thread::scope(|s| {
            let rest: Vec<_> = ranges[1..]
                .iter()
                .map(|&(a, b)| s.spawn(move || self.scan_part(data, path, a, b)))
                .collect();
            let first = self.scan_part(data, path, ranges[0].0, ranges[0].1);
            let mut all = vec![first];
            for h in rest {
                all.push(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
            }
            all
        });
        let mut out = Vec::with_capacity(found.iter().map(Vec::len).sum());
        for part in &mut found {
            out.append(part);
        }
        out
    }

    /// The parts `data` is cut into for up to `parts` threads, in order and
    /// covering it, or `None` when it is to be scanned whole (too small for
    /// two parts of [`MIN_PART`], no cut found, or not
    /// [`splittable`](Scanner::splittable)). Each part is scanned with
    /// [`Scanner::scan_part`]; their findings, concatenated in part order,
    /// are [`Scanner::scan`]'s.
    pub(crate) fn part_ranges(&self, data: &[u8], parts: usize) -> Option<Vec<(usize, usize)>> {
        let parts = parts.min(data.len() / MIN_PART);
        if parts < 2 || !self.splittable(data) {
            return None;
        }
        let cuts = cut_points(data, parts);
        (cuts.len() >= 3).then(|| cuts.windows(2).map(|w| (w[0], w[1])).collect())
    }

    /// Whether parts give the same findings as the whole (see
    /// [`Scanner::scan_threaded`]).
    fn splittable(&self, data: &[u8]) -> bool {
        self.rules.rules.iter().all(|r| r.builtin)
            && !(self.inline_allow
                && ALLOW_MARKERS
                    .iter()
                    .any(|m| memchr::memmem::find(data, m).is_some()))
    }

    /// Findings that start in `data[a..b]`, scanned with context around.
    pub(crate) fn scan_part(
        &self,
        data: &[u8],
        path: Option<&str>,
        a: usize,
        b: usize,
    ) -> Vec<Finding> {
        let vs = a.saturating_sub(CONTEXT);
        let ve = (b + CONTEXT).min(data.len());
        let view = &data[vs..ve];
        let hits: Vec<Hit> = self
            .hits(view, path, None, 0..view.len())
            .into_iter()
            .filter(|h| (a..b).contains(&(vs + h.start)))
            .collect();
        // Line and column of the view's first byte in the whole input.
        let before = &data[..vs];
        let base_line = memchr::memchr_iter(b'\n', before).count();
        let line_start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
        self.findings(hits, view, path, None, vs, base_line, |lines, off| {
            let (l, c) = lines.locate(off);
            let column = if l == 0 { vs + off - line_start + 1 } else { c };
            (Some(base_line + l + 1), Some(column))
        })
    }
}

/// `parts + 1` increasing offsets from 0 to `data.len()`, cutting after a
/// line end near each even share, else before a byte that is not a token
/// character; a share with neither nearby is merged into the next part.
fn cut_points(data: &[u8], parts: usize) -> Vec<usize> {
    let mut cuts = vec![0];
    for i in 1..parts {
        let target = data.len() / parts * i;
        if target <= *cuts.last().unwrap_or(&0) {
            continue;
        }
        let line_end = data[target..(target + FIND_LINE_END).min(data.len())]
            .iter()
            .position(|&b| b == b'\n')
            .map(|p| target + p + 1);
        let cut = line_end.or_else(|| {
            data[target..(target + FIND_NON_TOKEN).min(data.len())]
                .iter()
                .position(|&b| !token_char(b))
                .map(|p| target + p)
        });
        if let Some(c) = cut
            && c < data.len()
        {
            cuts.push(c);
        }
    }
    cuts.push(data.len());
    cuts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Profile;

    /// A JSON-ish body with a token of several kinds every ~150 bytes
    /// (bodies varied by a counter), on one line or a record per line.
    fn dense(len: usize, one_line: bool) -> Vec<u8> {
        let prefixes = [
            "ghp_",
            "glpat-",
            "xoxb-1234567890-",
            "AKIA",
            "npm_",
            "sk-ant-api03-",
        ];
        let mut out = b"[".to_vec();
        let mut i = 0u64;
        while out.len() < len {
            let mut body = String::new();
            let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
            let upper = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
            let p = prefixes[(i % prefixes.len() as u64) as usize];
            for _ in 0..if p == "AKIA" { 16 } else { 36 } {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let set: &[u8] = if p == "AKIA" { upper } else { alphabet };
                body.push(set[(x % set.len() as u64) as usize] as char);
            }
            let sep = if one_line { "" } else { "\n" };
            out.extend_from_slice(
                format!("{sep}{{\"id\":{i},\"note\":\"record {i} of the set\",\"token\":\"{p}{body}\"}},")
                    .as_bytes(),
            );
            i += 1;
        }
        out.extend_from_slice(b"{}]\n");
        out
    }

    fn key(f: &Finding) -> (usize, Option<usize>, Option<usize>, String, String) {
        let l = &f.location;
        (
            l.offset,
            l.line,
            l.column,
            f.rule_id.clone(),
            f.fingerprint.clone(),
        )
    }

    #[test]
    fn threaded_scan_equals_the_whole_scan_on_dense_input() {
        for profile in [Profile::Code, Profile::Egress] {
            let scanner = Scanner::builtin().with_profile(profile);
            for one_line in [true, false] {
                let data = dense(3 * MIN_PART + 12_345, one_line);
                let whole: Vec<_> = scanner
                    .scan(&data, Some("d.json"))
                    .iter()
                    .map(key)
                    .collect();
                assert!(whole.len() > 10_000, "{} findings", whole.len());
                for threads in [2, 3, 7] {
                    let split: Vec<_> = scanner
                        .scan_threaded(&data, Some("d.json"), threads)
                        .iter()
                        .map(key)
                        .collect();
                    assert_eq!(
                        split.len(),
                        whole.len(),
                        "{profile:?} one_line={one_line} threads={threads}"
                    );
                    assert!(
                        split == whole,
                        "{profile:?} one_line={one_line} threads={threads}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_token_across_the_even_share_is_found_once_with_its_whole_file_position() {
        // Filler without line ends or separators, so the cut is the first
        // non-token byte after the even share: the one after the token
        // that straddles it.
        let mut data = vec![b'a'; 2 * MIN_PART];
        let token = b"ghp_Zq3RmT8wLk2VxN5pHy7cJb4dFs6gKe9uAiQo";
        let at = MIN_PART - 20;
        data[at - 1] = b' ';
        data[at..at + token.len()].copy_from_slice(token);
        data[at + token.len()] = b' ';
        data.extend_from_slice(b"\n");
        assert_eq!(cut_points(&data, 2), vec![0, at + token.len(), data.len()]);
        let scanner = Scanner::builtin();
        let whole = scanner.scan(&data, None);
        let split = scanner.scan_threaded(&data, None, 2);
        assert_eq!(whole.len(), 1);
        assert_eq!(
            split.iter().map(key).collect::<Vec<_>>(),
            whole.iter().map(key).collect::<Vec<_>>()
        );
        assert_eq!(split[0].location.column, Some(at + 1));
        // Moved past the cut: found by the second part, same position.
        let mut later = vec![b'a'; 2 * MIN_PART];
        later[MIN_PART + 99..MIN_PART + 99 + token.len()].copy_from_slice(token);
        later[MIN_PART + 98] = b' ';
        later[MIN_PART + 99 + token.len()] = b' ';
        later.extend_from_slice(b"\n");
        assert_eq!(cut_points(&later, 2), vec![0, MIN_PART + 98, later.len()]);
        let split = scanner.scan_threaded(&later, None, 2);
        assert_eq!(split.len(), 1);
        assert_eq!(split[0].location.column, Some(MIN_PART + 100));
        assert_eq!(split[0].location.offset, MIN_PART + 99);
    }

    #[test]
    fn inputs_that_parts_would_change_are_scanned_whole() {
        let scanner = Scanner::builtin().with_inline_allow(true);
        let mut data = dense(2 * MIN_PART + 10, false);
        assert!(scanner.splittable(&data));
        data.extend_from_slice(b"x = 1 # bottle:allow\n");
        assert!(
            !scanner.splittable(&data),
            "an allow marker allows its whole line"
        );
        assert!(scanner.with_inline_allow(false).splittable(&data));
        // A run of token characters longer than the search: no cut.
        let long = vec![b'A'; 2 * MIN_PART + 10];
        assert_eq!(cut_points(&long, 2), vec![0, long.len()]);
    }
}
