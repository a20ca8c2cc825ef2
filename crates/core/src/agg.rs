//! The queries' aggregates (docs/format.md, "Queries") as pure folds.
//!
//! Each aggregate is a small accumulator with `add` and `merge`, so the
//! sequential reader folds it record by record and the parallel scanner
//! folds chunks and merges them. Sums of `cost` are exact
//! ([`ExactSum`]): the answer does not depend on the order of the records
//! or on how the work was split, so every engine gives the same bits.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use serde::Serialize;

use crate::event::types;
use crate::{Record, Timestamp};

/// Bits of one chunk of an [`ExactSum`].
const LIMB_BITS: u32 = 32;
/// Chunks below the top one: they cover bits `0..2112` of the fixed-point
/// sum, whose bit 0 is worth `2^-1074` (the smallest subnormal), and a
/// double's 53-bit significand reaches at most bit 2097.
const LOW_LIMBS: usize = 66;
/// The top chunk: the carries out of the others, any `i64`, worth
/// `2^(2112 - 1074)` per unit.
const TOP: usize = LOW_LIMBS;
/// Where the top chunk starts.
const TOP_BIT: u32 = LOW_LIMBS as u32 * LIMB_BITS;
/// Half a chunk: normalized chunks below the top are in `-HALF..HALF`.
const HALF: i64 = 1 << (LIMB_BITS - 1);
/// Adds (each moves a chunk by less than `2^32`) that may be pending
/// before carries must be propagated, keeping every chunk below `2^62`.
const MAX_PENDING: u32 = 1 << 29;
/// The largest bit a parsed sum may set: `2^64` doubles of magnitude below
/// `2^1024` sum to less than `2^1088`, that is below bit `1088 + 1074`.
const MAX_PARSED_BIT: u32 = 1088 + 1074;

/// Why an [`ExactSum`] has no `f64` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SumOverflow {
    /// The exact sum, correctly rounded, is above `f64::MAX`.
    #[error("the exact sum exceeds the largest finite double (about 1.8e308)")]
    Positive,
    /// The exact sum, correctly rounded, is below `f64::MIN`.
    #[error("the exact sum is below the lowest finite double (about -1.8e308)")]
    Negative,
    /// A term was infinite or NaN.
    #[error("a term of the sum is not a finite number (infinity or NaN)")]
    NotFinite,
}

/// What an [`ExactSum`] holds besides its fixed-point value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
enum Poison {
    /// Every term was finite and the sum is in the accumulator's range.
    #[default]
    None,
    /// A term was infinite or NaN: the sum has no value, for good.
    NotFinite,
    /// The exact sum left the accumulator's range (its magnitude reached
    /// `2^1101`, 2^77 times the largest double), with this sign (`true`:
    /// negative); it stays out of range.
    Beyond(bool),
}

impl Poison {
    fn merge(self, other: Poison) -> Poison {
        match (self, other) {
            (Poison::NotFinite, _) | (_, Poison::NotFinite) => Poison::NotFinite,
            (Poison::Beyond(s), _) | (_, Poison::Beyond(s)) => Poison::Beyond(s),
            _ => Poison::None,
        }
    }
}

/// The exact sum of `f64`s: a fixed-point superaccumulator over the whole
/// range of doubles (bit 0 is `2^-1074`), in 32-bit chunks held in `i64`
/// limbs whose carries are propagated lazily (Kulisch; Neal's "xsum").
/// Only the chunks in use are stored (a few for everyday costs), so a sum
/// per group stays small.
///
/// Every finite term is added exactly, whatever its magnitude, so the sum
/// does not depend on the order of [`ExactSum::add`] and
/// [`ExactSum::merge`] calls, nor on how the work was split; the value is
/// rounded once (to nearest, ties to even) by [`ExactSum::value`], which
/// reports an exact sum beyond the range of `f64`, or a non-finite term,
/// as a [`SumOverflow`] instead of a number. An exact zero is `+0.0` (as
/// Python's `math.fsum`), so `-0.0` terms change nothing.
///
/// Two sums are equal when they hold the same exact sum (and the same
/// poison, see [`SumOverflow`]). [`ExactSum`]'s `Display` writes the
/// exact sum and [`ExactSum::parse_exact`] reads it back (what an index
/// stores so that readers continue the sum).
#[derive(Clone, Default)]
pub struct ExactSum {
    /// Chunks `base..base + len` (the others are 0); chunk `c` is worth
    /// `2^(32 c - 1074)`. Normalized, the chunks below [`TOP`] are in
    /// `-HALF..HALF` (a unique balanced form) and none at either end is 0.
    limbs: Vec<i64>,
    /// The chunk of `limbs[0]`.
    base: usize,
    /// Adds and merges since carries were last propagated (a bound on how
    /// far chunks may be from `-HALF..HALF`, in units of `2^32`).
    pending: u32,
    poison: Poison,
}

/// A sum in dense form, for rounding and for its text: chunks `0..66` in
/// `0..2^32` once normalized, the sign in the top chunk.
struct Dense {
    low: [i64; LOW_LIMBS],
    top: i64,
}

impl Dense {
    /// Propagates carries (every low chunk in `0..2^32`); `false` when the
    /// top chunk overflows (never for a sum in range).
    fn normalize(&mut self) -> bool {
        let mut carry = 0i64;
        for l in &mut self.low {
            let v = *l + carry;
            *l = v & 0xffff_ffff;
            carry = v >> LIMB_BITS;
        }
        match self.top.checked_add(carry).filter(|&t| t != i64::MIN) {
            Some(t) => {
                self.top = t;
                true
            }
            None => false,
        }
    }

    /// Makes a normalized sum its magnitude; whether it was negative.
    fn make_magnitude(&mut self) -> bool {
        if self.top >= 0 {
            return false;
        }
        for l in &mut self.low {
            *l = -*l;
        }
        self.top = -self.top;
        self.normalize();
        true
    }

    /// Bit `q` of a non-negative normalized sum.
    fn bit(&self, q: u32) -> bool {
        if q >= TOP_BIT {
            q - TOP_BIT < 63 && (self.top >> (q - TOP_BIT)) & 1 == 1
        } else {
            (self.low[(q / LIMB_BITS) as usize] >> (q % LIMB_BITS)) & 1 == 1
        }
    }

    /// The highest and lowest set bits of a non-negative normalized sum,
    /// `None` when it is zero.
    fn bit_range(&self) -> Option<(u32, u32)> {
        let hi = if self.top > 0 {
            TOP_BIT + 63 - self.top.leading_zeros()
        } else {
            let (i, l) = self.low.iter().enumerate().rev().find(|(_, l)| **l != 0)?;
            i as u32 * LIMB_BITS + 63 - l.leading_zeros()
        };
        let lo = match self.low.iter().enumerate().find(|(_, l)| **l != 0) {
            Some((i, l)) => i as u32 * LIMB_BITS + l.trailing_zeros(),
            None => TOP_BIT + self.top.trailing_zeros(),
        };
        Some((hi, lo))
    }

    /// Low chunk `j` (0 outside the range).
    fn limb(&self, j: i64) -> u128 {
        usize::try_from(j)
            .ok()
            .and_then(|j| self.low.get(j))
            .map_or(0, |&l| l as u128)
    }
}

impl ExactSum {
    /// The empty sum (0.0).
    pub fn new() -> ExactSum {
        ExactSum::default()
    }

    /// Adds one value exactly. An infinite or NaN value poisons the sum:
    /// its [`ExactSum::value`] is then [`SumOverflow::NotFinite`].
    #[inline]
    pub fn add(&mut self, x: f64) {
        let bits = x.to_bits();
        let exp = ((bits >> 52) & 0x7ff) as u32;
        let frac = bits & ((1 << 52) - 1);
        if exp == 0x7ff {
            self.poison = Poison::NotFinite;
            return;
        }
        // x = m * 2^(p - 1074): subnormals have no implicit bit.
        let (m, p) = if exp == 0 {
            if frac == 0 {
                return;
            }
            (frac, 0)
        } else {
            (frac | (1 << 52), exp - 1)
        };
        // p <= 2045, so the chunks i..i + 3 are below TOP.
        let i = (p / LIMB_BITS) as usize;
        if i < self.base || i + 3 > self.base + self.limbs.len() {
            self.cover(i, i + 3);
        }
        let v = u128::from(m) << (p % LIMB_BITS);
        let c0 = (v & 0xffff_ffff) as i64;
        let c1 = ((v >> 32) & 0xffff_ffff) as i64;
        let c2 = (v >> 64) as i64;
        let j = i - self.base;
        if let Some([a, b, c]) = self.limbs.get_mut(j..j + 3) {
            if bits >> 63 == 0 {
                *a += c0;
                *b += c1;
                *c += c2;
            } else {
                *a -= c0;
                *b -= c1;
                *c -= c2;
            }
        }
        self.pending += 1;
        if self.pending >= MAX_PENDING {
            self.normalize();
        }
    }

