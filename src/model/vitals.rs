//! Vital signs: the ranges a value must be in to be possible at all, and the flags that mark a
//! possible but abnormal value so it stands out on screen.

use super::validation::Validation;
use serde::{Deserialize, Serialize};

/// Vital signs taken at a visit. Every value is optional: a clinic records what it measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Vitals {
    /// Body temperature, °C.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature_c: Option<f64>,
    /// Pulse, beats per minute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pulse_bpm: Option<f64>,
    /// Respiratory rate, breaths per minute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub respiratory_rate: Option<f64>,
    /// Systolic blood pressure, mmHg.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub systolic_mmhg: Option<f64>,
    /// Diastolic blood pressure, mmHg.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diastolic_mmhg: Option<f64>,
    /// Oxygen saturation, %.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spo2_percent: Option<f64>,
    /// Weight, kg.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_kg: Option<f64>,
    /// Height, cm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height_cm: Option<f64>,
    /// Mid-upper arm circumference, mm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub muac_mm: Option<f64>,
}

/// The range of values a vital sign can possibly take; anything outside is a typing error.
#[derive(Clone, Copy, Debug)]
pub struct VitalRange {
    /// Field key.
    pub field: &'static str,
    /// Name shown to users.
    pub label: &'static str,
    /// Unit shown after the value.
    pub unit: &'static str,
    /// Lowest possible value.
    pub min: f64,
    /// Highest possible value.
    pub max: f64,
}

impl VitalRange {
    /// Why `value` cannot be right for this sign, or `None` when it is possible.
    pub fn refuse(&self, value: f64) -> Option<String> {
        (!value.is_finite() || value < self.min || value > self.max).then(|| {
            format!(
                "{} of {} {} is not possible: enter {}–{} {}.",
                self.label,
                trim_number(value),
                self.unit,
                trim_number(self.min),
                trim_number(self.max),
                self.unit
            )
        })
    }

    /// The range of the sign with key `field`.
    pub fn of(field: &str) -> Option<&'static VitalRange> {
        VITAL_RANGES.iter().find(|r| r.field == field)
    }
}

/// The possible ranges, in the order the visit editor shows the fields.
pub const VITAL_RANGES: [VitalRange; 9] = [
    VitalRange {
        field: "temperature_c",
        label: "Temperature",
        unit: "°C",
        min: 25.0,
        max: 45.0,
    },
    VitalRange {
        field: "pulse_bpm",
        label: "Pulse",
        unit: "/min",
        min: 20.0,
        max: 300.0,
    },
    VitalRange {
        field: "respiratory_rate",
        label: "Respiratory rate",
        unit: "/min",
        min: 4.0,
        max: 120.0,
    },
    VitalRange {
        field: "systolic_mmhg",
        label: "Systolic BP",
        unit: "mmHg",
        min: 40.0,
        max: 300.0,
    },
    VitalRange {
        field: "diastolic_mmhg",
        label: "Diastolic BP",
        unit: "mmHg",
        min: 20.0,
        max: 200.0,
    },
    VitalRange {
        field: "spo2_percent",
        label: "SpO₂",
        unit: "%",
        min: 40.0,
        max: 100.0,
    },
    VitalRange {
        field: "weight_kg",
        label: "Weight",
        unit: "kg",
        min: 0.3,
        max: 400.0,
    },
    VitalRange {
        field: "height_cm",
        label: "Height",
        unit: "cm",
        min: 20.0,
        max: 260.0,
    },
    VitalRange {
        field: "muac_mm",
        label: "MUAC",
        unit: "mm",
        min: 50.0,
        max: 500.0,
    },
];

/// A possible but abnormal finding worth a clinician's eye.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VitalFlag {
    /// Temperature ≥ 37.5 °C.
    Fever,
    /// Temperature < 35 °C.
    Hypothermia,
    /// Pulse above the normal range for age.
    Tachycardia,
    /// Pulse below the normal range for age.
    Bradycardia,
    /// Breathing faster than the normal range for age.
    Tachypnoea,
    /// Systolic < 90 mmHg.
    Hypotension,
    /// ≥ 140 systolic or ≥ 90 diastolic.
    Hypertension,
    /// SpO₂ < 94 %.
    LowSpO2,
    /// MUAC < 115 mm in a child of 6 to 59 months.
    SevereAcuteMalnutrition,
    /// MUAC 115–124 mm in a child of 6 to 59 months.
    ModerateAcuteMalnutrition,
    /// Adult BMI < 18.5.
    Underweight,
    /// Adult BMI ≥ 30.
    Obese,
}

