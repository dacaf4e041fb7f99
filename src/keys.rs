//! The clinic's data key and the slots that unlock it.
//!
//! The data key is 32 random bytes, the clinic's: it is what encrypts records at rest. It is never
//! stored as it is. Each user's password, and the clinic's recovery key, *wrap* it in a
//! [`KeySlot`]: Argon2id turns the secret into a key-encryption key, and XChaCha20-Poly1305 seals
//! the data key with it. Opening a slot is also how a password is checked at sign-in: a wrong
//! password fails the AEAD tag. Changing a password seals a new slot and re-encrypts nothing.
//!
//! Each slot is bound to its owner by the AEAD's associated data (the user's id, or the clinic's
//! id for the recovery slot), so a slot copied onto another user opens nothing. The Argon2id
//! parameters are stored in the slot, so they can be raised later: a slot sealed with old ones
//! still opens, and the next password change seals with the new.
//!
//! This module does no I/O beyond asking the OS for random bytes.

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use data_encoding::{BASE32_NOPAD, BASE64};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

/// What can go wrong with keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The password or recovery key does not open the slot.
    #[error("the password or recovery key is not the right one")]
    WrongSecret,
    /// The slot's text cannot be read.
    #[error("the key slot cannot be read: {0}")]
    BadSlot(&'static str),
    /// The recovery key as typed is not one.
    #[error(
        "a recovery key is 32 letters and digits (groups of four; dashes and spaces do not matter)"
    )]
    BadRecoveryKey,
    /// The operating system gave no random bytes.
    #[error("the system's random source failed: {0}")]
    Random(String),
}

/// The clinic's data key. Wiped from memory when dropped; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// A new random key.
    pub fn generate() -> Result<Self, KeyError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Self(bytes))
    }

    /// The key's bytes, for the cipher that uses it.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key as the hex literal SQLCipher's `PRAGMA key = "x'…'"` takes (a raw key: no second
    /// key derivation).
    pub fn sqlcipher_hex(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::with_capacity(64));
        for byte in self.0.iter() {
            text.push_str(&format!("{byte:02x}"));
        }
        text
    }

    /// A key written as [`DataKey::sqlcipher_hex`] gives it (64 hex digits); `None` for other
    /// text.
    pub fn from_hex(text: &str) -> Option<Self> {
        let text = text.as_bytes();
        if text.len() != 64 {
            return None;
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        for (byte, pair) in bytes.iter_mut().zip(text.chunks(2)) {
            let digit = |c: u8| (c as char).to_digit(16);
            *byte = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
        }
        Some(Self(bytes))
    }

    /// The key that seals image files (blobs), derived from the data key with HKDF-SHA256 so the
    /// database's cipher and the files' never share a key.
    pub fn blob_key(&self) -> BlobKey {
        let mut out = Zeroizing::new([0u8; 32]);
        let derived = hkdf::Hkdf::<sha2::Sha256>::new(None, self.0.as_ref())
            .expand(b"outpost blob files v1", out.as_mut());
        // 32 bytes is always a valid HKDF-SHA256 output length.
        debug_assert!(derived.is_ok());
        BlobKey(out)
    }
}

impl DataKey {
    /// The clinic's key for research pseudonyms and date shifts, derived from the data key with
    /// HKDF-SHA256: it stays where the data key is (the clinic's workstations), and the same
    /// patient gets the same pseudonym in every extract the clinic makes.
    pub fn research_key(&self) -> ResearchKey {
        let mut out = Zeroizing::new([0u8; 32]);
        let derived = hkdf::Hkdf::<sha2::Sha256>::new(None, self.0.as_ref())
            .expand(b"outpost research pseudonyms v1", out.as_mut());
        debug_assert!(derived.is_ok());
        ResearchKey(out)
    }
}

/// A secret key for research extracts ([`DataKey::research_key`]): a keyed pseudo-random
/// function, so what it derives cannot be computed, or reversed, without it.
#[derive(Clone)]
pub struct ResearchKey(Zeroizing<[u8; 32]>);

impl ResearchKey {
    /// A key of these bytes (for tests and tools).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// 32 bytes derived for `purpose` from `input` (HKDF-SHA256 with the purpose as salt).
    pub fn derive(&self, purpose: &[u8], input: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        let derived =
            hkdf::Hkdf::<sha2::Sha256>::new(Some(purpose), self.0.as_ref()).expand(input, &mut out);
        debug_assert!(derived.is_ok());
        out
    }
}

