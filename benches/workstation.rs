//! The workstation's speed and memory on a large store, encrypted and plain, printed as a table.
//!
//! `cargo bench --bench workstation` builds (once, then reuses) a store of 1,000,000 synthetic
//! patients under the target directory, adds one patient with 500 visits, and keeps two copies:
//! a plain one, and one set up as a demo workstation is (its accounts created, so encrypted with
//! SQLCipher). It measures, on the encrypted copy: start to the sign-in screen, sign-in to the
//! filled patient list, one frame of the list and resident memory; and on both copies in the same
//! run: patient search, opening a 500-visit chart, and ordering the whole list, so the cost of
//! encryption is a measured ratio. Set `OUTPOST_BENCH_PATIENTS` for another size.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/support/stores.rs"]
mod stores;

use outpost::app::AppService;
use outpost::demo::{self, DemoOptions};
use outpost::keys::{DataKey, KdfParams, KeySlot};
use outpost::model::PatientId;
use outpost::server::add_clinic;
use outpost::store::{DATABASE_FILE, PatientSort, Store};
use outpost::sync::client::SyncClient;
use outpost::sync::engine;
use outpost::ui::OutpostApp;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn data_dir(patients: usize, kind: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    target
        .join("bench-data")
        .join(format!("patients-{patients}-{kind}"))
}

/// Builds the plain store once: `patients` with 0–2 visits each, then one patient with 500
/// visits.
fn prepare_plain(patients: usize) -> PathBuf {
    let dir = data_dir(patients, "plain");
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
    dir
}

/// The plain store copied and set up with the demo accounts, which encrypts it in place.
fn prepare_encrypted(patients: usize, plain: &Path) -> PathBuf {
    let dir = data_dir(patients, "encrypted");
    let ready = dir.join("ready");
    if !ready.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(plain.join(DATABASE_FILE), dir.join(DATABASE_FILE)).unwrap();
        let started = Instant::now();
        let mut service = AppService::open_dir(&dir).unwrap();
        demo::create_accounts(&mut service).unwrap();
        eprintln!(
            "set up and encrypted in {:.0} s",
            started.elapsed().as_secs_f64()
        );
        std::fs::write(&ready, b"").unwrap();
    }
    dir
}

/// A copy of the plain store enrolled with a real server on loopback, synced once (everything
/// pushed, acknowledged and pulled back), then compacted and vacuumed: the disk a workstation
/// uses once the server has everything. Built once; returns the figures measured then.
fn prepare_synced(patients: usize, plain: &Path) -> (PathBuf, String) {
    let dir = data_dir(patients, "synced");
    let ready = dir.join("ready");
    if !ready.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(plain.join(DATABASE_FILE), dir.join(DATABASE_FILE)).unwrap();
        let server_dir = data_dir(patients, "server");
        let _ = std::fs::remove_dir_all(&server_dir);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let figures = runtime.block_on(async {
            let (server, url) = stores::serve_sqlite_here(&server_dir).await;
            let clinic = add_clinic(
                server.as_ref(),
                "Bench Clinic",
                chrono::Utc::now().timestamp_millis(),
                outpost::server::DEFAULT_CODE_VALIDITY,
            )
            .unwrap();
            let mut store = Store::open_dir(&dir).unwrap();
            let log_before = store.change_log_size().unwrap();
            engine::enroll(&mut store, &url, &clinic.enrollment_code, "Bench", None, false)
                .await
                .unwrap();
            let client = SyncClient::connect(engine::client_config(&store).unwrap())
                .await
                .unwrap();
            let started = Instant::now();
            let round = engine::sync_once(&mut store, &client, |_| {}).await.unwrap();
            let synced = started.elapsed();
            assert_eq!(store.pending_count().unwrap(), 0);
            let synced_bytes = store.file_size().unwrap();
            let started = Instant::now();
            let report = store
                .compact_all(20_000, |done, of| {
                    if done % 500_000 < 20_000 {
                        eprintln!("  compacting: {done} / {of} log rows");
                    }
                })
                .unwrap();
            let compacted = started.elapsed();
            let started = Instant::now();
            store.reclaim_space().unwrap();
            let vacuumed = started.elapsed();
            let after = store.file_size().unwrap();
            let log_after = store.change_log_size().unwrap();
            [
                format!("changes pushed, acknowledged and pulled back: {} in {:.0} s (the round compacted {} as it ended)", round.pushed, synced.as_secs_f64(), round.compacted),
                format!("store after that round: {:.2} GB", synced_bytes as f64 / 1e9),
                format!("records compacted: {} ({} kept their history), {} changes removed in {:.0} s", report.records, report.records_kept, report.changes_removed, compacted.as_secs_f64()),
                format!("space given back (VACUUM) in {:.0} s", vacuumed.as_secs_f64()),
                format!("change log: {log_before} rows before, {log_after} after"),
                format!("store compacted: {:.2} GB", after as f64 / 1e9),
            ]
            .join("\n")
        });
        drop(runtime);
        let _ = std::fs::remove_dir_all(&server_dir);
        std::fs::write(&ready, &figures).unwrap();
    }
    let figures = std::fs::read_to_string(&ready).unwrap();
    (dir, figures)
}

