//! The `package` provider.

use super::{Ctx, Provider};
use crate::apply::Outcome;
use crate::catalog::json::ResourceDoc;

pub struct PackageProvider;

impl Provider for PackageProvider {
    fn sync(&self, _r: &ResourceDoc, _cx: &Ctx) -> Result<Outcome, String> {
        Err("not implemented yet".into())
    }
}
