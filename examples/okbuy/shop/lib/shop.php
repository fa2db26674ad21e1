<?php
function shop_banner(array $config): string {
    return "okbuy.com shop, database " . $config['db_host'] . "\n";
}
