//! Importing files and folders into a patient's record: single DICOM files, folders, a patient
//! CD with its DICOMDIR, and photos.
//!
//! Each file is read under a size cap, named by its SHA-256 (a file the patient already has is
//! skipped), checked and described, stored as a blob, and recorded as an attachment with its
//! change record, one transaction per file. A file that fails is listed with the reason and the
//! rest carries on; a cancel stops between files, keeping what was imported.

use super::{ImagingError, dicom, dicomdir_files, photo};
use crate::model::{Attachment, AttachmentId, BlobHash, EncounterId, Patient, PatientId, Sex};
use crate::store::Store;
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The largest file imported.
pub const MAX_FILE_BYTES: u64 = 1 << 30;
/// The most files one import walks (a folder picked by mistake, such as a whole disk, stops here).
const MAX_FILES: usize = 100_000;
const MAX_DEPTH: usize = 16;

/// Reads a whole file, refusing one larger than [`MAX_FILE_BYTES`] without reading it.
pub fn read_file_bounded(path: &Path) -> Result<Vec<u8>, ImagingError> {
    let io = |source| ImagingError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    if size > MAX_FILE_BYTES {
        return Err(ImagingError::TooLarge(format!(
            "the file is {} MiB (at most {} MiB)",
            size >> 20,
            MAX_FILE_BYTES >> 20
        )));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    // The size can change under us (a file still being copied): never read past the cap.
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ImagingError::TooLarge(
            "the file grew past the limit while being read".to_owned(),
        ));
    }
    Ok(bytes)
}

/// A file that was not imported, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportFailure {
    /// The file.
    pub file: PathBuf,
    /// Why, in words a clinic's IT person can act on.
    pub reason: String,
}

/// Expands the picked paths into files: a folder with a DICOMDIR yields the files it lists, any
/// other folder is walked; a DICOMDIR picked alone yields its files. Hidden files are skipped.
pub fn collect_files(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<ImportFailure>) {
    let mut files = Vec::new();
    let mut failures = Vec::new();
    for path in paths {
        collect(path, 0, &mut files, &mut failures);
    }
    let mut seen = BTreeSet::new();
    files.retain(|f| seen.insert(f.clone()));
    files.truncate(MAX_FILES);
    (files, failures)
}

fn is_dicomdir(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().eq_ignore_ascii_case("DICOMDIR"))
}

fn collect(path: &Path, depth: usize, files: &mut Vec<PathBuf>, failures: &mut Vec<ImportFailure>) {
    if files.len() >= MAX_FILES || depth > MAX_DEPTH {
        return;
    }
    if path.is_file() {
        if is_dicomdir(path) {
            match dicomdir_files(path) {
                Ok(listed) => files.extend(listed),
                Err(e) => failures.push(ImportFailure {
                    file: path.to_owned(),
                    reason: e.to_string(),
                }),
            }
        } else {
            files.push(path.to_owned());
        }
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) => {
            failures.push(ImportFailure {
                file: path.to_owned(),
                reason: format!("cannot open the folder: {e}"),
            });
            return;
        }
    };
    let mut children: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    children.sort();
    if let Some(dicomdir) = children.iter().find(|p| is_dicomdir(p) && p.is_file()) {
        match dicomdir_files(dicomdir) {
            Ok(listed) if !listed.is_empty() => {
                files.extend(listed);
                return;
            }
            // An unreadable or empty index: fall back to walking the folder.
            Ok(_) | Err(_) => {}
        }
    }
    for child in children {
        if is_dicomdir(&child) {
            continue;
        }
        collect(&child, depth + 1, files, failures);
    }
}

/// The patient identity written in a set of DICOM files.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SourceIdentity {
    /// Patient ID.
    pub patient_id: String,
    /// Patient name (PN form).
    pub patient_name: String,
    /// Birth date.
    pub birth_date: Option<chrono::NaiveDate>,
    /// Sex (M, F, O).
    pub sex: String,
}

