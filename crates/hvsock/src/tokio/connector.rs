//! A client connector for hyper 1 and tonic (feature `hyper`): [`Connector`], a
//! `tower::Service` from a URI to a connection, which always dials one [`Addr`].

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;

use super::Stream;
use crate::{Addr, ConnectOptions};

/// Dials one hypervisor-socket address for every request: the connector of hyper-util's
/// `Client` and of tonic's `Endpoint::connect_with_connector`, for every transport.
///
/// The URI the client is given names no socket: its scheme and authority only fill in
/// the request (`Host`, gRPC's `:authority`), so any `http://` URI does, such as
/// `http://guest`. Each connection is made with the [`ConnectOptions`] given (its time
/// limit, retry, and hybrid handshake options), and an error names the address, as
/// [`Stream::connect_with`] does.
///
/// With tonic (client built with tonic's `channel` feature):
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use hvsock::tokio::Connector;
///
/// let guest = "hybrid://:50051/run/vm/v.sock".parse()?;
/// let channel = tonic::transport::Endpoint::from_static("http://guest")
///     .connect_with_connector(Connector::new(guest))
///     .await?;
/// # drop(channel);
/// # Ok(())
/// # }
/// ```
///
/// With hyper-util's `Client` (features `client-legacy` and `http1` or `http2`):
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use hvsock::tokio::Connector;
/// use hvsock::{ConnectOptions, Retry};
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
///
/// let options = ConnectOptions::new().retry(Retry::Times(3));
/// let connector = Connector::with_options("vsock://3:8080".parse()?, options);
/// let client: Client<_, String> = Client::builder(TokioExecutor::new()).build(connector);
/// let response = client.get("http://guest/status".parse()?).await?;
/// println!("{}", response.status());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Connector {
    addr: Arc<Addr>,
    options: Arc<ConnectOptions>,
}

impl Connector {
    /// Dials `addr` with default [`ConnectOptions`].
    pub fn new(addr: Addr) -> Connector {
        Connector::with_options(addr, ConnectOptions::new())
    }

    /// Dials `addr` with `options`.
    pub fn with_options(addr: Addr, options: ConnectOptions) -> Connector {
        Connector { addr: Arc::new(addr), options: Arc::new(options) }
    }

    /// The address every connection goes to.
    pub fn addr(&self) -> &Addr {
        &self.addr
    }

    /// The options every connection is made with.
    pub fn options(&self) -> &ConnectOptions {
        &self.options
    }
}

/// The future of [`Connector`]'s `call`: a connection, in the adapter hyper reads and
/// writes through.
pub type Connecting = Pin<Box<dyn Future<Output = io::Result<TokioIo<Stream>>> + Send>>;

impl tower_service::Service<http::Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = io::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: http::Uri) -> Connecting {
        let (addr, options) = (self.addr.clone(), self.options.clone());
        Box::pin(async move {
            let stream = Stream::connect_with(&addr, &options).await?;
            stream.set_nodelay(true)?;
            Ok(TokioIo::new(stream))
        })
    }
}

/// What hyper-util's `Client` asks of a connection: nothing beyond the defaults (no
/// proxy, no ALPN).
impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}
