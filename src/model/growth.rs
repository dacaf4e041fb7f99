//! Children's growth against the WHO Child Growth Standards (2006, birth to 5 years) and the WHO
//! Growth Reference (2007, 5 to 19 years): z-scores by the LMS method, the curves of the growth
//! chart, and the flags for wasting, stunting and underweight.
//!
//! The tables are WHO's own, shipped unchanged in `assets/growth/` (see its `SOURCE.txt`). The
//! rules follow WHO's published method (Methods and development, 2006, chapter 7) as WHO's own
//! software applies it:
//!
//! - Under 5 years (age under 60 months, months being days / 30.4375, so to day 1826): tables by
//!   whole day of age.
//!   Length (lying) is what the tables expect before 731 days and height (standing) from then;
//!   a measure taken the other way is moved 0.7 cm. Outpost does not record the position, so it
//!   takes WHO's rule for an unrecorded one: lying before 731 days, standing after, and no move.
//!   Weight-for-length uses the length table (45–110 cm) before 731 days and the height table
//!   (65–120 cm) after, interpolated between its 0.1 cm rows.
//! - From 61 to 228 months (to 120 for weight-for-age): the 2007 tables by month, interpolated
//!   between whole months. Between 60 and 61 months neither applies, as in WHO's software.
//! - z = ((y/M)^L − 1) / (L·S). For the weight-based indicators and BMI, beyond ±3 the distance is
//!   measured in the units of the 2–3 SD band at that side ("restricted application" of the LMS
//!   method, because their right tail is long); length/height-for-age is not restricted.

use std::sync::OnceLock;

/// Days in a month, as WHO counts them (365.25 / 12).
pub const DAYS_PER_MONTH: f64 = 30.4375;

/// The first day of age measured standing.
const STANDING_FROM_DAY: i64 = 731;

/// A row of a table: the Box-Cox power, the median and the coefficient of variation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lms {
    /// Box-Cox power.
    pub l: f64,
    /// Median.
    pub m: f64,
    /// Coefficient of variation.
    pub s: f64,
}

impl Lms {
    fn lerp(self, upper: Lms, t: f64) -> Lms {
        Lms {
            l: self.l + t * (upper.l - self.l),
            m: self.m + t * (upper.m - self.m),
            s: self.s + t * (upper.s - self.s),
        }
    }

    /// The measure at `z` standard deviations.
    pub fn value_at(self, z: f64) -> f64 {
        if self.l.abs() < 1e-12 {
            self.m * (self.s * z).exp()
        } else {
            self.m * (1.0 + self.l * self.s * z).powf(1.0 / self.l)
        }
    }

    /// The z-score of `y`, plain.
    pub fn z(self, y: f64) -> f64 {
        if self.l.abs() < 1e-12 {
            (y / self.m).ln() / self.s
        } else {
            ((y / self.m).powf(self.l) - 1.0) / (self.l * self.s)
        }
    }

    /// The z-score of `y`, restricted beyond ±3 (see the module).
    pub fn z_restricted(self, y: f64) -> f64 {
        let z = self.z(y);
        if z > 3.0 {
            let sd3 = self.value_at(3.0);
            3.0 + (y - sd3) / (sd3 - self.value_at(2.0))
        } else if z < -3.0 {
            let sd3 = self.value_at(-3.0);
            -3.0 + (y - sd3) / (self.value_at(-2.0) - sd3)
        } else {
            z
        }
    }
}

/// A child's sex as the tables know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GrowthSex {
    /// Boys.
    Boy,
    /// Girls.
    Girl,
}

impl GrowthSex {
    /// The tables' sex, if the patient's sex is one of theirs.
    pub fn of(sex: super::Sex) -> Option<Self> {
        match sex {
            super::Sex::Male => Some(Self::Boy),
            super::Sex::Female => Some(Self::Girl),
            super::Sex::Intersex | super::Sex::Unknown => None,
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Boy => 0,
            Self::Girl => 1,
        }
    }
}

/// What a z-score measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Indicator {
    /// Weight for age (birth to 10 years).
    WeightForAge,
    /// Length (under 2 years) or height for age (birth to 19 years).
    LengthForAge,
    /// Weight for length (under 2 years) or height (2 to 5 years).
    WeightForLength,
    /// Body-mass index for age (birth to 19 years).
    BmiForAge,
}

