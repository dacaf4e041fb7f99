//! Pixel formats the sample files do not cover, written here with known values and decoded back:
//! MONOCHROME1, 12-bit signed samples, palette colour, YBR_FULL, planar RGB, rescale slope and
//! intercept, and what is not supported (a clear message, never a blank view).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use outpost::imaging::{DicomFile, Display, ImagingError, Pixels};

struct Image {
    rows: u16,
    columns: u16,
    samples: u16,
    photometric: &'static str,
    bits_allocated: u16,
    bits_stored: u16,
    signed: bool,
    planar: Option<u16>,
    pixel_data: PrimitiveValue,
    extra: Vec<DataElement<InMemDicomObject>>,
}

fn write(image: Image) -> Vec<u8> {
    let mut obj = InMemDicomObject::new_empty();
    let sop = "2.25.424242";
    obj.put(DataElement::new(
        tags::SOP_CLASS_UID,
        VR::UI,
        "1.2.840.10008.5.1.4.1.1.7",
    ));
    obj.put(DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, sop));
    obj.put(DataElement::new(tags::STUDY_INSTANCE_UID, VR::UI, "2.25.1"));
    obj.put(DataElement::new(
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        "2.25.1.1",
    ));
    obj.put(DataElement::new(tags::MODALITY, VR::CS, "OT"));
    obj.put(DataElement::new(
        tags::SAMPLES_PER_PIXEL,
        VR::US,
        PrimitiveValue::from(image.samples),
    ));
    obj.put(DataElement::new(
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        image.photometric,
    ));
    obj.put(DataElement::new(
        tags::ROWS,
        VR::US,
        PrimitiveValue::from(image.rows),
    ));
    obj.put(DataElement::new(
        tags::COLUMNS,
        VR::US,
        PrimitiveValue::from(image.columns),
    ));
    obj.put(DataElement::new(
        tags::BITS_ALLOCATED,
        VR::US,
        PrimitiveValue::from(image.bits_allocated),
    ));
    obj.put(DataElement::new(
        tags::BITS_STORED,
        VR::US,
        PrimitiveValue::from(image.bits_stored),
    ));
    obj.put(DataElement::new(
        tags::HIGH_BIT,
        VR::US,
        PrimitiveValue::from(image.bits_stored - 1),
    ));
    obj.put(DataElement::new(
        tags::PIXEL_REPRESENTATION,
        VR::US,
        PrimitiveValue::from(u16::from(image.signed)),
    ));
    if let Some(planar) = image.planar {
        obj.put(DataElement::new(
            tags::PLANAR_CONFIGURATION,
            VR::US,
            PrimitiveValue::from(planar),
        ));
    }
    for element in image.extra {
        obj.put(element);
    }
    let vr = if image.bits_allocated == 8 {
        VR::OB
    } else {
        VR::OW
    };
    obj.put(DataElement::new(tags::PIXEL_DATA, vr, image.pixel_data));
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax("1.2.840.10008.1.2.1")
                .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.7")
                .media_storage_sop_instance_uid(sop),
        )
        .unwrap();
    let mut bytes = Vec::new();
    file.write_all(&mut bytes).unwrap();
    bytes
}

#[test]
fn twelve_bit_signed_samples_are_sign_extended_and_rescaled() {
    // 12-bit two's complement in 16-bit words, with junk in the unused high bits.
    let stored: [i16; 4] = [-2048, -1, 0, 2047];
    let words: Vec<u16> = stored
        .iter()
        .map(|v| (*v as u16 & 0x0FFF) | 0xA000)
        .collect();
    let bytes = write(Image {
        rows: 2,
        columns: 2,
        samples: 1,
        photometric: "MONOCHROME2",
        bits_allocated: 16,
        bits_stored: 12,
        signed: true,
        planar: None,
        pixel_data: PrimitiveValue::U16(words.into()),
        extra: vec![
            DataElement::new(tags::RESCALE_SLOPE, VR::DS, "2"),
            DataElement::new(tags::RESCALE_INTERCEPT, VR::DS, "-10"),
        ],
    });
    let frame = DicomFile::parse(&bytes).unwrap().decode_frame(0).unwrap();
    let Pixels::Mono {
        values,
        min,
        max,
        rescale,
        inverted,
    } = &frame.pixels
    else {
        panic!("monochrome");
    };
    assert_eq!(values, &[-2048, -1, 0, 2047]);
    assert_eq!((*min, *max), (-2048, 2047));
    assert_eq!(rescale.apply(2047), 4084.0);
    assert!(!inverted);
}

