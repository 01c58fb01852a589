//! Just enough of the zip format to take named files out of a wheel: the
//! central directory, stored and deflated members, CRC-32 checked.
//!
//! A wheel is a plain zip archive. Reading the few members a preset needs
//! here (flate2 is already in the build for the proxy's decoders) keeps a
//! zip crate, and its path-handling surface, out of the tree: nothing is
//! extracted by the name the archive gives it; the caller says where each
//! member goes. Zip64 archives are refused (wheels of a few hundred
//! megabytes do not need it), as are encrypted members and any other
//! compression method: better an error than a half-read binary.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

const EOCD_SIG: u32 = 0x0605_4b50;
const CDIR_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;
const ZIP64_SENTINEL: u32 = 0xffff_ffff;

/// One member, as the central directory describes it.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    method: u16,
    flags: u16,
    crc: u32,
    compressed: u64,
    size: u64,
    local_offset: u64,
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Read the central directory.
fn entries(f: &mut File) -> io::Result<Vec<Entry>> {
    let len = f.metadata()?.len();
    // The end record is 22 bytes plus a comment of at most 65535.
    let tail_len = len.min(22 + 65535);
    f.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    f.read_exact(&mut tail)?;
    let eocd = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| u32_at(&tail, i) == EOCD_SIG)
        .ok_or_else(|| bad("not a zip archive (no end of central directory)"))?;
    let e = &tail[eocd..];
    let count = u16_at(e, 10);
    let cd_size = u32_at(e, 12);
    let cd_offset = u32_at(e, 16);
    if count == 0xffff || cd_size == ZIP64_SENTINEL || cd_offset == ZIP64_SENTINEL {
        return Err(bad("zip64 archives are not supported"));
    }
    if u64::from(cd_offset) + u64::from(cd_size) > len {
        return Err(bad("the central directory lies past the end of the file"));
    }
    f.seek(SeekFrom::Start(u64::from(cd_offset)))?;
    let mut cd = vec![0u8; cd_size as usize];
    f.read_exact(&mut cd)?;
    let mut out = Vec::with_capacity(usize::from(count));
    let mut i = 0;
    for _ in 0..count {
        if i + 46 > cd.len() || u32_at(&cd, i) != CDIR_SIG {
            return Err(bad("corrupt central directory"));
        }
        let name_len = usize::from(u16_at(&cd, i + 28));
        let extra_len = usize::from(u16_at(&cd, i + 30));
        let comment_len = usize::from(u16_at(&cd, i + 32));
        let end = i + 46 + name_len;
        if end > cd.len() {
            return Err(bad("corrupt central directory"));
        }
        let compressed = u32_at(&cd, i + 20);
        let size = u32_at(&cd, i + 24);
        let local_offset = u32_at(&cd, i + 42);
        if [compressed, size, local_offset].contains(&ZIP64_SENTINEL) {
            return Err(bad("zip64 members are not supported"));
        }
        out.push(Entry {
            name: String::from_utf8_lossy(&cd[i + 46..end]).into_owned(),
            flags: u16_at(&cd, i + 8),
            method: u16_at(&cd, i + 10),
            crc: u32_at(&cd, i + 16),
            compressed: u64::from(compressed),
            size: u64::from(size),
            local_offset: u64::from(local_offset),
        });
        i = end + extra_len + comment_len;
    }
    Ok(out)
}

