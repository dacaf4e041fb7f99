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

mod prescription;

pub use prescription::{Letterhead, prescription};

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
#[derive(Debug, thiserror::Error)]
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
enum Line {
    Text { text: String, size: f32 },
    Rule,
}

impl Line {
    fn height(&self) -> f32 {
        match self {
            Line::Text { size, .. } => size * 1.4,
            Line::Rule => 8.0,
        }
    }
}

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
