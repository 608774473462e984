"""Twilio's wire: inbound form parsing and signatures, media download, outbound sends, TwiML."""
