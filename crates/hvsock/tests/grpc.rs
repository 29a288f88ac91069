//! tonic over every transport the host can test: Unix, TCP and a fake hybrid device.
//! The server is `Listener::incoming` with tonic's `serve_with_incoming`, the client a
//! channel from `Connector` (#16).
#![cfg(unix)]

mod adapters;

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use adapters::*;
use hvsock::tokio::{ConnectInfo, Connector, Incoming, Listener};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Request, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::server::HealthReporter;

const LIMIT: Duration = Duration::from_secs(10);

/// What the server saw: the connection info of each request, and how many connections
/// it accepted.
#[derive(Clone, Default)]
struct Seen {
    calls: Arc<Mutex<Vec<ConnectInfo>>>,
    connections: Arc<AtomicUsize>,
}

/// Counts the connections the server accepts.
struct Counted(Incoming, Arc<AtomicUsize>);

impl futures_core::Stream for Counted {
    type Item = std::io::Result<hvsock::tokio::Stream>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = Pin::new(&mut self.0).poll_next(cx);
        if let Poll::Ready(Some(Ok(_))) = next {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
        next
    }
}

/// tonic-health on `transport`, which records the connection info of every call.
fn health_server(transport: Transport) -> (Served, HealthReporter, Seen) {
    let seen = Seen::default();
    let (reporter, health) = tonic_health::server::health_reporter();
    let served = Served::new(transport, {
        let seen = seen.clone();
        move |listener: Listener| async move {
            let calls = seen.calls.clone();
            let service = InterceptedService::new(health, move |request: Request<()>| {
                let info = request.extensions().get::<ConnectInfo>().cloned();
                calls.lock().unwrap().push(info.ok_or_else(|| Status::internal("no ConnectInfo"))?);
                Ok(request)
            });
            let incoming = Counted(listener.incoming(), seen.connections);
            Server::builder().add_service(service).serve_with_incoming(incoming).await.unwrap();
        }
    });
    (served, reporter, seen)
}

async fn channel(addr: &hvsock::Addr) -> Result<Channel, tonic::transport::Error> {
    Endpoint::from_static("http://guest").connect_with_connector(Connector::new(addr.clone())).await
}

async fn status(client: &mut HealthClient<Channel>, service: &str) -> ServingStatus {
    let request = HealthCheckRequest { service: service.into() };
    let response = tokio::time::timeout(LIMIT, client.check(request)).await.unwrap().unwrap();
    response.into_inner().status()
}

#[tokio::test]
async fn unary_calls_and_the_peer_in_every_request() {
    for transport in TRANSPORTS {
        let (served, reporter, seen) = health_server(transport);
        let mut client = HealthClient::new(channel(&served.dial).await.unwrap());
        assert_eq!(status(&mut client, "").await, ServingStatus::Serving, "{transport:?}");
        reporter.set_service_status("guest.Agent", tonic_health::ServingStatus::NotServing).await;
        assert_eq!(status(&mut client, "guest.Agent").await, ServingStatus::NotServing, "{transport:?}");
        reporter.set_service_status("guest.Agent", tonic_health::ServingStatus::Serving).await;
        assert_eq!(status(&mut client, "guest.Agent").await, ServingStatus::Serving, "{transport:?}");

        let calls = seen.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 3, "{transport:?}");
        for info in calls {
            assert_eq!(info.local, served.listen, "{transport:?}");
            if let Transport::Tcp = transport {
                assert!(
                    info.peer.to_string().starts_with("tcp://127.0.0.1:"),
                    "{transport:?}: {}",
                    info.peer
                );
            }
        }
        served.kill();
    }
}

/// A server on `transport` with `guest.Agent` serving, a client, and its `Watch` of it.
async fn watching(
    transport: Transport,
) -> (Served, HealthReporter, HealthClient<Channel>, tonic::Streaming<tonic_health::pb::HealthCheckResponse>)
{
    let (served, reporter, _) = health_server(transport);
    let mut client = HealthClient::new(channel(&served.dial).await.unwrap());
    reporter.set_service_status("guest.Agent", tonic_health::ServingStatus::Serving).await;
    let request = HealthCheckRequest { service: "guest.Agent".into() };
    let updates = client.watch(request).await.unwrap().into_inner();
    (served, reporter, client, updates)
}

