//! Printed documents, written as PDF: a document is a list of blocks (titles, lines of text,
//! rules), laid out on A4, Letter or an 80 mm receipt roll, with a footer on every page that says
//! "page n of N", who printed it and when.
//!
//! PDF is written by krilla, which embeds and subsets the fonts Outpost ships (`crate::fonts`)
//! and shapes each run of text with rustybuzz; the same rustybuzz faces measure text here, to
//! wrap lines. Each character is drawn with the first shipped font that has it, so a name in any
//! script the window shows prints too. Text is laid out in logical order: a line that mixes a
//! right-to-left script with a left-to-right one is not reordered.
//!
//! This layer knows the model's types and nothing of the store or the window.

mod parts;
mod patient_summary;
mod prescription;
mod referral;
mod sick_note;
mod visit_summary;

pub use parts::{Letterhead, PatientFacts};
pub use patient_summary::{PatientSummary, patient_summary};
pub use prescription::prescription;
pub use referral::{Referral, referral};
pub use sick_note::{MAX_DAYS as SICK_NOTE_MAX_DAYS, SickNote, sick_note};
pub use visit_summary::visit_summary;

use krilla::Document;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::page::PageSettings;
use krilla::text::{Font, TextDirection};

/// A sheet to print on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paper {
    /// 210 × 297 mm.
    A4,
    /// 8.5 × 11 inches.
    Letter,
    /// An 80 mm receipt roll: one page as long as the document.
    Receipt80,
}

impl Paper {
    /// From what a person types: `a4`, `letter` or `80mm`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "a4" => Some(Self::A4),
            "letter" => Some(Self::Letter),
            "80mm" | "80" | "receipt" => Some(Self::Receipt80),
            _ => None,
        }
    }

    /// Width in points (1/72 inch).
    fn width(self) -> f32 {
        match self {
            Self::A4 => 595.28,
            Self::Letter => 612.0,
            Self::Receipt80 => 226.77,
        }
    }

    /// Height in points; `None` for a roll.
    fn height(self) -> Option<f32> {
        match self {
            Self::A4 => Some(841.89),
            Self::Letter => Some(792.0),
            Self::Receipt80 => None,
        }
    }

    fn margin(self) -> f32 {
        match self {
            Self::A4 | Self::Letter => 56.0,
            Self::Receipt80 => 10.0,
        }
    }

    /// The size of body text: a receipt printer's paper is narrow.
    fn body(self) -> f32 {
        match self {
            Self::A4 | Self::Letter => 10.5,
            Self::Receipt80 => 8.0,
        }
    }
}

/// Why a document could not be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DocumentError {
    /// A shipped font could not be read.
    #[error("a font shipped with Outpost could not be read")]
    Font,
    /// The PDF could not be written.
    #[error("the PDF could not be written: {0}")]
    Pdf(String),
    /// A prescription is printed from a signed visit.
    #[error("only a signed visit's prescription can be printed: sign the visit first")]
    NotSigned,
    /// The visit prescribes nothing.
    #[error("the visit has no prescription to print")]
    NothingPrescribed,
    /// A document was asked of a voided visit.
    #[error("the visit was voided: it is no longer part of the record")]
    Voided,
    /// Something the document needs was not given.
    #[error("{0}")]
    Missing(&'static str),
    /// A sick note's last day is before its first, or too far from it.
    #[error("a sick note runs from its first day to its last, for at most {max} days", max = SICK_NOTE_MAX_DAYS)]
    SickNoteDates,
}

/// A picture to print: a thumbnail of an image or the clinic's logo, as RGBA pixels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Picture {
    /// Red, green, blue, alpha bytes, row by row.
    pub rgba: Vec<u8>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// What is written under it (may be empty).
    pub caption: String,
}

/// A small plot of measurements over time (a patient summary's trends).
#[derive(Clone, Debug, PartialEq)]
pub struct Plot {
    /// What is plotted, with its unit ("Weight (kg)").
    pub title: String,
    /// One line per measure, each in its own colour.
    pub series: Vec<Series>,
}

