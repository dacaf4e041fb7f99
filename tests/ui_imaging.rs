//! The imaging screens driven as a clinician would: import sample files into a chart, open the
//! viewer, scroll frames, pick a window preset and measure a distance — on a real store with real
//! DICOM files decoded by the real worker thread.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use egui::accesskit::Role;
use egui::{Event, Key, Modifiers, PointerButton, Pos2};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use outpost::model::{Patient, PatientId};
use outpost::store::Store;
use outpost::ui::{OutpostApp, Screen};
use std::path::{Path, PathBuf};

fn harness(app: OutpostApp) -> Harness<'static, OutpostApp> {
    support::window(app)
}

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/dicom")
        .join(name)
}

/// Steps the window until `done` holds (worker threads answer in their own time).
fn wait_for(harness: &mut Harness<'_, OutpostApp>, what: &str, done: impl Fn(&OutpostApp) -> bool) {
    support::step_until(harness, what, |h| done(h.state()));
}

/// How many images the patient's record shows (removed ones left out).
fn images_in_record(harness: &Harness<'_, OutpostApp>, patient_id: PatientId) -> usize {
    harness
        .state()
        .store()
        .attachments(patient_id, false)
        .unwrap()
        .len()
}

/// Imports one sample file (whose patient matches or is unnamed) and closes the dialog.
fn import_and_close(harness: &mut Harness<'_, OutpostApp>, patient_id: PatientId, name: &str) {
    harness
        .state_mut()
        .start_import(patient_id, None, vec![sample(name)]);
    wait_for_import(harness);
    press(harness, "Close");
}

/// Steps the window until the running import has ended.
fn wait_for_import(harness: &mut Harness<'_, OutpostApp>) {
    wait_for(harness, "the import", |app| {
        app.import_dialog().is_some_and(|d| d.is_done())
    });
}

/// Steps the window until a widget whose label contains `text` appears.
fn wait_for_label(harness: &mut Harness<'_, OutpostApp>, text: &str) {
    support::step_until(harness, text, |h| h.query_by_label_contains(text).is_some());
}

fn press(harness: &mut Harness<'_, OutpostApp>, label: &str) {
    harness
        .get_by_role_and_label(Role::Button, label)
        .click_accesskit();
    harness.run_steps(2);
}

fn click_at(harness: &mut Harness<'_, OutpostApp>, pos: Pos2) {
    harness.event(Event::PointerMoved(pos));
    harness.step();
    for pressed in [true, false] {
        harness.event(Event::PointerButton {
            pos,
            button: PointerButton::Primary,
            pressed,
            modifiers: Modifiers::NONE,
        });
        harness.step();
    }
}

/// Presses at `from`, moves in steps to `to` and lets go there, as a hand drags.
fn drag(harness: &mut Harness<'_, OutpostApp>, from: Pos2, to: Pos2) {
    harness.event(Event::PointerMoved(from));
    harness.step();
    let press = |pos, pressed| Event::PointerButton {
        pos,
        button: PointerButton::Primary,
        pressed,
        modifiers: Modifiers::NONE,
    };
    harness.event(press(from, true));
    harness.step();
    for step in 1..=6 {
        harness.event(Event::PointerMoved(
            from + (to - from) * (step as f32 / 6.0),
        ));
        harness.step();
    }
    harness.event(press(to, false));
    harness.step();
}

fn setup() -> (tempfile::TempDir, PatientId, Harness<'static, OutpostApp>) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_dir(dir.path()).unwrap();
    store.ensure_icd10().unwrap();
    let mut patient = Patient::blank(store.clinic_id());
    patient.family_name = "Samples".to_owned();
    patient.given_name = "Compressed".to_owned();
    let patient_id = store.register_patient(patient).unwrap().patient_id;
    let mut app = OutpostApp::new(support::signed_in(store));
    app.open(Screen::Chart(patient_id));
    let harness = harness(app);
    (dir, patient_id, harness)
}

