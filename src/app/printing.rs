//! Printing: a document asked for by the signed-in user, read from the store as it stands (each
//! visit as amended), made into a PDF by `documents`, and recorded in the audit trail.

use super::{AppError, AppService};
use crate::documents::{
    self, DocumentError, Letterhead, PatientFacts, Picture, Referral, SickNote,
};
use crate::model::{Action, AuditAction, AuditEvent, EncounterId, PatientId};

/// A document a user can print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DocumentRequest {
    /// A signed visit's prescription, for the dispensary.
    Prescription(EncounterId),
    /// A visit's summary, for the patient.
    VisitSummary(EncounterId),
    /// A referral letter from a signed visit.
    Referral {
        /// The visit.
        encounter_id: EncounterId,
        /// To whom and why.
        referral: Referral,
    },
    /// A sick note from a signed visit.
    SickNote {
        /// The visit.
        encounter_id: EncounterId,
        /// The days it covers.
        note: SickNote,
    },
    /// A patient's summary, from the chart.
    PatientSummary(PatientId),
}

impl DocumentRequest {
    /// What the document is called, for a file name ("prescription").
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Prescription(_) => "prescription",
            Self::VisitSummary(_) => "visit-summary",
            Self::Referral { .. } => "referral",
            Self::SickNote { .. } => "sick-note",
            Self::PatientSummary(_) => "patient-summary",
        }
    }

    fn encounter(&self) -> Option<EncounterId> {
        match self {
            Self::Prescription(id) | Self::VisitSummary(id) => Some(*id),
            Self::Referral { encounter_id, .. } | Self::SickNote { encounter_id, .. } => {
                Some(*encounter_id)
            }
            Self::PatientSummary(_) => None,
        }
    }
}

/// A document as printed.
#[derive(Clone, Debug)]
pub struct PrintedDocument {
    /// The PDF file's bytes.
    pub pdf: Vec<u8>,
    /// A file name for it that names no patient ("prescription-2026-11-03.pdf").
    pub file_name: String,
}

/// How many images a referral letter shows at most.
const REFERRAL_IMAGES: usize = 6;
/// The longest side of a thumbnail, in pixels.
const THUMBNAIL_PIXELS: u32 = 320;

impl AppService {
    /// Makes the document `request` asks for on `paper`, printed by the signed-in user, who must
    /// be allowed to read clinical notes; each print is in the audit trail with its patient and
    /// record. The letterhead is the clinic's.
    pub fn print(
        &mut self,
        request: &DocumentRequest,
        paper: documents::Paper,
    ) -> Result<PrintedDocument, AppError> {
        let user = self.authorize(Action::ReadClinical)?.user.clone();
        let letterhead = self.letterhead()?;
        let visit = match request.encounter() {
            Some(encounter_id) => {
                let visit = self.store.encounter(encounter_id)?;
                let amendments = self.store.amendments(encounter_id)?;
                Some(visit.as_amended(&amendments))
            }
            None => None,
        };
        let patient_id = match (&visit, request) {
            (Some(visit), _) => visit.patient_id,
            (None, DocumentRequest::PatientSummary(patient_id)) => *patient_id,
            (None, _) => return Err(DocumentError::Missing("the visit to print from").into()),
        };
        let patient = self.store.patient(patient_id)?;
        let allergy_status = self.store.allergy_status(patient_id)?;
        let allergies = self.store.allergies(patient_id)?;
        let facts = PatientFacts {
            patient: &patient,
            allergy_status,
            allergies: &allergies,
        };
        let today = self.clock.now().date_naive();
        let blocks = match (request, &visit) {
            (DocumentRequest::Prescription(_), Some(visit)) => {
                documents::prescription(&letterhead, facts, visit)?
            }
            (DocumentRequest::VisitSummary(_), Some(visit)) => {
                documents::visit_summary(&letterhead, facts, visit)?
            }
            (DocumentRequest::Referral { referral, .. }, Some(visit)) => {
                let images = self.visit_thumbnails(visit)?;
                documents::referral(&letterhead, facts, visit, referral, images)?
            }
            (DocumentRequest::SickNote { note, .. }, Some(visit)) => {
                documents::sick_note(&letterhead, facts, visit, note)?
            }
            (DocumentRequest::PatientSummary(_), _) => {
                let amendments = self.store.amendments_for_patient(patient_id)?;
                let visits: Vec<_> = self
                    .store
                    .encounters_for_patient(patient_id)?
                    .into_iter()
                    .map(|e| match amendments.get(&e.encounter_id) {
                        Some(amended) => e.as_amended(amended),
                        None => e,
                    })
                    .collect();
                let problems = self.store.problems(patient_id)?;
                documents::patient_summary(
                    &letterhead,
                    &documents::PatientSummary {
                        facts,
                        problems: &problems,
                        visits: &visits,
                        today,
                    },
                )?
            }
            (_, None) => return Err(DocumentError::Missing("the visit to print from").into()),
        };
        let footer = documents::Footer {
            printed_by: user.full_name.clone(),
            printed_at: self.clock.now().format("%-d %b %Y %H:%M UTC").to_string(),
        };
        let pdf = documents::render(&blocks, paper, &footer)?;
        let record = request.encounter().map(|e| e.0).unwrap_or(patient_id.0);
        self.store.record_audit(
            AuditEvent::new(AuditAction::Print, Some(user.user_id))
                .patient(patient_id)
                .record(record),
        )?;
        if matches!(request, DocumentRequest::Referral { .. }) {
            self.store.record_audit(
                AuditEvent::new(AuditAction::ReferralIssued, Some(user.user_id))
                    .patient(patient_id)
                    .record(record),
            )?;
        }
        let day = visit
            .as_ref()
            .map(|v| v.started_at.date_naive())
            .unwrap_or(today);
        Ok(PrintedDocument {
            pdf,
            file_name: format!("{}-{}.pdf", request.kind(), day.format("%Y-%m-%d")),
        })
    }

