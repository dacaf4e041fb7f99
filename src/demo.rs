//! A reproducible synthetic population for demonstrations and benchmarks: patients from several
//! regions with names in their own scripts, each with a few visits carrying plausible vitals,
//! diagnoses and prescriptions. The same seed always gives the same people.

use crate::model::{
    Allergy, AllergySeverity, AllergyStatus, DateOfBirth, Diagnosis, Encounter, EncounterKind,
    EncounterStatus, LabResult, NextOfKin, Patient, Prescription, Problem, ProblemId,
    ProblemStatus, Sex, Vitals,
};
use crate::store::{Store, StoreError};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use std::ops::RangeInclusive;

/// What to generate.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// How many patients.
    pub patients: usize,
    /// How many visits each patient gets (inclusive range).
    pub visits: RangeInclusive<usize>,
    /// Seed of the generator: the same seed gives the same population.
    pub seed: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            patients: 2_000,
            visits: 3..=10,
            seed: 20_261_123,
        }
    }
}

/// What was generated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DemoSummary {
    /// Patients written.
    pub patients: usize,
    /// Visits written.
    pub visits: usize,
}

/// A region's names: (given names of women, of men, family names, villages), each name as written
/// in the region's script with a Latin transliteration where the script is not Latin.
struct Region {
    women: &'static [(&'static str, &'static str)],
    men: &'static [(&'static str, &'static str)],
    families: &'static [(&'static str, &'static str)],
    /// The men's forms of `families`, in the same order, where they differ (Иванова, Иванов).
    men_families: Option<&'static [(&'static str, &'static str)]>,
    villages: &'static [&'static str],
    phone_prefix: &'static str,
    /// True where the family name is written first (Chinese).
    family_first: bool,
}

