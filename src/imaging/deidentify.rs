//! De-identifying DICOM files for teaching and second opinions: DICOM PS3.15 Annex E's Basic
//! Application Level Confidentiality Profile, with the Retain Longitudinal Temporal Information
//! with Modified Dates option (dates are shifted, not removed, so the order and spacing of a
//! patient's studies survive).
//!
//! The profile's table (`assets/dicom/basic-profile.csv`, Table E.1-1, Basic Profile column) says
//! what happens to each attribute, at any depth in sequences. Where the table offers a choice
//! that depends on the IOD (X/Z, X/D, Z/D, X/Z/D), the non-removing one is taken, so an attribute
//! the IOD requires stays present: an empty value, a dummy, or a shifted date. Beyond the table:
//! every private (odd-group) element and every group length is removed; dates the table does not
//! name are shifted too; UIDs are replaced by `2.25.` UIDs derived from the old UID under the
//! export's secret key, the same old UID always giving the same new one, so series, studies and
//! references still hold together. The pixels are left as they are: text burned into them is not
//! found by this, so each file's Burned In Annotation is reported for a person to check.
//!
//! What changed is counted by attribute and kind of change, never with the values.

use super::ImagingError;
use super::dicom::parse;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::header::Header;
use dicom_core::value::{DataSetSequence, Value};
use dicom_core::{DataElement, Length, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{StandardDataDictionary, tags};
use dicom_object::InMemDicomObject;
use dicom_object::mem::InMemElement;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

const PROFILE_CSV: &str = include_str!("../../assets/dicom/basic-profile.csv");

/// Outpost's implementation class UID, written in the meta header of files it writes.
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.203981622187520233116950460914736425291";
/// Outpost's implementation version name.
pub const IMPLEMENTATION_VERSION: &str = "OUTPOST";

/// An action of the profile's table, as the table writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Listed {
    /// D: a dummy value.
    Dummy,
    /// Z: zero length.
    Zero,
    /// X: removed.
    Remove,
    /// U: a new UID.
    Uid,
    /// X/Z: removed, or zero length where the IOD needs it.
    RemoveOrZero,
    /// X/D.
    RemoveOrDummy,
    /// Z/D.
    ZeroOrDummy,
    /// X/Z/D.
    RemoveZeroOrDummy,
    /// X/Z/U*: a sequence of references, whose UIDs are replaced.
    References,
}

impl Listed {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "D" => Self::Dummy,
            "Z" => Self::Zero,
            "X" => Self::Remove,
            "U" => Self::Uid,
            "X/Z" => Self::RemoveOrZero,
            "X/D" => Self::RemoveOrDummy,
            "Z/D" => Self::ZeroOrDummy,
            "X/Z/D" => Self::RemoveZeroOrDummy,
            "X/Z/U*" => Self::References,
            _ => return None,
        })
    }

    /// What Outpost does for it: the choice that keeps an attribute the IOD may require.
    fn resolved(self) -> Rule {
        match self {
            Self::Dummy | Self::RemoveOrDummy => Rule::Dummy,
            Self::Zero | Self::RemoveOrZero | Self::ZeroOrDummy | Self::RemoveZeroOrDummy => {
                Rule::Zero
            }
            Self::Remove => Rule::Remove,
            Self::Uid => Rule::Uid,
            Self::References => Rule::Keep,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    Dummy,
    Zero,
    Remove,
    Uid,
    Keep,
}

/// The profile's table: exact tags, and the rows with open digits (curves, overlays).
struct Profile {
    exact: HashMap<Tag, Listed>,
    masked: Vec<(u16, u16, u16, u16, Listed)>,
}

fn hex_pattern(text: &str) -> Option<(u16, u16)> {
    if text.len() != 4 {
        return None;
    }
    let mut mask = 0u16;
    let mut value = 0u16;
    for c in text.chars() {
        mask <<= 4;
        value <<= 4;
        if c != 'x' {
            mask |= 0xF;
            value |= u16::try_from(c.to_digit(16)?).ok()?;
        }
    }
    Some((mask, value))
}

fn profile() -> &'static Profile {
    static PROFILE: OnceLock<Profile> = OnceLock::new();
    PROFILE.get_or_init(|| {
        let mut exact = HashMap::new();
        let mut masked = Vec::new();
        let mut reader = csv::Reader::from_reader(PROFILE_CSV.as_bytes());
        for record in reader.records().flatten() {
            let (Some(group), Some(element), Some(action)) =
                (record.get(0), record.get(1), record.get(2))
            else {
                continue;
            };
            let Some(action) = Listed::parse(action) else {
                continue;
            };
            let (Some((gm, gv)), Some((em, ev))) = (hex_pattern(group), hex_pattern(element))
            else {
                continue;
            };
            if gm == 0xFFFF && em == 0xFFFF {
                exact.insert(Tag(gv, ev), action);
            } else {
                masked.push((gm, gv, em, ev, action));
            }
        }
        Profile { exact, masked }
    })
}

