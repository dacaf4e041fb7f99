//! Prescribing safety: a medicine that matches a recorded allergy (the substance itself, its
//! drug class, or a class known to cross-react) is an alert the prescriber must answer with a
//! reason; a child's dose above the weight-based range of the shipped table is a warning.
//!
//! The app service refuses a visit that holds an unanswered allergy alert (`AppService::execute`),
//! so the window's dialog is the way to answer it, not the only guard.

use std::sync::OnceLock;

use super::encounter::{Encounter, Prescription};
use super::medicines::{Composition, DrugClass, medicine_list, normalise};
use super::{Allergy, AllergySeverity};

/// Weight-based dose limits for children, as shipped.
const DOSES_CSV: &str = include_str!("../../assets/medicines/paediatric-doses.csv");

/// Children younger than this are dose-checked (the WHO Model List for Children's age range).
pub const DOSE_CHECK_UNDER_YEARS: u32 = 12;

/// How a prescribed medicine meets an allergy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertKind {
    /// The medicine is (or contains) the substance the patient is allergic to.
    Substance,
    /// The medicine belongs to the class the allergy names, or shares a class with the substance.
    Class(DrugClass),
    /// The medicine's class is known to cross-react with the allergy's.
    CrossReactive {
        /// The allergy's class.
        allergy: DrugClass,
        /// The medicine's class.
        medicine: DrugClass,
    },
}

/// Classes that cross-react, with what a prescriber should know.
const CROSS_REACTIONS: &[(DrugClass, DrugClass, &str)] = &[
    (
        DrugClass::Penicillin,
        DrugClass::Cephalosporin,
        "About 1–2 % of people allergic to penicillin react to a cephalosporin, more often to \
         first-generation ones (cefalexin, cefazolin) whose side chains resemble amoxicillin's \
         and ampicillin's. Avoid after an immediate reaction (anaphylaxis, urticaria, \
         angioedema).",
    ),
    (
        DrugClass::Cephalosporin,
        DrugClass::Penicillin,
        "Penicillins and cephalosporins share the beta-lactam ring; cross-reactions are uncommon \
         but happen, more often where the side chains are alike (cefalexin and amoxicillin).",
    ),
    (
        DrugClass::Penicillin,
        DrugClass::Carbapenem,
        "Fewer than 1 % of people allergic to penicillin react to a carbapenem.",
    ),
    (
        DrugClass::Cephalosporin,
        DrugClass::Carbapenem,
        "Fewer than 1 % of people allergic to a cephalosporin react to a carbapenem.",
    ),
    (
        DrugClass::Salicylate,
        DrugClass::Nsaid,
        "People who react to aspirin often react to other NSAIDs (cyclo-oxygenase inhibition).",
    ),
];

impl AlertKind {
    /// What a prescriber should know of a cross-reaction, if this is one.
    pub fn note(self) -> Option<&'static str> {
        match self {
            Self::CrossReactive { allergy, medicine } => CROSS_REACTIONS
                .iter()
                .find(|(a, m, _)| *a == allergy && *m == medicine)
                .map(|(_, _, note)| *note),
            _ => None,
        }
    }
}

/// A prescribed medicine that meets a recorded allergy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllergyAlert {
    /// The medicine as prescribed.
    pub medicine: String,
    /// The allergy's substance as recorded.
    pub allergy: String,
    /// The reaction recorded.
    pub reaction: String,
    /// Its severity.
    pub severity: AllergySeverity,
    /// How the two meet.
    pub kind: AlertKind,
}

impl AllergyAlert {
    /// The alert in a sentence: "Amoxicillin is a penicillin, and the patient is allergic to
    /// Penicillin (anaphylaxis; severe)."
    pub fn message(&self) -> String {
        let medicine = self.medicine.trim();
        let reaction = self.reaction.trim();
        let allergy = if reaction.is_empty() {
            format!(
                "{} ({})",
                self.allergy.trim(),
                self.severity.label().to_lowercase()
            )
        } else {
            format!(
                "{} ({reaction}; {})",
                self.allergy.trim(),
                self.severity.label().to_lowercase()
            )
        };
        match self.kind {
            AlertKind::Substance => {
                format!("The patient is allergic to {allergy}, and {medicine} contains it.")
            }
            AlertKind::Class(class) => format!(
                "{medicine} is {}, and the patient is allergic to {allergy}.",
                class.one()
            ),
            AlertKind::CrossReactive {
                medicine: class, ..
            } => format!(
                "{medicine} is {}, and the patient is allergic to {allergy}. {}",
                class.one(),
                self.kind.note().unwrap_or_default()
            ),
        }
    }
}

