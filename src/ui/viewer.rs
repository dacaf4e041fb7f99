//! The imaging viewer: a patient's studies with a thumbnail per series, and the image with zoom,
//! pan, window/level (presets for CT, the file's own values by default), invert, rotate, flip,
//! frame and series scrolling, cine play, distance measurement, an overlay, and a searchable
//! panel of every tag.
//!
//! Frames come from the decode worker (`imaging::DecodeWorker`); the viewer only windows the
//! cached frame into a texture, which is cheap enough to redo on every drag.

use super::command::{Command, Screen, ViewContext};
use super::widgets::{ERROR_TEXT, format_date};
use crate::app::Command as AppCommand;
use crate::imaging::{
    CT_PRESETS, DecodeRequest, DecodeWorker, DicomInfo, Display, Distance, Frame, ImageSource,
    NOT_HERE, PixelSpacing, PixelValue, TagRow, Window, distance, person_name_display,
};
use crate::model::{Attachment, PatientId};
use crate::store::{Store, StudyGroup};
use egui::{Color32, Pos2, Rect, RichText, Sense, Ui, Vec2};
use std::collections::HashMap;
use std::sync::Arc;

/// Frames decoded and kept per viewer, at most.
const FRAME_CACHE_BYTES: usize = 256 << 20;
/// Cine speed when the file does not give one.
const DEFAULT_FRAME_MS: f64 = 100.0;

/// How the image sits on screen: zoom, pan, quarter turns and flips.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ViewTransform {
    /// Screen pixels per image pixel; `None` fits the image to the view.
    pub zoom: Option<f32>,
    /// Offset of the image centre from the view centre, screen pixels.
    pub pan: Vec2,
    /// Clockwise quarter turns (0–3).
    pub quarter_turns: u8,
    /// Mirror left–right (applied before turning).
    pub flip_h: bool,
    /// Mirror top–bottom (applied before turning).
    pub flip_v: bool,
}

impl Default for ViewTransform {
    fn default() -> Self {
        Self {
            zoom: None,
            pan: Vec2::ZERO,
            quarter_turns: 0,
            flip_h: false,
            flip_v: false,
        }
    }
}

impl ViewTransform {
    fn turned_size(&self, size: Vec2) -> Vec2 {
        if self.quarter_turns % 2 == 1 {
            Vec2::new(size.y, size.x)
        } else {
            size
        }
    }

    /// The scale in use for an image of `size` in `view`.
    pub fn scale(&self, view: Rect, size: Vec2) -> f32 {
        self.zoom.unwrap_or_else(|| {
            let turned = self.turned_size(size);
            (view.width() / turned.x.max(1.0))
                .min(view.height() / turned.y.max(1.0))
                .max(0.01)
        })
    }

    /// Where the image lands on screen.
    pub fn image_rect(&self, view: Rect, size: Vec2) -> Rect {
        let shown = self.turned_size(size) * self.scale(view, size);
        Rect::from_center_size(view.center() + self.pan, shown)
    }

    /// Image texture coordinates (0–1) to the displayed rectangle's (0–1).
    fn forward(&self, mut uv: Vec2) -> Vec2 {
        if self.flip_h {
            uv.x = 1.0 - uv.x;
        }
        if self.flip_v {
            uv.y = 1.0 - uv.y;
        }
        for _ in 0..self.quarter_turns % 4 {
            uv = Vec2::new(1.0 - uv.y, uv.x);
        }
        uv
    }

    /// The displayed rectangle's coordinates (0–1) back to the image's.
    fn inverse(&self, mut d: Vec2) -> Vec2 {
        for _ in 0..self.quarter_turns % 4 {
            d = Vec2::new(d.y, 1.0 - d.x);
        }
        if self.flip_v {
            d.y = 1.0 - d.y;
        }
        if self.flip_h {
            d.x = 1.0 - d.x;
        }
        d
    }

    /// A screen point to image pixel coordinates (x = column, y = row).
    pub fn screen_to_image(&self, view: Rect, size: Vec2, pos: Pos2) -> Vec2 {
        let rect = self.image_rect(view, size);
        let d = (pos - rect.min) / rect.size();
        self.inverse(d) * size
    }

    /// Image pixel coordinates to a screen point.
    pub fn image_to_screen(&self, view: Rect, size: Vec2, pixel: Vec2) -> Pos2 {
        let rect = self.image_rect(view, size);
        rect.min + self.forward(pixel / size) * rect.size()
    }
}

/// What a drag with the primary button does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tool {
    Pan,
    Window,
    Measure,
}

/// One distance: two points in image pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Measurement {
    from: Vec2,
    to: Option<Vec2>,
}

/// The texture of the frame on screen and what it was rendered with.
struct Shown {
    key: (crate::model::BlobHash, u32),
    frame: Arc<Frame>,
    display: Display,
    texture: egui::TextureHandle,
}

