//! Pricing rules, all in integer minor units.
//!
//! - Catalog prices are before tax. `subtotal` = Σ unit price × quantity.
//! - `discount` comes from the order's discount code (see [`Discount`]), never more than the
//!   subtotal.
//! - `tax` = VAT on (subtotal − discount) at the rate of the order's currency
//!   ([`vat_rate_basis_points`]).
//! - `total` = subtotal − discount + tax.
//! - Every percentage rounds half away from zero ([`Money::percent`]), once, on the whole amount.

use super::events::RejectionReason;
use super::lines::{PricedLine, RequestedLine, Totals};
use crate::catalog::Product;
use crate::kernel::{Currency, Money, MoneyError, ProductId};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// VAT in basis points (1/100 of a percent) by currency. USD orders are sold VAT-free: US
/// sales tax depends on the delivery state and is out of scope here.
pub fn vat_rate_basis_points(currency: Currency) -> u32 {
    match currency {
        Currency::Eur => 2_000,
        Currency::Gbp => 2_000,
        Currency::Usd => 0,
    }
}

/// What a discount code takes off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discount {
    /// A percentage of the subtotal, in basis points.
    Percent { basis_points: u32 },
    /// A fixed amount off in the order's currency, for orders of at least `minimum_subtotal`.
    AmountOff { amount: i64, minimum_subtotal: i64 },
}

/// A discount code the shop knows. Codes ignore case; they are kept upper-case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum DiscountCode {
    /// 10 % off.
    Welcome10,
    /// 5.00 off orders of 25.00 or more.
    Take5,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a known discount code")]
pub struct UnknownDiscountCode(pub String);

impl DiscountCode {
    const ALL: [DiscountCode; 2] = [DiscountCode::Welcome10, DiscountCode::Take5];

    pub fn parse(code: &str) -> Result<Self, UnknownDiscountCode> {
        Self::ALL
            .into_iter()
            .find(|known| known.as_str().eq_ignore_ascii_case(code))
            .ok_or_else(|| UnknownDiscountCode(code.to_owned()))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DiscountCode::Welcome10 => "WELCOME10",
            DiscountCode::Take5 => "TAKE5",
        }
    }

    pub fn discount(self) -> Discount {
        match self {
            DiscountCode::Welcome10 => Discount::Percent {
                basis_points: 1_000,
            },
            DiscountCode::Take5 => Discount::AmountOff {
                amount: 500,
                minimum_subtotal: 2_500,
            },
        }
    }
}

impl TryFrom<String> for DiscountCode {
    type Error = UnknownDiscountCode;
    fn try_from(code: String) -> Result<Self, Self::Error> {
        Self::parse(&code)
    }
}

impl From<DiscountCode> for &'static str {
    fn from(code: DiscountCode) -> Self {
        code.as_str()
    }
}

impl Discount {
    fn apply(self, subtotal: Money) -> Result<Money, MoneyError> {
        let off = match self {
            Discount::Percent { basis_points } => subtotal.percent(basis_points)?,
            Discount::AmountOff {
                amount,
                minimum_subtotal,
            } if subtotal.amount >= minimum_subtotal => Money::new(amount, subtotal.currency),
            Discount::AmountOff { .. } => Money::zero(subtotal.currency),
        };
        off.min(subtotal)
    }
}

/// A priced order: every line with its unit price and the order's totals.
#[derive(Debug, Clone, PartialEq)]
pub struct Priced {
    pub lines: Vec<PricedLine>,
    pub totals: Totals,
}

/// Why pricing did not produce a price: a rejection of the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpriceable {
    pub reason: RejectionReason,
    pub detail: String,
}

pub fn price_order(
    lines: &[RequestedLine],
    currency: Currency,
    discount_code: Option<DiscountCode>,
    catalog: &HashMap<ProductId, Product>,
) -> Result<Priced, Unpriceable> {
    let mut items = Vec::with_capacity(lines.len());
    let mut subtotal = Money::zero(currency);
    for line in lines {
        let product = catalog.get(&line.product_id).ok_or_else(|| Unpriceable {
            reason: RejectionReason::UnknownProduct,
            detail: format!("product {} does not exist", line.product_id),
        })?;
        let price = product.price.money();
        if price.currency != currency {
            return Err(Unpriceable {
                reason: RejectionReason::CurrencyNotOffered,
                detail: format!(
                    "product {} is sold in {}, not {currency}",
                    line.product_id, price.currency
                ),
            });
        }
        let line_total = price.times(line.quantity.get()).map_err(too_large)?;
        subtotal = subtotal.checked_add(line_total).map_err(too_large)?;
        items.push(PricedLine {
            product_id: line.product_id.clone(),
            quantity: line.quantity,
            sku: product.sku.clone(),
            name: product.name.clone(),
            unit_price: price,
            line_total,
        });
    }
    let discount = match discount_code {
        Some(code) => code.discount().apply(subtotal).map_err(too_large)?,
        None => Money::zero(currency),
    };
    let taxable = subtotal.checked_sub(discount).map_err(too_large)?;
    let tax = taxable
        .percent(vat_rate_basis_points(currency))
        .map_err(too_large)?;
    let total = taxable.checked_add(tax).map_err(too_large)?;
    Ok(Priced {
        lines: items,
        totals: Totals {
            subtotal,
            discount,
            tax,
            total,
        },
    })
}

