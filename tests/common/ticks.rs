//! What periodic tests compare: the ticks a schedule fired (read from its
//! jobs' ids, `<schedule>@<tick ms>`) and the ticks it should have fired.
//! The periodic tests include this file alone (`#[path]`), without the
//! rest of `common`.

use ork::{JobQuery, Ork};

/// The ticks whose jobs exist for a schedule, in order.
pub(crate) async fn ticks(ork: &Ork, schedule: &str) -> Vec<u64> {
    let prefix = format!("{schedule}@");
    let mut out: Vec<u64> = ork
        .list(&JobQuery::default().page(0, 100_000))
        .await
        .unwrap()
        .into_iter()
        .filter_map(|j| {
            j.record
                .id
                .as_str()
                .strip_prefix(&prefix)
                .map(|t| t.parse().unwrap())
        })
        .collect();
    out.sort_unstable();
    out
}

/// The multiples of `step` in `(lo, hi]`.
pub(crate) fn multiples(lo: u64, hi: u64, step: u64) -> Vec<u64> {
    ((lo / step + 1)..=(hi / step)).map(|k| k * step).collect()
}
