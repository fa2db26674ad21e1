# The nodes of ../site.fleet for the upstream rodjek-logrotate 1.1.1 (Debian's
# puppet-module-rodjek-logrotate), compiled by tests/suite/ports.rs.
node 'lr01' {
  logrotate::rule { 'messages':
    path         => '/var/log/messages',
    rotate       => '5',
    rotate_every => 'week',
    compress     => true,
    postrotate   => '/usr/bin/killall -HUP syslogd',
  }
}

node 'lr02' {
  logrotate::rule { 'nginx':
    path            => ['/var/log/nginx/access.log', '/var/log/nginx/error.log'],
    compress        => true,
    compresscmd     => '/usr/bin/xz',
    compressext     => '.xz',
    compressoptions => '-9',
    uncompresscmd   => '/usr/bin/unxz',
    copy            => false,
    copytruncate    => true,
    create          => true,
    create_mode     => '0640',
    create_owner    => 'www-data',
    create_group    => 'adm',
    dateext         => true,
    dateformat      => '-%Y%m%d',
    delaycompress   => true,
    extension       => '.log',
    ifempty         => false,
    mail            => 'ops@example.net',
    maillast        => true,
    maxage          => '30',
    minsize         => '1M',
    missingok       => true,
    olddir          => '/var/log/nginx/old',
    sharedscripts   => true,
    shred           => false,
    shredcycles     => '3',
    size            => '100M',
    start           => '1',
    rotate          => '14',
    rotate_every    => 'day',
    prerotate       => 'test -d /run/nginx',
    postrotate      => 'invoke-rc.d nginx rotate >/dev/null 2>&1',
    firstaction     => 'logger rotating nginx',
    lastaction      => 'logger rotated nginx',
  }
  logrotate::rule { 'app':
    path         => '/srv/app/log/*.log',
    rotate_every => 'hour',
    rotate       => '48',
    mail         => false,
    olddir       => false,
    create       => false,
  }
  logrotate::rule { 'old': ensure => absent }
}
