//! An attachment: one imported image file (a DICOM instance or a photo) in a patient's record.
//!
//! The file itself is an immutable blob named by its SHA-256; this row says whose it is, which
//! visit it belongs to (if any) and what the file said about itself, so studies and series can be
//! listed without opening a single file. Studies and series are not records of their own: they are
//! the attachments grouped by their UIDs, so two clinics importing parts of the same study never
//! have to agree on who created it.

use super::blob::BlobHash;
use super::ids::{AttachmentId, EncounterId, PatientId};
use chrono::{DateTime, NaiveDate, Utc};

/// What kind of file an attachment is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttachmentKind {
    /// A DICOM file.
    Dicom,
    /// A photo (JPEG or PNG).
    Photo,
}

/// One imported file.
#[derive(Clone, Debug, PartialEq)]
pub struct Attachment {
    /// This record.
    pub attachment_id: AttachmentId,
    /// Whose.
    pub patient_id: PatientId,
    /// The visit it belongs to, if any.
    pub encounter_id: Option<EncounterId>,
    /// The blob.
    pub blob: BlobHash,
    /// File size in bytes.
    pub byte_size: i64,
    /// `application/dicom`, `image/jpeg` or `image/png`.
    pub media_type: String,
    /// The file's name when it was imported.
    pub file_name: String,
    /// Study Instance UID (a photo gets one of its own).
    pub study_uid: String,
    /// Study date.
    pub study_date: Option<NaiveDate>,
    /// Study description.
    pub study_description: String,
    /// Series Instance UID.
    pub series_uid: String,
    /// Series number.
    pub series_number: Option<i64>,
    /// Series description.
    pub series_description: String,
    /// CT, MR, US... (`XC` for photos, DICOM's code for external-camera photography).
    pub modality: String,
    /// Body part examined.
    pub body_part: String,
    /// SOP Instance UID.
    pub sop_uid: String,
    /// Instance number in its series.
    pub instance_number: Option<i64>,
    /// Frames in the file.
    pub frames: i64,
    /// Rows (image height).
    pub rows: i64,
    /// Columns (image width).
    pub columns: i64,
    /// Pixel spacing, row then column, mm.
    pub pixel_spacing: Option<(f64, f64)>,
    /// Patient ID written in the file.
    pub source_patient_id: String,
    /// Patient name written in the file (DICOM PN form).
    pub source_patient_name: String,
    /// Birth date written in the file.
    pub source_birth_date: Option<NaiveDate>,
    /// Sex written in the file.
    pub source_sex: String,
    /// When it was imported.
    pub imported_at: DateTime<Utc>,
    /// Removed from the record (kept, and can be restored).
    pub removed: bool,
}

impl Attachment {
    /// A file of a patient that is not part of a DICOM study (a photo, a scanned letter): its
    /// name, type and size, and no study details.
    pub fn file(
        patient_id: PatientId,
        blob: BlobHash,
        byte_size: i64,
        media_type: &str,
        file_name: &str,
        imported_at: DateTime<Utc>,
    ) -> Self {
        Self {
            attachment_id: AttachmentId::new(),
            patient_id,
            encounter_id: None,
            blob,
            byte_size,
            media_type: media_type.to_owned(),
            file_name: file_name.to_owned(),
            study_uid: String::new(),
            study_date: None,
            study_description: String::new(),
            series_uid: String::new(),
            series_number: None,
            series_description: String::new(),
            modality: String::new(),
            body_part: String::new(),
            sop_uid: String::new(),
            instance_number: None,
            frames: 1,
            rows: 0,
            columns: 0,
            pixel_spacing: None,
            source_patient_id: String::new(),
            source_patient_name: String::new(),
            source_birth_date: None,
            source_sex: String::new(),
            imported_at,
            removed: false,
        }
    }

    /// DICOM or photo, by media type.
    pub fn kind(&self) -> AttachmentKind {
        if self.media_type == "application/dicom" {
            AttachmentKind::Dicom
        } else {
            AttachmentKind::Photo
        }
    }
}
