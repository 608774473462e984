"""The assistant: secret capture and flows outside the model, the agno Agent, and command mode."""
