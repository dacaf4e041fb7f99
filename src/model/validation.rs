//! Field-level validation results, worded for the person at the keyboard.

use std::fmt;

/// One problem with one field: which field, and what is wrong, in words a nurse understands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field's key, as used by the editors to place the message beside the field.
    pub field: &'static str,
    /// The message shown to the user.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Everything wrong with a record; empty when it may be saved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Validation {
    /// The problems found, in field order.
    pub errors: Vec<FieldError>,
}

impl Validation {
    /// Records a problem with `field`.
    pub fn push(&mut self, field: &'static str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field,
            message: message.into(),
        });
    }

    /// True when nothing is wrong.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// The first message for `field`, if any.
    pub fn message_for(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }

    /// All messages joined into one sentence list, for a status line.
    pub fn summary(&self) -> String {
        self.errors
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    }
}
