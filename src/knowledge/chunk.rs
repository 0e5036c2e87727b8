//! Paragraph-aware chunking: paragraphs (split on blank lines) are packed into chunks of at most
//! [`MAX_CHUNK_CHARS`] characters; a longer paragraph is cut on word boundaries.

/// Longest chunk, in characters.
pub const MAX_CHUNK_CHARS: usize = 1000;

/// Splits `content` into chunks of at most `MAX_CHUNK_CHARS` characters, in order, none blank.
pub fn chunk(content: &str) -> Vec<String> {
    chunk_with(content, MAX_CHUNK_CHARS)
}

/// [`chunk`] with an explicit limit (at least 16 characters).
pub fn chunk_with(content: &str, max: usize) -> Vec<String> {
    let max = max.max(16);
    let mut chunks = Vec::new();
    let mut current = String::new();
    let mut current_len = 0usize;
    for paragraph in paragraphs(content) {
        let len = paragraph.chars().count();
        if len > max {
            if !current.is_empty() {
                chunks.push(std::mem::take(&mut current));
                current_len = 0;
            }
            chunks.extend(split_long(&paragraph, max));
            continue;
        }
        let joined = if current.is_empty() {
            len
        } else {
            current_len + 2 + len
        };
        if joined > max {
            chunks.push(std::mem::take(&mut current));
            current_len = 0;
        }
        if !current.is_empty() {
            current.push_str("\n\n");
            current_len += 2;
        }
        current.push_str(&paragraph);
        current_len += len;
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// The paragraphs of `content`: runs of non-blank lines, trimmed, line endings normalised.
fn paragraphs(content: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines: Vec<&str> = Vec::new();
    for line in content.lines() {
        if line.trim().is_empty() {
            if !lines.is_empty() {
                out.push(lines.join("\n"));
                lines.clear();
            }
        } else {
            lines.push(line.trim_end());
        }
    }
    if !lines.is_empty() {
        out.push(lines.join("\n"));
    }
    out
}

/// Cuts one long paragraph on whitespace into pieces of at most `max` characters (a single word
/// longer than `max` is cut inside the word).
fn split_long(paragraph: &str, max: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut current_len = 0usize;
    for word in paragraph.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        while word.len() > max {
            if !current.is_empty() {
                pieces.push(std::mem::take(&mut current));
                current_len = 0;
            }
            let rest = word.split_off(max);
            pieces.push(word.into_iter().collect());
            word = rest;
        }
        let len = word.len();
        let joined = if current.is_empty() {
            len
        } else {
            current_len + 1 + len
        };
        if joined > max && !current.is_empty() {
            pieces.push(std::mem::take(&mut current));
            current_len = 0;
        }
        if !current.is_empty() {
            current.push(' ');
            current_len += 1;
        }
        current.extend(word);
        current_len += len;
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_document_is_one_chunk() {
        assert_eq!(chunk("Hello.\n\nWorld.\n"), vec!["Hello.\n\nWorld."]);
        assert!(chunk("  \n\n \n").is_empty());
    }

    #[test]
    fn paragraphs_pack_up_to_the_limit_and_never_split_inside() {
        let para = "word ".repeat(30).trim().to_string(); // 149 chars
        let text = vec![para.clone(); 10].join("\n\n");
        let chunks = chunk_with(&text, 400);
        // Two 149-character paragraphs fit in 400 (149 + 2 + 149); a third would not.
        assert_eq!(chunks.len(), 5, "{chunks:?}");
        for c in &chunks {
            assert!(c.chars().count() <= 400);
            for p in c.split("\n\n") {
                assert_eq!(p, para);
            }
        }
        assert_eq!(chunks.join("\n\n"), text);
    }

    #[test]
    fn long_paragraph_splits_on_words_and_keeps_every_word() {
        let words: Vec<String> = (0..500).map(|i| format!("w{i}")).collect();
        let text = words.join(" ");
        let chunks = chunk_with(&text, 100);
        assert!(chunks.len() > 1);
        for c in &chunks {
            assert!(c.chars().count() <= 100, "{c}");
        }
        assert_eq!(chunks.join(" "), text);
        let giant = "x".repeat(250);
        let pieces = chunk_with(&giant, 100);
        assert_eq!(
            pieces.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [100, 100, 50]
        );
    }

    #[test]
    fn multibyte_text_counts_characters() {
        let text = "é".repeat(30);
        assert_eq!(chunk_with(&text, 16).len(), 2);
    }
}