impl Profile {
    fn action(&self, tag: Tag) -> Option<Listed> {
        self.exact.get(&tag).copied().or_else(|| {
            self.masked
                .iter()
                .find(|(gm, gv, em, ev, _)| tag.0 & gm == *gv && tag.1 & em == *ev)
                .map(|m| m.4)
        })
    }
}

/// What happened to an attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Change {
    /// Taken out.
    Removed,
    /// Kept, with no value.
    Emptied,
    /// Given a dummy value (the patient ID: the export's pseudonym).
    Replaced,
    /// A date moved by the export's shift.
    DateShifted,
    /// A UID replaced by its new one.
    UidReplaced,
    /// Written by the de-identification (Patient Identity Removed and the method).
    Added,
}

impl Change {
    /// In words.
    pub fn label(self) -> &'static str {
        match self {
            Self::Removed => "removed",
            Self::Emptied => "emptied",
            Self::Replaced => "dummy value",
            Self::DateShifted => "date shifted",
            Self::UidReplaced => "new UID",
            Self::Added => "added",
        }
    }
}

/// One line of the list of what changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagChange {
    /// The attribute.
    pub tag: Tag,
    /// Its name in the DICOM dictionary.
    pub name: String,
    /// What happened to it.
    pub change: Change,
    /// In how many files.
    pub files: usize,
}

/// What a file says of text burned into its pixels (Burned In Annotation, 0028,0301).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BurnedIn {
    /// YES: the pixels carry text (a name, a date) that de-identification did not remove.
    Yes,
    /// NO.
    No,
    /// The file does not say.
    NotStated,
}

/// One de-identified file.
#[derive(Clone, Debug)]
pub struct Deidentified {
    /// The new file (DICOM Part 10, in the source's transfer syntax, pixels untouched).
    pub bytes: Vec<u8>,
    /// Its new SOP Instance UID.
    pub sop_instance_uid: String,
    /// Whether its pixels may still name the patient.
    pub burned_in: BurnedIn,
}

/// De-identifies the files of one export: the same secret key, date shift and pseudonym for
/// every file, so the files still agree with each other; nothing of them is kept after it.
pub struct Deidentifier {
    key: [u8; 32],
    shift_days: i64,
    pseudonym: String,
    changes: BTreeMap<(Tag, Change), usize>,
    private_elements: usize,
    private_files: usize,
    files: usize,
}

/// Work on one file: the changes it saw (each counted once per file).
#[derive(Default)]
struct FileChanges {
    seen: BTreeSet<(Tag, Change)>,
    private_removed: usize,
}

impl Deidentifier {
    /// A de-identifier with a new random key and a random shift of 30 days to 10 years back.
    pub fn random() -> Result<Self, ImagingError> {
        let mut seed = [0u8; 40];
        getrandom::fill(&mut seed)
            .map_err(|e| ImagingError::Unsupported(format!("no random numbers: {e}")))?;
        let mut key = [0u8; 32];
        key.copy_from_slice(&seed[..32]);
        let mut shift = [0u8; 8];
        shift.copy_from_slice(&seed[32..]);
        let shift_days = -30 - i64::try_from(u64::from_le_bytes(shift) % 3621).unwrap_or(0);
        Ok(Self::new(key, shift_days))
    }

    /// A de-identifier with this key and date shift (in days; negative is earlier).
    pub fn new(key: [u8; 32], shift_days: i64) -> Self {
        let digest = Sha256::new()
            .chain_update(key)
            .chain_update(b"patient")
            .finalize();
        let pseudonym = format!(
            "ANON-{}",
            data_encoding::HEXUPPER.encode(digest.get(..5).unwrap_or_default())
        );
        Self {
            key,
            shift_days,
            pseudonym,
            changes: BTreeMap::new(),
            private_elements: 0,
            private_files: 0,
            files: 0,
        }
    }

    /// The Patient ID every file of this export gets.
    pub fn pseudonym(&self) -> &str {
        &self.pseudonym
    }