/// Whether the text of a free-text allergy names the medicine ("amoxil" does not name
/// "amoxicillin"; "quinine" names "quinine sulfate").
fn names_in_text(allergen: &str, medicine: &str) -> bool {
    allergen.chars().count() >= 4
        && (medicine == allergen
            || medicine.starts_with(&format!("{allergen} "))
            || medicine.contains(&format!(" {allergen} "))
            || medicine.ends_with(&format!(" {allergen}")))
}

/// How a medicine of `composition` meets an allergen, most direct first.
fn meeting(allergen: &Composition, prescribed: &Composition) -> Option<AlertKind> {
    let same_substance = allergen.ingredients.iter().any(|a| {
        prescribed
            .ingredients
            .iter()
            .any(|p| p == a || names_in_text(a, p))
    });
    if same_substance {
        return Some(AlertKind::Substance);
    }
    if let Some(class) = allergen
        .classes
        .iter()
        .find(|c| prescribed.classes.contains(c))
    {
        return Some(AlertKind::Class(*class));
    }
    CROSS_REACTIONS.iter().find_map(|(a, m, _)| {
        (allergen.classes.contains(a) && prescribed.classes.contains(m)).then_some(
            AlertKind::CrossReactive {
                allergy: *a,
                medicine: *m,
            },
        )
    })
}

/// The alerts a prescription raises against the patient's active allergies, answered or not.
pub fn allergy_alerts(prescription: &Prescription, allergies: &[Allergy]) -> Vec<AllergyAlert> {
    if prescription.medicine.trim().is_empty() {
        return Vec::new();
    }
    let list = medicine_list();
    let prescribed = list.composition(&prescription.medicine);
    allergies
        .iter()
        .filter(|a| a.active && !a.substance.trim().is_empty())
        .filter_map(|allergy| {
            let allergen = list.allergen(&allergy.substance);
            meeting(&allergen, &prescribed).map(|kind| AllergyAlert {
                medicine: prescription.medicine.trim().to_owned(),
                allergy: allergy.substance.trim().to_owned(),
                reaction: allergy.reaction.trim().to_owned(),
                severity: allergy.severity,
                kind,
            })
        })
        .collect()
}

/// The alerts of one prescription that no reason answers yet.
pub fn unanswered_line_alerts(
    prescription: &Prescription,
    allergies: &[Allergy],
) -> Vec<AllergyAlert> {
    allergy_alerts(prescription, allergies)
        .into_iter()
        .filter(|alert| {
            !prescription
                .allergy_override
                .as_ref()
                .is_some_and(|o| o.covers(&prescription.medicine, &alert.allergy))
        })
        .collect()
}

/// The alerts of a visit's prescriptions that no reason answers yet, with the line's index.
pub fn unanswered_alerts(
    encounter: &Encounter,
    allergies: &[Allergy],
) -> Vec<(usize, AllergyAlert)> {
    encounter
        .prescriptions
        .iter()
        .enumerate()
        .flat_map(|(index, p)| {
            unanswered_line_alerts(p, allergies)
                .into_iter()
                .map(move |alert| (index, alert))
        })
        .collect()
}

/// How a medicine is given, as the dose table tells routes apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DoseRoute {
    Oral,
    Injection,
    Rectal,
}

impl DoseRoute {
    fn from_table(text: &str) -> Option<Self> {
        match text.trim() {
            "oral" => Some(Self::Oral),
            "injection" => Some(Self::Injection),
            "rectal" => Some(Self::Rectal),
            _ => None,
        }
    }

