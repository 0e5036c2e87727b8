//! Ingesting files and folders: the start-up knowledge folder and the `ingest` subcommand.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::{DocumentInput, Knowledge, KnowledgeError, Origin, Outcome};
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
        let source = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| KnowledgeError::Io(format!("{} has no file name", path.display())))?;
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
        let source = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
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

/// Ingests one file; `false` when it was skipped.
async fn ingest_file(
    knowledge: &Knowledge,
    path: &Path,
    source: String,
    origin: Origin,
    acl: &Option<Acl>,
    report: &mut Report,
) -> Result<bool, KnowledgeError> {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if size > MAX_FILE_BYTES {
        tracing::warn!(path = %path.display(), size, "knowledge file too large; skipped");
        report.skipped.push((
            path.to_path_buf(),
            format!("larger than {MAX_FILE_BYTES} bytes"),
        ));
        return Ok(false);
    }
    let content = match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(_) => {
                tracing::warn!(path = %path.display(), "knowledge file is not UTF-8 text; skipped");
                report
                    .skipped
                    .push((path.to_path_buf(), "not UTF-8 text".to_string()));
                return Ok(false);
            }
        },
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "knowledge file unreadable; skipped");
            report.skipped.push((path.to_path_buf(), e.to_string()));
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
