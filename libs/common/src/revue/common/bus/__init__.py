"""The machinery that carries the contracts over NATS.

The FastStream broker factory, the nats-py `Responder` for hot request/reply
subjects, durable pull consumers, confirmed publishing to JetStream, stream
creation, the per-service NATS users and the job submitter.
"""
