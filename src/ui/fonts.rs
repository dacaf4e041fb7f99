//! The fonts the window ships with (`crate::fonts`), given to egui.

use crate::fonts::{FALLBACKS, PRIMARY};
use egui::{FontData, FontDefinitions, FontFamily};
use std::sync::Arc;

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