/// The viewer screen.
pub struct ImageViewer {
    patient_id: PatientId,
    patient_label: String,
    studies: Vec<StudyGroup>,
    study: usize,
    series: usize,
    /// Frames of the current series: (instance index, frame index).
    frames: Vec<(usize, u32)>,
    position: usize,
    worker: DecodeWorker,
    info: HashMap<crate::model::BlobHash, Arc<DicomInfo>>,
    /// Tags of the files read so far (the panel shows the current one's).
    tags: HashMap<crate::model::BlobHash, Arc<Vec<TagRow>>>,
    /// Frames that could not be shown, with why and when (images not here yet are asked again).
    errors: HashMap<(crate::model::BlobHash, u32), (String, f64)>,
    shown: Option<Shown>,
    thumbnails: HashMap<String, egui::TextureHandle>,
    window: Option<Window>,
    invert: bool,
    transform: ViewTransform,
    tool: Tool,
    measurements: Vec<Measurement>,
    playing: bool,
    next_tick: f64,
    show_tags: bool,
    tag_filter: String,
    load_error: Option<String>,
    /// The fit-to-view scale of the last frame drawn (where +/- start from).
    last_fit_scale: f32,
    /// Wheel movement not yet turned into a frame step.
    scroll_accumulator: f32,
    /// The frame's time, seconds (for retrying images that were not here).
    now: f64,
    /// Bring the selected series into view in the series panel (after opening or arrow keys).
    scroll_to_selected: bool,
    /// Asking whether to remove the current series from the record.
    confirm_remove: bool,
}

impl ImageViewer {
    /// Opens the viewer on a patient's imaging, at `study_uid` if given.
    pub fn open(
        store: &Store,
        ctx: &egui::Context,
        patient_id: PatientId,
        study_uid: Option<&str>,
    ) -> Self {
        let wake_ctx = ctx.clone();
        let worker = DecodeWorker::start(store.blob_files(), FRAME_CACHE_BYTES, move || {
            wake_ctx.request_repaint();
        });
        let (studies, load_error) = match store.studies(patient_id) {
            Ok(studies) => (studies, None),
            Err(e) => (
                Vec::new(),
                Some(format!("The images cannot be listed: {e}")),
            ),
        };
        let patient_label = store
            .patient(patient_id)
            .map(|p| {
                let number = p.number.map(|n| n.to_string()).unwrap_or_default();
                format!("{} {}  {number}", p.given_name, p.family_name)
            })
            .unwrap_or_default();
        let study = study_uid
            .and_then(|uid| studies.iter().position(|s| s.study_uid == uid))
            .unwrap_or(0);
        let mut viewer = Self {
            patient_id,
            patient_label,
            studies,
            study,
            series: 0,
            frames: Vec::new(),
            position: 0,
            worker,
            info: HashMap::new(),
            tags: HashMap::new(),
            errors: HashMap::new(),
            shown: None,
            thumbnails: HashMap::new(),
            window: None,
            invert: false,
            transform: ViewTransform::default(),
            tool: Tool::Pan,
            measurements: Vec::new(),
            playing: false,
            next_tick: 0.0,
            show_tags: false,
            tag_filter: String::new(),
            load_error,
            last_fit_scale: 1.0,
            scroll_accumulator: 0.0,
            now: 0.0,
            scroll_to_selected: true,
            confirm_remove: false,
        };
        viewer.select_series(study, 0);
        viewer
    }

    /// Whose images these are.
    pub fn patient_id(&self) -> PatientId {
        self.patient_id
    }

    /// "Frame n/N" of what is on screen.
    pub fn frame_label(&self) -> String {
        format!("Frame {}/{}", self.position + 1, self.frames.len().max(1))
    }

    /// The window in use, if the image is monochrome and shown.
    pub fn window_in_use(&self) -> Option<Window> {
        self.shown.as_ref().and_then(|s| s.display.window)
    }

    /// The measured distances, as shown.
    pub fn measurement_labels(&self) -> Vec<String> {
        let spacing = self.current_spacing();
        self.measurements
            .iter()
            .filter_map(|m| {
                let to = m.to?;
                Some(
                    distance(
                        (f64::from(m.from.x), f64::from(m.from.y)),
                        (f64::from(to.x), f64::from(to.y)),
                        spacing,
                    )
                    .to_string(),
                )
            })
            .collect()
    }

    /// True once the frame on screen is decoded and drawn.
    pub fn has_image(&self) -> bool {
        self.shown.is_some()
    }

    fn select_series(&mut self, study: usize, series: usize) {
        self.study = study;
        self.series = series;
        self.position = 0;
        self.measurements.clear();
        self.playing = false;
        self.window = None;
        self.frames = self
            .current_series_instances()
            .iter()
            .enumerate()
            .flat_map(|(i, a)| (0..a.frames.clamp(1, 100_000) as u32).map(move |f| (i, f)))
            .collect();
    }

