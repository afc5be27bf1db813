//! Schedule expressions as EventBridge rules and EventBridge Scheduler read them, and when
//! they fire.
//!
//! - `rate(<n> <unit>)`: every `n` minutes, hours or days (`minute`/`hour`/`day` when `n` is 1,
//!   the plural otherwise, as AWS requires), counted from when the schedule starts.
//! - `cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>)`: AWS's six-field
//!   cron, in UTC. Every field takes `*`, numbers, lists (`1,15`), ranges (`MON-FRI`), steps
//!   (`0/5`, `*/10`, `8-18/2`); months and days of the week also take names (`JAN`, `SUN`;
//!   day 1 is Sunday). Exactly one of day-of-month and day-of-week is `?`. Day-of-month also
//!   takes `L` (the last day), `<n>W` (the weekday nearest day `n`) and `LW` (the last
//!   weekday); day-of-week takes `<d>L` (the last such day of the month), `L` (Saturday) and
//!   `<d>#<k>` (the `k`-th such day of the month).
//! - `at(yyyy-mm-ddThh:mm:ss)`: once, in UTC (EventBridge Scheduler only).
//!
//! Times are milliseconds since the Unix epoch, UTC.

use std::fmt;
use std::time::Duration;

/// Milliseconds in a minute.
const MINUTE_MS: i64 = 60_000;
/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;
/// The years a cron expression may name.
const YEARS: std::ops::RangeInclusive<i64> = 1970..=2199;

/// A parsed schedule expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleExpression {
    /// `rate(...)`: a fixed period, counted from the schedule's start.
    Rate(Duration),
    /// `cron(...)`: calendar times, in UTC.
    Cron(Cron),
    /// `at(...)`: one time, milliseconds since the epoch (UTC).
    At(i64),
}

impl ScheduleExpression {
    /// Parses `rate(...)`, `cron(...)` or `at(...)`. The error says what is wrong, without
    /// naming the template element (the caller does).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (kind, body) = text
            .split_once('(')
            .and_then(|(kind, rest)| Some((kind.trim(), rest.strip_suffix(')')?)))
            .ok_or_else(|| {
                format!("schedule expression {text:?} is not rate(...), cron(...) or at(...)")
            })?;
        match kind {
            "rate" => parse_rate(body).map(Self::Rate),
            "cron" => Cron::parse(body).map(Self::Cron),
            "at" => parse_at(body).map(Self::At),
            other => Err(format!(
                "schedule expression {text:?}: unknown kind {other:?} (expected rate, cron or at)"
            )),
        }
        .map_err(|e| {
            if e.starts_with("schedule expression") {
                e
            } else {
                format!("schedule expression {text:?}: {e}")
            }
        })
    }

    /// Whether the expression depends on a time zone (`cron` and `at` do; a rate does not).
    pub fn uses_time_zone(&self) -> bool {
        !matches!(self, Self::Rate(_))
    }

    /// The first time the schedule fires strictly after `after`, for a schedule that started
    /// at `start` (a rate fires at `start + k * period`, `k >= 1`). `None` when it never fires
    /// again.
    pub fn next_fire(&self, start: i64, after: i64) -> Option<i64> {
        match self {
            Self::Rate(period) => {
                let period = i64::try_from(period.as_millis()).ok()?.max(1);
                let k = if after < start {
                    1
                } else {
                    (after - start) / period + 1
                };
                start.checked_add(period.checked_mul(k)?)
            }
            Self::Cron(cron) => cron.next_after(after),
            Self::At(at) => (*at > after).then_some(*at),
        }
    }
}

