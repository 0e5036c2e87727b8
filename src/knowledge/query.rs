//! Turns a user's text into a full-text query: words, lowercased, stop words dropped, each
//! quoted and OR-ed so any shared word can match (the ranking does the rest).

/// Most distinct words taken from one query.
pub const MAX_TERMS: usize = 32;

/// Common English words that carry no retrieval signal.
const STOP_WORDS: &[&str] = &[
    "a", "about", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did",
    "do", "does", "for", "from", "had", "has", "have", "how", "i", "if", "in", "into", "is", "it",
    "its", "me", "my", "of", "on", "or", "our", "please", "so", "that", "the", "their", "them",
    "then", "there", "these", "they", "this", "to", "us", "was", "we", "were", "what", "when",
    "where", "which", "who", "why", "will", "with", "would", "you", "your",
];

/// The distinct search words of `text`, in order of first appearance.
pub fn terms(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() {
            continue;
        }
        let word = word.to_lowercase();
        if STOP_WORDS.contains(&word.as_str()) || out.contains(&word) {
            continue;
        }
        out.push(word);
        if out.len() == MAX_TERMS {
            break;
        }
    }
    out
}

/// An FTS5 `MATCH` expression OR-ing the quoted terms; `None` when nothing is searchable.
pub fn match_expression(text: &str) -> Option<String> {
    let terms = terms(text);
    if terms.is_empty() {
        return None;
    }
    // Terms hold only alphanumeric characters, so quoting needs no escaping.
    Some(
        terms
            .iter()
            .map(|t| format!("\"{t}\""))
            .collect::<Vec<_>>()
            .join(" OR "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_stop_words_punctuation_and_duplicates() {
        assert_eq!(
            terms("What is the RETURN window? Return \"policy\" -- 17 days; OR NEAR(x)"),
            ["return", "window", "policy", "17", "days", "near", "x"]
        );
        assert_eq!(match_expression("the of and"), None);
        assert_eq!(
            match_expression("Refund, please!").as_deref(),
            Some("\"refund\"")
        );
    }
}