impl VitalFlag {
    /// The field the flag belongs beside.
    pub fn field(self) -> &'static str {
        match self {
            Self::Fever | Self::Hypothermia => "temperature_c",
            Self::Tachycardia | Self::Bradycardia => "pulse_bpm",
            Self::Tachypnoea => "respiratory_rate",
            Self::Hypotension | Self::Hypertension => "systolic_mmhg",
            Self::LowSpO2 => "spo2_percent",
            Self::SevereAcuteMalnutrition | Self::ModerateAcuteMalnutrition => "muac_mm",
            Self::Underweight | Self::Obese => "bmi",
        }
    }

    /// The word shown to users.
    pub fn label(self) -> &'static str {
        match self {
            Self::Fever => "Fever",
            Self::Hypothermia => "Hypothermia",
            Self::Tachycardia => "Tachycardia",
            Self::Bradycardia => "Bradycardia",
            Self::Tachypnoea => "Fast breathing",
            Self::Hypotension => "Hypotension",
            Self::Hypertension => "Hypertension",
            Self::LowSpO2 => "Low SpO₂",
            Self::SevereAcuteMalnutrition => "Severe acute malnutrition",
            Self::ModerateAcuteMalnutrition => "Moderate acute malnutrition",
            Self::Underweight => "Underweight",
            Self::Obese => "Obese",
        }
    }
}

impl Vitals {
    /// The value of a field by key (see [`VITAL_RANGES`]).
    pub fn get(&self, field: &str) -> Option<f64> {
        match field {
            "temperature_c" => self.temperature_c,
            "pulse_bpm" => self.pulse_bpm,
            "respiratory_rate" => self.respiratory_rate,
            "systolic_mmhg" => self.systolic_mmhg,
            "diastolic_mmhg" => self.diastolic_mmhg,
            "spo2_percent" => self.spo2_percent,
            "weight_kg" => self.weight_kg,
            "height_cm" => self.height_cm,
            "muac_mm" => self.muac_mm,
            _ => None,
        }
    }

    /// A mutable handle on a field by key, for editors.
    pub fn get_mut(&mut self, field: &str) -> Option<&mut Option<f64>> {
        Some(match field {
            "temperature_c" => &mut self.temperature_c,
            "pulse_bpm" => &mut self.pulse_bpm,
            "respiratory_rate" => &mut self.respiratory_rate,
            "systolic_mmhg" => &mut self.systolic_mmhg,
            "diastolic_mmhg" => &mut self.diastolic_mmhg,
            "spo2_percent" => &mut self.spo2_percent,
            "weight_kg" => &mut self.weight_kg,
            "height_cm" => &mut self.height_cm,
            "muac_mm" => &mut self.muac_mm,
            _ => return None,
        })
    }

    /// True when nothing was measured.
    pub fn is_empty(&self) -> bool {
        VITAL_RANGES.iter().all(|r| self.get(r.field).is_none())
    }

    /// Body-mass index from weight and height, when both are known.
    pub fn bmi(&self) -> Option<f64> {
        let (w, h) = (self.weight_kg?, self.height_cm?);
        let m = h / 100.0;
        (m > 0.0).then(|| w / (m * m))
    }

    /// Refuses impossible values, naming the field and the accepted range.
    pub fn validate(&self) -> Validation {
        let mut v = Validation::default();
        for range in &VITAL_RANGES {
            if let Some(message) = self.get(range.field).and_then(|value| range.refuse(value)) {
                v.push(range.field, message);
            }
        }
        if let (Some(sys), Some(dia)) = (self.systolic_mmhg, self.diastolic_mmhg)
            && dia >= sys
        {
            v.push(
                "diastolic_mmhg",
                "Diastolic BP must be lower than systolic BP.",
            );
        }
        v
    }