#[test]
fn import_then_view_scroll_window_and_measure() {
    let (_dir, patient_id, mut harness) = setup();
    harness.run_steps(2);
    harness.get_by_label("Images");

    // Import a 10-frame MR and a CT, as a drop on the window would.
    harness.state_mut().start_import(
        patient_id,
        None,
        vec![sample("emri_small.dcm"), sample("CT_small.dcm")],
    );
    // The CT names "CompressedSamples^CT1", not this chart's patient: the dialog asks first.
    wait_for_label(&mut harness, "name a different patient");
    harness.get_by_label_contains("CT1 CompressedSamples");
    assert_eq!(images_in_record(&harness, patient_id), 0);
    press(&mut harness, "Link to this patient");
    wait_for_import(&mut harness);
    let summary = harness
        .state()
        .import_dialog()
        .unwrap()
        .summary()
        .unwrap()
        .clone();
    assert_eq!(summary.imported, 2, "{summary:?}");
    harness.get_by_label_contains("Imported 2 file(s)");
    press(&mut harness, "Close");
    assert_eq!(images_in_record(&harness, patient_id), 2);
    // The chart marks the study whose files name someone else.
    harness.get_by_label("⚠ The files name CT1 CompressedSamples: different name");

    // The chart lists the studies; open the viewer.
    press(&mut harness, "View images");
    wait_for(&mut harness, "the first image", |app| {
        app.viewer().is_some_and(|v| v.has_image())
    });

    // Pick the 10-frame MR series and scroll through it with the arrow keys.
    harness.get_by_label_contains("10 image(s)").click();
    harness.run_steps(2);
    harness.get_by_label("Frame 1/10");
    harness.key_press(Key::ArrowRight);
    harness.run_steps(2);
    harness.key_press(Key::ArrowRight);
    harness.run_steps(2);
    harness.get_by_label("Frame 3/10");
    wait_for(&mut harness, "frame 3", |app| {
        app.viewer().is_some_and(|v| v.has_image())
    });

    // Play the series as a cine loop: the frames move on by themselves, then stop on Pause.
    press(&mut harness, "Play");
    wait_for(&mut harness, "the cine loop to move", |app| {
        app.viewer().unwrap().frame_label() != "Frame 3/10"
    });
    press(&mut harness, "Pause");
    let stopped = harness.state().viewer().unwrap().frame_label();
    harness.run_steps(30);
    assert_eq!(harness.state().viewer().unwrap().frame_label(), stopped);

    // Back to the CT: pick the soft-tissue window.
    harness.get_by_label_contains("1 image(s)").click();
    harness.run_steps(2);
    wait_for(&mut harness, "the CT", |app| {
        app.viewer().is_some_and(|v| v.window_in_use().is_some())
    });
    let file_window = harness.state().viewer().unwrap().window_in_use().unwrap();
    press(&mut harness, "Soft tissue");
    harness.run_steps(3);
    let window = harness.state().viewer().unwrap().window_in_use().unwrap();
    assert_eq!((window.center, window.width), (40.0, 400.0));
    assert_ne!(window, file_window);

    // Measure: two clicks on the image, 60 screen pixels apart horizontally.
    harness.get_by_label("Measure").click();
    harness.run_steps(2);
    let image = harness.get_by_label("Image").rect();
    let centre = image.center();
    click_at(&mut harness, centre);
    click_at(&mut harness, centre + egui::vec2(60.0, 0.0));
    harness.run_steps(2);
    let labels = harness.state().viewer().unwrap().measurement_labels();
    assert_eq!(labels.len(), 1, "{labels:?}");
    assert!(
        labels[0].ends_with(" mm"),
        "CT_small has pixel spacing: {labels:?}"
    );
    let mm: f64 = labels[0].trim_end_matches(" mm").parse().unwrap();
    assert!(mm > 1.0, "{mm}");

    // Or one drag: the same distance, drawn as it is dragged.
    drag(
        &mut harness,
        centre + egui::vec2(0.0, 40.0),
        centre + egui::vec2(60.0, 40.0),
    );
    harness.run_steps(2);
    let labels = harness.state().viewer().unwrap().measurement_labels();
    assert_eq!(labels.len(), 2, "{labels:?}");
    assert_eq!(
        labels[1], labels[0],
        "the same 60 pixels, measured by dragging"
    );
}

#[test]
fn a_damaged_file_is_listed_with_its_reason() {
    let (_dir, patient_id, mut harness) = setup();
    harness.state_mut().start_import(
        patient_id,
        None,
        vec![sample("MR_truncated.dcm"), sample("CT_small.dcm")],
    );
    wait_for_label(&mut harness, "Link to this patient");
    press(&mut harness, "Link to this patient");
    wait_for_import(&mut harness);
    harness.get_by_label_contains("Imported 1 file(s)");
    harness.get_by_label("1 file(s) could not be imported:");
    harness.get_by_label_contains("MR_truncated.dcm: damaged DICOM file");
    press(&mut harness, "Close");
    assert_eq!(images_in_record(&harness, patient_id), 1);
}