    /// The new UID for an old one: `2.25.` and 128 bits of a keyed hash of the old UID.
    pub fn new_uid(&self, old: &str) -> String {
        let digest = Sha256::new()
            .chain_update(self.key)
            .chain_update(b"uid")
            .chain_update(old.trim_end_matches(['\0', ' ']).as_bytes())
            .finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(digest.get(..16).unwrap_or(&[0; 16]));
        format!("2.25.{}", u128::from_be_bytes(bytes))
    }

    /// Files de-identified so far.
    pub fn files(&self) -> usize {
        self.files
    }

    /// What changed, attribute by attribute, with the number of files; private elements removed
    /// are one line (tag (0009,0000), named with how many elements there were).
    pub fn report(&self) -> Vec<TagChange> {
        let mut lines: Vec<TagChange> = self
            .changes
            .iter()
            .map(|(&(tag, change), &files)| TagChange {
                tag,
                name: tag_name(tag),
                change,
                files,
            })
            .collect();
        if self.private_files > 0 {
            lines.push(TagChange {
                tag: Tag(0x0009, 0x0000),
                name: format!(
                    "private elements (odd groups): {} in all",
                    self.private_elements
                ),
                change: Change::Removed,
                files: self.private_files,
            });
        }
        lines
    }

    /// De-identifies one DICOM file.
    pub fn apply(&mut self, bytes: &[u8]) -> Result<Deidentified, ImagingError> {
        let object = parse(bytes, false)?;
        let mut meta = object.meta().clone();
        let dataset = object.into_inner();
        let burned_in = match dataset
            .element_opt(tags::BURNED_IN_ANNOTATION)
            .ok()
            .flatten()
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim().to_ascii_uppercase())
            .as_deref()
        {
            Some("YES") => BurnedIn::Yes,
            Some("NO") => BurnedIn::No,
            _ => BurnedIn::NotStated,
        };
        let mut changes = FileChanges::default();
        let mut dataset = self.clean(dataset, &mut changes);
        self.mark(&mut dataset, &mut changes);
        let sop_instance_uid = dataset
            .element_opt(tags::SOP_INSTANCE_UID)
            .ok()
            .flatten()
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim_end_matches(['\0', ' ']).to_owned())
            .unwrap_or_else(|| self.new_uid(&meta.media_storage_sop_instance_uid));
        meta.media_storage_sop_instance_uid = sop_instance_uid.clone();
        meta.implementation_class_uid = IMPLEMENTATION_CLASS_UID.to_owned();
        meta.implementation_version_name = Some(IMPLEMENTATION_VERSION.to_owned());
        meta.source_application_entity_title = None;
        meta.sending_application_entity_title = None;
        meta.receiving_application_entity_title = None;
        meta.private_information_creator_uid = None;
        meta.private_information = None;
        meta.update_information_group_length();
        let file = dataset.with_exact_meta(meta);
        let mut out = Vec::with_capacity(bytes.len());
        file.write_all(&mut out).map_err(|e| {
            ImagingError::Unsupported(format!("the de-identified file cannot be written: {e}"))
        })?;
        self.files += 1;
        for key in changes.seen {
            *self.changes.entry(key).or_default() += 1;
        }
        if changes.private_removed > 0 {
            self.private_files += 1;
            self.private_elements += changes.private_removed;
        }
        Ok(Deidentified {
            bytes: out,
            sop_instance_uid,
            burned_in,
        })
    }

    /// The data set (or a sequence item) with the profile applied to every element in it.
    fn clean(&self, object: InMemDicomObject, changes: &mut FileChanges) -> InMemDicomObject {
        let mut kept = Vec::new();
        for element in object {
            let tag = element.tag();
            if tag.0 % 2 == 1 {
                changes.private_removed += 1;
                continue;
            }
            if tag.1 == 0x0000 {
                // A group length, wrong once anything in the group changes.
                continue;
            }
            if let Some(element) = self.clean_element(element, changes) {
                kept.push(element);
            }
        }
        InMemDicomObject::from_element_iter(kept)
    }

    fn clean_element(
        &self,
        element: InMemElement,
        changes: &mut FileChanges,
    ) -> Option<InMemElement> {
        let tag = element.tag();
        let vr = element.vr();
        let listed = profile().action(tag);
        let rule = listed.map_or(Rule::Keep, Listed::resolved);
        let mut note = |change| {
            changes.seen.insert((tag, change));
        };
        if rule == Rule::Remove {
            note(Change::Removed);
            return None;
        }
        if tag == tags::PATIENT_BIRTH_DATE {
            note(Change::Emptied);
            return Some(DataElement::new(tag, vr, PrimitiveValue::Empty));
        }
        if tag == tags::PATIENT_ID {
            note(Change::Replaced);
            return Some(DataElement::new(
                tag,
                vr,
                PrimitiveValue::from(self.pseudonym.as_str()),
            ));
        }
        let header_vr = vr;
        match element.into_value() {
            Value::Sequence(sequence) => {
                if matches!(rule, Rule::Zero | Rule::Dummy) {
                    note(Change::Emptied);
                    return Some(DataElement::new(
                        tag,
                        VR::SQ,
                        DataSetSequence::<InMemDicomObject>::new(Vec::new(), Length::UNDEFINED),
                    ));
                }
                let items: Vec<InMemDicomObject> = sequence
                    .into_items()
                    .into_iter()
                    .map(|item| self.clean(item, changes))
                    .collect();
                Some(DataElement::new(
                    tag,
                    VR::SQ,
                    DataSetSequence::new(items, Length::UNDEFINED),
                ))
            }
            Value::PixelSequence(fragments) => Some(DataElement::new(tag, header_vr, fragments)),
            Value::Primitive(value) => {
                let (value, change) = self.clean_value(header_vr, rule, value);
                if let Some(change) = change {
                    note(change);
                }
                Some(DataElement::new(tag, header_vr, value))
            }
        }
    }

    fn clean_value(
        &self,
        vr: VR,
        rule: Rule,
        value: PrimitiveValue,
    ) -> (PrimitiveValue, Option<Change>) {
        if value.multiplicity() == 0 && rule != Rule::Dummy {
            return (value, None);
        }
        match vr {
            // Dates move by the export's shift, whatever the table says (short of removal).
            VR::DA | VR::DT => {
                let shifted: Option<Vec<String>> = value
                    .to_multi_str()
                    .iter()
                    .map(|v| self.shift(vr, v))
                    .collect();
                match shifted {
                    Some(values) if !values.is_empty() => {
                        (strings(values), Some(Change::DateShifted))
                    }
                    _ => (PrimitiveValue::Empty, Some(Change::Emptied)),
                }
            }
            // Times stay (the option keeps them; with the dates shifted they name no day).
            VR::TM => (value, None),
            VR::UI if rule == Rule::Uid || rule == Rule::Dummy => {
                let values: Vec<String> = value
                    .to_multi_str()
                    .iter()
                    .map(|v| self.new_uid(v))
                    .collect();
                (strings(values), Some(Change::UidReplaced))
            }
            _ => match rule {
                Rule::Keep | Rule::Uid => (value, None),
                Rule::Zero | Rule::Remove => (PrimitiveValue::Empty, Some(Change::Emptied)),
                Rule::Dummy => (dummy(vr), Some(Change::Replaced)),
            },
        }
    }

    /// A date (DA) or date-time (DT) moved by the shift; None when it is not a whole date.
    fn shift(&self, vr: VR, text: &str) -> Option<String> {
        let text = text.trim_end_matches(['\0', ' ']);
        let (date, rest) = match vr {
            VR::DA => (text, ""),
            _ => (text.get(..8)?, text.get(8..).unwrap_or("")),
        };
        let day = chrono::NaiveDate::parse_from_str(date, "%Y%m%d")
            .or_else(|_| chrono::NaiveDate::parse_from_str(date, "%Y.%m.%d"))
            .ok()?;
        let moved = day.checked_add_signed(chrono::TimeDelta::days(self.shift_days))?;
        Some(format!("{}{rest}", moved.format("%Y%m%d")))
    }

    /// The attributes that say the file was de-identified, and how.
    fn mark(&self, dataset: &mut InMemDicomObject, changes: &mut FileChanges) {
        let has_patient_id = dataset
            .element_opt(tags::PATIENT_ID)
            .ok()
            .flatten()
            .is_some();
        let mut add = |element: InMemElement| {
            changes.seen.insert((element.tag(), Change::Added));
            dataset.put(element);
        };
        if !has_patient_id {
            add(DataElement::new(
                tags::PATIENT_ID,
                VR::LO,
                PrimitiveValue::from(self.pseudonym.as_str()),
            ));
        }
        add(DataElement::new(
            tags::PATIENT_IDENTITY_REMOVED,
            VR::CS,
            PrimitiveValue::from("YES"),
        ));
        add(DataElement::new(
            tags::DEIDENTIFICATION_METHOD,
            VR::LO,
            PrimitiveValue::from("PS3.15 Basic Profile, modified dates (Outpost)"),
        ));
        let code = |value: &str, meaning: &str| {
            InMemDicomObject::from_element_iter([
                DataElement::new(tags::CODE_VALUE, VR::SH, PrimitiveValue::from(value)),
                DataElement::new(
                    tags::CODING_SCHEME_DESIGNATOR,
                    VR::SH,
                    PrimitiveValue::from("DCM"),
                ),
                DataElement::new(tags::CODE_MEANING, VR::LO, PrimitiveValue::from(meaning)),
            ])
        };
        add(DataElement::new(
            tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
            VR::SQ,
            DataSetSequence::new(
                vec![
                    code("113100", "Basic Application Confidentiality Profile"),
                    code(
                        "113107",
                        "Retain Longitudinal Temporal Information Modified Dates Option",
                    ),
                ],
                Length::UNDEFINED,
            ),
        ));
        add(DataElement::new(
            tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED,
            VR::CS,
            PrimitiveValue::from("MODIFIED"),
        ));
    }
}

