//! Booting the guest: vhost-device-vsock first, then QEMU (TCG) with the
//! vhost-user vsock device, the console on a log file and the control
//! channel on a second serial port. Dropping a [`Vm`] kills both processes
//! and removes the run directory.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::control::{Control, GuestOutput};
use super::setup::Tools;
use crate::util::{self, Context, Guarded, Result, TempDir};
use crate::{bail, ensure};

/// The guest's CID; the host is always CID 2.
pub const GUEST_CID: u32 = 4;
const MEMORY: &str = "512M";
const BOOT_TIMEOUT: Duration = Duration::from_secs(90);
const SOCKET_TIMEOUT: Duration = Duration::from_secs(15);
/// Default timeout of a guest script.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// How the guest's init should behave.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Run the control agent on ttyS1; the console goes to `console.log`.
    Agent,
    /// An interactive shell on the console, wired to this terminal.
    Shell,
}

/// A running guest. Fields drop in order after [`Drop::drop`] killed the processes.
pub struct Vm {
    qemu: Guarded,
    device: Guarded,
    control: Option<Control>,
    /// Wall time from starting the device to the agent's ready line.
    pub boot_time: Duration,
    dir: TempDir,
}

impl Vm {
    /// Boots a guest from `initrd` and waits until its agent is ready
    /// (in [`Mode::Shell`], returns once QEMU is started).
    pub fn boot(tools: &Tools, initrd: &Path, mode: Mode) -> Result<Vm> {
        let started = Instant::now();
        let mut vm = Vm::launch(tools, initrd, mode)?;
        if mode == Mode::Agent {
            vm.run_agent()?;
        }
        vm.boot_time = started.elapsed();
        Ok(vm)
    }

    /// Starts the device and QEMU. In [`Mode::Agent`] QEMU holds the guest
    /// until [`Vm::run_agent`] connects the control channel, so the device's
    /// hybrid socket exists while no guest runs yet.
    pub fn launch(tools: &Tools, initrd: &Path, mode: Mode) -> Result<Vm> {
        let dir = TempDir::new("hvlab")?;
        let d = dir.path().to_path_buf();
        let mut device = Guarded::spawn(
            "vhost-device-vsock",
            Command::new(&tools.vhost_device_vsock)
                .arg("--guest-cid")
                .arg(GUEST_CID.to_string())
                .arg("--socket")
                .arg(d.join("vhost.sock"))
                .arg("--uds-path")
                .arg(d.join("vm.vsock"))
                .stdin(Stdio::null())
                .stdout(log_file(&d, "device.log")?)
                .stderr(log_file(&d, "device.log")?),
        )?;
        wait_for_socket(&d.join("vhost.sock"), &mut device)?;

        let mut qemu_cmd = qemu_command(tools, initrd, &d, mode);
        if mode == Mode::Agent {
            qemu_cmd.stdin(Stdio::null()).stdout(log_file(&d, "qemu.log")?).stderr(log_file(&d, "qemu.log")?);
        }
        let qemu = Guarded::spawn("qemu", &mut qemu_cmd)?;
        Ok(Vm { qemu, device, control: None, boot_time: Duration::ZERO, dir })
    }

    /// Lets a launched guest boot and waits until its agent is ready.
    pub fn run_agent(&mut self) -> Result<()> {
        self.connect_control().map_err(|e| util::Error::msg(format!("{e}\n{}", self.diagnostics())))
    }

    /// QEMU's process id (to pause the guest with SIGSTOP, for example).
    pub fn qemu_pid(&self) -> u32 {
        self.qemu.id()
    }

    fn connect_control(&mut self) -> Result<()> {
        let path = self.dir.path().join("ctl.sock");
        wait_for_socket(&path, &mut self.qemu)?;
        // QEMU waits (wait=on) for this connection before it starts the guest,
        // so nothing the agent prints can be missed.
        let stream = UnixStream::connect(&path).context("connecting to the control socket")?;
        let mut control = Control::new(stream)?;
        control.wait_ready(BOOT_TIMEOUT)?;
        self.control = Some(control);
        Ok(())
    }

    /// The host-side hybrid vsock socket of vhost-device-vsock.
    pub fn uds_path(&self) -> PathBuf {
        self.dir.path().join("vm.vsock")
    }

