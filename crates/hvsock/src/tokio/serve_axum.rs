//! `axum::serve` on any [`Listener`] (feature `axum`).

use std::io;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;

use super::{Listener, Stream};
use crate::Addr;

/// For `axum::serve`, on every transport. A failed accept is passed over: one the
/// client caused (a connection reset before it was accepted) at once, any other (too
/// many open files, say) after a second, as axum does for its own listeners.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use axum::extract::ConnectInfo;
/// use axum::{routing::get, Router};
///
/// let app = Router::new().route(
///     "/",
///     get(|ConnectInfo(peer): ConnectInfo<hvsock::Addr>| async move { format!("hello {peer}\n") }),
/// );
/// let listener = hvsock::tokio::Listener::bind(&"vsock://:8080".parse()?)?;
/// axum::serve(listener, app.into_make_service_with_connect_info::<hvsock::Addr>()).await?;
/// # Ok(())
/// # }
/// ```
impl axum::serve::Listener for Listener {
    type Io = Stream;
    type Addr = Addr;

    async fn accept(&mut self) -> (Stream, Addr) {
        loop {
            match Listener::accept(self).await {
                Ok(accepted) => return super::listener::for_requests(accepted),
                Err(e) if is_connection_error(&e) => {}
                Err(e) => {
                    tracing::error!("accept on {}: {e}", self.local_addr());
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Addr> {
        Ok(Listener::local_addr(self).clone())
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// The client's address, for axum's `ConnectInfo<hvsock::Addr>` (with
/// `into_make_service_with_connect_info::<hvsock::Addr>()`).
impl Connected<IncomingStream<'_, Listener>> for Addr {
    fn connect_info(stream: IncomingStream<'_, Listener>) -> Addr {
        stream.remote_addr().clone()
    }
}
