//! Patient demographics and their validation.

use super::age::age_label;
use super::ids::{ClinicId, PatientId};
use super::validation::Validation;
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Sex as recorded at registration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// Female.
    Female,
    /// Male.
    Male,
    /// Intersex.
    Intersex,
    /// Not known or not stated.
    #[default]
    Unknown,
}

impl Sex {
    /// Every value, in the order the editors offer them.
    pub const ALL: [Sex; 4] = [Sex::Female, Sex::Male, Sex::Intersex, Sex::Unknown];

    /// The stable code stored and synced.
    pub fn code(self) -> &'static str {
        match self {
            Self::Female => "female",
            Self::Male => "male",
            Self::Intersex => "intersex",
            Self::Unknown => "unknown",
        }
    }

    /// Reads a stored code; anything unknown reads as `Unknown`.
    pub fn from_code(code: &str) -> Self {
        match code {
            "female" => Self::Female,
            "male" => Self::Male,
            "intersex" => Self::Intersex,
            _ => Self::Unknown,
        }
    }

    /// The word shown to users.
    pub fn label(self) -> &'static str {
        match self {
            Self::Female => "Female",
            Self::Male => "Male",
            Self::Intersex => "Intersex",
            Self::Unknown => "Unknown",
        }
    }

    /// One letter for the patient list.
    pub fn letter(self) -> &'static str {
        match self {
            Self::Female => "F",
            Self::Male => "M",
            Self::Intersex => "I",
            Self::Unknown => "?",
        }
    }
}

/// A date of birth, exact or estimated from a stated age ("about 40 years old").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateOfBirth {
    /// The date, or the estimate's date.
    pub date: NaiveDate,
    /// True when the date was estimated from a stated age.
    pub estimated: bool,
}

impl DateOfBirth {
    /// An exact date of birth.
    pub fn exact(date: NaiveDate) -> Self {
        Self {
            date,
            estimated: false,
        }
    }

    /// The estimate for someone said to be `years` old on `today`: 1 July of the year of birth,
    /// flagged as estimated. `None` when the year would be out of range.
    pub fn estimated_from_age(years: u32, today: NaiveDate) -> Option<Self> {
        let year = today.year().checked_sub(i32::try_from(years).ok()?)?;
        let mut date = NaiveDate::from_ymd_opt(year, 7, 1)?;
        if date > today {
            date = NaiveDate::from_ymd_opt(year, 1, 1)?;
        }
        Some(Self {
            date,
            estimated: true,
        })
    }

    /// The age as a clinician reads it, on `today`.
    pub fn age_label(&self, today: NaiveDate) -> String {
        age_label(self.date, self.estimated, today)
    }
}

/// The clinic-readable patient number, unique within its clinic, e.g. `OUT-000123`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PatientNumber {
    /// The clinic's prefix.
    pub prefix: String,
    /// The running number within the clinic.
    pub seq: i64,
}

impl fmt::Display for PatientNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{:06}", self.prefix, self.seq)
    }
}

impl PatientNumber {
    /// Reads `OUT-000123` (any prefix, any width). `None` if it is not in that form.
    pub fn parse(text: &str) -> Option<Self> {
        let (prefix, digits) = text.trim().rsplit_once('-')?;
        if prefix.is_empty() || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Self {
            prefix: prefix.to_ascii_uppercase(),
            seq: digits.parse().ok()?,
        })
    }
}

/// Next of kin.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextOfKin {
    /// Name.
    pub name: String,
    /// Phone.
    pub phone: String,
}

/// A registered patient's demographics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Patient {
    /// Global id.
    pub patient_id: PatientId,
    /// The clinic that registered the patient.
    pub clinic_id: ClinicId,
    /// The clinic-readable number, assigned when first saved.
    pub number: Option<PatientNumber>,
    /// Given name(s).
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// The name in another script (e.g. Arabic or Devanagari), if any.
    pub other_script_name: String,
    /// Sex.
    pub sex: Sex,
    /// Date of birth, exact or estimated.
    pub birth: Option<DateOfBirth>,
    /// Phone number as given.
    pub phone: String,
    /// Village or address.
    pub village: String,
    /// National ID, if any.
    pub national_id: String,
    /// Next of kin.
    pub next_of_kin: NextOfKin,
    /// Free notes.
    pub notes: String,
}

