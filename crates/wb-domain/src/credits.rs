//! Free credits: an append-only ledger of grants, charges and refunds, in cents.
//!
//! Entries are never changed or removed; the balance is always recomputed from them. Before
//! appending an entry, the caller checks it with [`validate_entry`] against the entries already
//! recorded, which keeps every prefix of a ledger consistent: the balance never goes below zero
//! and refunds never exceed what was charged.

use serde::{Deserialize, Serialize};

use crate::institution::string_enum;

/// The free credits every new account starts with: $300.00.
pub const DEFAULT_INITIAL_CREDITS_CENTS: i64 = 30_000;

string_enum! {
    /// What an entry does to the balance.
    EntryKind {
        Grant => "grant", "Grant";
        Charge => "charge", "Charge";
        Refund => "refund", "Refund";
    }
}

impl EntryKind {
    /// The effect on the balance of an entry of this kind for `cents`: a grant or refund adds,
    /// a charge subtracts.
    pub fn signed(self, cents: i64) -> i64 {
        match self {
            EntryKind::Grant | EntryKind::Refund => cents,
            EntryKind::Charge => -cents,
        }
    }
}

/// One entry of a ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// What the entry does to the balance.
    pub kind: EntryKind,
    /// The amount, in cents; always positive (the kind gives the direction).
    pub cents: i64,
    /// When it was recorded (Unix seconds, as the caller keeps time).
    pub at: i64,
    /// The workspace a charge or refund concerns, if any.
    pub workspace: Option<i64>,
    /// Why it was recorded, for people reading the ledger.
    pub note: String,
}

/// Why an entry may not be appended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// The amount is zero or negative.
    #[error("An amount must be positive (got {cents} cents).")]
    NonPositiveAmount {
        /// The amount given.
        cents: i64,
    },
    /// The charge is more than the balance.
    #[error(
        "Not enough credit: the balance is {}, and this charge is {}.",
        format_dollars(*balance_cents),
        format_dollars(*requested_cents)
    )]
    InsufficientCredit {
        /// The balance before the charge.
        balance_cents: i64,
        /// The charge refused.
        requested_cents: i64,
    },
    /// The refund is more than has been charged and not yet refunded.
    #[error(
        "A refund cannot exceed what was charged: at most {} can be refunded, and this refund \
         is {}.",
        format_dollars(*refundable_cents),
        format_dollars(*requested_cents)
    )]
    RefundExceedsCharges {
        /// Everything charged so far, less everything refunded so far.
        refundable_cents: i64,
        /// The refund refused.
        requested_cents: i64,
    },
    /// The entry would take a total beyond what can be counted.
    #[error("This amount is too large to record.")]
    Overflow,
}

/// The balance of a ledger, in cents: grants − charges + refunds.
///
/// Entries are taken as recorded (a ledger whose entries passed [`validate_entry`] never goes
/// below zero); the sum saturates rather than overflowing.
pub fn balance_cents(entries: &[LedgerEntry]) -> i64 {
    entries
        .iter()
        .fold(0i64, |b, e| b.saturating_add(e.kind.signed(e.cents)))
}

/// Everything charged so far, less everything refunded so far, in cents; `None` on overflow.
fn refundable_cents(entries: &[LedgerEntry]) -> Option<i64> {
    entries.iter().try_fold(0i64, |r, e| match e.kind {
        EntryKind::Grant => Some(r),
        EntryKind::Charge => r.checked_add(e.cents),
        EntryKind::Refund => r.checked_sub(e.cents),
    })
}

/// Checks that `entry` may be appended to `current_entries`: its amount is positive; a charge
/// does not take the balance below zero ([`LedgerError::InsufficientCredit`]); a refund does
/// not make the refunds exceed the charges so far ([`LedgerError::RefundExceedsCharges`]).
pub fn validate_entry(
    entry: &LedgerEntry,
    current_entries: &[LedgerEntry],
) -> Result<(), LedgerError> {
    if entry.cents <= 0 {
        return Err(LedgerError::NonPositiveAmount { cents: entry.cents });
    }
    let balance = current_entries
        .iter()
        .try_fold(0i64, |b, e| b.checked_add(e.kind.signed(e.cents)))
        .ok_or(LedgerError::Overflow)?;
    match entry.kind {
        EntryKind::Grant => {
            balance
                .checked_add(entry.cents)
                .ok_or(LedgerError::Overflow)?;
        }
        EntryKind::Charge => {
            if entry.cents > balance {
                return Err(LedgerError::InsufficientCredit {
                    balance_cents: balance,
                    requested_cents: entry.cents,
                });
            }
        }
        EntryKind::Refund => {
            let refundable = refundable_cents(current_entries).ok_or(LedgerError::Overflow)?;
            if entry.cents > refundable {
                return Err(LedgerError::RefundExceedsCharges {
                    refundable_cents: refundable,
                    requested_cents: entry.cents,
                });
            }
            balance
                .checked_add(entry.cents)
                .ok_or(LedgerError::Overflow)?;
        }
    }
    Ok(())
}

