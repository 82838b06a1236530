use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Invoice {
    id: u64,
    cents: i64,
}

#[derive(Debug)]
enum BillingError {
    Declined,
    Unreachable(String),
}

impl fmt::Display for BillingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BillingError::Declined => f.write_str("card declined"),
            BillingError::Unreachable(why) => write!(f, "provider unreachable: {why}"),
        }
    }
}

type BillingResult<T> = std::result::Result<T, BillingError>;

#[ork::task]
async fn charge(invoice: Invoice) -> Result<Invoice, BillingError> {
    if invoice.cents < 0 {
        return Err(BillingError::Declined);
    }
    Ok(invoice)
}

// An alias that the macro can't see through: its last segment must be `Result`.
mod aliased {
    pub(crate) type Result<T> = super::BillingResult<T>;
}

#[ork::task]
async fn refund(id: u64) -> aliased::Result<u64> {
    if id == 0 {
        return Err(BillingError::Unreachable("no id".into()));
    }
    Ok(id)
}

fn main() {
    let _: ork::Call<Invoice> = charge::call(Invoice { id: 1, cents: 100 });
    let _: ork::Call<u64> = refund::call(7);
}