impl Indicator {
    /// Every indicator, in the order the chart offers them.
    pub const ALL: [Indicator; 4] = [
        Self::WeightForAge,
        Self::LengthForAge,
        Self::WeightForLength,
        Self::BmiForAge,
    ];

    /// Stable code, as WHO's software names the indicator (the window's message keys use it).
    pub fn code(self) -> &'static str {
        match self {
            Self::WeightForAge => "wfa",
            Self::LengthForAge => "lhfa",
            Self::WeightForLength => "wflh",
            Self::BmiForAge => "bfa",
        }
    }

    /// Whether beyond ±3 its z-score is restricted (see the module).
    fn restricted(self) -> bool {
        !matches!(self, Self::LengthForAge)
    }
}

/// One table for both sexes, rows at a regular step of its index (days, months or 0.1 cm).
#[derive(Clone, Debug, Default)]
struct Table {
    /// The index of the first row.
    first: f64,
    /// The step between rows.
    step: f64,
    rows: [Vec<Lms>; 2],
}

impl Table {
    /// Parses one of WHO's tab-separated tables: a header naming `sex`, the index, `l`, `m`, `s`
    /// (and perhaps more), then a row per sex (1 boys, 2 girls) and index, in order.
    fn parse(text: &str, step: f64) -> Result<Self, String> {
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header: Vec<String> = lines
            .next()
            .ok_or("the table is empty")?
            .split('\t')
            .map(|h| h.trim().trim_matches('"').to_ascii_lowercase())
            .collect();
        let col = |name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .ok_or(format!("the table has no {name} column"))
        };
        let (sex, l, m, s) = (col("sex")?, col("l")?, col("m")?, col("s")?);
        let index = 1;
        let mut table = Table {
            first: f64::NAN,
            step,
            rows: [Vec::new(), Vec::new()],
        };
        for (n, line) in lines.enumerate() {
            let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
            let number = |i: usize| -> Result<f64, String> {
                fields
                    .get(i)
                    .and_then(|f| f.parse::<f64>().ok())
                    .ok_or(format!("row {} is not a row of numbers", n + 2))
            };
            let side = match number(sex)? as i64 {
                1 => 0,
                2 => 1,
                other => return Err(format!("row {} has sex {other}", n + 2)),
            };
            let at = number(index)?;
            if table.first.is_nan() {
                table.first = at;
            }
            let expected = table.first + step * table.rows[side].len() as f64;
            if (at - expected).abs() > step / 100.0 {
                return Err(format!("row {} is at {at}, not {expected}", n + 2));
            }
            table.rows[side].push(Lms {
                l: number(l)?,
                m: number(m)?,
                s: number(s)?,
            });
        }
        if table.rows[0].is_empty() || table.rows[0].len() != table.rows[1].len() {
            return Err("the table does not have as many rows for girls as for boys".into());
        }
        Ok(table)
    }

    fn last(&self) -> f64 {
        self.first + self.step * (self.rows[0].len() - 1) as f64
    }

    /// The row at `at`, interpolated between the two rows around it; none outside the table.
    fn at(&self, sex: GrowthSex, at: f64) -> Option<Lms> {
        let rows = &self.rows[sex.index()];
        let position = (at - self.first) / self.step;
        // Indexes are decimal numbers on a grid: a hair's breadth off the grid is on it.
        let nearest = position.round();
        let position = if (position - nearest).abs() < 1e-6 {
            nearest
        } else {
            position
        };
        if !(0.0..=(rows.len() - 1) as f64).contains(&position) {
            return None;
        }
        let low = position.floor() as usize;
        let t = position - low as f64;
        Some(match rows.get(low + 1) {
            Some(upper) if t > 0.0 => rows[low].lerp(*upper, t),
            _ => rows[low],
        })
    }
}

/// WHO's tables, read once.
#[derive(Clone, Debug)]
pub struct GrowthStandards {
    weight_for_age: Table,
    length_for_age: Table,
    bmi_for_age: Table,
    weight_for_length: Table,
    weight_for_height: Table,
    weight_for_age_2007: Table,
    height_for_age_2007: Table,
    bmi_for_age_2007: Table,
}