#[tokio::test]
async fn server_streaming_watch() {
    for transport in TRANSPORTS {
        let (served, reporter, _client, mut updates) = watching(transport).await;
        let mut next =
            async || tokio::time::timeout(LIMIT, updates.message()).await.unwrap().unwrap().unwrap();
        assert_eq!(next().await.status(), ServingStatus::Serving, "{transport:?}");
        reporter.set_service_status("guest.Agent", tonic_health::ServingStatus::NotServing).await;
        assert_eq!(next().await.status(), ServingStatus::NotServing, "{transport:?}");
        reporter.set_service_status("guest.Agent", tonic_health::ServingStatus::Serving).await;
        assert_eq!(next().await.status(), ServingStatus::Serving, "{transport:?}");
        served.kill();
    }
}

#[tokio::test]
async fn concurrent_calls_share_one_connection() {
    for transport in TRANSPORTS {
        let (served, _reporter, seen) = health_server(transport);
        let channel = channel(&served.dial).await.unwrap();
        let calls: Vec<_> = (0..20)
            .map(|_| {
                let mut client = HealthClient::new(channel.clone());
                tokio::spawn(async move { status(&mut client, "").await })
            })
            .collect();
        for call in calls {
            assert_eq!(call.await.unwrap(), ServingStatus::Serving, "{transport:?}");
        }
        assert_eq!(seen.calls.lock().unwrap().len(), 20, "{transport:?}");
        assert_eq!(seen.connections.load(Ordering::SeqCst), 1, "{transport:?}");
        served.kill();
    }
}

#[tokio::test]
async fn connecting_to_nothing_names_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let nobody = nothing_listening(dir.path());
    let e = tokio::time::timeout(LIMIT, channel(&nobody)).await.unwrap().unwrap_err();
    assert_names(&e, &nobody);
}

#[tokio::test]
async fn a_server_that_goes_away_mid_stream_ends_the_stream_with_an_error() {
    for transport in TRANSPORTS {
        let (served, _reporter, mut client, mut updates) = watching(transport).await;
        let first = tokio::time::timeout(LIMIT, updates.message()).await.unwrap().unwrap().unwrap();
        assert_eq!(first.status(), ServingStatus::Serving, "{transport:?}");

        served.kill();
        let end = tokio::time::timeout(LIMIT, updates.message()).await;
        // tonic reports the lost connection as `Unknown` ("error reading a body from
        // connection"), not `Unavailable`: what counts here is an error, in time.
        let status = end.expect("the stream hung after the server went away").unwrap_err();
        assert_ne!(status.code(), tonic::Code::Ok, "{transport:?}");
        eprintln!("{transport:?}: {status}");
        // And the next call fails too, rather than hang.
        let again = tokio::time::timeout(LIMIT, client.check(HealthCheckRequest::default())).await;
        again.expect("a call hung after the server went away").unwrap_err();
    }
}

#[tokio::test]
async fn connect_options_pass_through_the_connector() {
    use hvsock::{ConnectOptions, Retry};
    use hvsock_testkit::FakeDevice;

    // Retry: the server comes up after the client has started dialing.
    let dir = tempfile::tempdir().unwrap();
    let later: hvsock::Addr = format!("unix://{}", dir.path().join("later.sock").display()).parse().unwrap();
    let connector = Connector::with_options(later.clone(), ConnectOptions::new().retry(Retry::Times(40)));
    let dialing =
        tokio::spawn(
            async move { Endpoint::from_static("http://guest").connect_with_connector(connector).await },
        );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!dialing.is_finished(), "gave up without retrying");
    let listener = Listener::bind(&later).unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    tokio::spawn(Server::builder().add_service(health).serve_with_incoming(listener.incoming()));
    let channel = tokio::time::timeout(LIMIT, dialing).await.unwrap().unwrap().unwrap();
    assert_eq!(status(&mut HealthClient::new(channel), "").await, ServingStatus::Serving);

    // The time limit, here on a hybrid device that never answers the handshake.
    let device = FakeDevice::new(dir.path());
    let connector =
        Connector::with_options(device.uri(7), ConnectOptions::new().timeout(Duration::from_millis(300)));
    let started = std::time::Instant::now();
    let endpoint = Endpoint::from_static("http://guest");
    let e =
        tokio::time::timeout(LIMIT, endpoint.connect_with_connector(connector)).await.unwrap().unwrap_err();
    let _silent = device.accept();
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    let text = chain(&e);
    assert!(text.contains(&device.uri(7).to_string()), "{text}");
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    let io = std::iter::from_fn(|| {
        let this = source?;
        source = this.source();
        Some(this)
    })
    .find_map(|s| s.downcast_ref::<std::io::Error>());
    assert_eq!(io.map(|io| io.kind()), Some(std::io::ErrorKind::TimedOut), "{text}");
    eprintln!("{text}");
}