const REGIONS: &[Region] = &[
    Region {
        women: &[
            ("Amina", ""),
            ("Wanjiru", ""),
            ("Achieng", ""),
            ("Neema", ""),
            ("Zawadi", ""),
            ("Chebet", ""),
            ("Halima", ""),
            ("Nyokabi", ""),
        ],
        men: &[
            ("Baraka", ""),
            ("Otieno", ""),
            ("Juma", ""),
            ("Kiprono", ""),
            ("Mwangi", ""),
            ("Hassan", ""),
            ("Kamau", ""),
            ("Omondi", ""),
        ],
        families: &[
            ("Odhiambo", ""),
            ("Njoroge", ""),
            ("Kamau", ""),
            ("Wekesa", ""),
            ("Mutua", ""),
            ("Ochieng", ""),
            ("Kiplagat", ""),
            ("Mwakilema", ""),
            ("Atieno", ""),
            ("Barasa", ""),
        ],
        men_families: None,
        villages: &[
            "Kakamega",
            "Bungoma",
            "Siaya",
            "Kisumu Ndogo",
            "Nyahururu",
            "Eldama Ravine",
            "Malindi",
            "Voi",
        ],
        phone_prefix: "+254 7",
        family_first: false,
    },
    Region {
        women: &[
            ("María", ""),
            ("Sofía", ""),
            ("Lucía", ""),
            ("Ana", ""),
            ("Inés", ""),
            ("Guadalupe", ""),
            ("Verónica", ""),
        ],
        men: &[
            ("José", ""),
            ("Andrés", ""),
            ("Luis", ""),
            ("Jesús", ""),
            ("Raúl", ""),
            ("Martín", ""),
            ("Tomás", ""),
        ],
        families: &[
            ("García", ""),
            ("Pérez", ""),
            ("Rodríguez", ""),
            ("Gómez", ""),
            ("Hernández", ""),
            ("Núñez", ""),
            ("Álvarez", ""),
            ("Muñoz", ""),
            ("Quispe", ""),
            ("Mamani", ""),
        ],
        men_families: None,
        villages: &[
            "San Andrés",
            "Santa Cruz",
            "Peñas Blancas",
            "Río Frío",
            "La Unión",
            "Achacachi",
        ],
        phone_prefix: "+591 7",
        family_first: false,
    },
    Region {
        women: &[
            ("Мария", "Maria"),
            ("Ольга", "Olga"),
            ("Наталья", "Natalya"),
            ("Анна", "Anna"),
            ("Елена", "Elena"),
        ],
        men: &[
            ("Алексей", "Aleksei"),
            ("Иван", "Ivan"),
            ("Дмитрий", "Dmitrii"),
            ("Сергей", "Sergei"),
            ("Николай", "Nikolai"),
        ],
        families: &[
            ("Иванова", "Ivanova"),
            ("Петрова", "Petrova"),
            ("Смирнова", "Smirnova"),
            ("Кузнецова", "Kuznetsova"),
            ("Попова", "Popova"),
            ("Соколова", "Sokolova"),
        ],
        men_families: Some(&[
            ("Иванов", "Ivanov"),
            ("Петров", "Petrov"),
            ("Смирнов", "Smirnov"),
            ("Кузнецов", "Kuznetsov"),
            ("Попов", "Popov"),
            ("Соколов", "Sokolov"),
        ]),
        villages: &["Берёзовка", "Сосновка", "Ивановка", "Покровское"],
        phone_prefix: "+7 9",
        family_first: false,
    },
    Region {
        women: &[
            ("Μαρία", "Maria"),
            ("Ελένη", "Eleni"),
            ("Αικατερίνη", "Aikaterini"),
            ("Σοφία", "Sofia"),
        ],
        men: &[
            ("Γιώργος", "Giorgos"),
            ("Δημήτρης", "Dimitris"),
            ("Νίκος", "Nikos"),
            ("Κώστας", "Kostas"),
        ],
        families: &[
            ("Παπαδοπούλου", "Papadopoulou"),
            ("Οικονόμου", "Oikonomou"),
            ("Γεωργίου", "Georgiou"),
            ("Νικολάου", "Nikolaou"),
            ("Βασιλείου", "Vasileiou"),
        ],
        men_families: Some(&[
            ("Παπαδόπουλος", "Papadopoulos"),
            ("Οικονόμου", "Oikonomou"),
            ("Γεωργίου", "Georgiou"),
            ("Νικολάου", "Nikolaou"),
            ("Βασιλείου", "Vasileiou"),
        ]),
        villages: &["Άγιος Νικόλαος", "Καλαμπάκα", "Μέτσοβο", "Ζαγορά"],
        phone_prefix: "+30 69",
        family_first: false,
    },
    Region {
        women: &[
            ("فاطمة", "Fatima"),
            ("عائشة", "Aisha"),
            ("مريم", "Maryam"),
            ("زينب", "Zainab"),
            ("خديجة", "Khadija"),
        ],
        men: &[
            ("محمد", "Mohammed"),
            ("أحمد", "Ahmed"),
            ("علي", "Ali"),
            ("يوسف", "Youssef"),
            ("عمر", "Omar"),
        ],
        families: &[
            ("الحسن", "Al-Hassan"),
            ("عبدالله", "Abdallah"),
            ("إبراهيم", "Ibrahim"),
            ("الزين", "Al-Zein"),
            ("عثمان", "Osman"),
        ],
        men_families: None,
        villages: &["Kassala", "Ed Damer", "Atbara", "Kosti"],
        phone_prefix: "+249 9",
        family_first: false,
    },
    Region {
        women: &[
            ("प्रिया", "Priya"),
            ("सुनीता", "Sunita"),
            ("अनीता", "Anita"),
            ("पूजा", "Pooja"),
            ("लक्ष्मी", "Lakshmi"),
        ],
        men: &[
            ("राजेश", "Rajesh"),
            ("अमित", "Amit"),
            ("सुरेश", "Suresh"),
            ("विजय", "Vijay"),
            ("राम", "Ram"),
        ],
        families: &[
            ("शर्मा", "Sharma"),
            ("पटेल", "Patel"),
            ("कुमार", "Kumar"),
            ("यादव", "Yadav"),
            ("देवी", "Devi"),
            ("सिंह", "Singh"),
        ],
        men_families: None,
        villages: &["Rampur", "Sitapur", "Barabanki", "Chandauli", "Bahraich"],
        phone_prefix: "+91 9",
        family_first: false,
    },
    Region {
        women: &[
            ("娜", "Na"),
            ("静", "Jing"),
            ("敏", "Min"),
            ("芳", "Fang"),
            ("丽", "Li"),
        ],
        men: &[
            ("伟", "Wei"),
            ("磊", "Lei"),
            ("洋", "Yang"),
            ("强", "Qiang"),
            ("军", "Jun"),
        ],
        families: &[
            ("王", "Wang"),
            ("李", "Li"),
            ("张", "Zhang"),
            ("刘", "Liu"),
            ("陈", "Chen"),
            ("杨", "Yang"),
        ],
        men_families: None,
        villages: &["Lijiang", "Dali", "Xishuangbanna", "Baoshan"],
        phone_prefix: "+86 13",
        family_first: true,
    },
];