impl std::fmt::Debug for ResearchKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResearchKey(…)")
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(…)")
    }
}

/// The key of the image files, derived from the data key ([`DataKey::blob_key`]). A file is
/// sealed in chunks ([`BLOB_CHUNK`] bytes of plain text each) so a reader can open any part of it
/// without the rest: chunk *i* has the nonce `prefix ‖ i` (the top bit of *i* set on the last
/// chunk, so a cut file is noticed), and the file's header and name as associated data (a
/// chunk moved to another place or file opens nothing).
#[derive(Clone)]
pub struct BlobKey(Zeroizing<[u8; 32]>);

/// Plain bytes per sealed chunk of an image file.
pub const BLOB_CHUNK: usize = 64 * 1024;
/// What sealing adds to each chunk (the Poly1305 tag).
pub const BLOB_CHUNK_TAG: usize = 16;

impl BlobKey {
    fn nonce(prefix: &[u8; 16], index: u64, last: bool) -> Result<XNonce, KeyError> {
        if index >> 63 != 0 {
            return Err(KeyError::BadSlot(
                "a file of more chunks than can be numbered",
            ));
        }
        let mut nonce = [0u8; 24];
        nonce[..16].copy_from_slice(prefix);
        let counter = if last { index | 1 << 63 } else { index };
        nonce[16..].copy_from_slice(&counter.to_be_bytes());
        Ok(*XNonce::from_slice(&nonce))
    }

    /// Seals chunk `index` of a file (`last` for its final chunk).
    pub fn seal_chunk(
        &self,
        prefix: &[u8; 16],
        index: u64,
        last: bool,
        aad: &[u8],
        plain: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        let cipher = XChaCha20Poly1305::new(Key::from_slice(self.0.as_ref()));
        cipher
            .encrypt(
                &Self::nonce(prefix, index, last)?,
                Payload { msg: plain, aad },
            )
            .map_err(|_| KeyError::BadSlot("sealing failed"))
    }

    /// Opens chunk `index`; [`KeyError::WrongSecret`] if it is not that chunk of that file under
    /// this key (changed, moved, cut, or another clinic's).
    pub fn open_chunk(
        &self,
        prefix: &[u8; 16],
        index: u64,
        last: bool,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        let cipher = XChaCha20Poly1305::new(Key::from_slice(self.0.as_ref()));
        cipher
            .decrypt(
                &Self::nonce(prefix, index, last)?,
                Payload { msg: sealed, aad },
            )
            .map_err(|_| KeyError::WrongSecret)
    }
}

impl std::fmt::Debug for BlobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlobKey(…)")
    }
}

/// Argon2id cost: memory in KiB, passes, lanes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory, KiB.
    pub m_kib: u32,
    /// Passes over the memory.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// What a sign-in costs on a clinic workstation: 64 MiB and 8 passes, measured by
    /// `cargo bench --bench workstation` on the 2-core development machine (README, Speed) in
    /// the middle of the 0.2–0.5 s aimed at: slow enough that guessing is expensive, quick
    /// enough that signing in is not (3 passes took 0.15 s there, 6 took 0.21 s). Slots sealed
    /// with fewer passes still open, and take these at the next password change.
    pub const INTERACTIVE: KdfParams = KdfParams {
        m_kib: 64 * 1024,
        t: 8,
        p: 1,
    };

    /// The recovery key is 160 random bits: it needs no stretching to resist guessing, only a
    /// proper key derivation.
    pub const RECOVERY: KdfParams = KdfParams {
        m_kib: 8 * 1024,
        t: 1,
        p: 1,
    };

    /// The cheapest parameters Argon2id accepts, for tests that create many users. A slot
    /// records its parameters, so such slots open anywhere.
    pub const TEST_ONLY: KdfParams = KdfParams {
        m_kib: 8,
        t: 1,
        p: 1,
    };

    fn derive(self, secret: &[u8], salt: &[u8]) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        let params = Params::new(self.m_kib, self.t, self.p, Some(32))
            .map_err(|_| KeyError::BadSlot("its key derivation parameters"))?;
        let mut out = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(secret, salt, out.as_mut())
            .map_err(|_| KeyError::BadSlot("its key derivation parameters"))?;
        Ok(out)
    }
}

