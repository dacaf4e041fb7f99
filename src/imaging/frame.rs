//! Decoded frames and what the viewer does to them: window/level, inversion, and the distance
//! between two points. Pure maths, no I/O, so it is tested on its own (with proptest).

/// One decoded image, ready to be windowed and shown.
#[derive(Clone, Debug, PartialEq)]
pub struct Frame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The samples.
    pub pixels: Pixels,
}

/// The samples of a frame.
#[derive(Clone, Debug, PartialEq)]
pub enum Pixels {
    /// One stored value per pixel, before the modality rescale (so a look-up table over the stored
    /// range windows it exactly).
    Mono {
        /// Stored values, row by row.
        values: Vec<i32>,
        /// Smallest stored value.
        min: i32,
        /// Largest stored value.
        max: i32,
        /// Modality rescale: shown value = stored × slope + intercept (Hounsfield units on CT).
        rescale: Rescale,
        /// MONOCHROME1: the lowest value is shown white.
        inverted: bool,
    },
    /// Red, green, blue bytes per pixel, row by row.
    Rgb(Vec<u8>),
}

/// The modality rescale of stored values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rescale {
    /// Multiplier.
    pub slope: f64,
    /// Offset.
    pub intercept: f64,
}

impl Default for Rescale {
    fn default() -> Self {
        Self {
            slope: 1.0,
            intercept: 0.0,
        }
    }
}

impl Rescale {
    /// The shown (modality) value of a stored value.
    pub fn apply(self, stored: i32) -> f64 {
        f64::from(stored) * self.slope + self.intercept
    }
}

/// A window: the range of values spread over black to white.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    /// Value shown mid-grey.
    pub center: f64,
    /// Width of the range (at least 1).
    pub width: f64,
}

/// A named window for CT, in Hounsfield units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WindowPreset {
    /// Name shown on the button.
    pub name: &'static str,
    /// The window.
    pub window: Window,
}

/// The usual CT windows (center/width in HU).
pub const CT_PRESETS: [WindowPreset; 4] = [
    WindowPreset {
        name: "Brain",
        window: Window {
            center: 40.0,
            width: 80.0,
        },
    },
    WindowPreset {
        name: "Soft tissue",
        window: Window {
            center: 40.0,
            width: 400.0,
        },
    },
    WindowPreset {
        name: "Lung",
        window: Window {
            center: -600.0,
            width: 1500.0,
        },
    },
    WindowPreset {
        name: "Bone",
        window: Window {
            center: 400.0,
            width: 1800.0,
        },
    },
];

impl Window {
    /// A window no narrower than one value.
    pub fn new(center: f64, width: f64) -> Self {
        Self {
            center,
            width: if width.is_finite() {
                width.max(1.0)
            } else {
                1.0
            },
        }
    }

    /// The grey level (0–255) of a value, by the linear VOI function of DICOM PS3.3 C.11.2.1.2.1.
    pub fn grey(self, value: f64) -> u8 {
        let width = self.width.max(1.0);
        let low = self.center - 0.5 - (width - 1.0) / 2.0;
        let high = self.center - 0.5 + (width - 1.0) / 2.0;
        if value <= low {
            0
        } else if value > high {
            255
        } else if width <= 1.0 {
            // A one-value window is a threshold; `low < value <= high` cannot happen then.
            255
        } else {
            let y = ((value - (self.center - 0.5)) / (width - 1.0) + 0.5) * 255.0;
            y.round().clamp(0.0, 255.0) as u8
        }
    }

    /// The window moved by a mouse drag: right widens, down raises the level (the usual PACS
    /// convention), each pixel worth `step` values.
    pub fn dragged(self, dx: f32, dy: f32, step: f64) -> Self {
        Self::new(
            self.center + f64::from(dy) * step,
            self.width + f64::from(dx) * step,
        )
    }
}

/// How a frame is to be shown.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Display {
    /// Window for monochrome frames; `None` spreads the frame's whole range.
    pub window: Option<Window>,
    /// Show negative (on top of MONOCHROME1's own inversion).
    pub invert: bool,
}

impl Frame {
    /// Bytes this frame holds in memory (what the frame cache counts).
    pub fn memory_bytes(&self) -> usize {
        let samples = match &self.pixels {
            Pixels::Mono { values, .. } => values.len() * std::mem::size_of::<i32>(),
            Pixels::Rgb(bytes) => bytes.len(),
        };
        samples + std::mem::size_of::<Self>()
    }

