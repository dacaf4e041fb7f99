//! FHIR R4: a patient's record written as resources (Patient, Encounter, vital-sign and lab
//! Observations, Conditions, AllergyIntolerance, MedicationRequest, ImagingStudy,
//! DocumentReference, Practitioner) in a `collection` Bundle or as bulk NDJSON, and such bundles
//! read back — ours, and those other systems write — into records the store can take.
//!
//! Resources are built and read as JSON (serde_json) by the mappings here, one function per
//! resource type, rather than through a crate of generated types for every FHIR resource: the
//! mapping is the part that needs care, a reader of other systems' bundles must keep what it can
//! and list what it skips rather than refuse the whole file on the first element it does not
//! model, and an independent validator (PyPI `fhir.resources`, `tests/fhir/validate.py`) checks
//! what is written.
//!
//! This layer knows the model's types and nothing of the store, the app service or egui.

mod export;
mod import;

pub use export::{ExportedImage, PatientRecord, bundle, ndjson, patient_resources};
pub use import::{ImportError, ImportedPatient, Skipped, read_bundle};

/// Where Outpost's own extensions are defined.
pub const EXTENSION_BASE: &str = "https://outpost.health/fhir/StructureDefinition/";
/// The identifier system of patient numbers: one per number prefix (`…:OUT`).
pub const NUMBER_SYSTEM: &str = "urn:outpost:patient-number:";
/// The identifier system of national ids as typed (no country is known).
pub const NATIONAL_ID_SYSTEM: &str = "urn:outpost:national-id";
/// ICD-10-CM, the codes diagnoses and problems carry.
pub const ICD10_SYSTEM: &str = "http://hl7.org/fhir/sid/icd-10-cm";
/// LOINC.
pub const LOINC: &str = "http://loinc.org";
/// UCUM.
pub const UCUM: &str = "http://unitsofmeasure.org";
/// SNOMED CT.
pub const SNOMED: &str = "http://snomed.info/sct";

/// One vital sign as the FHIR vital-signs profile codes it.
#[derive(Clone, Copy, Debug)]
pub struct VitalCode {
    /// Outpost's field.
    pub field: &'static str,
    /// LOINC code.
    pub loinc: &'static str,
    /// LOINC display.
    pub display: &'static str,
    /// UCUM code of the unit.
    pub ucum: &'static str,
    /// The unit as people write it.
    pub unit: &'static str,
}

/// The vital signs besides blood pressure (a panel of two components) and BMI (computed).
pub const VITAL_CODES: [VitalCode; 7] = [
    VitalCode {
        field: "temperature_c",
        loinc: "8310-5",
        display: "Body temperature",
        ucum: "Cel",
        unit: "°C",
    },
    VitalCode {
        field: "pulse_bpm",
        loinc: "8867-4",
        display: "Heart rate",
        ucum: "/min",
        unit: "/min",
    },
    VitalCode {
        field: "respiratory_rate",
        loinc: "9279-1",
        display: "Respiratory rate",
        ucum: "/min",
        unit: "/min",
    },
    VitalCode {
        field: "spo2_percent",
        loinc: "2708-6",
        display: "Oxygen saturation in Arterial blood",
        ucum: "%",
        unit: "%",
    },
    VitalCode {
        field: "weight_kg",
        loinc: "29463-7",
        display: "Body weight",
        ucum: "kg",
        unit: "kg",
    },
    VitalCode {
        field: "height_cm",
        loinc: "8302-2",
        display: "Body height",
        ucum: "cm",
        unit: "cm",
    },
    VitalCode {
        field: "muac_mm",
        loinc: "56072-2",
        display: "Circumference Mid upper arm",
        ucum: "mm",
        unit: "mm",
    },
];

/// The blood-pressure panel and its components.
pub const BP_PANEL: &str = "85354-9";
/// Systolic blood pressure.
pub const BP_SYSTOLIC: &str = "8480-6";
/// Diastolic blood pressure.
pub const BP_DIASTOLIC: &str = "8462-4";
/// Body-mass index (written, computed from weight and height; not read back).
pub const BMI: &str = "39156-5";
/// SNOMED CT "No known allergy".
pub const NO_KNOWN_ALLERGY: &str = "716186003";

/// A name-based UUID (v5) for a resource derived from a record (an Observation of a visit's
/// temperature): the same record gives the same id at every export.
pub(crate) fn derived_id(parent: uuid::Uuid, what: &str) -> uuid::Uuid {
    uuid::Uuid::new_v5(&parent, what.as_bytes())
}
