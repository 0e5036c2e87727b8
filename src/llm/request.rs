//! The one request builder every gateway call goes through: the endpoint URL under the base URL,
//! the bearer key when one is set, bounded reads of what comes back, and errors that carry no
//! URL (it may hold credentials) and no secret.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::time::Duration;

use super::{Gateway, GatewayError};
use crate::telemetry::LlmAnswer;

/// Characters of a gateway error body kept in the (log-only) error.
const ERROR_BODY_CHARS: usize = 200;
/// Bytes of a gateway error body read at all.
const ERROR_BODY_BYTES: usize = 4 * 1024;
/// Longest line of an SSE stream; a longer one ends the call.
pub(super) const MAX_SSE_LINE_BYTES: usize = 1024 * 1024;
/// Largest JSON answer read (embeddings).
pub(super) const MAX_JSON_BYTES: usize = 32 * 1024 * 1024;

impl Gateway {
    /// A `POST {base}/{path}`, authenticated with the bearer key when one is configured.
    pub(super) fn post(&self, path: &str) -> reqwest::RequestBuilder {
        let url = format!("{}/{path}", self.settings.base_url.trim_end_matches('/'));
        let builder = self.http.post(url);
        match &self.settings.api_key {
            Some(key) => builder.bearer_auth(key.expose()),
            None => builder,
        }
    }

    /// The error for a non-success answer: its status and a short, scrubbed start of its body
    /// (at most [`ERROR_BODY_BYTES`] are read, for at most `timeout`).
    pub(super) async fn status_error(
        &self,
        response: reqwest::Response,
        timeout: Duration,
    ) -> GatewayError {
        let status = response.status().as_u16();
        let body = tokio::time::timeout(timeout, read_capped(response, ERROR_BODY_BYTES))
            .await
            .ok()
            .and_then(Result::ok)
            .map(|(bytes, _)| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default();
        GatewayError::Status {
            status,
            body: self.scrub(&body),
        }
    }

    /// `text` cut short, on one line, with the configured key blanked out.
    fn scrub(&self, text: &str) -> String {
        let mut text: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(ERROR_BODY_CHARS)
            .collect();
        if let Some(key) = &self.settings.api_key {
            if !key.expose().is_empty() {
                text = text.replace(key.expose(), "<redacted>");
            }
        }
        text
    }
}

/// How the gateway answered a send, for the request metrics.
pub(super) fn answer_of(sent: &Result<reqwest::Response, reqwest::Error>) -> LlmAnswer {
    match sent {
        Ok(response) => LlmAnswer::Status(response.status().as_u16()),
        Err(e) if e.is_timeout() => LlmAnswer::Timeout,
        Err(_) => LlmAnswer::Unreachable,
    }
}

/// A transport error as text, without the URL it was for.
pub(super) fn describe(error: reqwest::Error) -> String {
    error.without_url().to_string()
}

/// Reads at most `cap` bytes of the body; the flag says whether more was left unread.
pub(super) async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = cap - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// The byte stream of a response, ended with an error as soon as one line grows past
/// [`MAX_SSE_LINE_BYTES`] (so an endless line cannot grow memory).
pub(super) fn line_capped(
    stream: impl Stream<Item = Result<Bytes, reqwest::Error>> + Send + 'static,
) -> impl Stream<Item = Result<Bytes, LineError>> + Send + 'static {
    let mut line = 0usize;
    stream.map(move |chunk| {
        let chunk = chunk.map_err(|e| LineError::Transport(describe(e)))?;
        for part in chunk.split(|b| *b == b'\n') {
            // Every part but the last ends a line.
            line += part.len();
            if line > MAX_SSE_LINE_BYTES {
                return Err(LineError::TooLong);
            }
        }
        if let Some(last_newline) = chunk.iter().rposition(|b| *b == b'\n') {
            line = chunk.len() - last_newline - 1;
        }
        Ok(chunk)
    })
}

/// Why a capped stream ended.
#[derive(Debug, thiserror::Error)]
pub(super) enum LineError {
    /// The transport failed.
    #[error("{0}")]
    Transport(String),
    /// One line was longer than allowed.
    #[error("a stream line is longer than {MAX_SSE_LINE_BYTES} bytes")]
    TooLong,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn long_lines_end_the_stream_and_newlines_reset_the_count() {
        let half = vec![b'x'; MAX_SSE_LINE_BYTES / 2];
        let ok: Vec<Result<Bytes, reqwest::Error>> = vec![
            Ok(Bytes::from(half.clone())),
            Ok(Bytes::from([&half[..], b"\n"].concat())),
            Ok(Bytes::from([&half[..], b"\n", &half[..]].concat())),
            Ok(Bytes::from_static(b"\n")),
        ];
        let seen: Vec<_> = line_capped(futures_util::stream::iter(ok)).collect().await;
        assert!(seen.iter().all(Result::is_ok));
        let endless: Vec<Result<Bytes, reqwest::Error>> =
            (0..3).map(|_| Ok(Bytes::from(half.clone()))).collect();
        let seen: Vec<_> = line_capped(futures_util::stream::iter(endless))
            .collect()
            .await;
        assert!(matches!(seen.last(), Some(Err(LineError::TooLong))));
    }
}
