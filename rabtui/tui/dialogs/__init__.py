"""Modal dialogs: a job's question, confirm, pick one, enter text, the source form."""
