-- API keys: only a SHA-256 hash of each key is stored, with its first characters
-- (the prefix, not secret) to find it and tell keys apart in `chatstats keys list`.
-- The API reads keys only through the SECURITY DEFINER functions below, so its
-- database role needs EXECUTE on them and no privilege on the table itself.
-- depends: 0005.rollup-reads

CREATE TABLE api_keys (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    prefix        text NOT NULL,
    key_hash      bytea NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
-- Names identify active keys (`chatstats keys revoke NAME`); a revoked name may be reused.
CREATE UNIQUE INDEX api_keys_active_name_idx ON api_keys (name) WHERE revoked_at IS NULL;
CREATE INDEX api_keys_active_prefix_idx ON api_keys (prefix) WHERE revoked_at IS NULL;

-- The active keys with this prefix (the caller compares the hash in constant time).
CREATE FUNCTION api_key_lookup(p_prefix text)
RETURNS TABLE (id bigint, name text, key_hash bytea)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT k.id, k.name, k.key_hash FROM api_keys k
     WHERE k.prefix = p_prefix AND k.revoked_at IS NULL
$$;

-- Records a use; the API calls it at most once per key and cache period.
CREATE FUNCTION api_key_touch(p_id bigint)
RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    UPDATE api_keys SET last_used_at = now() WHERE id = p_id AND revoked_at IS NULL
$$;

-- Whether any key is active (without one the API serves loopback clients only).
CREATE FUNCTION api_keys_active()
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT EXISTS (SELECT 1 FROM api_keys WHERE revoked_at IS NULL)
$$;

REVOKE EXECUTE ON FUNCTION api_key_lookup(text), api_key_touch(bigint), api_keys_active() FROM PUBLIC;