#[test]
fn monochrome1_shows_the_lowest_value_white() {
    let bytes = write(Image {
        rows: 1,
        columns: 2,
        samples: 1,
        photometric: "MONOCHROME1",
        bits_allocated: 8,
        bits_stored: 8,
        signed: false,
        planar: None,
        pixel_data: PrimitiveValue::U8(vec![0, 255].into()),
        extra: vec![],
    });
    let frame = DicomFile::parse(&bytes).unwrap().decode_frame(0).unwrap();
    let rgba = frame.render_rgba(&Display {
        window: None,
        invert: false,
    });
    assert_eq!(&rgba[0..4], &[255, 255, 255, 255]);
    assert_eq!(&rgba[4..8], &[0, 0, 0, 255]);
    // The user's Invert turns it back.
    let rgba = frame.render_rgba(&Display {
        window: None,
        invert: true,
    });
    assert_eq!(rgba[0], 0);
}

#[test]
fn palette_colour_maps_through_the_file_tables() {
    // Three entries starting at index 0, 16-bit table values.
    let descriptor = || PrimitiveValue::U16(vec![3, 0, 16].into());
    let table = |values: [u16; 3]| PrimitiveValue::U16(values.to_vec().into());
    let bytes = write(Image {
        rows: 1,
        columns: 3,
        samples: 1,
        photometric: "PALETTE COLOR",
        bits_allocated: 8,
        bits_stored: 8,
        signed: false,
        planar: None,
        pixel_data: PrimitiveValue::U8(vec![0, 1, 2].into()),
        extra: vec![
            DataElement::new(
                tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
                VR::US,
                descriptor(),
            ),
            DataElement::new(
                tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
                VR::US,
                descriptor(),
            ),
            DataElement::new(
                tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DESCRIPTOR,
                VR::US,
                descriptor(),
            ),
            DataElement::new(
                tags::RED_PALETTE_COLOR_LOOKUP_TABLE_DATA,
                VR::OW,
                table([0xFFFF, 0, 0]),
            ),
            DataElement::new(
                tags::GREEN_PALETTE_COLOR_LOOKUP_TABLE_DATA,
                VR::OW,
                table([0, 0xFFFF, 0]),
            ),
            DataElement::new(
                tags::BLUE_PALETTE_COLOR_LOOKUP_TABLE_DATA,
                VR::OW,
                table([0, 0, 0x8000]),
            ),
        ],
    });
    let frame = DicomFile::parse(&bytes).unwrap().decode_frame(0).unwrap();
    assert_eq!(
        frame.pixels,
        Pixels::Rgb(vec![255, 0, 0, 0, 255, 0, 0, 0, 128])
    );
}

#[test]
fn planar_rgb_and_ybr_full_become_rgb() {
    // Planar: all reds, then all greens, then all blues.
    let bytes = write(Image {
        rows: 1,
        columns: 2,
        samples: 3,
        photometric: "RGB",
        bits_allocated: 8,
        bits_stored: 8,
        signed: false,
        planar: Some(1),
        pixel_data: PrimitiveValue::U8(vec![10, 20, 30, 40, 50, 60].into()),
        extra: vec![],
    });
    let frame = DicomFile::parse(&bytes).unwrap().decode_frame(0).unwrap();
    assert_eq!(frame.pixels, Pixels::Rgb(vec![10, 30, 50, 20, 40, 60]));

    // YBR_FULL: Y 76, Cb 85, Cr 255 is pure red; Y 128 with neutral chroma is mid grey.
    let bytes = write(Image {
        rows: 1,
        columns: 2,
        samples: 3,
        photometric: "YBR_FULL",
        bits_allocated: 8,
        bits_stored: 8,
        signed: false,
        planar: Some(0),
        pixel_data: PrimitiveValue::U8(vec![76, 85, 255, 128, 128, 128].into()),
        extra: vec![],
    });
    let frame = DicomFile::parse(&bytes).unwrap().decode_frame(0).unwrap();
    let Pixels::Rgb(rgb) = frame.pixels else {
        panic!("colour");
    };
    assert!(rgb[0] >= 253 && rgb[1] <= 2 && rgb[2] <= 2, "{rgb:?}");
    assert_eq!(&rgb[3..6], &[128, 128, 128]);
}