fn strings(values: Vec<String>) -> PrimitiveValue {
    match values.len() {
        1 => PrimitiveValue::from(values.into_iter().next().unwrap_or_default()),
        _ => PrimitiveValue::Strs(values.into_iter().collect()),
    }
}

/// A dummy value of a VR: a word for text, zero for numbers, nothing for binary data.
fn dummy(vr: VR) -> PrimitiveValue {
    match vr {
        VR::AE | VR::CS | VR::LO | VR::LT | VR::PN | VR::SH | VR::ST | VR::UC | VR::UT => {
            PrimitiveValue::from("ANONYMOUS")
        }
        VR::AS => PrimitiveValue::from("000Y"),
        VR::DS | VR::IS => PrimitiveValue::from("0"),
        VR::US => PrimitiveValue::from(0_u16),
        VR::SS => PrimitiveValue::from(0_i16),
        VR::UL => PrimitiveValue::from(0_u32),
        VR::SL => PrimitiveValue::from(0_i32),
        VR::FL => PrimitiveValue::from(0_f32),
        VR::FD => PrimitiveValue::from(0_f64),
        _ => PrimitiveValue::Empty,
    }
}

fn tag_name(tag: Tag) -> String {
    StandardDataDictionary
        .by_tag(tag)
        .map(|entry| entry.alias().to_owned())
        .unwrap_or_else(|| format!("{tag}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_is_read_whole() {
        let profile = profile();
        // 654 rows: 651 exact tags and three with open digits (curves, overlay data, comments).
        assert_eq!(profile.exact.len(), 651);
        assert_eq!(profile.masked.len(), 3);
        assert_eq!(profile.action(tags::PATIENT_NAME), Some(Listed::Zero));
        assert_eq!(profile.action(tags::SOP_INSTANCE_UID), Some(Listed::Uid));
        assert_eq!(profile.action(Tag(0x5002, 0x3000)), Some(Listed::Remove));
        assert_eq!(profile.action(Tag(0x6000, 0x3000)), Some(Listed::Remove));
        assert_eq!(profile.action(tags::ROWS), None);
    }

    #[test]
    fn uids_and_dates_are_consistent_within_an_export_and_differ_between_exports() {
        let a = Deidentifier::new([1; 32], -100);
        let b = Deidentifier::new([2; 32], -100);
        assert_eq!(a.new_uid("1.2.3"), a.new_uid("1.2.3"));
        assert_ne!(a.new_uid("1.2.3"), a.new_uid("1.2.4"));
        assert_ne!(a.new_uid("1.2.3"), b.new_uid("1.2.3"));
        assert!(a.new_uid("1.2.3").starts_with("2.25."));
        assert!(a.new_uid("1.2.3").len() <= 64);
        assert_eq!(a.shift(VR::DA, "20240310").as_deref(), Some("20231201"));
        assert_eq!(
            a.shift(VR::DT, "20240310101500.5+0100").as_deref(),
            Some("20231201101500.5+0100")
        );
        assert_eq!(a.shift(VR::DA, "1997.04.24").as_deref(), Some("19970114"));
        assert_eq!(a.shift(VR::DA, "2024"), None);
        assert_eq!(a.shift(VR::DT, "2024"), None);
    }
}
