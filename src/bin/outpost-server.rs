//! `outpost-server`: the central sync server, and the administrator's commands for clinics and
//! devices. Builds without the desktop GUI (`--no-default-features`).
//!
//! `serve` runs the gRPC service over the store in `--data-dir` (SQLite), or in the PostgreSQL
//! database `--database` names with the blobs in the data folder; the other commands open the
//! same store directly (safe while the server runs: both stores serialise the writers).

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use outpost::server::{
    AccessEntry, DEFAULT_MAX_CLOCK_SKEW, MAX_CODE_VALIDITY, PostgresServerStore, PostgresTarget,
    ServerConfig, ServerStore, SqliteServerStore, TlsIdentity, add_clinic, serve,
};
use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "outpost-server",
    version,
    about = "Outpost's central sync server"
)]
struct Cli {
    /// Settings file (TOML); command-line options and OUTPOST_* environment variables override
    /// it. Default: /etc/outpost/server.toml when it exists.
    #[arg(long, global = true, value_name = "FILE", env = "OUTPOST_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// The settings file's keys: each one an option of `serve` (and `data_dir` of every command).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    database_ca: Option<PathBuf>,
    database_password_file: Option<PathBuf>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    max_clock_skew_minutes: Option<u64>,
    reflection: Option<bool>,
}

/// Where the settings file is looked for when none is named.
const DEFAULT_CONFIG: &str = "/etc/outpost/server.toml";

