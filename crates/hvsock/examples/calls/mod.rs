//! What the client side of the `grpc-health` and `http-hello` examples shares: the
//! command line, and the calls it makes, timed.

use std::future::Future;
use std::time::{Duration, Instant};

/// `serve URI` or `call URI [SEQUENTIAL [CONCURRENT]]`, from the command line.
pub enum Command {
    Serve(hvsock::Addr),
    Call { addr: hvsock::Addr, sequential: usize, concurrent: usize },
}

pub fn command(name: &str) -> Command {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || -> ! {
        eprintln!("usage: {name} serve URI | {name} call URI [SEQUENTIAL [CONCURRENT]]   (URI: vsock://:P, hybrid://:P/UDS, unix:///PATH, tcp://HOST:P, ...)");
        std::process::exit(2)
    };
    let addr = match args.get(1).map(|uri| uri.parse()) {
        Some(Ok(addr)) => addr,
        Some(Err(e)) => {
            eprintln!("{name}: {e}");
            std::process::exit(2)
        }
        None => usage(),
    };
    let number = |i: usize, default: usize| args.get(i).map_or(Some(default), |n| n.parse().ok());
    match (args[0].as_str(), number(2, 100), number(3, 20)) {
        ("serve", ..) if args.len() == 2 => Command::Serve(addr),
        ("call", Some(sequential), Some(concurrent)) if args.len() <= 4 => {
            Command::Call { addr, sequential, concurrent }
        }
        _ => usage(),
    }
}

/// Makes `sequential` calls one after another, then `concurrent` at once, and prints
/// how many succeeded, calls per second, and the median latency of the first lot.
/// Fails on the first call that fails.
pub async fn run<F, Fut, E>(what: &str, sequential: usize, concurrent: usize, call: F) -> Result<(), E>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Send + 'static,
{
    let mut latencies = Vec::with_capacity(sequential);
    let start = Instant::now();
    for _ in 0..sequential {
        let one = Instant::now();
        call().await?;
        latencies.push(one.elapsed());
    }
    let took = start.elapsed();
    latencies.sort();
    let p50 = latencies.get(latencies.len() / 2).copied().unwrap_or_default();
    println!(
        "{what} sequential: {sequential}/{sequential} calls ok in {}, {:.0} calls/s, p50 {}",
        ms(took),
        rate(sequential, took),
        ms(p50)
    );

    let start = Instant::now();
    let calls: Vec<_> = (0..concurrent).map(|_| tokio::spawn(call())).collect();
    for handle in calls {
        handle.await.expect("a call panicked")?;
    }
    let took = start.elapsed();
    println!(
        "{what} concurrent: {concurrent}/{concurrent} calls ok in {}, {:.0} calls/s",
        ms(took),
        rate(concurrent, took)
    );
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn rate(calls: usize, took: Duration) -> f64 {
    calls as f64 / took.as_secs_f64().max(1e-9)
}

/// Ends the program: 0 on success, else 1 with the error and its sources on one line.
pub fn exit(
    name: &str,
    result: Result<(), Box<dyn std::error::Error + Send + Sync>>,
) -> std::process::ExitCode {
    let Err(e) = result else { return std::process::ExitCode::SUCCESS };
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        if !text.contains(&s.to_string()) {
            text.push_str(&format!(": {s}"));
        }
        source = s.source();
    }
    eprintln!("{name}: {text}");
    std::process::ExitCode::FAILURE
}