    /// Abnormal but possible findings, judged against normal ranges for a patient of
    /// `age_months` (adult ranges when the age is unknown).
    pub fn flags(&self, age_months: Option<u32>) -> Vec<VitalFlag> {
        let mut flags = Vec::new();
        if let Some(t) = self.temperature_c {
            if t >= 37.5 {
                flags.push(VitalFlag::Fever);
            } else if t < 35.0 {
                flags.push(VitalFlag::Hypothermia);
            }
        }
        let (pulse_low, pulse_high, breaths_high) = match age_months {
            Some(m) if m < 12 => (100.0, 160.0, 50.0),
            Some(m) if m < 60 => (80.0, 140.0, 40.0),
            Some(m) if m < 144 => (70.0, 120.0, 30.0),
            _ => (50.0, 100.0, 20.0),
        };
        if let Some(p) = self.pulse_bpm {
            if p > pulse_high {
                flags.push(VitalFlag::Tachycardia);
            } else if p < pulse_low {
                flags.push(VitalFlag::Bradycardia);
            }
        }
        if self.respiratory_rate.is_some_and(|r| r > breaths_high) {
            flags.push(VitalFlag::Tachypnoea);
        }
        if self.systolic_mmhg.is_some_and(|s| s < 90.0) {
            flags.push(VitalFlag::Hypotension);
        } else if self.systolic_mmhg.is_some_and(|s| s >= 140.0)
            || self.diastolic_mmhg.is_some_and(|d| d >= 90.0)
        {
            flags.push(VitalFlag::Hypertension);
        }
        if self.spo2_percent.is_some_and(|s| s < 94.0) {
            flags.push(VitalFlag::LowSpO2);
        }
        let under_five = age_months.is_some_and(|m| (6..60).contains(&m));
        match self.muac_mm {
            Some(m) if under_five && m < 115.0 => flags.push(VitalFlag::SevereAcuteMalnutrition),
            Some(m) if under_five && m < 125.0 => flags.push(VitalFlag::ModerateAcuteMalnutrition),
            _ => {}
        }
        let adult = age_months.is_none_or(|m| m >= 18 * 12);
        match self.bmi() {
            Some(b) if adult && b < 18.5 => flags.push(VitalFlag::Underweight),
            Some(b) if adult && b >= 30.0 => flags.push(VitalFlag::Obese),
            _ => {}
        }
        flags
    }
}

/// `37.0` as "37", `37.5` as "37.5".
fn trim_number(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").map(str::to_owned).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_values_are_refused_with_field_and_range() {
        let vitals = Vitals {
            temperature_c: Some(3.0),
            pulse_bpm: Some(900.0),
            ..Vitals::default()
        };
        let v = vitals.validate();
        assert_eq!(
            v.message_for("temperature_c"),
            Some("Temperature of 3 °C is not possible: enter 25–45 °C.")
        );
        assert_eq!(
            v.message_for("pulse_bpm"),
            Some("Pulse of 900 /min is not possible: enter 20–300 /min.")
        );
    }

    #[test]
    fn abnormal_but_possible_values_are_accepted_and_flagged() {
        let vitals = Vitals {
            temperature_c: Some(39.2),
            pulse_bpm: Some(128.0),
            systolic_mmhg: Some(82.0),
            diastolic_mmhg: Some(50.0),
            spo2_percent: Some(89.0),
            ..Vitals::default()
        };
        assert!(vitals.validate().is_valid());
        let flags = vitals.flags(Some(30 * 12));
        for flag in [
            VitalFlag::Fever,
            VitalFlag::Tachycardia,
            VitalFlag::Hypotension,
            VitalFlag::LowSpO2,
        ] {
            assert!(flags.contains(&flag), "{flag:?} missing from {flags:?}");
        }
        // The same pulse is normal for an infant.
        assert!(!vitals.flags(Some(6)).contains(&VitalFlag::Tachycardia));
    }

    #[test]
    fn bmi_is_derived_and_muac_flags_children_only() {
        let vitals = Vitals {
            weight_kg: Some(70.0),
            height_cm: Some(175.0),
            muac_mm: Some(110.0),
            ..Vitals::default()
        };
        let bmi = vitals.bmi().unwrap();
        assert!((bmi - 22.86).abs() < 0.01, "{bmi}");
        assert!(
            vitals
                .flags(Some(24))
                .contains(&VitalFlag::SevereAcuteMalnutrition)
        );
        assert!(
            !vitals
                .flags(Some(30 * 12))
                .contains(&VitalFlag::SevereAcuteMalnutrition)
        );
    }

    #[test]
    fn diastolic_must_be_below_systolic() {
        let vitals = Vitals {
            systolic_mmhg: Some(80.0),
            diastolic_mmhg: Some(120.0),
            ..Vitals::default()
        };
        assert!(vitals.validate().message_for("diastolic_mmhg").is_some());
    }
}
