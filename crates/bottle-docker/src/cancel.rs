//! Cancellation of a launch by a signal.
//!
//! A signal never aborts an Engine API call half-way: a create call whose
//! answer we dropped would leave a resource we do not know about. Instead,
//! steps that create things run to completion and the launch checks the
//! flag between them; only waits (health checks, builds) are cut short.
//! Whatever was created is then torn down.

use crate::error::{Error, Result};
use std::future::Future;
use tokio::sync::watch;

/// A cancellation flag carrying the name of the signal that set it.
#[derive(Debug, Clone)]
pub struct Cancel {
    rx: watch::Receiver<Option<&'static str>>,
}

/// The side that sets a [`Cancel`].
#[derive(Debug)]
pub struct CancelHandle {
    tx: watch::Sender<Option<&'static str>>,
}

impl CancelHandle {
    /// Set the flag (the first reason wins).
    pub fn cancel(&self, why: &'static str) {
        self.tx.send_if_modified(|v| {
            if v.is_none() {
                *v = Some(why);
                true
            } else {
                false
            }
        });
    }
}

impl Cancel {
    /// A new flag and its handle.
    pub fn new() -> (CancelHandle, Cancel) {
        let (tx, rx) = watch::channel(None);
        (CancelHandle { tx }, Cancel { rx })
    }

    /// A flag that is never set.
    pub fn never() -> Cancel {
        let (h, c) = Self::new();
        // Keep the sender alive for the life of the process so `cancelled`
        // waits forever instead of seeing a closed channel.
        std::mem::forget(h);
        c
    }

    /// The reason, if set.
    pub fn reason(&self) -> Option<&'static str> {
        *self.rx.borrow()
    }

    /// `Err(Interrupted)` if set.
    pub fn check(&self) -> Result<()> {
        match self.reason() {
            Some(why) => Err(Error::Interrupted(why)),
            None => Ok(()),
        }
    }

    /// Wait until set.
    pub async fn cancelled(&self) -> &'static str {
        let mut rx = self.rx.clone();
        loop {
            if let Some(why) = *rx.borrow_and_update() {
                return why;
            }
            if rx.changed().await.is_err() {
                // Sender gone: never cancelled.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Run `fut` unless the flag is set first.
    pub async fn race<T>(&self, fut: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::select! {
            biased;
            why = self.cancelled() => Err(Error::Interrupted(why)),
            r = fut => r,
        }
    }
}

/// A flag set by SIGINT, SIGTERM or SIGHUP. Installing it replaces the
/// default action of those signals for the rest of the process, so a second
/// Ctrl-C cannot kill `bottle` half-way through a teardown.
pub fn on_signals() -> Result<Cancel> {
    use tokio::signal::unix::{SignalKind, signal};
    let (h, c) = Cancel::new();
    let mut int =
        signal(SignalKind::interrupt()).map_err(|e| Error::io("installing a SIGINT handler", e))?;
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| Error::io("installing a SIGTERM handler", e))?;
    let mut hup =
        signal(SignalKind::hangup()).map_err(|e| Error::io("installing a SIGHUP handler", e))?;
    tokio::spawn(async move {
        loop {
            let why = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
                _ = hup.recv() => "SIGHUP",
            };
            h.cancel(why);
        }
    });
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn the_first_reason_wins_and_races_stop() {
        let (h, c) = Cancel::new();
        assert!(c.check().is_ok());
        h.cancel("SIGTERM");
        h.cancel("SIGINT");
        assert_eq!(c.reason(), Some("SIGTERM"));
        let r = c.race(std::future::pending::<Result<()>>()).await;
        assert!(matches!(r, Err(Error::Interrupted("SIGTERM"))));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn never_lets_work_finish() {
        let c = Cancel::never();
        assert_eq!(c.race(async { Ok(5) }).await.unwrap(), 5);
    }
}
