"""The app's screens: the chat, its panels (sessions, context, knowledge, documents) and dialogs."""
