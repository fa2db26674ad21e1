//! A node's libvirt domain: where its disk and interface go ([`Layout`]: `--vm-pool`,
//! `--vm-network`) and its XML, which `fleet provision` writes as `libvirt/<node>.xml` and
//! `fleet provision vm` defines. The XML records a digest of itself in `<metadata>`, so a
//! domain fleet defined from the same record is recognised later.

use super::collect::{Node, Vm};

/// The XML namespace of fleet's `<metadata>` element in the domains it defines.
pub(crate) const METADATA_NS: &str = "https://fleet.invalid/provision/vm/1";

/// Where a domain's disk and interface go (`--vm-pool`, `--vm-network`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    /// The storage pool that holds the disk volumes (`<node>.qcow2`).
    pub pool: String,
    pub network: Network,
}

impl Default for Layout {
    fn default() -> Layout {
        Layout {
            pool: "default".into(),
            network: Network::Named("default".into()),
        }
    }
}

/// The interface's attachment (`--vm-network`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Network {
    /// `network:NAME`: a libvirt virtual network (`<interface type='network'>`).
    Named(String),
    /// `bridge:NAME`: a bridge on the host (`<interface type='bridge'>`).
    Bridge(String),
    /// `user`: QEMU's user-mode networking (no host setup; no inbound connections).
    User,
}

impl std::str::FromStr for Network {
    type Err = String;

    fn from_str(s: &str) -> Result<Network, String> {
        let named = |kind: &str, name: &str| {
            if name.is_empty() {
                Err(format!("`{kind}:` needs a name"))
            } else {
                Ok(name.to_string())
            }
        };
        match s.split_once(':') {
            None if s == "user" => Ok(Network::User),
            Some(("network", n)) => named("network", n).map(Network::Named),
            Some(("bridge", n)) => named("bridge", n).map(Network::Bridge),
            _ => Err(format!("`{s}`: expected network:NAME, bridge:NAME or user")),
        }
    }
}

/// The disk volume of a node's VM.
pub(crate) fn volume_name(node: &str) -> String {
    format!("{node}.qcow2")
}

/// The digest in fleet's metadata element, as written by `render` (`<fleet:digest>`) or
/// as `virsh metadata` prints it (`<digest>`).
pub(crate) fn recorded_digest(xml: &str) -> Option<&str> {
    let start = xml.find("digest>")? + "digest>".len();
    let rest = &xml[start..];
    let end = rest.find('<')?;
    Some(rest[..end].trim()).filter(|d| !d.is_empty())
}

/// `libvirt/<node>.xml`: a qemu domain with the node's memory, vCPUs, a qcow2 disk (the
/// volume `<node>.qcow2` of the storage pool `layout.pool`) and one interface with its MAC
/// (on `layout.network`), network boot first. Its `<metadata>` records the digest of the
/// rest of the definition, which `fleet provision vm` compares to know a domain it made.
pub(crate) fn xml(n: &Node, vm: &Vm, layout: &Layout) -> String {
    let name = xml_escape(&n.name);
    let interface = match &layout.network {
        Network::Named(net) => format!(
            "<interface type='network'>\n      <mac address='{mac}'/>\n      <source network='{}'/>",
            xml_escape(net),
            mac = n.mac
        ),
        Network::Bridge(br) => format!(
            "<interface type='bridge'>\n      <mac address='{mac}'/>\n      <source bridge='{}'/>",
            xml_escape(br),
            mac = n.mac
        ),
        Network::User => format!(
            "<interface type='user'>\n      <mac address='{}'/>",
            n.mac
        ),
    };
    let body = |metadata: &str| {
        format!(
            "<domain type='qemu'>
  <name>{name}</name>
  <description>fleet provision: {name}, disk {disk} GiB</description>
{metadata}  <memory unit='MiB'>{ram}</memory>
  <currentMemory unit='MiB'>{ram}</currentMemory>
  <vcpu placement='static'>{cpus}</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <boot dev='network'/>
    <boot dev='hd'/>
  </os>
  <features>
    <acpi/>
  </features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='volume' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source pool='{pool}' volume='{volume}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    {interface}
      <model type='virtio'/>
    </interface>
    <serial type='pty'/>
    <console type='pty'/>
  </devices>
</domain>
",
            disk = vm.disk_gb,
            ram = vm.ram_mb,
            cpus = vm.cpus,
            pool = xml_escape(&layout.pool),
            volume = xml_escape(&volume_name(&n.name)),
        )
    };
    let digest = crate::model::digest::sha256_hex(body("").as_bytes());
    body(&format!(
        "  <metadata>\n    <fleet:vm xmlns:fleet='{ns}'>\n      <fleet:digest>{digest}</fleet:digest>\n    </fleet:vm>\n  </metadata>\n",
        ns = METADATA_NS
    ))
}

/// Text safe inside XML character data and attribute values.
fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse() {
        assert_eq!("user".parse(), Ok(Network::User));
        assert_eq!("bridge:br0".parse(), Ok(Network::Bridge("br0".into())));
        assert_eq!(
            "network:default".parse(),
            Ok(Network::Named("default".into()))
        );
        assert!("bridge:".parse::<Network>().is_err());
        assert!("tap0".parse::<Network>().is_err());
    }

    #[test]
    fn digests_are_found_in_both_forms() {
        assert_eq!(
            recorded_digest("<fleet:vm>\n <fleet:digest>ab12</fleet:digest></fleet:vm>"),
            Some("ab12")
        );
        assert_eq!(
            recorded_digest("<vm>\n  <digest>ab12</digest>\n</vm>\n"),
            Some("ab12")
        );
        assert_eq!(recorded_digest("<vm/>"), None);
    }
}
