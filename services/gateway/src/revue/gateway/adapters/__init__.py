"""What the gateway reaches outside itself.

Its tables and their repositories, the Redis rate limiter, and the other
services over the bus (the analysis client, `ask`).
"""
