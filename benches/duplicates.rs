//! How fast likely duplicates are found as a clerk types, on a large store, printed as a table.
//!
//! `cargo bench --bench duplicates` builds (once, then reuses) a store of 1,000,000 synthetic
//! patients under the target directory with 1,000 duplicates planted, then times
//! `Store::likely_duplicates` for each planted duplicate typed as a clerk types it: the family
//! name alone, then with the given name, then with the date of birth or age, then the whole
//! record. Set `OUTPOST_BENCH_PATIENTS` for another size.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use outpost::demo::{self, DemoOptions};
use outpost::model::Patient;
use outpost::store::Store;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn data_dir(patients: usize) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    target
        .join("bench-data")
        .join(format!("duplicates-{patients}"))
}

/// What the clerk has typed so far, from the whole record.
type Typed = fn(&Patient) -> Patient;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn main() {
    let patients: usize = std::env::var("OUTPOST_BENCH_PATIENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let dir = data_dir(patients);
    let ready = dir.join("ready");
    let planted_file = dir.join("planted.txt");
    if !ready.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        let mut store = Store::open_dir(&dir).unwrap();
        let started = Instant::now();
        let options = DemoOptions {
            patients,
            visits: 0..=0,
            seed: 3,
        };
        demo::generate(&mut store, &options, |done, total| {
            if done % 100_000 == 0 {
                eprintln!("  generated {done} / {total} patients");
            }
        })
        .unwrap();
        let planted = demo::plant_duplicates(&mut store, 1_000, 5).unwrap();
        store.optimize().unwrap();
        let list: Vec<String> = planted
            .iter()
            .map(|p| format!("{} {}", p.original, p.duplicate))
            .collect();
        std::fs::write(&planted_file, list.join("\n")).unwrap();
        eprintln!(
            "built {patients} patients and 1,000 planted duplicates in {:.0} s",
            started.elapsed().as_secs_f64()
        );
        std::fs::write(&ready, b"").unwrap();
    }
    let store = Store::open_dir(&dir).unwrap();
    let planted: Vec<(Patient, outpost::model::PatientId)> = std::fs::read_to_string(&planted_file)
        .unwrap()
        .lines()
        .map(|line| {
            let (original, duplicate) = line.split_once(' ').unwrap();
            (
                store.patient(duplicate.parse().unwrap()).unwrap(),
                original.parse().unwrap(),
            )
        })
        .collect();

    // As typed: the family name; with the given name; with the birth date or age; everything.
    let stages: [(&str, Typed); 4] = [
        ("family name", |p| {
            let mut t = Patient::blank(p.clinic_id);
            t.family_name = p.family_name.clone();
            t
        }),
        ("family + given name", |p| {
            let mut t = Patient::blank(p.clinic_id);
            t.family_name = p.family_name.clone();
            t.given_name = p.given_name.clone();
            t
        }),
        ("names + sex + birth", |p| {
            let mut t = Patient::blank(p.clinic_id);
            t.family_name = p.family_name.clone();
            t.given_name = p.given_name.clone();
            t.sex = p.sex;
            t.birth = p.birth;
            t
        }),
        ("the whole record", |p| {
            let mut t = p.clone();
            t.patient_id = outpost::model::PatientId::new();
            t
        }),
    ];
    println!(
        "| likely duplicates as typed ({patients} patients, {} planted) | p50 | p95 | max | found its original |",
        planted.len()
    );
    println!("|---|---|---|---|---|");
    for (name, typed) in stages {
        let mut samples = Vec::with_capacity(planted.len());
        let mut found = 0;
        for (duplicate, original) in &planted {
            let query = typed(duplicate);
            let t = Instant::now();
            let candidates = store.likely_duplicates(&query, 5).unwrap();
            samples.push(t.elapsed());
            if candidates.iter().any(|c| c.patient.patient_id == *original) {
                found += 1;
            }
        }
        samples.sort();
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {:.1} ms | {found} of {} |",
            percentile(&samples, 0.5).as_secs_f64() * 1e3,
            percentile(&samples, 0.95).as_secs_f64() * 1e3,
            samples.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
            planted.len()
        );
    }
}
