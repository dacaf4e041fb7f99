//! DICOM media written for other viewers: a folder laid out as a patient CD (DICOM PS3.10 and
//! PS3.12's general-purpose CD-R profile), with the files under ISO 9660 names
//! (`DICOM/ST000001/SE000001/IM000001`) and a DICOMDIR indexing them.
//!
//! The DICOMDIR is a DICOM file whose directory records (PATIENT, STUDY, SERIES, IMAGE or
//! SR DOCUMENT) point at each other by byte offsets within the DICOMDIR itself. dicom-rs reads
//! such files but does not lay them out, so the records are built as an ordinary dicom-object
//! data set and written twice: first with a distinct marker in each record's "next record"
//! offset, whose position in the bytes gives the position of the record's item; then with the
//! real offsets, which are fixed-size (UL), so nothing moves.

use super::ImagingError;
use super::deidentify::{IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION};
use super::dicom::parse;
use dicom_core::header::Header;
use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, Length, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use dicom_object::mem::InMemElement;
use dicom_object::meta::FileMetaTableBuilder;
use std::borrow::Cow;

/// The File-set ID written in Outpost's DICOMDIRs.
pub const FILE_SET_ID: &str = "OUTPOST";

/// A file's name on the media: components of at most eight upper-case letters, digits or `_`.
pub fn media_path(study: usize, series: usize, instance: usize) -> Vec<String> {
    vec![
        "DICOM".to_owned(),
        format!("ST{study:06}"),
        format!("SE{series:06}"),
        format!("IM{instance:06}"),
    ]
}

/// The file as a DICOM Part 10 file: the same bytes when it is one already (preamble, `DICM`,
/// meta header), otherwise with the preamble or meta header it lacks.
pub fn part10(bytes: &[u8]) -> Result<Cow<'_, [u8]>, ImagingError> {
    if bytes.get(128..132) == Some(b"DICM") {
        return Ok(Cow::Borrowed(bytes));
    }
    if bytes.get(..4) == Some(b"DICM") {
        let mut whole = vec![0u8; 128];
        whole.extend_from_slice(bytes);
        return Ok(Cow::Owned(whole));
    }
    let object = parse(bytes, false)?;
    let mut out = Vec::with_capacity(bytes.len() + 256);
    object
        .write_all(&mut out)
        .map_err(|e| ImagingError::Unsupported(format!("the file cannot be rewritten: {e}")))?;
    Ok(Cow::Owned(out))
}

/// One file on the media, with what its directory records say of it.
#[derive(Clone, Debug)]
pub struct MediaEntry {
    components: Vec<String>,
    keys: RecordKeys,
}

#[derive(Clone, Debug, Default)]
struct RecordKeys {
    charset: Option<InMemElement>,
    patient_id: String,
    patient: Vec<InMemElement>,
    study_uid: String,
    study: Vec<InMemElement>,
    series_uid: String,
    series: Vec<InMemElement>,
    record_type: &'static str,
    instance_number: Option<i64>,
    sop_class: String,
    sop_instance: String,
    transfer_syntax: String,
    instance: Vec<InMemElement>,
}

fn copy(object: &InMemDicomObject, tag: Tag, vr: VR) -> InMemElement {
    object
        .element_opt(tag)
        .ok()
        .flatten()
        .cloned()
        .unwrap_or_else(|| DataElement::new(tag, vr, PrimitiveValue::Empty))
}

fn text(object: &InMemDicomObject, tag: Tag) -> String {
    object
        .element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).trim().to_owned())
        .unwrap_or_default()
}

