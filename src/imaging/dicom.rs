//! Reading DICOM files: the header facts Outpost keeps (patient, study, series, instance), the
//! list of every tag for the tag panel, and frames decoded into [`Frame`]s.
//!
//! dicom-rs does the parsing and the codecs; this module bounds what it is given (file size, a
//! structural check of every element length first) and turns its decoded samples into frames
//! itself, so every photometric interpretation and bit depth is handled in one place and anything
//! else is named in a clear error.

use super::frame::{Frame, PixelSpacing, Pixels, Rescale, Window};
use super::{ImagingError, scan};
use dicom_core::Tag;
use dicom_dictionary_std::{StandardDataDictionary, tags};
use dicom_object::file::ReadPreamble;
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};
use dicom_pixeldata::{PhotometricInterpretation, PixelDecoder, PixelRepresentation};

/// The largest decoded image (all frames) accepted: beyond this a file is refused rather than
/// allowed to take the workstation's memory.
pub const MAX_DECODED_BYTES: u64 = 1 << 30;

/// What Outpost keeps of a DICOM file's header.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DicomInfo {
    /// Patient ID as the sending site wrote it.
    pub patient_id: String,
    /// Patient name, decoded from the file's character set (DICOM PN form, `^` and `=` kept).
    pub patient_name: String,
    /// Birth date as written (YYYYMMDD), if any.
    pub birth_date: Option<chrono::NaiveDate>,
    /// M, F, O or empty.
    pub sex: String,
    /// Study Instance UID.
    pub study_uid: String,
    /// Study date, when the file has a valid one.
    pub study_date: Option<chrono::NaiveDate>,
    /// Study description.
    pub study_description: String,
    /// Series Instance UID.
    pub series_uid: String,
    /// Series number, if given.
    pub series_number: Option<i64>,
    /// Series description.
    pub series_description: String,
    /// CT, MR, US, CR...
    pub modality: String,
    /// Body part examined.
    pub body_part: String,
    /// SOP Instance UID.
    pub sop_uid: String,
    /// SOP Class UID: what kind of object the file is (CT image, secondary capture…).
    pub sop_class_uid: String,
    /// Instance number within the series, if given.
    pub instance_number: Option<i64>,
    /// Transfer syntax UID.
    pub transfer_syntax: String,
    /// Rows.
    pub rows: u32,
    /// Columns.
    pub columns: u32,
    /// Number of frames (1 for single-frame files).
    pub frames: u32,
    /// Pixel spacing, from the image or (enhanced multi-frame) the shared functional groups.
    pub pixel_spacing: Option<PixelSpacing>,
    /// The window values the file suggests (first pair).
    pub window: Option<Window>,
    /// Time between frames for cine play, milliseconds.
    pub frame_time_ms: Option<f64>,
    /// Photometric interpretation as written.
    pub photometric: String,
    /// Bits allocated per sample.
    pub bits_allocated: u16,
    /// True when the file carries pixel data.
    pub has_pixels: bool,
}

impl DicomInfo {
    /// The transfer syntax's name, or its UID when unknown.
    pub fn transfer_syntax_name(&self) -> String {
        use dicom_encoding::TransferSyntaxIndex;
        dicom_transfer_syntax_registry::TransferSyntaxRegistry
            .get(&self.transfer_syntax)
            .map(|ts| ts.name().to_owned())
            .unwrap_or_else(|| self.transfer_syntax.clone())
    }
}

/// One row of the tag panel.
#[derive(Clone, Debug, PartialEq)]
pub struct TagRow {
    /// Nesting depth (0 for the top level, 1 inside a sequence item...).
    pub depth: usize,
    /// `(GGGG,EEEE)`.
    pub tag: String,
    /// Value representation.
    pub vr: String,
    /// Dictionary name, e.g. `PatientName`, or empty for private tags.
    pub name: String,
    /// The value as text (long and binary values shortened).
    pub value: String,
}

/// A parsed DICOM file, ready to describe and decode.
pub struct DicomFile {
    object: DefaultDicomObject,
    info: DicomInfo,
}

/// Reads only the header (up to the pixel data), for importing and listing.
pub fn read_header(bytes: &[u8]) -> Result<DicomInfo, ImagingError> {
    let object = parse(bytes, true)?;
    Ok(describe(&object))
}