/// A sound DICOM file whose pixels Outpost cannot show (32-bit samples).
fn thirty_two_bit_file(path: &Path) {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_dictionary_std::tags;
    use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
    let mut obj = InMemDicomObject::new_empty();
    for (tag, vr, value) in [
        (
            tags::SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("2.25.77"),
        ),
        (
            tags::STUDY_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("2.25.7"),
        ),
        (
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("2.25.7.1"),
        ),
        (tags::MODALITY, VR::CS, PrimitiveValue::from("OT")),
        (tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16)),
        (
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            PrimitiveValue::from("MONOCHROME2"),
        ),
        (tags::ROWS, VR::US, PrimitiveValue::from(1u16)),
        (tags::COLUMNS, VR::US, PrimitiveValue::from(1u16)),
        (tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(32u16)),
        (tags::BITS_STORED, VR::US, PrimitiveValue::from(32u16)),
        (tags::HIGH_BIT, VR::US, PrimitiveValue::from(31u16)),
        (
            tags::PIXEL_REPRESENTATION,
            VR::US,
            PrimitiveValue::from(0u16),
        ),
        (
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::U32(vec![7].into()),
        ),
    ] {
        obj.put(DataElement::new(tag, vr, value));
    }
    obj.with_meta(
        FileMetaTableBuilder::new()
            .transfer_syntax("1.2.840.10008.1.2.1")
            .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.7")
            .media_storage_sop_instance_uid("2.25.77"),
    )
    .unwrap()
    .write_to_file(path)
    .unwrap();
}

#[test]
fn an_image_that_cannot_be_shown_says_why_instead_of_a_blank_view() {
    let (dir, patient_id, mut harness) = setup();
    let file = dir.path().join("deep.dcm");
    thirty_two_bit_file(&file);
    harness
        .state_mut()
        .start_import(patient_id, None, vec![file]);
    wait_for_import(&mut harness);
    press(&mut harness, "Close");
    press(&mut harness, "View images");
    wait_for_label(&mut harness, "32-bit pixel data is not supported");
}

#[test]
fn removing_a_series_asks_first_and_the_chart_restores_it() {
    let (_dir, patient_id, mut harness) = setup();
    import_and_close(&mut harness, patient_id, "emri_small.dcm");
    press(&mut harness, "View images");
    press(&mut harness, "Remove series…");
    harness.get_by_label("Remove this series from the record?");
    press(&mut harness, "Keep");
    assert_eq!(images_in_record(&harness, patient_id), 1);

    press(&mut harness, "Remove series…");
    press(&mut harness, "Remove");
    assert_eq!(images_in_record(&harness, patient_id), 0);
    assert_eq!(
        harness
            .state()
            .store()
            .attachments(patient_id, true)
            .unwrap()
            .len(),
        1
    );

    press(&mut harness, "Back to chart");
    harness.get_by_label("Removed images (1)").click();
    harness.run_steps(3);
    press(&mut harness, "Restore");
    assert_eq!(images_in_record(&harness, patient_id), 1);
}

#[test]
fn images_attached_from_a_visit_are_linked_to_it() {
    let (_dir, patient_id, mut harness) = setup();
    let mut visit =
        outpost::model::Encounter::new_draft(patient_id, "Dr Achieng", chrono::Utc::now());
    visit.chief_complaint = "Wound on the left foot".to_owned();
    let encounter_id = visit.encounter_id;
    // The store behind the app is its own connection: write the visit through a second one.
    let mut second = harness.state().store().opener().open().unwrap();
    second.save_encounter(&visit).unwrap();
    harness.state_mut().open(Screen::Visit(encounter_id));
    harness.run_steps(3);
    harness.get_by_role_and_label(Role::Button, "Attach images…");
    // What the picker would hand over, as a drop on the visit would.
    harness.state_mut().start_import(
        patient_id,
        Some(encounter_id),
        vec![sample("emri_small.dcm")],
    );
    wait_for_import(&mut harness);
    press(&mut harness, "Close");
    let attachments = harness
        .state()
        .store()
        .attachments(patient_id, false)
        .unwrap();
    assert_eq!(attachments[0].encounter_id, Some(encounter_id));
    press(&mut harness, "View images (1)");
    assert!(harness.state().viewer().is_some());
}

