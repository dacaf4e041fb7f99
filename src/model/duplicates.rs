//! Likely duplicate patients: the same person registered twice, found before the second record
//! is saved and across the whole store.
//!
//! Names are compared in Latin letters: a name in another script is transliterated
//! (`deunicode`: "Хосе Лопес" → "khose lopes", "محمد" → "mhmd"), accents dropped. Two names are
//! alike when their Jaro–Winkler similarity (`strsim`) is high or their Double Metaphone codes
//! (`rphonetic`) agree, so "Otieno" meets "Otyeno" and "Mohamed" meets "Muhammad". A pair's score
//! is a sum of points, one term per field, in the spirit of Fellegi–Sunter weights: agreement on a
//! field rare by chance (a national ID, a full date of birth) counts more than agreement on a
//! common one (sex, village), and disagreement on a field that rarely changes counts against.
//! [`score`] documents each term; [`LIKELY`] is where a pair is shown.
//!
//! Finding candidates among a million patients uses blocking keys ([`blocking_keys`]): each
//! patient is filed under a few short keys (family and given name codes together, a name code
//! with the year of birth, the national ID, the phone's last nine digits), and only patients
//! sharing a key with the one typed are scored.

use rphonetic::DoubleMetaphone;

use super::patient::{Patient, Sex, digits_of};

/// A pair scoring this much or more is shown as a likely duplicate.
pub const LIKELY: f64 = 10.0;

/// Longest name token compared (longer ones are cut): keeps each comparison cheap.
const MAX_TOKEN_CHARS: usize = 30;

/// Words that join names rather than name anyone ("al", "de", "van", "bin"): left out of a name
/// with other words.
const PARTICLES: &[&str] = &[
    "al", "el", "de", "da", "di", "do", "du", "del", "della", "der", "des", "dos", "das", "la",
    "le", "van", "von", "bin", "ibn", "bint", "binti", "abu", "ben", "y", "e",
];

/// A name's words in lower-case Latin letters ("José María" → ["jose", "maria"]); other scripts
/// transliterated; joining words ("al", "de") left out when there are others.
pub fn name_tokens(text: &str) -> Vec<String> {
    let words = all_tokens(text);
    if words.iter().all(|w| PARTICLES.contains(&w.as_str())) {
        return words;
    }
    words
        .into_iter()
        .filter(|w| !PARTICLES.contains(&w.as_str()))
        .collect()
}

fn all_tokens(text: &str) -> Vec<String> {
    deunicode::deunicode(text)
        .to_lowercase()
        // A soft sign transliterates as an apostrophe ("Наталья" → "natal'ia"): part of the word.
        .replace(['\'', '`'], "")
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| w.len() >= 2)
        .map(|w| w.chars().take(MAX_TOKEN_CHARS).collect())
        .collect()
}

/// A token's Double Metaphone primary code ("otieno" → "ATN").
pub fn phonetic(token: &str) -> String {
    DoubleMetaphone::new(Some(5))
        .double_metaphone(token)
        .primary()
}

/// A word of a name with its Double Metaphone code, worked out once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Token {
    text: String,
    code: String,
}

impl Token {
    fn new(text: String) -> Self {
        let code = phonetic(&text);
        Self { text, code }
    }
}

fn tokens(text: &str) -> Vec<Token> {
    name_tokens(text).into_iter().map(Token::new).collect()
}

/// What is compared of a patient, worked out once.
#[derive(Clone, Debug, Default)]
pub struct Comparable {
    given: Vec<Token>,
    family: Vec<Token>,
    /// The name in another script, transliterated.
    other: Vec<Token>,
    sex: Option<Sex>,
    birth: Option<(chrono::NaiveDate, bool)>,
    national_id: String,
    phone: String,
    village: Vec<Token>,
}

impl Comparable {
    /// The fields of `p` as compared.
    pub fn of(p: &Patient) -> Self {
        Self {
            given: tokens(&p.given_name),
            family: tokens(&p.family_name),
            other: tokens(&p.other_script_name),
            sex: (p.sex != Sex::Unknown).then_some(p.sex),
            birth: p.birth.map(|b| (b.date, b.estimated)),
            national_id: p
                .national_id
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .flat_map(|c| c.to_uppercase())
                .collect(),
            phone: last_digits(&p.phone),
            village: tokens(&p.village),
        }
    }