impl MediaEntry {
    /// The entry for a Part 10 file placed at `components` (from [`media_path`]).
    pub fn new(bytes: &[u8], components: Vec<String>) -> Result<Self, ImagingError> {
        let file = parse(bytes, true)?;
        let meta = file.meta();
        let object: &InMemDicomObject = &file;
        let sop_class = {
            let own = text(object, tags::SOP_CLASS_UID);
            if own.is_empty() {
                meta.media_storage_sop_class_uid().to_owned()
            } else {
                own
            }
        };
        let sop_instance = {
            let own = text(object, tags::SOP_INSTANCE_UID);
            if own.is_empty() {
                meta.media_storage_sop_instance_uid().to_owned()
            } else {
                own
            }
        };
        let is_sr = sop_class.starts_with("1.2.840.10008.5.1.4.1.1.88.");
        let mut instance = Vec::new();
        if is_sr {
            for (tag, vr) in [
                (tags::CONTENT_DATE, VR::DA),
                (tags::CONTENT_TIME, VR::TM),
                (tags::COMPLETION_FLAG, VR::CS),
                (tags::VERIFICATION_FLAG, VR::CS),
                (tags::CONCEPT_NAME_CODE_SEQUENCE, VR::SQ),
            ] {
                instance.push(copy(object, tag, vr));
            }
            if let Ok(Some(verified)) = object.element_opt(tags::VERIFICATION_DATE_TIME) {
                instance.push(verified.clone());
            }
        }
        Ok(Self {
            components,
            keys: RecordKeys {
                charset: object
                    .element_opt(tags::SPECIFIC_CHARACTER_SET)
                    .ok()
                    .flatten()
                    .cloned(),
                patient_id: text(object, tags::PATIENT_ID),
                patient: vec![
                    copy(object, tags::PATIENT_NAME, VR::PN),
                    copy(object, tags::PATIENT_ID, VR::LO),
                ],
                study_uid: text(object, tags::STUDY_INSTANCE_UID),
                study: vec![
                    copy(object, tags::STUDY_DATE, VR::DA),
                    copy(object, tags::STUDY_TIME, VR::TM),
                    copy(object, tags::ACCESSION_NUMBER, VR::SH),
                    copy(object, tags::STUDY_DESCRIPTION, VR::LO),
                    copy(object, tags::STUDY_INSTANCE_UID, VR::UI),
                    copy(object, tags::STUDY_ID, VR::SH),
                ],
                series_uid: text(object, tags::SERIES_INSTANCE_UID),
                series: vec![
                    copy(object, tags::MODALITY, VR::CS),
                    copy(object, tags::SERIES_INSTANCE_UID, VR::UI),
                    copy(object, tags::SERIES_NUMBER, VR::IS),
                ],
                record_type: if is_sr { "SR DOCUMENT" } else { "IMAGE" },
                instance_number: text(object, tags::INSTANCE_NUMBER).parse().ok(),
                sop_class,
                sop_instance,
                transfer_syntax: meta
                    .transfer_syntax()
                    .trim_end_matches(['\0', ' '])
                    .to_owned(),
                instance,
            },
        })
    }

    /// Where the file is, by path components below the DICOMDIR.
    pub fn components(&self) -> &[String] {
        &self.components
    }
}

/// One directory record, before offsets.
struct Record {
    elements: Vec<InMemElement>,
    next: Option<usize>,
    lower: Option<usize>,
}

/// A value that is type 1 in a record: the file's own, or one made up from the record's place
/// (as dcmmkdir's `--invent` does) when the file leaves it empty.
fn required(mut element: InMemElement, invented: impl FnOnce() -> String) -> InMemElement {
    if element.value().multiplicity() == 0 || element.to_str().is_ok_and(|s| s.trim().is_empty()) {
        element = DataElement::new(
            element.tag(),
            element.vr(),
            PrimitiveValue::from(invented()),
        );
    }
    element
}

/// A date or time that is type 1 in a record, in today's form: ACR-NEMA's `1997.04.24` and
/// `14:04:38` lose their separators; an empty one gets `invented`.
fn old_form(element: InMemElement, separator: char, invented: &str) -> InMemElement {
    let text = element
        .to_str()
        .map(|s| s.trim_end_matches(['\0', ' ']).replace(separator, ""))
        .unwrap_or_default();
    let value = if text.is_empty() {
        invented.to_owned()
    } else {
        text
    };
    DataElement::new(element.tag(), element.vr(), PrimitiveValue::from(value))
}

/// A study's UID and its series: each series' UID and its entries (by index).
type StudyFiles = (String, Vec<(String, Vec<usize>)>);

