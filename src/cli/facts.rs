//! `fleet facts`: this machine's facts as JSON.

#[derive(Debug, clap::Args)]
pub(crate) struct FactsArgs {}

pub(crate) fn run(_args: FactsArgs) -> super::ExitStatus {
    let facts = crate::apply::facts::gather();
    let mut s = serde_json::to_string_pretty(&facts).expect("facts serialise");
    s.push('\n');
    super::out(&s);
    super::ExitStatus::Ok
}