impl SourceIdentity {
    /// Ways this identity disagrees with the chart's patient (empty when it agrees). Names are
    /// compared word by word, ignoring case, accents and order; an empty field says nothing.
    pub fn differences(&self, patient: &Patient) -> Vec<&'static str> {
        let mut out = Vec::new();
        let words = |text: &str| -> BTreeSet<String> {
            crate::store::fold_for_sort(text)
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let file_words = words(&self.patient_name.replace(['^', '='], " "));
        let chart_family = words(&patient.family_name);
        let chart_other = words(&patient.other_script_name);
        if !file_words.is_empty()
            && !chart_family.is_empty()
            && chart_family.is_disjoint(&file_words)
            && (chart_other.is_empty() || chart_other.is_disjoint(&file_words))
        {
            out.push("name");
        }
        if let (Some(file), Some(chart)) = (self.birth_date, patient.birth.as_ref())
            && file != chart.date
            && !chart.estimated
        {
            out.push("date of birth");
        }
        let file_sex = match self.sex.as_str() {
            "M" => Some(Sex::Male),
            "F" => Some(Sex::Female),
            _ => None,
        };
        if let Some(file_sex) = file_sex
            && patient.sex != Sex::Unknown
            && patient.sex != file_sex
        {
            out.push("sex");
        }
        out
    }
}

/// Progress of an import, for the progress bar.
#[derive(Clone, Debug, PartialEq)]
pub enum ImportEvent {
    /// Reading the headers before import (to show whose images they are).
    Inspecting {
        /// Files looked at.
        done: usize,
        /// Files in all.
        total: usize,
    },
    /// Importing.
    Importing {
        /// Files handled (imported, skipped or failed).
        done: usize,
        /// Files in all.
        total: usize,
    },
}

/// Where imported files go.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// The chart's patient.
    pub patient_id: PatientId,
    /// The visit to link to, if any.
    pub encounter_id: Option<EncounterId>,
    /// Set to stop between files.
    pub cancel: Arc<AtomicBool>,
}