/// A child's measures on one day.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GrowthMeasure {
    /// Sex.
    pub sex: GrowthSex,
    /// Age in whole days.
    pub age_days: i64,
    /// Weight, kg.
    pub weight_kg: Option<f64>,
    /// Length (lying, under 2 years) or height (standing), cm.
    pub length_cm: Option<f64>,
}

impl GrowthMeasure {
    /// Age in months, as WHO counts them.
    pub fn age_months(&self) -> f64 {
        self.age_days as f64 / DAYS_PER_MONTH
    }

    /// Body-mass index, kg/m².
    pub fn bmi(&self) -> Option<f64> {
        match (self.weight_kg, self.length_cm) {
            (Some(w), Some(l)) if w > 0.0 && l > 0.0 => Some(w / (l / 100.0).powi(2)),
            _ => None,
        }
    }
}

/// A child's z-scores on one day (none where an indicator does not apply or a measure is missing).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ZScores {
    /// Weight-for-age.
    pub weight_for_age: Option<f64>,
    /// Length/height-for-age.
    pub length_for_age: Option<f64>,
    /// Weight-for-length/height.
    pub weight_for_length: Option<f64>,
    /// BMI-for-age.
    pub bmi_for_age: Option<f64>,
}

impl ZScores {
    /// The z-score of one indicator.
    pub fn get(&self, indicator: Indicator) -> Option<f64> {
        match indicator {
            Indicator::WeightForAge => self.weight_for_age,
            Indicator::LengthForAge => self.length_for_age,
            Indicator::WeightForLength => self.weight_for_length,
            Indicator::BmiForAge => self.bmi_for_age,
        }
    }
}

/// Whether a z-score is beyond what a measure can plausibly be (WHO's flags): a typing or
/// measuring error to check, not a finding.
pub fn implausible(indicator: Indicator, z: f64) -> bool {
    match indicator {
        Indicator::LengthForAge => z.abs() > 6.0,
        Indicator::WeightForAge => !(-6.0..=5.0).contains(&z),
        Indicator::WeightForLength | Indicator::BmiForAge => z.abs() > 5.0,
    }
}

/// What the chart's banner says of a child's growth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrowthFlag {
    /// Weight-for-length/height below −2 SD (severe below −3).
    Wasting {
        /// Below −3 SD.
        severe: bool,
    },
    /// Length/height-for-age below −2 SD (severe below −3).
    Stunting {
        /// Below −3 SD.
        severe: bool,
    },
    /// Weight-for-age below −2 SD (severe below −3).
    Underweight {
        /// Below −3 SD.
        severe: bool,
    },
    /// BMI-for-age below −2 SD, from 5 years (severe below −3).
    Thinness {
        /// Below −3 SD.
        severe: bool,
    },
    /// Weight-for-length/height (under 5) or BMI-for-age (from 5) above +2 SD.
    Overweight,
}

impl GrowthFlag {
    /// Stable code (the window's message keys use it: `growth-flag-<code>`).
    pub fn code(self) -> &'static str {
        match self {
            Self::Wasting { severe: true } => "severe-wasting",
            Self::Wasting { severe: false } => "wasting",
            Self::Stunting { severe: true } => "severe-stunting",
            Self::Stunting { severe: false } => "stunting",
            Self::Underweight { severe: true } => "severe-underweight",
            Self::Underweight { severe: false } => "underweight",
            Self::Thinness { severe: true } => "severe-thinness",
            Self::Thinness { severe: false } => "thinness",
            Self::Overweight => "overweight",
        }
    }

    /// Below −3 SD.
    pub fn severe(self) -> bool {
        matches!(
            self,
            Self::Wasting { severe: true }
                | Self::Stunting { severe: true }
                | Self::Underweight { severe: true }
                | Self::Thinness { severe: true }
        )
    }
}