impl DicomFile {
    /// Parses a whole file after checking its structure.
    pub fn parse(bytes: &[u8]) -> Result<Self, ImagingError> {
        let object = parse(bytes, false)?;
        let info = describe(&object);
        Ok(Self { object, info })
    }

    /// The header facts.
    pub fn info(&self) -> &DicomInfo {
        &self.info
    }

    /// Every element, sequences expanded, for the tag panel.
    pub fn tags(&self) -> Vec<TagRow> {
        let mut rows = Vec::new();
        for element in self.object.meta().to_element_iter() {
            use dicom_core::header::Header;
            let value = element
                .value()
                .primitive()
                .map(primitive_text)
                .unwrap_or_default();
            push_tag_row(&mut rows, 0, element.tag(), element.vr(), value);
        }
        tag_rows(&mut rows, 0, &self.object);
        rows
    }

    /// Decodes frame `index` (0-based).
    pub fn decode_frame(&self, index: u32) -> Result<Frame, ImagingError> {
        if !self.info.has_pixels {
            return Err(ImagingError::Unsupported(
                "the file has no pixel data (it is not an image)".to_owned(),
            ));
        }
        if index >= self.info.frames {
            return Err(ImagingError::Malformed(format!(
                "frame {} asked for, the file has {}",
                index + 1,
                self.info.frames
            )));
        }
        check_native_length(&self.object, &self.info)?;
        check_compressed_sizes(&self.object, &self.info)?;
        // The codecs are other people's code run on untrusted input: a panic in one is reported as
        // this file's failure, not the program's.
        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.object.decode_pixel_data_frame(index)
        }))
        .map_err(|_| ImagingError::Decode("the image decoder failed on this file".to_owned()))?
        .map_err(|e| {
            let text = e.to_string();
            if text.contains("Unsupported") || text.contains("unsupported") {
                ImagingError::Unsupported(format!(
                    "{} ({})",
                    text,
                    self.info.transfer_syntax_name()
                ))
            } else {
                ImagingError::Decode(text)
            }
        })?;
        frame_from_decoded(&self.object, &decoded, index)
    }
}

pub(crate) fn parse(bytes: &[u8], header_only: bool) -> Result<DefaultDicomObject, ImagingError> {
    scan::check_structure(bytes)?;
    let start = if bytes.get(128..132) == Some(b"DICM") {
        128
    } else {
        0
    };
    let body = bytes.get(start..).unwrap_or_default();
    let mut options = OpenFileOptions::new().read_preamble(ReadPreamble::Never);
    if header_only {
        options = options.read_until(tags::PIXEL_DATA);
    }
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| options.from_reader(body)))
        .map_err(|_| ImagingError::Malformed("the DICOM parser failed on this file".to_owned()))?
        .map_err(|e| ImagingError::Malformed(e.to_string()))
}

fn text(object: &InMemDicomObject, tag: Tag) -> String {
    object
        .element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| {
            e.to_str()
                .ok()
                .map(|s| decode_iso2022(s.trim_end_matches(['\0', ' '])))
        })
        .unwrap_or_default()
}

/// Text with ISO 2022 escape sequences (Specific Character Set `\ISO 2022 IR 87`, Japanese
/// kanji and kana, as Japanese sites write names) decoded. The parser leaves such text as the
/// 7-bit bytes it read when the first character set is the default one; escapes switch between
/// ASCII, JIS X 0201 and JIS X 0208, which is ISO-2022-JP.
pub(crate) fn decode_iso2022(text: &str) -> String {
    if !text.contains('\u{1b}') || !text.is_ascii() {
        return text.to_owned();
    }
    let (decoded, _, _) = encoding_rs::ISO_2022_JP.decode(text.as_bytes());
    decoded.into_owned()
}

fn int(object: &InMemDicomObject, tag: Tag) -> Option<i64> {
    object
        .element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_int::<i64>().ok())
}

fn floats(object: &InMemDicomObject, tag: Tag) -> Vec<f64> {
    object
        .element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_multi_float64().ok())
        .unwrap_or_default()
}

fn date(object: &InMemDicomObject, tag: Tag) -> Option<chrono::NaiveDate> {
    let raw = text(object, tag);
    chrono::NaiveDate::parse_from_str(raw.trim(), "%Y%m%d").ok()
}