    /// The route as a prescriber writes it ("PO", "by mouth", "IV", "IM", "PR"); empty is oral.
    fn from_prescription(text: &str) -> Option<Self> {
        let text = normalise(text);
        if text.is_empty() {
            return Some(Self::Oral);
        }
        let has = |words: &[&str]| text.split_whitespace().any(|w| words.contains(&w));
        if has(&["oral", "po", "mouth", "orally"]) {
            Some(Self::Oral)
        } else if has(&[
            "iv",
            "im",
            "sc",
            "injection",
            "intravenous",
            "intramuscular",
            "subcutaneous",
            "ivi",
        ]) {
            Some(Self::Injection)
        } else if has(&["rectal", "pr", "rectally"]) {
            Some(Self::Rectal)
        } else {
            None
        }
    }
}

/// The dose limits of one medicine by one route, for children, from the shipped table.
#[derive(Clone, Debug, PartialEq)]
pub struct DoseLimit {
    /// The medicine's name in the medicine list.
    pub medicine: String,
    route: DoseRoute,
    /// Highest single dose, mg per kg.
    pub max_mg_per_kg_dose: Option<f64>,
    /// Highest daily total, mg per kg.
    pub max_mg_per_kg_day: Option<f64>,
    /// Highest single dose, mg, whatever the weight (the adult dose).
    pub max_mg_dose: Option<f64>,
    /// Highest daily total, mg, whatever the weight.
    pub max_mg_day: Option<f64>,
    /// The usual regimen, in words.
    pub usual: String,
    /// Where the limits come from.
    pub source: String,
}

#[derive(serde::Deserialize)]
struct DoseRow {
    medicine: String,
    route: String,
    max_mg_per_kg_dose: Option<f64>,
    max_mg_per_kg_day: Option<f64>,
    max_mg_dose: Option<f64>,
    max_mg_day: Option<f64>,
    usual: String,
    source: String,
}

/// Reads a dose table in the shipped format; rows with an unknown route are a defect of the
/// table, reported.
pub fn parse_dose_limits(csv_text: &str) -> Result<Vec<DoseLimit>, csv::Error> {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let mut limits = Vec::new();
    for row in reader.deserialize::<DoseRow>() {
        let row = row?;
        let Some(route) = DoseRoute::from_table(&row.route) else {
            tracing::error!(medicine = %row.medicine, route = %row.route, "unknown route in the dose table");
            continue;
        };
        limits.push(DoseLimit {
            medicine: row.medicine.trim().to_lowercase(),
            route,
            max_mg_per_kg_dose: row.max_mg_per_kg_dose,
            max_mg_per_kg_day: row.max_mg_per_kg_day,
            max_mg_dose: row.max_mg_dose,
            max_mg_day: row.max_mg_day,
            usual: row.usual.trim().to_owned(),
            source: row.source.trim().to_owned(),
        });
    }
    Ok(limits)
}

/// The shipped dose table.
pub fn dose_limits() -> &'static [DoseLimit] {
    static LIMITS: OnceLock<Vec<DoseLimit>> = OnceLock::new();
    LIMITS.get_or_init(|| {
        parse_dose_limits(DOSES_CSV).unwrap_or_else(|error| {
            tracing::error!(%error, "the shipped dose table cannot be read");
            Vec::new()
        })
    })
}

/// A number as written: "2", "2.5", "2,5", "½".
fn number(word: &str) -> Option<f64> {
    match word {
        "½" => Some(0.5),
        "¼" => Some(0.25),
        "¾" => Some(0.75),
        "1½" => Some(1.5),
        _ => word
            .replace(',', ".")
            .parse::<f64>()
            .ok()
            .filter(|n| *n >= 0.0),
    }
}

/// A unit a dose or strength is written in.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Unit {
    /// Milligrams, by this factor (g = 1000, microgram = 0.001).
    Mass(f64),
    /// Millilitres.
    Millilitre,
    /// Tablets, capsules, suppositories: units of the strength.
    Piece,
}

fn unit(word: &str) -> Option<Unit> {
    let word = word.trim_end_matches('.');
    match word {
        "mg" | "milligram" | "milligrams" => Some(Unit::Mass(1.0)),
        "g" | "gram" | "grams" | "gm" => Some(Unit::Mass(1000.0)),
        "mcg" | "microgram" | "micrograms" | "µg" | "ug" => Some(Unit::Mass(0.001)),
        "ml" | "millilitre" | "millilitres" | "milliliter" | "milliliters" => {
            Some(Unit::Millilitre)
        }
        "tablet" | "tablets" | "tab" | "tabs" | "capsule" | "capsules" | "cap" | "caps"
        | "suppository" | "suppositories" | "sachet" | "sachets" | "vial" | "vials" | "ampoule"
        | "ampoules" => Some(Unit::Piece),
        _ => None,
    }
}

