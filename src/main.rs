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
    /// Sync with the central server once (or every N seconds). Exit status: 0 synced,
    /// 3 server unreachable (work goes on offline), 1 any other failure.
    Sync {
        /// The server, e.g. https://outpost.example.org:7443 (with --enroll).
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// Enroll this workstation with a one-time code from `outpost-server clinic add`.
        #[arg(long, value_name = "CODE", requires = "server")]
        enroll: Option<String>,
        /// The server's certificate authority (PEM), for an https server with its own certificate.
        #[arg(long, value_name = "PEM")]
        ca_cert: Option<PathBuf>,
        /// This workstation's name on the server.
        #[arg(long, default_value = "Workstation")]
        device_name: String,
        /// Repeat every SECONDS until stopped.
        #[arg(long, value_name = "SECONDS")]
        every: Option<u64>,
    },
}

/// Exit status of `outpost sync` when the server cannot be reached.
const EXIT_OFFLINE: u8 = 3;

/// Why `try_main` failed, so `main` can pick the exit status.
#[derive(Debug, thiserror::Error)]
#[error("Server unreachable — working offline: {0}")]
struct Offline(String);

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

async fn sync_command(
    store: &mut Store,
    enroll_with: Option<(String, String, Option<Vec<u8>>, String)>,
    every: Option<u64>,
) -> Result<()> {
    use outpost::sync::client::SyncClient;
    use outpost::sync::engine;
    if let Some((server, code, ca_pem, device_name)) = enroll_with {
        let clinic = engine::enroll(store, &server, &code, &device_name, ca_pem)
            .await
            .map_err(|e| match e.is_offline() {
                true => anyhow::Error::new(Offline(e.to_string())),
                false => anyhow::Error::new(e),
            })?;
        eprintln!("Enrolled in {clinic}.");
    }
    loop {
        let round = async {
            let client = SyncClient::connect(engine::client_config(store)?).await?;
            engine::sync_once(store, &client, |_| {}).await
        };
        match round.await {
            Ok(report) => print_lines(&[format!(
                "synced: pushed {}, refused {}, held {}, pulled {}, cursor {}",
                report.pushed,
                report.refused,
                report.quarantined,
                report.pulled.applied,
                report.cursor
            )]),
            Err(error) if every.is_some() => eprintln!("outpost: {error}"),
            Err(error) if error.is_offline() => bail!(Offline(error.to_string())),
            Err(error) => return Err(error.into()),
        }
        let Some(seconds) = every else {
            return Ok(());
        };
        tokio::time::sleep(std::time::Duration::from_secs(seconds.max(1))).await;
    }
}

/// Prints lines to standard output. A reader that stops early (`outpost status | head -1`) is
/// not an error worth reporting.
fn print_lines(lines: &[String]) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            return;
        }
    }
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
            let mut lines: Vec<String> = Vec::new();
            lines.push(format!("database: {}", status.database_path.display()));
            lines.push(format!("schema version: {}", status.schema_version));
            lines.push(format!("patients: {}", status.patients));
            lines.push(format!("visits: {}", status.visits));
            lines.push(format!("pending changes: {}", status.pending_changes));
            let server = outpost::sync::engine::server_url(&store)?;
            lines.push(format!("server: {}", server.as_deref().unwrap_or("none")));
            let last = outpost::sync::engine::last_sync(&store)?;
            lines.push(format!(
                "last sync: {}",
                last.map_or("never".to_owned(), |t| t.to_rfc3339())
            ));
            lines.push(format!("open conflicts: {}", store.conflicts()?.len()));
            lines.push(format!("held changes: {}", store.held_changes()?.len()));
            print_lines(&lines);
            Ok(())
        }
        Some(Command::Sync {
            server,
            enroll,
            ca_cert,
            device_name,
            every,
        }) => {
            let data_dir = match cli.data_dir {
                Some(dir) => dir,
                None => default_data_dir()?,
            };
            let mut store = Store::open_dir(&data_dir)?;
            let ca_pem = match ca_cert {
                Some(path) => Some(
                    std::fs::read(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?,
                ),
                None => None,
            };
            let enroll_with = match (server, enroll) {
                (Some(server), Some(code)) => Some((server, code, ca_pem, device_name)),
                (Some(_), None) => bail!("--server goes with --enroll CODE (the first time)"),
                _ => None,
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the network runtime")?;
            runtime.block_on(sync_command(&mut store, enroll_with, every))
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
            if error.downcast_ref::<Offline>().is_some() {
                ExitCode::from(EXIT_OFFLINE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
