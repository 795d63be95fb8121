"""`python -m revue.query_optimizer` runs the service."""

from revue.query_optimizer.app import main

main()