// Quantities are capped at 1,000, lines at 50 and prices by the catalog, so an amount too
// large for the arithmetic is a rejection of its own, never a crash.
fn too_large(e: MoneyError) -> Unpriceable {
    Unpriceable {
        reason: RejectionReason::AmountTooLarge,
        detail: format!("the order cannot be priced: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::test_product;
    use crate::kernel::Quantity;

    fn catalog() -> HashMap<ProductId, Product> {
        [test_product("p-1", 1_999, 10), test_product("p-2", 250, 10)]
            .into_iter()
            .map(|p| (p.product_id.clone(), p))
            .collect()
    }

    fn line(id: &str, q: i64) -> RequestedLine {
        RequestedLine {
            product_id: ProductId::parse(id).unwrap(),
            quantity: Quantity::new(q).unwrap(),
        }
    }

    #[test]
    fn totals_follow_the_documented_rules() {
        let priced = price_order(
            &[line("p-1", 2), line("p-2", 3)],
            Currency::Eur,
            Some(DiscountCode::parse("welcome10").unwrap()),
            &catalog(),
        )
        .unwrap();
        let eur = |a| Money::new(a, Currency::Eur);
        // subtotal 39.98 + 7.50 = 47.48; 10 % = 4.748 -> 4.75; taxable 42.73; VAT 20 % = 8.546 -> 8.55
        assert_eq!(
            priced.totals,
            Totals {
                subtotal: eur(4_748),
                discount: eur(475),
                tax: eur(855),
                total: eur(5_128),
            }
        );
        assert_eq!(priced.lines[0].line_total, eur(3_998));
    }

    #[test]
    fn amount_off_needs_the_minimum_and_never_exceeds_the_subtotal() {
        let small = price_order(
            &[line("p-2", 1)],
            Currency::Eur,
            Some(DiscountCode::Take5),
            &catalog(),
        );
        assert_eq!(small.unwrap().totals.discount.amount, 0);
        let big = price_order(
            &[line("p-2", 10)],
            Currency::Eur,
            Some(DiscountCode::Take5),
            &catalog(),
        );
        assert_eq!(big.unwrap().totals.discount.amount, 500);
    }

    #[test]
    fn discount_codes_ignore_case_and_unknown_ones_are_refused() {
        for code in ["WELCOME10", "welcome10", "Welcome10"] {
            assert_eq!(
                DiscountCode::parse(code),
                Ok(DiscountCode::Welcome10),
                "{code}"
            );
        }
        assert_eq!(DiscountCode::parse("take5"), Ok(DiscountCode::Take5));
        assert_eq!(DiscountCode::Take5.as_str(), "TAKE5");
        for unknown in ["FREE", "", "WELCOME 10", "WELCOME100"] {
            assert_eq!(
                DiscountCode::parse(unknown),
                Err(UnknownDiscountCode(unknown.to_owned())),
                "{unknown:?}"
            );
        }
        // Read from JSON the same way, and kept upper-case.
        let code: DiscountCode = serde_json::from_str(r#""take5""#).unwrap();
        assert_eq!(serde_json::to_string(&code).unwrap(), r#""TAKE5""#);
        assert!(serde_json::from_str::<DiscountCode>(r#""FREE""#).is_err());
    }

    #[test]
    fn unknown_products_and_foreign_currencies_are_rejections() {
        let unknown = price_order(&[line("p-9", 1)], Currency::Eur, None, &catalog());
        assert_eq!(unknown.unwrap_err().reason, RejectionReason::UnknownProduct);
        let usd = price_order(&[line("p-1", 1)], Currency::Usd, None, &catalog());
        assert_eq!(usd.unwrap_err().reason, RejectionReason::CurrencyNotOffered);
    }
}