/// The patient with 500 visits (the last one registered).
fn heavy_patient(store: &Store) -> PatientId {
    let order = store.patient_order(PatientSort::Number, true).unwrap();
    let heavy = store.patient_rows(&order[..1]).unwrap()[0].patient_id;
    assert_eq!(store.encounters_for_patient(heavy).unwrap().len(), 500);
    heavy
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

/// What a clerk types, from two letters to whole names, numbers, phones and IDs: 600 queries
/// from 100 patients picked with a fixed seed.
fn queries(store: &Store) -> Vec<String> {
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
    queries
}

/// Search, a 500-visit chart and the whole list's order on `store`, named with `kind`.
fn store_measures(store: &Store, queries: &[String], kind: &str, results: &mut Vec<Stats>) {
    let heavy = heavy_patient(store);
    let mut samples = Vec::new();
    let mut timed: Vec<(Duration, &str)> = Vec::new();
    for query in queries {
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
        .take(5)
        .map(|(t, q)| format!("{q:?} {:.1} ms", t.as_secs_f64() * 1000.0))
        .collect();
    eprintln!("slowest searches ({kind}): {}", slowest.join(", "));
    results.push(Stats {
        name: format!("patient search, {} queries — {kind}", queries.len()),
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
        name: format!("open a chart with 500 visits — {kind}"),
        samples,
        target: "≤ 50 ms",
    });

    // The list loader's work: the whole order by name, then the first page of rows.
    let mut samples = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let order = store.patient_order(PatientSort::Name, false).unwrap();
        let rows = store.patient_rows(&order[..40]).unwrap();
        samples.push(t.elapsed());
        assert_eq!(rows.len(), 40);
    }
    results.push(Stats {
        name: format!("order the whole list by name + first page — {kind}"),
        samples,
        target: "measured",
    });
}

fn main() {
    let patients: usize = std::env::var("OUTPOST_BENCH_PATIENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let plain = prepare_plain(patients);
    let encrypted = prepare_encrypted(patients, &plain);
    let mut results: Vec<Stats> = Vec::new();
    let clinician = &demo::DEMO_ACCOUNTS[1];

    // One key-slot derivation at the sign-in cost (what each password guess costs too).
    let mut samples = Vec::new();
    let data_key = DataKey::generate().unwrap();
    for _ in 0..5 {
        let t = Instant::now();
        KeySlot::seal(
            &data_key,
            b"a password of a user",
            "owner",
            KdfParams::INTERACTIVE,
        )
        .unwrap();
        samples.push(t.elapsed());
    }
    results.push(Stats {
        name: format!(
            "one password check: Argon2id {} MiB, {} passes",
            KdfParams::INTERACTIVE.m_kib / 1024,
            KdfParams::INTERACTIVE.t
        ),
        samples,
        target: "0.2–0.5 s",
    });

    // Start to the sign-in screen: the key file read, the first frame drawn; the database stays
    // closed until a password opens it.
    let ctx = egui::Context::default();
    outpost::ui::setup_context(&ctx);
    let started = Instant::now();
    let service = AppService::open_dir(&encrypted).unwrap();
    let mut app = OutpostApp::new(service);
    frame(&ctx, &mut app);
    let to_sign_in = started.elapsed();
    assert!(app.service().user().is_none());
    drop(app);
    results.push(Stats {
        name: format!("start to the sign-in screen — encrypted ({patients} patients)"),
        samples: vec![to_sign_in],
        target: "≤ 1000 ms",
    });

    // Sign-in to the filled list: the password opens its key slot (one Argon2id derivation),
    // the database opens with the data key, and frames are drawn until the list has its order.
    let started = Instant::now();
    let mut service = AppService::open_dir(&encrypted).unwrap();
    service
        .sign_in(clinician.user_name, clinician.password)
        .unwrap();
    let signed_in = started.elapsed();
    let mut app = OutpostApp::new(service);
    frame(&ctx, &mut app);
    while !app.list_ready() {
        std::thread::sleep(Duration::from_millis(2));
        frame(&ctx, &mut app);
    }
    let list_loaded = started.elapsed();
    results.push(Stats {
        name: "… of which signed in (password checked, database opened)".into(),
        samples: vec![signed_in],
        target: "measured",
    });
    results.push(Stats {
        name: format!("sign-in to a filled patient list — encrypted ({patients} patients)"),
        samples: vec![list_loaded],
        target: "≤ 1500 ms",
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
    let key: DataKey = app.service().session().unwrap().data_key().clone();
    drop(app);

    let store = Store::open_keyed(&encrypted.join(DATABASE_FILE), &key).unwrap();
    let queries = queries(&store);
    store_measures(&store, &queries, "encrypted", &mut results);
    drop(store);
    let store = Store::open_dir(&plain).unwrap();
    store_measures(&store, &queries, "plain", &mut results);

    println!();
    println!(
        "| {:<66} | {:>9} | {:>9} | {:>9} | {:<12} |",
        "measure", "p50 ms", "p95 ms", "max ms", "target"
    );
    println!(
        "|{}|{}|{}|{}|{}|",
        "-".repeat(68),
        "-".repeat(11),
        "-".repeat(11),
        "-".repeat(11),
        "-".repeat(14)
    );
    for stats in &results {
        println!(
            "| {:<66} | {:>9.2} | {:>9.2} | {:>9.2} | {:<12} |",
            stats.name,
            stats.percentile(0.5),
            stats.percentile(0.95),
            stats.percentile(1.0),
            stats.target
        );
    }
    println!(
        "| {:<66} | {:>9.0} | {:>9} | {:>9.0} | {:<12} |",
        "resident memory after sign-in and the list (MB; max = peak)", rss, "", peak, "≤ 200 MB"
    );

    // Last, so that its server's memory and disk traffic stay out of the figures above.
    let (synced, synced_figures) = prepare_synced(patients, &plain);
    // Disk: the store as the demo wrote it (every change waiting for a server), and the same
    // store once a server acknowledged everything and the log was compacted.
    let size = |dir: &Path| {
        std::fs::metadata(dir.join(DATABASE_FILE))
            .map(|m| m.len() as f64 / 1e9)
            .unwrap_or(0.0)
    };
    println!();
    println!("Disk at {patients} patients:");
    println!("- plain store, nothing synced: {:.2} GB", size(&plain));
    println!(
        "- encrypted store, nothing synced: {:.2} GB",
        size(&encrypted)
    );
    println!(
        "- synced and compacted (target ≤ 1.5 GB): {:.2} GB",
        size(&synced)
    );
    for line in synced_figures.lines() {
        println!("  - {line}");
    }
}
