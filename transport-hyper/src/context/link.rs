//! The channels from handler-side handles to the driver, and the
//! round trips over them.

use streamable_core::{OutgoingKey, RawJson, SendError, Target};
use tokio::sync::{mpsc, oneshot};

use super::error::ContextError;
use crate::mailbox::{Command, Control, send_command};

/// The channels to the driver.
#[derive(Clone, Debug)]
pub(crate) struct Link {
    /// Weak, so handles kept by the application (e.g. in a registry) do not
    /// keep the driver alive after every service clone is gone.
    pub(crate) mailbox: mpsc::WeakSender<Command>,
    pub(crate) control: mpsc::UnboundedSender<Control>,
}

impl Link {
    pub(crate) async fn send(&self, cmd: Command) -> Result<(), ContextError> {
        let tx = self.mailbox.upgrade().ok_or(ContextError::Stopped)?;
        send_command(&tx, cmd)
            .await
            .map_err(|()| ContextError::Stopped)
    }

    pub(super) async fn notify(
        &self,
        target: Target,
        method: &str,
        params: Option<RawJson>,
    ) -> Result<(), ContextError> {
        let (done, rx) = oneshot::channel();
        self.send(Command::Notify {
            target,
            method: method.to_owned(),
            params,
            done,
        })
        .await?;
        rx.await
            .map_err(|_| ContextError::Stopped)?
            .map_err(ContextError::NotSent)
    }

    pub(super) async fn request(
        &self,
        target: Target,
        method: &str,
        params: Option<RawJson>,
    ) -> Result<RawJson, ContextError> {
        let (sent, sent_rx) = oneshot::channel();
        let (answer, answer_rx) = oneshot::channel();
        self.send(Command::RequestClient {
            target,
            method: method.to_owned(),
            params,
            sent,
            answer,
        })
        .await?;
        let key = sent_rx
            .await
            .map_err(|_| ContextError::Stopped)?
            .map_err(ContextError::NotSent)?;
        // If this future is dropped while waiting, the driver forgets the
        // request (a late answer is then ignored by the core).
        let mut guard = ForgetGuard {
            key,
            control: Some(self.control.clone()),
        };
        let r = answer_rx.await;
        guard.control = None;
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(ContextError::Rejected(e)),
            // The session ended (its waiters are dropped) or the driver stopped.
            Err(_) => Err(ContextError::NotSent(SendError::Gone)),
        }
    }
}

struct ForgetGuard {
    key: OutgoingKey,
    control: Option<mpsc::UnboundedSender<Control>>,
}

impl Drop for ForgetGuard {
    fn drop(&mut self) {
        if let Some(c) = self.control.take() {
            let _ = c.send(Control::Forget(self.key));
        }
    }
}
