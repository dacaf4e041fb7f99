//! The window's languages: English, French, Spanish, Portuguese, Swahili and Arabic, with Project
//! Fluent message files in `assets/i18n/<language>/*.ftl` (built in), dates and numbers written as
//! each language writes them.
//!
//! The language is the signed-in user's (or `--lang CODE`), set for the thread that draws the
//! window ([`set_language`]); screens ask for their words with [`tr`] / [`tr!`](crate::tr). A
//! message missing from a language falls back to English, and one missing from English shows its
//! key, which `tests/i18n.rs` makes sure never happens: every key exists in every language.
//!
//! Fluent's bidirectional isolation marks are turned off: egui draws them as boxes and does not
//! reorder text by direction itself (see README on what works right to left).

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use std::cell::Cell;
use std::sync::OnceLock;
use unic_langid::LanguageIdentifier;

/// A language the window speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Language {
    /// English.
    #[default]
    English,
    /// French.
    French,
    /// Spanish.
    Spanish,
    /// Portuguese.
    Portuguese,
    /// Swahili.
    Swahili,
    /// Arabic (right to left).
    Arabic,
}

impl Language {
    /// Every language, in the order pickers list them.
    pub const ALL: [Language; 6] = [
        Self::English,
        Self::French,
        Self::Spanish,
        Self::Portuguese,
        Self::Swahili,
        Self::Arabic,
    ];

    /// The ISO 639-1 code: `en`, `fr`, `es`, `pt`, `sw`, `ar`.
    pub fn code(self) -> &'static str {
        match self {
            Self::English => "en",
            Self::French => "fr",
            Self::Spanish => "es",
            Self::Portuguese => "pt",
            Self::Swahili => "sw",
            Self::Arabic => "ar",
        }
    }

    /// The language by its code (`fr`, `fr-CD` and `FR` all name French).
    pub fn from_code(code: &str) -> Option<Self> {
        let base = code
            .trim()
            .split(['-', '_'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        Self::ALL.into_iter().find(|l| l.code() == base)
    }

    /// The language's name in itself, as a picker shows it.
    pub fn native_name(self) -> &'static str {
        match self {
            Self::English => "English",
            Self::French => "Français",
            Self::Spanish => "Español",
            Self::Portuguese => "Português",
            Self::Swahili => "Kiswahili",
            Self::Arabic => "العربية",
        }
    }

    /// Whether the language is written right to left.
    pub fn right_to_left(self) -> bool {
        self == Self::Arabic
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|l| *l == self).unwrap_or(0)
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// A code that names no language the window speaks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no language is called {0:?} (en, fr, es, pt, sw, ar)")]
pub struct UnknownLanguage(pub String);

impl std::str::FromStr for Language {
    type Err = UnknownLanguage;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_code(s).ok_or_else(|| UnknownLanguage(s.to_owned()))
    }
}

/// The message files of each language, in [`Language::ALL`] order: (file name, text).
macro_rules! ftl_files {
    ($($code:literal),+) => {
        [$(&[
            ("app.ftl", include_str!(concat!("../../assets/i18n/", $code, "/app.ftl"))),
            ("auth.ftl", include_str!(concat!("../../assets/i18n/", $code, "/auth.ftl"))),
            ("chart.ftl", include_str!(concat!("../../assets/i18n/", $code, "/chart.ftl"))),
            ("duplicates.ftl", include_str!(concat!("../../assets/i18n/", $code, "/duplicates.ftl"))),
            ("growth.ftl", include_str!(concat!("../../assets/i18n/", $code, "/growth.ftl"))),
            ("list.ftl", include_str!(concat!("../../assets/i18n/", $code, "/list.ftl"))),
            ("status.ftl", include_str!(concat!("../../assets/i18n/", $code, "/status.ftl"))),
            ("today.ftl", include_str!(concat!("../../assets/i18n/", $code, "/today.ftl"))),
        ]),+]
    };
}

/// Every language's message files as shipped.
pub const FILES: [&[(&str, &str)]; 6] = ftl_files!("en", "fr", "es", "pt", "sw", "ar");

/// The parsed messages of every language.
struct Catalog {
    bundles: Vec<FluentBundle<FluentResource>>,
}

/// A message file that does not read, or that names a message twice.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{language}/{file}: {problem}")]
pub struct CatalogError {
    /// Which language.
    pub language: &'static str,
    /// Which file.
    pub file: &'static str,
    /// What is wrong.
    pub problem: String,
}

fn build() -> Result<Catalog, CatalogError> {
    let mut bundles = Vec::new();
    for (language, files) in Language::ALL.into_iter().zip(FILES) {
        let id: LanguageIdentifier =
            language
                .code()
                .parse()
                .map_err(|e: unic_langid::LanguageIdentifierError| CatalogError {
                    language: language.code(),
                    file: "",
                    problem: e.to_string(),
                })?;
        let mut bundle = FluentBundle::new_concurrent(vec![id]);
        bundle.set_use_isolating(false);
        for (file, text) in files.iter() {
            let error = |problem: String| CatalogError {
                language: language.code(),
                file,
                problem,
            };
            let resource = FluentResource::try_new((*text).to_owned())
                .map_err(|(_, errors)| error(format!("{errors:?}")))?;
            bundle
                .add_resource(resource)
                .map_err(|errors| error(format!("{errors:?}")))?;
        }
        bundles.push(bundle);
    }
    Ok(Catalog { bundles })
}

