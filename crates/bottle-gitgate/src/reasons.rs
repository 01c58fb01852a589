//! Stable reason strings, carried in audit lines and in messages to the git
//! client. Scripts may match on them; never change one, only add.

/// The request was served (fetch) or forwarded upstream (push).
pub const OK: &str = "ok";
/// Refreshing the mirror from the upstream failed (unreachable, refused,
/// host key mismatch, timeout, ...): nothing was served.
pub const UPSTREAM_UNREACHABLE: &str = "upstream-unreachable";
/// The push adds something that looks like a secret.
pub const SECRET_FOUND: &str = "secret-found";
/// The secret scan itself failed; the push is rejected (fail closed).
pub const SCAN_FAILED: &str = "scan-failed";
/// The upstream refused the forwarded push (non-fast-forward, protected
/// branch, permissions, ...), or could not be reached for it.
pub const UPSTREAM_REJECTED: &str = "upstream-rejected";
/// The push updates a ref outside `refs/heads/`, `refs/tags/`, `refs/notes/`.
pub const REF_NOT_ALLOWED: &str = "ref-not-allowed";
/// The client's view of a ref is out of date (the mirror moved since it
/// fetched).
pub const STALE_REF: &str = "stale-ref";
/// The gate itself failed while handling the push (hook could not run, ...).
pub const GATE_ERROR: &str = "gate-error";
/// receive-pack refused the push before the hook ran (corrupt pack, fsck
/// failure, malformed request).
pub const RECEIVE_PACK_REFUSED: &str = "receive-pack-refused";
