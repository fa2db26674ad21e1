//! The budget of one node's evaluation (docs/limits.md): steps (loop iterations, function
//! calls, declarations, and elements copied) and bytes of strings and arrays built, with a
//! cap on any one value. Counting is a subtraction where the work happens; going past a
//! limit is one `resource-limit` diagnostic at the expression that did, and the node stops.

use super::{Evaluator, Failed, R};
use crate::diag::{Code, Diagnostic};
use crate::limits;
use crate::model::value::Value;
use crate::source::Span;

/// Elements of an Array count this many bytes each (a value's size).
pub(super) const ELEMENT_BYTES: usize = std::mem::size_of::<Value>();

/// Bytes (or elements) copied per step.
const BYTES_PER_STEP: u64 = 64;

pub(super) struct Budget {
    steps: u64,
    bytes: u64,
    value_bytes: u64,
    reported: bool,
}

impl Budget {
    pub(super) fn new() -> Budget {
        let l = limits::get();
        Budget {
            steps: l.eval_steps,
            bytes: l.eval_bytes,
            value_bytes: l.value_bytes,
            reported: false,
        }
    }
}

impl Budget {
    /// True when a string of `len` bytes is already larger than one value may be.
    #[inline]
    pub(super) fn too_big(&self, len: usize) -> bool {
        len as u64 > self.value_bytes
    }

    /// The most elements an Array may have.
    pub(super) fn max_elements(&self) -> usize {
        (self.value_bytes / ELEMENT_BYTES as u64) as usize
    }
}

impl Evaluator<'_> {
    /// Counts `n` steps of work done at `span`.
    #[inline]
    pub(super) fn step(&mut self, n: u64, span: Span) -> R<()> {
        match self.budget.steps.checked_sub(n) {
            Some(left) => {
                self.budget.steps = left;
                Ok(())
            }
            None => {
                self.budget.steps = 0;
                let limit = limits::get().eval_steps;
                Err(self.over_limit(
                    span,
                    format!("evaluating this node takes more than {limit} steps"),
                    "FLEET_MAX_EVAL_STEPS",
                ))
            }
        }
    }

    /// Counts a string or array of `bytes` that `span` is about to build (or has built):
    /// refused when larger than one value may be, or past the node's bytes.
    #[inline]
    pub(super) fn build(&mut self, bytes: usize, span: Span) -> R<()> {
        let b = bytes as u64;
        if b > self.budget.value_bytes {
            return Err(self.value_too_big(bytes, span));
        }
        match self.budget.bytes.checked_sub(b) {
            Some(left) => self.budget.bytes = left,
            None => {
                self.budget.bytes = 0;
                let limit = limits::get().eval_bytes;
                return Err(self.over_limit(
                    span,
                    format!("evaluating this node builds more than {limit} bytes of values"),
                    "FLEET_MAX_EVAL_BYTES",
                ));
            }
        }
        self.step(b / BYTES_PER_STEP, span)
    }

    /// Reports a value of (at least) `bytes` at `span`, larger than one value may be.
    pub(super) fn value_too_big(&mut self, bytes: usize, span: Span) -> Failed {
        let limit = self.budget.value_bytes;
        self.over_limit(
            span,
            format!(
                "this builds a value larger than the limit of {limit} bytes (at least {bytes})"
            ),
            "FLEET_MAX_VALUE_BYTES",
        )
    }

    /// Counts an Array of `len` elements built at `span`.
    #[inline]
    pub(super) fn build_array(&mut self, len: usize, span: Span) -> R<()> {
        self.build(len.saturating_mul(ELEMENT_BYTES), span)
    }

    /// Checks the size of `v` written out in full (as a catalog or a template sees it):
    /// Arrays and Maps share their elements, so `[$a, $a]` doubled forty times is small in
    /// memory and a terabyte written out. Counting stops at the limit.
    pub(super) fn check_expanded(&mut self, v: &Value, span: Span) -> R<()> {
        if !matches!(v, Value::Array(_) | Value::Map(_)) {
            return Ok(());
        }
        let cap = self.budget.value_bytes;
        let n = expanded_bytes(v, cap);
        if n > cap {
            return Err(self.over_limit(
                span,
                format!("this value written out is larger than the limit of {cap} bytes"),
                "FLEET_MAX_VALUE_BYTES",
            ));
        }
        self.step(n / BYTES_PER_STEP, span)
    }

    /// Reports `resource-limit` (once per node) and stops the node.
    pub(super) fn over_limit(&mut self, span: Span, message: String, var: &str) -> Failed {
        if !self.budget.reported {
            self.budget.reported = true;
            self.diags.push(
                Diagnostic::error(Code::ResourceLimit, span, message)
                    .with_primary("the limit is reached here")
                    .with_note(format!(
                        "a bound on hostile input; {var} raises it (docs/limits.md)"
                    )),
            );
        }
        self.stopped = true;
        Failed
    }
}

/// The bytes of `v` written out (strings' bytes, each element and entry as a value's size),
/// or more than `cap` when larger (counting stops there).
fn expanded_bytes(v: &Value, cap: u64) -> u64 {
    let mut n = ELEMENT_BYTES as u64;
    match v {
        Value::Str(s) => n += s.len() as u64,
        Value::Array(a) => {
            for x in a.iter() {
                n += expanded_bytes(x, cap.saturating_sub(n));
                if n > cap {
                    break;
                }
            }
        }
        Value::Map(m) => {
            for (k, x) in m.iter() {
                n += k.len() as u64 + expanded_bytes(x, cap.saturating_sub(n));
                if n > cap {
                    break;
                }
            }
        }
        _ => {}
    }
    n
}
