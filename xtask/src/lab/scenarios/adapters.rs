//! gRPC (tonic) and HTTP (axum, hyper) over vsock with the adapters of #16: the
//! `grpc-health` and `http-hello` examples serve in the guest on `vsock://:P`; their
//! clients call from the host through the hybrid socket and from inside the guest over
//! CID 1; the same calls over loopback TCP on the host are the yardstick. Each client
//! makes 100 sequential then 20 concurrent calls and prints calls/s and p50 latency.

use std::time::Duration;

use crate::ensure;
use crate::lab::harness::uri::hybrid_uri;
use crate::lab::harness::{ensure_ok, guest, Ctx, HostProc, HostStdin, Scenario};
use crate::util::Result;

pub const SCENARIOS: &[Scenario] = &[
    Scenario { name: "adapters/grpc", run: |ctx| calls(ctx, "grpc-health", "grpc") },
    Scenario { name: "adapters/http", run: |ctx| calls(ctx, "http-hello", "http") },
];

const SEQUENTIAL: usize = 100;
const CONCURRENT: usize = 20;

fn calls(ctx: &mut Ctx, program: &str, what: &str) -> Result<()> {
    ctx.need_guest_hvcat()?;
    let port = ctx.port();
    let job = format!("{program}{port}");
    guest::start(&mut ctx.vm, &job, &format!("{program} serve vsock://:{port}"))?;
    guest::wait_ready(&mut ctx.vm, &job, "serving")?;

    let through_hybrid = host_call(ctx, program, &format!("{program}-hybrid"), &hybrid_uri(ctx, port))?;
    report(what, "host -> guest, hybrid socket", &through_hybrid)?;

    let inside = ctx.vm.sh_ok(&format!("{program} call vsock://1:{port} {SEQUENTIAL} {CONCURRENT}"))?;
    report(what, "guest -> guest, vsock CID 1", &inside)?;
    guest::kill(&mut ctx.vm, &job)?;

    // The yardstick: the same programs over loopback TCP on the host.
    let host_program = ctx.lab.binaries.host(program).map_err(crate::util::Error::msg)?;
    let tcp_port = free_tcp_port()?;
    let uri = format!("tcp://127.0.0.1:{tcp_port}");
    let server_out = ctx.host_path(&format!("{program}-tcp-server.out"));
    let serve_args = ["serve", &uri].map(String::from);
    let mut server = HostProc::spawn(
        ctx,
        &format!("{program}-tcp-server"),
        &host_program,
        &serve_args,
        HostStdin::Null,
        &server_out,
    )?;
    let tcp = retry_until_up(|| host_call(ctx, program, &format!("{program}-tcp"), &uri));
    server.kill();
    report(what, "host -> host, loopback TCP", &tcp?)?;
    Ok(())
}

/// Runs the host client against `uri`; returns what it printed.
fn host_call(ctx: &Ctx, program: &str, name: &str, uri: &str) -> Result<String> {
    let host_program = ctx.lab.binaries.host(program).map_err(crate::util::Error::msg)?;
    let out = ctx.host_path(&format!("{name}.out"));
    let args = ["call", uri, &SEQUENTIAL.to_string(), &CONCURRENT.to_string()].map(String::from);
    let exit = HostProc::spawn(ctx, name, &host_program, &args, HostStdin::Null, &out)?
        .finish(Duration::from_secs(60))?;
    ensure_ok(&format!("{program} call {uri}"), &exit)?;
    Ok(std::fs::read_to_string(&out)?)
}

/// Checks that every call succeeded, and prints the figures.
fn report(what: &str, path: &str, output: &str) -> Result<()> {
    for (kind, n) in [("sequential", SEQUENTIAL), ("concurrent", CONCURRENT)] {
        let line = output.lines().find(|l| l.starts_with(&format!("{what} {kind}: ")));
        let ok = line.is_some_and(|l| l.contains(&format!(": {n}/{n} calls ok")));
        ensure!(ok, "{path}: no {kind} line with {n}/{n} calls ok in:\n{output}");
        eprintln!("  {path:<31} {}", line.unwrap_or_default());
    }
    Ok(())
}

/// A TCP port on 127.0.0.1 free a moment ago.
fn free_tcp_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Tries `call` until the server has come up (at most 5 s).
fn retry_until_up(mut call: impl FnMut() -> Result<String>) -> Result<String> {
    let mut tries = 0;
    loop {
        match call() {
            Err(_) if tries < 25 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
            other => return other,
        }
    }
}
