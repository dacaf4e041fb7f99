//! The medicine list a prescription is written from: generic names of the WHO Model List of
//! Essential Medicines with their synonyms, therapeutic group, forms and strengths, and the drug
//! classes an allergy can name (`assets/medicines/`, with its licence notes). The list is built
//! into the program; a prescription may still name a medicine that is not on it.

use std::collections::HashMap;
use std::sync::OnceLock;

/// The list as shipped: medicines of the WHO Model Lists.
const MEDICINES_CSV: &str = include_str!("../../assets/medicines/medicines.csv");
/// Medicines often prescribed that the WHO lists leave out, with their classes only.
const OTHER_MEDICINES_CSV: &str = include_str!("../../assets/medicines/other-medicines.csv");

/// A drug class an allergy is recorded against and medicines belong to: what the allergy check
/// compares when the medicine prescribed is not the substance named.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DrugClass {
    /// Penicillins (benzylpenicillin, amoxicillin, cloxacillin…).
    Penicillin,
    /// Cephalosporins (cefalexin, ceftriaxone…).
    Cephalosporin,
    /// Carbapenems (meropenem, imipenem).
    Carbapenem,
    /// Monobactams (aztreonam).
    Monobactam,
    /// Sulfonamide antibacterials (sulfamethoxazole, sulfadiazine, sulfadoxine).
    SulfonamideAntibacterial,
    /// Macrolides (erythromycin, azithromycin, clarithromycin).
    Macrolide,
    /// Fluoroquinolones (ciprofloxacin, levofloxacin…).
    Fluoroquinolone,
    /// Tetracyclines (doxycycline, tetracycline).
    Tetracycline,
    /// Aminoglycosides (gentamicin, amikacin, streptomycin).
    Aminoglycoside,
    /// Nitroimidazoles (metronidazole, tinidazole).
    Nitroimidazole,
    /// Lincosamides (clindamycin).
    Lincosamide,
    /// Glycopeptides (vancomycin).
    Glycopeptide,
    /// Rifamycins (rifampicin, rifabutin).
    Rifamycin,
    /// Non-steroidal anti-inflammatory drugs (ibuprofen, diclofenac, aspirin).
    Nsaid,
    /// Salicylates (aspirin).
    Salicylate,
    /// Opioids (morphine, codeine, tramadol…).
    Opioid,
    /// Aromatic anticonvulsants (carbamazepine, phenytoin, phenobarbital), which cross-react.
    AromaticAnticonvulsant,
    /// ACE inhibitors (enalapril, lisinopril…).
    AceInhibitor,
    /// Amide local anaesthetics (lidocaine, bupivacaine).
    LocalAnaestheticAmide,
    /// Ester local anaesthetics (tetracaine, procaine).
    LocalAnaestheticEster,
    /// Artemisinins (artesunate, artemether).
    Artemisinin,
    /// Quinoline antimalarials (chloroquine, quinine, amodiaquine, primaquine, mefloquine).
    QuinolineAntimalarial,
    /// Azole antifungals (fluconazole, clotrimazole, miconazole).
    AzoleAntifungal,
    /// Iodinated contrast media.
    IodinatedContrast,
}

impl DrugClass {
    /// Every class.
    pub const ALL: [DrugClass; 24] = [
        Self::Penicillin,
        Self::Cephalosporin,
        Self::Carbapenem,
        Self::Monobactam,
        Self::SulfonamideAntibacterial,
        Self::Macrolide,
        Self::Fluoroquinolone,
        Self::Tetracycline,
        Self::Aminoglycoside,
        Self::Nitroimidazole,
        Self::Lincosamide,
        Self::Glycopeptide,
        Self::Rifamycin,
        Self::Nsaid,
        Self::Salicylate,
        Self::Opioid,
        Self::AromaticAnticonvulsant,
        Self::AceInhibitor,
        Self::LocalAnaestheticAmide,
        Self::LocalAnaestheticEster,
        Self::Artemisinin,
        Self::QuinolineAntimalarial,
        Self::AzoleAntifungal,
        Self::IodinatedContrast,
    ];

