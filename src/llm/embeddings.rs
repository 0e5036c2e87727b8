//! `POST {base}/embeddings`: one vector per input, in input order.

use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use super::request::{answer_of, describe, read_capped, MAX_JSON_BYTES};
use super::{Gateway, GatewayError};
use crate::telemetry::{self, LlmAnswer, LlmOperation};

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    input: &'a [String],
}

#[derive(Deserialize)]
struct Answer {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    index: usize,
    embedding: Vec<f32>,
}

impl Gateway {
    /// Embeds `inputs` with `model`, one vector per input, in order; the whole call must finish
    /// within the read timeout.
    pub async fn embed(
        &self,
        model: &str,
        inputs: &[String],
    ) -> Result<Vec<Vec<f32>>, GatewayError> {
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let builder = self.post("embeddings").json(&Body {
            model,
            input: inputs,
        });
        let timeout = self.settings.read_timeout;
        let started = std::time::Instant::now();
        // Whether the send finished (and was recorded) before the timeout.
        let answered = AtomicBool::new(false);
        let call = async {
            let sent = builder.send().await;
            answered.store(true, Ordering::Relaxed);
            telemetry::llm_request(
                LlmOperation::Embeddings,
                answer_of(&sent),
                started.elapsed(),
            );
            let response = sent.map_err(|e| GatewayError::Connect(describe(e)))?;
            if !response.status().is_success() {
                return Err(self.status_error(response, timeout).await);
            }
            let (body, cut) = read_capped(response, MAX_JSON_BYTES)
                .await
                .map_err(|e| GatewayError::Connect(describe(e)))?;
            if cut {
                return Err(GatewayError::Protocol(format!(
                    "embeddings answer is larger than {MAX_JSON_BYTES} bytes"
                )));
            }
            serde_json::from_slice::<Answer>(&body)
                .map_err(|e| GatewayError::Protocol(format!("embeddings answer: {e}")))
        };
        let answer = tokio::time::timeout(timeout, call).await.map_err(|_| {
            if !answered.load(Ordering::Relaxed) {
                telemetry::llm_request(
                    LlmOperation::Embeddings,
                    LlmAnswer::Timeout,
                    started.elapsed(),
                );
            }
            GatewayError::Timeout(timeout)
        })??;
        let mut vectors: Vec<Option<Vec<f32>>> = vec![None; inputs.len()];
        for item in answer.data {
            if let Some(slot) = vectors.get_mut(item.index) {
                *slot = Some(item.embedding);
            }
        }
        vectors
            .into_iter()
            .map(|v| {
                v.filter(|v| !v.is_empty()).ok_or_else(|| {
                    GatewayError::Protocol("embeddings answer is missing a vector".to_string())
                })
            })
            .collect()
    }
}
