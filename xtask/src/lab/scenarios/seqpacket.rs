//! `seqpacket/*`: message mode (`SOCK_SEQPACKET`, #17) over real `AF_VSOCK`.
//!
//! - `stress-loopback`: `hvstress` in message mode over CID 1, 10,000 messages of 0 to
//!   64 KiB, each echoed and checked whole, alone and in order;
//! - `hvcat-echo`: `hvcat -l --echo` in message mode, lines and length-prefixed, and a
//!   plain `-l` listener that writes each message it receives length-prefixed (so that
//!   every boundary shows), and `--relay` between two message-mode ends;
//! - `socat-to-hvcat`, `hvcat-to-socat`: Debian's socat, through its generic socket
//!   addresses (`SOCKET-CONNECT:40:0:x<sockaddr_vm>,so-type=5`), on the other end;
//! - `host-guest`: what vhost-device-vsock 0.3.0 does with message mode (measured);
//! - `rate`: messages per second and MB/s for 64 B, 4 KiB and 64 KiB messages, beside
//!   byte-stream figures for the same write sizes.

use crate::lab::harness::uri::hybrid_listener;
use crate::lab::harness::wait::wait_for_path;
use crate::lab::harness::{guest, hvstress_summary, Ctx, HostProc, HostStdin, Scenario};
use crate::util::Result;
use crate::{bail, ensure};

pub const SCENARIOS: &[Scenario] = &[
    Scenario { name: "seqpacket/stress-loopback", run: stress_loopback },
    Scenario { name: "seqpacket/hvcat-echo", run: hvcat_echo },
    Scenario { name: "seqpacket/hvcat-relay", run: hvcat_relay },
    Scenario { name: "seqpacket/socat-to-hvcat", run: socat_to_hvcat },
    Scenario { name: "seqpacket/hvcat-to-socat", run: hvcat_to_socat },
    Scenario { name: "seqpacket/host-guest", run: host_guest },
    Scenario { name: "seqpacket/rate", run: rate },
];

/// Starts `cmd` in the guest as job `name` and waits until its stderr says `ready`.
fn guest_server(ctx: &mut Ctx, name: &str, cmd: &str, ready: &str) -> Result<()> {
    ctx.need_guest_hvcat()?;
    guest::start(&mut ctx.vm, name, cmd)?;
    guest::wait_ready(&mut ctx.vm, name, ready)
}

/// The bytes of `file` in the guest, as hex.
fn guest_hex(ctx: &mut Ctx, file: &str) -> Result<String> {
    Ok(ctx.vm.sh_ok(&format!("od -An -tx1 -v {file} | tr -d ' \\n'"))?.trim().to_string())
}

/// `messages` as hvcat's `--length-prefixed` writes them.
fn length_prefixed(messages: &[&[u8]]) -> Vec<u8> {
    messages
        .iter()
        .flat_map(|m| (m.len() as u32).to_be_bytes().into_iter().chain(m.iter().copied()))
        .collect()
}

/// [`length_prefixed`] as hex.
fn length_prefixed_hex(messages: &[&[u8]]) -> String {
    length_prefixed(messages).iter().map(|b| format!("{b:02x}")).collect()
}

/// A printf(1) format that writes [`length_prefixed`] (octal escapes only).
fn length_prefixed_printf(messages: &[&[u8]]) -> String {
    length_prefixed(messages).iter().map(|b| format!("\\{b:03o}")).collect()
}

/// 10,000 messages of 1 byte to 64 KiB over vsock loopback, each checked.
fn stress_loopback(ctx: &mut Ctx) -> Result<()> {
    let port = ctx.port();
    let server = format!("sps{port}");
    guest_server(ctx, &server, &format!("hvstress -v -s vsock+seqpacket://:{port}"), "echoing on")?;
    let cmd = format!(
        "hvstress -c vsock+seqpacket://1:{port} -i 1 --messages 10000 -l 64K --seed 17 > /tmp/sps.out"
    );
    guest::start(&mut ctx.vm, "sps-c", &cmd)?;
    let exit = guest::wait(&mut ctx.vm, "sps-c", 110)?;
    let stdout = ctx.vm.sh_ok("cat /tmp/sps.out")?;
    guest::kill(&mut ctx.vm, &server)?;
    ensure!(
        exit.code == 0
            && hvstress_summary(&stdout) == Some((1, 0, 0))
            && stdout.contains(" 10000 messages ("),
        "expected 10000 messages echoed intact; exit {}; stdout:\n{stdout}stderr:\n{}",
        exit.code,
        exit.stderr
    );
    eprintln!("  {}", stdout.lines().find(|l| l.contains(" connections to ")).unwrap_or_default());
    Ok(())
}

