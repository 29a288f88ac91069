//! Settings for connecting and listening.

use std::time::Duration;

/// How to connect; see [`Stream::connect_with`](crate::Stream::connect_with).
///
/// ```
/// use std::time::Duration;
/// let options = hvsock::ConnectOptions::new()
///     .timeout(Duration::from_secs(3))
///     .handshake_timeout(Duration::from_secs(1));
/// # let _ = options;
/// ```
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    pub(crate) timeout: Option<Duration>,
    pub(crate) handshake_timeout: Duration,
    pub(crate) retry: Retry,
    pub(crate) confirm: Option<Duration>,
    pub(crate) vsock_buffer_size: Option<u64>,
}

/// Whether and how often to try a connection again when it fails in a way that may
/// pass: refused, no socket yet, timed out, reset, or closed during the handshake (a
/// guest that is still booting shows all of these). Waits grow from 50 ms, doubling,
/// to at most 2 s between attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// One attempt (the default).
    Never,
    /// Up to this many attempts after the first.
    Times(u32),
    /// Until it connects.
    Forever,
}

impl Retry {
    /// Whether another attempt may follow attempt number `attempt` (counted from 1).
    pub fn allows(self, attempt: u32) -> bool {
        match self {
            Retry::Never => false,
            Retry::Times(n) => attempt <= n,
            Retry::Forever => true,
        }
    }

    /// How long to wait after attempt number `attempt` (counted from 1).
    ///
    /// ```
    /// use std::time::Duration;
    /// use hvsock::Retry;
    /// assert_eq!(Retry::backoff(1), Duration::from_millis(50));
    /// assert_eq!(Retry::backoff(3), Duration::from_millis(200));
    /// assert_eq!(Retry::backoff(30), Duration::from_secs(2));
    /// ```
    pub fn backoff(attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(16);
        Duration::from_millis(50 << doublings).min(Duration::from_secs(2))
    }
}

impl ConnectOptions {
    /// How long a hybrid-vsock device may take to answer `CONNECT` by default.
    pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

    /// How long a connect may take when [`ConnectOptions::timeout`] is not set: 5 s,
    /// name resolution (TCP) and handshake (hybrid) included. No connect waits forever
    /// by default, not even one to a Unix listener whose backlog is full, where a
    /// blocking `connect(2)` would.
    ///
    /// vsock and Hyper-V sockets give up sooner on their own: the Linux kernel's vsock
    /// connect timeout is 2 s, and a Hyper-V connect waits
    /// [`windows::DEFAULT_CONNECT_TIMEOUT`](crate::windows::DEFAULT_CONNECT_TIMEOUT)
    /// (2 s); a timeout of your own replaces both.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

    /// Each attempt bounded by the default timeouts ([`ConnectOptions::DEFAULT_TIMEOUT`]:
    /// 5 s; the kernel's 2 s for vsock, 2 s for Hyper-V sockets; the hybrid handshake
    /// within [`ConnectOptions::DEFAULT_HANDSHAKE_TIMEOUT`]); no retries.
    pub fn new() -> Self {
        ConnectOptions {
            timeout: None,
            handshake_timeout: Self::DEFAULT_HANDSHAKE_TIMEOUT,
            retry: Retry::Never,
            confirm: None,
            vsock_buffer_size: None,
        }
    }

