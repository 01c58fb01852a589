//! A small ustar writer and reader: enough for build contexts, for files
//! copied into containers with the archive API, and for reading one file
//! back out of a container. Writing it here keeps a tar crate (and its
//! filesystem-walking surface) out of the build; every archive we make is a
//! handful of regular files with explicit owners and modes.

use bytes::Bytes;
use futures_util::Stream;
use std::io;
use std::path::{Path, PathBuf};

const BLOCK: usize = 512;
/// A fixed modification time: archives of the same files are identical,
/// which keeps the classic builder's cache effective.
const MTIME: u64 = 1_700_000_000;
const READ_CHUNK: usize = 256 * 1024;

enum Source {
    Bytes(Bytes),
    File { path: PathBuf, len: u64 },
}

/// An archive being assembled. File contents are read only when the
/// archive is streamed, so a large binary is never held in memory whole.
#[derive(Default)]
pub struct Archive {
    entries: Vec<([u8; BLOCK], Source)>,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Contents may be secrets (configs, keys): show only the count.
        write!(f, "Archive({} entries)", self.entries.len())
    }
}

impl Archive {
    /// An empty archive.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a regular file with the given contents.
    pub fn add_bytes(
        &mut self,
        path: &str,
        data: impl Into<Bytes>,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> io::Result<()> {
        let data = data.into();
        let h = header(path, b'0', data.len() as u64, mode, uid, gid, "")?;
        self.entries.push((h, Source::Bytes(data)));
        Ok(())
    }

    /// Add a regular file read from the host when the archive is streamed.
    pub fn add_file(&mut self, path: &str, host: &Path, mode: u32) -> io::Result<()> {
        let len = std::fs::metadata(host)?.len();
        let h = header(path, b'0', len, mode, 0, 0, "")?;
        self.entries.push((
            h,
            Source::File {
                path: host.to_path_buf(),
                len,
            },
        ));
        Ok(())
    }

    /// Add a directory.
    pub fn add_dir(&mut self, path: &str, mode: u32, uid: u32, gid: u32) -> io::Result<()> {
        let p = if path.ends_with('/') {
            path.to_string()
        } else {
            format!("{path}/")
        };
        let h = header(&p, b'5', 0, mode, uid, gid, "")?;
        self.entries.push((h, Source::Bytes(Bytes::new())));
        Ok(())
    }

    /// Total size of the archive in bytes.
    pub fn len(&self) -> u64 {
        let body: u64 = self
            .entries
            .iter()
            .map(|(_, s)| {
                let n = match s {
                    Source::Bytes(b) => b.len() as u64,
                    Source::File { len, .. } => *len,
                };
                BLOCK as u64 + n.div_ceil(BLOCK as u64) * BLOCK as u64
            })
            .sum();
        body + 2 * BLOCK as u64
    }

    /// Whether the archive has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The whole archive in memory (reads host files synchronously).
    pub fn into_bytes(self) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.len() as usize);
        for (h, src) in self.entries {
            out.extend_from_slice(&h);
            match src {
                Source::Bytes(b) => out.extend_from_slice(&b),
                Source::File { path, len } => {
                    let data = std::fs::read(&path)?;
                    if data.len() as u64 != len {
                        return Err(changed(&path));
                    }
                    out.extend_from_slice(&data);
                }
            }
            pad_to_block(&mut out);
        }
        out.extend_from_slice(&[0u8; 2 * BLOCK]);
        Ok(out)
    }

    /// The archive as a stream of chunks, reading host files as it goes.
    pub fn into_stream(self) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
        let st = StreamState {
            entries: self.entries.into_iter(),
            file: None,
            done: false,
        };
        futures_util::stream::unfold(st, |mut st| async move {
            match st.next_chunk().await {
                Ok(Some(b)) => Some((Ok(b), st)),
                Ok(None) => None,
                Err(e) => {
                    st.done = true;
                    Some((Err(e), st))
                }
            }
        })
    }
}

struct OpenFile {
    file: tokio::fs::File,
    path: PathBuf,
    remaining: u64,
    pad: usize,
}

struct StreamState {
    entries: std::vec::IntoIter<([u8; BLOCK], Source)>,
    file: Option<OpenFile>,
    done: bool,
}