    fn current_series_instances(&self) -> &[Attachment] {
        self.studies
            .get(self.study)
            .and_then(|s| s.series.get(self.series))
            .map_or(&[], |s| s.instances.as_slice())
    }

    fn current(&self) -> Option<(&Attachment, u32)> {
        let (instance, frame) = *self.frames.get(self.position)?;
        Some((self.current_series_instances().get(instance)?, frame))
    }

    fn current_spacing(&self) -> Option<PixelSpacing> {
        let (attachment, _) = self.current()?;
        attachment
            .pixel_spacing
            .map(|(row_mm, column_mm)| PixelSpacing { row_mm, column_mm })
    }

    fn request(&mut self, attachment: &Attachment, frame: u32) {
        self.worker.request(DecodeRequest {
            source: ImageSource {
                blob: attachment.blob.clone(),
                kind: attachment.kind(),
            },
            frame,
        });
    }

    fn step_frame(&mut self, delta: i64) {
        if self.frames.is_empty() {
            return;
        }
        let last = self.frames.len() as i64 - 1;
        self.position = (self.position as i64 + delta).clamp(0, last) as usize;
    }

    fn step_series(&mut self, delta: i64) {
        let Some(study) = self.studies.get(self.study) else {
            return;
        };
        let count = study.series.len() as i64;
        if count == 0 {
            return;
        }
        let next = (self.series as i64 + delta).clamp(0, count - 1) as usize;
        if next != self.series {
            self.select_series(self.study, next);
            self.scroll_to_selected = true;
        }
    }

    fn poll_worker(&mut self) {
        for answer in self.worker.poll() {
            if let Some(info) = answer.info {
                self.info.insert(answer.request.source.blob.clone(), info);
            }
            if let Some(tags) = answer.tags {
                // Tags are kept for the files of a few series at a time, not a whole CD.
                if self.tags.len() > 256 {
                    self.tags.clear();
                }
                self.tags.insert(answer.request.source.blob.clone(), tags);
            }
            if let Err(error) = answer.frame {
                self.errors.insert(
                    (answer.request.source.blob.clone(), answer.request.frame),
                    (error, self.now),
                );
            }
        }
    }

    /// The window the current frame is shown with: the user's, else the file's, else the range.
    fn display_for(&self, frame: &Frame, info: Option<&DicomInfo>) -> Display {
        Display {
            window: self
                .window
                .or_else(|| info.and_then(|i| i.window))
                .or_else(|| frame.full_window()),
            invert: self.invert,
        }
    }

