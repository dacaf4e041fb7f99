//! Record identifiers. Every record gets a UUIDv7 where it is first written, so two clinics never
//! hand out the same id and ids sort roughly by creation time.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// A fresh time-ordered UUID (version 7).
pub fn new_uuid() -> Uuid {
    Uuid::now_v7()
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new, unique, time-ordered id.
            pub fn new() -> Self {
                Self(new_uuid())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// Identifies a patient across every clinic.
    PatientId
);
id_type!(
    /// Identifies one visit (encounter).
    EncounterId
);
id_type!(
    /// Identifies one recorded allergy.
    AllergyId
);
id_type!(
    /// Identifies one entry of a patient's problem list.
    ProblemId
);
id_type!(
    /// Identifies one amendment to a signed visit.
    AmendmentId
);
id_type!(
    /// Identifies one change record in the sync outbox.
    ChangeId
);
id_type!(
    /// Identifies a clinic (the author of records written at its workstations).
    ClinicId
);
id_type!(
    /// Identifies one imported image file (a DICOM instance or a photo) in a patient's record.
    AttachmentId
);
id_type!(
    /// Identifies one patient's arrival in the day's queue.
    QueueEntryId
);
id_type!(
    /// Identifies one merge of a patient's second record into the first.
    PatientMergeId
);
