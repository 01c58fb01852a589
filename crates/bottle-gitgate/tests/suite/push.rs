//! Pushes: scanning, forwarding, refusals.