/// Copy the member `name` of the zip archive at `archive` to `dest`
/// (created or truncated), checking its size and CRC-32. Returns its size.
pub fn extract(archive: &Path, name: &str, dest: &Path) -> io::Result<u64> {
    let mut f = File::open(archive)?;
    let entry = entries(&mut f)?
        .into_iter()
        .find(|e| e.name == name)
        .ok_or_else(|| bad(format!("{name} is not in the archive")))?;
    if entry.flags & 1 != 0 {
        return Err(bad(format!("{name} is encrypted")));
    }
    f.seek(SeekFrom::Start(entry.local_offset))?;
    let mut local = [0u8; 30];
    f.read_exact(&mut local)?;
    if u32_at(&local, 0) != LOCAL_SIG {
        return Err(bad(format!("{name}: corrupt local header")));
    }
    // The local header's name and extra field may differ in length from
    // the central directory's; the data starts after the local ones.
    let skip = u64::from(u16_at(&local, 26)) + u64::from(u16_at(&local, 28));
    f.seek(SeekFrom::Current(skip as i64))?;
    let data = BufReader::new(f).take(entry.compressed);
    let mut reader: Box<dyn Read> = match entry.method {
        0 => Box::new(data),
        8 => Box::new(flate2::read::DeflateDecoder::new(data)),
        m => {
            return Err(bad(format!(
                "{name}: compression method {m} is not supported"
            )));
        }
    };
    let mut out = File::create(dest)?;
    let mut crc = flate2::Crc::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > entry.size {
            return Err(bad(format!("{name} is larger than the archive says")));
        }
        crc.update(&buf[..n]);
        out.write_all(&buf[..n])?;
    }
    out.flush()?;
    if total != entry.size {
        return Err(bad(format!(
            "{name} is {total} bytes, the archive says {}",
            entry.size
        )));
    }
    if crc.sum() != entry.crc {
        return Err(bad(format!("{name}: CRC-32 mismatch")));
    }
    Ok(total)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A zip archive of `(name, data, deflate?)` members, written the way
    /// zip tools do (local headers, then the central directory).
    pub(crate) fn make_zip(members: &[(&str, &[u8], bool)]) -> Vec<u8> {
        use flate2::write::DeflateEncoder;
        let mut out = Vec::new();
        let mut cd = Vec::new();
        for (name, data, deflate) in members {
            let mut crc = flate2::Crc::new();
            crc.update(data);
            let body = if *deflate {
                let mut e = DeflateEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            } else {
                data.to_vec()
            };
            let method: u16 = if *deflate { 8 } else { 0 };
            let offset = out.len() as u32;
            let mut common = Vec::new();
            common.extend_from_slice(&20u16.to_le_bytes()); // version needed
            common.extend_from_slice(&0u16.to_le_bytes()); // flags
            common.extend_from_slice(&method.to_le_bytes());
            common.extend_from_slice(&[0, 0, 0, 0]); // time, date
            common.extend_from_slice(&crc.sum().to_le_bytes());
            common.extend_from_slice(&(body.len() as u32).to_le_bytes());
            common.extend_from_slice(&(data.len() as u32).to_le_bytes());
            common.extend_from_slice(&(name.len() as u16).to_le_bytes());
            // A local extra field the central directory does not have.
            out.extend_from_slice(&LOCAL_SIG.to_le_bytes());
            out.extend_from_slice(&common);
            out.extend_from_slice(&4u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&[0xfe, 0xca, 0, 0]);
            out.extend_from_slice(&body);
            cd.extend_from_slice(&CDIR_SIG.to_le_bytes());
            cd.extend_from_slice(&20u16.to_le_bytes()); // version made by
            cd.extend_from_slice(&common);
            cd.extend_from_slice(&0u16.to_le_bytes()); // extra
            cd.extend_from_slice(&0u16.to_le_bytes()); // comment
            cd.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]); // disk, attrs
            cd.extend_from_slice(&offset.to_le_bytes());
            cd.extend_from_slice(name.as_bytes());
        }
        let cd_offset = out.len() as u32;
        out.extend_from_slice(&cd);
        out.extend_from_slice(&EOCD_SIG.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&(members.len() as u16).to_le_bytes());
        out.extend_from_slice(&(members.len() as u16).to_le_bytes());
        out.extend_from_slice(&(cd.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&3u16.to_le_bytes());
        out.extend_from_slice(b"hi!");
        out
    }

    #[test]
    fn stored_and_deflated_members_come_out_whole() {
        let dir = tempfile::tempdir().unwrap();
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let zip = make_zip(&[
            ("pkg/__init__.py", b"print('hi')\n", false),
            ("pkg/_bundled/tool", &big, true),
        ]);
        let archive = dir.path().join("a.whl");
        std::fs::write(&archive, &zip).unwrap();
        let dest = dir.path().join("tool");
        assert_eq!(
            extract(&archive, "pkg/_bundled/tool", &dest).unwrap(),
            big.len() as u64
        );
        assert_eq!(std::fs::read(&dest).unwrap(), big);
        extract(&archive, "pkg/__init__.py", &dest).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"print('hi')\n");
    }

    #[test]
    fn a_missing_member_or_a_damaged_archive_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a.whl");
        let dest = dir.path().join("out");
        let zip = make_zip(&[("a", b"hello hello hello hello", true)]);
        std::fs::write(&archive, &zip).unwrap();
        let e = extract(&archive, "b", &dest).unwrap_err();
        assert!(e.to_string().contains("not in the archive"), "{e}");

        // Flip one byte of the compressed data: the CRC (or inflate) fails.
        let mut broken = zip.clone();
        let data_at = 30 + 1 + 4; // local header, name "a", extra field
        broken[data_at + 2] ^= 0x55;
        std::fs::write(&archive, &broken).unwrap();
        assert!(extract(&archive, "a", &dest).is_err());

        std::fs::write(&archive, b"not a zip at all").unwrap();
        let e = extract(&archive, "a", &dest).unwrap_err();
        assert!(e.to_string().contains("not a zip"), "{e}");
    }

    #[test]
    fn zip64_archives_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("a.whl");
        let mut zip = make_zip(&[("a", b"x", false)]);
        // The end record's central directory offset set to the zip64 sentinel.
        let eocd = zip.len() - 22 - 3;
        zip[eocd + 16..eocd + 20].copy_from_slice(&ZIP64_SENTINEL.to_le_bytes());
        std::fs::write(&archive, &zip).unwrap();
        let e = extract(&archive, "a", &dir.path().join("out")).unwrap_err();
        assert!(e.to_string().contains("zip64"), "{e}");
    }
}