#[test]
fn an_image_not_on_this_workstation_offers_a_download() {
    let (_dir, patient_id, mut harness) = setup();
    import_and_close(&mut harness, patient_id, "emri_small.dcm");
    // As if the record had come from another clinic by sync: the row is here, the bytes not.
    let attachment = harness
        .state()
        .store()
        .attachments(patient_id, false)
        .unwrap()[0]
        .clone();
    std::fs::remove_file(harness.state().store().blob_path(&attachment.blob)).unwrap();
    press(&mut harness, "View images");
    wait_for_label(&mut harness, "not on this workstation yet");
    press(&mut harness, "Download now");
    let today = chrono::Local::now().date_naive();
    assert_eq!(
        harness.state().store().blobs_to_download(today).unwrap(),
        vec![attachment.blob],
        "the next sync downloads it"
    );
}

#[test]
fn images_of_someone_else_are_not_linked_when_the_user_says_no() {
    let (_dir, patient_id, mut harness) = setup();
    harness
        .state_mut()
        .start_import(patient_id, None, vec![sample("CT_small.dcm")]);
    wait_for_label(&mut harness, "name a different patient");
    press(&mut harness, "Do not import");
    wait_for_import(&mut harness);
    harness.get_by_label("Nothing was imported.");
    press(&mut harness, "Close");
    assert_eq!(images_in_record(&harness, patient_id), 0);
}

#[test]
fn a_clinician_exports_a_study_de_identified_as_a_patient_cd() {
    let (dir, patient_id, mut harness) = setup();
    harness.state_mut().start_import(
        patient_id,
        None,
        vec![sample("emri_small.dcm"), sample("CT_small.dcm")],
    );
    wait_for_label(&mut harness, "name a different patient");
    press(&mut harness, "Link to this patient");
    wait_for_import(&mut harness);
    press(&mut harness, "Close");
    press(&mut harness, "Export images…");
    harness.run_steps(2);
    harness.get_by_label("Export images");
    harness
        .get_by_role_and_label(Role::RadioButton, "All studies (2)")
        .click_accesskit();
    // The CT study alone, de-identified.
    let ct = harness
        .query_all_by_role(Role::RadioButton)
        .find(|r| {
            r.accesskit_node()
                .label()
                .is_some_and(|l| l.contains("· CT"))
        })
        .expect("the CT study is offered");
    ct.click_accesskit();
    harness.run_steps(2);
    harness
        .get_by_role_and_label(
            Role::CheckBox,
            "De-identify (for teaching or a second opinion)",
        )
        .click_accesskit();
    harness.run_steps(2);
    harness.get_by_label_contains("Text burned into the pixels is not");
    let folder = dir.path().join("for-the-district");
    let field = || Role::TextInput;
    harness
        .get_by_role_and_label(field(), "Folder (empty or new)")
        .set_text_value_accesskit(folder.to_str().unwrap());
    harness.run_steps(2);
    press(&mut harness, "Export");
    wait_for_label(&mut harness, "Exported 1 image file(s) in 1 stud(ies)");
    harness.get_by_label_contains("1 file(s) do not say whether their pixels carry text");
    assert!(folder.join("DICOMDIR").exists());
    assert!(folder.join(outpost::app::DEIDENTIFICATION_LIST).exists());
    let written = std::fs::read(folder.join("DICOM/ST000001/SE000001/IM000001")).unwrap();
    assert!(
        !written.windows(17).any(|w| w == b"CompressedSamples"),
        "the patient's name is gone"
    );
    press(&mut harness, "Close");
    assert!(harness.query_by_label("Export images").is_none());

    // The same folder again: refused before anything is read, saying why, with the choice kept.
    press(&mut harness, "Export images…");
    harness
        .get_by_role_and_label(field(), "Folder (empty or new)")
        .set_text_value_accesskit(folder.to_str().unwrap());
    harness.run_steps(2);
    press(&mut harness, "Export");
    harness.get_by_label_contains("is not empty: choose an empty or new folder");
    harness.get_by_role_and_label(Role::Button, "Export");
    press(&mut harness, "Cancel");
    // The export made is in the audit trail as an export of this patient; the refused one is
    // not.
    let exports = harness
        .state()
        .store()
        .audit_entries(&outpost::store::AuditFilter {
            patient_id: Some(patient_id),
            action: Some(outpost::model::AuditAction::Export),
            ..Default::default()
        })
        .unwrap()
        .len();
    assert_eq!(exports, 1);
}