    /// Makes chunks `lo..hi` present (zero where new).
    #[cold]
    fn cover(&mut self, lo: usize, hi: usize) {
        if self.limbs.is_empty() {
            self.base = lo;
            self.limbs.resize(hi - lo, 0);
            return;
        }
        if lo < self.base {
            let more = self.base - lo;
            self.limbs.splice(0..0, std::iter::repeat_n(0, more));
            self.base = lo;
        }
        if hi > self.base + self.limbs.len() {
            self.limbs.resize(hi - self.base, 0);
        }
    }

    /// Adds everything another sum holds, exactly.
    pub fn merge(&mut self, other: &ExactSum) {
        self.poison = self.poison.merge(other.poison);
        if other.limbs.is_empty() {
            return;
        }
        let normalized;
        let mut other = other;
        if u64::from(self.pending) + u64::from(other.pending) + 1 >= u64::from(MAX_PENDING) {
            self.normalize();
            let mut o = other.clone();
            o.normalize();
            normalized = o;
            other = &normalized;
        }
        self.cover(other.base, other.base + other.limbs.len());
        let off = other.base - self.base;
        for (k, &b) in other.limbs.iter().enumerate() {
            let Some(a) = self.limbs.get_mut(off + k) else {
                continue;
            };
            if other.base + k == TOP {
                match a.checked_add(b).filter(|&t| t != i64::MIN) {
                    Some(t) => *a = t,
                    None => self.poison = self.poison.merge(Poison::Beyond(b < 0)),
                }
            } else {
                *a += b;
            }
        }
        self.pending += other.pending + 1;
    }

    /// Propagates carries into the balanced form and drops zero chunks at
    /// either end: equal sums then have equal fields.
    fn normalize(&mut self) {
        self.pending = 0;
        let mut carry = 0i64;
        let mut k = 0;
        while k < self.limbs.len() || carry != 0 {
            if k == self.limbs.len() {
                self.limbs.push(0);
            }
            let Some(l) = self.limbs.get_mut(k) else {
                break;
            };
            if self.base + k == TOP {
                match l.checked_add(carry).filter(|&t| t != i64::MIN) {
                    Some(t) => *l = t,
                    None => {
                        let p = Poison::Beyond(carry < 0);
                        self.poison = self.poison.merge(p);
                    }
                }
                break;
            }
            let v = *l + carry;
            let r = ((v + HALF) & 0xffff_ffff) - HALF;
            *l = r;
            carry = (v - r) >> LIMB_BITS;
            k += 1;
        }
        while self.limbs.last() == Some(&0) {
            self.limbs.pop();
        }
        let zeros = self.limbs.iter().take_while(|&&l| l == 0).count();
        self.limbs.drain(..zeros);
        self.base = if self.limbs.is_empty() {
            0
        } else {
            self.base + zeros
        };
    }

    /// The sum with carries propagated, in dense form; the poison as an
    /// error.
    fn dense(&self) -> Result<Dense, SumOverflow> {
        let mut n = self.clone();
        n.normalize();
        if let Some(e) = n.poison_error() {
            return Err(e);
        }
        let mut d = Dense {
            low: [0; LOW_LIMBS],
            top: 0,
        };
        for (k, &l) in n.limbs.iter().enumerate() {
            match d.low.get_mut(n.base + k) {
                Some(c) => *c = l,
                None => d.top = l,
            }
        }
        if !d.normalize() {
            return Err(SumOverflow::Negative);
        }
        Ok(d)
    }

    /// The exact sum correctly rounded (to nearest, ties to even); an
    /// error when that is beyond the range of `f64` or a term was not
    /// finite. An exact zero is `+0.0`.
    pub fn value(&self) -> Result<f64, SumOverflow> {
        let mut m = self.dense()?;
        let negative = m.make_magnitude();
        let (overflow, sign) = if negative {
            (SumOverflow::Negative, -1.0)
        } else {
            (SumOverflow::Positive, 1.0)
        };
        let Some((hi, _)) = m.bit_range() else {
            return Ok(0.0);
        };
        if hi >= TOP_BIT {
            return Err(overflow);
        }
        if hi <= 52 {
            // At most 53 significant bits from 2^-1074 up: exact.
            let n = m.limb(0) | (m.limb(1) << 32);
            return Ok(sign * (n as f64 * f64::from_bits(1)));
        }
        // A window of the three chunks holding the top bit; below it, only
        // whether any bit is set matters.
        let h = i64::from(hi / LIMB_BITS);
        let window = (m.limb(h) << 64) | (m.limb(h - 1) << 32) | m.limb(h - 2);
        let sticky = (0..(h - 2).max(0)).any(|j| m.limb(j) != 0);
        let shift = hi - 52; // bits below the significand
        let wshift = (i64::from(shift) - 32 * (h - 2)) as u32; // 12..=43
        let mut sig = (window >> wshift) as u64;
        let rest = window & ((1u128 << wshift) - 1);
        let half = 1u128 << (wshift - 1);
        let mut biased = u64::from(shift) + 1;
        if rest > half || (rest == half && (sticky || sig & 1 == 1)) {
            sig += 1;
            if sig == 1 << 53 {
                sig >>= 1;
                biased += 1;
            }
        }
        if biased >= 0x7ff {
            return Err(overflow);
        }
        let v = f64::from_bits((biased << 52) | (sig & ((1 << 52) - 1)));
        Ok(sign * v)
    }

    fn poison_error(&self) -> Option<SumOverflow> {
        match self.poison {
            Poison::None => None,
            Poison::NotFinite => Some(SumOverflow::NotFinite),
            Poison::Beyond(true) => Some(SumOverflow::Negative),
            Poison::Beyond(false) => Some(SumOverflow::Positive),
        }
    }

    /// Reads back what `Display` wrote: `[-]0x<hex>p<exponent>` (the sum
    /// is the hexadecimal integer times two to the decimal exponent),
    /// `nan` (a term was not finite), `+inf` or `-inf` (beyond the
    /// accumulator's range). `None` for anything else, or for a sum that
    /// is not a multiple of `2^-1074` or reaches `2^1088` (more than
    /// `2^64` of the largest doubles).
    pub fn parse_exact(s: &str) -> Option<ExactSum> {
        let mut out = ExactSum::new();
        match s {
            "nan" => {
                out.poison = Poison::NotFinite;
                return Some(out);
            }
            "+inf" | "-inf" => {
                out.poison = Poison::Beyond(s.starts_with('-'));
                return Some(out);
            }
            _ => {}
        }
        let (negative, rest) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s),
        };
        let (digits, exp) = rest.strip_prefix("0x")?.split_once('p')?;
        if digits.is_empty() || digits.len() > 600 || exp.len() > 8 {
            return None;
        }
        if !exp.starts_with(['+', '-']) {
            return None;
        }
        let exp: i64 = exp.parse().ok()?;
        let mut chunks = [0i64; LOW_LIMBS + 1];
        for (k, d) in digits.bytes().rev().enumerate() {
            let d = char::from(d).to_digit(16)?;
            for b in 0..4 {
                if d >> b & 1 == 0 {
                    continue;
                }
                let q = 4 * k as i64 + b + exp + 1074;
                let q = u32::try_from(q).ok().filter(|&q| q < MAX_PARSED_BIT)?;
                if q >= TOP_BIT {
                    chunks[TOP] |= 1 << (q - TOP_BIT);
                } else {
                    chunks[(q / LIMB_BITS) as usize] |= 1 << (q % LIMB_BITS);
                }
            }
        }
        let sign = if negative { -1 } else { 1 };
        out.limbs = chunks.iter().map(|&c| sign * c).collect();
        out.normalize();
        Some(out)
    }
}

impl std::fmt::Display for ExactSum {
    /// The exact sum, for [`ExactSum::parse_exact`]: `[-]0x<hex>p<exp>`
    /// with an odd integer (or `0x0p+0`), or `nan`, `+inf`, `-inf`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = match self.dense() {
            Ok(m) => m,
            Err(SumOverflow::NotFinite) => return f.write_str("nan"),
            Err(SumOverflow::Positive) => return f.write_str("+inf"),
            Err(SumOverflow::Negative) => return f.write_str("-inf"),
        };
        let negative = m.make_magnitude();
        let Some((hi, lo)) = m.bit_range() else {
            return f.write_str("0x0p+0");
        };
        let mut hex = String::with_capacity(((hi - lo) / 4 + 3) as usize);
        if negative {
            hex.push('-');
        }
        hex.push_str("0x");
        let ndig = (hi - lo) / 4 + 1;
        for d in (0..ndig).rev() {
            let mut v = 0;
            for b in 0..4 {
                let q = lo + 4 * d + b;
                if q <= hi && m.bit(q) {
                    v |= 1 << b;
                }
            }
            hex.push(char::from_digit(v, 16).unwrap_or('0'));
        }
        write!(f, "{hex}p{:+}", i64::from(lo) - 1074)
    }
}

impl std::fmt::Debug for ExactSum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExactSum({self})")
    }
}

impl PartialEq for ExactSum {
    fn eq(&self, other: &ExactSum) -> bool {
        let (mut a, mut b) = (self.clone(), other.clone());
        a.normalize();
        b.normalize();
        a.poison == b.poison && a.base == b.base && a.limbs == b.limbs
    }
}

