//! The workstation's speed and memory on a large store, printed as a table.
//!
//! `cargo bench --bench workstation` builds (once, then reuses) a store of 1,000,000 synthetic
//! patients under the target directory, adds one patient with 500 visits, then measures:
//! patient search, opening a 500-visit chart, building one frame of the patient list, cold start
//! to the first frame with the list loaded, and resident memory. Set `OUTPOST_BENCH_PATIENTS` for
//! another size.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use outpost::demo::{self, DemoOptions};
use outpost::model::PatientId;
use outpost::store::{PatientSort, Store};
use outpost::ui::OutpostApp;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn data_dir(patients: usize) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    target
        .join("bench-data")
        .join(format!("patients-{patients}"))
}

/// Builds the store once: `patients` with 0–2 visits each, then one patient with 500 visits.
fn prepare(patients: usize) -> (PathBuf, PatientId) {
    let dir = data_dir(patients);
    let ready = dir.join("ready");
    if !ready.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        let mut store = Store::open_dir(&dir).unwrap();
        let started = Instant::now();
        let options = DemoOptions {
            patients,
            visits: 0..=2,
            seed: 1,
        };
        let summary = demo::generate(&mut store, &options, |done, total| {
            if done % 100_000 == 0 {
                eprintln!("  generated {done} / {total} patients");
            }
        })
        .unwrap();
        let heavy = DemoOptions {
            patients: 1,
            visits: 500..=500,
            seed: 2,
        };
        demo::generate(&mut store, &heavy, |_, _| {}).unwrap();
        store.ensure_icd10().unwrap();
        store.optimize().unwrap();
        eprintln!(
            "built {} patients, {} visits in {:.0} s",
            summary.patients + 1,
            summary.visits + 500,
            started.elapsed().as_secs_f64()
        );
        std::fs::write(&ready, b"").unwrap();
    }
    let mut store = Store::open_dir(&dir).unwrap();
    if store.user_count().unwrap() == 0 {
        let mut service = outpost::app::AppService::new(store);
        demo::create_accounts(&mut service).unwrap();
        store = Store::open_dir(&dir).unwrap();
    }
    if !dir.join("optimized").exists() {
        store.optimize().unwrap();
        std::fs::write(dir.join("optimized"), b"").unwrap();
    }
    // The heavy patient is the last one registered.
    let order = store.patient_order(PatientSort::Number, true).unwrap();
    let heavy = store.patient_rows(&order[..1]).unwrap()[0].patient_id;
    assert_eq!(store.encounters_for_patient(heavy).unwrap().len(), 500);
    (dir, heavy)
}

struct Stats {
    name: String,
    samples: Vec<Duration>,
    target: &'static str,
}

impl Stats {
    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.samples.clone();
        sorted.sort();
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[index].as_secs_f64() * 1000.0
    }
}

fn rss_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| -> f64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn frame(ctx: &egui::Context, app: &mut OutpostApp) {
    let input = egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(
            egui::Pos2::ZERO,
            egui::vec2(1280.0, 800.0),
        )),
        ..Default::default()
    };
    let output = ctx.run_ui(input, |ui| app.show(ui));
    let _ = ctx.tessellate(output.shapes, output.pixels_per_point);
}