/// The records in the order they are written (each patient, then its studies, each study then
/// its series, each series then its instances), with their links.
fn records(entries: &[MediaEntry], fallback_patient_id: &str) -> (Vec<Record>, Vec<usize>) {
    // Group by patient, study and series, in order of first appearance.
    let mut patients: Vec<(String, Vec<StudyFiles>)> = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        let keys = &entry.keys;
        let patient = match patients.iter().position(|p| p.0 == keys.patient_id) {
            Some(p) => p,
            None => {
                patients.push((keys.patient_id.clone(), Vec::new()));
                patients.len() - 1
            }
        };
        let studies = &mut patients[patient].1;
        let study = match studies.iter().position(|s| s.0 == keys.study_uid) {
            Some(s) => s,
            None => {
                studies.push((keys.study_uid.clone(), Vec::new()));
                studies.len() - 1
            }
        };
        let series_list = &mut studies[study].1;
        match series_list.iter_mut().find(|s| s.0 == keys.series_uid) {
            Some(series) => series.1.push(index),
            None => series_list.push((keys.series_uid.clone(), vec![index])),
        }
    }
    let mut records: Vec<Record> = Vec::new();
    let push = |records: &mut Vec<Record>,
                kind: &str,
                charset: &Option<InMemElement>,
                mut elements: Vec<InMemElement>| {
        elements.push(DataElement::new(
            tags::DIRECTORY_RECORD_TYPE,
            VR::CS,
            PrimitiveValue::from(kind),
        ));
        if let Some(charset) = charset {
            elements.push(charset.clone());
        }
        records.push(Record {
            elements,
            next: None,
            lower: None,
        });
        records.len() - 1
    };
    let link = |records: &mut Vec<Record>, siblings: &[usize]| {
        for pair in siblings.windows(2) {
            records[pair[0]].next = Some(pair[1]);
        }
    };
    let mut roots = Vec::new();
    let mut study_count = 0;
    let mut series_count = 0;
    for (_, studies) in &patients {
        let first = &entries[studies[0].1[0].1[0]].keys;
        let mut elements = first.patient.clone();
        for element in &mut elements {
            if element.tag() == tags::PATIENT_ID {
                *element = required(element.clone(), || fallback_patient_id.to_owned());
            }
        }
        let patient = push(&mut records, "PATIENT", &first.charset, elements);
        roots.push(patient);
        let mut study_records = Vec::new();
        for (_, series_list) in studies {
            study_count += 1;
            let keys = &entries[series_list[0].1[0]].keys;
            let mut elements = keys.study.clone();
            for element in &mut elements {
                let tag = element.tag();
                if tag == tags::STUDY_ID {
                    *element = required(element.clone(), || study_count.to_string());
                } else if tag == tags::STUDY_DATE {
                    *element = old_form(element.clone(), '.', "19000101");
                } else if tag == tags::STUDY_TIME {
                    *element = old_form(element.clone(), ':', "000000");
                }
            }
            let study = push(&mut records, "STUDY", &keys.charset, elements);
            study_records.push(study);
            let mut series_records = Vec::new();
            for (_, members) in series_list {
                series_count += 1;
                let keys = &entries[members[0]].keys;
                let mut elements = keys.series.clone();
                for element in &mut elements {
                    if element.tag() == tags::SERIES_NUMBER {
                        *element = required(element.clone(), || series_count.to_string());
                    }
                }
                let series = push(&mut records, "SERIES", &keys.charset, elements);
                series_records.push(series);
                let mut ordered = members.clone();
                ordered.sort_by_key(|&i| {
                    (
                        entries[i].keys.instance_number.is_none(),
                        entries[i].keys.instance_number,
                    )
                });
                let mut instance_records = Vec::new();
                for (position, &member) in ordered.iter().enumerate() {
                    let entry = &entries[member];
                    let keys = &entry.keys;
                    let mut elements = vec![
                        DataElement::new(
                            tags::REFERENCED_FILE_ID,
                            VR::CS,
                            PrimitiveValue::Strs(entry.components.iter().cloned().collect()),
                        ),
                        DataElement::new(
                            tags::REFERENCED_SOP_CLASS_UID_IN_FILE,
                            VR::UI,
                            PrimitiveValue::from(keys.sop_class.as_str()),
                        ),
                        DataElement::new(
                            tags::REFERENCED_SOP_INSTANCE_UID_IN_FILE,
                            VR::UI,
                            PrimitiveValue::from(keys.sop_instance.as_str()),
                        ),
                        DataElement::new(
                            tags::REFERENCED_TRANSFER_SYNTAX_UID_IN_FILE,
                            VR::UI,
                            PrimitiveValue::from(keys.transfer_syntax.as_str()),
                        ),
                        DataElement::new(
                            tags::INSTANCE_NUMBER,
                            VR::IS,
                            PrimitiveValue::from(
                                keys.instance_number
                                    .unwrap_or(position as i64 + 1)
                                    .to_string(),
                            ),
                        ),
                    ];
                    elements.extend(keys.instance.iter().cloned());
                    instance_records.push(push(
                        &mut records,
                        keys.record_type,
                        &keys.charset,
                        elements,
                    ));
                }
                records[series].lower = instance_records.first().copied();
                link(&mut records, &instance_records);
            }
            records[study].lower = series_records.first().copied();
            link(&mut records, &series_records);
        }
        records[patient].lower = study_records.first().copied();
        link(&mut records, &study_records);
    }
    link(&mut records, &roots);
    (records, roots)
}