    /// The code the medicine list uses.
    pub fn code(self) -> &'static str {
        match self {
            Self::Penicillin => "penicillin",
            Self::Cephalosporin => "cephalosporin",
            Self::Carbapenem => "carbapenem",
            Self::Monobactam => "monobactam",
            Self::SulfonamideAntibacterial => "sulfonamide-antibacterial",
            Self::Macrolide => "macrolide",
            Self::Fluoroquinolone => "fluoroquinolone",
            Self::Tetracycline => "tetracycline",
            Self::Aminoglycoside => "aminoglycoside",
            Self::Nitroimidazole => "nitroimidazole",
            Self::Lincosamide => "lincosamide",
            Self::Glycopeptide => "glycopeptide",
            Self::Rifamycin => "rifamycin",
            Self::Nsaid => "nsaid",
            Self::Salicylate => "salicylate",
            Self::Opioid => "opioid",
            Self::AromaticAnticonvulsant => "aromatic-anticonvulsant",
            Self::AceInhibitor => "ace-inhibitor",
            Self::LocalAnaestheticAmide => "local-anaesthetic-amide",
            Self::LocalAnaestheticEster => "local-anaesthetic-ester",
            Self::Artemisinin => "artemisinin",
            Self::QuinolineAntimalarial => "quinoline-antimalarial",
            Self::AzoleAntifungal => "azole-antifungal",
            Self::IodinatedContrast => "iodinated-contrast",
        }
    }

    /// Reads a code of the medicine list.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code.trim())
    }

    /// "a penicillin", as in "Amoxicillin is a penicillin".
    pub fn one(self) -> &'static str {
        match self {
            Self::Penicillin => "a penicillin",
            Self::Cephalosporin => "a cephalosporin",
            Self::Carbapenem => "a carbapenem",
            Self::Monobactam => "a monobactam",
            Self::SulfonamideAntibacterial => "a sulfonamide",
            Self::Macrolide => "a macrolide",
            Self::Fluoroquinolone => "a fluoroquinolone",
            Self::Tetracycline => "a tetracycline",
            Self::Aminoglycoside => "an aminoglycoside",
            Self::Nitroimidazole => "a nitroimidazole",
            Self::Lincosamide => "a lincosamide",
            Self::Glycopeptide => "a glycopeptide",
            Self::Rifamycin => "a rifamycin",
            Self::Nsaid => "an NSAID",
            Self::Salicylate => "a salicylate",
            Self::Opioid => "an opioid",
            Self::AromaticAnticonvulsant => "an aromatic anticonvulsant",
            Self::AceInhibitor => "an ACE inhibitor",
            Self::LocalAnaestheticAmide => "an amide local anaesthetic",
            Self::LocalAnaestheticEster => "an ester local anaesthetic",
            Self::Artemisinin => "an artemisinin",
            Self::QuinolineAntimalarial => "a quinoline antimalarial",
            Self::AzoleAntifungal => "an azole antifungal",
            Self::IodinatedContrast => "an iodinated contrast medium",
        }
    }

    /// The words an allergy is written with when it names the whole class ("penicillins",
    /// "sulfa", "NSAIDs"), after [`normalise`].
    fn names(self) -> &'static [&'static str] {
        match self {
            Self::Penicillin => &["penicillin", "penicillins", "pcn"],
            Self::Cephalosporin => &["cephalosporin", "cephalosporins"],
            Self::Carbapenem => &["carbapenem", "carbapenems"],
            Self::Monobactam => &["monobactam", "monobactams"],
            Self::SulfonamideAntibacterial => &[
                "sulfa",
                "sulpha",
                "sulfonamide",
                "sulfonamides",
                "sulphonamide",
                "sulphonamides",
            ],
            Self::Macrolide => &["macrolide", "macrolides"],
            Self::Fluoroquinolone => &[
                "fluoroquinolone",
                "fluoroquinolones",
                "quinolone",
                "quinolones",
            ],
            Self::Tetracycline => &["tetracyclines"],
            Self::Aminoglycoside => &["aminoglycoside", "aminoglycosides"],
            Self::Nitroimidazole => &["nitroimidazole", "nitroimidazoles"],
            Self::Lincosamide => &["lincosamide", "lincosamides"],
            Self::Glycopeptide => &["glycopeptide", "glycopeptides"],
            Self::Rifamycin => &["rifamycin", "rifamycins"],
            Self::Nsaid => &[
                "nsaid",
                "nsaids",
                "non steroidal anti inflammatory",
                "non steroidal anti inflammatories",
                "nonsteroidal anti inflammatory",
                "anti inflammatories",
            ],
            Self::Salicylate => &["salicylate", "salicylates"],
            Self::Opioid => &["opioid", "opioids", "opiate", "opiates", "narcotics"],
            Self::AromaticAnticonvulsant => &[
                "aromatic anticonvulsant",
                "aromatic anticonvulsants",
                "aromatic antiepileptic",
                "aromatic antiepileptics",
            ],
            Self::AceInhibitor => &["ace inhibitor", "ace inhibitors", "acei"],
            Self::LocalAnaestheticAmide => &[
                "amide local anaesthetic",
                "amide local anaesthetics",
                "amide local anesthetic",
                "amide local anesthetics",
            ],
            Self::LocalAnaestheticEster => &[
                "ester local anaesthetic",
                "ester local anaesthetics",
                "ester local anesthetic",
                "ester local anesthetics",
            ],
            Self::Artemisinin => &["artemisinin", "artemisinins"],
            Self::QuinolineAntimalarial => &["quinoline antimalarial", "quinoline antimalarials"],
            Self::AzoleAntifungal => &["azole", "azoles", "azole antifungal", "azole antifungals"],
            Self::IodinatedContrast => &[
                "contrast",
                "contrast media",
                "contrast medium",
                "iodinated contrast",
                "iodine contrast",
                "x ray contrast",
            ],
        }
    }
}