/// Only the digits of a phone number or ID, for searching regardless of spaces and dashes.
pub fn digits_of(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

impl Patient {
    /// An empty record for the registration form.
    pub fn blank(clinic_id: ClinicId) -> Self {
        Self {
            patient_id: PatientId::new(),
            clinic_id,
            number: None,
            given_name: String::new(),
            family_name: String::new(),
            other_script_name: String::new(),
            sex: Sex::Unknown,
            birth: None,
            phone: String::new(),
            village: String::new(),
            national_id: String::new(),
            next_of_kin: NextOfKin::default(),
            notes: String::new(),
        }
    }

    /// "Family, Given" for lists.
    pub fn display_name(&self) -> String {
        match (self.family_name.trim(), self.given_name.trim()) {
            ("", given) => given.to_owned(),
            (family, "") => family.to_owned(),
            (family, given) => format!("{family}, {given}"),
        }
    }

    /// Checks the record as it would be saved on `today`.
    pub fn validate(&self, today: NaiveDate) -> Validation {
        let mut v = Validation::default();
        if self.given_name.trim().is_empty() && self.family_name.trim().is_empty() {
            v.push("name", "Enter a given name or a family name.");
        }
        for (field, text, max) in [
            ("given_name", &self.given_name, 100),
            ("family_name", &self.family_name, 100),
            ("other_script_name", &self.other_script_name, 200),
            ("village", &self.village, 200),
            ("national_id", &self.national_id, 40),
            ("notes", &self.notes, 10_000),
        ] {
            if text.chars().count() > max {
                v.push(field, format!("Too long: at most {max} characters."));
            }
        }
        if let Some(birth) = self.birth {
            if birth.date > today {
                v.push("birth", "Date of birth cannot be in the future.");
            } else if today.year() - birth.date.year() > 130 {
                v.push("birth", "Date of birth is more than 130 years ago.");
            }
        }
        for (field, phone) in [
            ("phone", &self.phone),
            ("kin_phone", &self.next_of_kin.phone),
        ] {
            if !phone.trim().is_empty() && !valid_phone(phone) {
                v.push(
                    field,
                    "A phone number has 6 to 15 digits and may use +, spaces, dashes and brackets.",
                );
            }
        }
        v
    }
}

fn valid_phone(phone: &str) -> bool {
    let digits = digits_of(phone).len();
    (6..=15).contains(&digits)
        && phone
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
    }

    #[test]
    fn a_patient_needs_a_name_and_a_past_birth_date() {
        let mut p = Patient::blank(ClinicId::new());
        assert!(p.validate(today()).message_for("name").is_some());
        p.given_name = "Amina".into();
        p.birth = Some(DateOfBirth::exact(
            NaiveDate::from_ymd_opt(2030, 1, 1).unwrap(),
        ));
        assert!(p.validate(today()).message_for("birth").is_some());
        p.birth = Some(DateOfBirth::exact(
            NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(),
        ));
        assert!(p.validate(today()).is_valid());
        p.phone = "12ab".into();
        assert!(p.validate(today()).message_for("phone").is_some());
        p.phone = "+254 (712) 345-678".into();
        assert!(p.validate(today()).is_valid());
    }

    #[test]
    fn estimated_birth_is_flagged_and_reads_with_a_tilde() {
        let birth = DateOfBirth::estimated_from_age(40, today()).unwrap();
        assert!(birth.estimated);
        assert_eq!(birth.age_label(today()), "~40 y");
    }

    #[test]
    fn patient_numbers_print_and_parse() {
        let n = PatientNumber {
            prefix: "OUT".into(),
            seq: 123,
        };
        assert_eq!(n.to_string(), "OUT-000123");
        assert_eq!(PatientNumber::parse("out-000123"), Some(n));
        assert_eq!(PatientNumber::parse("OUT-12a"), None);
        assert_eq!(PatientNumber::parse("123"), None);
    }
}