    /// Gives up on each attempt after `timeout`, name resolution and handshake included,
    /// with `ErrorKind::TimedOut`, in place of the default limit of every transport
    /// ([`ConnectOptions::DEFAULT_TIMEOUT`], and for vsock the kernel's own
    /// `SO_VM_SOCKETS_CONNECT_TIMEOUT`, set to `timeout`). `Duration::MAX` (or any
    /// timeout too long for an `Instant`) sets no limit at all.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Tries again on failures that may pass; see [`Retry`].
    pub fn retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// For transports that never confirm a connection (hyperkit), waits up to `wait`
    /// after connecting for the close by which they refuse one, and fails the connect
    /// with `ErrorKind::ConnectionRefused` if it comes (hyperkit closes within
    /// milliseconds when nothing listens on the guest port). Nothing is read: data the
    /// guest sends at once stays for the first read. Without it (the default) such a
    /// refusal shows as end-of-file on the first read. Other transports confirm every
    /// connection and ignore it.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let addr: hvsock::Addr = "hyperkit://:80/path/to/vm".parse()?;
    /// let options = hvsock::ConnectOptions::new().confirm(Duration::from_millis(250));
    /// // Refused: an error here, not an end-of-file on the first read.
    /// let stream = hvsock::Stream::connect_with(&addr, &options)?;
    /// # let _ = stream;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn confirm(mut self, wait: Duration) -> Self {
        self.confirm = Some(wait);
        self
    }

    /// The credit window of a vsock connection, set before it connects; see
    /// [`Stream::set_vsock_buffer_size`](crate::Stream::set_vsock_buffer_size). Other
    /// transports ignore it.
    pub fn vsock_buffer_size(mut self, size: u64) -> Self {
        self.vsock_buffer_size = Some(size);
        self
    }

    /// How long to wait for a hybrid-vsock device's `OK` (default 5 s); `Duration::MAX`
    /// sets no limit.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// How to listen; see [`Listener::bind_with`](crate::Listener::bind_with).
///
/// ```
/// let options = hvsock::ListenOptions::new().mode(0o660).backlog(16);
/// # let _ = options;
/// ```
#[derive(Clone, Debug)]
pub struct ListenOptions {
    pub(crate) mode: u32,
    backlog: Option<i32>,
    pub(crate) vsock_buffer_size: Option<u64>,
}

impl ListenOptions {
    /// Mode 0600 for sockets on the filesystem, the system's largest backlog.
    pub fn new() -> Self {
        ListenOptions { mode: 0o600, backlog: None, vsock_buffer_size: None }
    }

    /// The permission bits of a listening socket created on the filesystem (hyperkit,
    /// hybrid and Unix listeners); default 0600, so that only the owner can connect.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode & 0o777;
        self
    }

    /// The `listen(2)` backlog: how many connections may wait to be accepted. By
    /// default the system's maximum ([`ListenOptions::max_backlog`]), as Go does: a
    /// burst of clients that connect without blocking (tokio, Go, Python with a
    /// timeout) is refused with `EAGAIN` once a Unix socket's backlog is full.
    pub fn backlog(mut self, backlog: i32) -> Self {
        self.backlog = Some(backlog);
        self
    }

    /// The credit window of every connection a vsock listener accepts (set on the
    /// listening socket, which passes it on); see
    /// [`Stream::set_vsock_buffer_size`](crate::Stream::set_vsock_buffer_size). Other
    /// transports ignore it.
    pub fn vsock_buffer_size(mut self, size: u64) -> Self {
        self.vsock_buffer_size = Some(size);
        self
    }

    /// The backlog `listen(2)` is given.
    pub(crate) fn listen_backlog(&self) -> i32 {
        self.backlog.unwrap_or_else(Self::max_backlog)
    }

    /// The system's largest `listen(2)` backlog: `/proc/sys/net/core/somaxconn` on Linux
    /// (4096 on current kernels), `SOMAXCONN` elsewhere.
    ///
    /// ```
    /// assert!(hvsock::ListenOptions::max_backlog() >= 128);
    /// ```
    pub fn max_backlog() -> i32 {
        #[cfg(target_os = "linux")]
        if let Some(max) = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|text| text.trim().parse::<i32>().ok())
            .filter(|max| *max > 0)
        {
            return max;
        }
        #[cfg(unix)]
        return libc::SOMAXCONN;
        #[cfg(windows)]
        return i32::MAX; // Winsock's SOMAXCONN: "a reasonable maximum" chosen by the provider
    }
}

impl Default for ListenOptions {
    fn default() -> Self {
        Self::new()
    }
}
