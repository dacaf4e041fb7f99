//! A patient's studies leaving as DICOM media: a folder laid out as a patient CD, with its
//! DICOMDIR, that other viewers open; the files as they were imported, or de-identified for
//! teaching and second opinions. Each export is an entry of the audit trail.

use super::{AppError, AppService};
use crate::imaging::{BurnedIn, Deidentifier, ImagingError, MediaEntry, TagChange};
use crate::model::{Action, AuditAction, AuditEvent, PatientId};
use crate::store::{Store, StoreError, StoreOpener, StudyGroup};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

const DICOM_MEDIA_TYPE: &str = "application/dicom";

/// The list of what de-identification changed, written beside the DICOMDIR.
pub const DEIDENTIFICATION_LIST: &str = "DEIDENT.TXT";

/// Why a DICOM export could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DicomExportError {
    /// The patient has no DICOM images (photos are not DICOM).
    #[error("This patient has no DICOM images to export.")]
    NoStudies,
    /// No study of the patient has that Study Instance UID.
    #[error("This patient has no study with the UID {0}.")]
    NoSuchStudy(String),
    /// The folder chosen already holds files: a CD's folder holds nothing else.
    #[error("The folder {} is not empty: choose an empty or new folder.", .0.display())]
    FolderNotEmpty(PathBuf),
    /// A file could not be written.
    #[error("Cannot write {}: {source}", .path.display())]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not one file could be exported (each one's reason is in the list of skipped files).
    #[error("None of the images could be exported: {0}")]
    NothingWritten(String),
    /// The DICOMDIR could not be made.
    #[error("The DICOMDIR could not be written: {0}")]
    Dicomdir(ImagingError),
    /// The images could not be read from the store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The user cancelled; the folder is empty again.
    #[error("The export was cancelled; nothing was left in the folder.")]
    Cancelled,
}

/// What an export wrote.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DicomExported {
    /// Files written (besides the DICOMDIR).
    pub files: usize,
    /// Studies.
    pub studies: usize,
    /// Files left out, by the name they were imported under, with the reason.
    pub skipped: Vec<(String, String)>,
    /// For a de-identified export: what changed, attribute by attribute.
    pub changes: Vec<TagChange>,
    /// For a de-identified export: the files whose pixels carry burned-in text (Burned In
    /// Annotation YES), by their place on the media, and how many files do not say.
    pub burned_in: Vec<String>,
    /// Files that do not say whether their pixels carry text.
    pub burned_in_not_stated: usize,
}

/// A DICOM export the signed-in user may make, checked and audited, ready to run on any thread
/// with a connection of its own ([`DicomExportJob::opener`]).
pub struct DicomExportJob {
    studies: Vec<StudyGroup>,
    deidentify: bool,
    fallback_patient_id: String,
    opener: StoreOpener,
    out: PathBuf,
}

impl AppService {
    /// Checks that the signed-in user may export the patient's studies (or the one study with
    /// `study_uid`) as DICOM media into `out`, that there is something to export and that `out`
    /// is an empty or new folder; writes the audit entry, and returns the export to run.
    pub fn prepare_dicom_export(
        &mut self,
        patient_id: PatientId,
        study_uid: Option<&str>,
        deidentify: bool,
        out: &Path,
    ) -> Result<DicomExportJob, AppError> {
        let user_id = self.authorize(Action::ExportRecords)?.user.user_id;
        let mut studies: Vec<_> = self
            .store
            .studies(patient_id)?
            .into_iter()
            .filter(|s| {
                s.series.iter().any(|series| {
                    series
                        .instances
                        .iter()
                        .any(|a| a.media_type == DICOM_MEDIA_TYPE)
                })
            })
            .collect();
        if let Some(uid) = study_uid {
            studies.retain(|s| s.study_uid == uid.trim());
            if studies.is_empty() {
                return Err(DicomExportError::NoSuchStudy(uid.trim().to_owned()).into());
            }
        }
        if studies.is_empty() {
            return Err(DicomExportError::NoStudies.into());
        }
        let fallback_patient_id = self
            .store
            .patient(patient_id)?
            .number
            .map_or_else(|| "UNKNOWN".to_owned(), |n| n.to_string());
        prepare_folder(out)?;
        self.store.record_audit(
            AuditEvent::new(AuditAction::Export, Some(user_id)).patient(patient_id),
        )?;
        Ok(DicomExportJob {
            studies,
            deidentify,
            fallback_patient_id,
            opener: self.store.opener(),
            out: out.to_owned(),
        })
    }