    /// The ways the patient's name may be read: the given and family fields; and the name in
    /// another script, its last word as the family name or its first.
    fn readings(&self) -> Vec<Reading<'_>> {
        let mut readings = vec![Reading {
            given: &self.given,
            family: &self.family,
        }];
        if self.other.len() >= 2 {
            let (first, rest) = self.other.split_at(1);
            let (init, last) = self.other.split_at(self.other.len() - 1);
            readings.push(Reading {
                given: init,
                family: last,
            });
            readings.push(Reading {
                given: rest,
                family: first,
            });
        }
        readings
    }

    /// Whether enough is typed to look for duplicates: a family or given name of two letters.
    pub fn is_searchable(&self) -> bool {
        !(self.given.is_empty()
            && self.family.is_empty()
            && self.other.is_empty()
            && self.national_id.is_empty()
            && self.phone.is_empty())
    }
}

/// One way of reading a patient's name.
struct Reading<'a> {
    given: &'a [Token],
    family: &'a [Token],
}

/// The last nine digits of a phone number (the subscriber number without country or trunk
/// prefix), or nothing when it has fewer than seven.
fn last_digits(phone: &str) -> String {
    let digits = digits_of(phone);
    if digits.len() < 7 {
        return String::new();
    }
    digits[digits.len().saturating_sub(9)..].to_owned()
}

/// How alike two name tokens are, 0…1: Jaro–Winkler, raised to 0.9 when their Double Metaphone
/// codes agree.
fn token_similarity(a: &Token, b: &Token) -> f64 {
    if a.text == b.text {
        return 1.0;
    }
    let jw = strsim::jaro_winkler(&a.text, &b.text);
    // Short words ("li", "liu", "wang") are alike by chance: only the same word counts.
    if a.text.len() < 4 || b.text.len() < 4 {
        return jw.min(0.8);
    }
    if jw < 0.9 && !a.code.is_empty() && a.code == b.code {
        0.9
    } else {
        jw
    }
}

/// The best similarity between any token of `a` and any of `b` (0 when either is empty).
fn best(a: &[Token], b: &[Token]) -> f64 {
    a.iter()
        .flat_map(|x| b.iter().map(move |y| token_similarity(x, y)))
        .fold(0.0, f64::max)
}

/// Points for how alike two names are, and the words for it.
fn name_points(similarity: f64, what: &str) -> (f64, Option<String>) {
    if similarity >= 0.97 {
        (4.0, Some(format!("same {what}")))
    } else if similarity >= 0.9 {
        (3.0, Some(format!("similar {what}")))
    } else if similarity >= 0.85 {
        (1.5, Some(format!("{what} a little alike")))
    } else {
        (-3.0, None)
    }
}

/// A pair's score and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Likeness {
    /// The sum of the terms.
    pub score: f64,
    /// What agreed, in words ("same date of birth", "similar family name").
    pub reasons: Vec<String>,
}

impl Likeness {
    /// Whether the pair is shown as a likely duplicate.
    pub fn is_likely(&self) -> bool {
        self.score >= LIKELY
    }

    /// Whether the names agreed (each name term was "same" or "similar").
    pub fn names_agree(&self) -> bool {
        let agrees = |what: &str| {
            self.reasons
                .iter()
                .any(|r| r == &format!("same {what}") || r == &format!("similar {what}"))
        };
        (agrees("family name") && agrees("given name"))
            || self
                .reasons
                .iter()
                .any(|r| r == "same names, the other way round")
    }

    /// The score once it is known how many patients share this name: a name many share is
    /// weaker evidence (frequency-based agreement weights). With `sharing` patients of the name,
    /// the pair itself included, the names' points fall by log2(sharing − 1), at most 3.
    pub fn with_name_shared_by(mut self, sharing: usize) -> Self {
        if !self.names_agree() || sharing <= 2 {
            return self;
        }
        let penalty = ((sharing - 1) as f64).log2().min(3.0);
        self.score -= penalty;
        self.reasons
            .push(format!("a name {sharing} patients share"));
        self
    }
}

