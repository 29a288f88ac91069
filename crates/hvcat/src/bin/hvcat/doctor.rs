//! `hvcat --doctor [URI]`: what this machine can do, and why a connection fails. Each
//! finding is one line on standard output, `ok:`, `note:` or `FAIL:`, and each that is
//! not ok says what to do next; hvcat exits 1 if any is a failure.
//!
//! - Without a URI, or with a `vsock://` one (Linux): the vsock modules loaded
//!   (`/proc/modules`, `/sys/module`), `/dev/vsock`, the local CID (an ioctl on the
//!   device, not a socket), and whether this is a guest, a vhost-vsock host, or neither.
//! - With a `hybrid://`, `hyperkit://` or `unix://` URI: whether the socket exists, is a
//!   socket, who owns it, whether this user may connect to it, and whether anything
//!   listens there (a Unix `connect`).
//! - With any URI: whether it answers, as `-z` decides (for hybrid, the device's `OK` to
//!   `CONNECT PORT`: the guest port answers).
//! - With an `hvsock://` URI, on Windows: whether the service GUID is registered and the
//!   VM is found.
//!
//! `HVCAT_DOCTOR_ROOT` puts the machine's files (`proc/modules`, `sys/module`,
//! `dev/vsock`, `dev/vhost-vsock`) under another root: the tests give it fakes.

use std::io;
use std::path::PathBuf;

use hvsock::Addr;

use crate::cli::Cli;
use hvtools::conventions::{parse_addr, Failure};

#[cfg(target_os = "linux")]
mod linux;
#[cfg(unix)]
mod unix;

/// How sure a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    Ok,
    Note,
    Fail,
}

/// One line of the report.
pub(crate) struct Finding {
    level: Level,
    text: String,
    next: Option<String>,
}

/// The findings, in order.
#[derive(Default)]
pub(crate) struct Report(Vec<Finding>);

impl Report {
    pub(crate) fn ok(&mut self, text: impl Into<String>) {
        self.0.push(Finding { level: Level::Ok, text: text.into(), next: None });
    }

    pub(crate) fn note(&mut self, text: impl Into<String>, next: impl Into<String>) {
        self.0.push(Finding { level: Level::Note, text: text.into(), next: Some(next.into()) });
    }

    pub(crate) fn fail(&mut self, text: impl Into<String>, next: impl Into<String>) {
        self.0.push(Finding { level: Level::Fail, text: text.into(), next: Some(next.into()) });
    }

    fn line(finding: &Finding) -> String {
        let level = match finding.level {
            Level::Ok => "ok",
            Level::Note => "note",
            Level::Fail => "FAIL",
        };
        match &finding.next {
            Some(next) => format!("{level}: {}; next: {next}", finding.text),
            None => format!("{level}: {}", finding.text),
        }
    }
}

/// Where the machine's files are: `/`, or `HVCAT_DOCTOR_ROOT`.
pub(crate) struct Machine {
    root: PathBuf,
}

impl Machine {
    fn from_env() -> Machine {
        let root = std::env::var_os("HVCAT_DOCTOR_ROOT").map(PathBuf::from).unwrap_or_else(|| "/".into());
        Machine { root }
    }

    /// `path` (absolute, as on a real machine) under the root.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))] // the Linux checks' only
    pub(crate) fn path(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }
}

pub fn run(cli: &Cli) -> Result<(), Failure> {
    let addr = cli.uri.as_deref().map(parse_addr).transpose()?;
    let machine = Machine::from_env();
    let mut report = Report::default();
    if matches!(addr, None | Some(Addr::Vsock(_))) {
        linux_vsock(&machine, &mut report);
    }
    if let Some(addr) = &addr {
        if socket_file(addr, &mut report) && hyperv(addr, &mut report) {
            answers(addr, cli, &mut report);
        }
    }
    for finding in &report.0 {
        println!("{}", Report::line(finding));
    }
    match report.0.iter().filter(|f| f.level == Level::Fail).count() {
        0 => Ok(()),
        n => Err(Failure::Io(io::Error::other(format!("{n} of {} findings are failures", report.0.len())))),
    }
}

#[cfg(target_os = "linux")]
fn linux_vsock(machine: &Machine, report: &mut Report) {
    linux::linux_vsock(machine, report)
}

#[cfg(not(target_os = "linux"))]
fn linux_vsock(_: &Machine, report: &mut Report) {
    report.note("AF_VSOCK is Linux's: this machine has none", "use hvsock://, hyperkit:// or hybrid:// here");
}

/// The socket file's checks for hybrid, hyperkit and Unix URIs; whether connecting is
/// worth trying.
#[cfg(unix)]
fn socket_file(addr: &Addr, report: &mut Report) -> bool {
    unix::socket_file(addr, report)
}

