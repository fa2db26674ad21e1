<?php
$settings = parse_ini_file(__DIR__ . '/../config/settings.ini') ?: [];
echo "shop " . ($settings['name'] ?? 'unnamed') . "\n";
