//! axum and hyper over every transport the host can test: Unix, TCP and a fake hybrid
//! device. The server is `axum::serve` on a `Listener`, the client hyper-util's
//! `Client` with `Connector` (#16).
#![cfg(unix)]

mod adapters;

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use adapters::*;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use http_body_util::{BodyExt, Empty};
use hvsock::tokio::{Connector, Listener};
use hvsock::Addr;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

const LIMIT: Duration = Duration::from_secs(10);

/// A body that sends one chunk, then nothing, for as long as the server lasts.
struct OneThenNothing(bool);

impl futures_core::Stream for OneThenNothing {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Pending
        } else {
            Poll::Ready(Some(Ok(Bytes::from_static(b"first\n"))))
        }
    }
}

/// `/` answers with the client's address as the server saw it; `/stream` sends a
/// chunk and then waits. Returns how many connections the server accepted.
fn http_server(transport: Transport) -> (Served, Arc<AtomicUsize>) {
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    let served = Served::new(transport, move |listener: Listener| async move {
        let app = Router::new()
            .route("/", get(|ConnectInfo(peer): ConnectInfo<Addr>| async move { format!("hello {peer}") }))
            .route("/stream", get(|| async { Body::from_stream(OneThenNothing(false)) }));
        let listener = listener.tap_io(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        axum::serve(listener, app.into_make_service_with_connect_info::<Addr>()).await.unwrap();
    });
    (served, connections)
}

type HttpClient = Client<Connector, Empty<Bytes>>;

fn client(addr: &Addr, http2: bool) -> HttpClient {
    Client::builder(TokioExecutor::new()).http2_only(http2).build(Connector::new(addr.clone()))
}

async fn get_text(client: &HttpClient, path: &str) -> String {
    let uri = format!("http://guest{path}").parse().unwrap();
    let response = tokio::time::timeout(LIMIT, client.get(uri)).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let body = tokio::time::timeout(LIMIT, response.into_body().collect()).await.unwrap().unwrap();
    String::from_utf8(body.to_bytes().to_vec()).unwrap()
}

#[tokio::test]
async fn round_trips_with_the_peer_address() {
    for transport in TRANSPORTS {
        for http2 in [false, true] {
            let (served, _) = http_server(transport);
            let client = client(&served.dial, http2);
            for _ in 0..3 {
                let text = get_text(&client, "/").await;
                match transport {
                    Transport::Tcp => assert!(text.starts_with("hello tcp://127.0.0.1:"), "{text}"),
                    // A Unix-socket client (the hybrid device's too) has no name.
                    Transport::Unix | Transport::Hybrid => assert_eq!(text, "hello unnamed"),
                }
            }
            served.kill();
        }
    }
}

#[tokio::test]
async fn concurrent_http2_calls_share_one_connection() {
    for transport in TRANSPORTS {
        let (served, connections) = http_server(transport);
        let client = client(&served.dial, true);
        // One call first, so that the others find the connection made.
        get_text(&client, "/").await;
        let calls: Vec<_> = (0..20)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move { get_text(&client, "/").await })
            })
            .collect();
        for call in calls {
            assert!(call.await.unwrap().starts_with("hello "), "{transport:?}");
        }
        assert_eq!(connections.load(Ordering::SeqCst), 1, "{transport:?}");
        served.kill();
    }
}

#[tokio::test]
async fn connecting_to_nothing_names_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let nobody = nothing_listening(dir.path());
    let client = client(&nobody, false);
    let e =
        tokio::time::timeout(LIMIT, client.get("http://guest/".parse().unwrap())).await.unwrap().unwrap_err();
    assert_names(&e, &nobody);
}

#[tokio::test]
async fn a_server_that_goes_away_mid_body_ends_the_body_with_an_error() {
    for transport in TRANSPORTS {
        for http2 in [false, true] {
            let (served, _) = http_server(transport);
            let client = client(&served.dial, http2);
            let uri = "http://guest/stream".parse().unwrap();
            let response = tokio::time::timeout(LIMIT, client.get(uri)).await.unwrap().unwrap();
            let mut body = response.into_body();
            let first = tokio::time::timeout(LIMIT, body.frame()).await.unwrap().unwrap().unwrap();
            assert_eq!(first.into_data().unwrap(), "first\n");

            served.kill();
            let end = tokio::time::timeout(LIMIT, body.frame()).await;
            let e = end.expect("the body hung after the server went away").unwrap().unwrap_err();
            eprintln!("{transport:?} http2={http2}: {}", chain(&e));
        }
    }
}
