//! tonic servers on any [`Listener`] (feature `tonic`): [`Listener::incoming`] for
//! `serve_with_incoming`, and the connection's addresses in every request
//! ([`ConnectInfo`]).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{Listener, Stream};
use crate::Addr;

impl Listener {
    /// The connections this listener accepts, as a stream: what tonic's
    /// `Server::serve_with_incoming` takes.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use hvsock::tokio::{ConnectInfo, Listener};
    ///
    /// // In the guest: gRPC health checking on vsock port 50051, for every host.
    /// let listener = Listener::bind(&"vsock://:50051".parse()?)?;
    /// let (_reporter, health) = tonic_health::server::health_reporter();
    /// tonic::transport::Server::builder()
    ///     .add_service(health)
    ///     .serve_with_incoming(listener.incoming())
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// A handler finds who called in the request's extensions, as a [`ConnectInfo`]:
    /// `request.extensions().get::<ConnectInfo>()`.
    pub fn incoming(self) -> Incoming {
        Incoming { listener: self }
    }
}

/// The connections a [`Listener`] accepts, as a `Stream` of `io::Result<Stream>`: from
/// [`Listener::incoming`]. It never ends; an accept error is an item of its own, which
/// tonic's server logs and passes over.
#[derive(Debug)]
pub struct Incoming {
    listener: Listener,
}

impl Incoming {
    /// The address the listener listens on.
    pub fn local_addr(&self) -> &Addr {
        self.listener.local_addr()
    }

    /// The listener back.
    pub fn into_inner(self) -> Listener {
        self.listener
    }
}

impl futures_core::Stream for Incoming {
    type Item = io::Result<Stream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<Stream>>> {
        self.listener
            .poll_accept(cx)
            .map(|accepted| Some(accepted.map(|accepted| super::listener::for_requests(accepted).0)))
    }
}

/// A connection's two ends, which tonic puts in the extensions of every request that
/// comes over it (see [`Listener::incoming`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectInfo {
    /// The address the server's end is bound to.
    pub local: Addr,
    /// The client's address (for a Unix-socket client, often unnamed).
    pub peer: Addr,
}

impl ::tonic::transport::server::Connected for Stream {
    type ConnectInfo = ConnectInfo;

    fn connect_info(&self) -> ConnectInfo {
        ConnectInfo { local: self.local_addr().clone(), peer: self.peer_addr().clone() }
    }
}
