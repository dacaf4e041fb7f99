//! Photos (JPEG, PNG): a phone picture of a wound, a rash or a paper result. Decoded with the
//! `image` crate under size limits, turned upright by their EXIF orientation.

use super::ImagingError;
use super::frame::{Frame, Pixels};
use image::{ImageDecoder, ImageReader, Limits};
use std::io::Cursor;

/// The largest photo side accepted, in pixels.
pub const MAX_PHOTO_SIDE: u32 = 16_384;

/// What a photo file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhotoFormat {
    /// JPEG.
    Jpeg,
    /// PNG.
    Png,
}

impl PhotoFormat {
    /// The media type stored with the attachment.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
        }
    }
}

/// Tells a photo by its first bytes (never by its name).
pub fn sniff(bytes: &[u8]) -> Option<PhotoFormat> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(PhotoFormat::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(PhotoFormat::Png)
    } else {
        None
    }
}

/// Decodes a photo, upright, as an RGB frame.
pub fn decode_photo(bytes: &[u8]) -> Result<Frame, ImagingError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ImagingError::Photo(e.to_string()))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_PHOTO_SIDE);
    limits.max_image_height = Some(MAX_PHOTO_SIDE);
    limits.max_alloc = Some(1 << 30);
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| ImagingError::Photo(e.to_string()))?;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut image = image::DynamicImage::from_decoder(decoder)
        .map_err(|e| ImagingError::Photo(e.to_string()))?;
    image.apply_orientation(orientation);
    let rgb = image.to_rgb8();
    Ok(Frame {
        width: rgb.width(),
        height: rgb.height(),
        pixels: Pixels::Rgb(rgb.into_raw()),
    })
}

/// The upright size of a photo without decoding its pixels.
pub fn photo_size(bytes: &[u8]) -> Result<(u32, u32), ImagingError> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ImagingError::Photo(e.to_string()))?;
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| ImagingError::Photo(e.to_string()))?;
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 || w > MAX_PHOTO_SIDE || h > MAX_PHOTO_SIDE {
        return Err(ImagingError::TooLarge(format!(
            "a photo of {w} × {h} pixels (at most {MAX_PHOTO_SIDE} a side)"
        )));
    }
    use image::metadata::Orientation;
    Ok(
        match decoder.orientation().unwrap_or(Orientation::NoTransforms) {
            Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH => (h, w),
            _ => (w, h),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = image::RgbImage::from_fn(width, height, |x, _| image::Rgb([x as u8, 0, 0]));
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn a_png_decodes_to_its_pixels() {
        let bytes = png(3, 2);
        assert_eq!(sniff(&bytes), Some(PhotoFormat::Png));
        let frame = decode_photo(&bytes).unwrap();
        assert_eq!((frame.width, frame.height), (3, 2));
        let Pixels::Rgb(rgb) = frame.pixels else {
            panic!("a photo is RGB");
        };
        assert_eq!(&rgb[0..6], &[0, 0, 0, 1, 0, 0]);
        assert_eq!(photo_size(&bytes).unwrap(), (3, 2));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(decode_photo(b"\x89PNG\r\n\x1a\nnot really").is_err());
        assert_eq!(sniff(b"hello"), None);
    }
}
