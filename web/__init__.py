"""Flask blueprints: the webhook, signed media links, health, and the operator's API and dashboard."""