/// (ICD-10 code, title, chance weight, who: 0 anyone, 1 adults, 2 children, 3 pregnant women).
const DIAGNOSES: &[(&str, &str, u32, u8)] = &[
    ("B54", "Unspecified malaria", 12, 0),
    ("B50.9", "Plasmodium falciparum malaria, unspecified", 6, 0),
    (
        "J06.9",
        "Acute upper respiratory infection, unspecified",
        16,
        0,
    ),
    ("J18.9", "Pneumonia, unspecified organism", 5, 0),
    (
        "A09",
        "Infectious gastroenteritis and colitis, unspecified",
        10,
        0,
    ),
    ("I10", "Essential (primary) hypertension", 9, 1),
    (
        "E11.9",
        "Type 2 diabetes mellitus without complications",
        6,
        1,
    ),
    ("N39.0", "Urinary tract infection, site not specified", 7, 0),
    ("L03.90", "Cellulitis, unspecified", 3, 0),
    ("K29.70", "Gastritis, unspecified, without bleeding", 5, 1),
    ("M54.50", "Low back pain, unspecified", 5, 1),
    ("H10.9", "Unspecified conjunctivitis", 3, 0),
    ("L30.9", "Dermatitis, unspecified", 4, 0),
    ("E44.0", "Moderate protein-calorie malnutrition", 2, 2),
    (
        "Z00.129",
        "Encounter for routine child health examination without abnormal findings",
        6,
        2,
    ),
    (
        "Z34.90",
        "Encounter for supervision of normal pregnancy, unspecified, unspecified trimester",
        6,
        3,
    ),
];

/// Medicines with strength, dose, route, frequency, duration and quantity, by the code they treat.
const MEDICINES: &[(&str, [&str; 7])] = &[
    (
        "B54",
        [
            "Artemether/lumefantrine",
            "20/120 mg",
            "4 tablets",
            "oral",
            "twice a day",
            "3 days",
            "24",
        ],
    ),
    (
        "B50.9",
        [
            "Artemether/lumefantrine",
            "20/120 mg",
            "4 tablets",
            "oral",
            "twice a day",
            "3 days",
            "24",
        ],
    ),
    (
        "J06.9",
        [
            "Paracetamol",
            "500 mg",
            "2 tablets",
            "oral",
            "3 times a day",
            "3 days",
            "18",
        ],
    ),
    (
        "J18.9",
        [
            "Amoxicillin",
            "500 mg",
            "1 capsule",
            "oral",
            "3 times a day",
            "5 days",
            "15",
        ],
    ),
    (
        "A09",
        [
            "Oral rehydration salts",
            "20.5 g sachet",
            "1 sachet in 1 L water",
            "oral",
            "after each loose stool",
            "3 days",
            "6",
        ],
    ),
    (
        "I10",
        [
            "Amlodipine",
            "5 mg",
            "1 tablet",
            "oral",
            "once a day",
            "30 days",
            "30",
        ],
    ),
    (
        "E11.9",
        [
            "Metformin",
            "500 mg",
            "1 tablet",
            "oral",
            "twice a day",
            "30 days",
            "60",
        ],
    ),
    (
        "N39.0",
        [
            "Nitrofurantoin",
            "100 mg",
            "1 capsule",
            "oral",
            "twice a day",
            "5 days",
            "10",
        ],
    ),
    (
        "L03.90",
        [
            "Flucloxacillin",
            "500 mg",
            "1 capsule",
            "oral",
            "4 times a day",
            "7 days",
            "28",
        ],
    ),
    (
        "K29.70",
        [
            "Omeprazole",
            "20 mg",
            "1 capsule",
            "oral",
            "once a day",
            "14 days",
            "14",
        ],
    ),
    (
        "M54.50",
        [
            "Ibuprofen",
            "400 mg",
            "1 tablet",
            "oral",
            "3 times a day with food",
            "5 days",
            "15",
        ],
    ),
    (
        "H10.9",
        [
            "Chloramphenicol eye drops",
            "0.5%",
            "1 drop",
            "eye",
            "4 times a day",
            "5 days",
            "1",
        ],
    ),
    (
        "Z34.90",
        [
            "Ferrous sulfate + folic acid",
            "200 mg/0.4 mg",
            "1 tablet",
            "oral",
            "once a day",
            "30 days",
            "30",
        ],
    ),
];

