//! Imaging: DICOM studies and photos, from untrusted files to frames on screen.
//!
//! This module owns reading image files (with the checks that keep a malformed file from hanging
//! the workstation or taking its memory), decoding frames, window/level and measurements, and the
//! import of files and folders (a patient CD with its DICOMDIR) into the store, and their way
//! out: a folder laid out as a patient CD with its DICOMDIR, de-identified if asked. It knows nothing of
//! egui: the viewer in `ui` asks it for frames through a decode worker.

mod deidentify;
mod dicom;
mod dicomdir;
mod frame;
mod import;
mod media;
mod photo;
mod scan;
mod worker;

pub use deidentify::{BurnedIn, Change, Deidentified, Deidentifier, TagChange};
pub use dicom::{
    DicomFile, DicomInfo, MAX_DECODED_BYTES, TagRow, person_name_display, read_header,
};
pub use dicomdir::dicomdir_files;
pub use frame::{
    CT_PRESETS, Display, Distance, Frame, PixelSpacing, PixelValue, Pixels, Rescale, Window,
    WindowPreset, distance, grey_lut,
};
pub use import::{
    ImportEvent, ImportFailure, ImportOptions, ImportSummary, MAX_FILE_BYTES, SourceIdentity,
    collect_files, import_paths, inspect_identities, read_file_bounded,
};
pub use media::{FILE_SET_ID, MediaEntry, dicomdir, media_path, part10};
pub use photo::{PhotoFormat, decode_photo, photo_size, sniff};
pub use worker::{
    BlobSource, DecodeRequest, DecodeWorker, DecodedImage, FrameCache, ImageSource, NOT_HERE,
};

/// Why an image file could not be read or shown. Messages name what is wrong, never a patient.
#[derive(Debug, thiserror::Error)]
pub enum ImagingError {
    /// The file is not DICOM (and not a photo).
    #[error("not a DICOM file: {0}")]
    NotDicom(String),
    /// The file breaks its own structure (lengths, sequences) or is cut short.
    #[error("damaged DICOM file: {0}")]
    Malformed(String),
    /// The file is sound but uses something Outpost cannot show.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// The file or its image is beyond Outpost's limits.
    #[error("too large: {0}")]
    TooLarge(String),
    /// The pixel data could not be decoded.
    #[error("cannot decode the image: {0}")]
    Decode(String),
    /// A photo could not be read.
    #[error("cannot read the photo: {0}")]
    Photo(String),
    /// The file could not be read from disk.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}
