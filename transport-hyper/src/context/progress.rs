//! Progress notifications (U-PROG-*): the token a request carries, the
//! rule that each value must exceed the last, and how values are written.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use streamable_core::RawJson;

/// The last progress value offered for one request, so that the next must
/// be greater (U-PROG-3: "the progress value MUST increase with each
/// notification"). Starts below every number; a NaN never passes.
#[derive(Debug)]
pub(super) struct ProgressFloor(AtomicU64);

impl Default for ProgressFloor {
    fn default() -> Self {
        ProgressFloor(AtomicU64::new(f64::NEG_INFINITY.to_bits()))
    }
}

impl ProgressFloor {
    /// Raise the floor to `next` if `next` is above it; false (and no
    /// change) otherwise. Atomic, so two sends racing on one context cannot
    /// both pass with the same value.
    pub(super) fn raise(&self, next: f64) -> bool {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                (next > f64::from_bits(last)).then_some(next.to_bits())
            })
            .is_ok()
    }
}

/// `params._meta.progressToken`, if any (a string or an integer, U-PROG-1).
pub(super) fn progress_token(params: &RawJson) -> Option<Value> {
    #[derive(serde::Deserialize)]
    struct Meta {
        #[serde(rename = "progressToken")]
        progress_token: Option<Value>,
    }
    #[derive(serde::Deserialize)]
    struct P {
        #[serde(rename = "_meta")]
        meta: Option<Meta>,
    }
    let p: P = params.deserialize().ok()?;
    p.meta?
        .progress_token
        .filter(|t| t.is_string() || t.is_i64() || t.is_u64())
}

/// Whole numbers as JSON integers (`1`, not `1.0`).
pub(super) fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}
