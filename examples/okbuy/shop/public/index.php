<?php
require __DIR__ . '/../config.inc';
require __DIR__ . '/../lib/shop.php';
echo shop_banner($config);
