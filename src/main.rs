//! `outpost`: the clinic workstation program. With no subcommand it opens the window; the
//! subcommands serve scripts and a clinic's IT person.

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};
use outpost::app::{AppService, Command as AppCommand, StatusReport};
use outpost::demo::{self, DEMO_ACCOUNTS, DemoOptions};
use outpost::model::{Action, Role, Roles};
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
    /// Open the window on a demo database full of synthetic patients, creating it on first use
    /// (with `import`: import into the demo database).
    #[arg(long, global = true)]
    demo: bool,
    /// Who runs a command that reads or writes records (the password is asked for on the
    /// terminal, or read from --password-file).
    #[arg(long, global = true, value_name = "NAME")]
    user: Option<String>,
    /// A file whose first line is the password of --user, for scripts.
    #[arg(long, global = true, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// The window's Print runs this command with the PDF file's path added at the end (words
    /// split at spaces, no quoting), e.g. "lp -d receipt" for a receipt printer. Without it,
    /// the PDF opens in the system's viewer (on Windows, goes to the default printer).
    #[arg(long, env = "OUTPOST_PRINT_COMMAND", value_name = "COMMAND")]
    print_command: Option<String>,
    /// The window's language until a user chooses their own: en, fr, es, pt, sw or ar.
    #[arg(long, global = true, env = "OUTPOST_LANG", value_name = "CODE")]
    lang: Option<outpost::i18n::Language>,
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
        /// With --enroll, on a data folder restored from a backup: take over the workstation
        /// it was backed up from (the server revokes that one) instead of enrolling beside it.
        #[arg(long, requires = "enroll")]
        take_over: bool,
    },
    /// Restore a backup into a new data folder (--data-dir), after checking every file against
    /// its manifest. The restored workstation works at once; it syncs after it enrolls again
    /// (`sync --enroll CODE`, with --take-over to replace the workstation it was backed up from).
    Restore {
        /// The backup's folder.
        #[arg(value_name = "BACKUP")]
        backup: PathBuf,
    },
    /// Describe DICOM files (patient, study, series, modality, transfer syntax, size, frames) and
    /// decode every frame. Exit status 1 if any file cannot be read.
    DicomInfo {
        /// The files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Import image files, folders or a patient CD (DICOMDIR) into a patient's record.
    /// `outpost import fhir FILE` reads a FHIR R4 Bundle instead.
    #[command(args_conflicts_with_subcommands = true)]
    Import {
        #[command(subcommand)]
        records: Option<ImportRecords>,
        /// The patient's number, e.g. OUT-000001.
        #[arg(long, value_name = "NUMBER")]
        patient: Option<String>,
        /// Files and folders.
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Import even images whose files name another person (another name, date of birth or
        /// sex). Without it the command asks on a terminal, and otherwise imports nothing.
        #[arg(long)]
        accept_other_names: bool,
    },
    /// The clinic's reports, from the records this workstation holds.
    Report {
        #[command(subcommand)]
        what: ReportWhat,
    },
    /// Records written out in a standard form, for another system.
    Export {
        #[command(subcommand)]
        what: ExportWhat,
    },
    /// The clinic's users (for an administrator).
    Users {
        #[command(subcommand)]
        action: UsersAction,
    },
    /// The audit trail (for an administrator).
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Take the clinic's key in place of this workstation's own (a workstation set up before it
    /// enrolled): one of the clinic's users proves it with their password (from
    /// --clinic-password-file or the terminal). For an administrator of this workstation.
    AdoptClinicKey {
        /// The clinic's user whose password opens the clinic's key.
        #[arg(long, value_name = "NAME")]
        clinic_user: String,
        /// A file whose first line is that user's password.
        #[arg(long, value_name = "FILE")]
        clinic_password_file: Option<PathBuf>,
    },
    /// Print a document as a PDF file (for a user who may read clinical notes; each print is in
    /// the audit trail).
    Print {
        #[command(subcommand)]
        document: PrintDocument,
    },
    /// Fold every change the server has acknowledged into its record, and give the freed space
    /// back to the disk (for an administrator; sync does a little of this after every round).
    Compact,
    /// Write a backup of this workstation (records, key file, images; encrypted as they are
    /// here) into a new folder, by default under `backups` in the data folder (for an
    /// administrator). The backup is a data folder of its own: open it with --data-dir.
    #[command(args_conflicts_with_subcommands = true)]
    Backup {
        /// The new folder to write.
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
        #[command(subcommand)]
        action: Option<BackupAction>,
    },
}

#[derive(Subcommand)]
enum ImportRecords {
    /// Read a FHIR R4 Bundle (Outpost's or another system's) into the records; prints what was
    /// written and, line by line, what was not kept and why. Importing twice changes nothing.
    Fhir {
        /// The Bundle (JSON).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum ReportWhat {
    /// The monthly report: attendance by sex and age band, new and repeat visits, diagnoses by
    /// code and chapter, notifiable conditions, MUAC in children 6-59 months, referrals.
    Monthly {
        #[command(flatten)]
        options: outpost::reports::ReportOptions,
    },
}

#[derive(Subcommand)]
enum ExportWhat {
    /// Patients' records as FHIR R4: a Bundle of type collection (`--out FILE.json`) or bulk
    /// NDJSON, one file per resource type (`--out DIR`).
    Fhir {
        /// One patient, by number.
        #[arg(
            long,
            value_name = "NUMBER",
            conflicts_with = "all",
            required_unless_present = "all"
        )]
        patient: Option<String>,
        /// Every patient on this workstation.
        #[arg(long)]
        all: bool,
        /// FILE.json for a Bundle, or a folder for NDJSON.
        #[arg(long, value_name = "FILE|DIR")]
        out: PathBuf,
    },
    /// A patient's studies as DICOM media: a folder laid out as a patient CD, with a DICOMDIR
    /// that other viewers open, the files as they were imported.
    Dicom {
        /// The patient, by number.
        #[arg(long, value_name = "NUMBER")]
        patient: String,
        /// Only this study (its Study Instance UID).
        #[arg(long, value_name = "UID")]
        study: Option<String>,
        /// De-identify the files (DICOM PS3.15 Basic Profile, dates shifted): for teaching and
        /// second opinions. What changed is listed in DEIDENT.TXT beside the DICOMDIR.
        #[arg(long)]
        deidentify: bool,
        /// An empty or new folder (burn its contents to a CD as they are).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// A de-identified research extract of the signed visits of a period: visits, diagnoses,
    /// vital signs and prescriptions as CSV, with keyed pseudonyms, dates shifted per patient,
    /// ages in bands, places generalised and k-anonymity on sex, age band and place.
    Research {
        /// First day (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        from: chrono::NaiveDate,
        /// Last day, included (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        to: chrono::NaiveDate,
        /// The least number of patients that must share a visit's sex, age band and place.
        #[arg(long, default_value_t = outpost::research::DEFAULT_K)]
        k: usize,
        /// The clinic's villages and the larger areas they belong to (CSV: village,area).
        #[arg(long, value_name = "FILE")]
        places: Option<PathBuf>,
        /// An empty or new folder.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

/// A visit's id as typed.
fn visit_id(text: &str) -> anyhow::Result<outpost::model::EncounterId> {
    text.trim()
        .parse::<uuid::Uuid>()
        .map(outpost::model::EncounterId)
        .map_err(|_| anyhow::anyhow!("--visit is a visit's id, not {text:?}"))
}

/// What `outpost print` was asked for (a patient summary still to be found by its number), and
/// where it goes.
fn print_request(
    document: PrintDocument,
) -> anyhow::Result<(
    Result<outpost::app::DocumentRequest, outpost::model::PatientNumber>,
    PrintTo,
)> {
    use outpost::app::DocumentRequest;
    let (request, to) = match document {
        PrintDocument::Prescription { visit, to } => {
            (DocumentRequest::Prescription(visit_id(&visit)?), to)
        }
        PrintDocument::Summary { visit, to } => {
            (DocumentRequest::VisitSummary(visit_id(&visit)?), to)
        }
        PrintDocument::Referral {
            visit,
            whom,
            reason,
            to,
        } => (
            DocumentRequest::Referral {
                encounter_id: visit_id(&visit)?,
                referral: outpost::documents::Referral { to: whom, reason },
            },
            to,
        ),
        PrintDocument::SickNote {
            visit,
            from,
            days,
            remarks,
            to,
        } => {
            let Ok(first) = chrono::NaiveDate::parse_from_str(from.trim(), "%Y-%m-%d") else {
                bail!("--from is a date as YYYY-MM-DD, not {from:?}");
            };
            if days == 0 {
                bail!("--days is at least 1");
            }
            let Some(last) = first.checked_add_days(chrono::Days::new(u64::from(days) - 1)) else {
                bail!("--days is too many");
            };
            (
                DocumentRequest::SickNote {
                    encounter_id: visit_id(&visit)?,
                    note: outpost::documents::SickNote {
                        from: first,
                        to: last,
                        remarks,
                    },
                },
                to,
            )
        }
        PrintDocument::PatientSummary { patient, to } => {
            let Some(number) = outpost::model::PatientNumber::parse(&patient) else {
                bail!("--patient is a patient number such as OUT-000123, not {patient:?}");
            };
            return Ok((Err(number), to));
        }
    };
    Ok((Ok(request), to))
}

/// Where a printed document goes and on what paper.
#[derive(clap::Args)]
struct PrintTo {
    /// The PDF file to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// a4, letter or 80mm (a receipt printer's roll).
    #[arg(long, default_value = "a4")]
    paper: String,
}

#[derive(Subcommand)]
enum PrintDocument {
    /// A signed visit's prescription: clinic, patient, date, each medicine, allergies, prescriber.
    Prescription {
        /// The visit's id.
        #[arg(long, value_name = "ID")]
        visit: String,
        #[command(flatten)]
        to: PrintTo,
    },
    /// A visit's summary: vital signs with flags, diagnoses with codes, medicines, plan,
    /// follow-up date.
    Summary {
        /// The visit's id.
        #[arg(long, value_name = "ID")]
        visit: String,
        #[command(flatten)]
        to: PrintTo,
    },
    /// A referral letter from a signed visit, with its images as thumbnails.
    Referral {
        /// The visit's id.
        #[arg(long, value_name = "ID")]
        visit: String,
        /// To whom ("District Hospital, surgical outpatients").
        #[arg(long = "to", value_name = "WHOM")]
        whom: String,
        /// Why the patient is referred.
        #[arg(long, value_name = "TEXT")]
        reason: String,
        #[command(flatten)]
        to: PrintTo,
    },
    /// A sick note from a signed visit: unfit for work or school from one day to another.
    SickNote {
        /// The visit's id.
        #[arg(long, value_name = "ID")]
        visit: String,
        /// The first day off (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        from: String,
        /// How many days, the first included.
        #[arg(long, default_value_t = 1)]
        days: u32,
        /// A remark for the reader.
        #[arg(long, default_value = "")]
        remarks: String,
        #[command(flatten)]
        to: PrintTo,
    },
    /// A patient's summary: problems, allergies, recent medicines, last visits, trends.
    PatientSummary {
        /// The patient's number (OUT-000123).
        #[arg(long, value_name = "NUMBER")]
        patient: String,
        #[command(flatten)]
        to: PrintTo,
    },
}

#[derive(Subcommand)]
enum BackupAction {
    /// Check a backup against its manifest: every file there, whole, as it was written. Needs no
    /// password. Exit status 1 when anything is missing or changed.
    Verify {
        /// The backup's folder.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum UsersAction {
    /// Print one line per user: user name, full name, roles, state.
    List,
    /// Add a user with a first password (read like --password-file's, from --new-password-file
    /// or the terminal); they choose their own at their first sign-in.
    Add {
        /// What they type to sign in.
        user_name: String,
        /// Their full name.
        #[arg(long)]
        full_name: String,
        /// Their roles, separated by commas: receptionist, nurse, clinician, administrator.
        #[arg(long, value_delimiter = ',', required = true)]
        roles: Vec<Role>,
        /// A file whose first line is the new user's first password.
        #[arg(long, value_name = "FILE")]
        new_password_file: Option<PathBuf>,
    },
    /// Disable a user: they can no longer sign in anywhere after each workstation's next sync.
    Disable {
        /// Whose.
        user_name: String,
    },
}

#[derive(Subcommand)]
enum AuditAction {
    /// Recompute every workstation's chain of entries; exit 1 naming the first broken link.
    Verify,
    /// Write the trail as CSV (to standard output, or --output FILE).
    Export {
        /// Where to write.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// Exit status of `outpost sync` when the server cannot be reached.
const EXIT_OFFLINE: u8 = 3;

/// Why `try_main` failed, so `main` can pick the exit status.
#[derive(Debug, thiserror::Error)]
#[error("Server unreachable — working offline: {0}")]
struct Offline(String);

/// The user's local data folder: `~/.local/share/outpost` on Linux, and on Windows
/// `%LOCALAPPDATA%\Outpost\Outpost\data` — local, not roaming, because a roaming profile copies
/// its folder at every sign-in and out, which a live database must not go through.
fn default_data_dir() -> Result<PathBuf> {
    directories::ProjectDirs::from("org", "Outpost", "Outpost")
        .map(|dirs| dirs.data_local_dir().to_owned())
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

/// `outpost sync`: enrolls first if asked, then syncs as the signed-in user (`--user`). A
/// workstation not set up yet may enroll (its database holds nothing of a patient); enrolling
/// brings the clinic's users, and the first of them to sign in here opens the clinic's records.
async fn sync_command(
    mut service: AppService,
    cli: &Cli,
    enroll_with: Option<(String, String, Option<Vec<u8>>, String)>,
    take_over: bool,
    every: Option<u64>,
) -> Result<()> {
    use outpost::sync::client::SyncClient;
    use outpost::sync::engine;
    if !service.needs_setup()? {
        service = signed_in(service, cli)?;
    }
    if let Some((server, code, ca_pem, device_name)) = enroll_with {
        let store = service.store_to_enroll()?;
        let clinic = engine::enroll(store, &server, &code, &device_name, ca_pem, take_over)
            .await
            .map_err(|e| match e.is_offline() {
                true => anyhow::Error::new(Offline(e.to_string())),
                false => anyhow::Error::new(e),
            })?;
        eprintln!("Enrolled in {clinic}.");
        if service.user().is_none() {
            if service.needs_setup()? {
                bail!(
                    "{clinic} has no users yet: set this workstation up in the window (or with \
                     `outpost demo`), then sync"
                );
            }
            if cli.user.is_none() {
                eprintln!("Sign in as one of the clinic's users (--user NAME) to sync.");
                return Ok(());
            }
            service = signed_in(service, cli)?;
        }
    }
    if service.needs_setup()? {
        bail!(
            "this workstation is not set up yet: set it up in the window (or with `outpost demo`) \
             before it syncs"
        );
    }
    loop {
        let store = service.store_for(Action::SyncNow)?;
        let round = async {
            let client = SyncClient::connect(engine::client_config(store)?).await?;
            engine::sync_once(store, &client, print_pull_progress).await
        };
        let result = round.await;
        service.save_status()?;
        match result {
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

/// `outpost dicom-info`: one block per file; an unreadable file is reported and the rest go on.
fn dicom_info(files: &[PathBuf]) -> Result<()> {
    use outpost::imaging::{DicomFile, Pixels, person_name_display, read_file_bounded};
    let mut failed = 0;
    for path in files {
        let result = read_file_bounded(path).and_then(|bytes| {
            let file = DicomFile::parse(&bytes)?;
            let info = file.info().clone();
            let mut lines = vec![format!("{}:", path.display())];
            lines.push(format!(
                "  patient: {} (ID {}, born {}, sex {})",
                person_name_display(&info.patient_name),
                empty_as_dash(&info.patient_id),
                info.birth_date.map_or("-".to_owned(), |d| d.to_string()),
                empty_as_dash(&info.sex)
            ));
            lines.push(format!(
                "  study: {} {} {}",
                info.study_uid,
                info.study_date.map_or("-".to_owned(), |d| d.to_string()),
                info.study_description
            ));
            lines.push(format!(
                "  series: {} #{} {}",
                info.series_uid,
                info.series_number.map_or("-".to_owned(), |n| n.to_string()),
                info.series_description
            ));
            lines.push(format!("  modality: {}", empty_as_dash(&info.modality)));
            lines.push(format!(
                "  transfer syntax: {} ({})",
                info.transfer_syntax_name(),
                info.transfer_syntax
            ));
            lines.push(format!(
                "  size: {} x {}, {} frame(s), {} {}-bit, {} bytes",
                info.columns,
                info.rows,
                info.frames,
                info.photometric,
                info.bits_allocated,
                bytes.len()
            ));
            for index in 0..info.frames {
                let frame = file.decode_frame(index)?;
                if index == 0 || index + 1 == info.frames {
                    let summary = match &frame.pixels {
                        Pixels::Mono { min, max, .. } => format!("stored values {min}..{max}"),
                        Pixels::Rgb(_) => "colour".to_owned(),
                    };
                    lines.push(format!(
                        "  frame {}/{}: {} x {}, {}",
                        index + 1,
                        info.frames,
                        frame.width,
                        frame.height,
                        summary
                    ));
                }
            }
            lines.push(format!("  decoded: {} frame(s)", info.frames));
            Ok(lines)
        });
        match result {
            Ok(lines) => print_lines(&lines),
            Err(error) => {
                failed += 1;
                eprintln!("outpost: {}: {error}", path.display());
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} file(s) could not be read", files.len());
    }
    Ok(())
}

fn empty_as_dash(text: &str) -> &str {
    if text.is_empty() { "-" } else { text }
}

/// `outpost import`: the same import the chart's Import button runs, with the same check of
/// whose images they are: images naming another person are imported only when the user says so
/// (a question on a terminal, `--accept-other-names` in a script).
fn import_command(
    store: &mut Store,
    number: &str,
    paths: &[PathBuf],
    accept_other_names: bool,
) -> Result<()> {
    use outpost::imaging::{
        ImportEvent, ImportOptions, collect_files, import_paths, inspect_identities,
        person_name_display,
    };
    use std::io::IsTerminal as _;
    let hit = store
        .search_patients(number, 2)?
        .rows
        .into_iter()
        .find(|(row, _)| row.number.eq_ignore_ascii_case(number.trim()))
        .map(|(row, _)| row.patient_id)
        .with_context(|| format!("no patient numbered {number}"))?;
    let patient = store.patient(hit)?;
    let (files, mut failures) = collect_files(paths);
    let never = std::sync::atomic::AtomicBool::new(false);
    let others: Vec<String> = inspect_identities(&files, &never, |_| {})
        .into_iter()
        .filter_map(|(identity, count)| {
            let differences = identity.differences(&patient);
            (!differences.is_empty()).then(|| {
                format!(
                    "{count} file(s) of {} (different {})",
                    person_name_display(&identity.patient_name),
                    differences.join(", ")
                )
            })
        })
        .collect();
    if !others.is_empty() {
        let chart = format!("{}, {}", patient.family_name, patient.given_name);
        eprintln!("outpost: these images name someone other than {chart} ({number}):");
        for line in &others {
            eprintln!("  {line}");
        }
        let accepted = if accept_other_names {
            true
        } else if std::io::stdin().is_terminal() {
            eprint!("Import them into {chart}'s record anyway? [y/N] ");
            let mut answer = String::new();
            std::io::stdin().read_line(&mut answer)?;
            matches!(answer.trim(), "y" | "Y" | "yes" | "Yes")
        } else {
            false
        };
        if !accepted {
            bail!(
                "nothing imported: check whose images they are, or give --accept-other-names to import them into {chart}'s record"
            );
        }
    }
    let options = ImportOptions::for_patient(hit);
    let summary = import_paths(store, &files, &options, |event| {
        if let ImportEvent::Importing { done, total } = event
            && (done % 100 == 0 || done == total)
        {
            eprintln!("  {done} / {total} files");
        }
    });
    failures.extend(summary.failures.iter().cloned());
    print_lines(&[format!(
        "imported {} file(s) into {} stud(ies), {} series; {} already there; {} failed",
        summary.imported,
        summary.studies.len(),
        summary.series.len(),
        summary.skipped,
        failures.len()
    )]);
    for failure in &failures {
        eprintln!("outpost: {}: {}", failure.file.display(), failure.reason);
    }
    Ok(())
}

/// The data folder a command works on: `--data-dir`, else the demo's (with `--demo`), else the
/// platform's.
fn data_dir_of(data_dir: Option<PathBuf>, demo: bool) -> Result<PathBuf> {
    Ok(match (data_dir, demo) {
        (Some(dir), _) => dir,
        (None, false) => default_data_dir()?,
        (None, true) => default_data_dir()?.join("demo"),
    })
}

/// The workstation the window (and `import`, `users`, `audit`) work on, nobody signed in: the
/// demo's is set up with its accounts and filled with the demo population on first use.
fn workstation(data_dir: Option<PathBuf>, demo: bool) -> Result<AppService> {
    let service = AppService::open_dir(&data_dir_of(data_dir, demo)?)?;
    if demo && service.needs_setup()? {
        return fill_with_demo(service, &DemoOptions::default());
    }
    Ok(service)
}

/// Writes the demo population: on a new workstation after creating the demo accounts (printed
/// as `account: ROLE USER PASSWORD`), which encrypt the database; on a set-up one, `service`
/// has a user signed in. The synthetic records are written by nobody (they are not audited).
fn fill_with_demo(mut service: AppService, options: &DemoOptions) -> Result<AppService> {
    if service.needs_setup()? {
        demo::create_accounts(&mut service)?;
        let lines: Vec<String> = DEMO_ACCOUNTS
            .iter()
            .map(|a| format!("account: {} {} {}", a.role, a.user_name, a.password))
            .collect();
        print_lines(&lines);
    }
    let mut store = service.into_store()?;
    generate_demo(&mut store, options)?;
    let service = AppService::new(store);
    service.save_status()?;
    Ok(service)
}

/// Reads a password: the first line of `file`, or typed at the terminal (not echoed).
fn read_password(file: Option<&PathBuf>, prompt: &str) -> Result<String> {
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Ok(text.lines().next().unwrap_or_default().to_owned())
        }
        None => rpassword::prompt_password(prompt)
            .context("cannot read the password from the terminal; use --password-file FILE"),
    }
}

/// `service` with `--user` signed in (the demo's clinician with `--demo`).
fn signed_in(mut service: AppService, cli: &Cli) -> Result<AppService> {
    if cli.demo && cli.user.is_none() {
        let clinician = &DEMO_ACCOUNTS[1];
        service.sign_in(clinician.user_name, clinician.password)?;
        return Ok(service);
    }
    let user = cli
        .user
        .as_deref()
        .context("this command reads or writes records: say who you are with --user NAME")?;
    let password = read_password(
        cli.password_file.as_ref(),
        &format!("Password for {user}: "),
    )?;
    service.sign_in(user, &password)?;
    if service.user().is_some_and(|u| u.must_change_password) {
        bail!("{user} must choose a new password first: sign in once in the window");
    }
    Ok(service)
}

fn users_command(service: &mut AppService, action: UsersAction) -> Result<()> {
    service.authorize(Action::ManageUsers)?;
    match action {
        UsersAction::List => {
            let lines: Vec<String> = service
                .store()
                .users()?
                .iter()
                .map(|u| {
                    let roles: Vec<&str> = u.roles.iter().map(Role::code).collect();
                    format!(
                        "{}\t{}\t{}\t{}",
                        u.user_name,
                        u.full_name,
                        roles.join(","),
                        if u.disabled { "disabled" } else { "active" }
                    )
                })
                .collect();
            print_lines(&lines);
            Ok(())
        }
        UsersAction::Add {
            user_name,
            full_name,
            roles,
            new_password_file,
        } => {
            let password = read_password(
                new_password_file.as_ref(),
                &format!("First password for {user_name}: "),
            )?;
            service.execute(AppCommand::CreateUser {
                user_name: user_name.clone(),
                full_name,
                roles: Roles::of(&roles),
                password,
            })?;
            eprintln!("Added {user_name}; they choose their own password when they first sign in.");
            Ok(())
        }
        UsersAction::Disable { user_name } => {
            let user = service
                .store()
                .users_named(&user_name)?
                .into_iter()
                .next()
                .with_context(|| format!("no user is called {user_name}"))?;
            service.execute(AppCommand::SetUserDisabled {
                user_id: user.user_id,
                disabled: true,
            })?;
            eprintln!("Disabled {user_name}.");
            Ok(())
        }
    }
}

fn audit_command(service: &mut AppService, action: AuditAction) -> Result<()> {
    service.authorize(Action::ReadAudit)?;
    match action {
        AuditAction::Verify => match service.store().verify_audit()? {
            Ok(report) => {
                print_lines(&[format!(
                    "audit trail intact: {} entries from {} workstation(s)",
                    report.entries, report.workstations
                )]);
                Ok(())
            }
            Err(broken) => bail!("the audit trail is broken: {broken}"),
        },
        AuditAction::Export { output } => {
            let entries = service.export_audit()?;
            let write = |out: &mut dyn std::io::Write| -> Result<()> {
                outpost::store::write_audit_csv(&entries, out)?;
                Ok(())
            };
            match output {
                Some(path) => {
                    let mut file = std::fs::File::create(&path)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    write(&mut file)?;
                    eprintln!("Wrote {} entries to {}.", entries.len(), path.display());
                    Ok(())
                }
                None => write(&mut std::io::stdout().lock()),
            }
        }
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
    let mut cli = Cli::parse();
    // Outpost's own warnings; only errors from the libraries (a DICOM parser's remarks on a file
    // could quote its values, and patient data never goes into logs).
    {
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::util::SubscriberInitExt as _;
        let filter = tracing_subscriber::filter::Targets::new()
            .with_target("outpost", tracing::Level::WARN)
            .with_default(tracing::Level::ERROR);
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .finish()
            .with(filter)
            .init();
    }
    match cli.command.take() {
        Some(Command::Demo {
            patients,
            visits,
            seed,
        }) => {
            let data_dir = cli
                .data_dir
                .clone()
                .context("`outpost demo` needs --data-dir DIR")?;
            let options = DemoOptions {
                patients,
                visits: parse_visits(&visits)?,
                seed,
            };
            let mut service = AppService::open_dir(&data_dir)?;
            if !service.needs_setup()? {
                // Adding to a workstation already set up takes one of its users.
                service = signed_in(service, &cli)?;
                service.authorize(Action::EditDemographics)?;
            }
            fill_with_demo(service, &options).map(drop)
        }
        Some(Command::Status) => {
            let data_dir = data_dir_of(cli.data_dir, false)?;
            let path = data_dir.join(outpost::store::DATABASE_FILE);
            let mut lines = vec![format!("database: {}", path.display())];
            if outpost::store::file_state(&path)? == outpost::store::FileState::Encrypted {
                // The counts the workstation left beside the database: it cannot be read here
                // without a password.
                lines.push("encrypted: yes".to_owned());
                match StatusReport::load(&data_dir)? {
                    Some(report) => lines.extend(report.lines()),
                    None => lines.push("counted at: never (sign in once to count)".to_owned()),
                }
            } else {
                let store = Store::open_dir(&data_dir)?;
                lines.push("encrypted: no".to_owned());
                lines.extend(StatusReport::of(&store, chrono::Utc::now())?.lines());
            }
            print_lines(&lines);
            Ok(())
        }
        Some(Command::Restore { backup }) => {
            let Some(dest) = cli.data_dir.clone() else {
                bail!("give the new data folder to restore into: --data-dir DIR");
            };
            let report = outpost::store::restore_backup(&backup, &dest)?;
            print_lines(&[
                format!("restored: {}", report.folder.display()),
                format!("files: {}", report.files),
                format!("backup written: {}", report.backup_written),
                "next: sign in as before; to sync, enroll again with a new code \
                 (sync --server URL --enroll CODE, with --take-over to replace the workstation \
                 this backup came from)"
                    .to_owned(),
            ]);
            Ok(())
        }
        Some(Command::Sync {
            server,
            enroll,
            ca_cert,
            device_name,
            every,
            take_over,
        }) => {
            let data_dir = data_dir_of(cli.data_dir.clone(), false)?;
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
            let service = AppService::open_dir(&data_dir)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("cannot start the network runtime")?;
            runtime.block_on(sync_command(service, &cli, enroll_with, take_over, every))
        }
        Some(Command::DicomInfo { files }) => dicom_info(&files),
        Some(Command::Import {
            records: Some(ImportRecords::Fhir { file }),
            ..
        }) => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let service = workstation(cli.data_dir.clone(), cli.demo)?;
            let mut service = signed_in(service, &cli)?;
            let imported = service.import_fhir(&bytes)?;
            let written = &imported.written;
            let mut lines = vec![
                format!("patients added: {}", written.patients),
                format!("visits added: {}", written.visits),
                format!("allergies added: {}", written.allergies),
                format!("problems added: {}", written.problems),
                format!("already here: {}", written.already_here),
                format!("not kept: {}", imported.skipped.len()),
            ];
            lines.extend(
                imported
                    .skipped
                    .iter()
                    .map(|s| format!("skipped: {}: {}", s.resource, s.reason)),
            );
            print_lines(&lines);
            Ok(())
        }
        Some(Command::Import {
            records: None,
            patient,
            paths,
            accept_other_names,
        }) => {
            let Some(patient) = patient else {
                bail!("say whose record the images go into: --patient NUMBER");
            };
            if paths.is_empty() {
                bail!("name the files or folders to import");
            }
            let service = workstation(cli.data_dir.clone(), cli.demo)?;
            let mut service = signed_in(service, &cli)?;
            import_command(
                service.store_for(Action::WriteClinical)?,
                &patient,
                &paths,
                accept_other_names,
            )
        }
        Some(Command::Report {
            what: ReportWhat::Monthly { options },
        }) => {
            let (month, conditions, output) = options.read()?;
            let out = options.out;
            let service = workstation(cli.data_dir.clone(), cli.demo)?;
            let mut service = signed_in(service, &cli)?;
            let report = service.monthly_report(month, &conditions)?;
            let user = service
                .user()
                .map(|u| u.full_name.clone())
                .unwrap_or_default();
            let bytes = outpost::reports::output_bytes(&report, &output, &user)?;
            std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
            print_lines(&[
                format!("written: {}", out.display()),
                format!("visits: {}", report.value("attendance.total").unwrap_or(0)),
                format!("drafts not counted: {}", report.drafts_left_out),
            ]);
            Ok(())
        }
        Some(Command::Export {
            what: ExportWhat::Fhir { patient, all, out },
        }) => {
            let number = match &patient {
                Some(text) => {
                    Some(outpost::model::PatientNumber::parse(text).ok_or_else(|| {
                        anyhow::anyhow!(
                            "--patient is a patient number such as OUT-000123, not {text:?}"
                        )
                    })?)
                }
                None => None,
            };
            let service = workstation(cli.data_dir.clone(), cli.demo)?;
            let mut service = signed_in(service, &cli)?;
            let scope = match number {
                Some(number) => {
                    let Some(patient_id) = service.store().patient_by_number(&number)? else {
                        bail!("no patient here has the number {number}");
                    };
                    outpost::app::ExportScope::Patient(patient_id)
                }
                None if all => outpost::app::ExportScope::All,
                None => bail!("say whose records: --patient NUMBER or --all"),
            };
            let resources = service.export_fhir(scope)?;
            let bundle = out
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json"));
            let count = if bundle {
                let bundle = outpost::fhir::bundle(resources, chrono::Utc::now());
                let count = bundle["entry"].as_array().map_or(0, Vec::len);
                let text = serde_json::to_vec_pretty(&bundle)?;
                std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?;
                count
            } else {
                std::fs::create_dir_all(&out)
                    .with_context(|| format!("making the folder {}", out.display()))?;
                let mut count = 0;
                for (kind, lines) in outpost::fhir::ndjson(resources) {
                    count += lines.lines().count();
                    let file = out.join(format!("{kind}.ndjson"));
                    std::fs::write(&file, lines)
                        .with_context(|| format!("writing {}", file.display()))?;
                }
                count
            };
            print_lines(&[
                format!("written: {}", out.display()),
                format!("resources: {count}"),
                format!("form: {}", if bundle { "bundle" } else { "ndjson" }),
            ]);
            Ok(())
        }
        Some(Command::Export {
            what:
                ExportWhat::Dicom {
                    patient,
                    study,
                    deidentify,
                    out,
                },
        }) => {
            let number = outpost::model::PatientNumber::parse(&patient).ok_or_else(|| {
                anyhow::anyhow!("--patient is a patient number such as OUT-000123, not {patient:?}")
            })?;
            let service = workstation(cli.data_dir.clone(), cli.demo)?;
            let mut service = signed_in(service, &cli)?;
            let Some(patient_id) = service.store().patient_by_number(&number)? else {
                bail!("no patient here has the number {number}");
            };
            let exported = service.export_dicom(patient_id, study.as_deref(), deidentify, &out)?;
            let mut lines = vec![
                format!("written: {}", out.display()),
                format!("studies: {}", exported.studies),
                format!("files: {}", exported.files),
            ];
            for (file, reason) in &exported.skipped {
                lines.push(format!("skipped: {file}: {reason}"));
            }
            if deidentify {
                lines.push(format!(
                    "de-identified: {} attributes changed, listed in {}",
                    exported.changes.len(),
                    out.join(outpost::app::DEIDENTIFICATION_LIST).display()
                ));
                for file in &exported.burned_in {
                    lines.push(format!(
                        "burned-in annotation: {file} (its pixels may show the patient)"
                    ));
                }
                if exported.burned_in_not_stated > 0 {
                    lines.push(format!(
                        "burned-in annotation not stated: {} file(s); look at them before sharing",
                        exported.burned_in_not_stated
                    ));
                }
            }
            print_lines(&lines);
            Ok(())
        }
        Some(Command::Export {
            what:
                ExportWhat::Research {
                    from,
                    to,
                    k,
                    places,
                    out,
                },
        }) => {
            let places = match &places {
                Some(file) => {
                    let text = std::fs::read_to_string(file)
                        .with_context(|| format!("reading {}", file.display()))?;
                    outpost::research::ExtractOptions::parse_places(&text)
                        .with_context(|| format!("{}", file.display()))?
                }
                None => Default::default(),
            };
            if out.exists()
                && std::fs::read_dir(&out)
                    .with_context(|| format!("reading {}", out.display()))?
                    .next()
                    .is_some()
            {
                bail!(
                    "the folder {} is not empty: choose an empty or new folder",
                    out.display()
                );
            }
            let service = workstation(cli.data_dir.clone(), cli.demo)?;
            let mut service = signed_in(service, &cli)?;
            let options = outpost::research::ExtractOptions { k, places };
            let extract = service.research_extract(from, to, &options)?;
            std::fs::create_dir_all(&out)
                .with_context(|| format!("making the folder {}", out.display()))?;
            for (name, bytes) in outpost::research::files(&extract, from, to)? {
                let file = out.join(name);
                std::fs::write(&file, bytes)
                    .with_context(|| format!("writing {}", file.display()))?;
            }
            let s = &extract.summary;
            print_lines(&[
                format!("written: {}", out.display()),
                format!("patients: {}", s.patients),
                format!("visits: {}", s.visits),
                format!("k: {}", s.k),
                format!("suppressed visits: {}", s.suppressed_visits),
                format!("suppressed patients: {}", s.suppressed_patients),
                format!("villages generalised: {}", s.places_generalised),
                format!("smallest group: {}", s.smallest_group),
            ]);
            Ok(())
        }
        Some(Command::Users { action }) => {
            let service = workstation(cli.data_dir.clone(), cli.demo)?;
            let mut service = signed_in(service, &cli)?;
            users_command(&mut service, action)
        }
        Some(Command::Audit { action }) => {
            let service = workstation(cli.data_dir.clone(), cli.demo)?;
            let mut service = signed_in(service, &cli)?;
            audit_command(&mut service, action)
        }
        Some(Command::AdoptClinicKey {
            clinic_user,
            clinic_password_file,
        }) => {
            let service = workstation(cli.data_dir.clone(), cli.demo)?;
            let mut service = signed_in(service, &cli)?;
            let password = read_password(
                clinic_password_file.as_ref(),
                &format!("Password of {clinic_user}: "),
            )?;
            if service.adopt_clinic_key(&clinic_user, &password)? {
                eprintln!(
                    "This workstation's records and images are now encrypted with the clinic's key."
                );
            } else {
                eprintln!("This workstation already uses the clinic's key.");
            }
            Ok(())
        }
        Some(Command::Backup {
            action: Some(BackupAction::Verify { dir }),
            ..
        }) => {
            let check = outpost::store::verify_backup(&dir)?;
            let mut lines = vec![
                format!("backup: {}", dir.display()),
                format!("written: {}", check.created_at),
                format!("files: {}", check.files),
                format!("bytes: {}", check.bytes),
                format!("encrypted: {}", if check.encrypted { "yes" } else { "no" }),
            ];
            lines.extend(check.problems.iter().map(|p| format!("problem: {p}")));
            print_lines(&lines);
            if check.problems.is_empty() {
                Ok(())
            } else {
                bail!(
                    "the backup in {} is not whole ({} problems)",
                    dir.display(),
                    check.problems.len()
                )
            }
        }
        Some(Command::Print { document }) => {
            // What was typed is checked before anyone is asked for a password.
            let (request, to) = print_request(document)?;
            let Some(paper) = outpost::documents::Paper::parse(&to.paper) else {
                bail!("--paper is a4, letter or 80mm, not {:?}", to.paper);
            };
            let service = workstation(cli.data_dir.clone(), cli.demo)?;
            let mut service = signed_in(service, &cli)?;
            let request = match request {
                Ok(request) => request,
                Err(number) => {
                    let Some(patient_id) = service.store().patient_by_number(&number)? else {
                        bail!("no patient here has the number {number}");
                    };
                    outpost::app::DocumentRequest::PatientSummary(patient_id)
                }
            };
            let printed = service.print(&request, paper)?;
            std::fs::write(&to.out, &printed.pdf)
                .with_context(|| format!("writing {}", to.out.display()))?;
            print_lines(&[
                format!("written: {}", to.out.display()),
                format!("bytes: {}", printed.pdf.len()),
            ]);
            Ok(())
        }
        Some(Command::Compact) => {
            let service = workstation(cli.data_dir.clone(), cli.demo)?;
            let mut service = signed_in(service, &cli)?;
            let outcome = service.compact(print_compact_progress)?;
            let mb = |bytes: u64| format!("{:.1} MB", bytes as f64 / 1e6);
            print_lines(&[
                format!("records compacted: {}", outcome.report.records),
                format!("changes removed: {}", outcome.report.changes_removed),
                format!(
                    "records keeping their history: {}",
                    outcome.report.records_kept
                ),
                format!("changes left in the log: {}", outcome.log_left),
                format!("database before: {}", mb(outcome.bytes_before)),
                format!("database after: {}", mb(outcome.bytes_after)),
            ]);
            Ok(())
        }
        Some(Command::Backup { to, action: None }) => {
            let service = workstation(cli.data_dir.clone(), cli.demo)?;
            let mut service = signed_in(service, &cli)?;
            let report = service.backup(to.as_deref())?;
            print_lines(&[
                format!("backup: {}", report.folder.display()),
                format!("images: {}", report.images),
                format!("encrypted: {}", if report.encrypted { "yes" } else { "no" }),
            ]);
            Ok(())
        }
        None => {
            let service = workstation(cli.data_dir.clone(), cli.demo)?;
            let service = if cli.demo {
                // The demo opens straight into the record as its clinician.
                signed_in(service, &cli)?
            } else {
                service
            };
            let print_command = cli
                .print_command
                .as_deref()
                .map(|c| c.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
                .filter(|words| !words.is_empty());
            outpost::ui::run(service, print_command, cli.lang.unwrap_or_default())
                .map_err(|e| anyhow::anyhow!("the window failed: {e}"))
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

/// Compaction's progress on the terminal, one line rewritten in place (nothing when the output
/// goes to a file or a log).
fn print_compact_progress(done: u64, of: u64) {
    use std::io::{IsTerminal, Write};
    let mut err = std::io::stderr();
    if !err.is_terminal() || of == 0 {
        return;
    }
    let _ = write!(err, "\rcompacting: {done} of {of} log rows looked at    ");
    if done >= of {
        let _ = writeln!(err);
    }
    let _ = err.flush();
}

/// A long pull's progress on the terminal, one line rewritten in place (nothing when the output
/// goes to a file or a log).
fn print_pull_progress(progress: outpost::sync::engine::SyncProgress) {
    use std::io::{IsTerminal, Write};
    let outpost::sync::engine::SyncProgress::Pulling {
        applied,
        fraction: Some(fraction),
        left,
        ..
    } = progress
    else {
        return;
    };
    let mut err = std::io::stderr();
    if !err.is_terminal() {
        return;
    }
    let left = left
        .map(outpost::sync::engine::time_left_text)
        .unwrap_or_default();
    let _ = write!(
        err,
        "\rreceived {applied} records ({:.0}%) {left}    ",
        fraction * 100.0
    );
    if fraction >= 1.0 {
        let _ = writeln!(err);
    }
    let _ = err.flush();
}