fn parse_rate(body: &str) -> Result<Duration, String> {
    let mut parts = body.split_whitespace();
    let (Some(value), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err("a rate is `rate(<value> <unit>)`, e.g. rate(5 minutes)".into());
    };
    let value: u64 = value
        .parse()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("rate value {value:?} must be a positive whole number"))?;
    let (singular, seconds) = match unit {
        "minute" | "minutes" => ("minute", 60),
        "hour" | "hours" => ("hour", 3_600),
        "day" | "days" => ("day", 86_400),
        other => {
            return Err(format!(
                "rate unit {other:?} must be minute(s), hour(s) or day(s)"
            ));
        }
    };
    let plural = unit.ends_with('s');
    if value == 1 && plural {
        return Err(format!(
            "a rate of 1 takes the singular unit: rate(1 {singular})"
        ));
    }
    if value > 1 && !plural {
        return Err(format!(
            "a rate of {value} takes the plural unit: rate({value} {singular}s)"
        ));
    }
    value
        .checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("rate {value} {unit} is too long"))
}

/// `yyyy-mm-ddThh:mm:ss`, UTC.
fn parse_at(body: &str) -> Result<i64, String> {
    let bad = || format!("at({body}) must be at(yyyy-mm-ddThh:mm:ss)");
    let (date, time) = body.trim().split_once('T').ok_or_else(bad)?;
    let numbers = |text: &str, sep: char, n: usize| -> Option<Vec<i64>> {
        let parts: Vec<i64> = text
            .split(sep)
            .map(|p| {
                (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| p.parse().ok())
                    .flatten()
            })
            .collect::<Option<_>>()?;
        (parts.len() == n).then_some(parts)
    };
    let date = numbers(date, '-', 3).ok_or_else(bad)?;
    let time = numbers(time, ':', 3).ok_or_else(bad)?;
    let (year, month, day) = (date[0], date[1], date[2]);
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || time[0] > 23
        || time[1] > 59
        || time[2] > 59
    {
        return Err(format!("at({body}) is not a valid date and time"));
    }
    Ok(days_from_civil(year, month, day) * DAY_MS
        + (time[0] * 3600 + time[1] * 60 + time[2]) * 1000)
}

