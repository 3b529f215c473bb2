//! The request context against a stand-in driver that records what it is
//! asked to send.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use streamable_core::{Id, ProtocolVersion, RawJson, RequestKey, SessionKey};
use tokio::sync::mpsc;

use super::{CancelSender, ContextError, Link, RequestContext, Session, SessionData};
use crate::mailbox::{Command, Control};

/// What [`context`] returns.
type Fixture = (
    RequestContext,
    Arc<Mutex<Vec<Value>>>,
    mpsc::Sender<Command>,
    mpsc::UnboundedReceiver<Control>,
);

/// A context for a request with progress token `"t"`, and the params of
/// every notification the stand-in driver was asked to send. The returned
/// senders keep the channels open for the test's length.
fn context() -> Fixture {
    let (tx, mut rx) = mpsc::channel::<Command>(8);
    let (control, control_rx) = mpsc::unbounded_channel();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let record = sent.clone();
    tokio::spawn(async move {
        while let Some(cmd) = rx.recv().await {
            if let Command::Notify { params, done, .. } = cmd {
                let params = params.as_ref().map_or(Value::Null, RawJson::to_value);
                record.lock().unwrap().push(params);
                let _ = done.send(Ok(()));
            }
        }
    });
    let params = RawJson::from_value(&json!({"name": "x", "_meta": {"progressToken": "t"}}));
    let (cancel, cancelled) = CancelSender::new();
    // The request stays "running" for the test's length.
    std::mem::forget(cancel);
    let session = Session {
        key: Some(SessionKey(1)),
        data: Arc::new(SessionData::default()),
        link: Link {
            mailbox: tx.downgrade(),
            control,
        },
    };
    let ctx = RequestContext::new(
        session,
        ProtocolVersion::NEWEST_LEGACY,
        RequestKey(1),
        Id::Int(1),
        Some(params),
        cancelled,
    );
    (ctx, sent, tx, control_rx)
}

const NOT_INCREASING: ContextError = ContextError::ProgressNotIncreasing;

fn progress_values(sent: &Mutex<Vec<Value>>) -> Vec<Value> {
    sent.lock()
        .unwrap()
        .iter()
        .map(|p| p["progress"].clone())
        .collect()
}

/// U-PROG-3: the progress value must increase with each notification; a
/// value that does not is refused and nothing is sent.
#[tokio::test]
async fn u_prog_3_a_repeated_or_smaller_progress_value_is_refused_and_not_sent() {
    let (ctx, sent, _tx, _control) = context();
    assert_eq!(ctx.progress(1.0, Some(3.0), None).await, Ok(true));
    assert_eq!(
        ctx.progress(1.0, Some(3.0), None).await,
        Err(NOT_INCREASING)
    );
    assert_eq!(
        ctx.progress(0.5, Some(3.0), None).await,
        Err(NOT_INCREASING)
    );
    assert_eq!(ctx.progress(2.5, Some(3.0), None).await, Ok(true));
    assert_eq!(progress_values(&sent), [json!(1), json!(2.5)]);
}

/// U-PROG-3: a value that is not a number cannot increase anything.
#[tokio::test]
async fn u_prog_3_a_nan_progress_value_is_refused() {
    let (ctx, sent, _tx, _control) = context();
    assert_eq!(
        ctx.progress(f64::NAN, None, None).await,
        Err(NOT_INCREASING)
    );
    assert_eq!(ctx.progress(1.0, None, None).await, Ok(true));
    assert_eq!(
        ctx.progress(f64::NAN, None, None).await,
        Err(NOT_INCREASING)
    );
    assert_eq!(progress_values(&sent), [json!(1)]);
}