/// The messages the hvcat scenarios send, as lines.
const LINES: &[&[u8]] = &[b"one", b"three words", b"4"];

/// Echo (lines, then length-prefixed), and a one-connection listener that shows the
/// boundaries of the lines it was sent; an empty line, which vsock cannot carry, is
/// refused by name.
fn hvcat_echo(ctx: &mut Ctx) -> Result<()> {
    let port = ctx.port();
    let echo = format!("spe{port}");
    guest_server(ctx, &echo, &format!("hvcat -v -l --echo vsock+seqpacket://:{port}"), "listening on")?;
    let out = ctx.vm.sh_ok(&format!(
        "printf 'one\\nthree words\\n4\\n' | hvcat vsock+seqpacket://1:{port} > /tmp/spe.lines; echo rc=$?; cat /tmp/spe.lines"
    ))?;
    ensure!(out == "rc=0\none\nthree words\n4\n", "echo of three lines: got {out:?}");
    let binary: &[&[u8]] = &[b"a\nb", &[0, 255, 10], b"last"];
    ctx.vm.sh_ok(&format!("printf '{}' > /tmp/spe.in", length_prefixed_printf(binary)))?;
    let rc = ctx.vm.sh_ok(&format!(
        "hvcat --length-prefixed vsock+seqpacket://1:{port} < /tmp/spe.in > /tmp/spe.out; echo rc=$?"
    ))?;
    let got = guest_hex(ctx, "/tmp/spe.out")?;
    ensure!(
        rc.trim() == "rc=0" && got == length_prefixed_hex(binary),
        "length-prefixed echo: {rc}; got {got}"
    );
    // An empty line is an empty message, which vsock would drop without a word: refused.
    let empty = ctx.vm.sh(&format!("printf 'a\\n\\nb\\n' | hvcat vsock+seqpacket://1:{port}; echo rc=$?"))?;
    ensure!(
        empty.output.contains("vsock cannot carry an empty message")
            && empty.output.trim_end().ends_with("rc=1"),
        "an empty line over vsock: {:?}",
        empty.output
    );
    guest::kill(&mut ctx.vm, &echo)?;

    // A plain listener: each line it was sent is one message, written length-prefixed.
    let port = ctx.port();
    let listener = format!("spl{port}");
    let cmd = format!("hvcat -v -l --length-prefixed vsock+seqpacket://:{port} < /dev/null > /tmp/spl.out");
    guest_server(ctx, &listener, &cmd, "listening on")?;
    let rc = ctx
        .vm
        .sh_ok(&format!("printf 'one\\nthree words\\n4' | hvcat vsock+seqpacket://1:{port}; echo rc=$?"))?;
    let exit = guest::wait(&mut ctx.vm, &listener, 30)?;
    ensure!(
        rc.trim() == "rc=0" && exit.code == 0,
        "client {rc}, listener exit {}: {}",
        exit.code,
        exit.stderr
    );
    let got = guest_hex(ctx, "/tmp/spl.out")?;
    ensure!(
        got == length_prefixed_hex(LINES),
        "the listener received {got}, expected {}",
        length_prefixed_hex(LINES)
    );
    eprintln!("  echo: 3 lines and 3 binary messages back whole; an empty line refused (vsock drops empty messages); a listener saw each line as one message");
    Ok(())
}