/// One line of a plot.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Its name in the legend.
    pub name: String,
    /// Dated values, oldest first.
    pub points: Vec<(chrono::NaiveDate, f64)>,
}

/// One part of a document.
#[derive(Clone, Debug, PartialEq)]
pub enum Block {
    /// The largest text: the clinic's name.
    Title(String),
    /// A section's name.
    Heading(String),
    /// Body text, wrapped to the width.
    Text(String),
    /// Smaller text, wrapped (addresses, details).
    Small(String),
    /// A thin line across.
    Rule,
    /// Pictures side by side (as many as fit a line), each scaled to `height` points on a
    /// sheet (less on a roll), with its caption under it.
    Pictures {
        /// The pictures.
        pictures: Vec<Picture>,
        /// Their height on A4 or Letter, in points.
        height: f32,
    },
    /// A plot of dated values.
    Plot(Plot),
}

/// Who printed a document and when, for its footer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Footer {
    /// The signed-in user's name.
    pub printed_by: String,
    /// When, as the reader should see it.
    pub printed_at: String,
}

/// The shipped fonts: krilla's to draw with, rustybuzz's to measure and choose by.
struct Fonts {
    faces: Vec<(Font, rustybuzz::Face<'static>)>,
}

impl Fonts {
    fn load() -> Result<Self, DocumentError> {
        let mut faces = Vec::new();
        for (_, bytes) in std::iter::once(crate::fonts::PRIMARY).chain(crate::fonts::FALLBACKS) {
            let font = Font::new(bytes.into(), 0).ok_or(DocumentError::Font)?;
            let face = rustybuzz::Face::from_slice(bytes, 0).ok_or(DocumentError::Font)?;
            faces.push((font, face));
        }
        Ok(Self { faces })
    }

    /// The first font that has `c` (the primary one when none has it).
    fn for_char(&self, c: char) -> usize {
        if c.is_whitespace() {
            return 0;
        }
        self.faces
            .iter()
            .position(|(_, face)| face.glyph_index(c).is_some())
            .unwrap_or(0)
    }

    /// `text` cut into runs each drawn with one font.
    fn runs<'t>(&self, text: &'t str) -> Vec<(usize, &'t str)> {
        let mut runs: Vec<(usize, &str)> = Vec::new();
        let mut start = 0;
        let mut current: Option<usize> = None;
        for (at, c) in text.char_indices() {
            // Spaces stay with the run they are in.
            let font = if c.is_whitespace() {
                current.unwrap_or(0)
            } else {
                self.for_char(c)
            };
            match current {
                Some(f) if f == font => {}
                Some(f) => {
                    runs.push((f, &text[start..at]));
                    start = at;
                    current = Some(font);
                }
                None => current = Some(font),
            }
        }
        if let Some(f) = current {
            runs.push((f, &text[start..]));
        }
        // Spaces at either end of a run in a script font go to the primary font: shaped
        // right to left, they would land on the wrong side of the run.
        let mut out = Vec::with_capacity(runs.len());
        for (font, run) in runs {
            if font == 0 {
                out.push((font, run));
                continue;
            }
            let core = run.trim();
            let lead = &run[..run.len() - run.trim_start().len()];
            let tail = &run[run.trim_end().len()..];
            for (f, part) in [(0, lead), (font, core), (0, tail)] {
                if !part.is_empty() {
                    out.push((f, part));
                }
            }
        }
        out
    }

    /// The width of `text` at `size` points, shaped as it will be drawn.
    fn width(&self, text: &str, size: f32) -> f32 {
        self.runs(text)
            .into_iter()
            .map(|(font, run)| self.run_width(font, run, size))
            .sum()
    }