/// The flags of a child's z-scores (implausible ones are not read as findings).
pub fn growth_flags(z: &ZScores, age_months: f64) -> Vec<GrowthFlag> {
    let below = |indicator: Indicator, value: Option<f64>| {
        value
            .filter(|v| !implausible(indicator, *v) && *v < -2.0)
            .map(|v| v < -3.0)
    };
    let mut flags = Vec::new();
    if let Some(severe) = below(Indicator::WeightForLength, z.weight_for_length) {
        flags.push(GrowthFlag::Wasting { severe });
    }
    if let Some(severe) = below(Indicator::LengthForAge, z.length_for_age) {
        flags.push(GrowthFlag::Stunting { severe });
    }
    if let Some(severe) = below(Indicator::WeightForAge, z.weight_for_age) {
        flags.push(GrowthFlag::Underweight { severe });
    }
    let over_five = age_months >= 60.0;
    if over_five && let Some(severe) = below(Indicator::BmiForAge, z.bmi_for_age) {
        flags.push(GrowthFlag::Thinness { severe });
    }
    let (indicator, value) = if over_five {
        (Indicator::BmiForAge, z.bmi_for_age)
    } else {
        (Indicator::WeightForLength, z.weight_for_length)
    };
    if value.is_some_and(|v| !implausible(indicator, v) && v > 2.0) {
        flags.push(GrowthFlag::Overweight);
    }
    flags
}

/// The x axis of an indicator's chart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChartAxis {
    /// Age in months.
    AgeMonths,
    /// Length or height in cm.
    LengthCm,
}

fn bundled() -> Result<GrowthStandards, String> {
    let table = |name: &str, text: &str, step: f64| {
        Table::parse(text, step).map_err(|e| format!("{name}: {e}"))
    };
    Ok(GrowthStandards {
        weight_for_age: table(
            "weianthro.txt",
            include_str!("../../assets/growth/weianthro.txt"),
            1.0,
        )?,
        length_for_age: table(
            "lenanthro.txt",
            include_str!("../../assets/growth/lenanthro.txt"),
            1.0,
        )?,
        bmi_for_age: table(
            "bmianthro.txt",
            include_str!("../../assets/growth/bmianthro.txt"),
            1.0,
        )?,
        weight_for_length: table(
            "wflanthro.txt",
            include_str!("../../assets/growth/wflanthro.txt"),
            0.1,
        )?,
        weight_for_height: table(
            "wfhanthro.txt",
            include_str!("../../assets/growth/wfhanthro.txt"),
            0.1,
        )?,
        weight_for_age_2007: table(
            "wfawho2007.txt",
            include_str!("../../assets/growth/wfawho2007.txt"),
            1.0,
        )?,
        height_for_age_2007: table(
            "hfawho2007.txt",
            include_str!("../../assets/growth/hfawho2007.txt"),
            1.0,
        )?,
        bmi_for_age_2007: table(
            "bfawho2007.txt",
            include_str!("../../assets/growth/bfawho2007.txt"),
            1.0,
        )?,
    })
}

/// The WHO tables shipped with Outpost (read the first time they are needed).
pub fn who_standards() -> Result<&'static GrowthStandards, String> {
    static STANDARDS: OnceLock<Result<GrowthStandards, String>> = OnceLock::new();
    STANDARDS
        .get_or_init(bundled)
        .as_ref()
        .map_err(Clone::clone)
}

/// Under 5 years as WHO's standards count it (age under 60 months).
fn under_five(age_days: i64) -> bool {
    age_days >= 0 && (age_days as f64) / DAYS_PER_MONTH < 60.0
}

impl GrowthStandards {
    /// The table row that applies to a child's measure of `indicator` on one day (the standards
    /// under 5, the 2007 reference from 61 months; by length for weight-for-length), if any.
    pub fn lms(&self, indicator: Indicator, m: &GrowthMeasure) -> Option<Lms> {
        let age_months = m.age_months();
        if under_five(m.age_days) {
            let day = m.age_days as f64;
            match indicator {
                Indicator::WeightForAge => self.weight_for_age.at(m.sex, day),
                Indicator::LengthForAge => self.length_for_age.at(m.sex, day),
                Indicator::BmiForAge => self.bmi_for_age.at(m.sex, day),
                Indicator::WeightForLength => {
                    let table = if m.age_days < STANDING_FROM_DAY {
                        &self.weight_for_length
                    } else {
                        &self.weight_for_height
                    };
                    table.at(m.sex, m.length_cm?)
                }
            }
        } else if (61.0..=228.0).contains(&age_months) {
            match indicator {
                Indicator::WeightForAge if age_months <= 120.0 => {
                    self.weight_for_age_2007.at(m.sex, age_months)
                }
                Indicator::LengthForAge => self.height_for_age_2007.at(m.sex, age_months),
                Indicator::BmiForAge => self.bmi_for_age_2007.at(m.sex, age_months),
                Indicator::WeightForAge | Indicator::WeightForLength => None,
            }
        } else {
            None
        }
    }

