//! `outpost`: the clinic workstation program. With no subcommand it opens the window; the
//! subcommands serve scripts and a clinic's IT person.

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};
use outpost::demo::{self, DemoOptions};
use outpost::store::Store;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(name = "outpost", version, about = "Offline-first clinic records")]
struct Cli {
    /// Folder of the database (default: the platform's data folder for Outpost).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Open the window on a demo database full of synthetic patients, creating it on first use.
    #[arg(long)]
    demo: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Write a synthetic population into the database.
    Demo {
        /// How many patients.
        #[arg(long, default_value_t = 2_000)]
        patients: usize,
        /// Visits per patient, as MIN-MAX (or one number).
        #[arg(long, default_value = "3-10")]
        visits: String,
        /// Seed: the same seed gives the same population.
        #[arg(long, default_value_t = DemoOptions::default().seed)]
        seed: u64,
    },
    /// Print `key: value` lines about the database.
    Status,
}

fn default_data_dir() -> Result<PathBuf> {
    directories::ProjectDirs::from("org", "Outpost", "Outpost")
        .map(|dirs| dirs.data_dir().to_owned())
        .context("cannot find a data folder for this user; pass --data-dir DIR")
}

fn parse_visits(text: &str) -> Result<std::ops::RangeInclusive<usize>> {
    let (low, high) = text.split_once('-').unwrap_or((text, text));
    let low: usize = low
        .trim()
        .parse()
        .context("--visits takes MIN-MAX, e.g. 3-10")?;
    let high: usize = high
        .trim()
        .parse()
        .context("--visits takes MIN-MAX, e.g. 3-10")?;
    if low > high || high > 10_000 {
        bail!("--visits takes MIN-MAX with MIN ≤ MAX ≤ 10000");
    }
    Ok(low..=high)
}

fn generate_demo(store: &mut Store, options: &DemoOptions) -> Result<()> {
    let started = Instant::now();
    eprintln!(
        "Writing {} synthetic patients into {} …",
        options.patients,
        store.path().display()
    );
    let summary = demo::generate(store, options, |done, total| {
        if done % 10_000 == 0 || done == total {
            eprintln!("  {done} / {total} patients");
        }
    })?;
    eprintln!(
        "Wrote {} patients and {} visits in {:.1} s.",
        summary.patients,
        summary.visits,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn try_main() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::WARN)
        .init();
    match cli.command {
        Some(Command::Demo {
            patients,
            visits,
            seed,
        }) => {
            let data_dir = cli
                .data_dir
                .context("`outpost demo` needs --data-dir DIR")?;
            let mut store = Store::open_dir(&data_dir)?;
            let options = DemoOptions {
                patients,
                visits: parse_visits(&visits)?,
                seed,
            };
            generate_demo(&mut store, &options)
        }
        Some(Command::Status) => {
            let data_dir = match cli.data_dir {
                Some(dir) => dir,
                None => default_data_dir()?,
            };
            let store = Store::open_dir(&data_dir)?;
            let status = store.status()?;
            println!("database: {}", status.database_path.display());
            println!("schema version: {}", status.schema_version);
            println!("patients: {}", status.patients);
            println!("visits: {}", status.visits);
            println!("pending changes: {}", status.pending_changes);
            Ok(())
        }
        None => {
            let data_dir = match (cli.data_dir, cli.demo) {
                (Some(dir), _) => dir,
                (None, false) => default_data_dir()?,
                (None, true) => default_data_dir()?.join("demo"),
            };
            let mut store = Store::open_dir(&data_dir)?;
            if cli.demo && store.patient_count()? == 0 {
                generate_demo(&mut store, &DemoOptions::default())?;
                store.set_setting("user_name", "Dr Amina Odhiambo")?;
            }
            outpost::ui::run(store).map_err(|e| anyhow::anyhow!("the window failed: {e}"))
        }
    }
}

fn main() -> ExitCode {
    match try_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("outpost: {error:#}");
            ExitCode::FAILURE
        }
    }
}