/// `--relay` between two message-mode ends keeps every boundary; to a stream end it is
/// refused.
fn hvcat_relay(ctx: &mut Ctx) -> Result<()> {
    let (front, back) = (ctx.port(), ctx.port());
    let echo = format!("spr{back}");
    guest_server(ctx, &echo, &format!("hvcat -v -l --echo vsock+seqpacket://:{back}"), "listening on")?;
    let relay = format!("sprr{front}");
    let cmd = format!("hvcat -v -l -k vsock+seqpacket://:{front} --relay vsock+seqpacket://1:{back}");
    guest_server(ctx, &relay, &cmd, "relaying")?;
    let messages: &[&[u8]] = &[b"x", b"two\nlines", &[7; 3000], b"y"];
    ctx.vm.sh_ok(&format!("printf '{}' > /tmp/spr.in", length_prefixed_printf(messages)))?;
    for round in 0..3 {
        let rc = ctx.vm.sh_ok(&format!(
            "hvcat --length-prefixed vsock+seqpacket://1:{front} < /tmp/spr.in > /tmp/spr.out; echo rc=$?"
        ))?;
        let got = guest_hex(ctx, "/tmp/spr.out")?;
        ensure!(
            rc.trim() == "rc=0" && got == length_prefixed_hex(messages),
            "round {round}: {rc}; got {got}"
        );
    }
    guest::kill(&mut ctx.vm, &relay)?;
    guest::kill(&mut ctx.vm, &echo)?;
    let refused = ctx.vm.sh(&format!("hvcat -l vsock+seqpacket://:{front} --relay vsock://1:{back}"))?;
    ensure!(
        refused.status == 2 && refused.output.contains("would lose the message boundaries"),
        "a relay from message mode to a stream: {refused:?}"
    );
    eprintln!("  3 rounds of 4 messages (one with a newline, one of 3000 bytes) through a relay, whole; to a stream: refused");
    Ok(())
}

/// socat's generic socket address for `AF_VSOCK` (40), `SOCK_SEQPACKET` (5): the
/// `sockaddr_vm` after its family field (reserved, port, CID, zero), little-endian.
fn socat_vsock(kind: &str, cid: u32, port: u32) -> String {
    let hex = |n: u32| n.to_le_bytes().iter().map(|b| format!("{b:02x}")).collect::<String>();
    format!("SOCKET-{kind}:40:0:x0000{}{}00000000,so-type=5", hex(port), hex(cid))
}

/// socat sends a file in 5-byte reads, each read one message; hvcat receives them as
/// such.
fn socat_to_hvcat(ctx: &mut Ctx) -> Result<()> {
    let port = ctx.port();
    let listener = format!("sph{port}");
    let cmd = format!("hvcat -v -l --length-prefixed vsock+seqpacket://:{port} < /dev/null > /tmp/sph.out");
    guest_server(ctx, &listener, &cmd, "listening on")?;
    let socat = format!("socat -b 5 -u OPEN:/tmp/sph.in {}", socat_vsock("CONNECT", 1, port));
    let out = ctx.vm.sh(&format!("printf 'hello world!' > /tmp/sph.in; {socat}; echo rc=$?"))?;
    let exit = guest::wait(&mut ctx.vm, &listener, 30)?;
    let got = guest_hex(ctx, "/tmp/sph.out")?;
    let want = length_prefixed_hex(&[b"hello", b" worl", b"d!"]);
    ensure!(
        out.output.trim_end().ends_with("rc=0") && exit.code == 0 && got == want,
        "socat -b 5 sending 12 bytes: socat said {:?}; hvcat exit {} ({}); hvcat received {got}, expected {want}",
        out.output,
        exit.code,
        exit.stderr
    );
    eprintln!("  socat sent 12 bytes in 5-byte reads; hvcat received the messages 5, 5 and 2 bytes long");
    Ok(())
}

