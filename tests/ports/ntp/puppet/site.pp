# The nodes of ../site.fleet for the upstream puppetlabs-ntp 7.2.0 (Debian's
# puppet-module-puppetlabs-ntp), compiled by tests/suite/ports.rs with `puppet catalog compile`.
node 'ntp01' {
  include ntp
}

node 'ntp02' {
  class { 'ntp':
    servers           => ['ntp1.corp.example', 'ntp2.corp.example', 'ntp3.corp.example'],
    preferred_servers => ['ntp1.corp.example'],
    noselect_servers  => ['ntp3.corp.example'],
    iburst_enable     => false,
    minpoll           => 5,
    maxpoll           => 10,
    restrict          => ['default ignore', '-6 default ignore', '127.0.0.1', '-6 ::1'],
    interfaces        => ['127.0.0.1', 'eth0'],
    interfaces_ignore => ['wildcard', 'ipv6'],
    peers             => ['peer1.corp.example', 'peer2.corp.example'],
    tos_orphan        => 12,
    pool              => ['pool.ntp.org'],
    udlc              => true,
    udlc_stratum      => 7,
    logfile           => '/var/log/ntp.log',
    leapfile          => '/etc/leap-seconds.list',
    statistics        => ['loopstats', 'peerstats'],
    fudge             => ['127.127.22.0 refid PPS'],
    tos               => true,
    tos_cohort        => 1,
    authprov          => '/usr/lib/libntpsign.so 65535 WINDOWS',
    slewalways        => 'yes',
    broadcastclient   => true,
    disable_auth      => true,
    disable_kernel    => true,
    enable_mode7      => true,
    disable_monitor   => false,
    ntpsigndsocket    => '/usr/local/samba/var/lib/ntp_signd',
  }
}

node 'ntp03' {
  class { 'ntp':
    keys_enable       => true,
    config_dir        => '/etc/ntp',
    keys_file         => '/etc/ntp/ntp.keys',
    keys              => ['1 M AAAAAAAAAAAAAAAAAAAA', '2 M BBBBBBBBBBBBBBBBBBBB'],
    keys_trusted      => [1, 2],
    keys_requestkey   => 1,
    stepout           => 5,
    step_tickers_file => '/etc/ntp/step-tickers',
    preferred_servers => ['1.debian.pool.ntp.org'],
    noselect_servers  => ['3.debian.pool.ntp.org'],
    package_ensure    => 'latest',
    service_ensure    => 'stopped',
    service_enable    => false,
    config_file_mode  => '0640',
  }
}

node 'ntp04' {
  include ntp
}