    /// A signed visit's prescription as a PDF on `paper` (see [`AppService::print`]).
    pub fn print_prescription(
        &mut self,
        encounter_id: EncounterId,
        paper: documents::Paper,
    ) -> Result<Vec<u8>, AppError> {
        self.print(&DocumentRequest::Prescription(encounter_id), paper)
            .map(|d| d.pdf)
    }

    /// The clinic's letterhead: what an administrator set in Settings, or else the clinic's
    /// name as the server gave it at enrollment.
    pub fn letterhead(&self) -> Result<Letterhead, AppError> {
        if let Some(set) = self.store.letterhead()? {
            return Ok(Letterhead {
                clinic_name: set.clinic_name,
                address: set.address,
                phone: set.phone,
                logo: picture_of_png(&set.logo_png),
            });
        }
        Ok(Letterhead {
            clinic_name: crate::sync::engine::clinic_name(&self.store)?
                .unwrap_or_else(|| "Outpost clinic".to_owned()),
            ..Default::default()
        })
    }

    /// Thumbnails of the images attached to `visit` that are on this workstation: one per
    /// series (its middle image), at most [`REFERRAL_IMAGES`]. An image that cannot be read
    /// is left out; the letter is printed without it.
    fn visit_thumbnails(&self, visit: &crate::model::Encounter) -> Result<Vec<Picture>, AppError> {
        let attachments: Vec<_> = self
            .store
            .attachments(visit.patient_id, false)?
            .into_iter()
            .filter(|a| a.encounter_id == Some(visit.encounter_id))
            .collect();
        let mut pictures = Vec::new();
        for study in crate::store::group_studies(attachments) {
            for series in &study.series {
                if pictures.len() >= REFERRAL_IMAGES {
                    return Ok(pictures);
                }
                let Some(middle) = series.instances.get(series.instances.len() / 2) else {
                    continue;
                };
                let Ok(Some(bytes)) = self.store.read_blob(&middle.blob) else {
                    continue;
                };
                let caption = [
                    middle.modality.as_str(),
                    study.description.as_str(),
                    series.description.as_str(),
                ]
                .into_iter()
                .filter(|s| !s.trim().is_empty())
                .collect::<Vec<_>>()
                .join(" · ");
                if let Some(picture) = thumbnail(&bytes, &middle.media_type, caption) {
                    pictures.push(picture);
                }
            }
        }
        Ok(pictures)
    }
}