    /// Draws the screen.
    pub fn ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        self.now = ui.input(|i| i.time);
        let now = self.now;
        // An image that was not on this workstation may have arrived with a sync since.
        self.errors
            .retain(|_, (error, at)| error != NOT_HERE || now - *at < 3.0);
        self.poll_worker();
        ui.horizontal(|ui| {
            if ui.button("Back to chart").clicked() {
                cx.send(Command::Open(Screen::Chart(self.patient_id)));
            }
            ui.heading(format!("Images — {}", self.patient_label));
            if ui.button("Import files…").clicked() {
                cx.send(Command::PickImages {
                    patient_id: self.patient_id,
                    encounter_id: None,
                    folder: false,
                });
            }
            if ui.button("Import folder or CD…").clicked() {
                cx.send(Command::PickImages {
                    patient_id: self.patient_id,
                    encounter_id: None,
                    folder: true,
                });
            }
        });
        if let Some(error) = &self.load_error {
            ui.colored_label(ERROR_TEXT, error);
        }
        if self.studies.is_empty() {
            ui.add_space(20.0);
            ui.label("No images yet. Import DICOM files, a patient CD or photos, or drop them on this window.");
            return;
        }
        egui::Panel::left("viewer_series")
            .resizable(true)
            .default_size(210.0)
            .show(ui, |ui| self.series_panel_ui(ui));
        if self.show_tags {
            egui::Panel::right("viewer_tags")
                .resizable(true)
                .default_size(440.0)
                .show(ui, |ui| self.tags_panel_ui(ui));
        }
        egui::Panel::top("viewer_tools").show(ui, |ui| self.toolbar_ui(ui));
        egui::Panel::bottom("viewer_frames").show(ui, |ui| self.frames_bar_ui(ui));
        egui::CentralPanel::default()
            .frame(egui::Frame::new().fill(Color32::BLACK))
            .show(ui, |ui| self.image_ui(ui, cx));
        if self.confirm_remove {
            self.confirm_remove_ui(ui, cx);
        }
    }

    fn series_panel_ui(&mut self, ui: &mut Ui) {
        let mut pick = None;
        egui::ScrollArea::vertical()
            .id_salt("series_scroll")
            .show(ui, |ui| {
                for (s, study) in self.studies.iter().enumerate() {
                    ui.label(
                        RichText::new(format!(
                            "{}  {}",
                            study
                                .study_date
                                .map(format_date)
                                .unwrap_or_else(|| "no date".to_owned()),
                            study.modalities
                        ))
                        .strong(),
                    );
                    if !study.description.is_empty() {
                        ui.label(&study.description);
                    }
                    for (n, series) in study.series.iter().enumerate() {
                        let selected = s == self.study && n == self.series;
                        let label = format!(
                            "{} {}\n{} image(s)",
                            series.modality,
                            if series.description.is_empty() {
                                series
                                    .series_number
                                    .map_or_else(|| "Series".to_owned(), |n| format!("Series {n}"))
                            } else {
                                series.description.clone()
                            },
                            series.frame_count()
                        );
                        ui.horizontal(|ui| {
                            match self.thumbnails.get(&series.series_uid) {
                                Some(texture) => {
                                    ui.add(
                                        egui::Image::new(texture)
                                            .fit_to_exact_size(Vec2::splat(56.0)),
                                    );
                                }
                                None => {
                                    ui.allocate_space(Vec2::splat(56.0));
                                }
                            }
                            let response = ui.selectable_label(selected, label);
                            if selected && self.scroll_to_selected {
                                response.scroll_to_me(Some(egui::Align::Center));
                            }
                            if response.clicked() {
                                pick = Some((s, n));
                            }
                        });
                    }
                    ui.separator();
                }
            });
        self.scroll_to_selected = false;
        if let Some((s, n)) = pick {
            self.select_series(s, n);
        }
        // Thumbnails: the first image of each series, once decoded.
        let firsts: Vec<(String, Attachment)> = self
            .studies
            .iter()
            .flat_map(|s| &s.series)
            .filter(|s| !self.thumbnails.contains_key(&s.series_uid))
            .filter_map(|s| Some((s.series_uid.clone(), s.instances.first()?.clone())))
            .take(4)
            .collect();
        for (uid, first) in firsts {
            match self.worker.cached(&first.blob, 0) {
                Some(frame) => {
                    let info = self.info.get(&first.blob).cloned();
                    let display = Display {
                        window: info.and_then(|i| i.window).or_else(|| frame.full_window()),
                        invert: false,
                    };
                    let texture = texture_of(ui.ctx(), &format!("thumb-{uid}"), &frame, &display);
                    self.thumbnails.insert(uid, texture);
                }
                None if self.errors.contains_key(&(first.blob.clone(), 0)) => {}
                None => self.request(&first, 0),
            }
        }
    }

    fn toolbar_ui(&mut self, ui: &mut Ui) {
        ui.horizontal_wrapped(|ui| {
            ui.label("Drag:");
            ui.selectable_value(&mut self.tool, Tool::Pan, "Pan");
            ui.selectable_value(&mut self.tool, Tool::Window, "Window/level");
            ui.selectable_value(&mut self.tool, Tool::Measure, "Measure");
            ui.separator();
            if ui.button("Fit").clicked() {
                self.transform.zoom = None;
                self.transform.pan = Vec2::ZERO;
            }
            if ui.button("1:1").clicked() {
                self.transform.zoom = Some(1.0);
                self.transform.pan = Vec2::ZERO;
            }
            if ui.button("Zoom out").clicked() {
                self.zoom_by(1.0 / 1.25);
            }
            if ui.button("Zoom in").clicked() {
                self.zoom_by(1.25);
            }
            ui.separator();
            if ui.button("Rotate").clicked() {
                self.transform.quarter_turns = (self.transform.quarter_turns + 1) % 4;
            }
            ui.toggle_value(&mut self.transform.flip_h, "Flip horizontal");
            ui.toggle_value(&mut self.transform.flip_v, "Flip vertical");
            ui.toggle_value(&mut self.invert, "Invert");
        });
        ui.horizontal_wrapped(|ui| {
            let monochrome = self
                .shown
                .as_ref()
                .is_some_and(|s| s.frame.full_window().is_some());
            ui.label("Window:");
            if ui
                .add_enabled(monochrome, egui::Button::new("File window"))
                .on_hover_text("The window the file suggests (or its whole range)")
                .clicked()
            {
                self.window = None;
            }
            for preset in CT_PRESETS {
                if ui
                    .add_enabled(monochrome, egui::Button::new(preset.name))
                    .on_hover_text(format!(
                        "Width {} / level {} (HU)",
                        preset.window.width, preset.window.center
                    ))
                    .clicked()
                {
                    self.window = Some(preset.window);
                }
            }
            ui.separator();
            ui.toggle_value(&mut self.show_tags, "Tags");
            if ui.button("Remove series…").clicked() {
                self.confirm_remove = true;
            }
            if !self.measurements.is_empty() && ui.button("Clear measurements").clicked() {
                self.measurements.clear();
            }
        });
    }

    fn confirm_remove_ui(&mut self, ui: &Ui, cx: &mut ViewContext<'_>) {
        let ids: Vec<crate::model::AttachmentId> = self
            .current_series_instances()
            .iter()
            .map(|a| a.attachment_id)
            .collect();
        egui::Modal::new(egui::Id::unique("remove_series")).show(ui.ctx(), |ui| {
            ui.heading("Remove this series from the record?");
            ui.label(format!(
                "{} image(s) will no longer show in this patient's record. Nothing is deleted: they can be restored from the chart, under Removed images.",
                ids.len()
            ));
            ui.horizontal(|ui| {
                if ui.button("Remove").clicked() {
                    cx.send(Command::change(AppCommand::SetImagesRemoved {
                        attachment_ids: ids.clone(),
                        removed: true,
                    }));
                    self.confirm_remove = false;
                }
                if ui.button("Keep").clicked() {
                    self.confirm_remove = false;
                }
            });
        });
    }

    fn zoom_by(&mut self, factor: f32) {
        let current = self.transform.zoom.unwrap_or(self.last_fit_scale);
        self.transform.zoom = Some((current * factor).clamp(0.05, 40.0));
    }

    fn frames_bar_ui(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            let label = if self.playing { "Pause" } else { "Play" };
            if ui
                .add_enabled(self.frames.len() > 1, egui::Button::new(label))
                .clicked()
            {
                self.playing = !self.playing;
                self.next_tick = 0.0;
            }
            let frame_label = ui.label("Frame");
            let mut position = self.position + 1;
            let max = self.frames.len().max(1);
            ui.add_enabled(max > 1, egui::Slider::new(&mut position, 1..=max).integer())
                .labelled_by(frame_label.id);
            if position != self.position + 1 {
                self.position = position.saturating_sub(1);
            }
            ui.label(self.frame_label()).on_hover_text(
                "←/→ frames, ↑/↓ series, wheel scrolls frames, Ctrl+wheel or +/− zooms",
            );
        });
    }

    fn keys(&mut self, ui: &Ui) {
        let (left, right, up, down, plus, minus) = ui.input(|i| {
            (
                i.key_pressed(egui::Key::ArrowLeft),
                i.key_pressed(egui::Key::ArrowRight),
                i.key_pressed(egui::Key::ArrowUp),
                i.key_pressed(egui::Key::ArrowDown),
                i.key_pressed(egui::Key::Plus) || i.key_pressed(egui::Key::Equals),
                i.key_pressed(egui::Key::Minus),
            )
        });
        if left {
            self.step_frame(-1);
        }
        if right {
            self.step_frame(1);
        }
        if up {
            self.step_series(-1);
        }
        if down {
            self.step_series(1);
        }
        if plus {
            self.zoom_by(1.25);
        }
        if minus {
            self.zoom_by(1.0 / 1.25);
        }
    }

    fn image_ui(&mut self, ui: &mut Ui, cx: &mut ViewContext<'_>) {
        if !ui.ctx().egui_wants_keyboard_input() {
            self.keys(ui);
        }
        self.cine(ui);
        let Some((attachment, frame_index)) = self.current().map(|(a, f)| (a.clone(), f)) else {
            return;
        };
        // Decode what is on screen and a few frames ahead.
        self.request(&attachment, frame_index);
        for ahead in 1..=3 {
            if let Some((a, f)) = self
                .frames
                .get(self.position + ahead)
                .and_then(|(i, f)| Some((self.current_series_instances().get(*i)?.clone(), *f)))
            {
                self.request(&a, f);
            }
        }
        let key = (attachment.blob.clone(), frame_index);
        let view = ui.max_rect();
        let response = ui.allocate_rect(view, Sense::click_and_drag());
        response
            .widget_info(|| egui::WidgetInfo::labeled(egui::accesskit::Role::Image, true, "Image"));
        let painter = ui.painter_at(view);

        if let Some(frame) = self.worker.cached(&key.0, key.1) {
            let info = self.info.get(&key.0).cloned();
            let display = self.display_for(&frame, info.as_deref());
            let stale = self
                .shown
                .as_ref()
                .is_none_or(|s| s.key != key || s.display != display);
            if stale {
                match &mut self.shown {
                    Some(shown)
                        if shown.frame.width == frame.width
                            && shown.frame.height == frame.height =>
                    {
                        shown
                            .texture
                            .set(color_image(&frame, &display), egui::TextureOptions::LINEAR);
                        shown.key = key.clone();
                        shown.frame = frame.clone();
                        shown.display = display;
                    }
                    _ => {
                        self.shown = Some(Shown {
                            key: key.clone(),
                            texture: texture_of(ui.ctx(), "viewer-image", &frame, &display),
                            frame: frame.clone(),
                            display,
                        });
                    }
                }
            }
        }
        let mut fetch = None;
        if let Some((error, _)) = self.errors.get(&key).cloned() {
            self.overlay_ui(&painter, view, &attachment, None);
            if error == NOT_HERE {
                ui.ctx()
                    .request_repaint_after(std::time::Duration::from_secs(1));
            }
            let message =
                egui::Rect::from_center_size(view.center(), Vec2::new(view.width() * 0.8, 120.0));
            ui.scope_builder(egui::UiBuilder::new().max_rect(message), |ui| {
                ui.vertical_centered(|ui| {
                    ui.label(
                        RichText::new(format!("This image cannot be shown: {error}"))
                            .color(Color32::from_rgb(255, 190, 120))
                            .size(16.0),
                    );
                    if error == NOT_HERE && ui.button("Download now").clicked() {
                        fetch = Some(attachment.blob.clone());
                    }
                });
            });
            if let Some(blob) = fetch {
                cx.send(Command::change(AppCommand::FetchImage(blob)));
            }
            return;
        }
        let Some((texture_id, frame, display)) = self
            .shown
            .as_ref()
            .map(|s| (s.texture.id(), s.frame.clone(), s.display))
        else {
            painter.text(
                view.center(),
                egui::Align2::CENTER_CENTER,
                "Decoding…",
                egui::FontId::proportional(16.0),
                Color32::LIGHT_GRAY,
            );
            return;
        };
        let size = Vec2::new(frame.width as f32, frame.height as f32);
        self.last_fit_scale = ViewTransform {
            zoom: None,
            ..self.transform
        }
        .scale(view, size);
        let rect = self.transform.image_rect(view, size);
        let mut mesh = egui::Mesh::with_texture(texture_id);
        let corners = [
            rect.left_top(),
            rect.right_top(),
            rect.right_bottom(),
            rect.left_bottom(),
        ];
        for corner in corners {
            let d = (corner - rect.min) / rect.size();
            let uv = self.transform.inverse(d);
            mesh.vertices.push(egui::epaint::Vertex {
                pos: corner,
                uv: Pos2::new(uv.x, uv.y),
                color: Color32::WHITE,
            });
        }
        mesh.indices.extend_from_slice(&[0, 1, 2, 0, 2, 3]);
        painter.add(egui::Shape::mesh(mesh));

        self.pointer_ui(ui, &response, view, size);
        self.measurements_ui(&painter, view, size);
        self.overlay_ui(&painter, view, &attachment, Some((&frame, display)));
        if let Some(pos) = response.hover_pos() {
            let pixel = self.transform.screen_to_image(view, size, pos);
            if pixel.x >= 0.0 && pixel.y >= 0.0 {
                let value = frame.value_at(pixel.x as u32, pixel.y as u32);
                let text = match value {
                    Some(PixelValue::Mono(v)) => {
                        format!("({}, {}) = {v:.0}", pixel.x as u32, pixel.y as u32)
                    }
                    Some(PixelValue::Rgb([r, g, b])) => {
                        format!("({}, {}) = {r} {g} {b}", pixel.x as u32, pixel.y as u32)
                    }
                    None => String::new(),
                };
                painter.text(
                    view.left_bottom() + Vec2::new(8.0, -26.0),
                    egui::Align2::LEFT_BOTTOM,
                    text,
                    egui::FontId::proportional(13.0),
                    Color32::from_gray(220),
                );
            }
        }
    }

    fn cine(&mut self, ui: &Ui) {
        if !self.playing || self.frames.len() < 2 {
            return;
        }
        let now = ui.input(|i| i.time);
        let frame_ms = self
            .current()
            .and_then(|(a, _)| self.info.get(&a.blob))
            .and_then(|i| i.frame_time_ms)
            .unwrap_or(DEFAULT_FRAME_MS)
            .clamp(15.0, 2000.0);
        if now >= self.next_tick {
            if self.next_tick > 0.0 {
                self.position = (self.position + 1) % self.frames.len();
            }
            self.next_tick = now + frame_ms / 1000.0;
        }
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_secs_f64(
                (self.next_tick - now).max(0.0),
            ));
    }

    fn pointer_ui(&mut self, ui: &Ui, response: &egui::Response, view: Rect, size: Vec2) {
        // Wheel: frames when there are several, zoom otherwise or with Ctrl.
        if response.hovered() {
            let (scroll, ctrl) = ui.input(|i| (i.smooth_scroll_delta.y, i.modifiers.command));
            let zoom_delta = ui.input(|i| i.zoom_delta());
            if zoom_delta != 1.0 {
                self.zoom_by(zoom_delta);
            } else if scroll.abs() > 0.5 {
                if ctrl || self.frames.len() < 2 {
                    self.zoom_by(if scroll > 0.0 { 1.1 } else { 1.0 / 1.1 });
                } else {
                    self.scroll_accumulator += scroll;
                    while self.scroll_accumulator >= 40.0 {
                        self.step_frame(-1);
                        self.scroll_accumulator -= 40.0;
                    }
                    while self.scroll_accumulator <= -40.0 {
                        self.step_frame(1);
                        self.scroll_accumulator += 40.0;
                    }
                }
            }
        }
        let delta = response.drag_delta();
        let secondary = response.dragged_by(egui::PointerButton::Secondary);
        let middle = response.dragged_by(egui::PointerButton::Middle);
        if delta != Vec2::ZERO {
            if middle
                || (self.tool == Tool::Pan && response.dragged_by(egui::PointerButton::Primary))
            {
                self.transform.pan += delta;
            } else if (secondary
                || (self.tool == Tool::Window && response.dragged_by(egui::PointerButton::Primary)))
                && let Some(shown) = &self.shown
                && let Some(base) = self.window.or(shown.display.window)
            {
                let range = shown.frame.full_window().map_or(256.0, |w| w.width);
                let step = (range / 512.0).max(0.1);
                self.window = Some(base.dragged(delta.x, delta.y, step));
            }
        }
        // Measure by dragging from one point to the other, drawn as it goes...
        if self.tool == Tool::Measure && response.dragged_by(egui::PointerButton::Primary) {
            if let Some(pos) = response.interact_pointer_pos() {
                let pixel = self.transform.screen_to_image(view, size, pos);
                if response.drag_started() {
                    let start = ui
                        .input(|i| i.pointer.press_origin())
                        .map_or(pixel, |origin| {
                            self.transform.screen_to_image(view, size, origin)
                        });
                    // A point left by a first click is replaced by the drag.
                    if self.measurements.last().is_some_and(|m| m.to.is_none()) {
                        self.measurements.pop();
                    }
                    self.measurements.push(Measurement {
                        from: start,
                        to: Some(pixel),
                    });
                } else if let Some(last) = self.measurements.last_mut() {
                    last.to = Some(pixel);
                }
            }
            return;
        }
        // ...or by clicking the two points.
        if self.tool == Tool::Measure
            && response.clicked()
            && let Some(pos) = response.interact_pointer_pos()
        {
            let pixel = self.transform.screen_to_image(view, size, pos);
            match self.measurements.last_mut() {
                Some(m) if m.to.is_none() => m.to = Some(pixel),
                _ => self.measurements.push(Measurement {
                    from: pixel,
                    to: None,
                }),
            }
        }
    }

    fn measurements_ui(&self, painter: &egui::Painter, view: Rect, size: Vec2) {
        let spacing = self.current_spacing();
        let stroke = egui::Stroke::new(2.0, Color32::from_rgb(255, 220, 0));
        for m in &self.measurements {
            let a = self.transform.image_to_screen(view, size, m.from);
            painter.circle_filled(a, 3.0, stroke.color);
            let Some(to) = m.to else {
                continue;
            };
            let b = self.transform.image_to_screen(view, size, to);
            painter.line_segment([a, b], stroke);
            painter.circle_filled(b, 3.0, stroke.color);
            let text = distance(
                (f64::from(m.from.x), f64::from(m.from.y)),
                (f64::from(to.x), f64::from(to.y)),
                spacing,
            );
            let label = match text {
                Distance::Millimetres(_) => text.to_string(),
                Distance::Pixels(px) => format!("{px:.1} px (no pixel spacing)"),
            };
            painter.text(
                b + Vec2::new(6.0, -6.0),
                egui::Align2::LEFT_BOTTOM,
                label,
                egui::FontId::proportional(14.0),
                stroke.color,
            );
        }
    }

    fn overlay_ui(
        &self,
        painter: &egui::Painter,
        view: Rect,
        attachment: &Attachment,
        shown: Option<(&Frame, Display)>,
    ) {
        let color = Color32::from_gray(235);
        let font = egui::FontId::proportional(14.0);
        let info = self.info.get(&attachment.blob);
        let source = if attachment.source_patient_name.is_empty() {
            String::new()
        } else {
            format!(
                "\nIn file: {}",
                person_name_display(&attachment.source_patient_name)
            )
        };
        painter.text(
            view.left_top() + Vec2::new(8.0, 8.0),
            egui::Align2::LEFT_TOP,
            format!(
                "{}{source}\n{}  {}",
                self.patient_label,
                attachment.study_date.map(format_date).unwrap_or_default(),
                attachment.study_description
            ),
            font.clone(),
            color,
        );
        painter.text(
            view.right_top() + Vec2::new(-8.0, 8.0),
            egui::Align2::RIGHT_TOP,
            format!(
                "{} {}\n{}",
                attachment.modality,
                attachment
                    .series_number
                    .map_or_else(String::new, |n| format!("Series {n}")),
                attachment.series_description
            ),
            font.clone(),
            color,
        );
        painter.text(
            view.left_bottom() + Vec2::new(8.0, -8.0),
            egui::Align2::LEFT_BOTTOM,
            self.frame_label(),
            font.clone(),
            color,
        );
        let mut right = String::new();
        if let Some((frame, display)) = shown {
            if let Some(w) = display.window.filter(|_| frame.full_window().is_some()) {
                right.push_str(&format!("W {:.0}  L {:.0}", w.width, w.center));
            }
            let size = Vec2::new(frame.width as f32, frame.height as f32);
            let scale = self.transform.scale(view, size);
            right.push_str(&format!("\nZoom {:.0}%", scale * 100.0));
            if self.current_spacing().is_none() && info.is_some() {
                right.push_str("\nNo pixel spacing: distances in pixels");
            }
        }
        painter.text(
            view.right_bottom() + Vec2::new(-8.0, -8.0),
            egui::Align2::RIGHT_BOTTOM,
            right,
            font,
            color,
        );
    }

    fn tags_panel_ui(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            let label = ui.label("Find tag");
            ui.text_edit_singleline(&mut self.tag_filter)
                .labelled_by(label.id);
        });
        let tags = self
            .current()
            .and_then(|(a, _)| self.tags.get(&a.blob))
            .cloned();
        let Some(tags) = tags else {
            ui.label("Tags appear once the image is read (photos have none).");
            return;
        };
        let needle = self.tag_filter.to_lowercase();
        let rows: Vec<&TagRow> = tags
            .iter()
            .filter(|t| {
                needle.is_empty()
                    || t.tag.to_lowercase().contains(&needle)
                    || t.name.to_lowercase().contains(&needle)
                    || t.value.to_lowercase().contains(&needle)
            })
            .collect();
        egui_extras::TableBuilder::new(ui)
            .id_salt("tags_table")
            .striped(true)
            .column(egui_extras::Column::auto())
            .column(egui_extras::Column::initial(150.0).clip(true))
            .column(egui_extras::Column::remainder())
            .header(20.0, |mut header| {
                header.col(|ui| {
                    ui.strong("Tag");
                });
                header.col(|ui| {
                    ui.strong("Name");
                });
                header.col(|ui| {
                    ui.strong("Value");
                });
            })
            .body(|body| {
                body.rows(18.0, rows.len(), |mut row| {
                    let Some(tag) = rows.get(row.index()) else {
                        return;
                    };
                    row.col(|ui| {
                        ui.monospace(format!("{}{}", "  ".repeat(tag.depth), tag.tag));
                    });
                    row.col(|ui| {
                        ui.add(egui::Label::new(&tag.name).truncate());
                    });
                    row.col(|ui| {
                        ui.add(egui::Label::new(&tag.value).truncate())
                            .on_hover_text(&tag.value);
                    });
                });
            });
    }
}

