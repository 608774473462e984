"""Everything that persists: the application DB, the chat log and the media store.

Storage knows nothing of Flask, agno or Twilio; callers pass plain values and get plain values.
"""
