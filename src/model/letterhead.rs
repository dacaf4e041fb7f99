//! The clinic's letterhead: its name, address, phone and logo, set by an administrator at one
//! workstation and synced to the clinic's others, so every printed document is headed alike.

use super::validation::Validation;
use uuid::Uuid;

/// The longest side of a stored logo, in pixels: enough for a printed header, small enough that
/// the PNG fits one synced field.
pub const LOGO_PIXELS: u32 = 240;

/// The letterhead as stored and synced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClinicLetterhead {
    /// The record's id. A clinic has one letterhead; when two workstations each wrote one
    /// before they met, the one with the smaller id is the clinic's on every workstation.
    pub letterhead_id: Uuid,
    /// The clinic's name as printed.
    pub clinic_name: String,
    /// Its address.
    pub address: String,
    /// Its phone number.
    pub phone: String,
    /// The logo as a PNG file's bytes, no side over [`LOGO_PIXELS`] (empty: no logo).
    pub logo_png: Vec<u8>,
}

impl ClinicLetterhead {
    /// Checks what an administrator typed.
    pub fn validate(&self) -> Validation {
        let mut v = Validation::default();
        if self.clinic_name.trim().is_empty() {
            v.push(
                "clinic_name",
                "Enter the clinic's name as it is to be printed.",
            );
        }
        for (field, text, limit) in [
            ("clinic_name", &self.clinic_name, 120),
            ("address", &self.address, 400),
            ("phone", &self.phone, 60),
        ] {
            if text.chars().count() > limit {
                v.push(field, format!("At most {limit} characters."));
            }
        }
        v
    }
}
