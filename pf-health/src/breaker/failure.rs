//! What a failure to reach a dependency was.

use std::fmt;

/// Why a call could not reach the dependency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// Nothing listens: the connection was refused (or reset at once).
    Refused,
    /// Connecting or answering took longer than its deadline (a frozen or black-holed server).
    TimedOut,
    /// The server refused the credentials.
    Authentication,
    /// Any other failure to reach the dependency (a broken connection, DNS, TLS).
    Other,
}

impl FailureKind {
    /// `refused`, `timed_out`, `authentication` or `other` (the metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Refused => "refused",
            FailureKind::TimedOut => "timed_out",
            FailureKind::Authentication => "authentication",
            FailureKind::Other => "other",
        }
    }

    pub(crate) const ALL: [FailureKind; 4] = [
        FailureKind::Refused,
        FailureKind::TimedOut,
        FailureKind::Authentication,
        FailureKind::Other,
    ];

    /// The kind of an I/O error (`ConnectionRefused` and `ConnectionReset` are refused,
    /// `TimedOut` and `WouldBlock` timed out, the rest other).
    pub fn of_io(e: &std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        match e.kind() {
            K::ConnectionRefused | K::ConnectionReset => FailureKind::Refused,
            K::TimedOut | K::WouldBlock => FailureKind::TimedOut,
            K::PermissionDenied => FailureKind::Authentication,
            _ => FailureKind::Other,
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureKind::Refused => "connection refused",
            FailureKind::TimedOut => "timed out",
            FailureKind::Authentication => "authentication failed",
            FailureKind::Other => "connection failed",
        })
    }
}

/// A failure to reach the dependency: its [`FailureKind`] and the driver's message (keep
/// secrets out of it: it is logged and shown in health details).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectFailure {
    pub(super) kind: FailureKind,
    detail: String,
}

impl ConnectFailure {
    /// A failure of `kind`, described by `detail`.
    pub fn new(kind: FailureKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }

    /// From an I/O error (kind by [`FailureKind::of_io`], its message as detail).
    pub fn from_io(e: &std::io::Error) -> Self {
        Self::new(FailureKind::of_io(e), e.to_string())
    }

    /// Its kind.
    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    /// The driver's message.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.detail.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}: {}", self.kind, self.detail)
        }
    }
}