    /// The window spanning the frame's whole range of values (for frames that carry none).
    pub fn full_window(&self) -> Option<Window> {
        match &self.pixels {
            Pixels::Mono {
                min, max, rescale, ..
            } => {
                let a = rescale.apply(*min);
                let b = rescale.apply(*max);
                let (low, high) = if a <= b { (a, b) } else { (b, a) };
                Some(Window::new((low + high + 1.0) / 2.0, high - low + 1.0))
            }
            Pixels::Rgb(_) => None,
        }
    }

    /// The shown (rescaled) value at a pixel, for the pointer read-out.
    pub fn value_at(&self, x: u32, y: u32) -> Option<PixelValue> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let index = y as usize * self.width as usize + x as usize;
        match &self.pixels {
            Pixels::Mono {
                values, rescale, ..
            } => values
                .get(index)
                .map(|v| PixelValue::Mono(rescale.apply(*v))),
            Pixels::Rgb(bytes) => {
                let rgb = bytes.get(index * 3..index * 3 + 3)?;
                Some(PixelValue::Rgb([rgb[0], rgb[1], rgb[2]]))
            }
        }
    }

    /// Renders the frame as RGBA bytes (row by row), windowed and inverted as `display` says.
    /// Monochrome frames go through a look-up table over the stored range, so re-windowing costs
    /// one table of at most 65,536 entries plus one look-up per pixel.
    pub fn render_rgba(&self, display: &Display) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.width as usize * self.height as usize * 4);
        match &self.pixels {
            Pixels::Mono {
                values,
                min,
                max,
                rescale,
                inverted,
            } => {
                let lut = grey_lut(
                    *min,
                    *max,
                    *rescale,
                    display.window.or_else(|| self.full_window()),
                    *inverted != display.invert,
                );
                for value in values {
                    let index = (i64::from(*value) - i64::from(*min)).max(0) as usize;
                    let grey = lut.get(index).copied().unwrap_or(0);
                    out.extend_from_slice(&[grey, grey, grey, 255]);
                }
            }
            Pixels::Rgb(bytes) => {
                for rgb in bytes.chunks_exact(3) {
                    if display.invert {
                        out.extend_from_slice(&[255 - rgb[0], 255 - rgb[1], 255 - rgb[2], 255]);
                    } else {
                        out.extend_from_slice(&[rgb[0], rgb[1], rgb[2], 255]);
                    }
                }
            }
        }
        out
    }
}

/// The grey level of every stored value from `min` to `max`.
pub fn grey_lut(
    min: i32,
    max: i32,
    rescale: Rescale,
    window: Option<Window>,
    invert: bool,
) -> Vec<u8> {
    let window = window.unwrap_or(Window::new(0.0, 1.0));
    let span = (i64::from(max) - i64::from(min)).max(0) as usize + 1;
    let mut lut = Vec::with_capacity(span);
    let mut stored = min;
    for _ in 0..span {
        let grey = window.grey(rescale.apply(stored));
        lut.push(if invert { 255 - grey } else { grey });
        stored = stored.saturating_add(1);
    }
    lut
}

/// The value of one pixel as shown.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PixelValue {
    /// A rescaled monochrome value.
    Mono(f64),
    /// A colour.
    Rgb([u8; 3]),
}

/// The spacing between pixel centres, in millimetres (DICOM Pixel Spacing: row spacing first).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PixelSpacing {
    /// Distance between rows (vertical), mm.
    pub row_mm: f64,
    /// Distance between columns (horizontal), mm.
    pub column_mm: f64,
}

/// A measured distance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distance {
    /// In millimetres, from the file's pixel spacing.
    Millimetres(f64),
    /// In pixels: the file says nothing about its scale.
    Pixels(f64),
}

impl std::fmt::Display for Distance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Millimetres(mm) => write!(f, "{mm:.1} mm"),
            Self::Pixels(px) => write!(f, "{px:.1} px (no pixel spacing in the file)"),
        }
    }
}

