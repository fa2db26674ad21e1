//! The parser pest derives from `grammar/fleet.pest`: `FleetParser` and its `Rule`s. `lower`
//! runs it and lowers what it gives; `expected` names its rules in syntax errors.

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/fleet.pest"]
pub(super) struct FleetParser;
