"""Domain events: the outbox's event models and the publisher that relays them to EventBridge."""
