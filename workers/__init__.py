"""Kafka consumer processes. `flask --app wsgi worker NAME` runs one: a worker of the
event catalogue's WORKERS (app/events/catalogue.py: its consumer group and handlers), or
`relay`, which publishes the outboxes to Kafka.

The runner (workers/runner.py) owns Kafka: polling, commits, retries, dead
letters and shutdown. Handlers stay small functions registered with
`app.events.subscribe`.
"""
