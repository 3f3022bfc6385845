"""The LLM transport: an OpenAI-compatible client (retries, breaker, size cap) and structured output across dialects."""
