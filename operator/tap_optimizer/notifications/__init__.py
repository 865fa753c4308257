"""Notifications: webhooks told once per transition worth a person's attention (a plan waiting for
approval, rolling back, ended, blocked, held by inconclusive gates). Pure: which transitions a step
made (transitions.py), the bodies (messages.py), the settings (config.py); I/O: webhook.py."""
