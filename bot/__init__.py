"""Sampark: Telegram tele-consultation for rural health care."""