/// A six-field AWS cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    /// The six fields as written, separated by one space.
    text: String,
    /// Bit `m` for minute `m` (0-59).
    minutes: u64,
    /// Bit `h` for hour `h` (0-23).
    hours: u32,
    /// Bit `m` for month `m` (1-12).
    months: u16,
    /// Years allowed, from 1970 (bit `y - 1970`).
    years: Vec<bool>,
    /// Which days of a month match: day-of-month or day-of-week, the other being `?`.
    days: Days,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Days {
    /// Day-of-month items; day-of-week is `?`.
    OfMonth(Vec<MonthDay>),
    /// Day-of-week items; day-of-month is `?`.
    OfWeek(Vec<WeekDay>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MonthDay {
    /// Bit `d` for day `d` (1-31).
    Set(u32),
    /// `L`: the last day of the month.
    Last,
    /// `<n>W`: the weekday (Monday to Friday) nearest day `n`, within the month.
    NearestWeekday(i64),
    /// `LW`: the last weekday of the month.
    LastWeekday,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WeekDay {
    /// Bit `d` for day `d` of the week (1 = Sunday ... 7 = Saturday).
    Set(u8),
    /// `<d>L`: the last day `d` of the month.
    Last(i64),
    /// `<d>#<k>`: the `k`-th day `d` of the month.
    Nth(i64, i64),
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Cron {
    /// Parses the six fields inside `cron(...)`.
    pub fn parse(body: &str) -> Result<Self, String> {
        let fields: Vec<&str> = body.split_whitespace().collect();
        let [minutes, hours, day_of_month, month, day_of_week, year] = fields[..] else {
            return Err(format!(
                "a cron expression has six fields (minutes hours day-of-month month day-of-week \
                 year), got {}",
                fields.len()
            ));
        };
        let days = match (day_of_month, day_of_week) {
            ("?", "?") => {
                return Err("only one of day-of-month and day-of-week may be `?`".into());
            }
            (dom, "?") => Days::OfMonth(
                dom.split(',')
                    .map(month_day)
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("day-of-month {dom:?}: {e}"))?,
            ),
            ("?", dow) => Days::OfWeek(
                dow.split(',')
                    .map(week_day)
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("day-of-week {dow:?}: {e}"))?,
            ),
            _ => {
                return Err(
                    "one of day-of-month and day-of-week must be `?` (AWS cron takes one or the \
                     other)"
                        .into(),
                );
            }
        };
        let set = |name: &str, text: &str, min: i64, max: i64, names: &[&str]| {
            numeric_set(text, min, max, names).map_err(|e| format!("{name} {text:?}: {e}"))
        };
        let bits = |values: Vec<i64>| values.into_iter().fold(0u64, |acc, v| acc | (1 << v));
        let year_values = set("year", year, *YEARS.start(), *YEARS.end(), &[])?;
        let mut years = vec![false; (YEARS.end() - YEARS.start() + 1) as usize];
        for y in year_values {
            years[(y - YEARS.start()) as usize] = true;
        }
        Ok(Self {
            text: fields.join(" "),
            minutes: bits(set("minutes", minutes, 0, 59, &[])?),
            hours: bits(set("hours", hours, 0, 23, &[])?) as u32,
            months: bits(set("month", month, 1, 12, &MONTHS)?) as u16,
            years,
            days,
        })
    }

    /// The first whole minute strictly after `after` that the expression names.
    pub fn next_after(&self, after: i64) -> Option<i64> {
        let first = after.div_euclid(MINUTE_MS) * MINUTE_MS + MINUTE_MS;
        let mut day = first.div_euclid(DAY_MS);
        let mut minute_of_day = first.rem_euclid(DAY_MS) / MINUTE_MS;
        let last_day = days_from_civil(*YEARS.end(), 12, 31);
        while day <= last_day {
            let (year, month, dom) = civil_from_days(day);
            let year_ok = self
                .years
                .get((year - YEARS.start()) as usize)
                .copied()
                .unwrap_or(false);
            if year_ok && self.months & (1 << month) != 0 && self.day_matches(year, month, dom) {
                for m in minute_of_day..24 * 60 {
                    if self.hours & (1 << (m / 60)) != 0 && self.minutes & (1 << (m % 60)) != 0 {
                        return Some(day * DAY_MS + m * MINUTE_MS);
                    }
                }
            }
            day += 1;
            minute_of_day = 0;
        }
        None
    }

    fn day_matches(&self, year: i64, month: i64, day: i64) -> bool {
        let length = days_in_month(year, month);
        let weekday = weekday(days_from_civil(year, month, day));
        match &self.days {
            Days::OfMonth(items) => items.iter().any(|item| match *item {
                MonthDay::Set(bits) => bits & (1 << day) != 0,
                MonthDay::Last => day == length,
                MonthDay::NearestWeekday(n) => {
                    nearest_weekday(year, month, n.min(length)) == Some(day)
                }
                MonthDay::LastWeekday => nearest_weekday(year, month, length) == Some(day),
            }),
            Days::OfWeek(items) => items.iter().any(|item| match *item {
                WeekDay::Set(bits) => bits & (1 << weekday) != 0,
                WeekDay::Last(d) => weekday == d && day + 7 > length,
                WeekDay::Nth(d, k) => weekday == d && (day - 1) / 7 + 1 == k,
            }),
        }
    }
}

/// The weekday nearest day `n` of a month, without leaving the month.
fn nearest_weekday(year: i64, month: i64, n: i64) -> Option<i64> {
    let length = days_in_month(year, month);
    match weekday(days_from_civil(year, month, n)) {
        // Saturday: the Friday before, or the Monday after on the 1st.
        7 if n == 1 => Some(3),
        7 => Some(n - 1),
        // Sunday: the Monday after, or the Friday before on the last day.
        1 if n == length => Some(n - 2),
        1 => Some(n + 1),
        _ => Some(n),
    }
    .filter(|d| (1..=length).contains(d))
}

fn month_day(item: &str) -> Result<MonthDay, String> {
    match item {
        "L" => return Ok(MonthDay::Last),
        "LW" => return Ok(MonthDay::LastWeekday),
        _ => {}
    }
    if let Some(n) = item.strip_suffix('W') {
        let n = number(n, 1, 31, &[])?;
        return Ok(MonthDay::NearestWeekday(n));
    }
    let days = numeric_set(item, 1, 31, &[])?;
    Ok(MonthDay::Set(
        days.into_iter().fold(0, |acc, d| acc | (1 << d)),
    ))
}

fn week_day(item: &str) -> Result<WeekDay, String> {
    if item == "L" {
        return Ok(WeekDay::Set(1 << 7));
    }
    if let Some(d) = item.strip_suffix('L') {
        return Ok(WeekDay::Last(number(d, 1, 7, &WEEKDAYS)?));
    }
    if let Some((d, k)) = item.split_once('#') {
        let d = number(d, 1, 7, &WEEKDAYS)?;
        let k = number(k, 1, 5, &[])?;
        return Ok(WeekDay::Nth(d, k));
    }
    let days = numeric_set(item, 1, 7, &WEEKDAYS)?;
    Ok(WeekDay::Set(
        days.into_iter().fold(0, |acc, d| acc | (1 << d)),
    ))
}

/// The values a list of `*`, numbers, ranges and steps names, each within `min..=max`;
/// `names[i]` stands for `min + i`.
fn numeric_set(text: &str, min: i64, max: i64, names: &[&str]) -> Result<Vec<i64>, String> {
    let mut values = Vec::new();
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(number(step, 1, max.max(1), &[])?)),
            None => (item, None),
        };
        let (from, to) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (number(a, min, max, names)?, number(b, min, max, names)?);
            if a > b {
                return Err(format!("range {range} runs backwards"));
            }
            (a, b)
        } else {
            let start = number(range, min, max, names)?;
            // `n/step` runs from n to the end of the field; a plain `n` is just n.
            (start, if step.is_some() { max } else { start })
        };
        let step = step.unwrap_or(1) as usize;
        values.extend((from..=to).step_by(step));
    }
    Ok(values)
}