const MARKER: u32 = 0xF000_0000;

/// The DICOMDIR for these files; `fallback_patient_id` is the PATIENT record's ID for files
/// that carry none.
pub fn dicomdir(
    entries: &[MediaEntry],
    fallback_patient_id: &str,
) -> Result<Vec<u8>, ImagingError> {
    let (records, roots) = records(entries, fallback_patient_id);
    if records.len() >= 0x0100_0000 {
        return Err(ImagingError::TooLarge(
            "too many files for one DICOMDIR".to_owned(),
        ));
    }
    let mut uid = [0u8; 16];
    getrandom::fill(&mut uid)
        .map_err(|e| ImagingError::Unsupported(format!("no random numbers: {e}")))?;
    let instance_uid = format!("2.25.{}", u128::from_be_bytes(uid));
    let write = |offsets: Option<&[u32]>| -> Result<Vec<u8>, ImagingError> {
        let at = |index: Option<usize>| match (index, offsets) {
            (Some(i), Some(offsets)) => offsets[i],
            _ => 0,
        };
        let items: Vec<InMemDicomObject> = records
            .iter()
            .enumerate()
            .map(|(i, record)| {
                let next = match offsets {
                    Some(_) => at(record.next),
                    None => MARKER | i as u32,
                };
                let mut elements = vec![
                    DataElement::new(
                        tags::OFFSET_OF_THE_NEXT_DIRECTORY_RECORD,
                        VR::UL,
                        PrimitiveValue::from(next),
                    ),
                    // Retired since 2003, yet required by readers that follow older editions
                    // (dcmtk writes it too): every record is in use.
                    DataElement::new(
                        tags::RECORD_IN_USE_FLAG,
                        VR::US,
                        PrimitiveValue::from(0xFFFF_u16),
                    ),
                    DataElement::new(
                        tags::OFFSET_OF_REFERENCED_LOWER_LEVEL_DIRECTORY_ENTITY,
                        VR::UL,
                        PrimitiveValue::from(at(record.lower)),
                    ),
                ];
                elements.extend(record.elements.iter().cloned());
                InMemDicomObject::from_element_iter(elements)
            })
            .collect();
        let dataset = InMemDicomObject::from_element_iter([
            DataElement::new(tags::FILE_SET_ID, VR::CS, PrimitiveValue::from(FILE_SET_ID)),
            DataElement::new(
                tags::OFFSET_OF_THE_FIRST_DIRECTORY_RECORD_OF_THE_ROOT_DIRECTORY_ENTITY,
                VR::UL,
                PrimitiveValue::from(at(roots.first().copied())),
            ),
            DataElement::new(
                tags::OFFSET_OF_THE_LAST_DIRECTORY_RECORD_OF_THE_ROOT_DIRECTORY_ENTITY,
                VR::UL,
                PrimitiveValue::from(at(roots.last().copied())),
            ),
            DataElement::new(
                tags::FILE_SET_CONSISTENCY_FLAG,
                VR::US,
                PrimitiveValue::from(0_u16),
            ),
            DataElement::new(
                tags::DIRECTORY_RECORD_SEQUENCE,
                VR::SQ,
                DataSetSequence::new(items, Length::UNDEFINED),
            ),
        ]);
        let file = dataset
            .with_meta(
                FileMetaTableBuilder::new()
                    .media_storage_sop_class_uid(uids::MEDIA_STORAGE_DIRECTORY_STORAGE)
                    .media_storage_sop_instance_uid(instance_uid.as_str())
                    .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                    .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
                    .implementation_version_name(IMPLEMENTATION_VERSION),
            )
            .map_err(|e| ImagingError::Unsupported(format!("DICOMDIR: {e}")))?;
        let mut out = Vec::new();
        file.write_all(&mut out)
            .map_err(|e| ImagingError::Unsupported(format!("DICOMDIR: {e}")))?;
        Ok(out)
    };
    let first = write(None)?;
    let mut offsets = Vec::with_capacity(records.len());
    for i in 0..records.len() {
        // (0004,1400) UL, length 4, then the marker: the record's first element, right after
        // its item header (FFFE,E000) and the item's length.
        let mut pattern = vec![0x04, 0x00, 0x00, 0x14, b'U', b'L', 0x04, 0x00];
        pattern.extend_from_slice(&(MARKER | i as u32).to_le_bytes());
        let found = find(&first, &pattern)
            .and_then(|at| at.checked_sub(8))
            .filter(|&item| first.get(item..item + 4) == Some(&[0xFE, 0xFF, 0x00, 0xE0]))
            .and_then(|item| u32::try_from(item).ok())
            .ok_or_else(|| {
                ImagingError::Malformed("a DICOMDIR record could not be placed".to_owned())
            })?;
        offsets.push(found);
    }
    let second = write(Some(&offsets))?;
    if second.len() != first.len() {
        return Err(ImagingError::Malformed(
            "the DICOMDIR changed length when its offsets were written".to_owned(),
        ));
    }
    Ok(second)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data/dicom")
                .join(name),
        )
        .expect("a sample file")
    }

    #[test]
    fn a_dicomdir_points_at_its_files_and_its_offsets_at_its_records() {
        let ct = sample("CT_small.dcm");
        let mr = sample("MR_small.dcm");
        let entries = vec![
            MediaEntry::new(&ct, media_path(1, 1, 1)).expect("CT"),
            MediaEntry::new(&mr, media_path(2, 2, 1)).expect("MR"),
        ];
        let bytes = dicomdir(&entries, "OUT-000001").expect("written");
        let object = parse(&bytes, false).expect("read back");
        let first = object
            .element(tags::OFFSET_OF_THE_FIRST_DIRECTORY_RECORD_OF_THE_ROOT_DIRECTORY_ENTITY)
            .expect("first")
            .to_int::<u32>()
            .expect("int") as usize;
        // The first record is an item at that offset, and a PATIENT.
        assert_eq!(bytes[first..first + 4], [0xFE, 0xFF, 0x00, 0xE0]);
        let records = object
            .element(tags::DIRECTORY_RECORD_SEQUENCE)
            .expect("records")
            .items()
            .expect("items");
        let kinds: Vec<String> = records
            .iter()
            .map(|r| text(r, tags::DIRECTORY_RECORD_TYPE))
            .collect();
        // Two patients (the two samples name different people), each with one study, one
        // series, one image.
        assert_eq!(
            kinds,
            [
                "PATIENT", "STUDY", "SERIES", "IMAGE", "PATIENT", "STUDY", "SERIES", "IMAGE"
            ]
        );
        let files: Vec<Vec<String>> = records
            .iter()
            .filter_map(|r| r.element_opt(tags::REFERENCED_FILE_ID).ok().flatten())
            .map(|e| e.to_multi_str().expect("ids").to_vec())
            .collect();
        assert_eq!(files, [media_path(1, 1, 1), media_path(2, 2, 1)]);
    }

    #[test]
    fn a_file_without_a_preamble_gains_one_and_a_part10_file_is_unchanged() {
        let ct = sample("CT_small.dcm");
        assert!(matches!(part10(&ct), Ok(Cow::Borrowed(b)) if b == ct.as_slice()));
        let bare = &ct[128..];
        let whole = part10(bare).expect("rewrapped");
        assert!(whole[..128].iter().all(|&b| b == 0));
        assert!(
            whole[128..] == ct[128..],
            "the same file after the preamble"
        );
    }
}
