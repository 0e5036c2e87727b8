//! Embeddings for ingest and search, through the model gateway in batches.

use crate::llm::Gateway;

/// Texts sent per embeddings request.
const EMBED_BATCH: usize = 64;

/// Computes embeddings through the gateway.
#[derive(Clone)]
pub struct Embedder {
    gateway: Gateway,
    model: String,
}

impl Embedder {
    /// An embedder calling `gateway` with `model`.
    pub fn new(gateway: Gateway, model: String) -> Self {
        Self { gateway, model }
    }

    /// The embeddings model.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// One vector per text, in order, asking [`EMBED_BATCH`] texts at a time.
    pub(super) async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(EMBED_BATCH) {
            let vectors = self
                .gateway
                .embed(&self.model, batch)
                .await
                .map_err(|e| e.to_string())?;
            out.extend(vectors);
        }
        Ok(out)
    }
}
