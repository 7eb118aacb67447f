"""Who may do what through the API: roles, the permissions routes declare, and API tokens."""