/// The data key sealed by one secret. Stored as JSON text (in the user's record, and in the
/// workstation's key file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySlot {
    /// Format version.
    pub v: u32,
    /// The key derivation's cost.
    pub kdf: KdfParams,
    /// Argon2id salt, base64.
    pub salt: String,
    /// XChaCha20 nonce, base64.
    pub nonce: String,
    /// The sealed data key with its tag, base64.
    pub sealed: String,
}

impl KeySlot {
    /// Seals `data_key` with `secret` for `owner` (the text bound as associated data).
    pub fn seal(
        data_key: &DataKey,
        secret: &[u8],
        owner: &str,
        kdf: KdfParams,
    ) -> Result<Self, KeyError> {
        let mut salt = [0u8; 16];
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut salt).map_err(|e| KeyError::Random(e.to_string()))?;
        getrandom::fill(&mut nonce).map_err(|e| KeyError::Random(e.to_string()))?;
        let kek = kdf.derive(secret, &salt)?;
        let cipher = XChaCha20Poly1305::new(Key::from_slice(kek.as_ref()));
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: data_key.as_bytes(),
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| KeyError::BadSlot("sealing failed"))?;
        Ok(Self {
            v: 1,
            kdf,
            salt: BASE64.encode(&salt),
            nonce: BASE64.encode(&nonce),
            sealed: BASE64.encode(&sealed),
        })
    }

    /// Opens the slot with `secret`: the data key, or [`KeyError::WrongSecret`].
    pub fn open(&self, secret: &[u8], owner: &str) -> Result<DataKey, KeyError> {
        if self.v != 1 {
            return Err(KeyError::BadSlot("its version"));
        }
        let salt = BASE64
            .decode(self.salt.as_bytes())
            .map_err(|_| KeyError::BadSlot("its salt"))?;
        let nonce = BASE64
            .decode(self.nonce.as_bytes())
            .map_err(|_| KeyError::BadSlot("its nonce"))?;
        let sealed = BASE64
            .decode(self.sealed.as_bytes())
            .map_err(|_| KeyError::BadSlot("its sealed key"))?;
        if nonce.len() != 24 || salt.len() < 8 {
            return Err(KeyError::BadSlot("its nonce or salt size"));
        }
        let kek = self.kdf.derive(secret, &salt)?;
        let cipher = XChaCha20Poly1305::new(Key::from_slice(kek.as_ref()));
        let mut plain = cipher
            .decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &sealed,
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| KeyError::WrongSecret)?;
        let key = <[u8; 32]>::try_from(plain.as_slice())
            .map(|bytes| DataKey(Zeroizing::new(bytes)))
            .map_err(|_| KeyError::BadSlot("its key size"));
        plain.zeroize();
        key
    }

    /// The slot as stored text.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads stored text.
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        serde_json::from_str(text).map_err(|_| KeyError::BadSlot("its text"))
    }
}

/// The owner text a forward slot is bound to.
pub fn forward_slot_owner() -> String {
    "outpost forward slot v1".to_owned()
}

/// Seals `new` with `old` (a data key replaced by the clinic's): whoever opens `old` opens `new`.
pub fn seal_forward(new: &DataKey, old: &DataKey) -> Result<KeySlot, KeyError> {
    // The old key is 256 random bits: it needs no stretching.
    KeySlot::seal(
        new,
        old.as_bytes(),
        &forward_slot_owner(),
        KdfParams::RECOVERY,
    )
}

/// The key a forward slot gives to the holder of `old`.
pub fn open_forward(slot: &str, old: &DataKey) -> Result<DataKey, KeyError> {
    KeySlot::from_text(slot)?.open(old.as_bytes(), &forward_slot_owner())
}

/// The owner text a user's slot is bound to.
pub fn user_slot_owner(user_id: &str) -> String {
    format!("outpost-slot-v1:user:{user_id}")
}

/// The owner text the clinic's recovery slot is bound to.
pub fn recovery_slot_owner(clinic_id: &str) -> String {
    format!("outpost-slot-v1:recovery:{clinic_id}")
}

/// The clinic's recovery key: 160 random bits shown once as eight groups of four letters and
/// digits, to print or write down. It opens the data key when every password is forgotten.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryKey(Zeroizing<[u8; 20]>);

