"""Where reads are answered: a primary, or a standby and how far behind its primary it is."""

# Seconds the data read here is behind its primary, as of this statement's snapshot:
# NULL on a primary (there is nothing to lag behind). On a standby: 0 while its WAL
# receiver streams and everything received is replayed; otherwise (replay behind, or the
# primary unreachable) the age of the last transaction replayed, from its commit time on
# the primary (pg_last_xact_replay_timestamp), 0 if none was replayed since start-up.
REPLICA_LAG_SECONDS = """
    (CASE WHEN NOT pg_is_in_recovery() THEN NULL
          WHEN pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn()
               AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver) THEN 0
          ELSE coalesce(greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp())), 0)
     END)::float8
"""


def replica_lag(conn):
    """REPLICA_LAG_SECONDS of this connection's server (None on a primary)."""
    return conn.execute(f"SELECT {REPLICA_LAG_SECONDS} AS s").fetchone()["s"]


def is_standby(conn):
    return conn.execute("SELECT pg_is_in_recovery() AS r").fetchone()["r"]
