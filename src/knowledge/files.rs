//! Ingesting files and folders: the start-up knowledge folder and the `ingest` subcommand.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use std::io::Read;

use super::{normalize_source, DocumentInput, Knowledge, KnowledgeError, Origin, Outcome};
use crate::store::acl::Acl;

/// Largest file ingested, in bytes; bigger files are skipped with a warning.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// What ingesting a path did.
#[derive(Debug, Default)]
pub struct Report {
    /// One line per document: what happened and its source.
    pub documents: Vec<(Outcome, String)>,
    /// Files not ingested, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
    /// Sources removed because their file is gone from the folder.
    pub removed: Vec<String>,
}

impl Report {
    /// How many documents had `outcome`.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.documents.iter().filter(|(o, _)| *o == outcome).count()
    }
}

/// Ingests a file (source = its file name) or every file under a folder (source = the path
/// relative to the folder, with `/` separators). Hidden files and folders, symbolic links,
/// files over [`MAX_FILE_BYTES`] and files that are not UTF-8 text are skipped. With `prune`,
/// documents of this `origin` whose file is no longer in the folder are deleted.
pub async fn ingest_path(
    knowledge: &Knowledge,
    path: &Path,
    origin: Origin,
    acl: Option<Acl>,
    prune: bool,
) -> Result<Report, KnowledgeError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| KnowledgeError::Io(format!("cannot read {}: {e}", path.display())))?;
    let mut report = Report::default();
    if meta.is_file() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| KnowledgeError::Io(format!("{} has no file name", path.display())))?;
        let source = normalize_source(&name)?;
        ingest_file(knowledge, path, source, origin, &acl, &mut report).await?;
        return Ok(report);
    }
    if !meta.is_dir() {
        return Err(KnowledgeError::Io(format!(
            "{} is neither a file nor a folder",
            path.display()
        )));
    }
    let mut seen = HashSet::new();
    let walker = walkdir::WalkDir::new(path)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let at = e.path().map(Path::to_path_buf).unwrap_or_default();
                report.skipped.push((at, e.to_string()));
                continue;
            }
        };
        if !entry.file_type().is_file() {
            if entry.file_type().is_symlink() {
                report
                    .skipped
                    .push((entry.path().to_path_buf(), "symbolic link".to_string()));
            }
            continue;
        }
        let Ok(relative) = entry.path().strip_prefix(path) else {
            continue;
        };
        let raw = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        // The source is normalised once; the same string is ingested and kept from pruning.
        let source = match normalize_source(&raw) {
            Ok(source) => source,
            Err(e) => {
                tracing::warn!(path = %entry.path().display(), reason = %e, "knowledge file skipped");
                report
                    .skipped
                    .push((entry.path().to_path_buf(), e.to_string()));
                continue;
            }
        };
        if ingest_file(
            knowledge,
            entry.path(),
            source.clone(),
            origin,
            &acl,
            &mut report,
        )
        .await?
        {
            seen.insert(source);
        }
    }
    if prune {
        for document in knowledge.store().list_documents().await? {
            if document.origin == origin.as_str() && !seen.contains(&document.source) {
                knowledge.store().delete_document(&document.id).await?;
                report.removed.push(document.source);
            }
        }
    }
    Ok(report)
}

/// Reads a file as UTF-8 text, or says why it is skipped. The file is opened without following
/// a symbolic link (one swapped in after the folder walk is refused), its size is checked on
/// the open handle, and at most [`MAX_FILE_BYTES`] + 1 bytes are ever read.
fn read_text(path: &Path) -> Result<String, String> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    let file = options
        .open(path)
        .map_err(|e| format!("cannot open: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file".to_string());
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("larger than {MAX_FILE_BYTES} bytes"));
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())
}

/// Ingests one file; `false` when it was skipped.
async fn ingest_file(
    knowledge: &Knowledge,
    path: &Path,
    source: String,
    origin: Origin,
    acl: &Option<Acl>,
    report: &mut Report,
) -> Result<bool, KnowledgeError> {
    let content = match read_text(path) {
        Ok(text) => text,
        Err(reason) => {
            tracing::warn!(path = %path.display(), %reason, "knowledge file skipped");
            report.skipped.push((path.to_path_buf(), reason));
            return Ok(false);
        }
    };
    if content.trim().is_empty() {
        report
            .skipped
            .push((path.to_path_buf(), "empty file".to_string()));
        return Ok(false);
    }
    let ingested = knowledge
        .ingest(DocumentInput {
            source,
            content,
            url: None,
            acl: acl.clone(),
            origin,
        })
        .await?;
    report
        .documents
        .push((ingested.outcome, ingested.document.source));
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_swapped_for_a_symlink_after_the_walk_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("page.md");
        std::fs::write(&path, "walked as a regular file").unwrap();
        assert_eq!(read_text(&path).unwrap(), "walked as a regular file");
        // What the walk saw is replaced by a link before the read.
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", &path).unwrap();
        let refused = read_text(&path).unwrap_err();
        assert!(refused.starts_with("cannot open"), "{refused}");
    }

    #[test]
    fn a_file_over_the_limit_is_refused_and_the_limit_itself_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let at_limit = dir.path().join("at.md");
        std::fs::write(&at_limit, vec![b'a'; MAX_FILE_BYTES as usize]).unwrap();
        assert_eq!(read_text(&at_limit).unwrap().len() as u64, MAX_FILE_BYTES);
        let over = dir.path().join("over.md");
        std::fs::write(&over, vec![b'a'; MAX_FILE_BYTES as usize + 1]).unwrap();
        assert!(read_text(&over).unwrap_err().starts_with("larger than"));
    }
}
