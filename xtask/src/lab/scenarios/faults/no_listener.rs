//! `faults/no-listener-hyperkit` and `faults/probe`: nobody listening behind
//! a hyperkit socket, and `hvcat -z` with and without a listener.

use std::path::Path;
use std::time::Duration;

use crate::ensure;
use crate::lab::harness::uri::hybrid_uri;
use crate::lab::harness::{guest, Ctx, Exit, HostProc, HostStdin, HyperkitShim};
use crate::util::{self, Result};

/// `hyperkit://` to a guest port nobody listens on, through the lab's
/// hyperkit shim: like hyperkit, the shim accepts the Unix connection, reads
/// the header and just closes it (the device refused `CONNECT`). hvcat cannot
/// tell that from a peer that answers nothing and closes:
/// - stdin empty: exit 0, nothing on stdout or stderr;
/// - stdin open and idle (`-v`): exit 0 at once, "the peer has closed";
/// - 1 MiB on stdin: exit 1, EPIPE or reset naming the URI.
pub fn no_listener_hyperkit(ctx: &mut Ctx) -> Result<()> {
    let hvcat = ctx.host_hvcat()?;
    let port = ctx.port();
    let dir = ctx.host_path(&format!("hk{port}"));
    std::fs::create_dir_all(&dir)?;
    let shim = HyperkitShim::start(&dir, &ctx.vm.uds_path(), 3, &[])?;
    let uri = format!("hyperkit://:{port}{}", dir.display());
    let empty = ctx.host_path("hk-empty");
    std::fs::write(&empty, b"")?;
    let (data, _) = ctx.host_payload("hk-data", 7, 1 << 20)?;
    let run = |ctx: &Ctx, name: &str, verbose: bool, stdin: HostStdin| -> Result<(Exit, u64)> {
        let out = ctx.host_path(&format!("{name}.out"));
        let mut args = vec![uri.clone()];
        if verbose {
            args.insert(0, "-v".into());
        }
        let exit = HostProc::spawn(ctx, name, &hvcat, &args, stdin, &out)?.finish(Duration::from_secs(10))?;
        Ok((exit, std::fs::metadata(&out)?.len()))
    };

    let (exit, got) = run(ctx, "hk-null", false, HostStdin::Null)?;
    ensure!(
        exit.code == 0 && exit.stderr.is_empty() && got == 0,
        "empty stdin: expected exit 0, no output, no message; got {exit:?} and {got} bytes"
    );
    eprintln!("  stdin empty: exit 0, 0 bytes, no message, after {}", util::secs(exit.elapsed));

    let (exit, got) = run(ctx, "hk-idle", true, HostStdin::Held(&empty))?;
    let want = [
        format!("hvcat: connected to {uri}"),
        format!("hvcat: {uri}: the peer has closed; not waiting for standard input"),
        format!("hvcat: {uri}: sent 0 bytes, received 0 bytes"),
    ];
    let lines: Vec<&str> = exit.stderr.lines().collect();
    ensure!(
        exit.code == 0
            && got == 0
            && lines.len() == 3
            && lines.iter().zip(&want).all(|(line, start)| line.starts_with(start.as_str())),
        "stdin idle: expected exit 0, no output, and lines starting {want:?}; got {exit:?} and {got} bytes"
    );
    ensure!(exit.elapsed < Duration::from_secs(1), "stdin idle: took {:?}", exit.elapsed);
    eprintln!("  stdin idle: exit 0 after {}: {}", util::secs(exit.elapsed), lines[1]);

    let (exit, got) = run(ctx, "hk-data", false, HostStdin::File(&data))?;
    let reason = exit.stderr.contains("Broken pipe") || exit.stderr.contains("reset");
    ensure!(
        exit.code == 1 && got == 0 && exit.stderr.lines().count() == 1 && exit.stderr.starts_with("hvcat: ") && exit.stderr.contains(&uri) && reason,
        "1 MiB on stdin: expected exit 1 and one line naming {uri}, Broken pipe or reset; got {exit:?} and {got} bytes"
    );
    eprintln!("  1 MiB on stdin: exit 1: {}", exit.stderr.trim());

    let events = shim.events();
    let refused = events.iter().filter(|e| e.contains("closed before answering CONNECT")).count();
    ensure!(refused == 3, "the shim should have seen the device refuse 3 CONNECTs: {events:?}");
    Ok(())
}

