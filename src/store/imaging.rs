//! Attachments (imported image files) and the blob folder that holds their bytes.
//!
//! Blobs are immutable files named by their SHA-256 under `blobs/ab/abcdef…` beside the database,
//! sealed with the clinic's key when the store is encrypted (`blobfile`). A blob is written to a
//! temporary name, flushed and renamed before its metadata row commits, so a crash leaves at worst
//! an unreferenced file, never a row pointing at nothing. Reading checks the hash again, so a
//! damaged file is reported rather than shown.

use super::blobfile::BlobFiles;
use super::merges::CHART_OF;
use super::write::Fields;
use super::{Store, StoreError, time_from_text, time_text};
use crate::model::{Attachment, AttachmentId, BlobHash, EntityKind, PatientId};
use rusqlite::{OptionalExtension, params};
use serde_json::Value;
use std::path::PathBuf;

/// One study of a patient: attachments grouped by Study Instance UID, series by Series UID.
#[derive(Clone, Debug, PartialEq)]
pub struct StudyGroup {
    /// Study Instance UID.
    pub study_uid: String,
    /// Study date.
    pub study_date: Option<chrono::NaiveDate>,
    /// Description (or the file name of a photo).
    pub description: String,
    /// Modalities of its series, e.g. "CT, SR".
    pub modalities: String,
    /// Its series, by series number.
    pub series: Vec<SeriesGroup>,
}

/// One series: its instances in instance-number order.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesGroup {
    /// Series Instance UID.
    pub series_uid: String,
    /// Series number.
    pub series_number: Option<i64>,
    /// Description.
    pub description: String,
    /// Modality.
    pub modality: String,
    /// The files, in order.
    pub instances: Vec<Attachment>,
}

impl SeriesGroup {
    /// Frames over all instances.
    pub fn frame_count(&self) -> i64 {
        self.instances.iter().map(|a| a.frames.max(1)).sum()
    }
}

pub(crate) fn attachment_fields(a: &Attachment) -> Fields {
    let mut f = Fields::new();
    let text = |s: &str| Value::from(s.to_owned());
    let opt_date =
        |d: Option<chrono::NaiveDate>| d.map_or(Value::Null, |d| Value::from(d.to_string()));
    f.insert("patient_id".into(), Value::from(a.patient_id.to_string()));
    f.insert(
        "encounter_id".into(),
        a.encounter_id
            .map_or(Value::Null, |e| Value::from(e.to_string())),
    );
    f.insert("blob_sha256".into(), text(a.blob.as_str()));
    f.insert("byte_size".into(), Value::from(a.byte_size));
    f.insert("media_type".into(), text(&a.media_type));
    f.insert("file_name".into(), text(&a.file_name));
    f.insert("study_uid".into(), text(&a.study_uid));
    f.insert("study_date".into(), opt_date(a.study_date));
    f.insert("study_description".into(), text(&a.study_description));
    f.insert("series_uid".into(), text(&a.series_uid));
    f.insert(
        "series_number".into(),
        a.series_number.map_or(Value::Null, Value::from),
    );
    f.insert("series_description".into(), text(&a.series_description));
    f.insert("modality".into(), text(&a.modality));
    f.insert("body_part".into(), text(&a.body_part));
    f.insert("sop_uid".into(), text(&a.sop_uid));
    f.insert(
        "instance_number".into(),
        a.instance_number.map_or(Value::Null, Value::from),
    );
    f.insert("frames".into(), Value::from(a.frames));
    f.insert("rows".into(), Value::from(a.rows));
    f.insert("columns".into(), Value::from(a.columns));
    f.insert(
        "pixel_spacing".into(),
        a.pixel_spacing
            .map_or(Value::Null, |(r, c)| Value::from(format!("{r}\\{c}"))),
    );
    f.insert("source_patient_id".into(), text(&a.source_patient_id));
    f.insert("source_patient_name".into(), text(&a.source_patient_name));
    f.insert("source_birth_date".into(), opt_date(a.source_birth_date));
    f.insert("source_sex".into(), text(&a.source_sex));
    f.insert("imported_at".into(), Value::from(time_text(a.imported_at)));
    f.insert("removed".into(), Value::Bool(a.removed));
    f
}

const ATTACHMENT_COLUMNS: &str = "attachment_id, patient_id, encounter_id, blob_sha256, byte_size,
    media_type, file_name, study_uid, study_date, study_description, series_uid, series_number,
    series_description, modality, body_part, sop_uid, instance_number, frames, rows, columns,
    pixel_spacing, source_patient_id, source_patient_name, source_birth_date, source_sex,
    imported_at, removed";