const COMPLAINTS: &[&str] = &[
    "Fever and headache for 3 days",
    "Cough and runny nose",
    "Diarrhoea since yesterday",
    "Painful urination",
    "Follow-up of blood pressure",
    "Routine check",
    "Back pain after lifting",
    "Red, itchy eyes",
    "Skin rash on the arms",
    "Abdominal pain after meals",
];

const CLINICIANS: &[&str] = &[
    "Dr Amina Odhiambo",
    "Nurse Peter Wekesa",
    "Dr Lucía Quispe",
    "Clinical Officer Ravi Kumar",
];

fn pick<'a, T>(rng: &mut fastrand::Rng, items: &'a [T]) -> &'a T {
    // The tables above are non-empty constants.
    &items[rng.usize(..items.len())]
}

/// The family name at `index` of a region, in the form for a man or a woman.
fn family_form(region: &Region, index: usize, man: bool) -> (&'static str, &'static str) {
    let forms = match region.men_families {
        Some(men) if man => men,
        _ => region.families,
    };
    forms
        .get(index)
        .or(region.families.first())
        .copied()
        .unwrap_or(("", ""))
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// Vitals typical for the age, with an occasional abnormal finding.
fn vitals_for(
    rng: &mut fastrand::Rng,
    age_years: f64,
    adult_build: (f64, f64),
    fever: bool,
    hypertensive: bool,
) -> Vitals {
    let child = age_years < 12.0;
    let weight = if age_years < 1.0 {
        3.3 + age_years * 6.0
    } else if child {
        8.0 + age_years * 2.6
    } else {
        adult_build.0
    };
    let height = if age_years < 1.0 {
        50.0 + age_years * 25.0
    } else if child {
        75.0 + age_years * 6.0
    } else {
        adult_build.1
    };
    let (sys, dia) = if hypertensive {
        (140.0 + rng.f64() * 30.0, 88.0 + rng.f64() * 14.0)
    } else {
        (105.0 + rng.f64() * 25.0, 65.0 + rng.f64() * 15.0)
    };
    Vitals {
        temperature_c: Some(round1(if fever {
            38.0 + rng.f64() * 1.8
        } else {
            36.2 + rng.f64() * 1.0
        })),
        pulse_bpm: Some(
            (if child { 90.0 } else { 64.0 } + rng.f64() * 30.0 + if fever { 15.0 } else { 0.0 })
                .round(),
        ),
        respiratory_rate: Some((if child { 22.0 } else { 14.0 } + rng.f64() * 6.0).round()),
        systolic_mmhg: (!child).then(|| sys.round()),
        diastolic_mmhg: (!child).then(|| dia.round()),
        spo2_percent: Some((95.0 + rng.f64() * 4.0).round()),
        weight_kg: Some(round1(weight * (0.97 + rng.f64() * 0.06))),
        height_cm: Some(height.round()),
        muac_mm: (0.5..5.0)
            .contains(&age_years)
            .then(|| (120.0 + rng.f64() * 40.0).round()),
    }
}

/// Writes a synthetic population into `store`, reporting `progress(done, total)` after each
/// batch of patients. Patients are written a thousand per transaction.
pub fn generate(
    store: &mut Store,
    options: &DemoOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<DemoSummary, StoreError> {
    let mut rng = fastrand::Rng::with_seed(options.seed);
    let now = Utc::now();
    let today = now.date_naive();
    let mut summary = DemoSummary::default();
    let clinic = store.clinic_id();
    let total = options.patients;
    let (min_visits, max_visits) = (*options.visits.start(), *options.visits.end());
    while summary.patients < total {
        let chunk = (total - summary.patients).min(1_000);
        let mut batch = store.batch()?;
        for _ in 0..chunk {
            let region = pick(&mut rng, REGIONS);
            let sex = if rng.bool() { Sex::Female } else { Sex::Male };
            let given_names = if sex == Sex::Female {
                region.women
            } else {
                region.men
            };
            let given = pick(&mut rng, given_names);
            let family_index = rng.usize(..region.families.len());
            let family = family_form(region, family_index, sex == Sex::Male);
            let age_days = if rng.u8(..10) == 0 {
                rng.i64(1..5 * 365)
            } else {
                rng.i64(5 * 365..85 * 365)
            };
            let birth_date = today - Duration::days(age_days);
            let estimated = age_days > 30 * 365 && rng.u8(..6) == 0;
            let mut patient = Patient::blank(clinic);
            patient.given_name = given.0.to_owned();
            patient.family_name = family.0.to_owned();
            let transliteration = match (given.1, family.1) {
                ("", "") => String::new(),
                (g, f) if region.family_first => format!("{f} {g}"),
                (g, f) => format!("{g} {f}"),
            };
            patient.other_script_name = transliteration;
            patient.sex = sex;
            patient.birth = Some(if estimated {
                DateOfBirth::estimated_from_age((age_days / 365) as u32, today)
                    .unwrap_or(DateOfBirth::exact(birth_date))
            } else {
                DateOfBirth::exact(birth_date)
            });
            patient.phone = format!(
                "{}{:02} {:03} {:03}",
                region.phone_prefix,
                rng.u32(10..100),
                rng.u32(0..1000),
                rng.u32(0..1000)
            );
            patient.village = (*pick(&mut rng, region.villages)).to_owned();
            if rng.u8(..3) == 0 {
                patient.national_id = format!("{:08}", rng.u32(10_000_000..100_000_000));
            }
            let kin_is_man = rng.bool();
            let kin_names = if kin_is_man { region.men } else { region.women };
            let kin_given = pick(&mut rng, kin_names);
            let kin_family = family_form(region, family_index, kin_is_man);
            patient.next_of_kin = NextOfKin {
                name: if region.family_first {
                    format!("{}{}", kin_family.0, kin_given.0)
                } else {
                    format!("{} {}", kin_given.0, kin_family.0)
                },
                phone: format!(
                    "{}{:02} {:03} {:03}",
                    region.phone_prefix,
                    rng.u32(10..100),
                    rng.u32(0..1000),
                    rng.u32(0..1000)
                ),
            };
            let patient = batch.register_patient(patient)?;
            summary.patients += 1;

            let age_years = age_days as f64 / 365.25;
            let mut allergies: Vec<Allergy> = Vec::new();
            match rng.u8(..10) {
                0 => {
                    let substance = *pick(
                        &mut rng,
                        &[
                            "Penicillin",
                            "Sulfonamides",
                            "Aspirin",
                            "Peanuts",
                            "Chloroquine",
                        ],
                    );
                    let mut allergy = Allergy::new(patient.patient_id, substance);
                    allergy.reaction = (*pick(
                        &mut rng,
                        &["Rash", "Hives", "Swelling of the face", "Anaphylaxis"],
                    ))
                    .to_owned();
                    allergy.severity = if allergy.reaction == "Anaphylaxis" {
                        AllergySeverity::Severe
                    } else {
                        AllergySeverity::Moderate
                    };
                    batch.insert_allergy(&allergy)?;
                    batch.set_allergy_status(&patient, AllergyStatus::Recorded)?;
                    allergies.push(allergy);
                }
                1..=5 => batch.set_allergy_status(&patient, AllergyStatus::NoKnownAllergies)?,
                _ => {}
            }
            let hypertensive = age_years > 40.0 && rng.u8(..4) == 0;
            // An adult's weight and height stay about the same from visit to visit.
            let adult_build = (52.0 + rng.f64() * 30.0, 150.0 + rng.f64() * 30.0);
            if hypertensive {
                batch.insert_problem(&Problem {
                    problem_id: ProblemId::new(),
                    patient_id: patient.patient_id,
                    code: Some("I10".to_owned()),
                    title: "Essential (primary) hypertension".to_owned(),
                    onset: NaiveDate::from_yo_opt(today.year() - rng.i32(1..10), 1),
                    status: ProblemStatus::Active,
                })?;
            }

            let visits = rng.usize(min_visits..=max_visits);
            let span_days = (age_days - 1).clamp(1, 3 * 365);
            let mut starts: Vec<DateTime<Utc>> = (0..visits)
                .map(|_| {
                    now - Duration::days(rng.i64(0..span_days)) - Duration::minutes(rng.i64(0..600))
                })
                .collect();
            starts.sort();
            for (index, started_at) in starts.into_iter().enumerate() {
                let visit_age = age_years - (now - started_at).num_days() as f64 / 365.25;
                let eligible: Vec<&(&str, &str, u32, u8)> = DIAGNOSES
                    .iter()
                    .filter(|d| match d.3 {
                        1 => visit_age >= 18.0,
                        2 => visit_age < 5.0,
                        3 => sex == Sex::Female && (18.0..42.0).contains(&visit_age),
                        _ => true,
                    })
                    .collect();
                let weight_total: u32 = eligible.iter().map(|d| d.2).sum();
                let mut roll = rng.u32(0..weight_total.max(1));
                let mut chosen = eligible.first().copied();
                for d in &eligible {
                    if roll < d.2 {
                        chosen = Some(d);
                        break;
                    }
                    roll -= d.2;
                }
                let Some(&(code, title, _, _)) = chosen else {
                    continue;
                };
                let clinician = *pick(&mut rng, CLINICIANS);
                let mut visit = Encounter::new_draft(patient.patient_id, clinician, started_at);
                visit.kind = match code {
                    "Z34.90" => EncounterKind::Antenatal,
                    "Z00.129" => EncounterKind::ChildWellness,
                    "I10" | "E11.9" if index > 0 => EncounterKind::FollowUp,
                    _ if rng.u8(..40) == 0 => EncounterKind::Emergency,
                    _ => EncounterKind::Outpatient,
                };
                let fever = matches!(code, "B54" | "B50.9" | "J18.9") || rng.u8(..12) == 0;
                visit.vitals = vitals_for(
                    &mut rng,
                    visit_age.max(0.05),
                    adult_build,
                    fever,
                    hypertensive || code == "I10",
                );
                visit.chief_complaint = match code {
                    "B54" | "B50.9" => COMPLAINTS[0],
                    "J06.9" | "J18.9" => COMPLAINTS[1],
                    "A09" => COMPLAINTS[2],
                    "N39.0" => COMPLAINTS[3],
                    "I10" => COMPLAINTS[4],
                    "Z00.129" | "Z34.90" => COMPLAINTS[5],
                    "M54.50" => COMPLAINTS[6],
                    "H10.9" => COMPLAINTS[7],
                    "L30.9" | "L03.90" => COMPLAINTS[8],
                    _ => COMPLAINTS[9],
                }
                .to_owned();
                visit.examination = if fever {
                    "Febrile, alert, well hydrated."
                } else {
                    "Alert, no distress."
                }
                .to_owned();
                visit.diagnoses.push(Diagnosis {
                    code: Some(code.to_owned()),
                    title: title.to_owned(),
                    primary: true,
                });
                if let Some((
                    _,
                    [
                        medicine,
                        strength,
                        dose,
                        route,
                        frequency,
                        duration,
                        quantity,
                    ],
                )) = MEDICINES.iter().find(|m| m.0 == code)
                {
                    let line = Prescription {
                        medicine: (*medicine).to_owned(),
                        strength: (*strength).to_owned(),
                        dose: (*dose).to_owned(),
                        route: (*route).to_owned(),
                        frequency: (*frequency).to_owned(),
                        duration: (*duration).to_owned(),
                        quantity: (*quantity).to_owned(),
                        instructions: String::new(),
                        as_directed: false,
                        allergy_override: None,
                    };
                    // A clinician does not prescribe what the patient is allergic to.
                    if crate::model::allergy_alerts(&line, &allergies).is_empty() {
                        visit.prescriptions.push(line);
                    }
                }
                if matches!(code, "B54" | "B50.9") {
                    visit.lab_results.push(LabResult {
                        test: "Malaria RDT".into(),
                        value: "Positive".into(),
                        unit: String::new(),
                        abnormal: true,
                    });
                }
                visit.plan = "Review if not better in 3 days.".to_owned();
                let last = index + 1 == visits;
                // The most recent visit of some patients is still a draft, as in a working clinic.
                if !(last && rng.u8(..8) == 0) {
                    visit.status = EncounterStatus::Signed {
                        signed_by: clinician.to_owned(),
                        signed_at: started_at + Duration::minutes(rng.i64(10..60)),
                        signer_id: None,
                        signer_role: Some(crate::model::Role::Clinician),
                    };
                }
                batch.insert_encounter(&visit)?;
                summary.visits += 1;
            }
        }
        batch.commit()?;
        progress(summary.patients, total);
    }
    store.optimize()?;
    Ok(summary)
}

/// A duplicate planted by [`plant_duplicates`]: the patient copied and the second record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlantedDuplicate {
    /// The patient already registered.
    pub original: crate::model::PatientId,
    /// The same person registered again, with the kinds of differences a second registration
    /// has.
    pub duplicate: crate::model::PatientId,
}

/// A name as a hurried clerk may type it again: two letters swapped, one dropped, or one
/// doubled.
fn misspelt(rng: &mut fastrand::Rng, name: &str) -> String {
    let mut chars: Vec<char> = name.chars().collect();
    if chars.len() < 4 {
        return name.to_owned();
    }
    let at = rng.usize(1..chars.len() - 1);
    match rng.u8(..3) {
        0 => chars.swap(at, at + 1),
        1 => {
            chars.remove(at);
        }
        _ => {
            let c = chars[at];
            chars.insert(at, c);
        }
    }
    chars.into_iter().collect()
}

/// Registers `count` patients a second time, each copied from a random patient of the store with
/// one to three of the differences a second registration brings: a misspelt family or given name,
/// the names the other way round, an estimated age for the birth date (or day and month swapped,
/// or none), the phone written another way or left out, the village left out, the name in another
/// script and the national ID left out. Returns each original with its duplicate.
pub fn plant_duplicates(
    store: &mut Store,
    count: usize,
    seed: u64,
) -> Result<Vec<PlantedDuplicate>, StoreError> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let today = Utc::now().date_naive();
    let rowids = store.patient_order(crate::store::PatientSort::Name, false)?;
    let mut planted = Vec::new();
    if rowids.is_empty() {
        return Ok(planted);
    }
    let mut chosen = std::collections::HashSet::new();
    let mut batch_patients = Vec::new();
    while batch_patients.len() < count.min(rowids.len()) {
        let rowid = rowids[rng.usize(..rowids.len())];
        if !chosen.insert(rowid) {
            continue;
        }
        let Some(row) = store.patient_rows(&[rowid])?.into_iter().next() else {
            continue;
        };
        let original = store.patient(row.patient_id)?;
        let mut copy = original.clone();
        copy.patient_id = crate::model::PatientId::new();
        copy.number = None;
        copy.next_of_kin = NextOfKin::default();
        copy.notes = String::new();
        for _ in 0..rng.usize(1..=3) {
            match rng.u8(..8) {
                0 => copy.family_name = misspelt(&mut rng, &copy.family_name),
                1 => copy.given_name = misspelt(&mut rng, &copy.given_name),
                2 => std::mem::swap(&mut copy.given_name, &mut copy.family_name),
                3 => {
                    copy.birth = copy.birth.and_then(|b| {
                        let years = crate::model::age_on(b.date, today).map_or(0, |a| a.0);
                        DateOfBirth::estimated_from_age(years + rng.u32(0..2), today)
                    });
                }
                4 => {
                    copy.birth = copy.birth.map(|b| {
                        b.date
                            .with_day(b.date.month())
                            .and_then(|d| d.with_month(b.date.day()))
                            .map_or(b, DateOfBirth::exact)
                    });
                }
                5 => {
                    // Written without the country code, or not given this time.
                    let digits = crate::model::digits_of(&copy.phone);
                    copy.phone = if rng.bool() && digits.len() > 9 {
                        format!("0{}", &digits[digits.len() - 9..])
                    } else {
                        String::new()
                    };
                }
                6 => copy.village = String::new(),
                _ => {
                    copy.other_script_name = String::new();
                    copy.national_id = String::new();
                }
            }
        }
        batch_patients.push((original.patient_id, copy));
    }
    let mut batch = store.batch()?;
    for (original, copy) in batch_patients {
        let saved = batch.register_patient(copy)?;
        planted.push(PlantedDuplicate {
            original,
            duplicate: saved.patient_id,
        });
    }
    batch.commit()?;
    Ok(planted)
}

