DROP FUNCTION api_keys_active();
DROP FUNCTION api_key_touch(bigint);
DROP FUNCTION api_key_lookup(text);
DROP TABLE api_keys;
