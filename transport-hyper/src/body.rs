//! Response bodies: a complete body, or an SSE stream fed by the driver one
//! frame at a time.

use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};

use crate::mailbox::ExchangeGuard;

/// The SSE comment sent on an idle stream (H-SSE-5): clients ignore it,
/// proxies see traffic.
pub const KEEP_ALIVE_FRAME: &[u8] = b": keep-alive\n\n";

/// The body of every response of [`McpService`](crate::McpService).
///
/// Either a complete body (JSON, or empty), or a `text/event-stream` body
/// that yields each SSE event the moment the core emits it, plus a comment
/// keep-alive when the stream has been idle for the configured interval.
/// Nothing is collected: each frame is handed to hyper as its own chunk.
/// Dropping a streaming body (the client went away) reports a disconnect to
/// the driver.
pub struct McpBody {
    kind: Kind,
}

enum Kind {
    Full(Option<Bytes>),
    Stream(Box<Streaming>),
}

struct Streaming {
    frames: mpsc::Receiver<Bytes>,
    keep_alive: Option<(Duration, Pin<Box<Sleep>>)>,
    guard: ExchangeGuard,
    done: bool,
}

impl McpBody {
    /// A complete body (empty bytes make an empty body).
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        McpBody {
            kind: Kind::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }

    /// An empty body.
    pub fn empty() -> Self {
        McpBody {
            kind: Kind::Full(None),
        }
    }

    pub(crate) fn stream(
        frames: mpsc::Receiver<Bytes>,
        keep_alive: Option<Duration>,
        guard: ExchangeGuard,
    ) -> Self {
        let keep_alive =
            keep_alive.map(|d| (d, Box::pin(tokio::time::sleep_until(Instant::now() + d))));
        McpBody {
            kind: Kind::Stream(Box::new(Streaming {
                frames,
                keep_alive,
                guard,
                done: false,
            })),
        }
    }

    /// Whether this is an SSE stream.
    pub fn is_stream(&self) -> bool {
        matches!(self.kind, Kind::Stream(_))
    }
}

impl fmt::Debug for McpBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Full(b) => f
                .debug_struct("McpBody::Full")
                .field("len", &b.as_ref().map_or(0, Bytes::len))
                .finish(),
            Kind::Stream(s) => f
                .debug_struct("McpBody::Stream")
                .field("done", &s.done)
                .finish(),
        }
    }
}

impl Body for McpBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.kind {
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Stream(s) => {
                if s.done {
                    return Poll::Ready(None);
                }
                match s.frames.poll_recv(cx) {
                    Poll::Ready(Some(frame)) => {
                        if let Some((d, sleep)) = &mut s.keep_alive {
                            sleep.as_mut().reset(Instant::now() + *d);
                        }
                        return Poll::Ready(Some(Ok(Frame::data(frame))));
                    }
                    Poll::Ready(None) => {
                        // The driver ended this body (the stream finished, or
                        // it closed a slow connection): nothing to report back.
                        s.done = true;
                        s.guard.disarm();
                        return Poll::Ready(None);
                    }
                    Poll::Pending => {}
                }
                if let Some((d, sleep)) = &mut s.keep_alive
                    && sleep.as_mut().poll(cx).is_ready()
                {
                    sleep.as_mut().reset(Instant::now() + *d);
                    // Register the new deadline with the waker too.
                    let _ = sleep.as_mut().poll(cx);
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(
                        KEEP_ALIVE_FRAME,
                    )))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(b) => b.is_none(),
            Kind::Stream(s) => s.done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Stream(_) => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    #[test]
    fn body_is_send_sync() {
        assert_send_sync::<McpBody>();
    }
}
