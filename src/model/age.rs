//! Ages as a clinician reads them: "34 y", "3 y 4 m", "5 w", "2 d".

use chrono::{Datelike, NaiveDate};

/// Whole years, remaining months and remaining days between `birth` and `on` (`None` if `on` is
/// before `birth`).
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> Option<(u32, u32, u32)> {
    if on < birth {
        return None;
    }
    let mut months = (on.year() - birth.year()) * 12 + on.month() as i32 - birth.month() as i32;
    if on.day() < birth.day() {
        months -= 1;
    }
    let months = u32::try_from(months).ok()?;
    let anniversary = birth.checked_add_months(chrono::Months::new(months))?;
    let days = u32::try_from((on - anniversary).num_days()).ok()?;
    Some((months / 12, months % 12, days))
}

/// The age label for a patient born on `birth`, seen on `on`. Newborns in days, infants in weeks,
/// under-twos in months, under-fives in years and months, everyone else in years. An estimated
/// birth date is shown with a leading "~".
pub fn age_label(birth: NaiveDate, estimated: bool, on: NaiveDate) -> String {
    let Some((years, months, _)) = age_on(birth, on) else {
        return "not born yet".to_owned();
    };
    let total_days = (on - birth).num_days();
    let label = if total_days < 14 {
        format!("{total_days} d")
    } else if total_days < 7 * 8 {
        format!("{} w", total_days / 7)
    } else if years < 2 {
        format!("{} m", years * 12 + months)
    } else if years < 5 && months > 0 {
        format!("{years} y {months} m")
    } else {
        format!("{years} y")
    };
    if estimated {
        format!("~{label}")
    } else {
        label
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn labels_read_as_a_clinician_writes_them() {
        let today = d(2026, 11, 23);
        assert_eq!(age_label(d(1992, 5, 1), false, today), "34 y");
        assert_eq!(age_label(d(2023, 7, 10), false, today), "3 y 4 m");
        assert_eq!(age_label(d(2026, 10, 19), false, today), "5 w");
        assert_eq!(age_label(d(2026, 11, 21), false, today), "2 d");
        assert_eq!(age_label(d(2025, 11, 23), false, today), "12 m");
        assert_eq!(age_label(d(1986, 1, 1), true, today), "~40 y");
        assert_eq!(age_label(d(2027, 1, 1), false, today), "not born yet");
    }

    #[test]
    fn birthday_not_yet_reached_this_year_counts_one_year_less() {
        assert_eq!(age_on(d(2000, 12, 1), d(2026, 11, 30)), Some((25, 11, 29)));
        assert_eq!(age_on(d(2000, 2, 29), d(2001, 2, 28)), Some((0, 11, 30)));
    }
}