fn catalog() -> Option<&'static Catalog> {
    static CATALOG: OnceLock<Result<Catalog, CatalogError>> = OnceLock::new();
    CATALOG
        .get_or_init(build)
        .as_ref()
        .inspect_err(|e| tracing::error!(error = %e, "the message files cannot be read"))
        .ok()
}

/// Checks that every message file reads: what the window would fall back to English (or to keys)
/// for, as an error.
pub fn check_catalog() -> Result<(), CatalogError> {
    build().map(drop)
}

thread_local! {
    static CURRENT: Cell<Language> = const { Cell::new(Language::English) };
}

/// Speaks `language` on this thread (the window's) from now on.
pub fn set_language(language: Language) {
    CURRENT.with(|c| c.set(language));
}

/// The language this thread speaks.
pub fn language() -> Language {
    CURRENT.with(Cell::get)
}

/// Every message key of `language`.
pub fn keys(language: Language) -> Vec<String> {
    let mut keys = Vec::new();
    for (_, text) in FILES[language.index()].iter() {
        if let Ok(resource) = FluentResource::try_new((*text).to_owned()) {
            for entry in resource.entries() {
                if let fluent_syntax::ast::Entry::Message(message) = entry {
                    keys.push(message.id.name.to_owned());
                }
            }
        }
    }
    keys
}

fn format_in(language: Language, key: &str, args: Option<&FluentArgs<'_>>) -> Option<String> {
    let bundle = catalog()?.bundles.get(language.index())?;
    let pattern = bundle.get_message(key)?.value()?;
    let mut errors = Vec::new();
    let text = bundle.format_pattern(pattern, args, &mut errors);
    if !errors.is_empty() {
        tracing::warn!(
            key,
            language = language.code(),
            ?errors,
            "a message did not format"
        );
    }
    Some(text.into_owned())
}

/// The message `key` in the thread's language (English if that language lacks it; the key
/// itself if English does too).
pub fn tr(key: &str) -> String {
    tr_args(key, &[])
}

