//! The fixture every scenario gets: the lab, its guest, fresh ports and a
//! host-side scratch dir.

use std::path::PathBuf;

use crate::bail;
use crate::lab::vm::Vm;
use crate::lab::Lab;
use crate::util::{self, Result, TempDir};

/// A named end-to-end check.
#[derive(Clone, Copy)]
pub struct Scenario {
    /// `group/name`; `cargo xtask lab run group` runs a whole group.
    pub name: &'static str,
    pub run: fn(&mut Ctx) -> Result<()>,
}

/// What a scenario works with.
pub struct Ctx<'a> {
    pub lab: &'a Lab,
    pub vm: Vm,
    /// Host-side files of this run (payloads, outputs, hyperkit dirs).
    host: TempDir,
    next_port: u32,
}

impl<'a> Ctx<'a> {
    /// Boots a guest for scenarios.
    pub fn new(lab: &'a Lab) -> Result<Self> {
        Ok(Ctx { lab, vm: lab.boot()?, host: TempDir::new("hvsock-lab-host")?, next_port: 5000 })
    }

    /// A vsock port no other scenario of this run uses.
    pub fn port(&mut self) -> u32 {
        self.next_port += 1;
        self.next_port
    }

    /// A path in the host-side scratch dir.
    pub fn host_path(&self, name: &str) -> PathBuf {
        self.host.path().join(name)
    }

    /// The host hvcat, or the reason it could not be built.
    pub fn host_hvcat(&self) -> Result<PathBuf> {
        match &self.lab.binaries.host_hvcat {
            Ok(p) => Ok(p.clone()),
            Err(_) => bail!("no host hvcat (its build failed; see the warning before the first scenario)"),
        }
    }

    /// Fails unless the guest image has hvcat.
    pub fn need_guest_hvcat(&self) -> Result<()> {
        match &self.lab.binaries.guest_hvcat {
            Ok(_) => Ok(()),
            Err(_) => bail!("no guest hvcat (its build failed; see the warning before the first scenario)"),
        }
    }

    /// Writes a deterministic payload to a host file; returns (path, sha256).
    pub fn host_payload(&self, name: &str, seed: u64, len: usize) -> Result<(PathBuf, String)> {
        let data = util::payload(seed, len);
        let path = self.host_path(name);
        std::fs::write(&path, &data)?;
        Ok((path, util::sha256_hex(&data)))
    }
}
