# The nodes of ../site.fleet for the upstream duritong-sysctl 0.0.11 (Debian's
# puppet-module-duritong-sysctl), compiled by tests/suite/ports.rs.
node 'sysctl01' {
  sysctl::value { 'net.ipv4.ip_forward': value => 1 }
  sysctl::value { 'net.ipv4.ip_local_port_range': value => '32768   61000' }
  sysctl::value { 'vm.swappiness': value => '10', target => '/etc/sysctl.d/60-swap.conf' }
}

node 'sysctl02' {
  class { 'sysctl::values':
    args     => {
      'kernel.panic'       => { 'value' => 10 },
      'net.core.somaxconn' => { 'value' => '4096' },
    },
    defaults => { 'target' => '/etc/sysctl.d/99-site.conf' },
  }
}
