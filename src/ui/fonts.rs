//! The fonts the window ships with.
//!
//! Patients' names come in every script a clinic meets (Latin, Cyrillic, Greek, Arabic,
//! Devanagari, Chinese, Japanese, Korean), and a name drawn as empty boxes is a patient nobody
//! can find. So the window embeds fonts that cover those scripts instead of relying on what a
//! workstation happens to have installed (see `assets/fonts/README.md`).

use egui::{FontData, FontDefinitions, FontFamily};
use std::sync::Arc;

/// Latin, Greek and Cyrillic: the main interface font.
const NOTO_SANS: &[u8] = include_bytes!("../../assets/fonts/NotoSans-Regular.ttf");
/// Symbols the interface uses: ▲ ▼ ✓ ⚠ → and friends.
const DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
/// Arabic script.
const NOTO_SANS_ARABIC: &[u8] = include_bytes!("../../assets/fonts/NotoSansArabic-Regular.ttf");
/// Devanagari.
const NOTO_SANS_DEVANAGARI: &[u8] =
    include_bytes!("../../assets/fonts/NotoSansDevanagari-Regular.ttf");
/// Chinese, Japanese and Korean.
const DROID_SANS_FALLBACK: &[u8] = include_bytes!("../../assets/fonts/DroidSansFallbackFull.ttf");

/// The primary interface font.
const PRIMARY: (&str, &[u8]) = ("NotoSans-Regular", NOTO_SANS);

/// Fallbacks, tried in this order for any character the primary font lacks.
///
/// The Noto script fonts come before DejaVu Sans: DejaVu also has Arabic letters, but Noto Arabic
/// matches the interface font and is the better drawing of the script. DejaVu then supplies the
/// symbols, and the Droid fallback the CJK ideographs.
const FALLBACKS: [(&str, &[u8]); 4] = [
    ("NotoSansArabic-Regular", NOTO_SANS_ARABIC),
    ("NotoSansDevanagari-Regular", NOTO_SANS_DEVANAGARI),
    ("DejaVuSans", DEJAVU_SANS),
    ("DroidSansFallbackFull", DROID_SANS_FALLBACK),
];

/// egui's default fonts with Outpost's fonts added: Noto Sans first for proportional text, the
/// script and symbol fonts as fallbacks of both families. egui's own fonts stay as the last
/// fallbacks.
pub fn font_definitions() -> FontDefinitions {
    let mut fonts = FontDefinitions::default();
    for (name, bytes) in std::iter::once(PRIMARY).chain(FALLBACKS) {
        fonts
            .font_data
            .insert(name.to_owned(), Arc::new(FontData::from_static(bytes)));
    }

    let proportional = fonts.families.entry(FontFamily::Proportional).or_default();
    let mut order: Vec<String> = std::iter::once(PRIMARY)
        .chain(FALLBACKS)
        .map(|(name, _)| name.to_owned())
        .collect();
    order.append(proportional);
    *proportional = order;

    let monospace = fonts.families.entry(FontFamily::Monospace).or_default();
    monospace.extend(
        std::iter::once(PRIMARY)
            .chain(FALLBACKS)
            .map(|(name, _)| name.to_owned()),
    );
    fonts
}

/// Installs [`font_definitions`] in `ctx`.
pub fn install(ctx: &egui::Context) {
    ctx.set_fonts(font_definitions());
}
