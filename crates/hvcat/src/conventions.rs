//! Command-line conventions shared by the tools: how to connect, and how a run ends
//! (messages start with the tool's name; exit 0 success, 1 connection or I/O failure,
//! 2 bad usage or invalid address).

use std::io;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser};
use hvsock::{Addr, ConnectOptions, ListenOptions, Retry};

/// Why a tool stops early.
#[derive(Debug)]
pub enum Failure {
    /// Bad usage or an invalid address: exit 2.
    Usage(String),
    /// A failed connection or transfer: exit 1.
    Io(io::Error),
}

impl From<io::Error> for Failure {
    fn from(err: io::Error) -> Self {
        Failure::Io(err)
    }
}

/// Parses an address given on the command line (a bad one is a usage error).
pub fn parse_addr(uri: &str) -> Result<Addr, Failure> {
    uri.parse().map_err(|e: hvsock::ParseError| Failure::Usage(e.to_string()))
}

/// Parses an address that may ask for message mode (`vsock+seqpacket://...`); a bad
/// one is a usage error.
pub fn parse_endpoint(uri: &str) -> Result<hvsock::Endpoint, Failure> {
    uri.parse().map_err(|e: hvsock::ParseError| Failure::Usage(e.to_string()))
}

/// Parses the command line, sets up logging (`verbose` picks the level from the parsed
/// arguments), runs `run`, and turns the outcome into messages and the exit status.
///
/// If the run `listens` (from the parsed arguments), the ending signals are handled
/// first ([`crate::signals::install`]), so that its listeners' socket files are removed.
/// A run that only connects leaves no socket file behind: the signals' default actions
/// end it as they should, and it is spared the thread that waits for them (a thread
/// costs a connect's start-up time: docs/performance.md, "Connect latency").
pub fn main<C: Parser>(
    tool: &'static str,
    verbose: impl FnOnce(&C) -> bool,
    listens: impl FnOnce(&C) -> bool,
    run: impl FnOnce(&C) -> Result<(), Failure>,
) -> ExitCode {
    let mut args = std::env::args_os();
    if let (Some(_), Some(flag), Some(dir), None) = (args.next(), args.next(), args.next(), args.next()) {
        if flag == crate::release::GENERATE_DOCS {
            return match crate::release::generate::<C>(dir.as_ref()) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{tool}: {e}");
                    ExitCode::from(1)
                }
            };
        }
    }
    let parsed = crate::release::command::<C>().try_get_matches().and_then(|m| C::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => {
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            let text = err.render().to_string();
            eprint!("{tool}: {}", text.strip_prefix("error: ").unwrap_or(&text));
            return ExitCode::from(2);
        }
    };
    crate::log::init(tool, verbose(&cli));
    if listens(&cli) {
        if let Err(e) = crate::signals::install() {
            tracing::warn!("cannot handle SIGINT/SIGTERM/SIGHUP (socket files may be left behind): {e}");
        }
    }
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("{tool}: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Io(err)) => {
            eprintln!("{tool}: {err}");
            ExitCode::from(1)
        }
    }
}

/// How to connect: the options every tool takes.
#[derive(Args, Debug, Clone)]
pub struct ConnectArgs {
    /// Give up on a connection attempt after SECS seconds (decimals allowed; name lookup
    /// and hybrid handshake included). Default 5; vsock and Hyper-V give up after 2 s of
    /// their own unless -w is given
    #[arg(short = 'w', long, value_name = "SECS", value_parser = parse_secs)]
    pub connect_timeout: Option<Duration>,

    /// Try connecting again while it fails in a way that may pass (refused, no socket,
    /// timeout): N more times, or without N until it connects; waits grow to 2 s
    #[arg(long, value_name = "N", num_args = 0..=1, require_equals = true, default_missing_value = "forever")]
    pub retry: Option<RetryArg>,