fn first_item(object: &InMemDicomObject, tag: Tag) -> Option<&InMemDicomObject> {
    object.element_opt(tag).ok().flatten()?.items()?.first()
}

fn spacing_from(values: &[f64]) -> Option<PixelSpacing> {
    match values {
        [row, column, ..] if *row > 0.0 && *column > 0.0 => Some(PixelSpacing {
            row_mm: *row,
            column_mm: *column,
        }),
        _ => None,
    }
}

fn describe(object: &DefaultDicomObject) -> DicomInfo {
    let o: &InMemDicomObject = object;
    let shared = first_item(o, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE);
    let pixel_spacing = spacing_from(&floats(o, tags::PIXEL_SPACING))
        .or_else(|| {
            shared
                .and_then(|s| first_item(s, tags::PIXEL_MEASURES_SEQUENCE))
                .and_then(|m| spacing_from(&floats(m, tags::PIXEL_SPACING)))
        })
        .or_else(|| spacing_from(&floats(o, tags::IMAGER_PIXEL_SPACING)));
    let window = {
        let centers = floats(o, tags::WINDOW_CENTER);
        let widths = floats(o, tags::WINDOW_WIDTH);
        match (centers.first(), widths.first()) {
            (Some(c), Some(w)) if c.is_finite() && w.is_finite() && *w > 0.0 => {
                Some(Window::new(*c, *w))
            }
            _ => shared
                .and_then(|s| first_item(s, tags::FRAME_VOILUT_SEQUENCE))
                .and_then(|v| {
                    let c = floats(v, tags::WINDOW_CENTER);
                    let w = floats(v, tags::WINDOW_WIDTH);
                    match (c.first(), w.first()) {
                        (Some(c), Some(w)) if *w > 0.0 => Some(Window::new(*c, *w)),
                        _ => None,
                    }
                }),
        }
    };
    let frame_time_ms = floats(o, tags::FRAME_TIME)
        .first()
        .copied()
        .filter(|t| t.is_finite() && *t > 0.0)
        .or_else(|| {
            int(o, tags::CINE_RATE)
                .filter(|r| *r > 0)
                .map(|r| 1000.0 / r as f64)
        });
    DicomInfo {
        patient_id: text(o, tags::PATIENT_ID),
        patient_name: text(o, tags::PATIENT_NAME),
        birth_date: date(o, tags::PATIENT_BIRTH_DATE),
        sex: text(o, tags::PATIENT_SEX),
        study_uid: text(o, tags::STUDY_INSTANCE_UID),
        study_date: date(o, tags::STUDY_DATE),
        study_description: text(o, tags::STUDY_DESCRIPTION),
        series_uid: text(o, tags::SERIES_INSTANCE_UID),
        series_number: int(o, tags::SERIES_NUMBER),
        series_description: text(o, tags::SERIES_DESCRIPTION),
        modality: text(o, tags::MODALITY),
        body_part: text(o, tags::BODY_PART_EXAMINED),
        sop_uid: {
            let uid = text(o, tags::SOP_INSTANCE_UID);
            if uid.is_empty() {
                object
                    .meta()
                    .media_storage_sop_instance_uid()
                    .trim_end_matches('\0')
                    .to_owned()
            } else {
                uid
            }
        },
        sop_class_uid: {
            let uid = text(o, tags::SOP_CLASS_UID);
            if uid.is_empty() {
                object
                    .meta()
                    .media_storage_sop_class_uid()
                    .trim_end_matches('\0')
                    .to_owned()
            } else {
                uid
            }
        },
        instance_number: int(o, tags::INSTANCE_NUMBER),
        transfer_syntax: object
            .meta()
            .transfer_syntax()
            .trim_end_matches(['\0', ' '])
            .to_owned(),
        rows: int(o, tags::ROWS)
            .unwrap_or(0)
            .clamp(0, i64::from(u16::MAX)) as u32,
        columns: int(o, tags::COLUMNS)
            .unwrap_or(0)
            .clamp(0, i64::from(u16::MAX)) as u32,
        frames: int(o, tags::NUMBER_OF_FRAMES)
            .unwrap_or(1)
            .clamp(1, i64::from(u32::MAX)) as u32,
        pixel_spacing,
        window,
        frame_time_ms,
        photometric: text(o, tags::PHOTOMETRIC_INTERPRETATION),
        bits_allocated: int(o, tags::BITS_ALLOCATED)
            .unwrap_or(0)
            .clamp(0, i64::from(u16::MAX)) as u16,
        has_pixels: o.element_opt(tags::PIXEL_DATA).ok().flatten().is_some()
            || (int(o, tags::ROWS).is_some() && int(o, tags::COLUMNS).is_some()),
    }
}

