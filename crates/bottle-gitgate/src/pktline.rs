//! The little pkt-line the gate speaks itself: `ERR` lines for errors git
//! shows the user, and reading the command name of a protocol v2 request.
//! Everything else on the wire is git's.

use std::io::Read;

/// One pkt-line: four hex digits of length (including themselves), then the
/// payload.
pub(crate) fn pkt(payload: &[u8]) -> Vec<u8> {
    let mut v = format!("{:04x}", payload.len() + 4).into_bytes();
    v.extend_from_slice(payload);
    v
}

/// An `ERR` pkt-line: git clients die with `remote error: <msg>`.
pub(crate) fn err_pkt(msg: &str) -> Vec<u8> {
    // Keep under the pkt-line payload limit (65516 bytes) with room to spare.
    let mut m: String = msg.chars().filter(|c| !c.is_control()).collect();
    if m.len() > 8000 {
        let mut cut = 8000;
        while !m.is_char_boundary(cut) {
            cut -= 1;
        }
        m.truncate(cut);
    }
    pkt(format!("ERR {m}\n").as_bytes())
}

/// The `command=<name>` of a protocol v2 request body (already un-gzipped).
/// `None` when the first pkt-line is not a command.
pub(crate) fn v2_command(body: &[u8]) -> Option<String> {
    let len_hex = std::str::from_utf8(body.get(..4)?).ok()?;
    let len = usize::from_str_radix(len_hex, 16).ok()?;
    if len < 4 {
        return None;
    }
    let payload = body.get(4..len)?;
    let line = std::str::from_utf8(payload).ok()?.trim_end_matches('\n');
    line.strip_prefix("command=").map(str::to_string)
}

/// The payloads of the data pkt-lines in `body` (flush, delimiter and
/// response-end packets skipped); stops at the first malformed length.
pub(crate) fn payloads(body: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = body;
    while rest.len() >= 4 {
        let Some(len) = std::str::from_utf8(&rest[..4])
            .ok()
            .and_then(|h| usize::from_str_radix(h, 16).ok())
        else {
            break;
        };
        if len < 4 {
            rest = &rest[4..];
            continue;
        }
        let Some(payload) = rest.get(4..len) else {
            break;
        };
        out.push(payload);
        rest = &rest[len..];
    }
    out
}

/// The object ids of the `want` lines of a protocol v2 `fetch` request.
pub(crate) fn v2_wants(body: &[u8]) -> Vec<String> {
    payloads(body)
        .into_iter()
        .filter_map(|p| std::str::from_utf8(p).ok())
        .filter_map(|l| l.trim_end_matches('\n').strip_prefix("want "))
        .filter(|id| matches!(id.len(), 40 | 64) && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
        .collect()
}

/// Decode a gzip request body, reading at most `limit` output bytes.
pub(crate) fn gunzip(data: &[u8], limit: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)?;
    if out.len() > limit {
        return Err(std::io::Error::other(
            "request body too large once decompressed",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_reads_commands() {
        assert_eq!(pkt(b"hi\n"), b"0007hi\n");
        let mut body = pkt(b"command=ls-refs\n");
        body.extend_from_slice(b"0001");
        assert_eq!(v2_command(&body).as_deref(), Some("ls-refs"));
        assert_eq!(v2_command(b"0000"), None);
        assert_eq!(v2_command(b"zzzz"), None);
        assert_eq!(v2_command(&pkt(b"want abc\n")), None);
        assert_eq!(err_pkt("upstream\ndown"), b"0015ERR upstreamdown\n");
        let id = "ab".repeat(20);
        let mut fetch = pkt(b"command=fetch\n");
        fetch.extend_from_slice(b"0001");
        fetch.extend(pkt(format!("want {id}\n").as_bytes()));
        fetch.extend(pkt(b"want not-an-id\n"));
        fetch.extend(pkt(format!("have {}\n", "cd".repeat(20)).as_bytes()));
        fetch.extend_from_slice(b"0000");
        assert_eq!(v2_wants(&fetch), vec![id]);
        assert_eq!(payloads(b"0006a\n0000zz").len(), 1);
    }
}