fn main() {
    let patients: usize = std::env::var("OUTPOST_BENCH_PATIENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let (dir, heavy) = prepare(patients);
    let mut results: Vec<Stats> = Vec::new();

    // Cold start: open the store, build the app, draw frames until the list is loaded.
    let started = Instant::now();
    let store = Store::open_dir(&dir).unwrap();
    let ctx = egui::Context::default();
    outpost::ui::setup_context(&ctx);
    // The demo clinician signs in first (one Argon2id key derivation, as at every start).
    let mut service = outpost::app::AppService::new(store);
    let clinician = &demo::DEMO_ACCOUNTS[1];
    service
        .sign_in(clinician.user_name, clinician.password)
        .unwrap();
    let mut app = OutpostApp::new(service);
    frame(&ctx, &mut app);
    let first_frame = started.elapsed();
    while !app.list_ready() {
        std::thread::sleep(Duration::from_millis(2));
        frame(&ctx, &mut app);
    }
    let list_loaded = started.elapsed();
    results.push(Stats {
        name: format!("cold start to first frame ({patients} patients)"),
        samples: vec![first_frame],
        target: "≤ 1000 ms",
    });
    results.push(Stats {
        name: format!("cold start to a filled patient list ({patients} patients)"),
        samples: vec![list_loaded],
        target: "≤ 1000 ms",
    });

    // One frame of the patient list, scrolled nowhere in particular (rows come from the cache
    // after the first frame, as they do while a user looks at the list).
    let mut samples = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        frame(&ctx, &mut app);
        samples.push(t.elapsed());
    }
    results.push(Stats {
        name: format!("one frame of the patient list ({patients} rows)"),
        samples,
        target: "≤ 4 ms",
    });
    let (rss, peak) = rss_mb();

    // Search: what a clerk types, from two letters to whole names, numbers, phones and IDs.
    let store = Store::open_dir(&dir).unwrap();
    let mut rng = fastrand::Rng::with_seed(9);
    let order = store.patient_order(PatientSort::Number, false).unwrap();
    let sample_ids: Vec<i64> = (0..100).map(|_| order[rng.usize(..order.len())]).collect();
    let rows = store.patient_rows(&sample_ids).unwrap();
    let mut queries: Vec<String> = Vec::new();
    for row in &rows {
        let family = row.name.split(',').next().unwrap_or("").trim().to_owned();
        let chars: Vec<char> = family.chars().collect();
        for len in [2, 3, 5] {
            queries.push(chars.iter().take(len).collect());
        }
        queries.push(row.name.replace(',', ""));
        queries.push(row.number.clone());
        queries.push(row.phone.clone());
    }
    let mut samples = Vec::new();
    let mut timed: Vec<(Duration, &str)> = Vec::new();
    for query in &queries {
        let t = Instant::now();
        let found = store.search_patients(query, 500).unwrap();
        samples.push(t.elapsed());
        timed.push((t.elapsed(), query));
        assert!(!found.rows.is_empty(), "{query:?} found nothing");
    }
    timed.sort();
    let slowest: Vec<String> = timed
        .iter()
        .rev()
        .take(8)
        .map(|(t, q)| format!("{q:?} {:.1} ms", t.as_secs_f64() * 1000.0))
        .collect();
    eprintln!("slowest searches: {}", slowest.join(", "));
    results.push(Stats {
        name: format!(
            "patient search, {} queries ({patients} patients)",
            queries.len()
        ),
        samples,
        target: "p95 ≤ 10 ms",
    });

    // Opening a chart with 500 visits: demographics, allergies, problems, visits.
    let mut samples = Vec::new();
    for _ in 0..30 {
        let t = Instant::now();
        let _patient = store.patient(heavy).unwrap();
        let _allergies = store.allergies(heavy).unwrap();
        let _problems = store.problems(heavy).unwrap();
        let visits = store.encounters_for_patient(heavy).unwrap();
        samples.push(t.elapsed());
        assert_eq!(visits.len(), 500);
    }
    results.push(Stats {
        name: "open a chart with 500 visits".into(),
        samples,
        target: "≤ 50 ms",
    });

    println!();
    println!(
        "| {:<58} | {:>9} | {:>9} | {:>9} | {:<12} |",
        "measure", "p50 ms", "p95 ms", "max ms", "target"
    );
    println!(
        "|{}|{}|{}|{}|{}|",
        "-".repeat(60),
        "-".repeat(11),
        "-".repeat(11),
        "-".repeat(11),
        "-".repeat(14)
    );
    for stats in &results {
        println!(
            "| {:<58} | {:>9.2} | {:>9.2} | {:>9.2} | {:<12} |",
            stats.name,
            stats.percentile(0.5),
            stats.percentile(0.95),
            stats.percentile(1.0),
            stats.target
        );
    }
    println!(
        "| {:<58} | {:>9.0} | {:>9} | {:>9.0} | {:<12} |",
        "resident memory after start (MB; max = peak)", rss, "", peak, "≤ 200 MB"
    );
}