/// Checks, for uncompressed pixel data, that the file holds every byte its header promises, and,
/// for every file, that the decoded image stays under [`MAX_DECODED_BYTES`].
fn check_native_length(object: &DefaultDicomObject, info: &DicomInfo) -> Result<(), ImagingError> {
    let samples = int(object, tags::SAMPLES_PER_PIXEL).unwrap_or(1).max(1) as u64;
    let bits = u64::from(info.bits_allocated.max(1));
    let pixels = u64::from(info.rows) * u64::from(info.columns) * u64::from(info.frames);
    let expected_bits = pixels * samples * bits;
    let expected = expected_bits.div_ceil(8);
    if expected == 0 {
        return Err(ImagingError::Malformed(
            "the image has no rows or columns".to_owned(),
        ));
    }
    if pixels * samples * 4 > MAX_DECODED_BYTES {
        return Err(ImagingError::TooLarge(format!(
            "{} × {} × {} frames is more than Outpost decodes ({} MiB)",
            info.columns,
            info.rows,
            info.frames,
            MAX_DECODED_BYTES >> 20
        )));
    }
    let Ok(Some(element)) = object.element_opt(tags::PIXEL_DATA) else {
        return Err(ImagingError::Unsupported(
            "the file has no pixel data (it is not an image)".to_owned(),
        ));
    };
    if element.value().fragments().is_none() {
        let held = element
            .value()
            .to_bytes()
            .map(|b| b.len() as u64)
            .unwrap_or(0);
        // Odd lengths are padded to even: allow the one pad byte.
        if held < expected && !(bits == 1 && held + 1 >= expected) {
            return Err(ImagingError::Malformed(format!(
                "the pixel data holds {held} bytes, {expected} expected for {} × {} × {} frame(s): the file is truncated",
                info.columns, info.rows, info.frames
            )));
        }
    }
    Ok(())
}

/// Checks that every compressed frame declares the size the DICOM header gives, before a decoder
/// believes it: a JPEG or JPEG 2000 stream claiming a far larger image would otherwise be decoded
/// into that much memory (a decompression bomb).
fn check_compressed_sizes(
    object: &DefaultDicomObject,
    info: &DicomInfo,
) -> Result<(), ImagingError> {
    let Ok(Some(element)) = object.element_opt(tags::PIXEL_DATA) else {
        return Ok(());
    };
    let Some(fragments) = element.value().fragments() else {
        return Ok(());
    };
    for fragment in fragments {
        // A JPEG height of 0 is given later in the stream (DNL): only the width is known then.
        if let Some((width, height)) = codestream_size(fragment)
            && (width != info.columns || (height != info.rows && height != 0))
        {
            return Err(ImagingError::Malformed(format!(
                "the compressed image is {width} × {height} but the file says {} × {}",
                info.columns, info.rows
            )));
        }
    }
    Ok(())
}

/// The image size a JPEG (baseline, lossless, JPEG-LS) or JPEG 2000 codestream declares, read
/// from its first marker segments; `None` for anything else (RLE, a continuation fragment).
pub(crate) fn codestream_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let be16 = |at: usize| -> Option<u32> {
        let b = bytes.get(at..at + 2)?;
        Some(u32::from(u16::from_be_bytes([b[0], b[1]])))
    };
    let be32 = |at: usize| -> Option<u32> {
        let b = bytes.get(at..at + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    if bytes.starts_with(&[0xFF, 0x4F, 0xFF, 0x51]) {
        // JPEG 2000: SIZ follows SOC. Width = Xsiz − XOsiz, height = Ysiz − YOsiz.
        let (x, y, x0, y0) = (be32(8)?, be32(12)?, be32(16)?, be32(20)?);
        return Some((x.checked_sub(x0)?, y.checked_sub(y0)?));
    }
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    // JPEG: walk the marker segments to the first start-of-frame.
    let mut at = 2;
    for _ in 0..64 {
        if *bytes.get(at)? != 0xFF {
            return None;
        }
        let marker = *bytes.get(at + 1)?;
        let is_sof = matches!(marker, 0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC))
            || marker == 0xF7;
        if is_sof {
            return Some((be16(at + 7)?, be16(at + 5)?));
        }
        if marker == 0xDA {
            return None;
        }
        at += 2 + usize::try_from(be16(at + 2)?).ok()?;
    }
    None
}