/// The first "amount unit" of a text ("250 mg", "2.5ml", "1 tablet"), split from its number
/// if written together.
fn amount(text: &str) -> Option<(f64, Unit)> {
    let lowered = text.to_lowercase();
    // "250mg" → "250 mg", "5ml" → "5 ml".
    let mut spaced = String::new();
    let mut previous_digit = false;
    for c in lowered.chars() {
        let digit = c.is_ascii_digit() || c == '.' || c == ',' || "½¼¾".contains(c);
        if previous_digit && !digit && c.is_alphabetic() {
            spaced.push(' ');
        }
        spaced.push(if c == '/' { ' ' } else { c });
        if c == '/' {
            spaced.push_str("per ");
        }
        previous_digit = digit;
    }
    let words: Vec<&str> = spaced.split_whitespace().collect();
    words.windows(2).find_map(|pair| {
        let value = number(pair[0])?;
        Some((value, unit(pair[1])?))
    })
}

/// Milligrams in one unit or one millilitre of a strength: "500 mg" → (500, per unit);
/// "125 mg/5 mL" → (25, per mL); "40 mg/mL" → (40, per mL); "1 g" → (1000, per unit).
fn strength_mg(strength: &str) -> Option<(f64, Unit)> {
    let lowered = strength.to_lowercase();
    let (mass_text, per_text) = match lowered.split_once('/') {
        Some((mass, per)) => (mass.to_owned(), Some(per.trim().to_owned())),
        None => (lowered.clone(), None),
    };
    let (value, Unit::Mass(factor)) = amount(&mass_text)? else {
        return None;
    };
    let mg = value * factor;
    match per_text {
        None => Some((mg, Unit::Piece)),
        Some(per) => {
            let per_amount = if per.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                amount(&per)?
            } else {
                amount(&format!("1 {per}"))?
            };
            match per_amount {
                (ml, Unit::Millilitre) if ml > 0.0 => Some((mg / ml, Unit::Millilitre)),
                _ => None,
            }
        }
    }
}

/// Milligrams in one dose as written, with the strength ("5 mL" of "125 mg/5 mL" is 125 mg;
/// "2 tablets" of "250 mg" is 500 mg; "250 mg" is 250 mg whatever the strength).
pub fn dose_mg(dose: &str, strength: &str) -> Option<f64> {
    let (value, dose_unit) = amount(dose)?;
    match dose_unit {
        Unit::Mass(factor) => Some(value * factor),
        Unit::Millilitre => match strength_mg(strength)? {
            (per_ml, Unit::Millilitre) => Some(value * per_ml),
            _ => None,
        },
        Unit::Piece => match strength_mg(strength)? {
            (per_unit, Unit::Piece) => Some(value * per_unit),
            _ => None,
        },
    }
}

/// Doses a day as a frequency is written ("3 times a day", "tds", "every 8 hours", "twice
/// daily", "once", "nocte"); none when it cannot be read ("as needed").
pub fn doses_per_day(frequency: &str) -> Option<f64> {
    let text = normalise(frequency);
    let words: Vec<&str> = text.split_whitespace().collect();
    let has = |w: &str| words.contains(&w);
    if has("every") || has("q") || text.starts_with('q') && text.ends_with('h') {
        // "every 8 hours", "every 6 h", "q8h".
        let hours = words
            .iter()
            .find_map(|w| number(w.trim_start_matches('q').trim_end_matches('h')))
            .filter(|h| *h > 0.0)?;
        return Some(24.0 / hours);
    }
    if let Some(position) = words.iter().position(|w| *w == "times" || *w == "x") {
        let count = position
            .checked_sub(1)
            .and_then(|i| words.get(i))
            .and_then(|w| number(w).or_else(|| word_number(w)))?;
        return Some(count);
    }
    if has("qds") || has("qid") || has("four") {
        return Some(4.0);
    }
    if has("tds") || has("tid") || has("thrice") || has("three") {
        return Some(3.0);
    }
    if has("bd") || has("bid") || has("twice") || has("two") {
        return Some(2.0);
    }
    if has("od") || has("once") || has("daily") || has("nocte") || has("stat") || has("single") {
        return Some(1.0);
    }
    None
}

