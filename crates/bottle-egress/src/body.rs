//! Response bodies: streamed through unbuffered, counted, and audited when
//! they end (or are dropped half way).

use crate::audit::{Audit, Event};
use crate::dlp::{HARVEST_BODY_MAX, Issued};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Errors inside bodies.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What the proxy answers with.
pub(crate) type ProxyBody = BoxBody<Bytes, BoxError>;

pub(crate) fn full(data: impl Into<Bytes>) -> ProxyBody {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed()
}

pub(crate) fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// Wraps an upstream response body: counts bytes and writes the allow line
/// when the body is done; with a [`Harvest`], the tokens it issues are
/// remembered as soon as it is whole.
pub(crate) struct AuditedBody {
    inner: BoxBody<Bytes, BoxError>,
    log: Option<(Arc<Audit>, Event, String, u16)>,
    bytes: u64,
    harvest: Option<Harvest>,
}

/// The first [`HARVEST_BODY_MAX`] bytes of a JSON response, kept to
/// remember the tokens it issues ([`Issued`]) once it is whole (decoded by
/// its `Content-Encoding`); a longer body is not harvested.
pub(crate) struct Harvest {
    issued: Arc<Issued>,
    encoding: Option<String>,
    buf: Vec<u8>,
    over: bool,
}

impl Harvest {
    pub fn new(issued: Arc<Issued>, encoding: Option<String>) -> Self {
        Self {
            issued,
            encoding,
            buf: Vec::new(),
            over: false,
        }
    }

    fn feed(&mut self, d: &[u8]) {
        if self.over {
            return;
        }
        if self.buf.len() + d.len() > HARVEST_BODY_MAX {
            self.over = true;
            self.buf = Vec::new();
        } else {
            self.buf.extend_from_slice(d);
        }
    }

    fn done(self) {
        if self.over {
            return;
        }
        match &self.encoding {
            None => self.issued.harvest(&self.buf),
            Some(enc) => {
                if let Ok(plain) = bottle_secrets::decompress(enc, &self.buf, 1 << 20) {
                    self.issued.harvest(&plain);
                }
            }
        }
        self.issued.harvest(b"\n");
    }
}

impl AuditedBody {
    pub fn new(
        inner: hyper::body::Incoming,
        audit: Arc<Audit>,
        ev: Event,
        rule: String,
        status: u16,
    ) -> Self {
        Self {
            inner: inner.map_err(|e| -> BoxError { Box::new(e) }).boxed(),
            log: Some((audit, ev, rule, status)),
            bytes: 0,
            harvest: None,
        }
    }

    /// Remember what the body issues (see [`Harvest`]).
    pub fn harvest(mut self, h: Option<Harvest>) -> Self {
        self.harvest = h;
        self
    }

    fn finish(&mut self) {
        if let Some(h) = self.harvest.take() {
            h.done();
        }
        if let Some((audit, ev, rule, status)) = self.log.take() {
            audit.log(
                &ev,
                true,
                crate::reasons::check::ALLOWED,
                &rule,
                status,
                self.bytes,
            );
        }
    }
}

impl Body for AuditedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    self.bytes += d.len() as u64;
                    if let Some(h) = &mut self.harvest {
                        h.feed(d);
                        // Before the agent has the last byte: it may send
                        // the token back at once.
                        if self.inner.is_end_stream()
                            && let Some(h) = self.harvest.take()
                        {
                            h.done();
                        }
                    }
                }
            }
            Poll::Ready(None) => self.finish(),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for AuditedBody {
    fn drop(&mut self) {
        self.finish();
    }
}
