"""The ledger's consumer: per-sender ordering, burst coalescing, crash recovery, retries."""
