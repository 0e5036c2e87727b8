//! Why a gateway call failed, and which failures are worth another attempt.

use std::time::Duration;

/// Why a call failed; `Display` is safe for logs, never for clients.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Could not connect or send.
    #[error("gateway unreachable: {0}")]
    Connect(String),
    /// The gateway answered with a non-success status.
    #[error("gateway returned HTTP {status}: {body}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// Nothing arrived for the read timeout.
    #[error("gateway timed out after {0:?} of silence")]
    Timeout(Duration),
    /// The stream was not valid SSE/JSON, or reported an error.
    #[error("gateway stream is malformed: {0}")]
    Protocol(String),
    /// The stream ended before the answer finished.
    #[error("gateway stream ended before the answer finished")]
    Truncated,
}

impl GatewayError {
    /// Whether the failure is transient (connect errors, timeouts, 408, 429, 5xx).
    pub fn retryable(&self) -> bool {
        match self {
            GatewayError::Connect(_) | GatewayError::Timeout(_) | GatewayError::Truncated => true,
            GatewayError::Status { status, .. } => {
                *status == 429 || *status == 408 || (500..600).contains(status)
            }
            GatewayError::Protocol(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_policy_covers_transient_failures_only() {
        let status = |status| GatewayError::Status {
            status,
            body: String::new(),
        };
        assert!(status(429).retryable());
        assert!(status(503).retryable());
        assert!(!status(400).retryable());
        assert!(!status(401).retryable());
        assert!(GatewayError::Connect("refused".into()).retryable());
        assert!(!GatewayError::Protocol("bad".into()).retryable());
    }
}
