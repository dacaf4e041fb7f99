//! The server's own TLS certificate: made once by `outpost-server init`, kept in the data folder
//! (`tls/server.crt`, `tls/server.key`), used by `serve` unless another is configured, and
//! named by its pin in every enrollment code, so workstations trust it with no file to copy.
//!
//! The certificate is self-signed, for ten years, for the names and addresses the administrator
//! gives plus `localhost`, the loopback addresses and [`PINNED_SERVER_NAME`]. Replacing it means
//! enrolling every workstation again, so `init` never overwrites one.

use crate::sync::code::{CertificatePin, PINNED_SERVER_NAME};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::{Path, PathBuf};

/// Years the certificate `init` makes is valid.
const VALID_YEARS: i32 = 10;

/// Where the server's own certificate and key live in its data folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificatePaths {
    /// The certificate, PEM.
    pub cert: PathBuf,
    /// Its private key, PEM (readable by the server's user alone).
    pub key: PathBuf,
}

impl CertificatePaths {
    /// The paths in `data_dir`.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        let tls = data_dir.join("tls");
        Self {
            cert: tls.join("server.crt"),
            key: tls.join("server.key"),
        }
    }

    /// True when both files exist.
    pub fn exist(&self) -> bool {
        self.cert.is_file() && self.key.is_file()
    }
}

/// Why the certificate could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// `init` would replace a certificate workstations already trust.
    #[error(
        "{} already exists: workstations enrolled with it trust it alone, so it is kept. \
         To replace it, move it away, run init again, and enroll every workstation again",
        .0.display()
    )]
    Exists(PathBuf),
    /// A name the certificate should be for is not a host name or an address.
    #[error("{0:?} is not a host name or an IP address")]
    BadName(String),
    /// The certificate could not be made.
    #[error("the certificate could not be made: {0}")]
    Make(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    File {
        /// Which file.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// The file holds no PEM certificate.
    #[error("{} holds no certificate", .0.display())]
    NotACertificate(PathBuf),
}

/// Makes the server's certificate and key in `data_dir` for `names` (host names or addresses
/// workstations reach the server by) and returns the certificate's pin.
pub fn make_certificate(
    data_dir: &Path,
    names: &[String],
    today: chrono::NaiveDate,
) -> Result<CertificatePin, CertificateError> {
    use chrono::Datelike;
    let paths = CertificatePaths::in_data_dir(data_dir);
    for path in [&paths.cert, &paths.key] {
        if path.exists() {
            return Err(CertificateError::Exists(path.clone()));
        }
    }
    let mut all: Vec<String> = vec![
        PINNED_SERVER_NAME.to_owned(),
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    for name in names {
        let name = name.trim().to_owned();
        if !is_host_name_or_address(&name) {
            return Err(CertificateError::BadName(name));
        }
        if !all.contains(&name) {
            all.push(name);
        }
    }
    let mut params = rcgen::CertificateParams::new(all.clone())
        .map_err(|e| CertificateError::Make(e.to_string()))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Outpost district server");
    let month = u8::try_from(today.month()).unwrap_or(1);
    let day = u8::try_from(today.day()).unwrap_or(1).min(28);
    // From yesterday, so a workstation whose clock is a little behind still accepts it.
    params.not_before =
        rcgen::date_time_ymd(today.year(), month, day) - std::time::Duration::from_secs(86_400);
    params.not_after = rcgen::date_time_ymd(today.year() + VALID_YEARS, month, day);
    let key = rcgen::KeyPair::generate().map_err(|e| CertificateError::Make(e.to_string()))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| CertificateError::Make(e.to_string()))?;
    let dir = paths.cert.parent().unwrap_or(data_dir);
    std::fs::create_dir_all(dir).map_err(|source| CertificateError::File {
        path: dir.to_path_buf(),
        source,
    })?;
    write_private(&paths.key, key.serialize_pem().as_bytes())?;
    std::fs::write(&paths.cert, cert.pem()).map_err(|source| CertificateError::File {
        path: paths.cert.clone(),
        source,
    })?;
    Ok(CertificatePin::of_der(cert.der()))
}

/// An IP address, or a DNS name: dot-separated labels of letters, digits and hyphens, each 1–63
/// characters and not starting or ending with a hyphen.
fn is_host_name_or_address(name: &str) -> bool {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// The pin of the certificate in `path` (PEM; the first certificate of a chain).
pub fn certificate_pin(path: &Path) -> Result<CertificatePin, CertificateError> {
    let pem = std::fs::read(path).map_err(|source| CertificateError::File {
        path: path.to_path_buf(),
        source,
    })?;
    let der = CertificateDer::pem_slice_iter(&pem)
        .next()
        .and_then(Result::ok)
        .ok_or_else(|| CertificateError::NotACertificate(path.to_path_buf()))?;
    Ok(CertificatePin::of_der(&der))
}

/// Writes a file only its owner may read (the private key).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CertificateError> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let file_error = |source| CertificateError::File {
        path: path.to_path_buf(),
        source,
    };
    let mut file = options.open(path).map_err(file_error)?;
    file.write_all(bytes).map_err(file_error)?;
    file.sync_all().map_err(file_error)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn init_makes_a_certificate_once_and_its_pin_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        let pin = make_certificate(dir.path(), &["outpost.example.org".into()], today).unwrap();
        let paths = CertificatePaths::in_data_dir(dir.path());
        assert!(paths.exist());
        assert_eq!(certificate_pin(&paths.cert).unwrap(), pin);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&paths.key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "the key is the server's alone");
        }
        assert!(matches!(
            make_certificate(dir.path(), &[], today),
            Err(CertificateError::Exists(_))
        ));
        assert_eq!(certificate_pin(&paths.cert).unwrap(), pin, "kept as it was");
        let bad = tempfile::tempdir().unwrap();
        assert!(matches!(
            make_certificate(bad.path(), &["not a name!".into()], today),
            Err(CertificateError::BadName(name)) if name == "not a name!"
        ));
        for good in ["outpost.example.org", "10.0.0.5", "fe80::1", "district-1"] {
            assert!(is_host_name_or_address(good), "{good}");
        }
        for bad in ["", "-x.org", "a..b", "host name", "ünï.org"] {
            assert!(!is_host_name_or_address(bad), "{bad:?}");
        }
    }
}