impl StreamState {
    async fn next_chunk(&mut self) -> io::Result<Option<Bytes>> {
        use tokio::io::AsyncReadExt;
        if self.done {
            return Ok(None);
        }
        if let Some(f) = &mut self.file {
            if f.remaining == 0 {
                let pad = f.pad;
                self.file = None;
                if pad > 0 {
                    return Ok(Some(Bytes::from(vec![0u8; pad])));
                }
            } else {
                let want = f.remaining.min(READ_CHUNK as u64) as usize;
                let mut buf = vec![0u8; want];
                let n = f.file.read(&mut buf).await?;
                if n == 0 {
                    return Err(changed(&f.path));
                }
                buf.truncate(n);
                f.remaining -= n as u64;
                return Ok(Some(Bytes::from(buf)));
            }
        }
        match self.entries.next() {
            Some((h, Source::Bytes(b))) => {
                let mut out = Vec::with_capacity(BLOCK + b.len() + BLOCK);
                out.extend_from_slice(&h);
                out.extend_from_slice(&b);
                pad_to_block(&mut out);
                Ok(Some(Bytes::from(out)))
            }
            Some((h, Source::File { path, len })) => {
                let file = tokio::fs::File::open(&path).await?;
                let pad = (BLOCK - (len % BLOCK as u64) as usize) % BLOCK;
                self.file = Some(OpenFile {
                    file,
                    path,
                    remaining: len,
                    pad,
                });
                Ok(Some(Bytes::copy_from_slice(&h)))
            }
            None => {
                self.done = true;
                Ok(Some(Bytes::from(vec![0u8; 2 * BLOCK])))
            }
        }
    }
}

fn changed(path: &Path) -> io::Error {
    io::Error::other(format!(
        "{} changed size while it was being archived",
        path.display()
    ))
}

fn pad_to_block(out: &mut Vec<u8>) {
    let rem = out.len() % BLOCK;
    if rem != 0 {
        out.resize(out.len() + BLOCK - rem, 0);
    }
}

fn octal(field: &mut [u8], v: u64) -> io::Result<()> {
    let width = field.len() - 1;
    let s = format!("{v:0width$o}");
    if s.len() > width {
        return Err(io::Error::other(format!(
            "value {v} does not fit a tar header field"
        )));
    }
    field[..width].copy_from_slice(s.as_bytes());
    field[width] = 0;
    Ok(())
}

fn header(
    path: &str,
    typeflag: u8,
    size: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    link: &str,
) -> io::Result<[u8; BLOCK]> {
    let path = path.trim_start_matches('/');
    if path.is_empty() || path.split('/').any(|c| c == "..") {
        return Err(io::Error::other(format!("bad archive path {path:?}")));
    }
    let mut h = [0u8; BLOCK];
    let (prefix, name) = split_name(path)?;
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], u64::from(mode & 0o7777))?;
    octal(&mut h[108..116], u64::from(uid))?;
    octal(&mut h[116..124], u64::from(gid))?;
    octal(&mut h[124..136], size)?;
    octal(&mut h[136..148], MTIME)?;
    h[156] = typeflag;
    if link.len() > 100 {
        return Err(io::Error::other("link target too long"));
    }
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    Ok(h)
}

fn split_name(path: &str) -> io::Result<(&str, &str)> {
    if path.len() <= 100 {
        return Ok(("", path));
    }
    // ustar: prefix (≤155) + '/' + name (≤100), split at a slash.
    for (i, _) in path.match_indices('/') {
        let (p, n) = (&path[..i], &path[i + 1..]);
        if p.len() <= 155 && n.len() <= 100 && !n.is_empty() {
            return Ok((p, n));
        }
    }
    Err(io::Error::other(format!("archive path too long: {path}")))
}

/// One entry read back from an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Path inside the archive.
    pub name: String,
    /// Tar type flag (`b'0'` file, `b'2'` symlink, `b'5'` directory).
    pub typeflag: u8,
    /// Symlink target.
    pub link: String,
    /// File contents.
    pub data: Vec<u8>,
}

