//! `fleet provision reinstall NODE` over SSH (PROVISION.md; what koan's `--replace-self`
//! does): the profile's kernel and initrd go to the node's `/boot/fleet-install/`, a GRUB
//! menu entry that starts the installer with the answer file's URL goes into
//! `/boot/grub/custom.cfg` (which Debian's and Ubuntu's `grub.cfg` read at boot, through
//! `/etc/grub.d/41_custom`, so no `update-grub` is needed), `grub-reboot` makes it the next
//! boot's entry (once: the boot after it is the default again), and the node reboots.
//!
//! Each file is written to a temporary name and renamed, and `custom.cfg` keeps whatever
//! else it holds: fleet's entry sits between two marker lines that a later reinstall
//! replaces. ssh runs as for `fleet run` (`BatchMode`, `ConnectTimeout`, `-F`, `-o`); the
//! login must be allowed to write `/boot` and run `grub-reboot` (root).

use std::process::{Command, Stdio};

use super::push::script;
use super::run;
use crate::provision::render::grub_quote_args;
use crate::provision::{is_url, Reinstall};

/// How the node is reached and what is done there.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub ssh: run::Options,
    /// The node's boot directory (`/boot`; another one for a test).
    pub boot_dir: String,
    /// Reboot when the entry is in place (`--no-reboot` leaves that to the operator).
    pub reboot: bool,
}

/// The GRUB menu entry's id, as `grub-reboot` names it.
pub(crate) const ENTRY: &str = "fleet-reinstall";

/// The first and last line of fleet's part of `custom.cfg`.
const BEGIN: &str = "### fleet provision reinstall: begin";
const END: &str = "### fleet provision reinstall: end";

/// One step done on the node, for the caller to show.
pub(crate) type Step = String;

/// Copies the boot files, writes the entry, runs `grub-reboot` and (unless told not to)
/// reboots. `done` gets each step as it is done; `Err` is the step that failed and why.
pub(crate) fn reinstall(
    plan: &Reinstall,
    opts: &Options,
    done: &mut dyn FnMut(Step),
) -> Result<(), String> {
    let dir = format!("{}/fleet-install", opts.boot_dir.trim_end_matches('/'));
    for (file, what, source) in [
        ("linux", "kernel", &plan.kernel),
        ("initrd", "initrd", &plan.initrd),
    ] {
        put_boot_file(plan, opts, &dir, file, what, source)?;
        done(format!("{source} -> {}:{dir}/{file}", plan.node));
    }
    let cfg = format!("{}/grub/custom.cfg", opts.boot_dir.trim_end_matches('/'));
    let entry = entry(plan);
    ssh(
        plan,
        opts,
        &script(
            WRITE_ENTRY,
            &[opts.boot_dir.trim_end_matches('/'), BEGIN, END, ENTRY],
        ),
        Input::Bytes(entry.into_bytes()),
        "writing the GRUB entry and running grub-reboot",
    )?;
    done(format!(
        "{}:{cfg}: menu entry {ENTRY}, the next boot's (grub-reboot)",
        plan.node
    ));
    if opts.reboot {
        ssh(plan, opts, REBOOT, Input::None, "rebooting")?;
        done(format!("{}: rebooting into the installer", plan.node));
    }
    Ok(())
}

/// Writes `dir/file` on the node: the local file's bytes through ssh, or the node fetches
/// the URL itself (wget, else curl).
fn put_boot_file(
    plan: &Reinstall,
    opts: &Options,
    dir: &str,
    file: &str,
    what: &str,
    source: &str,
) -> Result<(), String> {
    let what = format!("copying the {what}");
    if is_url(source) {
        return ssh(
            plan,
            opts,
            &script(FETCH_FILE, &[dir, file, source]),
            Input::None,
            &what,
        );
    }
    let f = std::fs::File::open(source).map_err(|e| format!("{source}: {e}"))?;
    ssh(
        plan,
        opts,
        &script(PUT_FILE, &[dir, file]),
        Input::File(f),
        &what,
    )
}

/// `$1/$2` from stdin, through a temporary name.
const PUT_FILE: &str = r#"set -e
umask 022
mkdir -p "$1"
cat > "$1/.$2.fleet-tmp"
mv -f "$1/.$2.fleet-tmp" "$1/$2"
"#;

/// `$1/$2` from the URL `$3`, through a temporary name.
const FETCH_FILE: &str = r#"set -e
umask 022
mkdir -p "$1"
t="$1/.$2.fleet-tmp"
if command -v wget >/dev/null 2>&1; then wget -q -O "$t" "$3"; else curl -fsSL -o "$t" "$3"; fi
mv -f "$t" "$1/$2"
"#;

/// `$1/grub/custom.cfg` with fleet's part (between `$2` and `$3`) replaced by stdin, then
/// `grub-reboot` for the entry `$4`.
const WRITE_ENTRY: &str = r#"set -e
umask 022
mkdir -p "$1/grub"
c="$1/grub/custom.cfg"
t="$1/grub/.custom.cfg.fleet-tmp"
{
  if [ -f "$c" ]; then
    awk -v b="$2" -v e="$3" '$0 == b { skip = 1 } !skip { print } $0 == e { skip = 0 }' "$c"
  fi
  cat
} > "$t"
mv -f "$t" "$c"
command -v grub-reboot >/dev/null 2>&1 || { echo "grub-reboot is not installed (Debian: grub2-common)" >&2; exit 1; }
grub-reboot --boot-directory="$1" "$4"
"#;

