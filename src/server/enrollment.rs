//! Secrets: one-time enrollment codes, device tokens, and the hashes the store keeps instead.
//!
//! Both secrets come from the operating system's random number generator. An enrollment code is
//! read aloud and typed by people, so it is short, grouped (`XXXX-XXXX-XXXX`) and drawn from an
//! alphabet without look-alike characters (no 0/O, 1/I); typing it in lower case or without the
//! dashes works too. A device token is never typed: 256 random bits in hex.
//! Administration that creates secrets ([`add_clinic`], [`new_enrollment_code`]) lives here so
//! every store back end gets the same secrets and hashing.

use super::store::{Clinic, Device, NewServiceAccount, ServerStore, ServiceScope, StoreError};
use crate::model::ClinicId;
use sha2::{Digest, Sha256};
use std::time::Duration;

use crate::sync::code::{CODE_ALPHABET, SECRET_LEN as CODE_LEN};

/// How long a new enrollment code is valid unless the administrator says otherwise.
pub const DEFAULT_CODE_VALIDITY: Duration = Duration::from_secs(7 * 24 * 3600);

/// The longest an enrollment code may be valid: a code that never expires is a standing key to
/// the clinic's records.
pub const MAX_CODE_VALIDITY: Duration = Duration::from_secs(30 * 24 * 3600);

/// A new clinic and the one-time code its first workstation enrolls with.
#[derive(Clone, Debug)]
pub struct NewClinic {
    /// The clinic as stored.
    pub clinic: Clinic,
    /// The code, shown once to the administrator; the store keeps only its hash.
    pub enrollment_code: String,
}

/// Adds a clinic with a one-time enrollment code valid for `code_validity` (at most
/// [`MAX_CODE_VALIDITY`]; longer is cut to it).
pub fn add_clinic(
    store: &dyn ServerStore,
    name: &str,
    now_millis: i64,
    code_validity: Duration,
) -> Result<NewClinic, StoreError> {
    let clinic = Clinic {
        clinic_id: ClinicId::new(),
        name: name.trim().to_owned(),
        created_at_millis: now_millis,
    };
    let code = random_code()?;
    store.add_clinic(
        &clinic,
        &secret_hash(&code),
        expiry(now_millis, code_validity),
    )?;
    Ok(NewClinic {
        clinic,
        enrollment_code: code,
    })
}

/// A further one-time enrollment code for an existing clinic (one per workstation).
pub fn new_enrollment_code(
    store: &dyn ServerStore,
    clinic_id: ClinicId,
    now_millis: i64,
    code_validity: Duration,
) -> Result<String, StoreError> {
    let code = random_code()?;
    store.add_enrollment_code(
        clinic_id,
        &secret_hash(&code),
        now_millis,
        expiry(now_millis, code_validity),
    )?;
    Ok(code)
}

fn expiry(now_millis: i64, validity: Duration) -> Option<i64> {
    let validity = validity.min(MAX_CODE_VALIDITY);
    Some(now_millis.saturating_add(i64::try_from(validity.as_millis()).unwrap_or(i64::MAX)))
}

fn random_bytes<const N: usize>() -> Result<[u8; N], StoreError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Random(e.to_string()))?;
    Ok(bytes)
}

/// A fresh enrollment code, `XXXX-XXXX-XXXX`.
pub fn random_code() -> Result<String, StoreError> {
    let bytes = random_bytes::<CODE_LEN>()?;
    let mut code = String::with_capacity(CODE_LEN + 2);
    for (i, byte) in bytes.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            code.push('-');
        }
        // 256 is a multiple of 32, so every character is equally likely.
        let index = usize::from(byte % 32);
        code.push(char::from(
            CODE_ALPHABET.get(index).copied().unwrap_or(b'2'),
        ));
    }
    Ok(code)
}

/// The canonical secret of a typed code (upper case, no dashes or spaces; a code that also
/// carries the certificate pin gives its secret part), or `None` when it cannot be a code at
/// all.
pub fn normalize_code(typed: &str) -> Option<String> {
    crate::sync::code::EnrollmentCode::parse(typed)
        .ok()
        .map(|code| code.secret)
}

/// A fresh device token: 256 random bits as 64 hex digits.
pub fn random_token() -> Result<String, StoreError> {
    let bytes = random_bytes::<32>()?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The hash a store keeps of a secret: SHA-256 in hex. For enrollment codes the secret is the
/// canonical form ([`normalize_code`]), so the way it was typed does not matter.
pub fn secret_hash(secret: &str) -> String {
    let canonical = normalize_code(secret).unwrap_or_else(|| secret.to_owned());
    Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn codes_are_grouped_and_typeable_any_way() {
        let code = random_code().unwrap();
        assert_eq!(code.len(), 14);
        assert_eq!(code.matches('-').count(), 2);
        assert!(!code.contains(['0', '1', 'I', 'O']));
        let typed = code.to_lowercase().replace('-', " ");
        assert_eq!(
            normalize_code(&typed).as_deref(),
            Some(code.replace('-', "").as_str())
        );
        assert_eq!(secret_hash(&typed), secret_hash(&code));
        assert_ne!(random_code().unwrap(), code);
        assert_eq!(normalize_code("ABCD-EFGH"), None);
        assert_eq!(normalize_code("0000-0000-0000"), None);
    }

    #[test]
    fn tokens_are_long_and_hashed() {
        let token = random_token().unwrap();
        assert_eq!(token.len(), 64);
        assert_ne!(secret_hash(&token), token);
        assert_eq!(secret_hash(&token).len(), 64);
    }
}

/// A service account as the administrator gets it: the account, and its token, printed once.
#[derive(Debug)]
pub struct NewServiceAccountToken {
    /// The account (a device of the clinic with a scope).
    pub account: Device,
    /// The token the program sends as `authorization: Bearer <token>`; the server keeps only
    /// its hash.
    pub token: String,
}

/// Adds a service account of `clinic_id` named `name` with `scope`: a credential for another
/// program calling the records API, with a clock node of its own for its writes.
pub fn add_service_account(
    store: &dyn ServerStore,
    clinic_id: ClinicId,
    name: &str,
    scope: ServiceScope,
    now_millis: i64,
) -> Result<NewServiceAccountToken, StoreError> {
    let token = random_token()?;
    let account = store.add_service_account(
        &NewServiceAccount {
            device_id: crate::model::new_uuid(),
            clinic_id,
            name: name.trim().to_owned(),
            token_hash: secret_hash(&token),
            node_id: crate::model::new_uuid().simple().to_string(),
            scope,
        },
        now_millis,
    )?;
    Ok(NewServiceAccountToken { account, token })
}
