//! [`Secret`]: a key, token or password that must never reach a log line. It has no `Display`,
//! its `Debug` prints `<redacted>`, and reading it takes an explicit [`Secret::expose`].

use std::convert::Infallible;
use std::str::FromStr;

/// A secret string: redacted in `Debug`, exposed only on purpose.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that sends or compares it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The secret with surrounding whitespace removed, or `None` when nothing is left.
    pub fn non_blank(self) -> Option<Secret> {
        let trimmed = self.0.trim();
        (!trimmed.is_empty()).then(|| Secret(trimmed.to_string()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl FromStr for Secret {
    type Err = Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::from("hunter2");
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(secret.clone())), "Some(<redacted>)");
        assert_eq!(secret.expose(), "hunter2");
        assert_eq!(Secret::from("  x ").non_blank().unwrap().expose(), "x");
        assert!(Secret::from("   ").non_blank().is_none());
    }
}
