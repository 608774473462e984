"""One module per scenario; each exposes `run(ctx: Run) -> dict` and a one-line `TITLE`."""