    /// Writes one patient's studies (or the one study with `study_uid`) into `out`, an empty or
    /// new folder, as DICOM media with a DICOMDIR; de-identified when asked (the list of what
    /// changed is written beside it as `DEIDENT.TXT`). Images still to be downloaded from the
    /// server, and files that cannot be read, are listed as skipped.
    pub fn export_dicom(
        &mut self,
        patient_id: PatientId,
        study_uid: Option<&str>,
        deidentify: bool,
        out: &Path,
    ) -> Result<DicomExported, AppError> {
        let job = self.prepare_dicom_export(patient_id, study_uid, deidentify, out)?;
        Ok(job.run(&self.store, &mut |_| {}, &AtomicBool::new(false))?)
    }
}

impl DicomExportJob {
    /// How to open the store on the thread that runs the export.
    pub fn opener(&self) -> &StoreOpener {
        &self.opener
    }

    /// The DICOM files to export.
    pub fn files(&self) -> usize {
        self.studies
            .iter()
            .flat_map(|s| &s.series)
            .flat_map(|s| &s.instances)
            .filter(|a| a.media_type == DICOM_MEDIA_TYPE)
            .count()
    }

    /// The folder it writes into.
    pub fn folder(&self) -> &Path {
        &self.out
    }

    /// Runs the export, calling `progress` with the files done so far; `cancel` stops it
    /// between files. A cancelled or failed export leaves the folder empty again.
    pub fn run(
        &self,
        store: &Store,
        progress: &mut dyn FnMut(usize),
        cancel: &AtomicBool,
    ) -> Result<DicomExported, DicomExportError> {
        let out = self.out.as_path();
        prepare_folder(out)?;
        let result = self.write(store, out, progress, cancel);
        if result.is_err() {
            empty_folder(out);
        }
        result
    }