fn attachment_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Attachment>> {
    let id: String = row.get(0)?;
    let patient: String = row.get(1)?;
    let encounter: Option<String> = row.get(2)?;
    let blob: String = row.get(3)?;
    let date = |s: Option<String>| s.and_then(|s| s.parse::<chrono::NaiveDate>().ok());
    let spacing: Option<String> = row.get(20)?;
    let (Ok(attachment_id), Ok(patient_id), Ok(blob)) = (
        id.parse::<AttachmentId>(),
        patient.parse::<PatientId>(),
        blob.parse::<BlobHash>(),
    ) else {
        return Ok(None);
    };
    Ok(Some(Attachment {
        attachment_id,
        patient_id,
        encounter_id: encounter.and_then(|e| e.parse().ok()),
        blob,
        byte_size: row.get(4)?,
        media_type: row.get(5)?,
        file_name: row.get(6)?,
        study_uid: row.get(7)?,
        study_date: date(row.get(8)?),
        study_description: row.get(9)?,
        series_uid: row.get(10)?,
        series_number: row.get(11)?,
        series_description: row.get(12)?,
        modality: row.get(13)?,
        body_part: row.get(14)?,
        sop_uid: row.get(15)?,
        instance_number: row.get(16)?,
        frames: row.get(17)?,
        rows: row.get(18)?,
        columns: row.get(19)?,
        pixel_spacing: spacing.and_then(|s| {
            let (r, c) = s.split_once('\\')?;
            Some((r.parse().ok()?, c.parse().ok()?))
        }),
        source_patient_id: row.get(21)?,
        source_patient_name: row.get(22)?,
        source_birth_date: date(row.get(23)?),
        source_sex: row.get(24)?,
        imported_at: time_from_text(&row.get::<_, String>(25)?).unwrap_or_default(),
        removed: row.get(26)?,
    }))
}

impl Store {
    /// The folder of blob files beside the database.
    pub fn blob_dir(&self) -> PathBuf {
        self.path
            .parent()
            .map_or_else(|| PathBuf::from("blobs"), |dir| dir.join("blobs"))
    }

    /// The blob folder's files, sealed with the clinic's key when the store is encrypted: what
    /// another thread (the viewer's decoder, the sync worker) reads and writes blobs through.
    pub fn blob_files(&self) -> BlobFiles {
        BlobFiles::new(self.blob_dir(), self.blob_keys.0.clone())
            .with_previous(self.blob_keys.1.clone())
    }

    /// Where a blob's file is (or will be) in the blob folder.
    pub fn blob_path(&self, blob: &BlobHash) -> PathBuf {
        self.blob_files().path(blob)
    }

