//! The one request builder every gateway call goes through: the endpoint URL under the base URL,
//! the bearer key when one is set, and the error for a non-success answer.

use std::time::Duration;

use super::{Gateway, GatewayError};

/// Characters of a gateway error body kept in the (log-only) error.
const ERROR_BODY_CHARS: usize = 300;

impl Gateway {
    /// A `POST {base}/{path}`, authenticated with the bearer key when one is configured.
    pub(super) fn post(&self, path: &str) -> reqwest::RequestBuilder {
        let url = format!("{}/{path}", self.settings.base_url.trim_end_matches('/'));
        let builder = self.http.post(url);
        match &self.settings.api_key {
            Some(key) => builder.bearer_auth(key),
            None => builder,
        }
    }
}

/// The error for a non-success answer, quoting the start of its body (read for at most
/// `timeout`; a body that does not arrive is left out).
pub(super) async fn status_error(response: reqwest::Response, timeout: Duration) -> GatewayError {
    let status = response.status().as_u16();
    let body = tokio::time::timeout(timeout, response.text())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    GatewayError::Status {
        status,
        body: body.chars().take(ERROR_BODY_CHARS).collect(),
    }
}