fn number(text: &str, min: i64, max: i64, names: &[&str]) -> Result<i64, String> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return Ok(min + i as i64);
    }
    let unsupported = |c: char| matches!(c, 'L' | 'W' | '#' | '?');
    let n: i64 = text.parse().map_err(|_| {
        if text.contains(unsupported) {
            format!("{text:?}: `L`, `W`, `#` and `?` are not allowed here")
        } else if text.is_empty() {
            "an empty value".to_string()
        } else {
            format!("{text:?} is not a number")
        }
    })?;
    if !(min..=max).contains(&n) {
        return Err(format!("{n} is outside {min}-{max}"));
    }
    Ok(n)
}

impl fmt::Display for ScheduleExpression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rate(period) => {
                let secs = period.as_secs();
                let (value, unit) = if secs % 86_400 == 0 {
                    (secs / 86_400, "day")
                } else if secs % 3_600 == 0 {
                    (secs / 3_600, "hour")
                } else {
                    (secs / 60, "minute")
                };
                let plural = if value == 1 { "" } else { "s" };
                write!(f, "rate({value} {unit}{plural})")
            }
            Self::Cron(cron) => write!(f, "cron({})", cron.text),
            Self::At(at) => {
                let (y, mo, d) = civil_from_days(at.div_euclid(DAY_MS));
                let secs = at.rem_euclid(DAY_MS) / 1000;
                write!(
                    f,
                    "at({y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02})",
                    secs / 3600,
                    secs / 60 % 60,
                    secs % 60
                )
            }
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Day of the week of a day count, 1 = Sunday ... 7 = Saturday (AWS cron numbering).
fn weekday(days: i64) -> i64 {
    (days + 4).rem_euclid(7) + 1
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Milliseconds of a UTC date and time.
    fn t(year: i64, month: i64, day: i64, hour: i64, minute: i64) -> i64 {
        days_from_civil(year, month, day) * DAY_MS + (hour * 60 + minute) * MINUTE_MS
    }

    fn parse(text: &str) -> ScheduleExpression {
        ScheduleExpression::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn error(text: &str) -> String {
        match ScheduleExpression::parse(text) {
            Ok(e) => panic!("{text} parsed as {e:?}"),
            Err(e) => e,
        }
    }

    /// The next `n` fire times of a cron expression after `from`.
    fn fires(text: &str, from: i64, n: usize) -> Vec<i64> {
        let e = parse(text);
        let mut out = Vec::new();
        let mut after = from;
        while out.len() < n {
            let Some(next) = e.next_fire(from, after) else {
                break;
            };
            out.push(next);
            after = next;
        }
        out
    }

    #[test]
    fn dates_convert_both_ways() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for days in [-1, 0, 59, 11_016, 11_017, 19_000, 84_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        // 2026-03-01 is a Sunday.
        assert_eq!(weekday(days_from_civil(2026, 3, 1)), 1);
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
    }

    #[test]
    fn rates_take_minutes_hours_and_days() {
        assert_eq!(
            parse("rate(1 minute)"),
            ScheduleExpression::Rate(Duration::from_secs(60))
        );
        assert_eq!(
            parse("rate(5 minutes)"),
            ScheduleExpression::Rate(Duration::from_secs(300))
        );
        assert_eq!(
            parse("rate(1 hour)"),
            ScheduleExpression::Rate(Duration::from_secs(3600))
        );
        assert_eq!(
            parse(" rate( 2 days ) "),
            ScheduleExpression::Rate(Duration::from_secs(172_800))
        );
        assert_eq!(parse("rate(2 days)").to_string(), "rate(2 days)");
        assert_eq!(parse("rate(1 minute)").to_string(), "rate(1 minute)");
    }

    #[test]
    fn rates_fire_a_period_after_the_start_and_every_period_after() {
        let e = parse("rate(5 minutes)");
        let start = t(2026, 1, 1, 10, 0) + 1234;
        assert_eq!(e.next_fire(start, start), Some(start + 5 * MINUTE_MS));
        assert_eq!(
            e.next_fire(start, start + 5 * MINUTE_MS),
            Some(start + 10 * MINUTE_MS)
        );
        // Missed runs are not made up: the next one after a late time is on the grid.
        assert_eq!(
            e.next_fire(start, start + 23 * MINUTE_MS),
            Some(start + 25 * MINUTE_MS)
        );
    }

    #[test]
    fn invalid_rates_are_refused() {
        for (text, expected) in [
            ("rate(1 minutes)", "singular unit"),
            ("rate(5 minute)", "plural unit"),
            ("rate(0 minutes)", "positive whole number"),
            ("rate(-1 minutes)", "positive whole number"),
            ("rate(1.5 hours)", "positive whole number"),
            ("rate(10 seconds)", "minute(s), hour(s) or day(s)"),
            ("rate(5)", "rate(<value> <unit>)"),
            ("rate 5 minutes", "not rate(...), cron(...) or at(...)"),
            ("every(5 minutes)", "unknown kind"),
        ] {
            let e = error(text);
            assert!(e.contains(expected), "{text}: {e}");
        }
    }

    #[test]
    fn cron_steps_fire_every_five_minutes() {
        let from = t(2026, 1, 1, 10, 2) + 30_000;
        assert_eq!(
            fires("cron(0/5 * * * ? *)", from, 3),
            [
                t(2026, 1, 1, 10, 5),
                t(2026, 1, 1, 10, 10),
                t(2026, 1, 1, 10, 15)
            ]
        );
        assert_eq!(
            fires("cron(*/20 * * * ? *)", t(2026, 1, 1, 10, 40), 2),
            [t(2026, 1, 1, 11, 0), t(2026, 1, 1, 11, 20)]
        );
        // A time on the minute is "after" itself: the next run is the following one.
        assert_eq!(
            fires("cron(* * * * ? *)", t(2026, 1, 1, 10, 5), 1),
            [t(2026, 1, 1, 10, 6)]
        );
    }

    #[test]
    fn cron_lists_ranges_and_weekday_names() {
        // 2026-01-02 is a Friday: the next weekday 08:30 or 17:30 after Friday 18:00 is Monday.
        assert_eq!(
            fires("cron(30 8,17 ? * MON-FRI *)", t(2026, 1, 2, 18, 0), 3),
            [
                t(2026, 1, 5, 8, 30),
                t(2026, 1, 5, 17, 30),
                t(2026, 1, 6, 8, 30)
            ]
        );
        // Numbers and names are the same days (2 = MON, 6 = FRI).
        assert_eq!(
            fires("cron(30 8,17 ? * 2-6 *)", t(2026, 1, 2, 18, 0), 3),
            fires("cron(30 8,17 ? * mon-fri *)", t(2026, 1, 2, 18, 0), 3)
        );
        assert_eq!(
            parse("cron(0/5  * * * ? *)").to_string(),
            "cron(0/5 * * * ? *)"
        );
        // Hours 9 to 17 every 4 hours: 9, 13, 17.
        assert_eq!(
            fires("cron(0 9-17/4 * * ? *)", t(2026, 1, 1, 0, 0), 4),
            [
                t(2026, 1, 1, 9, 0),
                t(2026, 1, 1, 13, 0),
                t(2026, 1, 1, 17, 0),
                t(2026, 1, 2, 9, 0)
            ]
        );
    }

    #[test]
    fn cron_days_of_month_months_and_years() {
        // Noon on the 1st and 15th of March and September.
        assert_eq!(
            fires("cron(0 12 1,15 MAR,SEP ? *)", t(2026, 3, 20, 0, 0), 3),
            [
                t(2026, 9, 1, 12, 0),
                t(2026, 9, 15, 12, 0),
                t(2027, 3, 1, 12, 0)
            ]
        );
        // The 31st skips months without one.
        assert_eq!(
            fires("cron(0 0 31 * ? *)", t(2026, 1, 31, 1, 0), 2),
            [t(2026, 3, 31, 0, 0), t(2026, 5, 31, 0, 0)]
        );
        // A year in the past never fires; a year range ends.
        assert_eq!(
            parse("cron(0 0 1 1 ? 2020)").next_fire(0, t(2026, 1, 1, 0, 0)),
            None
        );
        assert_eq!(
            fires("cron(0 0 1 1 ? 2027-2028)", t(2026, 6, 1, 0, 0), 3),
            [t(2027, 1, 1, 0, 0), t(2028, 1, 1, 0, 0)]
        );
    }

    #[test]
    fn cron_last_nearest_weekday_and_nth_day() {
        // The last day of February in a leap year.
        assert_eq!(
            fires("cron(0 0 L * ? *)", t(2028, 2, 1, 0, 0), 1),
            [t(2028, 2, 29, 0, 0)]
        );
        // 2026-02-15 is a Sunday: 15W is Monday the 16th. 2026-08-01 is a Saturday: 1W is
        // Monday the 3rd.
        assert_eq!(
            fires("cron(0 0 15W * ? *)", t(2026, 2, 1, 0, 0), 1),
            [t(2026, 2, 16, 0, 0)]
        );
        assert_eq!(
            fires("cron(0 0 1W * ? *)", t(2026, 7, 15, 0, 0), 1),
            [t(2026, 8, 3, 0, 0)]
        );
        // The last weekday of May 2026 (the 31st is a Sunday) is Friday the 29th.
        assert_eq!(
            fires("cron(0 0 LW * ? *)", t(2026, 5, 1, 0, 0), 1),
            [t(2026, 5, 29, 0, 0)]
        );
        // The second Tuesday and the last Friday of January 2026.
        assert_eq!(
            fires("cron(0 10 ? * 3#2 *)", t(2026, 1, 1, 0, 0), 1),
            [t(2026, 1, 13, 10, 0)]
        );
        assert_eq!(
            fires("cron(0 10 ? * FRIL *)", t(2026, 1, 1, 0, 0), 1),
            fires("cron(0 10 ? * 6L *)", t(2026, 1, 1, 0, 0), 1)
        );
        assert_eq!(
            fires("cron(0 10 ? * 6L *)", t(2026, 1, 1, 0, 0), 1),
            [t(2026, 1, 30, 10, 0)]
        );
    }

    #[test]
    fn invalid_crons_are_refused() {
        for (text, expected) in [
            ("cron(0/5 * * * *)", "six fields"),
            ("cron(0 12 * * * *)", "must be `?`"),
            ("cron(0 12 ? * ? *)", "only one of"),
            ("cron(60 * * * ? *)", "minutes \"60\": 60 is outside 0-59"),
            ("cron(0 24 * * ? *)", "hours"),
            ("cron(0 0 0 * ? *)", "day-of-month"),
            ("cron(0 0 * 13 ? *)", "month"),
            ("cron(0 0 ? * 8 *)", "day-of-week"),
            ("cron(0 0 * * ? 1969)", "year"),
            ("cron(0 0 * FOO ? *)", "\"FOO\" is not a number"),
            ("cron(0 17-9 * * ? *)", "runs backwards"),
            ("cron(0/0 * * * ? *)", "outside 1-59"),
            ("cron(0 L * * ? *)", "not allowed here"),
            ("cron(0 0 * * ? 2026,)", "an empty value"),
            ("cron(0 0 ? * 2#6 *)", "outside 1-5"),
        ] {
            let e = error(text);
            assert!(e.contains(expected), "{text}: {e}");
        }
    }

    #[test]
    fn at_fires_once() {
        let e = parse("at(2026-05-01T09:30:00)");
        assert_eq!(e, ScheduleExpression::At(t(2026, 5, 1, 9, 30)));
        assert_eq!(e.to_string(), "at(2026-05-01T09:30:00)");
        assert_eq!(
            e.next_fire(0, t(2026, 1, 1, 0, 0)),
            Some(t(2026, 5, 1, 9, 30))
        );
        assert_eq!(e.next_fire(0, t(2026, 5, 1, 9, 30)), None);
        assert!(error("at(2026-02-30T00:00:00)").contains("not a valid date"));
        assert!(error("at(2026-05-01 09:30)").contains("at(yyyy-mm-ddThh:mm:ss)"));
    }

    /// A template with one function whose `Events` are `events` (YAML flow mappings).
    fn function_with(events: &str) -> Result<crate::Model, String> {
        let yaml = format!(
            r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Cleaner:
    Type: AWS::Serverless::Function
    Metadata: {{BuildProperties: {{Binary: cleaner}}}}
    Properties:
      Events:
{events}
"#
        );
        crate::Template::parse(&yaml, ".")
            .and_then(|t| t.resolve(&crate::LoadOptions::default(), &Default::default()))
            .map_err(|e| e.chain())
    }

    #[test]
    fn schedule_v2_events_carry_their_settings() {
        let model = function_with(
            r#"        Nightly:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: cron(0 3 * * ? *)
            ScheduleExpressionTimezone: UTC
            Input: '{"job": "<aws.scheduler.execution-id>", "n": <aws.scheduler.attempt-number>}'
            FlexibleTimeWindow: {Mode: FLEXIBLE, MaximumWindowInMinutes: 5}
            RetryPolicy: {MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 600}
            GroupName: jobs
        Paused:
          Type: ScheduleV2
          Properties: {ScheduleExpression: rate(1 hour), State: DISABLED, Name: paused-one}"#,
        )
        .unwrap();
        let events = &model.function("Cleaner").unwrap().schedule_events;
        assert_eq!(events.len(), 2);
        let event = |name: &str| events.iter().find(|e| e.name == name).unwrap();
        let nightly = event("Nightly");
        assert_eq!(nightly.kind, crate::ScheduleKind::Scheduler);
        assert_eq!(nightly.schedule_name, "CleanerNightly");
        assert_eq!(
            nightly.arn,
            "arn:aws:scheduler:us-east-1:123456789012:schedule/jobs/CleanerNightly"
        );
        assert_eq!(nightly.expression.to_string(), "cron(0 3 * * ? *)");
        assert!(nightly.enabled);
        assert!(
            nightly
                .input
                .as_deref()
                .unwrap()
                .contains("<aws.scheduler.execution-id>")
        );
        assert_eq!(nightly.maximum_retry_attempts, 2);
        assert_eq!(nightly.maximum_event_age, Duration::from_secs(600));
        let paused = event("Paused");
        assert!(!paused.enabled);
        assert_eq!(paused.schedule_name, "paused-one");
        assert_eq!(paused.maximum_retry_attempts, 185);
        assert_eq!(paused.maximum_event_age, Duration::from_secs(86_400));
        assert_eq!(paused.input, None);
    }

    #[test]
    fn schedule_events_are_eventbridge_rules() {
        let model = function_with(
            r#"        Tick:
          Type: Schedule
          Properties: {Schedule: rate(5 minutes), Input: '{"a": 1}'}
        Off:
          Type: Schedule
          Properties: {Schedule: rate(5 minutes), Enabled: false}
        Named:
          Type: Schedule
          Properties: {Schedule: cron(0 12 ? * MON *), Name: weekly, State: DISABLED}"#,
        )
        .unwrap();
        let events = &model.function("Cleaner").unwrap().schedule_events;
        let event = |name: &str| events.iter().find(|e| e.name == name).unwrap();
        let tick = event("Tick");
        assert_eq!(tick.kind, crate::ScheduleKind::Rule);
        assert_eq!(tick.schedule_name, "local-CleanerTick");
        assert_eq!(
            tick.arn,
            "arn:aws:events:us-east-1:123456789012:rule/local-CleanerTick"
        );
        assert_eq!(tick.input.as_deref(), Some(r#"{"a": 1}"#));
        assert!(tick.enabled);
        assert!(!event("Off").enabled);
        assert!(!event("Named").enabled);
        assert_eq!(event("Named").schedule_name, "weekly");
    }

    #[test]
    fn invalid_schedule_events_are_refused_naming_the_function() {
        for (event, expected) in [
            (
                "{Type: ScheduleV2, Properties: {ScheduleExpression: rate(1 minutes)}}",
                "function `Cleaner`: event `Bad`: ScheduleExpression: schedule expression \
                 \"rate(1 minutes)\": a rate of 1 takes the singular unit",
            ),
            (
                "{Type: ScheduleV2, Properties: {ScheduleExpression: 'cron(0 12 * * * *)'}}",
                "function `Cleaner`: event `Bad`: ScheduleExpression: schedule expression \
                 \"cron(0 12 * * * *)\": one of day-of-month and day-of-week must be `?`",
            ),
            (
                "{Type: Schedule, Properties: {Enabled: true}}",
                "event `Bad`: has no Schedule",
            ),
            (
                "{Type: Schedule, Properties: {Schedule: 'at(2030-01-01T00:00:00)'}}",
                "at(...) is for ScheduleV2",
            ),
            (
                "{Type: ScheduleV2, Properties: {ScheduleExpression: 'cron(0 9 * * ? *)', \
                 ScheduleExpressionTimezone: Europe/Paris}}",
                "ScheduleExpressionTimezone Europe/Paris (the local stack computes cron and at \
                 schedules in UTC",
            ),
            (
                "{Type: ScheduleV2, Properties: {ScheduleExpression: rate(1 hour), State: PAUSED}}",
                "State must be ENABLED or DISABLED, got PAUSED",
            ),
            (
                "{Type: ScheduleV2, Properties: {ScheduleExpression: rate(1 hour), Input: '{bad'}}",
                "Input is not JSON text",
            ),
            (
                "{Type: ScheduleV2, Properties: {ScheduleExpression: rate(1 hour), Input: {a: 1}}}",
                "Input must be a string of JSON text",
            ),
            (
                "{Type: ScheduleV2, Properties: {ScheduleExpression: rate(1 hour), \
                 RetryPolicy: {MaximumRetryAttempts: 186}}}",
                "MaximumRetryAttempts must be between 0 and 185, got 186",
            ),
        ] {
            let error = function_with(&format!("        Bad: {event}")).unwrap_err();
            assert!(error.contains(expected), "{event}:\n  {error}");
        }
        // A time zone does not change a rate, so any is accepted there.
        function_with(
            "        Ok: {Type: ScheduleV2, Properties: {ScheduleExpression: rate(1 hour), \
             ScheduleExpressionTimezone: Europe/Paris}}",
        )
        .unwrap();
    }
}
