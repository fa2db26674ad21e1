//! `fleet ca`: the fleet's certificate authority (REMOTE.md, "Certificate authority"):
//! `init`, `issue`, `list`, `revoke`, `token`, `tokens`. The work is in
//! [`crate::remote::ca`]; this file parses flags and prints.
//!
//! Every refusal (an existing CA, an invalid or already certified name, nothing to revoke)
//! is an `error:` line and exit 1; a bad flag is exit 2.

use std::net::IpAddr;
use std::path::PathBuf;

use super::{out, ExitStatus};
use crate::remote::ca::index::Entry;
use crate::remote::ca::{self, CaDir, IssueRequest};

#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub command: Command,
}

/// `--ca DIR`, the CA directory every command but `init` works on.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct CaArg {
    /// The CA directory (made by `fleet ca init`).
    #[arg(long = "ca", value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(clap::Subcommand, Debug)]
pub(crate) enum Command {
    /// Make a new CA in DIR: ca.crt, ca.key (0600), crl.pem, index.json.
    Init {
        /// The directory (created if missing; refused if it already holds a CA).
        dir: PathBuf,
        /// The CA certificate's common name.
        #[arg(long, value_name = "NAME", default_value = ca::CA_CN)]
        cn: String,
        /// Lifetime in days.
        #[arg(long, value_name = "N", default_value_t = ca::CA_DAYS, allow_negative_numbers = true)]
        days: i64,
    },
    /// Make a key pair and a certificate for node NAME: OUT/NAME.key (0600), OUT/NAME.crt.
    Issue {
        /// The node name (common name and DNS name of the certificate).
        name: String,
        #[command(flatten)]
        ca: CaArg,
        /// Where the files go (default DIR/issued).
        #[arg(long, value_name = "OUT")]
        out: Option<PathBuf>,
        /// Lifetime in days; zero or negative makes a certificate that has already expired
        /// (it ended |N| days ago), for tests.
        #[arg(long, value_name = "N", default_value_t = ca::NODE_DAYS, allow_negative_numbers = true)]
        days: i64,
        /// Server authentication too (for `fleet serve`).
        #[arg(long)]
        server: bool,
        /// Another DNS name for the certificate (repeatable).
        #[arg(long, value_name = "NAME", num_args = 1..)]
        dns: Vec<String>,
        /// An IP address for the certificate (repeatable).
        #[arg(long, value_name = "ADDR", num_args = 1..)]
        ip: Vec<IpAddr>,
        /// Issue even when NAME already has an unrevoked certificate.
        #[arg(long)]
        force: bool,
    },
    /// List issued certificates: name, serial, expiry, status, kind; with --store, also
    /// the certificates servers signed (recorded in the index) and the pending requests.
    List {
        #[command(flatten)]
        ca: CaArg,
        /// The catalog servers' shared store (sqlite:PATH or postgres://…).
        #[arg(long, value_name = "URL")]
        store: Option<String>,
        /// Only certificates that are not revoked and end within DAYS days (or have ended).
        #[arg(long, value_name = "DAYS")]
        expiring: Option<u32>,
        /// `text` (a table) or `json` (one object per line).
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
    },
    /// Revoke every unrevoked certificate of NAME and rewrite crl.pem. With --store, also
    /// the certificates servers signed for NAME, and the store forgets them so that NAME
    /// may enrol again.
    Revoke {
        /// The node name.
        name: String,
        #[command(flatten)]
        ca: CaArg,
        /// The catalog servers' shared store (sqlite:PATH or postgres://…).
        #[arg(long, value_name = "URL")]
        store: Option<String>,
    },
    /// Sign pending certificate requests (agents' --bootstrap) from the servers' store.
    Sign {
        /// The node names (or --all).
        #[arg(required_unless_present = "all")]
        names: Vec<String>,
        #[command(flatten)]
        ca: CaArg,
        /// The catalog servers' shared store (sqlite:PATH or postgres://…).
        #[arg(long, value_name = "URL")]
        store: String,
        /// Every pending request.
        #[arg(long, conflicts_with = "names")]
        all: bool,
        /// Lifetime in days.
        #[arg(long, value_name = "N", default_value_t = ca::NODE_DAYS)]
        days: i64,
    },
    /// Print a new one-time enrolment token for NAME (recorded in DIR/tokens.json).
    Token {
        /// The node name.
        name: String,
        #[command(flatten)]
        ca: CaArg,
    },
    /// Print the autosign lines (`token:SECRET NAME`) of the unused tokens.
    Tokens {
        #[command(flatten)]
        ca: CaArg,
    },
}