    /// A child's z-scores on one day.
    pub fn z_scores(&self, m: &GrowthMeasure) -> ZScores {
        let positive = |v: Option<f64>| v.filter(|v| v.is_finite() && *v > 0.0);
        let score = |indicator: Indicator| {
            let y = match indicator {
                Indicator::WeightForAge | Indicator::WeightForLength => positive(m.weight_kg),
                Indicator::LengthForAge => positive(m.length_cm),
                Indicator::BmiForAge => m.bmi().filter(|b| b.is_finite()),
            }?;
            let lms = self.lms(indicator, m)?;
            let z = if indicator.restricted() {
                lms.z_restricted(y)
            } else {
                lms.z(y)
            };
            z.is_finite().then_some(z)
        };
        ZScores {
            weight_for_age: score(Indicator::WeightForAge),
            length_for_age: score(Indicator::LengthForAge),
            weight_for_length: score(Indicator::WeightForLength),
            bmi_for_age: score(Indicator::BmiForAge),
        }
    }

    /// What the chart of `indicator` draws along x for a child of `age_months`.
    pub fn axis(indicator: Indicator) -> ChartAxis {
        match indicator {
            Indicator::WeightForLength => ChartAxis::LengthCm,
            _ => ChartAxis::AgeMonths,
        }
    }

    /// The curve at `sd` standard deviations of one indicator for a child of `age_months`: the
    /// part of the standards that applies at that age (the 0–5 years table under 5; the 2007
    /// reference from 5; by length, the length table under 2 and the height table from 2), as
    /// (x, y) points (x in months or cm).
    pub fn curve(
        &self,
        indicator: Indicator,
        sex: GrowthSex,
        age_months: f64,
        sd: f64,
    ) -> Vec<[f64; 2]> {
        let young = age_months < 60.0;
        let (table, per_x, every): (&Table, f64, usize) = match indicator {
            Indicator::WeightForAge if young => (&self.weight_for_age, DAYS_PER_MONTH, 15),
            Indicator::WeightForAge => (&self.weight_for_age_2007, 1.0, 1),
            Indicator::LengthForAge if young => (&self.length_for_age, DAYS_PER_MONTH, 15),
            Indicator::LengthForAge => (&self.height_for_age_2007, 1.0, 1),
            Indicator::BmiForAge if young => (&self.bmi_for_age, DAYS_PER_MONTH, 15),
            Indicator::BmiForAge => (&self.bmi_for_age_2007, 1.0, 1),
            Indicator::WeightForLength
                if age_months * DAYS_PER_MONTH < STANDING_FROM_DAY as f64 =>
            {
                (&self.weight_for_length, 1.0, 5)
            }
            Indicator::WeightForLength => (&self.weight_for_height, 1.0, 5),
        };
        let rows = &table.rows[sex.index()];
        let mut points: Vec<[f64; 2]> = rows
            .iter()
            .enumerate()
            .filter(|(i, _)| i % every == 0 || *i == rows.len() - 1)
            .map(|(i, lms)| {
                let x = (table.first + table.step * i as f64) / per_x;
                [x, lms.value_at(sd)]
            })
            .collect();
        points.dedup_by(|a, b| a[0] == b[0]);
        points
    }

    /// The range of x the curves of `indicator` cover at `age_months`.
    pub fn x_range(&self, indicator: Indicator, age_months: f64) -> (f64, f64) {
        let curve = self.curve(indicator, GrowthSex::Boy, age_months, 0.0);
        (
            curve.first().map_or(0.0, |p| p[0]),
            curve.last().map_or(0.0, |p| p[0]),
        )
    }

