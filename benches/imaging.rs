//! Imaging speed and memory, printed as a table: decoding and windowing a 512 × 512 16-bit CT
//! frame, re-windowing a cached frame (what a drag does), scrolling a 300-frame series through
//! the decode worker, and importing a folder of 1,000 files with the peak memory while it runs.
//! The files are written here (synthetic CT slices, 512 × 512, 16-bit signed, explicit VR little
//! endian) into a temp folder.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use outpost::imaging::{
    DecodeRequest, DecodeWorker, DicomFile, Display, ImageSource, ImportOptions, Window,
    collect_files, import_paths, inspect_identities,
};
use outpost::model::{AttachmentKind, BlobHash, Patient};
use outpost::store::Store;
use std::path::Path;
use std::time::{Duration, Instant};

const SIDE: usize = 512;

/// A CT slice: a disc of soft tissue with a brighter ring of bone, noise, air around it.
fn ct_slice(path: &Path, study: &str, series: &str, number: usize) {
    let mut values = Vec::with_capacity(SIDE * SIDE);
    let mut seed = number as u32 * 2_654_435_761 + 1;
    for y in 0..SIDE {
        for x in 0..SIDE {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let dx = x as f64 - 256.0;
            let dy = y as f64 - 256.0 + (number % 40) as f64;
            let r = (dx * dx + dy * dy).sqrt();
            let hu = if r < 180.0 {
                40.0
            } else if r < 200.0 {
                900.0
            } else {
                -1000.0
            };
            let stored = hu + 1024.0 + f64::from(seed % 40) - 20.0;
            values.push(stored.clamp(-32768.0, 32767.0) as i16);
        }
    }
    let sop = format!("2.25.{}{:06}", 1_000_000 + number, number);
    let mut obj = InMemDicomObject::new_empty();
    let mut put = |tag, vr, value: PrimitiveValue| obj.put(DataElement::new(tag, vr, value));
    put(
        tags::SOP_CLASS_UID,
        VR::UI,
        "1.2.840.10008.5.1.4.1.1.2".into(),
    );
    put(tags::SOP_INSTANCE_UID, VR::UI, sop.clone().into());
    put(tags::PATIENT_NAME, VR::PN, "Bench^Patient".into());
    put(tags::PATIENT_ID, VR::LO, "BENCH1".into());
    put(tags::STUDY_INSTANCE_UID, VR::UI, study.into());
    put(tags::SERIES_INSTANCE_UID, VR::UI, series.into());
    put(tags::MODALITY, VR::CS, "CT".into());
    put(
        tags::INSTANCE_NUMBER,
        VR::IS,
        (number as i32 + 1).to_string().into(),
    );
    put(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16));
    put(
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        "MONOCHROME2".into(),
    );
    put(tags::ROWS, VR::US, PrimitiveValue::from(SIDE as u16));
    put(tags::COLUMNS, VR::US, PrimitiveValue::from(SIDE as u16));
    put(tags::PIXEL_SPACING, VR::DS, "0.7\\0.7".into());
    put(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16));
    put(tags::BITS_STORED, VR::US, PrimitiveValue::from(16u16));
    put(tags::HIGH_BIT, VR::US, PrimitiveValue::from(15u16));
    put(
        tags::PIXEL_REPRESENTATION,
        VR::US,
        PrimitiveValue::from(1u16),
    );
    put(tags::WINDOW_CENTER, VR::DS, "40".into());
    put(tags::WINDOW_WIDTH, VR::DS, "400".into());
    put(tags::RESCALE_INTERCEPT, VR::DS, "-1024".into());
    put(tags::RESCALE_SLOPE, VR::DS, "1".into());
    put(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U16(values.iter().map(|v| *v as u16).collect()),
    );
    let file = obj
        .with_meta(
            FileMetaTableBuilder::new()
                .transfer_syntax("1.2.840.10008.1.2.1")
                .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.2")
                .media_storage_sop_instance_uid(sop),
        )
        .unwrap();
    file.write_to_file(path).unwrap();
}

fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    let index = ((samples.len() - 1) as f64 * p).round() as usize;
    samples[index]
}

