//! Blob names: images and documents are immutable blobs named by the SHA-256 of their bytes.

use std::fmt;
use std::str::FromStr;

/// The name of a blob: the SHA-256 of its bytes as 64 lower-case hex digits. Checking the form
/// also keeps a name from ever being a path.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobHash(String);

/// Why a text is not a blob name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a blob name (64 lower-case hex digits of a SHA-256)")]
pub struct BlobHashError {
    /// The text, shortened.
    pub text: String,
}

impl BlobHash {
    /// The name of `bytes`.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        use sha2::Digest;
        Self::from_digest(&sha2::Sha256::digest(bytes))
    }

    /// The name made from a finished SHA-256 digest.
    pub fn from_digest(digest: &[u8]) -> Self {
        use std::fmt::Write;
        let mut hex = String::with_capacity(64);
        for byte in digest {
            // Writing to a String cannot fail.
            let _ = write!(hex, "{byte:02x}");
        }
        Self(hex)
    }

    /// The 64 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for BlobHash {
    type Err = BlobHashError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let valid = text.len() == 64
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(BlobHashError {
                text: text.chars().take(80).collect(),
            })
        }
    }
}

impl fmt::Display for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
