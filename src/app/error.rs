//! What the app service refuses, and why, in words for the person at the keyboard.

use crate::keys::KeyError;
use crate::model::{Action, PasswordStrength};
use crate::store::StoreError;

/// Why signing in did not work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LoginError {
    /// The user name and password do not match a user here (which of the two is wrong is not
    /// said).
    #[error("The user name or password is not right.")]
    WrongPassword,
    /// The password is right, but an administrator disabled the user.
    #[error("This user has been disabled. Ask an administrator.")]
    Disabled,
    /// Too many wrong passwords in a row: wait before the next try.
    #[error("Too many wrong passwords. Try again in {} s.", .wait_seconds)]
    Throttled {
        /// Seconds until the next try is accepted.
        wait_seconds: i64,
    },
    /// The password is right, but the key it opens does not open this workstation's records:
    /// the workstation has a key of its own, and has not taken its clinic's yet.
    #[error(
        "This workstation's records are not encrypted with the clinic's key yet: an administrator \
         of this workstation must sign in and take the clinic's key first."
    )]
    WrongKey,
    /// The recovery key typed does not open this clinic's data.
    #[error("That recovery key is not this clinic's.")]
    WrongRecoveryKey,
}

/// An error of the app service.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Nobody is signed in (or the screen is locked).
    #[error("Sign in first.")]
    NotSignedIn,
    /// The signed-in user's roles do not allow the action.
    #[error("Your role does not allow you to {}.", .0.label())]
    Forbidden(Action),
    /// Someone else's draft visit: its author writes it, or another clinician takes it over
    /// first (a recorded hand-over).
    #[error("This draft is {author}'s: take it over first to write in it.")]
    NotYourDraft {
        /// The draft's author, by name.
        author: String,
    },
    /// The user must choose a new password before doing anything else.
    #[error("Choose a new password first.")]
    MustChangePassword,
    /// Signing in failed.
    #[error(transparent)]
    Login(#[from] LoginError),
    /// A password was refused.
    #[error("{}", .0.hint())]
    WeakPassword(PasswordStrength),
    /// The two passwords typed differ.
    #[error("The two passwords are not the same.")]
    PasswordsDiffer,
    /// The workstation already has users: setting up again is refused.
    #[error("This workstation is already set up.")]
    AlreadySetUp,
    /// An administrator cannot take away the last administrator (themselves included).
    #[error("The clinic needs at least one administrator who can sign in.")]
    LastAdministrator,
    /// The workstation's files are being encrypted; signing in waits for it.
    #[error("The records are being encrypted; wait for it to finish.")]
    Encrypting,
    /// A merge needs a reason: what showed they are one person.
    #[error("Say why these records are one person before merging them.")]
    MergeReasonRequired,
    /// A prescription meets a recorded allergy, and no reason answers the alert.
    #[error("{}", allergy_refusal(.0))]
    AllergyAlert(Vec<crate::model::AllergyAlert>),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A document could not be made.
    #[error(transparent)]
    Document(#[from] crate::documents::DocumentError),
    /// A file could not be read as FHIR.
    #[error(transparent)]
    Fhir(#[from] crate::fhir::ImportError),
    /// Images could not be exported as DICOM media.
    #[error(transparent)]
    DicomExport(#[from] super::DicomExportError),
    /// A research extract could not be made.
    #[error(transparent)]
    Research(#[from] super::ResearchError),
    /// A logo image could not be used.
    #[error("That logo cannot be used: {0}")]
    Logo(String),
    /// A key could not be made, opened or sealed.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// "Allergy alert not answered: …" with each alert.
fn allergy_refusal(alerts: &[crate::model::AllergyAlert]) -> String {
    let messages: Vec<String> = alerts.iter().map(|a| a.message()).collect();
    format!(
        "Allergy alert not answered: {} Give a reason to prescribe anyway, or change the medicine.",
        messages.join(" ")
    )
}