/// An amount of cents as dollars, e.g. `"$300.00"`, `"-$1.05"`, `"$0.07"`. No thousands
/// separators.
pub fn format_dollars(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}${}.{:02}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(kind: EntryKind, cents: i64) -> LedgerEntry {
        LedgerEntry {
            kind,
            cents,
            at: 1_700_000_000,
            workspace: (kind != EntryKind::Grant).then_some(7),
            note: format!("{kind} of {cents}"),
        }
    }

    #[test]
    fn dollars_are_formatted_with_cents() {
        assert_eq!(format_dollars(DEFAULT_INITIAL_CREDITS_CENTS), "$300.00");
        assert_eq!(format_dollars(-105), "-$1.05");
        assert_eq!(format_dollars(7), "$0.07");
        assert_eq!(format_dollars(0), "$0.00");
        assert_eq!(format_dollars(123_456_789), "$1234567.89");
        assert_eq!(format_dollars(i64::MIN), "-$92233720368547758.08");
    }

    #[test]
    fn the_balance_is_grants_less_charges_plus_refunds() {
        let ledger = [
            entry(EntryKind::Grant, DEFAULT_INITIAL_CREDITS_CENTS),
            entry(EntryKind::Charge, 1_250),
            entry(EntryKind::Refund, 250),
            entry(EntryKind::Charge, 5),
        ];
        assert_eq!(balance_cents(&ledger), 30_000 - 1_250 + 250 - 5);
        assert_eq!(balance_cents(&[]), 0);
    }

    #[test]
    fn amounts_must_be_positive() {
        let ledger = [entry(EntryKind::Grant, 100)];
        for kind in EntryKind::ALL {
            for cents in [0, -1] {
                assert_eq!(
                    validate_entry(&entry(*kind, cents), &ledger),
                    Err(LedgerError::NonPositiveAmount { cents })
                );
            }
        }
    }

    #[test]
    fn a_charge_cannot_overdraw() {
        let ledger = [
            entry(EntryKind::Grant, 1_000),
            entry(EntryKind::Charge, 400),
        ];
        assert_eq!(
            validate_entry(&entry(EntryKind::Charge, 600), &ledger),
            Ok(())
        );
        let err = validate_entry(&entry(EntryKind::Charge, 601), &ledger).unwrap_err();
        assert_eq!(
            err,
            LedgerError::InsufficientCredit {
                balance_cents: 600,
                requested_cents: 601
            }
        );
        assert_eq!(
            err.to_string(),
            "Not enough credit: the balance is $6.00, and this charge is $6.01."
        );
        assert!(matches!(
            validate_entry(&entry(EntryKind::Charge, 1), &[]),
            Err(LedgerError::InsufficientCredit {
                balance_cents: 0,
                ..
            })
        ));
    }

    #[test]
    fn a_refund_cannot_exceed_the_charges() {
        let ledger = [
            entry(EntryKind::Grant, 1_000),
            entry(EntryKind::Charge, 300),
            entry(EntryKind::Refund, 100),
        ];
        assert_eq!(
            validate_entry(&entry(EntryKind::Refund, 200), &ledger),
            Ok(())
        );
        assert_eq!(
            validate_entry(&entry(EntryKind::Refund, 201), &ledger),
            Err(LedgerError::RefundExceedsCharges {
                refundable_cents: 200,
                requested_cents: 201
            })
        );
        assert!(
            validate_entry(&entry(EntryKind::Refund, 1), &[entry(EntryKind::Grant, 5)]).is_err()
        );
    }

    #[test]
    fn grants_are_always_admitted_until_overflow() {
        assert_eq!(validate_entry(&entry(EntryKind::Grant, 1), &[]), Ok(()));
        assert_eq!(
            validate_entry(
                &entry(EntryKind::Grant, 1),
                &[entry(EntryKind::Grant, i64::MAX)]
            ),
            Err(LedgerError::Overflow)
        );
    }

    fn kind() -> impl Strategy<Value = EntryKind> {
        proptest::sample::select(EntryKind::ALL)
    }

    proptest! {
        /// The balance is the fold of the signed amounts.
        #[test]
        fn the_balance_is_the_fold(
            proposed in proptest::collection::vec((kind(), 1i64..1_000_000), 0..40)
        ) {
            let ledger: Vec<LedgerEntry> =
                proposed.iter().map(|(k, c)| entry(*k, *c)).collect();
            let fold = ledger.iter().fold(0i64, |b, e| match e.kind {
                EntryKind::Grant | EntryKind::Refund => b + e.cents,
                EntryKind::Charge => b - e.cents,
            });
            prop_assert_eq!(balance_cents(&ledger), fold);
        }

        /// Appending only what `validate_entry` admits keeps every running balance at zero or
        /// above and the refunds within the charges.
        #[test]
        fn admitted_ledgers_stay_consistent(
            proposed in proptest::collection::vec((kind(), -10i64..5_000), 0..60)
        ) {
            let mut ledger: Vec<LedgerEntry> = Vec::new();
            for (k, c) in proposed {
                let e = entry(k, c);
                if validate_entry(&e, &ledger).is_ok() {
                    prop_assert!(e.cents > 0);
                    ledger.push(e);
                }
                prop_assert!(balance_cents(&ledger) >= 0);
                let charged: i64 = ledger
                    .iter()
                    .filter(|e| e.kind == EntryKind::Charge)
                    .map(|e| e.cents)
                    .sum();
                let refunded: i64 = ledger
                    .iter()
                    .filter(|e| e.kind == EntryKind::Refund)
                    .map(|e| e.cents)
                    .sum();
                prop_assert!(refunded <= charged);
            }
        }

        /// A charge is admitted exactly when it is positive and at most the balance.
        #[test]
        fn charges_are_admitted_exactly_within_the_balance(
            grant in 1i64..100_000,
            charge in -5i64..200_000,
        ) {
            let ledger = [entry(EntryKind::Grant, grant)];
            let result = validate_entry(&entry(EntryKind::Charge, charge), &ledger);
            prop_assert_eq!(result.is_ok(), charge > 0 && charge <= grant);
        }
    }
}
