//! ssh upstreams through a real sshd.
