//! Meeting a server's certificate for the first time, by the pin an enrollment code carries.
//!
//! Before a workstation sends its enrollment code, it opens a TLS connection of its own to the
//! server and accepts it only if the certificate presented has the code's pin (and the server
//! proves it holds the certificate's key, as in any handshake). That certificate is then stored
//! and is the only one trusted for this server: every later connection goes through tonic's TLS
//! with it as the one root, checked under [`PINNED_SERVER_NAME`]. Nothing is sent on the probing
//! connection beyond the handshake.

use super::code::{CertificatePin, PINNED_SERVER_NAME};
use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::codegen::http::Uri;

/// Why the server's certificate could not be fetched by its pin.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// The address is not an `https://` URL with a host.
    #[error("{0:?} is not an https:// server address")]
    NotHttps(String),
    /// No TLS connection could be made.
    #[error("{0}")]
    Unreachable(String),
    /// The server presented a certificate other than the one the code names.
    #[error(
        "the server presented a certificate that is not the one the enrollment code names: \
         someone may be intercepting the connection, or the code is for another server. \
         Nothing was sent."
    )]
    Mismatch,
}

/// Connects to the `https://` server at `url`, checks that its certificate has `pin`, and
/// returns that certificate as PEM.
pub async fn fetch_pinned_certificate(
    url: &str,
    pin: &CertificatePin,
    timeout: Duration,
) -> Result<Vec<u8>, PinError> {
    let uri: Uri = url
        .trim()
        .parse()
        .map_err(|_| PinError::NotHttps(url.to_owned()))?;
    let (Some("https"), Some(host)) = (uri.scheme_str(), uri.host()) else {
        return Err(PinError::NotHttps(url.to_owned()));
    };
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(443);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinVerifier {
        pin: pin.clone(),
        algorithms: provider.signature_verification_algorithms,
        seen: Mutex::new(None),
    });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PinError::Unreachable(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    // The name only picks what the server presents (SNI); the pin is what is checked.
    let server_name = ServerName::try_from(host.clone())
        .or_else(|_| ServerName::try_from(PINNED_SERVER_NAME))
        .map_err(|_| PinError::NotHttps(url.to_owned()))?;
    let connect = async {
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| PinError::Unreachable(format!("cannot connect to {host}:{port}: {e}")))?;
        tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(server_name, tcp)
            .await
            .map_err(|e| PinError::Unreachable(format!("TLS with {host}:{port} failed: {e}")))
    };
    let outcome = tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| PinError::Unreachable(format!("no answer from {host}:{port} in time")))?;
    let seen = verifier.seen.lock().map(|s| s.clone()).unwrap_or_default();
    match (outcome, seen) {
        (Ok(_), Some(der)) if pin.matches(&der) => Ok(pem_of(&der)),
        (_, Some(der)) if !pin.matches(&der) => Err(PinError::Mismatch),
        (Err(error), _) => Err(error),
        (Ok(_), _) => Err(PinError::Mismatch),
    }
}

/// A certificate in PEM, as tonic and the stored settings take it.
fn pem_of(der: &[u8]) -> Vec<u8> {
    let body = data_encoding::BASE64.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem.into_bytes()
}

/// Accepts exactly the pinned certificate (and records what it was shown); the handshake's
/// signatures are checked as usual, so only the holder of the certificate's key gets through.
#[derive(Debug)]
struct PinVerifier {
    pin: CertificatePin,
    algorithms: WebPkiSupportedAlgorithms,
    seen: Mutex<Option<Vec<u8>>>,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(end_entity.to_vec());
        }
        if self.pin.matches(end_entity) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