/// A thumbnail of an image file's first frame, windowed as the file says (or over its whole
/// range), no larger than [`THUMBNAIL_PIXELS`] on its longest side.
fn thumbnail(bytes: &[u8], media_type: &str, caption: String) -> Option<Picture> {
    let (frame, window) = if media_type == "application/dicom" {
        let file = crate::imaging::DicomFile::parse(bytes).ok()?;
        (file.decode_frame(0).ok()?, file.info().window)
    } else {
        (crate::imaging::decode_photo(bytes).ok()?, None)
    };
    let rgba = frame.render_rgba(&crate::imaging::Display {
        window: window.or_else(|| frame.full_window()),
        invert: false,
    });
    let full = image::RgbaImage::from_raw(frame.width, frame.height, rgba)?;
    let scale = (THUMBNAIL_PIXELS as f32 / frame.width.max(frame.height) as f32).min(1.0);
    let width = ((frame.width as f32 * scale).round() as u32).max(1);
    let height = ((frame.height as f32 * scale).round() as u32).max(1);
    let small = image::imageops::thumbnail(&full, width, height);
    Some(Picture {
        width: small.width(),
        height: small.height(),
        rgba: small.into_raw(),
        caption,
    })
}

/// A stored logo as a picture to print (none when it does not decode).
fn picture_of_png(png: &[u8]) -> Option<Picture> {
    if png.is_empty() {
        return None;
    }
    // The logo arrives by sync: read it within a stored logo's bounds, whatever it claims.
    let mut reader =
        image::ImageReader::with_format(std::io::Cursor::new(png), image::ImageFormat::Png);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(crate::model::LOGO_PIXELS);
    limits.max_image_height = Some(crate::model::LOGO_PIXELS);
    reader.limits(limits);
    let rgba = reader.decode().ok()?.to_rgba8();
    Some(Picture {
        width: rgba.width(),
        height: rgba.height(),
        rgba: rgba.into_raw(),
        caption: String::new(),
    })
}

/// The largest PNG a letterhead keeps, so that its base64 fits one synced field.
const MAX_LOGO_BYTES: usize = 45_000;

/// An image file (PNG or JPEG) made into a letterhead's logo: decoded within limits, scaled to
/// at most [`crate::model::LOGO_PIXELS`] a side (smaller still if the PNG would not fit a synced
/// field), and written as PNG.
pub(super) fn logo_png(bytes: &[u8]) -> Result<Vec<u8>, AppError> {
    let format = image::guess_format(bytes)
        .map_err(|_| AppError::Logo("it is not a PNG or JPEG image".into()))?;
    if !matches!(format, image::ImageFormat::Png | image::ImageFormat::Jpeg) {
        return Err(AppError::Logo("it is not a PNG or JPEG image".into()));
    }
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(10_000);
    limits.max_image_height = Some(10_000);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let image = reader
        .decode()
        .map_err(|e| AppError::Logo(format!("it could not be read ({e})")))?;
    let mut side = crate::model::LOGO_PIXELS;
    while side >= 32 {
        let small = image.thumbnail(side, side);
        let mut png = Vec::new();
        small
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| AppError::Logo(format!("it could not be written as PNG ({e})")))?;
        if png.len() <= MAX_LOGO_BYTES {
            return Ok(png);
        }
        side = side * 3 / 4;
    }
    Err(AppError::Logo(
        "it has too much detail to keep small".into(),
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn png(side: u32) -> Vec<u8> {
        let mut bytes = Vec::new();
        image::RgbaImage::new(side, side)
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .unwrap();
        bytes
    }

    #[test]
    fn a_synced_logo_larger_than_a_stored_one_is_not_drawn() {
        let fits = picture_of_png(&png(crate::model::LOGO_PIXELS)).unwrap();
        assert_eq!(fits.width, crate::model::LOGO_PIXELS);
        assert!(picture_of_png(&png(crate::model::LOGO_PIXELS + 1)).is_none());
        assert!(picture_of_png(b"not a png").is_none());
    }

    #[test]
    fn a_logo_file_is_scaled_to_fit_a_synced_field() {
        let logo = logo_png(&png(2_000)).unwrap();
        assert!(logo.len() <= MAX_LOGO_BYTES);
        assert!(picture_of_png(&logo).is_some());
        assert!(matches!(logo_png(b"GIF89a"), Err(AppError::Logo(_))));
    }
}