impl ImportOptions {
    /// Into a patient's record, not linked to a visit, not cancelled.
    pub fn for_patient(patient_id: PatientId) -> Self {
        Self {
            patient_id,
            encounter_id: None,
            cancel: Arc::default(),
        }
    }
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportSummary {
    /// Files imported.
    pub imported: usize,
    /// Files the patient already had (same SHA-256).
    pub skipped: usize,
    /// Files that failed, with the reason.
    pub failures: Vec<ImportFailure>,
    /// True when the user cancelled before the end.
    pub cancelled: bool,
    /// Study UIDs imported into.
    pub studies: BTreeSet<String>,
    /// Series UIDs imported into.
    pub series: BTreeSet<String>,
}

/// Reads the headers of the DICOM files among `files` and returns the distinct patient
/// identities they carry, with how many files carry each.
pub fn inspect_identities(
    files: &[PathBuf],
    cancel: &AtomicBool,
    mut progress: impl FnMut(ImportEvent),
) -> Vec<(SourceIdentity, usize)> {
    let mut found: Vec<(SourceIdentity, usize)> = Vec::new();
    for (n, file) in files.iter().enumerate() {
        if cancel.load(Ordering::Relaxed) {
            break;
        }
        progress(ImportEvent::Inspecting {
            done: n,
            total: files.len(),
        });
        let Ok(bytes) = read_file_bounded(file) else {
            continue;
        };
        if photo::sniff(&bytes).is_some() {
            continue;
        }
        let Ok(info) = dicom::read_header(&bytes) else {
            continue;
        };
        let identity = SourceIdentity {
            patient_id: info.patient_id,
            patient_name: info.patient_name,
            birth_date: info.birth_date,
            sex: info.sex,
        };
        match found.iter_mut().find(|(i, _)| *i == identity) {
            Some((_, count)) => *count += 1,
            None => found.push((identity, 1)),
        }
    }
    found
}

/// Imports `files` into the patient's record.
pub fn import_paths(
    store: &mut Store,
    files: &[PathBuf],
    options: &ImportOptions,
    mut progress: impl FnMut(ImportEvent),
) -> ImportSummary {
    let mut summary = ImportSummary::default();
    let batch = AttachmentId::new();
    let now = chrono::Utc::now();
    let mut photo_number = 0;
    for (n, file) in files.iter().enumerate() {
        progress(ImportEvent::Importing {
            done: n,
            total: files.len(),
        });
        if options.cancel.load(Ordering::Relaxed) {
            summary.cancelled = true;
            break;
        }
        let file_name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let result = (|| -> Result<Option<Attachment>, String> {
            let bytes = read_file_bounded(file).map_err(|e| e.to_string())?;
            let blob = BlobHash::of_bytes(&bytes);
            if store
                .patient_has_blob(options.patient_id, &blob)
                .map_err(|e| e.to_string())?
            {
                return Ok(None);
            }
            let mut attachment = Attachment::file(
                options.patient_id,
                blob.clone(),
                bytes.len() as i64,
                "",
                &file_name,
                now,
            );
            attachment.encounter_id = options.encounter_id;
            if let Some(format) = photo::sniff(&bytes) {
                let (width, height) = photo::photo_size(&bytes).map_err(|e| e.to_string())?;
                photo_number += 1;
                // Photos picked together form one study of their own, dated today.
                attachment.media_type = format.media_type().to_owned();
                attachment.study_uid = format!("outpost-photos-{batch}");
                attachment.series_uid = format!("outpost-photos-{batch}-1");
                attachment.study_date = Some(now.date_naive());
                attachment.study_description = "Photos".to_owned();
                attachment.series_description = "Photos".to_owned();
                attachment.modality = "XC".to_owned();
                attachment.sop_uid = format!("outpost-photo-{blob}");
                attachment.instance_number = Some(photo_number);
                attachment.rows = i64::from(height);
                attachment.columns = i64::from(width);
            } else {
                let info = dicom::read_header(&bytes).map_err(|e| match e {
                    ImagingError::NotDicom(_) => {
                        "not a DICOM file or a photo (JPEG, PNG)".to_owned()
                    }
                    other => other.to_string(),
                })?;
                if info.study_uid.is_empty() || info.series_uid.is_empty() {
                    return Err("the DICOM file has no study or series UID".to_owned());
                }
                attachment.media_type = "application/dicom".to_owned();
                attachment.study_uid = info.study_uid;
                attachment.study_date = info.study_date;
                attachment.study_description = info.study_description;
                attachment.series_uid = info.series_uid;
                attachment.series_number = info.series_number;
                attachment.series_description = info.series_description;
                attachment.modality = info.modality;
                attachment.body_part = info.body_part;
                attachment.sop_uid = info.sop_uid;
                attachment.instance_number = info.instance_number;
                attachment.frames = i64::from(info.frames);
                attachment.rows = i64::from(info.rows);
                attachment.columns = i64::from(info.columns);
                attachment.pixel_spacing = info.pixel_spacing.map(|s| (s.row_mm, s.column_mm));
                attachment.source_patient_id = info.patient_id;
                attachment.source_patient_name = info.patient_name;
                attachment.source_birth_date = info.birth_date;
                attachment.source_sex = info.sex;
            }
            store.put_blob(&blob, &bytes).map_err(|e| e.to_string())?;
            store
                .add_attachment(&attachment)
                .map_err(|e| e.to_string())?;
            Ok(Some(attachment))
        })();
        match result {
            Ok(Some(attachment)) => {
                summary.imported += 1;
                summary.studies.insert(attachment.study_uid);
                summary.series.insert(attachment.series_uid);
            }
            Ok(None) => summary.skipped += 1,
            Err(reason) => summary.failures.push(ImportFailure {
                file: file.clone(),
                reason,
            }),
        }
    }
    if !summary.cancelled {
        progress(ImportEvent::Importing {
            done: files.len(),
            total: files.len(),
        });
    }
    summary
}