fn word_number(word: &str) -> Option<f64> {
    match word {
        "one" => Some(1.0),
        "two" => Some(2.0),
        "three" => Some(3.0),
        "four" => Some(4.0),
        "five" => Some(5.0),
        "six" => Some(6.0),
        _ => None,
    }
}

/// A child's dose above the table's range.
#[derive(Clone, Debug, PartialEq)]
pub struct DoseWarning {
    /// The medicine as prescribed.
    pub medicine: String,
    /// What is too much, in a sentence with the limit and the usual regimen.
    pub message: String,
}

fn format_mg(mg: f64) -> String {
    if mg >= 100.0 {
        format!("{mg:.0} mg")
    } else if mg >= 10.0 {
        format!("{:.1} mg", (mg * 10.0).round() / 10.0).replace(".0 mg", " mg")
    } else {
        format!("{:.2} mg", (mg * 100.0).round() / 100.0).replace(".00 mg", " mg")
    }
}

fn format_number(n: f64) -> String {
    let text = format!("{n:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Whether a child of `weight_kg` is prescribed more than the table allows of this medicine by
/// this route: per dose (per kg, and the adult single dose), and per day when the frequency is
/// readable. None when the medicine, route, dose or strength is not one the table can check.
pub fn dose_warning(prescription: &Prescription, weight_kg: f64) -> Option<DoseWarning> {
    if prescription.as_directed || weight_kg.is_nan() || weight_kg <= 0.0 {
        return None;
    }
    let medicine = medicine_list().find(&prescription.medicine)?;
    let route = DoseRoute::from_prescription(&prescription.route)?;
    let limit = dose_limits()
        .iter()
        .find(|l| l.medicine == medicine.name && l.route == route)?;
    let per_dose = dose_mg(&prescription.dose, &prescription.strength)?;
    let name = prescription.medicine.trim();
    let weight = format_number(weight_kg);
    let mut problems = Vec::new();
    if let Some(per_kg) = limit.max_mg_per_kg_dose {
        let most = per_kg * weight_kg;
        if per_dose > most * 1.000_1 {
            problems.push(format!(
                "{} a dose is {} mg/kg for {weight} kg; at most {} mg/kg ({})",
                format_mg(per_dose),
                format_number(per_dose / weight_kg),
                format_number(per_kg),
                format_mg(most)
            ));
        }
    }
    if let Some(most) = limit.max_mg_dose
        && per_dose > most * 1.000_1
    {
        problems.push(format!(
            "{} a dose is more than the adult dose of {}",
            format_mg(per_dose),
            format_mg(most)
        ));
    }
    if let Some(per_day) = doses_per_day(&prescription.frequency).map(|n| n * per_dose) {
        if let Some(per_kg) = limit.max_mg_per_kg_day {
            let most = per_kg * weight_kg;
            if per_day > most * 1.000_1 {
                problems.push(format!(
                    "{} a day is {} mg/kg/day; at most {} mg/kg/day ({})",
                    format_mg(per_day),
                    format_number(per_day / weight_kg),
                    format_number(per_kg),
                    format_mg(most)
                ));
            }
        }
        if let Some(most) = limit.max_mg_day
            && per_day > most * 1.000_1
        {
            problems.push(format!(
                "{} a day is more than the adult maximum of {}",
                format_mg(per_day),
                format_mg(most)
            ));
        }
    }
    if problems.is_empty() {
        return None;
    }
    Some(DoseWarning {
        medicine: name.to_owned(),
        message: format!(
            "{name}: {}. Usual: {}. Source: {}.",
            problems.join("; "),
            limit.usual,
            limit.source
        ),
    })
}

/// Whether the table has limits for this medicine (by any route): a child's weight is then
/// needed to check its dose.
pub fn has_dose_limits(medicine: &str) -> bool {
    medicine_list()
        .find(medicine)
        .is_some_and(|m| dose_limits().iter().any(|l| l.medicine == m.name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PatientId;

    fn allergy(substance: &str) -> Allergy {
        let mut a = Allergy::new(PatientId::new(), substance);
        a.reaction = "rash".into();
        a
    }

    fn prescribing(medicine: &str) -> Prescription {
        Prescription {
            medicine: medicine.into(),
            ..Prescription::default()
        }
    }

    fn kinds(medicine: &str, substance: &str) -> Vec<AlertKind> {
        allergy_alerts(&prescribing(medicine), &[allergy(substance)])
            .into_iter()
            .map(|a| a.kind)
            .collect()
    }

    #[test]
    fn penicillin_allergy_alerts_on_every_penicillin_and_notes_cephalosporins() {
        assert_eq!(
            kinds("Amoxicillin", "Penicillin"),
            [AlertKind::Class(DrugClass::Penicillin)]
        );
        assert_eq!(
            kinds("Co-amoxiclav", "penicillins"),
            [AlertKind::Class(DrugClass::Penicillin)]
        );
        assert_eq!(
            kinds("Cloxacillin", "PCN"),
            [AlertKind::Class(DrugClass::Penicillin)]
        );
        let cefalexin = allergy_alerts(&prescribing("Cefalexin"), &[allergy("Penicillin")]);
        assert_eq!(
            cefalexin[0].kind,
            AlertKind::CrossReactive {
                allergy: DrugClass::Penicillin,
                medicine: DrugClass::Cephalosporin
            }
        );
        assert!(cefalexin[0].message().contains("1–2 %"));
        assert!(kinds("Paracetamol", "Penicillin").is_empty());
        assert!(kinds("Azithromycin", "Penicillin").is_empty());
    }

    #[test]
    fn substance_class_and_free_text_allergies() {
        assert_eq!(
            kinds("Amoxicillin + clavulanic acid", "amoxicillin"),
            [AlertKind::Substance]
        );
        // An allergy to one penicillin alerts on the others, by class.
        assert_eq!(
            kinds("Ampicillin", "Amoxicillin"),
            [AlertKind::Class(DrugClass::Penicillin)]
        );
        assert_eq!(
            kinds("Cotrimoxazole", "Sulfa drugs"),
            [AlertKind::Class(DrugClass::SulfonamideAntibacterial)]
        );
        assert!(kinds("Furosemide", "Sulfa").is_empty());
        assert_eq!(
            kinds("Ibuprofen", "Aspirin"),
            [AlertKind::Class(DrugClass::Nsaid)]
        );
        assert_eq!(
            kinds("Diclofenac", "NSAIDs"),
            [AlertKind::Class(DrugClass::Nsaid)]
        );
        assert_eq!(
            kinds("Carbamazepine", "Phenytoin"),
            [AlertKind::Class(DrugClass::AromaticAnticonvulsant)]
        );
        // A medicine not on the list, named by the allergy.
        assert_eq!(kinds("Zincovit syrup", "zincovit"), [AlertKind::Substance]);
        assert!(kinds("Vitamin A", "Bee stings").is_empty());
    }

    #[test]
    fn an_answer_covers_the_allergies_it_names_and_an_inactive_allergy_is_quiet() {
        let mut encounter = Encounter::new_draft(PatientId::new(), "Dr A", chrono::Utc::now());
        let mut line = prescribing("Amoxicillin");
        encounter.prescriptions.push(line.clone());
        let penicillin = allergy("Penicillin");
        assert_eq!(
            unanswered_alerts(&encounter, std::slice::from_ref(&penicillin)).len(),
            1
        );
        line.allergy_override = Some(crate::model::AllergyOverride {
            medicine: "amoxicillin".into(),
            reason: "Rash only, 10 years ago; no alternative in stock".into(),
            allergies: vec!["penicillin".into()],
        });
        encounter.prescriptions[0] = line.clone();
        assert!(unanswered_alerts(&encounter, std::slice::from_ref(&penicillin)).is_empty());
        // A second allergy recorded later alerts again.
        let cephalosporin = allergy("Cephalosporins");
        assert_eq!(
            unanswered_alerts(&encounter, &[penicillin.clone(), cephalosporin]).len(),
            1
        );
        // Another medicine in the line is asked about again.
        encounter.prescriptions[0].medicine = "Ampicillin".into();
        assert_eq!(
            unanswered_alerts(&encounter, std::slice::from_ref(&penicillin)).len(),
            1
        );
        encounter.prescriptions[0].medicine = "Amoxicillin".into();
        // A blank reason answers nothing.
        encounter.prescriptions[0]
            .allergy_override
            .as_mut()
            .unwrap()
            .reason = "  ".into();
        assert_eq!(
            unanswered_alerts(&encounter, std::slice::from_ref(&penicillin)).len(),
            1
        );
        let mut inactive = penicillin;
        inactive.active = false;
        assert!(unanswered_alerts(&encounter, &[inactive]).is_empty());
    }

    #[test]
    fn doses_are_read_from_dose_strength_and_frequency() {
        assert_eq!(dose_mg("5 mL", "125 mg/5 mL"), Some(125.0));
        assert_eq!(dose_mg("7.5ml", "250mg/5ml"), Some(375.0));
        assert_eq!(dose_mg("2 tablets", "250 mg"), Some(500.0));
        assert_eq!(dose_mg("½ tab", "500 mg"), Some(250.0));
        assert_eq!(dose_mg("1 g", ""), Some(1000.0));
        assert_eq!(dose_mg("400 mg", "200 mg"), Some(400.0));
        assert_eq!(dose_mg("2 mL", "40 mg/mL"), Some(80.0));
        assert_eq!(dose_mg("1 tablet", "125 mg/5 mL"), None);
        assert_eq!(dose_mg("a spoonful", "125 mg/5 mL"), None);
        assert_eq!(doses_per_day("3 times a day"), Some(3.0));
        assert_eq!(doses_per_day("TDS"), Some(3.0));
        assert_eq!(doses_per_day("every 6 hours"), Some(4.0));
        assert_eq!(doses_per_day("q8h"), Some(3.0));
        assert_eq!(doses_per_day("twice daily"), Some(2.0));
        assert_eq!(doses_per_day("once a day"), Some(1.0));
        assert_eq!(doses_per_day("as needed"), None);
    }

    #[test]
    fn a_child_dose_above_the_range_warns_and_one_within_does_not() {
        let amoxicillin = |dose: &str, frequency: &str| Prescription {
            medicine: "Amoxicillin".into(),
            strength: "250 mg/5 mL".into(),
            dose: dose.into(),
            route: "oral".into(),
            frequency: frequency.into(),
            duration: "5 days".into(),
            ..Prescription::default()
        };
        // 10 kg: 40 mg/kg twice a day is 400 mg a dose, 8 mL.
        assert_eq!(
            dose_warning(&amoxicillin("8 mL", "twice a day"), 10.0),
            None
        );
        // Ten times that (a misplaced decimal) warns, naming the limit.
        let warning = dose_warning(&amoxicillin("80 mL", "twice a day"), 10.0).unwrap();
        assert!(
            warning.message.contains("4000 mg a dose"),
            "{}",
            warning.message
        );
        assert!(warning.message.contains("mg/kg"), "{}", warning.message);
        // Not on the table, not readable, or as directed: nothing to say.
        let mut other = amoxicillin("80 mL", "twice a day");
        other.medicine = "Gripe water".into();
        assert_eq!(dose_warning(&other, 10.0), None);
        assert_eq!(
            dose_warning(&amoxicillin("a spoonful", "twice a day"), 10.0),
            None
        );
        let paracetamol = Prescription {
            medicine: "Paracetamol".into(),
            strength: "500 mg".into(),
            dose: "1 tablet".into(),
            route: "oral".into(),
            frequency: "4 times a day".into(),
            ..Prescription::default()
        };
        // 500 mg for 8 kg is 62.5 mg/kg a dose.
        assert!(dose_warning(&paracetamol, 8.0).is_some());
        assert_eq!(dose_warning(&paracetamol, 40.0), None);
    }

    #[test]
    fn the_shipped_dose_table_names_medicines_of_the_list() {
        let limits = parse_dose_limits(DOSES_CSV).unwrap();
        assert!(limits.len() >= 20, "{}", limits.len());
        for limit in &limits {
            assert!(
                medicine_list().find(&limit.medicine).is_some(),
                "{} is not on the medicine list",
                limit.medicine
            );
            assert!(
                limit.max_mg_per_kg_dose.is_some() || limit.max_mg_per_kg_day.is_some(),
                "{} has no limit per kg",
                limit.medicine
            );
        }
    }
}