fn frame_from_decoded(
    object: &DefaultDicomObject,
    decoded: &dicom_pixeldata::DecodedPixelData<'_>,
    index: u32,
) -> Result<Frame, ImagingError> {
    let width = decoded.columns();
    let height = decoded.rows();
    let pixels = width as usize * height as usize;
    let samples = decoded.samples_per_pixel() as usize;
    let bits_allocated = decoded.bits_allocated();
    let bits_stored = decoded.bits_stored().clamp(1, bits_allocated.max(1));
    let signed = decoded.pixel_representation() == PixelRepresentation::Signed;
    let data = decoded.data();
    let photometric = decoded.photometric_interpretation().clone();
    let bytes_per_sample = match bits_allocated {
        8 => 1,
        16 => 2,
        other => {
            return Err(ImagingError::Unsupported(format!(
                "{other}-bit pixel data is not supported (8- and 16-bit are)"
            )));
        }
    };
    let needed = pixels * samples * bytes_per_sample;
    let Some(data) = data.get(..needed) else {
        return Err(ImagingError::Malformed(format!(
            "the decoded frame holds {} bytes, {needed} expected",
            data.len()
        )));
    };
    let stored: Vec<i32> = match bytes_per_sample {
        1 => data
            .iter()
            .map(|b| sign_extend(u32::from(*b), bits_stored, signed))
            .collect(),
        _ => data
            .chunks_exact(2)
            .map(|b| {
                sign_extend(
                    u32::from(u16::from_le_bytes([b[0], b[1]])),
                    bits_stored,
                    signed,
                )
            })
            .collect(),
    };
    let planar = decoded.planar_configuration() == dicom_pixeldata::PlanarConfiguration::PixelFirst;
    let pixels_out = match (samples, &photometric) {
        (1, PhotometricInterpretation::Monochrome1 | PhotometricInterpretation::Monochrome2) => {
            let min = stored.iter().copied().min().unwrap_or(0);
            let max = stored.iter().copied().max().unwrap_or(0);
            let rescale = decoded
                .rescale()
                .ok()
                .and_then(|r| r.get(index as usize).or_else(|| r.first()).copied())
                .map(|r| Rescale {
                    slope: if r.slope.is_finite() && r.slope != 0.0 {
                        r.slope
                    } else {
                        1.0
                    },
                    intercept: if r.intercept.is_finite() {
                        r.intercept
                    } else {
                        0.0
                    },
                })
                .unwrap_or_default();
            Pixels::Mono {
                values: stored,
                min,
                max,
                rescale,
                inverted: photometric == PhotometricInterpretation::Monochrome1,
            }
        }
        (1, PhotometricInterpretation::PaletteColor) => {
            Pixels::Rgb(palette_to_rgb(object, &stored)?)
        }
        (
            3,
            PhotometricInterpretation::Rgb
            | PhotometricInterpretation::YbrFull
            | PhotometricInterpretation::YbrFull422
            | PhotometricInterpretation::YbrRct
            | PhotometricInterpretation::YbrIct,
        ) => {
            let to_byte = |v: i32| -> u8 {
                if bytes_per_sample == 2 {
                    (v.clamp(0, 65535) >> (bits_stored.saturating_sub(8).min(8))).clamp(0, 255)
                        as u8
                } else {
                    v.clamp(0, 255) as u8
                }
            };
            let mut rgb = Vec::with_capacity(pixels * 3);
            for p in 0..pixels {
                let sample = |c: usize| -> u8 {
                    let i = if planar { c * pixels + p } else { p * 3 + c };
                    stored.get(i).copied().map(to_byte).unwrap_or(0)
                };
                let (a, b, c) = (sample(0), sample(1), sample(2));
                match photometric {
                    PhotometricInterpretation::YbrFull | PhotometricInterpretation::YbrFull422 => {
                        rgb.extend_from_slice(&ybr_to_rgb(a, b, c));
                    }
                    _ => rgb.extend_from_slice(&[a, b, c]),
                }
            }
            Pixels::Rgb(rgb)
        }
        (samples, other) => {
            return Err(ImagingError::Unsupported(format!(
                "photometric interpretation {other} with {samples} sample(s) per pixel is not supported"
            )));
        }
    };
    Ok(Frame {
        width,
        height,
        pixels: pixels_out,
    })
}