/// How likely `a` and `b` are one person. The terms:
///
/// - **National ID**, both given: the same +8, different −8.
/// - **Family name** and **given name**, each when both have one: the best similarity of any of
///   their words, the name in another script (transliterated) counting for either: ≥ 0.97 +4,
///   ≥ 0.90 +3, ≥ 0.85 +1.5, less −3. Names written the other way round (given as family)
///   count as alike, less 1.
/// - **Date of birth**, both given: the same day +4; both exact, same year, day and month
///   swapped or within 31 days +2; within a year 0; an estimated one within two years +1,
///   within five −1; further apart −4.
/// - **Sex**, both known: the same +0.5, different −5.
/// - **Phone**, both given: the same last nine digits +4 (a family shares one: the names and
///   the date of birth tell its members apart).
/// - **Village**, both given: alike (≥ 0.9) +1.
///
/// The store then lowers the score of a name many patients share
/// ([`Likeness::with_name_shared_by`]).
pub fn score(a: &Comparable, b: &Comparable) -> Likeness {
    let mut score = 0.0;
    let mut reasons = Vec::new();
    let mut add = |points: f64, reason: Option<String>| {
        score += points;
        if let Some(r) = reason {
            reasons.push(r);
        }
    };

    if !a.national_id.is_empty() && !b.national_id.is_empty() {
        if a.national_id == b.national_id {
            add(8.0, Some("same national ID".into()));
        } else {
            add(-8.0, None);
        }
    }

    // Each way of reading the two names (the fields, or the name in another script either way
    // round), the reading that fits best.
    let mut family: Option<f64> = None;
    let mut given: Option<f64> = None;
    let mut fit = f64::MIN;
    for ra in a.readings() {
        for rb in b.readings() {
            let f = (!ra.family.is_empty() && !rb.family.is_empty())
                .then(|| best(ra.family, rb.family));
            let g =
                (!ra.given.is_empty() && !rb.given.is_empty()).then(|| best(ra.given, rb.given));
            let total = f.unwrap_or(0.0) + g.unwrap_or(0.0);
            if total > fit {
                fit = total;
                family = f;
                given = g;
            }
        }
    }
    // Written the other way round: a's family name is b's given name and the reverse.
    let swapped = best(&a.family, &b.given).min(best(&a.given, &b.family));
    let straight = family.unwrap_or(0.0).min(given.unwrap_or(0.0));
    if swapped >= 0.9 && swapped > straight {
        add(8.0 - 1.0, Some("same names, the other way round".into()));
    } else {
        if let Some(similarity) = family {
            let (points, reason) = name_points(similarity, "family name");
            add(points, reason);
        }
        if let Some(similarity) = given {
            let (points, reason) = name_points(similarity, "given name");
            add(points, reason);
        }
    }

    if let (Some((da, ea)), Some((db, eb))) = (a.birth, b.birth) {
        let days = (da - db).num_days().abs();
        if da == db {
            add(4.0, Some("same date of birth".into()));
        } else if ea || eb {
            if days <= 2 * 366 {
                add(1.0, Some("about the same age".into()));
            } else if days > 5 * 366 {
                add(-4.0, None);
            } else {
                add(-1.0, None);
            }
        } else {
            use chrono::Datelike;
            let swapped_day_month =
                da.year() == db.year() && da.day() == db.month() && da.month() == db.day();
            if (da.year() == db.year() && days <= 31) || swapped_day_month {
                add(2.0, Some("almost the same date of birth".into()));
            } else if days > 366 {
                add(-4.0, None);
            }
        }
    }

    if let (Some(sa), Some(sb)) = (a.sex, b.sex) {
        if sa == sb {
            add(0.5, None);
        } else {
            add(-5.0, None);
        }
    }

    if !a.phone.is_empty() && a.phone == b.phone {
        add(4.0, Some("same phone".into()));
    }

    if !a.village.is_empty() && !b.village.is_empty() && best(&a.village, &b.village) >= 0.9 {
        add(1.0, Some("same village".into()));
    }

    Likeness { score, reasons }
}

