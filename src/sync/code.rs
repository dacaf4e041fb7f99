//! Enrollment codes as people read, write down and type them, and the server certificate's pin
//! they carry.
//!
//! A code is `XXXX-XXXX-XXXX`: 60 random bits, the one-time secret the server checks. A server
//! with its own certificate (made by `outpost-server init`) appends five more groups: the first
//! 100 bits of the SHA-256 of that certificate. A workstation given such a code accepts, when it
//! enrolls, only a server that presents that very certificate, and trusts it from then on — no
//! certificate file to copy, and a man in the middle with any other certificate is refused before
//! anything is sent. Codes use an alphabet without look-alike characters (no 0/O, 1/I); lower
//! case, spaces and missing dashes are accepted.

use sha2::{Digest, Sha256};
use std::fmt;

/// Characters of a code: digits 2–9 and letters without I and O (32, so each is 5 bits).
pub const CODE_ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/// Characters of the secret, without dashes (60 bits).
pub const SECRET_LEN: usize = 12;

/// Characters of a certificate pin (100 bits of the certificate's SHA-256: finding another
/// certificate with the same pin takes about 2^100 tries).
pub const PIN_LEN: usize = 20;

/// The name every certificate `outpost-server init` makes is also issued for, so a workstation
/// that pinned it checks it under one name whatever address it reaches the server by.
pub const PINNED_SERVER_NAME: &str = "outpost-server";

/// The first 100 bits of a certificate's SHA-256, in the code alphabet.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CertificatePin(String);

impl CertificatePin {
    /// The pin of a certificate, from its DER bytes.
    pub fn of_der(der: &[u8]) -> Self {
        let digest = Sha256::digest(der);
        let mut pin = String::with_capacity(PIN_LEN);
        for i in 0..PIN_LEN {
            // Bits 5i .. 5i+5 of the digest, most significant first.
            let bit = i * 5;
            let (byte, shift) = (bit / 8, bit % 8);
            let pair = u16::from(digest.get(byte).copied().unwrap_or(0)) << 8
                | u16::from(digest.get(byte + 1).copied().unwrap_or(0));
            let index = usize::from((pair >> (11 - shift)) & 0x1f);
            pin.push(char::from(
                CODE_ALPHABET.get(index).copied().unwrap_or(b'2'),
            ));
        }
        Self(pin)
    }

    /// Whether `der` is the pinned certificate.
    pub fn matches(&self, der: &[u8]) -> bool {
        Self::of_der(der) == *self
    }

    /// The pin as grouped in a code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CertificatePin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertificatePin({})", self.0)
    }
}

/// A code as typed: the secret, and the certificate pin when the code carries one.
#[derive(Clone, PartialEq, Eq)]
pub struct EnrollmentCode {
    /// The one-time secret, canonical (upper case, no dashes).
    pub secret: String,
    /// The server certificate this code trusts, if any.
    pub pin: Option<CertificatePin>,
}

impl fmt::Debug for EnrollmentCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret.
        f.debug_struct("EnrollmentCode")
            .field("pin", &self.pin)
            .finish_non_exhaustive()
    }
}

/// Why a typed code is not a code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Wrong length, or characters outside the alphabet.
    #[error(
        "that is not an enrollment code: it has 12 characters (XXXX-XXXX-XXXX), or 32 when it \
         carries the server's certificate, from 2–9 and A–Z without I and O"
    )]
    NotACode,
}

impl EnrollmentCode {
    /// Reads a typed code: 12 characters, or 32 with a certificate pin.
    pub fn parse(typed: &str) -> Result<Self, CodeError> {
        let code: String = typed
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if !code.bytes().all(|b| CODE_ALPHABET.contains(&b)) {
            return Err(CodeError::NotACode);
        }
        match code.len() {
            SECRET_LEN => Ok(Self {
                secret: code,
                pin: None,
            }),
            n if n == SECRET_LEN + PIN_LEN => {
                let (secret, pin) = code.split_at(SECRET_LEN);
                Ok(Self {
                    secret: secret.to_owned(),
                    pin: Some(CertificatePin(pin.to_owned())),
                })
            }
            _ => Err(CodeError::NotACode),
        }
    }

    /// The code as printed for people: groups of four joined by dashes.
    pub fn display(&self) -> String {
        let all = format!(
            "{}{}",
            self.secret,
            self.pin.as_ref().map_or("", CertificatePin::as_str)
        );
        all.as_bytes()
            .chunks(4)
            .map(|group| String::from_utf8_lossy(group).into_owned())
            .collect::<Vec<_>>()
            .join("-")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_code_with_a_pin_reads_back_as_printed_and_however_it_is_typed() {
        let pin = CertificatePin::of_der(b"a certificate");
        assert_eq!(pin.as_str().len(), PIN_LEN);
        assert!(pin.as_str().bytes().all(|b| CODE_ALPHABET.contains(&b)));
        let code = EnrollmentCode {
            secret: "ABCD2345EFGH".into(),
            pin: Some(pin.clone()),
        };
        let printed = code.display();
        assert_eq!(printed.len(), 32 + 7, "eight groups of four");
        assert_eq!(EnrollmentCode::parse(&printed).unwrap(), code);
        let typed = printed.to_lowercase().replace('-', " ");
        assert_eq!(EnrollmentCode::parse(&typed).unwrap(), code);
        assert!(pin.matches(b"a certificate"));
        assert!(!pin.matches(b"another certificate"));
    }

    #[test]
    fn a_plain_code_has_no_pin_and_other_lengths_are_refused() {
        let plain = EnrollmentCode::parse("abcd-2345-efgh").unwrap();
        assert_eq!(plain.secret, "ABCD2345EFGH");
        assert!(plain.pin.is_none());
        for bad in ["ABCD-2345-EFG", "ABCD-2345-EFGH-2", "ABCD-2345-EFG0", ""] {
            assert_eq!(
                EnrollmentCode::parse(bad),
                Err(CodeError::NotACode),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_pin_takes_the_digest_bits_in_order() {
        // SHA-256("") starts e3 b0 c4 42 98 fc …: 11100 01110 11000 01100 01000 …
        let pin = CertificatePin::of_der(b"");
        let expected: String = [28usize, 14, 24, 12, 8]
            .iter()
            .map(|&i| char::from(CODE_ALPHABET[i]))
            .collect();
        assert!(pin.as_str().starts_with(&expected), "{pin:?}");
    }
}
