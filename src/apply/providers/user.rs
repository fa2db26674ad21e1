//! The `user` and `group` providers.

use super::{Ctx, Provider};
use crate::apply::Outcome;
use crate::catalog::json::ResourceDoc;

pub struct UserProvider;
pub struct GroupProvider;

impl Provider for UserProvider {
    fn sync(&self, _r: &ResourceDoc, _cx: &Ctx) -> Result<Outcome, String> {
        Err("not implemented yet".into())
    }
}

impl Provider for GroupProvider {
    fn sync(&self, _r: &ResourceDoc, _cx: &Ctx) -> Result<Outcome, String> {
        Err("not implemented yet".into())
    }
}