    fn run_width(&self, font: usize, run: &str, size: f32) -> f32 {
        let face = &self.faces[font].1;
        let mut buffer = rustybuzz::UnicodeBuffer::new();
        buffer.push_str(run);
        buffer.guess_segment_properties();
        let shaped = rustybuzz::shape(face, &[], buffer);
        let advance: i32 = shaped.glyph_positions().iter().map(|p| p.x_advance).sum();
        advance as f32 / f32::from(face.units_per_em() as u16) * size
    }
}

/// One line laid out: its text, size, and the space it takes.
#[derive(Clone, Debug)]
enum Line<'b> {
    Text {
        text: String,
        size: f32,
    },
    Rule,
    /// A row of pictures, each `height` points high, captions in `caption` points under them.
    Pictures {
        pictures: Vec<&'b Picture>,
        height: f32,
        caption: f32,
    },
    Plot {
        plot: &'b Plot,
        height: f32,
        text: f32,
    },
}

impl Line<'_> {
    fn height(&self) -> f32 {
        match self {
            Line::Text { size, .. } => size * 1.4,
            Line::Rule => 8.0,
            Line::Pictures {
                height,
                caption,
                pictures,
            } => {
                let captioned = pictures.iter().any(|p| !p.caption.trim().is_empty());
                height + 6.0 + if captioned { caption * 1.4 } else { 0.0 }
            }
            Line::Plot { height, text, .. } => height + text * 4.2,
        }
    }
}

/// The width a picture takes at `height` points high (never wider than `max`).
fn picture_width(picture: &Picture, height: f32, max: f32) -> f32 {
    if picture.height == 0 {
        return 0.0;
    }
    (picture.width as f32 / picture.height as f32 * height).min(max)
}

/// The colours of a plot's lines, in order.
const SERIES_COLOURS: [(u8, u8, u8); 4] =
    [(37, 99, 235), (185, 28, 28), (124, 58, 237), (217, 119, 6)];

/// `text` broken into lines no wider than `width` (a word longer than the line is cut).
fn wrap(fonts: &Fonts, text: &str, size: f32, width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.lines() {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            let candidate = if line.is_empty() {
                word.to_owned()
            } else {
                format!("{line} {word}")
            };
            if fonts.width(&candidate, size) <= width || line.is_empty() {
                line = candidate;
            } else {
                lines.push(std::mem::take(&mut line));
                line = word.to_owned();
            }
        }
        lines.push(line);
    }
    lines
}