impl FileSettings {
    /// The settings file named, or the default one if it exists, or none.
    fn load(named: Option<&std::path::Path>) -> Result<Self> {
        let path = match named {
            Some(path) => path.to_path_buf(),
            None if std::path::Path::new(DEFAULT_CONFIG).is_file() => PathBuf::from(DEFAULT_CONFIG),
            None => return Ok(Self::default()),
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("could not read the settings file {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("the settings file {} is not valid", path.display()))
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Prepare a data folder: the database, and the server's own TLS certificate, whose pin
    /// every enrollment code then carries.
    Init {
        #[command(flatten)]
        data: DataDir,
        /// A host name or IP address workstations reach this server by (repeat for several;
        /// localhost and the loopback addresses are always included).
        #[arg(long = "name", value_name = "HOST")]
        names: Vec<String>,
    },
    /// Serve the sync protocol.
    Serve(ServeArgs),
    /// Add and list clinics.
    #[command(subcommand)]
    Clinic(ClinicCommand),
    /// List and revoke enrolled workstations; review and hold back what a device pushed.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// The monthly report for the whole district (or one clinic, --clinic), from every record
    /// the server holds: attendance by sex and age band, new and repeat visits, diagnoses by code
    /// and chapter, notifiable conditions, MUAC in children 6-59 months, referrals.
    Report {
        /// One clinic only (its id, from `clinic list`): the visits its workstations wrote.
        #[arg(long)]
        clinic: Option<uuid::Uuid>,
        #[command(flatten)]
        options: outpost::reports::ReportOptions,
        #[command(flatten)]
        data: DataDir,
    },
    /// Add and list service accounts: credentials for other programs (a laboratory system)
    /// calling the records API for one clinic. Revoke one with `device revoke`.
    #[command(subcommand)]
    ServiceAccount(ServiceAccountCommand),
    /// Write a consistent copy of the server's data folder (database, images, certificate and
    /// key) into a new folder while it serves, with a manifest of every file's SHA-256;
    /// `backup verify DIR` checks one.
    #[command(args_conflicts_with_subcommands = true)]
    Backup {
        #[command(flatten)]
        data: DataDir,
        /// The new folder to write.
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
        #[command(subcommand)]
        action: Option<BackupAction>,
    },
    /// Move a district's whole history from the SQLite store to an empty PostgreSQL database,
    /// then check every table; the blobs go to --data-dir (default: stay in the SQLite folder).
    Migrate {
        /// The SQLite store: sqlite:DIR (the old data folder).
        #[arg(long, value_name = "sqlite:DIR")]
        from: String,
        /// The PostgreSQL database: postgres://USER:PASSWORD@HOST:PORT/DATABASE.
        #[arg(long, value_name = "URL")]
        to: String,
        /// The folder of the new server's blobs and certificate.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// PEM file of the certificate authority of the database's TLS certificate.
        #[arg(long, value_name = "PEM")]
        database_ca: Option<PathBuf>,
    },
    /// Ask the server on this computer whether it serves (the standard gRPC health check, which
    /// fails while its database does not answer): exit status 0 when it does, 1 when not. A
    /// container's health check runs this.
    Health {
        /// The data folder, whose certificate the server is trusted by.
        #[arg(long, value_name = "DIR", env = "OUTPOST_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// The address the server listens on (its port is asked on this computer).
        #[arg(long, value_name = "ADDR", env = "OUTPOST_LISTEN")]
        listen: Option<SocketAddr>,
        /// Ask this URL instead (https://HOST:PORT for a certificate from an authority).
        #[arg(long, value_name = "URL", conflicts_with = "listen")]
        url: Option<String>,
    },
    /// List the reads that crossed a clinic's boundary: lookups of another clinic's patients,
    /// patients opened with a reason, and their records fetched.
    AccessLog {
        #[command(flatten)]
        data: DataDir,
        /// Write the log as CSV to this file instead of listing it.
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum BackupAction {
    /// Check a backup against its manifest; exit status 1 when a file is missing or changed.
    Verify {
        /// The backup's folder.
        dir: PathBuf,
    },
}

#[derive(Args, Debug)]
struct DataDir {
    /// Directory of the server's database, blobs and certificate (created if missing). With
    /// --database, the blobs and certificate only: a folder every server process shares.
    #[arg(long, value_name = "DIR", env = "OUTPOST_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// A PostgreSQL database instead of the embedded SQLite one:
    /// postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=require (or libpq's key=value form).
    #[arg(long = "database", value_name = "URL", env = "OUTPOST_DATABASE_URL")]
    database_url: Option<String>,
    /// PEM file of the certificate authority that signed the database's TLS certificate, when
    /// the system does not trust it already.
    #[arg(long, value_name = "PEM", env = "OUTPOST_DATABASE_CA")]
    database_ca: Option<PathBuf>,
    /// A file holding the database's password (a container's secret), kept out of the URL.
    #[arg(long, value_name = "FILE", env = "OUTPOST_DATABASE_PASSWORD_FILE")]
    database_password_file: Option<PathBuf>,
}

impl DataDir {
    /// The folder given, or the settings file's.
    fn resolve(&self, file: &FileSettings) -> Result<PathBuf> {
        self.data_dir
            .clone()
            .or_else(|| file.data_dir.clone())
            .context("give the data folder: --data-dir DIR, OUTPOST_DATA_DIR, or data_dir in the settings file")
    }

    /// The PostgreSQL database given, or the settings file's; `None` for the SQLite store.
    fn postgres(&self, file: &FileSettings) -> Result<Option<PostgresTarget>> {
        let Some(url) = self
            .database_url
            .clone()
            .or_else(|| file.database_url.clone())
            .filter(|url| !url.trim().is_empty())
        else {
            return Ok(None);
        };
        let password = match self
            .database_password_file
            .clone()
            .or_else(|| file.database_password_file.clone())
        {
            Some(path) => Some(
                std::fs::read_to_string(&path)
                    .with_context(|| {
                        format!(
                            "could not read the database password from {}",
                            path.display()
                        )
                    })?
                    .trim_end_matches(['\r', '\n'])
                    .to_owned(),
            ),
            None => None,
        };
        Ok(Some(PostgresTarget {
            url,
            ca_file: self
                .database_ca
                .clone()
                .or_else(|| file.database_ca.clone()),
            password,
        }))
    }
}

/// The store a command works on: the SQLite one in the data folder, or PostgreSQL.
enum OpenedStore {
    Sqlite(SqliteServerStore),
    Postgres(PostgresServerStore),
}

impl std::ops::Deref for OpenedStore {
    type Target = dyn ServerStore;

    fn deref(&self) -> &Self::Target {
        match self {
            Self::Sqlite(store) => store,
            Self::Postgres(store) => store,
        }
    }
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Address to listen on, e.g. 0.0.0.0:7443 (default).
    #[arg(long, value_name = "ADDR", env = "OUTPOST_LISTEN")]
    listen: Option<SocketAddr>,
    #[command(flatten)]
    data: DataDir,
    /// PEM certificate chain for TLS, from a certificate authority. Default: the certificate
    /// `init` made in the data folder; with neither, the server listens on loopback only.
    #[arg(
        long,
        value_name = "PEM",
        requires = "tls_key",
        env = "OUTPOST_TLS_CERT"
    )]
    tls_cert: Option<PathBuf>,
    /// PEM private key for TLS.
    #[arg(
        long,
        value_name = "PEM",
        requires = "tls_cert",
        env = "OUTPOST_TLS_KEY"
    )]
    tls_key: Option<PathBuf>,
    /// Changes stamped more than this many minutes ahead of the server's clock are quarantined
    /// (more than a day ahead, refused). Default: 10.
    #[arg(long, value_name = "MINUTES", env = "OUTPOST_MAX_CLOCK_SKEW_MINUTES")]
    max_clock_skew_minutes: Option<u64>,
    /// Turn off gRPC server reflection (which lets tools such as grpcurl list the services).
    /// Recommended in production.
    #[arg(long)]
    no_reflection: bool,
}

/// The address `serve` listens on when none is given.
const DEFAULT_LISTEN: &str = "0.0.0.0:7443";

/// Days an enrollment code is valid: 1 to 30.
fn code_days(text: &str) -> Result<u64, String> {
    let max = MAX_CODE_VALIDITY.as_secs() / 86_400;
    match text.trim().parse::<u64>() {
        Ok(days) if (1..=max).contains(&days) => Ok(days),
        _ => Err(format!("give a number of days from 1 to {max}")),
    }
}

#[derive(Subcommand, Debug)]
enum ClinicCommand {
    /// Add a clinic and print its one-time enrollment code.
    Add {
        /// The clinic's name.
        name: String,
        #[command(flatten)]
        data: DataDir,
        /// Days the enrollment code stays valid (1 to 30).
        #[arg(long, value_name = "DAYS", default_value_t = 7, value_parser = code_days)]
        code_valid_days: u64,
    },
    /// Print a new one-time enrollment code for another workstation of a clinic, or revoke an
    /// unused one (`--revoke CODE`).
    Code {
        /// The clinic's id (from `clinic list`); not needed with --revoke.
        #[arg(required_unless_present = "revoke")]
        clinic_id: Option<String>,
        #[command(flatten)]
        data: DataDir,
        /// Days the enrollment code stays valid (1 to 30).
        #[arg(long, value_name = "DAYS", default_value_t = 7, value_parser = code_days)]
        code_valid_days: u64,
        /// Make this unused code unusable (a code read to the wrong person, a workstation that
        /// will not be set up).
        #[arg(long, value_name = "CODE", conflicts_with = "clinic_id")]
        revoke: Option<String>,
    },
    /// List clinics.
    List {
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Subcommand, Debug)]
enum ServiceAccountCommand {
    /// Add a service account of a clinic and print its token (shown once).
    Add {
        /// The clinic's id (from `clinic list`).
        #[arg(long)]
        clinic: uuid::Uuid,
        /// What it is, e.g. "District laboratory".
        #[arg(long)]
        name: String,
        /// read (search, read records, follow changes) or read-write (also create patients and
        /// lab results).
        #[arg(long, default_value = "read")]
        scope: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// List service accounts.
    List {
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(Subcommand, Debug)]
enum DeviceCommand {
    /// List enrolled workstations.
    List {
        #[command(flatten)]
        data: DataDir,
    },
    /// Revoke a workstation's credential; its later calls are refused.
    Revoke {
        /// The device id (from `device list`).
        device_id: uuid::Uuid,
        #[command(flatten)]
        data: DataDir,
    },
    /// List the changes a device pushed (flagged when the device is revoked); with --hold,
    /// hold them back so that workstations no longer receive them.
    Changes {
        /// The device id (from `device list`).
        device_id: uuid::Uuid,
        #[command(flatten)]
        data: DataDir,
        /// Hold the device's changes back from every pull from now on.
        #[arg(long)]
        hold: bool,
    },
}

fn main() -> ExitCode {
    // Colours only for a person at a terminal, not in a service manager's log.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    match try_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("outpost-server: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn try_main() -> Result<()> {
    let cli = Cli::parse();
    let file = FileSettings::load(cli.config.as_deref())?;
    let open_store = |data: &DataDir| open_store(&data.resolve(&file)?, data.postgres(&file)?);
    match cli.command {
        Command::Init { data, names } => {
            let dir = data.resolve(&file)?;
            open_store(&data)?;
            let pin =
                outpost::server::make_certificate(&dir, &names, chrono::Utc::now().date_naive())
                    .context("could not make the server's certificate")?;
            let paths = outpost::server::CertificatePaths::in_data_dir(&dir);
            println!("Data folder:  {}", dir.display());
            println!("Certificate:  {}", paths.cert.display());
            println!("Private key:  {}", paths.key.display());
            println!("Pin:          {}", pin.as_str());
            println!(
                "Enrollment codes from `clinic add` and `clinic code` carry this pin: workstations \
                 trust this certificate alone, with no file to copy."
            );
            Ok(())
        }
        Command::Serve(args) => run_server(args, &file),
        Command::Health {
            data_dir,
            listen,
            url,
        } => health(
            data_dir.or(file.data_dir.clone()),
            listen.or(file.listen),
            url,
        ),
        Command::Migrate {
            from,
            to,
            data_dir,
            database_ca,
        } => {
            let Some(from) = from.strip_prefix("sqlite:") else {
                bail!("--from names the SQLite store as sqlite:DIR");
            };
            let from = PathBuf::from(from);
            if !from.join(outpost::server::DATABASE_FILE).is_file() {
                bail!(
                    "{} holds no server database ({})",
                    from.display(),
                    outpost::server::DATABASE_FILE
                );
            }
            let data_dir = data_dir.unwrap_or_else(|| from.clone());
            let target = PostgresTarget {
                url: to,
                ca_file: database_ca,
                password: None,
            };
            let report = outpost::server::sqlite_to_postgres(
                &from,
                &target,
                &data_dir.join("blobs"),
                |table, rows| println!("Copied:   {table} ({rows} rows)"),
            )
            .context("the migration stopped; nothing was written to PostgreSQL")?;
            if report.blobs > 0 {
                println!(
                    "Blobs:    {} copied to {}",
                    report.blobs,
                    data_dir.display()
                );
            }
            // The certificate goes along: workstations pin it.
            let old = outpost::server::CertificatePaths::in_data_dir(&from);
            let new = outpost::server::CertificatePaths::in_data_dir(&data_dir);
            if old.exist() && !new.exist() {
                if let Some(tls) = new.cert.parent() {
                    std::fs::create_dir_all(tls)?;
                }
                std::fs::copy(&old.cert, &new.cert)?;
                std::fs::copy(&old.key, &new.key)?;
                println!(
                    "TLS:      the certificate workstations pin, copied to {}",
                    data_dir.display()
                );
            }
            println!(
                "Checked:  {} tables, the same rows on both sides.",
                report.tables.len()
            );
            println!(
                "Serve from PostgreSQL now with: outpost-server serve --data-dir {} --database URL",
                data_dir.display()
            );
            Ok(())
        }
        Command::Backup {
            action: Some(BackupAction::Verify { dir }),
            ..
        } => {
            let check = outpost::store::verify_backup(&dir)?;
            println!("Backup:   {}", dir.display());
            println!("Written:  {}", check.created_at);
            println!("Files:    {} ({} bytes)", check.files, check.bytes);
            for problem in &check.problems {
                println!("Problem:  {problem}");
            }
            if !check.problems.is_empty() {
                bail!(
                    "the backup is not whole ({} problems)",
                    check.problems.len()
                );
            }
            println!("The backup is whole.");
            Ok(())
        }
        Command::Backup {
            data,
            to,
            action: None,
        } => {
            let dir = data.resolve(&file)?;
            let Some(dest) = to else {
                bail!("give the new folder to write: backup --to DIR");
            };
            let store = match open_store(&data)? {
                OpenedStore::Sqlite(store) => store,
                OpenedStore::Postgres(store) => bail!(
                    "the database is PostgreSQL ({}): back it up with pg_dump, and the data \
                     folder's blobs and tls folders with any file copy (README: Backups of a \
                     PostgreSQL district)",
                    store.target()
                ),
            };
            let blobs = store
                .backup_to(&dest)
                .with_context(|| format!("could not write the backup into {}", dest.display()))?;
            // The certificate and its key: a restored server keeps the identity workstations pin.
            let own = outpost::server::CertificatePaths::in_data_dir(&dir);
            if own.exist() {
                let tls = dest.join("tls");
                std::fs::create_dir_all(&tls)?;
                std::fs::copy(&own.cert, tls.join("server.crt"))?;
                std::fs::copy(&own.key, tls.join("server.key"))?;
            }
            outpost::store::write_manifest(&dest, false).context("could not write the manifest")?;
            println!("Backup:   {}", dest.display());
            println!("Images:   {blobs}");
            println!(
                "It holds the server's private key: keep it where only the server's \
                 administrators can read it. To restore, stop the server and use the folder as \
                 its data folder."
            );
            Ok(())
        }
        Command::Clinic(ClinicCommand::Code {
            revoke: Some(code),
            data,
            ..
        }) => {
            let store = open_store(&data)?;
            if outpost::server::normalize_code(&code).is_none() {
                bail!("that is not an enrollment code (XXXX-XXXX-XXXX)");
            }
            let revoked = store
                .revoke_enrollment_code(&outpost::server::secret_hash(&code), now_millis())
                .context("could not revoke the code")?;
            if !revoked {
                bail!("no unused code matches: it was used, revoked or mistyped");
            }
            println!("The code is revoked: no workstation can enroll with it.");
            Ok(())
        }
        Command::Clinic(ClinicCommand::Code {
            clinic_id,
            data,
            code_valid_days,
            revoke: None,
        }) => {
            let clinic_id: outpost::model::ClinicId = clinic_id
                .unwrap_or_default()
                .trim()
                .parse()
                .context("that is not a clinic id: see `outpost-server clinic list`")?;
            let store = open_store(&data)?;
            if !store.clinics()?.iter().any(|c| c.clinic_id == clinic_id) {
                bail!("no clinic with id {clinic_id}: see `outpost-server clinic list`");
            }
            let validity = Duration::from_secs(code_valid_days * 24 * 3600);
            let code =
                outpost::server::new_enrollment_code(&*store, clinic_id, now_millis(), validity)
                    .context("could not make an enrollment code")?;
            let code = with_pin(&code, &data.resolve(&file)?)?;
            println!("Enrollment code: {code}");
            println!("The code works once, for one workstation, within {code_valid_days} days.");
            Ok(())
        }
        Command::Clinic(ClinicCommand::Add {
            name,
            data,
            code_valid_days,
        }) => {
            if name.trim().is_empty() {
                bail!("the clinic needs a name");
            }
            let store = open_store(&data)?;
            let validity = Duration::from_secs(code_valid_days * 24 * 3600);
            let added = add_clinic(&*store, &name, now_millis(), validity)
                .context("could not add the clinic")?;
            println!("Clinic:          {}", added.clinic.name);
            println!("Clinic id:       {}", added.clinic.clinic_id);
            let code = with_pin(&added.enrollment_code, &data.resolve(&file)?)?;
            println!("Enrollment code: {code}");
            println!("The code works once, for one workstation, within {code_valid_days} days.");
            Ok(())
        }
        Command::Clinic(ClinicCommand::List { data }) => {
            let store = open_store(&data)?;
            let clinics = store.clinics().context("could not list clinics")?;
            if clinics.is_empty() {
                println!("No clinics yet: add one with `outpost-server clinic add NAME`.");
            }
            for clinic in clinics {
                println!(
                    "{}  {}  {}",
                    clinic.clinic_id,
                    date_text(clinic.created_at_millis),
                    clinic.name
                );
            }
            Ok(())
        }
        Command::Report {
            clinic,
            options,
            data,
        } => {
            let (month, conditions, output) = options.read()?;
            let out = options.out;
            let store = open_store(&data)?;
            let report = outpost::server::district_report(
                &*store,
                month,
                clinic.map(outpost::model::ClinicId),
                &conditions,
            )?;
            let bytes = outpost::reports::output_bytes(&report, &output, "outpost-server")?;
            std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
            println!("written: {}", out.display());
            println!("visits: {}", report.value("attendance.total").unwrap_or(0));
            println!("drafts not counted: {}", report.drafts_left_out);
            Ok(())
        }
        Command::ServiceAccount(ServiceAccountCommand::Add {
            clinic,
            name,
            scope,
            data,
        }) => {
            let Some(scope) = outpost::server::ServiceScope::from_code(scope.trim()) else {
                bail!("--scope is read or read-write, not {scope:?}");
            };
            if name.trim().is_empty() || name.chars().count() > 100 {
                bail!("--name is what the account is, in 1 to 100 characters");
            }
            let store = open_store(&data)?;
            let clinic_id = outpost::model::ClinicId(clinic);
            let added = outpost::server::add_service_account(
                &*store,
                clinic_id,
                &name,
                scope,
                now_millis(),
            )
            .context("could not add the service account")?;
            println!("service account: {}", added.account.device_id);
            println!("clinic: {clinic_id}");
            println!("scope: {}", scope.code());
            println!("token: {}", added.token);
            eprintln!(
                "The token is shown once: give it to the program, which sends it as \
                 `authorization: Bearer <token>`. Revoke it with `outpost-server device revoke {}`.",
                added.account.device_id
            );
            Ok(())
        }
        Command::ServiceAccount(ServiceAccountCommand::List { data }) => {
            let store = open_store(&data)?;
            let accounts: Vec<_> = store
                .devices()
                .context("could not list service accounts")?
                .into_iter()
                .filter(|d| d.service.is_some())
                .collect();
            if accounts.is_empty() {
                println!("No service accounts yet.");
            }
            for account in accounts {
                let state = match account.revoked_at_millis {
                    Some(at) => format!("revoked {}", date_text(at)),
                    None => "active".to_owned(),
                };
                println!(
                    "{}  clinic {}  scope {}  added {}  {state}  {}",
                    account.device_id,
                    account.clinic_id,
                    account.service.map(|s| s.code()).unwrap_or_default(),
                    date_text(account.created_at_millis),
                    account.name
                );
            }
            Ok(())
        }
        Command::Device(DeviceCommand::List { data }) => {
            let store = open_store(&data)?;
            let devices = store.devices().context("could not list devices")?;
            if devices.is_empty() {
                println!("No devices enrolled yet.");
            }
            for device in devices {
                let state = match device.revoked_at_millis {
                    Some(at) => format!("revoked {}", date_text(at)),
                    None => "active".to_owned(),
                };
                let kind = match device.service {
                    Some(scope) => format!("  service account ({})", scope.code()),
                    None => String::new(),
                };
                println!(
                    "{}  clinic {}  enrolled {}  {state}  {}{kind}",
                    device.device_id,
                    device.clinic_id,
                    date_text(device.created_at_millis),
                    device.name
                );
            }
            Ok(())
        }
        Command::Device(DeviceCommand::Changes {
            device_id,
            data,
            hold,
        }) => {
            let store = open_store(&data)?;
            let Some(device) = store
                .devices()?
                .into_iter()
                .find(|d| d.device_id == device_id)
            else {
                bail!("no device with id {device_id}: see `outpost-server device list`");
            };
            let changes = store
                .device_changes(device_id)
                .context("could not list the device's changes")?;
            let revoked = device.revoked_at_millis.is_some();
            if revoked {
                println!(
                    "Device {device_id} ({}) was revoked {}: review its {} changes.",
                    device.name,
                    device.revoked_at_millis.map(date_text).unwrap_or_default(),
                    changes.len()
                );
            }
            for c in &changes {
                println!(
                    "{:>8}  {}  {} {}  {}{}",
                    c.seq,
                    date_text(c.received_at_millis),
                    c.change.entity,
                    c.change.entity_id,
                    if revoked {
                        "FLAGGED (revoked device)"
                    } else {
                        ""
                    },
                    if c.held { "  held back" } else { "" },
                );
            }
            if hold {
                let held = store
                    .hold_device_changes(device_id)
                    .context("could not hold the changes back")?;
                println!(
                    "{held} changes held back: workstations that have not received them will not. \
                     Workstations that did keep them; review those records there."
                );
            }
            Ok(())
        }
        Command::AccessLog { data, csv } => {
            let store = open_store(&data)?;
            let log = store
                .access_log()
                .context("could not read the access log")?;
            match csv {
                Some(path) => {
                    write_access_csv(&path, &log)?;
                    println!("{} entries written to {}", log.len(), path.display());
                }
                None => {
                    if log.is_empty() {
                        println!("No reads have crossed a clinic's boundary.");
                    }
                    for entry in &log {
                        println!(
                            "{}  device {}  clinic {}  {:<7} patient {}  {}",
                            date_text(entry.at_millis),
                            entry.device_id,
                            entry.clinic_id,
                            entry.kind.code(),
                            entry.patient_id,
                            entry.reason
                        );
                    }
                }
            }
            Ok(())
        }
        Command::Device(DeviceCommand::Revoke { device_id, data }) => {
            let store = open_store(&data)?;
            let device = store
                .revoke_device(device_id, now_millis())
                .context("could not revoke the device")?;
            println!(
                "Revoked {} ({}) of clinic {}.",
                device.device_id, device.name, device.clinic_id
            );
            Ok(())
        }
    }
}

/// The access log as CSV: one header row, then one row per entry.
fn write_access_csv(path: &std::path::Path, log: &[AccessEntry]) -> Result<()> {
    let mut out = String::from("time,device_id,clinic_id,kind,patient_id,reason\n");
    for entry in log {
        let time = chrono::DateTime::from_timestamp_millis(entry.at_millis)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default();
        // Reasons are codes and fixed phrases, but quote them anyway.
        let reason = format!("\"{}\"", entry.reason.replace('"', "\"\""));
        out.push_str(&format!(
            "{time},{},{},{},{},{reason}\n",
            entry.device_id,
            entry.clinic_id,
            entry.kind.code(),
            entry.patient_id
        ));
    }
    std::fs::write(path, out).with_context(|| format!("could not write {}", path.display()))
}

fn open_store(dir: &std::path::Path, postgres: Option<PostgresTarget>) -> Result<OpenedStore> {
    match postgres {
        Some(target) => PostgresServerStore::open(&target, &dir.join("blobs"))
            .map(OpenedStore::Postgres)
            .context("could not open the PostgreSQL store"),
        None => SqliteServerStore::open(dir)
            .map(OpenedStore::Sqlite)
            .with_context(|| format!("could not open the store in {}", dir.display())),
    }
}

/// A new code as printed: with the pin of the server's own certificate when `init` made one
/// (a workstation then trusts that certificate alone), else the bare code (a server with a
/// certificate authority's certificate, or on loopback only).
fn with_pin(code: &str, data_dir: &std::path::Path) -> Result<String> {
    let paths = outpost::server::CertificatePaths::in_data_dir(data_dir);
    let mut code = outpost::sync::code::EnrollmentCode::parse(code)?;
    if paths.cert.is_file() {
        code.pin = Some(
            outpost::server::certificate_pin(&paths.cert)
                .context("could not read the server's certificate")?,
        );
    }
    Ok(code.display())
}

/// `health`: asks the server's gRPC health service; an error when it does not serve.
fn health(
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    url: Option<String>,
) -> Result<()> {
    let own = data_dir
        .as_deref()
        .map(outpost::server::CertificatePaths::in_data_dir)
        .filter(outpost::server::CertificatePaths::exist);
    let mut config = match url {
        Some(url) => outpost::sync::client::ClientConfig::new(&url),
        None => {
            let listen = match listen {
                Some(listen) => listen,
                None => DEFAULT_LISTEN.parse().context("the default address")?,
            };
            let scheme = if own.is_some() { "https" } else { "http" };
            let here = loopback_of(listen);
            outpost::sync::client::ClientConfig::new(format!("{scheme}://{here}"))
        }
    };
    if let Some(own) = &own
        && config.server_url.starts_with("https://")
    {
        // The server's own certificate, trusted as workstations trust it through the pin.
        config.ca_certificate_pem = Some(
            std::fs::read(&own.cert)
                .with_context(|| format!("could not read {}", own.cert.display()))?,
        );
        config.tls_domain_name = Some(outpost::sync::code::PINNED_SERVER_NAME.to_owned());
    }
    config.connect_timeout = Duration::from_secs(5);
    config.request_timeout = Duration::from_secs(5);
    let url = config.server_url.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    let serving = runtime.block_on(async move {
        let client = outpost::sync::client::SyncClient::connect(config).await?;
        client.serving().await
    });
    match serving {
        Ok(true) => {
            println!("{url}: serving");
            Ok(())
        }
        Ok(false) => bail!("{url}: not serving (its database does not answer)"),
        Err(error) => bail!("{url}: {error}"),
    }
}

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn date_text(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "?".to_owned())
}

/// Without TLS, only this computer may connect: the address is moved to loopback.
fn loopback_of(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    };
    SocketAddr::new(ip, addr.port())
}

fn run_server(args: ServeArgs, file: &FileSettings) -> Result<()> {
    let dir = args.data.resolve(file)?;
    let own = outpost::server::CertificatePaths::in_data_dir(&dir);
    let (cert, key) = match (
        args.tls_cert.clone().or_else(|| file.tls_cert.clone()),
        args.tls_key.clone().or_else(|| file.tls_key.clone()),
    ) {
        (Some(cert), Some(key)) => (Some(cert), Some(key)),
        (None, None) if own.exist() => (Some(own.cert), Some(own.key)),
        (None, None) => (None, None),
        _ => bail!("give both the TLS certificate and its key, or neither"),
    };
    let tls = match (&cert, &key) {
        (Some(cert), Some(key)) => Some(TlsIdentity::from_files(cert, key)?),
        _ => None,
    };
    let mut listen = match args.listen.or(file.listen) {
        Some(listen) => listen,
        None => DEFAULT_LISTEN.parse().context("the default address")?,
    };
    if tls.is_none() {
        if !listen.ip().is_loopback() {
            listen = loopback_of(listen);
        }
        tracing::warn!(
            %listen,
            "no TLS certificate: listening on this computer only; run `outpost-server init` \
             (or give --tls-cert and --tls-key) to serve clinics over the network"
        );
    }
    let store: Arc<dyn ServerStore> = match open_store(&dir, args.data.postgres(file)?)? {
        OpenedStore::Sqlite(store) => Arc::new(store),
        OpenedStore::Postgres(store) => Arc::new(store),
    };
    let skew_minutes = args
        .max_clock_skew_minutes
        .or(file.max_clock_skew_minutes)
        .unwrap_or(DEFAULT_MAX_CLOCK_SKEW.as_secs() / 60);
    let with_tls = tls.is_some();
    let config = ServerConfig {
        tls,
        max_clock_skew: Duration::from_secs(skew_minutes.saturating_mul(60)),
        reflection: !args.no_reflection && file.reflection.unwrap_or(true),
        ..ServerConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("outpost-server")
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("could not listen on {listen}"))?;
        let bound = listener
            .local_addr()
            .context("could not read the bound address")?;
        println!(
            "outpost-server listening on {bound}{}",
            if with_tls { " with TLS" } else { "" }
        );
        serve(store, listener, config, shutdown_signal()).await?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// Completes on Ctrl+C, or on SIGTERM where there is one (service managers send it).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl+C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing calls in progress");
}