/// One demo account: who, and the password printed for them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoAccount {
    /// The role the account demonstrates.
    pub role: crate::model::Role,
    /// What to type as the user name.
    pub user_name: &'static str,
    /// The account's full name.
    pub full_name: &'static str,
    /// What to type as the password (printed; a demo has nothing to protect).
    pub password: &'static str,
}

/// The demo's accounts, one for each role; the clinician is the one the demo visits name.
pub const DEMO_ACCOUNTS: [DemoAccount; 4] = [
    DemoAccount {
        role: crate::model::Role::Administrator,
        user_name: "admin",
        full_name: "Demo Administrator",
        password: "demo-admin-passphrase",
    },
    DemoAccount {
        role: crate::model::Role::Clinician,
        user_name: "amina",
        full_name: "Dr Amina Odhiambo",
        password: "demo-clinician-passphrase",
    },
    DemoAccount {
        role: crate::model::Role::Nurse,
        user_name: "peter",
        full_name: "Nurse Peter Wanjiru",
        password: "demo-nurse-passphrase",
    },
    DemoAccount {
        role: crate::model::Role::Receptionist,
        user_name: "grace",
        full_name: "Grace Mutua",
        password: "demo-reception-passphrase",
    },
];

/// Creates the demo accounts on a workstation that has no user yet: the administrator sets the
/// workstation up, then adds the others, who then set their own (printed) passwords so they
/// can sign in straight away. Leaves nobody signed in.
pub fn create_accounts(service: &mut crate::app::AppService) -> Result<(), crate::app::AppError> {
    use crate::app::{Command, FirstAdministrator};
    let [admin, others @ ..] = &DEMO_ACCOUNTS;
    service.set_up(FirstAdministrator {
        full_name: admin.full_name.to_owned(),
        user_name: admin.user_name.to_owned(),
        password: admin.password.to_owned(),
        confirm: admin.password.to_owned(),
        also_clinician: false,
    })?;
    for account in others {
        service.execute(Command::CreateUser {
            user_name: account.user_name.to_owned(),
            full_name: account.full_name.to_owned(),
            roles: crate::model::Roles::of(&[account.role]),
            password: account.password.to_owned(),
        })?;
    }
    service.sign_out()?;
    for account in others {
        service.sign_in(account.user_name, account.password)?;
        service.change_password(account.password, account.password, account.password)?;
        service.sign_out()?;
    }
    Ok(())
}