    /// How long a hybrid-vsock device may take to answer CONNECT
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value = "5")]
    pub handshake_timeout: Duration,

    /// The credit window of vsock connections, made or accepted: how much the peer may
    /// send ahead of what is read (SO_VM_SOCKETS_BUFFER_SIZE; K and M suffixes). Default
    /// 1M, where a guest receives 1.08-1.15x as fast as with the kernel's 256K
    /// (docs/performance.md)
    #[arg(long, value_name = "SIZE", value_parser = crate::parse_size)]
    pub vsock_buffer: Option<u64>,
}

impl ConnectArgs {
    /// The library's options for these arguments.
    pub fn options(&self) -> ConnectOptions {
        let retry = match self.retry {
            None => Retry::Never,
            Some(RetryArg::Forever) => Retry::Forever,
            Some(RetryArg::Times(n)) => Retry::Times(n),
        };
        let options = ConnectOptions::new()
            .handshake_timeout(self.handshake_timeout)
            .retry(retry)
            .vsock_buffer_size(self.vsock_buffer.unwrap_or(DEFAULT_VSOCK_BUFFER));
        match self.connect_timeout {
            Some(timeout) => options.timeout(timeout),
            None => options,
        }
    }

    /// The library's options for listening, with `--vsock-buffer`.
    pub fn listen_options(&self) -> ListenOptions {
        ListenOptions::new().vsock_buffer_size(self.vsock_buffer.unwrap_or(DEFAULT_VSOCK_BUFFER))
    }

    /// The address `uri` names for a client, checked against `--vsock-buffer`.
    pub fn client_addr(&self, uri: &str) -> Result<Addr, Failure> {
        let addr = parse_addr(uri)?;
        self.check_vsock_buffer([&addr])?;
        Ok(addr)
    }

    /// A listener on the address `uri` names, with `--vsock-buffer`.
    pub fn listen(&self, uri: &str) -> Result<hvsock::Listener, Failure> {
        let addr = self.client_addr(uri)?;
        Ok(hvsock::Listener::bind_with(&addr, &self.listen_options())?)
    }

    /// Refuses an explicit `--vsock-buffer` when none of `addrs` is a vsock address: it
    /// would do nothing there.
    pub fn check_vsock_buffer<'a>(&self, addrs: impl IntoIterator<Item = &'a Addr>) -> Result<(), Failure> {
        let mut addrs = addrs.into_iter().peekable();
        let first = addrs.peek().copied();
        if self.vsock_buffer.is_some() && !addrs.any(|a| matches!(a, Addr::Vsock(_))) {
            // Named only here: formatting an address is a cost every connect would pay.
            let first = first.map(ToString::to_string).unwrap_or_default();
            return Err(Failure::Usage(format!(
                "--vsock-buffer applies to vsock:// addresses only, and {first} is not one"
            )));
        }
        Ok(())
    }
}

/// The tools' vsock credit window unless `--vsock-buffer` says otherwise: the smallest
/// on the plateau of the lab's sweep (`cargo xtask bench lab --windows-only`: 1M to 4M
/// within a few percent of each other, 1.08-1.15x the kernel's 256K where a guest
/// receives). Transports other than vsock ignore it.
pub const DEFAULT_VSOCK_BUFFER: u64 = 1 << 20;

/// `--retry` and `--retry=N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryArg {
    /// Until it connects.
    Forever,
    /// N more attempts.
    Times(u32),
}

impl std::str::FromStr for RetryArg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "forever" => Ok(RetryArg::Forever),
            _ => text
                .parse()
                .map(RetryArg::Times)
                .map_err(|_| format!("`{text}` is not a whole number of retries")),
        }
    }
}

/// Seconds, decimals allowed.
pub fn parse_secs(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0 && *s <= 1e9)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("`{text}` is not a number of seconds"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_seconds_and_retries() {
        assert_eq!(parse_secs("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_secs("-1").is_err() && parse_secs("nan").is_err() && parse_secs("x").is_err());
        assert_eq!("forever".parse(), Ok(RetryArg::Forever));
        assert_eq!("3".parse(), Ok(RetryArg::Times(3)));
        assert!("-3".parse::<RetryArg>().is_err());
    }
}
