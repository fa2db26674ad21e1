# The nodes of ../site.fleet for the upstream saz/puppet-ssh 2.8.1 (Debian's
# puppet-module-saz-ssh), compiled by tests/suite/ports.rs with `puppet catalog compile`.
node 'ssh01' {
  class { 'ssh::server':
    storeconfigs_enabled => false,
    options              => { 'TestString' => '/usr/bin', 'TestBoolean' => true },
  }
}

node 'ssh02' {
  class { 'ssh::server':
    storeconfigs_enabled => false,
    options              => {
      'AddressFamily'          => 'inet',
      'Port'                   => [22, 2222],
      'ListenAddress'          => ['192.0.2.32', '127.0.0.1'],
      'PermitRootLogin'        => 'no',
      'PasswordAuthentication' => false,
      'AllowGroups'            => ['ssh-users', 'admins'],
      'Match User www-data'    => {
        'ChrootDirectory'        => '%h',
        'ForceCommand'           => 'internal-sftp',
        'PasswordAuthentication' => true,
        'AllowTcpForwarding'     => 'no',
        'X11Forwarding'          => 'no',
      },
      'Match Group sftp'       => { 'ChrootDirectory' => '/srv/sftp' },
      'Banner'                 => '',
    },
  }
  class { 'ssh::client':
    storeconfigs_enabled => false,
    options              => {
      'Host *.amazonaws.com' => { 'User' => 'ec2-user' },
      'Host short'           => { 'HostName' => 'long.example.net', 'Port' => 2222, 'ForwardAgent' => true },
      'ServerAliveInterval'  => 30,
    },
  }
}

node 'ssh03' {
  class { 'ssh':
    storeconfigs_enabled => false,
    version              => 'latest',
    server_options       => { 'Port' => 2022, 'X11Forwarding' => 'no', 'UseDNS' => 'no' },
    client_options       => { 'Host *' => { 'GSSAPIAuthentication' => 'yes' } },
  }
}
