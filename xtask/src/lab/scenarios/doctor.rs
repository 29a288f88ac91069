//! `hvcat --doctor` in the guest, on a real vsock stack: the modules, `/dev/vsock` and
//! the CID as the guest's kernel has them; a vsock loopback port that refuses, and one
//! that answers.

use crate::ensure;
use crate::lab::harness::{guest, Ctx, Scenario, Tool, GUEST_CID};
use crate::util::Result;

pub const SCENARIOS: &[Scenario] = &[Scenario { name: "doctor/guest", run: guest_findings }];

fn guest_findings(ctx: &mut Ctx) -> Result<()> {
    ctx.need_guest_hvcat()?;
    let machine = ctx.vm.sh("hvcat --doctor")?;
    eprintln!("{}", machine.output.trim_end());
    ensure!(machine.status == 0, "hvcat --doctor in the guest: exit {}", machine.status);
    for needle in [
        "ok: /dev/vsock: character device".to_string(),
        format!("ok: local CID {GUEST_CID}: the host reaches this guest at vsock://{GUEST_CID}:PORT"),
        "ok: this is a guest".to_string(),
    ] {
        ensure!(machine.output.contains(&needle), "hvcat --doctor lacks {needle:?}");
    }

    let port = ctx.port();
    let refused = ctx.vm.sh(&format!("hvcat --doctor vsock://1:{port}"))?;
    eprintln!("{}", refused.output.trim_end());
    let line = format!("FAIL: connect vsock://1:{port}");
    ensure!(
        refused.status == 1
            && refused.output.contains(&line)
            && refused.output.contains("next: start a listener"),
        "hvcat --doctor vsock://1:{port} with nothing listening: exit {}, no {line:?} with a next step",
        refused.status
    );

    guest::start(&mut ctx.vm, "doctor", &format!("{} --echo", Tool::Hvcat.listen(port)))?;
    guest::wait_ready(&mut ctx.vm, "doctor", Tool::Hvcat.ready())?;
    let answers = ctx.vm.sh(&format!("hvcat --doctor vsock://1:{port}"))?;
    guest::kill(&mut ctx.vm, "doctor")?;
    eprintln!("{}", answers.output.trim_end());
    let line = format!("ok: vsock://1:{port} accepts connections");
    ensure!(
        answers.status == 0 && answers.output.contains(&line),
        "hvcat --doctor vsock://1:{port} with a listener: exit {}, no {line:?}",
        answers.status
    );
    Ok(())
}
