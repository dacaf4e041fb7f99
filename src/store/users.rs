//! The clinic's users as stored: synced records like any other, written through the one write
//! path (so each change is in the outbox and the audit trail).

use super::write::Fields;
use super::{Store, StoreError};
use crate::model::{EntityKind, Roles, UserAccount, UserId};
use rusqlite::{OptionalExtension, Row};
use serde_json::{Value, json};

fn user_fields(user: &UserAccount) -> Fields {
    let fields = json!({
        "user_name": UserAccount::normalise_user_name(&user.user_name),
        "full_name": user.full_name.trim(),
        "roles": user.roles,
        "disabled": user.disabled,
        "must_change_password": user.must_change_password,
        "key_slot": user.key_slot,
    });
    match fields {
        Value::Object(map) => map,
        _ => unreachable!("json! of an object literal is an object"),
    }
}

const USER_COLUMNS: &str =
    "user_id, user_name, full_name, roles, disabled, must_change_password, key_slot";

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<Result<UserAccount, StoreError>> {
    let user_id: String = row.get(0)?;
    let roles: String = row.get(3)?;
    let user_name = row.get(1)?;
    let full_name = row.get(2)?;
    let disabled = row.get(4)?;
    let must_change_password = row.get(5)?;
    let key_slot = row.get(6)?;
    let corrupt = |what| StoreError::Corrupt { what };
    Ok((|| {
        Ok(UserAccount {
            user_id: user_id.parse().map_err(|_| corrupt("a user id"))?,
            user_name,
            full_name,
            // A role this build does not know (from a newer workstation) grants nothing here.
            roles: serde_json::from_str::<Vec<String>>(&roles)
                .map_err(|_| corrupt("a user's roles"))?
                .iter()
                .filter_map(|code| code.parse().ok())
                .collect::<Roles>(),
            disabled,
            must_change_password,
            key_slot,
        })
    })())
}

impl Store {
    /// Every user of the clinic known here, by user name.
    pub fn users(&self) -> Result<Vec<UserAccount>, StoreError> {
        self.query_users(
            &format!("SELECT {USER_COLUMNS} FROM user_account ORDER BY user_name, created_at"),
            [],
        )
    }

    /// The users with this user name (normally one; two workstations offline may each have
    /// created one), oldest first.
    pub fn users_named(&self, user_name: &str) -> Result<Vec<UserAccount>, StoreError> {
        self.query_users(
            &format!(
                "SELECT {USER_COLUMNS} FROM user_account WHERE user_name = ?1 ORDER BY created_at"
            ),
            [UserAccount::normalise_user_name(user_name)],
        )
    }

    /// One user.
    pub fn user(&self, user_id: UserId) -> Result<UserAccount, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {USER_COLUMNS} FROM user_account WHERE user_id = ?1"),
                [user_id.to_string()],
                user_from_row,
            )
            .optional()
            .map_err(StoreError::sqlite("reading a user"))?
            .ok_or_else(|| StoreError::NotFound {
                what: "user",
                id: user_id.to_string(),
            })?
    }

    /// How many users exist (none: the workstation still needs its first administrator).
    pub fn user_count(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT count(*) FROM user_account", [], |row| row.get(0))
            .map_err(StoreError::sqlite("counting users"))
    }

    /// Creates a user, or saves changes to one. A new user name must not be taken by another
    /// user.
    pub fn save_user(&mut self, user: &UserAccount) -> Result<(), StoreError> {
        let validation = user.validate();
        if !validation.is_valid() {
            return Err(StoreError::Invalid(validation));
        }
        let taken = self
            .users_named(&user.user_name)?
            .into_iter()
            .any(|other| other.user_id != user.user_id);
        if taken {
            let mut v = crate::model::Validation::default();
            v.push("user_name", "Another user has this user name.");
            return Err(StoreError::Invalid(v));
        }
        let old = match self.user(user.user_id) {
            Ok(old) => Some(old),
            Err(StoreError::NotFound { .. }) => None,
            Err(other) => return Err(other),
        };
        let mut writer = self.writer()?;
        match old {
            None => writer.insert(EntityKind::User, user.user_id.0, user_fields(user), &[])?,
            Some(old) => {
                writer.update(
                    EntityKind::User,
                    user.user_id.0,
                    &user_fields(&old),
                    user_fields(user),
                    &[],
                )?;
            }
        }
        writer.commit()?;
        self.write_keyring()
    }

    fn query_users(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<UserAccount>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql)
            .map_err(StoreError::sqlite("reading users"))?;
        let rows = stmt
            .query_map(params, user_from_row)
            .map_err(StoreError::sqlite("reading users"))?;
        let mut users = Vec::new();
        for row in rows {
            users.push(row.map_err(StoreError::sqlite("reading users"))??);
        }
        Ok(users)
    }
}
