//! The clinic's letterhead: read and saved like any synced record.

use super::write::Fields;
use super::{Store, StoreError};
use crate::model::{ClinicLetterhead, EntityKind};
use data_encoding::BASE64;
use rusqlite::OptionalExtension;
use serde_json::json;

fn letterhead_fields(letterhead: &ClinicLetterhead) -> Fields {
    let mut fields = Fields::new();
    fields.insert("clinic_name".into(), json!(letterhead.clinic_name.trim()));
    fields.insert("address".into(), json!(letterhead.address.trim()));
    fields.insert("phone".into(), json!(letterhead.phone.trim()));
    fields.insert(
        "logo_png".into(),
        json!(BASE64.encode(&letterhead.logo_png)),
    );
    fields
}

impl Store {
    /// The clinic's letterhead, if an administrator set one (here or at another of the clinic's
    /// workstations). Of two written before their workstations met, the smaller id is the one.
    pub fn letterhead(&self) -> Result<Option<ClinicLetterhead>, StoreError> {
        let row: Option<(String, String, String, String, String)> = self
            .conn
            .prepare_cached(
                "SELECT letterhead_id, clinic_name, address, phone, logo_png FROM letterhead
                 ORDER BY letterhead_id LIMIT 1",
            )
            .and_then(|mut stmt| {
                stmt.query_row([], |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                    ))
                })
                .optional()
            })
            .map_err(StoreError::sqlite("reading the letterhead"))?;
        let Some((id, clinic_name, address, phone, logo)) = row else {
            return Ok(None);
        };
        Ok(Some(ClinicLetterhead {
            letterhead_id: id.parse().map_err(|_| StoreError::Corrupt {
                what: "a letterhead id",
            })?,
            clinic_name,
            address,
            phone,
            // A logo that does not decode prints as none.
            logo_png: BASE64.decode(logo.as_bytes()).unwrap_or_default(),
        }))
    }

    /// Saves the letterhead: a change to the clinic's one if there is one (whatever id
    /// `letterhead` carries), else a new record that syncs to the clinic's workstations.
    pub fn save_letterhead(&mut self, letterhead: &ClinicLetterhead) -> Result<bool, StoreError> {
        let validation = letterhead.validate();
        if !validation.is_valid() {
            return Err(StoreError::Invalid(validation));
        }
        let old = self.letterhead()?;
        let mut writer = self.writer()?;
        let changed = match old {
            None => {
                let id = if letterhead.letterhead_id.is_nil() {
                    uuid::Uuid::now_v7()
                } else {
                    letterhead.letterhead_id
                };
                writer.insert(
                    EntityKind::Letterhead,
                    id,
                    letterhead_fields(letterhead),
                    &[],
                )?;
                true
            }
            Some(old) => writer.update(
                EntityKind::Letterhead,
                old.letterhead_id,
                &letterhead_fields(&old),
                letterhead_fields(letterhead),
                &[],
            )?,
        };
        writer.commit()?;
        Ok(changed)
    }
}