/// Renders `blocks` on `paper` as a PDF file's bytes.
pub fn render(blocks: &[Block], paper: Paper, footer: &Footer) -> Result<Vec<u8>, DocumentError> {
    let fonts = Fonts::load()?;
    let margin = paper.margin();
    let width = paper.width() - 2.0 * margin;
    let body = paper.body();
    let mut lines = Vec::new();
    let receipt = paper == Paper::Receipt80;
    for block in blocks {
        let (text, size) = match block {
            Block::Title(text) => (text, body * 1.6),
            Block::Heading(text) => (text, body * 1.25),
            Block::Text(text) => (text, body),
            Block::Small(text) => (text, body * 0.85),
            Block::Rule => {
                lines.push(Line::Rule);
                continue;
            }
            Block::Pictures { pictures, height } => {
                let height = if receipt { height * 0.7 } else { *height };
                let gap = 8.0;
                let mut row: Vec<&Picture> = Vec::new();
                let mut used = 0.0;
                for picture in pictures.iter().filter(|p| p.width > 0 && p.height > 0) {
                    let w = picture_width(picture, height, width);
                    if !row.is_empty() && used + gap + w > width {
                        lines.push(Line::Pictures {
                            pictures: std::mem::take(&mut row),
                            height,
                            caption: body * 0.75,
                        });
                        used = 0.0;
                    }
                    used += if row.is_empty() { w } else { gap + w };
                    row.push(picture);
                }
                if !row.is_empty() {
                    lines.push(Line::Pictures {
                        pictures: row,
                        height,
                        caption: body * 0.75,
                    });
                }
                continue;
            }
            Block::Plot(plot) => {
                if plot.series.iter().any(|s| !s.points.is_empty()) {
                    lines.push(Line::Plot {
                        plot,
                        height: if receipt { 70.0 } else { 110.0 },
                        text: body * 0.75,
                    });
                }
                continue;
            }
        };
        for line in wrap(&fonts, text, size, width) {
            lines.push(Line::Text { text: line, size });
        }
    }
    let footer_size = body * 0.75;
    let footer_space = footer_size * 3.0;
    // Lines into pages.
    let pages: Vec<Vec<Line>> = match paper.height() {
        None => vec![lines],
        Some(height) => {
            let room = height - 2.0 * margin - footer_space;
            let mut pages = vec![Vec::new()];
            let mut used = 0.0;
            for line in lines {
                if used + line.height() > room && used > 0.0 {
                    pages.push(Vec::new());
                    used = 0.0;
                }
                used += line.height();
                if let Some(page) = pages.last_mut() {
                    page.push(line);
                }
            }
            pages
        }
    };
    let count = pages.len();
    let mut document = Document::new();
    for (number, page_lines) in pages.iter().enumerate() {
        let content: f32 = page_lines.iter().map(Line::height).sum();
        let height = paper
            .height()
            .unwrap_or(content + 2.0 * margin + footer_space);
        let settings = PageSettings::from_wh(paper.width(), height)
            .ok_or_else(|| DocumentError::Pdf("a page of no size".into()))?;
        let mut page = document.start_page_with(settings);
        let mut surface = page.surface();
        let mut y = margin;
        for line in page_lines {
            match line {
                Line::Text { text, size } => {
                    draw_line(&mut surface, &fonts, margin, y + size, text, *size);
                }
                Line::Rule => {
                    let mut path = PathBuilder::new();
                    if let Some(rect) = Rect::from_xywh(margin, y + 3.5, width, 0.6) {
                        path.push_rect(rect);
                    }
                    if let Some(path) = path.finish() {
                        surface.draw_path(&path);
                    }
                }
                Line::Pictures {
                    pictures,
                    height,
                    caption,
                } => draw_pictures(
                    &mut surface,
                    &fonts,
                    (margin, y),
                    width,
                    pictures,
                    *height,
                    *caption,
                ),
                Line::Plot { plot, height, text } => {
                    draw_plot(
                        &mut surface,
                        &fonts,
                        (margin, y),
                        width,
                        plot,
                        *height,
                        *text,
                    );
                }
            }
            y += line.height();
        }
        let footer_text = format!(
            "Page {} of {count} · printed by {} on {}",
            number + 1,
            footer.printed_by,
            footer.printed_at
        );
        let footer_y = height - margin + footer_size;
        for (i, line) in wrap(&fonts, &footer_text, footer_size, width)
            .iter()
            .enumerate()
        {
            draw_line(
                &mut surface,
                &fonts,
                margin,
                footer_y - footer_space + (i as f32 + 1.0) * footer_size * 1.3,
                line,
                footer_size,
            );
        }
        surface.finish();
        page.finish();
    }
    document
        .finish()
        .map_err(|e| DocumentError::Pdf(format!("{e:?}")))
}

/// Draws a row of pictures from the top-left corner `at`, each `height` high, captioned.
fn draw_pictures(
    surface: &mut krilla::surface::Surface<'_>,
    fonts: &Fonts,
    at: (f32, f32),
    width: f32,
    pictures: &[&Picture],
    height: f32,
    caption: f32,
) {
    let (mut x, y) = at;
    for picture in pictures {
        let w = picture_width(picture, height, width);
        let h = if picture.width == 0 {
            0.0
        } else {
            w * picture.height as f32 / picture.width as f32
        };
        let image =
            krilla::image::Image::from_rgba8(picture.rgba.clone(), picture.width, picture.height);
        if let Some(size) = krilla::geom::Size::from_wh(w, h) {
            surface.push_transform(&krilla::geom::Transform::from_translate(x, y + 2.0));
            surface.draw_image(image, size);
            surface.pop();
        }
        if !picture.caption.trim().is_empty() {
            let mut text = picture.caption.trim().to_owned();
            // A caption is cut to its picture's width.
            while fonts.width(&text, caption) > w.max(40.0) && text.chars().count() > 1 {
                text.pop();
                while text.ends_with(' ') {
                    text.pop();
                }
                if !text.ends_with('…') {
                    text.pop();
                    text.push('…');
                }
            }
            draw_line(
                surface,
                fonts,
                x,
                y + 2.0 + height + caption * 1.2,
                &text,
                caption,
            );
        }
        x += w + 8.0;
    }
}