/// Runs a `fleet ca` command.
pub(crate) fn run(args: Args) -> ExitStatus {
    let result = match args.command {
        Command::Init { dir, cn, days } => CaDir::init(&dir, &cn, days).map(|ca| {
            format!(
                "made a CA in {}: {}, {} (0600), {}\n",
                dir.display(),
                ca.cert_path().display(),
                ca.path().join(ca::CA_KEY).display(),
                ca.crl_path().display()
            )
        }),
        Command::Issue {
            name,
            ca,
            out,
            days,
            server,
            dns,
            ip,
            force,
        } => CaDir::open(&ca.dir).and_then(|dir| {
            let issued = dir.issue(&IssueRequest {
                name: &name,
                server,
                dns: &dns,
                ips: &ip,
                days,
                force,
                out: out.as_deref(),
            })?;
            Ok(format!(
                "issued {} (serial {}, until {}): {}, {}\n",
                name,
                issued.entry.serial,
                issued.entry.not_after,
                issued.cert.display(),
                issued.key.display()
            ))
        }),
        Command::List {
            ca,
            store,
            expiring,
            format,
        } => CaDir::open(&ca.dir).and_then(|dir| {
            let json = format == "json";
            let pending = match &store {
                Some(url) => {
                    let (signed, pending) = in_store(url, |s| async move {
                        Ok((s.signed_certs().await?, s.pending_csrs().await?))
                    })?;
                    let pems: Vec<String> = signed.into_iter().map(|(_, pem, _)| pem).collect();
                    dir.import(&pems)?;
                    Some(pending)
                }
                None => None,
            };
            let mut text = list(&dir.entries()?, expiring, json);
            if let Some(p) = pending {
                text.push_str(&list_pending(&p, json));
            }
            Ok(text)
        }),
        Command::Revoke { name, ca, store } => CaDir::open(&ca.dir).and_then(|dir| {
            if let Some(url) = &store {
                let signed = in_store(url, |s| async move { s.signed_certs().await })?;
                let pems: Vec<String> = signed
                    .into_iter()
                    .filter(|(node, _, _)| *node == name)
                    .map(|(_, pem, _)| pem)
                    .collect();
                dir.import(&pems)?;
            }
            let revoked = dir.revoke(&name)?;
            if let Some(url) = &store {
                let node = name.clone();
                in_store(url, |s| async move { s.forget_node_certs(&node).await })?;
            }
            let serials: Vec<&str> = revoked.iter().map(|e| e.serial.as_str()).collect();
            Ok(format!(
                "revoked {name} (serial {}); rewrote {}\n",
                serials.join(", "),
                dir.crl_path().display()
            ))
        }),
        Command::Sign {
            names,
            ca,
            store,
            all,
            days,
        } => return sign(&ca.dir, &store, &names, all, days),
        Command::Token { name, ca } => CaDir::open(&ca.dir)
            .and_then(|dir| dir.new_token(&name))
            .map(|secret| format!("{secret}\n")),
        Command::Tokens { ca } => CaDir::open(&ca.dir)
            .and_then(|dir| dir.unused_tokens())
            .map(|tokens| {
                tokens
                    .iter()
                    .map(|t| format!("token:{} {}\n", t.secret, t.name))
                    .collect()
            }),
    };
    match result {
        Ok(text) => {
            out(&text);
            ExitStatus::Ok
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitStatus::Errors
        }
    }
}

/// Runs `f` on the store at `url` (a runtime for the one call); its errors become CA errors.
fn in_store<T, F, Fut>(url: &str, f: F) -> Result<T, ca::Error>
where
    F: FnOnce(crate::remote::store::Store) -> Fut,
    Fut: std::future::Future<Output = Result<T, crate::remote::store::StoreError>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ca::Error::new(ca::ErrorKind::Io, format!("cannot start the runtime: {e}")))?;
    runtime
        .block_on(async {
            let store = crate::remote::store::Store::open(url).await?;
            f(store).await
        })
        .map_err(|e| ca::Error::new(ca::ErrorKind::Io, format!("--store {url}: {e}")))
}

