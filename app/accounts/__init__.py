"""The accounts context (the "user service"): users, credentials, roles, tokens, projects.

Never imports `app.courses`; the course side learns about accounts through events.
"""