    /// True while QEMU and the device run.
    pub fn is_running(&mut self) -> bool {
        matches!(self.qemu.try_wait(), Ok(None)) && matches!(self.device.try_wait(), Ok(None))
    }

    /// Runs a shell script in the guest and returns its output and status.
    pub fn sh_timeout(&mut self, script: &str, timeout: Duration) -> Result<GuestOutput> {
        let control = self.control.as_mut().context("the guest has no control channel")?;
        control.exec(script, timeout)
    }

    /// [`Vm::sh_timeout`] with the default timeout.
    pub fn sh(&mut self, script: &str) -> Result<GuestOutput> {
        self.sh_timeout(script, SCRIPT_TIMEOUT)
    }

    /// Runs a script and fails unless it exits 0; returns its output.
    pub fn sh_ok(&mut self, script: &str) -> Result<String> {
        let out = self.sh(script)?;
        ensure!(
            out.status == 0,
            "guest script failed with status {}:\n--- script\n{}\n--- output\n{}",
            out.status,
            script.trim_end(),
            out.output.trim_end()
        );
        Ok(out.output)
    }

    /// Waits for QEMU to exit (interactive mode).
    pub fn wait(&mut self) -> Result<()> {
        let status = self.qemu.wait()?;
        ensure!(status.success(), "qemu exited with {status}");
        Ok(())
    }

    /// The tails of the console, device and QEMU logs.
    pub fn diagnostics(&self) -> String {
        let mut s = String::new();
        for (name, lines) in [("console.log", 30), ("device.log", 15), ("qemu.log", 15)] {
            let path = self.dir.path().join(name);
            if path.exists() {
                s.push_str(&format!("--- tail of guest {name}\n{}\n", util::tail(&path, lines)));
            }
        }
        s
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.qemu.kill();
        self.device.kill();
    }
}

fn log_file(dir: &Path, name: &str) -> Result<std::fs::File> {
    let path = dir.join(name);
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("open {}", path.display()))
}

/// Waits until `path` exists, failing early if `owner` (the process that
/// creates it) exits.
fn wait_for_socket(path: &Path, owner: &mut Guarded) -> Result<()> {
    let created = util::poll(SOCKET_TIMEOUT, Duration::from_millis(5), || {
        if path.exists() {
            return Ok(true);
        }
        if let Some(status) = owner.try_wait()? {
            bail!("{} exited ({status}) before creating {}", owner.name(), path.display());
        }
        Ok(false)
    })?;
    ensure!(created.is_some(), "{} did not create {} in time", owner.name(), path.display());
    Ok(())
}

fn qemu_command(tools: &Tools, initrd: &Path, d: &Path, mode: Mode) -> Command {
    let mut cmd = Command::new("qemu-system-x86_64");
    let append = match mode {
        Mode::Agent => "console=ttyS0 quiet panic=-1 hvlab.mode=agent",
        Mode::Shell => "console=ttyS0 quiet panic=-1 hvlab.mode=shell",
    };
    cmd.args(["-nodefaults", "-no-reboot", "-nic", "none", "-display", "none"])
        // KVM hangs on these machines; software emulation boots in seconds.
        .args(["-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", MEMORY])
        // vhost-user needs the guest memory shared with the device process.
        .arg("-object")
        .arg(format!("memory-backend-memfd,id=mem,size={MEMORY},share=on"))
        .args(["-numa", "node,memdev=mem"])
        .arg("-chardev")
        .arg(format!("socket,id=vdev,path={}", d.join("vhost.sock").display()))
        .args(["-device", "vhost-user-vsock-pci,chardev=vdev"])
        .arg("-kernel")
        .arg(&tools.vmlinuz)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", append]);
    match mode {
        Mode::Agent => {
            cmd.args(["-monitor", "none"])
                .arg("-chardev")
                .arg(format!("file,id=con,path={}", d.join("console.log").display()))
                .args(["-serial", "chardev:con"])
                .arg("-chardev")
                .arg(format!("socket,id=ctl,path={},server=on,wait=on", d.join("ctl.sock").display()))
                .args(["-serial", "chardev:ctl"]);
        }
        Mode::Shell => {
            cmd.args(["-serial", "mon:stdio"]);
        }
    }
    cmd
}
