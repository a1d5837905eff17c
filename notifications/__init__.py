"""SMS through a transactional outbox: rows written with the change, sent by arq workers via Twilio."""