/// `hvcat -z` against a guest port with no listener, then with one: in the
/// guest over CID 1, from the host through the hybrid socket, and through the
/// hyperkit shim (where hyperkit's close of a refused connection is the only
/// answer). Each probe with no listener exits 1 saying refused and naming the
/// address; each with one exits 0, and the listener sees a connection that
/// sent nothing and ended at once.
pub fn probe(ctx: &mut Ctx) -> Result<()> {
    ctx.need_guest_hvcat()?;
    let hvcat = ctx.host_hvcat()?;
    let port = ctx.port();
    let hk_dir = ctx.host_path(&format!("zp{port}"));
    std::fs::create_dir_all(&hk_dir)?;
    let _shim = HyperkitShim::start(&hk_dir, &ctx.vm.uds_path(), 3, &[])?;
    let host_probe = |ctx: &Ctx, uri: &str| -> Result<Exit> {
        let args = ["-z".to_string(), "-v".to_string(), uri.to_string()];
        HostProc::spawn(ctx, "zp", &hvcat, &args, HostStdin::Null, Path::new("/dev/null"))?
            .finish(Duration::from_secs(10))
    };
    let uris = [
        format!("vsock://1:{port}"),
        hybrid_uri(ctx, port),
        format!("hyperkit://:{port}{}", hk_dir.display()),
    ];
    let probe_all = |ctx: &mut Ctx| -> Result<Vec<Exit>> {
        let guest = guest::timed(&mut ctx.vm, &format!("hvcat -z -v {}", uris[0]))?;
        Ok(vec![guest, host_probe(ctx, &uris[1])?, host_probe(ctx, &uris[2])?])
    };

    for (uri, exit) in uris.iter().zip(probe_all(ctx)?) {
        let first = exit.stderr.lines().next().unwrap_or("");
        ensure!(
            exit.code == 1 && first.starts_with(&format!("hvcat: connect {uri}: connection refused")),
            "-z {uri}, no listener: expected exit 1 and `hvcat: connect {uri}: connection refused...`; got {exit:?}"
        );
        eprintln!("  no listener: exit 1 after {}: {first}", util::secs(exit.elapsed));
    }

    // One listener, `-k`: each probe is one connection that sends nothing.
    let listener = format!("zp{port}");
    guest::start(&mut ctx.vm, &listener, &format!("hvcat -v -l -k vsock://:{port} < /dev/null"))?;
    guest::wait_ready(&mut ctx.vm, &listener, "listening on")?;
    for (uri, exit) in uris.iter().zip(probe_all(ctx)?) {
        let said = format!("hvcat: {uri} accepts connections");
        ensure!(
            exit.code == 0 && exit.stderr.lines().any(|l| l == said),
            "-z {uri}, listener up: expected exit 0 and {said:?}; got {exit:?}"
        );
        eprintln!("  listener up: exit 0 after {}", util::secs(exit.elapsed));
    }
    // Each probe's connection ends with a line: no bytes either way, or, when
    // vhost-device-vsock resets the guest's side because the host closed
    // straight after `OK`, "not connected" (ENOTCONN; seen 1 of 2 runs).
    let log = ctx.vm.sh_ok(&format!(
        "wait_for '[ $(grep -vc -e \"listening on\" -e \"connection from\" $B/{listener}.err) -ge 3 ]' 10; cat $B/{listener}.err"
    ))?;
    let ends: Vec<&str> =
        log.lines().filter(|l| !l.contains("listening on") && !l.contains("connection from")).collect();
    let quiet = |l: &&str| l.contains(": sent 0 bytes, received 0 bytes") || l.contains("not connected");
    ensure!(
        ends.len() == 3 && ends.iter().all(quiet),
        "the listener should have seen 3 connections end with no data; its log:\n{log}"
    );
    eprintln!("  the listener saw: {ends:?}");
    guest::kill(&mut ctx.vm, &listener)
}