/// Draws a plot from the top-left corner `at`: its title and legend, a frame `height` high with
/// each series as a line with dots, the lowest and highest values at the left and the first and
/// last dates under it.
fn draw_plot(
    surface: &mut krilla::surface::Surface<'_>,
    fonts: &Fonts,
    at: (f32, f32),
    width: f32,
    plot: &Plot,
    height: f32,
    text: f32,
) {
    use krilla::color::rgb;
    use krilla::paint::{Fill, Stroke};
    let (x0, y0) = at;
    // Title and legend on one line.
    draw_line(surface, fonts, x0, y0 + text * 1.2, &plot.title, text * 1.1);
    let mut legend_x = x0 + fonts.width(&plot.title, text * 1.1) + 12.0;
    let series: Vec<&Series> = plot
        .series
        .iter()
        .filter(|s| !s.points.is_empty())
        .collect();
    if series.len() > 1 {
        for (i, s) in series.iter().enumerate() {
            let (r, g, b) = SERIES_COLOURS[i % SERIES_COLOURS.len()];
            surface.set_fill(Some(Fill {
                paint: rgb::Color::new(r, g, b).into(),
                ..Fill::default()
            }));
            let mut swatch = PathBuilder::new();
            if let Some(rect) = Rect::from_xywh(legend_x, y0 + text * 0.4, text * 0.8, text * 0.8) {
                swatch.push_rect(rect);
            }
            if let Some(path) = swatch.finish() {
                surface.draw_path(&path);
            }
            surface.set_fill(Some(Fill::default()));
            draw_line(
                surface,
                fonts,
                legend_x + text,
                y0 + text * 1.2,
                &s.name,
                text,
            );
            legend_x += text * 2.0 + fonts.width(&s.name, text);
        }
    }
    let label_width = text * 4.0;
    let left = x0 + label_width;
    let top = y0 + text * 2.0;
    let inner = width - label_width;
    let values = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let (mut low, mut high) =
        values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !(low.is_finite() && high.is_finite()) {
        return;
    }
    // A small change is not drawn as a dramatic one: the axis spans at least a tenth of the
    // largest value (or 2 units), centred on the values.
    let span = (high - low).max(high.abs().max(low.abs()) * 0.1).max(2.0);
    let middle = (high + low) / 2.0;
    low = middle - span / 2.0;
    high = middle + span / 2.0;
    let dates = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let first = dates.clone().min();
    let last = dates.max();
    let (Some(first), Some(last)) = (first, last) else {
        return;
    };
    let days = (last - first).num_days().max(1) as f32;
    let to_x = |d: chrono::NaiveDate| {
        let along = if first == last {
            0.5
        } else {
            (d - first).num_days() as f32 / days
        };
        left + 4.0 + along * (inner - 8.0)
    };
    let to_y = |v: f64| top + height - 4.0 - ((v - low) / (high - low)) as f32 * (height - 8.0);
    // The frame.
    surface.set_fill(None);
    surface.set_stroke(Some(Stroke {
        width: 0.5,
        ..Stroke::default()
    }));
    let mut frame = PathBuilder::new();
    if let Some(rect) = Rect::from_xywh(left, top, inner, height) {
        frame.push_rect(rect);
    }
    if let Some(path) = frame.finish() {
        surface.draw_path(&path);
    }
    for (i, s) in series.iter().enumerate() {
        let (r, g, b) = SERIES_COLOURS[i % SERIES_COLOURS.len()];
        surface.set_fill(None);
        surface.set_stroke(Some(Stroke {
            paint: rgb::Color::new(r, g, b).into(),
            width: 1.2,
            ..Stroke::default()
        }));
        if s.points.len() > 1 {
            let mut line = PathBuilder::new();
            for (n, (date, value)) in s.points.iter().enumerate() {
                if n == 0 {
                    line.move_to(to_x(*date), to_y(*value));
                } else {
                    line.line_to(to_x(*date), to_y(*value));
                }
            }
            if let Some(path) = line.finish() {
                surface.draw_path(&path);
            }
        }
        surface.set_stroke(None);
        surface.set_fill(Some(Fill {
            paint: rgb::Color::new(r, g, b).into(),
            ..Fill::default()
        }));
        let mut dots = PathBuilder::new();
        for (date, value) in &s.points {
            if let Some(rect) = Rect::from_xywh(to_x(*date) - 1.5, to_y(*value) - 1.5, 3.0, 3.0) {
                dots.push_rect(rect);
            }
        }
        if let Some(path) = dots.finish() {
            surface.draw_path(&path);
        }
    }
    surface.set_stroke(None);
    surface.set_fill(Some(Fill::default()));
    let number = |v: f64| {
        if v.fract().abs() < 1e-9 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        }
    };
    draw_line(surface, fonts, x0, top + text, &number(high), text);
    draw_line(surface, fonts, x0, top + height, &number(low), text);
    let date = |d: chrono::NaiveDate| d.format("%-d %b %Y").to_string();
    draw_line(
        surface,
        fonts,
        left,
        top + height + text * 1.3,
        &date(first),
        text,
    );
    if first != last {
        let label = date(last);
        let w = fonts.width(&label, text);
        draw_line(
            surface,
            fonts,
            left + inner - w,
            top + height + text * 1.3,
            &label,
            text,
        );
    }
}

