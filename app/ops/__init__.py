"""Operations: rate limits, read timeouts, readiness, metrics and structured logs."""