impl Extend<f64> for ExactSum {
    fn extend<I: IntoIterator<Item = f64>>(&mut self, iter: I) {
        for x in iter {
            self.add(x);
        }
    }
}

/// Python's `round(x, 2)`: the double nearest to `x` rounded to two
/// decimals, exact ties to even.
pub fn round2(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    // Rust's fixed-precision formatting rounds the exact binary value,
    // ties to even, as Python's dtoa does.
    format!("{x:.2}").parse().unwrap_or(x)
}

/// The answer of `accuracy_metrics`, with the Python original's key names.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct AccuracyMetrics {
    /// Records with `event == "nav"`.
    pub total_nav: u64,
    /// Records with `event == "validation_fail"`.
    pub validation_fail_count: u64,
    /// `round(100 * (total_nav - fails) / total_nav, 2)`, `100.0` without
    /// `nav` records; not clamped, as in the original (more failures than
    /// navigations give a negative value).
    pub accuracy_pct: f64,
}

/// The fold behind [`AccuracyMetrics`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Accuracy {
    total_nav: u64,
    fails: u64,
}

impl Accuracy {
    /// Counts one record of this event type.
    pub fn add(&mut self, event: Option<&str>) {
        match event {
            Some(types::NAV) => self.total_nav += 1,
            Some(types::VALIDATION_FAIL) => self.fails += 1,
            _ => {}
        }
    }

    /// The fold of `nav` navigations and `fails` validation failures.
    pub fn from_counts(nav: u64, fails: u64) -> Accuracy {
        Accuracy {
            total_nav: nav,
            fails,
        }
    }

    /// Counts `nav` navigations and `fails` validation failures at once.
    pub fn add_counts(&mut self, nav: u64, fails: u64) {
        self.total_nav += nav;
        self.fails += fails;
    }

    /// Adds another fold's counts.
    pub fn merge(&mut self, other: &Accuracy) {
        self.total_nav += other.total_nav;
        self.fails += other.fails;
    }

    /// The metrics, computed as the original does.
    pub fn finish(&self) -> AccuracyMetrics {
        let accuracy_pct = if self.total_nav == 0 {
            100.0
        } else {
            // (a - b) / a * 100.0 in the original's order of operations.
            let a = self.total_nav as f64;
            let b = self.fails as f64;
            round2((a - b) / a * 100.0)
        };
        AccuracyMetrics {
            total_nav: self.total_nav,
            validation_fail_count: self.fails,
            accuracy_pct,
        }
    }
}

/// How to group spend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupBy {
    /// UTC hour of `ts`, keyed `2026-11-27T05:00:00+00:00`.
    Hour,
    /// UTC day of `ts`, keyed `2026-11-27`.
    Day,
    /// ISO 8601 week of `ts` in UTC (weeks start on Monday; a week belongs
    /// to the year of its Thursday), keyed `2026-W01`: 2027-01-01 is in
    /// `2026-W53`, 2024-12-30 in `2025-W01`.
    Week,
    /// UTC month of `ts`, keyed `2026-02`.
    Month,
    /// `model`.
    Model,
    /// `session_id`.
    Session,
    /// The UTC hour, then the model: one group per pair (see
    /// [`SpendBy::pairs`]).
    HourModel,
    /// The UTC day, then the model.
    DayModel,
    /// The ISO week, then the model.
    WeekModel,
    /// The UTC month, then the model.
    MonthModel,
}

/// Separates the period from the model in a pair grouping's key; a
/// period's key never holds it.
const PAIR_SEP: char = '\0';
/// Follows [`PAIR_SEP`] when the record has a model (the key then ends
/// with the model, whatever bytes it holds): a pair without a model sorts
/// before the pairs with one.
const PAIR_MODEL: char = '=';

impl GroupBy {
    /// A pair grouping's two keys (the period, then [`GroupBy::Model`]);
    /// `None` for a single key.
    pub fn pair(self) -> Option<(GroupBy, GroupBy)> {
        let period = match self {
            GroupBy::HourModel => GroupBy::Hour,
            GroupBy::DayModel => GroupBy::Day,
            GroupBy::WeekModel => GroupBy::Week,
            GroupBy::MonthModel => GroupBy::Month,
            _ => return None,
        };
        Some((period, GroupBy::Model))
    }

    /// The pair grouping of a period and the model: `None` unless `first`
    /// is a period (hour, day, week, month) and `second` the model.
    pub fn paired(first: GroupBy, second: GroupBy) -> Option<GroupBy> {
        match (first, second) {
            (GroupBy::Hour, GroupBy::Model) => Some(GroupBy::HourModel),
            (GroupBy::Day, GroupBy::Model) => Some(GroupBy::DayModel),
            (GroupBy::Week, GroupBy::Model) => Some(GroupBy::WeekModel),
            (GroupBy::Month, GroupBy::Model) => Some(GroupBy::MonthModel),
            _ => None,
        }
    }

    /// The group of a record, `None` when it has no value for the key.
    pub fn key(
        self,
        ts: Option<Timestamp>,
        model: Option<&str>,
        session: Option<&str>,
    ) -> Option<String> {
        match self {
            GroupBy::Hour => ts.map(|t| t.floor_hour().to_python_string()),
            GroupBy::Day => ts.map(|t| {
                let (y, m, d, ..) = t.civil();
                format!("{y:04}-{m:02}-{d:02}")
            }),
            GroupBy::Week => ts
                .and_then(iso_week)
                .map(|(y, w)| format!("{y:04}-W{w:02}")),
            GroupBy::Month => ts.map(|t| {
                let (y, m, ..) = t.civil();
                format!("{y:04}-{m:02}")
            }),
            GroupBy::Model => model.map(str::to_owned),
            GroupBy::Session => session.map(str::to_owned),
            GroupBy::HourModel | GroupBy::DayModel | GroupBy::WeekModel | GroupBy::MonthModel => {
                let (period, _) = self.pair()?;
                let mut k = period.key(ts, None, None).unwrap_or_default();
                k.push(PAIR_SEP);
                if let Some(m) = model {
                    k.push(PAIR_MODEL);
                    k.push_str(m);
                }
                Some(k)
            }
        }
    }
}

/// A pair grouping's key split back: (period, model).
fn split_pair(key: Option<&str>) -> (Option<&str>, Option<&str>) {
    let Some((period, model)) = key.and_then(|k| k.split_once(PAIR_SEP)) else {
        return (None, None);
    };
    let period = Some(period).filter(|p| !p.is_empty());
    (period, model.strip_prefix(PAIR_MODEL))
}

/// The ISO 8601 week of an instant in UTC: (ISO year, week `1..=53`).
/// The week runs Monday to Sunday and belongs to the year of its
/// Thursday. `None` only if that Thursday is outside the years 1 to 9999
/// (never: 0001-01-01 is a Monday and 9999-12-31 a Friday).
pub fn iso_week(t: Timestamp) -> Option<(i32, u32)> {
    let days = t.unix_secs().div_euclid(86_400);
    // 1970-01-01 was a Thursday: Monday is 0.
    let weekday = (days + 3).rem_euclid(7);
    let thursday = days - weekday + 3;
    let (year, ..) = Timestamp::from_unix(thursday * 86_400, 0)?.civil();
    let jan1 = Timestamp::from_date(year, 1, 1)?.unix_secs() / 86_400;
    let week = u32::try_from((thursday - jan1) / 7 + 1).ok()?;
    Some((year, week))
}

/// Records and cost in one group.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpendGroup {
    /// Records in the group.
    pub records: u64,
    /// Their exact cost sum (a missing cost counts 0).
    pub cost: ExactSum,
    /// Sum of `input_t`.
    pub input_t: u64,
    /// Sum of `output_t`.
    pub output_t: u64,
}

/// Spend grouped by a key, groups in key order (`None`, records without a
/// value for the key, first).
#[derive(Clone, Debug, PartialEq)]
pub struct SpendBy {
    /// `None`: everything in one group, keyed `None`.
    by: Option<GroupBy>,
    groups: BTreeMap<Option<String>, SpendGroup>,
}

impl SpendBy {
    /// An empty fold for this grouping.
    pub fn new(by: GroupBy) -> SpendBy {
        SpendBy {
            by: Some(by),
            groups: BTreeMap::new(),
        }
    }

    /// An empty fold with a single group (key `None`).
    pub fn ungrouped() -> SpendBy {
        SpendBy {
            by: None,
            groups: BTreeMap::new(),
        }
    }

    /// Adds one record.
    pub fn add(&mut self, r: &Record) {
        self.add_parts(
            r.ts(),
            r.model(),
            r.session_id(),
            r.cost(),
            r.input_t(),
            r.output_t(),
        );
    }

    /// Adds one record given by its typed fields: the one definition, for
    /// parsers that do not build a [`Record`].
    pub fn add_parts(
        &mut self,
        ts: Option<Timestamp>,
        model: Option<&str>,
        session: Option<&str>,
        cost: Option<f64>,
        input_t: Option<u64>,
        output_t: Option<u64>,
    ) {
        let key = self.by.and_then(|b| b.key(ts, model, session));
        let g = self.groups.entry(key).or_default();
        g.records += 1;
        if let Some(c) = cost {
            g.cost.add(c);
        }
        g.input_t = g.input_t.saturating_add(input_t.unwrap_or(0));
        g.output_t = g.output_t.saturating_add(output_t.unwrap_or(0));
    }