/// Masks a raw sample to its stored bits and extends the sign when the pixel representation says
/// the values are signed.
pub(crate) fn sign_extend(raw: u32, bits_stored: u16, signed: bool) -> i32 {
    let bits = u32::from(bits_stored.clamp(1, 31));
    let value = raw & ((1u32 << bits) - 1);
    if signed && value & (1 << (bits - 1)) != 0 {
        value as i32 - (1i32 << bits)
    } else {
        value as i32
    }
}

/// YCbCr (full range, as in JPEG and YBR_FULL) to RGB, by the formulas of DICOM PS3.3 C.7.6.3.1.2.
pub(crate) fn ybr_to_rgb(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    let y = f32::from(y);
    let cb = f32::from(cb) - 128.0;
    let cr = f32::from(cr) - 128.0;
    let r = y + 1.402 * cr;
    let g = y - 0.344_136 * cb - 0.714_136 * cr;
    let b = y + 1.772 * cb;
    [
        r.round().clamp(0.0, 255.0) as u8,
        g.round().clamp(0.0, 255.0) as u8,
        b.round().clamp(0.0, 255.0) as u8,
    ]
}

/// Maps palette indices to colours through the file's red, green and blue look-up tables.
fn palette_to_rgb(object: &DefaultDicomObject, indices: &[i32]) -> Result<Vec<u8>, ImagingError> {
    let table = |descriptor: Tag, data: Tag| -> Result<(i64, Vec<u8>), ImagingError> {
        let desc: Vec<i64> = object
            .element_opt(descriptor)
            .ok()
            .flatten()
            .and_then(|e| e.to_multi_float64().ok())
            .unwrap_or_default()
            .into_iter()
            .map(|v| v as i64)
            .collect();
        let [entries, first, bits, ..] = desc.as_slice() else {
            return Err(ImagingError::Malformed(
                "a palette colour image without its colour table descriptor".to_owned(),
            ));
        };
        let entries = if *entries == 0 { 65536 } else { *entries } as usize;
        let raw = object
            .element_opt(data)
            .ok()
            .flatten()
            .and_then(|e| e.value().to_bytes().ok().map(|b| b.into_owned()))
            .ok_or_else(|| {
                ImagingError::Malformed(
                    "a palette colour image without its colour table".to_owned(),
                )
            })?;
        let shift = if *bits > 8 { 8 } else { 0 };
        let values: Vec<u8> = if raw.len() >= entries * 2 {
            raw.chunks_exact(2)
                .take(entries)
                .map(|b| (u16::from_le_bytes([b[0], b[1]]) >> shift) as u8)
                .collect()
        } else {
            raw.into_iter().take(entries).collect()
        };
        Ok((*first, values))
    };
    let red = table(
        tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
        tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
    )?;
    let green = table(
        tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
        tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
    )?;
    let blue = table(
        tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
        tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
    )?;
    let look = |(first, values): &(i64, Vec<u8>), index: i32| -> u8 {
        let i = (i64::from(index) - first).clamp(0, values.len().saturating_sub(1) as i64) as usize;
        values.get(i).copied().unwrap_or(0)
    };
    let mut rgb = Vec::with_capacity(indices.len() * 3);
    for index in indices {
        rgb.extend_from_slice(&[
            look(&red, *index),
            look(&green, *index),
            look(&blue, *index),
        ]);
    }
    Ok(rgb)
}

fn tag_rows(rows: &mut Vec<TagRow>, depth: usize, object: &InMemDicomObject) {
    use dicom_core::header::Header;
    use dicom_core::value::Value;
    for element in object.iter() {
        let value = match element.value() {
            Value::Sequence(seq) => format!("sequence of {} item(s)", seq.multiplicity()),
            Value::PixelSequence(seq) => {
                format!("{} compressed fragment(s)", seq.fragments().len())
            }
            Value::Primitive(p) => primitive_text(p),
        };
        push_tag_row(rows, depth, element.tag(), element.vr(), value);
        if let Some(items) = element.items() {
            for (n, item) in items.iter().enumerate() {
                rows.push(TagRow {
                    depth: depth + 1,
                    tag: "(FFFE,E000)".to_owned(),
                    vr: String::new(),
                    name: format!("Item {}", n + 1),
                    value: String::new(),
                });
                if depth < 8 {
                    tag_rows(rows, depth + 2, item);
                }
            }
        }
    }
}