fn color_image(frame: &Frame, display: &Display) -> egui::ColorImage {
    let rgba = frame.render_rgba(display);
    egui::ColorImage::from_rgba_unmultiplied([frame.width as usize, frame.height as usize], &rgba)
}

fn texture_of(
    ctx: &egui::Context,
    name: &str,
    frame: &Frame,
    display: &Display,
) -> egui::TextureHandle {
    ctx.load_texture(
        name,
        color_image(frame, display),
        egui::TextureOptions::LINEAR,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screen_and_image_coordinates_round_trip_under_every_turn_and_flip() {
        let view = Rect::from_min_size(Pos2::new(10.0, 20.0), Vec2::new(800.0, 600.0));
        let size = Vec2::new(320.0, 240.0);
        for turns in 0..4 {
            for flip_h in [false, true] {
                for flip_v in [false, true] {
                    let t = ViewTransform {
                        zoom: Some(1.5),
                        pan: Vec2::new(13.0, -7.0),
                        quarter_turns: turns,
                        flip_h,
                        flip_v,
                    };
                    let pixel = Vec2::new(31.0, 200.0);
                    let screen = t.image_to_screen(view, size, pixel);
                    let back = t.screen_to_image(view, size, screen);
                    assert!((back - pixel).length() < 1e-3, "{t:?}: {back:?}");
                }
            }
        }
    }

    #[test]
    fn a_quarter_turn_puts_the_top_left_corner_top_right() {
        let view = Rect::from_min_size(Pos2::ZERO, Vec2::new(100.0, 100.0));
        let size = Vec2::new(100.0, 50.0);
        let t = ViewTransform {
            quarter_turns: 1,
            ..ViewTransform::default()
        };
        let rect = t.image_rect(view, size);
        let top_left = t.image_to_screen(view, size, Vec2::ZERO);
        assert!((top_left - rect.right_top()).length() < 1e-3);
    }
}