#[test]
fn what_is_not_supported_is_named() {
    let bytes = write(Image {
        rows: 1,
        columns: 1,
        samples: 1,
        photometric: "MONOCHROME2",
        bits_allocated: 32,
        bits_stored: 32,
        signed: false,
        planar: None,
        pixel_data: PrimitiveValue::U32(vec![7].into()),
        extra: vec![],
    });
    let error = DicomFile::parse(&bytes)
        .unwrap()
        .decode_frame(0)
        .unwrap_err();
    assert!(matches!(error, ImagingError::Unsupported(_)), "{error}");
    assert!(error.to_string().contains("32-bit"), "{error}");
}

#[test]
fn a_compression_without_a_decoder_here_is_named() {
    // A JPEG XL file (no decoder is built into Outpost): the header reads, the frame says which
    // compression it cannot decode.
    use dicom_core::value::{PixelFragmentSequence, Value};
    let mut obj = InMemDicomObject::new_empty();
    let sop = "2.25.515151";
    for (tag, vr, value) in [
        (tags::SOP_INSTANCE_UID, VR::UI, PrimitiveValue::from(sop)),
        (
            tags::STUDY_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("2.25.5"),
        ),
        (
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("2.25.5.1"),
        ),
        (tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16)),
        (
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            PrimitiveValue::from("MONOCHROME2"),
        ),
        (tags::ROWS, VR::US, PrimitiveValue::from(2u16)),
        (tags::COLUMNS, VR::US, PrimitiveValue::from(2u16)),
        (tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(8u16)),
        (tags::BITS_STORED, VR::US, PrimitiveValue::from(8u16)),
        (tags::HIGH_BIT, VR::US, PrimitiveValue::from(7u16)),
        (
            tags::PIXEL_REPRESENTATION,
            VR::US,
            PrimitiveValue::from(0u16),
        ),
    ] {
        obj.put(DataElement::new(tag, vr, value));
    }
    let fragments =
        PixelFragmentSequence::new(Vec::<u32>::new(), vec![vec![0xFF, 0xD8, 0xFF, 0xF7, 0, 0]]);
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        Value::from(fragments),
    ));
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax("1.2.840.10008.1.2.4.110")
                .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.7")
                .media_storage_sop_instance_uid(sop),
        )
        .unwrap();
    let mut bytes = Vec::new();
    file.write_all(&mut bytes).unwrap();
    let parsed = DicomFile::parse(&bytes).unwrap();
    assert!(
        parsed.info().transfer_syntax_name().contains("JPEG XL"),
        "{}",
        parsed.info().transfer_syntax_name()
    );
    let error = parsed.decode_frame(0).unwrap_err();
    assert!(matches!(error, ImagingError::Unsupported(_)), "{error}");
    assert!(error.to_string().contains("JPEG XL"), "{error}");
}

#[cfg(feature = "jpeg-ls")]
#[test]
fn jpeg_ls_decodes_to_the_same_pixels_as_the_uncompressed_original() {
    // CT_small compressed here with CharLS (JPEG-LS lossless), then read back through Outpost.
    use dicom_pixeldata::Transcode;
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/dicom/CT_small.dcm");
    let original = std::fs::read(&path).unwrap();
    let expected = DicomFile::parse(&original)
        .unwrap()
        .decode_frame(0)
        .unwrap();
    let mut object = dicom_object::open_file(&path).unwrap();
    object
        .transcode(
            &dicom_transfer_syntax_registry::entries::JPEG_LS_LOSSLESS_IMAGE_COMPRESSION.erased(),
        )
        .unwrap();
    let mut compressed = Vec::new();
    object.write_all(&mut compressed).unwrap();
    let file = DicomFile::parse(&compressed).unwrap();
    assert_eq!(file.info().transfer_syntax, "1.2.840.10008.1.2.4.80");
    assert!(
        compressed.len() < original.len(),
        "{} bytes",
        compressed.len()
    );
    let frame = file.decode_frame(0).unwrap();
    assert_eq!(frame, expected);
}
