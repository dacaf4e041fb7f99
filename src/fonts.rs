//! The fonts Outpost ships, for the window and for printed documents alike.
//!
//! Patients' names come in every script a clinic meets (Latin, Cyrillic, Greek, Arabic,
//! Devanagari, Chinese, Japanese, Korean), and a name drawn as empty boxes is a patient nobody
//! can find. So the fonts that cover those scripts are embedded instead of relying on what a
//! workstation happens to have installed (see `assets/fonts/README.md`).

/// Latin, Greek and Cyrillic: the main font.
pub const NOTO_SANS: &[u8] = include_bytes!("../assets/fonts/NotoSans-Regular.ttf");
/// Symbols the interface uses: ▲ ▼ ✓ ⚠ → and friends.
pub const DEJAVU_SANS: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
/// Arabic script.
pub const NOTO_SANS_ARABIC: &[u8] = include_bytes!("../assets/fonts/NotoSansArabic-Regular.ttf");
/// Devanagari.
pub const NOTO_SANS_DEVANAGARI: &[u8] =
    include_bytes!("../assets/fonts/NotoSansDevanagari-Regular.ttf");
/// Chinese, Japanese and Korean.
pub const DROID_SANS_FALLBACK: &[u8] = include_bytes!("../assets/fonts/DroidSansFallbackFull.ttf");

/// The primary font.
pub const PRIMARY: (&str, &[u8]) = ("NotoSans-Regular", NOTO_SANS);

/// Fallbacks, tried in this order for any character the primary font lacks.
///
/// The Noto script fonts come before DejaVu Sans: DejaVu also has Arabic letters, but Noto Arabic
/// matches the primary font and is the better drawing of the script. DejaVu then supplies the
/// symbols, and the Droid fallback the CJK ideographs.
pub const FALLBACKS: [(&str, &[u8]); 4] = [
    ("NotoSansArabic-Regular", NOTO_SANS_ARABIC),
    ("NotoSansDevanagari-Regular", NOTO_SANS_DEVANAGARI),
    ("DejaVuSans", DEJAVU_SANS),
    ("DroidSansFallbackFull", DROID_SANS_FALLBACK),
];