    /// Asks the next sync to download a blob this workstation does not hold (a user opened an
    /// image imported elsewhere).
    pub fn request_blob(&self, blob: &BlobHash) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO blob_wanted (sha256, requested_at) VALUES (?1, ?2)
                 ON CONFLICT (sha256) DO NOTHING",
                params![blob.as_str(), time_text(chrono::Utc::now())],
            )
            .map_err(StoreError::sqlite("asking for an image"))?;
        Ok(())
    }

    /// Blobs to download: those users asked for, and those of patients with a visit on `today`
    /// (ahead of time, so the images are there when the patient is seen), not held here yet.
    pub fn blobs_to_download(&self, today: chrono::NaiveDate) -> Result<Vec<BlobHash>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                // From the attachments (few) to each one's patient's visits through the
                // (patient, start) index: the day as a range of the start's text, never a scan
                // of every visit (a million of them cost ~100 ms a round).
                "SELECT sha256 FROM blob_wanted
                 UNION
                 SELECT a.blob_sha256 FROM attachment a
                 WHERE a.removed = 0 AND EXISTS (
                     SELECT 1 FROM encounter e
                     WHERE e.patient_id = a.patient_id
                       AND e.started_at >= ?1 AND e.started_at < ?2)",
            )
            .map_err(StoreError::sqlite("listing images to download"))?;
        let next = today.succ_opt().unwrap_or(today);
        let names: Vec<String> = stmt
            .query_map([today.to_string(), next.to_string()], |row| row.get(0))
            .and_then(Iterator::collect)
            .map_err(StoreError::sqlite("listing images to download"))?;
        Ok(names
            .into_iter()
            .filter_map(|n| n.parse::<BlobHash>().ok())
            .filter(|b| !self.has_blob(b))
            .collect())
    }

    /// Records a blob downloaded into its place in the blob folder (its hash already checked).
    pub fn record_downloaded_blob(
        &self,
        blob: &BlobHash,
        byte_size: u64,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO blob (sha256, byte_size, stored_at, uploaded) VALUES (?1, ?2, ?3, 1)
                 ON CONFLICT (sha256) DO UPDATE SET uploaded = 1",
                params![
                    blob.as_str(),
                    byte_size as i64,
                    time_text(chrono::Utc::now())
                ],
            )
            .and_then(|_| {
                self.conn
                    .execute("DELETE FROM blob_wanted WHERE sha256 = ?1", [blob.as_str()])
            })
            .map_err(StoreError::sqlite("recording a downloaded image"))?;
        Ok(())
    }

    /// True when this workstation holds the blob's bytes.
    pub fn has_blob(&self, blob: &BlobHash) -> bool {
        self.blob_files().contains(blob)
    }

    /// Stores `bytes` as the blob named `blob` (their SHA-256), if it is not there yet. The file
    /// is complete and flushed before this returns, so a row may then name it.
    pub fn put_blob(&self, blob: &BlobHash, bytes: &[u8]) -> Result<(), StoreError> {
        self.blob_files().write(blob, bytes)?;
        self.conn
            .execute(
                "INSERT INTO blob (sha256, byte_size, stored_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (sha256) DO NOTHING",
                params![
                    blob.as_str(),
                    bytes.len() as i64,
                    time_text(chrono::Utc::now())
                ],
            )
            .map_err(StoreError::sqlite("recording a blob"))?;
        Ok(())
    }

    /// The bytes of a blob, checked against its name; `None` when this workstation does not hold
    /// it (it was imported elsewhere and has not been downloaded yet).
    pub fn read_blob(&self, blob: &BlobHash) -> Result<Option<Vec<u8>>, StoreError> {
        self.blob_files().read(blob)
    }

    /// Records that the server holds a blob, so sync does not offer it again.
    pub fn mark_blob_uploaded(&self, blob: &BlobHash) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE blob SET uploaded = 1 WHERE sha256 = ?1",
                [blob.as_str()],
            )
            .map_err(StoreError::sqlite("recording an uploaded blob"))?;
        Ok(())
    }

    /// Blobs held here that the server has not confirmed yet.
    pub fn blobs_to_upload(&self) -> Result<Vec<BlobHash>, StoreError> {
        self.blobs_where("uploaded = 0 ORDER BY stored_at", "listing blobs to upload")
    }

    /// The blobs of the store's list that match `condition` (a fixed SQL text).
    pub(super) fn blobs_where(
        &self,
        condition: &'static str,
        context: &'static str,
    ) -> Result<Vec<BlobHash>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT sha256 FROM blob WHERE {condition}"))
            .map_err(StoreError::sqlite(context))?;
        let names: Vec<String> = stmt
            .query_map([], |row| row.get(0))
            .and_then(Iterator::collect)
            .map_err(StoreError::sqlite(context))?;
        Ok(names.into_iter().filter_map(|n| n.parse().ok()).collect())
    }

    /// True when the patient already has (an attachment of) this file.
    pub fn patient_has_blob(
        &self,
        patient_id: PatientId,
        blob: &BlobHash,
    ) -> Result<bool, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT 1 FROM attachment WHERE blob_sha256 = ?1 AND patient_id = ?2 AND removed = 0",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![blob.as_str(), patient_id.to_string()], |_| Ok(()))
                    .optional()
            })
            .map(|found| found.is_some())
            .map_err(StoreError::sqlite("looking up an attachment"))
    }

    /// Adds an attachment (its blob must be stored first) with its change record for sync.
    pub fn add_attachment(&mut self, attachment: &Attachment) -> Result<(), StoreError> {
        let mut writer = self.writer()?;
        writer.insert(
            EntityKind::Attachment,
            attachment.attachment_id.0,
            attachment_fields(attachment),
            &[],
        )?;
        writer.commit()
    }

    /// Hides an attachment from the record (`removed = true`) or brings it back (`false`).
    /// Nothing is deleted; the change syncs like any other.
    pub fn set_attachment_removed(
        &mut self,
        attachment_id: AttachmentId,
        removed: bool,
    ) -> Result<(), StoreError> {
        self.set_attachments_removed(&[attachment_id], removed)
            .map(|_| ())
    }

    /// Hides or restores several attachments in one transaction (a whole series).
    pub fn set_attachments_removed(
        &mut self,
        attachment_ids: &[AttachmentId],
        removed: bool,
    ) -> Result<usize, StoreError> {
        let mut olds = Vec::with_capacity(attachment_ids.len());
        for id in attachment_ids {
            match self.attachment(*id)? {
                Some(old) => olds.push(old),
                None => {
                    return Err(StoreError::NotFound {
                        what: "attachment",
                        id: id.to_string(),
                    });
                }
            }
        }
        let mut writer = self.writer()?;
        let mut changed = 0;
        for old in olds {
            let mut new = old.clone();
            new.removed = removed;
            if writer.update(
                EntityKind::Attachment,
                old.attachment_id.0,
                &attachment_fields(&old),
                attachment_fields(&new),
                &[],
            )? {
                changed += 1;
            }
        }
        writer.commit()?;
        Ok(changed)
    }

    /// How many of a patient's images are linked to one of their visits.
    pub fn visit_image_count(
        &self,
        patient_id: PatientId,
        encounter_id: crate::model::EncounterId,
    ) -> Result<usize, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT count(*) FROM attachment
                 WHERE patient_id = ?1 AND encounter_id = ?2 AND removed = 0",
            )
            .and_then(|mut stmt| {
                stmt.query_row(
                    params![patient_id.to_string(), encounter_id.to_string()],
                    |row| row.get::<_, i64>(0),
                )
            })
            .map(|n| usize::try_from(n).unwrap_or(0))
            .map_err(StoreError::sqlite("counting a visit's images"))
    }

    /// One attachment.
    pub fn attachment(
        &self,
        attachment_id: AttachmentId,
    ) -> Result<Option<Attachment>, StoreError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {ATTACHMENT_COLUMNS} FROM attachment WHERE attachment_id = ?1"
            ))
            .and_then(|mut stmt| {
                stmt.query_row([attachment_id.to_string()], attachment_from_row)
                    .optional()
            })
            .map(Option::flatten)
            .map_err(StoreError::sqlite("reading an attachment"))
    }

    /// A patient's attachments (removed ones only if asked), oldest study first.
    pub fn attachments(
        &self,
        patient_id: PatientId,
        include_removed: bool,
    ) -> Result<Vec<Attachment>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {ATTACHMENT_COLUMNS} FROM attachment
                 WHERE patient_id IN {CHART_OF} AND (?2 OR removed = 0)
                 ORDER BY study_date, study_uid, series_number, series_uid, instance_number, file_name"
            ))
            .map_err(StoreError::sqlite("reading attachments"))?;
        let rows: Vec<Option<Attachment>> = stmt
            .query_map(
                params![patient_id.to_string(), include_removed],
                attachment_from_row,
            )
            .and_then(Iterator::collect)
            .map_err(StoreError::sqlite("reading attachments"))?;
        Ok(rows.into_iter().flatten().collect())
    }

    /// A patient's removed images, grouped as studies and series (to restore them).
    pub fn removed_studies(&self, patient_id: PatientId) -> Result<Vec<StudyGroup>, StoreError> {
        let removed: Vec<Attachment> = self
            .attachments(patient_id, true)?
            .into_iter()
            .filter(|a| a.removed)
            .collect();
        Ok(group_studies(removed))
    }

    /// A patient's imaging, grouped into studies and series. Newest study first; studies without a date last.
    pub fn studies(&self, patient_id: PatientId) -> Result<Vec<StudyGroup>, StoreError> {
        let mut studies = group_studies(self.attachments(patient_id, false)?);
        studies.sort_by(|a, b| match (a.study_date, b.study_date) {
            (Some(a), Some(b)) => b.cmp(&a),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
        Ok(studies)
    }
}

/// Groups attachments into studies and series, keeping their order.
pub fn group_studies(attachments: Vec<Attachment>) -> Vec<StudyGroup> {
    let mut studies: Vec<StudyGroup> = Vec::new();
    for a in attachments {
        let study = match studies.iter_mut().position(|s| s.study_uid == a.study_uid) {
            Some(i) => &mut studies[i],
            None => {
                studies.push(StudyGroup {
                    study_uid: a.study_uid.clone(),
                    study_date: a.study_date,
                    description: a.study_description.clone(),
                    modalities: String::new(),
                    series: Vec::new(),
                });
                let last = studies.len() - 1;
                &mut studies[last]
            }
        };
        if !a.modality.is_empty() && !study.modalities.split(", ").any(|m| m == a.modality) {
            if !study.modalities.is_empty() {
                study.modalities.push_str(", ");
            }
            study.modalities.push_str(&a.modality);
        }
        match study
            .series
            .iter_mut()
            .find(|s| s.series_uid == a.series_uid)
        {
            Some(series) => series.instances.push(a),
            None => study.series.push(SeriesGroup {
                series_uid: a.series_uid.clone(),
                series_number: a.series_number,
                description: a.series_description.clone(),
                modality: a.modality.clone(),
                instances: vec![a],
            }),
        }
    }
    for study in &mut studies {
        study
            .series
            .sort_by_key(|s| (s.series_number.unwrap_or(i64::MAX), s.series_uid.clone()));
        for series in &mut study.series {
            series
                .instances
                .sort_by_key(|a| (a.instance_number.unwrap_or(i64::MAX), a.file_name.clone()));
        }
    }
    studies
}