impl RecoveryKey {
    /// A new random recovery key.
    pub fn generate() -> Result<Self, KeyError> {
        let mut bytes = Zeroizing::new([0u8; 20]);
        getrandom::fill(bytes.as_mut()).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Self(bytes))
    }

    /// The key as shown: `ABCD-EFGH-…` (base32, 32 characters, no 0/1/8/9 to confuse).
    pub fn display(&self) -> Zeroizing<String> {
        let plain = Zeroizing::new(BASE32_NOPAD.encode(self.0.as_ref()));
        let groups: Vec<&str> = plain
            .as_bytes()
            .chunks(4)
            .filter_map(|c| std::str::from_utf8(c).ok())
            .collect();
        Zeroizing::new(groups.join("-"))
    }

    /// Reads a typed key: case, spaces and dashes do not matter, and the digits 0 and 1 are read
    /// as the letters O and I they look like.
    pub fn parse(typed: &str) -> Result<Self, KeyError> {
        let cleaned: Zeroizing<String> = Zeroizing::new(
            typed
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '-')
                .map(|c| match c.to_ascii_uppercase() {
                    '0' => 'O',
                    '1' => 'I',
                    other => other,
                })
                .collect(),
        );
        let bytes = BASE32_NOPAD
            .decode(cleaned.as_bytes())
            .map_err(|_| KeyError::BadRecoveryKey)?;
        let key = <[u8; 20]>::try_from(bytes.as_slice())
            .map(|b| Self(Zeroizing::new(b)))
            .map_err(|_| KeyError::BadRecoveryKey);
        let mut bytes = bytes;
        bytes.zeroize();
        key
    }

    /// The secret a slot is sealed with.
    pub fn secret(&self) -> &[u8] {
        self.0.as_ref()
    }
}

impl std::fmt::Debug for RecoveryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryKey(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_opens_with_its_password_and_owner_only() {
        let key = DataKey::generate().unwrap();
        let owner = user_slot_owner("u1");
        let slot = KeySlot::seal(&key, b"copper kettle", &owner, KdfParams::TEST_ONLY).unwrap();
        let text = slot.to_text();
        let slot = KeySlot::from_text(&text).unwrap();
        assert_eq!(slot.open(b"copper kettle", &owner).unwrap(), key);
        assert!(matches!(
            slot.open(b"copper kettlE", &owner),
            Err(KeyError::WrongSecret)
        ));
        assert!(matches!(
            slot.open(b"copper kettle", &user_slot_owner("u2")),
            Err(KeyError::WrongSecret)
        ));
        assert!(!text.contains("copper"));
    }

    #[test]
    fn a_key_reads_back_from_its_hex_and_a_forward_slot_opens_only_with_the_old_key() {
        let old = DataKey::generate().unwrap();
        assert_eq!(DataKey::from_hex(&old.sqlcipher_hex()).unwrap(), old);
        assert!(DataKey::from_hex("zz").is_none());
        let new = DataKey::generate().unwrap();
        let slot = seal_forward(&new, &old).unwrap().to_text();
        assert_eq!(open_forward(&slot, &old).unwrap(), new);
        assert!(matches!(
            open_forward(&slot, &new),
            Err(KeyError::WrongSecret)
        ));
    }

    #[test]
    fn a_sealed_chunk_opens_only_in_its_place_of_its_file() {
        let key = DataKey::generate().unwrap().blob_key();
        let prefix = [7u8; 16];
        let sealed = key
            .seal_chunk(&prefix, 3, false, b"file a", b"pixels")
            .unwrap();
        assert_eq!(sealed.len(), 6 + BLOB_CHUNK_TAG);
        assert_eq!(
            key.open_chunk(&prefix, 3, false, b"file a", &sealed)
                .unwrap(),
            b"pixels"
        );
        for (index, last, aad) in [
            (4, false, &b"file a"[..]),
            (3, true, b"file a"),
            (3, false, b"file b"),
        ] {
            assert!(matches!(
                key.open_chunk(&prefix, index, last, aad, &sealed),
                Err(KeyError::WrongSecret)
            ));
        }
        let other = DataKey::generate().unwrap().blob_key();
        assert!(
            other
                .open_chunk(&prefix, 3, false, b"file a", &sealed)
                .is_err()
        );
        assert!(key.seal_chunk(&prefix, 1 << 63, false, b"", b"").is_err());
    }

    #[test]
    fn recovery_keys_read_back_as_typed_by_a_person() {
        let key = RecoveryKey::generate().unwrap();
        let shown = key.display();
        assert_eq!(shown.len(), 32 + 7);
        let typed = shown.to_lowercase().replace('-', " ").replace('o', "0");
        assert_eq!(RecoveryKey::parse(&typed).unwrap(), key);
        assert!(RecoveryKey::parse("ABCD-EFGH").is_err());
    }
}
