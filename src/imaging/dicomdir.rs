//! A patient CD's DICOMDIR: the index of the image files on the disc. Its records name each file
//! by path components relative to the DICOMDIR; the files themselves carry the UIDs that group
//! them into studies and series.

use super::ImagingError;
use dicom_dictionary_std::tags;
use std::path::{Component, Path, PathBuf};

/// The files a DICOMDIR refers to, in its order, resolved inside its folder. Components that
/// would leave the folder are refused; names are matched without regard to case, since CDs are
/// written in upper case and copied by tools that lower it.
pub fn dicomdir_files(dicomdir: &Path) -> Result<Vec<PathBuf>, ImagingError> {
    let bytes = super::read_file_bounded(dicomdir)?;
    let object = super::dicom::parse(&bytes, false)?;
    let Some(root) = dicomdir.parent() else {
        return Ok(Vec::new());
    };
    let records = object
        .element_opt(tags::DIRECTORY_RECORD_SEQUENCE)
        .ok()
        .flatten()
        .and_then(|e| e.items())
        .unwrap_or_default();
    let mut files = Vec::new();
    for record in records {
        let Ok(Some(element)) = record.element_opt(tags::REFERENCED_FILE_ID) else {
            continue;
        };
        let Ok(parts) = element.to_multi_str() else {
            continue;
        };
        let mut path = root.to_path_buf();
        let mut sound = true;
        for part in parts.iter() {
            let part = part.trim();
            let relative = Path::new(part);
            if part.is_empty()
                || relative
                    .components()
                    .any(|c| !matches!(c, Component::Normal(_)))
            {
                sound = false;
                break;
            }
            path = resolve_case(&path, part);
        }
        if sound && !files.contains(&path) {
            files.push(path);
        }
    }
    Ok(files)
}

fn resolve_case(dir: &Path, name: &str) -> PathBuf {
    let exact = dir.join(name);
    if exact.exists() {
        return exact;
    }
    std::fs::read_dir(dir)
        .ok()
        .and_then(|entries| {
            entries
                .flatten()
                .find(|e| e.file_name().to_string_lossy().eq_ignore_ascii_case(name))
                .map(|e| e.path())
        })
        .unwrap_or(exact)
}
