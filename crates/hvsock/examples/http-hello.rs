//! HTTP over any hypervisor socket: an axum server that greets its client by address,
//! and a hyper client that makes GET calls (SEQUENTIAL one after another, then
//! CONCURRENT at once) and prints calls per second and the median latency.
//!
//! ```text
//! # in a guest:
//! http-hello serve vsock://:8080
//! # on the host:
//! http-hello call hybrid://:8080/run/vm/v.sock
//! ```
//!
//! Build with `cargo build --release -p hvsock --features axum,hyper --example http-hello`.

mod calls;

use axum::extract::ConnectInfo;
use axum::routing::get;
use axum::Router;
use calls::Command;
use http_body_util::{BodyExt, Empty};
use hvsock::tokio::{Connector, Listener};
use hvsock::Addr;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    calls::exit("http-hello", run(calls::command("http-hello")).await)
}

async fn run(command: Command) -> Result<(), Error> {
    match command {
        Command::Serve(addr) => {
            let listener = Listener::bind(&addr)?;
            eprintln!("http-hello: serving HTTP on {}", listener.local_addr());
            let app = Router::new().route(
                "/",
                get(|ConnectInfo(peer): ConnectInfo<Addr>| async move { format!("hello {peer}\n") }),
            );
            axum::serve(listener, app.into_make_service_with_connect_info::<Addr>()).await?;
        }
        Command::Call { addr, sequential, concurrent } => {
            // HTTP/1.1: concurrent calls open connections of their own (the pool keeps them).
            let client: Client<_, Empty<Bytes>> =
                Client::builder(TokioExecutor::new()).build(Connector::new(addr));
            calls::run("http", sequential, concurrent, || {
                let client = client.clone();
                async move {
                    let response = client.get("http://guest/".parse()?).await?;
                    let status = response.status();
                    let body = response.into_body().collect().await?.to_bytes();
                    match status.is_success() && body.starts_with(b"hello ") {
                        true => Ok(()),
                        false => Err(Error::from(format!("{status}: {}", String::from_utf8_lossy(&body)))),
                    }
                }
            })
            .await?;
        }
    }
    Ok(())
}
