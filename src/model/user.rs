//! The clinic's users: who may sign in, with which roles. A user is a record of the clinic like a
//! patient: created at any workstation by an administrator, synced to the others, disabled (never
//! deleted) when someone leaves.
//!
//! The user record carries the user's key slot (the clinic's data key wrapped by their password)
//! as opaque text: it proves the password at sign-in with no network, and reveals nothing without
//! it. No password is ever kept.

use super::access::Roles;
use super::validation::Validation;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Identifies a user across every workstation of the clinic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub Uuid);

impl UserId {
    /// A new, unique, time-ordered id.
    pub fn new() -> Self {
        Self(super::new_uuid())
    }
}

impl Default for UserId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for UserId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// The shortest password or passphrase accepted.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// One user of the clinic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserAccount {
    /// Stable id (what signatures and the audit trail name).
    pub user_id: UserId,
    /// What the user types to sign in: lower-case letters, digits, `.`, `-`, `_`.
    pub user_name: String,
    /// The name shown on signatures and screens.
    pub full_name: String,
    /// What the user may do.
    pub roles: Roles,
    /// A disabled user cannot sign in anywhere (after each workstation's next sync).
    pub disabled: bool,
    /// The password was set by an administrator: the user chooses a new one at next sign-in.
    pub must_change_password: bool,
    /// The clinic's data key wrapped by the user's password (see `crate::keys::KeySlot`), as
    /// stored text.
    pub key_slot: String,
}

impl UserAccount {
    /// A user name as it is stored: trimmed and lower-case.
    pub fn normalise_user_name(user_name: &str) -> String {
        user_name.trim().to_lowercase()
    }

    /// Checks the fields a person types, with one message per field.
    pub fn validate(&self) -> Validation {
        let mut v = Validation::default();
        let name = &self.user_name;
        if name.chars().count() < 2 || name.chars().count() > 32 {
            v.push("user_name", "A user name has 2 to 32 characters.");
        } else if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'))
        {
            v.push(
                "user_name",
                "Use lower-case letters, digits, dots, dashes or underscores in a user name.",
            );
        }
        if self.full_name.trim().is_empty() {
            v.push("full_name", "Enter the person's full name.");
        } else if self.full_name.chars().count() > 120 {
            v.push("full_name", "A full name has at most 120 characters.");
        }
        if self.roles.is_empty() {
            v.push("roles", "Give the user at least one role.");
        }
        v
    }
}

/// How hard a password would be to guess, for the hint beside the field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PasswordStrength {
    /// Refused: shorter than [`MIN_PASSWORD_CHARS`].
    TooShort,
    /// Accepted but easy to guess (a common word, a pattern, a name).
    Weak,
    /// Takes a determined attacker a long time.
    Fair,
    /// A passphrase of several unrelated words, or as good.
    Strong,
}

impl PasswordStrength {
    /// The hint shown beside the password field.
    pub fn hint(self) -> &'static str {
        match self {
            Self::TooShort => "Too short: use at least 10 characters.",
            Self::Weak => "Weak: easy to guess. Try a few unrelated words.",
            Self::Fair => "Fair. A longer passphrase is stronger.",
            Self::Strong => "Strong.",
        }
    }

    /// Whether a password of this strength is accepted.
    pub fn is_accepted(self) -> bool {
        self != Self::TooShort
    }
}

/// Estimates a password's strength with zxcvbn (dictionaries, keyboard patterns, dates), counting
/// the user's own names as guessable.
pub fn password_strength(password: &str, user_inputs: &[&str]) -> PasswordStrength {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return PasswordStrength::TooShort;
    }
    let score = zxcvbn::zxcvbn(password, user_inputs).score();
    match u8::from(score) {
        0..=2 => PasswordStrength::Weak,
        3 => PasswordStrength::Fair,
        _ => PasswordStrength::Strong,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;

    fn user(name: &str) -> UserAccount {
        UserAccount {
            user_id: UserId::new(),
            user_name: name.to_owned(),
            full_name: "Amina Njoroge".to_owned(),
            roles: Roles::of(&[Role::Clinician]),
            disabled: false,
            must_change_password: false,
            key_slot: String::new(),
        }
    }

    #[test]
    fn user_names_are_short_lower_case_words() {
        assert!(user("amina.n").validate().is_valid());
        assert!(!user("Amina").validate().is_valid());
        assert!(!user("a").validate().is_valid());
        assert!(!user("amina njoroge").validate().is_valid());
        let mut no_role = user("amina");
        no_role.roles = Roles::NONE;
        assert!(!no_role.validate().is_valid());
    }

    #[test]
    fn strength_refuses_short_passwords_and_ranks_passphrases_above_words() {
        assert_eq!(password_strength("short", &[]), PasswordStrength::TooShort);
        assert_eq!(password_strength("password12", &[]), PasswordStrength::Weak);
        assert_eq!(password_strength("qwertyuiop", &[]), PasswordStrength::Weak);
        assert_eq!(
            password_strength("aminanjoroge", &["amina", "njoroge"]),
            PasswordStrength::Weak
        );
        assert!(password_strength("copper kettle river lantern", &[]) >= PasswordStrength::Fair);
    }
}
