//! Host side of the guest control channel: a Unix socket that QEMU connects
//! to the guest's second serial port, where `guest/agent.sh` runs scripts.
//! See that file for the line protocol.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::util::{self, Context, Result};
use crate::{bail, ensure};

const READY: &str = "__HVLAB_READY__";
const OUT: &str = "__HVLAB_OUT";
const END: &str = "__HVLAB_END";

/// Output and exit status of a script run in the guest.
#[derive(Debug)]
pub struct GuestOutput {
    /// Exit status (137 when killed at its timeout).
    pub status: i32,
    /// Combined stdout and stderr.
    pub output: String,
}

pub struct Control {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
}

impl Control {
    pub fn new(stream: UnixStream) -> Result<Self> {
        Ok(Control { reader: BufReader::new(stream.try_clone()?), writer: stream, next_id: 1 })
    }

    /// Waits for the agent's ready line.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let line = self.read_line(deadline).context("waiting for the guest agent")?;
            if line.trim_end() == READY {
                return Ok(());
            }
        }
    }

    /// Runs `script` with `sh` in the guest; the guest kills it after `timeout`.
    pub fn exec(&mut self, script: &str, timeout: Duration) -> Result<GuestOutput> {
        let id = self.next_id;
        self.next_id += 1;
        let guest_secs = timeout.as_secs().max(1);
        let request = format!("{id} {guest_secs} {}\n", util::base64(script.as_bytes()));
        self.writer.write_all(request.as_bytes()).context("writing to the guest control channel")?;
        // Leave the guest time to report its own timeout first.
        let deadline = Instant::now() + timeout + Duration::from_secs(10);
        let size = loop {
            let line = self.read_line(deadline)?;
            let mut words = line.split_whitespace();
            if words.next() == Some(OUT) && words.next() == Some(&id.to_string()) {
                break words
                    .next()
                    .and_then(|n| n.parse::<usize>().ok())
                    .with_context(|| format!("bad control header {line:?}"))?;
            }
            // Anything else is the late answer to an earlier, timed-out script.
        };
        let mut output = vec![0u8; size];
        self.set_deadline(deadline)?;
        self.reader.read_exact(&mut output).context("reading script output from the guest")?;
        let line = self.read_line(deadline)?;
        let mut words = line.split_whitespace();
        ensure!(
            words.next() == Some(END) && words.next() == Some(&id.to_string()),
            "control channel out of step: expected {END} {id}, got {line:?}"
        );
        let status = words
            .next()
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad control trailer {line:?}"))?;
        Ok(GuestOutput { status, output: String::from_utf8_lossy(&output).into_owned() })
    }

    fn set_deadline(&mut self, deadline: Instant) -> Result<()> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("timed out waiting for the guest");
        }
        self.reader.get_ref().set_read_timeout(Some(left))?;
        Ok(())
    }

    fn read_line(&mut self, deadline: Instant) -> Result<String> {
        let mut buf = Vec::new();
        loop {
            self.set_deadline(deadline)?;
            match self.reader.read_until(b'\n', &mut buf) {
                Ok(0) => bail!("guest control channel closed (did the guest die?)"),
                Ok(_) if buf.ends_with(b"\n") => {
                    return Ok(String::from_utf8_lossy(&buf).into_owned());
                }
                Ok(_) => continue,
                Err(e)
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
                {
                    bail!("timed out waiting for the guest")
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).context("reading the guest control channel"),
            }
        }
    }
}