    fn write(
        &self,
        store: &Store,
        out: &Path,
        progress: &mut dyn FnMut(usize),
        cancel: &AtomicBool,
    ) -> Result<DicomExported, DicomExportError> {
        let mut deidentifier = if self.deidentify {
            Some(Deidentifier::random().map_err(DicomExportError::Dicomdir)?)
        } else {
            None
        };
        let mut exported = DicomExported::default();
        let mut entries = Vec::new();
        let mut series_index = 0;
        let mut done = 0;
        for (study_index, study) in self.studies.iter().enumerate() {
            let mut wrote_study = false;
            for series in &study.series {
                series_index += 1;
                let mut instance_index = 0;
                for attachment in &series.instances {
                    if attachment.media_type != DICOM_MEDIA_TYPE {
                        continue;
                    }
                    if cancel.load(Ordering::Relaxed) {
                        return Err(DicomExportError::Cancelled);
                    }
                    done += 1;
                    progress(done);
                    let skip = |reason: String| (attachment.file_name.clone(), reason);
                    let Some(bytes) = store.read_blob(&attachment.blob)? else {
                        exported.skipped.push(skip(
                            "not on this workstation yet (it comes with the next sync)".to_owned(),
                        ));
                        continue;
                    };
                    let components = crate::imaging::media_path(
                        study_index + 1,
                        series_index,
                        instance_index + 1,
                    );
                    let prepared = match deidentifier.as_mut() {
                        Some(deidentifier) => deidentifier.apply(&bytes).map(|d| {
                            match d.burned_in {
                                BurnedIn::Yes => exported.burned_in.push(components.join("/")),
                                BurnedIn::NotStated => exported.burned_in_not_stated += 1,
                                BurnedIn::No => {}
                            }
                            d.bytes
                        }),
                        None => crate::imaging::part10(&bytes).map(|b| b.into_owned()),
                    };
                    let (file, entry) = match prepared.and_then(|file| {
                        MediaEntry::new(&file, components.clone()).map(|entry| (file, entry))
                    }) {
                        Ok(prepared) => prepared,
                        Err(error) => {
                            exported.skipped.push(skip(error.to_string()));
                            continue;
                        }
                    };
                    instance_index += 1;
                    let path = components.iter().fold(out.to_path_buf(), |p, c| p.join(c));
                    write_file(&path, &file)?;
                    entries.push(entry);
                    exported.files += 1;
                    wrote_study = true;
                }
            }
            if wrote_study {
                exported.studies += 1;
            }
        }
        if entries.is_empty() {
            let reasons = exported
                .skipped
                .iter()
                .map(|(_, reason)| reason.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            return Err(DicomExportError::NothingWritten(reasons));
        }
        let fallback_id = match &deidentifier {
            Some(deidentifier) => deidentifier.pseudonym().to_owned(),
            None => self.fallback_patient_id.clone(),
        };
        let dicomdir =
            crate::imaging::dicomdir(&entries, &fallback_id).map_err(DicomExportError::Dicomdir)?;
        write_file(&out.join("DICOMDIR"), &dicomdir)?;
        if let Some(deidentifier) = deidentifier {
            exported.changes = deidentifier.report();
            write_file(
                &out.join(DEIDENTIFICATION_LIST),
                deidentification_list(&exported).as_bytes(),
            )?;
        }
        Ok(exported)
    }
}

/// Takes out everything in `out`, which was empty when the export began.
fn empty_folder(out: &Path) {
    for entry in std::fs::read_dir(out).into_iter().flatten().flatten() {
        let path = entry.path();
        let _ = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
    }
}

fn prepare_folder(out: &Path) -> Result<(), DicomExportError> {
    let write = |source| DicomExportError::Write {
        path: out.to_owned(),
        source,
    };
    std::fs::create_dir_all(out).map_err(write)?;
    if std::fs::read_dir(out).map_err(write)?.next().is_some() {
        return Err(DicomExportError::FolderNotEmpty(out.to_owned()));
    }
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), DicomExportError> {
    let write = |source| DicomExportError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(write)?;
    }
    std::fs::write(path, bytes).map_err(write)
}

/// The list written beside a de-identified export: what changed, by attribute, and which
/// files may still show the patient in their pixels. No value of the originals is in it.
pub fn deidentification_list(exported: &DicomExported) -> String {
    let mut text = String::from(
        "De-identified by Outpost: DICOM PS3.15 Basic Application Level Confidentiality Profile,\r\n\
         with the Retain Longitudinal Temporal Information with Modified Dates option\r\n\
         (every date moved by the same number of days; times kept).\r\n\
         Private attributes removed; UIDs replaced consistently; pixels not changed.\r\n\r\n",
    );
    if exported.burned_in.is_empty() {
        text.push_str("Burned-in annotation: no file says its pixels carry text.\r\n");
    } else {
        text.push_str("Burned-in annotation YES (the pixels may show a name or a date; check before sharing):\r\n");
        for file in &exported.burned_in {
            text.push_str(&format!("  {file}\r\n"));
        }
    }
    if exported.burned_in_not_stated > 0 {
        text.push_str(&format!(
            "{} file(s) do not say whether their pixels carry text: look at them before sharing.\r\n",
            exported.burned_in_not_stated
        ));
    }
    text.push_str("\r\nAttributes changed (tag, name, change, files):\r\n");
    for change in &exported.changes {
        text.push_str(&format!(
            "{}\t{}\t{}\t{}\r\n",
            change.tag,
            change.name,
            change.change.label(),
            change.files
        ));
    }
    text
}
