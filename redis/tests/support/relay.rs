//! A TCP relay on 127.0.0.1 in front of Redis, to play an outage: `Down`
//! closes every relayed connection and refuses new ones (Redis stopped),
//! `Stall` keeps connections open but forwards nothing (Redis hung or a
//! partition that drops packets), `Up` relays again.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The relay's behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Forward both ways.
    Up,
    /// Close everything; accept and drop at once.
    Down,
    /// Accept and hold, forward nothing.
    Stall,
}

/// A running relay; dropped, it stops accepting.
pub struct Relay {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
        let _ = self.mode.send(Mode::Down);
    }
}

impl Relay {
    /// A relay to `target` (`host:port`).
    pub async fn start(target: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (mode, rx) = watch::channel(Mode::Up);
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let rx = rx.clone();
                let target = target.clone();
                tokio::spawn(relay_one(client, target, rx));
            }
        });
        Relay { addr, mode, task }
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    /// Change the behaviour (applies to open connections too).
    pub fn set(&self, mode: Mode) {
        let _ = self.mode.send(mode);
    }
}

async fn relay_one(mut client: TcpStream, target: String, mut rx: watch::Receiver<Mode>) {
    if *rx.borrow() == Mode::Down {
        return;
    }
    let mut upstream = match TcpStream::connect(&target).await {
        Ok(s) => s,
        Err(_) => return,
    };
    let (mut cr, mut cw) = client.split();
    let (mut ur, mut uw) = upstream.split();
    let mut a = [0u8; 16 * 1024];
    let mut b = [0u8; 16 * 1024];
    loop {
        let mode = *rx.borrow_and_update();
        match mode {
            Mode::Down => return,
            Mode::Stall => {
                if rx.changed().await.is_err() {
                    return;
                }
                continue;
            }
            Mode::Up => {}
        }
        tokio::select! {
            r = rx.changed() => if r.is_err() { return },
            n = cr.read(&mut a) => match n {
                Ok(0) | Err(_) => return,
                Ok(n) => if uw.write_all(&a[..n]).await.is_err() { return },
            },
            n = ur.read(&mut b) => match n {
                Ok(0) | Err(_) => return,
                Ok(n) => if cw.write_all(&b[..n]).await.is_err() { return },
            },
        }
    }
}