/// Words an allergy names several classes with at once.
const CLASS_GROUPS: &[(&str, &[DrugClass])] = &[
    (
        "beta lactam",
        &[
            DrugClass::Penicillin,
            DrugClass::Cephalosporin,
            DrugClass::Carbapenem,
            DrugClass::Monobactam,
        ],
    ),
    (
        "beta lactams",
        &[
            DrugClass::Penicillin,
            DrugClass::Cephalosporin,
            DrugClass::Carbapenem,
            DrugClass::Monobactam,
        ],
    ),
    (
        "local anaesthetic",
        &[
            DrugClass::LocalAnaestheticAmide,
            DrugClass::LocalAnaestheticEster,
        ],
    ),
    (
        "local anaesthetics",
        &[
            DrugClass::LocalAnaestheticAmide,
            DrugClass::LocalAnaestheticEster,
        ],
    ),
    (
        "local anesthetic",
        &[
            DrugClass::LocalAnaestheticAmide,
            DrugClass::LocalAnaestheticEster,
        ],
    ),
    (
        "local anesthetics",
        &[
            DrugClass::LocalAnaestheticAmide,
            DrugClass::LocalAnaestheticEster,
        ],
    ),
];

/// Words left out when an allergy or a medicine is compared ("allergy to penicillin" is
/// "penicillin").
const FILLER_WORDS: &[&str] = &[
    "allergy",
    "allergies",
    "allergic",
    "to",
    "drug",
    "drugs",
    "class",
    "group",
    "antibiotic",
    "antibiotics",
    "medicine",
    "medicines",
];

