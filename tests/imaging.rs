//! Imaging against real files: every sample in `tests/data/dicom/` (the shared DICOM samples,
//! copied unchanged with their licence notes) decodes to the figures in
//! `tests/data/dicom_reference.json` (computed independently, with pydicom) or fails with a clear
//! error; the sample CD imports into the right studies and series; hostile files fail fast.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use outpost::imaging::{
    DicomFile, ImagingError, ImportOptions, Pixels, collect_files, decode_photo, import_paths,
    inspect_identities, read_header,
};
use outpost::model::{Patient, PatientId};
use outpost::store::Store;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/dicom")
}

#[test]
fn the_samples_are_unchanged_copies_of_the_shared_ones() {
    // The shared folder sits beside the project on development machines; where it does, the
    // copies here must be byte for byte the same files.
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/dicom");
    let ours = data_dir();
    let mut compared = 0;
    let mut stack = vec![ours.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let relative = path.strip_prefix(&ours).unwrap();
            if let Ok(original) = std::fs::read(shared.join(relative)) {
                assert_eq!(
                    std::fs::read(&path).unwrap(),
                    original,
                    "{}",
                    relative.display()
                );
                compared += 1;
            }
        }
    }
    assert!(compared == 0 || compared == 43, "{compared} files compared");
}

fn reference() -> Value {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/dicom_reference.json"),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn lossy(name: &str) -> bool {
    name == "examples_ybr_color.dcm"
}

