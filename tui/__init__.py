"""memchat's Textual app: a thin layer over ``assistant.app.Assistant``."""
