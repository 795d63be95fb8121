"""`python -m revue.gateway` runs the service."""

from revue.gateway.app import main

main()