fn memory_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let files_dir = dir.path().join("files");
    std::fs::create_dir_all(&files_dir).unwrap();
    let count: usize = std::env::var("OUTPOST_BENCH_IMAGING_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    eprintln!("writing {count} CT slices of {SIDE} x {SIDE}…");
    for n in 0..count {
        ct_slice(
            &files_dir.join(format!("IM{n:05}")),
            "2.25.1001",
            "2.25.1001.1",
            n,
        );
    }
    let mut rows: Vec<(String, String, &str)> = Vec::new();

    // 1. Import the folder, with the process's peak memory while it runs.
    let mut store = Store::open_dir(&dir.path().join("store")).unwrap();
    let mut patient = Patient::blank(store.clinic_id());
    patient.family_name = "Patient".into();
    patient.given_name = "Bench".into();
    let patient_id = store.register_patient(patient).unwrap().patient_id;
    // Start the peak over from here (Linux: "5" resets VmHWM).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let (rss_before, _) = memory_mb();
    let started = Instant::now();
    let (files, _) = collect_files(std::slice::from_ref(&files_dir));
    // What the import dialog does first: read every header to show whose images they are.
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let identities = inspect_identities(&files, &cancel, |_| {});
    assert_eq!(identities.len(), 1);
    let inspect_time = started.elapsed();
    let started = Instant::now();
    let summary = import_paths(
        &mut store,
        &files,
        &ImportOptions::for_patient(patient_id),
        |_| {},
    );
    let import_time = started.elapsed();
    let (_, peak) = memory_mb();
    assert_eq!(summary.imported, count);
    rows.push((
        format!("read the headers of {count} files (the patient check before an import)"),
        format!("{:.1} s", inspect_time.as_secs_f64()),
        "measured",
    ));
    rows.push((
        format!(
            "import a folder of {count} files ({} MB)",
            count * SIDE * SIDE * 2 / 1_000_000
        ),
        format!(
            "{:.1} s ({:.0} files/s), peak RSS {:.0} MB (was {:.0} MB before)",
            import_time.as_secs_f64(),
            count as f64 / import_time.as_secs_f64(),
            peak,
            rss_before
        ),
        "measured",
    ));

    // 2. Decode plus window/level of one frame to texture-ready RGBA.
    let bytes = std::fs::read(files_dir.join("IM00000")).unwrap();
    let display = Display {
        window: Some(Window::new(40.0, 400.0)),
        invert: false,
    };
    let mut times = Vec::new();
    for _ in 0..100 {
        let started = Instant::now();
        let file = DicomFile::parse(&bytes).unwrap();
        let frame = file.decode_frame(0).unwrap();
        let rgba = frame.render_rgba(&display);
        std::hint::black_box(rgba);
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    rows.push((
        "decode + window a 512x512 16-bit frame to RGBA".into(),
        format!(
            "p50 {:.2} ms / p95 {:.2} ms",
            percentile(&mut times.clone(), 0.5),
            percentile(&mut times, 0.95)
        ),
        "<= 10 ms",
    ));

    // 3. Re-window a cached frame (one drag step).
    let frame = DicomFile::parse(&bytes).unwrap().decode_frame(0).unwrap();
    let mut times = Vec::new();
    for step in 0..500 {
        let display = Display {
            window: Some(Window::new(
                40.0 + f64::from(step),
                400.0 + f64::from(step) * 2.0,
            )),
            invert: false,
        };
        let started = Instant::now();
        std::hint::black_box(frame.render_rgba(&display));
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    rows.push((
        "re-window a cached 512x512 frame".into(),
        format!(
            "p50 {:.2} ms / p95 {:.2} ms",
            percentile(&mut times.clone(), 0.5),
            percentile(&mut times, 0.95)
        ),
        "<= 2 ms",
    ));

    // 4. Scroll a 300-frame series through the decode worker, from the blob store, one frame
    // after another as fast as they come (each windowed to RGBA as the viewer does).
    let attachments = store.attachments(patient_id, false).unwrap();
    let series: Vec<BlobHash> = attachments
        .iter()
        .take(300)
        .map(|a| a.blob.clone())
        .collect();
    let mut worker = DecodeWorker::start(store.blob_files(), 256 << 20, || {});
    let started = Instant::now();
    for blob in &series {
        worker.request(DecodeRequest {
            source: ImageSource {
                blob: blob.clone(),
                kind: AttachmentKind::Dicom,
            },
            frame: 0,
        });
        let frame = loop {
            if let Some(frame) = worker.cached(blob, 0) {
                break frame;
            }
            let _ = worker.poll();
            std::thread::sleep(Duration::from_micros(200));
        };
        std::hint::black_box(frame.render_rgba(&display));
    }
    let cold = started.elapsed();
    // Scrolling back over what the cache still holds (it keeps 256 MB: not all 300 frames).
    let started = Instant::now();
    let mut warm_frames = 0;
    for blob in series.iter().rev() {
        let Some(frame) = worker.cached(blob, 0) else {
            break;
        };
        std::hint::black_box(frame.render_rgba(&display));
        warm_frames += 1;
    }
    let warm = started.elapsed();
    rows.push((
        format!(
            "scroll a {}-frame series (decoded on the worker)",
            series.len()
        ),
        format!(
            "{:.0} frames/s first pass, {:.0} frames/s back over the {warm_frames} cached; cache {} MB",
            series.len() as f64 / cold.as_secs_f64(),
            f64::from(warm_frames) / warm.as_secs_f64(),
            worker.cache_bytes() >> 20
        ),
        ">= 30 frames/s",
    ));
    let (rss, _) = memory_mb();
    rows.push((
        "resident memory at the end".into(),
        format!("{rss:.0} MB"),
        "measured",
    ));

    println!("| imaging ({count} files of {SIDE}x{SIDE}) | measured | target |");
    println!("|---|---|---|");
    for (name, value, target) in rows {
        println!("| {name} | {value} | {target} |");
    }
}
