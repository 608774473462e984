"""Small pure helpers shared by every layer: phone numbers, CPFs, time. No I/O here."""