/// The message `key` with its arguments, in the thread's language.
pub fn tr_args(key: &str, args: &[(&str, FluentValue<'_>)]) -> String {
    tr_in(language(), key, args)
}

/// The message `key` with its arguments, in `language`.
pub fn tr_in(language: Language, key: &str, args: &[(&str, FluentValue<'_>)]) -> String {
    let args = (!args.is_empty()).then(|| {
        let mut a = FluentArgs::new();
        for (name, value) in args {
            a.set(*name, value.clone());
        }
        a
    });
    match format_in(language, key, args.as_ref()) {
        Some(text) if language.right_to_left() => visual_order(&text),
        Some(text) => text,
        None => format_in(Language::English, key, args.as_ref()).unwrap_or_else(|| {
            tracing::warn!(key, "a message is missing");
            key.to_owned()
        }),
    }
}

/// A right-to-left line in the order egui should draw it, left to right.
///
/// egui shapes the letters of each Arabic word (joined, right to left) but lays the words of a
/// line out in the order they come, left to right, so a phrase would read backwards. This runs
/// the Unicode bidirectional algorithm (paragraph direction right to left) and returns the line's
/// runs in visual order, with the words of each right-to-left run reversed and each word left as
/// it is for the shaper. Numbers and Latin text inside keep their own order. Each line of a
/// message is done on its own; a label egui wraps is wrapped after this, so a long message wraps
/// with its first words on the last line: messages meant for Arabic are kept short.
pub fn visual_order(text: &str) -> String {
    text.split('\n')
        .map(visual_line)
        .collect::<Vec<_>>()
        .join("\n")
}

fn visual_line(line: &str) -> String {
    use unicode_bidi::{BidiInfo, Level};
    let info = BidiInfo::new(line, Some(Level::rtl()));
    let Some(paragraph) = info.paragraphs.first() else {
        return line.to_owned();
    };
    let (levels, runs) = info.visual_runs(paragraph, paragraph.range.clone());
    let mut out = String::with_capacity(line.len());
    for run in runs {
        let text = &line[run.clone()];
        if levels[run.start].is_rtl() {
            // Words (and the spaces between them) in reverse order, each word unchanged.
            let mut pieces: Vec<&str> = Vec::new();
            let mut start = 0;
            for (at, c) in text.char_indices() {
                if c.is_whitespace() {
                    if start < at {
                        pieces.push(&text[start..at]);
                    }
                    pieces.push(&text[at..at + c.len_utf8()]);
                    start = at + c.len_utf8();
                }
            }
            if start < text.len() {
                pieces.push(&text[start..]);
            }
            for piece in pieces.iter().rev() {
                out.push_str(&mirror(piece));
            }
        } else {
            out.push_str(text);
        }
    }
    out
}

/// Brackets in a right-to-left run point the other way once the run is reversed.
fn mirror(piece: &str) -> String {
    piece
        .chars()
        .map(|c| match c {
            '(' => ')',
            ')' => '(',
            '[' => ']',
            ']' => '[',
            '«' => '»',
            '»' => '«',
            other => other,
        })
        .collect()
}

/// A message in the window's language: `tr!("list-search")`, or with arguments
/// `tr!("list-count", count = 3)`.
#[macro_export]
macro_rules! tr {
    ($key:literal) => {
        $crate::i18n::tr($key)
    };
    ($key:literal, $($name:ident = $value:expr),+ $(,)?) => {
        $crate::i18n::tr_args(
            $key,
            &[$((stringify!($name), ::fluent_bundle::FluentValue::from($value))),+],
        )
    };
}

/// Digits as the window writes them: Western digits in every language. Arabic-Indic digits
/// (٠١٢…) would suit Arabic, but egui lays a run of them out right to left, so "2026" would read
/// "6202"; Western digits, which much of the Arab world also writes, read right.
fn localise_digits(_language: Language, text: &str) -> String {
    text.to_owned()
}

/// A number with `decimals` places as the thread's language writes it: 38.6 in English, Swahili
/// and Arabic, 38,6 in French, Spanish and Portuguese.
pub fn format_number(value: f64, decimals: usize) -> String {
    let language = language();
    let plain = format!("{value:.decimals$}");
    let separated = match language {
        Language::French | Language::Spanish | Language::Portuguese => plain.replace('.', ","),
        Language::English | Language::Swahili | Language::Arabic => plain,
    };
    localise_digits(language, &separated)
}

/// A whole number as the thread's language writes it, thousands grouped: 2,000 in English,
/// Swahili and Arabic, 2 000 in French (a no-break space), 2.000 in Spanish and Portuguese.
pub fn format_count(value: i64) -> String {
    let language = language();
    let separator = match language {
        Language::English | Language::Swahili | Language::Arabic => ',',
        Language::French => '\u{a0}',
        Language::Spanish | Language::Portuguese => '.',
    };
    let digits = value.unsigned_abs().to_string();
    let mut grouped = String::with_capacity(digits.len() * 2);
    if value < 0 {
        grouped.push('-');
    }
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(separator);
        }
        grouped.push(digit);
    }
    localise_digits(language, &grouped)
}

/// A date as the thread's language writes it in full: "5 December 2026", "5 décembre 2026",
/// "5 de diciembre de 2026", "5 de dezembro de 2026", "5 Desemba 2026", "5 ديسمبر 2026".
pub fn format_date(date: chrono::NaiveDate) -> String {
    use chrono::Datelike;
    let language = language();
    let month = tr_in(language, &format!("month-{}", date.month()), &[]);
    let text = tr_in(
        language,
        "date-long",
        &[
            ("day", FluentValue::from(date.day().to_string())),
            ("month", FluentValue::from(month)),
            ("year", FluentValue::from(date.year().to_string())),
        ],
    );
    localise_digits(language, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arabic_lines_are_laid_out_for_a_left_to_right_renderer() {
        // "2 patients registered": drawn left to right, the number first read must be rightmost.
        assert_eq!(visual_order("2 مريض مسجّل"), "مسجّل مريض 2");
        assert_eq!(visual_order("فتح الملف"), "الملف فتح");
        // Latin text inside keeps its order, and brackets turn with the words.
        assert_eq!(
            visual_order("دمج OUT-000002 في OUT-000001"),
            "OUT-000001 في OUT-000002 دمج"
        );
        assert_eq!(visual_order("تعارضات (3)"), "(3) تعارضات");
        assert_eq!(visual_order("English stays"), "English stays");
    }

    #[test]
    fn languages_by_code_dates_and_numbers() {
        assert_eq!(Language::from_code("FR-cd"), Some(Language::French));
        assert_eq!("sw".parse::<Language>(), Ok(Language::Swahili));
        assert!("xx".parse::<Language>().is_err());
        let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 5).unwrap_or_default();
        let cases = [
            (Language::English, "5 December 2026", "38.6"),
            (Language::French, "5 décembre 2026", "38,6"),
            (Language::Spanish, "5 de diciembre de 2026", "38,6"),
            (Language::Portuguese, "5 de dezembro de 2026", "38,6"),
            (Language::Swahili, "5 Desemba 2026", "38.6"),
            (Language::Arabic, "2026 ديسمبر 5", "38.6"),
        ];
        for (language, date, number) in cases {
            set_language(language);
            assert_eq!(format_date(day), date, "{language}");
            assert_eq!(format_number(38.6, 1), number, "{language}");
            assert!(format_count(2000).chars().count() == 5, "{language}");
        }
        set_language(Language::English);
    }
}