    /// Records over all groups.
    pub fn records(&self) -> u64 {
        self.groups.values().map(|g| g.records).sum()
    }

    /// Adds a whole group at once (from a summary such as an archive
    /// index): the same as adding its records one by one.
    pub fn add_group(&mut self, key: Option<String>, group: &SpendGroup) {
        let mine = self.groups.entry(key).or_default();
        mine.records += group.records;
        mine.cost.merge(&group.cost);
        mine.input_t = mine.input_t.saturating_add(group.input_t);
        mine.output_t = mine.output_t.saturating_add(group.output_t);
    }

    /// The grouping (`None`: one group).
    pub fn by(&self) -> Option<GroupBy> {
        self.by
    }

    /// Adds another fold of the same grouping.
    pub fn merge(&mut self, other: &SpendBy) {
        for (k, g) in &other.groups {
            self.add_group(k.clone(), g);
        }
    }

    /// The groups in key order. A pair grouping's keys are opaque here:
    /// read them with [`SpendBy::pairs`].
    pub fn groups(&self) -> impl Iterator<Item = (Option<&str>, &SpendGroup)> {
        self.groups.iter().map(|(k, g)| (k.as_deref(), g))
    }

    /// A pair grouping's groups as (period, model, group), in the order of
    /// the period (`None`, records without `ts`, first), then the model
    /// (`None` first); for a single key, (key, `None`, group).
    pub fn pairs(&self) -> impl Iterator<Item = (Option<&str>, Option<&str>, &SpendGroup)> {
        let paired = self.by.and_then(GroupBy::pair).is_some();
        self.groups().map(move |(k, g)| {
            if paired {
                let (p, m) = split_pair(k);
                (p, m, g)
            } else {
                (k, None, g)
            }
        })
    }

    /// The exact total over all groups, correctly rounded; an error when
    /// it is beyond the range of `f64` (see [`ExactSum::value`]).
    pub fn total(&self) -> Result<f64, SumOverflow> {
        let mut s = ExactSum::new();
        for g in self.groups.values() {
            s.merge(&g.cost);
        }
        s.value()
    }
}

/// One session's figures (`sessions`): its time span, records, exact
/// cost, tokens, models and navigation accuracy.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionGroup {
    /// The earliest `ts` (records without one do not count).
    pub first_ts: Option<Timestamp>,
    /// The latest `ts`.
    pub last_ts: Option<Timestamp>,
    /// Records of the session.
    pub records: u64,
    /// Their exact cost sum (a missing cost counts 0).
    pub cost: ExactSum,
    /// Sum of `input_t`.
    pub input_t: u64,
    /// Sum of `output_t`.
    pub output_t: u64,
    /// The distinct `model`s, in name order.
    pub models: BTreeSet<String>,
    /// `nav` against `validation_fail`, as `accuracy` counts them.
    pub accuracy: Accuracy,
}

impl SessionGroup {
    /// Adds another fold of the same session.
    pub fn merge(&mut self, o: &SessionGroup) {
        self.first_ts = match (self.first_ts, o.first_ts) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_ts = self.last_ts.max(o.last_ts);
        self.records += o.records;
        self.cost.merge(&o.cost);
        self.input_t = self.input_t.saturating_add(o.input_t);
        self.output_t = self.output_t.saturating_add(o.output_t);
        self.models.extend(o.models.iter().cloned());
        self.accuracy.merge(&o.accuracy);
    }

    /// `last_ts - first_ts` (zero without a `ts`).
    pub fn duration(&self) -> Duration {
        match (self.first_ts, self.last_ts) {
            (Some(a), Some(b)) => b.duration_since(a),
            _ => Duration::ZERO,
        }
    }
}

/// Figures per `session_id` (records without one are the session
/// `None`): a mergeable fold, so every engine gives the same answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sessions {
    groups: BTreeMap<Option<String>, SessionGroup>,
}

impl Sessions {
    /// Adds one record.
    pub fn add(&mut self, r: &Record) {
        let cost = r.cost();
        let tokens = (r.input_t(), r.output_t());
        self.add_parts(r.ts(), r.session_id(), r.model(), r.event(), cost, tokens);
    }

    /// Adds one record given by its typed fields (`tokens`: `input_t`,
    /// `output_t`).
    pub fn add_parts(
        &mut self,
        ts: Option<Timestamp>,
        session: Option<&str>,
        model: Option<&str>,
        event: Option<&str>,
        cost: Option<f64>,
        tokens: (Option<u64>, Option<u64>),
    ) {
        let g = match self.groups.get_mut(&session.map(str::to_owned)) {
            Some(g) => g,
            None => self.groups.entry(session.map(str::to_owned)).or_default(),
        };
        if let Some(t) = ts {
            g.first_ts = Some(g.first_ts.map_or(t, |f| f.min(t)));
            g.last_ts = Some(g.last_ts.map_or(t, |l| l.max(t)));
        }
        g.records += 1;
        if let Some(c) = cost {
            g.cost.add(c);
        }
        g.input_t = g.input_t.saturating_add(tokens.0.unwrap_or(0));
        g.output_t = g.output_t.saturating_add(tokens.1.unwrap_or(0));
        if let Some(m) = model
            && !g.models.contains(m)
        {
            g.models.insert(m.to_owned());
        }
        g.accuracy.add(event);
    }

    /// Adds another fold.
    pub fn merge(&mut self, other: &Sessions) {
        for (k, g) in &other.groups {
            self.groups.entry(k.clone()).or_default().merge(g);
        }
    }

    /// Sessions in id order (`None` first).
    pub fn groups(&self) -> impl Iterator<Item = (Option<&str>, &SessionGroup)> {
        self.groups.iter().map(|(k, g)| (k.as_deref(), g))
    }

    /// Sessions by cost, highest first, ties by session id (`None`
    /// first); a cost beyond the doubles sorts as infinite (of its sign),
    /// a non-finite one last.
    pub fn by_cost(&self) -> Vec<(Option<&str>, &SessionGroup)> {
        let key = |g: &SessionGroup| match g.cost.value() {
            Ok(x) => x,
            Err(SumOverflow::Positive) => f64::INFINITY,
            Err(SumOverflow::Negative) => f64::NEG_INFINITY,
            Err(SumOverflow::NotFinite) => f64::NAN,
        };
        let mut v: Vec<_> = self.groups().map(|(k, g)| (k, g, key(g))).collect();
        v.sort_by(|a, b| {
            let nan = a.2.is_nan().cmp(&b.2.is_nan());
            nan.then(b.2.total_cmp(&a.2)).then(a.0.cmp(&b.0))
        });
        v.into_iter().map(|(k, g, _)| (k, g)).collect()
    }

    /// Sessions counted.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether no record was counted.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

/// Records per event type, in name order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventCounts {
    counts: BTreeMap<String, u64>,
    /// Records whose `event` is missing or not a string.
    pub untyped: u64,
}

impl EventCounts {
    /// Counts one record.
    pub fn add(&mut self, event: Option<&str>) {
        self.add_n(event, 1);
    }

    /// Counts `n` records of one event type.
    pub fn add_n(&mut self, event: Option<&str>, n: u64) {
        match event {
            Some(e) => match self.counts.get_mut(e) {
                Some(c) => *c += n,
                None => {
                    self.counts.insert(e.to_owned(), n);
                }
            },
            None => self.untyped += n,
        }
    }

    /// Adds another fold.
    pub fn merge(&mut self, other: &EventCounts) {
        for (k, n) in &other.counts {
            *self.counts.entry(k.clone()).or_default() += n;
        }
        self.untyped += other.untyped;
    }

    /// `(event, count)` in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.counts.iter().map(|(k, n)| (k.as_str(), *n))
    }

    /// The count of one event type.
    pub fn get(&self, event: &str) -> u64 {
        self.counts.get(event).copied().unwrap_or(0)
    }

    /// All records counted.
    pub fn total(&self) -> u64 {
        self.counts.values().sum::<u64>() + self.untyped
    }
}

/// The last `n` items pushed, oldest first.
#[derive(Clone, Debug)]
pub struct LastN<T> {
    n: usize,
    /// At most `n` items, oldest at the front.
    items: VecDeque<T>,
}

impl<T> LastN<T> {
    /// Keeps the last `n` items (`n == 0` keeps none).
    pub fn new(n: usize) -> LastN<T> {
        LastN {
            n,
            items: VecDeque::with_capacity(n.min(4096)),
        }
    }

    /// Pushes one item, dropping the oldest when full.
    pub fn push(&mut self, item: T) {
        if self.n == 0 {
            return;
        }
        if self.items.len() == self.n {
            self.items.pop_front();
        }
        self.items.push_back(item);
    }

    /// The items, oldest first.
    pub fn into_vec(self) -> Vec<T> {
        self.items.into()
    }
}