/// Reboots a moment after the ssh session ends.
const REBOOT: &str =
    "sh -c 'nohup sh -c \"sleep 2; systemctl reboot || reboot\" >/dev/null 2>&1 &'";

/// fleet's part of `custom.cfg`: a menu entry that finds its files on whichever partition
/// holds `/boot` and starts the installer.
fn entry(plan: &Reinstall) -> String {
    let title = format!("fleet reinstall: {} ({})", plan.node, plan.profile)
        .replace(['\'', '\n', '\\'], "");
    format!(
        "{BEGIN}\n\
         # Written by `fleet provision reinstall {node}`; grub-reboot makes it the next boot's entry.\n\
         menuentry '{title}' --id {ENTRY} {{\n\
         \x20 if search --no-floppy --file --set=root /boot/fleet-install/linux; then\n\
         \x20   set fleet=/boot/fleet-install\n\
         \x20 else\n\
         \x20   search --no-floppy --file --set=root /fleet-install/linux\n\
         \x20   set fleet=/fleet-install\n\
         \x20 fi\n\
         \x20 linux $fleet/linux {args}\n\
         \x20 initrd $fleet/initrd\n\
         }}\n\
         {END}\n",
        node = plan.node,
        args = grub_quote_args(&plan.args),
    )
}

/// What ssh's stdin is.
enum Input {
    None,
    Bytes(Vec<u8>),
    File(std::fs::File),
}

/// Runs `command` on the node; `Err` names the step, ssh's or the command's last words.
fn ssh(
    plan: &Reinstall,
    opts: &Options,
    command: &str,
    input: Input,
    step: &str,
) -> Result<(), String> {
    let target = super::select::Target {
        node: plan.node.clone(),
        address: plan.address.clone(),
    };
    let args = run::ssh_args(&target, &[command.to_string()], &opts.ssh);
    let mut cmd = Command::new("ssh");
    cmd.args(&args).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut bytes = None;
    match input {
        Input::None => {
            cmd.stdin(Stdio::null());
        }
        Input::File(f) => {
            cmd.stdin(Stdio::from(f));
        }
        Input::Bytes(b) => {
            cmd.stdin(Stdio::piped());
            bytes = Some(b);
        }
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("{}: {step}: cannot run ssh: {e}", plan.node))?;
    if let (Some(b), Some(mut stdin)) = (bytes, child.stdin.take()) {
        use std::io::Write;
        // A write error shows up as the command's failure below.
        let _ = stdin.write_all(&b);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{}: {step}: {e}", plan.node))?;
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stderr);
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let who = if out.status.code() == Some(255) {
        if last.starts_with("ssh:") {
            ""
        } else {
            "ssh: "
        }
    } else {
        "the node: "
    };
    Err(format!(
        "{} ({}): {step} failed: {who}{}",
        plan.node,
        plan.address,
        if last.is_empty() {
            format!("exit status {}", out.status)
        } else {
            last.to_string()
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Reinstall {
        Reinstall {
            node: "web01".into(),
            address: "10.0.0.1".into(),
            profile: "debian12".into(),
            kernel: "/srv/linux".into(),
            initrd: "/srv/initrd.gz".into(),
            args: "auto=true ds=nocloud-net;s=http://x/".into(),
        }
    }

    #[test]
    fn the_entry_is_between_markers_and_quotes_its_arguments() {
        let e = entry(&plan());
        assert!(e.starts_with(BEGIN) && e.trim_end().ends_with(END), "{e}");
        assert!(e.contains("--id fleet-reinstall {"), "{e}");
        assert!(
            e.contains("linux $fleet/linux auto=true 'ds=nocloud-net;s=http://x/'"),
            "{e}"
        );
    }

    #[test]
    fn writing_the_entry_keeps_the_rest_of_custom_cfg() {
        let dir = tempfile::tempdir().unwrap();
        let boot = dir.path().join("boot");
        std::fs::create_dir_all(boot.join("grub")).unwrap();
        let cfg = boot.join("grub/custom.cfg");
        let mine = "menuentry 'mine' { true }\n";
        std::fs::write(&cfg, format!("{mine}{BEGIN}\nold\n{END}\n")).unwrap();
        // Without grub-reboot on PATH the script stops after writing, with its message.
        let body = WRITE_ENTRY;
        Command::new("sh")
            .arg("-c")
            .arg(body)
            .arg("fleet")
            .arg(&boot)
            .arg(BEGIN)
            .arg(END)
            .arg(ENTRY)
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin
                    .take()
                    .unwrap()
                    .write_all(entry(&plan()).as_bytes())?;
                c.wait_with_output()
            })
            .unwrap();
        let text = std::fs::read_to_string(&cfg).unwrap();
        assert!(text.starts_with(mine), "{text}");
        assert!(!text.contains("\nold\n"), "{text}");
        assert_eq!(text.matches(BEGIN).count(), 1, "{text}");
        assert!(text.contains("--id fleet-reinstall"), "{text}");
    }
}