/// Draws one line of text at `x`, its baseline at `baseline`, run by run.
fn draw_line(
    surface: &mut krilla::surface::Surface<'_>,
    fonts: &Fonts,
    x: f32,
    baseline: f32,
    text: &str,
    size: f32,
) {
    let mut x = x;
    for (font, run) in fonts.runs(text) {
        surface.draw_text(
            Point::from_xy(x, baseline),
            fonts.faces[font].0.clone(),
            size,
            run,
            false,
            TextDirection::Auto,
        );
        x += fonts.run_width(font, run, size);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn each_script_is_drawn_with_a_font_that_has_it() {
        let fonts = Fonts::load().unwrap();
        let runs = fonts.runs("Amina أحمد राम 王");
        let scripts: Vec<(usize, &str)> = runs
            .iter()
            .filter(|(_, run)| !run.trim().is_empty())
            .copied()
            .collect();
        assert_eq!(scripts.len(), 4, "{runs:?}");
        assert_eq!(scripts[0], (0, "Amina "));
        let others: Vec<usize> = scripts.iter().skip(1).map(|(f, _)| *f).collect();
        assert!(others.iter().all(|f| *f != 0), "{runs:?}");
        assert_eq!(others.len(), 3);
        // Spaces between scripts are the primary font's.
        assert!(
            runs.iter().all(|(f, run)| run.trim() == *run || *f == 0),
            "{runs:?}"
        );
    }

    #[test]
    fn long_text_wraps_within_the_width() {
        let fonts = Fonts::load().unwrap();
        let text = "Take one capsule three times a day after food for five days ".repeat(4);
        let lines = wrap(&fonts, &text, 8.0, 200.0);
        assert!(lines.len() > 3);
        for line in &lines {
            assert!(fonts.width(line, 8.0) <= 200.0, "{line}");
        }
    }
}
