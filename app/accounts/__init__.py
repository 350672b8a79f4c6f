"""The accounts context (the "user service"): users, credentials, roles, tokens, projects.

Never imports the course side's models or services; the course side learns about
accounts through events. (app/policies.py asks both contexts' policy rules.)
"""
