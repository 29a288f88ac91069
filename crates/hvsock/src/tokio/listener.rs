//! What [`Listener`] does the same way on every platform.

use std::io;

use super::{Listener, Stream};
use crate::{Addr, ListenOptions};

impl Listener {
    /// Binds and listens on `addr` with default options. Must be called within a tokio
    /// runtime. (Binding never waits on a peer, so it is not `async`.)
    pub fn bind(addr: &Addr) -> io::Result<Listener> {
        Self::bind_with(addr, &ListenOptions::new())
    }

    /// Binds and listens on `addr` with `options`.
    pub fn bind_with(addr: &Addr, options: &ListenOptions) -> io::Result<Listener> {
        Self::from_std(crate::Listener::bind_with(addr, options)?)
    }

    /// Waits for a connection. Cancel-safe: dropping the future loses no connection.
    pub async fn accept(&self) -> io::Result<(Stream, Addr)> {
        std::future::poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// The address this listener listens on.
    pub fn local_addr(&self) -> &Addr {
        &self.local
    }
}

/// An accepted connection made ready for requests and responses (the tonic and axum
/// adapters): `TCP_NODELAY` on TCP, so that a reply is not held back by Nagle's
/// algorithm. A failure is only logged: the connection works without it, slower.
#[cfg(any(feature = "tonic", feature = "axum"))]
pub(crate) fn for_requests(accepted: (Stream, Addr)) -> (Stream, Addr) {
    if let Err(e) = accepted.0.set_nodelay(true) {
        tracing::debug!("{e}");
    }
    accepted
}
