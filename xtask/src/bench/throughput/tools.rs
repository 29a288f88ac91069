//! What `bench lab` compares (the tools) and where (the routes), and the
//! guest-side script that measures a receiver.

use std::process::Command;

/// The senders and receivers compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Tool {
    Hvcat,
    /// Debian's socat with its defaults (8 KiB buffer).
    Socat,
    /// socat with `-b 262144`, hvcat's read size.
    SocatBig,
    /// hvraw: 1 MiB `send(2)`s from memory, 1 MiB `recv(2)`s thrown away.
    Raw,
    /// hvraw sending the payload file (1 MiB `read(2)` + `send(2)`), to the same receiver.
    RawFile,
}

pub(super) const TOOLS: [Tool; 5] = [Tool::Hvcat, Tool::Socat, Tool::SocatBig, Tool::Raw, Tool::RawFile];

impl Tool {
    pub(super) fn name(self) -> &'static str {
        match self {
            Tool::Hvcat => "hvcat",
            Tool::Socat => "socat",
            Tool::SocatBig => "socat -b 256K",
            Tool::Raw => "raw",
            Tool::RawFile => "raw from file",
        }
    }

    /// socat and its options (`-u`: one direction; it is a one-way transfer).
    pub(super) fn socat(self) -> &'static str {
        if self == Tool::SocatBig {
            "socat -b 262144 -u"
        } else {
            "socat -u"
        }
    }

    /// A host socat command with `args` after the options.
    pub(super) fn socat_command(self, args: &[&str]) -> Command {
        let mut words = self.socat().split_whitespace();
        let mut cmd = Command::new(words.next().unwrap_or("socat"));
        cmd.args(words).args(args);
        cmd
    }

    pub(super) fn is_raw(self) -> bool {
        matches!(self, Tool::Raw | Tool::RawFile)
    }

    /// A guest receiver listening on vsock `port`; its stderr says `listening on`.
    pub(super) fn guest_receiver(self, port: u32) -> String {
        match self {
            Tool::Hvcat => format!("hvcat -v -l vsock://:{port}"),
            Tool::Socat | Tool::SocatBig => format!("{} -d -d VSOCK-LISTEN:{port} STDOUT", self.socat()),
            Tool::Raw | Tool::RawFile => format!("hvraw recv vsock://:{port}"),
        }
    }

    /// A guest sender to `cid:port` (standard input: the payload file).
    pub(super) fn guest_sender(self, cid: u32, port: u32, bytes: usize) -> String {
        match self {
            Tool::Hvcat => format!("hvcat -v vsock://{cid}:{port}"),
            Tool::Socat | Tool::SocatBig => format!("{} STDIN VSOCK-CONNECT:{cid}:{port}", self.socat()),
            Tool::Raw => format!("hvraw send vsock://{cid}:{port} {bytes}"),
            Tool::RawFile => format!("hvraw send vsock://{cid}:{port} -"),
        }
    }
}

/// Where the bytes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Route {
    Loopback,
    HostToGuest,
    GuestToHost,
    HostUnix,
}

pub(super) const ROUTES: [Route; 4] =
    [Route::Loopback, Route::HostToGuest, Route::GuestToHost, Route::HostUnix];

impl Route {
    pub(super) fn name(self) -> &'static str {
        match self {
            Route::Loopback => "guest loopback (CID 1)",
            Route::HostToGuest => "host -> guest (hybrid)",
            Route::GuestToHost => "guest -> host (hybrid)",
            Route::HostUnix => "host only (Unix socket)",
        }
    }
}

/// Runs `sh measure.sh OUT CMD...`: CMD with standard input and output /dev/null and
/// standard error OUT.err; then, if MARK is set, sends the host a timing mark; then
/// writes OUT: CMD's exit status and how much it wrote
/// (`wchar`) and in how many calls (`syscw`), from this shell's /proc/PID/io, to which
/// the counts of a reaped child are added.
pub(super) const MEASURE_SH: &str = r#"out=$1; shift
snap() { while read -r k v; do eval "$1_${k%:}=\$v"; done < /proc/$$/io; }
snap a
"$@" </dev/null >/dev/null 2>"$out.err" &
wait $!
rc=$?
snap b
[ -n "$MARK" ] && printf x > "$MARK"
printf 'rc=%s\nwchar=%s\nsyscw=%s\nerr=%s\n' "$rc" "$((b_wchar - a_wchar))" "$((b_syscw - a_syscw))" \
    "$(wc -c < "$out.err" | tr -d ' ')" > "$out.tmp"
mv "$out.tmp" "$out"
"#;

/// Where guest files live.
pub(super) const GDIR: &str = "/tmp/bench";

/// The guest FIFO a timing mark is written to.
pub(super) const MARK: &str = "/tmp/bench/mark";