/// How often each file appears in the `files` of records ("top files").
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FileCounts {
    counts: BTreeMap<String, u64>,
}

impl FileCounts {
    /// Counts the files of one record (each occurrence counts).
    pub fn add<'a>(&mut self, files: impl IntoIterator<Item = &'a str>) {
        for f in files {
            match self.counts.get_mut(f) {
                Some(n) => *n += 1,
                None => {
                    self.counts.insert(f.to_owned(), 1);
                }
            }
        }
    }

    /// Adds another fold.
    pub fn merge(&mut self, other: &FileCounts) {
        for (k, n) in &other.counts {
            *self.counts.entry(k.clone()).or_default() += n;
        }
    }

    /// The `k` most frequent files, most frequent first, ties in name order.
    pub fn top(&self, k: usize) -> Vec<(&str, u64)> {
        let mut v: Vec<(&str, u64)> = self.counts.iter().map(|(f, n)| (f.as_str(), *n)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v.truncate(k);
        v
    }

    /// Distinct files counted.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether no file was counted.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

/// `hourly_spend(hours)`: the exact sum of `cost` over records with
/// `ts >= now - hours`; `0.0` when `hours <= 0`; a missing cost counts 0.
/// An error when the sum is beyond the range of `f64`.
pub fn hourly_spend<'a>(
    records: impl IntoIterator<Item = &'a Record>,
    now: Timestamp,
    hours: f64,
) -> Result<f64, SumOverflow> {
    let Some(cutoff) = spend_cutoff(now, hours) else {
        return Ok(0.0);
    };
    let mut sum = ExactSum::new();
    for r in records {
        if r.ts().is_some_and(|t| t >= cutoff) {
            sum.add(r.cost().unwrap_or(0.0));
        }
    }
    sum.value()
}

/// The `since` of `hourly_spend(hours)` at `now`; `None` when `hours <= 0`
/// (or is not a number), which means the answer is `0.0`.
pub fn spend_cutoff(now: Timestamp, hours: f64) -> Option<Timestamp> {
    if hours.is_nan() || hours <= 0.0 {
        return None;
    }
    let secs = hours * 3600.0;
    let d = Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX);
    Some(now.saturating_sub(d))
}

/// `last_events(n, event_type)`: the last `n` records of that type (any
/// type when `None`), oldest first.
pub fn last_events(
    records: impl IntoIterator<Item = Record>,
    n: usize,
    event_type: Option<&str>,
) -> Vec<Record> {
    let mut last = LastN::new(n);
    for r in records {
        if event_type.is_none_or(|e| r.event() == Some(e)) {
            last.push(r);
        }
    }
    last.into_vec()
}

/// `accuracy_metrics(since)` over records with `ts >= since` (all records
/// when `since` is `None`).
pub fn accuracy_metrics<'a>(
    records: impl IntoIterator<Item = &'a Record>,
    since: Option<Timestamp>,
) -> AccuracyMetrics {
    let mut acc = Accuracy::default();
    for r in records {
        if since.is_none_or(|s| r.ts().is_some_and(|t| t >= s)) {
            acc.add(r.event());
        }
    }
    acc.finish()
}

/// A break in `seq` met by [`SeqTracker::observe`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqBreak {
    /// A problem: the seq that was expected instead (a gap, a repeat or a
    /// step back in one writer's records).
    Gap(u64),
    /// Not a problem: an unstamped record of a session that several
    /// writers used (its unstamped records repeated or stepped back their
    /// seq: records of an explicit session id written before writers
    /// stamped them), with the seq that was expected.
    Shared(u64),
}

/// The `seq` each writer is expected to continue with, in log order: what
/// `verify` checks on every backend. A writer's records are those of one
/// session with one `writer` stamp (or none): each continues its own seq.
#[derive(Clone, Debug, Default)]
pub struct SeqTracker {
    next: HashMap<(String, Option<String>), u64>,
    /// Sessions whose unstamped records show several writers.
    shared: std::collections::HashSet<String>,
    sessions: std::collections::HashSet<String>,
}

impl SeqTracker {
    /// Records `seq` of `session` written by `writer` (the record's stamp);
    /// the break, when this seq is not the next one of that writer. A
    /// writer's first seq is taken as it is.
    pub fn observe(&mut self, session: &str, writer: Option<&str>, seq: u64) -> Option<SeqBreak> {
        if !self.sessions.contains(session) {
            self.sessions.insert(session.to_owned());
        }
        let key = (session.to_owned(), writer.map(str::to_owned));
        let expected = match self.next.get_mut(&key) {
            None => {
                self.next.insert(key, seq.saturating_add(1));
                return None;
            }
            Some(e) => e,
        };
        let want = *expected;
        *expected = seq.saturating_add(1);
        if seq == want {
            return None;
        }
        if writer.is_none() && (seq < want || self.shared.contains(session)) {
            self.shared.insert(session.to_owned());
            return Some(SeqBreak::Shared(want));
        }
        Some(SeqBreak::Gap(want))
    }

    /// Records that `session`'s `writer`, already observed, continued
    /// without a break up to `last`: as observing every seq after the one
    /// it expects through `last`, in one step (a parallel reader's run of
    /// consecutive seqs).
    pub fn continue_to(&mut self, session: &str, writer: Option<&str>, last: u64) {
        if let Some(n) = self
            .next
            .get_mut(&(session.to_owned(), writer.map(str::to_owned)))
        {
            *n = last.saturating_add(1);
        }
    }

    /// Sessions seen.
    pub fn sessions(&self) -> u64 {
        self.sessions.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Decoded, decode_line};
    use proptest::prelude::*;

