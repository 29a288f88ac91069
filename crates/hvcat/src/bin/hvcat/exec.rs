//! `--exec` and `--sh-exec`: a child process per connection.

use std::io;
use std::process::{Command, ExitStatus, Stdio};

use hvsock::Stream;

/// A command to run for each connection.
#[derive(Debug, Clone)]
pub struct Exec {
    program: String,
    args: Vec<String>,
}

impl Exec {
    /// `--exec CMD`: split at white space, run without a shell.
    pub fn direct(cmd: &str) -> Option<Exec> {
        let mut words = cmd.split_whitespace().map(str::to_owned);
        let program = words.next()?;
        Some(Exec { program, args: words.collect() })
    }

    /// `--sh-exec CMD`: run by the system shell.
    pub fn shell(cmd: &str) -> Exec {
        let (shell, flag) = if cfg!(windows) { ("cmd", "/C") } else { ("/bin/sh", "-c") };
        Exec { program: shell.into(), args: vec![flag.into(), cmd.into()] }
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        command
    }

    /// Runs the command with the connection as its standard input and output, and waits
    /// for it. The connection closes when the child and we are both done with it.
    #[cfg(unix)]
    pub fn run(&self, stream: Stream) -> io::Result<ExitStatus> {
        use std::os::fd::OwnedFd;
        let input = OwnedFd::from(stream.try_clone()?);
        let mut child = self
            .command()
            .stdin(Stdio::from(input))
            .stdout(Stdio::from(OwnedFd::from(stream)))
            .spawn()
            .map_err(|e| self.spawn_error(e))?;
        child.wait()
    }

    /// Runs the command with pipes to and from the connection (a Windows socket cannot be
    /// a child's standard handle), and waits for it.
    #[cfg(not(unix))]
    pub fn run(&self, stream: Stream) -> io::Result<ExitStatus> {
        use std::net::Shutdown;
        let mut child = self
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| self.spawn_error(e))?;
        let (child_in, child_out) = (child.stdin.take(), child.stdout.take());
        let peer = hvtools::serve::peer_name(&stream);
        std::thread::scope(|scope| {
            if let Some(child_in) = child_in {
                scope.spawn(|| hvtools::pipe(&stream, &peer, child_in, "the command's input"));
            }
            if let Some(child_out) = child_out {
                let _ = hvtools::pipe(child_out, "the command's output", &stream, &peer);
                let _ = stream.shutdown(Shutdown::Write);
            }
            child.wait()
        })
    }

    fn spawn_error(&self, err: io::Error) -> io::Error {
        io::Error::new(err.kind(), format!("cannot run {}: {err}", self.program))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_without_a_shell() {
        let exec = Exec::direct("  /bin/echo a  'b c' ").unwrap();
        assert_eq!(exec.program, "/bin/echo");
        assert_eq!(exec.args, ["a", "'b", "c'"]);
        assert!(Exec::direct("   ").is_none());
        assert_eq!(Exec::shell("echo $HOME").args.last().unwrap(), "echo $HOME");
    }
}