/// The keys a patient is filed under, for finding candidates: for each family-name word (the
/// name in another script's words too) with each given-name word, both codes (`n:FAM:GIV`);
/// the family names' and the first given name's codes with the year of birth (`y:CODE:1990`); the national ID (`i:…`); the
/// phone's last nine digits (`p:…`). With `years_around`, the year keys are written for the
/// years around the one given too (for looking up: an estimated age is two years either way).
pub fn blocking_keys(c: &Comparable, years_around: i32) -> Vec<String> {
    use chrono::Datelike;
    let code = |t: &Token| t.code.clone();
    let mut keys = Vec::new();
    let family: Vec<String> = c.family.iter().chain(&c.other).map(code).collect();
    let given: Vec<String> = c.given.iter().chain(&c.other).map(code).collect();
    for f in family.iter().filter(|f| !f.is_empty()).take(3) {
        for g in given.iter().filter(|g| !g.is_empty()).take(3) {
            keys.push(format!("n:{f}:{g}"));
            if f != g {
                keys.push(format!("n:{g}:{f}"));
            }
        }
    }
    if let Some((date, estimated)) = c.birth {
        let spread = if estimated {
            years_around.max(2)
        } else {
            years_around
        };
        let spread = if years_around == 0 { 0 } else { spread };
        // The family names (the name in another script's words among them) and the first
        // given name: enough to find a misspelt name of either kind, few enough to look up fast.
        let mut names: Vec<&String> = family
            .iter()
            .filter(|n| !n.is_empty())
            .take(3)
            .chain(given.iter().filter(|n| !n.is_empty()).take(1))
            .collect();
        names.sort();
        names.dedup();
        for name in names {
            for year in (date.year() - spread)..=(date.year() + spread) {
                keys.push(format!("y:{name}:{year}"));
            }
        }
    }
    if !c.national_id.is_empty() {
        keys.push(format!("i:{}", c.national_id));
    }
    if !c.phone.is_empty() {
        keys.push(format!("p:{}", c.phone));
    }
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClinicId, DateOfBirth};
    use chrono::NaiveDate;

    fn person(given: &str, family: &str, sex: Sex, born: Option<(i32, u32, u32, bool)>) -> Patient {
        let mut p = Patient::blank(ClinicId::new());
        p.given_name = given.into();
        p.family_name = family.into();
        p.sex = sex;
        p.birth = born.map(|(y, m, d, estimated)| DateOfBirth {
            date: NaiveDate::from_ymd_opt(y, m, d).unwrap(),
            estimated,
        });
        p
    }

    fn likeness(a: &Patient, b: &Patient) -> Likeness {
        score(&Comparable::of(a), &Comparable::of(b))
    }

    #[test]
    fn pairs_of_one_person_score_as_likely() {
        let born = Some((1988, 3, 14, false));
        let a = person("Grace", "Otieno", Sex::Female, born);
        // A misspelt family name, same birth date.
        assert!(likeness(&a, &person("Grace", "Otyeno", Sex::Female, born)).is_likely());
        // Names the other way round.
        let swapped = likeness(&a, &person("Otieno", "Grace", Sex::Female, born));
        assert!(swapped.is_likely(), "{swapped:?}");
        assert!(
            swapped
                .reasons
                .contains(&"same names, the other way round".into())
        );
        // Day and month swapped in the birth date.
        let early = person("Grace", "Otieno", Sex::Female, Some((1988, 3, 4, false)));
        let swapped_date = likeness(
            &early,
            &person("Grace", "Otieno", Sex::Female, Some((1988, 4, 3, false))),
        );
        assert!(
            swapped_date
                .reasons
                .contains(&"almost the same date of birth".into())
        );
        assert!(swapped_date.is_likely());
        // An estimated age instead of the date, with the same phone.
        let mut b = person("Grace", "Otieno", Sex::Female, Some((1987, 7, 1, true)));
        let mut a2 = a.clone();
        a2.phone = "+254 712 345 678".into();
        b.phone = "0712345678".into();
        let found = likeness(&a2, &b);
        assert!(found.is_likely(), "{found:?}");
        assert!(found.reasons.contains(&"same phone".into()));
        // Transliteration: the other record has the name in Cyrillic only.
        let mut c = person("", "", Sex::Female, Some((1990, 5, 17, false)));
        c.other_script_name = "Наталья Смирнова".into();
        let natalya = person(
            "Natalya",
            "Smirnova",
            Sex::Female,
            Some((1990, 5, 17, false)),
        );
        let across = likeness(&natalya, &c);
        assert!(across.is_likely(), "{across:?}");
        // Sounds alike: Mohamed / Muhammad.
        // Sounds alike: Mohamed / Muhammad, of about one age, from one village, one phone. (A
        // name and an estimated age, even from one village, are not enough.)
        let mut m1 = person("Mohamed", "Hassan", Sex::Male, Some((1975, 1, 1, true)));
        let mut m2 = person("Muhammad", "Hasan", Sex::Male, Some((1976, 6, 1, true)));
        m1.village = "Garissa".into();
        m2.village = "Garisa".into();
        assert!(!likeness(&m1, &m2).is_likely(), "{:?}", likeness(&m1, &m2));
        m1.phone = "0700 111 222".into();
        m2.phone = "+254 700 111 222".into();
        assert!(likeness(&m1, &m2).is_likely(), "{:?}", likeness(&m1, &m2));
    }

    #[test]
    fn different_people_with_a_common_name_do_not() {
        let a = person("José", "Álvarez", Sex::Male, Some((1942, 2, 1, false)));
        // Same name, forty years apart.
        assert!(
            !likeness(
                &a,
                &person("José", "Álvarez", Sex::Male, Some((1982, 6, 9, false)))
            )
            .is_likely()
        );
        // Same name and year, other sex.
        assert!(
            !likeness(
                &a,
                &person("José", "Álvarez", Sex::Female, Some((1942, 2, 1, false)))
            )
            .is_likely()
        );
        // Mother and daughter sharing a phone.
        let mut mother = person("Amina", "Wanjiru", Sex::Female, Some((1970, 1, 1, true)));
        let mut daughter = person("Zawadi", "Wanjiru", Sex::Female, Some((2001, 4, 2, false)));
        mother.phone = "0712 000 111".into();
        daughter.phone = "0712000111".into();
        assert!(!likeness(&mother, &daughter).is_likely());
        // Different national IDs outweigh everything else.
        let mut x = person("Grace", "Otieno", Sex::Female, Some((1988, 3, 14, false)));
        let mut y = x.clone();
        x.national_id = "12345678".into();
        y.national_id = "87654321".into();
        assert!(!likeness(&x, &y).is_likely());
        y.national_id = "1234-5678".into();
        assert!(likeness(&x, &y).is_likely());
    }

    #[test]
    fn one_person_shares_a_key_with_each_spelling() {
        let a = Comparable::of(&person(
            "Grace",
            "Otieno",
            Sex::Female,
            Some((1988, 3, 14, false)),
        ));
        let b = Comparable::of(&person(
            "Grace",
            "Otyeno",
            Sex::Female,
            Some((1987, 1, 1, true)),
        ));
        let stored = blocking_keys(&a, 0);
        let asked = blocking_keys(&b, 1);
        assert!(
            asked.iter().any(|k| stored.contains(k)),
            "{stored:?} {asked:?}"
        );
        let mut cyrillic = Patient::blank(ClinicId::new());
        cyrillic.other_script_name = "Дмитрий Кузнецов".into();
        let c = Comparable::of(&cyrillic);
        let dmitrii = Comparable::of(&person("Dmitrii", "Kuznetsov", Sex::Male, None));
        assert!(
            blocking_keys(&c, 0)
                .iter()
                .any(|k| blocking_keys(&dmitrii, 0).contains(k))
        );
    }
}