/// `fleet ca sign`: each named (or every) pending request signed, recorded in the index and
/// put in the store for the agent to fetch. A name without a pending request is an error;
/// the others are still signed.
fn sign(dir: &std::path::Path, url: &str, names: &[String], all: bool, days: i64) -> ExitStatus {
    let run = || -> Result<(String, Vec<String>), ca::Error> {
        let ca = CaDir::open(dir)?;
        let pending = in_store(url, |s| async move { s.pending_csrs().await })?;
        let wanted: Vec<String> = if all {
            pending.iter().map(|(n, _, _)| n.clone()).collect()
        } else {
            names.to_vec()
        };
        let mut text = String::new();
        let mut errors = Vec::new();
        let mut signed = Vec::new();
        for name in &wanted {
            let Some((_, csr, _)) = pending.iter().find(|(n, _, _)| n == name) else {
                errors.push(format!(
                    "{name} has no pending certificate request in {url}"
                ));
                continue;
            };
            match ca.sign_csr(name, csr, days, false) {
                Ok(s) => {
                    text.push_str(&format!(
                        "signed {name} (serial {}, until {}; sha256 of the request {})\n",
                        s.serial,
                        crate::remote::ca::index::format_time(s.not_after),
                        request_fingerprint(csr)
                    ));
                    signed.push((name.clone(), s.cert_pem));
                }
                Err(e) => errors.push(format!("{name}: {e}")),
            }
        }
        let now = jiff::Timestamp::now().as_second();
        in_store(url, |s| async move {
            for (name, pem) in &signed {
                s.put_cert(name, pem, now).await?;
            }
            Ok(())
        })?;
        Ok((text, errors))
    };
    match run() {
        Ok((text, errors)) => {
            out(&text);
            for e in &errors {
                eprintln!("error: {e}");
            }
            if errors.is_empty() {
                ExitStatus::Ok
            } else {
                ExitStatus::Errors
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitStatus::Errors
        }
    }
}

/// The sha256 of a PEM certificate request's DER (what `fleet agent --bootstrap` prints).
fn request_fingerprint(csr_pem: &str) -> String {
    use sha2::Digest;
    match x509_parser::pem::parse_x509_pem(csr_pem.as_bytes()) {
        Ok((_, pem)) => ca::x509::hex(&sha2::Sha256::digest(&pem.contents)),
        Err(_) => "?".into(),
    }
}

/// The pending requests, after the certificates: a table or JSON lines.
fn list_pending(pending: &[(String, String, i64)], json: bool) -> String {
    let when = |t: i64| ca::index::format_unix(t);
    if json {
        return pending
            .iter()
            .map(|(name, csr, t)| {
                let line = serde_json::json!({
                    "name": name,
                    "status": "pending",
                    "received": when(*t),
                    "sha256": request_fingerprint(csr),
                });
                format!("{line}\n")
            })
            .collect();
    }
    if pending.is_empty() {
        return "\nno pending certificate requests\n".into();
    }
    let mut text = String::from("\npending certificate requests (`fleet ca sign NAME`):\n");
    for (name, csr, t) in pending {
        text.push_str(&format!(
            "{name}  {}  sha256 {}\n",
            when(*t),
            request_fingerprint(csr)
        ));
    }
    text
}

/// The listing of `entries` (only those expiring within `expiring` days, when given), as a
/// table or as JSON lines.
fn list(entries: &[Entry], expiring: Option<u32>, json: bool) -> String {
    let now = jiff::Timestamp::now().as_second();
    let shown: Vec<&Entry> = entries
        .iter()
        .filter(|e| match expiring {
            Some(days) => {
                e.state(now) != "revoked" && e.not_after_unix() <= now + i64::from(days) * 86_400
            }
            None => true,
        })
        .collect();
    if json {
        return shown
            .iter()
            .map(|e| {
                let line = serde_json::json!({
                    "name": e.name,
                    "serial": e.serial,
                    "not_after": e.not_after,
                    "kind": e.kind.as_str(),
                    "status": e.state(now),
                });
                format!("{line}\n")
            })
            .collect();
    }
    let mut rows = vec![[
        "NAME".to_string(),
        "SERIAL".into(),
        "EXPIRES".into(),
        "STATUS".into(),
        "KIND".into(),
    ]];
    for e in &shown {
        rows.push([
            e.name.clone(),
            e.serial.clone(),
            e.not_after.clone(),
            e.state(now).into(),
            e.kind.as_str().into(),
        ]);
    }
    table(&rows)
}

/// `rows` as left-aligned columns two spaces apart.
fn table(rows: &[[String; 5]]) -> String {
    let mut widths = [0usize; 5];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}