/// hvcat sends lines; socat (`-v`) receives, reporting each read: one per message.
fn hvcat_to_socat(ctx: &mut Ctx) -> Result<()> {
    let port = ctx.port();
    let listener = format!("sps{port}");
    let cmd =
        format!("socat -d -d -v -u {} OPEN:/tmp/sps.got,creat,trunc", socat_vsock("LISTEN", u32::MAX, port));
    guest_server(ctx, &listener, &cmd, "listening on")?;
    let rc = ctx.vm.sh_ok(&format!(
        "printf 'one\\ntwo two\\nthree three three\\n' | hvcat vsock+seqpacket://1:{port}; echo rc=$?"
    ))?;
    let exit = guest::wait(&mut ctx.vm, &listener, 30)?;
    let lengths: Vec<&str> =
        exit.stderr.split("length=").skip(1).filter_map(|rest| rest.split_whitespace().next()).collect();
    let got = ctx.vm.sh_ok("cat /tmp/sps.got")?;
    ensure!(
        rc.trim() == "rc=0"
            && exit.code == 0
            && lengths == ["3", "7", "17"]
            && got == "onetwo twothree three three",
        "hvcat sent 3 lines; socat exit {}, read lengths {lengths:?}, wrote {got:?}; stderr:\n{}",
        exit.code,
        exit.stderr
    );
    eprintln!("  hvcat sent 3 lines; socat read 3 messages of 3, 7 and 17 bytes");
    Ok(())
}

/// Message mode across vhost-device-vsock 0.3.0: the guest's connect to the host (CID
/// 2) with a host listener up, and what the guest is told.
fn host_guest(ctx: &mut Ctx) -> Result<()> {
    let hvcat = ctx.host_hvcat()?;
    let port = ctx.port();
    let (uri, path) = hybrid_listener(ctx, port);
    let host = HostProc::spawn(
        ctx,
        "sp-host",
        &hvcat,
        &["-l".to_string(), uri],
        HostStdin::Null,
        &ctx.host_path("sp-host.out"),
    )?;
    wait_for_path(&path)?;
    ctx.need_guest_hvcat()?;
    let out = ctx.vm.sh(&format!("echo hi | hvcat -w 3 vsock+seqpacket://2:{port}; echo rc=$?"))?;
    drop(host);
    let said = out.output.trim_end();
    if said.ends_with("rc=0") {
        bail!("the guest connected to the host in message mode: vhost-device-vsock supports it? ({said:?})");
    }
    ensure!(
        said.ends_with("rc=1")
            && said.contains("does not support message mode (SOCK_SEQPACKET, ESOCKTNOSUPPORT)"),
        "expected exit 1 naming the missing support; got {said:?}"
    );
    eprintln!("  refused: {}", said.lines().next().unwrap_or_default());
    Ok(())
}

/// Messages per second and MB/s by message size (hvstress echo, one connection), and
/// byte-stream MB/s by write size (hvbench, send direction), both over CID 1.
fn rate(ctx: &mut Ctx) -> Result<()> {
    let (mport, sport) = (ctx.port(), ctx.port());
    guest_server(ctx, "spm", &format!("hvstress -v -s vsock+seqpacket://:{mport}"), "echoing on")?;
    guest_server(ctx, "spb", &format!("hvbench -v -s vsock://:{sport}"), "serving benchmarks")?;
    for (size, count) in [(64u64, 20_000u64), (4096, 10_000), (65536, 2_000)] {
        let line = ctx.vm.sh_ok(&format!(
            "hvstress -c vsock+seqpacket://1:{mport} -i 1 --messages {count} -l {size} --fixed-size --seed 1 | grep 'connections to'"
        ))?;
        ensure!(hvstress_summary(&line) == Some((1, 0, 0)), "{size} B messages: {line}");
        let rate = line.rsplit('(').next().and_then(|r| r.split(')').next()).unwrap_or(line.as_str());
        let stream = ctx.vm.sh_ok(&format!(
            "hvbench vsock://1:{sport} --sizes {size} --bytes {} --direction send --latency 0 --json",
            (size * count).max(8 << 20)
        ))?;
        let mbps =
            stream.split("\"mb_per_s\":").nth(1).and_then(|r| r.split([',', '}']).next()).unwrap_or("?");
        eprintln!(
            "  {size} B: messages (echo, each way): {rate}; stream writes of {size} B (one way): {mbps} MB/s"
        );
    }
    guest::kill(&mut ctx.vm, "spm")?;
    guest::kill(&mut ctx.vm, "spb")
}
