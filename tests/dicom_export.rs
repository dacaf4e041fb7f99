//! DICOM out: a patient's studies exported as a folder laid out as a patient CD, read by outside
//! tools: dcmtk's `dcmdump` reads the DICOMDIR and its record offsets, dicom3tools' `dciodvfy`
//! checks it against the Basic Directory IOD and `dcdirdmp` walks its records to the files, which
//! are the imported files byte for byte. The de-identified export is checked the same way, and
//! for what must be gone: names, ids, birth dates, the original UIDs, private elements; dates
//! moved by one shift; UIDs replaced consistently; pixels untouched; burned-in text flagged.
//! `bash .ci/test` installs dcmtk and dicom3tools.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use outpost::app::{AppError, AppService, DicomExportError};
use outpost::demo::DemoOptions;
use outpost::imaging::{ImportOptions, collect_files, import_paths};
use outpost::model::PatientId;
use outpost::store::PatientSort;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/dicom")
}

/// Runs an outside tool; its stdout and stderr together, and whether it succeeded.
fn tool(program: &str, args: &[&Path], dir: &Path) -> (bool, String) {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} cannot run ({e}): install dcmtk and dicom3tools (bash .ci/test does)")
        });
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// `dcmdump +L` of a file: every element, long values in full.
fn dump(file: &Path) -> String {
    let (ok, text) = tool("dcmdump", &[Path::new("+L"), file], Path::new("."));
    assert!(ok, "dcmdump reads {}: {text}", file.display());
    text
}