fn field_str(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn parse_octal(b: &[u8]) -> Option<u64> {
    let s = field_str(b);
    let s = s.trim_matches(|c: char| c == ' ' || c == '\0');
    if s.is_empty() {
        return Some(0);
    }
    // from_str_radix would also take a sign: octal digits only.
    if !s.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    u64::from_str_radix(s, 8).ok()
}

/// Whether a header's checksum field matches its bytes (summed with the
/// field itself as spaces; unsigned, as POSIX says, or signed, as some
/// old tars wrote it).
fn checksum_ok(h: &[u8]) -> bool {
    let Some(want) = parse_octal(&h[148..156]) else {
        return false;
    };
    let field = 148..156;
    let unsigned: u64 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| if field.contains(&i) { 32 } else { u64::from(b) })
        .sum();
    let signed: i64 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if field.contains(&i) {
                32
            } else {
                i64::from(b as i8)
            }
        })
        .sum();
    want == unsigned || i64::try_from(want).is_ok_and(|w| w == signed)
}

/// Read every entry of an archive (ustar, GNU long names, PAX paths).
/// A header whose checksum does not match is an error, never read.
pub fn read_entries(archive: &[u8]) -> Result<Vec<Item>, String> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    let mut long_name: Option<String> = None;
    let mut long_link: Option<String> = None;
    while pos + BLOCK <= archive.len() {
        let h = &archive[pos..pos + BLOCK];
        if h.iter().all(|&b| b == 0) {
            break;
        }
        if !checksum_ok(h) {
            return Err(format!("bad header checksum at byte {pos} of the archive"));
        }
        let size = parse_octal(&h[124..136]).ok_or("bad size field in archive")? as usize;
        let typeflag = h[156];
        let data_start = pos + BLOCK;
        let data_end = data_start
            .checked_add(size)
            .filter(|&e| e <= archive.len())
            .ok_or("truncated archive")?;
        let data = &archive[data_start..data_end];
        pos = data_start + size.div_ceil(BLOCK) * BLOCK;
        match typeflag {
            b'L' => {
                long_name = Some(field_str(data));
                continue;
            }
            b'K' => {
                long_link = Some(field_str(data));
                continue;
            }
            b'x' => {
                for rec in String::from_utf8_lossy(data).lines() {
                    if let Some((_, kv)) = rec.split_once(' ') {
                        if let Some(p) = kv.strip_prefix("path=") {
                            long_name = Some(p.to_string());
                        } else if let Some(l) = kv.strip_prefix("linkpath=") {
                            long_link = Some(l.to_string());
                        }
                    }
                }
                continue;
            }
            b'g' => continue,
            _ => {}
        }
        let name = long_name.take().unwrap_or_else(|| {
            let prefix = field_str(&h[345..500]);
            let name = field_str(&h[..100]);
            if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            }
        });
        let link = long_link.take().unwrap_or_else(|| field_str(&h[157..257]));
        out.push(Item {
            name,
            typeflag: if typeflag == 0 { b'0' } else { typeflag },
            link,
            data: data.to_vec(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[test]
    fn written_archives_read_back() {
        let mut a = Archive::new();
        a.add_dir("etc/bottle", 0o755, 0, 0).unwrap();
        a.add_bytes("etc/bottle/egress.toml", "x = 1\n", 0o400, 65534, 65534)
            .unwrap();
        let long = format!("{}/file.txt", "d".repeat(120));
        a.add_bytes(&long, vec![7u8; 1000], 0o644, 0, 0).unwrap();
        let expected_len = a.len();
        let bytes = a.into_bytes().unwrap();
        assert_eq!(bytes.len() as u64, expected_len);
        let items = read_entries(&bytes).unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].name, "etc/bottle/");
        assert_eq!(items[0].typeflag, b'5');
        assert_eq!(items[1].name, "etc/bottle/egress.toml");
        assert_eq!(items[1].data, b"x = 1\n");
        assert_eq!(items[2].name, long);
        assert_eq!(items[2].data, vec![7u8; 1000]);
    }

    #[test]
    fn system_tar_agrees() {
        // GNU tar must accept what we write, with owners and modes intact.
        let dir = tempfile::tempdir().unwrap();
        let mut a = Archive::new();
        a.add_bytes("a/b.txt", "hello\n", 0o640, 1000, 1000)
            .unwrap();
        let path = dir.path().join("t.tar");
        std::fs::write(&path, a.into_bytes().unwrap()).unwrap();
        let out = std::process::Command::new("tar")
            .args(["-tvf"])
            .arg(&path)
            .arg("--numeric-owner")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(listing.contains("-rw-r----- 1000/1000"), "{listing}");
        assert!(listing.contains("a/b.txt"), "{listing}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn streamed_archives_equal_in_memory_ones() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("big.bin");
        let data: Vec<u8> = (0..(READ_CHUNK * 2 + 77))
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&host, &data).unwrap();
        let build = || {
            let mut a = Archive::new();
            a.add_bytes("Dockerfile", "FROM scratch\n", 0o644, 0, 0)
                .unwrap();
            a.add_file("bottle", &host, 0o755).unwrap();
            a
        };
        let whole = build().into_bytes().unwrap();
        let mut streamed = Vec::new();
        let mut s = std::pin::pin!(build().into_stream());
        while let Some(chunk) = s.next().await {
            streamed.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(streamed, whole);
        let items = read_entries(&streamed).unwrap();
        assert_eq!(items[1].data, data);
    }

    #[test]
    fn paths_that_escape_are_refused() {
        let mut a = Archive::new();
        assert!(a.add_bytes("../etc/passwd", "x", 0o644, 0, 0).is_err());
        assert!(a.add_bytes("", "x", 0o644, 0, 0).is_err());
    }

    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn random_archive(g: &mut Gen) -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
        let mut a = Archive::new();
        let mut files = Vec::new();
        for i in 0..1 + g.below(4) {
            // Short names, names past 100 bytes (prefix or long-name
            // records), sizes around block boundaries.
            let depth = g.below(8) as usize;
            let dir = (0..depth)
                .map(|d| format!("d{d}{}", "x".repeat(g.below(30) as usize)))
                .collect::<Vec<_>>()
                .join("/");
            let name = if dir.is_empty() {
                format!("f{i}")
            } else {
                format!("{dir}/f{i}")
            };
            let size = match g.below(3) {
                0 => g.below(10),
                1 => 512 * g.below(3) + g.below(3),
                _ => g.below(3000),
            } as usize;
            let data: Vec<u8> = (0..size).map(|_| g.next() as u8).collect();
            a.add_bytes(&name, data.clone(), 0o644, 0, 0).unwrap();
            files.push((name, data));
        }
        (a.into_bytes().unwrap(), files)
    }

    /// Property: what we write reads back entry for entry; a damaged
    /// header (any one byte changed) is refused or reads the same, never
    /// read as something else; a cut archive is refused or reads a prefix.
    /// No input makes the reader panic.
    #[test]
    fn archives_read_back_and_damage_is_refused() {
        let mut g = Gen(0x5eed_0003);
        for case in 0..300 {
            let (bytes, files) = random_archive(&mut g);
            let items = read_entries(&bytes).unwrap();
            let got: Vec<(String, Vec<u8>)> = items
                .iter()
                .map(|i| (i.name.clone(), i.data.clone()))
                .collect();
            assert_eq!(got, files, "case {case}");
            // Header blocks: the first block, and every block that starts
            // an entry (found by walking the sizes).
            let mut headers = Vec::new();
            let mut pos = 0;
            while pos + BLOCK <= bytes.len() && bytes[pos..pos + BLOCK].iter().any(|&b| b != 0) {
                headers.push(pos);
                let size = parse_octal(&bytes[pos + 124..pos + 136]).unwrap() as usize;
                pos += BLOCK + size.div_ceil(BLOCK) * BLOCK;
            }
            for _ in 0..20 {
                let h = headers[g.below(headers.len() as u64) as usize];
                let at = h + g.below(BLOCK as u64) as usize;
                let mut bad = bytes.clone();
                bad[at] ^= 1 << g.below(8);
                match read_entries(&bad) {
                    Err(_) => {}
                    Ok(again) => assert_eq!(again, items, "case {case}: byte {at} changed"),
                }
            }
            let cut = g.below(bytes.len() as u64) as usize;
            if let Ok(prefix) = read_entries(&bytes[..cut]) {
                assert!(
                    prefix.len() <= items.len() && prefix[..] == items[..prefix.len()],
                    "case {case}: cut at {cut}"
                );
            }
        }
    }
}
