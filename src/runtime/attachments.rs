//! What a message brings besides its text: images the model looks at this turn, files handed to
//! the declared tools that accept them (never to the model), and the skill recipe added to the
//! system prompt. Images are filtered, not refused: only `https:` URLs and base64
//! `data:image/…` URLs within the caps are used, anything else is skipped with a log line.

use std::path::Path;

use serde_json::{json, Value};

use crate::llm::ImagePart;
use crate::protocol::{ClientError, ErrorCode, SendMessageFile, SendMessageImage};

/// Most images one message shows the model; further ones are ignored.
pub const MAX_IMAGES: usize = 8;
/// Longest `https:` image URL, in bytes.
pub const MAX_IMAGE_URL_BYTES: usize = 4096;
/// Longest `data:image/…` URL, in bytes (about 750 KiB of image).
pub const MAX_DATA_URL_BYTES: usize = 1024 * 1024;
/// Most files one message hands to tools; further ones are ignored.
pub const MAX_FILES: usize = 16;
/// Largest skill recipe, in bytes.
pub const MAX_SKILL_BYTES: u64 = 64 * 1024;

/// The image types a data URL may carry.
const DATA_IMAGE_TYPES: &[&str] = &["png", "jpeg", "jpg", "gif", "webp"];

/// The images of a message the model may see, in order, at most [`MAX_IMAGES`].
pub fn usable_images(images: &[SendMessageImage]) -> Vec<ImagePart> {
    let mut usable = Vec::new();
    for (index, image) in images.iter().enumerate() {
        if usable.len() == MAX_IMAGES {
            tracing::info!(
                ignored = images.len() - index,
                "images beyond the cap ignored"
            );
            break;
        }
        let url = image.url.trim();
        if !image_url_ok(url) {
            tracing::info!(
                index,
                "image ignored: not an https: or data:image/ URL within the caps"
            );
            continue;
        }
        usable.push(ImagePart {
            url: url.to_string(),
            detail: image.detail.as_ref().map(|d| d.to_string()),
        });
    }
    usable
}

/// Whether `url` is an `https:` URL with a host, or a base64 data URL of a known image type,
/// each within its size cap.
fn image_url_ok(url: &str) -> bool {
    if let Some(rest) = url.strip_prefix("data:image/") {
        if url.len() > MAX_DATA_URL_BYTES {
            return false;
        }
        let Some((kind, payload)) = rest.split_once(";base64,") else {
            return false;
        };
        return DATA_IMAGE_TYPES.contains(&kind.to_ascii_lowercase().as_str())
            && !payload.is_empty()
            && payload
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
    }
    if url.len() > MAX_IMAGE_URL_BYTES {
        return false;
    }
    match reqwest::Url::parse(url) {
        Ok(parsed) => {
            parsed.scheme() == "https" && parsed.host_str().is_some_and(|h| !h.is_empty())
        }
        Err(_) => false,
    }
}

/// The files of a message as tools receive them (`{name, mimeType?, url}`), at most
/// [`MAX_FILES`].
pub fn tool_files(files: &[SendMessageFile]) -> Vec<Value> {
    if files.len() > MAX_FILES {
        tracing::info!(
            ignored = files.len() - MAX_FILES,
            "files beyond the cap ignored"
        );
    }
    files
        .iter()
        .take(MAX_FILES)
        .map(|file| {
            let mut entry = json!({"name": file.name.as_str(), "url": file.url});
            if let Some(mime) = &file.mime_type {
                entry["mimeType"] = json!(mime.as_str());
            }
            entry
        })
        .collect()
}

/// Reads the skill `name` (`<dir>/<name>.md`): `SKILL_NOT_FOUND` when no folder is configured,
/// the name is not a plain skill name (so it cannot leave the folder), or the file does not
/// exist, is blank, or is not a readable text file within [`MAX_SKILL_BYTES`].
pub async fn load_skill(dir: Option<&Path>, name: &str) -> Result<String, ClientError> {
    let not_found = || {
        ClientError::new(
            ErrorCode::SkillNotFound,
            format!("skill '{name}' not found on this server"),
        )
    };
    let plain = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let (Some(dir), true) = (dir, plain) else {
        return Err(not_found());
    };
    let path = dir.join(format!("{name}.md"));
    // A small file; read off the async workers.
    let read = tokio::task::spawn_blocking(move || -> std::io::Result<Option<String>> {
        let metadata = std::fs::metadata(&path)?;
        if !metadata.is_file() || metadata.len() > MAX_SKILL_BYTES {
            return Ok(None);
        }
        std::fs::read_to_string(&path).map(Some)
    })
    .await;
    let text = match read {
        Ok(Ok(Some(text))) => text,
        Ok(Ok(None)) => return Err(not_found()),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found()),
        Ok(Err(e)) => {
            tracing::warn!(skill = name, error = %e, "skill file unreadable");
            return Err(not_found());
        }
        Err(e) => {
            tracing::error!(skill = name, error = %e, "skill read task failed");
            return Err(not_found());
        }
    };
    if text.trim().is_empty() {
        return Err(not_found());
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_and_data_image_urls_within_caps_pass() {
        assert!(image_url_ok("https://cdn.example.com/a.png"));
        assert!(image_url_ok("data:image/png;base64,iVBORw0KGgo="));
        assert!(!image_url_ok("http://cdn.example.com/a.png"));
        assert!(!image_url_ok("file:///etc/passwd"));
        assert!(!image_url_ok("data:text/html;base64,PGgxPg=="));
        assert!(!image_url_ok("data:image/svg+xml;base64,PHN2Zz4="));
        assert!(!image_url_ok("data:image/png,rawbytes"));
        assert!(!image_url_ok("data:image/png;base64,<script>"));
        assert!(!image_url_ok("https://"));
        assert!(!image_url_ok(""));
        let long = format!("https://example.com/{}", "a".repeat(MAX_IMAGE_URL_BYTES));
        assert!(!image_url_ok(&long));
        let big = format!("data:image/png;base64,{}", "A".repeat(MAX_DATA_URL_BYTES));
        assert!(!image_url_ok(&big));
    }

    #[tokio::test]
    async fn skills_are_read_from_the_folder_and_unknown_ones_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("refunds.md"),
            "# Refunds\nAsk for the order id.",
        )
        .unwrap();
        std::fs::write(dir.path().join("empty.md"), "  \n").unwrap();
        let text = load_skill(Some(dir.path()), "refunds").await.unwrap();
        assert!(text.contains("Ask for the order id."));
        for name in ["missing", "empty", "../refunds", "refunds.md", ""] {
            let err = load_skill(Some(dir.path()), name).await.unwrap_err();
            assert_eq!(err.code, ErrorCode::SkillNotFound, "{name}");
        }
        let err = load_skill(None, "refunds").await.unwrap_err();
        assert_eq!(err.code, ErrorCode::SkillNotFound);
    }
}