/// The top-level elements of a dump, by tag: (VR, value as printed).
fn top_level(dump: &str) -> BTreeMap<String, (String, String)> {
    dump.lines()
        .filter(|l| l.starts_with('('))
        .filter_map(|l| {
            let tag = l.get(..11)?.to_owned();
            let vr = l.get(12..14)?.to_owned();
            let rest = l.get(15..)?;
            let value = match rest.strip_prefix('[') {
                Some(v) => v.split(']').next().unwrap_or("").to_owned(),
                None => rest.split('#').next().unwrap_or("").trim().to_owned(),
            };
            Some((tag, (vr, value)))
        })
        .collect()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// CT_small with Burned In Annotation YES and an instance of its own.
fn burned_in_copy(dir: &Path) -> PathBuf {
    let mut object = dicom_object::open_file(samples().join("CT_small.dcm")).unwrap();
    object.put(DataElement::new(
        tags::BURNED_IN_ANNOTATION,
        VR::CS,
        PrimitiveValue::from("YES"),
    ));
    let uid = "1.2.826.0.1.3680043.2.1143.777.1";
    object.put(DataElement::new(
        tags::SOP_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from(uid),
    ));
    object.put(DataElement::new(
        tags::INSTANCE_NUMBER,
        VR::IS,
        PrimitiveValue::from("2"),
    ));
    object.update_meta(|meta| meta.media_storage_sop_instance_uid = uid.to_owned());
    let path = dir.join("burned.dcm");
    object.write_to_file(&path).unwrap();
    path
}

/// A workstation with two demo patients; the first has the sample CD's 31 images, CT_small (and
/// a copy of it marked as carrying burned-in text), a JPEG colour cine and an image whose name is
/// in Japanese.
fn clinic(dir: &Path) -> (AppService, PatientId, PatientId, Vec<PathBuf>) {
    let sources = vec![
        samples().join("dicomdir_cd"),
        samples().join("CT_small.dcm"),
        samples().join("examples_ybr_color.dcm"),
        samples().join("chrH31.dcm"),
        burned_in_copy(dir),
    ];
    let mut patients = Vec::new();
    let options = DemoOptions {
        patients: 2,
        visits: 1..=1,
        seed: 5,
    };
    let service = support::demo_clinic(&dir.join("clinic"), Some(&options), |store| {
        let order = store.patient_order(PatientSort::Number, false).unwrap();
        patients = store
            .patient_rows(&order)
            .unwrap()
            .into_iter()
            .map(|row| row.patient_id)
            .collect();
        let (files, failures) = collect_files(&sources);
        assert!(failures.is_empty(), "{failures:?}");
        let summary = import_paths(
            store,
            &files,
            &ImportOptions::for_patient(patients[0]),
            |_| {},
        );
        assert_eq!(summary.imported, 35, "{:?}", summary.failures);
    });
    (service, patients[0], patients[1], sources)
}

#[test]
fn an_export_is_a_cd_that_dcmtk_and_dicom3tools_read_with_the_files_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (mut service, patient, other, _) = clinic(dir.path());
    let out = dir.path().join("cd");
    let exported = service.export_dicom(patient, None, false, &out).unwrap();
    assert_eq!(exported.files, 35);
    // The CD's 6 studies (as the importer counts them), CT_small's (with its burned-in copy),
    // the cine's and the Japanese image's.
    assert_eq!(exported.studies, 9);
    assert!(exported.skipped.is_empty(), "{:?}", exported.skipped);

    // Every file is an imported file, byte for byte.
    let mut originals = BTreeSet::new();
    for file in files_under(&samples().join("dicomdir_cd"))
        .into_iter()
        .filter(|f| !f.ends_with("DICOMDIR"))
        .chain(
            ["CT_small.dcm", "examples_ybr_color.dcm", "chrH31.dcm"]
                .iter()
                .map(|f| samples().join(f)),
        )
        .chain([dir.path().join("burned.dcm")])
    {
        originals.insert(std::fs::read(file).unwrap());
    }
    let written = files_under(&out.join("DICOM"));
    assert_eq!(written.len(), 35);
    for file in &written {
        assert!(
            originals.contains(&std::fs::read(file).unwrap()),
            "{} is an imported file unchanged",
            file.display()
        );
        // ISO 9660 names: eight upper-case letters or digits at most, no extension.
        for part in file.strip_prefix(&out).unwrap().components() {
            let name = part.as_os_str().to_str().unwrap();
            assert!(name.len() <= 8, "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            );
        }
    }

    // dcmtk reads the DICOMDIR, with one record per patient, study, series and image, each at
    // the offset the records point at.
    let dicomdir = out.join("DICOMDIR");
    let text = dump(&dicomdir);
    let count = |kind: &str| {
        text.lines()
            .filter(|l| {
                l.trim_start().starts_with("(fffe,e000)")
                    && l.contains(&format!("\"Directory Record\" {kind} "))
            })
            .count()
    };
    assert_eq!(count("IMAGE"), 35, "{text}");
    assert_eq!(count("STUDY"), 9);
    assert!(count("PATIENT") >= 2, "the CD's images name two people");
    assert_eq!(
        text.lines().filter(|l| l.contains("#  offset=$")).count(),
        count("PATIENT") + count("STUDY") + count("SERIES") + count("IMAGE")
    );
    // dicom3tools: the Basic Directory IOD holds, and walking the records by their offsets
    // reaches every file.
    let (_, verdict) = tool("dciodvfy", &[&dicomdir], &out);
    assert!(verdict.contains("BasicDirectory"), "{verdict}");
    assert!(
        !verdict.lines().any(|l| l.starts_with("Error")),
        "dciodvfy: {verdict}"
    );
    let (ok, walk) = tool("dcdirdmp", &[Path::new("DICOMDIR")], &out);
    assert!(ok, "{walk}");
    let referenced: BTreeSet<PathBuf> = walk
        .lines()
        .filter_map(|l| l.trim().strip_prefix("-> "))
        .map(|r| r.trim().split('\\').fold(out.clone(), |p, c| p.join(c)))
        .collect();
    assert_eq!(referenced, written.iter().cloned().collect());
    // Outpost's own CD reader (the importer's) finds the same files.
    let read_back: BTreeSet<PathBuf> = outpost::imaging::dicomdir_files(&dicomdir)
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(read_back, referenced);

    // One study only.
    let ct_study = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322";
    let one = dir.path().join("one");
    let exported = service
        .export_dicom(patient, Some(ct_study), false, &one)
        .unwrap();
    assert_eq!((exported.studies, exported.files), (1, 2));
    assert_eq!(count_records(&dump(&one.join("DICOMDIR")), "STUDY"), 1);

    // Refusals: a folder with files in it, a study the patient does not have, a patient with
    // no images, a role that may not export.
    assert!(matches!(
        service.export_dicom(patient, None, false, &out),
        Err(AppError::DicomExport(DicomExportError::FolderNotEmpty(_)))
    ));
    assert!(matches!(
        service.export_dicom(patient, Some("1.2.3.4"), false, &dir.path().join("none")),
        Err(AppError::DicomExport(DicomExportError::NoSuchStudy(_)))
    ));
    assert!(matches!(
        service.export_dicom(other, None, false, &dir.path().join("none")),
        Err(AppError::DicomExport(DicomExportError::NoStudies))
    ));
    let receptionist = &outpost::demo::DEMO_ACCOUNTS[3];
    assert_eq!(receptionist.user_name, "grace");
    service.sign_out().unwrap();
    service
        .sign_in(receptionist.user_name, receptionist.password)
        .unwrap();
    assert!(matches!(
        service.export_dicom(patient, None, false, &dir.path().join("none")),
        Err(AppError::Forbidden(_))
    ));
    assert!(!dir.path().join("none").exists() || files_under(&dir.path().join("none")).is_empty());
}

fn count_records(dump: &str, kind: &str) -> usize {
    dump.lines()
        .filter(|l| l.contains(&format!("\"Directory Record\" {kind} ")))
        .count()
}

#[test]
fn a_deidentified_export_keeps_the_images_and_nothing_that_names_the_patient() {
    let dir = tempfile::tempdir().unwrap();
    let (mut service, patient, _, _) = clinic(dir.path());
    let plain = dir.path().join("plain");
    let anon = dir.path().join("anon");
    service.export_dicom(patient, None, false, &plain).unwrap();
    let exported = service.export_dicom(patient, None, true, &anon).unwrap();
    assert_eq!(exported.files, 35);

    // The media still read as a CD.
    let (_, verdict) = tool("dciodvfy", &[&anon.join("DICOMDIR")], &anon);
    assert!(
        !verdict.lines().any(|l| l.starts_with("Error")),
        "{verdict}"
    );
    let (ok, walk) = tool("dcdirdmp", &[Path::new("DICOMDIR")], &anon);
    assert!(ok, "{walk}");
    assert_eq!(
        walk.lines().filter(|l| l.trim().starts_with("-> ")).count(),
        35
    );

    // What must be gone: the names and ids of the files' patients, in any script, as the files
    // hold them (the Japanese name in ISO 2022 JIS X 0208: 山田 and やまだ).
    let forbidden: [&[u8]; 9] = [
        b"Archibald",
        b"Doe^",
        b"77654033",
        b"98890234",
        b"CompressedSamples",
        b"Yamada",
        b"\x1b$B;3ED",
        b"$d$^$@",
        b"1CT1",
    ];
    let holds = |bytes: &[u8], word: &[u8]| bytes.windows(word.len()).any(|w| w == word);
    // The original UIDs (those that are not the standard's own), from the plain export.
    let mut original_uids = BTreeSet::new();
    let mut shifts = BTreeSet::new();
    let mut series_map: HashMap<String, BTreeSet<String>> = HashMap::new();
    let files = files_under(&plain.join("DICOM"));
    assert_eq!(files.len(), 35);
    let mut plain_text = String::new();
    let mut plain_bytes = Vec::new();
    for file in &files {
        let before = dump(file);
        plain_text.push_str(&before);
        plain_bytes.extend(std::fs::read(file).unwrap());
        for line in before.lines() {
            if let Some(uid) = line
                .split_once(" UI [")
                .and_then(|(_, v)| v.split(']').next())
                .filter(|u| !u.starts_with("1.2.840.10008."))
            {
                original_uids.insert(uid.to_owned());
            }
        }
        let twin = anon.join(file.strip_prefix(&plain).unwrap());
        let after = dump(&twin);
        let twin_bytes = std::fs::read(&twin).unwrap();
        for word in forbidden {
            assert!(
                !holds(&twin_bytes, word),
                "{} left in {}:\n{after}",
                String::from_utf8_lossy(word),
                twin.display()
            );
        }
        let (old, new) = (top_level(&before), top_level(&after));
        // No private element at any depth.
        for line in after.lines() {
            let tag = line.trim_start();
            if let Some(group) = tag.strip_prefix('(').and_then(|t| t.get(..4)) {
                let group = u16::from_str_radix(group, 16).unwrap();
                assert!(group % 2 == 0 || group == 0xfffe, "private {line}");
            }
        }
        // Birth date and name empty, the pseudonym as the ID, and the marks of the method.
        assert_eq!(new["(0010,0010)"].1, "(no value available)");
        assert_eq!(new["(0010,0030)"].1, "(no value available)");
        assert!(new["(0010,0020)"].1.starts_with("ANON-"));
        assert_eq!(new["(0012,0062)"].1, "YES");
        assert_eq!(new["(0028,0303)"].1, "MODIFIED");
        // The study date moved by the same number of days in every file.
        let date = |map: &BTreeMap<String, (String, String)>| {
            map.get("(0008,0020)").and_then(|(_, d)| {
                chrono::NaiveDate::parse_from_str(&d.replace('.', ""), "%Y%m%d").ok()
            })
        };
        if let (Some(a), Some(b)) = (date(&old), date(&new)) {
            shifts.insert((b - a).num_days());
        }
        series_map
            .entry(old["(0020,000e)"].1.clone())
            .or_default()
            .insert(new["(0020,000e)"].1.clone());
        // The pixels are the same.
        let pixels = |path: &Path| {
            dicom_object::open_file(path)
                .unwrap()
                .element(tags::PIXEL_DATA)
                .unwrap()
                .value()
                .clone()
        };
        assert!(
            pixels(file) == pixels(&twin),
            "pixels of {}",
            twin.display()
        );
        // dciodvfy finds no more errors than in the original.
        let errors = |path: &Path| {
            let (_, text) = tool("dciodvfy", &[path], Path::new("."));
            text.lines().filter(|l| l.starts_with("Error")).count()
        };
        assert!(errors(&twin) <= errors(file), "{}", twin.display());
    }
    // Each of those words is in the originals, and private elements too: the checks above
    // looked for something that was there.
    for word in forbidden {
        assert!(
            holds(&plain_bytes, word),
            "{} is in the originals",
            String::from_utf8_lossy(word)
        );
    }
    assert!(plain_text.lines().any(|l| l.starts_with("(0009,")));
    // At least each file's SOP Instance UID and each study's UID.
    assert!(original_uids.len() >= 35 + 9, "{}", original_uids.len());
    assert_eq!(shifts.len(), 1, "one shift: {shifts:?}");
    assert!(
        shifts.iter().all(|&d| (-3650..=-30).contains(&d)),
        "{shifts:?}"
    );
    // Each original series became one new series, and no two became the same.
    assert!(series_map.values().all(|s| s.len() == 1));
    let new_series: BTreeSet<_> = series_map.values().flatten().collect();
    assert_eq!(new_series.len(), series_map.len());
    // No original UID anywhere in the de-identified media.
    for file in files_under(&anon) {
        let bytes = std::fs::read(&file).unwrap();
        for uid in &original_uids {
            assert!(
                !bytes.windows(uid.len()).any(|w| w == uid.as_bytes()),
                "{uid} left in {}",
                file.display()
            );
        }
    }

    // The file marked as carrying burned-in text is named, and the list says what changed.
    assert_eq!(exported.burned_in.len(), 1, "{:?}", exported.burned_in);
    let list = std::fs::read_to_string(anon.join(outpost::app::DEIDENTIFICATION_LIST)).unwrap();
    assert!(list.contains(&exported.burned_in[0]), "{list}");
    for line in [
        "(0010,0010)\tPatientName\temptied",
        "(0010,0020)\tPatientID\tdummy value",
        "(0020,000D)\tStudyInstanceUID\tnew UID\t35",
        "(0008,0020)\tStudyDate\tdate shifted",
        "(0010,1010)\tPatientAge\tremoved",
        "private elements (odd groups)",
    ] {
        assert!(list.contains(line), "{line} in {list}");
    }
    for word in forbidden {
        assert!(!holds(list.as_bytes(), word));
    }
}