#[test]
fn every_sample_file_decodes_to_the_reference_figures_or_fails_clearly() {
    let reference = reference();
    let files = reference["files"].as_array().unwrap();
    assert_eq!(files.len(), 10, "one reference entry per sample file");
    for entry in files {
        let name = entry["file"].as_str().unwrap();
        let bytes = std::fs::read(data_dir().join(name)).unwrap();
        let decodes = entry["pixels_decoded"].as_bool() == Some(true);
        if !decodes {
            // Malformed: a clear error, never a panic, and quickly.
            let started = Instant::now();
            let outcome = DicomFile::parse(&bytes).and_then(|file| {
                let frames = file.info().frames;
                (0..frames).try_for_each(|i| file.decode_frame(i).map(|_| ()))
            });
            let error = outcome.expect_err(name);
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{name} took too long"
            );
            let text = error.to_string();
            assert!(
                text.len() > 20,
                "{name}: an explanatory message, got {text:?}"
            );
            match name {
                "MR_truncated.dcm" => assert!(
                    text.contains("8130") && text.contains("8192"),
                    "{name}: says what is missing: {text}"
                ),
                "no_meta.dcm" => assert!(matches!(error, ImagingError::NotDicom(_)), "{text}"),
                _ => {}
            }
            continue;
        }
        let header = &entry["header"];
        let file = DicomFile::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let info = file.info();
        assert_eq!(
            u64::from(info.rows),
            header["rows"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            u64::from(info.columns),
            header["columns"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            u64::from(info.frames),
            header["number_of_frames"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            info.study_uid,
            header["study_instance_uid"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            info.series_uid,
            header["series_instance_uid"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            info.sop_uid,
            header["sop_instance_uid"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            info.modality,
            header["modality"].as_str().unwrap_or(""),
            "{name}"
        );
        assert_eq!(
            info.patient_name,
            header["patient_name"].as_str().unwrap_or(""),
            "{name}"
        );
        if let Some(spacing) = header["pixel_spacing"].as_array() {
            let s = info
                .pixel_spacing
                .unwrap_or_else(|| panic!("{name}: spacing"));
            assert!(
                (s.row_mm - spacing[0].as_f64().unwrap()).abs() < 1e-6,
                "{name}"
            );
            assert!(
                (s.column_mm - spacing[1].as_f64().unwrap()).abs() < 1e-6,
                "{name}"
            );
        }

        let pixels = &entry["pixels"];
        let sums = pixels["frame_sums"].as_array().unwrap();
        assert_eq!(sums.len() as u32, info.frames, "{name}");
        let mut decoded = Vec::new();
        for index in 0..info.frames {
            let frame = file
                .decode_frame(index)
                .unwrap_or_else(|e| panic!("{name} frame {index}: {e}"));
            assert_eq!(
                (frame.width, frame.height),
                (info.columns, info.rows),
                "{name}"
            );
            let (sum, count) = match &frame.pixels {
                Pixels::Mono {
                    values, min, max, ..
                } => {
                    assert_eq!(
                        i64::from(*min),
                        pixels["frame_min"][index as usize].as_i64().unwrap(),
                        "{name} frame {index} min"
                    );
                    assert_eq!(
                        i64::from(*max),
                        pixels["frame_max"][index as usize].as_i64().unwrap(),
                        "{name} frame {index} max"
                    );
                    (
                        values.iter().map(|v| i64::from(*v)).sum::<i64>(),
                        values.len(),
                    )
                }
                Pixels::Rgb(bytes) => (
                    bytes.iter().map(|v| i64::from(*v)).sum::<i64>(),
                    bytes.len(),
                ),
            };
            let expected = sums[index as usize].as_i64().unwrap();
            if lossy(name) {
                // Lossy JPEG decoders differ by a few levels per sample.
                let mean_diff = (sum - expected).abs() as f64 / count as f64;
                assert!(
                    mean_diff < 0.5,
                    "{name} frame {index}: sum {sum} vs {expected}"
                );
            } else {
                assert_eq!(sum, expected, "{name} frame {index}: sum of samples");
            }
            decoded.push(frame);
        }
        for sample in pixels["samples"].as_array().unwrap() {
            let frame = &decoded[sample["frame"].as_u64().unwrap() as usize];
            let row = sample["row"].as_u64().unwrap() as usize;
            let col = sample["col"].as_u64().unwrap() as usize;
            let at = row * frame.width as usize + col;
            match (&frame.pixels, &sample["value"]) {
                (Pixels::Mono { values, .. }, Value::Number(n)) => {
                    assert_eq!(
                        i64::from(values[at]),
                        n.as_i64().unwrap(),
                        "{name} ({row},{col})"
                    );
                }
                (Pixels::Rgb(bytes), Value::Array(rgb)) => {
                    for c in 0..3 {
                        let got = i64::from(bytes[at * 3 + c]);
                        let want = rgb[c].as_i64().unwrap();
                        let tolerance = if lossy(name) { 3 } else { 0 };
                        assert!(
                            (got - want).abs() <= tolerance,
                            "{name} ({row},{col}) channel {c}: {got} vs {want}"
                        );
                    }
                }
                (pixels, value) => panic!("{name}: {value} against {pixels:?}"),
            }
        }
    }
}

#[test]
fn names_in_latin1_and_japanese_decode() {
    let german = read_header(&std::fs::read(data_dir().join("chrGerm.dcm")).unwrap()).unwrap();
    assert_eq!(german.patient_name, "Äneas^Rüdiger");
    let japanese = read_header(&std::fs::read(data_dir().join("chrH31.dcm")).unwrap()).unwrap();
    assert_eq!(
        japanese.patient_name,
        "Yamada^Tarou=山田^太郎=やまだ^たろう"
    );
    assert_eq!(
        outpost::imaging::person_name_display(&japanese.patient_name),
        "Tarou Yamada / 山田 太郎 / やまだ たろう"
    );
}

#[test]
fn every_cut_of_every_sample_fails_cleanly_or_decodes() {
    // A file cut anywhere (a CD read error, a copy stopped half-way) must give an error, never a
    // panic or a long stall.
    for entry in std::fs::read_dir(data_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("dcm") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let step = (bytes.len() / 97).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            let started = Instant::now();
            if let Ok(file) = DicomFile::parse(&bytes[..cut]) {
                let _ = file.decode_frame(0);
            }
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{} cut at {cut} took {:?}",
                path.display(),
                started.elapsed()
            );
        }
    }
}

#[test]
fn a_file_claiming_gigabytes_is_refused_at_once() {
    // CT_small with its pixel data element claiming 3.7 GB.
    let mut bytes = std::fs::read(data_dir().join("CT_small.dcm")).unwrap();
    let marker = [0xE0, 0x7F, 0x10, 0x00, b'O', b'W', 0, 0];
    let at = bytes
        .windows(marker.len())
        .rposition(|w| w == marker)
        .unwrap();
    bytes[at + 8..at + 12].copy_from_slice(&3_700_000_000u32.to_le_bytes());
    let started = Instant::now();
    let error = DicomFile::parse(&bytes).err().unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(error.to_string().contains("3700000000"), "{error}");
}

#[test]
fn files_the_fuzzer_found_fail_fast_without_taking_memory() {
    // Each cost seconds and gigabytes once: a value whose VR was changed to one the parser reads
    // in whole units (FL, 14 bytes) left it reading the rest of the file from inside a value
    // (2 GB, 23 s); a JPEG 2000 stream claiming an image 1.6 billion pixels wide in a 3 KB file
    // (0.5 GB, 2.5 s).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let started = Instant::now();
        let outcome = DicomFile::parse(&bytes).map(|file| file.decode_frame(0).map(|_| ()));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{} took {:?}",
            path.display(),
            started.elapsed()
        );
        let error = match outcome {
            Err(error) | Ok(Err(error)) => error,
            Ok(Ok(())) => continue,
        };
        assert!(error.to_string().len() > 20, "{error}");
    }
}

fn patient(store: &mut Store, family: &str, given: &str) -> PatientId {
    let mut p = Patient::blank(store.clinic_id());
    p.family_name = family.to_owned();
    p.given_name = given.to_owned();
    store.register_patient(p).unwrap().patient_id
}

#[test]
fn the_sample_cd_imports_as_its_patients_studies_and_series() {
    let reference = reference();
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_dir(dir.path()).unwrap();
    let patient_id = patient(&mut store, "Doe", "Archibald");
    let cd = data_dir().join("dicomdir_cd");
    let (files, failures) = collect_files(&[cd]);
    assert!(failures.is_empty(), "{failures:?}");
    let expected = &reference["dicomdir"];
    assert_eq!(files.len() as u64, expected["instances"].as_u64().unwrap());

    let cancel = std::sync::atomic::AtomicBool::new(false);
    let identities = inspect_identities(&files, &cancel, |_| {});
    assert_eq!(
        identities.len() as u64,
        expected["patients"].as_u64().unwrap()
    );
    let peter = identities
        .iter()
        .find(|(i, _)| i.patient_name == "Doe^Peter")
        .unwrap();
    let chart = store.patient(patient_id).unwrap();
    // Same family name: the name alone does not differ; Archibald's own files agree fully.
    assert!(peter.0.differences(&chart).is_empty() || peter.0.differences(&chart) == ["sex"]);

    let mut events = 0;
    let summary = import_paths(
        &mut store,
        &files,
        &ImportOptions::for_patient(patient_id),
        |_| events += 1,
    );
    assert!(summary.failures.is_empty(), "{:?}", summary.failures);
    assert_eq!(
        summary.imported as u64,
        expected["instances"].as_u64().unwrap()
    );
    assert!(events > files.len());
    let studies = store.studies(patient_id).unwrap();
    assert_eq!(studies.len() as u64, expected["studies"].as_u64().unwrap());
    let series: usize = studies.iter().map(|s| s.series.len()).sum();
    assert_eq!(series as u64, expected["series"].as_u64().unwrap());
    for listed in expected["series_list"].as_array().unwrap() {
        let uid = listed["series_instance_uid"].as_str().unwrap();
        let found = studies
            .iter()
            .flat_map(|s| &s.series)
            .find(|s| s.series_uid == uid)
            .unwrap_or_else(|| panic!("series {uid}"));
        assert_eq!(
            found.instances.len() as u64,
            listed["instances"].as_u64().unwrap()
        );
        assert_eq!(found.modality, listed["modality"].as_str().unwrap());
    }

    // Importing again skips every file (same SHA-256), and each file became one change record.
    let again = import_paths(
        &mut store,
        &files,
        &ImportOptions::for_patient(patient_id),
        |_| {},
    );
    assert_eq!((again.imported, again.skipped), (0, files.len()));
    let blobs = store.blobs_to_upload().unwrap();
    assert_eq!(blobs.len(), files.len());
    for blob in &blobs {
        assert!(store.read_blob(blob).unwrap().is_some());
    }
}

#[test]
fn a_mixed_folder_imports_what_it_can_and_lists_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_dir(&dir.path().join("store")).unwrap();
    let patient_id = patient(&mut store, "Odhiambo", "Amina");
    let summary = import_paths(
        &mut store,
        &collect_files(&[data_dir()]).0,
        &ImportOptions::for_patient(patient_id),
        |_| {},
    );
    // The folder holds the ten sample files and the CD (with its DICOMDIR walked as a folder).
    let mut failed: Vec<String> = summary
        .failures
        .iter()
        .map(|f| f.file.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    failed.sort();
    assert_eq!(
        failed,
        ["LICENSE-NOTES.txt", "MR_truncated.dcm", "no_meta.dcm"]
    );
    for failure in &summary.failures {
        assert!(failure.reason.len() > 10, "{failure:?}");
    }
    let truncated = summary
        .failures
        .iter()
        .find(|f| f.file.ends_with("MR_truncated.dcm"));
    assert!(truncated.unwrap().reason.contains("8130"), "{truncated:?}");
    // The eight sound sample files and the CD's 31 images.
    assert_eq!(summary.imported, 8 + 31, "{summary:?}");
}

#[test]
fn a_cancelled_import_keeps_what_it_imported() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_dir(dir.path()).unwrap();
    let patient_id = patient(&mut store, "Doe", "Archibald");
    let (files, _) = collect_files(&[data_dir().join("dicomdir_cd")]);
    let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let options = ImportOptions {
        patient_id,
        encounter_id: None,
        cancel: cancel.clone(),
    };
    let summary = import_paths(&mut store, &files, &options, |event| {
        if let outpost::imaging::ImportEvent::Importing { done: 5, .. } = event {
            cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    });
    assert!(summary.cancelled);
    assert_eq!(summary.imported, 5);
    assert_eq!(store.attachments(patient_id, false).unwrap().len(), 5);
}

/// A JPEG whose EXIF says "rotate 90° clockwise to view" (orientation 6).
fn jpeg_with_orientation_6(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, _| {
        if x < width / 2 {
            image::Rgb([255, 0, 0])
        } else {
            image::Rgb([0, 0, 255])
        }
    });
    let mut jpeg = std::io::Cursor::new(Vec::new());
    image.write_to(&mut jpeg, image::ImageFormat::Jpeg).unwrap();
    let jpeg = jpeg.into_inner();
    // APP1 "Exif" with a little-endian TIFF header and one IFD entry: Orientation (0x0112) = 6.
    let mut tiff = b"II*\0".to_vec();
    tiff.extend_from_slice(&8u32.to_le_bytes());
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&0x0112u16.to_le_bytes());
    tiff.extend_from_slice(&3u16.to_le_bytes());
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&6u16.to_le_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_le_bytes());
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[test]
fn photos_are_shown_upright_by_their_exif_orientation() {
    let bytes = jpeg_with_orientation_6(40, 20);
    let frame = decode_photo(&bytes).unwrap();
    assert_eq!((frame.width, frame.height), (20, 40), "turned upright");
    let Pixels::Rgb(rgb) = &frame.pixels else {
        panic!("a photo is colour");
    };
    // The left half (red) of the stored image is the top after a quarter turn clockwise.
    let top = &rgb[(2 * 20 + 10) * 3..(2 * 20 + 10) * 3 + 3];
    let bottom = &rgb[(37 * 20 + 10) * 3..(37 * 20 + 10) * 3 + 3];
    assert!(top[0] > 200 && top[2] < 60, "{top:?}");
    assert!(bottom[2] > 200 && bottom[0] < 60, "{bottom:?}");

    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("wound.jpg");
    std::fs::write(&photo, &bytes).unwrap();
    let mut store = Store::open_dir(&dir.path().join("store")).unwrap();
    let patient_id = patient(&mut store, "Odhiambo", "Amina");
    let summary = import_paths(
        &mut store,
        &[photo],
        &ImportOptions::for_patient(patient_id),
        |_| {},
    );
    assert_eq!(summary.imported, 1);
    let attachment = &store.attachments(patient_id, false).unwrap()[0];
    assert_eq!((attachment.columns, attachment.rows), (20, 40));
    assert_eq!(attachment.media_type, "image/jpeg");
    assert_eq!(attachment.modality, "XC");
}

#[test]
fn removing_an_attachment_hides_it_and_can_be_undone() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_dir(dir.path()).unwrap();
    let patient_id = patient(&mut store, "Doe", "Archibald");
    let files = vec![data_dir().join("CT_small.dcm")];
    import_paths(
        &mut store,
        &files,
        &ImportOptions::for_patient(patient_id),
        |_| {},
    );
    let id = store.attachments(patient_id, false).unwrap()[0].attachment_id;
    let pending = store.pending_count().unwrap();
    store.set_attachment_removed(id, true).unwrap();
    assert!(store.attachments(patient_id, false).unwrap().is_empty());
    assert_eq!(store.attachments(patient_id, true).unwrap().len(), 1);
    assert_eq!(
        store.pending_count().unwrap(),
        pending + 1,
        "the removal syncs"
    );
    store.set_attachment_removed(id, false).unwrap();
    assert_eq!(store.attachments(patient_id, false).unwrap().len(), 1);
}
