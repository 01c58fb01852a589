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
    }
}