/// The distance between two points given in pixel coordinates (x = column, y = row).
pub fn distance(from: (f64, f64), to: (f64, f64), spacing: Option<PixelSpacing>) -> Distance {
    let dx = to.0 - from.0;
    let dy = to.1 - from.1;
    match spacing {
        Some(s) if s.row_mm > 0.0 && s.column_mm > 0.0 => {
            Distance::Millimetres((dx * s.column_mm).hypot(dy * s.row_mm))
        }
        _ => Distance::Pixels(dx.hypot(dy)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn window_edges_follow_the_standard() {
        // PS3.3 C.11.2.1.2.1 with c = 40, w = 80: 0 at or below -0.5, 255 above 79.5.
        let w = Window::new(40.0, 80.0);
        assert_eq!(w.grey(-0.5), 0);
        assert_eq!(w.grey(-1000.0), 0);
        assert_eq!(w.grey(79.6), 255);
        assert_eq!(w.grey(39.5), 128);
    }

    #[test]
    fn distance_uses_spacing_or_says_pixels() {
        let spacing = PixelSpacing {
            row_mm: 0.5,
            column_mm: 0.25,
        };
        assert_eq!(
            distance((0.0, 0.0), (40.0, 0.0), Some(spacing)),
            Distance::Millimetres(10.0)
        );
        assert_eq!(
            distance((0.0, 0.0), (0.0, 40.0), Some(spacing)),
            Distance::Millimetres(20.0)
        );
        assert_eq!(
            distance((0.0, 0.0), (3.0, 4.0), None),
            Distance::Pixels(5.0)
        );
        assert!(
            distance((0.0, 0.0), (3.0, 4.0), None)
                .to_string()
                .contains("px")
        );
    }

    proptest! {
        #[test]
        fn grey_is_monotonic_in_value(
            center in -4000.0f64..4000.0,
            width in 1.0f64..8000.0,
            a in -40000.0f64..40000.0,
            b in -40000.0f64..40000.0,
        ) {
            let w = Window::new(center, width);
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(w.grey(lo) <= w.grey(hi));
        }

        #[test]
        fn grey_saturates_outside_the_window(
            center in -4000.0f64..4000.0,
            width in 2.0f64..8000.0,
            beyond in 0.001f64..10000.0,
        ) {
            let w = Window::new(center, width);
            let low = center - 0.5 - (width - 1.0) / 2.0;
            let high = center - 0.5 + (width - 1.0) / 2.0;
            prop_assert_eq!(w.grey(low - beyond), 0);
            prop_assert_eq!(w.grey(high + beyond), 255);
        }

        #[test]
        fn lut_matches_the_formula(
            min in -2048i32..2048,
            span in 0i32..4096,
            slope in prop::sample::select(vec![1.0f64, 0.5, 2.0, 0.0001]),
            intercept in -1024.0f64..1024.0,
            center in -2000.0f64..2000.0,
            width in 1.0f64..4000.0,
            invert: bool,
        ) {
            let max = min + span;
            let rescale = Rescale { slope, intercept };
            let window = Window::new(center, width);
            let lut = grey_lut(min, max, rescale, Some(window), invert);
            prop_assert_eq!(lut.len(), span as usize + 1);
            for (i, grey) in lut.iter().enumerate().step_by(97) {
                let expected = window.grey(rescale.apply(min + i as i32));
                prop_assert_eq!(*grey, if invert { 255 - expected } else { expected });
            }
        }

        #[test]
        fn render_is_one_rgba_pixel_per_value(
            values in prop::collection::vec(-3000i32..3000, 1..200),
            center in -2000.0f64..2000.0,
            width in 1.0f64..4000.0,
        ) {
            let min = values.iter().copied().min().unwrap_or(0);
            let max = values.iter().copied().max().unwrap_or(0);
            let frame = Frame {
                width: values.len() as u32,
                height: 1,
                pixels: Pixels::Mono { values: values.clone(), min, max, rescale: Rescale::default(), inverted: false },
            };
            let window = Window::new(center, width);
            let rgba = frame.render_rgba(&Display { window: Some(window), invert: false });
            prop_assert_eq!(rgba.len(), values.len() * 4);
            for (v, px) in values.iter().zip(rgba.chunks_exact(4)) {
                prop_assert_eq!(px[0], window.grey(f64::from(*v)));
                prop_assert_eq!(px[3], 255);
            }
        }

        #[test]
        fn dragging_never_makes_an_empty_window(
            center in -4000.0f64..4000.0,
            width in 1.0f64..8000.0,
            dx in -5000.0f32..5000.0,
            dy in -5000.0f32..5000.0,
        ) {
            let w = Window::new(center, width).dragged(dx, dy, 1.0);
            prop_assert!(w.width >= 1.0);
        }
    }
}