/// A value as the tag panel shows it: long binary values by their size, long text shortened.
fn primitive_text(p: &dicom_core::PrimitiveValue) -> String {
    use dicom_core::PrimitiveValue;
    match p {
        PrimitiveValue::U8(b) if b.len() > 16 => format!("{} bytes", b.len()),
        PrimitiveValue::U16(v) if v.len() > 16 => format!("{} words", v.len()),
        PrimitiveValue::F32(v) if v.len() > 16 => format!("{} values", v.len()),
        _ => {
            let mut text = decode_iso2022(p.to_str().trim_end_matches(['\0', ' ']));
            if text.chars().count() > 120 {
                text = text.chars().take(120).collect::<String>() + "…";
            }
            text
        }
    }
}

fn push_tag_row(rows: &mut Vec<TagRow>, depth: usize, tag: Tag, vr: dicom_core::VR, value: String) {
    use dicom_core::dictionary::DataDictionary;
    let name = StandardDataDictionary
        .by_tag(tag)
        .map(|entry| entry.alias.to_owned())
        .unwrap_or_default();
    rows.push(TagRow {
        depth,
        tag: format!("({:04X},{:04X})", tag.group(), tag.element()),
        vr: vr.to_string().to_owned(),
        name,
        value,
    });
}

/// A person name in DICOM PN form (`Family^Given^Middle^Prefix^Suffix`, groups for alphabetic,
/// ideographic and phonetic forms separated by `=`) as a person reads it.
pub fn person_name_display(pn: &str) -> String {
    pn.split('=')
        .enumerate()
        .filter_map(|(group, part)| {
            let c: Vec<&str> = part.split('^').map(str::trim).collect();
            let get = |i: usize| c.get(i).copied().unwrap_or("");
            let words: Vec<&str> = if group == 0 {
                // Alphabetic form: prefix, given, middle, family, suffix.
                vec![get(3), get(1), get(2), get(0), get(4)]
            } else {
                // Ideographic and phonetic forms keep family-name-first order.
                vec![get(0), get(1), get(2)]
            };
            let joined = words
                .into_iter()
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            (!joined.is_empty()).then_some(joined)
        })
        .collect::<Vec<_>>()
        .join(" / ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_as_people_write_them() {
        assert_eq!(person_name_display("Doe^Archibald"), "Archibald Doe");
        assert_eq!(
            person_name_display("Yamada^Tarou=山田^太郎=やまだ^たろう"),
            "Tarou Yamada / 山田 太郎 / やまだ たろう"
        );
        assert_eq!(person_name_display(""), "");
    }

    #[test]
    fn stored_bits_are_masked_and_signed() {
        assert_eq!(sign_extend(0x0FFF, 12, true), -1);
        assert_eq!(sign_extend(0x0FFF, 12, false), 4095);
        assert_eq!(sign_extend(0xF800, 12, false), 0x800);
        assert_eq!(sign_extend(0xFFFF, 16, true), -1);
    }

    #[test]
    fn codestream_sizes_are_read_from_jpeg_and_jpeg_2000() {
        // JPEG: SOI, an APP0 of 4 bytes, SOF0 with height 2 and width 3.
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00, 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00,
            0x02, 0x00, 0x03,
        ];
        assert_eq!(codestream_size(&jpeg), Some((3, 2)));
        // JPEG 2000: SOC, SIZ with Xsiz 300, Ysiz 200, offsets 100 and 0.
        let mut j2k = vec![0xFF, 0x4F, 0xFF, 0x51, 0x00, 0x29, 0x00, 0x00];
        for v in [300u32, 200, 100, 0] {
            j2k.extend_from_slice(&v.to_be_bytes());
        }
        assert_eq!(codestream_size(&j2k), Some((200, 200)));
        assert_eq!(codestream_size(b"RLE?"), None);
    }

    #[test]
    fn grey_ycbcr_is_grey() {
        assert_eq!(ybr_to_rgb(100, 128, 128), [100, 100, 100]);
    }
}