    /// How many rows each table has for each sex (for the tests and the licence notes).
    pub fn row_counts(&self) -> [(&'static str, usize, f64, f64); 8] {
        let row = |name, t: &Table| (name, t.rows[0].len(), t.first, t.last());
        [
            row("weianthro", &self.weight_for_age),
            row("lenanthro", &self.length_for_age),
            row("bmianthro", &self.bmi_for_age),
            row("wflanthro", &self.weight_for_length),
            row("wfhanthro", &self.weight_for_height),
            row("wfawho2007", &self.weight_for_age_2007),
            row("hfawho2007", &self.height_for_age_2007),
            row("bfawho2007", &self.bmi_for_age_2007),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_read_whole() {
        let who = who_standards().unwrap();
        let counts = who.row_counts();
        assert_eq!(counts[0], ("weianthro", 1827, 0.0, 1826.0));
        assert_eq!(counts[1].1, 1827);
        assert_eq!(counts[2].1, 1827);
        assert_eq!((counts[3].1, counts[3].2, counts[3].3), (651, 45.0, 110.0));
        assert_eq!((counts[4].1, counts[4].2), (551, 65.0));
        assert_eq!((counts[5].2, counts[5].3), (60.0, 121.0));
        assert_eq!((counts[6].2, counts[6].3), (60.0, 229.0));
        assert_eq!((counts[7].2, counts[7].3), (60.0, 229.0));
    }

    #[test]
    fn the_median_child_scores_zero_and_each_sd_curve_scores_its_sd() {
        let who = who_standards().unwrap();
        // A boy of one year (365 days) at the median weight of the table.
        let lms = who.weight_for_age.at(GrowthSex::Boy, 365.0).unwrap();
        for sd in [-3.0, -2.0, 0.0, 2.0, 3.0] {
            let z = lms.z_restricted(lms.value_at(sd));
            assert!((z - sd).abs() < 1e-9, "{sd}: {z}");
        }
        // Beyond 3 SD the restricted score counts in 2–3 SD bands.
        let sd3 = lms.value_at(3.0);
        let band = sd3 - lms.value_at(2.0);
        assert!((lms.z_restricted(sd3 + band) - 4.0).abs() < 1e-9);
    }

    #[test]
    fn between_grid_rows_the_parameters_are_interpolated() {
        let who = who_standards().unwrap();
        let low = who.weight_for_length.at(GrowthSex::Girl, 70.0).unwrap();
        let high = who.weight_for_length.at(GrowthSex::Girl, 70.1).unwrap();
        let mid = who.weight_for_length.at(GrowthSex::Girl, 70.05).unwrap();
        assert!((mid.m - (low.m + high.m) / 2.0).abs() < 1e-9);
        assert!(who.weight_for_length.at(GrowthSex::Girl, 44.9).is_none());
        assert!(who.weight_for_length.at(GrowthSex::Girl, 110.0).is_some());
    }

    #[test]
    fn flags_read_the_z_scores() {
        let z = ZScores {
            weight_for_age: Some(-2.5),
            length_for_age: Some(-3.2),
            weight_for_length: Some(-1.0),
            bmi_for_age: Some(-0.5),
        };
        assert_eq!(
            growth_flags(&z, 30.0),
            [
                GrowthFlag::Stunting { severe: true },
                GrowthFlag::Underweight { severe: false }
            ]
        );
        // An implausible value is a typing error to check, not a finding.
        let typo = ZScores {
            weight_for_length: Some(-7.0),
            ..ZScores::default()
        };
        assert!(growth_flags(&typo, 30.0).is_empty());
        let older = ZScores {
            bmi_for_age: Some(2.4),
            ..ZScores::default()
        };
        assert_eq!(growth_flags(&older, 100.0), [GrowthFlag::Overweight]);
    }

    #[test]
    fn ages_outside_the_tables_have_no_scores() {
        let who = who_standards().unwrap();
        let child = |age_days| GrowthMeasure {
            sex: GrowthSex::Girl,
            age_days,
            weight_kg: Some(18.0),
            length_cm: Some(108.0),
        };
        // 60 to 61 months: neither the standards nor the reference.
        assert_eq!(who.z_scores(&child(1840)), ZScores::default());
        assert!(who.z_scores(&child(1826)).weight_for_age.is_some());
        let eight = who.z_scores(&child(8 * 365));
        assert!(eight.bmi_for_age.is_some() && eight.weight_for_length.is_none());
        let twelve = who.z_scores(&child(12 * 365));
        assert!(twelve.weight_for_age.is_none() && twelve.bmi_for_age.is_some());
        assert_eq!(who.z_scores(&child(20 * 365)), ZScores::default());
        assert_eq!(who.z_scores(&child(-3)), ZScores::default());
    }
}
