//! gRPC health checking over any hypervisor socket, server and client, with no
//! `.proto` of its own (tonic-health). The client dials one connection, makes unary
//! `Check` calls (SEQUENTIAL one after another, then CONCURRENT at once on that
//! connection), and prints calls per second and the median latency.
//!
//! ```text
//! # in a guest:
//! grpc-health serve vsock://:50051
//! # on its Firecracker / Cloud Hypervisor host, or over vsock from a QEMU host:
//! grpc-health call hybrid://:50051/run/vm/v.sock
//! grpc-health call vsock://3:50051 100 20
//! ```
//!
//! Build with `cargo build --release -p hvsock --features tonic,hyper --example grpc-health`.

mod calls;

use calls::Command;
use hvsock::tokio::{ConnectInfo, Connector, Listener};
use tonic::transport::{Endpoint, Server};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    calls::exit("grpc-health", run(calls::command("grpc-health")).await)
}

async fn run(command: Command) -> Result<(), Error> {
    match command {
        Command::Serve(addr) => {
            let listener = Listener::bind(&addr)?;
            eprintln!("grpc-health: serving gRPC health on {}", listener.local_addr());
            let (_reporter, health) = tonic_health::server::health_reporter();
            // The peer's address is in every request; here, logged once per call.
            let health =
                tonic::service::interceptor::InterceptedService::new(health, |request: tonic::Request<()>| {
                    if let Some(info) = request.extensions().get::<ConnectInfo>() {
                        log_call(&info.peer);
                    }
                    Ok(request)
                });
            Server::builder().add_service(health).serve_with_incoming(listener.incoming()).await?;
        }
        Command::Call { addr, sequential, concurrent } => {
            // The URI only names the service in each request; the connector dials `addr`.
            let channel =
                Endpoint::from_static("http://guest").connect_with_connector(Connector::new(addr)).await?;
            let client = HealthClient::new(channel);
            calls::run("grpc", sequential, concurrent, || {
                let mut client = client.clone();
                async move {
                    let response = client.check(HealthCheckRequest::default()).await?;
                    match response.into_inner().status() {
                        ServingStatus::Serving => Ok(()),
                        other => Err(Error::from(format!("the server says {other:?}"))),
                    }
                }
            })
            .await?;
        }
    }
    Ok(())
}

/// With `GRPC_HEALTH_LOG` set, prints who called.
fn log_call(peer: &hvsock::Addr) {
    if std::env::var_os("GRPC_HEALTH_LOG").is_some() {
        eprintln!("grpc-health: a call from {peer}");
    }
}