#[cfg(not(unix))]
fn socket_file(_: &Addr, _: &mut Report) -> bool {
    true
}

/// Whether the address accepts a connection, as `-z` decides.
fn answers(addr: &Addr, cli: &Cli, report: &mut Report) {
    let what = match addr {
        Addr::Hybrid(h) => {
            format!("guest port {} answers through {} (the device said OK)", h.port, h.uds.display())
        }
        _ => format!("{addr} accepts connections"),
    };
    let e = match super::probe(addr, cli) {
        Ok(()) => return report.ok(what),
        Err(Failure::Usage(message)) => return report.fail(message, "fix the address"),
        Err(Failure::Io(e)) => e,
    };
    let next = match e.kind() {
        io::ErrorKind::ConnectionRefused => match addr {
            Addr::Hybrid(h) => {
                format!("start a listener on port {} in the guest (hvcat -l vsock://:{})", h.port, h.port)
            }
            Addr::Hyperkit(k) => {
                format!("start a listener on port {} in the guest (hvcat -l vsock://:{})", k.port, k.port)
            }
            _ => "start a listener there, or check the address".into(),
        },
        io::ErrorKind::TimedOut => {
            "the VM may be paused or still booting: try again with --retry or a longer -w".into()
        }
        io::ErrorKind::InvalidData => {
            "it answered, but not as a hybrid vsock device: check the URI's scheme and path".into()
        }
        io::ErrorKind::PermissionDenied => "run as a user allowed to open this kind of socket".into(),
        io::ErrorKind::NotFound => "check the path; is the VM running?".into(),
        _ => "see the message; hvcat -v shows more".into(),
    };
    report.fail(e.to_string(), next);
}

/// On Windows: whether the service is registered and the VM is found. Whether
/// connecting is worth trying.
#[cfg(windows)]
fn hyperv(addr: &Addr, report: &mut Report) -> bool {
    let Addr::HyperV(hv) = addr else { return true };
    registration(hvsock::windows::is_service_registered(&hv.service), addr, &hv.service, report);
    match (&hv.vm, hvsock::windows::resolve_vm(&hv.vm)) {
        (hvsock::VmId::Guid(_), _) => report.ok(format!("VM {}: a GUID, no lookup needed", hv.vm)),
        (_, Ok(guid)) => report.ok(format!("VM {} is {guid}", hv.vm)),
        (_, Err(e)) => report.fail(
            format!("VM {} not found: {e}", hv.vm),
            "Get-VM lists the VMs (as a member of Hyper-V Administrators); or give the VM's GUID",
        ),
    }
    true
}

/// What the registry says of `service` (`found`: whether its key exists), for `addr`.
#[cfg(any(windows, test))]
fn registration(found: io::Result<bool>, addr: &Addr, service: &impl std::fmt::Display, report: &mut Report) {
    match found {
        Ok(true) => report.ok(format!("service {service} is registered")),
        Ok(false) => report.fail(
            format!("service {service} is not registered: VMs cannot connect to it on this host"),
            format!("as Administrator, once: hvcat --register {addr}"),
        ),
        Err(e) => {
            report.fail(format!("cannot read the registry: {e}"), "run hvcat --doctor as Administrator")
        }
    }
}

#[cfg(not(windows))]
fn hyperv(addr: &Addr, report: &mut Report) -> bool {
    if let Addr::HyperV(_) = addr {
        report.fail(
            "Hyper-V sockets exist only on Windows",
            "in a Linux guest of Hyper-V, reach the host at vsock://2:PORT",
        );
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The registry's three answers, as the report words them (the Windows-only caller
    /// is run under Wine for the first two; an unreadable registry cannot be made there).
    #[test]
    fn each_registry_answer_has_its_line() {
        let addr: Addr = "hvsock://parent/5000".parse().unwrap();
        let Addr::HyperV(hv) = &addr else { unreachable!() };
        let mut report = Report::default();
        registration(Ok(true), &addr, &hv.service, &mut report);
        registration(Ok(false), &addr, &hv.service, &mut report);
        let denied = io::Error::new(io::ErrorKind::PermissionDenied, "Access is denied. (os error 5)");
        registration(Err(denied), &addr, &hv.service, &mut report);
        let lines: Vec<String> = report.0.iter().map(Report::line).collect();
        let service = "00001388-facb-11e6-bd58-64006a7986d3";
        assert_eq!(
            lines,
            [
                format!("ok: service {service} is registered"),
                format!(
                    "FAIL: service {service} is not registered: VMs cannot connect to it on this host; \
                     next: as Administrator, once: hvcat --register {addr}"
                ),
                "FAIL: cannot read the registry: Access is denied. (os error 5); next: run hvcat --doctor as \
                 Administrator"
                    .to_string(),
            ]
        );
    }
}
