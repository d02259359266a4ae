use serde::{Deserialize, Serialize};
use std::fmt;

/// The currencies the shop sells in. Amounts are always integer minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum Currency {
    Eur,
    Usd,
    Gbp,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown currency {0:?}: use one of EUR, USD, GBP")]
pub struct UnknownCurrency(pub String);

impl Currency {
    pub const ALL: [Currency; 3] = [Currency::Eur, Currency::Usd, Currency::Gbp];

    /// Parses an ISO 4217 code, ignoring case: payment providers send `"eur"`.
    pub fn parse(code: &str) -> Result<Self, UnknownCurrency> {
        Self::ALL
            .into_iter()
            .find(|c| c.code().eq_ignore_ascii_case(code))
            .ok_or_else(|| UnknownCurrency(code.to_owned()))
    }

    pub fn code(self) -> &'static str {
        match self {
            Currency::Eur => "EUR",
            Currency::Usd => "USD",
            Currency::Gbp => "GBP",
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = UnknownCurrency;
    fn try_from(code: String) -> Result<Self, Self::Error> {
        Self::parse(&code)
    }
}

impl From<Currency> for &'static str {
    fn from(c: Currency) -> Self {
        c.code()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An amount of money in integer minor units (cents). Never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub amount: i64,
    pub currency: Currency,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("cannot combine {0} and {1}")]
    CurrencyMismatch(Currency, Currency),
    #[error("amount out of range")]
    Overflow,
}

impl Money {
    pub const fn new(amount: i64, currency: Currency) -> Self {
        Self { amount, currency }
    }

    pub const fn zero(currency: Currency) -> Self {
        Self::new(0, currency)
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self
            .amount
            .checked_add(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self
            .amount
            .checked_sub(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    pub fn times(self, quantity: u32) -> Result<Money, MoneyError> {
        let amount = self
            .amount
            .checked_mul(i64::from(quantity))
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// `self × basis_points / 10 000`, rounded half away from zero: the one rounding rule
    /// for every percentage in the shop (discounts, VAT).
    pub fn percent(self, basis_points: u32) -> Result<Money, MoneyError> {
        let scaled = i128::from(self.amount) * i128::from(basis_points);
        let half = if scaled < 0 { -5_000 } else { 5_000 };
        let amount = i64::try_from((scaled + half) / 10_000).map_err(|_| MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    pub fn min(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        Ok(if other.amount < self.amount {
            other
        } else {
            self
        })
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(self.currency, other.currency))
        }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_parses_case_insensitively_and_serialises_upper_case() {
        assert_eq!(Currency::parse("eur").unwrap(), Currency::Eur);
        assert!(Currency::parse("XXX").is_err());
        let json = serde_json::to_string(&Money::new(1250, Currency::Gbp)).unwrap();
        assert_eq!(json, r#"{"amount":1250,"currency":"GBP"}"#);
        let back: Money = serde_json::from_str(r#"{"amount":5,"currency":"usd"}"#).unwrap();
        assert_eq!(back, Money::new(5, Currency::Usd));
    }

    #[test]
    fn percentages_round_half_away_from_zero() {
        let eur = |a| Money::new(a, Currency::Eur);
        assert_eq!(eur(1000).percent(2000).unwrap(), eur(200));
        assert_eq!(eur(5).percent(1000).unwrap(), eur(1)); // 0.5 -> 1
        assert_eq!(eur(4).percent(1000).unwrap(), eur(0)); // 0.4 -> 0
        assert_eq!(eur(-5).percent(1000).unwrap(), eur(-1));
    }

    #[test]
    fn mixing_currencies_is_refused() {
        let err = Money::new(1, Currency::Eur)
            .checked_add(Money::new(1, Currency::Usd))
            .unwrap_err();
        assert_eq!(
            err,
            MoneyError::CurrencyMismatch(Currency::Eur, Currency::Usd)
        );
    }
}