    fn rec(s: &str) -> Record {
        match decode_line(s.as_bytes()) {
            Decoded::Record(r) => r,
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn seq_tracker_reports_what_was_expected() {
        let mut t = SeqTracker::default();
        let w = Some("00000000000000aa");
        assert_eq!(t.observe("a", w, 5), None, "a first seq is taken as it is");
        assert_eq!(t.observe("a", w, 6), None);
        assert_eq!(t.observe("b", w, 0), None);
        assert_eq!(t.observe("a", w, 8), Some(SeqBreak::Gap(7)), "gap");
        assert_eq!(t.observe("a", w, 9), None, "continues after the gap");
        assert_eq!(t.observe("a", w, 9), Some(SeqBreak::Gap(10)), "repeat");
        assert_eq!(t.observe("b", w, 1), None);
        assert_eq!(t.sessions(), 2);
    }

    #[test]
    fn seq_tracker_checks_each_writer_of_a_session() {
        let mut t = SeqTracker::default();
        // Three processes logged under session X: each starts at 0.
        for w in ["w1", "w2", "w3"] {
            assert_eq!(t.observe("X", Some(w), 0), None);
        }
        assert_eq!(t.observe("X", Some("w2"), 1), None);
        assert_eq!(t.observe("X", Some("w1"), 2), Some(SeqBreak::Gap(1)));
        // Unstamped records (an old store) of a session several writers
        // used: a note from the first step back on, not a problem.
        assert_eq!(t.observe("old", None, 0), None);
        assert_eq!(t.observe("old", None, 1), None);
        assert_eq!(t.observe("old", None, 3), Some(SeqBreak::Gap(2)));
        assert_eq!(t.observe("old", None, 0), Some(SeqBreak::Shared(4)));
        assert_eq!(t.observe("old", None, 2), Some(SeqBreak::Shared(1)));
        assert_eq!(t.sessions(), 2);
    }

    /// The exact sum of `xs` correctly rounded, computed independently:
    /// big integers in units of `2^-1074`, written in decimal and parsed
    /// by the standard library (whose parsing is correctly rounded).
    /// `Err` on overflow, with its sign.
    fn reference(xs: &[f64]) -> Result<f64, SumOverflow> {
        fn add_mag(a: &mut Vec<u64>, b: &[u64]) {
            if a.len() < b.len() {
                a.resize(b.len(), 0);
            }
            let mut carry = 0;
            for (i, x) in a.iter_mut().enumerate() {
                let v = *x + b.get(i).copied().unwrap_or(0) + carry;
                *x = v & 0xffff_ffff;
                carry = v >> 32;
            }
            if carry > 0 {
                a.push(carry);
            }
        }
        fn trim(a: &mut Vec<u64>) {
            while a.last() == Some(&0) {
                a.pop();
            }
        }
        fn less(a: &[u64], b: &[u64]) -> bool {
            (a.len(), a.iter().rev().collect::<Vec<_>>()) < (b.len(), b.iter().rev().collect())
        }
        fn sub_mag(a: &[u64], b: &[u64]) -> Vec<u64> {
            let mut out = Vec::new();
            let mut borrow = 0i64;
            for (i, &x) in a.iter().enumerate() {
                let v = x as i64 - b.get(i).copied().unwrap_or(0) as i64 - borrow;
                out.push(v.rem_euclid(1 << 32) as u64);
                borrow = i64::from(v < 0);
            }
            out
        }
        let (mut pos, mut neg) = (Vec::new(), Vec::new());
        for &x in xs {
            assert!(x.is_finite());
            let bits = x.to_bits();
            let e = (bits >> 52) & 0x7ff;
            let f = bits & ((1 << 52) - 1);
            let (m, p) = if e == 0 { (f, 0) } else { (f | 1 << 52, e - 1) };
            // m << p as 32-bit limbs.
            let mut t = vec![0u64; (p / 32) as usize];
            let v = u128::from(m) << (p % 32);
            t.extend([
                v as u64 & 0xffff_ffff,
                (v >> 32) as u64 & 0xffff_ffff,
                (v >> 64) as u64,
            ]);
            add_mag(if x < 0.0 { &mut neg } else { &mut pos }, &t);
        }
        trim(&mut pos);
        trim(&mut neg);
        let (mut mag, negative) = if less(&pos, &neg) {
            (sub_mag(&neg, &pos), true)
        } else {
            (sub_mag(&pos, &neg), false)
        };
        trim(&mut mag);
        // mag * 5^1074 / 10^1074 in decimal.
        for _ in 0..1074 {
            let mut carry = 0;
            for x in mag.iter_mut() {
                let v = *x * 5 + carry;
                *x = v & 0xffff_ffff;
                carry = v >> 32;
            }
            if carry > 0 {
                mag.push(carry);
            }
        }
        let mut chunks = Vec::new();
        while !mag.is_empty() {
            let mut rem = 0;
            for x in mag.iter_mut().rev() {
                let v = (rem << 32) | *x;
                *x = v / 1_000_000_000;
                rem = v % 1_000_000_000;
            }
            chunks.push(rem);
            trim(&mut mag);
        }
        let mut digits: String = chunks.iter().rev().map(|c| format!("{c:09}")).collect();
        if digits.len() <= 1074 {
            digits = "0".repeat(1075 - digits.len()) + &digits;
        }
        let (int, frac) = digits.split_at(digits.len() - 1074);
        let v: f64 = format!("{int}.{frac}").parse().unwrap();
        match (v.is_finite(), negative) {
            (true, false) => Ok(v),
            (true, true) => Ok(-v),
            (false, false) => Err(SumOverflow::Positive),
            (false, true) => Err(SumOverflow::Negative),
        }
    }

    fn sum(xs: &[f64]) -> ExactSum {
        let mut s = ExactSum::new();
        s.extend(xs.iter().copied());
        s
    }

    fn bits(r: Result<f64, SumOverflow>) -> Result<u64, SumOverflow> {
        r.map(f64::to_bits)
    }

    #[test]
    fn exact_sum_is_exact() {
        let cases: &[(&[f64], Result<f64, SumOverflow>)] = &[
            (&[0.1; 10], Ok(1.0)),
            (&[1e100, 1.0, -1e100, 1e-100], Ok(1.0)),
            // Python: math.fsum([1e-16, 1, 1e16]) == 1.0000000000000002e16
            (&[1e-16, 1.0, 1e16], Ok(1.0000000000000002e16)),
            (&[], Ok(0.0)),
            // Finding 2: the old sum kept an infinite partial and said 0.
            (
                &[100.0, 200.0, 1e308, 1e308, 300.0],
                Err(SumOverflow::Positive),
            ),
            (
                &[100.0, 1.797e308, 1.797e308, -1.797e308, 50.0],
                Ok(1.797e308),
            ),
            (&[-1e308, -1e308, 5.0], Err(SumOverflow::Negative)),
            (&[1e308, 1e308, -1e308, -1e308, 0.5], Ok(0.5)),
            (&[f64::MAX, f64::MAX, -f64::MAX], Ok(f64::MAX)),
            // Half an ulp above MAX is a tie that rounds up (MAX is odd).
            (&[f64::MAX, 2f64.powi(970)], Err(SumOverflow::Positive)),
            (&[f64::MAX, 2f64.powi(969)], Ok(f64::MAX)),
            (&[f64::MAX, 2f64.powi(970), -5e-324], Ok(f64::MAX)),
            // Ties to even, and a sticky bit far below breaks the tie.
            (&[1.0, 2f64.powi(-53)], Ok(1.0)),
            (&[1.0, 2f64.powi(-53), 5e-324], Ok(1.0 + 2f64.powi(-52))),
            (
                &[1.0 + 2f64.powi(-52), 2f64.powi(-53)],
                Ok(1.0 + 2f64.powi(-51)),
            ),
            (&[5e-324, 5e-324, 5e-324], Ok(1.5e-323)),
            (
                &[f64::MIN_POSITIVE, -5e-324],
                Ok(f64::MIN_POSITIVE - 5e-324),
            ),
            (&[2f64.powi(60), 1.0, -2f64.powi(60)], Ok(1.0)),
        ];
        for (xs, want) in cases {
            let got = sum(xs).value();
            assert_eq!(bits(got), bits(*want), "{xs:?}");
            assert_eq!(bits(reference(xs)), bits(*want), "reference {xs:?}");
        }
        // An exact zero is +0.0, as math.fsum([-0.0]).
        for xs in [
            &[-0.0][..],
            &[5e-324, -5e-324],
            &[-1e308, 1e308],
            &[-0.0, -0.0],
        ] {
            assert_eq!(sum(xs).value().map(f64::to_bits), Ok(0), "{xs:?}");
        }
        assert_eq!(sum(&[-0.0]), ExactSum::new());
        // Non-finite terms never vanish.
        for xs in [
            &[f64::NAN, 2.5][..],
            &[2.5, f64::INFINITY],
            &[f64::NEG_INFINITY],
        ] {
            assert_eq!(sum(xs).value(), Err(SumOverflow::NotFinite), "{xs:?}");
        }
        let mut s = sum(&[f64::INFINITY]);
        s.merge(&sum(&[1.0]));
        assert_eq!(s.value(), Err(SumOverflow::NotFinite));
        let mut t = sum(&[1.0]);
        t.merge(&s);
        assert_eq!(t.value(), Err(SumOverflow::NotFinite));
    }

    #[test]
    fn exact_sum_displays_and_parses_exactly() {
        for (xs, text) in [
            (&[][..], "0x0p+0"),
            (&[0.75], "0x3p-2"),
            (&[-1.0], "-0x1p+0"),
            (&[5e-324], "0x1p-1074"),
            (&[1e308, 1e308], "0x8e679c2f5e45p+977"),
            (&[f64::INFINITY], "nan"),
        ] {
            let s = sum(xs);
            assert_eq!(s.to_string(), text, "{xs:?}");
            assert_eq!(ExactSum::parse_exact(text), Some(s), "{text}");
        }
        // Sums beyond the doubles, and continued: two 1e308, then -1e308.
        let mut s = ExactSum::parse_exact(&sum(&[1e308, 1e308]).to_string()).unwrap();
        assert_eq!(s.value(), Err(SumOverflow::Positive));
        s.add(-1e308);
        assert_eq!(s.value(), Ok(1e308));
        for bad in [
            "",
            "0x",
            "0xp+0",
            "1p+0",
            "0x1",
            "0x1p0",
            "0x1p+",
            "0xgp+0",
            "+0x1p+0",
            "0x1p-1075",
            "0x3p-1075",
            "0x1p+1088",
            "--0x1p+0",
            "inf",
            " 0x1p+0",
        ] {
            assert_eq!(ExactSum::parse_exact(bad), None, "{bad:?}");
        }
        assert_eq!(ExactSum::parse_exact("0x2p-1075"), Some(sum(&[5e-324])));
        assert!(ExactSum::parse_exact(&format!("0x{}p+0", "f".repeat(601))).is_none());
        // The largest sum parsed, doubled until it leaves the accumulator.
        let mut big = ExactSum::parse_exact("0x1p+1087").unwrap();
        assert_eq!(big.value(), Err(SumOverflow::Positive));
        for _ in 0..14 {
            big.merge(&big.clone());
        }
        assert_eq!(big.to_string(), "+inf");
        big.add(-f64::MAX);
        assert_eq!(
            big.value(),
            Err(SumOverflow::Positive),
            "stays out of range"
        );
        let neg = ExactSum::parse_exact("-inf").unwrap();
        assert_eq!(
            (neg.value(), neg.to_string()),
            (Err(SumOverflow::Negative), "-inf".into())
        );
    }

    #[test]
    fn exact_sum_propagates_carries_when_due() {
        let xs = [f64::MAX, 3.5, -1e300, 5e-324, f64::MAX, -7.25];
        let want = sum(&xs);
        let mut s = ExactSum::new();
        s.pending = MAX_PENDING - 3;
        s.extend(xs);
        assert!(s.pending < 4, "carries were propagated");
        assert_eq!(s, want);
        let mut a = sum(&xs[..3]);
        a.pending = MAX_PENDING - 1;
        let mut b = sum(&xs[3..]);
        b.pending = MAX_PENDING - 1;
        a.merge(&b);
        assert_eq!(a.pending, 1);
        assert_eq!(a, want);
        assert_eq!(bits(a.value()), bits(reference(&xs)));
    }

    #[test]
    fn exact_sum_keeps_only_the_chunks_in_use() {
        // Everyday costs: a few chunks, whatever the sign, once normalized.
        for xs in [&[0.012, 1.5, 0.25][..], &[-0.012, -1.5, 0.25], &[-3.0]] {
            let mut s = sum(xs);
            s.normalize();
            assert!(s.limbs.len() <= 3, "{xs:?}: {:?}", s.limbs);
            assert_eq!(bits(s.value()), bits(reference(xs)));
        }
        let mut s = sum(&[1e308, 5e-324, -1e308, -5e-324]);
        assert!(s.limbs.len() > 60, "the range in use");
        s.normalize();
        assert_eq!((s.limbs.len(), s.base), (0, 0), "zero holds nothing");
        assert_eq!(s, ExactSum::new());
    }

    fn term() -> impl Strategy<Value = f64> {
        use proptest::num::f64 as f;
        prop_oneof![
            4 => -1e6f64..1e6,
            2 => f::POSITIVE | f::NEGATIVE | f::NORMAL | f::SUBNORMAL | f::ZERO,
            1 => prop_oneof![
                Just(f64::MAX), Just(-f64::MAX), Just(1e308), Just(-1e308),
                Just(1.797e308), Just(-1.797e308), Just(5e-324), Just(-5e-324),
                Just(f64::MIN_POSITIVE), Just(-0.0),
            ],
        ]
    }

    proptest! {
        #[test]
        fn exact_sum_matches_the_reference(xs in proptest::collection::vec(term(), 0..40)) {
            prop_assert_eq!(bits(sum(&xs).value()), bits(reference(&xs)));
        }

        #[test]
        fn exact_sum_ignores_order_and_splits(
            xs in proptest::collection::vec(term(), 0..120),
            cuts in (0usize..120, 0usize..120),
            rot in 0usize..120,
        ) {
            let whole = sum(&xs);
            let mut rev: Vec<f64> = xs.iter().rev().copied().collect();
            let r = rot % xs.len().max(1);
            rev.rotate_left(r);
            let (i, j) = (cuts.0.min(xs.len()), cuts.1.min(xs.len()));
            let (i, j) = (i.min(j), i.max(j));
            // Three chunks merged in another order, one through its text.
            let mut b = sum(&xs[i..j]);
            b.merge(&ExactSum::parse_exact(&sum(&xs[j..]).to_string()).unwrap());
            b.merge(&sum(&xs[..i]));
            prop_assert_eq!(&whole, &sum(&rev));
            prop_assert_eq!(&whole, &b);
            prop_assert_eq!(bits(whole.value()), bits(sum(&rev).value()));
            prop_assert_eq!(bits(whole.value()), bits(b.value()));
            prop_assert_eq!(ExactSum::parse_exact(&whole.to_string()), Some(whole));
        }
    }

    #[test]
    fn round2_matches_python() {
        for (x, want) in [
            (0.125, 0.12),
            (0.375, 0.38),
            (2.675, 2.67),
            (1.005, 1.0),
            (66.665, 66.67),
            (99.995, 100.0),
            (-12.345, -12.35),
        ] {
            assert_eq!(round2(x), want, "{x}");
        }
    }

    #[test]
    fn accuracy_as_the_original() {
        let mut a = Accuracy::default();
        assert_eq!(a.finish().accuracy_pct, 100.0);
        a.add(Some("validation_fail"));
        assert_eq!(
            a.finish(),
            AccuracyMetrics {
                total_nav: 0,
                validation_fail_count: 1,
                accuracy_pct: 100.0
            }
        );
        for _ in 0..3 {
            a.add(Some("nav"));
        }
        a.add(Some("brief"));
        a.add(None);
        // (3 - 1) / 3 * 100 = 66.666.. -> 66.67
        assert_eq!(a.finish().accuracy_pct, 66.67);
        let mut b = Accuracy::default();
        for _ in 0..5 {
            b.add(Some("validation_fail"));
        }
        b.merge(&a);
        // Not clamped: (3 - 6) / 3 * 100 = -100.
        assert_eq!(b.finish().accuracy_pct, -100.0);
    }

    #[test]
    fn python_api_semantics() {
        let recs: Vec<Record> = [
            r#"{"ts":"2026-01-01T09:00:00+00:00","event":"nav","cost":1.5}"#,
            r#"{"ts":"2026-01-01T10:00:00+00:00","event":"nav","cost":0.25}"#,
            r#"{"ts":"2026-01-01T10:30:00+00:00","event":"brief"}"#,
            r#"{"ts":"2026-01-01T10:45:00+00:00","event":"validation_fail","cost":null}"#,
            r#"{"ts":"bad","event":"nav","cost":100}"#,
        ]
        .into_iter()
        .map(rec)
        .collect();
        let now = Timestamp::parse("2026-01-01T11:00:00Z").unwrap();
        assert_eq!(hourly_spend(&recs, now, 1.0), Ok(0.25));
        assert_eq!(hourly_spend(&recs, now, 2.0), Ok(1.75));
        assert_eq!(hourly_spend(&recs, now, 0.0), Ok(0.0));
        assert_eq!(hourly_spend(&recs, now, -3.0), Ok(0.0));
        let last = last_events(recs.clone(), 2, Some("nav"));
        assert_eq!(last.len(), 2);
        assert_eq!(last[0].ts(), Timestamp::parse("2026-01-01T10:00:00Z").ok());
        assert_eq!(last[1].ts(), None);
        assert_eq!(last_events(recs.clone(), 0, None), vec![]);
        assert_eq!(last_events(recs.clone(), 100, None).len(), 5);
        let m = accuracy_metrics(&recs, Timestamp::parse("2026-01-01T09:30:00Z").ok());
        assert_eq!(
            (m.total_nav, m.validation_fail_count, m.accuracy_pct),
            (1, 1, 0.0)
        );
        let m = accuracy_metrics(&recs, None);
        assert_eq!((m.total_nav, m.validation_fail_count), (3, 1));
    }

    #[test]
    fn spend_by_groups() {
        let recs: Vec<Record> = [
            r#"{"ts":"2026-01-01T09:10:00+00:00","model":"a","cost":1.0,"input_t":3}"#,
            r#"{"ts":"2026-01-01T09:50:00+00:00","model":"b","cost":2.0,"output_t":4}"#,
            r#"{"ts":"2026-01-02T00:00:00+00:00","model":"a","cost":4.0}"#,
            r#"{"event":"x","cost":8.0}"#,
        ]
        .into_iter()
        .map(rec)
        .collect();
        let mut by_model = SpendBy::new(GroupBy::Model);
        let mut by_day = SpendBy::new(GroupBy::Day);
        let mut by_hour = SpendBy::new(GroupBy::Hour);
        for r in &recs {
            by_model.add(r);
            by_day.add(r);
            by_hour.add(r);
        }
        let m: Vec<_> = by_model
            .groups()
            .map(|(k, g)| (k, g.records, g.cost.value().unwrap()))
            .collect();
        assert_eq!(
            m,
            vec![(None, 1, 8.0), (Some("a"), 2, 5.0), (Some("b"), 1, 2.0)]
        );
        let d: Vec<_> = by_day
            .groups()
            .map(|(k, g)| (k, g.cost.value().unwrap()))
            .collect();
        assert_eq!(
            d,
            vec![
                (None, 8.0),
                (Some("2026-01-01"), 3.0),
                (Some("2026-01-02"), 4.0)
            ]
        );
        let h: Vec<_> = by_hour
            .groups()
            .map(|(k, g)| (k, g.input_t, g.output_t))
            .collect();
        assert_eq!(
            h,
            vec![
                (None, 0, 0),
                (Some("2026-01-01T09:00:00+00:00"), 3, 4),
                (Some("2026-01-02T00:00:00+00:00"), 0, 0)
            ]
        );
        assert_eq!(by_model.total(), Ok(15.0));
        let mut merged = SpendBy::new(GroupBy::Model);
        merged.merge(&by_model);
        merged.merge(&by_model);
        assert_eq!(merged.total(), Ok(30.0));
    }

    #[test]
    fn week_and_month_keys_at_their_edges() {
        let key = |by: GroupBy, ts: &str| by.key(Timestamp::parse(ts).ok(), None, None);
        let week = |ts| key(GroupBy::Week, ts);
        let month = |ts| key(GroupBy::Month, ts);
        for (ts, w, m) in [
            // Sunday's last microsecond, then Monday: a new week.
            ("2026-01-04T23:59:59.999999Z", "2026-W01", "2026-01"),
            ("2026-01-05T00:00:00Z", "2026-W02", "2026-01"),
            // Across an ISO-year change: 2027-01-01 (a Friday) is in 2026-W53.
            ("2026-12-31T12:00:00Z", "2026-W53", "2026-12"),
            ("2027-01-01T00:00:00Z", "2026-W53", "2027-01"),
            ("2027-01-03T23:59:59Z", "2026-W53", "2027-01"),
            ("2027-01-04T00:00:00Z", "2027-W01", "2027-01"),
            // 2024-12-30 (a Monday) is in 2025-W01.
            ("2024-12-29T23:59:59Z", "2024-W52", "2024-12"),
            ("2024-12-30T00:00:00Z", "2025-W01", "2024-12"),
            // Feb 29 of a leap year, and the day after.
            ("2028-02-29T23:59:59.999999Z", "2028-W09", "2028-02"),
            ("2028-03-01T00:00:00Z", "2028-W09", "2028-03"),
            // An offset that moves the record across a boundary in UTC.
            ("2026-03-01T00:30:00+01:00", "2026-W09", "2026-02"),
            ("2026-03-01T23:30:00-01:00", "2026-W10", "2026-03"),
            // The ends of the range.
            ("0001-01-01T00:00:00Z", "0001-W01", "0001-01"),
            ("9999-12-31T23:59:59Z", "9999-W52", "9999-12"),
        ] {
            assert_eq!(week(ts).as_deref(), Some(w), "{ts}");
            assert_eq!(month(ts).as_deref(), Some(m), "{ts}");
        }
        assert_eq!(GroupBy::Week.key(None, Some("m"), Some("s")), None);
        assert_eq!(GroupBy::Month.key(None, Some("m"), Some("s")), None);
    }

    #[test]
    fn pairs_group_a_period_then_the_model() {
        let recs: Vec<Record> = [
            r#"{"ts":"2026-02-22T10:00:00Z","model":"b","cost":0.5}"#,
            r#"{"ts":"2026-02-22T11:00:00Z","model":"a","cost":1.0}"#,
            r#"{"ts":"2026-02-22T23:00:00-01:00","model":"a","cost":2.0}"#,
            r#"{"ts":"2026-02-23T05:00:00Z","cost":4.0}"#,
            r#"{"model":"a\u0000=x","cost":8.0}"#,
            r#"{"cost":16.0}"#,
        ]
        .into_iter()
        .map(rec)
        .collect();
        let mut by = SpendBy::new(GroupBy::DayModel);
        for r in &recs {
            by.add(r);
        }
        let got: Vec<_> = by
            .pairs()
            .map(|(k, m, g)| (k, m, g.records, g.cost.value().unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                (None, None, 1, 16.0),
                (None, Some("a\0=x"), 1, 8.0),
                (Some("2026-02-22"), Some("a"), 1, 1.0),
                (Some("2026-02-22"), Some("b"), 1, 0.5),
                (Some("2026-02-23"), None, 1, 4.0),
                (Some("2026-02-23"), Some("a"), 1, 2.0),
            ]
        );
        assert_eq!(by.total(), Ok(31.5));
        for (a, b, pair) in [
            (GroupBy::Hour, GroupBy::Model, Some(GroupBy::HourModel)),
            (GroupBy::Day, GroupBy::Model, Some(GroupBy::DayModel)),
            (GroupBy::Week, GroupBy::Model, Some(GroupBy::WeekModel)),
            (GroupBy::Month, GroupBy::Model, Some(GroupBy::MonthModel)),
            (GroupBy::Model, GroupBy::Day, None),
            (GroupBy::Day, GroupBy::Session, None),
            (GroupBy::Day, GroupBy::Week, None),
        ] {
            assert_eq!(GroupBy::paired(a, b), pair, "{a:?} {b:?}");
            if let Some(p) = pair {
                assert_eq!(p.pair(), Some((a, b)));
            }
        }
        assert_eq!(GroupBy::Day.pair(), None);
        // A single key's pairs are its groups.
        let mut day = SpendBy::new(GroupBy::Day);
        day.add(&recs[0]);
        let got: Vec<_> = day.pairs().map(|(k, m, g)| (k, m, g.records)).collect();
        assert_eq!(got, vec![(Some("2026-02-22"), None, 1)]);
    }

    #[test]
    fn sessions_fold_and_sort_by_cost() {
        let recs: Vec<Record> = [
            r#"{"ts":"2026-03-01T10:00:00Z","session_id":"b","event":"nav","model":"m2","cost":1.0,"input_t":5}"#,
            r#"{"ts":"2026-03-01T09:00:00+02:00","session_id":"b","event":"validation_fail","model":"m1"}"#,
            r#"{"ts":"2026-03-01T11:30:00Z","session_id":"b","event":"nav","model":"m2","cost":0.5,"output_t":7}"#,
            r#"{"session_id":"a","event":"nav","cost":1.5}"#,
            r#"{"ts":"2026-03-01T12:00:00Z","session_id":"c","event":"brief","cost":0.25}"#,
            r#"{"ts":"2026-03-01T12:00:00Z","event":"nav","cost":4.0}"#,
        ]
        .into_iter()
        .map(rec)
        .collect();
        let mut whole = Sessions::default();
        let (mut a, mut b) = (Sessions::default(), Sessions::default());
        for (i, r) in recs.iter().enumerate() {
            whole.add(r);
            if i % 2 == 0 { a.add(r) } else { b.add(r) }
        }
        b.merge(&a);
        assert_eq!(b, whole);
        let got: Vec<_> = whole
            .by_cost()
            .into_iter()
            .map(|(k, g)| (k, g.records, g.cost.value().unwrap()))
            .collect();
        // b and a tie at 1.5: by session id.
        assert_eq!(
            got,
            vec![
                (None, 1, 4.0),
                (Some("a"), 1, 1.5),
                (Some("b"), 3, 1.5),
                (Some("c"), 1, 0.25)
            ]
        );
        let (_, sb) = whole.groups().find(|(k, _)| *k == Some("b")).unwrap();
        assert_eq!(sb.first_ts, Timestamp::parse("2026-03-01T07:00:00Z").ok());
        assert_eq!(sb.last_ts, Timestamp::parse("2026-03-01T11:30:00Z").ok());
        assert_eq!(sb.duration(), Duration::from_secs(4 * 3600 + 1800));
        assert_eq!((sb.input_t, sb.output_t), (5, 7));
        assert_eq!(sb.models.iter().collect::<Vec<_>>(), ["m1", "m2"]);
        assert_eq!(sb.accuracy.finish().accuracy_pct, 50.0);
        let (_, sa) = whole.groups().find(|(k, _)| *k == Some("a")).unwrap();
        assert_eq!((sa.first_ts, sa.duration()), (None, Duration::ZERO));
        assert_eq!((whole.len(), whole.is_empty()), (4, false));
    }

    proptest! {
        #[test]
        fn iso_week_agrees_with_chrono(secs in -62_135_596_800i64..=253_402_300_799) {
            use chrono::Datelike;
            let t = Timestamp::from_unix(secs, 0).unwrap();
            let c = chrono::DateTime::from_timestamp(secs, 0).unwrap().iso_week();
            prop_assert_eq!(iso_week(t), Some((c.year(), c.week())));
        }
    }

    #[test]
    fn parts_groups_and_files() {
        let r = rec(r#"{"ts":"2026-01-01T09:10:00+00:00","model":"a","cost":1.5,"input_t":3}"#);
        let mut a = SpendBy::new(GroupBy::Hour);
        a.add(&r);
        let mut b = SpendBy::new(GroupBy::Hour);
        b.add_parts(r.ts(), Some("a"), None, Some(1.5), Some(3), None);
        assert_eq!(a, b);
        let (k, g) = a
            .groups()
            .next()
            .map(|(k, g)| (k.map(str::to_owned), g.clone()))
            .unwrap();
        let mut c = SpendBy::new(GroupBy::Hour);
        c.add_group(k.clone(), &g);
        c.add_group(k, &g);
        assert_eq!(c.total(), Ok(3.0));
        assert_eq!(c.groups().next().unwrap().1.input_t, 6);
        let mut s = ExactSum::new();
        s.extend([1e100, 1.0, -1e100]);
        let mut t = ExactSum::new();
        t.extend([1.0]);
        assert_eq!(t.value(), Ok(1.0));
        assert_eq!(t, s);
        // Equal values of different exact sums are not equal sums.
        let mut u = ExactSum::new();
        u.extend([1.0, 1e-30]);
        assert_eq!(u.value(), Ok(1.0));
        assert_ne!(u, s);
        let mut f = FileCounts::default();
        f.add(["b", "a", "b"]);
        let mut g2 = FileCounts::default();
        g2.add(["a", "c"]);
        f.merge(&g2);
        assert_eq!(f.top(2), vec![("a", 2), ("b", 2)]);
        assert_eq!((f.len(), f.is_empty()), (3, false));
        let mut e = EventCounts::default();
        e.add_n(Some("nav"), 3);
        e.add_n(None, 2);
        assert_eq!((e.get("nav"), e.untyped), (3, 2));
        let mut acc = Accuracy::default();
        acc.add_counts(4, 1);
        assert_eq!(acc.finish().accuracy_pct, 75.0);
    }

    #[test]
    fn counts_and_last_n() {
        let mut c = EventCounts::default();
        for e in [Some("nav"), Some("nav"), None, Some("brief")] {
            c.add(e);
        }
        let mut d = EventCounts::default();
        d.merge(&c);
        d.merge(&c);
        assert_eq!(d.iter().collect::<Vec<_>>(), vec![("brief", 2), ("nav", 4)]);
        assert_eq!((d.untyped, d.total(), d.get("zzz")), (2, 8, 0));
        let mut l = LastN::new(3);
        for i in 0..10 {
            l.push(i);
        }
        assert_eq!(l.into_vec(), vec![7, 8, 9]);
    }
}
