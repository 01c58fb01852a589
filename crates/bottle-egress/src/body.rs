//! Response bodies: streamed through unbuffered, counted, and audited when
//! they end (or are dropped half way).

use crate::audit::{Audit, Event};
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
/// when the body is done.
pub(crate) struct AuditedBody {
    inner: BoxBody<Bytes, BoxError>,
    log: Option<(Arc<Audit>, Event, String, u16)>,
    bytes: u64,
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
        }
    }

    fn finish(&mut self) {
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
