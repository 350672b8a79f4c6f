"""Kafka consumer processes. `flask --app wsgi worker NAME` runs one:

- email   (group lectern-email): the emails that follow account and course events
- courses (group lectern-courses): the course side's reactions to account events
- media   (group lectern-media): media processing (its handlers come with the media issue)
- relay   : publishes the outboxes to Kafka

The runner (workers/runner.py) owns Kafka: polling, commits, retries, dead
letters and shutdown. Handlers stay small functions registered with
`app.events.subscribe`.
"""