/// Text as the list compares it: lower case, letters and digits, one space between words,
/// hyphens and slashes as spaces, filler words left out. "+" is kept, so combinations stay apart.
pub fn normalise(text: &str) -> String {
    let lowered: String = text
        .to_lowercase()
        .chars()
        .map(|c| match c {
            '+' => " + ".to_owned(),
            c if c.is_alphanumeric() || c == '.' => c.to_string(),
            _ => " ".to_owned(),
        })
        .collect();
    lowered
        .split_whitespace()
        .filter(|w| !FILLER_WORDS.contains(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One medicine (or fixed-dose combination) of the list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Medicine {
    /// The generic name as the list spells it, lower case ("amoxicillin + clavulanic acid").
    pub name: String,
    /// Other names clinicians write ("co-amoxiclav").
    pub synonyms: Vec<String>,
    /// Therapeutic group ("antibacterial").
    pub group: String,
    /// The section of the WHO list it is under ("6.2.1").
    pub section: String,
    /// The drug classes an allergy may name it by.
    pub classes: Vec<DrugClass>,
    /// Forms with strengths ("tablet 500 mg", "oral liquid 125 mg/5 mL").
    pub forms: Vec<String>,
}

impl Medicine {
    /// The name as written on a prescription: its first letter upper case ("Amoxicillin").
    pub fn display_name(&self) -> String {
        let mut chars = self.name.chars();
        match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => String::new(),
        }
    }

    /// The parts of a combination, or the one medicine ("amoxicillin", "clavulanic acid").
    pub fn ingredients(&self) -> Vec<String> {
        self.name
            .split(" + ")
            .map(normalise)
            .filter(|part| !part.is_empty())
            .collect()
    }
}

/// Why a row of the shipped list could not be read (a defect of the list, found by a test).
#[derive(Debug, thiserror::Error)]
pub enum MedicineListError {
    /// The CSV could not be read.
    #[error("the medicine list cannot be read: {0}")]
    Csv(#[from] csv::Error),
    /// A row names a drug class the program does not know.
    #[error("the medicine list names an unknown drug class “{class}” for {medicine}")]
    UnknownClass {
        /// The medicine.
        medicine: String,
        /// The class as written.
        class: String,
    },
    /// Two rows have one name.
    #[error("the medicine list has {0} twice")]
    Duplicate(String),
}

/// The medicine list, with its look-ups.
#[derive(Debug)]
pub struct MedicineList {
    medicines: Vec<Medicine>,
    /// Normalised name or synonym → index.
    by_name: HashMap<String, usize>,
}

#[derive(serde::Deserialize)]
struct Row {
    name: String,
    synonyms: String,
    group: String,
    section: String,
    allergy_classes: String,
    forms: String,
}

fn split_list(text: &str) -> Vec<String> {
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl MedicineList {
    /// Reads a list in the shipped format (`name,synonyms,group,section,allergy_classes,forms`).
    pub fn parse(csv_text: &str) -> Result<Self, MedicineListError> {
        Self::parse_all(&[csv_text])
    }

    /// Reads several files of the shipped format as one list; a name may appear once in all.
    pub fn parse_all(csv_texts: &[&str]) -> Result<Self, MedicineListError> {
        let mut medicines = Vec::new();
        let mut by_name = HashMap::new();
        let rows = csv_texts
            .iter()
            .flat_map(|text| csv::Reader::from_reader(text.as_bytes()).into_deserialize::<Row>());
        for row in rows {
            let row = row?;
            let mut classes = Vec::new();
            for class in split_list(&row.allergy_classes) {
                let known = DrugClass::from_code(&class).ok_or_else(|| {
                    MedicineListError::UnknownClass {
                        medicine: row.name.clone(),
                        class: class.clone(),
                    }
                })?;
                classes.push(known);
            }
            let medicine = Medicine {
                name: row.name.trim().to_lowercase(),
                synonyms: split_list(&row.synonyms),
                group: row.group.trim().to_owned(),
                section: row.section.trim().to_owned(),
                classes,
                forms: split_list(&row.forms),
            };
            let index = medicines.len();
            if by_name.insert(normalise(&medicine.name), index).is_some() {
                return Err(MedicineListError::Duplicate(medicine.name));
            }
            for synonym in &medicine.synonyms {
                by_name.entry(normalise(synonym)).or_insert(index);
            }
            medicines.push(medicine);
        }
        Ok(Self { medicines, by_name })
    }

    /// Every medicine, in the list's order.
    pub fn all(&self) -> &[Medicine] {
        &self.medicines
    }

    /// The medicine a name or synonym means, in any case and spacing ("Co-trimoxazole",
    /// "AMOXICILLIN"); a combination written with "-" or "/" between its parts
    /// ("artemether-lumefantrine") is found too.
    pub fn find(&self, text: &str) -> Option<&Medicine> {
        let key = normalise(text);
        if key.is_empty() {
            return None;
        }
        if let Some(&index) = self.by_name.get(&key) {
            return self.medicines.get(index);
        }
        // "artemether-lumefantrine" normalises to "artemether lumefantrine": try it as parts.
        let joined = text
            .split(['-', '/'])
            .map(normalise)
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(" + ");
        if let Some(&index) = self.by_name.get(&joined) {
            return self.medicines.get(index);
        }
        // "Amoxicillin 500mg caps": the name is what comes before the strength.
        let words: Vec<&str> = key.split_whitespace().collect();
        let strength_at = words
            .iter()
            .position(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))?;
        if strength_at == 0 {
            return None;
        }
        self.by_name
            .get(&words[..strength_at].join(" "))
            .and_then(|&index| self.medicines.get(index))
    }

    /// Medicines whose name or a synonym has words starting with the words typed, in order
    /// ("amox" → amoxicillin, amoxicillin + clavulanic acid; "clav" → the combination), single
    /// medicines before combinations, then by name; at most `limit`.
    pub fn search(&self, typed: &str, limit: usize) -> Vec<&Medicine> {
        let typed: Vec<String> = normalise(typed)
            .split_whitespace()
            .filter(|w| *w != "+")
            .map(str::to_owned)
            .collect();
        if typed.is_empty() {
            return Vec::new();
        }
        let starts = |name: &str| {
            let words: Vec<String> = normalise(name)
                .split_whitespace()
                .filter(|w| *w != "+")
                .map(str::to_owned)
                .collect();
            // The words typed match consecutive words of the name, from any word on.
            (0..words.len()).any(|from| {
                typed.len() <= words.len() - from
                    && typed
                        .iter()
                        .zip(&words[from..])
                        .all(|(t, w)| w.starts_with(t.as_str()))
            })
        };
        let mut found: Vec<&Medicine> = self
            .medicines
            .iter()
            .filter(|m| starts(&m.name) || m.synonyms.iter().any(|s| starts(s)))
            .collect();
        found.sort_by_key(|m| (m.name.contains(" + "), !starts(&m.name), m.name.clone()));
        found.truncate(limit);
        found
    }
}

/// The shipped medicine list. A list that cannot be read is a defect of the build, found by
/// `tests`; here it gives an empty list, and prescriptions are free text only.
pub fn medicine_list() -> &'static MedicineList {
    static LIST: OnceLock<MedicineList> = OnceLock::new();
    LIST.get_or_init(|| {
        MedicineList::parse_all(&[MEDICINES_CSV, OTHER_MEDICINES_CSV]).unwrap_or_else(|error| {
            tracing::error!(%error, "the shipped medicine list cannot be read");
            MedicineList {
                medicines: Vec::new(),
                by_name: HashMap::new(),
            }
        })
    })
}

/// What a medicine as written is made of, for the allergy check: the names of its parts and
/// their classes. A medicine not on the list is its own text, with no class.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Composition {
    /// Normalised names of the parts ("amoxicillin", "clavulanic acid").
    pub ingredients: Vec<String>,
    /// The classes of the parts.
    pub classes: Vec<DrugClass>,
}

impl MedicineList {
    /// What `text` is made of: the list's medicine it names, or else its parts written with "+",
    /// each looked up; text not on the list stays as written.
    pub fn composition(&self, text: &str) -> Composition {
        let mut composition = Composition::default();
        if let Some(medicine) = self.find(text) {
            composition.ingredients = medicine.ingredients();
            composition.classes = medicine.classes.clone();
            // A part that is a medicine of its own brings its own classes too.
            for part in medicine.ingredients() {
                if let Some(single) = self.find(&part) {
                    composition.classes.extend(single.classes.iter().copied());
                }
            }
        } else {
            for part in text.split(['+', '/']) {
                let key = normalise(part);
                if key.is_empty() {
                    continue;
                }
                match self.find(part) {
                    Some(single) => {
                        composition.ingredients.extend(single.ingredients());
                        composition.classes.extend(single.classes.iter().copied());
                    }
                    None => composition.ingredients.push(key),
                }
            }
        }
        composition.classes.sort();
        composition.classes.dedup();
        composition.ingredients.dedup();
        composition
    }

    /// What an allergy's substance names: whole classes ("penicillins", "sulfa", "beta-lactams"),
    /// or a medicine (with its classes when it is a single medicine of the list), or text.
    pub fn allergen(&self, substance: &str) -> Composition {
        let key = normalise(substance);
        if key.is_empty() {
            return Composition::default();
        }
        if let Some((_, classes)) = CLASS_GROUPS.iter().find(|(name, _)| *name == key) {
            return Composition {
                ingredients: Vec::new(),
                classes: classes.to_vec(),
            };
        }
        if let Some(class) = DrugClass::ALL
            .into_iter()
            .find(|c| c.names().contains(&key.as_str()))
        {
            return Composition {
                ingredients: Vec::new(),
                classes: vec![class],
            };
        }
        self.composition(substance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_list_reads_and_finds_by_name_synonym_and_parts() {
        let list = MedicineList::parse_all(&[MEDICINES_CSV, OTHER_MEDICINES_CSV])
            .expect("the shipped lists read, with no name twice");
        assert!(list.all().len() > 250, "{}", list.all().len());
        // A medicine the WHO list leaves out still has its class.
        assert_eq!(list.find("Diclofenac").unwrap().classes, [DrugClass::Nsaid]);
        let amoxicillin = list.find("Amoxicillin").unwrap();
        assert_eq!(amoxicillin.classes, [DrugClass::Penicillin]);
        assert_eq!(amoxicillin.display_name(), "Amoxicillin");
        assert_eq!(
            list.find("co-trimoxazole").unwrap().name,
            "sulfamethoxazole + trimethoprim"
        );
        assert_eq!(
            list.find("Artemether-lumefantrine").unwrap().name,
            "artemether + lumefantrine"
        );
        assert_eq!(
            list.find("amoxicillin 500mg caps").unwrap().name,
            "amoxicillin"
        );
        assert!(list.find("Panadol extra").is_none());
        assert!(list.find("500 mg").is_none());
    }

    #[test]
    fn search_finds_word_beginnings_single_medicines_first() {
        let list = medicine_list();
        let names: Vec<&str> = list
            .search("amox", 5)
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(names[0], "amoxicillin");
        assert!(
            names.contains(&"amoxicillin + clavulanic acid"),
            "{names:?}"
        );
        let by_part: Vec<&str> = list
            .search("clav", 5)
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert!(
            by_part.contains(&"amoxicillin + clavulanic acid"),
            "{by_part:?}"
        );
        // A synonym finds its medicine.
        let by_synonym: Vec<&str> = list
            .search("acetam", 5)
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(by_synonym, ["paracetamol"]);
        assert!(list.search("", 5).is_empty());
    }

    #[test]
    fn an_allergy_names_a_class_a_medicine_or_free_text() {
        let list = medicine_list();
        assert_eq!(list.allergen("Penicillin").classes, [DrugClass::Penicillin]);
        assert_eq!(
            list.allergen("allergic to sulfa drugs").classes,
            [DrugClass::SulfonamideAntibacterial]
        );
        assert_eq!(list.allergen("NSAIDs").classes, [DrugClass::Nsaid]);
        assert_eq!(list.allergen("Beta-lactams").classes.len(), 4);
        let aspirin = list.allergen("Aspirin");
        assert_eq!(aspirin.ingredients, ["acetylsalicylic acid"]);
        assert_eq!(aspirin.classes, [DrugClass::Nsaid, DrugClass::Salicylate]);
        let free = list.allergen("Bee stings");
        assert_eq!(free.ingredients, ["bee stings"]);
        assert!(free.classes.is_empty());
    }

    #[test]
    fn a_combination_carries_the_classes_of_its_parts() {
        let list = medicine_list();
        let co_amoxiclav = list.composition("Amoxicillin + clavulanic acid");
        assert_eq!(co_amoxiclav.ingredients, ["amoxicillin", "clavulanic acid"]);
        assert_eq!(co_amoxiclav.classes, [DrugClass::Penicillin]);
        let written = list.composition("amoxicillin/ibuprofen");
        assert_eq!(written.classes, [DrugClass::Penicillin, DrugClass::Nsaid]);
    }
}
